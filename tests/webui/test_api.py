"""The REST API (/api/v1) through Flask's test client, on SQLite and PostgreSQL.

Every route, every error status, tokens, and the permission matrix through the
API: no out-of-scope record and no hidden field in any answer.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from engine import Trellis
from engine.runtime.records.query import MAX_PER_PAGE
from engine.runtime.security.tokens import create_token, revoke_token
from tests.webui.conftest import START
from webui import create_app

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true, max_length: 100}
      company: {type: text}
      amount: {type: currency}
      stage:
        type: picklist
        values:
          - {key: new, label: {en: New, zh: 新}}
          - {key: quote, label: {en: Quote, zh: 报价}}
          - {key: won, label: {en: Won, zh: 赢单}}
      close_date: {type: date}
      met_at: {type: datetime}
      score: {type: integer}
      tags: {type: tags}
      account: {type: lookup, object: account}
      secret_note: {type: textarea}
roles:
  rep:
    objects:
      lead: {read: own, edit: own, delete: own, create: true}
      account: {read: all}
    hidden: [lead.secret_note]
    read_only: [lead.score]
  viewer:
    objects:
      lead: {read: all}
  manager:
    objects:
      "*": {read: team, edit: team, delete: team, create: true}
  office_rep:
    inherits: rep
    ip_allowlist: [10.0.0.0/8]
"""

USERS = {
    "alice": {"roles": ["rep"], "team": "east"},
    "bob": {"roles": ["rep"], "team": "east"},
    "dave": {"roles": ["rep"], "team": "west"},
    "carol": {"roles": ["viewer"]},
    "mia": {"roles": ["manager"], "team": "east"},
    "otto": {"roles": ["office_rep"]},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, teams=["east", "west"], passwords=False)


@pytest.fixture
def tokens(crm) -> dict[str, str]:
    return {
        name: create_token(crm, name, f"{name}'s token")[0] for name in ("alice", "bob", "dave", "carol", "mia", "otto")
    }


@pytest.fixture
def api(client, tokens):
    """``api(user, method, url, **kwargs)``: a request with the user's bearer token."""

    def call(user: str | None, method: str, url: str, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {tokens[user]}"
        response = client.open(url, method=method, headers=headers, **kwargs)
        assert response.mimetype == "application/json" or response.status_code == 204, response.data
        assert b"Traceback" not in response.data and b"<html" not in response.data.lower()
        return response

    return call


@pytest.fixture
def leads(api):
    """Alice has three leads, Bob one, Dave (another team) one."""
    made = {}
    for user, name, amount, stage in (
        ("alice", "Acme", "1200.50", "quote"),
        ("alice", "Globex", "300", "new"),
        ("alice", "Initech", "5000", "won"),
        ("bob", "Hooli", "2500", "quote"),
        ("dave", "Umbrella", "9000", "quote"),
    ):
        response = api(user, "POST", "/api/v1/lead", json={"name": name, "amount": amount, "stage": stage})
        assert response.status_code == 201, response.get_json()
        made[name] = response.get_json()
    return made


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields", "request_id"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [r["name"] for r in response.get_json()["data"]]


# --- authentication and tokens -------------------------------------------------------
def test_a_request_without_a_token_is_401_with_a_bearer_challenge(api):
    response = api(None, "GET", "/api/v1/lead")
    error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer trl_not-a-real-token", "Bearer nonsense", "Basic YWxpY2U6cHc=", "Bearer"])
def test_an_unknown_or_malformed_token_is_401(api, header):
    response = api(None, "GET", "/api/v1/lead", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working_at_once(api, crm, tokens):
    assert api("alice", "GET", "/api/v1/lead").status_code == 200
    revoke_token(crm, 1)
    response = api("alice", "GET", "/api/v1/lead")
    assert "revoked" in error(response, 401, "invalid_token")["message"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401(client, crm, clock):
    secret, _ = create_token(crm, "alice", expires_at=dt.date(2026, 3, 5))
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/lead", headers=headers).status_code == 200
    clock.now = dt.datetime(2026, 3, 5, 0, 0, 1, tzinfo=dt.UTC)
    response = client.get("/api/v1/lead", headers=headers)
    assert "expired" in error(response, 401, "invalid_token")["message"]


def test_a_disabled_user_s_token_is_401(api, crm):
    with crm.directory() as d:
        d.disable("alice")
    assert "disabled" in error(api("alice", "GET", "/api/v1/lead"), 401, "account_unavailable")["message"]


def test_an_expired_account_s_token_is_401(api, crm, clock):
    with crm.directory() as d:
        d.edit("alice", expires_at="2026-03-03")
    assert api("alice", "GET", "/api/v1/lead").status_code == 200
    clock.now = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    assert "expired" in error(api("alice", "GET", "/api/v1/lead"), 401, "account_unavailable")["message"]


def test_a_token_obeys_its_roles_network_allow_list(api):
    assert "not allowed" in error(api("otto", "GET", "/api/v1/lead"), 403, "forbidden")["message"]


def test_the_token_records_when_it_was_last_used(api, crm, clock):
    api("alice", "GET", "/api/v1/lead")
    with crm.engine.connect() as conn:
        used = conn.execute(
            sa.select(crm.schema.system["sys_tokens"].c.last_used_at).where(crm.schema.system["sys_tokens"].c.id == 1)
        ).scalar()
    assert used == START


def test_writes_through_the_api_are_audited_as_the_token_s_user_on_the_api_channel(api, crm, leads):
    with crm.engine.connect() as conn:
        audit = crm.schema.system["sys_audit"]
        rows = conn.execute(
            sa.select(audit.c.username, audit.c.channel, audit.c.action)
            .where(audit.c.object == "lead")
            .order_by(audit.c.id)
        ).all()
    assert rows[0] == ("alice", "api", "create")


# --- list: scope, filters, search, sort, paging ------------------------------------------
def test_the_list_has_data_and_paging_meta(api, leads):
    body = api("alice", "GET", "/api/v1/lead").get_json()
    assert body["meta"] == {"page": 1, "per_page": 50, "total": 3, "pages": 1}
    assert [r["name"] for r in body["data"]] == ["Acme", "Globex", "Initech"]


def test_a_rep_lists_only_their_own_records(api, leads):
    assert names(api("bob", "GET", "/api/v1/lead")) == ["Hooli"]
    assert names(api("carol", "GET", "/api/v1/lead")) == ["Acme", "Globex", "Initech", "Hooli", "Umbrella"]


def test_owner_me_team_and_id(api, leads, crm):
    assert names(api("mia", "GET", "/api/v1/lead?owner=team")) == ["Acme", "Globex", "Initech", "Hooli"]
    assert names(api("mia", "GET", "/api/v1/lead?owner=me")) == []
    assert names(api("carol", "GET", "/api/v1/lead?owner=me")) == []
    bob = leads["Hooli"]["owner_id"]
    assert names(api("carol", "GET", f"/api/v1/lead?owner={bob}")) == ["Hooli"]
    assert names(api("alice", "GET", "/api/v1/lead?owner=me&stage=quote")) == ["Acme"]
    error(api("alice", "GET", "/api/v1/lead?owner=someone"), 400, "bad_query")


def test_filters_with_operators(api, leads):
    assert names(api("carol", "GET", "/api/v1/lead?stage=quote&amount__gte=2000")) == ["Hooli", "Umbrella"]
    assert names(api("carol", "GET", "/api/v1/lead?stage__in=new,won")) == ["Globex", "Initech"]
    assert names(api("carol", "GET", "/api/v1/lead?name__startswith=in")) == ["Initech"]
    assert names(api("carol", "GET", "/api/v1/lead?amount__lt=1200.50")) == ["Globex"]
    assert names(api("carol", "GET", "/api/v1/lead?close_date__isnull=true&stage=new")) == ["Globex"]


@pytest.mark.parametrize(
    "query",
    [
        "colour=red",  # unknown field
        "amount__near=3",  # unknown operator
        "amount__gte=lots",  # a value that does not fit
        "stage=quote&stage=won",  # a parameter given twice
        "q=%00",  # NUL, which PostgreSQL cannot compare
        "name__contains=a%00",
    ],
)
def test_a_bad_filter_is_400_with_a_message(api, leads, query):
    body = error(api("carol", "GET", f"/api/v1/lead?{query}"), 400, "bad_query")
    assert body["message"].endswith(".")


def test_a_hidden_field_cannot_be_filtered_or_sorted_on(api, leads):
    error(api("alice", "GET", "/api/v1/lead?secret_note=x"), 400, "bad_query")
    error(api("alice", "GET", "/api/v1/lead?sort=secret_note"), 400, "bad_query")
    assert api("mia", "GET", "/api/v1/lead?secret_note__isnull=true").status_code == 200


def test_search(api, leads):
    assert names(api("carol", "GET", "/api/v1/lead?q=glob")) == ["Globex"]
    assert names(api("alice", "GET", "/api/v1/lead?q=hooli")) == []


def test_sort(api, leads):
    assert names(api("alice", "GET", "/api/v1/lead?sort=-amount")) == ["Initech", "Acme", "Globex"]
    assert names(api("carol", "GET", "/api/v1/lead?sort=stage,-name")) == [
        "Globex",
        "Umbrella",
        "Hooli",
        "Acme",
        "Initech",
    ]
    error(api("alice", "GET", "/api/v1/lead?sort=nope"), 400, "bad_query")


def test_paging(api, leads):
    body = api("carol", "GET", "/api/v1/lead?per_page=2&page=2").get_json()
    assert [r["name"] for r in body["data"]] == ["Initech", "Hooli"]
    assert body["meta"] == {"page": 2, "per_page": 2, "total": 5, "pages": 3}
    assert api("carol", "GET", "/api/v1/lead?per_page=2&page=9").get_json()["data"] == []


@pytest.mark.parametrize("query", [f"per_page={MAX_PER_PAGE + 1}", "per_page=0", "page=0", "page=abc", "page=-1"])
def test_bad_paging_is_400(api, query):
    error(api("alice", "GET", f"/api/v1/lead?{query}"), 400, "bad_query")


def test_an_unknown_object_is_404(api):
    error(api("alice", "GET", "/api/v1/opportunity"), 404, "unknown_object")
    error(api("alice", "POST", "/api/v1/opportunity", json={"name": "x"}), 404, "unknown_object")


# --- records: values as JSON -----------------------------------------------------------------
def test_create_returns_201_the_record_and_its_location(api):
    response = api(
        "alice",
        "POST",
        "/api/v1/lead",
        json={
            "name": "Acme",
            "amount": "12345678901234.56",
            "close_date": "2026-04-30",
            "met_at": "2026-03-01T10:30:00+08:00",
            "tags": ["vip", "east"],
            "stage": "Quote",
        },
    )
    assert response.status_code == 201
    record = response.get_json()
    assert response.headers["Location"] == f"/api/v1/lead/{record['id']}"
    assert response.headers["ETag"] == '"1"'
    assert record["amount"] == "12345678901234.56"
    assert record["close_date"] == "2026-04-30"
    assert record["met_at"] == "2026-03-01T02:30:00Z"
    assert record["created_at"] == "2026-03-02T09:00:00Z"
    assert record["tags"] == ["vip", "east"] and record["stage"] == "quote"
    assert record["version"] == 1 and record["owner_id"] == record["created_by"]
    assert api("alice", "GET", response.headers["Location"]).get_json() == record


def test_json_numbers_reach_decimal_fields_exactly(api):
    record = api("alice", "POST", "/api/v1/lead", json={"name": "A", "amount": 0.1}).get_json()
    assert record["amount"] == "0.10"
    body = b'{"name": "B", "amount": 9999999999999999.99}'
    record = api("alice", "POST", "/api/v1/lead", data=body, content_type="application/json").get_json()
    assert record["amount"] == "9999999999999999.99"


def test_get_a_record_with_its_etag(api, leads):
    acme = leads["Acme"]
    response = api("alice", "GET", f"/api/v1/lead/{acme['id']}")
    assert response.status_code == 200 and response.get_json() == acme
    assert response.headers["ETag"] == '"1"'


@pytest.mark.parametrize("record_id", ["999", "abc", "0", "-1", "99999999999999999999999"])
def test_a_missing_record_is_404(api, leads, record_id):
    error(api("carol", "GET", f"/api/v1/lead/{record_id}"), 404, "not_found")


def test_another_rep_s_record_is_404_for_every_method(api, leads):
    hooli = leads["Hooli"]["id"]
    error(api("alice", "GET", f"/api/v1/lead/{hooli}"), 404, "not_found")
    error(api("alice", "PATCH", f"/api/v1/lead/{hooli}", json={"name": "x", "version": 1}), 404, "not_found")
    error(api("alice", "DELETE", f"/api/v1/lead/{hooli}"), 404, "not_found")
    assert api("bob", "GET", f"/api/v1/lead/{hooli}").get_json()["name"] == "Hooli"


def test_a_hidden_field_is_absent_from_list_get_and_write_answers(api, leads):
    acme = leads["Acme"]["id"]
    api("mia", "PATCH", f"/api/v1/lead/{acme}", json={"secret_note": "pays late", "version": 1})
    assert "secret_note" not in leads["Acme"]
    assert all("secret_note" not in r for r in api("alice", "GET", "/api/v1/lead").get_json()["data"])
    assert "secret_note" not in api("alice", "GET", f"/api/v1/lead/{acme}").get_json()
    assert (
        "secret_note"
        not in api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"company": "Acme Inc", "version": 2}).get_json()
    )
    assert api("mia", "GET", f"/api/v1/lead/{acme}").get_json()["secret_note"] == "pays late"
    assert "pays late" not in api("alice", "GET", "/api/v1/lead?q=pays").get_data(as_text=True)


def test_writing_a_hidden_field_is_422(api):
    body = error(api("alice", "POST", "/api/v1/lead", json={"name": "x", "secret_note": "y"}), 422, "validation_failed")
    assert body["fields"]["secret_note"][0]["code"] == "read_only"


# --- create errors ------------------------------------------------------------------------------
def test_an_invalid_record_is_422_with_every_field_error(api):
    body = error(
        api("alice", "POST", "/api/v1/lead", json={"stage": "lost", "amount": "lots", "colour": "red"}),
        422,
        "validation_failed",
    )
    assert body["fields"]["name"][0]["code"] == "required"
    assert body["fields"]["stage"][0]["code"] == "not_in_picklist"
    assert body["fields"]["amount"][0]["code"] == "invalid"
    assert body["fields"]["colour"][0]["code"] == "unknown_field"
    assert all(set(e) == {"code", "message"} for errs in body["fields"].values() for e in errs)
    assert names(api("carol", "GET", "/api/v1/lead")) == []


def test_a_lookup_to_an_unknown_record_is_422(api):
    body = error(api("alice", "POST", "/api/v1/lead", json={"name": "x", "account": 42}), 422, "validation_failed")
    assert body["fields"]["account"][0]["code"] == "not_found"


def test_create_without_the_right_is_403(api):
    error(api("carol", "POST", "/api/v1/lead", json={"name": "x"}), 403, "forbidden")


@pytest.mark.parametrize("body", [b"{bad json", b"", b'{"a": NaN}', b"[" * 100000])
def test_malformed_json_is_400(api, body):
    error(api("alice", "POST", "/api/v1/lead", data=body, content_type="application/json"), 400, "malformed_json")


@pytest.mark.parametrize("body", [b"[]", b'"name"', b"null", b"42"])
def test_a_body_that_is_not_an_object_is_400(api, body):
    error(api("alice", "POST", "/api/v1/lead", data=body, content_type="application/json"), 400, "bad_request")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(api, content_type):
    response = api("alice", "POST", "/api/v1/lead", data="name=x", content_type=content_type)
    error(response, 415, "unsupported_media_type")


def test_a_body_too_large_is_413(api):
    data = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    error(api("alice", "POST", "/api/v1/lead", data=data, content_type="application/json"), 413, "too_large")


# --- PATCH and versions ------------------------------------------------------------------------
def test_patch_with_the_version_in_the_body(api, leads):
    acme = leads["Acme"]["id"]
    response = api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won", "version": 1})
    assert response.status_code == 200
    assert response.get_json()["stage"] == "won" and response.get_json()["version"] == 2
    assert response.headers["ETag"] == '"2"'


def test_patch_with_if_match(api, leads):
    acme = leads["Acme"]["id"]
    response = api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200 and response.get_json()["version"] == 2
    response = api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "new"}, headers={"If-Match": 'W/"2"'})
    assert response.get_json()["version"] == 3


def test_a_stale_version_is_409_in_the_body_and_in_if_match(api, leads):
    acme = leads["Acme"]["id"]
    api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won", "version": 1})
    body = error(api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "new", "version": 1}), 409, "conflict")
    assert "version 2" in body["message"]
    error(
        api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "new"}, headers={"If-Match": '"1"'}),
        409,
        "conflict",
    )
    assert api("alice", "GET", f"/api/v1/lead/{acme}").get_json()["stage"] == "won"


def test_patch_without_a_version_is_428(api, leads):
    acme = leads["Acme"]["id"]
    body = error(api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won"}), 428, "precondition_required")
    assert "version" in body["fields"]
    assert api("alice", "GET", f"/api/v1/lead/{acme}").get_json()["stage"] == "quote"


def test_if_match_star_overwrites_whatever_version_is_stored(api, leads):
    acme = leads["Acme"]["id"]
    api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won", "version": 1})
    response = api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "new"}, headers={"If-Match": "*"})
    assert response.status_code == 200 and response.get_json()["version"] == 3


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"version": "one"}, {}),
        ({"version": 0}, {}),
        ({"version": True}, {}),
        ({}, {"If-Match": "abc"}),
        ({}, {"If-Match": '"1", "2"'}),
        ({"version": 1}, {"If-Match": '"2"'}),
    ],
)
def test_a_malformed_version_is_400(api, leads, body, headers):
    acme = leads["Acme"]["id"]
    error(
        api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won", **body}, headers=headers),
        400,
        "bad_request",
    )


def test_patching_a_read_only_field_is_422_with_the_field_error(api, leads):
    acme = leads["Acme"]["id"]
    body = error(
        api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"score": 5, "version": 1}), 422, "validation_failed"
    )
    assert body["fields"] == {"score": [{"code": "read_only", "message": "You may not change Score."}]}


def test_patch_without_the_edit_right_is_403(api, leads):
    acme = leads["Acme"]["id"]
    error(api("carol", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won", "version": 1}), 403, "forbidden")


def test_patch_needs_json(api, leads):
    acme = leads["Acme"]["id"]
    error(
        api("alice", "PATCH", f"/api/v1/lead/{acme}", data="stage=won", headers={"If-Match": '"1"'}),
        415,
        "unsupported_media_type",
    )


# --- DELETE --------------------------------------------------------------------------------------
def test_delete_is_204_and_the_record_is_gone(api, leads):
    acme = leads["Acme"]["id"]
    response = api("alice", "DELETE", f"/api/v1/lead/{acme}")
    assert response.status_code == 204 and response.data == b""
    error(api("alice", "GET", f"/api/v1/lead/{acme}"), 404, "not_found")


def test_delete_with_a_stale_if_match_is_409(api, leads):
    acme = leads["Acme"]["id"]
    api("alice", "PATCH", f"/api/v1/lead/{acme}", json={"stage": "won", "version": 1})
    error(api("alice", "DELETE", f"/api/v1/lead/{acme}", headers={"If-Match": '"1"'}), 409, "conflict")
    assert api("alice", "DELETE", f"/api/v1/lead/{acme}", headers={"If-Match": '"2"'}).status_code == 204


def test_delete_without_the_right_is_403(api, leads):
    error(api("carol", "DELETE", f"/api/v1/lead/{leads['Acme']['id']}"), 403, "forbidden")


def test_deleting_a_record_still_referred_to_is_422(api):
    account = api("mia", "POST", "/api/v1/account", json={"name": "Acme"}).get_json()
    api("mia", "POST", "/api/v1/lead", json={"name": "x", "account": account["id"]})
    body = error(api("mia", "DELETE", f"/api/v1/account/{account['id']}"), 422, "validation_failed")
    assert body["fields"]["_record"][0]["code"] == "in_use"


# --- routing errors, 500, rate limits ----------------------------------------------------------
def test_an_unknown_api_route_is_a_json_404(api):
    error(api("alice", "GET", "/api/v1/lead/1/notes"), 404, "not_found")
    error(api("alice", "GET", "/api/v2/lead"), 404, "not_found")


def test_a_wrong_method_is_405_with_allow(api, leads):
    response = api("alice", "PUT", f"/api/v1/lead/{leads['Acme']['id']}", json={})
    error(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]
    assert api("alice", "DELETE", "/api/v1/lead").status_code == 405
    assert api("alice", "POST", "/api/v1/meta/objects").status_code == 405


def test_an_unexpected_error_is_a_logged_json_500(api, monkeypatch, caplog):
    from engine.runtime.records.session import Session

    def broken(self, object_name):
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(Session, "query", broken)
    with caplog.at_level(logging.ERROR):
        response = api("alice", "GET", "/api/v1/lead")
    body = error(response, 500, "internal")
    assert "fire" not in body["message"]
    assert "the database caught fire" in caplog.text


def test_rate_limit_per_token_is_429_with_retry_after(crm, tokens):
    client = create_app(
        crm, test_config={"TRELLIS_API_RATE_LIMIT": "3 per minute", "TRELLIS_API_IP_RATE_LIMIT": "100 per minute"}
    ).test_client()
    alice, bob = ({"Authorization": f"Bearer {tokens[u]}"} for u in ("alice", "bob"))
    statuses = [client.get("/api/v1/lead", headers=alice).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/lead", headers=alice)
    error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/lead", headers=bob).status_code == 200  # another token has its own budget


def test_rate_limit_per_ip_counts_requests_without_a_token(crm, tokens):
    client = create_app(crm, test_config={"TRELLIS_API_IP_RATE_LIMIT": "2 per minute"}).test_client()
    assert [client.get("/api/v1/lead").status_code for _ in range(2)] == [401, 401]
    response = client.get("/api/v1/lead", headers={"Authorization": f"Bearer {tokens['alice']}"})
    error(response, 429, "rate_limited")
    assert "Retry-After" in response.headers
    other = client.get(
        "/api/v1/lead",
        headers={"Authorization": f"Bearer {tokens['alice']}"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other.status_code == 200


def test_rate_limit_headers_on_success(api):
    response = api("alice", "GET", "/api/v1/lead")
    assert response.headers["X-RateLimit-Limit"] == "600"
    assert int(response.headers["X-RateLimit-Remaining"]) < 600
    assert "Retry-After" not in response.headers


# --- meta and OpenAPI --------------------------------------------------------------------------
def meta(api, user: str) -> dict[str, dict]:
    response = api(user, "GET", "/api/v1/meta/objects")
    assert response.status_code == 200
    return {o["name"]: o for o in response.get_json()["data"]}


def test_meta_lists_the_objects_and_fields_the_caller_may_see(api):
    objects = meta(api, "alice")
    assert list(objects) == ["account", "lead"]
    lead = objects["lead"]
    fields = {f["name"]: f for f in lead["fields"]}
    assert "secret_note" not in fields
    assert lead["label"] == {"en": "Lead", "zh": "线索"}
    assert lead["permissions"] == {"read": "own", "create": True, "edit": "own", "delete": "own", "export": False}
    assert fields["name"] == {
        "name": "name",
        "type": "text",
        "label": {"en": "Name", "zh": "Name"},
        "required": True,
        "read_only": False,
        "max_length": 100,
    }
    assert fields["score"]["read_only"] is True
    assert fields["account"]["object"] == "account"
    assert fields["stage"]["values"][1] == {"key": "quote", "label": {"en": "Quote", "zh": "报价"}}
    assert list(meta(api, "carol")) == ["lead"]
    assert "secret_note" in {f["name"] for f in meta(api, "mia")["lead"]["fields"]}


def test_meta_needs_a_token(api):
    error(api(None, "GET", "/api/v1/meta/objects"), 401, "unauthorized")


def openapi(api, user: str) -> dict:
    response = api(user, "GET", "/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_is_a_valid_openapi_3_1_document_with_every_route(api):
    document = openapi(api, "mia")
    validate(document)
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths["/api/v1/lead"]) == {"get", "post"}
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/lead/{id}"])
    assert "/api/v1/meta/objects" in paths and "/api/v1/openapi.json" in paths
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert document["security"] == [{"bearerAuth": []}]
    error_schema = document["components"]["schemas"]["Error"]
    assert error_schema["properties"]["error"]["required"] == ["code", "message", "fields"]
    statuses = set(paths["/api/v1/lead/{id}"]["patch"]["responses"])
    assert {"200", "400", "401", "403", "404", "409", "415", "422", "428", "429"} <= statuses


def test_openapi_schemas_follow_the_field_types(api):
    schemas = openapi(api, "mia")["components"]["schemas"]
    lead = schemas["lead"]["properties"]
    assert lead["amount"]["type"] == ["string", "null"] and "pattern" in lead["amount"]
    assert lead["stage"]["enum"] == ["new", "quote", "won", None]
    assert lead["close_date"]["format"] == "date" and lead["met_at"]["format"] == "date-time"
    assert lead["score"]["type"] == ["integer", "null"]
    assert lead["tags"]["type"] == ["array", "null"]
    assert schemas["lead_create"]["required"] == ["name"]
    assert "version" in schemas["lead_update"]["properties"]


def test_openapi_reflects_the_caller(api):
    rep = openapi(api, "alice")
    validate(rep)
    schemas = rep["components"]["schemas"]
    assert "secret_note" not in schemas["lead"]["properties"]
    assert "secret_note" not in schemas["lead_create"]["properties"]
    assert "score" in schemas["lead"]["properties"] and "score" not in schemas["lead_create"]["properties"]
    assert "secret_note" not in str(rep)
    assert "/api/v1/account" in rep["paths"]
    viewer = openapi(api, "carol")
    assert "/api/v1/account" not in viewer["paths"] and "account" not in viewer["components"]["schemas"]


def test_openapi_needs_a_token(api):
    error(api(None, "GET", "/api/v1/openapi.json"), 401, "unauthorized")


# --- the app factory ----------------------------------------------------------------------------
def test_create_app_from_a_config_path(crm, write_config, db_url, tokens):
    app = create_app(crm.config.source_path, db_url)
    assert isinstance(app.extensions["trellis"], Trellis)
    response = app.test_client().get("/api/v1/lead", headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert response.status_code == 200
    app.extensions["trellis"].close()


def test_non_api_paths_keep_flask_s_own_errors(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_api_guide_documents_every_route_setting_and_error_code(app):
    from pathlib import Path

    from webui.api.errors import HTTP_CODES, STATUS

    guide = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule.replace("<object_name>", "<object>").replace("<record_id>", "<id>")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                assert f"`{method} {path}`" in guide, f"docs/api.md does not document {method} {path}"
    codes = set(HTTP_CODES.values()) | {cls.code for cls in STATUS} | {"malformed_json", "internal"}
    missing = sorted(code for code in codes if f"`{code}`" not in guide)
    assert not missing, f"error codes missing from docs/api.md: {missing}"
    for setting in ("TRELLIS_API_RATE_LIMIT", "TRELLIS_API_IP_RATE_LIMIT", "TRELLIS_RATELIMIT_STORAGE"):
        assert f"`{setting}`" in guide


def test_errors_speak_the_language_the_caller_asks_for(api, leads):
    """Accept-Language: zh-CN → the field errors and the conflict in Chinese (codes unchanged);
    without it, the user's locale decides (English here)."""
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    body = error(
        api("alice", "POST", "/api/v1/lead", headers=zh, json={"company": "x", "name": "n" * 101}),
        422,
        "validation_failed",
    )
    assert body["fields"]["name"] == [{"code": "too_long", "message": "最多 100 个字符。"}]
    body = error(api("alice", "POST", "/api/v1/lead", headers=zh, json={"company": "x"}), 422, "validation_failed")
    assert body["fields"]["name"] == [{"code": "required", "message": "此项为必填项。"}]
    body = error(api("alice", "POST", "/api/v1/lead", json={"company": "x"}), 422, "validation_failed")
    assert body["fields"]["name"][0]["message"] == "Name is required."
    acme = leads["Acme"]["id"]
    body = error(
        api("alice", "PATCH", f"/api/v1/lead/{acme}", headers=zh, json={"company": "y", "version": 99}), 409, "conflict"
    )
    assert "该记录已被他人修改" in body["message"]
