"""Campaign send rate: messages per second through ``trellis worker`` into a local SMTP receiver.

    python benchmarks/campaign_send.py [--contacts 2000] [--db sqlite|postgresql|both] [--pg URL]
                                       [--output docs/benchmarks.md]

The SaaS sample (configs/sample_saas.yaml) with CONTACTS contacts, one campaign to the segment
``contacts_with_email`` at ``1000/second`` (so the rate does not hold the worker back: what is
measured is how fast it can go). The worker's passes run until every e-mail is delivered to an
aiosmtpd receiver in its own process (handler ``Sink``: accepts and drops), so the receiver
does not share the worker's interpreter. Reported, in messages per second:

- ``enqueue``: ``send_campaigns`` — recipients claimed, rendered for each (template, tracked
  links, unsubscribe link, pixel) and written to the outbox;
- ``deliver``: the outbox's SMTP delivery (one connection per pass, one message at a time);
- ``worker``: both, end to end (``CONTACTS`` / the passes' time).

The rows are printed and appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.runtime.campaigns.sending import send_campaigns  # noqa: E402
from engine.runtime.campaigns.starting import start_campaign  # noqa: E402
from engine.runtime.jobs.delivery import SmtpSettings, deliver  # noqa: E402

SECTION = "## Campaign send rate"
HEADER = f"""{SECTION}

`benchmarks/campaign_send.py`: a campaign of the SaaS sample to CONTACTS contacts at `1000/second`,
sent by the worker's passes into an aiosmtpd receiver in another process (accepts and drops), in
messages per second: rendering and writing to the outbox (`enqueue`), SMTP delivery (`deliver`),
and the two end to end (`worker`).

| date | database | contacts | enqueue | deliver | worker | machine |
| --- | --- | --- | --- | --- | --- | --- |
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def receiver(port: int) -> subprocess.Popen:
    """An SMTP server that accepts and drops every message, in its own process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"]
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the SMTP receiver did not start")


def run(url: str, contacts: int, smtp: SmtpSettings) -> tuple[float, float, float]:
    start = dt.datetime(2026, 5, 4, 1, 0, tzinfo=dt.UTC)
    crm = Trellis.open(ROOT / "configs" / "sample_saas.yaml", url, clock=lambda: start)
    crm.apply()
    with crm.directory() as d:
        d.add("mia", roles=["sales_manager"])
    with crm.session("mia") as s:
        account = s.create("account", {"name": "Acme"})["id"]
        rows = (
            {
                "last_name": "Li",
                "first_name": f"N{i}",
                "account": account,
                "email": f"p{i}@example.com",
                "decision_role": "user",
            }
            for i in range(contacts)
        )
        s.create_many("contact", rows)
        campaign = s.create(
            "campaign",
            {"name": "Bench", "segment": "contacts_with_email", "template": "product_news", "rate": "1000/second"},
        )["id"]
        start_campaign(s, campaign)
    enqueue = delivery = 0.0
    at = start
    sent = 0
    while sent < contacts:
        at += dt.timedelta(seconds=1)
        began = time.perf_counter()
        send_campaigns(crm, at)
        middle = time.perf_counter()
        sent += deliver(crm, at, smtp=smtp, batch=500).sent
        delivery += time.perf_counter() - middle
        enqueue += middle - began
    crm.close()
    return contacts / enqueue, contacts / delivery, contacts / (enqueue + delivery)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", "benchmark-secret-key-0123456789abcdef")
    os.environ.setdefault("TRELLIS_BASE_URL", "https://crm.example.com")
    port = free_port()
    process = receiver(port)
    lines = []
    try:
        for choice in databases(args.db, args.pg):
            with tempfile.TemporaryDirectory() as folder, scratch_database(choice, Path(folder)) as url:
                enqueue, delivery, worker = run(url, args.contacts, SmtpSettings("127.0.0.1", port))
            name = "sqlite" if choice is None else "postgresql"
            line = (
                f"| {dt.date.today()} | {name} | {args.contacts:,} | {enqueue:.0f} | {delivery:.0f} | {worker:.0f} "
                f"| {machine()} |"
            )
            print(line)
            lines.append(line)
    finally:
        process.terminate()
        process.wait()
    append_rows(args.output, SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
