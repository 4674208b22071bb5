"""Assignment rules at run time (``assignment:``, S11, S29): who gets a record.

``assign`` (the ``assign`` automation action, or Python) and ``on_create`` (a
step of ``Session.create`` for rules with ``on: created``) choose a user and
write them to the rule's field through ``Session.update``, as the system acting
under the rule's name — the audit trail shows ``assignment:<rule>`` on the
``assignment`` channel — so validation, automation and audit hold as for any
write. No SQL touches the object's table here except the count of open records.

Choosing, in the caller's transaction:

1. the pool: the first territory (``rules``) whose ``when`` holds, else ``pool``;
   a pool with ``team: {from: PATH}`` takes its team from the record, or from the
   record a lookup points at (read through the read path as the rule), and keeps a
   rotation per team;
2. the pool's row of ``sys_assignment_state`` is taken under a row lock
   (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
   serialises writers), so concurrent creates deal records out exactly in turn
   and count open records after the previous assignment is committed;
3. the members (users with the role — in the team when both are given —, of the
   team, or the named users, in order), skipping inactive and expired users and
   users whose ``away_until`` lies ahead;
4. with ``capacity``, one grouped query counts each member's open records
   (``open_when`` is translated to SQL when the config loads) and members holding
   ``max_open`` are skipped;
5. an urgent record (``urgent_tag``) goes to the member with the fewest open
   records without moving the rotation; otherwise ``round_robin`` takes the next
   member after the last one and ``least_loaded`` the member with the fewest open
   records (ties in turn), and the rotation moves to them;
6. nobody left: the ``fallback`` user, else the record keeps its value and the
   reason is recorded in ``sys_automation_runs`` (rule ``assignment:<rule>``,
   status ``failed``) for admins.

On create the rule does not run when someone holding the ``assign`` permission
gave the field explicitly (a manager's assignment by hand jumps the queue and
does not move the rotation), nor for records its ``when`` excludes, nor — with
``skip_when: created_by_owner`` — for a record whose field holds the user who
created it when they are a member of the record's pool (a consultant's own
walk-in stays theirs; a receptionist's entry still goes round).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import (
    SYSTEM_COLUMNS,
    AssignmentPool,
    AssignmentRule,
    Condition,
    ObjectDef,
)
from engine.runtime.database import upsert
from engine.runtime.errors import NotFound, TrellisError
from engine.runtime.messages import current_language
from engine.runtime.records.query import row_to_record
from engine.runtime.records.stages import Feature
from engine.runtime.security.permissions import Principal

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft

log = logging.getLogger("trellis.assignment")

#: The audit channel of assignments.
CHANNEL = "assignment"
#: How many members an "unassigned" reason names before it summarises.
REASON_MEMBERS = 10


class AssignmentError(TrellisError):
    """An assignment rule cannot be used as asked (e.g. on another object)."""

    code = "assignment_failed"


@dataclass(frozen=True)
class Member:
    """A user of a pool and whether they may take records now."""

    id: int
    username: str
    unavailable: str | None = None


def principal(rule: AssignmentRule) -> Principal:
    """The system, acting under the rule's name (what the audit trail shows)."""
    return Principal(user_id=None, username=f"assignment:{rule.name}"[:100])


# --- entry points -------------------------------------------------------------------------------
def on_create(session: Session, obj: ObjectDef, record: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Run the ``on: created`` rules of ``obj`` for a record just inserted; returns the record as
    stored afterwards."""
    rules = [r for r in session.config.assignment.values() if r.object == obj.name and r.on == "created"]
    assigned = False
    for rule in rules:
        if rule.field in values and session.principal.has("assign"):
            continue  # assigned by hand by someone who may: jumps the queue
        if rule.when is not None and not _holds(rule.when, session, obj, record):
            continue
        if rule.skip_when == "created_by_owner" and _created_by_member(session, rule, obj, record):
            continue  # a pool member's own record (a walk-in) stays theirs
        assigned |= choose_and_write(session, rule, obj, record, "created") is not None
    return _stored(session, obj, record["id"]) if assigned else record


def _created_by_member(session: Session, rule: AssignmentRule, obj: ObjectDef, record: Mapping[str, Any]) -> bool:
    """Whether a user (not the system) created ``record`` with themselves in the rule's field and
    is a member of the pool the record would go to (a receptionist's entry still goes round)."""
    creator = session.principal.user_id
    if creator is None or record.get(rule.field) != creator:
        return False
    pool, _ = _pool_for(session, rule, obj, record)
    if pool is not None and pool.team_from:
        pool, _ = _resolve_team(session, rule, obj, record, pool)
    if pool is None:
        return False
    members, _ = _members(session, pool)
    return any(member.id == creator for member in members)


def assign(session: Session, rule_name: str, object_name: str, record_id: int) -> int | None:
    """Assign record ``record_id`` of ``object_name`` with the rule ``rule_name``; returns the
    user id written, or None when nobody could take it (the reason is recorded)."""
    rule = session.config.assignment.get(rule_name)
    if rule is None:
        raise AssignmentError.said("assignment.no_rule", f"there is no assignment rule {rule_name!r}", rule=rule_name)
    obj = session.object(object_name)
    if rule.object != object_name:
        language = current_language()
        raise AssignmentError.said(
            "assignment.other_object",
            f"the assignment rule {rule_name} assigns {rule.object} records, not {object_name}",
            rule=rule.label.get(language),
            assigns=session.object(rule.object).label.get(language),
            object=obj.label.get(language),
        )
    record = _stored(session, obj, record_id)
    if not record:
        raise NotFound(object_name, record_id, obj.label.get(current_language()))
    return choose_and_write(session, rule, obj, record, "assign")


def _stored(session: Session, obj: ObjectDef, record_id: int) -> dict[str, Any]:
    """The record as stored now, decrypted ({} when there is none)."""
    remembered = session.unit.remembered(obj.name, record_id)
    if remembered is not None:
        return dict(remembered)
    table = session.schema.table(obj.name)
    row = session.connection.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
    return dict(row_to_record(obj, row, session.crm.keys)) if row is not None else {}


def choose_and_write(
    session: Session, rule: AssignmentRule, obj: ObjectDef, record: Mapping[str, Any], trigger: str
) -> int | None:
    """Choose a user for ``record`` (see the module docstring) and write them; None when nobody."""
    chosen, reason = _choose(session, rule, obj, record)
    if chosen is None and rule.fallback is not None:
        chosen = _fallback(session, rule.fallback)
        if chosen is None:
            reason = f"{reason}; the fallback user {rule.fallback} does not exist or is disabled"
        else:
            _record(session, rule, record["id"], trigger, "done", f"given to the fallback {rule.fallback}: {reason}")
    if chosen is None:
        log.info("assignment %s left %s %s unassigned: %s", rule.name, obj.name, record["id"], reason)
        _record(session, rule, record["id"], trigger, "failed", f"left unassigned: {reason}")
        return None
    return chosen if _write(session, rule, obj, record["id"], chosen, trigger) else None


# --- choosing -------------------------------------------------------------------------------------
def _choose(
    session: Session, rule: AssignmentRule, obj: ObjectDef, record: Mapping[str, Any]
) -> tuple[int | None, str]:
    pool, where = _pool_for(session, rule, obj, record)
    if pool is None:
        return None, "no territory rule matched and the rule has no default pool"
    if pool.team_from:
        pool, problem = _resolve_team(session, rule, obj, record, pool)
        if pool is None:
            return None, f"{where}: {problem}"
        where = _describe(pool)
    last = _take_turn(session, rule, pool)
    members, empty = _members(session, pool)
    if empty:
        return None, f"{where}: {empty}"
    urgent = rule.urgent_field is not None and rule.urgent_tag in (record.get(rule.urgent_field) or ())
    counting = rule.max_open is not None or urgent or rule.strategy == "least_loaded"
    counts = _open_counts(session, rule, obj, [m.id for m in members], record["id"]) if counting else {}
    skipped: list[str] = []
    eligible: list[Member] = []
    for member in _rotation(members, last):
        if member.unavailable:
            skipped.append(f"{member.username} is {member.unavailable}")
        elif rule.max_open is not None and counts.get(member.id, 0) >= rule.max_open:
            skipped.append(f"{member.username} holds {counts.get(member.id, 0)} open records (max {rule.max_open})")
        else:
            eligible.append(member)
    if not eligible:
        shown = "; ".join(skipped[:REASON_MEMBERS]) + ("; …" if len(skipped) > REASON_MEMBERS else "")
        return None, f"{where}: nobody can take it ({shown})"
    if urgent or rule.strategy == "least_loaded":
        chosen = min(eligible, key=lambda m: counts.get(m.id, 0))  # min keeps the first in turn on ties
    else:
        chosen = eligible[0]
    if not urgent:
        _advance(session, rule, pool, chosen.id)
    return chosen.id, ""


def _pool_for(
    session: Session, rule: AssignmentRule, obj: ObjectDef, record: Mapping[str, Any]
) -> tuple[AssignmentPool | None, str]:
    for index, territory in enumerate(rule.territories):
        if _holds(territory.when, session, obj, record):
            return territory.pool, f"territory {territory.name or index + 1} ({_describe(territory.pool)})"
    return rule.pool, _describe(rule.pool) if rule.pool else ""


def _describe(pool: AssignmentPool) -> str:
    if pool.users:
        return "users " + ", ".join(pool.users)
    team = pool.team or (f"from {'.'.join(pool.team_from)}" if pool.team_from else None)
    return " in ".join(f"{kind} {name}" for kind, name in (("role", pool.role), ("team", team)) if name)


def _resolve_team(
    session: Session, rule: AssignmentRule, obj: ObjectDef, record: Mapping[str, Any], pool: AssignmentPool
) -> tuple[AssignmentPool | None, str]:
    """``team: {from: PATH}``: the pool with the team the record (or its looked-up record) names.

    The looked-up record is read through the read path, as the rule (the system); each
    team so named keeps its own rotation (the pool's key names the team).
    """
    path = pool.team_from
    value: Any = record.get(path[0])
    if len(path) == 2 and value is not None:
        target = obj.fields[path[0]].target
        assert target is not None, "a two-step team path starts with a lookup"
        reader = session.acting(principal(rule), CHANNEL)
        found = reader.query(target).include_archived().filter(id=value).first()
        value = found.get(path[1]) if found is not None else None
    if value is None or value == "":
        return None, f"the record names no team in {'.'.join(path)}"
    return replace(pool, team=str(value), team_from=()), ""


def _rotation(members: Sequence[Member], last: int | None) -> list[Member]:
    """The members in turn, starting after the one who was given the last record."""
    ids = [m.id for m in members]
    if last is None:
        start = 0
    elif last in ids:
        start = ids.index(last) + 1
    else:  # they left the pool: go on with the next id
        start = next((i for i, m in enumerate(members) if m.id > last), 0)
    return [*members[start:], *members[:start]]


def _holds(expression: Any, session: Session, obj: ObjectDef, record: Mapping[str, Any]) -> bool:
    names: dict[str, Any] = dict.fromkeys(SYSTEM_COLUMNS) | dict.fromkeys(obj.fields)
    names.update(record)
    try:
        return bool(expression.evaluate(names, session.clock()))
    except ExpressionEvalError:
        return False


# --- members --------------------------------------------------------------------------------------
def _members(session: Session, pool: AssignmentPool) -> tuple[list[Member], str | None]:
    """The pool's users in turn order (listed order, else by id), each marked when unavailable
    (users and teams from the transaction's users, ``engine.runtime.records.unit``)."""
    team_id = None
    if pool.team is not None:
        team_id = session.unit.team_id(pool.team)
        if team_id is None:
            return [], f"there is no team {pool.team} (create it with `trellis team add`)"
    rows = [
        r
        for r in session.unit.all_users()
        if (not pool.users or r.username in pool.users)
        and (team_id is None or r.team_id == team_id)
        and (pool.role is None or pool.role in (r.roles or ()))
    ]
    if pool.users:
        order = {name: i for i, name in enumerate(pool.users)}
        rows.sort(key=lambda r: order[r.username])
    if not rows:
        return [], "nobody is in the pool"
    now = session.clock().now_utc
    return [Member(r.id, r.username, _unavailable(r, now)) for r in rows], None


def _unavailable(row: Any, now: dt.datetime) -> str | None:
    if not row.active:
        return "disabled"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if row.away_until is not None and row.away_until > now:
        return f"away until {row.away_until:%Y-%m-%d %H:%M} UTC"
    return None


def _fallback(session: Session, username: str) -> int | None:
    row = session.unit.user_named(username)
    now = session.clock().now_utc
    if row is None or not row.active or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.id


# --- open records ------------------------------------------------------------------------------------
def _open_counts(
    session: Session, rule: AssignmentRule, obj: ObjectDef, member_ids: list[int], record_id: int
) -> dict[int, int]:
    """Open records per member, in one grouped query (archived records and this one not counted)."""
    if not member_ids:
        return {}
    table = session.schema.table(obj.name)
    column = table.c[rule.field]
    statement = (
        sa.select(column, sa.func.count())
        .where(column.in_(member_ids), table.c.archived_at.is_(None), table.c.id != record_id)
        .group_by(column)
    )
    if rule.open_filter is not None:
        statement = statement.where(condition_sql(rule.open_filter, table, obj))
    return {owner: count for owner, count in session.connection.execute(statement)}


def condition_sql(condition: Condition, table: sa.Table, obj: ObjectDef) -> sa.ColumnElement[bool]:
    """``condition`` as SQL, with Python's meaning for empty values: every comparison is true or
    false, never NULL (``status != 'lost'`` holds for a record without a status)."""
    op = condition.op
    if op in ("and", "or"):
        parts = [condition_sql(p, table, obj) for p in condition.parts]
        return sa.and_(*parts) if op == "and" else sa.or_(*parts)
    if op == "not":
        return sa.not_(condition_sql(condition.parts[0], table, obj))
    assert condition.field is not None, "a comparison names its field"
    column = table.c[condition.field]
    present = column.is_not(None)
    if op == "is_none":
        return column.is_(None)
    if op == "not_none":
        return present
    if op == "true":
        field = obj.fields.get(condition.field)
        return (
            sa.and_(present, column == sa.true()) if field is not None and field.kind.storage == "boolean" else present
        )
    if op == "ne":
        return sa.or_(column.is_(None), column != condition.values[0])
    if op == "not_in":
        return sa.or_(column.is_(None), column.not_in(condition.values))
    if op == "in":
        return sa.and_(present, column.in_(condition.values))
    compare = {"eq": column.__eq__, "lt": column.__lt__, "le": column.__le__, "gt": column.__gt__, "ge": column.__ge__}[
        op
    ]
    return sa.and_(present, compare(condition.values[0]))


# --- the rotation's state ------------------------------------------------------------------------------
def _take_turn(session: Session, rule: AssignmentRule, pool: AssignmentPool) -> int | None:
    """Lock the pool's rotation row (creating it on first use) and return the last user given a record."""
    state = session.schema.system["sys_assignment_state"]
    row = {
        "rule": rule.name,
        "pool": pool.key,
        "last_user_id": None,
        "version": 0,
        "updated_at": session.clock().now_utc,
    }
    session.connection.execute(
        upsert(session.connection.dialect.name, state)
        .values(row)
        .on_conflict_do_nothing(index_elements=["rule", "pool"])
    )
    statement = sa.select(state.c.last_user_id).where(state.c.rule == rule.name, state.c.pool == pool.key)
    if session.connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return session.connection.execute(statement).scalar()


def _advance(session: Session, rule: AssignmentRule, pool: AssignmentPool, user_id: int) -> None:
    state = session.schema.system["sys_assignment_state"]
    session.connection.execute(
        sa.update(state)
        .where(state.c.rule == rule.name, state.c.pool == pool.key)
        .values(last_user_id=user_id, version=state.c.version + 1, updated_at=session.clock().now_utc)
    )


# --- writing and recording ---------------------------------------------------------------------------
def _write(session: Session, rule: AssignmentRule, obj: ObjectDef, record_id: int, user_id: int, trigger: str) -> bool:
    """Write the chosen user through the one write path, in a savepoint; a refusal is recorded."""
    acting = session.acting(principal(rule), CHANNEL)
    try:
        with session.unit.savepoint():
            acting.update(obj.name, record_id, {rule.field: user_id})
    except TrellisError as exc:
        message = str(exc) or type(exc).__name__
        log.warning("assignment %s could not assign %s %s: %s", rule.name, obj.name, record_id, message)
        _record(session, rule, record_id, trigger, "failed", f"left unassigned: the change was refused: {message}")
        return False
    return True


def _record(session: Session, rule: AssignmentRule, record_id: int, trigger: str, status: str, message: str) -> None:
    """A row of ``sys_automation_runs`` under ``assignment:<rule>`` that admins read."""
    session.unit.add(
        "sys_automation_runs",
        {
            "rule": f"assignment:{rule.name}"[:100],
            "object": rule.object,
            "record_id": record_id,
            "trigger": trigger[:40],
            "status": status,
            "error": message,
            "run_key": None,
            "depth": session.depth,
            "at": session.clock().now_utc,
        },
    )


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _after(write: Write, draft: Draft) -> None:
    """Stage ``after``: the ``on: created`` rules choose the new record's owner."""
    if write.action == "create":
        assert draft.record is not None
        draft.record = on_create(write.session, write.obj, draft.record, draft.values)


#: Rules that choose who owns a new record.
FEATURE = Feature("assignment", {"after": _after})
