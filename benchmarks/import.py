"""Throughput, memory and progress of an import (``engine.runtime.imports``) against raw inserts.

    python benchmarks/import.py [--rows 100000] [--xlsx-rows 0] [--rounds 3] [--db sqlite|postgresql|both]
                                [--kinds dry,real,raw] [--batch 1000] [--postgresql URL] [--output docs/benchmarks.md]

Leads of configs/sample_saas.yaml as a company moving onto Trellis has them: a CSV file (UTF-8
with a BOM, as Excel writes it) with the Chinese labels as headers and ROWS rows of realistic
values — Chinese names and companies, mobile and landline numbers, e-mail addresses, picklists,
tags and products by their Chinese labels, sizes with thousands separators, notes with dates,
the owner by display name — and, with ``--xlsx-rows``, the same leads as an ``.xlsx`` workbook
(typed cells). The files are generated once and kept in ``$TMPDIR/trellis-bench-import``.

For each database (a SQLite file, or a fresh schema of the PostgreSQL database ``--postgresql``,
dropped afterwards) and each of ROUNDS rounds, interleaved, each in a fresh process:

- ``dry``: ``imports.start(..., dry_run=True)`` + ``imports.run`` of the file (one transaction,
  rolled back);
- ``real``: ``imports.start`` + ``imports.run`` of the file as the administrator with automation
  on, as ``trellis import CONFIG lead FILE --as admin`` does (BATCH rows, 1,000 by default, per commit);
- ``raw``: the same rows, converted beforehand to the values the write path stores (outside the
  clock), inserted with ``connection.execute(insert(lead), rows)``, 1,000 rows per
  ``executemany`` and per transaction (BATCH rows) — the floor of what any import could do.

Reported: rows per second (median), import / raw, dry / real time, the peak RSS of the import's
own process (``VmHWM``) and the longest wait between two progress reports (the web wizard
updates its bar on each). The xlsx file is imported once (``real`` and ``raw``). The results are
printed and appended to the import section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.metadata.fieldtypes import coerce_value  # noqa: E402

CONFIG = ROOT / "configs" / "sample_saas.yaml"
CACHE = Path(tempfile.gettempdir()) / "trellis-bench-import"
#: Bump when the generated rows change, so that a cached file is not reused.
VERSION = 2
BATCH = 1000
KINDS = ("dry", "real", "raw")
SECTION = "## Import (`benchmarks/import.py`)"

# --- the leads ---------------------------------------------------------------------------------------
HEADERS = {  # column (the field's Chinese label) → field
    "联系人姓名": "name",
    "公司名称": "company",
    "职务": "job_title",
    "线索来源": "source",
    "意向程度": "intent_level",
    "线索状态": "status",
    "电话": "phone",
    "邮箱": "email",
    "所属区域": "region",
    "所属行业": "industry",
    "标签": "tags",
    "感兴趣的产品": "product_interest",
    "公司规模（人数）": "employees",
    "营销邮件点击次数": "campaign_clicks",
    "线索描述": "description",
    "负责人": "owner_id",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "志强", "晓东", "海燕", "建国", "雪梅", "子涵")
DOMAINS = ("yunfan-tech.cn", "xinghe.com.cn", "dingsheng.com", "huaxin-soft.cn", "163.com", "qq.com")
PINYIN = ("wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou")
CITIES = ("上海", "北京", "深圳", "杭州", "广州", "成都", "南京", "苏州", "武汉", "西安", "天津", "重庆")
BRANDS = ("云帆", "星河", "鼎盛", "华信", "博远", "启明", "正泰", "恒通", "天工", "智联", "蓝海", "金桥", "远景")
SUFFIXES = ("科技有限公司", "信息技术有限公司", "软件股份有限公司", "网络科技有限公司", "电子商务有限公司")
JOBS = ("销售总监", "采购经理", "IT 经理", "CTO", "运营总监", "总经理", "市场部经理", "信息化负责人")
SOURCES = ("展会", "网络广告", "客户转介绍", "官网注册", "合作伙伴", "线上研讨会", "免费试用申请")
INTENTS = ("高意向", "中意向", "低意向")
STATUSES = ("新线索", "跟进中")
REGIONS = ("华东", "华北", "华南", "华中", "西南", "西北", "东北", "港澳台", "海外")
INDUSTRIES = ("制造业", "汽车", "电子", "IT互联网", "企业服务/SaaS", "电子商务", "金融", "零售", "教育", "医疗健康")
TAGS = ("", "高价值", "潜力客户、高互动", "", "紧急", "高价值;潜力客户")
PRODUCTS = ("CRM 套件", "数据分析;API 开放平台", "", "CRM 套件、数据分析")
#: The sales reps the leads belong to: (user name, display name).
REPS = (("wangfang", "王芳"), ("liqiang", "李强"), ("zhangmin", "张敏"), ("chenjie", "陈杰"))
FIRST_DAY = dt.date(2024, 1, 1)


def lead(n: int) -> dict[str, Any]:
    """The ``n``-th lead as cells of its columns (text as a CSV file has it; numbers for xlsx)."""
    name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 7) % len(GIVEN)]
    city = CITIES[(n // 3) % len(CITIES)]
    if n % 3 == 0:
        phone = f"13{n % 10} {(n * 37) % 10000:04d} {(n * 7919) % 10000:04d}"
    elif n % 3 == 1:
        phone = f"021-6{(n * 7919) % 10_000_000:07d}"
    else:
        phone = f"+86 139{(n * 104729) % 100_000_000:08d}"
    met = FIRST_DAY + dt.timedelta(days=n % 700)
    return {
        "联系人姓名": name,
        "公司名称": f"{city}{BRANDS[n % len(BRANDS)]}{SUFFIXES[(n // 13) % len(SUFFIXES)]}",
        "职务": JOBS[n % len(JOBS)],
        "线索来源": SOURCES[n % len(SOURCES)],
        "意向程度": INTENTS[n % 3],
        "线索状态": STATUSES[(n // 5) % 2],
        "电话": phone,
        "邮箱": f"{PINYIN[n % len(PINYIN)]}.{n}@{DOMAINS[n % len(DOMAINS)]}",
        "所属区域": REGIONS[n % len(REGIONS)],
        "所属行业": INDUSTRIES[(n // 11) % len(INDUSTRIES)],
        "标签": TAGS[n % len(TAGS)],
        "感兴趣的产品": PRODUCTS[n % len(PRODUCTS)],
        "公司规模（人数）": 20 + (n * 131) % 20000,
        "营销邮件点击次数": n % 3,
        "线索描述": f"{met.year}年{met.month}月{met.day}日在{city}的活动上交换名片，关注{PRODUCTS[0]}。",
        "负责人": REPS[n % len(REPS)][1],
    }


def csv_cells(n: int) -> list[str]:
    """The ``n``-th lead as a CSV row: every cell text, sizes with thousands separators."""
    values = lead(n)
    values["公司规模（人数）"] = f"{values['公司规模（人数）']:,}"
    return [str(values[h]) for h in HEADERS]


def data_file(kind: str, rows: int) -> Path:
    """The cached file of ``rows`` leads (``csv`` or ``xlsx``), generated when missing."""
    path = CACHE / f"leads-v{VERSION}-{rows}.{kind}"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(f".part.{kind}")
    start = time.perf_counter()
    if kind == "csv":
        with part.open("w", encoding="utf-8-sig", newline="") as handle:  # Excel's "CSV UTF-8"
            writer = csv.writer(handle)
            writer.writerow(HEADERS)
            writer.writerows(csv_cells(n) for n in range(rows))
    else:
        from openpyxl import Workbook
        from openpyxl.utils import get_column_letter

        book = Workbook(write_only=True)
        sheet = book.create_sheet("线索")
        sheet.append(list(HEADERS))
        for n in range(rows):
            sheet.append(list(lead(n).values()))
        book.save(part)
        declare_size(part, f"A1:{get_column_letter(len(HEADERS))}{rows + 1}")
    part.rename(path)
    print(f"generated {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def declare_size(path: Path, ref: str) -> None:
    """Write the sheet's size into the workbook, as Excel does (openpyxl's write-only mode cannot:
    without it, openpyxl reads the whole sheet to size it each time a workbook is opened)."""
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as old:
        entries = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in entries:
            if info.filename == member:
                data = data.replace(b"</sheetPr>", f'</sheetPr><dimension ref="{ref}"/>'.encode(), 1)
            new.writestr(info, data)


# --- one measurement, in its own process -------------------------------------------------------------
def run_import(url: str, path: str, dry_run: bool, batch: int) -> dict[str, float]:
    """Import ``path`` as ``trellis import`` does (the worker side): time, CPU, progress gaps, RSS."""
    from engine.runtime import imports

    crm = Trellis.open(CONFIG, url)
    crm.check_database()
    reports: list[float] = []
    cpu, start = time.process_time(), time.perf_counter()
    job = imports.start(crm, "lead", path, imports.ImportOptions(batch=batch), "admin", dry_run=dry_run)
    running = time.perf_counter()  # the wizard's bar starts here, once the job is stored
    job = imports.run(crm, job.id, path, progress=lambda _: reports.append(time.perf_counter()))
    end = time.perf_counter()
    crm.close()
    marks = [running, *reports, end]
    return {
        "seconds": end - start,
        "cpu_ms_per_row": (time.process_time() - cpu) * 1000 / max(job.rows_done, 1),
        "rows": job.rows_done,
        "created": job.created,
        "failed": job.failed,
        "gap": max(b - a for a, b in zip(marks, marks[1:], strict=False)),
        "rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: ``VmHWM`` of /proc/self/status, the memory of this program
    alone. (``ru_maxrss`` keeps the parent's peak across fork and exec: after generating a workbook,
    the script's own 350 MB showed as every worker's.)"""
    try:
        for text in Path("/proc/self/status").read_text().splitlines():
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_raw(url: str, rows: int, size: int) -> dict[str, float]:
    """The baseline (the worker side): the leads as stored, ``size`` per executemany and transaction;
    converting them is not timed."""
    from engine.runtime.imports.cells import CellContext, convert_cell
    from engine.runtime.imports.mapping import EXTRA_FIELDS
    from engine.runtime.imports.resolve import user_index

    crm = Trellis.open(CONFIG, url)
    obj, settings = crm.config.objects["lead"], crm.config.settings
    fields = {**obj.fields, **EXTRA_FIELDS}
    with crm.session("admin") as session:
        context, admin = CellContext(settings, user_index(session)), session.principal.user_id
    table, seconds = crm.schema.table("lead"), 0.0
    for first in range(0, rows, size):
        now = dt.datetime.now(dt.UTC)
        batch = []
        for n in range(first, min(rows, first + size)):
            row = dict.fromkeys(obj.fields)
            for header, cell in zip(HEADERS, csv_cells(n), strict=True):
                fdef = fields[HEADERS[header]]
                row[fdef.name] = coerce_value(fdef, convert_cell(cell, fdef, context), settings)
            score = {"website_signup": 60, "online_ads": 40, "webinar": 50, "free_trial": 70}.get(row["source"], 0)
            row.update(score=score, created_at=now, updated_at=now, created_by=admin, version=1, archived_at=None)
            batch.append(row)
        start = time.perf_counter()
        with crm.engine.begin() as connection:
            connection.execute(sa.insert(table), batch)
        seconds += time.perf_counter() - start
    crm.close()
    return {"seconds": seconds, "rows": rows, "rss_mb": peak_rss_mb()}


def measure(kind: str, url: str, path: Path, rows: int, batch: int) -> dict[str, float]:
    """One measurement of ``kind`` in a fresh process, so that its peak RSS is its own."""
    command = [sys.executable, __file__, "--worker", kind, "--url", url, "--file", str(path), "--rows", str(rows)]
    command += ["--batch", str(batch)]
    answer = subprocess.run(command, capture_output=True, text=True)
    if answer.returncode:
        sys.exit(f"{kind} failed:\n{answer.stderr[-3000:]}")
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    if kind != "raw" and (result["created"] != rows or result["failed"]):
        sys.exit(f"{kind}: {result['created']:,} of {rows:,} rows created, {result['failed']:,} failed")
    shown = ", ".join(f"{k} {v:,.2f}" for k, v in result.items())
    print(f"  {kind} {path.suffix[1:]}: {rows / result['seconds']:,.0f} rows/s ({shown})", flush=True)
    return result


# --- a database ----------------------------------------------------------------------------------------
def prepare(url: str) -> None:
    """Make the tables and the users: the administrator who imports, the reps who own the leads."""
    crm = Trellis.open(CONFIG, url)
    crm.apply()
    with crm.directory() as d:
        d.add("admin", roles=["admin"], email="admin@example.com", display_name="管理员")
        for username, name in REPS:
            d.add(username, roles=["sales_rep"], email=f"{username}@example.com", display_name=name)
    crm.close()


def bench(url: str, csv_path: Path, xlsx_path: Path | None, args: argparse.Namespace) -> list[str]:
    """Every round on one database; the table's lines."""
    prepare(url)
    kinds = [k for k in KINDS if k in args.kinds]
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1} of {args.rounds}", flush=True)
        for kind in kinds:  # interleaved: each kind sees a table of about the same size
            runs[kind].append(measure(kind, url, csv_path, args.rows, args.batch))
    dialect = url.split(":", 1)[0].split("+")[0]
    lines = [line(dialect, "CSV", args.rows, runs, args.batch)] if args.rounds else []
    if xlsx_path is not None:
        once = {kind: [measure(kind, url, xlsx_path, args.xlsx_rows, args.batch)] for kind in kinds if kind != "dry"}
        lines.append(line(dialect, "xlsx", args.xlsx_rows, once, args.batch))
    return lines


def line(dialect: str, kind: str, rows: int, runs: dict[str, list[dict[str, float]]], batch: int) -> str:
    """One row of the table from the runs of each kind (medians; the worst RSS and progress gap)."""

    def median(name: str) -> float | None:
        return statistics.median(r["seconds"] for r in runs[name]) if runs.get(name) else None

    def rate(seconds: float | None) -> str:
        return f"{rows / seconds:,.0f}" if seconds else "—"

    real, dry, raw = median("real"), median("dry"), median("raw")
    rounds = len(runs.get("real") or runs.get("raw") or [])
    imports = runs.get("real", []) + runs.get("dry", [])
    rss = " / ".join(f"{max(r['rss_mb'] for r in runs[k]):.0f}" for k in ("real", "dry") if runs.get(k))
    cpu = " / ".join(
        f"{statistics.median(r['cpu_ms_per_row'] for r in runs[k]):.2f}" for k in ("real", "dry") if runs.get(k)
    )
    gap = f"{max(r['gap'] for r in imports):.1f}" if imports else "—"
    return (
        f"| {dialect} | {kind} | {rows:,} | {batch:,} | {rounds} | {rate(real)} | "
        f"{rate(dry)} | {rate(raw)} | {f'{raw / real:.0%}' if real and raw else '—'} | "
        f"{f'{dry / real:.2f}×' if real and dry else '—'} | {rss or '—'} | {cpu or '—'} | {gap} | "
        f"{dt.date.today().isoformat()} | {machine()}, load {os.getloadavg()[0]:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows (default 100,000)")
    parser.add_argument("--xlsx-rows", type=int, default=0, help="xlsx rows, imported once (default: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per batch (default 1,000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="what to measure (default dry,real,raw)")
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("TRELLIS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="the PostgreSQL database to make a scratch schema in",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, rows = args.worker, args.rows
        if kind == "raw":
            result = run_raw(args.url, rows, args.batch)
        else:
            result = run_import(args.url, args.file, kind == "dry", args.batch)
        print(json.dumps(result))
        return
    args.kinds = {k.strip() for k in args.kinds.split(",")}
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())  # accounts have an encrypted field
    csv_path = data_file("csv", args.rows)
    xlsx_path = data_file("xlsx", args.xlsx_rows) if args.xlsx_rows else None
    lines = []
    for db in databases(args.db, args.postgresql):
        with tempfile.TemporaryDirectory() as folder, scratch_database(db, Path(folder)) as url:
            for row in bench(url, csv_path, xlsx_path, args):
                print(row, flush=True)
                lines.append(row)
    append_rows(Path(args.output), SECTION, HEADER, lines)


HEADER = (
    f"{SECTION}\n\n"
    "Issue 13's goals for `trellis import`. Leads of `configs/sample_saas.yaml` imported by the "
    "administrator with automation on (a run row, a notification and an e-mail per lead), each run in a "
    "fresh process; medians of the rounds. `raw` is the floor: the same rows as stored, a batch per "
    "`executemany` and transaction. "
    "RSS is the peak of the import's own process (Python with Trellis loaded included); the gap is the "
    "longest wait between two progress reports of any run.\n\n"
    "| database | file | rows | batch | rounds | import rows/s | dry run rows/s | raw executemany rows/s | "
    "import / raw (goal ≥ 30 %) | dry / real time (goal ≤ 1.2×) | peak RSS MB real / dry (goal ≤ 500) | "
    "CPU ms per row real / dry | longest progress gap s (goal ≤ 2) | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


if __name__ == "__main__":
    main()
