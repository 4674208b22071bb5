"""Automation trigger and action kinds are one registered object each, with every part.

Each kind has a config half (compile, ``engine.metadata.automation_*``) and a runtime half
(match / sweep / preview / run, ``engine.runtime.workflow.triggers`` and ``actions``), both
registered by one call. A kind lacking a part is refused; a new action kind plugs in — the
config accepts it, a write runs it, a dry run tells it — by registering one object.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import Trellis
from engine.metadata import automation_actions, automation_triggers, load_config_text
from engine.metadata.errors import ConfigError
from engine.metadata.model import Action, Trigger
from engine.runtime.jobs import worker
from engine.runtime.workflow import actions, simulate, triggers
from tests.templates import apply_fresh

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def test_every_kind_of_the_language_has_its_runtime_half_with_every_part():
    assert triggers.TRIGGERS.names() == automation_triggers.TRIGGERS.names()
    assert actions.ACTIONS.names() == automation_actions.ACTIONS.names()
    for kind in triggers.TRIGGERS:
        assert kind.spec is automation_triggers.TRIGGERS[kind.name]
        base = triggers.EventTrigger if isinstance(kind, triggers.EventTrigger) else triggers.TimedTrigger
        assert isinstance(kind, base)
        assert actions.missing_parts(kind, base, automation_triggers.TriggerSpec) == [], kind.name
    for kind in actions.ACTIONS:
        assert kind.spec is automation_actions.ACTIONS[kind.name]
        assert actions.missing_parts(kind, actions.ActionKind, automation_actions.ActionSpec) == [], kind.name


def test_a_kind_lacking_a_part_is_refused():
    class NoPreview(actions.ActionKind):
        def run(self, firing, action):
            pass

    with pytest.raises(TypeError, match=r"the action kind 'stamp' lacks preview"):
        actions.register(NoPreview(Stamp()))

    class NoCompile(automation_actions.ActionSpec):
        name = "stamp"

    with pytest.raises(TypeError, match=r"lacks compile"):
        actions.register(StampKind(NoCompile()))

    class NoMatch(triggers.EventTrigger):
        def describe(self, trigger):
            return "never"

        def explain(self, trigger, event, verdict):
            return "never"

    spec = automation_triggers.OnWrite("never")
    with pytest.raises(TypeError, match=r"the trigger kind 'never' lacks match"):
        triggers.register(NoMatch(spec))
    assert "stamp" not in automation_actions.ACTIONS and "never" not in automation_triggers.TRIGGERS


def test_a_write_trigger_matches_the_same_way_for_a_write_and_a_dry_run():
    changed = triggers.TRIGGERS["changed"]
    trigger = Trigger(kind="changed", fields=("status",), to="won", has_to=True)
    before, after = {"status": "open"}, {"status": "won"}
    assert changed.match(trigger, triggers.Event("update", before, after)) is True
    assert changed.match(trigger, triggers.Event("update", after, after)) is False
    assert changed.match(trigger, triggers.Event("create", None, after)) is False
    assert changed.match(trigger, triggers.Event("update", after, after, known=False)) is None  # a dry run: "if"


# --- a plug-in action kind ---------------------------------------------------------------------------------
class Stamp(automation_actions.ActionSpec):
    """``{stamp: FIELD}``: writes the rule's name into a text field of the record."""

    name = "stamp"

    def compile(self, rc: Any, value: Any, where: tuple, names: set[str]) -> Action | None:
        if rc.field_kind(value) != "text":
            rc.issue("T-E125", where, f"`{value}` is not a text field", "name a text field of the record")
            return None
        return Action("stamp", field=value)


class StampKind(actions.ActionKind):
    def run(self, firing: actions.Firing, action: Action) -> None:
        obj, record_id = firing.record()
        firing.session.update(obj.name, record_id, {action.field: f"by {firing.rule.name}"})

    def preview(self, dry: actions.DryRun, action: Action) -> str:
        return f"stamp {action.field}"


CONFIG = """
trellis: 1
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      note: {type: text}
      score: {type: integer}
automations:
  - name: stamp_new_leads
    object: lead
    on: created
    do: [{stamp: note}]
"""


@pytest.fixture
def stamp():
    kind = actions.register(StampKind(Stamp()))
    yield kind
    actions.unregister("stamp")


def test_a_new_action_kind_plugs_in_by_registering_one_object(stamp, write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    try:
        apply_fresh(crm)
        with crm.session(None) as s:
            lead = s.create("lead", {"name": "Acme"})
            assert s.get("lead", lead.id)["note"] == "by stamp_new_leads"  # run through the write path
        preview = simulate.simulate_record(crm, "lead", lead.id, "created")
        (rule,) = preview.rules
        assert (rule.fires, [a.text for a in rule.actions]) == (True, ["stamp note"])
    finally:
        crm.close()

    with pytest.raises(ConfigError) as refused:
        load_config_text(CONFIG.replace("{stamp: note}", "{stamp: score}"))
    assert "T-E125" in str(refused.value) and "`score` is not a text field" in str(refused.value)


def test_an_unregistered_action_kind_is_an_unknown_action_again():
    with pytest.raises(ConfigError) as refused:
        load_config_text(CONFIG)
    assert "stamp" in str(refused.value)


# --- what is due: one definition for the worker and the dry run ---------------------------------------------
DUE_CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      follow_up: {type: date}
      note: {type: text}
automations:
  - name: chase
    object: lead
    on: {schedule: {after: 1d, from: follow_up}}
    do: [{set: {note: chased}}]
"""
#: Due a day after: at 05-31 and 06-01 00:00 in Shanghai (before NOW, 06-01 10:00 there), and 06-06.
DUE = (("A", "2026-05-30"), ("B", "2026-05-31"), ("C", "2026-06-05"))


def test_the_dry_run_lists_what_the_worker_then_fires(write_config, db_url):
    crm = Trellis.open(write_config(DUE_CONFIG), db_url, clock=lambda: NOW)
    try:
        apply_fresh(crm)
        with crm.session(None) as s:
            ids = [s.create("lead", {"name": n, "follow_up": d}).id for n, d in DUE]
        start = NOW - dt.timedelta(days=30)
        (window,) = simulate.simulate_window(crm, start, NOW)
        assert [(h.record_id, h.ran) for h in window.hits] == [(ids[0], False), (ids[1], False)]
        report = worker.sweep(crm, NOW)
        assert report.rules["chase"].fired == 2
        (window,) = simulate.simulate_window(crm, start, NOW)
        assert [(h.record_id, h.ran) for h in window.hits] == [(ids[0], True), (ids[1], True)]
        later = simulate.simulate_record(crm, "lead", ids[2], "updated").rules[0]
        assert (later.triggered, later.reason) == ("no", "not due until 2026-06-06 00:00 CST")
    finally:
        crm.close()
