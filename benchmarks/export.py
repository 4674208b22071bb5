"""Time and peak memory of an export (``engine.runtime.exports.export_file``), CSV and Excel.

    python benchmarks/export.py [--rows 100000] [--db URL] [--output docs/benchmarks.md]

Fills ROWS opportunities (ten fields: text, picklists, money, date, integer, e-mail, boolean,
a lookup to one of 50 accounts) with one raw ``executemany`` per 10,000 rows, then exports the
first ROWS/10 and all ROWS records as the manager (reads all, holds the export grant), each run
in a fresh process so that its peak RSS is its own: the baseline ``raw`` (one SELECT of the
rows written with ``csv.writer``, values as ``str()``: no grant, no labels, no titles, no log),
then ``csv`` and ``xlsx`` through ``export_file``. The three kinds are interleaved, three
rounds; the medians of seconds and of peak RSS (MB) are reported, with rows per second. Flat
memory shows as a peak RSS that does not grow from ROWS/10 to ROWS.

With ``--db`` a PostgreSQL URL, the script works in a fresh schema that it creates and drops.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from results import append_rows  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, languages: [en, zh]}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  opportunity:
    title: "{name}"
    fields:
      name: {type: text, required: true, max_length: 200}
      account: {type: lookup, object: account}
      stage: {type: picklist, values: [prospect, qualify, proposal, negotiation, won, lost]}
      amount: {type: currency, min: 0}
      close_date: {type: date}
      probability: {type: integer, min: 0, max: 100}
      source: {type: picklist, values: [web, referral, partner, event]}
      email: {type: email}
      hot: {type: boolean}
      description: {type: textarea}
roles:
  manager:
    objects:
      "*": {read: all, edit: all, create: true, export: true}
"""
STAGES = ["prospect", "qualify", "proposal", "negotiation", "won", "lost"]
SOURCES = ["web", "referral", "partner", "event"]
ACCOUNTS = 50
CHUNK = 10_000
KINDS = ("raw", "csv", "xlsx")
ROUNDS = 3


def fill(crm: Trellis, rows: int, owner: int) -> float:
    """Insert ACCOUNTS accounts and ROWS opportunities with raw executemany; returns seconds."""
    accounts, table = crm.schema.table("account"), crm.schema.table("opportunity")
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    system = dict(created_at=base, updated_at=base, version=1, owner_id=owner, created_by=owner, archived_at=None)
    start = time.perf_counter()
    with crm.engine.begin() as conn:
        conn.execute(sa.insert(accounts), [dict(system, name=f"Account {n}") for n in range(ACCOUNTS)])
        account_ids = list(conn.execute(sa.select(accounts.c.id)).scalars())
        for first in range(0, rows, CHUNK):
            batch = []
            for i in range(first, min(rows, first + CHUNK)):
                at = base + dt.timedelta(seconds=37 * i)
                batch.append(
                    dict(
                        system,
                        created_at=at,
                        updated_at=at,
                        name=f"Deal {i:06d}",
                        account=account_ids[i % ACCOUNTS],
                        stage=STAGES[(i * 7) % len(STAGES)],
                        amount=Decimal(1000 + (i * 7919) % 500_000) / 10,
                        close_date=(at + dt.timedelta(days=60)).date(),
                        probability=(i * 13) % 101,
                        source=SOURCES[i % len(SOURCES)],
                        email=f"buyer{i}@example.com",
                        hot=i % 5 == 0,
                        description=f"Opportunity number {i}.",
                    )
                )
            conn.execute(sa.insert(table), batch)
    return time.perf_counter() - start


def run_once(config: str, url: str, kind: str, rows: int, out: str) -> dict[str, float]:
    """One export in this process (the worker side): seconds and peak RSS in MB."""
    from engine.runtime.exports.export import export_file

    crm = Trellis.open(config, url)
    crm.check_database()
    start = time.perf_counter()
    with open(out, "wb") as file, crm.session(user="boss") as session:
        query = session.query("opportunity").filter(id__lte=rows)
        if kind == "raw":
            text = open(out, "w", encoding="utf-8", newline="")  # noqa: SIM115
            writer = csv.writer(text)
            result = session.connection.execute(query.statement().execution_options(yield_per=1000))
            writer.writerow(result.keys())
            for part in result.partitions(1000):
                writer.writerows([str(v) for v in row] for row in part)
            text.close()
        else:
            export_file(session, "opportunity", file, query=query, file_format=kind, language="en")
    seconds = time.perf_counter() - start
    crm.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "rss_mb": peak_kb / 1024}


def measure(config: str, url: str, kind: str, rows: int, folder: str) -> dict[str, float]:
    """``run_once`` in a fresh process."""
    out = str(Path(folder) / f"export.{kind}")
    command = [sys.executable, __file__, "--worker", kind, "--config", config, "--db", url, "--rows", str(rows)]
    answer = subprocess.run([*command, "--out", out], capture_output=True, text=True, check=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--output", default="docs/benchmarks.md")
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_once(args.config, args.db, args.worker, args.rows, args.out)))
        return
    lines = []
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.db, Path(folder)) as url:
        config_path = Path(folder) / "bench.yaml"
        config_path.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(config_path, url)
        crm.apply()
        with crm.directory() as d:
            boss = d.add("boss", roles=["manager"]).id
        print(f"filled {args.rows:,} rows in {fill(crm, args.rows, boss):.1f} s")
        crm.close()
        dialect = url.split(":", 1)[0].split("+")[0]
        for rows in (args.rows // 10, args.rows):
            runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
            for _ in range(ROUNDS):
                for kind in KINDS:  # interleaved with the baseline
                    runs[kind].append(measure(str(config_path), url, kind, rows, folder))
            for kind in KINDS:
                seconds = statistics.median(r["seconds"] for r in runs[kind])
                rss = statistics.median(r["rss_mb"] for r in runs[kind])
                line = (
                    f"| {dialect} | {rows:,} | {kind} | {seconds:.2f} | {rows / seconds:,.0f} | {rss:.0f} | "
                    f"{dt.date.today().isoformat()} | {platform.python_version()} |"
                )
                print(line)
                lines.append(line)
    append_rows(Path(args.output), SECTION, HEADER, lines)


SECTION = "## Export (`benchmarks/export.py`)"
HEADER = (
    f"{SECTION}\n\n"
    "Medians of three interleaved runs, each in a fresh process: seconds, rows per second and peak RSS (MB, "
    "the whole Python process with Trellis loaded) of exporting opportunities with ten fields (a lookup, "
    "picklists, money, a date) as the manager. `raw` is the floor: one streamed SELECT written with "
    "`csv.writer`, values as `str()`. `csv` and `xlsx` are `export_file`: grant, labels, titles, "
    "names, company dates, typed Excel cells, the access log. Memory is flat when the peak RSS does "
    "not grow with the rows.\n\n"
    "| database | rows | kind | seconds | rows/s | peak RSS MB | date | python |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


if __name__ == "__main__":
    main()
