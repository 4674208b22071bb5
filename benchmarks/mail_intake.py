"""Messages per second of mail intake (``engine.runtime.mail``): ``trellis mail fetch`` of N new
messages from a real IMAP server.

    python benchmarks/mail_intake.py [--messages 1000] [--db sqlite|postgresql|both]
                                     [--postgresql URL] [--output docs/benchmarks.md]

A dovecot of its own (the tests' ``tests/imap_server.py``: IMAPS on loopback, a self-signed
certificate verified through ``ca_file``) gets MESSAGES messages by IMAP APPEND — four in five
from the 200 known contacts (one in four of those with a 20 KB PDF attachment), one in five from
unknown senders, each of whom becomes a lead — on the tests' config (``MAIL_CONFIG``: contacts
at accounts, leads, follow-ups logging each message with its attachment). Then ``imap.fetch``
is timed on a fresh database: each message fetched, parsed, routed (the sender looked up), its
follow-up (and lead) written through the write path with the audit and the timeline's
last activity, its ``sys_mail_messages`` row, one transaction per message. A second fetch
(nothing new) is timed too. The results are printed and appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.runtime.mail.imap import fetch  # noqa: E402
from tests.imap_server import MAIL_CONFIG, PASSWORD, dovecot  # noqa: E402

SECTION = "## Mail intake\n"
HEADER = (
    SECTION
    + """
`benchmarks/mail_intake.py`: `trellis mail fetch` of N new messages from a real IMAP server
(dovecot on loopback, IMAPS): four in five from known contacts (a quarter of them with a 20 KB
attachment), one in five from unknown senders (each becomes a lead); each message parsed,
routed, logged through the write path in a transaction of its own. "again" is the next fetch
with nothing new.

| date | database | messages | fetch (s) | messages/s | again (s) | machine |
| --- | --- | --- | --- | --- | --- | --- |
"""
)
CONTACTS = 200
USER = "sales@acme.test"


def messages(count: int) -> list[bytes]:
    out = []
    attachment = b"%PDF-1.4\n" + os.urandom(20_000)
    for index in range(count):
        known = index % 5 != 4
        sender = f"contact{index % CONTACTS}@customer.example" if known else f"new{index}@prospect{index}.example"
        body = MIMEText(f"第 {index} 封邮件：请报价。Message {index}: please send a quote.", "plain", "utf-8")
        if known and index % 4 == 0:
            msg = MIMEMultipart()
            msg.attach(body)
            pdf = MIMEApplication(attachment, "pdf")
            pdf.add_header("Content-Disposition", "attachment", filename=f"quote-{index}.pdf")
            msg.attach(pdf)
        else:
            msg = body  # type: ignore[assignment]
        msg["From"] = sender
        msg["To"] = USER
        msg["Subject"] = f"Quote request {index}"
        msg["Message-ID"] = f"<bench-{index}@customer.example>"
        out.append(msg.as_bytes())
    return out


def run(url: str, server, count: int, folder: Path) -> tuple[float, float]:
    config = folder / "config.yaml"
    config.write_text(MAIL_CONFIG.replace("PORT", str(server.port)).replace("CA_FILE", server.ca_file))
    crm = Trellis.open(config, url)
    try:
        crm.apply()
        with crm.session() as s:
            account = s.create("account", {"name": "Customer Ltd"})
            s.create_many(
                "contact",
                [
                    {"name": f"Contact {i}", "account": account.id, "email": f"contact{i}@customer.example"}
                    for i in range(CONTACTS)
                ],
            )
        started = time.perf_counter()
        [report] = fetch(crm, batch=count)
        elapsed = time.perf_counter() - started
        assert report.error is None and report.taken == count, report
        started = time.perf_counter()
        [again] = fetch(crm, batch=count)
        repeat = time.perf_counter() - started
        assert again.taken == 0, again
        return elapsed, repeat
    finally:
        crm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    os.environ["T_SALES_USER"], os.environ["T_SALES_PASSWORD"] = USER, PASSWORD
    lines = []
    with tempfile.TemporaryDirectory() as tmp, dovecot((USER,)) as server:
        os.environ["TRELLIS_UPLOAD_DIR"] = str(Path(tmp) / "uploads")
        print(f"appending {args.messages} messages…", flush=True)
        with server.login(USER) as connection:
            for raw in messages(args.messages):
                connection.append("INBOX", None, None, raw)
        for target in databases(args.db, args.postgresql):
            with scratch_database(target, Path(tmp)) as url:
                elapsed, repeat = run(url, server, args.messages, Path(tmp))
            name = "postgresql" if target else "sqlite"
            rate = args.messages / elapsed
            print(f"{name}: {args.messages} messages in {elapsed:.2f} s = {rate:.0f}/s; again {repeat:.3f} s")
            lines.append(
                f"| {dt.date.today()} | {name} | {args.messages:,} | {elapsed:.2f} | {rate:.0f} | {repeat:.3f} | {machine()} |"
            )
    append_rows(args.output, SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
