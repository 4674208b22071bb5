"""The duplicate check of the write path (issue 14) over many accounts.

    python benchmarks/duplicates.py [--rows 100000] [--db URL]

Fills ROWS accounts (company names made of a few common words and a number, so that
their name words are shared by thousands of records) with a raw insert and their
blocking keys (``engine.runtime.records.duplicates.record_keys``), then times the
check of 200 new accounts: 100 near an existing name (warned: a ``PossibleDuplicate``)
and 100 unlike any. Prints the median and the 95th percentile per check. With ``--db``
a PostgreSQL URL, it works in the database given (use an empty one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from engine import Trellis
from engine.runtime.records.duplicates import PossibleDuplicate, record_keys

CONFIG = """
trellis: 1
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
    duplicates:
      - name: same_company
        match: [{field: name, method: company_name}]
"""
WORDS = [
    "云帆",
    "星辰",
    "海通",
    "华信",
    "博远",
    "天合",
    "中科",
    "瑞丰",
    "Acme",
    "Global",
    "Pacific",
    "Northwind",
    "Summit",
    "Harbor",
    "Vertex",
]
KINDS = ["软件有限公司", "科技股份有限公司", "Software Ltd", "Trading Co.", "Systems GmbH"]


def name(rng: random.Random, number: int) -> str:
    return f"{rng.choice(WORDS)}{rng.choice(WORDS)}{number} {rng.choice(KINDS)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    crm = Trellis.open(folder / "config.yaml", args.db or f"sqlite:///{folder / 'bench.db'}")
    crm.apply()
    rng = random.Random(7)
    obj = crm.config.objects["account"]
    table, keys = crm.schema.table("account"), crm.schema.system["sys_dup_keys"]
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with crm.engine.begin() as connection:
        for start in range(0, args.rows, 10_000):
            rows = [
                {"id": i + 1, "name": name(rng, i), "created_at": now, "updated_at": now, "version": 1}
                for i in range(start, min(start + 10_000, args.rows))
            ]
            connection.execute(sa.insert(table), rows)
            connection.execute(sa.insert(keys), [k for r in rows for k in record_keys(obj, r)])
        if connection.dialect.name == "postgresql":  # the ids were given: the sequence goes on after them
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('obj_account', 'id'), max(id)) FROM obj_account"
            )
    if crm.engine.dialect.name == "postgresql":  # statistics, as autovacuum would gather after a bulk load
        with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE obj_account, sys_dup_keys")
    print(f"{args.rows:,} accounts and their keys loaded in {time.perf_counter() - started:.1f} s")
    timings = []
    for i in range(200):
        near = i % 2 == 0
        text = name(random.Random(7), 0) if near else f"Unlike{i} Zebra{i} Quartz{i}"
        with crm.session() as session:
            begin = time.perf_counter()
            try:
                with session.unit.savepoint():
                    session.create("account", {"name": text})
                    raise _Undo
            except (PossibleDuplicate, _Undo):
                pass
            timings.append((time.perf_counter() - begin) * 1000)
    for label, part in (("near an existing name", timings[0::2]), ("unlike any name", timings[1::2])):
        part.sort()
        median, p95 = statistics.median(part), part[int(len(part) * 0.95)]
        print(f"create {label}, checked: median {median:.1f} ms, p95 {p95:.1f} ms ({crm.engine.dialect.name})")
    crm.close()


class _Undo(Exception):
    """Rolls a timed create back, so that every check sees the same table."""


if __name__ == "__main__":
    main()
