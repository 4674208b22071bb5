"""Latency of the list pages and the REST list on a large table.

    python benchmarks/list_page.py [--rows 100000] [--requests 20] [--db URL] [--output docs/benchmarks.md]

Fills ROWS opportunities (owned round-robin by eight reps) with one raw
``executemany`` (this measures reads, not writes), then times, through Flask's
test client, the web list page ``/o/opportunity`` (25 per page) and the REST
list ``/api/v1/opportunity?per_page=50``: page 1, page 100, the last page, a
filtered and sorted list (``stage=negotiation&sort=-amount``) and a search
(``q=globex``), each as the manager (reads all) and as a rep (reads own).
Reports the median milliseconds of REQUESTS requests after one warm-up.
Results are written to docs/benchmarks.md (a row per database, kind and user).

With ``--db`` a PostgreSQL URL, the script works in a fresh schema that it
creates and drops (``?options=-csearch_path%3D<schema>``), and runs
``VACUUM ANALYZE`` on the table after filling it, as autovacuum would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime.security.tokens import create_token

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, phone_region: CN}
objects:
  opportunity:
    title: "{name}"
    fields:
      name: {type: text, required: true, max_length: 200}
      company: {type: text, max_length: 200}
      stage: {type: picklist, values: [prospect, qualify, proposal, negotiation, won, lost]}
      amount: {type: currency, min: 0}
      close_date: {type: date}
      probability: {type: integer, min: 0, max: 100}
      source: {type: picklist, values: [web, referral, partner, event]}
      email: {type: email}
      hot: {type: boolean}
      description: {type: textarea}
roles:
  rep:
    objects:
      opportunity: {read: own, edit: own, delete: own, create: true}
  manager:
    objects:
      "*": {read: all, edit: all, delete: all, create: true, export: true}
"""
PASSWORD = "Bench-pass-123"
REPS = [f"rep{n}" for n in range(1, 9)]
STAGES = ["prospect", "qualify", "proposal", "negotiation", "won", "lost"]
SOURCES = ["web", "referral", "partner", "event"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne"]
UI_PER_PAGE = 25  # webui.ui.listing.PER_PAGE
API_PER_PAGE = 50
CHUNK = 10_000


def row_values(i: int) -> dict:
    """The values of the i-th opportunity (owner aside): the same rows for every benchmark that
    fills this table (benchmarks/django_admin_compare.py fills Django's copy with them)."""
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=37 * i)
    company = COMPANIES[i % len(COMPANIES)]
    return dict(
        created_at=at,
        updated_at=at,
        version=1,
        archived_at=None,
        name=f"Deal {i:06d} {company}",
        company=f"{company} Ltd",
        stage=STAGES[(i * 7) % len(STAGES)],
        amount=Decimal(1000 + (i * 7919) % 500_000) / 10,
        close_date=(at + dt.timedelta(days=60)).date(),
        probability=(i * 13) % 101,
        source=SOURCES[i % len(SOURCES)],
        email=f"buyer{i}@example.com",
        hot=i % 5 == 0,
        description=f"Opportunity number {i} for {company}.",
    )


def fill(crm: Trellis, rows: int, owner_ids: list[int]) -> float:
    """Insert ROWS opportunities with one executemany per CHUNK rows; returns seconds."""
    table = crm.schema.table("opportunity")
    start = time.perf_counter()
    with crm.engine.begin() as conn:
        for first in range(0, rows, CHUNK):
            batch = []
            for i in range(first, min(rows, first + CHUNK)):
                owner = owner_ids[i % len(owner_ids)]
                batch.append({**row_values(i), "owner_id": owner, "created_by": owner})
            conn.execute(sa.insert(table), batch)
    return time.perf_counter() - start


def vacuum(engine: sa.Engine) -> None:
    """VACUUM ANALYZE the table until its visibility map is set (other sessions' snapshots can
    hold it back for a moment), as autovacuum does soon after a bulk insert."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for _ in range(10):
            conn.execute(sa.text("VACUUM ANALYZE obj_opportunity"))
            visible, pages = conn.execute(
                sa.text("SELECT relallvisible, relpages FROM pg_class WHERE oid = 'obj_opportunity'::regclass")
            ).one()
            if visible >= pages:
                return
            time.sleep(1)
    print(f"warning: only {visible} of {pages} pages are all-visible")


def median_ms(client, url: str, requests: int, headers: dict[str, str] | None = None) -> float:
    response = client.get(url, headers=headers)  # warm-up (and a check)
    assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:500])
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
    return statistics.median(times)


def log_in(client, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def bench_user(crm: Trellis, app, username: str, visible: int, requests: int) -> dict[str, list[float]]:
    """{kind: [page 1, page 100, last page, filter+sort, search]} in ms for one user."""
    client = app.test_client()
    log_in(client, username)
    secret, _ = create_token(crm, username, "bench")
    bearer = {"Authorization": f"Bearer {secret}"}
    results = {}
    for kind, base, per_page, headers in (
        ("web UI", "/o/opportunity?", UI_PER_PAGE, None),
        ("REST API", f"/api/v1/opportunity?per_page={API_PER_PAGE}&", API_PER_PAGE, bearer),
    ):
        last = max(1, -(-visible // per_page))
        urls = [
            f"{base}page=1",
            f"{base}page=100",
            f"{base}page={last}",
            f"{base}stage=negotiation&sort=-amount",
            f"{base}q=globex",
        ]
        results[kind] = [median_ms(client, url, requests, headers) for url in urls]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    from webui import create_app  # after the secret key is set

    lines = []
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.db, Path(folder)) as url:
        config_path = Path(folder) / "bench.yaml"
        config_path.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(config_path, url)
        crm.apply()
        with crm.directory() as d:
            owner_ids = [d.add(name, roles=["rep"], password=PASSWORD).id for name in REPS]
            d.add("boss", roles=["manager"], password=PASSWORD)
        seconds = fill(crm, args.rows, owner_ids)
        if url.startswith("postgresql"):
            # What autovacuum does soon after a bulk insert: statistics and the visibility map
            # (without which no index-only scan skips the table).
            vacuum(crm.engine)
        print(f"filled {args.rows:,} rows in {seconds:.1f} s")
        app = create_app(
            crm,
            test_config={
                "TESTING": True,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "TRELLIS_UPLOAD_DIR": str(Path(folder) / "uploads"),
            },
        )
        dialect = url.split(":", 1)[0].split("+")[0]
        own_rows = -(-args.rows // len(REPS))
        for user, label, visible in (("boss", "manager (all)", args.rows), ("rep1", "rep (own)", own_rows)):
            for kind, numbers in bench_user(crm, app, user, visible, args.requests).items():
                cells = " | ".join(f"{n:,.0f}" for n in numbers)
                lines.append(
                    f"| {dialect} | {args.rows:,} | {kind} | {label} | {cells} | "
                    f"{dt.date.today().isoformat()} | {platform.python_version()} |"
                )
        crm.close()
    print("| database | rows | list | user | page 1 | page 100 | last page | filter + sort | search | date | python |")
    for line in lines:
        print(line)
    record(Path(args.output), lines)


def record(path: Path, lines: list[str]) -> None:
    header = (
        "## List pages (`benchmarks/list_page.py`)\n\n"
        "Median milliseconds per request (20 requests after a warm-up, Flask's test client, so no network) "
        "of the web list page `/o/opportunity` (25 per page, rendered HTML) and the REST list "
        "`/api/v1/opportunity?per_page=50` (JSON) over opportunities with ten fields, filled by a raw "
        "insert and owned round-robin by eight reps. The manager reads all rows; a rep reads their own "
        "(an eighth, through `owner_id = …`, which is indexed). Columns: page 1, page 100, the last page, "
        "`stage=negotiation&sort=-amount` (page 1) and `q=globex` (page 1, matches a tenth of the rows). "
        "The web page's default order is `-created_at`, the API's is `id`.\n\n"
        "| database | rows | list | user | page 1 | page 100 | last page | filter + sort | search | date | python |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if "## List pages (`benchmarks/list_page.py`)" not in text:
        text = text.rstrip("\n") + "\n\n" + header
    marker = "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    head, _, tail = text.partition("## List pages (`benchmarks/list_page.py`)")
    section, sep, rest = tail.partition(marker)
    # Append after the last row of this section's table.
    table_rows, after = [], rest
    remaining = rest.splitlines(keepends=True)
    while remaining and remaining[0].startswith("|"):
        table_rows.append(remaining.pop(0))
    after = "".join(remaining)
    new = "".join(table_rows) + "".join(line + "\n" for line in lines)
    path.write_text(head + "## List pages (`benchmarks/list_page.py`)" + section + sep + new + after, encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
