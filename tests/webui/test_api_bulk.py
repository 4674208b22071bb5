"""``POST /api/v1/<object>/bulk`` (issue 13 §3), on SQLite and PostgreSQL: one result per record,
the valid ones written (or none with ``atomic``), field-level errors with the record's index,
at most 1,000 records, messages in the caller's language, and the route in the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from engine.runtime.security.tokens import create_token
from webui.api.bulk import MAX_RECORDS

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true, max_length: 20, label: {en: Name, zh: 名称}}
      amount: {type: currency}
      stage:
        type: picklist
        values:
          - {key: new, label: {en: New, zh: 新}}
          - {key: won, label: {en: Won, zh: 赢单}}
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
  viewer:
    objects:
      lead: {read: all}
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"alice": {"roles": ["rep"]}, "carol": {"roles": ["viewer"]}}, passwords=False)


@pytest.fixture
def api(client, crm):
    """``api(user, body, **headers)``: POST ``body`` to /api/v1/lead/bulk with the user's token."""
    tokens = {name: create_token(crm, name)[0] for name in ("alice", "carol")}

    def call(user: str, body, path: str = "/api/v1/lead/bulk", **headers):
        headers["Authorization"] = f"Bearer {tokens[user]}"
        response = client.post(path, json=body, headers=headers)
        assert response.mimetype == "application/json" and b"Traceback" not in response.data
        return response

    return call


def names(crm) -> list[str]:
    with crm.session() as s:
        return sorted(r["name"] for r in s.query("lead").all())


def test_valid_records_are_created_and_each_bad_one_says_why(api, crm):
    response = api("alice", {"records": [{"name": "Acme", "amount": "12.50"}, {"stage": "lost"}, {"name": "Globex"}]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["meta"] == {"created": 2, "updated": 0, "pending": 0, "failed": 1}
    first, bad, last = body["data"]
    assert (first["index"], first["status"], first["record"]["name"]) == (0, "created", "Acme")
    assert first["record"]["amount"] == "12.50" and last["status"] == "created"
    assert bad["index"] == 1 and bad["status"] == "error"
    assert bad["error"]["code"] == "validation_failed"
    assert bad["error"]["fields"]["name"][0]["code"] == "required"
    assert bad["error"]["fields"]["stage"][0]["code"] == "not_in_picklist"
    assert names(crm) == ["Acme", "Globex"]


def test_records_with_id_and_version_are_changed(api, crm):
    created = api("alice", {"records": [{"name": "Acme"}, {"name": "Globex"}, {"name": "Initech"}]}).get_json()
    acme, globex, initech = (r["record"] for r in created["data"])
    changes = [
        {"id": acme["id"], "version": acme["version"], "stage": "won"},
        {"id": globex["id"], "version": globex["version"] + 1, "stage": "won"},  # stale
        {"id": initech["id"], "stage": "won"},  # no version
        {"name": "Hooli"},  # a create among the changes
        "not a record",
    ]
    body = api("alice", {"records": changes}).get_json()
    assert [r["status"] for r in body["data"]] == ["updated", "error", "error", "created", "error"]
    assert body["data"][0]["record"]["stage"] == "won" and body["data"][0]["record"]["version"] == 2
    assert body["data"][1]["error"]["code"] == "conflict" and body["data"][1]["id"] == globex["id"]
    assert body["data"][2]["error"]["fields"]["version"][0]["code"] == "required"
    assert (
        body["data"][4]["error"]["fields"]["_record"][0]["message"] == "Each record is a JSON object of field values."
    )
    assert body["meta"] == {"created": 1, "updated": 1, "pending": 0, "failed": 3}


def test_an_atomic_request_writes_all_or_nothing(api, crm):
    response = api("alice", {"records": [{"name": "Acme"}, {"name": "x" * 21}], "atomic": True})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "bulk_failed" and "1 of 2" in body["error"]["message"]
    assert [r["status"] for r in body["data"]] == ["not_written", "error"]
    assert body["data"][1]["error"]["fields"]["name"][0]["code"] == "too_long"
    assert names(crm) == []
    response = api("alice", {"records": [{"name": "Acme"}, {"name": "Globex"}], "atomic": True})
    assert response.status_code == 200 and names(crm) == ["Acme", "Globex"]


def test_an_owner_id_past_64_bits_is_a_field_error_not_a_server_error(api, crm):
    body = api("alice", {"records": [{"name": "Acme", "owner_id": 2**65}]}).get_json()
    assert body["data"][0]["error"]["fields"]["owner_id"][0]["code"] == "invalid"


def test_a_caller_who_may_not_create_gets_an_error_per_record(api, crm):
    body = api("carol", {"records": [{"name": "Acme"}, {"name": "Globex"}]}).get_json()
    assert [r["error"]["code"] for r in body["data"]] == ["forbidden", "forbidden"] and names(crm) == []


def test_more_than_a_thousand_records_is_400_in_the_callers_language(api, crm):
    too_many = {"records": [{"name": "x"}] * (MAX_RECORDS + 1)}
    response = api("alice", too_many)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "too_many_records" and "at most 1,000 records, not 1,001" in error["message"]
    assert error["fields"]["records"][0]["code"] == "too_many"
    chinese = api("alice", too_many, **{"Accept-Language": "zh-CN"}).get_json()["error"]["message"]
    assert chinese.startswith("一次批量请求最多 1,000 条记录")
    invalid = api("alice", {"records": [{"name": "x" * 21}]}, **{"Accept-Language": "zh"}).get_json()
    assert invalid["data"][0]["error"]["fields"]["name"][0]["message"] == "最多 20 个字符。"
    for body, key in (({"records": []}, "records"), ({"records": [{}], "atomic": "yes"}, "atomic"), ({"x": 1}, "x")):
        response = api("alice", body)
        assert response.status_code == 400 and key in response.get_json()["error"]["fields"], body
    assert names(crm) == []


def test_the_bulk_route_is_in_the_openapi_document(api, client, crm):
    token = create_token(crm, "alice")[0]
    document = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}).get_json()
    validate(document)
    operation = document["paths"]["/api/v1/lead/bulk"]["post"]
    assert (
        operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["records"]["maxItems"] == 1000
    )
    assert set(operation["responses"]) >= {"200", "400", "422"}
