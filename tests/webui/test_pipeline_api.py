"""Stage gates, skips and approvals through the REST API: the same rules as the Python API,
answered with 422 (missing fields), 403 (no skip permission), 202 (waiting for approval).
"""

from __future__ import annotations

import pytest

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import make_app

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      needs_analysis: {type: textarea}
      discount: {type: percent}
    pipeline:
      stages:
        - initial_contact
        - needs_confirmed
        - {key: solution_demo, requires: [needs_analysis]}
        - {key: won, outcome: won}
      skip: {approval: manager}
approvals:
  - name: big_discount
    object: deal
    on: {change: [discount]}
    when: "discount > 20"
    approver: manager
  - name: delete_deal
    object: deal
    on: delete
    approver: {role: manager}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true, delete: own}}
  senior:
    objects: {deal: {read: own, edit: own, create: true}}
    permissions: [skip_stage]
  manager:
    objects: {deal: {read: all, edit: all, create: true, delete: all}}
    permissions: [skip_stage, approve]
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(
        CONFIG,
        {
            "max": {"roles": ["manager"]},
            "rita": {"roles": ["rep"], "manager": "max"},
            "sam": {"roles": ["senior"], "manager": "max"},
        },
    )


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "test")[0] for name in ("max", "rita", "sam")}

    def call(user, method, url, **kwargs):
        return client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs)

    return call


def new_deal(api, user="rita", **values):
    response = api(user, "POST", "/api/v1/deal", json={"name": "Acme", **values})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(api, user, deal, **values):
    current = api(user, "GET", f"/api/v1/deal/{deal['id']}").get_json()
    return api(user, "PATCH", f"/api/v1/deal/{deal['id']}", json={"version": current["version"], **values})


def test_a_gated_move_is_422_with_exactly_the_missing_fields(api):
    deal = new_deal(api)
    assert patch(api, "rita", deal, stage="needs_confirmed").status_code == 200
    response = patch(api, "rita", deal, stage="solution_demo")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "required_for_stage"
    assert error["fields"] == {
        "needs_analysis": [
            {"code": "required_for_stage", "message": "Needs analysis is required to enter the stage Solution demo."}
        ]
    }
    moved = patch(api, "rita", deal, stage="solution_demo", needs_analysis="SSO")
    assert moved.status_code == 200 and moved.get_json()["stage"] == "solution_demo"


def test_a_skip_without_the_permission_is_403(api):
    deal = new_deal(api, needs_analysis="SSO")
    response = patch(api, "rita", deal, stage="solution_demo", stage_reason="please")
    assert response.status_code == 403
    assert "skip_stage" in response.get_json()["error"]["message"]


def test_a_skip_with_the_permission_waits_for_approval_with_202(api):
    deal = new_deal(api, user="sam", needs_analysis="SSO")
    missing_reason = patch(api, "sam", deal, stage="solution_demo")
    assert missing_reason.status_code == 422
    assert missing_reason.get_json()["error"]["fields"]["stage_reason"][0]["code"] == "reason_required"
    response = patch(api, "sam", deal, stage="solution_demo", stage_reason="Workshop done")
    assert response.status_code == 202
    body = response.get_json()
    assert body["approval"]["status"] == "pending" and body["data"]["stage"] == "initial_contact"
    assert response.headers["Location"].endswith(f"/api/v1/approvals/{body['approval']['id']}")
    inbox = api("max", "GET", "/api/v1/approvals").get_json()["data"]
    assert [a["id"] for a in inbox] == [body["approval"]["id"]]
    assert api("sam", "GET", "/api/v1/approvals?box=mine").get_json()["data"][0]["reason"] == "Workshop done"
    locked = patch(api, "sam", deal, stage="needs_confirmed")
    assert locked.status_code == 422
    assert locked.get_json()["error"]["fields"]["stage"][0]["code"] == "approval_pending"
    denied = api("sam", "POST", f"/api/v1/approvals/{body['approval']['id']}/approve", json={})
    assert denied.status_code == 403
    decided = api("max", "POST", f"/api/v1/approvals/{body['approval']['id']}/approve", json={"comment": "fine"})
    assert decided.status_code == 200 and decided.get_json()["status"] == "approved"
    assert api("sam", "GET", f"/api/v1/deal/{deal['id']}").get_json()["stage"] == "solution_demo"


def test_reject_needs_a_comment_and_tells_the_requester(api):
    deal = new_deal(api)
    response = patch(api, "rita", deal, discount="30")
    approval = response.get_json()["approval"]
    no_comment = api("max", "POST", f"/api/v1/approvals/{approval['id']}/reject", json={})
    assert no_comment.status_code == 422
    assert no_comment.get_json()["error"]["fields"]["comment"][0]["code"] == "required"
    rejected = api("max", "POST", f"/api/v1/approvals/{approval['id']}/reject", json={"comment": "Too much"})
    assert rejected.get_json()["status"] == "rejected"
    mine = api("rita", "GET", f"/api/v1/approvals/{approval['id']}").get_json()
    assert mine["comment"] == "Too much" and mine["steps"][0]["decision"] == "rejected"
    assert api("rita", "GET", f"/api/v1/deal/{deal['id']}").get_json()["discount"] is None


def test_delete_waits_for_approval_with_202(api):
    deal = new_deal(api)
    response = api("rita", "DELETE", f"/api/v1/deal/{deal['id']}")
    assert response.status_code == 202
    approval = response.get_json()["approval"]
    assert approval["action"] == "delete"
    assert api("max", "POST", f"/api/v1/approvals/{approval['id']}/approve").get_json()["status"] == "approved"
    assert api("rita", "GET", f"/api/v1/deal/{deal['id']}").status_code == 404


def test_approvals_of_records_out_of_scope_are_404_and_bad_input_is_400(api):
    deal = new_deal(api, user="sam")
    approval = patch(api, "sam", deal, discount="50").get_json()["approval"]
    assert api("rita", "GET", f"/api/v1/approvals/{approval['id']}").status_code == 404
    assert api("rita", "POST", f"/api/v1/approvals/{approval['id']}/approve").status_code == 404
    assert api("max", "GET", "/api/v1/approvals/999").status_code == 404
    assert api("max", "GET", "/api/v1/approvals/abc").status_code == 404
    assert api("max", "GET", "/api/v1/approvals?box=everything").status_code == 400
    bad = api("max", "POST", f"/api/v1/approvals/{approval['id']}/approve", json={"comment": 5})
    assert bad.status_code == 400


def test_the_openapi_document_describes_approvals_and_the_stage_reason(api):
    document = api("max", "GET", "/api/v1/openapi.json").get_json()
    assert "/api/v1/approvals/{id}/approve" in document["paths"]
    assert "202" in document["paths"]["/api/v1/deal/{id}"]["patch"]["responses"]
    assert "stage_reason" in document["components"]["schemas"]["deal_update"]["properties"]
