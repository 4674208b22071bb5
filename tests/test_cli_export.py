"""``trellis export`` as a user runs it (issue 13 §4), on SQLite and PostgreSQL: CSV and Excel files
that read as people read them (labels in the user's language, picklist labels, lookup titles,
user names, company dates), typed Excel cells, a keys row for re-import, hidden fields never,
the export grant and the access log."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.security import audit
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
  timezone: Asia/Shanghai
  currency: CNY
  date_format: DD/MM/YYYY
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
  deal:
    label: {en: Deal, zh: 商机}
    plural_label: {en: Deals, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      stage:
        type: picklist
        label: {en: Stage, zh: 阶段}
        values:
          - {key: quote, label: {en: Quote, zh: 报价}}
          - {key: won, label: {en: Won, zh: 赢单}}
      account: {type: lookup, object: account, label: {en: Account, zh: 客户}}
      reviewer: {type: user, label: {en: Reviewer, zh: 审核人}}
      closes_on: {type: date, label: {en: Closes on, zh: 结束日期}}
      met_at: {type: datetime, label: {en: Met at, zh: 会面时间}}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      seats: {type: integer, label: {en: Seats, zh: 席位}}
      margin: {type: text, label: {en: Margin, zh: 毛利}}
roles:
  exporter:
    objects:
      "*": {read: all, export: true}
    hidden: [deal.margin]
  rep:
    objects:
      "*": {read: all}
"""


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("erin", roles=["exporter"], display_name="Erin Export", locale="zh_CN")
        d.add("rob", roles=["rep"])
    erin = crm.principal("erin").user_id
    with crm.session() as s:
        acme = s.create("account", {"name": "Acme"})
        for name, stage in (("Big deal", "won"), ("=cmd|' /C calc'!A0", "quote")):
            s.create(
                "deal",
                {
                    "name": name,
                    "stage": stage,
                    "account": acme.id,
                    "reviewer": erin,
                    "closes_on": dt.date(2026, 4, 5),
                    "met_at": dt.datetime(2026, 3, 2, 17, 30, tzinfo=dt.UTC),
                    "amount": "1234567.5",
                    "seats": 12,
                    "margin": "secret margin",
                },
            )
    yield crm
    crm.close()


def test_a_csv_export_reads_as_the_user_reads_it_with_a_keys_row(crm, tmp_path, db_url):
    out = tmp_path / "deals.csv"
    config = crm.config.source_path
    result = run("export", config, "deal", "--db", db_url, "--as", "erin", "--keys", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Exported 2 商机 to {out}."
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads the Chinese right
    labels, keys, *rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert labels == [
        "编号",
        "名称",
        "阶段",
        "客户",
        "审核人",
        "结束日期",
        "会面时间",
        "金额",
        "席位",
        "负责人",
        "创建时间",
        "更新时间",
    ]
    assert keys == ["id", "name", "stage", "account", "reviewer", "closes_on", "met_at", "amount", "seats", "owner_id", "created_at", "updated_at"]  # fmt: skip
    big = dict(zip(keys, rows[0], strict=True))
    assert (big["stage"], big["account"], big["reviewer"]) == ("赢单", "Acme", "Erin Export")
    assert (big["closes_on"], big["met_at"]) == ("05/04/2026", "03/03/2026 01:30")  # company format and zone
    assert (big["amount"], big["seats"]) == ("1234567.50", "12")  # numbers a spreadsheet computes on
    assert rows[1][1] == "'=cmd|' /C calc'!A0"  # a formula is neutralised
    assert "secret margin" not in raw.decode("utf-8-sig")  # hidden from erin: never exported
    with crm.engine.connect() as connection:
        [entry] = audit.access_log(connection, crm.schema, object_name="deal")
    assert (entry.username, entry.channel, entry.action) == ("erin", "cli", "export")
    assert entry.detail == {"records": 2, "format": "csv"}


def test_an_excel_export_has_typed_cells_a_frozen_header_and_widths(crm, tmp_path, db_url):
    out = tmp_path / "deals.xlsx"
    args = ("--as", "erin", "--lang", "en", "--format", "xlsx", "--filter", "stage=won", "-o", out)
    result = run("export", crm.config.source_path, "deal", "--db", db_url, *args)
    assert result.exit_code == 0 and result.output.strip() == f"Exported 1 Deals to {out}.", result.output
    sheet = openpyxl.load_workbook(out).active
    assert sheet.title == "Deals" and sheet.freeze_panes == "A2"
    header, row = ([c for c in r] for r in sheet.iter_rows(min_row=1, max_row=2))
    labels = [c.value for c in header]
    assert labels[:5] == ["ID", "Name", "Stage", "Account", "Reviewer"] and "Margin" not in labels
    cell = dict(zip(labels, row, strict=True))
    assert cell["Amount"].value == 1234567.5
    assert cell["Amount"].number_format == '"CN¥"#,##0.00'  # shown as people read money, computed on as a number
    assert cell["Seats"].value == 12 and cell["Seats"].number_format == "#,##0"
    assert cell["Closes on"].value == dt.datetime(2026, 4, 5) and cell["Closes on"].number_format == "dd/mm/yyyy"
    assert cell["Met at"].value == dt.datetime(2026, 3, 3, 1, 30)  # the company's wall clock
    assert (cell["Stage"].value, cell["Account"].value, cell["Reviewer"].value) == ("Won", "Acme", "Erin Export")
    assert sheet.column_dimensions["B"].width >= 10 and sheet.column_dimensions["A"].width > 0
    quoted = ("--as", "erin", "--format", "xlsx", "--filter", "stage=quote", "-o", out)
    assert run("export", crm.config.source_path, "deal", "--db", db_url, *quoted).exit_code == 0
    name = openpyxl.load_workbook(out).active["B2"]
    assert (name.value, name.data_type) == ("=cmd|' /C calc'!A0", "s")  # text, never a formula


def test_a_user_without_the_export_grant_is_refused_and_no_file_is_left(crm, tmp_path, db_url):
    out = tmp_path / "deals.csv"
    result = run("export", crm.config.source_path, "deal", "--db", db_url, "--as", "rob", "-o", out)
    assert result.exit_code == 1 and "you may not export Deals" in result.output
    assert list(tmp_path.glob("*.csv")) == [] and list(tmp_path.glob(".trellis-export-*")) == []
    result = run("export", crm.config.source_path, "deal", "--db", db_url, "--filter", "nope=1", "-o", out)
    assert result.exit_code == 1 and "nope" in result.output and not out.exists()
    result = run("export", crm.config.source_path, "deal", "--db", db_url, "--filter", "stage")
    assert result.exit_code == 2 and "NAME=VALUE" in result.output
