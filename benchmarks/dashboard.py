"""Time of a dashboard of six widgets (``engine.runtime.dashboards.run_dashboard``) over ROWS deals.

    python benchmarks/dashboard.py [--rows 1000000] [--db URL] [--output docs/benchmarks.md]

The deals, the users and the two grouped reports are those of benchmarks/reports.py (its
``CONFIG`` and ``fill``: one raw ``executemany`` per 10,000 rows); this script adds a key figure
and an open pipeline, and a dashboard of six widgets:

- ``kpi: won_this_year``: won deals created this year, count and sum, and the same for last year
  (the change a key figure shows): two runs;
- ``report: by_source_and_stage`` and ``report: by_source_and_month`` (a date bucket in the
  company time zone);
- ``report: open_pipeline``: open deals by stage with count, sum and weighted sum;
- ``widget: my_pipeline``: the viewer's open deals by stage;
- ``widget: recent_records``: the five deals changed last.

It times, interleaved, the hand-written SQL of ``by_source_and_stage`` (a floor), the dashboard
as the manager (scope ``all``) and as a rep who owns an eighth of the deals; medians of the
rounds, in seconds. The goal (issue 15): 1,000,000 deals on PostgreSQL in at most 2 s. With
``--db`` a PostgreSQL URL, the script works in a fresh schema that it creates and drops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from reports import CONFIG as REPORTS_CONFIG  # benchmarks/reports.py
from reports import REPS, fill, hand_written, timed
from results import append_rows, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime import dashboards

CONFIG = (
    REPORTS_CONFIG
    + """  won_this_year:
    object: deal
    filter: {stage: won, created_at: this_year}
    measures: [count, {sum: amount}]
    chart: kpi
  open_pipeline:
    object: deal
    filter: {stage__not_in: [won, lost]}
    group_by: [stage]
    measures: [count, {sum: amount}, {weighted: amount}]
    chart: bar
dashboards:
  overview:
    default: true
    widgets:
      - {kpi: won_this_year}
      - {report: by_source_and_stage}
      - {report: by_source_and_month}
      - {report: open_pipeline}
      - {widget: my_pipeline}
      - {widget: recent_records, object: deal}
"""
)
SECTION = "## Dashboards"
HEADER = f"""{SECTION}

`benchmarks/dashboard.py`: a dashboard of six widgets (a key figure with its previous period,
three grouped reports, my pipeline, recent records) over ROWS deals, run as the manager (all
deals) and as a rep who owns an eighth, against the hand-written SQL of one of its GROUP BYs,
interleaved, medians of three rounds, in seconds. Goal: 1,000,000 deals on PostgreSQL ≤ 2 s.

| date | database | rows | sql (one report) | dashboard | dashboard as a rep | machine |
| --- | --- | --- | --- | --- | --- | --- |
"""


def dashboard(crm: Trellis, user: str) -> Callable[[], int]:
    def run() -> int:
        with crm.session(user) as s:
            return len(dashboards.run_dashboard(s, "overview").widgets)

    return run


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
        kinds = {"sql": lambda: hand_written(crm), "manager": dashboard(crm, "boss"), "rep": dashboard(crm, "rep1")}
        assert kinds["manager"]() == 6, "the manager sees the six widgets"
        for work in kinds.values():  # warm-up: caches, statistics, the first connection
            work()
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.rounds):
            for kind, work in kinds.items():
                times[kind].append(timed(work))
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        dialect = crm.engine.dialect.name
        crm.close()
    line = (
        f"| {dt.date.today().isoformat()} | {dialect} | {args.rows:,} | {medians['sql']:.3f}"
        f" | {medians['manager']:.3f} | {medians['rep']:.3f} | {machine()} |"
    )
    print(line)
    append_rows(Path(args.output), SECTION, HEADER, [line])


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - start:.1f} s")
