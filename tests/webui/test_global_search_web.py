"""Global search over HTTP, on SQLite and PostgreSQL: the top bar's box on every page, the
results page (grouped by object, counts, "Show all N" to the object's list searched the same
way), the suggestions' JSON, and ``GET /api/v1/search`` with its 422 errors and its place in
the OpenAPI document. What the search finds is tested in tests/runtime/test_global_search.py.
"""

from __future__ import annotations

import html
import re

import pytest
from openapi_spec_validator import validate

from engine.runtime.records.query import MAX_SEARCH_LENGTH
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai, phone_region: CN}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      phone: {type: phone, label: {en: Phone, zh: 电话}}
      secret_note: {type: text}
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
  memo:
    title: "{subject}"
    fields:
      subject: {type: text}
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true}
      lead: {read: all}
    hidden: [account.secret_note]
"""

USERS = {"alice": {"roles": ["rep"]}, "bob": {"roles": ["rep"]}, "wang": {"roles": ["rep"], "locale": "zh_CN"}}


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, USERS)
    with crm.session("alice") as s:
        s.create("account", {"name": "Acme 华为", "phone": "13800138000"})
        for n in range(11):
            s.create("account", {"name": f"Acme branch {n:02d}"})
    with crm.session("bob") as s:
        s.create("account", {"name": "Acme of Bob"})
    with crm.session() as s:
        s.create("lead", {"name": "Acme lead"})
        s.create("memo", {"subject": "Acme memo"})
        s.update("account", 1, {"secret_note": "zebra"})
    return crm


@pytest.fixture
def app(crm):
    return make_app(crm)


def api(client, crm, user: str, query: str, **headers):
    secret, _ = create_token(crm, user, f"{user}'s token")
    return client.get(f"/api/v1/search?{query}", headers={"Authorization": f"Bearer {secret}", **headers})


def test_every_page_has_the_search_box_in_its_top_bar(login):
    page = text(login("alice").get("/o/lead"))
    assert re.search(r'<form class="topbar-search" role="search" method="get" action="/search"', page)
    assert 'aria-keyshortcuts="/"' in page and 'role="listbox"' in page and "search.js" in page


def test_the_results_page_groups_by_object_with_counts_and_links_to_the_list(login):
    client = login("alice")
    response = client.get("/search?q=acme")
    page = html.unescape(text(response))
    assert response.status_code == 200
    assert "13 records match “acme” in 2 objects." in page
    accounts = page[page.index('id="search-group-account"') : page.index('id="search-group-lead"')]
    assert re.search(r"Accounts <span class=\"menu-count\">12</span>", accounts)
    assert accounts.count('<li><a href="/o/account/') == 10  # the best ten
    assert '<a href="/o/account?q=acme">Show all 12 in the Accounts list</a>' in accounts
    assert "Acme of Bob" not in page and "memo" not in page.lower()  # bob's account; no grant on memo
    listed = text(client.get("/o/account?q=acme"))
    assert "12 records" in listed  # the list searched the same way shows the same N


def test_the_page_in_chinese_and_the_phone_that_matched(app, login):
    page = html.unescape(text(client_for(app, "wang").get("/search?q=acme")))
    assert "“acme”的搜索结果" in page and "找到 1 条匹配“acme”的记录。" in page  # wang owns no account
    assert '线索 <span class="menu-count">1</span>' in page and "在线索列表中查看" in page
    page = html.unescape(text(login("alice").get("/search?q=138 0013 8000")))
    assert '<span class="search-matched">Phone: +86 138 0013 8000</span>' in page


def test_a_hidden_field_is_not_searched_on_the_page(login):
    page = html.unescape(text(login("alice").get("/search?q=zebra")))
    assert "No records match “zebra”." in page and "Acme 华为" not in page


def test_a_text_too_short_is_a_422_page_that_says_why_and_no_text_is_the_form(login):
    client = login("alice")
    response = client.get("/search?q=a")
    assert response.status_code == 422
    assert "Type at least 2 characters to search (one Chinese character is enough)." in text(response)
    empty = client.get("/search")
    assert empty.status_code == 200 and 'id="search-page-q"' in text(empty)


def test_suggestions_are_json_for_the_top_bar(login):
    client = login("alice")
    body = client.get("/search/suggest?q=acme").get_json()
    assert [g["object"] for g in body["groups"]] == ["account", "lead"]
    accounts = body["groups"][0]
    assert (accounts["count"], len(accounts["hits"]), accounts["more"]) == ("12", 3, True)
    assert accounts["hits"][0]["url"].startswith("/o/account/") and accounts["list_url"] == "/o/account?q=acme"
    assert body["all_url"] == "/search?q=acme" and body["all_label"] == "All results for “acme”"
    refused = client.get("/search/suggest?q=x")
    assert refused.status_code == 422 and "at least 2 characters" in refused.get_json()["error"]


def test_the_api_returns_the_same_results_as_json(client, crm):
    response = api(client, crm, "alice", "q=acme&per_object=2")
    assert response.status_code == 200
    body = response.get_json()
    assert [(g["object"], g["total"], g["more"], len(g["records"])) for g in body["data"]] == [
        ("account", 12, True, 2),
        ("lead", 1, False, 1),
    ]
    first = body["data"][0]["records"][0]
    assert set(first) == {"id", "title", "matched", "record"} and "secret_note" not in first["record"]
    assert body["meta"] == {
        "q": "acme",
        "total": 13,
        "count_capped": False,
        "per_object": 2,
        "searched": ["account", "lead"],
    }
    phone = api(client, crm, "alice", "q=%2B86 138-0013-8000&objects=account").get_json()
    assert phone["data"][0]["records"][0]["matched"] == [
        {"field": "phone", "label": "Phone", "value": "+86 138 0013 8000"}
    ]


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ("q=", "q", "Type at least 2 characters"),
        ("q=" + "x" * (MAX_SEARCH_LENGTH + 1), "q", f"at most {MAX_SEARCH_LENGTH} characters"),
        ("q=acme&objects=memo", "objects", "There is no object 'memo' to search"),
        ("q=acme&per_object=0", "per_object", "per_object is a whole number from 1 to 20"),
    ],
)
def test_the_api_refuses_bad_parameters_with_a_clear_422(client, crm, query, parameter, message):
    response = api(client, crm, "alice", query)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "bad_search" and list(error["fields"]) == [parameter]
    assert message in error["fields"][parameter][0]["message"]


def test_the_api_speaks_chinese_and_is_in_the_openapi_document(client, crm):
    refused = api(client, crm, "alice", "q=x", **{"Accept-Language": "zh-CN"})
    assert refused.get_json()["error"]["fields"]["q"][0]["message"] == "请至少输入 2 个字符再搜索（一个汉字即可）。"
    secret, _ = create_token(crm, "alice", "docs")
    document = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {secret}"}).get_json()
    validate(document)
    operation = document["paths"]["/api/v1/search"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["q", "objects", "per_object"]
    assert "422" in operation["responses"]
