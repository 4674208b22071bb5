"""The duplicate finder (issue 14 §3) over many accounts: goal ≤ 60 s for 100,000.

    python benchmarks/dup_finder.py [--rows 100000] [--rounds 3] [--db sqlite|postgresql|both]
                                    [--postgresql URL] [--output docs/benchmarks.md]

For each database (a SQLite file, or a fresh schema of the PostgreSQL database ``--postgresql``)
it fills ROWS accounts with made-up Chinese and English company names — a brand, a trade, a legal
form, sometimes a city, and a mobile phone for most — and plants about 3 % duplicates of them in
the variants people type: 上海云帆软件科技有限公司 / 云帆软件(上海)有限公司 / 云帆软件股份有限公司,
"Yunfan Software Co., Ltd." / "Yunfan Software Shanghai" / "YUNFAN SOFTWARE LTD", the phone written
``138 0013 8000``, ``+86-13800138000`` or ``13800138000`` (stored as the write path stores it,
E.164). Rows go in with a bulk INSERT and their blocking keys with ``duplicates.reindex``.

Then, interleaved ``--rounds`` times, it times the baseline — reading every account's name and
phone and every blocking key once, the floor of any scan — and ``finder.find`` (``trellis
duplicates find``: blocks, scores, groups stored). It prints and appends to docs/benchmarks.md the
medians, the groups found, how many of the planted duplicate pairs ended in one group (recall),
how many groups hold records that were not planted together (found beyond the plan), the pairs
compared and the blocks skipped.
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
from pathlib import Path

import sqlalchemy as sa
from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.metadata.fieldtypes import coerce_value  # noqa: E402
from engine.runtime.records.duplicates import reindex  # noqa: E402
from engine.runtime.records.finder import finding  # noqa: E402

CONFIG = """
trellis: 1
settings: {phone_region: CN}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
    duplicates:
      - name: same_company
        match:
          - {field: name, method: company_name, threshold: 0.88}
          - {field: phone, method: phone}
        any: true
"""
SECTION = "## Duplicate finder (`benchmarks/dup_finder.py`)"
#: Share of the accounts that are planted variants of another.
DUPLICATES = 0.03
#: Characters of brands (two or three of them): a brand space large enough that few made-up names meet by chance.
CHARS = (
    "云帆星辰海通华信博远天合中科瑞丰金达恒源盛世宏图东方明珠新永安长城泰和嘉禾鼎万美锦程德胜光百川兴业联创智汇诚"
    "振隆基润圆启佳富鑫晨阳春秋雅君豪威龙凤麒麟祥福禄康宁静思睿哲卓越腾飞扬航拓展蓝白青山绿水红日"
    "朝霞月辉煌灿烂精英杰俊优品尚宜家谐昌荣耀宇宙乾坤元亨利贞正大同盈收硕果"
)
TRADES = (
    "软件",
    "电子",
    "机械",
    "食品",
    "物流",
    "医药",
    "建材",
    "服装",
    "化工",
    "传媒",
    "教育",
    "咨询",
    "环保",
    "能源",
)
FORMS = ("有限公司", "股份有限公司", "有限责任公司")
EXTRAS = ("", "", "科技", "信息", "技术")
CITIES = ("上海", "北京", "深圳", "广州", "杭州", "南京", "苏州", "成都")
SYLLABLES = tuple(
    [
        "yun",
        "fan",
        "xing",
        "chen",
        "hai",
        "tong",
        "hua",
        "xin",
        "bo",
        "yuan",
        "tian",
        "he",
        "rui",
        "feng",
        "jin",
        "da",
        "heng",
        "sheng",
        "hong",
        "tu",
        "dong",
        "ming",
        "zhu",
        "long",
        "an",
        "tai",
        "jia",
        "ding",
        "wan",
        "mei",
        "cheng",
        "de",
        "guang",
        "bai",
        "chuan",
        "ye",
        "lian",
        "chuang",
        "zhi",
        "hui",
        "run",
        "fang",
        "qi",
        "fu",
        "yang",
        "chun",
        "qiu",
        "ya",
        "jun",
        "hao",
        "wei",
        "xiang",
        "kang",
        "ning",
        "jing",
        "si",
        "zhe",
        "zhuo",
        "teng",
        "fei",
        "lan",
        "qing",
        "lv",
        "can",
        "jie",
        "you",
        "pin",
        "shang",
        "yi",
    ]
)
WORDS = (
    "North",
    "Summit",
    "Harbor",
    "Vertex",
    "Pacific",
    "Global",
    "Silver",
    "Bright",
    "Eagle",
    "Cedar",
    "Golden",
    "Blue",
    "Red",
    "Star",
    "River",
    "Stone",
    "Iron",
    "Oak",
    "Maple",
    "Crown",
)
EN_TRADES = (
    "Software",
    "Electronics",
    "Machinery",
    "Foods",
    "Logistics",
    "Pharma",
    "Materials",
    "Apparel",
    "Chemicals",
    "Media",
    "Education",
    "Consulting",
    "Energy",
    "Trading",
)
EN_FORMS = ("Co., Ltd.", "Ltd", "Inc.", "LLC", "GmbH", "Limited", "Corp.")
#: Mobile prefixes in use in China (a number must be valid to be stored, as the write path checks).
MOBILE = ("130", "131", "135", "136", "138", "139", "150", "151", "158", "186", "188", "189")
EN_CITIES = ("Shanghai", "Beijing", "Shenzhen", "Hangzhou")


def chinese(rng: random.Random) -> dict[str, str]:
    """A Chinese company's parts."""
    return {
        "brand": "".join(rng.sample(CHARS, rng.choice((2, 3, 3)))),
        "trade": rng.choice(TRADES),
        "city": rng.choice(CITIES),
        "extra": rng.choice(EXTRAS),
        "form": rng.choice(FORMS),
        "script": "zh",
    }


def english(rng: random.Random) -> dict[str, str]:
    """An English company's parts (a pinyin brand, or two English words)."""
    if rng.random() < 0.95:
        brand = "".join(rng.sample(SYLLABLES, rng.choice((2, 3, 3)))).title()
    else:
        brand = rng.choice(WORDS) + rng.choice(WORDS).lower()
    return {
        "brand": brand,
        "trade": rng.choice(EN_TRADES),
        "city": rng.choice(EN_CITIES),
        "form": rng.choice(EN_FORMS),
        "script": "en",
    }


def written(parts: dict[str, str], variant: int) -> str:
    """The company's name as one of the ways people write it (variant 0: the plain way)."""
    if parts["script"] == "zh":
        brand, trade, city, extra, form = parts["brand"], parts["trade"], parts["city"], parts["extra"], parts["form"]
        return [
            f"{city}{brand}{trade}{extra}{form}",
            f"{brand}{trade}({city}){form}",
            f"{brand}{trade}{'股份有限公司' if form != '股份有限公司' else '有限公司'}",
            f"{city}{brand}{trade}{extra}{form}（{city}分公司）",
        ][variant]
    brand, trade, city, form = parts["brand"], parts["trade"], parts["city"], parts["form"]
    return [
        f"{brand} {trade} {form}",
        f"{brand} {trade} {city}",
        f"{brand.upper()} {trade.upper()} LTD",
        f"{brand} {trade} ({city}) {form}",
    ][variant]


def phone_text(number: str, variant: int) -> str:
    """A mobile number as one of the ways people write it."""
    return [
        number,
        f"{number[:3]} {number[3:7]} {number[7:]}",
        f"+86-{number}",
        f"+86 {number[:3]}-{number[3:7]}-{number[7:]}",
    ][variant]


def fill(crm: Trellis, rows: int, seed: int = 14) -> tuple[set[frozenset[int]], float, float]:
    """ROWS accounts, about ``DUPLICATES`` of them variants of another; the planted pairs and the
    seconds the insert and the reindex took."""
    rng = random.Random(seed)
    field = crm.config.objects["account"].fields["phone"]
    settings = crm.config.settings
    table = crm.schema.table("account")
    now = dt.datetime.now(dt.UTC)
    planted: set[frozenset[int]] = set()
    companies: list[tuple[dict[str, str], str | None]] = []
    batch: list[dict[str, object]] = []
    started = time.perf_counter()
    with crm.engine.begin() as connection:
        for record_id in range(1, rows + 1):
            if companies and rng.random() < DUPLICATES:
                original = rng.randrange(len(companies))
                parts, number = companies[original]
                name = written(parts, rng.randrange(1, 4))
                phone = phone_text(number, rng.randrange(4)) if number and rng.random() < 0.7 else None
                planted.add(frozenset((original + 1, record_id)))
                companies.append((parts, number))
            else:
                parts = chinese(rng) if rng.random() < 0.6 else english(rng)
                number = f"{rng.choice(MOBILE)}{rng.randrange(10**8):08d}" if rng.random() < 0.6 else None
                name, phone = written(parts, 0), phone_text(number, 0) if number else None
                companies.append((parts, number))
            stored = coerce_value(field, phone, settings) if phone else None
            batch.append(
                {"id": record_id, "name": name, "phone": stored, "created_at": now, "updated_at": now, "version": 1}
            )
            if len(batch) == 10_000:
                connection.execute(sa.insert(table), batch)
                batch = []
        if batch:
            connection.execute(sa.insert(table), batch)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('obj_account', 'id'), max(id)) FROM obj_account"
            )
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    with crm.session() as session:
        reindex(session, "account")
    if crm.engine.dialect.name == "postgresql":  # statistics and visibility, as autovacuum leaves a bulk load
        with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE obj_account, sys_dup_keys")
    return planted, inserted, time.perf_counter() - started


def baseline(crm: Trellis) -> float:
    """Seconds to read every account's name and phone and every blocking key once."""
    table, keys = crm.schema.table("account"), crm.schema.system["sys_dup_keys"]
    started = time.perf_counter()
    with crm.engine.connect() as connection:
        for _ in connection.execute(sa.select(table.c.id, table.c.name, table.c.phone)).yield_per(5000):
            pass
        for _ in connection.execute(
            sa.select(keys.c.key, keys.c.record_id).where(keys.c.object == "account")
        ).yield_per(5000):
            pass
    return time.perf_counter() - started


def grouped(crm: Trellis) -> list[set[int]]:
    """The stored groups' records."""
    members = crm.schema.system["sys_dup_members"]
    out: dict[int, set[int]] = {}
    with crm.engine.connect() as connection:
        for group_id, record_id in connection.execute(sa.select(members.c.group_id, members.c.record_id)):
            out.setdefault(group_id, set()).add(record_id)
    return list(out.values())


def bench(url: str, rows: int, rounds: int) -> str:
    folder = Path(tempfile.mkdtemp())
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    crm = Trellis.open(folder / "config.yaml", url)
    crm.apply()
    planted, inserted, indexed = fill(crm, rows)
    dialect = crm.engine.dialect.name
    print(f"{dialect}: {rows:,} accounts inserted in {inserted:.1f} s, keys by reindex in {indexed:.1f} s", flush=True)
    finds, floors = [], []
    found = None
    for _ in range(rounds):
        floors.append(baseline(crm))
        found = finding.find(crm, "account")
        finds.append(found.seconds)
        print(f"  find {found.seconds:.1f} s, baseline {floors[-1]:.1f} s", flush=True)
    assert found is not None
    groups = grouped(crm)
    home = {record: i for i, group in enumerate(groups) for record in group}
    caught = sum(1 for pair in planted if len({home.get(r, -1 - r) for r in pair}) == 1)
    related = {r for pair in planted for r in pair}
    beyond = sum(1 for group in groups if not group <= related)
    keys = crm.schema.system["sys_dup_keys"]
    with crm.engine.connect() as connection:
        key_rows = connection.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one()
    crm.close()
    median = statistics.median(finds)
    return (
        f"| {dialect} | {rows:,} | {key_rows:,} | {len(planted):,} | {rounds} | {median:.1f} | "
        f"{statistics.median(floors):.1f} | {found.pairs:,} | {found.skipped_blocks:,} | {found.groups:,} | "
        f"{caught / max(len(planted), 1):.1%} | {beyond:,} | {'yes' if median <= 60 else 'no'} | "
        f"{dt.date.today().isoformat()} | {machine()}, load {os.getloadavg()[0]:.1f} |"
    )


HEADER = (
    f"{SECTION}\n\n"
    "Issue 14 §3's goal: `trellis duplicates find` over 100,000 accounts in at most 60 s on this machine. "
    "Made-up Chinese and English company names (a brand, a trade, a legal form, sometimes a city; a mobile "
    "phone for 60 %), about 3 % of them planted variants of another (`上海云帆软件科技有限公司` / "
    "`云帆软件(上海)有限公司` / `云帆软件股份有限公司`, `Yunfan Software Co., Ltd.` / `Yunfan Software Shanghai` / "
    "`YUNFAN SOFTWARE LTD`, the phone as `138 0013 8000`, `+86-13800138000`…), one `company_name` + `phone` rule "
    "with `any: true`. The find and the baseline (reading every name, phone and blocking key once) alternate; "
    "medians of the rounds. Recall: planted pairs that ended in one group; beyond the plan: groups holding a "
    "record that was not planted (names the generator made alike by chance).\n\n"
    "| database | accounts | blocking keys | planted pairs | rounds | find s (median) | baseline read s | "
    "pairs compared | blocks skipped (> 100 records) | groups | recall | groups beyond the plan | "
    "goal ≤ 60 s met | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("TRELLIS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="the PostgreSQL database to make a scratch schema in",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-write", action="store_true", help="print the rows only")
    args = parser.parse_args()
    lines = []
    for db in databases(args.db, args.postgresql):
        with tempfile.TemporaryDirectory() as folder, scratch_database(db, Path(folder)) as url:
            row = bench(url, args.rows, args.rounds)
            print(row, flush=True)
            lines.append(row)
    if not args.no_write:
        append_rows(Path(args.output), SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
