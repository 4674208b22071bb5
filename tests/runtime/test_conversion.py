"""Lead conversion (S12) as a user sees it, on SQLite and PostgreSQL.

A qualified lead becomes an account, a contact and (optionally) an opportunity in
one transaction, through the one write path as the converting user: an existing
account they can see is linked, one they cannot see is never revealed, validation,
stage gates and permissions apply per target, any failure leaves nothing behind,
and a lead cannot be converted twice.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from engine import NotFound, PermissionDenied, Trellis
from engine.runtime.errors import Conflict
from engine.runtime.workflow.conversion import (
    ConversionFailed,
    ConversionRefused,
    UnknownConversion,
    available,
    plan,
)
from tests.conftest import CONFIGS, run_in_threads
from tests.templates import apply_fresh

NOW = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      industry: {type: picklist, values: [internet, retail]}
      phone: {type: phone}
      notes: {type: text}
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      mobile: {type: phone}
      account: {type: lookup, object: account, required: true}
    rules:
      - name: reachable
        assert: "mobile is not None"
        field: mobile
        message: Give the contact's mobile number.
  opportunity:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, required: true}
      contact: {type: lookup, object: contact}
      needs: {type: textarea}
    pipeline:
      stages:
        - {key: new}
        - {key: demo, requires: [needs]}
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      company: {type: text}
      industry: {type: picklist, values: [internet, retail]}
      phone: {type: phone}
      mobile: {type: phone}
      secret: {type: text}
      status: {type: picklist, values: [new, qualified, converted], default: new}
      converted_account: {type: lookup, object: account}
      converted_contact: {type: lookup, object: contact}
      converted_opportunity: {type: lookup, object: opportunity}
conversions:
  lead_to_customer:
    label: Convert lead
    from: lead
    when: "status == 'qualified'"
    message: Only qualified leads can be converted.
    targets:
      account:
        fields: {name: company, industry: industry, phone: phone, notes: secret, owner_id: owner_id}
        match: [name]
      contact:
        fields: {name: name, mobile: mobile, account: "@account", owner_id: owner_id}
      opportunity:
        optional: true
        fields: {name: "=company + ' – first deal'", account: "@account", contact: "@contact", owner_id: owner_id}
    mark: {status: converted}
    links: {account: converted_account, contact: converted_contact, opportunity: converted_opportunity}
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
      account: {read: own, edit: own, create: true}
      contact: {read: own, edit: own, create: true}
      opportunity: {read: own, edit: own, create: true}
    hidden: [lead.secret]
  assistant:
    objects:
      lead: {read: own, edit: own, create: true}
      account: {read: own}
      contact: {read: own, edit: own, create: true}
      opportunity: {read: own, edit: own, create: true}
  viewer:
    objects:
      lead: {read: all}
  admin:
    objects:
      "*": {read: all, edit: all, delete: all, create: true, reassign: true}
"""

USERS = {"alice": ["rep"], "bob": ["rep"], "asta": ["assistant"], "vera": ["viewer"], "adam": ["admin"]}


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as directory:
        for username, roles in USERS.items():
            directory.add(username, roles=roles)
    yield crm
    crm.close()


def new_lead(crm, user="alice", **values):
    values = {
        "name": "张伟",
        "company": "Acme",
        "industry": "internet",
        "phone": "+86 21 5555 0100",
        "mobile": "+86 138 0013 8000",
        "status": "qualified",
        **values,
    }
    with crm.session(user) as s:
        return s.create("lead", values)


def count(crm, object_name):
    with crm.session() as s:
        return s.query(object_name).count()


def get(crm, object_name, record_id):
    with crm.session() as s:
        return s.get(object_name, record_id)


def convert(crm, user, lead_id, **options):
    with crm.session(user) as s:
        return s.convert("lead_to_customer", lead_id, **options)


def codes(failure):
    return {name: [e.code for e in problems] for name, problems in failure.errors.items()}


def nothing_written(crm, lead, accounts=0, contacts=0, opportunities=0):
    assert (count(crm, "account"), count(crm, "contact"), count(crm, "opportunity")) == (
        accounts,
        contacts,
        opportunities,
    )
    stored = get(crm, "lead", lead.id)
    assert stored.version == lead.version and stored["status"] == lead["status"]
    assert stored["converted_account"] is None and stored["converted_contact"] is None


# --- converting ----------------------------------------------------------------------------


def test_a_qualified_lead_becomes_account_contact_and_opportunity(crm):
    lead = new_lead(crm)
    result = convert(crm, "alice", lead.id)
    assert [(t.name, t.outcome) for t in result] == [
        ("account", "created"),
        ("contact", "created"),
        ("opportunity", "created"),
    ]
    account, contact, deal = (result[name].record for name in ("account", "contact", "opportunity"))
    assert (account["name"], account["industry"], account["phone"]) == ("Acme", "internet", "+862155550100")
    assert (contact["name"], contact["mobile"], contact["account"]) == ("张伟", "+8613800138000", account.id)
    assert (deal["name"], deal["account"], deal["contact"], deal["stage"]) == (
        "Acme – first deal",
        account.id,
        contact.id,
        "new",
    )
    alice = get(crm, "lead", lead.id)["owner_id"]
    assert {r["owner_id"] for r in (account, contact, deal)} == {alice}
    stored = get(crm, "lead", lead.id)
    assert stored["status"] == "converted" and stored.version == 2
    assert (stored["converted_account"], stored["converted_contact"], stored["converted_opportunity"]) == (
        account.id,
        contact.id,
        deal.id,
    )
    assert result.source["status"] == "converted"


def test_an_existing_account_with_the_same_name_is_linked_not_duplicated(crm):
    with crm.session("alice") as s:
        existing = s.create("account", {"name": "Acme", "industry": "retail"})
    lead = new_lead(crm)
    result = convert(crm, "alice", lead.id)
    assert result["account"].outcome == "linked" and result["account"].record.id == existing.id
    assert count(crm, "account") == 1
    assert get(crm, "account", existing.id)["industry"] == "retail"  # a linked record is not changed
    assert result["contact"].record["account"] == existing.id
    assert get(crm, "lead", lead.id)["converted_account"] == existing.id


def test_an_account_the_user_may_not_see_is_neither_linked_nor_revealed(crm):
    with crm.session("bob") as s:
        hidden = s.create("account", {"name": "Acme"})
    lead = new_lead(crm)
    with crm.session("alice") as s:
        preview = plan(s, "lead_to_customer", lead.id)
        assert preview.targets[0].matched is None
    result = convert(crm, "alice", lead.id)
    assert result["account"].outcome == "created" and result["account"].record.id != hidden.id
    assert count(crm, "account") == 2


def test_the_optional_opportunity_can_be_skipped(crm):
    lead = new_lead(crm)
    result = convert(crm, "alice", lead.id, skip=["opportunity"])
    assert [(t.name, t.outcome) for t in result] == [
        ("account", "created"),
        ("contact", "created"),
        ("opportunity", "skipped"),
    ]
    assert count(crm, "opportunity") == 0
    stored = get(crm, "lead", lead.id)
    assert stored["converted_opportunity"] is None and stored["converted_contact"] is not None


def test_targets_that_are_not_optional_or_unknown_cannot_be_skipped(crm):
    lead = new_lead(crm)
    with pytest.raises(ConversionRefused) as info:
        convert(crm, "alice", lead.id, skip=["contact", "invoice"])
    assert codes(info.value) == {"skip": ["not_optional", "unknown_target"]}
    nothing_written(crm, lead)


def test_an_unqualified_lead_is_refused_with_the_configured_message(crm):
    lead = new_lead(crm, status="new")
    with pytest.raises(ConversionRefused) as info:
        convert(crm, "alice", lead.id)
    assert codes(info.value) == {"_record": ["condition_not_met"]}
    assert info.value.errors["_record"][0].message == "Only qualified leads can be converted."
    nothing_written(crm, lead)


def test_converting_twice_is_refused(crm):
    lead = new_lead(crm)
    convert(crm, "alice", lead.id)
    converted = get(crm, "lead", lead.id)
    with crm.session() as s:  # even back to qualified, its links show it was converted
        s.update("lead", lead.id, {"status": "qualified"})
    with pytest.raises(ConversionRefused) as info:
        convert(crm, "alice", lead.id)
    assert codes(info.value) == {"_record": ["already_converted"]}
    assert "converted already" in info.value.errors["_record"][0].message
    assert (count(crm, "account"), count(crm, "contact"), count(crm, "opportunity")) == (1, 1, 1)
    assert get(crm, "lead", lead.id)["converted_account"] == converted["converted_account"]


def test_a_failing_contact_rolls_back_the_account(crm):
    lead = new_lead(crm, mobile=None)
    with pytest.raises(ConversionFailed) as info:
        convert(crm, "alice", lead.id)
    assert codes(info.value) == {"contact.mobile": ["rule:reachable"]}
    assert info.value.errors["contact.mobile"][0].message == "Give the contact's mobile number."
    nothing_written(crm, lead)


def test_every_target_reports_its_own_problems_at_once(crm):
    lead = new_lead(crm, company=None, mobile=None)
    with pytest.raises(ConversionFailed) as info:
        convert(crm, "alice", lead.id)
    # Account and opportunity name come from the company; the contact is not blamed
    # for the account it could not point at, but its own rule (a mobile number) is
    # reported in the same round.
    assert codes(info.value) == {
        "account.name": ["required"],
        "opportunity.name": ["required"],
        "contact.mobile": ["rule:reachable"],
    }
    nothing_written(crm, lead)


def test_overrides_fill_and_correct_values_per_target(crm):
    lead = new_lead(crm, mobile=None)
    result = convert(
        crm,
        "alice",
        lead.id,
        overrides={"contact": {"mobile": "+86 139 0000 0000", "name": "张 伟"}, "opportunity": {"name": "Acme pilot"}},
    )
    assert result["contact"].record["mobile"] == "+8613900000000"
    assert result["contact"].record["name"] == "张 伟"
    assert result["opportunity"].record["name"] == "Acme pilot"


def test_overrides_for_unknown_targets_and_fields_are_refused(crm):
    lead = new_lead(crm)
    with pytest.raises(ConversionRefused) as info:
        convert(crm, "alice", lead.id, overrides={"invoice": {"x": 1}})
    assert codes(info.value) == {"overrides": ["unknown_target"]}
    with pytest.raises(ConversionFailed) as info:
        convert(crm, "alice", lead.id, overrides={"contact": {"shoe_size": 42}})
    assert codes(info.value) == {"contact.shoe_size": ["unknown_field"]}
    nothing_written(crm, lead)


def test_stage_gates_apply_to_the_created_records(crm):
    lead = new_lead(crm)
    with pytest.raises(ConversionFailed) as info:
        convert(crm, "alice", lead.id, overrides={"opportunity": {"stage": "demo"}})
    assert codes(info.value) == {"opportunity.needs": ["required_for_stage"]}
    nothing_written(crm, lead)


def test_a_user_without_create_on_accounts_is_refused_and_nothing_is_written(crm):
    lead = new_lead(crm, user="asta")
    with pytest.raises(PermissionDenied, match="may not create Account"):
        convert(crm, "asta", lead.id)
    nothing_written(crm, lead)


def test_a_user_without_create_on_accounts_may_convert_into_an_account_they_can_link(crm):
    asta = crm.principal("asta").user_id
    with crm.session() as system:
        account = system.create("account", {"name": "Acme", "owner_id": asta})
    lead = new_lead(crm, user="asta")
    result = convert(crm, "asta", lead.id)
    assert result["account"].outcome == "linked" and result["account"].record.id == account.id


def test_the_lead_must_be_in_the_users_edit_scope(crm):
    lead = new_lead(crm)
    with pytest.raises(PermissionDenied, match="may not change"):
        convert(crm, "vera", lead.id)
    with pytest.raises(NotFound):
        convert(crm, "bob", lead.id)
    nothing_written(crm, lead)


def test_fields_hidden_from_the_user_are_not_copied(crm):
    alice, adam = crm.principal("alice").user_id, crm.principal("adam").user_id
    first = new_lead(crm, user=None, secret="top secret", owner_id=alice)
    second = new_lead(crm, user=None, secret="top secret", company="Beta", owner_id=adam)
    assert convert(crm, "alice", first.id)["account"].record["notes"] is None
    assert convert(crm, "adam", second.id)["account"].record["notes"] == "top secret"


def test_audit_rows_are_written_as_the_converting_user(crm):
    lead = new_lead(crm)
    with crm.session("alice", channel="api") as s:
        result = s.convert("lead_to_customer", lead.id)
    audit = crm.schema.system["sys_audit"]
    with crm.engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                audit.c.username, audit.c.channel, audit.c.action, audit.c.object, audit.c.record_id, audit.c.changes
            ).order_by(audit.c.id)
        ).all()
    written = [(r.username, r.channel, r.action, r.object, r.record_id) for r in rows[-4:]]
    assert written == [
        ("alice", "api", "create", "account", result["account"].record.id),
        ("alice", "api", "create", "contact", result["contact"].record.id),
        ("alice", "api", "create", "opportunity", result["opportunity"].record.id),
        ("alice", "api", "update", "lead", lead.id),
    ]
    assert json.loads(rows[-1].changes)["status"] == ["qualified", "converted"]


def test_two_users_converting_the_same_lead_at_once_convert_it_once(crm):
    lead = new_lead(crm)
    outcomes: list[str] = []

    def work(index: int) -> None:
        try:
            convert(crm, "alice", lead.id)
            outcomes.append("converted")
        except (ConversionRefused, Conflict) as exc:
            outcomes.append(type(exc).__name__)

    errors = run_in_threads(work, 3)
    assert not errors, errors
    assert outcomes.count("converted") == 1, outcomes
    assert (count(crm, "account"), count(crm, "contact"), count(crm, "opportunity")) == (1, 1, 1)
    assert get(crm, "lead", lead.id).version == 2


def test_a_stale_version_and_an_unknown_conversion_are_refused(crm):
    lead = new_lead(crm)
    with pytest.raises(Conflict):
        convert(crm, "alice", lead.id, version=lead.version + 1)
    with crm.session("alice") as s, pytest.raises(UnknownConversion, match="known conversions: lead_to_customer"):
        s.convert("lead_to_cash", lead.id)
    nothing_written(crm, lead)


def test_the_plan_previews_values_and_matches_without_writing(crm):
    with crm.session("alice") as s:
        existing = s.create("account", {"name": "Acme"})
    lead = new_lead(crm)
    with crm.session("alice") as s:
        preview = plan(s, "lead_to_customer", lead.id)
    account, contact, deal = preview.targets
    assert account.matched is not None and account.matched.id == existing.id
    assert contact.values["account"] == existing.id and contact.references == {"account": "account"}
    assert deal.values["name"] == "Acme – first deal" and deal.matched is None
    nothing_written(crm, lead, accounts=1)


def test_available_conversions_follow_condition_and_permissions(crm):
    lead, unqualified = new_lead(crm), new_lead(crm, status="new")
    clock = crm.clock_now()
    assert [c.name for c in available(crm.config, crm.principal("alice"), get(crm, "lead", lead.id), clock)] == [
        "lead_to_customer"
    ]
    assert available(crm.config, crm.principal("alice"), get(crm, "lead", unqualified.id), clock) == []
    assert available(crm.config, crm.principal("vera"), get(crm, "lead", lead.id), clock) == []


# --- the sample configs ----------------------------------------------------------------------------


def open_sample(name, db_url):
    crm = Trellis.open(CONFIGS / f"{name}.yaml", db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as directory:
        directory.add("rita", roles=["sales_rep"])
    return crm


def test_the_saas_sample_converts_a_lead_when_the_rep_picks_the_decision_role(db_url, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = open_sample("sample_saas", db_url)
    try:
        with crm.session("rita") as s:
            lead = s.create(
                "lead",
                {
                    "name": "王芳",
                    "company": "云帆软件科技",
                    "source": "referral",
                    "intent_level": "high",
                    "status": "qualified",
                    "phone": "+86 138 0013 8000",
                    "product_interest": ["analytics"],
                    "employees": 120,
                },
            )
        with pytest.raises(ConversionFailed) as info:
            convert(crm, "rita", lead.id)
        assert codes(info.value) == {"contact.decision_role": ["required"]}
        result = convert(crm, "rita", lead.id, overrides={"contact": {"decision_role": "decision_maker"}})
        account, contact, deal = (result[n].record for n in ("account", "contact", "opportunity"))
        assert (account["name"], account["employees"]) == ("云帆软件科技", 120)
        assert (contact["last_name"], contact["first_name"], contact["mobile"]) == ("王", "芳", "+8613800138000")
        assert (deal["product_line"], deal["deal_type"], deal["account"]) == ("analytics", "new_business", account.id)
        assert get(crm, "lead", lead.id)["status"] == "converted"
    finally:
        crm.close()


def test_the_retail_sample_links_a_lead_to_the_member_with_its_mobile(db_url, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = open_sample("sample_retail", db_url)
    try:
        with crm.session("rita") as s:
            member = s.create("account", {"name": "李娜", "mobile": "+86 139 1234 5678"})
            lead = s.create(
                "lead",
                {
                    "name": "李娜",
                    "source": "store_visit",
                    "intent_level": "high",
                    "status": "qualified",
                    "phone": "+86 139 1234 5678",
                },
            )
        with crm.session("rita") as s:
            result = s.convert("lead_to_member", lead.id, skip=["group_purchase"])
        assert result["member"].outcome == "linked" and result["member"].record.id == member.id
        stored = get(crm, "lead", lead.id)
        assert (stored["status"], stored["converted_account"]) == ("converted", member.id)
    finally:
        crm.close()


def test_the_saas_sample_splits_names_in_their_order_and_names_the_deal_in_the_users_language(db_url, monkeypatch):
    """Wei Zhang (Latin letters, a space) is Western order; 欧阳娜娜 keeps its compound family name
    and 张伟 its one-character one. The contact's title is the name in its order; the default
    deal name is in the converting user's language."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = open_sample("sample_saas", db_url)
    try:
        with crm.directory() as directory:
            directory.add("ella", roles=["sales_rep"], locale="en_US")
        results = {}
        people = (("ella", "Wei Zhang", "Acme"), ("rita", "欧阳娜娜", "云帆"), ("rita", "张伟", "张氏"))
        for i, (user, name, company) in enumerate(people):
            with crm.session(user) as s:
                lead = s.create(
                    "lead",
                    {
                        "name": name,
                        "company": company,
                        "source": "referral",
                        "intent_level": "high",
                        "status": "qualified",
                        "phone": f"+86 138 0013 800{i}",
                        "product_interest": ["analytics"],
                    },
                )
            results[name] = convert(crm, user, lead.id, overrides={"contact": {"decision_role": "decision_maker"}})
        parts = {
            name: (r["contact"].record["first_name"], r["contact"].record["last_name"]) for name, r in results.items()
        }
        assert parts == {"Wei Zhang": ("Wei", "Zhang"), "欧阳娜娜": ("娜娜", "欧阳"), "张伟": ("伟", "张")}
        with crm.session() as s:
            titles = s.titles("contact", [r["contact"].record.id for r in results.values()])
        assert sorted(titles.values()) == sorted(["Wei Zhang", "欧阳娜娜", "张伟"])
        assert results["Wei Zhang"]["opportunity"].record["name"] == "Acme – new deal"
        assert results["欧阳娜娜"]["opportunity"].record["name"] == "云帆 – 新商机"
    finally:
        crm.close()
