"""Latency of the global search (``engine.runtime.records.search``) against the searches it replaces.

    python benchmarks/global_search.py [--rows 100000] [--rounds 3] [--db URL] [--output docs/benchmarks.md]

Three objects (account, contact, lead) of ROWS records each, with names in Chinese and
English, phone numbers and e-mail addresses, filled by one raw ``executemany`` per 10,000
rows and owned round-robin by eight reps. For each search text — a rare name (one match),
a common word (a tenth of the rows), a Chinese substring, a phone number typed with spaces
and a partial e-mail address — and each user (the manager reads all, a rep their own):

- ``global``: ``search_everything(session, text)`` — one ranked SELECT with its count per
  object, five records each;
- ``baseline``: what the same answer costs without it, one list search per object —
  ``session.query(obj).search(text).page(1, 5)`` (its page and, when more match, its count);
- ``suggest``: the top bar's JSON, ``GET /search/suggest?q=`` through Flask's test client.

Rounds are interleaved (global, baseline, suggest for every text, then the next round);
reported are the medians of ROUNDS rounds in milliseconds, and global / baseline. The rows
are printed and appended to docs/benchmarks.md. With ``--db`` a PostgreSQL URL, the script
works in a fresh schema that it creates and drops, and analyses the tables after filling them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from results import append_rows  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.runtime.records.search import search_everything  # noqa: E402

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, phone_region: CN}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true, max_length: 200, indexed: true}
      phone: {type: phone}
      email: {type: email}
      website: {type: url}
      address: {type: textarea}
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      company: {type: text}
      mobile: {type: phone}
      email: {type: email}
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      company: {type: text}
      phone: {type: phone}
      email: {type: email}
      notes: {type: textarea}
roles:
  rep:
    objects:
      "*": {read: own, edit: own, create: true}
  manager:
    objects:
      "*": {read: all, edit: all, create: true}
"""
PASSWORD = "Bench-pass-123"
REPS = [f"rep{n}" for n in range(1, 9)]
CHUNK = 10_000
FAMILY = "王李张刘陈杨黄赵吴周"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "华为", "腾讯", "阿里巴巴", "小米", "京东"]
#: (label, text): what people type.
TEXTS = [
    ("rare name", "Contact 054321"),
    ("common word", "globex"),
    ("Chinese substring", "小米科技"),
    ("phone with spaces", "138 0005 4321"),
    ("partial e-mail", "buyer54321@"),
]
SECTION = "## Global search (`benchmarks/global_search.py`)"
HEADER = (
    f"{SECTION}\n\n"
    "Median milliseconds (of ROUNDS interleaved rounds) of one global search over three objects of ROWS "
    "records each (text, phone, e-mail, URL and long-text fields; owned round-robin by eight reps): "
    "`global` is `search_everything` (one ranked SELECT with `count(*) OVER ()` per object, five records "
    "each), `baseline` the three list searches it replaces (`Query.search(text).page(1, 5)` per object), "
    "`suggest` the top bar's JSON (`/search/suggest`, three per object, Flask's test client). The manager "
    "reads all rows, a rep an eighth (`owner_id`, indexed).\n\n"
    "| database | rows per object | user | text | global | baseline | global / baseline | suggest | date | python |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def fill(crm: Trellis, rows: int, owner_ids: list[int]) -> float:
    """ROWS records per object, one executemany per CHUNK rows; returns seconds."""
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    start = time.perf_counter()
    with crm.engine.begin() as conn:
        for name in ("account", "contact", "lead"):
            table = crm.schema.table(name)
            for first in range(0, rows, CHUNK):
                batch = []
                for i in range(first, min(rows, first + CHUNK)):
                    at = base + dt.timedelta(seconds=37 * i)
                    company = COMPANIES[i % len(COMPANIES)]
                    person = FAMILY[i % 10] + GIVEN[(i // 10) % 10]
                    phone = f"+86138{i:08d}"
                    common = {
                        "created_at": at,
                        "updated_at": at,
                        "version": 1,
                        "owner_id": owner_ids[i % len(owner_ids)],
                        "created_by": owner_ids[i % len(owner_ids)],
                        "archived_at": None,
                        "email": f"buyer{i}@{company.lower()}.example.com",
                    }
                    if name == "account":
                        values = {
                            "name": f"{company}科技 {i:06d}" if i % 2 else f"{company} Ltd {i:06d}",
                            "phone": phone,
                            "website": f"https://www.example{i}.com",
                            "address": f"{person}路 {i} 号",
                        }
                    elif name == "contact":
                        values = {"name": f"Contact {i:06d} {person}", "company": company, "mobile": phone}
                    else:
                        values = {"name": f"{person} {i}", "company": company, "phone": phone, "notes": "Met at expo."}
                    batch.append({**common, **values})
                conn.execute(sa.insert(table), batch)
    return time.perf_counter() - start


def analyse(engine: sa.Engine) -> None:
    """What autovacuum does soon after a bulk insert: statistics for the planner."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in ("account", "contact", "lead"):
            conn.execute(sa.text(f"VACUUM ANALYZE obj_{name}"))


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def baseline(crm: Trellis, user: str, text: str) -> None:
    """The three list searches a global search replaces (page of five, counted when more match)."""
    with crm.session(user) as s:
        for name in ("account", "contact", "lead"):
            s.query(name).search(text).page(1, 5)


def everything(crm: Trellis, user: str, text: str) -> None:
    with crm.session(user) as s:
        search_everything(s, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
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
        print(f"filled 3 × {args.rows:,} rows in {fill(crm, args.rows, owner_ids):.1f} s")
        if url.startswith("postgresql"):
            analyse(crm.engine)
        app = create_app(crm, test_config={"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
        dialect = url.split(":", 1)[0].split("+")[0]
        for user, label in (("boss", "manager (all)"), ("rep1", "rep (own)")):
            client = app.test_client()
            response = client.post("/login", data={"username": user, "password": PASSWORD})
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
            times: dict[str, dict[str, list[float]]] = {t: {"g": [], "b": [], "s": []} for _, t in TEXTS}
            for _, text in TEXTS:  # warm-up (and a check)
                everything(crm, user, text)
                assert client.get("/search/suggest", query_string={"q": text}).status_code == 200
            for _ in range(args.rounds):
                for _, text in TEXTS:
                    times[text]["g"].append(timed(partial(everything, crm, user, text)))
                    times[text]["b"].append(timed(partial(baseline, crm, user, text)))
                    times[text]["s"].append(timed(partial(client.get, "/search/suggest", query_string={"q": text})))
            for name, text in TEXTS:
                g, b, s = (statistics.median(times[text][k]) for k in "gbs")
                lines.append(
                    f"| {dialect} | {args.rows:,} | {label} | {name} (`{text}`) | {g:,.0f} | {b:,.0f} | "
                    f"{g / b:.2f} | {s:,.0f} | {dt.date.today().isoformat()} | {platform.python_version()} |"
                )
        crm.close()
    for line in lines:
        print(line)
    append_rows(Path(args.output), SECTION, HEADER.replace("ROUNDS", str(args.rounds)).replace("ROWS", "N"), lines)


if __name__ == "__main__":
    main()
