"""The import wizard over HTTP (issue 13 §2): who may import, whose files and jobs are whose, bad
files as clear pages, and a map with a chosen option for a picklist value taken through dry run,
error file, import and history. ``imports.work`` plays ``trellis worker``: no request runs a job."""

from __future__ import annotations

import csv
import io
import os
import re
import time
import zipfile

import pytest

from engine.runtime import imports
from tests.conftest import ROOT
from tests.webui.conftest import client_for, make_app, post, text

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, languages: [en, zh], date_format: DD/MM/YYYY, phone_region: CN}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, label: {en: Company name, zh: 公司名称}, required: true}
      phone: {type: phone, label: {en: Phone, zh: 电话}}
      code: {type: text, label: {en: Code, zh: 编号}, unique: true}
      industry:
        type: picklist
        label: {en: Industry, zh: 行业}
        values:
          - {key: retail, label: {en: Retail, zh: 零售}}
          - {key: finance, label: {en: Finance, zh: 金融}}
  contact:
    title: "{name}"
    fields:
      name: {type: text, label: {en: Name, zh: 姓名}, required: true}
      account: {type: lookup, object: account, label: {en: Account, zh: 所属客户}}
roles:
  importer:
    objects:
      account: {read: own, edit: own, create: true, import: true}
      contact: {read: own, edit: own, create: true, import: true}
  rep:
    objects:
      account: {read: all, edit: all, create: true}
  admin:
    objects:
      account: {read: all, edit: all, create: true, import: true}
    permissions: [manage_config]
"""

USERS = {
    "ivy": {"roles": ["importer"], "display_name": "Ivy Import"},
    "iris": {"roles": ["importer"], "locale": "zh"},
    "rex": {"roles": ["rep"]},
    "ada": {"roles": ["admin"]},
}

#: A file with Chinese headers, a value of 行业 that is no option (商超) and one bad phone number.
ROWS = [
    ["公司名称", "电话", "行业"],
    ["云帆", "021-6235 8800", "商超"],
    ["星河", "12345", "金融"],
    ["青禾", "", "零售"],
]


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm, tmp_path):
    """Forms take 2,000 bytes here, an import 8,000."""
    files = str(tmp_path / "files")
    return make_app(crm, TRELLIS_UPLOAD_DIR=files, MAX_CONTENT_LENGTH=2000, TRELLIS_MAX_IMPORT_UPLOAD=8000)


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def upload(client, data: bytes, name: str = "accounts.csv", object_name: str = "account"):
    return post(
        client,
        f"/o/{object_name}/imports/new",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def damaged_workbook() -> bytes:
    """The sample deals.xlsx with its sheet cut off after the first rows."""
    out = io.BytesIO()
    with zipfile.ZipFile(ROOT / "configs/samples/saas/deals.xlsx") as source, zipfile.ZipFile(out, "w") as copy:
        for item in source.infolist():
            data = source.read(item.filename)
            copy.writestr(item, data[: len(data) * 3 // 5] if "worksheets/sheet" in item.filename else data)
    return out.getvalue()


def map_form(page: str) -> dict[str, str]:
    """The map form's fields as the page pre-selects them (selects: their selected option)."""
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        form[name] = chosen.group(1) if chosen else ""
    return form


def test_only_the_import_grant_opens_the_wizard(app, crm):
    rex, ivy = client_for(app, "rex"), client_for(app, "ivy")
    assert "/o/account/imports/new" not in text(rex.get("/o/account"))
    assert rex.get("/o/account/imports/new").status_code == 403
    assert rex.get("/o/account/imports").status_code == 403
    assert 'href="/o/account/imports/new">Import</a>' in text(ivy.get("/o/account"))
    assert ivy.get("/o/account/imports/new").status_code == 200


def test_a_bad_file_is_a_clear_message_in_the_users_language(app):
    ivy, iris = client_for(app, "ivy"), client_for(app, "iris")
    pdf = upload(ivy, b"%PDF-1.4", "accounts.pdf")
    assert pdf.status_code == 422 and "Only CSV files (.csv, .txt, .tsv) and Excel workbooks (.xlsx)" in text(pdf)
    old = upload(ivy, b"\xd0\xcf\x11\xe0", "accounts.xls")
    assert old.status_code == 422 and "accounts.xls is an old Excel file (.xls): save it as .xlsx" in text(old)
    empty = upload(iris, b"  \n", "empty.csv")
    assert empty.status_code == 422 and "empty.csv 是空文件。" in text(empty)
    broken = upload(ivy, b"not a workbook", "deals.xlsx")
    assert broken.status_code == 422 and "deals.xlsx cannot be read as an Excel (.xlsx) file." in text(broken)
    damaged = upload(ivy, damaged_workbook(), "deals.xlsx")  # its header reads, a later row does not
    assert damaged.status_code == 422 and "deals.xlsx cannot be read as an Excel (.xlsx) file." in text(damaged)
    unmatched = upload(ivy, csv_bytes([["Company name", "Fax"], ["Yunfan", "1"]]))
    form = map_form(text(ivy.get(unmatched.headers["Location"])))
    assert form["col-1"] == ""  # nothing pre-selected for a column no field is called
    refused = ivy.post(unmatched.headers["Location"], data={**form, "action": "dry_run"})
    assert refused.status_code == 422 and "for these columns: &#39;Fax&#39;" in text(refused)
    twice = ivy.post(unmatched.headers["Location"], data={**form, "col-1": "name", "action": "dry_run"})
    assert "Columns &#39;Company name&#39; and &#39;Fax&#39; both go into Company name" in text(twice)
    assert upload(ivy, csv_bytes([["Company name"], *[["y" * 100]] * 40])).status_code == 302  # above forms' limit
    too_large = upload(ivy, csv_bytes([["Company name"], *[["x" * 100]] * 100]))
    assert too_large.status_code == 413 and "an import takes files up to" in text(too_large)


def test_another_users_file_and_job_are_not_theirs(app, crm):
    ivy, iris, ada = client_for(app, "ivy"), client_for(app, "iris"), client_for(app, "ada")
    mapped = upload(ivy, csv_bytes(ROWS)).headers["Location"]
    assert iris.get(mapped).status_code == 404
    assert iris.post(mapped, data={"action": "dry_run"}).status_code in (400, 404)  # no CSRF token of that page
    started = ivy.post(mapped, data={**map_form(text(ivy.get(mapped))), "action": "dry_run"})
    job_url = started.headers["Location"]
    for url in (job_url, job_url + "/progress", job_url + "/errors.csv"):
        assert iris.get(url).status_code == 404, url
        assert ada.get(url).status_code == 200, url  # manage_config sees every job
    assert "accounts.csv" not in text(iris.get("/o/account/imports"))
    assert "accounts.csv" in text(ada.get("/o/account/imports"))


def test_files_uploaded_and_left_unused_for_30_days_go_with_the_next_upload(app, crm, tmp_path):
    ivy = client_for(app, "ivy")
    left = upload(ivy, csv_bytes(ROWS)).headers["Location"]
    used = upload(ivy, csv_bytes(ROWS)).headers["Location"]
    ivy.post(used, data={**map_form(text(ivy.get(used))), "action": "dry_run"})
    folder = tmp_path / "files" / "imports"
    month_ago = time.time() - 31 * 86400
    for path in folder.iterdir():
        os.utime(path, (month_ago, month_ago))
    upload(ivy, csv_bytes(ROWS))
    names = {p.name for p in folder.iterdir()}
    left_name, used_name = left.split("/upload/")[1].split("?")[0], used.split("/upload/")[1].split("?")[0]
    assert left_name not in names and left_name + ".owner.json" not in names  # never used: removed
    assert used_name in names  # its dry run's job keeps it (worker's remove_old_files takes it later)
    assert len([n for n in names if n.endswith(".owner.json")]) == 2  # the new upload and the used one
    assert ivy.get(left).status_code == 404


def test_a_chosen_option_goes_through_dry_run_error_file_import_and_history(app, crm):
    ivy = client_for(app, "ivy")
    mapped = upload(ivy, csv_bytes(ROWS))
    assert mapped.status_code == 302
    page = text(ivy.get(mapped.headers["Location"]))
    assert "Read as CSV, UTF-8" in page and "云帆" in page and "021-6235 8800" in page  # sample values
    assert "“商超” (1 row)" in page  # the value that is no option, with its chooser
    form = map_form(page)
    assert (form["col-0"], form["col-1"], form["col-2"]) == ("name", "phone", "industry")
    [chooser] = [k for k in form if k.startswith("val-")]
    form[chooser] = "retail"

    dry = ivy.post(mapped.headers["Location"], data={**form, "action": "dry_run"})
    assert dry.status_code == 302
    job_url = dry.headers["Location"]
    running = text(ivy.get(job_url))
    assert "Waiting to start" in running and 'data-import-progress="' in running  # the request ran nothing
    assert ivy.get(job_url + "/progress").get_json()["open"] is True
    imports.work(crm, seconds=None)
    result = text(ivy.get(job_url))
    assert "would create 2, update 0, skip 0, hold 0 for approval, fail 1." in result
    assert "电话: " in result and ">3<" in result  # row 3 (the header is row 1) and why
    remap = re.search(r'href="([^"]+)">Change the mapping', result).group(1).replace("&amp;", "&")
    assert map_form(text(ivy.get(remap)))[chooser] == "retail"  # back to the map, as chosen
    errors = ivy.get(job_url + "/errors.csv")
    assert errors.status_code == 200 and "attachment" in errors.headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(errors.get_data().decode("utf-8-sig"))))
    assert header == ["公司名称", "电话", "行业", "Import error"] and row[:3] == ["星河", "12345", "金融"]
    with crm.session() as session:
        assert session.query("account").count() == 0  # a dry run changes nothing

    real = post(ivy, job_url + "/run", form_url=job_url)
    assert post(ivy, job_url + "/run", form_url=job_url).headers["Location"] == real.headers["Location"]  # once
    imports.work(crm, seconds=None)
    done = text(ivy.get(real.headers["Location"]))
    assert "3 rows read: 2 created, 0 updated, 0 skipped, 0 waiting for approval, 1 failed." in done
    with crm.session() as session:
        assert sorted((a["name"], a["industry"]) for a in session.query("account").all()) == [
            ("云帆", "retail"),
            ("青禾", "retail"),
        ]
    records = re.search(r'href="(/o/account\?[^"]+)">See the records created', done).group(1)
    listed = text(ivy.get(records.replace("&amp;", "&")))
    assert "云帆" in listed and "青禾" in listed
    history = text(ivy.get("/o/account/imports"))
    assert history.count("accounts.csv") == 2 and "Ivy Import" in history and "Dry run" in history


def test_a_lookup_column_finds_records_by_the_field_chosen(app, crm):
    with crm.session(user="ivy") as session:
        session.create("account", {"name": "Twin", "code": "T1"})
        session.create("account", {"name": "Twin", "code": "T2"})
    ivy = client_for(app, "ivy")
    mapped = upload(ivy, csv_bytes([["Name", "所属客户"], ["Li", "T2"]]), "contacts.csv", "contact")
    form = map_form(text(ivy.get(mapped.headers["Location"])))
    assert (form["col-1"], form["by-1"]) == ("account", "name")  # by the title unless another is chosen
    job_url = ivy.post(mapped.headers["Location"], data={**form, "by-1": "code", "action": "dry_run"}).headers[
        "Location"
    ]
    imports.work(crm, seconds=None)
    assert "would create 1, update 0, skip 0, hold 0 for approval, fail 0." in text(ivy.get(job_url))
