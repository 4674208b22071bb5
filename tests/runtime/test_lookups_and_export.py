"""Lookup titles and exports under permissions (S31, S34)."""

from __future__ import annotations

import pytest

from engine import PermissionDenied, Trellis
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  account:
    title: "{name} ({city})"
    fields:
      name: {type: text, required: true}
      city: {type: text}
      revenue: {type: currency}
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account}
roles:
  rep:
    objects:
      deal: {read: all, edit: own, create: true}
      account: {read: own}
  rep_with_titles:
    inherits: rep
    lookup_titles: true
    hidden: [account.city]
  manager:
    objects: {"*": {read: all, export: true}}
"""


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        for name, role in (("rita", "rep"), ("tom", "rep_with_titles"), ("mia", "manager")):
            d.add(name, roles=[role])
    with crm.session() as s:
        acme = s.create("account", {"name": "Acme", "city": "Shanghai"})
        s.create("deal", {"name": "Acme renewal", "account": acme.id})
    yield crm
    crm.close()


def account_title(crm, user):
    with crm.session(user) as s:
        deal = s.query("deal").first()
        return deal["account"], s.titles("account", [deal["account"]])


def test_a_readable_target_shows_its_title(crm):
    assert account_title(crm, "mia")[1] == {1: "Acme (Shanghai)"}


def test_an_unreadable_target_shows_its_id_but_no_title(crm):
    account_id, titles = account_title(crm, "rita")
    assert account_id == 1 and titles == {}


def test_lookup_titles_shows_the_title_without_hidden_parts(crm):
    assert account_title(crm, "tom")[1] == {1: "Acme ()"}


def test_export_needs_the_export_grant(crm):
    with crm.session("rita") as s, pytest.raises(PermissionDenied, match="may not export"):
        s.export("deal")


def test_export_is_written_to_the_access_log(crm):
    with crm.session("mia", channel="web") as s:
        assert [r["name"] for r in s.export("deal")] == ["Acme renewal"]
    with crm.engine.connect() as conn:
        log = crm.schema.system["sys_access_log"]
        rows = conn.execute(log.select()).mappings().all()
    assert [(r["username"], r["action"], r["object"], r["channel"], r["detail"]) for r in rows] == [
        ("mia", "export", "deal", "web", {"records": 1})
    ]
