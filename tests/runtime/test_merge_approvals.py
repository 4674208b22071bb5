"""Merging records in different stages or with pending approvals (issue 14 §4), on SQLite and
PostgreSQL: the survivor's new values follow the gates and approval rules of any update. A merge is
never held for approval itself — values that would need one refuse it, saying which rule — so the
merge is done keeping the survivor's value and the change is then asked for as usual; a stage
skip (which needs a written reason a merge has no place for) is refused at the stage, saying so.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import Trellis, ValidationFailed
from engine.runtime.messages import speaking
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {languages: [en, zh]}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      tier: {type: picklist, values: [standard, gold]}
      needs: {type: text}
    pipeline:
      stages:
        - {key: prospect, label: {en: Prospect, zh: 潜在}}
        - {key: qualified, label: {en: Qualified, zh: 已确认}}
        - {key: won, label: {en: Won, zh: 赢单}, requires: [needs]}
approvals:
  - {name: tier_change, object: account, on: {change: [tier]}, approver: {role: boss}}
roles:
  rep:
    objects:
      account: {read: all, edit: all, delete: all, create: true, merge: true}
    permissions: [skip_stage]
  boss:
    objects:
      account: {read: all, edit: all}
    permissions: [approve]
"""


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("bo", roles=["boss"])
    yield crm
    crm.close()


@pytest.fixture
def pair(crm):
    """上海云帆 (standard, prospect: the survivor) and Yunfan Shanghai (gold, won)."""
    with crm.session() as s:
        a = s.create("account", {"name": "上海云帆", "tier": "standard"})
        b = s.create("account", {"name": "Yunfan Shanghai", "tier": "gold", "stage": "won", "needs": "CRM"})
    return a.id, b.id


def archived(crm, record_id):
    with crm.session() as s:
        return s.get("account", record_id)["archived_at"] is not None


def requests(crm):
    table = crm.schema.system["sys_approvals"]
    with crm.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table.c.record_id, table.c.status, table.c.changes))]


def test_a_value_needing_approval_refuses_the_merge_which_then_goes_ahead_without_it(crm, pair):
    a, b = pair
    with pytest.raises(ValidationFailed) as refused, crm.session("rita") as s:
        s.merge("account", a, [b], {"tier": b})
    (problem,) = refused.value.errors["merge"]
    assert problem.code == "merge_needs_approval" and "(tier_change)" in problem.message
    assert not archived(crm, b) and requests(crm) == []  # nothing merged, no request made
    with crm.session("rita") as s:
        assert s.merge("account", a, [b], {"name": b}).survivor["tier"] == "standard"
        pending = s.update("account", a, {"tier": "gold"}).pending_approval  # asked for as any change
    assert pending is not None and requests(crm) == [(a, "pending", '{"tier": "gold"}')]


def test_a_survivor_waiting_for_approval_merges_but_its_locked_values_stay(crm, pair):
    a, b = pair
    with crm.session("rita") as s:
        s.update("account", a, {"tier": "gold"})
    with pytest.raises(ValidationFailed) as locked, crm.session("rita") as s:
        s.merge("account", a, [b], {"tier": b})
    assert [p.code for p in locked.value.errors["tier"]] == ["approval_pending"]
    with crm.session("rita") as s:
        merged = s.merge("account", a, [b], {"name": b}).survivor
    assert merged["name"] == "Yunfan Shanghai" and archived(crm, b)
    assert requests(crm) == [(a, "pending", '{"tier": "gold"}')]  # the request still waits, on the survivor


def test_a_stage_skip_is_refused_at_the_stage_and_a_next_stage_passes_its_gate(crm, pair):
    a, b = pair
    with pytest.raises(ValidationFailed) as skip, crm.session("rita") as s:
        s.merge("account", a, [b], {"stage": b, "needs": b})
    assert list(skip.value.errors) == ["stage"]
    (problem,) = skip.value.errors["stage"]
    assert problem.code == "merge_stage_skip"
    assert problem.message.startswith("Taking the stage Won skips stages, and a skip needs a written reason")
    with speaking("zh"), pytest.raises(ValidationFailed) as skip, crm.session("rita") as s:
        s.merge("account", a, [b], {"stage": b, "needs": b})
    with speaking("zh"):
        assert skip.value.errors["stage"][0].message.startswith("采用阶段「赢单」会跳过中间阶段")
    with crm.session("rita") as s:
        s.update("account", a, {"stage": "qualified"})
        survivor = s.merge("account", a, [b], {"stage": b, "needs": b}).survivor  # qualified → won: no skip
    assert (survivor["stage"], survivor["needs"]) == ("won", "CRM") and archived(crm, b)
