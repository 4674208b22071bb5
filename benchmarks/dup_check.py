"""The cost of the duplicate check (issue 14 §2) per created record, at 1,000,000 accounts.

    python benchmarks/dup_check.py [--db sqlite|postgresql] [--rows N] [--creates 40] [--rounds 3]
                                   [--reindex] [--postgresql URL] [--output docs/benchmarks.md]

Builds N accounts (1,000,000 on PostgreSQL, 100,000 on SQLite by default) as a company's CRM
holds them: Chinese names (云帆软件（上海）有限公司, 北京星辰网络科技有限公司 …) and English ones
(Zentrix Pacific Logistics Co., Ltd.), mobile and landline numbers, e-mail addresses and, for half
of them, a unified social credit code. Two duplicate rules as the samples' (configs/sample_saas.yaml):
``same_company`` (name by ``company_name`` at 0.9, or the credit code ``exact``) and
``same_contact`` (phone or e-mail). The accounts go in with bulk SQL (``COPY`` on PostgreSQL) and
their blocking keys with ``trellis duplicates reindex`` (``duplicates.reindex``), whose time is
reported too. The database is kept and reused by later runs: ``$TMPDIR/trellis-bench-dup/`` for
SQLite, the database ``trellis_bench_dup`` (schema ``dup_<N>``) of the PostgreSQL server;
``--reindex`` times the reindex of a kept database again.

Then, ROUNDS rounds, interleaved, each timing CREATES single-record ``Session.create`` calls of
each kind, every create in its own transaction, rolled back (so that every check meets the same
table):

- ``checked``: a new account unlike any stored one (``new_company``), on ``account`` (both rules
  run: the keys are looked up, the records sharing the rare ones read and scored, none close
  enough; the record and its keys written);
- ``near``: an account near a stored one (the same company with its legal form, region and
  width written differently, a new phone and e-mail): the rule reads and scores the candidates
  and answers ``PossibleDuplicate`` (nothing is written); the script counts how many of them name
  the account they were made from;
- ``baseline``: the same new account on ``plain_account``, the same fields without rules.

Reported: the median per create of each kind (the median of the rounds' medians), the check's
cost (``checked`` − ``baseline``) in wall time and in the process's CPU time, the 95th percentile of all ``near`` creates and the build
times; appended to the duplicate-check section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from results import append_rows, machine  # benchmarks/results.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.runtime.database import bulk_insert  # noqa: E402
from engine.runtime.records.duplicates import PossibleDuplicate, reindex  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "trellis-bench-dup"
#: Bump when the generated accounts change, so that a kept database is built again.
VERSION = 1
SECTION = "## Duplicate check at 1,000,000 records (`benchmarks/dup_check.py`)"
FIELDS = """
      name: {type: text, required: true}
      credit_code: {type: text}
      phone: {type: phone}
      email: {type: email}
"""
CONFIG = f"""
trellis: 1
settings: {{phone_region: CN}}
objects:
  account:
    title: "{{name}}"
    fields:{FIELDS}
    duplicates:
      - name: same_company
        match:
          - {{field: name, method: company_name, threshold: 0.9}}
          - {{field: credit_code, method: exact}}
        any: true
        action: warn
      - name: same_contact
        match:
          - {{field: phone, method: phone}}
          - {{field: email, method: email}}
        any: true
        action: warn
  plain_account:
    title: "{{name}}"
    fields:{FIELDS}
"""

# --- the accounts ---------------------------------------------------------------------------------------
HAN = (
    "云帆星辰海通华信博远天合瑞丰恒达鼎盛宏图金石新源泰和安信永康嘉禾汇通中联启明光正德润万维"
    "卓越精诚长城东方南风北斗西岭青山绿洲蓝海紫金银河朝阳晨曦明月清泉翠柏松涛梧桐白鹭凌云飞鸿"
    "锦程骏马龙腾凤鸣麒麟盛世和谐同创共赢睿智思源致远弘毅笃行厚德载物聚力众诚天成地利人和"
)
REGIONS = ("上海", "北京", "深圳", "广州", "杭州", "南京", "苏州", "成都", "武汉", "西安")
TRADES_ZH = (
    "软件",
    "网络科技",
    "信息技术",
    "电子",
    "贸易",
    "医药",
    "食品",
    "物流",
    "教育科技",
    "新材料",
    "环保科技",
    "汽车零部件",
    "建筑工程",
    "文化传媒",
    "餐饮管理",
    "生物科技",
    "智能制造",
    "咨询",
)
FORMS_ZH = ("有限公司", "股份有限公司", "有限责任公司", "集团有限公司")
SYLLABLES = (
    ("Zen", "Cor", "Al", "Ver", "Lum", "Nor", "Quin", "Sol", "Tri", "Ax", "Bel", "Cal", "Dex", "Ev", "Fal"),
    ("tri", "va", "ro", "na", "le", "mi", "do", "ta", "ri", "so", "xe", "ku", "po", "la", "ne"),
    ("x", "na", "on", "ia", "is", "um", "ex", "ar", "io", "en", "ic", "or", "ad", "it", "us"),
)
PLACES = ("Pacific", "Global", "Northern", "Eastern", "Asia", "United", "Harbor", "Summit", "")
TRADES_EN = ("Software", "Trading", "Logistics", "Foods", "Pharma", "Consulting", "Electronics", "Systems", "Media")
FORMS_EN = ("Co., Ltd.", "Inc.", "LLC", "GmbH", "Limited", "Corp.")
PINYIN = ("yun", "fan", "xing", "chen", "hai", "tong", "hua", "xin", "bo", "yuan", "tian", "he", "rui", "feng")


def _brand_zh(rng: random.Random) -> str:
    return "".join(rng.choice(HAN) for _ in range(rng.choice((2, 2, 2, 3))))


def _brand_en(rng: random.Random) -> str:
    return "".join(rng.choice(part) for part in SYLLABLES)


def company(rng: random.Random) -> tuple[str, str]:
    """A company name (60 % Chinese, with or without a region ahead or in brackets) and its brand."""
    if rng.random() < 0.6:
        brand, trade, form = _brand_zh(rng), rng.choice(TRADES_ZH), rng.choice(FORMS_ZH)
        region, where = rng.choice(REGIONS), rng.random()
        if where < 0.4:
            return f"{region}{brand}{trade}{form}", brand
        if where < 0.7:
            return f"{brand}{trade}（{region}）{form}", brand
        return f"{brand}{trade}{form}", brand
    brand = _brand_en(rng)
    place = rng.choice(PLACES)
    return " ".join(w for w in (brand, place, rng.choice(TRADES_EN), rng.choice(FORMS_EN)) if w), brand


def new_company(rng: random.Random) -> str:
    """A company name as ``company`` makes them, unlike any stored: a three-character Chinese brand
    (its character pairs are each shared by a few dozen stored names), or an English brand word
    (shared by about a hundred) with a number: no trade word, which token similarity would let match."""
    if rng.random() < 0.6:
        brand = "".join(rng.choice(HAN) for _ in range(3))
        return f"{rng.choice(REGIONS)}{brand}{rng.choice(TRADES_ZH)}{rng.choice(FORMS_ZH)}"
    return f"{_brand_en(rng)} {rng.randint(100, 999)} {rng.choice(FORMS_EN)}"


def near(name: str, rng: random.Random) -> str:
    """The same company written differently: legal form, region placement and width changed."""
    if any("\u4e00" <= c <= "\u9fff" for c in name):
        for form in sorted(FORMS_ZH, key=len, reverse=True):
            if name.endswith(form):
                name = name[: -len(form)] + rng.choice([f for f in FORMS_ZH if f != form])
                break
        return name.replace("（", "(").replace("）", ")") if "（" in name else name
    words = name.split()
    for form in FORMS_EN:
        if name.endswith(form):
            words = name[: -len(form)].split() + [rng.choice([f for f in FORMS_EN if f != form])]
            break
    return " ".join(words).upper() if rng.random() < 0.5 else " ".join(words)


def account(number: int, rng: random.Random) -> dict[str, Any]:
    """Account ``number`` as stored: a unique phone (mobile or landline, E.164) and e-mail."""
    name, _ = company(rng)
    mobile = rng.random() < 0.7
    phone = (
        f"+861{rng.choice('35789')}{number:09d}"
        if mobile
        else f"+8621{5 + (number // 10_000_000) % 2}{number % 10_000_000:07d}"
    )
    domain = "".join(rng.choice(PINYIN) for _ in range(2)) + f"{number}"
    email = f"{rng.choice(('info', 'sales', 'contact', 'hr'))}@{domain}.com.cn"
    credit = f"91{rng.randint(110000, 659999)}{number:010d}" if rng.random() < 0.5 else None
    return {"name": name, "credit_code": credit, "phone": phone, "email": email}


def accounts(rows: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for number in range(1, rows + 1):
        yield account(number, rng)


# --- the database ---------------------------------------------------------------------------------------
def database_url(kind: str, rows: int, server: str) -> str:
    """Where the N-account database is kept (created when missing)."""
    if kind == "sqlite":
        CACHE.mkdir(exist_ok=True)
        return f"sqlite:///{CACHE / f'dup_{rows}.db'}"
    base = sa.make_url(server)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = 'trellis_bench_dup'")).first():
            connection.execute(sa.text("CREATE DATABASE trellis_bench_dup"))
    admin.dispose()
    bench = sa.create_engine(base.set(database="trellis_bench_dup"), isolation_level="AUTOCOMMIT")
    with bench.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "dup_{rows}"'))
    bench.dispose()
    url = base.set(database="trellis_bench_dup").render_as_string(hide_password=False)
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3Ddup_{rows}"


def build(crm: Trellis, rows: int) -> dict[str, float]:
    """Fill ``account`` with ``rows`` accounts and their keys, unless a run built them already."""
    table = crm.schema.table("account")
    marker = f"v{VERSION}:{rows}"
    with crm.engine.connect() as connection:
        last = connection.execute(sa.select(table.c.name).where(table.c.id == rows + 1)).scalar()
        count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
    if last == marker and count == rows + 1:
        return {}
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    system = {"created_at": now, "updated_at": now, "version": 1, "owner_id": None, "created_by": None}
    with crm.engine.begin() as connection:
        connection.execute(sa.delete(crm.schema.system["sys_dup_keys"]))
        connection.execute(sa.delete(table))
        page: list[dict[str, Any]] = []
        for number, values in enumerate(accounts(rows), start=1):
            page.append({"id": number, **values, **system})
            if len(page) == 20_000:
                bulk_insert(connection, table, page)
                page = []
        page.append({"id": rows + 1, "name": marker, **system})  # the marker: these rows are complete
        bulk_insert(connection, table, page)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('obj_account', 'id'), max(id)) FROM obj_account"
            )
    loaded = time.perf_counter()
    with crm.session() as session:
        reindex(session, "account")
    indexed = time.perf_counter()
    vacuum(crm)
    return {"load": loaded - started, "reindex": indexed - loaded, "analyze": time.perf_counter() - indexed}


def vacuum(crm: Trellis) -> None:
    """On PostgreSQL, what autovacuum would do after a bulk load: statistics, dead keys removed."""
    if crm.engine.dialect.name == "postgresql":
        with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE obj_account")
            connection.exec_driver_sql("VACUUM ANALYZE sys_dup_keys")


# --- the timed creates ----------------------------------------------------------------------------------
class _Undo(Exception):
    """Rolls a timed create back."""


def timed_create(crm: Trellis, object_name: str, values: dict[str, Any]) -> tuple[float, float, Any]:
    """Milliseconds (wall and this process's CPU) of one ``Session.create`` in its own transaction
    (rolled back), and its outcome."""
    outcome: Any = None
    try:
        with crm.session() as session:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                outcome = session.create(object_name, values)
            except PossibleDuplicate as exc:
                outcome = exc
            elapsed, used = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
            raise _Undo
    except _Undo:
        pass
    return elapsed, used, outcome


def measure(crm: Trellis, rows: int, creates: int, rounds: int) -> dict[str, Any]:
    rng = random.Random(11)
    stored = list(accounts(min(rows, 50_000)))  # the first accounts, to make near duplicates of
    times: dict[str, list[float]] = {"checked": [], "baseline": [], "near": []}
    cpu: dict[str, list[float]] = {kind: [] for kind in times}
    medians: dict[str, list[float]] = {kind: [] for kind in times}
    found = tried = 0
    for round_ in range(rounds):
        for i in range(creates):
            fresh = account(10_000_000 + round_ * creates + i, rng)
            fresh["name"] = new_company(rng)
            target = rng.randrange(len(stored))
            twin = {**account(30_000_000 + round_ * creates + i, rng), "credit_code": None}
            twin["name"] = near(stored[target]["name"], rng)
            for kind, object_name, values in (
                ("checked", "account", fresh),
                ("baseline", "plain_account", fresh),
                ("near", "account", twin),
            ):
                elapsed, used, outcome = timed_create(crm, object_name, values)
                if round_ or i >= 3 or rounds == 1:  # the first creates warm the caches
                    times[kind].append(elapsed)
                    cpu[kind].append(used)
                if kind == "near":
                    tried += 1
                    ids = [c.record_id for c in getattr(outcome, "candidates", ())]
                    found += (target + 1) in ids
        for kind, values in times.items():
            medians[kind].append(statistics.median(values[-creates:]))
    near_all = sorted(times["near"])
    return {
        **{kind: statistics.median(values) for kind, values in medians.items()},
        "near_p95": near_all[int(len(near_all) * 0.95)],
        "cpu": statistics.median(cpu["checked"]) - statistics.median(cpu["baseline"]),
        "found": f"{found}/{tried}",
    }


HEADER = f"""{SECTION}

Issue 14's goal: **≤ 20 ms per check at 1,000,000 accounts** on PostgreSQL. Accounts with
realistic Chinese and English company names, phones, e-mails and credit codes under two rules as
the samples' (`same_company`: name by `company_name` or credit code; `same_contact`: phone or
e-mail), loaded with bulk SQL and indexed with `trellis duplicates reindex` (its time: `reindex s`). Each
figure is the median of 3 rounds' medians of single-record `Session.create` calls, each in its own
transaction, rolled back; the three kinds interleaved: `checked` (an account unlike any stored one,
both rules run, record and keys written), `baseline` (the same account on an object with the same
fields and no rules) and `near` (an account near a stored one: the candidates are read and scored,
the answer is `PossibleDuplicate`, nothing is written). The check's cost is `checked` − `baseline`;
`found` counts the near creates whose candidates named the account they were made from. The check's
CPU is that of the benchmark's own process (`checked` − `baseline`, medians), without the database server's.

| database | accounts | keys | reindex s | checked ms | baseline ms | check's cost ms (goal ≤ 20) | check's CPU ms | near ms (p95) | found | date | machine |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--creates", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reindex", action="store_true", help="time reindex again on a kept database")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.db == "postgresql" else 100_000)
    config = CACHE / "config.yaml"
    CACHE.mkdir(exist_ok=True)
    config.write_text(CONFIG, encoding="utf-8")
    crm = Trellis.open(config, database_url(args.db, rows, args.postgresql))
    try:
        crm.apply()
        built = build(crm, rows)
        if args.reindex and not built:
            started = time.perf_counter()
            with crm.session() as session:
                reindex(session, "account")
            built = {"reindex": time.perf_counter() - started}
            vacuum(crm)
        if built:
            print(", ".join(f"{step} {seconds:.1f} s" for step, seconds in built.items()), flush=True)
        with crm.engine.connect() as connection:
            keys = connection.execute(sa.select(sa.func.count()).select_from(crm.schema.system["sys_dup_keys"]))
            key_count = keys.scalar_one()
        result = measure(crm, rows, args.creates, args.rounds)
    finally:
        crm.close()
    cost = result["checked"] - result["baseline"]
    reindexed = f"{built['reindex']:.0f}" if built else "(kept)"
    line = (
        f"| {args.db} | {rows:,} | {key_count:,} | {reindexed} | {result['checked']:.1f} | {result['baseline']:.1f} "
        f"| {cost:.1f} | {result['cpu']:.1f} | {result['near']:.1f} ({result['near_p95']:.1f}) | {result['found']} "
        f"| {dt.date.today().isoformat()} | {machine()}, load {os.getloadavg()[0]:.1f} |"
    )
    print(line)
    append_rows(args.output, SECTION, HEADER, [line])


if __name__ == "__main__":
    main()
