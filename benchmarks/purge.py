"""A retention purge of 2,000 records, this code against a baseline checkout (issue 18 §4).

    python benchmarks/purge.py --baseline DIR [--records 2000] [--rounds 3] [--db sqlite|postgresql|both]
                               [--postgresql URL] [--output docs/benchmarks.md]

``--baseline DIR`` is the code to compare with, e.g. the commit before purges went through the
write path: ``git archive abef6f7 | tar -x -C /tmp/base``. Each round runs both codes, one after
the other in fresh processes (``PYTHONPATH`` = the code's folder), each on a fresh database
(a SQLite file, or a new schema of ``--postgresql``): RECORDS leads past their retention
(``{years: 2, action: purge}``), each with an e-mail address (a duplicate rule's keys), a
pipeline stage (its stage history) and, for one in ten, a call on its timeline (purged with
it), made through the write path with the clock set four years back. Timed: one
``retention.run`` purging them all in one transaction (``batch`` = RECORDS), and the SQL
statements it sent; then 100 ordinary deletes, each in its own transaction (the median). Reported:
the medians of the rounds and the ratios this code / baseline;
appended to the purge section of docs/benchmarks.md.
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
    timeline: true
    retention: {years: 2, action: purge}
    fields:
      name: {type: text, required: true}
      email: {type: email}
    pipeline:
      stages: [new, contacted, qualified]
    duplicates:
      - {name: same_email, match: [{field: email, method: email}]}
  call:
    activity: {at: at}
    retention: false
    fields:
      at: {type: datetime, required: true}
      lead: {type: lookup, object: lead}
"""
#: Ordinary deletes timed after the purge, each in its own transaction.
DELETES = 100
SECTION = "## Retention purge through the write path (`benchmarks/purge.py`)"
HEADER = f"""{SECTION}

`benchmarks/purge.py`: one `retention.run` purging RECORDS leads (e-mail keys of a duplicate rule,
stage history, one in ten with a call on its timeline, purged with it) in one transaction, this
code against a baseline checkout, each round both codes in fresh processes on fresh databases,
interleaved; medians of the rounds. Then DELETES (100) ordinary `Session.delete` calls, each in
its own transaction (median ms). The machine (2 cores) was shared with other work, so the
ratios matter more than the seconds.

| date | database | records | baseline s | this code s | ratio | baseline statements | statements | one delete, baseline ms | one delete ms | ratio | baseline | machine |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def one(url: str, records: int) -> dict[str, float]:
    """Build the data on ``url`` and time the purge (runs in the child process, on its code)."""
    from engine import Trellis
    from engine.runtime import retention

    now = dt.datetime.now(dt.UTC)
    clock = [now - dt.timedelta(days=4 * 365)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "purge.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(path, url, clock=lambda: clock[0])
        crm.apply()
        with crm.session() as s:
            rows = [
                {"name": f"Lead {i}", "email": f"lead{i}@example.com", "stage": "contacted"} for i in range(records)
            ]
            leads = [r.id for r in s.create_many("lead", rows)]
            s.create_many("call", [{"at": clock[0], "lead": lead} for lead in leads[::10]])
        clock[0] = now
        statements = [0]

        def counted(*_: object) -> None:
            statements[0] += 1

        sa.event.listen(crm.engine, "before_cursor_execute", counted)
        started = time.perf_counter()
        outcomes = retention.run(crm, now, batch=records)
        seconds = time.perf_counter() - started
        sa.event.remove(crm.engine, "before_cursor_execute", counted)
        purged = sum(o.done for o in outcomes if o.action == "purge")
        with crm.engine.connect() as connection:
            left = connection.execute(sa.text("SELECT count(*) FROM obj_lead")).scalar_one()
        with crm.session() as s:
            rows = [{"name": f"New {i}", "email": f"new{i}@example.com"} for i in range(DELETES)]
            fresh = [r.id for r in s.create_many("lead", rows)]
        single = []
        for record_id in fresh:
            started = time.perf_counter()
            with crm.session() as s:
                s.delete("lead", record_id)
            single.append(time.perf_counter() - started)
        crm.close()
    assert purged == records and left == 0, (purged, left)
    import engine

    assert Path(engine.__file__).resolve().parents[1] == Path(os.environ["PYTHONPATH"]).resolve(), engine.__file__
    return {"seconds": seconds, "statements": statements[0], "delete_ms": statistics.median(single) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.records)))
        return
    if args.baseline is None:
        parser.error("--baseline DIR: the code to compare with")
    lines = []
    for url in databases(args.db, args.postgresql):
        options = ["--records", str(args.records)]
        runs = compare_checkouts(__file__, url, args.baseline.resolve(), HERE, options, args.rounds)
        before = statistics.median(r["seconds"] for r in runs["baseline"])
        after = statistics.median(r["seconds"] for r in runs["this"])
        sent = [int(statistics.median(r["statements"] for r in runs[k])) for k in ("baseline", "this")]
        single = [statistics.median(r["delete_ms"] for r in runs[k]) for k in ("baseline", "this")]
        database = "PostgreSQL" if url else "SQLite"
        print(
            f"{database}: baseline {before:.2f} s, this code {after:.2f} s ({after / before:.2f}×); "
            f"statements {sent}; one delete {single[0]:.1f} / {single[1]:.1f} ms"
        )
        lines.append(
            f"| {dt.date.today()} | {database} | {args.records:,} | {before:.2f} | {after:.2f} | {after / before:.2f}× "
            f"| {sent[0]:,} | {sent[1]:,} | {single[0]:.1f} | {single[1]:.1f} | {single[1] / single[0]:.2f}× "
            f"| `{args.baseline.name}` | {machine()} |"
        )
    if args.output:
        append_rows(args.output, SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
