"""Approvals in the web UI (webui/ui/approvals.py): the inbox with Approve / Reject (a
comment is required to reject) and Withdraw, the requester's view of the outcome, the
banner on the record page, the navigation badge, the "sent for approval" messages of the
edit form and of delete — and nobody sees the requests of records outside their scope.
"""

from __future__ import annotations

import re

import pytest

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
      region: {type: picklist, values: [east, west]}
    pipeline:
      stages:
        - initial_contact
        - needs_confirmed
        - {key: solution_demo, requires: [needs_analysis]}
        - {key: won, outcome: won}
      skip: {approval: manager}
approvals:
  - name: big_discount
    label: Big discount
    object: deal
    on: {change: [discount]}
    when: "discount > 20"
    steps:
      - {approver: manager, label: Sales manager}
      - {approver: {role: director}, label: Director}
  - name: delete_deal
    object: deal
    on: delete
    approver: {role: manager}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true, delete: own}}
  manager:
    label: Sales manager
    objects: {deal: {read: all, edit: all, create: true, delete: all}}
    permissions: [skip_stage, approve]
    hidden: [deal.region]
  director:
    label: Director
    objects: {deal: {read: all}}
    permissions: [approve]
  viewer:
    objects: {deal: {read: own}}
"""

USERS = {
    "max": {"roles": ["manager"], "display_name": "Max Ma"},
    "dina": {"roles": ["director"]},
    "rita": {"roles": ["rep"], "manager": "max"},
    "ron": {"roles": ["rep"], "manager": "max"},
    "vic": {"roles": ["viewer"]},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def deal(crm):
    with crm.session(user="rita") as session:
        return session.create("deal", {"name": "Acme", "region": "east"})


def edit(client, record, **values):
    url = f"/o/deal/{record.id}/edit"
    form = {"name": record["name"], "stage": record["stage"], "version": record.version, **values}
    return post(client, url, form)


def request_discount(app, deal, discount="30", **values):
    rita = client_for(app, "rita")
    response = edit(rita, deal, discount=discount, region=values.pop("region", "east"), **values)
    assert response.status_code == 302, text(response)
    return rita


def articles(page: str, prefix: str) -> dict[int, str]:
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(rf'<article class="approval" id="{prefix}(\d+)">(.*?)</article>', page, flags=re.S)
    }


def test_an_edit_that_needs_approval_says_so_and_changes_nothing(app, crm, deal):
    rita = request_discount(app, deal)
    page = text(rita.get(f"/o/deal/{deal.id}"))
    assert "Sent for approval to Max Ma; nothing changed yet." in page and "Saved." not in page
    with crm.session(user="rita") as session:
        assert session.get("deal", deal.id)["discount"] is None
    assert "Waiting for approval" in page
    assert 'Discount: <span class="empty-value">(empty)</span> → <ins>30.00%</ins>' in page
    assert re.search(r'<form method="post" action="/approvals/\d+/withdraw"', page)
    assert "/decide" not in page  # rita decides nothing


def test_the_inbox_shows_what_waits_and_approving_moves_it_on(app, crm, deal):
    request_discount(app, deal, region="west")
    max_ = client_for(app, "max")
    page = text(max_.get("/approvals"))
    waiting = articles(page, "approval-")
    assert len(waiting) == 1
    ((approval_id, item),) = waiting.items()
    assert f'<a href="/o/deal/{deal.id}">Acme</a>' in item
    assert "Requested by rita" in item and "Step 1 of 2: Big discount: Sales manager — Max Ma" in item
    assert 'Discount: <span class="empty-value">(empty)</span> → <ins>30.00%</ins>' in item
    assert "Region" not in item and "the value of 1 field you cannot see" in item  # hidden from managers
    assert f'<label for="comment-{approval_id}">Comment (required to reject)</label>' in item
    assert re.search(
        r'<a href="/approvals"[^>]*>Approvals <span class="badge"[^>]*><span class="vh">: </span>1</span>', page
    )
    response = post(
        max_, f"/approvals/{approval_id}/decide", {"decision": "approve", "comment": "ok"}, form_url="/approvals"
    )
    assert response.status_code == 302
    page = text(max_.get("/approvals"))
    assert "Approved; the request goes on to the next step." in page and articles(page, "approval-") == {}
    dina = client_for(app, "dina")
    page = text(dina.get("/approvals"))
    assert "Step 2 of 2: Big discount: Director — Director" in page
    assert "Big discount: Sales manager: approved by Max Ma — Comment: ok" in page
    post(dina, f"/approvals/{approval_id}/decide", {"decision": "approve"}, form_url="/approvals")
    assert "Approved; the change is applied." in text(dina.get("/approvals"))
    with crm.session(user="rita") as session:
        assert str(session.get("deal", deal.id)["discount"]) in ("30", "30.00", "30.0")


def test_reject_needs_a_comment_beside_the_box_and_the_requester_sees_it(app, crm, deal):
    rita = request_discount(app, deal)
    max_ = client_for(app, "max")
    approval_id = next(iter(articles(text(max_.get("/approvals")), "approval-")))
    refused = post(
        max_, f"/approvals/{approval_id}/decide", {"decision": "reject", "comment": " "}, form_url="/approvals"
    )
    assert refused.status_code == 422
    item = articles(text(refused), "approval-")[approval_id]
    assert 'aria-invalid="true"' in item
    assert re.search(rf'<div class="field-error" role="alert" id="comment-{approval_id}-error">Say why', item)
    post(
        max_,
        f"/approvals/{approval_id}/decide",
        {"decision": "reject", "comment": "Too much for a pilot"},
        form_url="/approvals",
    )
    page = text(rita.get("/approvals"))
    mine = articles(page, "my-approval-")[approval_id]
    assert "Rejected" in mine and "Too much for a pilot" in mine and "Withdraw" not in mine
    assert "Waiting for you" not in page  # rita may not approve
    with crm.session(user="rita") as session:
        assert session.get("deal", deal.id)["discount"] is None


def test_the_requester_withdraws_a_pending_request(app, deal):
    rita = request_discount(app, deal)
    page = text(rita.get("/approvals"))
    ((approval_id, item),) = articles(page, "my-approval-").items()
    assert "Waiting for approval" in item and "Withdraw" in item
    response = post(rita, f"/approvals/{approval_id}/withdraw", {}, form_url="/approvals")
    assert response.status_code == 302
    page = text(rita.get("/approvals"))
    assert "The request was withdrawn." in page and "Withdrawn" in articles(page, "my-approval-")[approval_id]
    assert "Waiting for approval" not in text(rita.get(f"/o/deal/{deal.id}"))


def test_the_record_banner_lets_the_approver_decide_there(app, crm, deal):
    request_discount(app, deal)
    max_ = client_for(app, "max")
    url = f"/o/deal/{deal.id}"
    page = text(max_.get(url))
    assert 'id="approvals"' in page and '<label for="banner-comment-' in page
    approval_id = int(re.search(r'action="/approvals/(\d+)/decide"', page).group(1))
    no_comment = post(max_, f"/approvals/{approval_id}/decide", {"decision": "reject", "next": url}, form_url=url)
    assert no_comment.status_code == 302 and no_comment.headers["Location"].endswith(url)
    assert "Say why you reject the request." in text(max_.get(url))
    post(max_, f"/approvals/{approval_id}/decide", {"decision": "reject", "comment": "No", "next": url}, form_url=url)
    page = text(max_.get(url))
    assert "Rejected; the requester sees your comment." in page and 'id="approvals"' not in page


def test_a_delete_that_needs_approval_keeps_the_record(app, crm, deal):
    rita = client_for(app, "rita")
    url = f"/o/deal/{deal.id}"
    response = post(rita, f"{url}/delete", {"version": deal.version}, form_url=url)
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    page = text(rita.get(url))
    assert "Sent for approval to Sales manager; nothing changed yet." in page
    assert "Delete this record" in page
    with crm.session(user="rita") as session:
        assert session.get("deal", deal.id)["name"] == "Acme"


def test_nobody_sees_the_requests_of_records_outside_their_scope(app, crm, deal):
    rita = request_discount(app, deal)
    approval_id = next(iter(articles(text(rita.get("/approvals")), "my-approval-")))
    ron = client_for(app, "ron")
    page = text(ron.get("/approvals"))
    assert "Acme" not in page and articles(page, "my-approval-") == {} and "Waiting for you" not in page
    response = post(ron, f"/approvals/{approval_id}/withdraw", {}, form_url="/approvals")
    assert response.status_code == 404
    response = post(ron, f"/approvals/{approval_id}/decide", {"decision": "approve"}, form_url="/approvals")
    assert response.status_code == 404
    # rita cannot decide her own request, even by forging the form
    forged = post(rita, f"/approvals/{approval_id}/decide", {"decision": "approve"}, form_url="/approvals")
    assert forged.status_code == 302
    assert "approve permission" in text(rita.get("/approvals"))


def test_the_navigation_link_is_for_approvers_and_requesters(app, deal):
    assert ">Approvals" in text(client_for(app, "max").get("/o/deal"))  # may approve, nothing waits
    assert 'class="badge"' not in text(client_for(app, "max").get("/o/deal"))
    assert ">Approvals" not in text(client_for(app, "vic").get("/o/deal"))
    rita = client_for(app, "rita")
    assert ">Approvals" not in text(rita.get("/o/deal"))
    request_discount(app, deal)
    page = text(rita.get("/o/deal"))
    assert ">Approvals" in page and 'class="badge"' not in page


def test_approvals_pages_speak_chinese(app, deal):
    request_discount(app, deal)
    max_ = client_for(app, "max")
    post(max_, "/lang", {"lang": "zh"}, form_url="/approvals")
    page = text(max_.get("/approvals"))
    assert "待我审批" in page and "批准" in page and "驳回" in page and "审批意见（驳回时必填）" in page
