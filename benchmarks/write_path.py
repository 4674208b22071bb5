"""Throughput of the one write path against raw SQLAlchemy Core inserts of the same rows.

    python benchmarks/write_path.py [--rows 100000] [--db URL] [--processes 4] [--output docs/benchmarks.md]

Leads of configs/sample_saas.yaml, as the sample config has them: required fields, picklists,
a phone number or an e-mail address to normalise, the score rules, the assignment rule
(whose ``when`` leaves a lead its creator owns alone) and the ``new_lead_notice`` automation,
which tells the owner in the app and by e-mail (a run row, a notification and an outbox
message per lead). A sales rep creates them. Measured, each as the median of three rounds
with the baseline run in between, so that both see a table of the same size:

a. ``Session.create_chunks`` of ROWS leads in one transaction, against a raw
   ``connection.execute(insert(table), rows)`` of the same rows as stored, 1,000 per
   ``executemany``;
b. one ``Session.create`` per lead, 1,000 per transaction, against a raw one-row
   ``INSERT`` per lead, 1,000 per transaction;
c. PostgreSQL only: PROCESSES processes doing (b) at once against one process alone
   (ROWS / 20 leads per process), as total leads per second;
d. CPU time of this process per lead in (a) and (b) (on PostgreSQL the server's is not in it);
e. CPU time of this process per ``create`` of a plain object of 10 fields (text, numbers,
   money, a date, a yes/no, a picklist) without any rule, 1,000 per transaction, in a
   database of its own (the issue's target: at most 1 ms).

With ``--db`` a PostgreSQL URL it works in a fresh schema that it drops afterwards. Results
are printed and appended to the write-path section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from results import machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.metadata.fieldtypes import coerce_value  # noqa: E402

CONFIG = ROOT / "configs" / "sample_saas.yaml"
BATCH = 1000
ROUNDS = 3
SECTION = "## Write path vs raw insert (`benchmarks/write_path.py`)"
SOURCES = ("website_signup", "online_ads", "webinar", "free_trial", "referral", "trade_show")
INTENTS = ("high", "medium", "low")
REGIONS = ("east_china", "north_china", "south_china")
#: (e): a plain object of 10 fields, no automation, created by a user who owns what they create.
PLAIN = """
trellis: 1
objects:
  item:
    fields:
      name: {type: text, required: true}
      code: {type: text}
      city: {type: text}
      quantity: {type: integer, min: 0}
      amount: {type: currency}
      rate: {type: decimal}
      closes_on: {type: date}
      active: {type: boolean}
      kind: {type: picklist, values: [small, medium, large]}
      notes: {type: textarea}
roles:
  rep:
    objects: {"*": {read: own, edit: own, create: true}}
"""


def lead(n: int) -> dict:
    """The ``n``-th lead as a form or an import would give it."""
    values = {
        "name": f"张伟{n}",
        "company": f"云帆软件 {n} 号",
        "source": SOURCES[n % len(SOURCES)],
        "intent_level": INTENTS[n % 3],
        "region": REGIONS[n % 3],
        "employees": 10 + n % 500,
    }
    if n % 2:
        values["phone"] = f"138 {n % 10000:04d} {(n * 7) % 10000:04d}"
    else:
        values["email"] = f"lead{n}@example.com"
    return values


def stored(crm: Trellis, n: int, owner: int, now: dt.datetime) -> dict:
    """The ``n``-th lead as the write path stores it (what the raw insert writes)."""
    obj = crm.config.objects["lead"]
    row = dict.fromkeys(obj.fields)
    row.update({name: coerce_value(obj.fields[name], value, crm.config.settings) for name, value in lead(n).items()})
    score = {"website_signup": 60, "online_ads": 40, "webinar": 50, "free_trial": 70}.get(row["source"], 0)
    row.update(
        status="new",
        campaign_clicks=0,
        score=score,
        created_at=now,
        updated_at=now,
        created_by=owner,
        owner_id=owner,
        version=1,
        archived_at=None,
        last_activity_at=None,
    )
    return row


def item(n: int) -> dict:
    """The ``n``-th plain record of (e)."""
    return {
        "name": f"Item {n}",
        "code": f"C-{n}",
        "city": "上海",
        "quantity": n % 100,
        "amount": f"{n % 1000}.50",
        "rate": "1.25",
        "closes_on": "2026-12-31",
        "active": n % 2 == 0,
        "kind": ("small", "medium", "large")[n % 3],
        "notes": "first contact at the fair",
    }


def chunks(items: Iterator[dict], size: int = BATCH) -> Iterator[list[dict]]:
    while chunk := list(islice(items, size)):
        yield chunk


# --- the measurements ---------------------------------------------------------------------------------
def many(crm: Trellis, first: int, rows: int) -> tuple[float, float]:
    """(a) rows/s and CPU ms per lead of ``create_chunks`` in one transaction."""
    cpu, start = time.process_time(), time.perf_counter()
    with crm.session("rep") as s:
        for results in s.create_chunks("lead", (lead(n) for n in range(first, first + rows))):
            assert all(r.id for r in results)
    return rows / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / rows


def raw_many(crm: Trellis, first: int, rows: int, owner: int) -> float:
    """(a)'s baseline: the same rows as stored, 1,000 per executemany, in one transaction."""
    table, now = crm.schema.table("lead"), dt.datetime.now(dt.UTC)
    values = [stored(crm, n, owner, now) for n in range(first, first + rows)]
    start = time.perf_counter()
    with crm.engine.begin() as connection:
        for chunk in chunks(iter(values)):
            connection.execute(sa.insert(table), chunk)
    return rows / (time.perf_counter() - start)


def one_by_one(crm: Trellis, first: int, rows: int) -> tuple[float, float]:
    """(b) rows/s and CPU ms per lead of ``create``, 1,000 per transaction."""
    cpu, start = time.process_time(), time.perf_counter()
    for chunk_start in range(first, first + rows, BATCH):
        with crm.session("rep") as s:
            for n in range(chunk_start, min(chunk_start + BATCH, first + rows)):
                s.create("lead", lead(n))
    return rows / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / rows


def plain(url: str, folder: Path, rows: int) -> float:
    """(e) CPU ms per ``create`` of a plain 10-field object, 1,000 per transaction (median of three)."""
    config = folder / "plain.yaml"
    config.write_text(PLAIN, encoding="utf-8")
    crm = Trellis.open(config, url)
    crm.apply()
    with crm.directory() as d:
        d.add("rep", roles=["rep"])

    def measure(first: int) -> float:
        cpu = time.process_time()
        for chunk_start in range(first, first + rows, BATCH):
            with crm.session("rep") as s:
                for n in range(chunk_start, min(chunk_start + BATCH, first + rows)):
                    s.create("item", item(n))
        return (time.process_time() - cpu) * 1000 / rows

    measure(10_000_000)  # warm up
    try:
        return statistics.median(measure(i * rows) for i in range(ROUNDS))
    finally:
        crm.close()


def raw_one_by_one(crm: Trellis, first: int, rows: int, owner: int) -> float:
    """(b)'s baseline: one pre-built INSERT per row, 1,000 per transaction."""
    table, now = crm.schema.table("lead"), dt.datetime.now(dt.UTC)
    values = [stored(crm, n, owner, now) for n in range(first, first + rows)]
    statement = sa.insert(table)
    start = time.perf_counter()
    for chunk in chunks(iter(values)):
        with crm.engine.begin() as connection:
            for row in chunk:
                connection.execute(statement, row)
    return rows / (time.perf_counter() - start)


def _worker(url: str, first: int, rows: int, ready, go, done) -> None:  # noqa: ANN001
    crm = Trellis.open(CONFIG, url)
    with crm.session("rep") as s:  # connect and warm up before the clock starts
        s.create("lead", lead(first - 1))
    ready.put(1)
    go.wait()
    one_by_one(crm, first, rows)
    done.put(time.perf_counter())
    crm.close()


def concurrent(url: str, processes: int, first: int, rows: int) -> float:
    """(c) leads per second of ``processes`` processes each creating ``rows`` leads one by one."""
    context = multiprocessing.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_worker, args=(url, first + i * (rows + 1) + 1, rows, ready, go, done))
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get()
    start = time.perf_counter()
    go.set()
    end = max(done.get() for _ in workers)
    for w in workers:
        w.join()
    return processes * rows / (end - start)


def median_of(rounds: int, measure: Callable[[int], float]) -> float:
    return statistics.median(measure(i) for i in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())  # accounts have an encrypted field
    rows = args.rows
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.db, Path(folder)) as url:
        crm = Trellis.open(CONFIG, url)
        crm.apply()
        with crm.directory() as d:
            owner = d.add("rep", roles=["sales_rep"], email="rep@example.com").id
        one_by_one(crm, 10_000_000, 100)  # warm up: caches, compiled statements
        next_lead = iter(range(0, 10**9, rows))
        results: dict[str, list[float]] = {}
        for _ in range(ROUNDS):  # interleaved: each baseline right after the write path
            for name, measure in (
                ("many", lambda: many(crm, next(next_lead), rows)),
                ("raw_many", lambda: raw_many(crm, next(next_lead), rows, owner)),
                ("one", lambda: one_by_one(crm, next(next_lead), rows)),
                ("raw_one", lambda: raw_one_by_one(crm, next(next_lead), rows, owner)),
            ):
                outcome = measure()
                speed, cpu = outcome if isinstance(outcome, tuple) else (outcome, None)
                results.setdefault(name, []).append(speed)
                if cpu is not None:
                    results.setdefault(f"{name}_cpu", []).append(cpu)
                print(f"  {name}: {speed:,.0f} rows/s" + (f", {cpu:.2f} ms CPU per lead" if cpu else ""), flush=True)
        scale = None
        if crm.engine.dialect.name == "postgresql":
            per_process = max(rows // 20, 100)
            alone = median_of(ROUNDS, lambda _: concurrent(url, 1, next(next_lead), per_process))
            together = median_of(ROUNDS, lambda _: concurrent(url, args.processes, next(next_lead), per_process))
            scale = together / alone
            print(f"  1 process: {alone:,.0f} leads/s; {args.processes}: {together:,.0f} leads/s", flush=True)
        dialect = crm.engine.dialect.name
        crm.close()
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.db, Path(folder)) as url:
        plain_cpu = plain(url, Path(folder), max(rows // 4, BATCH))
        print(f"  plain 10-field object: {plain_cpu:.2f} ms CPU per create", flush=True)
    m = {name: statistics.median(values) for name, values in results.items()}
    concurrency = f"{scale:.2f}×" if scale is not None else "—"
    line = (
        f"| {dialect} | {rows:,} | {m['many']:,.0f} | {m['raw_many']:,.0f} | {m['many'] / m['raw_many']:.0%} | "
        f"{m['one']:,.0f} | {m['raw_one']:,.0f} | {m['one'] / m['raw_one']:.0%} | {concurrency} | "
        f"{m['one_cpu']:.2f} / {m['many_cpu']:.2f} | {plain_cpu:.2f} | {dt.date.today().isoformat()} | "
        f"{machine()}, load {os.getloadavg()[0]:.1f} |"
    )
    print(line)
    record(Path(args.output), line)


HEADER = (
    "| database | rows | create_many rows/s | raw executemany rows/s | ratio (goal ≥ 40 %) | create rows/s | "
    "raw one-row rows/s | ratio (goal ≥ 30 %) | 4 processes / 1 (goal ≥ 2.5×) | CPU ms per create / per row "
    "of create_many | CPU ms per create, plain 10-field object (target ≤ 1 ms) | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def record(path: Path, line: str) -> None:
    """Add ``line`` under the last row of this benchmark's table in the write-path section of
    ``path`` (adding the section or the table when missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n"
    head, _, tail = text.partition(SECTION)
    lines = tail.splitlines(keepends=True)
    end = next((i for i, row in enumerate(lines) if row.startswith("## ")), len(lines))
    title = HEADER.splitlines()[0]
    start = next((i for i, row in enumerate(lines[:end]) if row.startswith(title)), None)
    if start is None:
        lines[end:end] = ["\n", *HEADER.splitlines(keepends=True), "\n"]
        start = end + 1
    last = start
    while last + 1 < len(lines) and lines[last + 1].startswith("|"):
        last += 1
    lines.insert(last + 1, line + "\n")
    path.write_text(head + SECTION + "".join(lines), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
