"""Global search never reads every match (issue 18 §6), on SQLite and PostgreSQL: past
``SEARCH_CAP`` matches an object's count reads "N+" (in English and Chinese) on the results
page, in the top bar's JSON and in ``GET /api/v1/search`` (``count_capped``), and the ranking
applies to the first ``SEARCH_CAP`` matches the database reads; under the cap nothing changes.
The cap is lowered to 5 here so that a handful of records passes it.
"""

from __future__ import annotations

import datetime as dt
import html

import pytest

from engine.runtime.records import search
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects:
      account: {read: all, edit: own, create: true}
"""

USERS = {"alice": {"roles": ["rep"]}, "wang": {"roles": ["rep"], "locale": "zh_CN"}}


@pytest.fixture
def crm(open_crm, clock, monkeypatch):
    monkeypatch.setattr(search, "SEARCH_CAP", 5)
    crm = open_crm(CONFIG, USERS)
    with crm.session("alice") as s:
        s.create("account", {"name": "Acme"})  # the oldest: the title equal to the text
        for n in range(7):
            clock.now += dt.timedelta(minutes=1)
            s.create("account", {"name": f"Acme branch {n}"})
        clock.now += dt.timedelta(minutes=1)
        s.create("account", {"name": "Zeta acme"})  # a match, not at the title's start
        s.create("account", {"name": "Solo"})
    return crm


def test_a_common_text_is_counted_up_to_the_cap_everywhere_and_a_rare_one_as_before(crm, monkeypatch):
    app = make_app(crm)
    client = client_for(app, "alice")
    page = html.unescape(text(client.get("/search?q=acme")))
    assert "More than 5 records match “acme” in 1 objects." in page
    assert 'Accounts <span class="menu-count">5+</span>' in page
    assert '<a href="/o/account?q=acme">Show all matches in the Accounts list</a>' in page
    # five of the matches, ranked among the first five the database read (which five: no order)
    titles = [line.split(">")[1].split("<")[0] for line in page.split('<li><a href="/o/account/')[1:]]
    assert len(set(titles)) == 5 and all("acme" in title.lower() for title in titles)

    chinese = html.unescape(text(client_for(app, "wang").get("/search?q=acme")))
    assert "在 1 个对象中找到超过 5 条匹配“acme”的记录。" in chinese and "在客户列表中查看全部匹配记录" in chinese
    assert '客户 <span class="menu-count">5+</span>' in chinese

    suggest = client.get("/search/suggest?q=acme").get_json()
    group = suggest["groups"][0]
    assert (group["count"], group["count_capped"], group["more"], suggest["count_capped"]) == ("5+", True, True, True)
    assert suggest["status"] == "More than 5 records match “acme” in 1 objects."

    secret, _ = create_token(crm, "alice", "alice's token")
    bearer = {"Authorization": f"Bearer {secret}"}
    body = client.get("/api/v1/search?q=acme", headers=bearer).get_json()
    assert [(g["total"], g["count_capped"], g["more"]) for g in body["data"]] == [(5, True, True)]
    assert (body["meta"]["total"], body["meta"]["count_capped"]) == (5, True)
    few = client.get("/api/v1/search?q=solo", headers=bearer).get_json()
    assert (few["meta"]["total"], few["meta"]["count_capped"], few["data"][0]["count_capped"]) == (1, False, False)

    # under the cap every match is ranked and counted: the title equal to the text comes first
    monkeypatch.setattr(search, "SEARCH_CAP", 20)
    body = client.get("/api/v1/search?q=acme&per_object=2", headers=bearer).get_json()
    assert [(g["total"], g["count_capped"]) for g in body["data"]] == [(9, False)]
    assert [r["title"] for r in body["data"][0]["records"]] == ["Acme", "Acme branch 6"]
    page = html.unescape(text(client.get("/search?q=acme")))
    assert "9 records match “acme” in 1 objects." in page and '<span class="menu-count">9</span>' in page
