"""The audit trail (S35): every change, who made it, through which channel.

Each ``sys_audit`` row holds the field-level changes (old → new) of one write
and a SHA-256 hash over its content and the previous row's hash, so that
editing, inserting or deleting a row breaks the chain where it happened;
``verify`` finds the first broken link. The head of the chain is one row in
``sys_audit_head``, locked while a row is appended, so concurrent writers
extend one chain instead of forking it.

Values of encrypted fields never enter the log (only the fact that they
changed); hidden fields are stored and left out (name and values) when the
history is shown to someone who may not see them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine.runtime.permissions import Principal
from engine.runtime.tables import Schema

GENESIS = "0" * 64
#: What the log stores instead of an encrypted field's values.
ENCRYPTED = "«encrypted»"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=_plain, separators=(",", ":"))


def _digest(prev_hash: str, row: Mapping[str, Any]) -> str:
    content = {
        "at": row["at"].astimezone(dt.UTC).isoformat(),
        "user_id": row["user_id"],
        "username": row["username"],
        "channel": row["channel"],
        "action": row["action"],
        "object": row["object"],
        "record_id": row["record_id"],
        "changes": row["changes"],
    }
    return hashlib.sha256((prev_hash + _canonical(content)).encode()).hexdigest()


def log_change(connection: sa.Connection, schema: Schema, principal: Principal, channel: str, action: str,
               object_name: str, record_id: int | None, changes: Mapping[str, Any], now: dt.datetime) -> None:
    """Append one audit row (in the caller's transaction) and move the chain's head."""
    audit, head = schema.system["sys_audit"], schema.system["sys_audit_head"]
    prev_hash = _lock_head(connection, head)
    row = {
        "at": now.replace(microsecond=now.microsecond // 1000 * 1000),
        "user_id": principal.user_id,
        "username": principal.username,
        "channel": channel,
        "action": action,
        "object": object_name,
        "record_id": record_id,
        "changes": _canonical(changes),
    }
    row["prev_hash"] = prev_hash
    row["hash"] = _digest(prev_hash, row)
    new_id = connection.execute(sa.insert(audit).values(row).returning(audit.c.id)).scalar_one()
    connection.execute(sa.update(head).where(head.c.id == 1).values(last_id=new_id, last_hash=row["hash"]))


def _lock_head(connection: sa.Connection, head: sa.Table) -> str:
    statement = sa.select(head.c.last_hash).where(head.c.id == 1)
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        connection.execute(insert(head).values(id=1, last_id=None, last_hash=GENESIS).on_conflict_do_nothing())
        statement = statement.with_for_update()
    else:
        from sqlalchemy.dialects.sqlite import insert

        connection.execute(insert(head).values(id=1, last_id=None, last_hash=GENESIS).on_conflict_do_nothing())
    return connection.execute(statement).scalar_one()


def field_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, fields: Mapping[str, Any],
                  encrypted: set[str]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs (encrypted values masked)."""
    changes = {}
    for name in fields:
        old = (before or {}).get(name)
        new = (after or {}).get(name)
        if old != new:
            changes[name] = [ENCRYPTED, ENCRYPTED] if name in encrypted else [_plain(old), _plain(new)]
    return changes


def log_access(connection: sa.Connection, schema: Schema, principal: Principal, channel: str, action: str,
               object_name: str, record_id: int | None, now: dt.datetime, detail: Mapping[str, Any] | None = None) -> None:
    """Record that a user opened a record or exported data."""
    connection.execute(sa.insert(schema.system["sys_access_log"]).values(
        at=now, user_id=principal.user_id, username=principal.username, channel=channel, action=action,
        object=object_name, record_id=record_id, detail=dict(detail) if detail else None,
    ))


def log_login(connection: sa.Connection, schema: Schema, username: str, user_id: int | None, outcome: str,
              now: dt.datetime, ip: str | None = None, user_agent: str | None = None,
              detail: str | None = None) -> None:
    """Record a login attempt: ``outcome`` is e.g. ok, failed, locked, disabled, expired, ip_denied."""
    connection.execute(sa.insert(schema.system["sys_login_log"]).values(
        at=now, username=username[:100], user_id=user_id, outcome=outcome, ip=_clip(ip, 64),
        user_agent=_clip(user_agent), detail=_clip(detail),
    ))


def _clip(text: str | None, length: int = 500) -> str | None:
    """``text`` cut to the column's length; empty stays None."""
    return text[:length] if text else None


@dataclass(frozen=True)
class LoginEntry:
    """One row of the login log."""

    id: int
    at: dt.datetime
    username: str
    user_id: int | None
    outcome: str
    ip: str | None
    user_agent: str | None
    detail: str | None


def login_log(connection: sa.Connection, schema: Schema, username: str | None = None,
              limit: int = 50) -> list[LoginEntry]:
    """The most recent login attempts (of ``username``, if given), newest first."""
    logins = schema.system["sys_login_log"]
    statement = sa.select(logins).order_by(logins.c.at.desc(), logins.c.id.desc()).limit(limit)
    if username is not None:
        statement = statement.where(logins.c.username == username)
    return [LoginEntry(r.id, r.at, r.username, r.user_id, r.outcome, r.ip, r.user_agent, r.detail)
            for r in connection.execute(statement)]


@dataclass(frozen=True)
class AccessEntry:
    """One row of the read access log: a record opened, or data exported."""

    id: int
    at: dt.datetime
    username: str
    channel: str
    action: str
    object: str
    record_id: int | None
    detail: dict[str, Any] | None


def access_log(connection: sa.Connection, schema: Schema, object_name: str | None = None,
               username: str | None = None, limit: int = 50) -> list[AccessEntry]:
    """The most recent reads and exports (of ``object_name`` / by ``username``, if given), newest first."""
    access = schema.system["sys_access_log"]
    statement = sa.select(access).order_by(access.c.at.desc(), access.c.id.desc()).limit(limit)
    if object_name is not None:
        statement = statement.where(access.c.object == object_name)
    if username is not None:
        statement = statement.where(access.c.username == username)
    return [AccessEntry(r.id, r.at, r.username, r.channel, r.action, r.object, r.record_id, r.detail)
            for r in connection.execute(statement)]


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as shown to a reader."""

    id: int
    at: dt.datetime
    username: str
    channel: str
    action: str
    object: str
    record_id: int | None
    changes: dict[str, list[Any]]


def history(connection: sa.Connection, schema: Schema, object_name: str, record_id: int,
            viewer: Principal) -> list[AuditEntry]:
    """A record's audit rows, oldest first, without the fields the viewer may not see
    (and without updates that touched only such fields)."""
    audit = schema.system["sys_audit"]
    rows = connection.execute(
        sa.select(audit).where(audit.c.object == object_name, audit.c.record_id == record_id).order_by(audit.c.id)
    ).mappings()
    entries = []
    for row in rows:
        changes = json.loads(row["changes"])
        shown = {name: pair for name, pair in changes.items() if viewer.can_see(object_name, name)}
        if not shown and row["action"] == "update":
            continue  # a change only to fields the viewer may not see is not theirs to know of
        entries.append(AuditEntry(row["id"], row["at"], row["username"], row["channel"], row["action"],
                                  row["object"], row["record_id"], shown))
    return entries


@dataclass(frozen=True)
class ChainReport:
    """The outcome of ``verify``: rows checked and the first broken link, if any; for an
    intact chain, its head (the last row's id and hash) to keep as a ``Reference``."""

    checked: int
    broken_at: int | None = None
    reason: str | None = None
    head_id: int | None = field(default=None, compare=False)
    head_hash: str = field(default=GENESIS, compare=False)

    @property
    def ok(self) -> bool:
        """True when every link holds (and the chain still holds what the reference saw)."""
        return self.broken_at is None and self.reason is None


@dataclass(frozen=True)
class Reference:
    """What an earlier ``verify`` printed and the admin kept: the chain's head hash and/or
    its row count then. The chain only grows, so today's chain must still contain that
    row and at least that many rows; otherwise rows were removed (truncation)."""

    head_hash: str | None = None
    count: int | None = None


def verify(connection: sa.Connection, schema: Schema, reference: Reference | None = None) -> ChainReport:
    """Recompute the chain from the first row; report the first row whose link is broken.

    Besides each row's own hash and its link to the row before, the chain's end
    must be the row ``sys_audit_head`` last recorded: that catches rows deleted
    from the end, and rows appended with a recomputed hash outside Trellis.
    Deleting every row *and* the head leaves an empty, self-consistent chain:
    only a ``reference`` kept from an earlier run catches that (and any other
    removal of rows up to the reference's row).
    Run it inside one snapshot (REPEATABLE READ on PostgreSQL; SQLite
    transactions are snapshots already), or rows committed meanwhile by other
    writers look like rows added outside Trellis.
    """
    audit, head = schema.system["sys_audit"], schema.system["sys_audit_head"]
    last = connection.execute(sa.select(head.c.last_id, head.c.last_hash).where(head.c.id == 1)).first()
    previous_hash, previous_id, checked = GENESIS, None, 0
    reference_at: int | None = None  # how many rows the chain had at the reference's head
    for row in _rows(connection, audit):
        if row["prev_hash"] != previous_hash:
            return ChainReport(checked, row["id"], f"row {row['id']} does not follow row {previous_id or 'the start'} "
                                                   "(a row before it was changed, inserted or deleted)")
        if _digest(row["prev_hash"], row) != row["hash"]:
            return ChainReport(checked, row["id"], f"row {row['id']} was changed after it was written")
        if last is None or last.last_id is None:
            return ChainReport(checked, row["id"], f"row {row['id']} exists, but sys_audit_head records no row "
                                                   "written (the head was deleted or reset)")
        if row["id"] > last.last_id:
            return ChainReport(checked, row["id"], f"row {row['id']} was added outside Trellis "
                                                   f"(row {last.last_id} was the last one Trellis wrote)")
        previous_hash, previous_id, checked = row["hash"], row["id"], checked + 1
        if reference is not None and row["hash"] == reference.head_hash:
            reference_at = checked
    if last is None or (last.last_id == previous_id and last.last_hash == previous_hash):
        return _against(ChainReport(checked, head_id=previous_id, head_hash=previous_hash), reference, reference_at)
    if previous_id is None:
        return ChainReport(0, last.last_id, f"the audit trail is empty, but row {last.last_id} "
                                            "was the last one written (its rows were deleted)")
    if last.last_id == previous_id:
        return ChainReport(checked - 1, previous_id, f"row {previous_id} is not the row Trellis wrote last "
                                                     "(it was replaced)")
    return ChainReport(checked, previous_id, f"the chain ends at row {previous_id}, but row {last.last_id} "
                                             "was the last one written (rows at the end were deleted)")


def _against(report: ChainReport, reference: Reference | None, reference_at: int | None) -> ChainReport:
    """An intact chain compared with what an earlier run saw: the reference's head row must
    still be in it (at the reference's position, when both were kept), and it must have at
    least as many rows as then."""
    if reference is None:
        return report
    problems = []
    if reference.head_hash is not None and reference.head_hash != GENESIS and reference_at is None:
        problems.append(f"the head {reference.head_hash[:16]}… seen earlier is no longer in the chain")
    elif reference.count is not None and reference_at is not None and reference_at != reference.count:
        problems.append(f"the head seen earlier is now row {reference_at} of the chain, not row {reference.count}")
    if reference.count is not None and report.checked < reference.count:
        problems.append(f"the chain has {report.checked} rows, but {reference.count} were seen earlier")
    if not problems:
        return report
    return replace(report, reason="rows were removed (truncated): " + "; ".join(problems))


def _rows(connection: sa.Connection, audit: sa.Table) -> Iterator[Mapping[str, Any]]:
    result = connection.execution_options(yield_per=1000).execute(sa.select(audit).order_by(audit.c.id))
    yield from result.mappings()
