"""Time of one page of a record's timeline when its engagement events outnumber its activities.

    python benchmarks/timeline_events.py [--events 10000] [--calls 200] [--db sqlite|postgresql|both]
        [--postgresql URL] [--output docs/benchmarks.md]

One contact with CALLS follow-ups (written through the write path) and EVENTS engagement events
(opens, clicks, received e-mails, at distinct times, inserted with one ``executemany``): the
timeline (``engine.runtime.workflow.timeline.timeline``) as a rep who owns the contact, its
first and its last page of 20 entries, medians of five rounds, in milliseconds. With PostgreSQL
the script works in a fresh schema that it creates and drops.
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
from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime.workflow import timeline

CONFIG = """
trellis: 1
settings: {languages: [en], timezone: Asia/Shanghai}
objects:
  contact:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      email: {type: email}
  call:
    title: "{topic}"
    activity: {at: at, kind: method, summary: topic}
    fields:
      contact: {type: lookup, object: contact}
      method: {type: picklist, required: true, values: [phone, visit]}
      at: {type: datetime, required: true}
      topic: {type: text, required: true}
roles:
  rep:
    objects:
      contact: {read: own}
      call: {read: all}
"""
SECTION = "## Timeline with engagement events"
HEADER = f"""{SECTION}

`benchmarks/timeline_events.py`: the timeline of one contact with CALLS follow-ups and EVENTS
engagement events (opens, clicks, received e-mails), read as the rep who owns it: its first and
last page of 20 entries, medians of five rounds, in milliseconds.

| date | database | calls | events | first page (ms) | last page (ms) | machine |
| --- | --- | --- | --- | --- | --- | --- |
"""
KINDS = ("email_opened", "email_clicked", "email_received")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def seed(crm: Trellis, calls: int, events: int) -> int:
    """The contact, its calls and its events; returns the contact's id."""
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
    rita = crm.principal("rita").user_id
    with crm.session() as s:
        contact = s.create("contact", {"name": "Zhang", "email": "zhang@acme.example", "owner_id": rita}).id
        for i in range(calls):
            at = START + dt.timedelta(hours=i * 7)
            s.create("call", {"contact": contact, "method": "phone", "topic": f"Call {i}", "at": at})
    table = crm.schema.system["sys_engagement_events"]
    rows = [
        {
            "kind": KINDS[i % 3],
            "object": "contact",
            "record_id": contact,
            "campaign_id": None,
            "recipient_id": None,
            "data": {"url": "https://www.example.com/"} if i % 3 == 1 else {"subject": f"Re: {i}"},
            "at": START + dt.timedelta(minutes=i * 13),
        }
        for i in range(events)
    ]
    if rows:
        with crm.engine.begin() as connection:
            connection.execute(table.insert(), rows)
    return contact


def median_ms(crm: Trellis, contact: int, page: int) -> float:
    times = []
    for _ in range(5):
        with crm.session("rita") as s:
            started = time.perf_counter()
            found = timeline.timeline(s, "contact", contact, page, 20)
            times.append(time.perf_counter() - started)
        assert found.entries, "the page has entries"
    return statistics.median(times) * 1000


def run(url: str | None, calls: int, events: int) -> tuple[str, float, float]:
    with tempfile.TemporaryDirectory() as folder, scratch_database(url, Path(folder)) as db:
        config = Path(folder) / "config.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(config, db)
        try:
            crm.apply()
            contact = seed(crm, calls, events)
            last = -(-(calls + events) // 20)
            return crm.engine.dialect.name, median_ms(crm, contact, 1), median_ms(crm, contact, last)
        finally:
            crm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    lines = []
    for url in databases(args.db, args.postgresql):
        name, first, last = run(url, args.calls, args.events)
        line = f"| {dt.date.today()} | {name} | {args.calls:,} | {args.events:,} | {first:.1f} | {last:.1f} | {machine()} |"
        print(line)
        lines.append(line)
    if args.output:
        append_rows(args.output, SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
