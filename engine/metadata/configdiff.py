"""What changed between two compiled configs, in business terms (``trellis diff``, issue 17 §4, S8).

``diff_configs(old, new)`` compares two ``Config``s into typed ``Change``s — a field added, a
stage gate tightened, a role widened on an object, an automation rule changed… — each naming
the object it concerns (``group``). ``say_changes`` words them in one language, one sentence
per change, grouped by object; each change kind has one sentence function in ``CHANGE_WORDS``.
``trellis plan`` on an overlay uses the same diff between its template alone and the overlay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.metadata.dictionary.sentences import field_type, picklist_name
from engine.metadata.dictionary.words import Speaker, plain
from engine.metadata.model import (
    ACCESS_LEVELS,
    Config,
    Label,
    ObjectDef,
    ObjectGrant,
    Picklist,
    Pipeline,
    Retention,
)

#: The group of changes that concern no one object (shared picklists, roles as a whole).
PICKLISTS, ROLES, GENERAL = "#picklists", "#roles", "#general"


@dataclass(frozen=True)
class Change:
    """One change: ``kind`` (a key of ``CHANGE_WORDS``), the object it concerns (``group``,
    or ``PICKLISTS``/``ROLES``/``GENERAL``), the names it is about and the values before/after."""

    kind: str
    group: str
    names: tuple[str, ...] = ()
    before: Any = None
    after: Any = None


def diff_configs(old: Config, new: Config) -> list[Change]:
    """Every change from ``old`` to ``new``, objects first (in ``new``'s order, removed ones last)."""
    changes: list[Change] = []
    for name in (*new.objects, *(n for n in old.objects if n not in new.objects)):
        changes.extend(_object(old.objects.get(name), new.objects.get(name), name))
    changes.extend(_picklists(old, new))
    changes.extend(_roles(old, new))
    changes.extend(_named(old.approvals, new.approvals, "approval", lambda r: r.object))
    changes.extend(_named(old.automations, new.automations, "automation", lambda r: r.object or GENERAL))
    changes.extend(_named(tuple(old.reports.values()), tuple(new.reports.values()), "report", lambda r: r.object))
    changes.extend(
        _named(tuple(old.assignment.values()), tuple(new.assignment.values()), "assignment", lambda r: r.object)
    )
    return changes


def _object(old: ObjectDef | None, new: ObjectDef | None, name: str) -> Iterator[Change]:
    if old is None or new is None:
        yield Change("object_added" if old is None else "object_removed", name, (name,))
        return
    if old.label != new.label:
        yield Change("object_label", name, (name,), old.label, new.label)
    for field in (*new.fields, *(f for f in old.fields if f not in new.fields)):
        before, after = old.fields.get(field), new.fields.get(field)
        if before is None or after is None:
            yield Change("field_added" if before is None else "field_removed", name, (field,))
            continue
        if before.value_type != after.value_type or before.type != after.type:
            yield Change("field_type", name, (field,), before, after)
        if before.label != after.label:
            yield Change("field_label", name, (field,), before.label, after.label)
        if before.required != after.required:
            yield Change("field_required" if after.required else "field_optional", name, (field,))
        if before.unique != after.unique:
            yield Change("field_unique" if after.unique else "field_not_unique", name, (field,))
        was, now = before.picklist, after.picklist
        stage_field = new.pipeline is not None and new.pipeline.field == field
        if was is not None and now is not None and was.name == f"{name}.{field}" and not stage_field:
            yield from _values(was, now, name, field)
    yield from _pipelines(old.pipeline, new.pipeline, name)
    if old.retention != new.retention:
        yield Change("retention", name, (name,), old.retention, new.retention)


def _values(old: Picklist, new: Picklist, group: str, field: str = "") -> Iterator[Change]:
    before = {v.key: v for v in old.walk()}
    after = {v.key: v for v in new.walk()}
    for key in (k for k in after if k not in before):
        yield Change("value_added", group, (field, key), new, new)
    for key in (k for k in before if k not in after):
        yield Change("value_removed", group, (field, key), old, old)
    for key in (k for k in after if k in before):
        if not before[key].inactive and after[key].inactive:
            yield Change("value_retired", group, (field, key), old, new)
        if before[key].label != after[key].label:
            yield Change("value_label", group, (field, key), old, new)


def _pipelines(old: Pipeline | None, new: Pipeline | None, name: str) -> Iterator[Change]:
    before = {(p.key, s.key): s for p in (old.all_pipelines() if old else ()) for s in p.stages}
    after = {(p.key, s.key): s for p in (new.all_pipelines() if new else ()) for s in p.stages}
    for key in (k for k in after if k not in before):
        yield Change("stage_added", name, key)
    for key in (k for k in before if k not in after):
        yield Change("stage_removed", name, key)
    for key in (k for k in after if k in before):
        was, now = before[key], after[key]
        added = tuple(f for f in now.requires if f not in was.requires)
        dropped = tuple(f for f in was.requires if f not in now.requires)
        if added:
            yield Change("gate_tightened", name, key, None, added)
        if dropped:
            yield Change("gate_loosened", name, key, None, dropped)
        if was.requires_when != now.requires_when:
            yield Change("gate_conditions", name, key)
        if was.probability != now.probability:
            yield Change("probability", name, key, was.probability, now.probability)
        if was.label != now.label:
            yield Change("stage_label", name, key, was.label, now.label)


def _picklists(old: Config, new: Config) -> Iterator[Change]:
    for name in (n for n in new.picklists if n not in old.picklists):
        yield Change("picklist_added", PICKLISTS, (name,))
    for name in (n for n in old.picklists if n not in new.picklists):
        yield Change("picklist_removed", PICKLISTS, (name,))
    for name in (n for n in new.picklists if n in old.picklists):
        for change in _values(old.picklists[name], new.picklists[name], PICKLISTS, name):
            yield Change(
                change.kind.replace("value_", "shared_value_"), PICKLISTS, change.names, change.before, change.after
            )


def _roles(old: Config, new: Config) -> Iterator[Change]:
    for name in (n for n in new.roles if n not in old.roles):
        yield Change("role_added", ROLES, (name,))
    for name in (n for n in old.roles if n not in new.roles):
        yield Change("role_removed", ROLES, (name,))
    for name in (n for n in new.roles if n in old.roles):
        was, now = old.roles[name], new.roles[name]
        for obj in dict.fromkeys((*now.grants, *was.grants)):
            yield from _grant(name, obj, was.grant(obj), now.grant(obj))
        for pair in sorted(now.hidden - was.hidden):
            yield Change("role_hides", pair[0], (name, pair[1]))
        for pair in sorted(was.hidden - now.hidden):
            yield Change("role_shows", pair[0], (name, pair[1]))
        for pair in sorted(now.read_only - was.read_only):
            yield Change("role_read_only", pair[0], (name, pair[1]))
        for pair in sorted(was.read_only - now.read_only):
            yield Change("role_may_edit", pair[0], (name, pair[1]))
        for permission in sorted(now.permissions - was.permissions):
            yield Change("permission_given", ROLES, (name, permission))
        for permission in sorted(was.permissions - now.permissions):
            yield Change("permission_taken", ROLES, (name, permission))


def _grant(role: str, obj: str, was: ObjectGrant, now: ObjectGrant) -> Iterator[Change]:
    for scope in ("read", "edit", "delete"):
        before, after = getattr(was, scope), getattr(now, scope)
        if before != after:
            wider = ACCESS_LEVELS.index(after) > ACCESS_LEVELS.index(before)
            yield Change("role_widened" if wider else "role_narrowed", obj, (role, scope), before, after)
    for flag, attribute in (("create", "create"), ("export", "export"), ("reassign", "reassign"), ("merge", "merge_")):
        before, after = getattr(was, attribute), getattr(now, attribute)
        if before != after:
            yield Change("role_may" if after else "role_may_not", obj, (role, flag))


def _named(old: tuple, new: tuple, what: str, group: Callable[[Any], str | None]) -> Iterator[Change]:
    """Added, removed and changed rules of one kind, matched by ``name``."""
    before = {r.name: r for r in old}
    after = {r.name: r for r in new}
    for name, rule in after.items():
        if name not in before:
            yield Change(f"{what}_added", group(rule) or GENERAL, (name,), None, rule)
        elif before[name] != rule:
            yield Change(f"{what}_changed", group(rule) or GENERAL, (name,), before[name], rule)
    for name, rule in before.items():
        if name not in after:
            yield Change(f"{what}_removed", group(rule) or GENERAL, (name,), rule, None)


# --- words -------------------------------------------------------------------------------------

#: (old, new): the same words, each reading labels from its config (a removed field by its old label).
Speakers = tuple[Speaker, Speaker]
Words = Callable[[Speakers, Change], str]


def _field(says: Speakers, c: Change, name: str | None = None) -> str:
    """A field named as the config that has it says it (a removed one as it was)."""
    old, new = says
    field = name or c.names[0]
    obj = new.config.objects.get(c.group)
    say = new if obj is not None and field in obj.fields else old
    return say.quoted(say.field(c.group, field))


def _value(says: Speakers, c: Change) -> str:
    say, picklist = says[1], c.after or c.before
    found = picklist.find(c.names[1])
    return say.quoted(say.label(found.label, c.names[1]) if found else c.names[1])


def _stage(says: Speakers, c: Change) -> str:
    """The stage ``c.names`` = (pipeline, stage) names, with its pipeline when it is a variant."""
    say = says[1] if c.kind != "stage_removed" else says[0]
    pipeline = say.config.objects[c.group].pipeline
    assert pipeline is not None  # a change to a stage is a change of an object with stages
    one = pipeline.variant(c.names[0])
    stage = one.stage(c.names[1])
    named = say.quoted(say.label(stage.label if stage else None, c.names[1]))
    if c.names[0] == "default":
        return named
    return say("diff.in_pipeline", stage=named, pipeline=say.quoted(say.label(one.label, one.key)))


def _rule_label(say: Speaker, rule: Any) -> str:
    return say.quoted(say.label(getattr(rule, "label", None), rule.name))


def _role(says: Speakers, name: str) -> str:
    say = says[1] if name in says[1].config.roles else says[0]
    return say.quoted(say.role(name))


def _labels(say: Speaker, before: Label, after: Label) -> dict[str, str]:
    """A label's texts before and after, in the speaker's language; when only another language's
    text changed, that one, marked with its language."""
    language = say.language
    if before.get(language) == after.get(language):
        language = next((lang for lang in after.texts if before.get(lang) != after.get(lang)), language)
    mark = (
        ""
        if language == say.language
        else say("diff.in_language", language=say.either(f"language.{language}", language))
    )
    return {"before": mark + say.quoted(before.get(language)), "after": mark + say.quoted(after.get(language))}


def _retention(say: Speaker, policy: Retention | None) -> str:
    """A retention policy in words: kept for ever, or archived / purged N years after a moment
    (once its approver approves)."""
    if policy is None:
        return say("diff.retention_none")
    kept = say(f"diff.retention_{policy.action}", years=policy.years, moment=say.code(policy.from_field))
    if policy.approver is None:
        return kept
    approver = say.role(policy.approver.name) if policy.approver.kind == "role" else policy.approver.name
    return say("diff.retention_approved", policy=kept, approver=approver)


def _percent(say: Speaker, value: float | None) -> str:
    return "—" if value is None else say("percent", value=f"{value:g}")


CHANGE_WORDS: dict[str, Words] = {
    "object_added": lambda s, c: s[1]("diff.object_added", object=s[1].quoted(s[1].object(c.group))),
    "object_removed": lambda s, c: s[0]("diff.object_removed", object=s[0].quoted(s[0].object(c.group))),
    "object_label": lambda s, c: s[1]("diff.object_label", **_labels(s[1], c.before, c.after)),
    "field_added": lambda s, c: s[1](
        "diff.field_added",
        field=_field(s, c),
        type=field_type(s[1], c.group, s[1].config.objects[c.group].fields[c.names[0]]),
    ),
    "field_removed": lambda s, c: s[0]("diff.field_removed", field=_field(s, c)),
    "field_type": lambda s, c: s[1](
        "diff.field_type",
        field=_field(s, c),
        before=field_type(s[0], c.group, c.before),
        after=field_type(s[1], c.group, c.after),
    ),
    "field_label": lambda s, c: s[1](
        "diff.field_label", field=s[1].code(c.names[0]), **_labels(s[1], c.before, c.after)
    ),
    "field_required": lambda s, c: s[1]("diff.field_required", field=_field(s, c)),
    "field_optional": lambda s, c: s[1]("diff.field_optional", field=_field(s, c)),
    "field_unique": lambda s, c: s[1]("diff.field_unique", field=_field(s, c)),
    "field_not_unique": lambda s, c: s[1]("diff.field_not_unique", field=_field(s, c)),
    "value_added": lambda s, c: s[1]("diff.value_added", value=_value(s, c), field=_field(s, c)),
    "value_removed": lambda s, c: s[0]("diff.value_removed", value=_value(s, c), field=_field(s, c)),
    "value_retired": lambda s, c: s[1]("diff.value_retired", value=_value(s, c), field=_field(s, c)),
    "value_label": lambda s, c: s[1]("diff.value_label", value=s[1].code(c.names[1]), field=_field(s, c)),
    "picklist_added": lambda s, c: s[1]("diff.picklist_added", picklist=_list(s[1], c.names[0])),
    "picklist_removed": lambda s, c: s[0]("diff.picklist_removed", picklist=_list(s[0], c.names[0])),
    "shared_value_added": lambda s, c: s[1]("diff.value_added", value=_value(s, c), field=_list(s[1], c.names[0])),
    "shared_value_removed": lambda s, c: s[0]("diff.value_removed", value=_value(s, c), field=_list(s[0], c.names[0])),
    "shared_value_retired": lambda s, c: s[1]("diff.value_retired", value=_value(s, c), field=_list(s[1], c.names[0])),
    "shared_value_label": lambda s, c: s[1](
        "diff.value_label", value=s[1].code(c.names[1]), field=_list(s[1], c.names[0])
    ),
    "stage_added": lambda s, c: s[1]("diff.stage_added", stage=_stage(s, c)),
    "stage_removed": lambda s, c: s[0]("diff.stage_removed", stage=_stage(s, c)),
    "stage_label": lambda s, c: s[1](
        "diff.stage_label", stage=s[1].code(c.names[1]), **_labels(s[1], c.before, c.after)
    ),
    "gate_tightened": lambda s, c: s[1](
        "diff.gate_tightened", stage=_stage(s, c), fields=s[1].join(_field(s, c, f) for f in c.after)
    ),
    "gate_loosened": lambda s, c: s[1](
        "diff.gate_loosened", stage=_stage(s, c), fields=s[1].join(_field(s, c, f) for f in c.after)
    ),
    "gate_conditions": lambda s, c: s[1]("diff.gate_conditions", stage=_stage(s, c)),
    "probability": lambda s, c: s[1](
        "diff.probability", stage=_stage(s, c), before=_percent(s[1], c.before), after=_percent(s[1], c.after)
    ),
    "role_added": lambda s, c: s[1]("diff.role_added", role=_role(s, c.names[0])),
    "role_removed": lambda s, c: s[0]("diff.role_removed", role=_role(s, c.names[0])),
    "role_widened": lambda s, c: s[1](
        "diff.role_widened",
        role=_role(s, c.names[0]),
        scope=s[1](f"col.{c.names[1]}"),
        before=_scope(s[1], c.before),
        after=_scope(s[1], c.after),
    ),
    "role_narrowed": lambda s, c: s[1](
        "diff.role_narrowed",
        role=_role(s, c.names[0]),
        scope=s[1](f"col.{c.names[1]}"),
        before=_scope(s[1], c.before),
        after=_scope(s[1], c.after),
    ),
    "role_may": lambda s, c: s[1]("diff.role_may", role=_role(s, c.names[0]), what=_grant_words(s[1], c.names[1])),
    "role_may_not": lambda s, c: s[1](
        "diff.role_may_not", role=_role(s, c.names[0]), what=_grant_words(s[1], c.names[1])
    ),
    "role_hides": lambda s, c: s[1]("diff.role_hides", role=_role(s, c.names[0]), field=_field(s, c, c.names[1])),
    "role_shows": lambda s, c: s[1]("diff.role_shows", role=_role(s, c.names[0]), field=_field(s, c, c.names[1])),
    "role_read_only": lambda s, c: s[1](
        "diff.role_read_only", role=_role(s, c.names[0]), field=_field(s, c, c.names[1])
    ),
    "role_may_edit": lambda s, c: s[1]("diff.role_may_edit", role=_role(s, c.names[0]), field=_field(s, c, c.names[1])),
    "retention": lambda s, c: s[1](
        "diff.retention",
        object=s[1].quoted(s[1].object(c.group)),
        before=_retention(s[0], c.before),
        after=_retention(s[1], c.after),
    ),
    "permission_given": lambda s, c: s[1](
        "diff.permission_given",
        role=_role(s, c.names[0]),
        permission=s[1].either(f"permission.{c.names[1]}", c.names[1]),
    ),
    "permission_taken": lambda s, c: s[1](
        "diff.permission_taken",
        role=_role(s, c.names[0]),
        permission=s[1].either(f"permission.{c.names[1]}", c.names[1]),
    ),
}


def _rule_words(kind: str) -> Words:
    """The words of a rule added, changed (said as it is now) or removed (as it was)."""
    if kind.endswith("_removed"):
        return lambda s, c: s[0](f"diff.{kind}", rule=_rule_label(s[0], c.before))
    return lambda s, c: s[1](f"diff.{kind}", rule=_rule_label(s[1], c.after))


for _what in ("approval", "automation", "report", "assignment"):
    for _how in ("added", "changed", "removed"):
        CHANGE_WORDS[f"{_what}_{_how}"] = _rule_words(f"{_what}_{_how}")


def _list(say: Speaker, name: str) -> str:
    picklist = say.config.picklists.get(name)
    return say.quoted(picklist_name(say, picklist) if picklist else name)


def _scope(say: Speaker, level: str) -> str:
    return say("diff.no_records") if level == "none" else say(f"access.{level}")


def _grant_words(say: Speaker, flag: str) -> str:
    return say(f"grant.{flag}")


@dataclass(frozen=True)
class ChangeGroup:
    """The sentences about one object (or about picklists, roles, the config as a whole)."""

    title: str
    lines: tuple[str, ...]


def say_changes(old: Config, new: Config, changes: list[Change], language: str) -> list[ChangeGroup]:
    """``changes`` as sentences in ``language``, grouped by the object they concern."""
    says = (Speaker(old, language), Speaker(new, language))
    groups: dict[str, list[str]] = {}
    for change in changes:
        line = plain(CHANGE_WORDS[change.kind](says, change) + says[1]("sentence.end"))
        groups.setdefault(change.group, []).append(line)
    out = []
    for group, lines in groups.items():
        if group.startswith("#"):
            title = says[1](f"diff.group.{group[1:]}")
        else:
            say = says[1] if group in new.objects else says[0]
            title = f"{say.object(group)} ({group})"
        out.append(ChangeGroup(title, tuple(lines)))
    return out


def summary(config: Config, language: str) -> str:
    """What a config holds, in one sentence (``9 objects, 120 fields, 14 picklists…``)."""
    say = Speaker(config, language)
    return say(
        "diff.summary",
        objects=len(config.objects),
        fields=sum(len(o.fields) for o in config.objects.values()),
        picklists=len(config.picklists),
        roles=len(config.roles),
        automations=len(config.automations),
        reports=len(config.reports),
    )
