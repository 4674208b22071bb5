"""Web form submissions per second (issue 16 §1): accepted leads and refused spam.

    python benchmarks/webforms.py [--count 500] [--db sqlite|postgresql|both] [--pg URL] [--output docs/benchmarks.md]

The SaaS sample (configs/sample_saas.yaml) with its contact form, a sales team of eight reps
for the round-robin assignment, through Flask's test client (the whole web layer: the rate
limiter's counters, the signed token, the write path with duplicates, assignment, the new-lead
automation and its notification, the audit). Each visitor comes from its own address so that
the per-address limit (5 a minute) counts but never refuses; the form's own limit is raised so
the run measures the server, not the limit. Measured, each over COUNT requests:

- ``page``: ``GET /f/contact_us`` (a form page with a fresh signed token);
- ``accepted``: ``POST`` of a new visitor's submission → a new assigned lead;
- ``returning``: ``POST`` of a returning visitor (same e-mail) → their lead updated;
- ``spam``: ``POST`` with the honeypot filled in → a row of ``sys_form_rejections``.

Reported: requests per second for each. The rows are printed and appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from itsdangerous import URLSafeTimedSerializer  # noqa: E402

from engine import Trellis  # noqa: E402
from webui import create_app  # noqa: E402
from webui.ui.webform_guard import SALT  # noqa: E402

OVERLAY = f"""
trellis: 1
extends: {(ROOT / "configs" / "sample_saas.yaml").as_posix()}
forms:
  contact_us:
    spam: {{form_rate_limit: "1000000 per minute"}}
"""
SECRET = "benchmark secret"
SECTION = "## Web forms\n"
HEADER = """## Web forms

`benchmarks/webforms.py`: the SaaS sample's contact form through Flask's test client (rate
limiter, signed token, write path with duplicates, round-robin assignment, the new-lead
automation, audit), COUNT requests each, every visitor from its own address; requests per second.

| date | database | count | page GET/s | accepted/s | returning (update)/s | spam refused/s | machine |
| --- | --- | --- | --- | --- | --- | --- | --- |
"""


def aged(token: str) -> str:
    """The token as if the page had been shown ten seconds ago (past the fill time)."""
    serializer = URLSafeTimedSerializer(SECRET, salt=SALT)
    data = serializer.loads(token)
    data["t"] -= 10
    return serializer.dumps(data)


def run(url: str, count: int, folder: Path) -> tuple[float, float, float, float]:
    path = folder / "config.yaml"
    path.write_text(OVERLAY, encoding="utf-8")
    os.environ["TRELLIS_SECRET_KEY"] = Fernet.generate_key().decode()
    crm = Trellis.open(path, url)
    try:
        crm.apply(applied_by="benchmark")
        with crm.directory() as directory:
            directory.add_team("sales")
            for index in range(8):
                directory.add(f"rep{index}", roles=["sales_rep"], team="sales", email=f"rep{index}@example.com")
        app = create_app(crm, test_config={"TESTING": True, "SECRET_KEY": SECRET})
        client = app.test_client()

        def page(index: int) -> str:
            body = client.get(
                "/f/contact_us?lang=en", environ_base={"REMOTE_ADDR": f"10.0.{index // 250}.{index % 250}"}
            )
            return re.search(r'name="_token" value="([^"]+)"', body.get_data(as_text=True)).group(1)

        started = time.perf_counter()
        tokens = [aged(page(i)) for i in range(count)]
        pages = count / (time.perf_counter() - started)

        def post(index: int, email: str, extra: dict | None = None, expect: int = 200) -> None:
            data = {"name": f"Visitor {index}", "company": f"Company {index}", "email": email, "_token": tokens[index]}
            response = client.post(
                "/f/contact_us",
                data={**data, **(extra or {})},
                environ_base={"REMOTE_ADDR": f"10.1.{index // 250}.{index % 250}"},
            )
            assert response.status_code == expect, response.get_data(as_text=True)[:500]

        rates = []
        for label, email, extra, expect in (
            ("accepted", "visitor{}@example.com", None, 200),
            ("returning", "visitor{}@example.com", {"phone": "+86 138 0013 8000"}, 200),
            ("spam", "bot{}@example.com", {"website_url": "http://spam.example"}, 422),
        ):
            started = time.perf_counter()
            for index in range(count):
                post(index, email.format(index), extra, expect)
            rates.append(count / (time.perf_counter() - started))
            print(f"{label}: {rates[-1]:.1f}/s", flush=True)
        return pages, rates[0], rates[1], rates[2]
    finally:
        crm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    lines = []
    for target in databases(args.db, args.pg):
        with tempfile.TemporaryDirectory() as folder, scratch_database(target, Path(folder)) as url:
            pages, accepted, returning, spam = run(url, args.count, Path(folder))
        name = "postgresql" if target else "sqlite"
        lines.append(
            f"| {dt.date.today().isoformat()} | {name} | {args.count:,} | {pages:.0f} | {accepted:.0f} | "
            f"{returning:.0f} | {spam:.0f} | {machine()} |"
        )
    for line in lines:
        print(line)
    append_rows(Path(args.output), SECTION, HEADER.replace("COUNT", "N"), lines)


if __name__ == "__main__":
    main()
