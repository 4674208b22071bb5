"""Approvals through the Python API (S18 skip approval, S21 discount, S33 delete/tier change).

A change that needs approval changes nothing: the write returns the record as it
was with ``pending_approval`` set, the record is locked against changes of that
kind, and the change is applied — re-validated, as the requester — when the last
approver agrees. Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine import NotFound, Trellis, ValidationFailed
from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.runtime.security.permissions import PermissionDenied
from engine.runtime.workflow import approvals
from engine.runtime.workflow.pipeline import stage_history
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
      amount: {type: currency}
      discount: {type: percent}
      tier: {type: picklist, values: [normal, key]}
    pipeline:
      stages:
        - initial_contact
        - needs_confirmed
        - {key: solution_demo, requires: [needs_analysis]}
        - {key: won, outcome: won}
      skip: {approval: manager}
approvals:
  - name: big_discount
    object: deal
    on: {change: [discount, amount]}
    when: "discount > 20 or amount > 1000000"
    steps:
      - {approver: manager, label: Sales manager}
      - {approver: {role: executive}, label: Director}
  - name: tier_change
    object: deal
    on: {change: [tier]}
    approver: {user: eve}
  - name: delete_deal
    object: deal
    on: delete
    approver: {role: executive}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true, delete: own}}
    permissions: [skip_stage]
  manager:
    objects: {deal: {read: all, edit: all, create: true, delete: all}}
    permissions: [skip_stage, approve]
  executive:
    objects: {deal: {read: all, edit: all, delete: all}}
    permissions: [approve]
"""

NOW = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("eve", roles=["executive"])
        d.add("max", roles=["manager"], manager="eve")
        d.add("rita", roles=["rep"], manager="max")
        d.add("ann", roles=["rep"])
    yield crm
    crm.close()


def new_deal(crm, user="rita", **values):
    with crm.session(user) as s:
        return s.create("deal", {"name": "Acme", **values})


def update(crm, record, user="rita", **values):
    with crm.session(user) as s:
        return s.update("deal", record.id, values)


def decide(crm, request, user, decision="approve", comment=None):
    with crm.session(user) as s:
        return approvals.decide(s, request.id, decision, comment)


def stored(crm, record):
    with crm.session() as s:
        return s.get("deal", record.id)


def codes(failure):
    return {field: [e.code for e in errors] for field, errors in failure.errors.items()}


def test_a_skip_waits_for_the_managers_approval_and_then_lands(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    result = update(crm, deal, stage="solution_demo", stage_reason="Workshop already done")
    request = result.pending_approval
    assert request is not None and request.status == "pending"
    assert result["stage"] == "initial_contact" and stored(crm, deal)["stage"] == "initial_contact"
    assert [s.approver_name for s in request.steps] == ["max"]
    with crm.session("max") as s:
        assert [r.id for r in approvals.inbox(s)] == [request.id]
    with crm.session("eve") as s:
        assert approvals.inbox(s) == []
    decided = decide(crm, request, "max", comment="ok")
    assert decided.status == "approved"
    assert stored(crm, deal)["stage"] == "solution_demo"
    with crm.session() as s:
        history = stage_history(s.connection, crm.schema.system["sys_stage_history"], "deal", deal.id)
        audit_rows = (
            s.connection.execute(
                crm.schema.system["sys_audit"].select().where(crm.schema.system["sys_audit"].c.record_id == deal.id)
            )
            .mappings()
            .all()
        )
    assert history[-1]["reason"] == "Workshop already done" and history[-1]["channel"] == "approval"
    assert history[-1]["user_id"] is not None
    update_row = next(r for r in audit_rows if r["action"] == "update")
    assert update_row["username"] == "rita" and update_row["channel"] == "approval"
    assert {"approval.request", "approval.approved"} <= {r["action"] for r in audit_rows}


def test_a_pending_request_locks_the_kind_of_change_under_approval(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    update(crm, deal, stage="solution_demo", stage_reason="why not")
    with pytest.raises(ValidationFailed) as refused:
        update(crm, deal, stage="needs_confirmed")
    assert codes(refused.value) == {"stage": ["approval_pending"]}
    assert "waits for approval" in str(refused.value)
    # Other changes go on.
    assert update(crm, deal, name="Acme II")["name"] == "Acme II"


def test_rejection_keeps_the_record_and_tells_why(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    request = update(crm, deal, stage="solution_demo", stage_reason="x").pending_approval
    with pytest.raises(ValidationFailed) as refused:
        decide(crm, request, "max", "reject")
    assert codes(refused.value) == {"comment": ["required"]}
    rejected = decide(crm, request, "max", "reject", "Do the needs call first")
    assert rejected.status == "rejected" and rejected.comment == "Do the needs call first"
    assert stored(crm, deal)["stage"] == "initial_contact"
    with crm.session("rita") as s:
        assert approvals.requested_by_me(s)[0].comment == "Do the needs call first"
    # The lock is gone: the stage may change again.
    assert update(crm, deal, stage="needs_confirmed")["stage"] == "needs_confirmed"


def test_two_steps_in_order_and_only_the_right_approver(crm):
    deal = new_deal(crm)
    request = update(crm, deal, discount="25").pending_approval
    assert [s.approver_name for s in request.steps] == ["max", "role executive"]
    with pytest.raises(PermissionDenied, match="for max"):
        decide(crm, request, "eve")
    after_first = decide(crm, request, "max")
    assert after_first.status == "pending" and after_first.step == 1
    assert stored(crm, deal)["discount"] is None
    with pytest.raises(PermissionDenied):
        decide(crm, request, "max")
    assert decide(crm, request, "eve").status == "approved"
    assert str(stored(crm, deal)["discount"]) in ("25", "25.00", "25.0")


def test_the_condition_decides_whether_approval_is_needed(crm):
    deal = new_deal(crm)
    small = update(crm, deal, discount="10")
    assert small.pending_approval is None and small["discount"] is not None
    assert update(crm, deal, amount="2000000").pending_approval is not None


def test_self_approval_is_refused(crm):
    deal = new_deal(crm, user="max")
    request = update(crm, deal, user="max", discount="30").pending_approval
    assert request.steps[0].approver_name == "eve"  # max's manager
    # eve approves step 1; step 2 (role executive) is also hers, but one person never
    # decides two steps of a request (separation of duties).
    decide(crm, request, "eve")
    with pytest.raises(PermissionDenied, match="you decided an earlier step of request"):
        decide(crm, request, "eve")
    with crm.session("eve") as s:
        assert approvals.inbox(s) == [] and approvals.waiting_count(s) == 0
    tier_request = update(crm, deal, user="eve", tier="key").pending_approval
    with pytest.raises(PermissionDenied, match="your own request"):
        decide(crm, tier_request, "eve")


def test_a_requester_without_a_manager_is_told_clearly(crm):
    deal = new_deal(crm, user="ann", needs_analysis="SSO")
    with pytest.raises(ValidationFailed) as refused:
        update(crm, deal, user="ann", stage="solution_demo", stage_reason="x")
    assert codes(refused.value) == {"_record": ["no_approver"]}
    assert stored(crm, deal)["stage"] == "initial_contact"


def test_delete_needs_approval_by_role(crm):
    deal = new_deal(crm)
    with crm.session("rita") as s:
        request = s.delete("deal", deal.id)
    assert request is not None and request.action == "delete"
    with pytest.raises(ValidationFailed) as twice, crm.session("rita") as s:
        s.delete("deal", deal.id)
    assert codes(twice.value) == {"_record": ["approval_pending"]}
    decide(crm, request, "eve")
    with pytest.raises(NotFound):
        stored(crm, deal)


def test_an_approved_change_that_no_longer_fits_fails_without_changing_anything(crm):
    deal = new_deal(crm, needs_analysis="SSO")
    request = update(crm, deal, stage="solution_demo", stage_reason="x").pending_approval
    update(crm, deal, needs_analysis="")  # allowed: not under approval, and not yet required
    failed = decide(crm, request, "max")
    assert failed.status == "failed" and "Needs analysis" in failed.result
    assert stored(crm, deal)["stage"] == "initial_contact"


def test_approvers_need_scope_and_the_permission(crm):
    deal = new_deal(crm)
    request = update(crm, deal, tier="key").pending_approval
    with pytest.raises(NotFound):  # out of ann's scope: as if it did not exist
        decide(crm, request, "ann")
    with pytest.raises(PermissionDenied, match="approve permission"):
        decide(crm, request, "rita")
    # ann may not read rita's deal: the request does not exist for her.
    with crm.session("ann") as s, pytest.raises(NotFound):
        approvals.get(s, request.id)
    assert decide(crm, request, "eve").status == "approved"


def test_requesters_may_withdraw(crm):
    deal = new_deal(crm)
    request = update(crm, deal, tier="key").pending_approval
    with pytest.raises(PermissionDenied), crm.session("max") as s:
        approvals.cancel(s, request.id)
    with crm.session("rita") as s:
        assert approvals.cancel(s, request.id).status == "cancelled"
    assert update(crm, deal, tier="key").pending_approval is not None


BAD_APPROVALS = """
trellis: 1
objects:
  note:
    fields: {text: {type: text}}
approvals:
  - {name: skip, object: note, on: stage_skip, approver: manager}
  - {name: nobody, object: note, on: delete}
  - {name: both, object: note, on: delete, approver: manager, steps: [{approver: manager}]}
  - {name: unknown_role, object: note, on: delete, approver: {role: director}}
  - {name: unknown_field, object: note, on: {change: [txt]}, approver: manager}
  - {name: unknown_object, object: notes, on: delete, approver: manager}
roles:
  admin: {objects: {"*": {read: all}}}
"""


def test_config_errors_for_approvals(write_config):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(BAD_APPROVALS))
    found = sorted((issue.code, issue.path) for issue in error.value.issues)
    assert found == [
        ("T-E030", "approvals[5].object"),
        ("T-E032", "approvals[4].on.change[0]"),
        ("T-E090", "approvals[0].on"),
        ("T-E091", "approvals[1]"),
        ("T-E091", "approvals[2]"),
        ("T-E092", "approvals[3].approver.role"),
    ]


def test_applies_to_is_checked_in_the_config(write_config):
    head = BAD_APPROVALS.split("approvals:")[0] + "approvals:\n"
    wrong_rule = head + "  - {name: on_delete, object: note, on: delete, approver: manager, applies_to: [create]}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write_config(wrong_rule))
    (issue,) = error.value.issues
    assert (issue.code, issue.path) == ("T-E094", "approvals[0].applies_to")
    assert "`applies_to` is for `on: {change: [fields]}` rules, and this rule is on `delete`" in issue.message
    wrong_value = head + "  - {name: x, object: note, on: {change: [text]}, approver: manager, applies_to: sometimes}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write_config(wrong_value, "b.yaml"))
    assert [(i.code, i.path) for i in error.value.issues] == [("T-E011", "approvals[0].applies_to")]


def test_a_rule_must_say_which_object_and_which_change_it_guards(write_config):
    head = BAD_APPROVALS.split("approvals:")[0] + "approvals:\n"
    no_trigger = (
        head
        + "  - {name: big_discount, object: note, approver: manager}\n  - {name: nothing, on: delete, approver: manager}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(write_config(no_trigger))
    found = sorted((issue.code, issue.path, issue.message) for issue in error.value.issues)
    assert found == [
        ("T-E012", "approvals[0]", "missing required key `on`"),
        ("T-E012", "approvals[1]", "missing required key `object`"),
    ]


def test_separate_steps_false_lets_one_person_decide_two_steps(write_config, db_url):
    relaxed = CONFIG.replace(
        '    when: "discount > 20 or amount > 1000000"\n',
        '    when: "discount > 20 or amount > 1000000"\n    separate_steps: false\n',
    )
    assert "separate_steps: false" in relaxed
    crm = Trellis.open(write_config(relaxed), db_url, clock=lambda: NOW)
    crm.apply()
    with crm.directory() as d:
        d.add("eve", roles=["executive"])
        d.add("max", roles=["manager"], manager="eve")
    try:
        deal = new_deal(crm, user="max")
        request = update(crm, deal, user="max", discount="30").pending_approval
        decide(crm, request, "eve")
        assert decide(crm, request, "eve").status == "approved"
    finally:
        crm.close()
    wrong = CONFIG.replace("    self_approval: true\n", "").replace(
        "    approver: {user: eve}\n", "    approver: {user: eve}\n    separate_steps: sometimes\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(write_config(wrong, "wrong.yaml"))
    assert [(i.code, i.path, i.message) for i in error.value.issues] == [
        ("T-E011", "approvals[1].separate_steps", "'sometimes' is not of type 'boolean'")
    ]
