"""Duplicate rules (issue 14 §1–2) in the write path: the keys kept with each record, warn and
block, the override, updates and deletes, and what a writer learns of a record they may not read.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.errors import ValidationFailed
from engine.runtime.records.duplicates import DuplicateBlocked, PossibleDuplicate, reindex
from engine.runtime.workflow.conversion import ConversionDuplicates
from tests.conftest import fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {phone_region: CN}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      credit_code: {type: text}
      notes: {type: text}
    duplicates:
      - name: same_company
        match:
          - {field: name, method: company_name, threshold: 0.88}
          - {field: credit_code, method: exact}
        any: true
        action: warn
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
      email: {type: email}
    duplicates:
      - name: same_phone
        match: [{field: phone, method: phone}]
        action: block
      - name: same_email
        match: [{field: email, method: email}]
        reveal: nothing
  lead:
    title: "{company}"
    fields:
      company: {type: text, required: true}
      status: {type: picklist, values: [new, converted], default: new}
      account: {type: lookup, object: account}
  member:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      card: {type: text, default: VIP-1}
    duplicates:
      - {name: same_card, match: [{field: card, method: exact}]}
conversions:
  lead_to_account:
    from: lead
    mark: {status: converted}
    targets:
      account:
        fields: {name: company}
    links: {account: account}
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true, import: true}
      lead: {read: own, edit: own, create: true}
      contact: {read: own, edit: own, create: true, delete: own}
      member: {read: all, edit: own, create: true}
  boss:
    objects:
      account: {read: all, edit: all, create: true, delete: all, merge: true}
      contact: {read: all, edit: all, create: true, delete: all, merge: true}
      member: {read: all, edit: all, create: true}
    hidden: [member.card]
"""


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    """The config file and the database URL of this module's CRM."""
    folder = tmp_path_factory.mktemp("dup")
    path = folder / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    yield path, next(urls)
    next(urls, None)


@pytest.fixture(scope="module")
def crm(where):
    path, url = where
    crm = Trellis.open(path, url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"], display_name="Rita Chen")
        d.add("sam", roles=["rep"], display_name="Sam Li")
        d.add("bo", roles=["boss"])
    yield crm
    crm.close()


@pytest.fixture
def clean(crm):
    yield
    with crm.session() as s:
        for name in ("lead", "account", "contact", "member"):
            s.connection.execute(sa.delete(crm.schema.table(name)))
        s.connection.execute(sa.delete(crm.schema.system["sys_dup_keys"]))


def test_a_similar_company_warns_with_the_candidate_and_saves_when_allowed(crm, clean):
    with crm.session("rita") as s:
        first = s.create("account", {"name": "上海云帆软件科技有限公司"})
    with pytest.raises(PossibleDuplicate) as caught, crm.session("rita") as s:
        s.create("account", {"name": "云帆软件（上海）有限公司"})
    (candidate,) = caught.value.candidates
    assert (candidate.record_id, candidate.title, candidate.owner) == (
        first.id,
        "上海云帆软件科技有限公司",
        "Rita Chen",
    )
    assert [m.field for m in candidate.matches] == ["name"] and candidate.score == 1.0
    with crm.session("rita") as s:
        assert s.create("account", {"name": "云帆软件（上海）有限公司"}, allow_duplicate=True).id
        assert s.create("account", {"name": "云海软件有限公司"}).id  # a near miss is no duplicate


def test_another_teams_record_is_told_by_its_owner_only_or_not_at_all(crm, clean):
    with crm.session("sam") as s:
        s.create("account", {"name": "Acme Co., Ltd.", "notes": "secret"})
        s.create("contact", {"name": "Wang", "phone": "138 0013 8000", "email": "wang+crm@gmail.com"})
    with pytest.raises(PossibleDuplicate) as caught, crm.session("rita") as s:
        s.create("account", {"name": "ACME Inc"})
    (candidate,) = caught.value.candidates
    assert candidate.as_dict() == {
        "rule": "same_company",
        "action": "warn",
        "id": None,
        "title": None,
        "owner": "Sam Li",
        "score": 1.0,
        "matched": [],
    }
    with pytest.raises(DuplicateBlocked) as blocked, crm.session("rita") as s:
        s.create("contact", {"name": "W", "phone": "+86-13800138000"})
    assert list(blocked.value.errors) == ["_record"] and "Sam Li" in blocked.value.errors["_record"][0].message
    with crm.session("rita") as s:  # reveal: nothing — the e-mail rule tells rita nothing
        assert s.create("contact", {"name": "W", "email": "wang@gmail.com"}).id


def test_a_block_rule_refuses_with_the_matched_field_in_error(crm, clean):
    with crm.session("rita") as s:
        s.create("contact", {"name": "Wang", "phone": "13800138000"})
    with pytest.raises(ValidationFailed) as caught, crm.session("rita") as s:
        s.create("contact", {"name": "Wang 2", "phone": "+86 138 0013 8000"}, allow_duplicate=True)
    assert caught.value.errors["phone"][0].code == "duplicate"
    assert caught.value.errors["phone"][0].message == "Wang already has this Phone."


def test_hidden_fields_are_not_used_to_tell_a_writer_anything(crm, clean):
    with crm.session("rita") as s:
        s.create("member", {"name": "Alpha"})  # the card's default, VIP-1
    with crm.session("bo") as s:  # bo may not read the card: the rule does not run for him
        assert s.create("member", {"name": "Beta"}).id
    with pytest.raises(PossibleDuplicate), crm.session("rita") as s:
        s.create("member", {"name": "Gamma"})


def test_keys_follow_updates_and_deletes_and_reindex_rebuilds_them(crm, clean):
    with crm.session("rita") as s:
        a = s.create("contact", {"name": "A", "phone": "13800138000"})
        s.update("contact", a.id, {"phone": "13900139000"})
        s.create("contact", {"name": "B", "phone": "13800138000"})  # the old number is free again
        b = s.create("contact", {"name": "C", "phone": "13700137000"})
        s.delete("contact", b.id)
        s.create("contact", {"name": "D", "phone": "13700137000"})
        s.update("contact", a.id, {"name": "A2"})  # no matched field changed: no check, no new keys
    with crm.session() as s:
        before = s.connection.execute(sa.select(sa.func.count()).select_from(crm.schema.system["sys_dup_keys"]))
        count = before.scalar_one()
        assert reindex(s, "contact") == 3
        after = s.connection.execute(sa.select(sa.func.count()).select_from(crm.schema.system["sys_dup_keys"]))
        assert after.scalar_one() == count


def test_a_batch_collects_each_duplicate_row(crm, clean):
    with crm.session("rita") as s:
        s.create("contact", {"name": "A", "phone": "13800138000"})
        results = s.create_many(
            "contact",
            [{"name": "B", "phone": "13900139000"}, {"name": "C", "phone": "13800138000"}],
            on_error="collect",
        )
    assert results[0].id and isinstance(results[1], DuplicateBlocked) and results[1].index == 1


def test_an_import_fails_or_skips_the_likely_duplicates_and_reindex_rebuilds_the_keys(crm, clean, where, tmp_path):
    config, url = where
    with crm.session("rita") as s:
        s.create("account", {"name": "上海云帆软件科技有限公司"})
    data = tmp_path / "accounts.csv"
    data.write_text("name\n云帆软件(上海)有限公司\nCloudSail\n", encoding="utf-8")
    runner = CliRunner()
    failed = runner.invoke(main, ["import", str(config), "account", str(data), "--db", url, "--as", "rita"])
    assert failed.exit_code == 1, failed.output
    assert "row 2: probably a duplicate of 上海云帆软件科技有限公司 (id" in failed.output
    skipped = runner.invoke(
        main, ["import", str(config), "account", str(data), "--db", url, "--as", "rita", "--on-duplicate", "skip"]
    )
    assert skipped.exit_code == 0 and "2 rows read, 0 created, 0 updated, 2 skipped" in skipped.output, skipped.output
    with crm.session() as s:  # keys lost (a rule added after the records were written) …
        s.connection.execute(sa.delete(crm.schema.system["sys_dup_keys"]))
    with crm.session("rita") as s:
        assert s.create("account", {"name": "CloudSail Inc."}, allow_duplicate=False).id  # … nothing is found
    rebuilt = runner.invoke(main, ["duplicates", "reindex", str(config), "--db", url])
    assert rebuilt.exit_code == 0 and "account: 3 records indexed for 1 duplicate rule" in rebuilt.output
    with pytest.raises(PossibleDuplicate), crm.session("rita") as s:
        s.create("account", {"name": "CloudSail Ltd"})
    unknown = runner.invoke(main, ["duplicates", "reindex", str(config), "acount", "--db", url])
    assert unknown.exit_code == 1 and "unknown object 'acount'" in unknown.output


def test_a_conversion_stops_naming_a_likely_duplicate_of_its_target(crm, clean):
    # Linking it or creating anyway: tests/runtime/test_conversion_duplicates.py.
    with crm.session("rita") as s:
        s.create("account", {"name": "Acme Co., Ltd."})
        lead = s.create("lead", {"company": "ACME Inc."})
    with pytest.raises(ConversionDuplicates) as caught, crm.session("rita") as s:
        s.convert("lead_to_account", lead.id, version=lead.version)
    (problem,) = caught.value.errors["account._record"]
    assert problem.code == "convert_duplicate" and "probably exists already" in problem.message


def test_merging_duplicates_is_no_duplicate_of_the_records_merged(crm, clean):
    with crm.session("bo") as s:
        first = s.create("account", {"name": "上海云帆软件科技有限公司"})
        second = s.create("account", {"name": "云帆软件(上海)有限公司", "credit_code": "X1"}, allow_duplicate=True)
        one = s.create("contact", {"name": "Wang", "phone": "13800138000"})
        two = s.create("contact", {"name": "Wang Wei", "phone": "13900139000"})
        # The survivor takes the merged record's values: a warn rule and a block rule matched it.
        merged = s.merge("account", first.id, [second.id], {"name": second.id, "credit_code": second.id})
        assert merged.survivor["name"] == "云帆软件(上海)有限公司"
        assert s.merge("contact", one.id, [two.id], {"phone": two.id}).survivor["phone"] == two["phone"]
