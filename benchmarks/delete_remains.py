"""Deleting records beside large ``sys_*`` tables, this code against a baseline checkout (issue
18's known limits: a delete's stage ``gone`` found a record's notifications and queued campaign
e-mails, and a purge its automation runs, by scanning those tables).

    python benchmarks/delete_remains.py --baseline DIR [--rows 200000] [--rounds 3]
                                        [--db sqlite|postgresql|both] [--postgresql URL]
                                        [--output docs/benchmarks.md]

``--baseline DIR`` is the code to compare with, e.g. the commit before the indexes:
``git archive 907c8b4 | tar -x -C /tmp/base``. Each round runs both codes, one after the other
in fresh processes (``PYTHONPATH`` = the code's folder), each on a fresh database (a SQLite file,
or a new schema of ``--postgresql``): ROWS rows in each of ``sys_notifications``,
``sys_campaign_recipients`` (queued) and ``sys_automation_runs``, naming other records (written
with plain INSERTs: they stand for the history of a large CRM), and the statistics the databases
keep (``ANALYZE``). Timed: DELETES (100) ordinary ``Session.delete`` calls, each in its own
transaction (median ms), then one ``Session.purge`` of PURGED (100) records in one transaction.
Reported: the medians of the rounds and the ratios this code / baseline; appended to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append_rows, databases, machine  # benchmarks/results.py  # noqa: E402
from scratch import compare_checkouts  # benchmarks/scratch.py  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
CONFIG = """
trellis: 1
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
"""
#: Ordinary deletes timed, each in its own transaction; records purged in one.
DELETES = 100
PURGED = 100
#: Rows written per INSERT while filling.
FILL_CHUNK = 5000
SECTION = "## Deleting beside large system tables (`benchmarks/delete_remains.py`)"
HEADER = f"""{SECTION}

`benchmarks/delete_remains.py`: ROWS rows in each of `sys_notifications`, `sys_campaign_recipients`
(queued) and `sys_automation_runs`, naming other records, then {DELETES} ordinary `Session.delete`
calls, each in its own transaction (median ms), and one `Session.purge` of {PURGED} records (s), this
code against a baseline checkout; each round both codes in fresh processes on fresh databases,
interleaved; medians of the rounds. The machine (2 cores) was shared with other helpers' work, so
the ratios matter more than the times.

| date | database | rows per table | one delete, baseline ms | one delete ms | ratio | purge, baseline s | purge s | ratio | baseline | machine |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def fill(crm: object, rows: int, others: int) -> None:
    """``rows`` rows per table naming records ``1..others`` of ``lead`` (never the ones deleted)."""
    system = crm.schema.system  # type: ignore[attr-defined]
    now = dt.datetime.now(dt.UTC)
    tables = {
        "sys_notifications": lambda i: {
            "user_id": 1,
            "title": "t",
            "body": "b",
            "object": "lead",
            "record_id": 1 + i % others,
            "created_at": now,
        },
        "sys_campaign_recipients": lambda i: {
            "campaign_id": i // others,
            "object": "lead",
            "record_id": 1 + i % others,
            "email": f"r{i}@example.com",
            "status": "queued",
            "due_at": now,
        },
        "sys_automation_runs": lambda i: {
            "rule": "r",
            "object": "lead",
            "record_id": 1 + i % others,
            "trigger": "update",
            "status": "done",
            "depth": 1,
            "at": now,
        },
    }
    with crm.engine.begin() as connection:  # type: ignore[attr-defined]
        for name, row in tables.items():
            for start in range(0, rows, FILL_CHUNK):
                batch = [row(i) for i in range(start, min(rows, start + FILL_CHUNK))]
                connection.execute(sa.insert(system[name]), batch)
    with crm.engine.connect() as connection:  # type: ignore[attr-defined]
        for name in (*tables, "obj_lead"):  # these tables only: a shared PostgreSQL has other schemas
            connection.exec_driver_sql(f"ANALYZE {name}")
        connection.commit()


def one(url: str, rows: int) -> dict[str, float]:
    """Build the data on ``url`` and time the deletes (runs in the child process, on its code)."""
    from engine import Trellis

    others = 1000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "delete.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(path, url)
        crm.apply()
        with crm.session() as s:
            s.create_many("lead", [{"name": f"Kept {i}"} for i in range(others)])
            doomed = [r.id for r in s.create_many("lead", [{"name": f"Gone {i}"} for i in range(DELETES + PURGED)])]
        fill(crm, rows, others)
        single = []
        for record_id in doomed[:DELETES]:
            started = time.perf_counter()
            with crm.session() as s:
                s.delete("lead", record_id)
            single.append(time.perf_counter() - started)
        started = time.perf_counter()
        with crm.session() as s:
            purged = s.purge("lead", doomed[DELETES:], {"years": 2, "from": "updated_at", "before": "2024-01-01"})
        seconds = time.perf_counter() - started
        with crm.engine.connect() as connection:
            left = connection.execute(sa.text("SELECT count(*) FROM obj_lead")).scalar_one()
        crm.close()
    assert len(purged) == PURGED and left == others, (len(purged), left)
    import engine

    assert Path(engine.__file__).resolve().parents[1] == Path(os.environ["PYTHONPATH"]).resolve(), engine.__file__
    return {"delete_ms": statistics.median(single) * 1000, "purge_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.rows)))
        return
    if args.baseline is None:
        parser.error("--baseline DIR: the code to compare with")
    lines = []
    for url in databases(args.db, args.postgresql):
        options = ["--rows", str(args.rows)]
        runs = compare_checkouts(__file__, url, args.baseline.resolve(), HERE, options, args.rounds)
        single = [statistics.median(r["delete_ms"] for r in runs[k]) for k in ("baseline", "this")]
        purge = [statistics.median(r["purge_s"] for r in runs[k]) for k in ("baseline", "this")]
        database = "PostgreSQL" if url else "SQLite"
        print(
            f"{database}: one delete {single[0]:.1f} / {single[1]:.1f} ms ({single[1] / single[0]:.2f}×); "
            f"purge {purge[0]:.2f} / {purge[1]:.2f} s ({purge[1] / purge[0]:.2f}×)"
        )
        lines.append(
            f"| {dt.date.today()} | {database} | {args.rows:,} | {single[0]:.1f} | {single[1]:.1f} "
            f"| {single[1] / single[0]:.2f}× | {purge[0]:.2f} | {purge[1]:.2f} | {purge[1] / purge[0]:.2f}× "
            f"| `{args.baseline.name}` | {machine()} |"
        )
    if args.output:
        append_rows(args.output, SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
