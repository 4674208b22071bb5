"""What this machine allows the write path of ``benchmarks/write_path.py``: its floors.

    python benchmarks/write_path_floor.py [--rows 20000] [--db URL] [--output docs/benchmarks.md]

``write_path.py`` compares creating sample_saas leads with all their rules against a raw insert
of the lead row alone. A lead's rules require more than that row, so the goals' ratios have a
ceiling below 100 %. This script measures it, in the same run as the raw insert (medians of
three rounds, interleaved):

a. **rows a lead requires**: the lead row, its audit row and the run, the notification and the
   outbox message of ``new_lead_notice`` — taken from leads the write path created, so they are
   the rows it writes — raw, without any rule: 1,000 leads' rows per ``executemany`` of each
   table (the floor of ``create_many``), and one one-row ``INSERT`` per lead with the other
   four kinds written by one ``executemany`` each per 1,000 leads, as the write path does (the
   floor of ``create``); each against the raw insert of the lead row alone that the goals use;
b. **CPU a lead's rules require** (µs per lead, this process): normalising its phone number
   (libphonenumber) or checking its e-mail address (email-validator) — half the leads have
   either — and rendering the notice's subject and body (the sandboxed Jinja of
   ``engine.metadata.templating``) once; the ratios' ceilings are given with this CPU added
   to the rows' time too;
c. **the 4-process ceiling** (PostgreSQL): the CPU seconds one ``create`` costs the client
   (this process) and the server (its backend process, from ``/proc``); the machine's cores
   can run at most ``cores / (client + server)`` creates per second, whatever the number of
   processes — against what one process does alone.

Results are printed and appended to the write-path section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from scratch import scratch_database  # benchmarks/scratch.py
from write_path import BATCH, CONFIG, ROOT, ROUNDS, chunks, lead, machine, one_by_one, raw_one_by_one, stored

sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.metadata import templating  # noqa: E402
from engine.metadata.fieldtypes import coerce_value  # noqa: E402

SECTION = "## Write path vs raw insert (`benchmarks/write_path.py`)"
TITLE = "### What the machine allows (`benchmarks/write_path_floor.py`)"
#: The system rows of one lead, in the order the write path writes them.
KINDS = ("sys_audit", "sys_automation_runs", "sys_notifications", "sys_outbox")


def required_rows(crm: Trellis, owner: int) -> dict[str, dict]:
    """One row of each system table as the write path wrote it for a lead just created."""
    with crm.session("rep") as s:
        created = s.create("lead", lead(10**8))
    out = {}
    with crm.engine.connect() as connection:
        for name in KINDS:
            table = crm.schema.system[name]
            statement = sa.select(table).order_by(table.c.id.desc()).limit(1)
            if "record_id" in table.c:  # the outbox names no record: its last message is the lead's
                statement = statement.where(table.c.record_id == created.id)
            row = connection.execute(statement).mappings().first()
            assert row is not None, f"the write path wrote no {name} row"
            out[name] = {k: v for k, v in row.items() if k != "id"}
    return out


def system_rows(templates: dict[str, dict], first: int, count: int) -> dict[str, list[dict]]:
    """The system rows of ``count`` leads from the ``first``-th (record ids made up, keys unique)."""
    out: dict[str, list[dict]] = {name: [] for name in KINDS}
    for n in range(first, first + count):
        for name in KINDS:
            row = dict(templates[name])
            if "record_id" in row:
                row["record_id"] = n
            if "idempotency_key" in row:
                row["idempotency_key"] = uuid.uuid4().hex
            out[name].append(row)
    return out


def floor_many(crm: Trellis, templates: dict[str, dict], first: int, rows: int, owner: int) -> float:
    """(a) leads/s: every row a lead requires, 1,000 leads per executemany of each table, one transaction."""
    table, now = crm.schema.table("lead"), dt.datetime.now(dt.UTC)
    leads = [stored(crm, n, owner, now) for n in range(first, first + rows)]
    system = system_rows(templates, first, rows)
    start = time.perf_counter()
    with crm.engine.begin() as connection:
        for offset in range(0, rows, BATCH):
            connection.execute(sa.insert(table), leads[offset : offset + BATCH])
            for name in KINDS:
                connection.execute(sa.insert(crm.schema.system[name]), system[name][offset : offset + BATCH])
    return rows / (time.perf_counter() - start)


def floor_one(crm: Trellis, templates: dict[str, dict], first: int, rows: int, owner: int) -> float:
    """(a) leads/s: a one-row INSERT per lead, its system rows by one executemany per table per
    1,000 leads, 1,000 leads per transaction."""
    table, now = crm.schema.table("lead"), dt.datetime.now(dt.UTC)
    leads = [stored(crm, n, owner, now) for n in range(first, first + rows)]
    system = system_rows(templates, first, rows)
    statement = sa.insert(table).returning(table.c.id)
    start = time.perf_counter()
    for offset in range(0, rows, BATCH):
        with crm.engine.begin() as connection:
            for row in leads[offset : offset + BATCH]:
                connection.execute(statement, row).scalar_one()
            for name in KINDS:
                connection.execute(sa.insert(crm.schema.system[name]), system[name][offset : offset + BATCH])
    return rows / (time.perf_counter() - start)


def raw_many(crm: Trellis, first: int, rows: int, owner: int) -> float:
    """The goal's baseline: the lead rows alone, 1,000 per executemany, one transaction."""
    table, now = crm.schema.table("lead"), dt.datetime.now(dt.UTC)
    values = [stored(crm, n, owner, now) for n in range(first, first + rows)]
    start = time.perf_counter()
    with crm.engine.begin() as connection:
        for chunk in chunks(iter(values)):
            connection.execute(sa.insert(table), chunk)
    return rows / (time.perf_counter() - start)


def rules_cpu(crm: Trellis, rows: int) -> tuple[float, float, float]:
    """(b) CPU µs per lead: phone normalisation, e-mail check, the notice's rendering."""
    obj, settings = crm.config.objects["lead"], crm.config.settings
    template = crm.config.templates["new_lead"]
    subject, body = template.text(crm.config.settings.languages[0])
    leads = [lead(n) for n in range(rows)]

    def timed(work: Callable[[dict], object]) -> float:
        cpu = time.process_time()
        for values in leads:
            work(values)
        return (time.process_time() - cpu) * 1e6 / rows

    def phone(values: dict) -> None:
        if "phone" in values:
            coerce_value(obj.fields["phone"], values["phone"], settings)

    def email(values: dict) -> None:
        if "email" in values:
            coerce_value(obj.fields["email"], values["email"], settings)

    def render(values: dict) -> None:
        context = {
            "record": {"name": values["name"], "company": values["company"], "source": values["source"]},
            "object": "线索",
            "rule": "new_lead_notice",
            "company": settings.company,
        }
        templating.render(subject, context, autoescape=False)
        templating.render(body, context, autoescape=False)

    return timed(phone), timed(email), timed(render)


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_cpu(crm: Trellis, first: int, rows: int) -> tuple[float, float, float]:
    """(c) leads/s of one process creating one by one, and the CPU ms per lead of the client and
    of the server backend that served it (PostgreSQL on this machine)."""
    with crm.engine.connect() as connection:
        pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    server = backend_cpu(pid)
    speed, client = one_by_one(crm, first, rows)
    with crm.engine.connect() as connection:  # the pool gave every session the same connection
        assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == pid
    return speed, client, (backend_cpu(pid) - server) * 1000 / rows


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    rows = args.rows
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.db, Path(folder)) as url:
        crm = Trellis.open(CONFIG, url)
        crm.apply()
        with crm.directory() as d:
            owner = d.add("rep", roles=["sales_rep"], email="rep@example.com").id
        one_by_one(crm, 10_000_000, 100)  # warm up
        templates = required_rows(crm, owner)
        dialect = crm.engine.dialect.name
        starts: Iterator[int] = iter(range(0, 10**9, rows))
        for _ in range(ROUNDS):
            for name, measure in (
                ("floor_many", lambda: floor_many(crm, templates, next(starts), rows, owner)),
                ("raw_many", lambda: raw_many(crm, next(starts), rows, owner)),
                ("floor_one", lambda: floor_one(crm, templates, next(starts), rows, owner)),
                ("raw_one", lambda: raw_one_by_one(crm, next(starts), rows, owner)),
            ):
                results.setdefault(name, []).append(measure())
                print(f"  {name}: {results[name][-1]:,.0f} leads/s", flush=True)
            if dialect == "postgresql":
                speed, client, server = create_cpu(crm, next(starts), max(rows // 4, 1000))
                for name, value in (("create", speed), ("client", client), ("server", server)):
                    results.setdefault(name, []).append(value)
                print(f"  create: {speed:,.0f} leads/s, client {client:.2f} ms, server {server:.2f} ms", flush=True)
        for name, value in zip(("phone", "email", "render"), rules_cpu(crm, rows), strict=True):
            results[name] = [value]
        crm.close()
    m = {name: median(values) for name, values in results.items()}
    if dialect == "postgresql":
        cores = os.cpu_count() or 1
        ceiling = cores * 1000 / (m["client"] + m["server"])
        cpu = f"{m['client']:.2f} + {m['server']:.2f}"
        scale = f"{ceiling:,.0f}/s = {ceiling / m['create']:.2f}×"
    else:
        cpu, scale = "—", "—"
    rules = (m["phone"] + m["email"] + m["render"]) / 1e6  # seconds per lead

    def ceiling(floor: str, raw: str) -> str:
        """The ratio's ceiling: the rows alone, and with the rules' CPU on top."""
        return f"{m[floor] / m[raw]:.0%} ({1 / m[raw] / (1 / m[floor] + rules):.0%})"

    line = (
        f"| {dialect} | {rows:,} | {m['floor_many']:,.0f} | {m['raw_many']:,.0f} | "
        f"{ceiling('floor_many', 'raw_many')} | {m['floor_one']:,.0f} | {m['raw_one']:,.0f} | "
        f"{ceiling('floor_one', 'raw_one')} | {m['phone']:.0f} / {m['email']:.0f} / {m['render']:.0f} | "
        f"{cpu} | {scale} | {dt.date.today().isoformat()} | {machine()}, load {os.getloadavg()[0]:.1f} |"
    )
    print(line)
    record(Path(args.output), line)


HEADER = (
    "| database | rows | a lead's rows, executemany leads/s | raw executemany of the lead row leads/s | "
    "ceiling of the create_many ratio (with the rules' CPU) | a lead's rows, one-row insert leads/s | "
    "raw one-row leads/s | ceiling of the create ratio (with the rules' CPU) | rules' CPU µs per lead: phone / e-mail / notice | CPU ms per create: "
    "client + server | 4-process ceiling | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def record(path: Path, line: str) -> None:
    """Add ``line`` to the floors table under the write-path section of ``path`` (adding the
    table when missing, at the end of the section)."""
    text = path.read_text(encoding="utf-8")
    head, _, tail = text.partition(SECTION)
    lines = tail.splitlines(keepends=True)
    end = next((i for i, row in enumerate(lines) if row.startswith("## ")), len(lines))
    start = next((i for i, row in enumerate(lines[:end]) if row.startswith(TITLE)), None)
    if start is None:
        lines[end:end] = [f"{TITLE}\n", "\n", *HEADER.splitlines(keepends=True), "\n"]
        start = end
    title = HEADER.splitlines()[0]
    row = next(i for i in range(start, len(lines)) if lines[i].startswith(title)) + 1
    while row + 1 < len(lines) and lines[row + 1].startswith("|"):
        row += 1
    lines.insert(row + 1, line + "\n")
    path.write_text(head + SECTION + "".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
