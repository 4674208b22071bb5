"""The user directory as everyone reads it (``engine.runtime.security.users``), on SQLite and PostgreSQL.

Pickers, messages and the web layer's login checks read users through these functions
and run no SQL of their own (tests/test_architecture.py): names to show, the active users
a picker offers (searched, limited to the ids a caller may give records to), a user typed
by name, and what a web request needs of its logged-in user.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine import Trellis
from engine.runtime.security import users
from engine.runtime.security.users import MAX_SEARCH, LoginUser, Person
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  note:
    fields:
      text: {type: text}
roles:
  rep:
    objects:
      note: {read: own}
"""

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("alice", roles=["rep"], locale="zh_CN")
        d.add("bob", roles=["rep"], display_name="Bob Li")
        d.add("bobby", roles=["rep"], display_name="")
        d.add("carl", roles=["rep"], display_name="Bob Li")  # a display name two users share
        d.add("under_score", roles=["rep"], display_name="100% Sure")
        d.add("gone", roles=["rep"], display_name="Gone Away")
        d.disable("gone")
    yield crm
    crm.close()


def ids(crm: Trellis) -> dict[str, int]:
    with crm.directory() as d:
        return {user.username: user.id for user in d.list()}


def test_names_are_display_names_else_user_names(crm):
    known = ids(crm)
    with crm.session() as s:
        names = users.user_names(s, [known["bob"], known["bobby"], known["gone"], None, 9999])
    assert names == {known["bob"]: "Bob Li", known["bobby"]: "bobby", known["gone"]: "Gone Away"}


def test_pickers_offer_active_users_by_name_searched_and_limited(crm):
    known = ids(crm)
    with crm.session() as s:
        everyone = users.active_people(s)
        assert [p.username for p in everyone] == ["under_score", "alice", "bob", "carl", "bobby"]
        assert everyone[0] == Person(known["under_score"], "under_score", "100% Sure")
        assert users.count_active(s) == 5
        assert users.count_active(s, among=[known["alice"], known["gone"]]) == 1
        assert [p.username for p in users.active_people(s, "BOB")] == ["bob", "carl", "bobby"]
        assert [p.username for p in users.active_people(s, "bob", limit=1)] == ["bob"]
        assert [p.username for p in users.active_people(s, "bob", among=[known["carl"]])] == ["carl"]
        assert [p.username for p in users.active_people(s, "_")] == ["under_score"]  # no LIKE wildcards
        assert [p.username for p in users.active_people(s, "%")] == ["under_score"]
        assert users.active_people(s, "gone") == []
        assert users.active_people(s, "x" * (MAX_SEARCH + 50)) == []


def test_a_typed_name_finds_one_active_user_or_none(crm):
    known = ids(crm)
    with crm.session() as s:
        assert users.find_active(s, " ALICE ").id == known["alice"]
        assert users.find_active(s, "Bob Li") is None  # two users are shown so
        assert users.find_active(s, "Bob Li", among=[known["carl"]]).username == "carl"
        assert users.find_active(s, "bob").username == "bob"  # the user name wins
        assert users.find_active(s, "gone") is None and users.find_active(s, "  ") is None


def test_what_a_web_request_needs_of_its_user(crm):
    known = ids(crm)
    alice = users.login_user(crm, known["alice"])
    assert alice == LoginUser(known["alice"], "alice", "zh_CN", True, None, 0)
    assert alice.may_act(NOW)
    assert not users.login_user(crm, known["gone"]).may_act(NOW)
    assert users.login_user(crm, 9999) is None
    with crm.directory() as d:
        d.edit("alice", expires_at=NOW - dt.timedelta(days=1))
        d.sign_out("alice")
    alice = users.login_user(crm, known["alice"])
    assert not alice.may_act(NOW) and alice.session_generation == 1
    assert users.user_locale(crm, "alice") == "zh_CN"
    assert users.user_locale(crm, "bob") is None and users.user_locale(crm, "nobody") is None
