"""What SQLite's search index (FTS5 trigram, ``engine.runtime.fulltext``) costs writers and ``apply``.

    python benchmarks/sqlite_search_index.py [--rows 100000] [--writes 2000] [--rounds 3] [--output docs/benchmarks.md]

benchmarks/list_page.py's opportunity table (four searchable fields: name, company, e-mail,
description) in two SQLite files per round, one with the index and one without it (its
index and triggers dropped after the apply, as on a SQLite without FTS5), interleaved:

- ``fill``: ROWS rows by raw ``executemany`` (list_page.fill), seconds — the triggers' share;
- ``create_many``: WRITES more records through the write path, records per second;
- ``apply``: adding a searchable text field to the filled table, seconds (with the index, the
  apply refills it from every row, in its transaction);
- the file's size once filled.

Reports the medians of ROUNDS rounds and appends them to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from list_page import CONFIG, REPS, fill, row_values  # benchmarks/list_page.py
from results import append_rows, machine  # benchmarks/results.py

from engine import Trellis
from engine.runtime import fulltext
from engine.runtime.tables import search_fields

SECTION = "## SQLite search index: what writers and apply pay (`benchmarks/sqlite_search_index.py`)"
HEADER = (
    f"{SECTION}\n\n"
    "benchmarks/list_page.py's opportunities (four searchable fields) in SQLite files with and without "
    "the FTS5 trigram search index, interleaved, medians of the rounds: `fill` ROWS rows by raw "
    "`executemany` (s), `create_many` of WRITES more through the write path (records/s), `apply` adding "
    "a searchable field to the filled table (s; with the index it refills it), the file's size.\n\n"
    "| rows | index | fill (s) | create_many (records/s) | apply adding a searchable field (s) | file (MB) | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def one(folder: Path, indexed: bool, rows: int, writes: int) -> tuple[float, float, float, float]:
    """(fill s, create_many records/s, apply s, MB) for one fresh file."""
    path = folder / f"{'with' if indexed else 'without'}.db"
    for stale in folder.glob(path.name + "*"):
        stale.unlink()
    config = folder / "bench.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    crm = Trellis.open(config, f"sqlite:///{path}")
    crm.apply()
    if not indexed:
        obj = crm.config.objects["opportunity"]
        index = fulltext.index_name(crm.schema.table("opportunity"), [f.name for f in search_fields(obj)])
        with crm.engine.begin() as conn:
            for statement in fulltext.drop_statements(index):
                conn.exec_driver_sql(statement)
    with crm.directory() as d:
        owners = [d.add(name, roles=["rep"]).id for name in REPS]
    filled = fill(crm, rows, owners)
    batch = [
        {k: v for k, v in row_values(rows + i).items() if k in crm.config.objects["opportunity"].fields}
        for i in range(writes)
    ]
    start = time.perf_counter()
    with crm.session() as s:
        s.create_many("opportunity", batch)
    rate = writes / (time.perf_counter() - start)
    crm.close()
    extended = folder / "extended.yaml"
    extended.write_text(
        CONFIG.replace("      hot: {type: boolean}\n", "      hot: {type: boolean}\n      city: {type: text}\n")
    )
    crm = Trellis.open(extended, f"sqlite:///{path}")
    real = fulltext.supported
    fulltext.supported = real if indexed else lambda: False  # type: ignore[assignment]  # as without FTS5
    try:
        start = time.perf_counter()
        crm.apply()
        applied = time.perf_counter() - start
    finally:
        fulltext.supported = real  # type: ignore[assignment]
    crm.close()
    size = sum(p.stat().st_size for p in folder.glob(path.name + "*")) / 1e6
    return filled, rate, applied, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    results: dict[bool, list[tuple[float, float, float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as name:
        for _ in range(args.rounds):
            for indexed in (True, False):
                results[indexed].append(one(Path(name), indexed, args.rows, args.writes))
                print(indexed, results[indexed][-1], flush=True)
    lines = []
    for indexed in (True, False):
        fills, rates, applies, sizes = (statistics.median(column) for column in zip(*results[indexed], strict=True))
        lines.append(
            f"| {args.rows:,} | {'FTS5 trigram' if indexed else 'none'} | {fills:.2f} | {rates:,.0f} | "
            f"{applies:.2f} | {sizes:.0f} | {dt.date.today().isoformat()} | {machine()} |"
        )
    for line in lines:
        print(line)
    append_rows(Path(args.output), SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
