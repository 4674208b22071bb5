"""Lead conversion meets duplicate rules (issue 14 §2, S12), on SQLite and PostgreSQL.

The preview lists each new target's likely duplicates as the converting user may know them;
converting without a choice stops with them (nothing written); the user links a target to one
of them, or creates it anyway where only ``warn`` rules matched — a ``block`` rule leaves only
linking. A record outside the user's read scope is told by its owner at most, and cannot be
linked (the answer is the same as for an id that does not exist).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import Trellis
from engine.runtime.messages import speaking
from engine.runtime.workflow.conversion import (
    LINKED,
    ConversionDuplicates,
    ConversionFailed,
    ConversionRefused,
    plan,
)
from tests.conftest import fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {phone_region: CN, languages: [en, zh]}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      credit_code: {type: text}
      notes: {type: text}
    duplicates:
      - name: same_company
        match: [{field: name, method: company_name, threshold: 0.88}]
        action: warn
      - name: same_credit_code
        match: [{field: credit_code, method: exact}]
        action: block
  contact:
    label: {en: Contact, zh: 联系人}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      mobile: {type: phone}
      account: {type: lookup, object: account}
  lead:
    label: {en: Lead, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      company: {type: text, required: true}
      credit_code: {type: text}
      mobile: {type: phone}
      status: {type: picklist, values: [new, converted], default: new}
      converted_account: {type: lookup, object: account}
      converted_contact: {type: lookup, object: contact}
conversions:
  lead_to_customer:
    label: {en: Convert lead, zh: 转化线索}
    from: lead
    targets:
      account:
        label: {en: Account, zh: 客户}
        fields: {name: company, credit_code: credit_code}
      contact:
        label: {en: Contact, zh: 联系人}
        optional: true
        fields: {name: name, mobile: mobile, account: "@account"}
    mark: {status: converted}
    links: {account: converted_account, contact: converted_contact}
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
      account: {read: own, edit: own, create: true}
      contact: {read: own, edit: own, create: true}
"""


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("convdup")
    path = folder / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    crm = Trellis.open(path, next(urls))
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"], display_name="Rita Chen")
        d.add("sam", roles=["rep"], display_name="Sam Li")
    yield crm
    crm.close()
    next(urls, None)


@pytest.fixture(autouse=True)
def clean(crm):
    yield
    with crm.session() as s:
        for name in ("lead", "contact", "account"):
            s.connection.execute(sa.delete(crm.schema.table(name)))
        s.connection.execute(sa.delete(crm.schema.system["sys_dup_keys"]))


def account(crm, user="rita", **values):
    with crm.session(user) as s:
        return s.create("account", values, allow_duplicate=True)


def lead(crm, user="rita", **values):
    values = {"name": "王芳", "mobile": "13800138000", **values}
    with crm.session(user) as s:
        return s.create("lead", values)


def count(crm, object_name):
    with crm.session() as s:
        return s.query(object_name).count()


def test_the_preview_lists_the_likely_duplicates_of_a_new_target(crm):
    existing = account(crm, name="上海云帆软件科技有限公司")
    source = lead(crm, company="云帆软件（上海）有限公司")
    with crm.session("rita") as s:
        preview = plan(s, "lead_to_customer", source.id)
    first, contact = preview.targets
    assert first.matched is None and first.create_allowed
    (candidate,) = first.candidates
    assert (candidate.record_id, candidate.title, candidate.owner, candidate.action) == (
        existing.id,
        "上海云帆软件科技有限公司",
        "Rita Chen",
        "warn",
    )
    assert [m.field for m in candidate.matches] == ["name"] and candidate.score == 1.0
    assert contact.candidates == ()


def test_without_a_choice_nothing_is_converted_and_the_candidates_are_told(crm):
    existing = account(crm, name="Acme Co., Ltd.")
    source = lead(crm, company="ACME Inc.")
    with pytest.raises(ConversionDuplicates) as caught, crm.session("rita") as s:
        s.convert("lead_to_customer", source.id, version=source.version)
    assert [c.record_id for c in caught.value.duplicates["account"]] == [existing.id]
    (problem,) = caught.value.errors["account._record"]
    assert problem.code == "convert_duplicate" and "link to one of them" in problem.message
    assert (count(crm, "account"), count(crm, "contact")) == (1, 0)
    with crm.session("rita") as s:
        assert s.get("lead", source.id)["status"] == "new"


def test_linking_a_candidate_reuses_it_for_the_target_and_what_refers_to_it(crm):
    existing = account(crm, name="上海云帆软件科技有限公司")
    source = lead(crm, company="云帆软件(上海)有限公司")
    with crm.session("rita") as s:
        result = s.convert("lead_to_customer", source.id, version=source.version, link={"account": existing.id})
    assert (result["account"].outcome, result["account"].record.id) == (LINKED, existing.id)
    assert result["contact"].record["account"] == existing.id
    assert result.source["converted_account"] == existing.id and result.source["status"] == "converted"
    assert count(crm, "account") == 1


def test_create_anyway_where_only_warn_rules_match(crm):
    account(crm, name="Acme Co., Ltd.")
    source = lead(crm, company="ACME Inc.")
    with crm.session("rita") as s:
        result = s.convert("lead_to_customer", source.id, version=source.version, allow_duplicate=["account"])
    assert result["account"].outcome == "created" and result["account"].record["name"] == "ACME Inc."
    assert count(crm, "account") == 2


def test_a_block_rule_refuses_create_anyway_but_allows_linking(crm):
    existing = account(crm, name="北京星辰科技有限公司", credit_code="91110000X")
    source = lead(crm, company="Star Tech", credit_code="91110000X")
    with crm.session("rita") as s:
        (candidate,) = plan(s, "lead_to_customer", source.id).targets[0].candidates
        assert candidate.action == "block" and candidate.record_id == existing.id
        assert not plan(s, "lead_to_customer", source.id).targets[0].create_allowed
    with pytest.raises(ConversionFailed) as caught, crm.session("rita") as s:
        s.convert("lead_to_customer", source.id, version=source.version, allow_duplicate=True)
    (problem,) = caught.value.errors["account.credit_code"]
    assert problem.code == "duplicate" and problem.message == "北京星辰科技有限公司 already has this Credit code."
    assert [c.record_id for c in caught.value.duplicates["account"]] == [existing.id]
    assert count(crm, "account") == 1
    with crm.session("rita") as s:
        result = s.convert("lead_to_customer", source.id, version=source.version, link={"account": existing.id})
    assert result["account"].record.id == existing.id


def test_a_record_the_user_may_not_read_is_told_by_its_owner_only_and_cannot_be_linked(crm):
    hidden = account(crm, "sam", name="Acme Co., Ltd.", notes="their secret deal")
    source = lead(crm, company="ACME Inc")
    with crm.session("rita") as s:
        (candidate,) = plan(s, "lead_to_customer", source.id).targets[0].candidates
    assert candidate.as_dict() == {
        "rule": "same_company",
        "action": "warn",
        "id": None,
        "title": None,
        "owner": "Sam Li",
        "score": 1.0,
        "matched": [],
    }
    with pytest.raises(ConversionDuplicates) as caught, crm.session("rita") as s:
        s.convert("lead_to_customer", source.id, version=source.version)
    assert "Acme Co" not in str(caught.value) and str(hidden.id) not in str(caught.value.errors)
    messages = []
    for record_id in (hidden.id, 999_999):
        with pytest.raises(ConversionRefused) as refused, crm.session("rita") as s:
            s.convert("lead_to_customer", source.id, version=source.version, link={"account": record_id})
        (problem,) = refused.value.errors["link.account"]
        messages.append(problem.message.replace(str(record_id), "ID"))
    assert messages[0] == messages[1] == "There is no Account with id ID that you may read; nothing was linked."


def test_bad_choices_are_refused_each_with_its_reason_and_in_chinese(crm):
    existing = account(crm, name="Acme Co., Ltd.")
    source = lead(crm, company="ACME Inc.")
    with crm.session() as s:
        archived = s.create("account", {"name": "Old Acme"}, allow_duplicate=True)
        s.archive("account", archived.id)
    cases = [
        ({"link": {"acount": existing.id}}, "link", "unknown_target"),
        ({"link": {"contact": existing.id}, "skip": ["contact"]}, "link.contact", "skipped_and_linked"),
        (
            {"link": {"account": existing.id}, "overrides": {"account": {"name": "X"}}},
            "link.account",
            "linked_with_values",
        ),
        ({"link": {"account": "abc"}}, "link.account", "link_not_found"),
        ({"allow_duplicate": ["acount"]}, "allow_duplicate", "unknown_target"),
    ]
    for choices, key, code in cases:
        with pytest.raises(ConversionRefused) as refused, crm.session("rita") as s:
            s.convert("lead_to_customer", source.id, version=source.version, **choices)
        assert [p.code for p in refused.value.errors[key]] == [code], choices
    with pytest.raises(ConversionRefused) as refused, crm.session() as s:  # the system reads archived ones too
        s.convert("lead_to_customer", source.id, link={"account": archived.id})
    assert refused.value.errors["link.account"][0].message == (
        f"Account {archived.id} is archived: restore it first, or choose another record."
    )
    with speaking("zh"), pytest.raises(ConversionDuplicates) as caught, crm.session("rita") as s:
        s.convert("lead_to_customer", source.id, version=source.version)
    with speaking("zh"):
        assert str(caught.value).startswith("本次转化的部分记录可能已存在（客户）")
        assert caught.value.errors["account._record"][0].message.startswith("「客户」可能已存在（1 条疑似重复）")
    assert count(crm, "account") == 1  # nothing was created (the archived one is not counted)
