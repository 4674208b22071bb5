"""Automation rules at write time: match triggers, check conditions, run actions.

The write path calls ``after_write`` once a create, update or delete is stored
(and ``approvals`` calls ``after_decision``). Every matching rule runs in the
caller's transaction inside its own savepoint, as the system acting under the
rule's name (``automation:<rule>`` in the audit trail), through the one write
path — so validation, gates and audit hold for automation too. Effects outside
the database (e-mail, webhooks) are only written to the outbox here; the
worker (``engine.runtime.jobs.worker``) delivers them after the commit.

A rule that fails is rolled back to its savepoint and recorded in
``sys_automation_runs`` with the error, and the user's change is kept — unless
the rule is ``blocking``, when the error refuses the change. Rules that
trigger rules stop at ``settings.automation_depth`` with a recorded error, not
a hang. Time-based triggers (``schedule``, ``cron``) are the worker's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import Automation, ObjectDef
from engine.runtime import metrics
from engine.runtime.database import upsert
from engine.runtime.errors import TrellisError
from engine.runtime.records.stages import Feature
from engine.runtime.records.writes import stored_row
from engine.runtime.security.permissions import Principal
from engine.runtime.workflow.actions import ACTIONS, Firing
from engine.runtime.workflow.rulecontext import fresh_row, names
from engine.runtime.workflow.triggers import TRIGGERS, Event, EventTrigger, listening

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft
    from engine.runtime.workflow.pipeline import StageMove

log = logging.getLogger("trellis.automation")

#: False while a block runs with automation off (``suspended``): an admin's migration import.
_RUNNING: ContextVar[bool] = ContextVar("trellis_automation_running", default=True)


class AutomationFailed(TrellisError):
    """A blocking rule failed, so the change that triggered it was refused."""

    code = "automation_failed"


def rule_principal(rule: Automation) -> Principal:
    """The system, acting under the rule's name (what the audit trail shows)."""
    return Principal(user_id=None, username=f"automation:{rule.name}"[:100])


@contextmanager
def suspended() -> Iterator[None]:
    """Run no write-time rule inside the block (``trellis import --no-automation``: an admin moving
    old data in, the import recorded in the audit trail as run without automation)."""
    token = _RUNNING.set(False)
    try:
        yield
    finally:
        _RUNNING.reset(token)


# --- matching -----------------------------------------------------------------------------------
def after_write(
    session: Session,
    obj: ObjectDef,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    move: StageMove | None = None,
    purge: Mapping[str, Any] | None = None,
) -> bool:
    """Run the rules a stored write (``create``, ``update``, ``delete``; ``purge``: a delete by
    retention, its policy) triggers; True when any of them ran actions."""
    rules = session.config.automations_for(obj.name, *listening(action))
    if not rules or not _RUNNING.get():
        return False
    return after_event(session, obj, rules, Event(action, before, after, move, purge=purge))


def after_decision(session: Session, object_name: str, record_id: int, status: str) -> None:
    """Run the rules listening for an approval decision on a record (approved / rejected)."""
    event = Event("approval", decision=status)
    rules = [r for r in session.config.automations_for(object_name, *listening("approval")) if matches(r, event)]
    if not rules:
        return
    obj = session.config.objects[object_name]
    row = fresh_row(session, obj, record_id)  # decrypted, as rules see records everywhere
    if row:
        after_event(session, obj, rules, Event("approval", after=row, decision=status))


def after_event(
    session: Session, obj: ObjectDef, rules: tuple[Automation, ...] | list[Automation], event: Event
) -> bool:
    """Run each of ``rules`` whose trigger ``event`` matches (the same ``match`` a dry run asks);
    True when any of them ran actions."""
    ran = False
    values = event.after if event.after is not None else event.before
    old = event.before if event.action == "update" else None
    for rule in rules:
        if matches(rule, event):
            ran |= run_rule(session, rule, obj, values, old, trigger=event.label, extra=event.names or None)
    return ran


def matches(rule: Automation, event: Event) -> bool:
    """Whether ``event`` fires ``rule`` (its trigger kind's ``match``)."""
    kind = TRIGGERS[rule.trigger.kind]
    return isinstance(kind, EventTrigger) and kind.match(rule.trigger, event) is True


# --- running ------------------------------------------------------------------------------------
def run_rule(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
    trigger: str,
    run_key: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Check ``rule.when`` and run its actions in a savepoint; record the run. True when it ran.

    ``run_key`` (scheduled triggers) makes the run happen at most once: a second
    attempt with the same key finds the key taken and does nothing. ``extra``: names ``when``
    and the actions read besides the record (``event`` of an engagement event, ``purge`` of a
    delete).
    """
    depth = session.depth + 1
    record_id = values.get("id") if values else None
    if depth > session.config.automation_depth:
        message = (
            f"stopped: rules triggered each other {depth - 1} levels deep "
            f"(settings.automation_depth is {session.config.automation_depth})"
        )
        log.error("automation %s on %s %s %s", rule.name, rule.object, record_id, message)
        _record_run(session, rule, record_id, trigger, "failed", message, None, depth)
        metrics.AUTOMATION_RUNS.labels(rule.name, "failed").inc()
        return False
    if rule.when is not None and values is not None:
        try:
            holds = rule.when.evaluate({**names(obj, values, old), **(extra or {})}, session.clock())
        except ExpressionEvalError:
            holds = False
        if not holds:
            return False
    run_id = _record_run(session, rule, record_id, trigger, "running", None, run_key, depth)
    if run_id is None:
        return False  # this occurrence has run already (another worker, an earlier pass)
    acting = session.acting(rule_principal(rule), "automation", depth=depth)
    try:
        kinds = [ACTIONS[action.kind] for action in rule.actions]
        with session.unit.savepoint(database=not all(kind.collecting for kind in kinds)):
            firing = Firing(acting, rule, obj, values or {}, old, extra or {})
            for kind, action in zip(kinds, rule.actions, strict=True):
                kind.run(firing, action)
    except Exception as exc:  # noqa: BLE001 - a rule's failure is recorded, not raised (unless blocking)
        message = str(exc) or type(exc).__name__
        _finish_run(session, run_id, "failed", message)
        metrics.AUTOMATION_RUNS.labels(rule.name, "failed").inc()
        log.warning("automation %s failed on %s %s: %s", rule.name, rule.object, record_id, message)
        if rule.blocking:
            if isinstance(exc, TrellisError):
                raise
            raise AutomationFailed(f"the rule {rule.name} failed: {message}") from exc
        return False
    _finish_run(session, run_id, "done", None)
    metrics.AUTOMATION_RUNS.labels(rule.name, "done").inc()
    return True


# --- runs -----------------------------------------------------------------------------------------
#: A run being recorded: its id, or — inside a write call — its row, written when the call ends.
Run = int | dict[str, Any]


def _record_run(
    session: Session,
    rule: Automation,
    record_id: int | None,
    trigger: str,
    status: str,
    error: str | None,
    run_key: str | None,
    depth: int,
) -> Run | None:
    """Record a run; None when ``run_key`` was taken already. A run under a key is written at
    once (the key makes it happen once); others go with the write call's rows (``engine.runtime.records.unit``)."""
    runs = session.schema.system["sys_automation_runs"]
    row = {
        "rule": rule.name,
        "object": rule.object,
        "record_id": record_id,
        "trigger": trigger[:40],
        "status": status,
        "error": error,
        "run_key": run_key,
        "depth": depth,
        "at": session.clock().now_utc,
    }
    if run_key is None:
        if session.unit.calls:
            return session.unit.add(runs.name, row)
        return session.connection.execute(sa.insert(runs).values(row).returning(runs.c.id)).scalar_one()
    statement = _insert_ignore(session.connection.dialect.name, runs, row)
    return session.connection.execute(statement).scalar()


def _insert_ignore(dialect: str, table: sa.Table, row: dict[str, Any]) -> sa.Executable:
    return upsert(dialect, table).values(row).on_conflict_do_nothing(index_elements=["run_key"]).returning(table.c.id)


def _finish_run(session: Session, run: Run, status: str, error: str | None) -> None:
    if isinstance(run, dict):  # not written yet
        run.update(status=status, error=error)
        return
    runs = session.schema.system["sys_automation_runs"]
    session.connection.execute(sa.update(runs).where(runs.c.id == run).values(status=status, error=error))


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _after(write: Write, draft: Draft) -> None:
    """Stage ``after``: the rules the write triggers (a purge's ``deleted`` rules see ``purge``);
    the row is read again when they acted."""
    session, obj = write.session, write.obj
    ran = after_write(session, obj, write.action, draft.current, draft.record, draft.move, write.purge)
    if ran and draft.record is not None:
        draft.record = stored_row(session, obj, draft.record["id"])


#: Rules that run after each write (``automation:`` with a create, update or delete trigger).
FEATURE = Feature("automation", {"after": _after})
