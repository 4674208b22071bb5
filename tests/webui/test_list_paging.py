"""List pages and the REST list on large tables, through Flask's test client (SQLite and PostgreSQL).

Past the count limit the web pager says "3+ records" and drops the link to the
last page, and the API's ``meta`` says ``total_exact: false``; below it
nothing changes. A lookup filter is named by its record's title in the filter
sentence, or by ``#id`` for a user who may not see that record. The limit is
made tiny here instead of inserting 10,000 rows.
"""

from __future__ import annotations

import re

import pytest

from engine.runtime.records import query as query_module
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import make_app, text
from webui.i18n import Formatter
from webui.ui import listing

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai, currency: CNY}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, label: {en: Account, zh: 客户}}
roles:
  rep:
    objects:
      lead: {read: all, edit: all, create: true}
  manager:
    objects:
      "*": {read: all, edit: all, delete: all, create: true}
"""
USERS = {"rita": {"roles": ["rep"]}, "mia": {"roles": ["manager"]}, "zhou": {"roles": ["manager"], "locale": "zh_CN"}}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def accounts(crm):
    """Five leads of Acme Corp, none of Globex."""
    with crm.session() as s:
        acme = s.create("account", {"name": "Acme Corp"})
        globex = s.create("account", {"name": "Globex"})
        for i in range(5):
            s.create("lead", {"name": f"Lead {i}", "account": acme.id})
    return {"acme": acme.id, "globex": globex.id}


def pager(page: str) -> str:
    match = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    assert match, "the page has no pager"
    return re.sub(r"\s+", " ", match.group(0))


def sentence(page: str) -> str:
    match = re.search(r'<p class="sentence" role="status">(.*?)</p>', page, re.S)
    assert match, "the page shows no filter sentence"
    return match.group(1)


# --- the web pager ------------------------------------------------------------------------------------
def test_a_small_list_shows_its_exact_count_and_a_last_page_link(login, client, accounts, monkeypatch):
    monkeypatch.setattr(listing, "PER_PAGE", 2)
    login("mia")
    nav = pager(text(client.get("/o/lead")))
    assert "5 records · Page 1 of 3" in nav
    assert 'href="/o/lead?page=2" rel="next"' in nav and 'href="/o/lead?page=3" class="last"' in nav
    last = pager(text(client.get("/o/lead?page=3")))
    assert "Page 3 of 3" in last and 'rel="next"' not in last and 'class="last"' not in last


def test_past_the_count_limit_the_pager_says_more_and_has_no_last_page(login, client, accounts, monkeypatch):
    monkeypatch.setattr(listing, "PER_PAGE", 2)
    monkeypatch.setattr(query_module, "COUNT_LIMIT", 3)
    login("mia")
    nav = pager(text(client.get("/o/lead")))
    assert "3+ records · Page 1 <" in nav.replace("</span>", " <")
    assert 'rel="next"' in nav and 'class="last"' not in nav
    middle = pager(text(client.get("/o/lead?page=2")))
    assert "3+ records · Page 2" in middle and 'rel="prev"' in middle and 'rel="next"' in middle
    last = pager(text(client.get("/o/lead?page=3")))  # the last page knows the total
    assert "5 records · Page 3 of 3" in last and 'rel="next"' not in last


def test_the_capped_count_in_chinese(login, client, accounts, monkeypatch):
    monkeypatch.setattr(listing, "PER_PAGE", 2)
    monkeypatch.setattr(query_module, "COUNT_LIMIT", 3)
    login("zhou")
    assert "超过 3 条记录 · 第 1 页" in pager(text(client.get("/o/lead")))


def test_large_counts_have_thousands_separators(crm):
    capped = query_module.Page(items=[], total=10_000, page=1, per_page=25, total_exact=False, more=True)
    exact = query_module.Page(items=[], total=12_345, page=2, per_page=25)
    fmt = Formatter.for_language("en", crm.config.settings)
    assert listing.pager_texts(capped, fmt) == ("10,000+ records", "Page 1")
    assert listing.pager_texts(exact, fmt) == ("12,345 records", "Page 2 of 494")


# --- a search is not counted past its page (issue 18 §6) ----------------------------------------------------
def shown(page: str) -> list[str]:
    """The lead names in the list's rows, in order."""
    return re.findall(r">(Lead \d)<", page)


def test_bigsearch_the_list_search_says_more_without_counting(crm, login, client, accounts, monkeypatch):
    """Counting every match costs seconds at 10,000,000 records: while more matches follow, the
    pager says "2+ records · Page 1" (as past the count limit) and links the next page only;
    the pages hold the search's rows in the list's order, and the last one knows the total."""
    monkeypatch.setattr(listing, "PER_PAGE", 2)
    login("mia")
    pages = [text(client.get(f"/o/lead?q=LEAD&page={number}")) for number in (1, 2, 3)]
    first, middle, last = (pager(page).replace("</span>", " <") for page in pages)
    assert "2+ records · Page 1 <" in first and 'rel="next"' in first and 'class="last"' not in first
    assert "4+ records · Page 2 <" in middle and 'rel="prev"' in middle and 'rel="next"' in middle
    assert "5 records · Page 3 of 3" in last and 'rel="next"' not in last
    with crm.session("mia") as s:
        everything = [r["name"] for r in s.query("lead").search("LEAD").order_by("-created_at").all()]
    assert [name for page in pages for name in shown(page)] == everything and len(everything) == 5
    assert "1 record · Page 1 of 1" in pager(text(client.get("/o/lead?q=lead 3")))  # one page: exact


def test_bigsearch_the_uncounted_search_in_chinese(login, client, accounts, monkeypatch):
    monkeypatch.setattr(listing, "PER_PAGE", 2)
    login("zhou")
    assert "超过 2 条记录 · 第 1 页" in pager(text(client.get("/o/lead?q=lead")))


# --- the REST list ------------------------------------------------------------------------------------
def test_the_api_meta_says_when_the_total_is_not_exact(crm, client, accounts, monkeypatch):
    secret, _ = create_token(crm, "mia", "test")
    headers = {"Authorization": f"Bearer {secret}"}
    exact = client.get("/api/v1/lead?per_page=2", headers=headers).get_json()["meta"]
    assert exact == {"page": 1, "per_page": 2, "total": 5, "pages": 3}
    monkeypatch.setattr(query_module, "COUNT_LIMIT", 3)
    capped = client.get("/api/v1/lead?per_page=2", headers=headers).get_json()["meta"]
    assert capped == {"page": 1, "per_page": 2, "total": 3, "pages": 2, "total_exact": False, "has_next": True}
    last = client.get("/api/v1/lead?per_page=2&page=3", headers=headers).get_json()
    assert len(last["data"]) == 1 and last["meta"] == {"page": 3, "per_page": 2, "total": 5, "pages": 3}


def test_the_openapi_page_meta_documents_total_exact(crm, client):
    secret, _ = create_token(crm, "mia", "test")
    document = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {secret}"}).get_json()
    meta = document["components"]["schemas"]["PageMeta"]
    assert meta["properties"]["total_exact"]["type"] == "boolean" and "total_exact" not in meta["required"]


# --- lookup filters in the sentence ---------------------------------------------------------------------
def test_a_lookup_filter_is_named_by_the_records_title(login, client, accounts):
    login("mia")
    assert sentence(text(client.get(f"/o/lead?account={accounts['acme']}"))) == "Showing: Account is Acme Corp"
    # also when no record on the page points at it
    assert sentence(text(client.get(f"/o/lead?account={accounts['globex']}"))) == "Showing: Account is Globex"
    both = f"/o/lead?account__in={accounts['acme']},{accounts['globex']}"
    assert sentence(text(client.get(both))) == "Showing: Account in Acme Corp, Globex"


def test_a_lookup_filter_stays_an_id_for_a_user_who_may_not_see_the_record(login, client, accounts):
    login("rita")  # reads leads, not accounts
    page = text(client.get(f"/o/lead?account={accounts['acme']}"))
    assert sentence(page) == f"Showing: Account is #{accounts['acme']}"
    assert "Acme Corp" not in page


def test_a_lookup_filter_in_chinese(login, client, accounts):
    login("zhou")
    assert sentence(text(client.get(f"/o/lead?account={accounts['acme']}"))) == "当前筛选：客户为Acme Corp"
