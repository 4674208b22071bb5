"""``trellis import``: what a user sees — exit codes, summaries, per-row errors, the error file —
and what lands in the database, for the sample files of both sample configs and a small config."""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.metadata.fieldparts import ChoicePart
from engine.metadata.fieldtypes import FieldValueError
from engine.metadata.model import FieldDef, Label, Picklist, PicklistValue, Settings
from engine.runtime.imports import cells
from engine.runtime.imports.cells import CellContext, convert_cell
from engine.runtime.imports.mapping import normal
from engine.runtime.imports.reading import Percent
from engine.runtime.security.crypto import generate_key
from tests.templates import apply_fresh

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "configs" / "samples"

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, languages: [zh, en]}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, label: {en: Company name, zh: 公司名称}, required: true}
      code: {type: text, label: {en: Code, zh: 编号}, unique: true}
      industry:
        type: picklist
        label: {en: Industry, zh: 行业}
        values:
          - {key: retail, label: {en: Retail, zh: 零售}}
          - {key: finance, label: {en: Finance, zh: 金融}}
      revenue: {type: currency, label: {en: Revenue, zh: 年营业额}}
      note: {type: text, label: {en: Note, zh: 备注}}
      parent: {type: lookup, object: account, label: {en: Parent account, zh: 上级公司}}
      share: {type: percent, label: {en: Share, zh: 占比}}
  contact:
    title: "{name}"
    fields:
      name: {type: text, label: {en: Name, zh: 姓名}, required: true}
      account: {type: lookup, object: account, label: {en: Account, zh: 所属公司}, required: true}
  item:
    fields:
      name: {type: text, required: true}
automations:
  - name: mark_new
    object: account
    on: created
    do:
      - {set: {note: "=coalesce(note, 'marked by automation')"}}
roles:
  importer:
    objects:
      "*": {read: all, edit: all, create: true, import: true}
    read_only: [account.note]
  rep:
    objects:
      "*": {read: all, edit: all, create: true}
  updater:
    objects:
      "*": {read: all, edit: all, import: true}
  admin:
    objects:
      "*": {read: all, edit: all, create: true, import: true}
    permissions: [manage_config]
"""


def run(*args: object, expect: int | None = None):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    if expect is not None:
        assert result.exit_code == expect, result.output
    return result


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def small(db_url, write_config):
    """The small config applied, users ``imp`` (importer), ``rep`` and ``boss`` (admin)."""
    config = write_config(CONFIG)
    crm = Trellis.open(config, db_url)
    apply_fresh(crm)
    with crm.directory() as directory:
        directory.add("imp", roles=["importer"])
        directory.add("rep", roles=["rep"])
        directory.add("upd", roles=["updater"])
        directory.add("boss", roles=["admin"])
    yield config, db_url, crm
    crm.close()


def records(crm: Trellis, object_name: str) -> list[dict]:
    with crm.session() as session:
        return [r.to_dict() for r in session.query(object_name).order_by("id").all()]


@pytest.fixture
def secret_key(monkeypatch):
    """A TRELLIS_SECRET_KEY for the sample configs (they encrypt contact.id_number)."""
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("TRELLIS_SECRET_KEY", generate_key())


# --- the sample files ---------------------------------------------------------------------------------


def test_saas_samples_bad_rows_come_back_with_reasons_and_the_fixed_error_file_imports(db_url, secret_key, tmp_path):
    config = ROOT / "configs" / "sample_saas.yaml"
    crm = Trellis.open(config, db_url)
    apply_fresh(crm)
    errors = tmp_path / "errors.csv"
    result = run("import", config, "account", SAMPLES / "saas" / "accounts_gbk.csv", "--db", db_url, "--errors", errors)
    assert result.exit_code == 1
    assert "CSV, GB18030 (GBK), delimiter ','" in result.output  # the encoding detected, said
    assert "row 6: 统一社会信用代码: A unified social credit code has 18 characters" in result.output
    assert "row 7: 电话: '12345' is not a valid phone number in CN" in result.output
    assert "9 rows read, 4 created, 0 updated, 0 skipped, 0 waiting for approval, 5 failed" in result.output
    assert f"Wrote the 5 failed rows to {errors}" in result.output

    # The user fixes the rows in the error file (Excel keeps its BOM) and imports that file.
    with errors.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-1] == "Import error" and [r[0] for r in rows[1:]][:2] == [
        "成都远山教育科技有限公司",
        "武汉江城医疗器械有限公司",
    ]
    fixes = {"12345": "91510100MA6C5R2K3L", "旅游业": "其他行业", "电子商务": "", "2026-05-31": "2027-05-31"}
    fixed = [rows[0]] + [[fixes.get(cell, cell) for cell in row[:-1]] + [""] for row in rows[1:]]
    fixed[2][6] = "027-8765 4321"  # the phone of 武汉江城
    write_csv(tmp_path / "fixed.csv", fixed, encoding="utf-8-sig")
    again = run("import", config, "account", tmp_path / "fixed.csv", "--db", db_url, expect=0)
    assert "5 rows read, 5 created" in again.output

    contacts = run("import", config, "contact", SAMPLES / "saas" / "contacts_en.csv", "--db", db_url)
    assert "7 rows read, 4 created" in contacts.output and "3 failed" in contacts.output
    assert "row 7: Account: no Account 'No Such Company Ltd' (by name)" in contacts.output
    deals = run("import", config, "opportunity", SAMPLES / "saas" / "deals.xlsx", "--db", db_url)
    assert "xlsx, sheet '商机'" in deals.output
    assert "8 rows read, 4 created" in deals.output and "4 failed" in deals.output
    assert "row 4: Quote: Quote is required to enter the stage Quote negotiation." in deals.output  # the stage gate
    with crm.session() as session:
        deal = session.query("opportunity").filter(name="星河智造 数据分析平台").first()
        contact = session.get("contact", deal["contact"])
    assert (deal["stage"], deal["discount"], deal["close_date"]) == ("solution_demo", 15, dt.date(2030, 6, 30))
    assert contact["contact_name"] == "Min Zhang"  # the lookup found by the target's title
    crm.close()


def test_retail_samples_import_with_their_bad_rows_refused(db_url, secret_key):
    config = ROOT / "configs" / "sample_retail.yaml"
    crm = Trellis.open(config, db_url)
    apply_fresh(crm)
    crm.close()
    expected = {
        (
            "account",
            "customers_gbk.csv",
        ): "8 rows read, 4 created, 0 updated, 0 skipped, 0 waiting for approval, 4 failed",
        (
            "contact",
            "contacts_en.csv",
        ): "5 rows read, 3 created, 0 updated, 0 skipped, 0 waiting for approval, 2 failed",
        ("opportunity", "group_purchases.xlsx"): "5 rows read, 2 created",
    }
    for (object_name, name), summary in expected.items():
        result = run("import", config, object_name, SAMPLES / "retail" / name, "--db", db_url, expect=1)
        assert summary in result.output


# --- mapping, conversion, dry run, duplicates, permissions -------------------------------------------


def test_columns_map_by_label_in_any_language_and_unmatched_ones_are_listed_with_a_suggestion(small, tmp_path):
    config, db, crm = small
    data = write_csv(
        tmp_path / "a.csv",
        [["公司 名称", "INDUSTRY", "年营业额", "Bemerkung", "Indstry code"], ["云帆", "零售", "¥1,200.50", "x", "A1"]],
    )
    refused = run("import", config, "account", data, "--db", db, "--language", "zh", expect=1)
    assert "列 'Bemerkung' 没有对应的字段" in refused.output
    assert "列 'Indstry code' 没有对应的字段：是否指 code（编号）？" in refused.output
    assert records(crm, "account") == []

    (tmp_path / "map.yaml").write_text("columns:\n  Bemerkung: skip\n  Indstry code: code\nconstants:\n  note: 导入\n")
    result = run("import", config, "account", data, "--db", db, "--map", tmp_path / "map.yaml", expect=0)
    assert "1 rows read, 1 created" in result.output
    [account] = records(crm, "account")
    assert (account["name"], account["industry"], account["revenue"], account["code"]) == (
        "云帆",
        "retail",
        Decimal("1200.50"),
        "A1",
    )
    assert account["note"] == "导入"  # a constant, given: the automation's coalesce keeps it


def test_a_map_chooses_an_option_for_picklist_values_that_match_none(small, tmp_path):
    config, db, crm = small
    data = write_csv(tmp_path / "a.csv", [["Name", "行业"], ["云帆", "商超"], ["星河", "银行"], ["青禾", "零售"]])
    (tmp_path / "map.yaml").write_text("columns:\n  行业: {field: industry, values: {商超: retail, 银行: bank}}\n")
    refused = run("import", config, "account", data, "--db", db, "--map", tmp_path / "map.yaml", expect=1)
    assert (
        "Column '行业': '银行' is to become 'bank', which is not an option of the field; its options: retail, finance."
        in refused.output
    )
    (tmp_path / "map.yaml").write_text("columns:\n  行业: {values: {商超: retail, 银行: 金融}}\n")  # key or label
    run("import", config, "account", data, "--db", db, "--map", tmp_path / "map.yaml", expect=0)
    assert [(a["name"], a["industry"]) for a in records(crm, "account")] == [
        ("云帆", "retail"),
        ("星河", "finance"),
        ("青禾", "retail"),
    ]


def test_cells_read_as_a_person_means_them():
    settings = Settings(timezone="Asia/Shanghai")
    picklist = Picklist("p", Label.of("p"), (PicklistValue("a", Label.of({"en": "Alpha", "zh": "甲"})),))
    context = CellContext(settings, {"li": frozenset({7})})

    def read(kind: str, cell: object, **extra: object) -> object:
        return convert_cell(cell, FieldDef(name="f", type=kind, label=Label.of("F"), **extra), context)

    assert read("date", "2026/12/1") == read("date", "2026年12月1日") == read("date", 46357) == dt.date(2026, 12, 1)
    assert read("date", "20261201") == read("date", "46357") == dt.date(2026, 12, 1)
    assert read("datetime", "2026年12月1日 14:30") == dt.datetime(2026, 12, 1, 14, 30)
    assert read("currency", "¥1,234.50") == "1234.50" and read("integer", "(300)") == "-300"
    assert read("percent", "15 %") == "15" and read("decimal", "1 234 元") == "1234"
    assert (read("boolean", "是"), read("boolean", "否"), read("boolean", "Yes")) == (True, False, True)
    assert read("multipicklist", "甲、 alpha；a", part=ChoicePart(picklist=picklist)) == ["a", "a", "a"]
    assert read("user", "LI") == 7
    assert (read("percent", Percent(0.155)), read("decimal", Percent(0.155)), read("text", Percent(1))) == (
        Decimal("15.5"),
        Decimal("0.155"),
        "100%",
    )  # an Excel percentage cell: the number the person sees, in a percent field
    assert (read("phone", "'+86 138 0013 8000"), read("text", "'=1+1"), read("text", "'quoted")) == (
        "+86 138 0013 8000",
        "=1+1",
        "'quoted",
    )  # the quote an export puts before a formula's first character is dropped, no other
    for kind, cell in (("date", "01/02/2026"), ("boolean", "maybe"), ("user", "nobody"), ("file", "quote.pdf")):
        with pytest.raises(FieldValueError):
            read(kind, cell)


def test_a_parent_named_by_a_row_above_in_the_same_batch_and_percentages_as_shown(small, tmp_path):
    config, db, crm = small
    rows = [
        ["Company name", "Parent account", "Share"],
        ["Group", "", "15%"],
        ["Sub", "Group", ""],
        ["Leaf", "Sub", ""],
    ]
    run("import", config, "account", write_csv(tmp_path / "a.csv", rows), "--db", db, expect=0)
    group, sub, leaf = records(crm, "account")
    assert (group["share"], sub["parent"], leaf["parent"]) == (15, group["id"], sub["id"])

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Company name", "Share", "Note"])
    sheet.append(["Percent cell", 0.15, 0.5])
    sheet.append(["Exported cell", 15, "x"])
    sheet["B2"].number_format = sheet["C2"].number_format = "0%"  # 0.15 shows as 15%
    sheet["B3"].number_format = '#,##0"%"'  # how trellis export writes a percent field: 15 shows as 15%
    book.save(tmp_path / "b.xlsx")
    run("import", config, "account", tmp_path / "b.xlsx", "--db", db, expect=0)
    assert [(r["share"], r["note"]) for r in records(crm, "account")[3:]] == [(15, "50%"), (15, "x")]


def test_a_file_with_a_keys_row_maps_by_key_and_its_error_file_keeps_the_row(small, tmp_path):
    config, db, crm = small
    header, keys = (
        ["编号", "公司名称", "编号", "创建时间"],
        ["id", "name", "code", "created_at"],
    )  # id and code: one label
    rows = [header, keys, ["1", "甲", "c1", "2026-01-01 10:00"], ["2", "", "c2", "2026-01-01 10:00"]]
    errors = tmp_path / "errors.csv"
    failed = run("import", config, "account", write_csv(tmp_path / "a.csv", rows), "--db", db, "--errors", errors)
    assert "row 4: 公司名称: Company name is required." in failed.output and "2 rows read, 1 created" in failed.output
    with errors.open(encoding="utf-8-sig", newline="") as handle:
        fixed = list(csv.reader(handle))
    failure = ["2", "", "c2", "2026-01-01 10:00", "公司名称: Company name is required."]
    assert fixed == [[*header, "Import error"], [*keys, ""], failure]  # the keys row kept for the re-import
    fixed[2][1] = "乙"
    run("import", config, "account", write_csv(tmp_path / "fixed.csv", fixed), "--db", db, expect=0)
    assert [(r["name"], r["code"]) for r in records(crm, "account")] == [("甲", "c1"), ("乙", "c2")]


def test_picklist_cells_are_remembered_per_field_within_a_bound(monkeypatch):
    """A file repeats a few picklist values in every row: each text is normalised once, and only
    CHOICE_MEMORY texts are remembered however many distinct ones a file holds."""
    picklist = Picklist("p", Label.of("p"), (PicklistValue("a", Label.of({"en": "Alpha", "zh": "甲"})),))
    fdef = FieldDef(name="f", type="picklist", label=Label.of("F"), part=ChoicePart(picklist=picklist))
    context = CellContext(Settings(timezone="Asia/Shanghai"))
    context.choices(fdef)
    normalised = []
    monkeypatch.setattr(cells, "normal", lambda text: normalised.append(text) or normal(text))
    monkeypatch.setattr(cells, "CHOICE_MEMORY", 2)
    texts = ["甲", " ALPHA ", "Alpha!", "zzz"]
    assert [convert_cell(t, fdef, context) for t in texts * 2] == ["a", "a", "a", "zzz"] * 2
    assert normalised == ["甲", "ALPHA", "Alpha!", "zzz", "Alpha!", "zzz"]


def test_a_dry_run_gives_the_same_errors_and_changes_nothing(small, tmp_path):
    config, db, crm = small
    data = write_csv(
        tmp_path / "a.csv",
        [
            ["Company name", "Code", "Industry"],
            ["A", "c1", "Retail"],
            ["B", "c1", "Finance"],
            ["", "c3", "Mining"],
            ["Nul\x00", "c4", ""],  # kept with the failed row without its NUL (PostgreSQL's JSON has none)
        ],
    )
    dry = run("import", config, "account", data, "--db", db, "--dry-run", "--errors", tmp_path / "dry.csv", expect=1)
    assert (
        "Dry run, nothing was changed: 4 rows read; would create 1, update 0, skip 0, hold 0 for approval, fail 3"
        in dry.output
    )
    assert "row 3: Code: Another Account already has Code = c1." in dry.output  # unique within the file
    assert "row 4: Company name: Company name is required.; Industry: 'Mining' is not one of" in dry.output
    assert records(crm, "account") == []
    real = run("import", config, "account", data, "--db", db, "--errors", tmp_path / "real.csv", expect=1)
    assert "4 rows read, 1 created" in real.output
    assert (tmp_path / "dry.csv").read_text("utf-8-sig") == (tmp_path / "real.csv").read_text("utf-8-sig")


def test_duplicates_are_skipped_updated_or_reported(small, tmp_path):
    config, db, crm = small
    with crm.session() as session:
        version = session.create("account", {"name": "Old name", "code": "c1", "industry": "finance"})["version"]
    data = write_csv(tmp_path / "a.csv", [["Code", "Company name"], ["c1", "New name"], ["c2", "Other"]])
    skip = run("import", config, "account", data, "--db", db, "--on-duplicate", "skip", expect=0)
    assert "2 rows read, 1 created, 0 updated, 1 skipped" in skip.output
    error = run("import", config, "account", data, "--db", db, "--match", "code", expect=1)
    assert "row 2: Code: a record with this value exists already (id 1)" in error.output
    assert "row 3: Code: a record with this value exists already" in error.output
    update = run("import", config, "account", data, "--db", db, "--on-duplicate", "update", "--match", "code")
    assert "2 rows read, 0 created, 2 updated" in update.output
    first = records(crm, "account")[0]
    assert (first["name"], first["industry"], first["version"]) == ("New name", "finance", version + 1)  # mapped only
    more = write_csv(tmp_path / "b.csv", [["Code", "Company name"], ["c1", "Again"], ["c9", "New"]])
    only_edit = run("import", config, "account", more, "--db", db, "--on-duplicate", "update", "--as", "upd")
    assert "row 3: you may not create Account records; this row matches no existing one" in only_edit.output
    assert "2 rows read, 0 created, 1 updated" in only_edit.output and only_edit.exit_code == 1


def test_lookups_by_a_unique_field_and_the_import_grant(small, tmp_path):
    config, db, crm = small
    with crm.session() as session:
        session.create("account", {"name": "Twin", "code": "t1"})
        session.create("account", {"name": "Twin", "code": "t2"})
    data = write_csv(tmp_path / "c.csv", [["Name", "所属公司"], ["Li", "t2"], ["Wang", "Twin"]])
    refused = run("import", config, "contact", data, "--db", db, "--as", "rep", expect=1)
    assert "You may not import Contact: your role lacks the `import` grant." in refused.output
    by_title = run("import", config, "contact", data, "--db", db, "--as", "imp", expect=1)
    assert "row 2: 所属公司: no Account 't2' (by name)" in by_title.output
    assert "row 3: 所属公司: 2 Account records are 'Twin' (by name)" in by_title.output
    (tmp_path / "map.yaml").write_text("columns:\n  所属公司: {by: code}\n")  # the field's zh label
    by_code = run("import", config, "contact", data, "--db", db, "--as", "imp", "--map", tmp_path / "map.yaml")
    assert "row 3: 所属公司: no Account 'Twin' (by code)" in by_code.output and "1 created" in by_code.output
    with crm.session() as session:
        [li] = session.query("contact").all()
    assert li["account"] == 2 and li["owner_id"] == crm.principal("imp").user_id


def test_read_only_columns_and_automation_off_are_for_those_allowed(small, tmp_path):
    config, db, crm = small
    data = write_csv(tmp_path / "a.csv", [["Company name", "Note"], ["A", "hand-written"]])
    read_only = run("import", config, "account", data, "--db", db, "--as", "imp", expect=1)
    assert "Column 'Note': you may not change Note; leave the column out" in read_only.output
    plain = write_csv(tmp_path / "b.csv", [["Company name"], ["B"]])
    not_admin = run("import", config, "account", plain, "--db", db, "--as", "imp", "--no-automation", expect=1)
    assert "Only an administrator (permission manage_config) may import with automation off." in not_admin.output
    run("import", config, "account", plain, "--db", db, "--as", "boss", "--no-automation", expect=0)
    run("import", config, "account", plain, "--db", db, "--as", "boss", expect=0)
    assert [r["note"] for r in records(crm, "account")] == [None, "marked by automation"]
    with crm.engine.connect() as connection:
        audit = crm.schema.system["sys_audit"]
        entries = connection.execute(
            sa.select(audit.c.username, audit.c.changes).where(audit.c.action == "import").order_by(audit.c.id)
        ).all()
    assert [(user, '"automation":"off"' in changes) for user, changes in entries] == [("boss", True), ("boss", False)]


# --- resuming after a crash --------------------------------------------------------------------------


def test_resume_after_kill_9_imports_every_row_exactly_once(small, tmp_path):
    config, db, crm = small
    total = 3000  # one row per committed batch below: the kill lands long before the end
    data = write_csv(tmp_path / "a.csv", [["Name"], *[[f"Item {i}"] for i in range(total)]])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    command = [sys.executable, "-c", "from engine.cli import main; main()", "import", str(config), "item"]
    process = subprocess.Popen([*command, str(data), "--db", db, "--batch", "1"], env=env)
    jobs = crm.schema.system["sys_import_jobs"]
    done = 0
    deadline = time.monotonic() + 60
    while done < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
        with crm.engine.connect() as connection:
            done = connection.execute(sa.select(sa.func.max(jobs.c.rows_done))).scalar() or 0
    process.send_signal(signal.SIGKILL)
    process.wait()
    with crm.engine.connect() as connection:
        job_id, rows_done, status = connection.execute(sa.select(jobs.c.id, jobs.c.rows_done, jobs.c.status)).one()
    assert 20 <= rows_done < total and status == "running", "the import was not stopped halfway"
    assert len(records(crm, "item")) == rows_done  # what was committed is exactly what the job counts

    result = run("import", config, "item", data, "--db", db, "--resume", job_id, "--batch", 500, expect=0)
    assert f"{total:,} rows read, {total:,} created" in result.output
    names = [r["name"] for r in records(crm, "item")]
    assert sorted(names) == sorted(f"Item {i}" for i in range(total))  # each row once, none skipped
    finished = run("import", config, "item", data, "--db", db, "--resume", job_id, expect=1)
    assert f"Import job {job_id} has finished already" in finished.output


def test_a_web_job_runs_a_few_batches_at_a_time_and_reads_its_progress_and_errors(small, tmp_path):
    from engine.runtime import imports

    config, db, crm = small
    data = write_csv(tmp_path / "a.csv", [["Name"], ["a"], ["x" * 300], [""], ["c"], ["d"]])
    job = imports.start(crm, "item", data, imports.ImportOptions(batch=2), "imp")
    assert (job.status, job.rows_done, job.username) == ("pending", 0, "imp")
    job = imports.run(crm, job.id, max_batches=1)
    assert (job.status, job.rows_done, job.created, job.failed) == ("running", 3, 1, 1)  # the blank row 4 too
    [failure] = imports.failures(crm, job.id)
    assert (failure.row, failure.cells, failure.error) == (3, ["x" * 300], "Name: At most 255 characters (300 given).")
    job = imports.run(crm, job.id)
    assert (job.status, job.rows_done, job.created, job.failed) == ("done", 5, 3, 1)
    assert imports.write_error_file(crm, job.id, tmp_path / "e.csv") == 1


def test_an_xlsx_run_opens_the_workbook_once(small, tmp_path, monkeypatch):
    """Opening a workbook reads all its shared strings, and the whole sheet when the file does not
    declare its size (openpyxl's write-only files, Trellis's own exports): a run opens it once."""
    import openpyxl

    from engine.runtime import imports

    config, db, crm = small
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Items")
    for row in (["Name"], ["a"], ["b"], ["c"]):
        sheet.append(row)
    book.save(tmp_path / "items.xlsx")
    job = imports.start(crm, "item", tmp_path / "items.xlsx", imports.ImportOptions(batch=2), "imp")
    opened, load_workbook = [], openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: opened.append(a) or load_workbook(*a, **k))
    job = imports.run(crm, job.id)
    assert (job.status, job.created, len(opened)) == ("done", 3, 1)


def test_files_are_read_with_their_encoding_delimiter_and_sheet(tmp_path):
    from engine.runtime.imports import ImportProblem
    from engine.runtime.imports.reading import detect_encoding, open_source

    (tmp_path / "semi.csv").write_bytes("名称;编号\r\n甲;1\r\n".encode("utf-8-sig"))
    (tmp_path / "tab.csv").write_bytes("名称\t编号\n乙\t2\n".encode("utf-16"))
    for name, described, row in (
        ("semi.csv", "CSV, UTF-8 with BOM, delimiter ';'", ["甲", "1"]),
        ("tab.csv", "CSV, UTF-16, delimiter 'tab'", ["乙", "2"]),
    ):
        source = open_source(tmp_path / name)
        assert (source.headers, source.described, list(source.rows())) == (["名称", "编号"], described, [(2, row)])
        source.close()
    gbk = ("名称,城市\n" + "上海云帆数据科技有限公司,上海\n" * 50).encode("gb18030")
    assert detect_encoding(gbk[:-2]) == "gb18030"  # the first bytes of a large file end inside a character
    deals = SAMPLES / "saas" / "deals.xlsx"
    source = open_source(deals, sheet="商机")
    assert source.headers[:2] == ["商机名称", "客户"]
    source.close()
    with pytest.raises(ImportProblem, match="The workbook has no sheet 'Leads'; its sheets: 商机."):
        open_source(deals, sheet="Leads")
    with pytest.raises(ImportProblem, match=r"is an old Excel file \(.xls\): save it as .xlsx or CSV"):
        (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
        open_source(tmp_path / "old.xls")
