"""``POST /api/v1/<object>/<id>/convert/<conversion>`` (S12) through Flask's test client,
on SQLite and PostgreSQL: the answer of every outcome, in the API's error format."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from engine.runtime.security.tokens import create_token
from tests.runtime.test_conversion import CONFIG
from tests.webui.conftest import make_app

USERS = {
    "alice": {"roles": ["rep"]},
    "bob": {"roles": ["rep"]},
    "asta": {"roles": ["assistant"]},
    "vera": {"roles": ["viewer"]},
}
URL = "/api/v1/lead/{id}/convert/lead_to_customer"


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, passwords=False)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def api(client, crm):
    """``api(user, method, url, **kwargs)``: a request with the user's bearer token."""
    tokens = {name: create_token(crm, name, "test")[0] for name in USERS}

    def call(user: str, method: str, url: str, headers: dict | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {tokens[user]}", **(headers or {})}
        response = client.open(url, method=method, headers=headers, **kwargs)
        assert response.mimetype == "application/json", response.data
        assert b"Traceback" not in response.data
        return response

    return call


#: A new lead is at version 1; every conversion says which version it converts.
V1 = {"If-Match": '"1"'}


def new_lead(api, user="alice", **values):
    values = {
        "name": "张伟",
        "company": "Acme",
        "phone": "+86 21 5555 0100",
        "mobile": "+86 138 0013 8000",
        "status": "qualified",
        **values,
    }
    response = api(user, "POST", "/api/v1/lead", json=values)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields", "request_id"}
    assert body["error"]["code"] == code, body
    return body["error"]


def total(api, object_name: str) -> int:
    return api("alice", "GET", f"/api/v1/{object_name}").get_json()["meta"]["total"]


def test_converting_answers_201_with_what_each_target_became(api):
    lead = new_lead(api)
    response = api("alice", "POST", URL.format(id=lead["id"]), json={"skip": ["opportunity"]}, headers=V1)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["conversion"] == "lead_to_customer"
    targets = body["targets"]
    assert list(targets) == ["account", "contact", "opportunity"]
    assert [t["outcome"] for t in targets.values()] == ["created", "created", "skipped"]
    assert targets["account"]["record"]["name"] == "Acme" and targets["account"]["object"] == "account"
    assert targets["contact"]["record"]["account"] == targets["account"]["id"]
    assert targets["opportunity"] == {"object": "opportunity", "outcome": "skipped", "id": None, "record": None}
    assert body["source"]["status"] == "converted"
    assert body["source"]["converted_contact"] == targets["contact"]["id"]
    assert response.headers["ETag"] == f'"{body["source"]["version"]}"'


def test_a_post_without_a_body_converts_every_target_and_links_a_matching_account(api):
    existing = api("alice", "POST", "/api/v1/account", json={"name": "Acme"}).get_json()
    lead = new_lead(api)
    response = api("alice", "POST", URL.format(id=lead["id"]), headers=V1)
    assert response.status_code == 201, response.get_json()
    targets = response.get_json()["targets"]
    assert (targets["account"]["outcome"], targets["account"]["id"]) == ("linked", existing["id"])
    assert targets["opportunity"]["record"]["name"] == "Acme – first deal"


def test_overrides_fill_what_the_mapping_leaves_empty(api):
    lead = new_lead(api, mobile=None)
    response = api(
        "alice",
        "POST",
        URL.format(id=lead["id"]),
        json={"overrides": {"contact": {"mobile": "+86 139 0000 0000"}}},
        headers=V1,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["targets"]["contact"]["record"]["mobile"] == "+8613900000000"


def test_validation_problems_are_422_per_target_and_field_and_nothing_is_kept(api):
    lead = new_lead(api, mobile=None)
    err = error(api("alice", "POST", URL.format(id=lead["id"]), json={}, headers=V1), 422, "validation_failed")
    assert err["fields"] == {
        "contact.mobile": [{"code": "rule:reachable", "message": "Give the contact's mobile number."}]
    }
    assert err["message"] == "The Lead was not converted: 1 problem."
    assert total(api, "account") == 0
    stored = api("alice", "GET", f"/api/v1/lead/{lead['id']}").get_json()
    assert stored["status"] == "qualified" and stored["version"] == 1


def test_an_unqualified_or_converted_lead_is_refused(api):
    lead = new_lead(api, status="new")
    err = error(api("alice", "POST", URL.format(id=lead["id"]), headers=V1), 422, "conversion_refused")
    assert err["fields"]["_record"][0]["code"] == "condition_not_met"
    lead = new_lead(api)
    assert api("alice", "POST", URL.format(id=lead["id"]), headers=V1).status_code == 201
    err = error(api("alice", "POST", URL.format(id=lead["id"]), headers={"If-Match": '"2"'}), 422, "conversion_refused")
    assert err["fields"]["_record"][0]["code"] == "already_converted"
    assert total(api, "account") == 1


def test_bad_choices_are_422_and_bad_bodies_400(api):
    lead = new_lead(api)
    err = error(
        api("alice", "POST", URL.format(id=lead["id"]), json={"skip": ["account"]}, headers=V1),
        422,
        "conversion_refused",
    )
    assert err["fields"]["skip"][0]["code"] == "not_optional"
    url = URL.format(id=lead["id"])
    error(api("alice", "POST", url, json={"skip": "opportunity"}, headers=V1), 400, "bad_request")
    error(api("alice", "POST", url, json={"overrides": {"contact": 5}}, headers=V1), 400, "bad_request")
    err = error(api("alice", "POST", url, json={"skipp": []}, headers=V1), 400, "bad_request")
    assert "skipp" in err["fields"]
    error(
        api("alice", "POST", URL.format(id=lead["id"]), data="skip", content_type="text/plain", headers=V1),
        415,
        "unsupported_media_type",
    )


def test_permissions_answer_403_and_404_as_elsewhere(api):
    lead = new_lead(api)
    error(api("bob", "POST", URL.format(id=lead["id"]), headers=V1), 404, "not_found")  # outside bob's scope
    error(api("vera", "POST", URL.format(id=lead["id"]), headers=V1), 403, "forbidden")  # may read, not change
    own = new_lead(api, user="asta")
    err = error(api("asta", "POST", URL.format(id=own["id"]), headers=V1), 403, "forbidden")
    assert "may not create Account" in err["message"]
    assert total(api, "account") == 0 and total(api, "contact") == 0


def test_unknown_conversions_objects_and_records_are_404(api):
    lead = new_lead(api)
    for url, code in (
        (f"/api/v1/lead/{lead['id']}/convert/lead_to_cash", "unknown_conversion"),
        (f"/api/v1/account/{lead['id']}/convert/lead_to_customer", "unknown_conversion"),
        (f"/api/v1/leed/{lead['id']}/convert/lead_to_customer", "unknown_object"),
    ):
        error(api("alice", "POST", url, headers=V1), 404, code)
    error(api("alice", "POST", URL.format(id=99999), headers=V1), 404, "not_found")


def test_a_stale_version_is_409_and_a_missing_one_428(api):
    lead = new_lead(api)
    err = error(
        api("alice", "POST", URL.format(id=lead["id"]), json={"skip": ["opportunity"]}), 428, "precondition_required"
    )
    assert list(err["fields"]) == ["version"]
    assert total(api, "account") == 0 and api("alice", "GET", f"/api/v1/lead/{lead['id']}").get_json()["version"] == 1
    error(api("alice", "POST", URL.format(id=lead["id"]), headers={"If-Match": '"7"'}), 409, "conflict")
    response = api("alice", "POST", URL.format(id=lead["id"]), json={"version": lead["version"]})
    assert response.status_code == 201, response.get_json()


def test_the_openapi_document_describes_the_conversion_to_those_who_may_use_it(api):
    document = api("alice", "GET", "/api/v1/openapi.json").get_json()
    validate(document)
    operation = document["paths"]["/api/v1/lead/{id}/convert/lead_to_customer"]["post"]
    assert operation["summary"] == "Convert lead"
    assert "opportunity (optional)" in operation["description"]
    assert set(operation["responses"]) >= {"201", "403", "404", "409", "422", "428"}
    assert "ConversionResult" in document["components"]["schemas"]
    viewer = api("vera", "GET", "/api/v1/openapi.json").get_json()
    assert not any("/convert/" in path for path in viewer["paths"])


def test_only_converting_sets_the_mark_and_links_and_a_converted_lead_is_read_only(api):
    err = error(
        api("alice", "POST", "/api/v1/lead", json={"name": "Li", "status": "converted"}), 422, "validation_failed"
    )
    assert err["fields"] == {
        "status": [{"code": "set_by_conversion", "message": "Status becomes Converted only by converting the record."}]
    }
    account = api("alice", "POST", "/api/v1/account", json={"name": "Other"}).get_json()
    lead = new_lead(api)
    err = error(
        api(
            "alice",
            "PATCH",
            f"/api/v1/lead/{lead['id']}",
            json={"converted_account": account["id"], "status": "converted", "version": 1},
        ),
        422,
        "validation_failed",
    )
    assert err["fields"]["converted_account"] == [
        {"code": "set_by_conversion", "message": "Converted account is set by converting the record, not by hand."}
    ]
    assert err["fields"]["status"][0]["code"] == "set_by_conversion"
    assert api("alice", "PATCH", f"/api/v1/lead/{lead['id']}", json={"status": "new", "version": 1}).status_code == 200
    assert (
        api("alice", "PATCH", f"/api/v1/lead/{lead['id']}", json={"status": "qualified", "version": 2}).status_code
        == 200
    )
    # the conversion sets them (it says which version it converts, like every edit: 428 without)
    assert api("alice", "POST", URL.format(id=lead["id"]), headers={"If-Match": '"3"'}).status_code == 201
    err = error(
        api("alice", "PATCH", f"/api/v1/lead/{lead['id']}", json={"name": "Renamed", "version": 4}),
        422,
        "converted_read_only",
    )
    assert err["fields"] == {
        "_record": [
            {"code": "converted", "message": "This Lead was converted (Convert lead) and can no longer be changed."}
        ]
    }
    assert api("alice", "GET", f"/api/v1/lead/{lead['id']}").get_json()["name"] == "张伟"
