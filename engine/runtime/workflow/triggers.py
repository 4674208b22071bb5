"""Automation trigger kinds at run time: one object per kind, registered once in ``TRIGGERS``.

Each kind carries its config half (``spec``: compile, ``engine.metadata.automation_triggers``)
and says when a rule of it fires, the same way for the real run and for the dry run
(``trellis automation simulate``):

- an ``EventTrigger`` fires on events of records (a write, an approval decision):
  ``match`` tells whether an ``Event`` fires it — yes, no, or (a dry run of an update,
  whose change is not known) "it depends" — and ``explain`` says why in words;
- a ``TimedTrigger`` fires when time passes: ``sweep`` hands the worker what is due
  (``engine.runtime.jobs.worker`` fires it), ``preview`` tells whether one record is due
  at a moment and ``window`` lists what would fire between two moments — all three
  from the same definition of what is due (``engine.runtime.workflow.timed``).

Every kind can ``describe`` a trigger in words (``drywords``: the config's keys for
``trellis automation simulate``, labels in the reader's language for the explain page).
``register`` adds a kind — both halves — in one call; a kind that lacks a part is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from engine.metadata import automation_triggers as specs
from engine.metadata.expressions import Clock, ExpressionEvalError
from engine.metadata.kinds import Kinds, placeholder
from engine.metadata.model import Automation, ObjectDef, Trigger
from engine.runtime.jobs import checkpoints
from engine.runtime.records.query import format_title, row_to_record
from engine.runtime.workflow import timed
from engine.runtime.workflow.actions import missing_parts
from engine.runtime.workflow.drywords import RAW, RawWords
from engine.runtime.workflow.pipeline import StageMove
from engine.runtime.workflow.rulecontext import names, show

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

#: Most cron times listed per rule by a window.
CRON_TIMES = 50
_SCAN_PAGE = 500


# --- events -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """Something that happened to a record: ``action`` is ``create``, ``update``, ``delete`` or
    ``approval`` (with its ``decision``). ``known`` is False in a dry run of an update: the
    record is given, what the update changes is not."""

    action: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    move: StageMove | None = None
    decision: str | None = None
    known: bool = True
    #: ``engagement``: the event's kind (``email_clicked``) and what a rule reads as ``event``.
    kind: str | None = None
    data: Mapping[str, Any] | None = None
    #: A delete by retention (``Session.purge``): the policy (years, from, before); None otherwise.
    purge: Mapping[str, Any] | None = None

    @property
    def names(self) -> dict[str, Any]:
        """What a rule's expressions read besides the record: a delete's ``purge`` (None for an
        ordinary delete; the policy for a retention purge)."""
        return {"purge": dict(self.purge) if self.purge is not None else None} if self.action == "delete" else {}

    @property
    def label(self) -> str:
        """The trigger as a rule's run records it (``update``, ``approval approved``, ``event email_clicked``)."""
        if self.action == "engagement":
            return f"event {self.kind}"
        return f"approval {self.decision}" if self.action == "approval" else self.action

    @property
    def past(self) -> str:
        """The event in words: created, updated, deleted."""
        return {"create": "created", "update": "updated", "delete": "deleted"}.get(self.action, self.label)

    @classmethod
    def dry(
        cls, event: str, obj: ObjectDef, values: Mapping[str, Any], purge: Mapping[str, Any] | None = None
    ) -> Event:
        """A dry run's event for a stored record: ``created`` (as if it were new, entering its
        stage), ``updated`` (by a change that is not known) or ``deleted`` (``purge``: by
        retention under that policy, as ``Session.purge`` gives it; None: an ordinary delete)."""
        if event == "created":
            stage = values.get(obj.pipeline.field) if obj.pipeline else None
            move = StageMove(from_stage=None, to_stage=stage, reason=None) if stage is not None else None
            return cls("create", None, values, move)
        if event == "deleted":
            return cls("delete", values, None, None, purge=purge)
        return cls("update", values, values, None, known=False)


# --- what the worker offers a sweep ----------------------------------------------------------------------
class Sweeper(Protocol):
    """What the worker (``engine.runtime.jobs.worker``) offers a timed kind's ``sweep``."""

    crm: Runtime

    def run_due(
        self,
        rule: Automation,
        conditions: list[sa.ColumnElement[bool]],
        key_sql: sa.ColumnElement[str],
        key: Callable[[Mapping[str, Any]], str | None],
        record_skips: bool,
    ) -> None:
        """Fire ``rule`` once per record (not archived) meeting ``conditions`` whose run key
        (``key_sql`` in SQL, ``key`` in Python; None: not now) has no run yet."""

    def fire_once(self, rule: Automation, key: str) -> None:
        """Fire ``rule`` (without an object) once under ``key``."""

    def has_run(self, key: str) -> bool:
        """Whether a run under ``key`` exists."""

    def close(self, rule: Automation, key: str) -> None:
        """Record a finished run under ``key`` (a marker that later sweeps skip by)."""


# --- dry runs of a window ---------------------------------------------------------------------------------
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
    """What one time-based rule would do in a window: ``hits`` (records, ``more`` when the list
    stopped at its limit) or, for a rule that fires at times rather than per record, ``times``."""

    rule: Automation
    trigger: str
    hits: tuple[Hit, ...] = ()
    more: bool = False
    times: tuple[dt.datetime, ...] | None = None


# --- the kinds -------------------------------------------------------------------------------------------
class TriggerKind:
    """One trigger kind at run time. Subclasses implement every name in ``PARTS``."""

    PARTS: tuple[str, ...] = ("describe", "preview")
    #: The kind's config half.
    spec: specs.TriggerSpec
    #: The events (``Event.action``) a rule of this kind listens to.
    listens: frozenset[str] = frozenset()
    #: Fired by the worker as time passes.
    timed = False

    def __init__(self, spec: specs.TriggerSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        """The kind's name in ``on:``."""
        return self.spec.name

    @placeholder
    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        """The trigger of a rule of ``obj`` in ``words``, e.g. ``24h after created_at`` (``RAW``)."""
        raise NotImplementedError

    @placeholder
    def preview(
        self, session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: Event, clock: Clock
    ) -> tuple[str, str]:
        """For a dry run of ``event`` (``Event.dry``: created, updated, deleted) on a stored record
        at ``clock``: whether the rule is triggered (``yes``, ``no`` or ``if`` the change does it) and why."""
        raise NotImplementedError


class EventTrigger(TriggerKind):
    """A kind that fires on events of records."""

    PARTS = ("describe", "preview", "match", "explain")

    @placeholder
    def match(self, trigger: Trigger, event: Event) -> bool | None:
        """Whether ``event`` fires ``trigger``; None when it depends on a change that is not known."""
        raise NotImplementedError

    @placeholder
    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        """Why ``match`` said ``verdict``, in words."""
        raise NotImplementedError

    def preview(
        self, session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: Event, clock: Clock
    ) -> tuple[str, str]:
        verdict = self.match(rule.trigger, event)
        return ("if" if verdict is None else "yes" if verdict else "no"), self.explain(rule.trigger, event, verdict)


class TimedTrigger(TriggerKind):
    """A kind that fires as time passes, swept by the worker."""

    PARTS = ("describe", "preview", "sweep", "window")
    timed = True

    @placeholder
    def sweep(self, sweeper: Sweeper, rule: Automation, at: dt.datetime) -> None:
        """Fire what ``rule`` has due at ``at``, through ``sweeper``."""
        raise NotImplementedError

    @placeholder
    def window(
        self, session: Session, rule: Automation, start: dt.datetime, end: dt.datetime, zone: Any, limit: int
    ) -> WindowPreview:
        """What ``rule`` would fire for between ``start`` and ``end`` (at most ``limit`` records)."""
        raise NotImplementedError


#: Every trigger kind at run time, by name (the same names as ``engine.metadata.automation_triggers.TRIGGERS``).
TRIGGERS: Kinds[TriggerKind] = Kinds("trigger")
_listening: dict[tuple[str, int], tuple[str, ...]] = {}


def register(kind: TriggerKind) -> TriggerKind:
    """Add a trigger kind: its config half to the config language, itself to the runtime.
    Raises TypeError naming the parts it lacks, ValueError when the name is taken."""
    base = EventTrigger if isinstance(kind, EventTrigger) else TimedTrigger if kind.timed else TriggerKind
    missing = missing_parts(kind, base, specs.TriggerSpec)
    if not isinstance(kind, EventTrigger | TimedTrigger):
        missing.append("match or sweep")
    if missing:
        raise TypeError(f"the trigger kind {getattr(kind.spec, 'name', kind)!r} lacks {', '.join(missing)}")
    if kind.name in TRIGGERS:
        raise ValueError(f"a trigger kind `{kind.name}` is registered already")
    if specs.TRIGGERS.get(kind.name) is not kind.spec:
        specs.TRIGGERS.register(kind.spec)
    return TRIGGERS.register(kind)


def unregister(name: str) -> None:
    """Remove the trigger kind ``name`` from the runtime and the config language."""
    TRIGGERS.unregister(name)
    specs.TRIGGERS.unregister(name)


def listening(action: str) -> tuple[str, ...]:
    """The names of the kinds that listen to events of ``action``."""
    key = (action, TRIGGERS.version)
    found = _listening.get(key)
    if found is None:
        found = _listening[key] = tuple(k.name for k in TRIGGERS if action in k.listens)
    return found


# --- event kinds -------------------------------------------------------------------------------------------
class OnWrite(EventTrigger):
    """``created``, ``updated``: every write of that sort."""

    def __init__(self, spec: specs.TriggerSpec, action: str) -> None:
        super().__init__(spec)
        self.action = action
        self.listens = frozenset({action})

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        return words.say(f"trigger.on_{self.action}", f"on {self.action}")  # on create, on update, on delete

    def match(self, trigger: Trigger, event: Event) -> bool | None:
        return event.action == self.action

    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        return f"the record is {event.past}" if verdict else f"the event is {event.past}, not {self.name}"


class OnDelete(OnWrite):
    """``deleted``: a dry run, of a stored record, never deletes it."""

    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        if not verdict:
            return "only when a record is deleted"
        return "retention purges the record" if event.purge is not None else "the record is deleted"


class Changed(EventTrigger):
    """``changed``: an update changing one of the fields (``to`` a value, when given)."""

    listens = frozenset({"update"})

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        fields = words.either([words.field(obj, name) for name in trigger.fields])
        if not trigger.has_to:
            return words.say("trigger.changed", f"when {fields} changes", fields=fields)
        to = words.value(obj, trigger.fields[0], trigger.to) if trigger.fields else show(trigger.to)
        return words.say("trigger.changed_to", f"when {fields} changes to {to}", fields=fields, to=to)

    def match(self, trigger: Trigger, event: Event) -> bool | None:
        before, after = event.before, event.after
        if event.action != "update" or before is None or after is None:
            return False  # a new record has no change; a rule for those uses `created` with `when`
        if not event.known:
            return None
        return any(
            before.get(name) != after.get(name) and (not trigger.has_to or after.get(name) == trigger.to)
            for name in trigger.fields
        )

    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        fields = " or ".join(trigger.fields)
        if event.action == "create":
            return "a new record has no change"
        if event.action == "delete":
            return "a deleted record has no change"
        if verdict is None:
            return f"only if the update changes {fields}"
        return f"the update changes {fields}" if verdict else f"the update does not change {fields}"


class StageChange(EventTrigger):
    """``stage_entered`` / ``stage_left``: a move of the pipeline's stage (a new record enters its first)."""

    listens = frozenset({"create", "update"})

    def __init__(self, spec: specs.TriggerSpec, entering: bool) -> None:
        super().__init__(spec)
        self.entering = entering

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        stages = words.either([words.stage(obj, key) for key in trigger.stages])
        stages = stages or words.say("trigger.any_stage", "any stage")
        verb = "enters" if self.entering else "leaves"
        return words.say(f"trigger.{verb}", f"when the record {verb} {stages}", stages=stages)

    def match(self, trigger: Trigger, event: Event) -> bool | None:
        move = event.move
        if move is None:
            return None if not event.known else False
        stage = move.to_stage if self.entering else move.from_stage
        return stage is not None and (not trigger.stages or stage in trigger.stages)

    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        if verdict is None:
            return "only if the update moves the stage"
        move = event.move
        if event.action == "delete":
            return "a deleted record does not move"
        if event.action == "create":
            if not self.entering:
                return "a new record leaves no stage"
            stage = move.to_stage if move else None
            return f"the new record enters {stage}" if verdict else f"the record is in {stage or 'no stage'}"
        if move is None:
            return "the stage does not move"
        stage = move.to_stage if self.entering else move.from_stage
        return f"the record {'enters' if self.entering else 'leaves'} {stage or 'no stage'}"


class Approval(EventTrigger):
    """``approval``: a decision (approved or rejected) on a pending approval of the record."""

    listens = frozenset({"approval"})

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        decision = words.say(f"trigger.decision.{trigger.decision}", str(trigger.decision))
        return words.say("trigger.approval", f"on an approval decision ({decision})", decision=decision)

    def match(self, trigger: Trigger, event: Event) -> bool | None:
        return (
            event.action == "approval"
            and event.decision in ("approved", "rejected")
            and trigger.decision in (event.decision, "decided")
        )

    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        if event.action != "approval":
            return "only after an approval decision"
        return (
            f"the request was {event.decision}"
            if verdict
            else f"the request was {event.decision}, not {trigger.decision}"
        )


class OnEngagement(EventTrigger):
    """``event``: an engagement event of the record (``engine.runtime.workflow.engagement``)."""

    listens = frozenset({"engagement"})

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        event = words.say(f"trigger.engagement.{trigger.event}", str(trigger.event))
        return words.say("trigger.event", f"on an engagement event {event}", event=event)

    def match(self, trigger: Trigger, event: Event) -> bool | None:
        return event.action == "engagement" and event.kind == trigger.event

    def explain(self, trigger: Trigger, event: Event, verdict: bool | None) -> str:
        if event.action != "engagement":
            return f"only when the record has an engagement event {trigger.event}"
        return f"the record had {event.kind}" if verdict else f"the event is {event.kind}, not {trigger.event}"


# --- time kinds ------------------------------------------------------------------------------------------
class Schedule(TimedTrigger):
    """``schedule``: once per record and occurrence of its ``from`` date (``yearly``: each anniversary).

    The worker's sweep of a rule without ``window`` is narrowed by a checkpoint to what is
    new since the last sweep, with a full sweep once a day (``engine.runtime.jobs.checkpoints``)."""

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        offset, field = trigger.offset_seconds, words.field(obj, trigger.from_field or "")
        if offset:
            span, side = words.duration(abs(offset)), "after" if offset >= 0 else "before"
            text = words.say(f"trigger.schedule_{side}", f"{span} {side} {field}", duration=span, field=field)
        else:
            text = words.say("trigger.schedule_at", f"at {field}", field=field)
        if trigger.yearly:
            text += words.say("trigger.yearly", ", every year")
        if trigger.window_seconds is not None:
            span = words.duration(trigger.window_seconds)
            text += words.say("trigger.window", f" (window {span})", duration=span)
        return text

    def range(self, crm: Runtime, rule: Automation, high: dt.datetime, **more: Any) -> timed.DueRange:
        """The occurrences of ``rule`` due up to ``high`` (from ``low`` when given; else its ``window``)."""
        window = rule.trigger.window_seconds
        if "low" not in more and window is not None and not rule.trigger.yearly:
            more["low"] = high - dt.timedelta(seconds=window)
        table = crm.schema.table(rule.object or "")
        return timed.DueRange(rule, table, crm.clock_now().timezone, crm.engine.dialect.name, high, **more)

    def sweep(self, sweeper: Sweeper, rule: Automation, at: dt.datetime) -> None:
        crm = sweeper.crm
        due = self.range(crm, rule, at)
        if due.empty:
            return
        checkpointed = rule.trigger.window_seconds is None and not rule.trigger.yearly
        since = checkpoints.load(crm, rule, at, due.zone) if checkpointed else None
        conditions = due.conditions() if since is None else self._since(crm, due, since)
        sweeper.run_due(rule, conditions, due.key_sql(), due.key, record_skips=True)
        if checkpointed:
            checkpoints.save(crm, rule, at - due.offset, at, full=since is None)

    @staticmethod
    def _since(crm: Runtime, due: timed.DueRange, since: checkpoints.Checkpoint) -> list[sa.ColumnElement[bool]]:
        """``due``'s records past the last sweep's bound, or written since it: two index ranges,
        read first (ids), so that no planner scans the table for them."""
        table, column, conditions = due.table, due.column, due.conditions()
        candidates = sa.union(
            sa.select(table.c.id).where(column > timed.bound(column, since.due, due.zone, upper=True), *conditions),
            sa.select(table.c.id).where(table.c.updated_at >= since.swept_at - checkpoints.GRACE, *conditions),
        )
        with crm.engine.connect() as connection:
            ids = connection.execute(candidates.limit(checkpoints.CANDIDATE_LIST + 1)).scalars().all()
        return [table.c.id.in_(ids if len(ids) <= checkpoints.CANDIDATE_LIST else candidates)]

    def preview(
        self, session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: Event, clock: Clock
    ) -> tuple[str, str]:
        trigger = rule.trigger
        if values.get("archived_at") is not None:
            return "no", "the record is archived"
        if values.get(trigger.from_field or "") is None:
            return "no", f"{trigger.from_field} is empty"
        now = clock.now_utc
        if trigger.yearly:
            found = self.range(session.crm, rule, now).occurrence(values)
            if found is None:
                return "no", f"no anniversary of {trigger.from_field} is due at this moment"
            key, due = found
        else:
            key, due = self.range(session.crm, rule, now, low=None).occurrence(values) or ("", now)
            if due > now:
                return "no", f"not due until {when_text(due, clock)}"
            if trigger.window_seconds is not None and now - due > dt.timedelta(seconds=trigger.window_seconds):
                return "no", f"due at {when_text(due, clock)}, past its window"
        ran = runs(session, [key])
        if key in ran:
            return "no", f"ran already for this occurrence ({ran[key]})"
        return "yes", f"due since {when_text(due, clock)}"

    def window(
        self, session: Session, rule: Automation, start: dt.datetime, end: dt.datetime, zone: Any, limit: int
    ) -> WindowPreview:
        obj = session.config.objects[rule.object or ""]
        due = self.range(session.crm, rule, end, low=start, moments=(start, end))
        found: list[tuple[dict[str, Any], str, dt.datetime]] = []
        more = False
        if not due.empty:
            table = due.table
            current = [table.c.archived_at.is_(None), *due.conditions()]
            if rule.trigger.yearly:  # SQL finds the month and day; the occurrence decides (time zones)
                pages = self._pages(session, current, table)
            else:
                page = sa.select(table).where(*current).order_by(due.column, table.c.id).limit(limit + 1)
                pages = iter([session.connection.execute(page).mappings().all()])
            for rows in pages:
                for row in rows:
                    values = dict(row_to_record(obj, row, session.crm.keys))
                    occurrence = due.occurrence(values)
                    if occurrence is None:
                        continue
                    if len(found) == limit:
                        more = True
                        break
                    found.append((values, *occurrence))
                if more:
                    break
        ran = runs(session, [key for _, key, _ in found])
        hits = [_hit(rule, obj, values, when, zone, key in ran) for values, key, when in found]
        hits.sort(key=lambda h: (h.due, h.record_id))
        return WindowPreview(rule, self.describe(rule.trigger), tuple(hits), more)

    @staticmethod
    def _pages(session: Session, conditions: list[sa.ColumnElement[bool]], table: sa.Table) -> Iterator[Sequence[Any]]:
        """The rows meeting ``conditions``, a page at a time by id."""
        last = 0
        while True:
            page = sa.select(table).where(*conditions, table.c.id > last).order_by(table.c.id).limit(_SCAN_PAGE)
            rows = session.connection.execute(page).mappings().all()
            yield rows
            if len(rows) < _SCAN_PAGE:
                return
            last = rows[-1]["id"]


class Cron(TimedTrigger):
    """``cron``: at the latest time of the expression, unless more than a day back; without an
    object once, with one once per record (not archived) meeting ``when``."""

    def describe(self, trigger: Trigger, obj: ObjectDef | None = None, words: RawWords = RAW) -> str:
        return words.say("trigger.cron", f"cron {trigger.cron!r}", cron=trigger.cron)

    def sweep(self, sweeper: Sweeper, rule: Automation, at: dt.datetime) -> None:
        time = timed.CronTime(rule, at, sweeper.crm.clock_now().timezone)
        if time.stale or sweeper.has_run(time.key):
            return
        if rule.object is None:
            sweeper.fire_once(rule, time.key)
            return
        table = sweeper.crm.schema.table(rule.object)
        key_sql = sa.literal(f"{time.key}|", sa.String) + sa.cast(table.c.id, sa.String)
        sweeper.run_due(rule, [], key_sql, lambda values: time.record_key(values["id"]), record_skips=False)
        sweeper.close(rule, time.key)  # this cron time is done

    def preview(
        self, session: Session, rule: Automation, obj: ObjectDef, values: dict[str, Any], event: Event, clock: Clock
    ) -> tuple[str, str]:
        if values.get("archived_at") is not None:
            return "no", "the record is archived"
        time = timed.CronTime(rule, clock.now_utc, clock.timezone)
        if time.stale:
            return "no", f"its latest time {when_text(time.fire, clock)} is more than a day back"
        if runs(session, [time.key, time.record_key(values["id"])]):
            return "no", f"its time {when_text(time.fire, clock)} has run already"
        return "yes", f"at its time {when_text(time.fire, clock)}"

    def window(
        self, session: Session, rule: Automation, start: dt.datetime, end: dt.datetime, zone: Any, limit: int
    ) -> WindowPreview:
        times = timed.cron_times(rule.trigger.cron or "", start, end, zone, CRON_TIMES)
        return WindowPreview(rule, self.describe(rule.trigger), times=tuple(times))


for _kind in (
    OnWrite(specs.TRIGGERS["created"], "create"),
    OnWrite(specs.TRIGGERS["updated"], "update"),
    OnDelete(specs.TRIGGERS["deleted"], "delete"),
    Changed(specs.TRIGGERS["changed"]),
    StageChange(specs.TRIGGERS["stage_entered"], entering=True),
    StageChange(specs.TRIGGERS["stage_left"], entering=False),
    Approval(specs.TRIGGERS["approval"]),
    Schedule(specs.TRIGGERS["schedule"]),
    Cron(specs.TRIGGERS["cron"]),
    OnEngagement(specs.TRIGGERS["event"]),
):
    register(_kind)


# --- helpers ----------------------------------------------------------------------------------------------
def _hit(rule: Automation, obj: ObjectDef, values: dict[str, Any], due: dt.datetime, zone: Any, ran: bool) -> Hit:
    """The record due at ``due``, with ``when`` evaluated at that moment on its stored values."""
    holds = None
    if rule.when is not None:
        try:
            holds = bool(rule.when.evaluate(names(obj, values, None), Clock(due, zone)))
        except ExpressionEvalError:
            holds = False
    return Hit(values["id"], format_title(obj, values), due, holds, ran)


def runs(session: Session, keys: list[str]) -> dict[str, str]:
    """Run key → status, for the keys that have a run."""
    if not keys:
        return {}
    table = session.schema.system["sys_automation_runs"]
    rows = session.connection.execute(sa.select(table.c.run_key, table.c.status).where(table.c.run_key.in_(keys)))
    return {row.run_key: row.status for row in rows}


def duration(seconds: int) -> str:
    """``86400`` → ``1d``; the largest unit that divides it."""
    return RAW.duration(seconds)


def when_text(moment: dt.datetime, clock: Clock) -> str:
    """A moment as a dry run prints it, in the company time zone."""
    return moment.astimezone(clock.timezone).strftime("%Y-%m-%d %H:%M %Z")
