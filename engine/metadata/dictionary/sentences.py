"""Rules said in plain sentences: automation rules, approvals, assignment, field types, measures.

Each trigger kind and action kind has one sentence function in ``TRIGGER_WORDS`` /
``ACTION_WORDS`` (keyed by the kind's name, as ``automation_triggers.TRIGGERS`` and
``automation_actions.ACTIONS`` register them); a kind registered by a plug-in without one is
said generically (``trigger.other``, ``action.other``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.metadata.dictionary.words import WORDS, Speaker
from engine.metadata.expressions import Expression
from engine.metadata.model import (
    Action,
    ApprovalRule,
    Approver,
    AssignmentPool,
    AssignmentRule,
    Automation,
    FieldDef,
    ObjectDef,
    Picklist,
    Recipient,
    ReportGroup,
    ReportMeasure,
    Trigger,
)

TriggerWords = Callable[[Speaker, Trigger, str], str]
ActionWords = Callable[[Speaker, Action, str], str]


def _stages(say: Speaker, trigger: Trigger, obj: str, key: str) -> str:
    if not trigger.stages:
        return say(f"{key}_any", **say.names(obj))
    names = say.join((say.quoted(say.stage(obj, s)) for s in trigger.stages), "list.or")
    return say(key, **say.names(obj), stages=names)


def _changed(say: Speaker, trigger: Trigger, obj: str) -> str:
    fields = say.join((say.field(obj, f) for f in trigger.fields), "list.or")
    if not trigger.has_to:
        return say("trigger.changed", fields=fields, **say.names(obj))
    field = say.config.objects[obj].fields.get(trigger.fields[0]) if obj in say.config.objects else None
    return say("trigger.changed_to", fields=fields, **say.names(obj), value=say.value(field, trigger.to))


def _schedule(say: Speaker, trigger: Trigger, obj: str) -> str:
    field = say.field(obj, trigger.from_field or "")
    if trigger.offset_seconds == 0:
        when = say("trigger.schedule_at", field=field, **say.names(obj))
    else:
        key = "trigger.schedule_after" if trigger.offset_seconds > 0 else "trigger.schedule_before"
        when = say(key, duration=say.duration(trigger.offset_seconds), field=field, **say.names(obj))
    return say("trigger.yearly", when=when) if trigger.yearly else when


TRIGGER_WORDS: dict[str, TriggerWords] = {
    "created": lambda say, t, obj: say("trigger.created", **say.names(obj)),
    "updated": lambda say, t, obj: say("trigger.updated", **say.names(obj)),
    "deleted": lambda say, t, obj: say("trigger.deleted", **say.names(obj)),
    "changed": _changed,
    "stage_entered": lambda say, t, obj: _stages(say, t, obj, "trigger.stage_entered"),
    "stage_left": lambda say, t, obj: _stages(say, t, obj, "trigger.stage_left"),
    "approval": lambda say, t, obj: say(
        "trigger.approval", **say.names(obj), decision=say.either(f"decision.{t.decision}", str(t.decision))
    ),
    "schedule": _schedule,
    "cron": lambda say, t, obj: say("trigger.cron", cron=say.code(t.cron or "")),
    "event": lambda say, t, obj: say("trigger.event", **say.names(obj), event=say.code(t.event or "")),
}


def _shown(value: Any) -> str:
    """A configured value in a sentence: an expression by its source, prefixed ``=``."""
    return f"={value.source}" if isinstance(value, Expression) else str(value)


def _assignments(say: Speaker, obj: str | None, values: Any) -> str:
    found = say.config.objects.get(obj or "")
    fields = found.fields if found is not None else {}
    return say.join(
        say(
            "action.assignment",
            field=say.field(obj, name),
            value=say.code(_shown(v)) if isinstance(v, Expression) else say.value(fields.get(name), v),
        )
        for name, v in values.items()
    )


def recipient(say: Speaker, who: Recipient, obj: str) -> str:
    """Who a notification goes to, as a phrase."""
    if who.kind in ("owner", "manager"):
        return say(f"recipient.{who.kind}")
    if who.kind == "role":
        return say("recipient.role", role=say.role(who.name))
    if who.kind == "user":
        return say("recipient.user", name=who.name or "")
    if who.kind == "field":
        return say("recipient.field", field=say.field(obj, who.name or ""))
    return say("recipient.other", kind=who.kind, name=who.name or "")


def _rule_label(say: Speaker, kind: str, name: str | None) -> str:
    found = (say.config.assignment if kind == "assign" else say.config.conversions).get(name or "")
    return say.quoted(say.label(found.label, name or "") if found else name or "")


ACTION_WORDS: dict[str, ActionWords] = {
    "set": lambda say, a, obj: say("action.set", assignments=_assignments(say, obj, a.values)),
    "add_tags": lambda say, a, obj: say(
        "action.add_tags", tags=say.join(say.code(t) for t in a.tags), field=say.field(obj, a.field or "tags")
    ),
    "remove_tags": lambda say, a, obj: say(
        "action.remove_tags", tags=say.join(say.code(t) for t in a.tags), field=say.field(obj, a.field or "tags")
    ),
    "add": lambda say, a, obj: say(
        "action.add", amount=say.code(_shown(a.amount)), field=say.field(obj, a.field or "")
    ),
    "update": lambda say, a, obj: say(
        "action.update", field=say.field(obj, a.field or ""), assignments=_assignments(say, a.object, a.values)
    ),
    "create": lambda say, a, obj: say("action.create", **say.names(a.object)),
    "notify": lambda say, a, obj: say(
        "action.notify",
        recipients=say.join((recipient(say, r, obj) for r in a.recipients), "list.sep"),
        template=say.code(a.template or ""),
        channels=say.join(say.either(f"channel.{c}", c) for c in a.channels),
    ),
    "webhook": lambda say, a, obj: say("action.webhook", target=say.code(a.webhook_target)),
    "assign": lambda say, a, obj: say("action.assign", rule=_rule_label(say, "assign", a.rule)),
    "convert": lambda say, a, obj: say("action.convert", rule=_rule_label(say, "convert", a.rule)),
    "archive": lambda say, a, obj: say("action.archive"),
}


def automation_sentence(say: Speaker, rule: Automation) -> str:
    """``When an opportunity is moved to “Won”, notify its owner's manager with template “x”.``"""
    obj = rule.object or ""
    trigger_words = TRIGGER_WORDS.get(rule.trigger.kind)
    trigger = (
        trigger_words(say, rule.trigger, obj)
        if trigger_words
        else say("trigger.other", kind=rule.trigger.kind, **say.names(obj))
    )
    actions = []
    for action in rule.actions:
        words = ACTION_WORDS.get(action.kind)
        actions.append(words(say, action, obj) if words else say("action.other", kind=action.kind))
    condition = say("rule.condition", expression=say.code(rule.when.source)) if rule.when else ""
    sentence = say("rule.sentence", trigger=trigger, condition=condition, actions=say.join(actions))
    return f"{sentence} {say('rule.blocking')}" if rule.blocking else sentence


def approver(say: Speaker, who: Approver) -> str:
    """Who decides an approval step, as a phrase."""
    if who.kind == "manager":
        return say("approver.manager") if who.levels == 1 else say("approver.manager_up", levels=who.levels)
    if who.kind == "role":
        return say("approver.role", role=say.role(who.name), a_role=say.article(say.role(who.name)))
    return say("approver.user", name=who.name or "")


def approval_sentence(say: Speaker, rule: ApprovalRule) -> str:
    """``Big discount: changing the Discount of an opportunity needs approval by …, when ….``"""
    approvers = say("approval.then").join(approver(say, step.approver) for step in rule.steps)
    key = f"approval.{rule.trigger}" if rule.trigger in ("stage_skip", "delete") else "approval.change"
    text = say(
        key,
        label=say.label(rule.label, rule.name),
        **say.names(rule.object),
        fields=say.join((say.field(rule.object, f) for f in rule.fields), "list.or"),
        approvers=approvers,
    )
    if rule.when is not None:
        text += say("approval.when", expression=say.code(rule.when.source))
    return text + say("sentence.end")


def pool_words(say: Speaker, pool: AssignmentPool | None) -> str:
    """The members of an assignment pool, as a phrase."""
    if pool is None:
        return ""
    if pool.users:
        return say("pool.users", users=say.join(pool.users))
    if pool.team_from:
        return say("pool.team_from", path=".".join(pool.team_from))
    if pool.role and pool.team:
        return say("pool.role_team", role=say.role(pool.role), team=pool.team)
    if pool.role:
        return say("pool.role", role=say.role(pool.role))
    return say("pool.team", team=pool.team or "")


def assignment_sentence(say: Speaker, rule: AssignmentRule) -> str:
    """``New leads: a lead meeting … goes to the Sales reps (in turn), at most 30 open each; if …``"""
    text = say(
        "assignment.sentence",
        label=say.label(rule.label, rule.name),
        **say.names(rule.object),
        when=say("assignment.when", expression=say.code(rule.when.source)) if rule.when else "",
        pool=pool_words(say, rule.pool),
        strategy=say.either(f"strategy.{rule.strategy}", rule.strategy),
        cap=say("assignment.cap", n=rule.max_open) if rule.max_open else "",
    )
    for territory in rule.territories:
        expression = say.code(territory.when.source)
        text += say("assignment.territory", expression=expression, pool=pool_words(say, territory.pool))
    return text + say("sentence.end")


def picklist_name(say: Speaker, picklist: Picklist) -> str:
    """A picklist's name as people read it; an inline one (``lead.status``) by its field's label."""
    obj, _, name = picklist.name.partition(".")
    if name and obj in say.config.objects and name in say.config.objects[obj].fields:
        return say.field(obj, name)
    return say.label(picklist.label, picklist.name)


def _is_stage_field(say: Speaker, obj: str, field: FieldDef) -> bool:
    pipeline = say.config.objects[obj].pipeline if obj in say.config.objects else None
    return pipeline is not None and pipeline.field == field.name


def field_type(say: Speaker, obj: str, field: FieldDef) -> str:
    """A field's type as people read it: ``One of the list “Industry”``, ``Link to a Customer``."""
    kind = field.type
    if kind == "text" and field.max_length:
        text = say("type.text_max", max=field.max_length)
    elif kind == "picklist" and _is_stage_field(say, obj, field):
        text = say("type.stage")
    elif kind in ("picklist", "multipicklist") and field.picklist is not None:
        text = say(f"type.{kind}", picklist=say.quoted(picklist_name(say, field.picklist)))
    elif kind == "lookup":
        text = say("type.lookup", **say.names(field.target))
    elif kind == "currency":
        text = say("type.currency", currency=say.config.settings.currency)
    elif kind == "formula":
        result = say.either(f"type.{field.result}", str(field.result), currency=say.config.settings.currency)
        text = say("type.formula", result=result, expression=field.expression.source if field.expression else "")
    elif kind == "autonumber":
        text = say("type.autonumber", format=field.format or "")
    else:
        text = say.either(f"type.{kind}", kind)
    if field.depends_on:
        text = say("type.depends_on", type=text, parent=say.field(obj, field.depends_on))
    return say("type.encrypted", type=text) if field.encrypted else text


def measure_words(say: Speaker, obj: str, measure: ReportMeasure) -> str:
    """A report's figure as people read it (its own label when it has one)."""
    if measure.label is not None:
        return say.label(measure.label)
    if f"measure.key.{measure.key}" in WORDS:
        return say(f"measure.key.{measure.key}")
    if measure.kind == "count" or measure.field is None:
        return say("measure.count") if measure.kind == "count" else say.either(f"measure.{measure.kind}", measure.kind)
    kind = say.either(f"measure.{measure.kind}", measure.kind)
    return say("measure.of", kind=kind, field=say.field(obj, measure.field))


def group_words(say: Speaker, obj: str, group: ReportGroup) -> str:
    """A report's grouping level as people read it."""
    name = say.field(obj, group.field)
    return (
        say("report.by_bucket", field=name, bucket=say.either(f"bucket.{group.bucket}", group.bucket))
        if group.bucket
        else name
    )


def retention_sentence(say: Speaker, obj: ObjectDef) -> str:
    """How long ``obj``'s records are kept, in words: for ever, or archived / purged N years after
    a moment named as people read it (a field's label, ``last change`` for ``updated_at``), once
    its approver approves when the policy names one."""
    policy = obj.retention
    if policy is None:
        kept = say("diff.retention_none")
    else:
        named = say.field(obj.name, policy.from_field)
        moment = say.quoted(named) if policy.from_field in obj.fields else named
        kept = say(f"diff.retention_{policy.action}", years=policy.years, moment=moment)
        if policy.approver is not None:
            approver = say.role(policy.approver.name) if policy.approver.kind == "role" else policy.approver.name
            kept = say("diff.retention_approved", policy=kept, approver=approver)
    return say("doc.retention", policy=kept)
