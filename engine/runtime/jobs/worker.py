"""The worker: time-based automation rules, delivery of the outbox, sealing the audit trail.

``trellis worker`` calls ``run_once`` (or ``run_forever``): ``sweep`` fires the
rules that are due, ``deliver`` (``engine.runtime.jobs.delivery``) sends e-mails and
webhooks, and ``audit.seal`` chains the audit rows written since the last pass
(the pass's own included), so that they become tamper-evident within one
interval. Any number of workers may run against one database (sealers take
turns on the chain's head; writers never wait for them).

**schedule** rules fire once per record and *occurrence*. The occurrence is
the value of the rule's ``from`` field, so ``after: 5d, from: stage_entered_at``
is re-armed by every stage change, while other edits of the record do not
re-fire it. Per rule one query finds the ids of the due records — ``from`` not
empty and at most ``at - offset`` (not older than ``window`` when given: a
range of the field's index, ``tables.schedule_indexes``), not archived, and
without a run of this occurrence (``NOT EXISTS`` on the unique run key
``rule|record|occurrence``); the records are then read and run ``PAGE`` at a
time. Without ``window``, a checkpoint narrows the search to what is new since
the last sweep, with a full sweep once a day (``engine.runtime.jobs.checkpoints``). A date field's value counts from the start of that day in the company
time zone. ``yearly`` rules fire on the anniversaries of the date (a
29 February on 28 February in other years): the query matches the month and
day of every anniversary whose due moment lies in ``[at - window, at]``;
``window`` defaults to one day for them, so a contact added after their
birthday is not greeted late.

**cron** rules fire once for the latest cron time at or before ``at`` (in the
company time zone), unless it lies more than a day back — deploying a weekly
digest on Friday does not send Monday's. Without ``object`` the rule runs its
actions once; with one, once for every record (not archived) meeting ``when``,
each once per cron time; a marker run then closes the cron time so that later
passes skip it at once.

Every run goes through ``automation.run_rule`` in the system context, under
the rule's name, with a unique run key: a second pass, or a second worker,
finds the key taken and does nothing. When a schedule rule's ``when`` does not
hold at the due time, the occurrence is recorded as ``skipped`` and does not
fire later (a new value of the field re-arms it).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import Automation, ObjectDef
from engine.runtime.database import upsert
from engine.runtime.errors import TrellisError
from engine.runtime.jobs import checkpoints
from engine.runtime.jobs.delivery import DeliveryReport, deliver
from engine.runtime.records.query import row_to_record
from engine.runtime.security import audit
from engine.runtime.security.crypto import Keys
from engine.runtime.workflow import automation

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.worker")

#: Records read and run per transaction.
PAGE = 200
#: Most candidate ids of a checkpointed sweep passed as a list (more: as a subquery).
CANDIDATE_LIST = 5000
#: How far back a cron time may lie and still fire.
CRON_LOOKBACK = dt.timedelta(days=1)
#: A yearly rule's default ``window``.
YEARLY_WINDOW = 86400
_DATETIME_TEXT = "%Y-%m-%d %H:%M:%S.%f"


# --- reports --------------------------------------------------------------------------------------------
@dataclass
class RuleReport:
    """What one pass did for one rule."""

    fired: int = 0
    skipped: int = 0
    failed: int = 0
    #: Why the rule's pass stopped (the database refused a query…); it is tried again next pass.
    error: str | None = None


@dataclass
class SweepReport:
    """What ``sweep`` did, per rule (only the rules that did something)."""

    rules: dict[str, RuleReport] = field(default_factory=dict)

    def rule(self, name: str) -> RuleReport:
        return self.rules.setdefault(name, RuleReport())

    @property
    def fired(self) -> int:
        return sum(r.fired for r in self.rules.values())


@dataclass
class PassReport:
    """One ``run_once``: the time it ran for, the rules, the deliveries and the audit rows
    sealed (``seal_error``: why the chain could not be continued)."""

    at: dt.datetime
    sweep: SweepReport
    delivery: DeliveryReport
    sealed: int = 0
    seal_error: str | None = None


# --- entry points ---------------------------------------------------------------------------------------
def run_once(crm: Runtime, at: dt.datetime | None = None, **delivery: Any) -> PassReport:
    """One pass at ``at`` (default: the crm's clock): ``sweep``, ``deliver``, then ``seal``
    the audit trail."""
    at = at or crm.clock_now().now_utc
    report = PassReport(at, sweep(crm, at), deliver(crm, at, **delivery))
    try:
        report.sealed = audit.seal(crm.engine, crm.schema).sealed
    except audit.AuditChainBroken as exc:  # tampering: the writes go on; verify names the break
        log.error("worker: audit trail not sealed: %s", exc)
        report.seal_error = str(exc)
    return report


def run_forever(
    crm: Runtime,
    interval: float = 60,
    stop: threading.Event | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
    **delivery: Any,
) -> None:
    """A pass every ``interval`` seconds until ``stop`` is set. A pass that fails (the database
    is away) is logged and the next one tries again."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = run_once(crm, **delivery)
        except sa.exc.DBAPIError as exc:
            log.error("worker pass failed, retrying in %ss: %s", interval, exc.orig)
        else:
            if on_pass is not None:
                on_pass(report)
        stop.wait(interval)


def sweep(crm: Runtime, at: dt.datetime, only: Collection[str] | None = None) -> SweepReport:
    """Fire every time-based rule (or those named in ``only``) due at ``at``."""
    report = SweepReport()
    for rule in crm.config.automations:
        sweeper = _SWEEPERS.get("yearly" if rule.trigger.yearly else rule.trigger.kind)
        if sweeper is None or (only is not None and rule.name not in only):
            continue
        try:
            sweeper(crm, rule, at, report)
        except sa.exc.OperationalError:
            raise  # the database is away: the whole pass waits for it
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others or delivery
            log.exception("worker: rule %s failed", rule.name)
            report.rule(rule.name).error = f"{type(exc).__name__}: {exc}"
    report.rules = {name: r for name, r in report.rules.items() if r.fired or r.skipped or r.failed or r.error}
    return report


# --- schedule rules -------------------------------------------------------------------------------------
def _sweep_schedule(crm: Runtime, rule: Automation, at: dt.datetime, report: SweepReport) -> None:
    trigger, date_field = rule.trigger, rule.trigger.from_field
    assert rule.object is not None and date_field is not None, "a schedule rule counts from a record's date"
    table = crm.schema.table(rule.object)
    column = table.c[date_field]
    zone = crm.clock_now().timezone
    due = at - dt.timedelta(seconds=trigger.offset_seconds)  # the latest value that is due
    conditions: list[sa.ColumnElement[bool]] = [column.is_not(None), column <= _bound(column, due, zone, upper=True)]
    since = None
    if trigger.window_seconds is not None:
        conditions.append(
            column >= _bound(column, due - dt.timedelta(seconds=trigger.window_seconds), zone, upper=False)
        )
    else:
        since = checkpoints.load(crm, rule, at, zone)
        if since is not None:  # past the last sweep's bound, or written since it: two index ranges
            candidates = sa.union(
                sa.select(table.c.id).where(column > _bound(column, since.due, zone, upper=True), *conditions),
                sa.select(table.c.id).where(table.c.updated_at >= since.swept_at - checkpoints.GRACE, *conditions),
            )
            with crm.engine.connect() as connection:  # first, so that no planner scans the table for them
                ids = connection.execute(candidates.limit(CANDIDATE_LIST + 1)).scalars().all()
            conditions = [table.c.id.in_(ids if len(ids) <= CANDIDATE_LIST else candidates)]
    not_run = _not_run(crm, _record_key(rule.name, table) + _occurrence_sql(column, crm.engine.dialect.name))

    def keys(values: Mapping[str, Any]) -> str | None:
        return f"{rule.name}|{values['id']}|{occurrence(values[date_field])}"

    _run_due(crm, rule, conditions, not_run, keys, report, record_skips=True)
    if trigger.window_seconds is None:
        checkpoints.save(crm, rule, due, at, full=since is None)


def _sweep_yearly(crm: Runtime, rule: Automation, at: dt.datetime, report: SweepReport) -> None:
    trigger, date_field = rule.trigger, rule.trigger.from_field
    assert rule.object is not None and date_field is not None, "a schedule rule counts from a record's date"
    table = crm.schema.table(rule.object)
    column = table.c[date_field]
    zone = crm.clock_now().timezone
    window = dt.timedelta(seconds=trigger.window_seconds or YEARLY_WINDOW)
    offset = dt.timedelta(seconds=trigger.offset_seconds)
    days = anniversary_days(at - window - offset, at - offset, zone)
    if not days:
        return
    month_day = _month_day_sql(column, crm.engine.dialect.name, zone, at)
    conditions: list[sa.ColumnElement[bool]] = [column.is_not(None), month_day.in_(sorted(days))]
    if isinstance(column.type, sa.Date):
        conditions.append(column <= max(days.values()))
    anniversary = sa.case({md: day.isoformat() for md, day in days.items()}, value=month_day, else_="")
    not_run = _not_run(crm, _record_key(rule.name, table) + anniversary)

    def keys(values: Mapping[str, Any]) -> str | None:
        value = values[date_field]
        if isinstance(value, dt.datetime):
            value = value.astimezone(zone).date()
        day = days.get(value.strftime("%m-%d"))
        if day is None or value > day:  # another day's (a time zone edge), or before the date itself
            return None
        return f"{rule.name}|{values['id']}|{day.isoformat()}"

    _run_due(crm, rule, conditions, not_run, keys, report, record_skips=True)


def anniversary_days(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> dict[str, dt.date]:
    """The days whose start (in ``zone``) lies in ``[start, end]``, by ``MM-DD``; in a year
    without 29 February, ``02-29`` maps to the 28th. At most a year of days."""
    days: dict[str, dt.date] = {}
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last and len(days) < 366:
        if start <= dt.datetime.combine(day, dt.time(), zone) <= end:
            days[day.strftime("%m-%d")] = day
            if day.month == 2 and day.day == 28 and not _leap(day.year):
                days["02-29"] = day
        day += dt.timedelta(days=1)
    return days


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def occurrence(value: dt.datetime | dt.date) -> str:
    """The text of a ``from`` value in run keys: ``YYYY-MM-DD`` or UTC ``YYYY-MM-DD HH:MM:SS.ffffff``
    (what ``_occurrence_sql`` computes in the database)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime(_DATETIME_TEXT)
    return value.isoformat()


def _occurrence_sql(column: sa.Column, dialect: str) -> sa.ColumnElement[str]:
    if dialect == "postgresql":
        if isinstance(column.type, sa.Date):
            return sa.func.to_char(column, "YYYY-MM-DD", type_=sa.String)
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS.US", type_=sa.String)
    return sa.cast(column, sa.String)  # SQLite stores both as this text already (UTC for date-times)


def _month_day_sql(column: sa.Column, dialect: str, zone: dt.tzinfo, at: dt.datetime) -> sa.ColumnElement[str]:
    """``MM-DD`` of a date, or of a date-time in ``zone`` (on SQLite with the zone's offset at ``at``)."""
    if isinstance(column.type, sa.Date):
        if dialect == "postgresql":
            return sa.func.to_char(column, "MM-DD", type_=sa.String)
        return sa.func.strftime("%m-%d", column, type_=sa.String)
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone(str(zone), column), "MM-DD", type_=sa.String)
    seconds = int((at.astimezone(zone).utcoffset() or dt.timedelta()).total_seconds())
    return sa.func.strftime("%m-%d", column, f"{seconds:+d} seconds", type_=sa.String)


def _bound(column: sa.Column, moment: dt.datetime, zone: dt.tzinfo, upper: bool) -> dt.date | dt.datetime:
    """The column value matching ``moment``: itself, or for a date column the last (``upper``)
    or first day whose start in ``zone`` is at or before / at or after it."""
    if not isinstance(column.type, sa.Date):
        return moment
    local = moment.astimezone(zone)
    if upper or local.time() == dt.time():
        return local.date()
    return local.date() + dt.timedelta(days=1)


# --- cron rules -----------------------------------------------------------------------------------------
def _sweep_cron(crm: Runtime, rule: Automation, at: dt.datetime, report: SweepReport) -> None:
    assert rule.trigger.cron is not None, "a cron rule has its expression"
    fire = cron_time(rule.trigger.cron, at, crm.clock_now().timezone)
    if at - fire > CRON_LOOKBACK:
        return
    key = f"{rule.name}|cron|{fire.isoformat()}"
    if _has_run(crm, key):
        return
    if rule.object is None:
        with crm.session(None, channel="automation") as session:
            _fire(session, rule, None, None, key, "cron", report.rule(rule.name), record_skips=False)
        return
    table = crm.schema.table(rule.object)
    not_run = _not_run(crm, sa.literal(f"{key}|", sa.String) + sa.cast(table.c.id, sa.String))
    _run_due(crm, rule, [], not_run, lambda values: f"{key}|{values['id']}", report, record_skips=False)
    with crm.session(None, channel="automation") as session:  # this cron time is done
        _insert_run(session, rule, None, "cron", "done", None, key)


def cron_time(expression: str, at: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The latest time of the cron ``expression`` (read in ``zone``) at or before ``at``."""
    from croniter import croniter

    local = at.astimezone(zone)
    fire = croniter(expression, local + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    return fire if fire <= local else croniter(expression, local).get_prev(dt.datetime)


# --- running ------------------------------------------------------------------------------------------
def _run_due(
    crm: Runtime,
    rule: Automation,
    conditions: list[sa.ColumnElement[bool]],
    not_run: sa.ColumnElement[bool],
    keys: Callable[[Mapping[str, Any]], str | None],
    report: SweepReport,
    record_skips: bool,
) -> None:
    """Fire the rule for every record (not archived) meeting ``conditions`` without a run.

    One query selects the ids (no order, so that PostgreSQL may hash the anti-join with the
    runs); then ``PAGE`` records at a time are read again, each page in one transaction, and the
    rule fires for each that still meets ``conditions``, under its run key."""
    assert rule.object is not None, "the rules swept over records have an object"
    obj = crm.config.objects[rule.object]
    table = crm.schema.table(rule.object)
    current = [table.c.archived_at.is_(None), *conditions]
    with crm.engine.connect() as connection:
        ids = sorted(connection.execute(sa.select(table.c.id).where(*current, not_run)).scalars())
    for start in range(0, len(ids), PAGE):
        with crm.session(None, channel="automation") as session, session.unit.call():  # a page's rows together
            rows = (
                session.connection.execute(
                    sa.select(table).where(table.c.id.in_(ids[start : start + PAGE]), *current).order_by(table.c.id)
                )
                .mappings()
                .all()
            )
            for values in _records(obj, rows, crm.keys):
                key = keys(values)
                if key is not None:
                    _fire(session, rule, obj, values, key, rule.trigger.kind, report.rule(rule.name), record_skips)


def _record_key(rule: str, table: sa.Table) -> sa.ColumnElement[str]:
    """``<rule>|<id>|`` in SQL: the start of a record's run key."""
    return sa.literal(f"{rule}|", sa.String) + sa.cast(table.c.id, sa.String) + sa.literal("|", sa.String)


def _records(obj: ObjectDef, rows: Sequence[sa.RowMapping], keys: Keys) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield dict(row_to_record(obj, row, keys))


def _fire(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any] | None,
    key: str,
    trigger: str,
    report: RuleReport,
    record_skips: bool,
) -> None:
    """Run ``rule`` once for ``key``: skipped when ``when`` does not hold, counted as fired or failed."""
    record_id = values.get("id") if values else None
    if rule.when is not None and values is not None and not _holds(session, rule, obj, values):
        if record_skips and _insert_run(session, rule, record_id, trigger, "skipped", "`when` did not hold", key):
            report.skipped += 1
        return
    try:
        ran = automation.run_rule(session, rule, obj, values, None, trigger=trigger, run_key=key)
    except TrellisError:  # a blocking rule: its failure is recorded like any other
        ran = False
    if ran:
        report.fired += 1
    elif _run_status(session, key) == "failed":
        report.failed += 1


def _holds(session: Session, rule: Automation, obj: ObjectDef | None, values: Mapping[str, Any]) -> bool:
    if rule.when is None:
        return True
    try:
        return bool(rule.when.evaluate(automation.names(obj, values, None), session.clock()))
    except ExpressionEvalError:
        return False


# --- the runs table ---------------------------------------------------------------------------------------
def _not_run(crm: Runtime, key: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    runs = crm.schema.system["sys_automation_runs"]
    return ~sa.exists().where(runs.c.run_key == key)


def _has_run(crm: Runtime, key: str) -> bool:
    runs = crm.schema.system["sys_automation_runs"]
    with crm.engine.connect() as connection:
        return connection.execute(sa.select(runs.c.id).where(runs.c.run_key == key)).first() is not None


def _run_status(session: Session, key: str) -> str | None:
    runs = session.schema.system["sys_automation_runs"]
    return session.connection.execute(sa.select(runs.c.status).where(runs.c.run_key == key)).scalar()


def _insert_run(
    session: Session, rule: Automation, record_id: int | None, trigger: str, status: str, error: str | None, key: str
) -> bool:
    """Record a run under ``key`` unless one exists; True when this call recorded it."""
    runs = session.schema.system["sys_automation_runs"]
    statement = (
        upsert(session.connection.dialect.name, runs)
        .values(
            rule=rule.name,
            object=rule.object,
            record_id=record_id,
            trigger=trigger,
            status=status,
            error=error,
            run_key=key,
            depth=1,
            at=session.clock().now_utc,
        )
        .on_conflict_do_nothing(index_elements=["run_key"])
        .returning(runs.c.id)
    )
    return session.connection.execute(statement).scalar() is not None


_SWEEPERS: dict[str, Callable[[Runtime, Automation, dt.datetime, SweepReport], None]] = {
    "schedule": _sweep_schedule,
    "yearly": _sweep_yearly,
    "cron": _sweep_cron,
}
