"""A list page's frame is drawn once and filled per request (issue 18 §6, ``webui.ui.frames``): what a
user sees must never be an earlier request's. The rows, the pager, the bell, the CSRF token, the
language switch's way back and flashed messages are this request's; another user or language has
their own page; a new config draws the page again."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine import Trellis
from tests.webui.conftest import client_for, make_app, text, token

CONFIG = """
trellis: 1
settings: {languages: [en, zh]}
objects:
  deal:
    label: {en: Deal, zh: 商机}
    plural_label: {en: Deals, zh: 商机列表}
    title: "{name}"
    list: {columns: [name, stage]}
    fields:
      name: {type: text, required: true}
      stage:
        type: picklist
        label: {en: Stage, zh: 阶段}
        values: [open, won]
templates:
  new_deal:
    subject: "New deal: {{ record.name }}"
    body: "{{ record.name }}"
automations:
  - name: new_deal_notice
    object: deal
    on: created
    do: [{notify: {to: [owner], template: new_deal}}]
roles:
  rep:
    objects:
      deal: {read: own, edit: own, create: true}
"""
USERS = {"ann": {"roles": ["rep"]}, "bob": {"roles": ["rep"], "locale": "en_US"}}


@pytest.fixture
def crm(open_crm, clock):
    crm = open_crm(CONFIG, USERS)
    for user, name in (("ann", "Acme"), ("ann", "Globex"), ("bob", "Initech")):
        new_deal(crm, clock, user, name)
    return crm


@pytest.fixture
def app(crm):
    return make_app(crm)


def new_deal(crm, clock, user: str, name: str) -> int:
    clock.now += dt.timedelta(minutes=1)  # the newest first
    with crm.session(user) as s:
        return s.create("deal", {"name": name, "stage": "open"}).id


def read_all(crm) -> None:
    """Every notification read (those of the fixture's deals)."""
    with crm.session(None) as s:
        s.connection.exec_driver_sql("UPDATE sys_notifications SET read_at = created_at")


def rows(page: str) -> list[str]:
    return re.findall(r'<tr><td[^>]*><a href="/o/deal/\d+">([^<]*)</a>', page)


def pager(page: str) -> str:
    return re.search(r'<nav class="pager"[^>]*>\s*<span>([^<]*)</span>', page).group(1)


def bell(page: str) -> str:
    return re.search(r'<a class="bell[^"]*" href="/notifications" aria-label="([^"]+)"', page).group(1)


def test_the_next_request_shows_new_and_changed_records_and_the_bell(app, crm, clock):
    ann = client_for(app, "ann")
    read_all(crm)
    first = text(ann.get("/o/deal"))
    assert text(ann.get("/o/deal")) == first  # drawn, then from its frame: the same page
    assert rows(first) == ["Globex", "Acme"] and pager(first) == "2 records · Page 1 of 1"
    assert bell(first) == "Notifications: none unread"
    deal = new_deal(crm, clock, "ann", 'Zeta <b>&"')
    page = text(ann.get("/o/deal"))
    assert rows(page) == ["Zeta &lt;b&gt;&amp;&#34;", "Globex", "Acme"]
    assert pager(page) == "3 records · Page 1 of 1" and bell(page) == "Notifications: 1 unread"
    with crm.session("ann") as s:
        s.update("deal", deal, {"name": "Zeta renamed"})
    assert rows(text(ann.get("/o/deal")))[0] == "Zeta renamed"
    paged = text(ann.get("/o/deal?per_page=1&page=2"))
    assert rows(paged) == ["Globex"] and pager(paged) == "3 records · Page 2 of 3"
    assert (
        'href="/o/deal?page=1&amp;per_page=1" rel="prev"' in paged
        and 'href="/o/deal?page=3&amp;per_page=1" rel="next"' in paged
    )
    assert rows(text(ann.get("/o/deal?per_page=1&page=3"))) == ["Acme"]
    assert '<input type="hidden" name="next" value="/o/deal?per_page=1&amp;page=3">' in text(
        ann.get("/o/deal?per_page=1&page=3")
    )


def test_each_user_and_language_has_their_own_page(app, crm):
    ann, bob = client_for(app, "ann"), client_for(app, "bob")
    read_all(crm)  # the same bell for both
    for _ in range(2):
        ann_page, bob_page = text(ann.get("/o/deal")), text(bob.get("/o/deal"))
        assert rows(ann_page) == ["Globex", "Acme"] and '<span class="who">ann</span>' in ann_page
        assert rows(bob_page) == ["Initech"] and '<span class="who">bob</span>' in bob_page
    assert "<h1>Deals</h1>" in ann_page
    switched = ann.post("/lang", data={"csrf_token": token(ann_page), "lang": "zh", "next": "/o/deal?q=a"})
    assert switched.status_code == 302 and switched.headers["Location"] == "/o/deal?q=a"
    for _ in range(2):
        zh = text(ann.get("/o/deal"))
        assert "<h1>商机列表</h1>" in zh and '<html lang="zh-CN">' in zh and rows(zh) == ["Globex", "Acme"]
    assert "<h1>Deals</h1>" in text(bob.get("/o/deal"))


def test_the_csrf_token_is_the_sessions_and_a_post_from_the_page_works_with_its_flash(app):
    one, two = client_for(app, "ann"), client_for(app, "ann")
    one.get("/o/deal")
    page_one, page_two = text(one.get("/o/deal")), text(two.get("/o/deal"))
    assert token(page_one) != token(page_two)
    assert len(set(re.findall(r'name="csrf_token" value="([^"]+)"', page_one))) == 1
    refused = one.post("/o/deal/views", data={"csrf_token": token(page_two), "query": "stage=open", "name": "Open"})
    assert refused.status_code == 400
    saved = one.post("/o/deal/views", data={"csrf_token": token(page_one), "query": "stage=open", "name": "Open"})
    assert saved.status_code == 302
    flashed = text(one.get("/o/deal?stage=open"))
    assert '<div class="flash flash-info" role="status">The view was saved.</div>' in flashed
    again = text(one.get("/o/deal?stage=open"))
    assert "flash-info" not in again and 'aria-current="true">Open</a>' in again
    assert 'aria-current="true">Open</a>' in text(two.get("/o/deal?stage=open"))  # the other session too


def test_a_new_config_draws_its_own_pages(app, crm, db_url, write_config, clock):
    """A config is fixed for an app's life: a new one is a new app (``trellis apply``, then a restart),
    with its own frames, in the same process on the same database."""
    client = client_for(app, "ann")
    for _ in range(2):
        assert "<h1>Deals</h1>" in text(client.get("/o/deal"))
    changed = CONFIG.replace("plural_label: {en: Deals", "plural_label: {en: Bargains")
    new = Trellis.open(write_config(changed), db_url, clock=clock)
    try:
        new.apply()
        restarted = client_for(make_app(new), "ann")
        for _ in range(2):
            page = text(restarted.get("/o/deal"))
            assert "<h1>Bargains</h1>" in page and "<h1>Deals</h1>" not in page
            assert rows(page) == ["Globex", "Acme"]
    finally:
        new.close()
