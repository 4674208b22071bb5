"""Record page and form sections from the config's ``layout``, through Flask's test
client, on SQLite and PostgreSQL (``TRELLIS_TEST_DATABASE_URL``)."""

from __future__ import annotations

import re

import pytest

from tests.webui.conftest import client_for, make_app, token

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    plural_label: {en: Deals, zh: 交易}
    title: "{name}"
    layout:
      sections:
        - label: {en: Money, zh: 金额信息}
          fields: [amount, secret_note]
          columns: 2
        - label: {en: Basics, zh: 基本信息}
          fields: [name, city]
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      city: {type: text, label: {en: City, zh: 城市}}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      secret_note: {type: text, label: {en: Secret note, zh: 机密备注}}
      notes: {type: textarea, label: {en: Notes, zh: 备注}}
  memo:
    fields:
      name: {type: text}
roles:
  rep:
    objects:
      "*": {read: all, edit: all, create: true}
    hidden: [deal.secret_note]
"""


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, {"alice": {"roles": ["rep"]}})
    with crm.session(user="alice") as s:
        deal = s.create("deal", {"name": "Acme deal", "city": "Hangzhou", "amount": 1200, "notes": "call back"})
        memo = s.create("memo", {"name": "Plain memo"})
    return crm, deal.id, memo.id


@pytest.fixture
def client(crm):
    return client_for(make_app(crm[0]), "alice")


def headings(page: str) -> list[str]:
    return re.findall(r'<h2 id="(?:section-[\w-]+|details)-h">([^<]+)</h2>', page)


def section_fields(page: str, key: str) -> list[str]:
    body = page.split(f'<section class="panel record-section" id="{key}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'id="field-([a-z_]+)"', body)


def test_record_page_shows_sections_in_order_with_other_last(crm, client):
    _, deal_id, _ = crm
    response = client.get(f"/o/deal/{deal_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert headings(page) == ["Money", "Basics", "Other"]
    assert section_fields(page, "section-1") == ["amount"]
    assert section_fields(page, "section-2") == ["name", "city"]
    assert section_fields(page, "section-other") == ["notes"]
    assert '<dl class="fields cols-2">' in page
    assert "Secret note" not in page and "field-secret_note" not in page
    assert "call back" in page and "Hangzhou" in page


def test_record_page_without_layout_keeps_one_details_section(crm, client):
    _, _, memo_id = crm
    page = client.get(f"/o/memo/{memo_id}").get_data(as_text=True)
    assert headings(page) == ["Details"]
    assert 'id="field-name"' in page and "Other" not in page


def test_forms_group_fields_into_sections(crm, client):
    _, deal_id, _ = crm
    for url in ("/o/deal/new", f"/o/deal/{deal_id}/edit"):
        page = client.get(url).get_data(as_text=True)
        legends = re.findall(r"<legend>([^<]+)</legend>", page)
        assert legends == ["Money", "Basics", "Other"], url
        assert page.index('id="f-amount"') < page.index('id="f-name"') < page.index('id="f-notes"')
        assert 'id="f-secret_note"' not in page


def test_section_labels_and_other_in_zh(crm, client):
    _, deal_id, _ = crm
    page = client.get(f"/o/deal/{deal_id}").get_data(as_text=True)
    client.post("/lang", data={"csrf_token": token(page), "lang": "zh", "next": f"/o/deal/{deal_id}"})
    page = client.get(f"/o/deal/{deal_id}").get_data(as_text=True)
    assert headings(page) == ["金额信息", "基本信息", "其他"]
