"""Import jobs over the REST API (issue 13 §3), on SQLite and PostgreSQL: a file uploaded and
queued (never run by the request), run by the worker, its progress, failed rows and error file
read back; only its user and an administrator see it; problems that stop an import are 422 with
a stable code, a file over the import limit 413, a queued job cancelled; all in OpenAPI."""

from __future__ import annotations

import csv
import io

import pytest
from openapi_spec_validator import validate

from engine.runtime import imports
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import make_app

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Company name, zh: 公司名称}}
      code: {type: text, unique: true, label: {en: Code, zh: 编号}}
roles:
  importer:
    objects:
      account: {read: all, edit: all, create: true, import: true}
  rep:
    objects:
      account: {read: all, edit: all, create: true}
  admin:
    objects:
      account: {read: all, edit: all, create: true, import: true}
    permissions: [manage_config]
"""
USERS = {"alice": {"roles": ["importer"]}, "bob": {"roles": ["importer"]}, "carol": {"roles": ["rep"]}}
ROWS = "Company name,Code\nAcme,A1\n,A2\nGlobex,A3\n"


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {**USERS, "root": {"roles": ["admin"]}}, passwords=False)


@pytest.fixture
def app(crm, tmp_path):
    return make_app(crm, TRELLIS_UPLOAD_DIR=str(tmp_path / "uploads"), TRELLIS_MAX_IMPORT_UPLOAD=4096)


@pytest.fixture
def api(client, crm):
    """``api(user, method, path, **kwargs)``: a request with the user's token; JSON answers checked
    to be JSON without a stack trace."""
    tokens = {name: create_token(crm, name)[0] for name in ("alice", "bob", "carol", "root")}

    def call(user: str, method: str, path: str, headers=None, **kwargs):
        headers = {"Authorization": f"Bearer {tokens[user]}", **(headers or {})}
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert b"Traceback" not in response.data
        return response

    return call


def upload(api, user="alice", text=ROWS, name="accounts.csv", language="en", **fields):
    data = {"object": "account", **fields}
    if text is not None:
        data["file"] = (io.BytesIO(text.encode("utf-8")), name)
    headers = {"Accept-Language": language}
    return api(user, "POST", "/api/v1/imports", headers, data=data, content_type="multipart/form-data")


def names(crm) -> list[str]:
    with crm.session() as s:
        return sorted(r["name"] for r in s.query("account").all())


def test_a_file_is_queued_run_by_the_worker_and_its_progress_and_failed_rows_read(api, crm, tmp_path):
    response = upload(api, batch="2")
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/imports/{job['id']}" == job["links"]["self"]
    assert (job["status"], job["queued"], job["rows_read"], job["file_name"], job["user"]) == (
        "pending",
        True,
        0,
        "accounts.csv",
        "alice",
    )
    assert names(crm) == []  # the request only queued it

    assert imports.work(crm, seconds=None) == 2  # the worker: two batches of two rows
    done = api("alice", "GET", job["links"]["self"]).get_json()
    assert (done["status"], done["rows_read"], done["fraction"], done["encoding"]) == ("done", 3, 1.0, "utf-8")
    assert done["counts"] == {"created": 2, "updated": 0, "skipped": 0, "held": 0, "failed": 1}
    assert names(crm) == ["Acme", "Globex"]
    failed = api("alice", "GET", f"{job['links']['errors']}?offset=0&limit=10").get_json()
    assert failed["data"] == [{"row": 3, "cells": ["", "A2"], "error": "Company name: Company name is required."}]
    assert failed["meta"] == {"offset": 0, "limit": 10, "total": 1}
    error_file = api("alice", "GET", job["links"]["error_file"])
    assert error_file.mimetype == "text/csv" and "accounts-errors.csv" in error_file.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(error_file.get_data().decode("utf-8-sig"))))
    assert rows == [["Company name", "Code", "Import error"], ["", "A2", "Company name: Company name is required."]]
    listed = api("alice", "GET", "/api/v1/imports?object=account").get_json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert list((tmp_path / "uploads" / "imports").iterdir())  # the worker read the stored file

    document = api("alice", "GET", "/api/v1/openapi.json").get_json()
    validate(document)
    assert {"/api/v1/imports", "/api/v1/imports/{job_id}/errors.csv"} <= set(document["paths"])
    form = document["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["file", "object"]


def test_only_the_jobs_user_and_an_administrator_see_it_and_only_importers_start_one(api, crm):
    job = upload(api).get_json()
    for path in (job["links"]["self"], job["links"]["errors"], job["links"]["error_file"]):
        response = api("bob", "GET", path)
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "not_found"), path
    assert api("bob", "POST", job["links"]["cancel"]).status_code == 404
    assert api("bob", "GET", "/api/v1/imports").get_json()["data"] == []
    assert api("root", "GET", job["links"]["self"]).get_json()["user"] == "alice"  # manage_config sees all
    for missing in ("/api/v1/imports/12345", "/api/v1/imports/abc", f"/api/v1/imports/{'9' * 30}"):
        assert api("alice", "GET", missing).status_code == 404, missing
    refused = upload(api, "carol")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["message"] == "You may not import Accounts: your role lacks the `import` grant."
    assert (
        upload(api, "carol", language="zh").get_json()["error"]["message"]
        == "您无权导入客户：您的角色没有 `import` 权限。"
    )
    automation_off = upload(api, automation="false")  # an administrator's choice
    assert automation_off.status_code == 403 and "manage_config" in automation_off.get_json()["error"]["message"]
    assert upload(api, "root", automation="false").status_code == 202


def test_problems_that_stop_an_import_are_422_with_a_stable_code_and_bad_requests_400(api, crm, tmp_path):
    unmatched = upload(api, text="Company name,Colour\nAcme,red\n")
    assert unmatched.status_code == 422
    error = unmatched.get_json()["error"]
    assert error["code"] == "bad_mapping" and error["fields"]["file"][0]["message"].startswith("Column 'Colour'")
    cases = {
        ("sheet", "Leads"): ("sheet_not_xlsx", "sheet"),
        ("on_duplicate", "merge"): ("bad_on_duplicate", "on_duplicate"),
        ("object", "planet"): ("unknown_object", "object"),
        ("map", '{"columns": "Code"}'): ("map_shape", "map"),
        ("batch", "100000"): ("bad_batch", "batch"),
    }
    for (name, value), (code, field) in cases.items():
        response = upload(api, **{name: value})
        assert response.status_code == 422 and response.get_json()["error"]["code"] == code, (name, value)
        assert field in response.get_json()["error"]["fields"], name
    sheet = upload(api, sheet="Leads", language="zh").get_json()["error"]["message"]
    assert sheet == "只有 .xlsx 文件才有工作表；accounts.csv 是 CSV 文件（请不要指定工作表）。"  # the name uploaded
    assert upload(api, name="old.xls").get_json()["error"]["code"] == "old_excel"
    bad_parts = ({"map": "{nope"}, "map"), ({"map": "[" * 2000}, "map"), ({"dry_run": "maybe"}, "dry_run")
    for fields, part in (*bad_parts, ({"colour": "red"}, "colour")):
        response = upload(api, **fields)
        assert response.status_code == 400 and part in response.get_json()["error"]["fields"], fields
    assert upload(api, text=None).get_json()["error"]["fields"]["file"]
    as_json = api("alice", "POST", "/api/v1/imports", json={"object": "account"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.get_json()["error"]["message"]
    assert list((tmp_path / "uploads" / "imports").iterdir()) == []  # no refused upload is kept
    assert names(crm) == []


def test_a_file_over_the_import_limit_is_413_in_the_callers_language(api):
    big = ROWS + "".join(f"Firm {n},C{n}\n" for n in range(400))  # over the test's 4 KiB limit
    response = upload(api, text=big)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"
    assert "TRELLIS_MAX_IMPORT_UPLOAD" in response.get_json()["error"]["message"]
    chinese = upload(api, text=big, language="zh").get_json()["error"]["message"]
    assert chinese.startswith("文件超过导入上限 4 KB（TRELLIS_MAX_IMPORT_UPLOAD）")


def test_a_queued_job_is_cancelled_and_the_worker_leaves_it(api, crm):
    job = upload(api).get_json()
    cancelled = api("alice", "POST", job["links"]["cancel"])
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert imports.work(crm, seconds=None) == 0 and names(crm) == []
    again = api("alice", "POST", job["links"]["cancel"], headers={"Accept-Language": "zh"})
    assert again.status_code == 422 and again.get_json()["error"]["code"] == "job_ended"


def test_a_row_matching_a_record_names_the_choice_an_api_user_has_not_a_cli_flag(api, crm):
    upload(api)
    imports.work(crm, seconds=None)
    again = upload(api, on_duplicate="error", match="code").get_json()
    imports.work(crm, seconds=None)
    failed = api("alice", "GET", f"{again['links']['errors']}?offset=0&limit=10")
    [acme, globex] = [row["error"] for row in failed.get_json()["data"] if row["cells"][0]]
    assert acme.startswith("Code: a record with this value exists already (id ") and "(on_duplicate: skip or" in acme
    assert "--on-duplicate" not in acme + globex
