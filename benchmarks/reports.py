"""Time of a grouped report (``engine.runtime.reports.run``) against the hand-written SQL of the
same GROUP BY.

    python benchmarks/reports.py [--rows 100000] [--db URL] [--output docs/benchmarks.md]

Fills ROWS deals (stage of a pipeline with probabilities, source, amount, created over two
years) with one raw ``executemany`` per 10,000 rows, then times, interleaved, three rounds:

- ``sql``: the hand-written statement of the same figures — ``SELECT source, stage, count(*),
  sum(amount), sum(amount * CASE stage … END) / 100 FROM obj_deal WHERE archived_at IS NULL
  GROUP BY source, stage`` — rows fetched, nothing else;
- ``report``: ``reports.run`` of the same report as the manager (scope ``all``): the read path
  (scope, hidden fields, list parameters), labels, sort, drill-down filters and the total;
- ``report by month``: the same with a second level ``created_at`` by month in the company time
  zone (``date_trunc`` over ``timezone()`` on PostgreSQL, the ``trellis_bucket`` function on SQLite);
- ``report as a rep``: the first report as a rep who owns an eighth of the deals.

Medians of the three rounds are reported with the report's ratio to ``sql``. The goals
(issue 15): 1,000,000 deals on PostgreSQL at most 1 s and 1.5× the SQL; 100,000 on SQLite at
most 1 s. With ``--db`` a PostgreSQL URL, the script works in a fresh schema that it creates
and drops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from results import append_rows  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime import reports

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      source: {type: picklist, values: [web, referral, partner, event]}
      amount: {type: currency}
    pipeline:
      field: stage
      stages:
        - {key: prospect, probability: 10}
        - {key: qualify, probability: 25}
        - {key: proposal, probability: 50}
        - {key: negotiation, probability: 75}
        - {key: won, probability: 100, outcome: won}
        - {key: lost, probability: 0, outcome: lost}
roles:
  rep: {objects: {deal: {read: own}}}
  manager: {objects: {deal: {read: all}}}
reports:
  by_source_and_stage:
    object: deal
    group_by: [source, stage]
    measures: [count, {sum: amount}, {weighted: amount}]
  by_source_and_month:
    object: deal
    group_by: [source, {field: created_at, by: month}]
    measures: [count, {sum: amount}, {weighted: amount}]
"""
STAGES = ["prospect", "qualify", "proposal", "negotiation", "won", "lost"]
PROBABILITY = {"prospect": 10, "qualify": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}
SOURCES = ["web", "referral", "partner", "event"]
REPS = [f"rep{n}" for n in range(1, 9)]
CHUNK = 10_000
SECTION = "## Reports"
HEADER = f"""{SECTION}

`benchmarks/reports.py`: a grouped report (issue 15) over ROWS deals — by source and stage with
count, sum and probability-weighted sum; by source and month (a date bucket in the company time
zone); the first as a rep who owns an eighth — against the hand-written SQL of the same GROUP BY,
interleaved, medians of three rounds, in seconds. Goals: 1,000,000 deals on PostgreSQL ≤ 1 s and
≤ 1.5× the SQL; 100,000 on SQLite ≤ 1 s.

| date | database | rows | sql | report | ratio | report by month | report as a rep | machine |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def fill(crm: Trellis, rows: int, owners: list[int]) -> float:
    """ROWS deals with one executemany per CHUNK rows; returns seconds."""
    table = crm.schema.table("deal")
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    start = time.perf_counter()
    with crm.engine.begin() as conn:
        for first in range(0, rows, CHUNK):
            batch = []
            for i in range(first, min(rows, first + CHUNK)):
                at = base + dt.timedelta(seconds=(63_072_000 // max(rows, 1)) * i)
                batch.append(
                    {
                        "created_at": at,
                        "updated_at": at,
                        "version": 1,
                        "owner_id": owners[i % len(owners)],
                        "created_by": owners[i % len(owners)],
                        "archived_at": None,
                        "name": f"Deal {i}",
                        "source": SOURCES[i % len(SOURCES)],
                        "stage": STAGES[(i * 7) % len(STAGES)],
                        "amount": Decimal(1000 + (i * 7919) % 500_000) / 10,
                    }
                )
            conn.execute(sa.insert(table), batch)
    if crm.engine.dialect.name == "postgresql":
        with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE obj_deal"))
    return time.perf_counter() - start


def hand_written(crm: Trellis) -> int:
    """The same figures as ``by_source_and_stage``, in SQL written by hand."""
    chance = " ".join(f"WHEN '{k}' THEN {p}" for k, p in PROBABILITY.items())
    sql = (
        "SELECT source, stage, count(*), sum(amount), sum(amount * CASE stage "
        + chance
        + " ELSE 0 END) / 100 FROM obj_deal WHERE archived_at IS NULL GROUP BY source, stage"
    )
    with crm.engine.connect() as conn:
        return len(conn.execute(sa.text(sql)).all())


def report(crm: Trellis, user: str, name: str) -> Callable[[], int]:
    def run() -> int:
        with crm.session(user) as s:
            return len(reports.run(s, name).rows)

    return run


def timed(work: Callable[[], int]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.db, Path(folder)) as url:
        path = Path(folder) / "bench.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(path, url)
        crm.apply()
        with crm.directory() as d:
            owners = [d.add(name, roles=["rep"]).id for name in REPS]
            d.add("boss", roles=["manager"])
        print(f"filled {args.rows:,} rows in {fill(crm, args.rows, owners):.1f} s")
        kinds = {
            "sql": lambda: hand_written(crm),
            "report": report(crm, "boss", "by_source_and_stage"),
            "month": report(crm, "boss", "by_source_and_month"),
            "rep": report(crm, "rep1", "by_source_and_stage"),
        }
        for work in kinds.values():  # warm-up: caches, statistics, the first connection
            work()
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.rounds):
            for kind, work in kinds.items():
                times[kind].append(timed(work))
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        dialect = crm.engine.dialect.name
        crm.close()
    ratio = medians["report"] / medians["sql"]
    line = (
        f"| {dt.date.today().isoformat()} | {dialect} | {args.rows:,} | {medians['sql']:.3f} | {medians['report']:.3f}"
        f" | {ratio:.2f}× | {medians['month']:.3f} | {medians['rep']:.3f} | {platform.machine()}, {os.cpu_count()} CPUs |"
    )
    print(line)
    append_rows(Path(args.output), SECTION, HEADER, [line])


if __name__ == "__main__":
    main()
