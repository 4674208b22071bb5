"""``POST /api/v1/<object>/<id>/merge`` and ``…/unmerge`` (issue 14 §4) through Flask's test client,
on SQLite and PostgreSQL: the merge's answer, its refusals in the API's error format, OpenAPI."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from engine.runtime.security.tokens import create_token
from tests.runtime.test_merge import CONFIG
from tests.webui.conftest import make_app

USERS = {"rita": {"roles": ["rep"]}, "vic": {"roles": ["viewer"]}}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, passwords=False)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "test")[0] for name in USERS}

    def call(user: str, url: str, method: str = "POST", **kwargs):
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs)
        assert response.mimetype == "application/json" and b"Traceback" not in response.data, response.data
        return response

    return call


def test_merge_and_unmerge_over_the_api(api):
    a = api("rita", "/api/v1/account", json={"name": "Acme", "visits": 1}).get_json()["id"]
    b = api("rita", "/api/v1/account", json={"name": "ACME Ltd", "visits": 4, "email": "hi@acme.com"}).get_json()["id"]

    denied = api("vic", f"/api/v1/account/{a}/merge", json={"merge": [b]})
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "forbidden"
    bad = api("rita", f"/api/v1/account/{a}/merge", json={"merge": "b"})
    assert bad.status_code == 400 and "merge" in bad.get_json()["error"]["fields"]
    stale = api("rita", f"/api/v1/account/{a}/merge", json={"merge": [b], "versions": {str(b): 7}})
    assert stale.status_code == 409
    unknown = api("rita", f"/api/v1/account/{a}/merge", json={"merge": [b], "fields": {"secret": b}})
    assert unknown.status_code == 422 and unknown.get_json()["error"]["fields"]["secret"][0]["code"] == "unknown_field"
    gate = api("rita", f"/api/v1/account/{a}/merge", json={"merge": [b], "fields": {"stage": a}})
    assert gate.status_code == 200  # the survivor's own stage: no gate to pass

    body = gate.get_json()
    assert body["survivor"]["visits"] == 5 and body["survivor"]["email"] == "hi@acme.com"
    assert body["merge"]["merged_ids"] == [b] and body["merge"]["undo_until"].startswith("2026-04-01")
    assert api("rita", f"/api/v1/account/{b}", method="GET").get_json()["archived_at"] is not None

    undone = api("rita", f"/api/v1/account/{a}/unmerge")
    assert undone.status_code == 200 and undone.get_json()["visits"] == 1
    again = api("rita", f"/api/v1/account/{a}/unmerge")
    assert again.status_code == 422 and again.get_json()["error"]["fields"]["merge"][0]["code"] == "no_merge_to_undo"


def test_openapi_documents_merge_for_those_who_may(api):
    document = api("rita", "/api/v1/openapi.json", method="GET").get_json()
    validate(document)
    assert "/api/v1/account/{id}/merge" in document["paths"] and "/api/v1/account/{id}/unmerge" in document["paths"]
    viewer = api("vic", "/api/v1/openapi.json", method="GET").get_json()
    assert "/api/v1/account/{id}/merge" not in viewer["paths"]
