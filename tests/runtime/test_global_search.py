"""Global search on the read path (``engine.runtime.records.search``), on SQLite and PostgreSQL.

One text, every object the caller may read: grouped by object, inside each object's read
scope, never in a hidden or encrypted field, Chinese text by substring, phone numbers
however they are typed, exact and prefix title matches first, and clear errors for a text
too short or too long and for an object the caller may not search.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from engine import Trellis
from engine.runtime.records.query import MAX_SEARCH_LENGTH
from engine.runtime.records.search import BadSearch, search_everything
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, phone_region: CN, languages: [en, zh]}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      phone: {type: phone, label: {en: Phone, zh: 电话}}
      email: {type: email, label: {en: E-mail, zh: 邮箱}}
      margin_note: {type: text}
      id_number: {type: text, encrypted: true}
      tier:
        type: picklist
        values:
          - {key: gold, label: {en: Gold, zh: 金牌}}
  deal:
    label: {en: Deal, zh: 商机}
    title: "{name} · {tier}"
    fields:
      name: {type: text, required: true}
      tier:
        type: picklist
        values:
          - {key: gold, label: {en: Gold, zh: 金牌}}
  contact:
    title: "{contact_name}"
    fields:
      last_name: {type: text}
      first_name: {type: text}
      contact_name: {type: formula, expression: "full_name(first_name, last_name)", result: text}
  memo:
    title: "{subject}"
    fields:
      subject: {type: text}
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true}
      deal: {read: all}
      contact: {read: own, create: true}
    hidden: [account.margin_note]
"""


@pytest.fixture
def crm(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("sam", roles=["rep"])
    with crm.session("rita") as s:
        huawei = s.create(
            "account",
            {
                "name": "华为技术有限公司",
                "phone": "+86 138 0013 8000",
                "email": "li.lei@huawei.com",
                "id_number": "110101",
            },
        )
        s.create("account", {"name": "Acme 华为 partner"})
        s.create("account", {"name": "华为"})
        s.create("contact", {"last_name": "张", "first_name": "伟"})
        s.create("contact", {"last_name": "Zhang", "first_name": "Wei"})
    with crm.session() as s:
        s.update("account", huawei.id, {"margin_note": "zebra margin"})
        s.create("deal", {"name": "华为 renewal", "tier": "gold"})
        s.create("memo", {"subject": "华为 memo"})
    with crm.session("sam") as s:
        s.create("account", {"name": "Sam 华为 branch"})
    yield crm
    crm.close()


def _found(crm: Trellis, user: str | None, text: str, **options) -> dict[str, list[str]]:
    with crm.session(user) as s:
        results = search_everything(s, text, **options)
    return {group.obj.name: [hit.title for hit in group.hits] for group in results.groups}


def test_results_are_grouped_by_object_within_the_read_scope_best_first(crm):
    # rita reads her own accounts (not sam's), every deal, and no memo at all
    assert _found(crm, "rita", "华为") == {
        "account": ["华为", "华为技术有限公司", "Acme 华为 partner"],  # exact, prefix, then the rest
        "deal": ["华为 renewal · Gold"],  # the title as people read it: the picklist's label
    }
    everyone = _found(crm, None, "华为")
    assert set(everyone) == {"account", "deal", "memo"} and "Sam 华为 branch" in everyone["account"]


def test_a_few_per_object_with_the_total_and_whether_more_match(crm):
    with crm.session(None) as s:
        results = search_everything(s, "华为", per_object=2, language="zh")
    accounts = results.groups[0]
    assert (accounts.obj.name, len(accounts.hits), accounts.total, accounts.more) == ("account", 2, 4, True)
    assert results.total == 6
    assert [o.name for o in results.searched] == ["account", "deal", "contact", "memo"]
    assert _found(crm, None, "华为", objects=["deal"]) == {"deal": ["华为 renewal · Gold"]}


def test_a_hidden_field_is_not_searched_and_an_encrypted_one_never(crm):
    assert _found(crm, "rita", "zebra") == {}
    assert _found(crm, None, "zebra") == {"account": ["华为技术有限公司"]}
    assert _found(crm, None, "110101") == {}


@pytest.mark.parametrize("typed", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "0013 8000", "+8613800138000"])
def test_a_phone_number_is_found_however_it_is_typed(crm, typed):
    with crm.session("rita") as s:
        results = search_everything(s, typed, language="zh")
    (group,) = results.groups
    (hit,) = group.hits
    assert hit.title == "华为技术有限公司"
    assert [(f.name, value) for f, value in hit.matched] == [("phone", "+86 138 0013 8000")]


def test_a_name_held_by_a_text_formula_is_found_whole(crm):
    # the title is a formula joining two fields: 张伟 is in neither, but in the formula's stored value
    assert _found(crm, "rita", "张伟") == {"contact": ["张伟"]}
    assert _found(crm, "rita", "wei zhang") == {"contact": ["Wei Zhang"]}


def test_e_mail_addresses_and_case(crm):
    assert _found(crm, "rita", "LI.LEI@Huawei") == {"account": ["华为技术有限公司"]}
    assert _found(crm, "rita", "acme") == {"account": ["Acme 华为 partner"]}


@pytest.mark.parametrize(
    ("text", "parameter", "code"),
    [
        ("a", "q", "search_too_short"),
        ("  ", "q", "search_too_short"),
        ("x" * (MAX_SEARCH_LENGTH + 1), "q", "search_too_long"),
    ],
)
def test_a_text_too_short_or_too_long_is_refused_with_the_reason(crm, text, parameter, code):
    with crm.session("rita") as s, pytest.raises(BadSearch) as refused:
        search_everything(s, text)
    assert [e.code for e in refused.value.errors[parameter]] == [code]


def test_one_chinese_character_is_enough_and_an_unreadable_object_is_refused_as_unknown(crm):
    assert _found(crm, "rita", "华")["deal"] == ["华为 renewal · Gold"]
    with crm.session("rita") as s, pytest.raises(BadSearch) as refused:
        search_everything(s, "华为", objects=["memo"])
    (problem,) = refused.value.errors["objects"]
    assert problem.code == "search_unknown_object" and "'memo'" in problem.message
