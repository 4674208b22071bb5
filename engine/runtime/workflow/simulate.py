"""Dry runs of automation rules (``trellis automation simulate``): what would fire, changing nothing.

``simulate_record`` takes one record and an event (``created`` or ``updated``)
at a moment, and tells for every rule of the record's object: its trigger in
words, whether the trigger applies (``yes``, ``no``, or ``if`` — a ``changed`` or
stage rule fires only if the update changes that field), whether ``when`` holds
and what each action would do — the values ``set`` would write, the record
``create`` would make, who ``notify`` would reach and the subject they would
read, the webhook's URL. Scheduled rules say whether the record is due at that
moment (and not run yet for this occurrence); cron rules whether their latest
time has run.

``simulate_window`` lists, for every ``schedule`` rule, the records it would
fire for between two moments, each with its due time, whether ``when`` holds
(evaluated at that time, on the values stored now) and whether the occurrence
has run already; ``cron`` rules list their times in the window.

Nothing is written: actions are evaluated, not run — the write path, the
outbox, notifications and ``sys_automation_runs`` are never touched — and
every read happens in one transaction that is rolled back. So rules that the
actions would trigger in turn are not followed, and a value ``set`` would
write is shown before validation (the real run may refuse it; the admin page
shows such failures). ``old['field']`` of an update reads the stored value.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Clock, Expression, ExpressionEvalError
from engine.metadata.model import Action, Automation, ObjectDef
from engine.runtime.errors import NotFound, TrellisError
from engine.runtime.jobs import notify, worker
from engine.runtime.jobs.delivery import masked_url
from engine.runtime.records import reader
from engine.runtime.records.query import format_title, row_to_record
from engine.runtime.records.session import Session
from engine.runtime.records.validation import expression_names
from engine.runtime.security.permissions import SYSTEM
from engine.runtime.workflow import automation

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

EVENTS = ("created", "updated")
#: Most records listed per rule by ``simulate_window``.
WINDOW_LIMIT = 200
#: Most cron times listed per rule by ``simulate_window``.
CRON_TIMES = 50
#: The longest window ``simulate_window`` takes.
MAX_WINDOW = dt.timedelta(days=366)
_SCAN_PAGE = 500


class SimulationError(TrellisError):
    """A simulation that cannot run as asked (an unknown event, a window backwards or too long)."""

    code = "simulation"


# --- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionPreview:
    """What one action would do (``text``), or why it cannot be told (``error``)."""

    kind: str
    text: str
    error: str | None = None


@dataclass(frozen=True)
class RulePreview:
    """One rule for one record: ``triggered`` is ``yes``, ``no`` or ``if`` (a change would fire
    it), ``reason`` says why; ``holds`` is None for a rule without ``when``."""

    rule: Automation
    trigger: str
    triggered: str
    reason: str
    holds: bool | None
    when_error: str | None
    actions: tuple[ActionPreview, ...]

    @property
    def fires(self) -> bool | None:
        """True when the rule would run its actions, False when not, None when it depends on the change."""
        if self.triggered == "no" or self.holds is False:
            return False
        return True if self.triggered == "yes" else None


@dataclass(frozen=True)
class RecordSimulation:
    """Every rule of a record's object, for one event at one moment."""

    object: str
    record_id: int
    title: str
    event: str
    at: dt.datetime
    rules: tuple[RulePreview, ...]


@dataclass(frozen=True)
class Hit:
    """A record a scheduled rule would fire for, when, and whether ``when`` holds then."""

    record_id: int
    title: str
    due: dt.datetime
    holds: bool | None
    ran: bool


@dataclass(frozen=True)
class WindowPreview:
    """What one time-based rule would do in a window: ``hits`` (schedule rules, ``more`` when
    the list stopped at its limit) or ``times`` (cron rules)."""

    rule: Automation
    trigger: str
    hits: tuple[Hit, ...] = ()
    more: bool = False
    times: tuple[dt.datetime, ...] = ()


# --- one record ------------------------------------------------------------------------------------------
def simulate_record(
    crm: Runtime, object_name: str, record_id: Any, event: str = "updated", at: dt.datetime | None = None
) -> RecordSimulation:
    """The rules of ``object_name`` for the record ``record_id`` on ``event`` at ``at`` (default now).

    Raises UnknownObject, NotFound and SimulationError with messages for people."""
    if event not in EVENTS:
        raise SimulationError(f"unknown event {event!r}: use {' or '.join(EVENTS)}")
    clock = Clock((at or crm.clock_now().now_utc).astimezone(dt.UTC), crm.clock_now().timezone)
    with dry_session(crm) as session:
        obj = session.object(object_name)
        record = session.query(obj.name).include_archived().filter(id=_record_id(obj.name, record_id)).first()
        if record is None:
            raise NotFound(obj.name, record_id)
        values = dict(record)
        rules = tuple(
            _preview(session, rule, obj, values, event, clock)
            for rule in session.config.automations
            if rule.object == obj.name
        )
        return RecordSimulation(obj.name, record.id, format_title(obj, values), event, clock.now_utc, rules)


@contextmanager
def dry_session(crm: Runtime) -> Iterator[Session]:
    """A system session whose transaction is always rolled back."""
    with crm.engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield Session(crm, connection, SYSTEM, "automation")
        finally:
            transaction.rollback()


def _record_id(object_name: str, raw: Any) -> int:
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 18:
        raise NotFound(object_name, raw)
    return int(text)


def _preview(
    session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
) -> RulePreview:
    triggered, reason = _TRIGGERS[rule.trigger.kind](session, rule, obj, values, event, clock)
    old = values if event == "updated" else None
    holds, error = None, None
    if rule.when is not None:
        try:
            holds = bool(rule.when.evaluate(automation.names(obj, values, old), clock))
        except ExpressionEvalError as exc:
            holds, error = False, str(exc)  # a rule whose condition fails does not fire
    actions = _actions(session, rule, obj, values, old, clock)
    return RulePreview(rule, describe_trigger(rule), triggered, reason, holds, error, actions)


def describe_trigger(rule: Automation) -> str:
    """The rule's trigger in words, e.g. ``24h after created_at``."""
    trigger = rule.trigger
    kind = trigger.kind
    if kind in ("created", "updated", "deleted"):
        return f"on {kind[:-1]}"  # on create, on update, on delete
    if kind == "changed":
        to = f" to {_show(trigger.to)}" if trigger.has_to else ""
        return f"when {' or '.join(trigger.fields)} changes{to}"
    if kind in ("stage_entered", "stage_left"):
        stages = " or ".join(trigger.stages) or "any stage"
        return f"when the record {'enters' if kind == 'stage_entered' else 'leaves'} {stages}"
    if kind == "approval":
        return f"on an approval decision ({trigger.decision})"
    if kind == "cron":
        return f"cron {trigger.cron!r}"
    offset = trigger.offset_seconds
    text = (
        f"{duration(abs(offset))} {'after' if offset >= 0 else 'before'} {trigger.from_field}"
        if offset
        else (f"at {trigger.from_field}")
    )
    if trigger.yearly:
        text += ", every year"
    if trigger.window_seconds is not None:
        text += f" (window {duration(trigger.window_seconds)})"
    return text


def duration(seconds: int) -> str:
    """``86400`` → ``1d``; the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- triggers -------------------------------------------------------------------------------------------------
def _on(kind: str):
    def check(
        session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
    ) -> tuple[str, str]:
        if kind == "deleted":
            return "no", "only when a record is deleted"
        return ("yes", f"the record is {event}") if event == kind else ("no", f"the event is {event}, not {kind}")

    return check


def _changed(
    session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
) -> tuple[str, str]:
    if event == "created":
        return "no", "a new record has no change"
    return "if", f"only if the update changes {' or '.join(rule.trigger.fields)}"


def _stage(
    session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
) -> tuple[str, str]:
    trigger = rule.trigger
    stage = values.get(obj.pipeline.field) if obj.pipeline else None
    if event == "created":
        if trigger.kind == "stage_left":
            return "no", "a new record leaves no stage"
        if stage is not None and (not trigger.stages or stage in trigger.stages):
            return "yes", f"the new record enters {stage}"
        return "no", f"the record is in {stage or 'no stage'}"
    return "if", "only if the update moves the stage"


def _approval(
    session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
) -> tuple[str, str]:
    return "no", "only after an approval decision"


def _schedule(
    session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
) -> tuple[str, str]:
    trigger = rule.trigger
    assert trigger.from_field is not None, "a schedule rule counts from a date field"
    value = values.get(trigger.from_field)
    if values.get("archived_at") is not None:
        return "no", "the record is archived"
    if value is None:
        return "no", f"{trigger.from_field} is empty"
    offset = dt.timedelta(seconds=trigger.offset_seconds)
    if trigger.yearly:
        window = dt.timedelta(seconds=trigger.window_seconds or worker.YEARLY_WINDOW)
        days = worker.anniversary_days(clock.now_utc - window - offset, clock.now_utc - offset, clock.timezone)
        day = days.get(_local_date(value, clock).strftime("%m-%d"))
        if day is None or _local_date(value, clock) > day:
            return "no", f"no anniversary of {trigger.from_field} is due at this moment"
        key, due = f"{rule.name}|{values['id']}|{day.isoformat()}", _start(day, clock) + offset
    else:
        due = _moment(value, clock) + offset
        key = f"{rule.name}|{values['id']}|{worker.occurrence(value)}"
        if due > clock.now_utc:
            return "no", f"not due until {_when(due, clock)}"
        if trigger.window_seconds is not None and clock.now_utc - due > dt.timedelta(seconds=trigger.window_seconds):
            return "no", f"due at {_when(due, clock)}, past its window"
    ran = _runs(session, [key])
    if key in ran:
        return "no", f"ran already for this occurrence ({ran[key]})"
    return "yes", f"due since {_when(due, clock)}"


def _cron(
    session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: str, clock: Clock
) -> tuple[str, str]:
    assert rule.trigger.cron is not None, "a cron rule has its expression"
    if values.get("archived_at") is not None:
        return "no", "the record is archived"
    fire = worker.cron_time(rule.trigger.cron, clock.now_utc, clock.timezone)
    if clock.now_utc - fire > worker.CRON_LOOKBACK:
        return "no", f"its latest time {_when(fire, clock)} is more than a day back"
    key = f"{rule.name}|cron|{fire.isoformat()}"
    ran = _runs(session, [key, f"{key}|{values['id']}"])
    if ran:
        return "no", f"its time {_when(fire, clock)} has run already"
    return "yes", f"at its time {_when(fire, clock)}"


_TRIGGERS = {
    "created": _on("created"),
    "updated": _on("updated"),
    "deleted": _on("deleted"),
    "changed": _changed,
    "stage_entered": _stage,
    "stage_left": _stage,
    "approval": _approval,
    "schedule": _schedule,
    "cron": _cron,
}


# --- actions -------------------------------------------------------------------------------------------------
def _actions(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    old: Mapping[str, Any] | None,
    clock: Clock,
) -> tuple[ActionPreview, ...]:
    context = automation.names(obj, values, old)
    current = dict(values)  # what the record would hold after the earlier actions
    out = []
    for action in rule.actions:
        try:
            text = _ACTION_TEXTS[action.kind](session, rule, obj, values, current, context, action, clock)
        except (ExpressionEvalError, TrellisError, LookupError, TypeError, ValueError) as exc:
            out.append(ActionPreview(action.kind, action.kind, str(exc) or type(exc).__name__))
            continue
        except Exception as exc:  # noqa: BLE001 - a template error (Jinja), shown rather than raised
            out.append(ActionPreview(action.kind, action.kind, f"{type(exc).__name__}: {exc}"))
            continue
        out.append(ActionPreview(action.kind, text))
    return tuple(out)


def _value(raw: Any, context: Mapping[str, Any], clock: Clock) -> Any:
    return raw.evaluate(context, clock) if isinstance(raw, Expression) else raw


def _set(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    changes = []
    for name, raw in action.values.items():
        value = _value(raw, context, clock)
        changes.append(f"{name}: {_show(current.get(name))} → {_show(value)}")
        current[name] = value
    return "set " + ", ".join(changes)


def _tags(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    assert action.field is not None, "a tags action names its field"
    before = list(current.get(action.field) or [])
    if action.kind == "add_tags":
        after = [*before, *(t for t in action.tags if t not in before)]
    else:
        after = [t for t in before if t not in action.tags]
    current[action.field] = after
    verb = "add" if action.kind == "add_tags" else "remove"
    return f"{verb} tags {', '.join(action.tags)}: {action.field} {_show(before)} → {_show(after)}"


def _add(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    assert action.field is not None, "an add action names its field"
    before = current.get(action.field) or 0
    after = before + (Decimal(str(action.amount)) if isinstance(before, Decimal) else action.amount)
    current[action.field] = after
    return f"add {action.amount} to {action.field}: {_show(before)} → {_show(after)}"


def _create(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    assert action.object is not None, "a create action names its object"
    target = session.config.objects[action.object]
    data = automation.linked_values(
        target, obj, values, {name: _value(raw, context, clock) for name, raw in action.values.items()}
    )
    owner = _usernames(session, [data["owner_id"]]).get(data["owner_id"]) if data.get("owner_id") else None
    shown = ", ".join(f"{k}: {_show(v)}{f' ({owner})' if k == 'owner_id' and owner else ''}" for k, v in data.items())
    return f"create {target.name} {{{shown}}}"


def _update(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    assert action.field is not None and action.object is not None, "an update names its lookup"
    target_id = values.get(action.field)
    if target_id is None:
        return f"update nothing: {action.field} is empty"
    target = session.config.objects[action.object]
    row = automation.fresh_row(session, target, target_id)
    if not row:
        return f"update nothing: {target.name} #{target_id} does not exist"
    seen = {**context, "target": expression_names(target, row)}
    data = {name: _value(raw, seen, clock) for name, raw in action.values.items()}
    shown = ", ".join(f"{k}: {_show(row.get(k))} → {_show(v)}" for k, v in data.items())
    return f"update {target.name} #{target_id} ({action.field}): {shown}"


def _notify(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    assert action.template is not None, "a notify action names its template"
    template = session.config.templates[action.template]
    users, addresses = notify.resolve_recipients(session, obj, values, action)
    language = session.config.settings.languages[0]
    context = reader.template_context(
        session,
        obj,
        values,
        reader.Reader.system(language),
        {"rule": rule.name, "company": session.config.settings.company},
    )
    subject = notify.render(template.text(language)[0], context, autoescape=False).strip()
    people = _users(session, users)
    parts = []
    if "in_app" in action.channels:
        parts.append("in-app: " + (", ".join(name for name, _ in people.values()) or "nobody"))
    if "email" in action.channels:
        emails = sorted(set(addresses) | {email for _, email in people.values() if email})
        parts.append("e-mail: " + (", ".join(emails) or "nobody"))
    return f"notify “{subject}” ({action.template}) — {'; '.join(parts)}"


def _webhook(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    signed = f", signed with ${action.secret_env}" if action.secret_env else ""
    return f"webhook POST {masked_url(action.webhook_target)}{signed}"


def _assign(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    assert action.rule is not None, "an assign action names its rule"
    found = session.config.assignment.get(action.rule)
    strategy = f" ({found.strategy})" if found is not None else ""
    return f"assign with the rule {action.rule}{strategy}"


def _convert(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    return f"convert with {action.rule}"


def _archive(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    current: dict[str, Any],
    context: Mapping[str, Any],
    action: Action,
    clock: Clock,
) -> str:
    return "archive the record" if values.get("archived_at") is None else "archive the record (archived already)"


_ACTION_TEXTS = {
    "set": _set,
    "add_tags": _tags,
    "remove_tags": _tags,
    "add": _add,
    "create": _create,
    "notify": _notify,
    "webhook": _webhook,
    "assign": _assign,
    "convert": _convert,
    "archive": _archive,
    "update": _update,
}


# --- a window of time ----------------------------------------------------------------------------------------
def simulate_window(
    crm: Runtime, start: dt.datetime, end: dt.datetime, object_name: str | None = None, limit: int = WINDOW_LIMIT
) -> list[WindowPreview]:
    """What the time-based rules (of ``object_name``, or all) would do between ``start`` and ``end``."""
    if end < start:
        raise SimulationError("--to lies before --from")
    if end - start > MAX_WINDOW:
        raise SimulationError(f"the window is longer than {MAX_WINDOW.days} days; simulate a year at a time")
    zone = crm.clock_now().timezone
    out = []
    with dry_session(crm) as session:
        if object_name is not None:
            session.object(object_name)  # UnknownObject for a name the config does not declare
        for rule in session.config.automations:
            if rule.trigger.kind not in ("schedule", "cron") or (object_name and rule.object != object_name):
                continue
            if rule.trigger.kind == "cron":
                out.append(WindowPreview(rule, describe_trigger(rule), times=_cron_times(rule, start, end, zone)))
            elif rule.trigger.yearly:
                out.append(_yearly_window(session, rule, start, end, zone, limit))
            else:
                out.append(_schedule_window(session, rule, start, end, zone, limit))
    return out


def _schedule_window(
    session: Session, rule: Automation, start: dt.datetime, end: dt.datetime, zone: Any, limit: int
) -> WindowPreview:
    trigger = rule.trigger
    assert rule.object is not None and trigger.from_field is not None, "a schedule rule counts from a date field"
    obj = session.config.objects[rule.object]
    table = session.schema.table(obj.name)
    column = table.c[trigger.from_field]
    offset = dt.timedelta(seconds=trigger.offset_seconds)
    low, high = start - offset, end - offset  # the values whose due moment lies in the window
    if isinstance(column.type, sa.Date):
        first = low.astimezone(zone).date()
        bounds = (
            first if low.astimezone(zone).time() == dt.time() else first + dt.timedelta(days=1),
            high.astimezone(zone).date(),
        )
    else:
        bounds = (low, high)
    rows = (
        session.connection.execute(
            sa.select(table)
            .where(table.c.archived_at.is_(None), column.is_not(None), column >= bounds[0], column <= bounds[1])
            .order_by(column, table.c.id)
            .limit(limit + 1)
        )
        .mappings()
        .all()
    )
    clock = Clock(start, zone)
    found = [dict(row_to_record(obj, row, session.crm.keys)) for row in rows[:limit]]
    keys = {
        values["id"]: f"{rule.name}|{values['id']}|{worker.occurrence(values[trigger.from_field])}" for values in found
    }
    hits = [_hit(rule, obj, values, _moment(values[trigger.from_field], clock) + offset, zone) for values in found]
    ran = _runs(session, list(keys.values()))
    hits = [h if keys[h.record_id] not in ran else _ran(h) for h in hits]
    return WindowPreview(rule, describe_trigger(rule), tuple(hits), len(rows) > limit)


def _yearly_window(
    session: Session, rule: Automation, start: dt.datetime, end: dt.datetime, zone: Any, limit: int
) -> WindowPreview:
    trigger = rule.trigger
    assert rule.object is not None and trigger.from_field is not None, "a schedule rule counts from a date field"
    obj = session.config.objects[rule.object]
    table = session.schema.table(obj.name)
    column = table.c[trigger.from_field]
    offset = dt.timedelta(seconds=trigger.offset_seconds)
    days = worker.anniversary_days(start - offset, end - offset, zone)
    clock = Clock(start, zone)
    hits: list[Hit] = []
    keys: dict[int, str] = {}
    more, last = False, 0
    while days and not more:
        rows = (
            session.connection.execute(
                sa.select(table)
                .where(table.c.archived_at.is_(None), column.is_not(None), table.c.id > last)
                .order_by(table.c.id)
                .limit(_SCAN_PAGE)
            )
            .mappings()
            .all()
        )
        for row in rows:
            values = dict(row_to_record(obj, row, session.crm.keys))
            value = _local_date(values[trigger.from_field], clock)
            day = days.get(value.strftime("%m-%d"))
            if day is None or value > day:
                continue
            if len(hits) == limit:
                more = True
                break
            keys[values["id"]] = f"{rule.name}|{values['id']}|{day.isoformat()}"
            hits.append(_hit(rule, obj, values, _start(day, clock) + offset, zone))
        if len(rows) < _SCAN_PAGE:
            break
        last = rows[-1]["id"]
    ran = _runs(session, list(keys.values()))
    hits = sorted((h if keys[h.record_id] not in ran else _ran(h) for h in hits), key=lambda h: (h.due, h.record_id))
    return WindowPreview(rule, describe_trigger(rule), tuple(hits), more)


def _hit(rule: Automation, obj: ObjectDef, values: dict[str, Any], due: dt.datetime, zone: Any) -> Hit:
    """The record due at ``due``, with ``when`` evaluated at that moment on its stored values."""
    holds = None
    if rule.when is not None:
        try:
            holds = bool(rule.when.evaluate(automation.names(obj, values, None), Clock(due, zone)))
        except ExpressionEvalError:
            holds = False
    return Hit(values["id"], format_title(obj, values), due, holds, False)


def _ran(hit: Hit) -> Hit:
    return Hit(hit.record_id, hit.title, hit.due, hit.holds, True)


def _cron_times(rule: Automation, start: dt.datetime, end: dt.datetime, zone: Any) -> tuple[dt.datetime, ...]:
    assert rule.trigger.cron is not None, "a cron rule has its expression"
    from croniter import croniter

    times: list[dt.datetime] = []
    walker = croniter(rule.trigger.cron, start.astimezone(zone) - dt.timedelta(microseconds=1))
    while len(times) < CRON_TIMES:
        moment = walker.get_next(dt.datetime)
        if moment > end:
            break
        times.append(moment.astimezone(dt.UTC))
    return tuple(times)


# --- helpers ----------------------------------------------------------------------------------------------------
def _runs(session: Session, keys: list[str]) -> dict[str, str]:
    """Run key → status, for the keys that have a run."""
    if not keys:
        return {}
    runs = session.schema.system["sys_automation_runs"]
    rows = session.connection.execute(sa.select(runs.c.run_key, runs.c.status).where(runs.c.run_key.in_(keys)))
    return {key: status for key, status in rows}


def _users(session: Session, ids: set[int]) -> dict[int, tuple[str, str | None]]:
    if not ids:
        return {}
    users = session.schema.system["sys_users"]
    rows = session.connection.execute(
        sa.select(users.c.id, users.c.username, users.c.email)
        .where(users.c.id.in_(sorted(ids)))
        .order_by(users.c.username)
    ).all()
    return {row.id: (row.username, row.email) for row in rows}


def _usernames(session: Session, ids: list[int]) -> dict[int, str]:
    return {user_id: name for user_id, (name, _) in _users(session, set(ids)).items()}


def _moment(value: dt.date | dt.datetime, clock: Clock) -> dt.datetime:
    """A date-time as it is (UTC), a date as the start of that day in the company time zone."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return _start(value, clock)


def _start(day: dt.date, clock: Clock) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), clock.timezone).astimezone(dt.UTC)


def _local_date(value: dt.date | dt.datetime, clock: Clock) -> dt.date:
    if isinstance(value, dt.datetime):
        return _moment(value, clock).astimezone(clock.timezone).date()
    return value


def _when(moment: dt.datetime, clock: Clock) -> str:
    return moment.astimezone(clock.timezone).strftime("%Y-%m-%d %H:%M %Z")


def _show(value: Any) -> str:
    """A value as the simulation prints it: JSON-like, dates as ISO, empty as (empty)."""
    if value is None:
        return "(empty)"
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)
