"""Stage gates, transitions, skips and stage history through the Python API (S16–S19).

Each test moves a deal through ``Session.update`` as a user and checks what a
refused move reports and that nothing was written. Runs on SQLite, and on
PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine import Trellis, ValidationFailed
from engine.runtime.security.permissions import PermissionDenied
from engine.runtime.workflow.pipeline import GateBlocked, missing_fields, stage_history
from tests.conftest import Clock
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      needs_analysis: {type: textarea}
      budget: {type: currency}
      quote_file: {type: text}
      amount: {type: currency}
      legal_review: {type: text}
      lost_reason: {type: picklist, values: [price, competitor]}
    pipeline:
      stages:
        - {key: initial_contact, probability: 10}
        - {key: needs_confirmed, probability: 30}
        - {key: solution_demo, probability: 50, requires: [needs_analysis]}
        - key: quote
          probability: 70
          requires: [quote_file, budget]
          requires_when:
            - {when: "amount > 1000000", fields: [legal_review]}
        - {key: contract_signed, probability: 100, outcome: won}
        - {key: lost, outcome: lost, requires: [lost_reason]}
      REOPEN
roles:
  rep:
    objects: {deal: {read: all, edit: all, create: true}}
  manager:
    objects: {deal: {read: all, edit: all, create: true}}
    permissions: [skip_stage, reopen]
"""

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    return Clock(START)


def open_crm(write_config, db_url, clock, reopen: str = "") -> Trellis:
    crm = Trellis.open(write_config(CONFIG.replace("REOPEN", reopen)), db_url, clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("max", roles=["manager"])
    return crm


@pytest.fixture
def crm(write_config, db_url, clock):
    crm = open_crm(write_config, db_url, clock)
    yield crm
    crm.close()


def new_deal(crm, **values):
    with crm.session("rita") as s:
        return s.create("deal", {"name": "Acme rollout", **values})


def move(crm, record, stage, user="rita", **values):
    with crm.session(user) as s:
        return s.update("deal", record.id, {"stage": stage, **values})


def stored(crm, record):
    with crm.session() as s:
        return s.get("deal", record.id)


def codes(failure: ValidationFailed) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in failure.errors.items()}


def test_a_new_record_starts_at_the_first_stage_with_its_history(crm):
    deal = new_deal(crm)
    assert deal["stage"] == "initial_contact"
    assert deal["stage_entered_at"] == START
    with crm.session() as s:
        history = stage_history(s.connection, crm.schema.system["sys_stage_history"], "deal", deal.id)
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [(None, "initial_contact")]


def test_entering_a_gated_stage_needs_its_fields_and_reports_exactly_those(crm):
    deal = new_deal(crm)
    move(crm, deal, "needs_confirmed")
    with pytest.raises(GateBlocked) as blocked:
        move(crm, deal, "solution_demo")
    assert blocked.value.missing == ["needs_analysis"]
    assert blocked.value.stage.key == "solution_demo"
    assert codes(blocked.value) == {"needs_analysis": ["required_for_stage"]}
    assert "Needs analysis is required to enter the stage Solution demo" in str(blocked.value)
    assert stored(crm, deal)["stage"] == "needs_confirmed"
    # Filling the field in the same write lets the move through.
    moved = move(crm, deal, "solution_demo", needs_analysis="Wants SSO and audit logs")
    assert moved["stage"] == "solution_demo"


def test_gates_are_cumulative_and_apply_from_their_stage_on(crm):
    deal = new_deal(crm)
    move(crm, deal, "needs_confirmed")
    move(crm, deal, "solution_demo", needs_analysis="SSO")
    with pytest.raises(GateBlocked) as blocked:
        move(crm, deal, "quote")
    assert sorted(blocked.value.missing) == ["budget", "quote_file"]
    # Emptying a field an earlier gate needed is refused while the record is past that gate.
    with pytest.raises(GateBlocked) as emptied:
        move(crm, deal, "quote", needs_analysis=None, quote_file="q.pdf", budget="50000")
    assert emptied.value.missing == ["needs_analysis"]
    with pytest.raises(GateBlocked), crm.session("rita") as s:
        s.update("deal", deal.id, {"needs_analysis": ""})
    # Fields of later gates are not required earlier: emptying the budget is fine before the quote.
    with crm.session("rita") as s:
        s.update("deal", deal.id, {"budget": None})


def test_requires_when_applies_only_while_its_condition_holds(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    move(crm, deal, "needs_confirmed")
    move(crm, deal, "solution_demo")
    with pytest.raises(GateBlocked) as blocked:
        move(crm, deal, "quote", quote_file="q.pdf", budget="2000000", amount="1500000")
    assert blocked.value.missing == ["legal_review"]
    assert move(crm, deal, "quote", quote_file="q.pdf", budget="2000000", amount="900000")["stage"] == "quote"
    with pytest.raises(GateBlocked), crm.session("rita") as s:
        s.update("deal", deal.id, {"amount": "1500000"})
    with crm.session("rita") as s:
        s.update("deal", deal.id, {"amount": "1500000", "legal_review": "approved by legal"})


def test_other_problems_are_reported_together_with_the_gate(crm):
    deal = new_deal(crm)
    move(crm, deal, "needs_confirmed")
    with pytest.raises(ValidationFailed) as refused:
        move(crm, deal, "solution_demo", name="")
    assert not isinstance(refused.value, GateBlocked)
    assert codes(refused.value) == {"name": ["required"], "needs_analysis": ["required_for_stage"]}


def test_moving_back_is_allowed_and_lost_is_reachable_from_anywhere(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    move(crm, deal, "needs_confirmed")
    move(crm, deal, "solution_demo")
    assert move(crm, deal, "initial_contact")["stage"] == "initial_contact"
    with pytest.raises(GateBlocked) as blocked:
        move(crm, deal, "lost")
    assert blocked.value.missing == ["lost_reason"]
    assert move(crm, deal, "lost", lost_reason="price")["stage"] == "lost"


def test_back_false_refuses_moving_back(write_config, db_url, clock):
    crm = open_crm(write_config, db_url, clock, reopen="back: false")
    try:
        deal = new_deal(crm)
        move(crm, deal, "needs_confirmed")
        with pytest.raises(ValidationFailed) as refused:
            move(crm, deal, "initial_contact")
        assert codes(refused.value) == {"stage": ["transition_not_allowed"]}
    finally:
        crm.close()


def test_skipping_needs_the_permission_and_a_reason(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    with pytest.raises(PermissionDenied) as denied:
        move(crm, deal, "solution_demo")
    assert "skips 1 stage" in str(denied.value) and "skip_stage" in str(denied.value)
    assert stored(crm, deal)["stage"] == "initial_contact"
    with pytest.raises(ValidationFailed) as refused:
        move(crm, deal, "solution_demo", user="max")
    assert codes(refused.value) == {"stage_reason": ["reason_required"]}
    moved = move(crm, deal, "solution_demo", user="max", stage_reason="Customer already did a workshop")
    assert moved["stage"] == "solution_demo"
    with crm.session() as s:
        history = stage_history(s.connection, crm.schema.system["sys_stage_history"], "deal", deal.id)
    assert history[-1]["reason"] == "Customer already did a workshop"
    assert history[-1]["skipped"] == 1


def test_creating_past_the_first_stage_is_a_skip_for_users_but_not_for_imports(crm):
    with pytest.raises(PermissionDenied):
        new_deal(crm, stage="solution_demo", needs_analysis="x")
    assert new_deal(crm, stage="needs_confirmed")["stage"] == "needs_confirmed"
    with crm.session() as s:  # the system context: imports and automation
        imported = s.create("deal", {"name": "Old deal", "stage": "solution_demo", "needs_analysis": "x"})
    assert imported["stage"] == "solution_demo"
    with pytest.raises(GateBlocked), crm.session() as s:
        s.create("deal", {"name": "Old deal", "stage": "solution_demo"})


def test_time_in_stage_is_recorded_for_each_move(crm, clock):
    deal = new_deal(crm)
    clock.now = START + dt.timedelta(days=3, hours=2)
    moved = move(crm, deal, "needs_confirmed")
    assert moved["stage_entered_at"] == clock.now
    with crm.session() as s:
        history = stage_history(s.connection, crm.schema.system["sys_stage_history"], "deal", deal.id)
    assert history[-1]["from_stage"] == "initial_contact"
    assert history[-1]["seconds_in_previous"] == (3 * 24 + 2) * 3600
    assert history[-1]["user_id"] is not None
    # A change that keeps the stage leaves stage_entered_at and the history alone.
    clock.now += dt.timedelta(hours=1)
    with crm.session("rita") as s:
        kept = s.update("deal", deal.id, {"budget": "10"})
    assert kept["stage_entered_at"] == START + dt.timedelta(days=3, hours=2)
    with crm.session() as s:
        assert len(stage_history(s.connection, crm.schema.system["sys_stage_history"], "deal", deal.id)) == 2


@pytest.mark.parametrize("reopen", ["", "reopen: permission", "reopen: never"])
def test_leaving_a_closed_stage_follows_reopen(write_config, db_url, clock, reopen):
    crm = open_crm(write_config, db_url, clock, reopen=reopen)
    try:
        deal = new_deal(crm)
        move(crm, deal, "lost", lost_reason="price")
        if reopen == "":
            assert move(crm, deal, "initial_contact")["stage"] == "initial_contact"
        elif reopen == "reopen: permission":
            with pytest.raises(PermissionDenied, match="reopen permission"):
                move(crm, deal, "initial_contact")
            assert move(crm, deal, "initial_contact", user="max")["stage"] == "initial_contact"
        else:
            with pytest.raises(ValidationFailed) as refused:
                move(crm, deal, "initial_contact", user="max")
            assert codes(refused.value) == {"stage": ["stage_closed"]}
            assert stored(crm, deal)["stage"] == "lost"
    finally:
        crm.close()


def test_missing_fields_tells_a_ui_what_the_next_stage_needs(crm, clock):
    deal = new_deal(crm)
    values = dict(stored(crm, deal))
    assert missing_fields(crm.config.object("deal"), "quote", values, crm.clock_now()) == [
        "needs_analysis",
        "quote_file",
        "budget",
    ]
    values.update(amount=5_000_000)
    assert "legal_review" in missing_fields(crm.config.object("deal"), "quote", values, crm.clock_now())


VARIANTS = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text, required: true}
      product_line: {type: picklist, values: [software, hardware, services]}
      site_survey: {type: text}
    pipeline:
      by: product_line
      stages: [qualify, propose, {key: won, outcome: won}, {key: lost, outcome: lost}]
      pipelines:
        hardware:
          label: Hardware sales
          when: [hardware]
          stages: [qualify, {key: site_visit, requires: [site_survey]}, ship, {key: won, outcome: won},
                   {key: lost, outcome: lost}]
roles:
  rep:
    objects: {deal: {read: all, edit: all, create: true}}
"""


@pytest.fixture
def variants(write_config, db_url, clock):
    crm = Trellis.open(write_config(VARIANTS), db_url, clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
    yield crm
    crm.close()


def test_a_field_chooses_the_pipeline_and_its_stages(variants):
    with variants.session("rita") as s:
        software = s.create("deal", {"name": "SaaS", "product_line": "software"})
        hardware = s.create("deal", {"name": "Racks", "product_line": "hardware"})
        assert software["stage"] == "qualify" and hardware["stage"] == "qualify"
        assert s.update("deal", software.id, {"stage": "propose"})["stage"] == "propose"
    with pytest.raises(ValidationFailed) as refused, variants.session("rita") as s:
        s.update("deal", hardware.id, {"stage": "propose"})
    assert codes(refused.value) == {"stage": ["not_in_pipeline"]}
    assert "not a stage of the Hardware sales pipeline" in str(refused.value)
    with pytest.raises(GateBlocked) as blocked, variants.session("rita") as s:
        s.update("deal", hardware.id, {"stage": "site_visit"})
    assert blocked.value.missing == ["site_survey"]
    with variants.session("rita") as s:
        assert s.update("deal", hardware.id, {"stage": "site_visit", "site_survey": "ok"})["stage"] == "site_visit"
        # ship is the next stage of the hardware pipeline: not a skip there.
        assert s.update("deal", hardware.id, {"stage": "ship"})["stage"] == "ship"
    # Changing the product line enters the new pipeline at its first stage; a stage further on is a skip.
    with (
        pytest.raises(PermissionDenied, match="moving from Qualify to Won skips 1 stage"),
        variants.session("rita") as s,
    ):
        s.update("deal", hardware.id, {"product_line": "software", "stage": "won"})
    with variants.session("rita") as s:
        assert s.update("deal", hardware.id, {"product_line": "software"})["stage"] == "qualify"


def test_pipeline_variants_are_checked_in_the_config(write_config):
    from engine.metadata import load_config
    from engine.metadata.errors import ConfigError

    bad = VARIANTS.replace("when: [hardware]", "when: [hardwear]").replace("by: product_line", "by: product_line")
    with pytest.raises(ConfigError) as error:
        load_config(write_config(bad))
    assert [(i.code, i.path) for i in error.value.issues] == [
        ("T-E093", "objects.deal.pipeline.pipelines.hardware.when[0]")
    ]
    no_by = VARIANTS.replace("      by: product_line\n", "")
    with pytest.raises(ConfigError) as error:
        load_config(write_config(no_by, "b.yaml"))
    assert [(i.code, i.path) for i in error.value.issues] == [("T-E012", "objects.deal.pipeline.pipelines")]
    by_text = VARIANTS.replace("by: product_line", "by: name")
    with pytest.raises(ConfigError) as error:
        load_config(write_config(by_text, "c.yaml"))
    assert [(i.code, i.path) for i in error.value.issues] == [("T-E034", "objects.deal.pipeline.by")]
