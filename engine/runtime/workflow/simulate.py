"""Dry runs of automation rules (``trellis automation simulate``): what would fire, changing nothing.

``simulate_record`` takes one record and an event (``created``, ``updated`` or
``deleted``; a delete by a retention purge with ``purge``) at a moment, and tells for
every rule of the record's object: its trigger in words, whether the trigger applies
(``yes``, ``no``, or ``if`` — a ``changed`` or stage rule fires only if the update
changes that field; a timed rule never fires for a deleted record), whether ``when``
holds (a ``deleted`` rule's ``when`` and actions read ``purge``: None, or the object's
retention policy at that moment, as ``Session.purge`` gives it) and what each action
would do — the values ``set`` would write, the record ``create`` would make, who
``notify`` would reach and the subject they would read, the webhook's URL. Scheduled
rules say whether the record is due at that moment (and not run yet for this
occurrence); cron rules whether their latest time has run.

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

Whether a trigger applies and what an action would do are asked of their kinds
(``triggers.TRIGGERS``, ``actions.ACTIONS``): the same ``match`` that the write path
runs rules by, and the same definition of what is due (``timed``) that the worker
sweeps by.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata.expressions import Clock, ExpressionEvalError
from engine.metadata.model import Automation, ObjectDef
from engine.runtime.errors import NotFound, TrellisError
from engine.runtime.messages import current_language
from engine.runtime.records.query import format_title
from engine.runtime.records.session import Session
from engine.runtime.records.writes import record_id_of
from engine.runtime.retention import purge_reason
from engine.runtime.security.permissions import SYSTEM
from engine.runtime.workflow.actions import ACTIONS, DryRun
from engine.runtime.workflow.drywords import RAW, PeopleWords, RawWords
from engine.runtime.workflow.rulecontext import names
from engine.runtime.workflow.triggers import (
    CRON_TIMES,
    TRIGGERS,
    Event,
    Hit,
    TimedTrigger,
    WindowPreview,
    duration,
)

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

__all__ = [
    "CRON_TIMES",
    "EVENTS",
    "MAX_WINDOW",
    "WINDOW_LIMIT",
    "ActionPreview",
    "Hit",
    "RecordSimulation",
    "RulePreview",
    "SimulationError",
    "WindowPreview",
    "describe_trigger",
    "dry_session",
    "duration",
    "simulate_record",
    "simulate_window",
]

EVENTS = ("created", "updated", "deleted")
#: Most records listed per rule by ``simulate_window``.
WINDOW_LIMIT = 200
#: The longest window ``simulate_window`` takes.
MAX_WINDOW = dt.timedelta(days=366)


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
    #: A simulated retention purge: the policy the ``deleted`` rules read as ``purge``; else None.
    purge: dict[str, Any] | None = None


# --- one record ------------------------------------------------------------------------------------------
def simulate_record(
    crm: Runtime,
    object_name: str,
    record_id: Any,
    event: str = "updated",
    at: dt.datetime | None = None,
    language: str | None = None,
    purge: bool = False,
) -> RecordSimulation:
    """The rules of ``object_name`` for the record ``record_id`` on ``event`` at ``at`` (default now);
    ``purge``: the ``deleted`` event of a retention purge under the object's policy at ``at``.
    With ``language``, the triggers and actions are worded as people read them in it
    (``drywords.PeopleWords``: labels, titles, names, local dates), else the config's keys and raw values.

    Raises UnknownObject, NotFound and SimulationError with messages for people."""
    if event not in EVENTS:
        raise SimulationError(f"unknown event {event!r}: use {' or '.join(EVENTS)}")
    if purge and event != "deleted":
        raise SimulationError.said(
            "simulate.purge_event", f"a purge is a delete: simulate it as deleted, not {event}", event=event
        )
    clock = Clock((at or crm.clock_now().now_utc).astimezone(dt.UTC), crm.clock_now().timezone)
    with dry_session(crm) as session:
        obj = session.object(object_name)
        reason = _purge(obj, clock) if purge else None
        record = session.query(obj.name).include_archived().filter(id=record_id_of(obj.name, record_id)).first()
        if record is None:
            raise NotFound(obj.name, record_id, obj.label.get(current_language()))
        values = dict(record)
        words = PeopleWords(session, language) if language is not None else RAW
        happened = Event.dry(event, obj, values, reason)
        rules = tuple(
            _preview(session, rule, obj, values, happened, clock, words)
            for rule in session.config.automations
            if rule.object == obj.name
        )
        return RecordSimulation(obj.name, record.id, format_title(obj, values), event, clock.now_utc, rules, reason)


def _purge(obj: ObjectDef, clock: Clock) -> dict[str, Any]:
    """What a retention purge of ``obj``'s records at ``clock`` gives ``deleted`` rules as ``purge``."""
    policy = obj.retention
    if policy is None or policy.action != "purge":
        label = obj.label.get(current_language())
        raise SimulationError.said(
            "simulate.no_purge",
            f"{obj.name} has no retention policy that purges (retention: {{years: N, action: purge}}), "
            "so retention never purges its records",
            object=label,
        )
    return purge_reason(policy, clock.now_utc)


@contextmanager
def dry_session(crm: Runtime) -> Iterator[Session]:
    """A system session whose transaction is always rolled back."""
    with crm.engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield Session(crm, connection, SYSTEM, "automation")
        finally:
            transaction.rollback()


def _preview(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    event: Event,
    clock: Clock,
    words: RawWords = RAW,
) -> RulePreview:
    kind = TRIGGERS[rule.trigger.kind]
    if event.action == "delete" and kind.timed:
        triggered, reason = "no", "a deleted record is not swept"
    else:
        triggered, reason = kind.preview(session, rule, obj, values, event, clock)
    old = values if event.action == "update" else None
    extra = event.names if event.action in kind.listens else {}  # a delete's ``purge``, for the rules it runs
    context = {**names(obj, values, old), **extra}
    holds, error = None, None
    if rule.when is not None:
        try:
            holds = bool(rule.when.evaluate(context, clock))
        except ExpressionEvalError as exc:
            holds, error = False, str(exc)  # a rule whose condition fails does not fire
    actions = _actions(session, rule, obj, values, context, clock, words)
    return RulePreview(rule, describe_trigger(rule, obj, words), triggered, reason, holds, error, actions)


def describe_trigger(rule: Automation, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
    """The rule's trigger in ``words``, e.g. ``24h after created_at`` (``RAW``) or ``创建时间之后1天``
    (``PeopleWords`` in zh)."""
    return TRIGGERS[rule.trigger.kind].describe(rule.trigger, obj, words)


def _actions(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: dict[str, Any],
    context: dict[str, Any],
    clock: Clock,
    words: RawWords = RAW,
) -> tuple[ActionPreview, ...]:
    """What each action would do, told by its kind; ``current`` follows the earlier actions,
    ``context`` is what expressions read."""
    dry = DryRun(session, rule, obj, values, dict(values), context, clock, words)
    out = []
    for action in rule.actions:
        try:
            text = ACTIONS[action.kind].preview(dry, action)
        except (ExpressionEvalError, TrellisError, LookupError, TypeError, ValueError) as exc:
            out.append(ActionPreview(action.kind, action.kind, str(exc) or type(exc).__name__))
            continue
        except Exception as exc:  # noqa: BLE001 - a template error (Jinja), shown rather than raised
            out.append(ActionPreview(action.kind, action.kind, f"{type(exc).__name__}: {exc}"))
            continue
        out.append(ActionPreview(action.kind, text))
    return tuple(out)


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
            kind = TRIGGERS[rule.trigger.kind]
            if not isinstance(kind, TimedTrigger) or (object_name and rule.object != object_name):
                continue
            out.append(kind.window(session, rule, start, end, zone, limit))
    return out
