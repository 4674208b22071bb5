"""A list page's per-request work cut further (issue 18 §6, fourth pass): what a user sees must not
change. The pager's count stays exact up to the count limit and says "N+" past it whichever
statement counted (``Query.count`` looks for the record past the limit first once a list's count
went past it: a hint, never a result); a role change takes effect on the next request although
the rights of each combination of roles are worked out once per config
(``permissions._role_rights``), and two configs in one process keep their own; filter options
and cells keep their escaping."""

from __future__ import annotations

import re

import pytest

from engine.metadata import load_config_text
from engine.runtime.records import query as query_module
from engine.runtime.security.permissions import UserGraph, principal_of
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh]}
objects:
  deal:
    title: "{name}"
    list: {columns: [name, stage, amount]}
    fields:
      name: {type: text, required: true}
      stage:
        type: picklist
        label: {en: Stage, zh: 阶段}
        values:
          - {key: open, label: {en: "R&D <open>", zh: "研发 & <进行>"}}
          - {key: won, label: {en: Won, zh: 赢单}}
      amount: {type: currency}
roles:
  rep:
    objects:
      deal: {read: own, edit: own, delete: own, create: true}
    hidden: [deal.amount]
  manager:
    objects:
      "*": {read: all, edit: all, delete: all, create: true}
"""
USERS = {
    "ann": {"roles": ["rep"], "locale": "en_US"},
    "bob": {"roles": ["rep"], "locale": "en_US"},
    "li": {"roles": ["manager"], "locale": "zh_CN"},
}
#: The count limit of these tests (``COUNT_LIMIT`` is 10,000): a few records go past it.
LIMIT = 10


@pytest.fixture
def limit(monkeypatch):
    monkeypatch.setattr(query_module, "COUNT_LIMIT", LIMIT)
    return LIMIT


def _pager(page: str) -> str:
    found = re.search(r'<nav class="pager"[^>]*>\s*<span>(.*?)</span>', page, re.S)
    assert found, page
    return found.group(1)


def _deals(crm, user: str, count: int, stage: str = "open") -> list[int]:
    with crm.session(user) as session:
        return [session.create("deal", {"name": f"{user} {i}", "stage": stage}).id for i in range(count)]


def test_listfast3_the_pager_counts_exactly_up_to_the_limit_and_says_more_past_it_request_after_request(
    open_crm, limit
):
    crm = open_crm(CONFIG, USERS)
    ids = _deals(crm, "ann", limit + 2)
    _deals(crm, "bob", 3, stage="won")
    app = make_app(crm)
    ann, li = client_for(app, "ann"), client_for(app, "li")
    for _ in range(3):  # the first request counts, the next ones look past the limit first
        assert _pager(text(ann.get("/o/deal?per_page=5"))) == "10+ records · Page 1"
        assert _pager(text(ann.get("/o/deal?stage=open&per_page=5"))) == "10+ records · Page 1"
        assert _pager(text(li.get("/o/deal?per_page=5"))) == "超过 10 条记录 · 第 1 页"
        assert _pager(text(li.get("/o/deal?stage=won&per_page=2"))) == "共 3 条记录 · 第 1 页，共 2 页"
    with crm.session("ann") as session:  # 12 → 9: the same lists count exactly again
        for record_id in ids[:3]:
            session.delete("deal", record_id)
    page = text(ann.get("/o/deal?per_page=5"))
    assert _pager(page) == "9 records · Page 1 of 2"
    assert 'class="last"' in page
    assert _pager(text(ann.get("/o/deal?stage=open&per_page=5"))) == "9 records · Page 1 of 2"
    assert _pager(text(li.get("/o/deal?per_page=5"))) == "超过 10 条记录 · 第 1 页"  # 12 of everyone's
    _deals(crm, "ann", 1)  # exactly the limit: still exact
    assert _pager(text(ann.get("/o/deal?per_page=5"))) == "10 records · Page 1 of 2"
    assert _pager(text(ann.get("/o/deal?per_page=5"))) == "10 records · Page 1 of 2"
    _deals(crm, "ann", 1)  # one past it
    assert _pager(text(ann.get("/o/deal?per_page=5"))) == "10+ records · Page 1"
    assert _pager(text(ann.get("/o/deal?stage=open&per_page=5"))) == "10+ records · Page 1"


def test_listfast3_a_role_change_takes_effect_on_the_next_request(open_crm):
    crm = open_crm(CONFIG, USERS)
    _deals(crm, "ann", 1)
    _deals(crm, "bob", 1)
    app = make_app(crm)
    ann = client_for(app, "ann")
    page = text(ann.get("/o/deal"))
    assert "ann 0" in page and "bob 0" not in page and ">Amount<" not in page
    for roles, sees_all in ((["manager"], True), (["rep"], False), (["rep", "manager"], True)):
        with crm.directory() as directory:  # another process, as far as the app knows
            directory.edit("ann", roles=roles)
        response = ann.get("/o/deal")  # a role change ends the user's sessions
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        ann = client_for(app, "ann")
        page = text(ann.get("/o/deal"))
        assert "ann 0" in page and ("bob 0" in page) is sees_all and (">Amount<" in page) is sees_all
    bobs = _deals(crm, "bob", 1)[0]
    assert ann.get(f"/o/deal/{bobs}").status_code == 200
    with crm.directory() as directory:
        directory.edit("ann", roles=["rep"])
    assert client_for(app, "ann").get(f"/o/deal/{bobs}").status_code == 404


def test_listfast3_two_configs_in_one_process_keep_their_own_rights_for_the_same_roles():
    strict = load_config_text(CONFIG)
    loose = load_config_text(CONFIG.replace("deal: {read: own, edit: own", "deal: {read: all, edit: own"))
    row = {"id": 7, "username": "ann", "roles": ["rep"], "team_id": None}
    graph = UserGraph({}, {}, {})
    for _ in range(2):  # worked out once per config, then found again
        assert principal_of(strict, row, graph).grant("deal").read == "own"
        assert principal_of(loose, row, graph).grant("deal").read == "all"
        assert not principal_of(strict, row, graph).can_see("deal", "amount")
    manager = principal_of(strict, {**row, "roles": ["manager", "rep"]}, graph)
    assert manager.grant("deal").read == "all" and manager.can_see("deal", "amount")
    assert manager.roles == ("manager", "rep")


def test_listfast3_filter_options_and_cells_keep_their_escaping_in_both_languages(open_crm):
    crm = open_crm(CONFIG, USERS)
    with crm.session("ann") as session:
        session.create("deal", {"name": "<b>\"Tom\" & 'Jerry'</b>", "stage": "open"})
    app = make_app(crm)
    ann, li = client_for(app, "ann"), client_for(app, "li")
    page = text(ann.get("/o/deal?stage=open"))
    assert (
        '<option value="">Any</option>\n    \n    <option value="open" selected>R&amp;D &lt;open&gt;</option>'
        '<option value="won">Won</option>'
    ) in page
    assert "&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt;</a></td>" in page
    assert '<td data-label="Stage">R&amp;D &lt;open&gt;</td>' in page
    page = text(li.get("/o/deal"))
    assert '<option value="open">研发 &amp; &lt;进行&gt;</option><option value="won">赢单</option>' in page
    assert '<td data-label="阶段">研发 &amp; &lt;进行&gt;</td>' in page


def test_listfast3_a_session_cookie_is_read_with_the_apps_secret_as_it_is_now(open_crm):
    crm = open_crm(CONFIG, USERS)
    first = make_app(crm, SECRET_KEY="first secret")
    ann = client_for(first, "ann")
    assert ann.get("/o/deal").status_code == 200
    cookie = ann.get_cookie("session")
    assert cookie is not None
    other = make_app(crm, SECRET_KEY="first secret").test_client()  # another process, the same secret
    other.set_cookie("session", cookie.value)
    assert other.get("/o/deal").status_code == 200
    first.secret_key = "second secret"  # rotated: the old cookie no longer opens a session…
    assert ann.get("/o/deal").status_code == 302
    first.config["SECRET_KEY_FALLBACKS"] = ["first secret"]  # …unless the old secret is a fallback
    again = first.test_client()
    again.set_cookie("session", cookie.value)
    assert again.get("/o/deal").status_code == 200
