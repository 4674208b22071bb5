"""The activity timeline and tasks (S25): what attaches to a record, and ``last_activity_at``.

Activities and tasks are ordinary config objects marked with ``activity:`` or
``task:`` (``engine.metadata.timeline``), so they are written by the one write
path and read by the one read path like any record. This module adds:

- ``touch``: the write path's hook (``Session.create/update/delete`` of an
  activity). It keeps ``last_activity_at`` of every record an activity points at
  (through ``activity.on``) equal to the latest ``activity.at`` of the activities
  pointing at it. It writes as the system: no version bump, no ``updated_at``, no
  audit row — the value is derived, like an index. A create raises the value with
  one conditional UPDATE (``… WHERE last_activity_at IS NULL OR last_activity_at < :at``),
  which is atomic under concurrent writers; an update or delete locks the target
  rows (PostgreSQL: ``FOR NO KEY UPDATE``; SQLite writers are serialised) and recomputes
  the maximum in a later statement, so that it sees every committed activity.
- ``timeline``: activities and tasks attached to one record and its engagement events
  (``workflow.engagement``), interleaved newest first, paged, through ``Session.query`` (the
  caller's scope; hidden fields removed; the events are part of the record: seen by whoever
  may read it).
- ``my_tasks`` and ``complete_task``: the current user's open tasks by due date,
  and "mark done" (an ordinary update of the status field).
- ``backfill``: recompute ``last_activity_at`` of a whole object (used by
  ``trellis apply`` when ``timeline: true`` is added to an object with history).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import ActivityDef, Config, ObjectDef
from engine.runtime.errors import NotFound, QueryError
from engine.runtime.messages import current_language
from engine.runtime.records.record import Record
from engine.runtime.records.stages import Feature
from engine.runtime.workflow import engagement
from engine.runtime.workflow.engagement import EngagementEvent

if TYPE_CHECKING:
    from engine.runtime.records.query import Query
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft
    from engine.runtime.tables import Schema

COLUMN = "last_activity_at"
#: Most tasks ``my_tasks`` reads per task object.
MY_TASKS_LIMIT = 500


# --- the write path's hook ------------------------------------------------------------------------
def touch(session: Session, obj: ObjectDef, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
    """Keep ``last_activity_at`` after a write of an ``obj`` record (no-op unless ``obj`` is an activity)."""
    activity = obj.activity
    if activity is None:
        return
    clock = session.clock()
    if before is None and after is not None:  # a create only ever raises the value
        at = _moment(after.get(activity.at), clock.timezone)
        if at is None:
            return
        for lookup in activity.on:
            target_id = after.get(lookup)
            if target_id is not None:
                target = obj.fields[lookup].target
                assert target is not None, "an activity's `on` names lookups"
                table = session.schema.table(target)
                session.connection.execute(
                    sa.update(table)
                    .where(table.c.id == target_id, sa.or_(table.c[COLUMN].is_(None), table.c[COLUMN] < at))
                    .values({COLUMN: at})
                )
                session.unit.forget(target, target_id)  # its last_activity_at may have moved
        return
    affected: dict[str, set[int]] = {}
    for lookup in activity.on:
        old, new = (before or {}).get(lookup), (after or {}).get(lookup)
        moved = after is None or old != new or (before or {}).get(activity.at) != after.get(activity.at)
        target = obj.fields[lookup].target
        if moved and target is not None:
            affected.setdefault(target, set()).update(i for i in (old, new) if i is not None)
    for target, ids in affected.items():
        if ids:
            _recompute(session.connection, session.config, session.schema, target, sorted(ids), clock.timezone)
            for target_id in ids:
                session.unit.forget(target, target_id)


def recompute(session: Session, target: str, ids: list[int]) -> None:
    """Set ``last_activity_at`` of the ``target`` records ``ids`` from their activities (a merge
    moved activities between them)."""
    _recompute(session.connection, session.config, session.schema, target, ids, session.clock().timezone)
    for target_id in ids:
        session.unit.forget(target, target_id)


def _recompute(
    connection: sa.Connection, config: Config, schema: Schema, target: str, ids: list[int], zone: dt.tzinfo
) -> None:
    """Lock the target rows, then set each one's value to the latest activity pointing at it."""
    table = schema.table(target)
    lock = sa.select(table.c.id).where(table.c.id.in_(ids)).order_by(table.c.id)
    if connection.dialect.name == "postgresql":
        # FOR NO KEY UPDATE: it does not wait for writers holding the row's key (a new activity's
        # foreign key), which would deadlock with them on the audit trail's head.
        lock = lock.with_for_update(key_share=True)
    connection.execute(lock).all()
    latest = latest_activity(connection, config, schema, target, ids, zone)
    for record_id in ids:
        connection.execute(sa.update(table).where(table.c.id == record_id).values({COLUMN: latest.get(record_id)}))


def latest_activity(
    connection: sa.Connection, config: Config, schema: Schema, target: str, ids: list[int] | None, zone: dt.tzinfo
) -> dict[int, dt.datetime]:
    """The latest activity time per record of ``target`` (all records when ``ids`` is None)."""
    latest: dict[int, dt.datetime] = {}
    for source, lookup in activity_sources(config, target):
        table = schema.table(source.name)
        assert source.activity is not None, "activity_sources yields activity objects"
        key, at = table.c[lookup], table.c[source.activity.at]
        statement = sa.select(key, sa.func.max(at)).where(key.is_not(None)).group_by(key)
        if ids is not None:
            statement = statement.where(key.in_(ids))
        for record_id, value in connection.execute(statement):
            moment = _moment(value, zone)
            if moment is not None and (record_id not in latest or moment > latest[record_id]):
                latest[record_id] = moment
    return latest


def backfill(connection: sa.Connection, config: Config, schema: Schema, target: str) -> int:
    """Set ``last_activity_at`` of every ``target`` record from its activities; returns how many got one."""
    from zoneinfo import ZoneInfo

    latest = latest_activity(connection, config, schema, target, None, ZoneInfo(config.settings.timezone))
    table = schema.table(target)
    connection.execute(sa.update(table).values({COLUMN: None}))
    if latest:
        connection.execute(
            sa.update(table).where(table.c.id == sa.bindparam("record_id")).values({COLUMN: sa.bindparam("at")}),
            [{"record_id": k, "at": v} for k, v in latest.items()],
        )
    return len(latest)


def activity_sources(config: Config, target: str) -> list[tuple[ObjectDef, str]]:
    """(activity object, lookup) pairs that attach activities to ``target``."""
    return [
        (o, lookup)
        for o in config.objects.values()
        if o.activity is not None
        for lookup in o.activity.on
        if o.fields[lookup].target == target
    ]


def _moment(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """A stored date or date-time as an aware UTC date-time (a date: its midnight in ``zone``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(dt.UTC)


# --- reading the timeline --------------------------------------------------------------------------
#: The kinds of timeline entries (``TimelineEntry.type``), the values of ``timeline(types=…)``.
ENTRY_TYPES = ("activity", "task", "event")
#: The source name of engagement events in the timeline's sort keys (no object is called so).
_EVENTS = "sys_engagement_events"


@dataclass(frozen=True)
class TimelineEntry:
    """One activity, task or engagement event on a record's timeline.

    ``type`` is ``activity``, ``task`` or ``event``; ``at`` is when the activity happened,
    the task is due (else when it was created) or the event happened; ``kind`` the raw value
    of the activity's kind field (an event's kind, e.g. ``email_clicked``); ``summary`` the
    value of its summary (or the task's subject) field; ``done`` whether a task is closed
    (None for activities and events). Values the caller may not see are None. ``record`` is
    the activity or task (None for an event), ``event`` the engagement event (else None)."""

    object: str | None
    type: str
    record: Record | None
    at: dt.datetime | dt.date | None
    kind: Any = None
    summary: Any = None
    done: bool | None = None
    event: EngagementEvent | None = None


@dataclass(frozen=True)
class TimelinePage:
    """One page of a record's timeline, newest first."""

    entries: list[TimelineEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def attached_objects(config: Config, target: str) -> list[tuple[ObjectDef, str, tuple[str, ...]]]:
    """(object, ``activity``/``task``, lookups) of every object whose records attach to ``target``."""
    out = []
    for other in config.objects.values():
        for kind, spec in (("activity", other.activity), ("task", other.task)):
            if spec is not None:
                lookups = tuple(f for f in spec.on if other.fields[f].target == target)
                if lookups:
                    out.append((other, kind, lookups))
    return out


def timeline(
    session: Session,
    object_name: str,
    record_id: Any,
    page: int = 1,
    per_page: int = 20,
    types: Collection[str] | None = None,
) -> TimelinePage:
    """Activities, tasks and engagement events of one record, newest first (only the ``types``
    of ``ENTRY_TYPES`` named, when given); NotFound when the record is outside the caller's read
    scope; only activities and tasks the caller may read, without hidden fields."""
    obj = session.object(object_name)
    if not obj.timeline:
        raise QueryError.said(
            "timeline.none", f"{object_name} has no timeline", object=obj.label.get(current_language())
        )
    if page < 1 or not 1 <= per_page <= 100:
        raise QueryError.said("timeline.paging", "page starts at 1 and per_page is between 1 and 100")
    if types is not None and not set(types) <= set(ENTRY_TYPES):
        types_ = ", ".join(ENTRY_TYPES)
        raise QueryError.said("timeline.types", f"timeline entries are of the types {types_}", types=types_)
    query = session.query(object_name).include_archived()
    record = query.filter(id=record_id).first() if _valid_id(record_id) else None
    if record is None:
        raise NotFound(object_name, record_id, obj.label.get(current_language()))
    keys: list[tuple[dt.datetime, dt.datetime, str, int]] = []
    queries: dict[str, tuple[Query, str]] = {}
    zone = session.clock().timezone
    for source, kind, lookups in attached_objects(session.config, object_name):
        attached = _attached_query(session, source, lookups, record.id) if types is None or kind in types else None
        if attached is None:
            continue
        queries[source.name] = (attached, kind)
        table = attached.table
        when = _sort_field(session, source, kind)
        columns = [table.c.id, table.c.created_at, table.c[when] if when else table.c.created_at]
        for row in session.connection.execute(attached.statement().with_only_columns(*columns)):
            keys.append((_moment(row[2], zone) or row[1], row[1], source.name, row[0]))
    total = len(keys)
    if types is None or "event" in types:  # only the newest events a page this deep can show
        count, times = engagement.event_times(session, object_name, record.id, page * per_page)
        total += count
        for event_id, at in times:
            moment = _moment(at, zone) or at
            keys.append((moment, moment, _EVENTS, event_id))
    keys.sort(reverse=True)
    chosen = keys[(page - 1) * per_page : page * per_page]
    records: dict[tuple[str, int], Record] = {}
    for name in {k[2] for k in chosen} - {_EVENTS}:
        attached, _ = queries[name]
        wanted = [k[3] for k in chosen if k[2] == name]
        records.update({(name, r.id): r for r in attached.filter(id__in=wanted).all()})
    events = engagement.events_by_id(session, object_name, record.id, [k[3] for k in chosen if k[2] == _EVENTS])
    entries = []
    for _at, _created, name, entry_id in chosen:
        if name == _EVENTS:
            if entry_id in events:
                event = events[entry_id]
                entries.append(TimelineEntry(None, "event", None, _moment(event.at, zone), event.kind, event=event))
        elif (name, entry_id) in records:
            entries.append(_entry(session.config.objects[name], queries[name][1], records[(name, entry_id)]))
    return TimelinePage(entries, total, page, per_page)


def _valid_id(value: Any) -> bool:
    try:
        return 0 < int(value) < 2**63 and not isinstance(value, bool)
    except (TypeError, ValueError):
        return False


def _attached_query(session: Session, source: ObjectDef, lookups: tuple[str, ...], record_id: int) -> Query | None:
    """Records of ``source`` whose lookups point at ``record_id``, in the caller's scope."""
    principal = session.principal
    visible = [f for f in lookups if principal.can_see(source.name, f)]
    if principal.grant(source.name).read == "none" or not visible:
        return None
    query = session.query(source.name)
    condition = sa.or_(*(query.filter(**{f: record_id}).conditions[-1] for f in visible))
    return replace(query, conditions=(*query.conditions, condition))


def _sort_field(session: Session, source: ObjectDef, kind: str) -> str | None:
    spec = source.activity if kind == "activity" else source.task
    assert spec is not None, f"{source.name} is an object of kind {kind}"
    name = spec.at if isinstance(spec, ActivityDef) else spec.due
    return name if session.principal.can_see(source.name, name) else None


def _entry(source: ObjectDef, kind: str, record: Record) -> TimelineEntry:
    if kind == "activity":
        spec = source.activity
        assert spec is not None, f"{source.name} is an activity object"
        return TimelineEntry(
            source.name,
            kind,
            record,
            record.get(spec.at) or record["created_at"],
            record.get(spec.kind) if spec.kind else None,
            record.get(spec.summary) if spec.summary else None,
        )
    task = source.task
    assert task is not None, f"{source.name} is a task object"
    return TimelineEntry(
        source.name,
        kind,
        record,
        record.get(task.due) or record["created_at"],
        None,
        record.get(task.subject) if task.subject else None,
        is_done(source, record),
    )


# --- tasks ---------------------------------------------------------------------------------------------
def is_done(obj: ObjectDef, record: Mapping[str, Any]) -> bool | None:
    """Whether a task record is closed (None when its status is hidden from the reader)."""
    task = obj.task
    assert task is not None, f"{obj.name} is a task object"
    if task.status not in record:
        return None
    value = record.get(task.status)
    return bool(value) if not task.done else value in task.done


@dataclass(frozen=True)
class TaskItem:
    """One open task of the current user, grouped by its due date."""

    object: ObjectDef
    record: Record
    due: dt.datetime | dt.date | None
    group: str  # overdue, today, upcoming, no_date
    reminder_due: bool


#: The groups of the task list, in display order.
TASK_GROUPS = ("overdue", "today", "upcoming", "no_date")


def task_objects(config: Config) -> list[ObjectDef]:
    """The objects whose records are tasks."""
    return [o for o in config.objects.values() if o.task is not None]


def my_tasks(session: Session) -> list[TaskItem]:
    """The caller's open tasks (assigned to them, inside their read scope), by due date."""
    if session.user is None:
        return []
    clock = session.clock()
    today = clock.today()
    items: list[TaskItem] = []
    for obj in task_objects(session.config):
        if session.principal.grant(obj.name).read == "none":
            continue
        task = obj.task
        assert task is not None, "task_objects yields task objects"
        try:
            query = _open(session.query(obj.name).filter(**{task.assignee: session.user}), obj)
            records = query.order_by(task.due).page(1, MY_TASKS_LIMIT).items
        except QueryError:  # a task field hidden from the user: no task list for that object
            continue
        for record in records:
            due = record.get(task.due)
            remind = _moment(record.get(task.remind), clock.timezone) if task.remind else None
            items.append(
                TaskItem(
                    obj, record, due, _group(due, today, clock.timezone), remind is not None and remind <= clock.now_utc
                )
            )
    order = {g: i for i, g in enumerate(TASK_GROUPS)}
    items.sort(
        key=lambda i: (order[i.group], _moment(i.due, clock.timezone) or clock.now_utc, i.object.name, i.record.id)
    )
    return items


def _open(query: Query, obj: ObjectDef) -> Query:
    """Keep the tasks that are not done (an empty status counts as open)."""
    task = obj.task
    assert task is not None, f"{obj.name} is a task object"
    closed = query.filter(**({f"{task.status}__in": list(task.done)} if task.done else {task.status: True}))
    is_null = query.filter(**{f"{task.status}__isnull": True})
    condition = sa.or_(sa.not_(closed.conditions[-1]), is_null.conditions[-1])
    return replace(query, conditions=(*query.conditions, condition))


def _group(due: Any, today: dt.date, zone: dt.tzinfo) -> str:
    if due is None:
        return "no_date"
    day = due.astimezone(zone).date() if isinstance(due, dt.datetime) else due
    return "overdue" if day < today else "today" if day == today else "upcoming"


def complete_task(session: Session, object_name: str, record_id: Any, version: int | None = None) -> Record:
    """Mark a task done: set its status to the first ``done`` value (or true), through the write path."""
    obj = session.object(object_name)
    if obj.task is None:
        raise QueryError.said(
            "timeline.not_task", f"{object_name} is not a task object", object=obj.label.get(current_language())
        )
    value: Any = obj.task.done[0] if obj.task.done else True
    return session.update(object_name, record_id, {obj.task.status: value}, version=version)


def timeline_objects(config: Config) -> Iterable[ObjectDef]:
    """The objects with ``timeline: true``."""
    return (o for o in config.objects.values() if o.timeline)


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _after(write: Write, draft: Draft) -> None:
    """Stage ``after``: ``touch`` for the written (or deleted) row."""
    touch(write.session, write.obj, draft.current, draft.record)


#: ``last_activity_at`` of the records an activity points at.
FEATURE = Feature("timeline", {"after": _after})
