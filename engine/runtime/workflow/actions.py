"""Automation action kinds at run time: one object per kind, registered once in ``ACTIONS``.

Each kind carries its config half (``spec``: compile, ``engine.metadata.automation_actions``)
and does two things: ``run`` the action for a firing rule (through the one write path,
as the rule) and ``preview`` it for a dry run (``trellis automation simulate``: what it
would do, in words, writing nothing). ``register`` adds a kind — both halves — in one
call; a kind that lacks a part is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata import automation_actions as specs
from engine.metadata.expressions import Clock
from engine.metadata.kinds import Kinds, placeholder
from engine.metadata.kinds import missing_parts as missing_parts_of
from engine.metadata.model import SYSTEM_COLUMNS, Action, Automation, ObjectDef
from engine.runtime.records.validation import expression_names
from engine.runtime.workflow.drywords import RAW, RawWords
from engine.runtime.workflow.rulecontext import evaluate, fresh_row, linked_values, names, plain, show

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class Firing:
    """A rule running its actions for one record: ``session`` acts as the rule; ``values`` is
    the record (empty for a cron rule without an object), ``old`` its values before an update."""

    session: Session
    rule: Automation
    obj: ObjectDef | None
    values: Mapping[str, Any]
    old: Mapping[str, Any] | None
    #: What the rule sees besides the record (``event`` of an engagement event, ``purge`` of a delete).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def names(self) -> dict[str, Any]:
        """What the rule's expressions see."""
        return {**names(self.obj, self.values, self.old), **self.extra}

    def evaluate(self, values: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """Configured values (literals or expressions over ``context``) as the write path takes them."""
        clock = self.session.clock()
        return {k: plain(evaluate(v, context, clock)) for k, v in values.items()}

    def record(self) -> tuple[ObjectDef, int]:
        """The rule's object and the record's id (for actions on the record)."""
        if self.obj is None:
            raise AssertionError("an action on the record of a rule without an object")
        return self.obj, self.values["id"]


@dataclass(frozen=True)
class DryRun:
    """A rule's actions told for one record, nothing written: ``current`` is what the record would
    hold after the earlier actions (a preview updates it), ``context`` what expressions see."""

    session: Session
    rule: Automation
    obj: ObjectDef | None
    values: Mapping[str, Any]
    current: dict[str, Any]
    context: Mapping[str, Any]
    clock: Clock
    #: How the preview words values: keys and JSON (``RAW``), or as people read them (``drywords``).
    words: RawWords = RAW

    def value(self, raw: Any, context: Mapping[str, Any] | None = None) -> Any:
        """A configured value as it would be written (an expression evaluated)."""
        return evaluate(raw, self.context if context is None else context, self.clock)


class ActionKind:
    """One action kind at run time. Subclasses implement every name in ``PARTS``."""

    #: What each kind implements (its ``spec`` implements ``compile``).
    PARTS = ("run", "preview")
    #: The kind's config half.
    spec: specs.ActionSpec
    #: The action writes nothing but rows a write call collects (``engine.runtime.records.unit``):
    #: a rule of only such actions needs no savepoint of the database inside a write call.
    collecting = False

    def __init__(self, spec: specs.ActionSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        """The kind's name in ``do:``."""
        return self.spec.name

    @placeholder
    def run(self, firing: Firing, action: Action) -> None:
        """Do the action (through the write path, as ``firing.session``)."""
        raise NotImplementedError

    @placeholder
    def preview(self, dry: DryRun, action: Action) -> str:
        """What the action would do, in words."""
        raise NotImplementedError


def missing_parts(kind: Any, base: type[Any], spec_base: type[Any]) -> list[str]:
    """The parts ``kind`` lacks: ``compile`` (of its ``spec``, a named ``spec_base``) and each of ``base.PARTS``."""
    spec = getattr(kind, "spec", None)
    compiles = isinstance(spec, spec_base) and spec.name and not missing_parts_of(spec, ("compile",))
    return ([] if compiles else ["compile"]) + missing_parts_of(kind, base.PARTS)


#: Every action kind at run time, by name (the same names as ``engine.metadata.automation_actions.ACTIONS``).
ACTIONS: Kinds[ActionKind] = Kinds("action")


def register(kind: ActionKind) -> ActionKind:
    """Add an action kind: its config half to the config language, itself to the runtime.
    Raises TypeError naming the parts it lacks, ValueError when the name is taken."""
    missing = missing_parts(kind, ActionKind, specs.ActionSpec)
    if missing:
        raise TypeError(f"the action kind {getattr(kind.spec, 'name', kind)!r} lacks {', '.join(missing)}")
    if kind.name in ACTIONS:
        raise ValueError(f"an action kind `{kind.name}` is registered already")
    if specs.ACTIONS.get(kind.name) is not kind.spec:
        specs.ACTIONS.register(kind.spec)
    return ACTIONS.register(kind)


def unregister(name: str) -> None:
    """Remove the action kind ``name`` from the runtime and the config language."""
    ACTIONS.unregister(name)
    specs.ACTIONS.unregister(name)


# --- the built-in kinds ------------------------------------------------------------------------------------
class SetFields(ActionKind):
    """``set``: change fields of the record."""

    def run(self, firing: Firing, action: Action) -> None:
        obj, record_id = firing.record()
        firing.session.update(obj.name, record_id, firing.evaluate(action.values, firing.names()))

    def preview(self, dry: DryRun, action: Action) -> str:
        changes = []
        for name, raw in action.values.items():
            value = dry.value(raw)
            changes.append(_change(dry, dry.obj, name, dry.current.get(name), value))
            dry.current[name] = value
        shown = ", ".join(changes)
        return dry.words.say("dryrun.set", f"set {shown}", changes=shown)


class ChangeTags(ActionKind):
    """``add_tags`` / ``remove_tags`` on a tags or multipicklist field."""

    def __init__(self, spec: specs.ActionSpec, adding: bool) -> None:
        super().__init__(spec)
        self.adding = adding

    def changed(self, before: list[str], tags: tuple[str, ...]) -> list[str]:
        """The tags after the action."""
        if self.adding:
            return [*before, *(t for t in tags if t not in before)]
        return [t for t in before if t not in tags]

    def run(self, firing: Firing, action: Action) -> None:
        obj, record_id = firing.record()
        field = action.field or ""
        current = fresh_row(firing.session, obj, record_id).get(field) or []
        changed = self.changed(current, action.tags)
        if changed != current:
            firing.session.update(obj.name, record_id, {field: changed})

    def preview(self, dry: DryRun, action: Action) -> str:
        field = action.field or ""
        before = list(dry.current.get(field) or [])
        after = self.changed(before, action.tags)
        dry.current[field] = after
        verb = "add" if self.adding else "remove"
        words = dry.words
        change = f"{words.field(dry.obj, field)} {words.value(dry.obj, field, before)} → {words.value(dry.obj, field, after)}"
        tags = ", ".join(action.tags)
        return words.say(f"dryrun.{verb}_tags", f"{verb} tags {tags}: {change}", tags=tags, change=change)


class AddAmount(ActionKind):
    """``add``: add an amount to a number field."""

    def run(self, firing: Firing, action: Action) -> None:
        obj, record_id = firing.record()
        field = action.field or ""
        current = fresh_row(firing.session, obj, record_id).get(field) or 0
        amount = Decimal(str(action.amount)) if isinstance(current, Decimal) else action.amount
        firing.session.update(obj.name, record_id, {field: plain(current + amount)})

    def preview(self, dry: DryRun, action: Action) -> str:
        field = action.field or ""
        before = dry.current.get(field) or 0
        after = before + (Decimal(str(action.amount)) if isinstance(before, Decimal) else action.amount)
        dry.current[field] = after
        words = dry.words
        change = f"{words.value(dry.obj, field, before)} → {words.value(dry.obj, field, after)}"
        name = words.field(dry.obj, field)
        return words.say(
            "dryrun.add", f"add {action.amount} to {name}: {change}", amount=action.amount, field=name, change=change
        )


class UpdateLinked(ActionKind):
    """``update``: change the record the lookup ``action.field`` points at (locked while it is
    read, so concurrent updates such as two orders of one member add up); nothing linked,
    nothing done."""

    def run(self, firing: Firing, action: Action) -> None:
        target_id = firing.values.get(action.field or "")
        if target_id is None:
            return
        session = firing.session
        target = session.config.objects[action.object or ""]
        current = fresh_row(session, target, target_id, lock=True)
        if not current:
            return
        context = firing.names()
        context["target"] = expression_names(target, current)
        data = firing.evaluate(action.values, context)
        changed = {k: v for k, v in data.items() if current.get(k) != v}
        if changed:
            session.update(target.name, target_id, changed)

    def preview(self, dry: DryRun, action: Action) -> str:
        words = dry.words
        link = words.field(dry.obj, action.field or "")
        target_id = dry.values.get(action.field or "")
        if target_id is None:
            return words.say("dryrun.update_empty", f"update nothing: {link} is empty", field=link)
        target = dry.session.config.objects[action.object or ""]
        row = fresh_row(dry.session, target, target_id)
        if not row:
            gone = f"{words.object(target)} #{target_id}"
            return words.say("dryrun.update_gone", f"update nothing: {gone} does not exist", record=gone)
        seen = {**dry.context, "target": expression_names(target, row)}
        data = {name: dry.value(raw, seen) for name, raw in action.values.items()}
        shown = ", ".join(_change(dry, target, k, row.get(k), v) for k, v in data.items())
        record = words.record(target, target_id)
        return words.say(
            "dryrun.update", f"update {record} ({link}): {shown}", record=record, field=link, changes=shown
        )


class CreateRecord(ActionKind):
    """``create``: a new record, linked to the triggering one."""

    def run(self, firing: Firing, action: Action) -> None:
        target = firing.session.config.objects[action.object or ""]
        data = firing.evaluate(action.values, firing.names())
        firing.session.create(target.name, linked_values(target, firing.obj, firing.values, data))

    def preview(self, dry: DryRun, action: Action) -> str:
        target = dry.session.config.objects[action.object or ""]
        data = linked_values(target, dry.obj, dry.values, {name: dry.value(raw) for name, raw in action.values.items()})
        words = dry.words
        if words is RAW:
            owner = _users(dry.session, {data["owner_id"]}).get(data["owner_id"]) if data.get("owner_id") else None
            shown = ", ".join(
                f"{k}: {show(v)}{f' ({owner[0]})' if k == 'owner_id' and owner else ''}" for k, v in data.items()
            )
            return f"create {target.name} {{{shown}}}"
        shown = ", ".join(f"{words.field(target, k)}: {words.value(target, k, v)}" for k, v in data.items())
        return words.say("dryrun.create", "", object=words.object(target), values=shown)


class NotifyPeople(ActionKind):
    """``notify``: in-app notifications and e-mails, rendered for each reader."""

    collecting = True

    def run(self, firing: Firing, action: Action) -> None:
        from engine.runtime.jobs import notify

        notify.send(firing.session, firing.rule, firing.obj, firing.values, action)

    def preview(self, dry: DryRun, action: Action) -> str:
        from engine.runtime.jobs import notify
        from engine.runtime.records import reader

        session = dry.session
        template = session.config.templates[action.template or ""]
        users, addresses = notify.resolve_recipients(session, dry.obj, dry.values, action)
        language = session.config.settings.languages[0]
        context = reader.template_context(
            session,
            dry.obj,
            dry.values,
            reader.Reader.system(language),
            {"rule": dry.rule.name, "company": session.config.settings.company},
        )
        subject = notify.render(template.text(language)[0], context, autoescape=False).strip()
        people = _users(session, users)
        words = dry.words
        nobody = words.say("dryrun.nobody", "nobody")
        parts = []
        if "in_app" in action.channels:
            names = ", ".join(words.user(user_id, name) for user_id, (name, _) in people.items()) or nobody
            parts.append(words.say("dryrun.in_app", f"in-app: {names}", people=names))
        if "email" in action.channels:
            emails = ", ".join(sorted(set(addresses) | {email for _, email in people.values() if email})) or nobody
            parts.append(words.say("dryrun.email", f"e-mail: {emails}", people=emails))
        shown = "; ".join(parts)
        english = f"notify “{subject}” ({action.template}) — {shown}"
        return words.say("dryrun.notify", english, subject=subject, template=action.template, parts=shown)


class CallWebhook(ActionKind):
    """``webhook``: a signed POST, written to the outbox for the worker to deliver."""

    collecting = True

    def run(self, firing: Firing, action: Action) -> None:
        from engine.runtime.jobs import notify

        session, rule = firing.session, firing.rule
        payload = notify.webhook_payload(session, rule, firing.obj, firing.values, action)  # named, else public
        if "purge" in firing.extra:  # a delete says whether retention purged the record (its policy) or not (null)
            payload["purge"] = firing.extra["purge"]
            if payload["purge"] is not None:  # what a purge forgets leaves by no webhook: the system columns only
                payload["record"] = {k: v for k, v in payload["record"].items() if k in SYSTEM_COLUMNS}
                payload["title"] = None
        notify.enqueue(session, "webhook", rule.name, action.webhook_target, payload, secret_env=action.secret_env)

    def preview(self, dry: DryRun, action: Action) -> str:
        from engine.runtime.jobs.delivery import masked_url

        url = masked_url(action.webhook_target)
        if action.secret_env:
            english = f"webhook POST {url}, signed with ${action.secret_env}"
            text = dry.words.say("dryrun.webhook_signed", english, url=url, secret=action.secret_env)
        else:
            text = dry.words.say("dryrun.webhook", f"webhook POST {url}", url=url)
        if dry.context.get("purge") is not None:  # as ``run`` sends it: a purge's payload holds no values
            text += dry.words.say("dryrun.webhook_purge", " (a purge: the record's system columns only, no title)")
        return text


class Assign(ActionKind):
    """``assign``: choose an owner with an assignment rule."""

    def run(self, firing: Firing, action: Action) -> None:
        from engine.runtime.workflow import assignment

        obj, record_id = firing.record()
        assignment.assign(firing.session, action.rule or "", obj.name, record_id)

    def preview(self, dry: DryRun, action: Action) -> str:
        found = dry.session.config.assignment.get(action.rule or "")
        words = dry.words
        if found is None:
            return words.say("dryrun.assign", f"assign with the rule {action.rule}", rule=action.rule)
        strategy = words.say(f"dryrun.strategy.{found.strategy}", found.strategy)
        english = f"assign with the rule {action.rule} ({found.strategy})"
        return words.say("dryrun.assign_by", english, rule=words.label(found.label, action.rule), strategy=strategy)


class Convert(ActionKind):
    """``convert``: run a conversion of the record."""

    def run(self, firing: Firing, action: Action) -> None:
        firing.session.convert(action.rule or "", firing.record()[1])

    def preview(self, dry: DryRun, action: Action) -> str:
        found = dry.session.config.conversions.get(action.rule or "")
        conversion = dry.words.label(found.label, action.rule) if found is not None else action.rule
        return dry.words.say("dryrun.convert", f"convert with {action.rule}", conversion=conversion)


class ArchiveRecord(ActionKind):
    """``archive``: archive the record."""

    def run(self, firing: Firing, action: Action) -> None:
        obj, record_id = firing.record()
        firing.session.archive(obj.name, record_id)

    def preview(self, dry: DryRun, action: Action) -> str:
        if dry.values.get("archived_at") is not None:
            return dry.words.say("dryrun.archive_again", "archive the record (archived already)")
        return dry.words.say("dryrun.archive", "archive the record")


for _kind in (
    SetFields(specs.ACTIONS["set"]),
    ChangeTags(specs.ACTIONS["add_tags"], adding=True),
    ChangeTags(specs.ACTIONS["remove_tags"], adding=False),
    AddAmount(specs.ACTIONS["add"]),
    UpdateLinked(specs.ACTIONS["update"]),
    CreateRecord(specs.ACTIONS["create"]),
    NotifyPeople(specs.ACTIONS["notify"]),
    CallWebhook(specs.ACTIONS["webhook"]),
    Assign(specs.ACTIONS["assign"]),
    Convert(specs.ACTIONS["convert"]),
    ArchiveRecord(specs.ACTIONS["archive"]),
):
    register(_kind)


def _change(dry: DryRun, obj: ObjectDef | None, name: str, before: Any, after: Any) -> str:
    """``field: before → after`` in the dry run's words."""
    words = dry.words
    return f"{words.field(obj, name)}: {words.value(obj, name, before)} → {words.value(obj, name, after)}"


def _users(session: Session, ids: set[int]) -> dict[int, tuple[str, str | None]]:
    """User id → (username, e-mail), for a dry run's words."""
    if not ids:
        return {}
    users = session.schema.system["sys_users"]
    rows = session.connection.execute(
        sa.select(users.c.id, users.c.username, users.c.email)
        .where(users.c.id.in_(sorted(ids)))
        .order_by(users.c.username)
    ).all()
    return {row.id: (row.username, row.email) for row in rows}
