"""Time of the report kinds that need more than a GROUP BY — funnel, cycle time, completeness —
against hand-written SQL of their counts.

    python benchmarks/report_kinds.py [--rows 100000] [--db sqlite|postgresql|both] [--output docs/benchmarks.md]

Fills ROWS deals created over the last two years, each walked through the pipeline (prospect →
qualify → proposal → negotiation → won, or dropped to lost at some stage) with one
``sys_stage_history`` row per move a few days apart (about 3.3 rows per deal), and a phone on
four deals of five; raw ``executemany`` per 10,000 rows. Then times, interleaved, three rounds:

- ``funnel``: ``reports.run`` of a ``funnel`` over this quarter's moves as the manager (entered,
  conversion, median days, lost per stage) and ``funnel sql``, the hand-written counts it
  includes (records that entered each stage this quarter and that were lost from each stage:
  two GROUP BYs over the history);
- ``cycle``: a ``cycle_time`` by owner of the deals closed this quarter, and ``cycle sql``, the
  same count and average days in one statement (the median is Python's in the report);
- ``completeness``: a ``completeness`` report by owner (three fields) and ``completeness sql``,
  its two counts per owner in one GROUP BY.

Medians of the rounds in seconds, with each report's ratio to its SQL. Issue 15 asks for a
dashboard of six widgets within 2 s at 1,000,000 deals: these are its heaviest widgets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime import periods, reports

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
      phone: {type: phone}
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
  funnel: {object: deal, kind: funnel, filter: {stage_entered_at: this_quarter}}
  cycle: {object: deal, kind: cycle_time, filter: {stage_entered_at: this_quarter}, group_by: [owner_id]}
  completeness: {object: deal, kind: completeness, fields: [source, amount, phone], target: 85%}
"""
MAIN = ["prospect", "qualify", "proposal", "negotiation", "won"]
SOURCES = ["web", "referral", "partner", "event"]
REPS = [f"rep{n}" for n in range(1, 9)]
CHUNK = 10_000
DAY = 86400
SECTION = "## Funnel, cycle time and completeness reports"
HEADER = f"""{SECTION}

`benchmarks/report_kinds.py`: the report kinds that need more than one GROUP BY, over ROWS deals
walked through a five-stage pipeline (about 3.3 stage-history rows per deal), as the manager,
against the hand-written SQL of their counts, interleaved, medians of three rounds, in seconds.
The funnel and the cycle time cover this quarter's moves; completeness checks three fields per
owner.

| date | database | rows | funnel sql | funnel | cycle sql | cycle | completeness sql | completeness | machine |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def _journey(i: int) -> list[str]:
    """The stages deal ``i`` passed through: along the main line, or lost at some stage."""
    end = (i * 7) % 6
    if end < 5:
        return MAIN[: end + 1]
    return [*MAIN[: 1 + (i % 4)], "lost"]


def fill(crm: Trellis, rows: int, owners: list[int]) -> tuple[float, int]:
    """ROWS deals and their stage history; returns seconds and history rows."""
    table = crm.schema.table("deal")
    history = crm.schema.system["sys_stage_history"]
    now = dt.datetime.now(dt.UTC)
    first_day = now - dt.timedelta(days=730)
    start, moves = time.perf_counter(), 0
    with crm.engine.begin() as conn:
        for first in range(0, rows, CHUNK):
            deals, steps = [], []
            for i in range(first, min(rows, first + CHUNK)):
                created = first_day + dt.timedelta(seconds=(700 * DAY // max(rows, 1)) * i)
                path, at = _journey(i), created
                for index, stage in enumerate(path):
                    if index:
                        at = at + dt.timedelta(days=2 + (i * 31 + index * 17) % 19, hours=i % 7)
                    if at > now:
                        path = path[:index]
                        break
                    steps.append(
                        {
                            "object": "deal",
                            "record_id": i + 1,
                            "from_stage": path[index - 1] if index else None,
                            "to_stage": stage,
                            "user_id": owners[i % len(owners)],
                            "channel": "api",
                            "at": at,
                            "skipped": 0,
                        }
                    )
                deals.append(
                    {
                        "id": i + 1,
                        "created_at": created,
                        "updated_at": at,
                        "stage_entered_at": at,
                        "version": len(path),
                        "owner_id": owners[i % len(owners)],
                        "created_by": owners[i % len(owners)],
                        "name": f"Deal {i}",
                        "source": SOURCES[i % len(SOURCES)],
                        "stage": path[-1],
                        "amount": Decimal(1000 + (i * 7919) % 500_000) / 10,
                        "phone": None if i % 5 == 0 else f"+86138{i:08d}",
                    }
                )
            conn.execute(sa.insert(table), deals)
            conn.execute(sa.insert(history), steps)
            moves += len(steps)
    if crm.engine.dialect.name == "postgresql":
        with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('obj_deal', 'id'), {rows + 1})"))
            conn.execute(sa.text("VACUUM ANALYZE obj_deal"))
            conn.execute(sa.text("VACUUM ANALYZE sys_stage_history"))
    return time.perf_counter() - start, moves


def quarter(crm: Trellis) -> tuple[dt.datetime, dt.datetime]:
    """This quarter in the company time zone, as UTC bounds."""
    with crm.session(None) as s:
        clock = s.clock()
        first, last = periods.period_range("this_quarter", clock.today())
        return periods.local_midnight(first, clock.timezone), periods.local_midnight(last, clock.timezone)


def funnel_sql(crm: Trellis, bounds: tuple[dt.datetime, dt.datetime]) -> int:
    """Records that entered each stage in the quarter, and those lost from each stage."""
    entered = (
        "SELECT to_stage, count(DISTINCT record_id) FROM sys_stage_history "
        "WHERE object = 'deal' AND at >= :start AND at < :end GROUP BY to_stage"
    )
    lost = (
        "SELECT from_stage, count(DISTINCT record_id) FROM sys_stage_history WHERE object = 'deal' "
        "AND to_stage = 'lost' AND at >= :start AND at < :end GROUP BY from_stage"
    )
    with crm.engine.connect() as conn:
        params = {"start": bounds[0], "end": bounds[1]}
        return len(conn.execute(sa.text(entered), params).all()) + len(conn.execute(sa.text(lost), params).all())


def cycle_sql(crm: Trellis, bounds: tuple[dt.datetime, dt.datetime]) -> int:
    """Deals closed in the quarter per owner, and their average days from creation."""
    postgres = crm.engine.dialect.name == "postgresql"
    days = (
        "extract(epoch FROM c.at - d.created_at) / 86400" if postgres else "julianday(c.at) - julianday(d.created_at)"
    )
    sql = (
        f"SELECT d.owner_id, count(*), avg({days}) FROM obj_deal d JOIN ("
        "SELECT record_id, max(at) AS at FROM sys_stage_history WHERE object = 'deal' "
        "AND to_stage IN ('won', 'lost') AND at >= :start AND at < :end GROUP BY record_id"
        ") c ON c.record_id = d.id WHERE d.archived_at IS NULL GROUP BY d.owner_id"
    )
    with crm.engine.connect() as conn:
        return len(conn.execute(sa.text(sql), {"start": bounds[0], "end": bounds[1]}).all())


def completeness_sql(crm: Trellis) -> int:
    """Deals per owner and those with source, amount and phone filled in."""
    sql = (
        "SELECT owner_id, count(*), sum(CASE WHEN source IS NOT NULL AND amount IS NOT NULL "
        "AND phone IS NOT NULL THEN 1 ELSE 0 END) FROM obj_deal WHERE archived_at IS NULL GROUP BY owner_id"
    )
    with crm.engine.connect() as conn:
        return len(conn.execute(sa.text(sql)).all())


def report(crm: Trellis, name: str) -> Callable[[], int]:
    def run() -> int:
        with crm.session("boss") as s:
            return len(reports.run(s, name).rows)

    return run


def timed(work: Callable[[], int]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(url: str, rows: int, rounds: int) -> str:
    """Fill a database at ``url`` and time the kinds; returns the table line."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(path, url)
        crm.apply()
        with crm.directory() as d:
            owners = [d.add(name, roles=["rep"]).id for name in REPS]
            d.add("boss", roles=["manager"])
        seconds, moves = fill(crm, rows, owners)
        print(f"filled {rows:,} deals and {moves:,} moves in {seconds:.1f} s")
        bounds = quarter(crm)
        kinds = {
            "funnel sql": lambda: funnel_sql(crm, bounds),
            "funnel": report(crm, "funnel"),
            "cycle sql": lambda: cycle_sql(crm, bounds),
            "cycle": report(crm, "cycle"),
            "completeness sql": lambda: completeness_sql(crm),
            "completeness": report(crm, "completeness"),
        }
        for work in kinds.values():  # warm-up: caches, statistics, the first connection
            work()
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(rounds):
            for kind, work in kinds.items():
                times[kind].append(timed(work))
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        dialect = crm.engine.dialect.name
        crm.close()
    cells = []
    for kind in ("funnel", "cycle", "completeness"):
        base, mine = medians[f"{kind} sql"], medians[kind]
        cells += [f"{base:.3f}", f"{mine:.3f} ({mine / base:.1f}×)"]
    return f"| {dt.date.today().isoformat()} | {dialect} | {rows:,} | {' | '.join(cells)} | {machine()} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    lines = []
    for choice in databases(args.db, args.postgresql):
        with tempfile.TemporaryDirectory() as folder, scratch_database(choice, Path(folder)) as url:
            line = measure(url, args.rows, args.rounds)
            print(line)
            lines.append(line)
    append_rows(Path(args.output), SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
