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
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Expression, ExpressionEvalError
from engine.metadata.model import SYSTEM_COLUMNS, Action, Automation, ObjectDef
from engine.runtime.errors import TrellisError
from engine.runtime.records.query import row_to_record
from engine.runtime.records.validation import expression_names
from engine.runtime.security.permissions import Principal

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.workflow.pipeline import StageMove

log = logging.getLogger("trellis.automation")

#: False while a block runs with automation off (``suspended``): an admin's migration import.
_RUNNING: ContextVar[bool] = ContextVar("trellis_automation_running", default=True)

WRITE_TRIGGERS = ("created", "updated", "deleted", "changed", "stage_entered", "stage_left")
#: Actions that write nothing but rows a write call collects (``engine.runtime.records.unit``): a rule of
#: only these needs no savepoint of the database inside a write call.
COLLECTING = frozenset({"notify", "webhook"})


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
) -> bool:
    """Run the rules a stored write triggers; True when any of them ran actions."""
    rules = session.config.automations_for(obj.name, *WRITE_TRIGGERS)
    if not rules or not _RUNNING.get():
        return False
    ran = False
    for rule in rules:
        if not _triggered(rule, obj, action, before, after, move):
            continue
        values = after if after is not None else before
        ran |= run_rule(session, rule, obj, values, before if action == "update" else None, trigger=action)
    return ran


def after_decision(session: Session, object_name: str, record_id: int, status: str) -> None:
    """Run the rules listening for an approval decision on a record (approved / rejected)."""
    rules = [
        r for r in session.config.automations_for(object_name, "approval") if r.trigger.decision in (status, "decided")
    ]
    if not rules or status not in ("approved", "rejected"):
        return
    obj = session.config.objects[object_name]
    row = fresh_row(session, obj, record_id)
    if not row:
        return
    for rule in rules:  # decrypted, as rules see records everywhere
        run_rule(session, rule, obj, row, None, trigger=f"approval {status}")


def _triggered(
    rule: Automation,
    obj: ObjectDef,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    move: StageMove | None,
) -> bool:
    trigger = rule.trigger
    kind = trigger.kind
    if kind == "created":
        return action == "create"
    if kind == "updated":
        return action == "update"
    if kind == "deleted":
        return action == "delete"
    if kind == "changed":
        if action != "update" or before is None or after is None:
            return False  # a new record has no change; a rule for those uses `created` with `when`
        for name in trigger.fields:
            if before.get(name) != after.get(name) and (not trigger.has_to or after.get(name) == trigger.to):
                return True
        return False
    if move is None:
        return False
    if kind == "stage_entered":
        return not trigger.stages or move.to_stage in trigger.stages
    if kind == "stage_left":
        return move.from_stage is not None and (not trigger.stages or move.from_stage in trigger.stages)
    return False


# --- running ------------------------------------------------------------------------------------
def run_rule(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
    trigger: str,
    run_key: str | None = None,
) -> bool:
    """Check ``rule.when`` and run its actions in a savepoint; record the run. True when it ran.

    ``run_key`` (scheduled triggers) makes the run happen at most once: a second
    attempt with the same key finds the key taken and does nothing.
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
        return False
    if rule.when is not None and values is not None:
        try:
            holds = rule.when.evaluate(names(obj, values, old), session.clock())
        except ExpressionEvalError:
            holds = False
        if not holds:
            return False
    run_id = _record_run(session, rule, record_id, trigger, "running", None, run_key, depth)
    if run_id is None:
        return False  # this occurrence has run already (another worker, an earlier pass)
    acting = session.acting(rule_principal(rule), "automation", depth=depth)
    try:
        with session.unit.savepoint(database=not all(a.kind in COLLECTING for a in rule.actions)):
            for action in rule.actions:
                _ACTIONS[action.kind](acting, rule, obj, values or {}, old, action)
    except Exception as exc:  # noqa: BLE001 - a rule's failure is recorded, not raised (unless blocking)
        message = str(exc) or type(exc).__name__
        _finish_run(session, run_id, "failed", message)
        log.warning("automation %s failed on %s %s: %s", rule.name, rule.object, record_id, message)
        if rule.blocking:
            if isinstance(exc, TrellisError):
                raise
            raise AutomationFailed(f"the rule {rule.name} failed: {message}") from exc
        return False
    _finish_run(session, run_id, "done", None)
    return True


def names(obj: ObjectDef | None, values: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a rule's expressions see: the record's fields and system columns, and ``old``."""
    out = expression_names(obj, values) if obj is not None else {**dict.fromkeys(SYSTEM_COLUMNS), **values}
    out["old"] = dict(old) if old is not None else {}
    return out


def evaluate(value: Any, context: Mapping[str, Any], session: Session) -> Any:
    """A configured value: an expression evaluated in ``context``, or the literal."""
    if isinstance(value, Expression):
        return value.evaluate(context, session.clock())
    return value


# --- actions ------------------------------------------------------------------------------------
def _set(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    context = names(obj, values, old)
    session.update(obj.name, values["id"], {k: _plain(evaluate(v, context, session)) for k, v in action.values.items()})


def _tags(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    current = fresh_row(session, obj, values["id"]).get(action.field) or []
    if action.kind == "add_tags":
        changed = [*current, *(t for t in action.tags if t not in current)]
    else:
        changed = [t for t in current if t not in action.tags]
    if changed != current:
        session.update(obj.name, values["id"], {action.field: changed})


def _add(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    current = fresh_row(session, obj, values["id"]).get(action.field) or 0
    amount = Decimal(str(action.amount)) if isinstance(current, Decimal) else action.amount
    session.update(obj.name, values["id"], {action.field: _plain(current + amount)})


def _update(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    """Change the record the lookup ``action.field`` points at (locked while it is read, so
    concurrent updates such as two orders of one member add up); nothing linked, nothing done."""
    target_id = values.get(action.field)
    if target_id is None:
        return
    target = session.config.objects[action.object]
    current = fresh_row(session, target, target_id, lock=True)
    if not current:
        return
    context = names(obj, values, old)
    context["target"] = expression_names(target, current)
    data = {k: _plain(evaluate(v, context, session)) for k, v in action.values.items()}
    changed = {k: v for k, v in data.items() if current.get(k) != v}
    if changed:
        session.update(target.name, target_id, changed)


def _create(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    target = session.config.objects[action.object]
    context = names(obj, values, old)
    data = linked_values(
        target, obj, values, {k: _plain(evaluate(v, context, session)) for k, v in action.values.items()}
    )
    session.create(target.name, data)


def linked_values(
    target: ObjectDef, obj: ObjectDef | None, values: Mapping[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """What a ``create`` action writes: ``data``, plus a link to the triggering record (the new
    record's first lookup to its object not given), the records the triggering record points
    at through lookups of the same name and object (a deal's task gets the deal's account and
    contact), and the same owner (unless given)."""
    if obj is None or values.get("id") is None:
        return data
    link = next(
        (f.name for f in target.fields.values() if f.type == "lookup" and f.target == obj.name and f.name not in data),
        None,
    )
    if link is not None:
        data[link] = values["id"]
    for f in target.fields.values():
        same = obj.fields.get(f.name)
        if (
            f.type == "lookup"
            and f.name not in data
            and same is not None
            and same.type == "lookup"
            and same.target == f.target
            and values.get(f.name) is not None
        ):
            data[f.name] = values[f.name]
    if "owner_id" not in data and values.get("owner_id") is not None:
        data["owner_id"] = values["owner_id"]
    return data


def _notify(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    from engine.runtime.jobs import notify

    notify.send(session, rule, obj, values, action)


def _webhook(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    from engine.runtime.jobs import notify

    payload = notify.webhook_payload(session, rule, obj, values, action)  # what the rule names, else public
    notify.enqueue(session, "webhook", rule.name, action.webhook_target, payload, secret_env=action.secret_env)


def _assign(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    from engine.runtime.workflow import assignment

    assignment.assign(session, action.rule, obj.name, values["id"])


def _convert(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    session.convert(action.rule, values["id"])


def _archive(
    session: Session,
    rule: Automation,
    obj: ObjectDef,
    values: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    action: Action,
) -> None:
    session.archive(obj.name, values["id"])


_ACTIONS = {
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
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).values(row).on_conflict_do_nothing(index_elements=["run_key"]).returning(table.c.id)


def _finish_run(session: Session, run: Run, status: str, error: str | None) -> None:
    if isinstance(run, dict):  # not written yet
        run.update(status=status, error=error)
        return
    runs = session.schema.system["sys_automation_runs"]
    session.connection.execute(sa.update(runs).where(runs.c.id == run).values(status=status, error=error))


def fresh_row(session: Session, obj: ObjectDef, record_id: int, lock: bool = False) -> dict[str, Any]:
    """The record as it is stored now, decrypted (rules see plain values); empty when it is gone.
    ``lock`` takes FOR NO KEY UPDATE on PostgreSQL: it does not wait for the KEY SHARE lock that
    inserting a row which refers to this one takes (two orders of one member would deadlock
    otherwise). A record this write call wrote is known already (and locked by its write)."""
    remembered = session.unit.remembered(obj.name, record_id)
    if remembered is not None:
        return dict(remembered)
    table = session.schema.table(obj.name)
    statement = sa.select(table).where(table.c.id == record_id)
    if lock:
        statement = statement.with_for_update(key_share=True)
    row = session.connection.execute(statement).mappings().first()
    return dict(row_to_record(obj, row, session.crm.keys)) if row is not None else {}


def _plain(value: Any) -> Any:
    """An expression's result as the write path takes it (floats as exact decimals)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value
