"""Duplicate rules over the records of one bulk request (issue 14 §2), on SQLite and PostgreSQL: a
record repeating an earlier one of the same request is refused with a candidate naming that
record's ``index`` in the request (``row``), in the caller's language."""

from __future__ import annotations

import pytest

from engine.runtime.security.tokens import create_token

CONFIG = """
trellis: 1
settings: {languages: [en, zh], phone_region: CN}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, label: {en: Name, zh: 名称}, required: true}
      phone: {type: phone, label: {en: Phone, zh: 电话}}
    duplicates:
      - name: same_company
        match: [{field: name, method: company_name}]
      - name: same_phone
        match: [{field: phone, method: phone}]
        action: block
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true}
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"alice": {"roles": ["rep"], "display_name": "Alice Wu"}})


@pytest.fixture
def api(client, crm):
    with crm.session("alice") as s:
        first = s.create("account", {"name": "Other"})
    token = create_token(crm, "alice", "t")[0]

    def call(body, language="en"):
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
        return client.post("/api/v1/account/bulk", json=body, headers=headers)

    call.first = first.id
    return call


def test_a_record_repeating_an_earlier_one_of_the_request_names_its_index(api):
    records = [
        {"id": api.first, "version": 1, "name": "Other Ltd"},  # an update: the creates after it are a run
        {"name": "Acme Trading Co., Ltd.", "phone": "13800138000"},
        {"name": "ACME Trading Inc."},
        {"name": "Beta", "phone": "+86 138 0013 8000"},
    ]
    items = api({"records": records}).json["data"]
    assert [i["status"] for i in items] == ["updated", "created", "error", "error"]
    warned = items[2]["error"]
    assert warned["code"] == "possible_duplicate"
    assert warned["candidates"][0] | {"score": 1.0} == {
        "rule": "same_company",
        "action": "warn",
        "id": None,
        "row": 1,
        "title": "Acme Trading Co., Ltd.",
        "owner": "Alice Wu",
        "score": 1.0,
        "matched": [{"field": "name", "label": "Name", "score": 1.0}],
    }
    blocked = items[3]["error"]
    assert blocked["fields"]["phone"] == [
        {"code": "duplicate_row", "message": "Row 2 of this batch already has this Phone."}
    ]
    assert blocked["candidates"][0]["row"] == 1


def test_the_refusal_is_in_chinese_for_a_chinese_caller(api):
    records = [{"name": "云帆", "phone": "13900139000"}, {"name": "星辰", "phone": "139 0013 9000"}]
    items = api({"records": records}, "zh").json["data"]
    assert items[1]["error"]["fields"]["phone"][0]["message"] == "本批第 1 行已有相同的电话。"
