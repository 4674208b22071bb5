"""What approvals, pipelines and rule messages must not let through (issue 11), seen
through the REST API and the web UI: approvals on creates, a pipeline switch that
skips stages, separation of duties between steps, hidden fields in requests and in
rule messages, requests of deleted records.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import pytest

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, post, text

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, locale: en_US}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      needs_analysis: {type: textarea}
      discount: {type: percent}
      price: {type: currency}
      floor_price: {type: currency}
      tier: {type: picklist, values: [normal, key]}
      signatory: {type: text}
      deal_type: {type: picklist, values: [new_business, renewal], default: new_business}
    rules:
      - name: price_above_floor
        assert: "price >= floor_price"
        field: price
        message: "The price must not be below the floor price."
    pipeline:
      by: deal_type
      stages:
        - initial_contact
        - needs_confirmed
        - {key: solution_demo, requires: [needs_analysis]}
        - {key: won, outcome: won}
        - {key: lost, outcome: lost}
      pipelines:
        renewal:
          when: [renewal]
          stages:
            - renewal_due
            - renewal_quote
            - {key: contract_signed, outcome: won, requires: [signatory]}
            - {key: churned, outcome: lost}
      skip: {approval: manager}
approvals:
  - name: big_discount
    label: Big discount
    object: deal
    on: {change: [discount, floor_price]}
    when: "discount > 20"
    steps:
      - {approver: manager, label: Sales manager}
      - {approver: {role: director}, label: Director}
  - name: key_tier
    object: deal
    on: {change: [tier]}
    when: "tier == 'key'"
    applies_to: update
    approver: manager
  - name: delete_deal
    object: deal
    on: delete
    approver: {role: director}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true, delete: own}}
    hidden: [deal.floor_price]
  manager:
    label: Sales manager
    objects: {deal: {read: all, edit: all, create: true, delete: all}}
    permissions: [skip_stage, approve]
    hidden: [deal.floor_price]
  director:
    label: Director
    objects: {deal: {read: all}}
    permissions: [approve]
  pricing:
    objects: {deal: {read: all, edit: all}}
"""

USERS = {
    "mona": {"roles": ["manager"], "display_name": "Mona Mu"},
    "max": {"roles": ["manager", "director"], "display_name": "Max Ma", "manager": "mona"},
    "dina": {"roles": ["director"]},
    "rita": {"roles": ["rep"], "manager": "max"},
    "ron": {"roles": ["rep"], "manager": "max"},
    "pia": {"roles": ["pricing"], "manager": "mona"},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def api(app, crm):
    client = app.test_client()
    tokens = {name: create_token(crm, name, "test")[0] for name in USERS}

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


def test_nobody_decides_two_steps_of_one_request(api, app):
    deal = new_deal(api)
    asked = patch(api, "rita", deal, discount=30)
    assert asked.status_code == 202, asked.get_json()
    approval = asked.get_json()["approval"]
    first = api("max", "POST", f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "ok"})
    assert first.status_code == 200 and first.get_json()["step"] == 1
    # max also holds the director role of step 2, but decided step 1: not offered, refused.
    assert api("max", "GET", "/api/v1/approvals").get_json()["data"] == []
    max_page = text(client_for(app, "max").get("/approvals"))
    assert f'action="/approvals/{approval["id"]}/decide"' not in max_page
    second = api("max", "POST", f"/api/v1/approvals/{approval['id']}/approve", json={})
    assert second.status_code == 403
    assert second.get_json()["error"]["message"] == (
        f"You decided an earlier step of request {approval['id']}; another approver must decide this one."
    )
    assert api("rita", "GET", f"/api/v1/deal/{deal['id']}").get_json()["discount"] is None
    # another director decides it
    assert [r["id"] for r in api("dina", "GET", "/api/v1/approvals").get_json()["data"]] == [approval["id"]]
    done = api("dina", "POST", f"/api/v1/approvals/{approval['id']}/approve", json={})
    assert done.get_json()["status"] == "approved"


def test_approvers_never_see_pending_values_of_fields_hidden_from_them(api, app, crm):
    deal = new_deal(api)
    asked = patch(api, "pia", deal, discount=30, floor_price="77777.00")
    assert asked.status_code == 202, asked.get_json()
    approval_id = asked.get_json()["approval"]["id"]
    for box in (
        api("mona", "GET", "/api/v1/approvals").get_json()["data"][0],
        api("mona", "GET", f"/api/v1/approvals/{approval_id}").get_json(),
        api("rita", "GET", f"/api/v1/approvals/{approval_id}").get_json(),
    ):
        assert box["changes"] == {"discount": 30} and box["hidden_changes"] == 1, box
    assert api("pia", "GET", f"/api/v1/approvals/{approval_id}").get_json()["changes"]["floor_price"] == "77777.00"
    assert "77,777" in text(client_for(app, "pia").get("/approvals"))
    mona = client_for(app, "mona")
    for page in (text(mona.get("/approvals")), text(mona.get(f"/o/deal/{deal['id']}"))):
        assert "77777" not in page and "77,777" not in page and "the value of 1 field you cannot see" in page


def test_requests_of_a_deleted_record_stay_inside_its_scope(api, crm):
    deal = new_deal(api)
    approval_id = patch(api, "rita", deal, discount=30).get_json()["approval"]["id"]
    assert api("ron", "GET", f"/api/v1/approvals/{approval_id}").status_code == 404
    with crm.session() as system:
        system.delete("deal", deal["id"])
    assert api("ron", "GET", f"/api/v1/approvals/{approval_id}").status_code == 404
    assert api("ron", "POST", f"/api/v1/approvals/{approval_id}/approve").status_code == 404
    assert api("rita", "GET", f"/api/v1/approvals/{approval_id}").status_code == 200  # her own request
    assert api("dina", "GET", f"/api/v1/approvals/{approval_id}").status_code == 200  # reads all deals


def test_a_pipeline_switch_enters_the_new_pipeline_at_its_first_stage(api):
    deal = new_deal(api)
    jump = patch(api, "rita", deal, deal_type="renewal", stage="contract_signed", signatory="Li Lei")
    assert jump.status_code == 403, jump.get_json()  # a skip, and rita may not skip
    assert jump.get_json()["error"]["message"].startswith("Moving from Renewal due to Contract signed skips 1 stage")
    approved_jump = patch(
        api,
        "max",
        deal,
        deal_type="renewal",
        stage="contract_signed",
        signatory="Li Lei",
        stage_reason="Signed at the fair",
    )
    assert approved_jump.status_code == 202, approved_jump.get_json()  # the skip waits for approval
    assert approved_jump.get_json()["approval"]["rules"] == ["deal_stage_skip"]
    locked = patch(api, "rita", deal, deal_type="renewal")
    assert (
        locked.status_code == 422 and locked.get_json()["error"]["fields"]["deal_type"][0]["code"] == "approval_pending"
    )  # the switch waits with the skip request
    other = new_deal(api, user="ron")
    entered = patch(api, "ron", other, deal_type="renewal")
    assert entered.status_code == 200 and entered.get_json()["stage"] == "renewal_due", entered.get_json()
    assert patch(api, "ron", other, stage="renewal_quote").status_code == 200
    gated = patch(api, "ron", other, stage="contract_signed")
    assert (
        gated.status_code == 422 and gated.get_json()["error"]["fields"]["signatory"][0]["code"] == "required_for_stage"
    )
    back = patch(api, "ron", other, deal_type="new_business", stage="won")
    assert back.status_code == 403, back.get_json()  # back to the main pipeline: at its first stage again


def test_a_rule_over_a_hidden_field_answers_without_revealing_it(api, app):
    deal = new_deal(api, price="9000.00")
    assert patch(api, "pia", deal, floor_price="5123.00").status_code == 200
    for price in ("5122.99", "100.00"):
        refused = patch(api, "rita", deal, price=price)
        assert refused.status_code == 422
        assert refused.get_json()["error"]["fields"] == {
            "price": [
                {
                    "code": "rule:price_above_floor",
                    "message": "This change is not allowed by a company rule (price_above_floor).",
                }
            ]
        }
    assert patch(api, "rita", deal, price="5123.00").status_code == 200
    # Whoever may read the floor price gets the rule's own message.
    told = patch(api, "pia", deal, price="100.00").get_json()["error"]["fields"]["price"][0]["message"]
    assert told == "The price must not be below the floor price."
    rita = client_for(app, "rita")
    post(rita, "/lang", {"lang": "zh"}, form_url="/o/deal")
    current = api("rita", "GET", f"/api/v1/deal/{deal['id']}").get_json()
    page = post(
        rita,
        f"/o/deal/{deal['id']}/edit",
        {
            "name": "Acme",
            "stage": current["stage"],
            "price": "100",
            "deal_type": "new_business",
            "version": current["version"],
        },
    )
    assert page.status_code == 422
    assert "此更改不符合公司规则（price_above_floor），无法保存。" in text(page)
    assert [w for w in ("5123", "5,123", "Floor price", "below the floor") if w in text(page)] == []


def test_a_create_with_guarded_values_waits_for_approval(api, app, crm):
    asked = api("rita", "POST", "/api/v1/deal", json={"name": "Big one", "discount": 45})
    assert asked.status_code == 202, asked.get_json()
    approval = asked.get_json()["approval"]
    assert approval["action"] == "create" and approval["changes"] == {"name": "Big one", "discount": 45}
    assert api("rita", "GET", "/api/v1/deal").get_json()["data"] == []  # nothing created yet
    assert api("ron", "GET", f"/api/v1/approvals/{approval['id']}").status_code == 404  # not ron's to see
    assert [r["id"] for r in api("max", "GET", "/api/v1/approvals").get_json()["data"]] == [approval["id"]]
    api("max", "POST", f"/api/v1/approvals/{approval['id']}/approve", json={})
    done = api("dina", "POST", f"/api/v1/approvals/{approval['id']}/approve", json={}).get_json()
    assert done["status"] == "approved" and done["record_id"] > 0, done
    created = api("rita", "GET", f"/api/v1/deal/{done['record_id']}").get_json()
    assert created["discount"] == "45.00" and created["name"] == "Big one" and created["stage"] == "initial_contact"
    # `applies_to: update`: a key tier is free at creation, not later.
    keyed = new_deal(api, tier="key")
    assert patch(api, "rita", keyed, tier="normal").status_code == 200
    assert patch(api, "rita", keyed, tier="key").status_code == 202
    # The web form tells the user the record awaits approval.
    rita = client_for(app, "rita")
    sent = post(rita, "/o/deal/new", {"name": "Form deal", "discount": "30", "deal_type": "new_business"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/approvals"), text(sent)
    page = text(rita.get("/approvals"))
    assert "The new record awaits approval by Max Ma; it is created once approved." in page
    assert "Create this record" in page and "Form deal" in page
