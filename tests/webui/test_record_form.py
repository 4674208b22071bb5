"""The record form through Flask's test client, on SQLite and PostgreSQL: every problem of a
save in one round (field errors and rules together) with a summary linking to each field,
the layout's two-column sections, and closing a record as lost asking for confirmation and
the lost reason — in the edit form and on the stage path."""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import post, text

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, languages: [en, zh]}
objects:
  deal:
    label: {en: Deal, zh: 商机}
    title: "{name}"
    layout:
      sections:
        - label: {en: Deal, zh: 商机信息}
          fields: [name, stage, amount, starts, ends]
          columns: 2
        - label: {en: Closing, zh: 关闭}
          fields: [lost_reason, notes]
    fields:
      name: {type: text, label: {en: Name, zh: 名称}, required: true}
      amount: {type: integer, label: {en: Amount, zh: 金额}, min: 0}
      starts: {type: date, label: {en: Starts, zh: 开始}}
      ends: {type: date, label: {en: Ends, zh: 结束}}
      lost_reason: {type: picklist, label: {en: Lost reason, zh: 输单原因}, values: [price, timing]}
      notes: {type: textarea, label: {en: Notes, zh: 备注}}
    pipeline:
      stages:
        - {key: talk, label: {en: Talking, zh: 洽谈}}
        - {key: offer, label: {en: Offer, zh: 报价}}
        - {key: won, label: {en: Won, zh: 赢单}, outcome: won}
        - {key: lost, label: {en: Lost, zh: 输单}, outcome: lost, requires: [lost_reason]}
    rules:
      - name: ends_after_start
        assert: "starts is None or ends is None or ends > starts"
        field: ends
        message: {en: The deal must end after it starts., zh: 结束日期必须晚于开始日期。}
roles:
  rep:
    objects:
      deal: {read: own, edit: own, create: true}
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"alice": {"roles": ["rep"]}})


def new_deal(crm, **values):
    with crm.session("alice") as s:
        return s.create("deal", {"name": "Gamma", **values})


def stored(crm, deal_id):
    with crm.session() as s:
        return s.get("deal", deal_id)


def summary(page: str) -> list[tuple[str, str]]:
    """The error summary's entries: (link target or "", text)."""
    match = re.search(r'<div class="alert error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert match, "no error summary"
    items = re.findall(r'<li>(?:<a href="#([^"]+)" data-focus="[^"]+">)?(.*?)(?:</a>)?</li>', match.group(1))
    return [(anchor, re.sub(r"\s+", " ", label)) for anchor, label in items]


def test_field_errors_and_rules_come_back_together_with_a_summary_linking_each_field(crm, login):
    client = login("alice")
    response = post(
        client,
        "/o/deal/new",
        {"name": "", "amount": "-5", "starts": "2026-05-10", "ends": "2026-05-01", "stage": "talk"},
    )
    assert response.status_code == 422
    page = text(response)
    assert summary(page) == [
        ("f-name", "Name: Name is required."),
        ("f-amount", "Amount: Must be at least 0."),
        ("f-ends", "Ends: The deal must end after it starts."),
    ]
    assert 'id="err-ends">The deal must end after it starts.</div>' in page  # and beside the field
    assert 'id="f-name"' in page and 'id="f-amount"' in page and 'id="f-ends"' in page  # the anchors exist
    with crm.session() as s:
        assert s.query("deal").count() == 0
    post(client, "/lang", {"lang": "zh"}, form_url="/o/deal/new")
    page = text(
        post(client, "/o/deal/new", {"name": "", "stage": "talk", "starts": "2026-05-10", "ends": "2026-05-01"})
    )
    assert "记录未保存，请修正以下问题：" in page and summary(page)[0] == ("f-name", "名称: 请填写名称。")
    assert summary(page)[1] == ("f-ends", "结束: 结束日期必须晚于开始日期。")  # the rule in the UI language


def test_the_layout_gives_two_columns_and_the_actions_stay_in_view(crm, login):
    page = text(login("alice").get("/o/deal/new"))
    assert re.search(r'<form method="post" action="/o/deal/new" class="record-form wide"', page)
    assert '<fieldset class="form-section cols-2" id="section-1">' in page
    assert '<fieldset class="form-section cols-1" id="section-2">' in page
    assert '<div class="actions form-actions">' in page and "/static/form.css" in page and "/static/form.js" in page
    assert 'data-lost-stages="lost" data-lost-asks="lost_reason"' in page
    assert "error-summary" not in page  # nothing to fix yet


def test_closing_as_lost_in_the_edit_form_asks_for_confirmation_and_the_reason(crm, login):
    deal = new_deal(crm)
    client = login("alice")
    url = f"/o/deal/{deal.id}/edit"
    response = post(client, url, {"version": "1", "name": "Gamma", "stage": "lost"})
    assert response.status_code == 422
    page = text(response)
    assert summary(page) == [
        ("f-stage", "Stage: This closes the record as lost (Lost). Give the reason, then save again to confirm."),
        ("f-lost_reason", "Lost reason: Lost reason is required to enter the stage Lost."),
    ]
    assert '<input type="hidden" name="confirm_lost" value="1">' in page
    assert stored(crm, deal.id)["stage"] == "talk"
    # the reason given but not confirmed: still asked, nothing saved
    response = post(client, url, {"version": "1", "name": "Gamma", "stage": "lost", "lost_reason": "price"})
    assert response.status_code == 422 and summary(text(response))[0][0] == "f-stage"
    assert stored(crm, deal.id)["stage"] == "talk"
    response = post(
        client, url, {"version": "1", "name": "Gamma", "stage": "lost", "lost_reason": "price", "confirm_lost": "1"}
    )
    assert response.status_code == 302
    assert (stored(crm, deal.id)["stage"], stored(crm, deal.id)["lost_reason"]) == ("lost", "price")


def test_closing_as_lost_on_the_stage_path_asks_for_confirmation_and_the_reason(crm, login):
    deal = new_deal(crm, lost_reason="timing")  # the reason is asked (and shown) even when filled in
    client = login("alice")
    url = f"/o/deal/{deal.id}/move"
    response = post(client, url, {"version": "1", "stage": "lost"}, form_url=f"/o/deal/{deal.id}")
    assert response.status_code == 422
    page = text(response)
    assert "This closes the record as lost (Lost). Give the reason and confirm." in page
    assert '<input type="hidden" name="confirm_lost" value="1">' in page
    assert re.search(r'<select id="f-lost_reason"[^>]*name="lost_reason">', page)
    assert '<option value="timing" selected>' in page and ">Close as Lost</button>" in page
    assert stored(crm, deal.id)["stage"] == "talk"
    asked = client.post(
        url,
        json={"stage": "lost", "version": 1},
        headers={
            "Accept": "application/json",
            "X-CSRFToken": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        },
    )
    body = asked.get_json()
    assert asked.status_code == 422 and body["error"]["code"] == "confirm_lost" and body["title"] == "Close as Lost?"
    assert 'name="confirm_lost"' in body["form_html"]
    response = post(
        client,
        url,
        {"version": "1", "stage": "lost", "lost_reason": "price", "confirm_lost": "1"},
        form_url=f"/o/deal/{deal.id}",
    )
    assert response.status_code == 302
    assert (stored(crm, deal.id)["stage"], stored(crm, deal.id)["lost_reason"]) == ("lost", "price")
