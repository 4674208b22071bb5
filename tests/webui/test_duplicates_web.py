"""Duplicate rules where records are entered (issue 14 §2), on SQLite and PostgreSQL: the REST
API answers 409 ``possible_duplicate`` with the candidates unless ``?allow_duplicate=true``, a block
rule is 422 whatever the caller asks; the web form lists the likely duplicates with "Save anyway";
another team's record is told by its owner only."""

from __future__ import annotations

import re

import pytest

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import post, text

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
    crm = open_crm(CONFIG, {"alice": {"roles": ["rep"], "display_name": "Alice Wu"}, "bob": {"roles": ["rep"]}})
    with crm.session("alice") as s:
        s.create("account", {"name": "上海云帆软件科技有限公司", "phone": "13800138000"})
    return crm


@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "t")[0] for name in ("alice", "bob")}

    def call(user, method, url, **kwargs):
        return client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, **kwargs)

    return call


def test_api_warns_with_409_and_the_candidates_then_writes_when_allowed(api):
    body = {"name": "云帆软件（上海）有限公司"}
    response = api("alice", "POST", "/api/v1/account", json=body)
    assert response.status_code == 409, response.json
    error = response.json["error"]
    assert error["code"] == "possible_duplicate"
    assert error["candidates"] == [
        {
            "rule": "same_company",
            "action": "warn",
            "id": 1,
            "title": "上海云帆软件科技有限公司",
            "owner": "Alice Wu",
            "score": 1.0,
            "matched": [{"field": "name", "label": "Name", "score": 1.0}],
        }
    ]
    assert api("alice", "POST", "/api/v1/account?allow_duplicate=true", json=body).status_code == 201
    created = api("alice", "POST", "/api/v1/account", json={"name": "Other"}).json
    patch = api("alice", "PATCH", f"/api/v1/account/{created['id']}", json={"name": "云帆软件", "version": 1})
    assert patch.status_code == 409 and patch.json["error"]["code"] == "possible_duplicate"
    bulk = {"records": [{"name": "Acme"}, {"name": "云帆软件集团"}]}
    items = api("alice", "POST", "/api/v1/account/bulk", json=bulk).json["data"]
    assert [i["status"] for i in items] == ["created", "error"]
    assert items[1]["error"]["code"] == "possible_duplicate" and items[1]["error"]["candidates"][0]["id"] == 1
    items = api("alice", "POST", "/api/v1/account/bulk?allow_duplicate=true", json=bulk).json["data"]
    assert [i["status"] for i in items] == ["created", "created"]
    bad = api("alice", "POST", "/api/v1/account?allow_duplicate=maybe", json=body)
    assert bad.status_code == 400 and "allow_duplicate" in bad.json["error"]["fields"]


def test_api_block_is_422_even_when_allowed_and_another_teams_record_shows_its_owner_only(api):
    response = api(
        "bob", "POST", "/api/v1/account?allow_duplicate=true", json={"name": "B", "phone": "+86 138 0013 8000"}
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert error["fields"]["_record"][0]["code"] == "duplicate_hidden"
    assert error["candidates"] == [
        {
            "rule": "same_phone",
            "action": "block",
            "id": None,
            "title": None,
            "owner": "Alice Wu",
            "score": 1.0,
            "matched": [],
        }
    ]
    assert "云帆" not in response.get_data(as_text=True)


def test_the_form_lists_the_likely_duplicates_and_saves_anyway(crm, login):
    client = login("alice")
    response = post(client, "/o/account/new", {"name": "云帆软件(上海)有限公司"})
    page = text(response)
    assert response.status_code == 409
    section = re.search(r'<section class="alert duplicates".*?</section>', page, re.S).group(0)
    assert 'href="/o/account/1"' in section and "上海云帆软件科技有限公司" in section
    assert "Alice Wu" in section and "<td>Name</td>" in section and "100%" in section
    assert 'name="allow_duplicate" value="1"' in page and "云帆软件(上海)有限公司" in page  # the input is kept
    saved = post(client, "/o/account/new", {"name": "云帆软件(上海)有限公司", "allow_duplicate": "1"})
    assert saved.status_code == 302


def test_the_form_offers_no_save_anyway_for_a_block_rule_in_chinese(crm, login):
    client = login("alice")
    post(client, "/lang", {"lang": "zh"}, form_url="/o/account/new")
    response = post(client, "/o/account/new", {"name": "Beta", "phone": "13800138000", "allow_duplicate": "1"})
    page = text(response)
    assert response.status_code == 422 and 'name="allow_duplicate"' not in page
    assert "已存在匹配的记录，不能保存" in page and "「上海云帆软件科技有限公司」已有相同的电话" in page
