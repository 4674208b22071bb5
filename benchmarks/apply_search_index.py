"""Time of `apply` adding a searchable text field to a large table against an empty one, and how
long a writer waits meanwhile (issue 18 §6), on PostgreSQL.

    python benchmarks/apply_search_index.py [--rows 1000000] [--rounds 3] [--postgresql URL]
        [--output docs/benchmarks.md]

Two scratch schemas hold benchmarks/list_page.py's opportunity table: one filled with ROWS rows
(``VACUUM ANALYZE``d), one empty. Each round adds one more searchable text field (``extra_1``,
``extra_2``…) to both, interleaved, so that every apply changes the search index's expression and
rebuilds it; on the full table it does so twice per round, once as `apply` does now (the index
built after the commit, ``CREATE INDEX CONCURRENTLY``) and once as it did before (built inside the
apply's transaction, the table locked), each on its own schema. Meanwhile a writer in another
connection inserts a row every 10 ms; the longest INSERT is what a user saving a record would
have waited. Reports the median seconds of the rounds: the whole apply, the part before its
commit, and the longest INSERT.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from list_page import CONFIG, REPS, fill, vacuum  # benchmarks/list_page.py
from meanwhile import Meanwhile  # benchmarks/meanwhile.py
from results import append_rows, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime.migrate import planner as planner_module

POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECTION = "## Adding a searchable field to a large table (`benchmarks/apply_search_index.py`)"
MODES = ("empty", "concurrently", "in the transaction")
HEADER = (
    f"{SECTION}\n\n"
    "Seconds of `trellis apply` adding a searchable text field (so rebuilding the trigram search "
    "index) to a table of ROWS opportunities against the same apply on an empty table, with the "
    "index built after the commit, concurrently (as `apply` does) or inside the transaction (as "
    "it did before), and the longest INSERT of a writer in another connection meanwhile (one "
    "every 10 ms); medians of interleaved rounds. Goal (issue 18): ≤ 2× the empty table without "
    "locking writers.\n\n"
    "| database | rows | search index built | apply (s) | until the commit (s) | empty table (s) | ratio | "
    "longest INSERT (ms) | longest INSERT, empty table (ms) | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def config_with(extras: int) -> str:
    """CONFIG with ``extra_1`` … ``extra_<extras>`` searchable text fields."""
    fields = "".join(f"      extra_{n}: {{type: text, max_length: 200}}\n" for n in range(1, extras + 1))
    return CONFIG.replace("      description: {type: textarea}\n", "      description: {type: textarea}\n" + fields)


def writer(crm: Trellis, owner: int) -> Meanwhile:
    """Inserts a row every 10 ms on its own connection; ``longest`` is the slowest INSERT (s)."""
    table = crm.schema.table("opportunity")
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = dict(created_at=at, updated_at=at, version=1, owner_id=owner, created_by=owner)

    def insert(conn: sa.Connection, n: int) -> None:
        conn.execute(sa.insert(table), {**row, "name": "written meanwhile", "amount": Decimal(1)})

    return Meanwhile(crm.engine, insert)


def timed_apply(crm: Trellis, owner: int, in_transaction: bool) -> tuple[float, float, float]:
    """(whole apply, until its commit, longest INSERT) in seconds."""
    original = planner_module._plan_search_indexes

    def as_before(planner: planner_module._Planner) -> None:  # every table as if new: built in the transaction
        planner.created = set(planner.schema.metadata.tables)
        original(planner)

    committed: list[float] = []
    if in_transaction:
        planner_module._plan_search_indexes = as_before
    try:
        with writer(crm, owner) as writes:
            start = time.perf_counter()
            result = crm.apply(progress=lambda _: committed.append(time.perf_counter()))
            whole = time.perf_counter() - start
    finally:
        planner_module._plan_search_indexes = original
    assert [s.kind for s in result.search_indexes] == ["drop_search_index", "add_search_index"], result
    assert not result.warnings, result.warnings
    return whole, (committed[0] - start) if committed else whole, writes.longest


def run(url: str, args: argparse.Namespace) -> list[str]:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        urls: dict[str, str] = {}
        owners: dict[str, int] = {}
        for mode in MODES:
            urls[mode] = stack.enter_context(scratch_database(url, Path(folder)))
            path = Path(folder) / f"{mode}.yaml"
            path.write_text(config_with(0), encoding="utf-8")
            crm = Trellis.open(path, urls[mode])
            try:
                crm.apply()
                with crm.directory() as d:
                    owners[mode] = d.add(REPS[0], roles=["rep"]).id
                if mode != "empty":
                    seconds = fill(crm, args.rows, [owners[mode]])
                    vacuum(crm.engine)
                    print(f"{mode}: filled {args.rows:,} rows in {seconds:.1f} s")
            finally:
                crm.close()
        times: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
        for round_ in range(1, args.rounds + 1):
            for mode in MODES:
                path = Path(folder) / f"{mode}.yaml"
                path.write_text(config_with(round_), encoding="utf-8")
                crm = Trellis.open(path, urls[mode])
                try:
                    times[mode].append(timed_apply(crm, owners[mode], mode == "in the transaction"))
                finally:
                    crm.close()
                whole, commit, longest = times[mode][-1]
                print(
                    f"round {round_}, {mode}: apply {whole:.2f} s (commit at {commit:.2f} s), INSERT ≤ {longest:.3f} s"
                )
    empty = statistics.median(t[0] for t in times["empty"])
    lines = []
    for mode in MODES[1:]:
        whole, commit, longest = (statistics.median(t[i] for t in times[mode]) for i in range(3))
        lines.append(
            f"| postgresql | {args.rows:,} | {mode} | {whole:.2f} | {commit:.2f} | {empty:.2f} | {whole / empty:.1f}× | "
            f"{longest * 1000:,.0f} | {statistics.median(t[2] for t in times['empty']) * 1000:,.0f} | "
            f"{dt.date.today().isoformat()} | {machine()} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgresql", default=POSTGRESQL, help="the PostgreSQL URL to benchmark on")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    lines = run(args.postgresql, args)
    for line in lines:
        print(line)
    append_rows(Path(args.output), SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
