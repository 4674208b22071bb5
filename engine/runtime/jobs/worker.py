"""The worker: time-based automation rules, delivery of the outbox, sealing the audit trail, and
the imports the web wizard and the API queued (``engine.runtime.imports.queue``).

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

What is due is defined once, by the rule's trigger kind
(``engine.runtime.workflow.triggers``, over ``engine.runtime.workflow.timed``), which
``trellis automation simulate`` asks too; the worker fires it (``Sweep``).

Every run goes through ``automation.run_rule`` in the system context, under
the rule's name, with a unique run key: a second pass, or a second worker,
finds the key taken and does nothing. When a schedule rule's ``when`` does not
hold at the due time, the occurrence is recorded as ``skipped`` and does not
fire later (a new value of the field re-arms it).

**Campaigns** (``engine.runtime.campaigns.sending``): the recipients whose time has come (the
campaign's rate spaces them) get their e-mails written to the outbox before ``deliver`` too.
**Mail intake**: each pass first reads the new messages of the config's mailboxes (``mail:``,
``engine.runtime.mail``), so that the records and notices they make go out in the same pass.

**E-mail subscriptions** due at ``at`` (``engine.runtime.subscriptions.sending``) are rendered
for their recipients and put in the outbox before ``deliver``, so the same pass sends them.

**Duplicate finder runs** queued from the web (``engine.runtime.records.finder``) run in each pass
and between passes, each to its end under a lease renewed as it goes.

**Imports** run between passes, a slice of ``IMPORT_SLICE`` seconds at a time, and the worker
looks for new ones every ``IMPORT_POLL`` seconds, so that a million-row import neither waits for
the next pass nor holds up the rules and the outbox; ``run_once`` runs them to their end.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import Automation, ObjectDef
from engine.runtime import health, metrics, retention
from engine.runtime.campaigns.sending import CampaignReport, send_campaigns
from engine.runtime.database import upsert
from engine.runtime.errors import TrellisError
from engine.runtime.imports import queue as import_queue
from engine.runtime.jobs.delivery import DeliveryReport, deliver
from engine.runtime.mail.imap import FetchReport
from engine.runtime.mail.imap import fetch as fetch_mail
from engine.runtime.records import files
from engine.runtime.records.finder import finding
from engine.runtime.records.query import row_to_record
from engine.runtime.security import audit
from engine.runtime.security.crypto import Keys
from engine.runtime.subscriptions.sending import SubscriptionReport, send_due
from engine.runtime.workflow import automation
from engine.runtime.workflow.rulecontext import names
from engine.runtime.workflow.triggers import TRIGGERS, TimedTrigger

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.worker")

#: Records read and run per transaction.
PAGE = 200
#: Seconds of import work between two looks at whether a pass is due.
IMPORT_SLICE = 5.0
#: Seconds between two looks for a queued import when there is nothing else to do.
IMPORT_POLL = 1.0


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
    #: Batches of queued imports run in the pass.
    import_batches: int = 0
    #: Uploaded import files removed (their jobs ended ``imports.queue.KEEP_FILES`` ago).
    import_files_removed: int = 0
    #: Duplicate finder runs (queued from the web) run in the pass.
    finder_runs: int = 0
    #: E-mail subscriptions sent and skipped in the pass (``engine.runtime.subscriptions``).
    subscriptions: SubscriptionReport = field(default_factory=SubscriptionReport)
    #: Campaign e-mails written to the outbox in the pass (``engine.runtime.campaigns.sending``).
    campaigns: CampaignReport = field(default_factory=CampaignReport)
    #: What each mailbox of ``mail:`` took in (``engine.runtime.mail.imap``).
    mail: list[FetchReport] = field(default_factory=list)
    #: Records archived or purged past retention (``settings.retention_automatic``; ``engine.runtime.retention``).
    retention: list[retention.Outcome] = field(default_factory=list)


# --- entry points ---------------------------------------------------------------------------------------
def run_once(
    crm: Runtime, at: dt.datetime | None = None, imports: bool = True, mail: bool = True, **delivery: Any
) -> PassReport:
    """One pass at ``at`` (default: the crm's clock): the new messages of the config's mailboxes
    (unless ``mail`` is false; a mailbox that cannot be read is reported, the pass goes on),
    ``sweep``, the due e-mail subscriptions (``engine.runtime.subscriptions.sending``), ``deliver``,
    the queued imports to their end (unless ``imports`` is false), then ``seal`` the audit trail."""
    at = at or crm.clock_now().now_utc
    reads = mail and crm.config.mail is not None and any(b.imap for b in crm.config.mail.mailboxes.values())
    fetched = fetch_mail(crm) if reads else []
    swept = sweep(crm, at)
    subscribed = send_due(crm, at)  # before delivery: this pass sends their e-mails
    campaigns = send_campaigns(crm, at)  # the recipients whose time has come, likewise
    report = PassReport(
        at, swept, deliver(crm, at, **delivery), subscriptions=subscribed, campaigns=campaigns, mail=fetched
    )
    if imports:
        report.import_batches = import_queue.work(crm, seconds=None)
    report.finder_runs = finding.work(crm, seconds=None)
    report.import_files_removed = import_queue.remove_old_files(crm, at)
    report.retention = retention.work(crm, at, files.upload_folder())  # before sealing: its audit entries too
    try:
        report.sealed = audit.seal(crm.engine, crm.schema).sealed
    except audit.AuditChainBroken as exc:  # tampering: the writes go on; verify names the break
        log.error("worker: audit trail not sealed: %s", exc)
        report.seal_error = str(exc)
    health.beat(crm)  # /readyz: a worker finished a pass
    metrics.count_pass(report)  # /metrics, with PROMETHEUS_MULTIPROC_DIR shared with the web
    return report


def run_forever(
    crm: Runtime,
    interval: float = 60,
    stop: threading.Event | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
    **delivery: Any,
) -> None:
    """A pass every ``interval`` seconds until ``stop`` is set, and queued imports in between.
    A pass that fails (the database is away) is logged and the next one tries again."""
    stop = stop or threading.Event()
    next_pass = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_pass:
            next_pass = time.monotonic() + interval
            try:
                report = run_once(crm, imports=False, **delivery)
            except sa.exc.DBAPIError as exc:
                log.error("worker pass failed, retrying in %ss: %s", interval, exc.orig)
            else:
                if on_pass is not None:
                    on_pass(report)
        try:
            batches = import_queue.work(crm, seconds=min(IMPORT_SLICE, max(next_pass - time.monotonic(), 0.1)))
            found = finding.work(crm, seconds=0)
            metrics.count_between_passes(batches, found)
            busy = batches + found
        except sa.exc.DBAPIError as exc:
            log.error("worker: imports and duplicate finder runs paused, retrying: %s", exc.orig)
            busy = 0
        if not busy:
            stop.wait(min(IMPORT_POLL, max(next_pass - time.monotonic(), 0)))


def sweep(crm: Runtime, at: dt.datetime, only: Collection[str] | None = None) -> SweepReport:
    """Fire every time-based rule (or those named in ``only``) due at ``at``: each rule's trigger
    kind (``engine.runtime.workflow.triggers``) says what is due, ``Sweep`` fires it."""
    report = SweepReport()
    for rule in crm.config.automations:
        kind = TRIGGERS[rule.trigger.kind]
        if not isinstance(kind, TimedTrigger) or (only is not None and rule.name not in only):
            continue
        try:
            kind.sweep(Sweep(crm, report), rule, at)
        except sa.exc.OperationalError:
            raise  # the database is away: the whole pass waits for it
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others or delivery
            log.exception("worker: rule %s failed", rule.name)
            report.rule(rule.name).error = f"{type(exc).__name__}: {exc}"
    report.rules = {name: r for name, r in report.rules.items() if r.fired or r.skipped or r.failed or r.error}
    return report


@dataclass
class Sweep:
    """How the worker fires what a timed trigger kind finds due (``triggers.Sweeper``): records a
    page per transaction, each run under its run key, counted in ``report``."""

    crm: Runtime
    report: SweepReport

    def run_due(
        self,
        rule: Automation,
        conditions: list[sa.ColumnElement[bool]],
        key_sql: sa.ColumnElement[str],
        key: Callable[[Mapping[str, Any]], str | None],
        record_skips: bool,
    ) -> None:
        """Fire ``rule`` for every record (not archived) meeting ``conditions`` without a run.

        One query selects the ids (no order, so that PostgreSQL may hash the anti-join with the
        runs); then ``PAGE`` records at a time are read again, each page in one transaction, and
        the rule fires for each that still meets ``conditions``, under its run key."""
        crm = self.crm
        obj = crm.config.objects[rule.object or ""]
        table = crm.schema.table(obj.name)
        current = [table.c.archived_at.is_(None), *conditions]
        with crm.engine.connect() as connection:
            ids = sorted(connection.execute(sa.select(table.c.id).where(*current, _not_run(crm, key_sql))).scalars())
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
                    run_key = key(values)
                    if run_key is not None:
                        _fire(session, rule, obj, values, run_key, rule.trigger.kind, self.rule(rule), record_skips)

    def fire_once(self, rule: Automation, key: str) -> None:
        """Fire ``rule`` (without an object) once under ``key``."""
        with self.crm.session(None, channel="automation") as session:
            _fire(session, rule, None, None, key, rule.trigger.kind, self.rule(rule), record_skips=False)

    def has_run(self, key: str) -> bool:
        """Whether a run under ``key`` exists."""
        runs = self.crm.schema.system["sys_automation_runs"]
        with self.crm.engine.connect() as connection:
            return connection.execute(sa.select(runs.c.id).where(runs.c.run_key == key)).first() is not None

    def close(self, rule: Automation, key: str) -> None:
        """Record the finished run ``key`` (a cron time done for every record)."""
        with self.crm.session(None, channel="automation") as session:
            _insert_run(session, rule, None, rule.trigger.kind, "done", None, key)

    def rule(self, rule: Automation) -> RuleReport:
        """The report of ``rule``."""
        return self.report.rule(rule.name)


# --- running ------------------------------------------------------------------------------------------
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
        return bool(rule.when.evaluate(names(obj, values, None), session.clock()))
    except ExpressionEvalError:
        return False


# --- the runs table ---------------------------------------------------------------------------------------
def _not_run(crm: Runtime, key: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    runs = crm.schema.system["sys_automation_runs"]
    return ~sa.exists().where(runs.c.run_key == key)


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
