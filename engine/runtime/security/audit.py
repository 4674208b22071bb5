"""The audit trail (S35): every change, who made it, through which channel.

Writing and sealing are two steps, so that no writer ever waits for another:

- **Writing.** ``log_change`` (one row) and ``log_changes`` (many, one executemany)
  append ``sys_audit`` rows in the caller's transaction with one INSERT and no lock
  on any shared row. A new row is *unsealed*: no ``seal_seq``, ``prev_hash`` or
  ``hash`` yet. It is history at once (``history`` shows it), but not yet
  tamper-evident.
- **Sealing.** ``seal`` chains the unsealed rows. It locks the one row of
  ``sys_audit_head``, which only sealers lock (on SQLite every write transaction
  is serialised anyway), reads the unsealed rows in id order ``SEAL_BATCH`` at a
  time, numbers them on from the head (``seal_seq``), gives each the SHA-256 of
  the previous sealed row's hash and its own content (its id and seal number
  included) and moves the head. On PostgreSQL a row can commit after a row with a
  higher id was sealed (ids are handed out before commit): it is simply sealed by
  a later pass, after it — the chain follows the seal order, not the ids. The
  worker seals on every pass; ``trellis audit verify`` seals before it verifies;
  ``trellis audit seal`` seals on demand.
- **Verifying.** ``verify`` walks the sealed rows in seal order and finds the
  first broken link: an edited row, a deleted one (a gap in the seal numbers or a
  wrong ``prev_hash``), one inserted or appended outside Trellis, rows cut from
  the end (the head), and — against a ``Reference`` kept elsewhere — a truncated
  trail. It counts the unsealed rows, which nothing protects yet.

Rows chained by an older Trellis (before ``seal_seq``) were chained in id order
with a hash without id and seal number; ``apply`` numbered them in that order
(``number_legacy_rows``) and the head's ``legacy_seq`` says how far verify checks
them with that hash (``_legacy_digest``).

The read access log and the login log are not chained: one plain INSERT per row.

Values of encrypted fields never enter the log (only the fact that they
changed); hidden fields are stored and left out (name and values) when the
history is shown to someone who may not see them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.runtime.database import KEEPS_ROWS, upsert
from engine.runtime.errors import TrellisError
from engine.runtime.messages import current_language, message
from engine.runtime.records.stages import Feature
from engine.runtime.security.permissions import Principal
from engine.runtime.tables import Schema

if TYPE_CHECKING:
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft

GENESIS = "0" * 64
#: What the log stores instead of an encrypted field's values.
ENCRYPTED = "«encrypted»"
#: Unsealed rows ``seal`` reads, hashes and updates per transaction (one statement each).
SEAL_BATCH = 5000
#: One change for ``log_changes``: ``(action, object_name, record_id, changes)``.
Change = tuple[str, str, int | None, Mapping[str, Any]]


class AuditChainBroken(TrellisError):
    """The sealer cannot continue the chain: its head is gone, or rows were sealed past it
    outside Trellis. Nothing is sealed until the chain is repaired; ``verify`` says where."""

    code = "audit_chain_broken"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def plain(value: Any) -> Any:
    """``value`` as JSON holds it: decimals and dates as text, the rest as it is."""
    return _plain(value)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=_plain, separators=(",", ":"))


def _content(row: Mapping[str, Any] | sa.RowMapping) -> dict[str, Any]:
    return {
        "at": row["at"].astimezone(dt.UTC).isoformat(),
        "user_id": row["user_id"],
        "username": row["username"],
        "channel": row["channel"],
        "action": row["action"],
        "object": row["object"],
        "record_id": row["record_id"],
        "changes": row["changes"],
    }


def _digest(prev_hash: str, row: Mapping[str, Any] | sa.RowMapping) -> str:
    """The hash of a sealed row: the previous sealed row's hash and the row's content,
    its id and seal number included."""
    content = {**_content(row), "id": row["id"], "seal_seq": row["seal_seq"]}
    return hashlib.sha256((prev_hash + _canonical(content)).encode()).hexdigest()


def _legacy_digest(prev_hash: str, row: Mapping[str, Any] | sa.RowMapping) -> str:
    """The hash rows chained before ``seal_seq`` existed carry (written with the row, in id order)."""
    return hashlib.sha256((prev_hash + _canonical(_content(row))).encode()).hexdigest()


# --- writing ---------------------------------------------------------------------------------------


def log_change(
    connection: sa.Connection,
    schema: Schema,
    principal: Principal,
    channel: str,
    action: str,
    object_name: str,
    record_id: int | None,
    changes: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    """Append one unsealed audit row in the caller's transaction: one INSERT, no lock."""
    log_changes(connection, schema, principal, channel, [(action, object_name, record_id, changes)], now)


def log_changes(
    connection: sa.Connection,
    schema: Schema,
    principal: Principal,
    channel: str,
    entries: Iterable[Change],
    now: dt.datetime,
) -> None:
    """Append one unsealed audit row per ``(action, object_name, record_id, changes)`` of
    ``entries`` in the caller's transaction, all with one (executemany) INSERT and no lock
    on any shared row; ``seal`` chains them later."""
    rows = [entry(principal, channel, *change, now) for change in entries]
    write_entries(connection, schema, rows)


def entry(
    principal: Principal,
    channel: str,
    action: str,
    object_name: str,
    record_id: int | None,
    changes: Mapping[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """The unsealed ``sys_audit`` row of one change (its time to the millisecond)."""
    return {
        "at": now.replace(microsecond=now.microsecond // 1000 * 1000),
        "user_id": principal.user_id,
        "username": principal.username,
        "channel": channel,
        "action": action,
        "object": object_name,
        "record_id": record_id,
        "changes": _canonical(changes),
    }


def write_entries(
    connection: sa.Connection, schema: Schema, rows: list[dict[str, Any]], collected: bool = False
) -> None:
    """Append the unsealed rows ``rows`` (``entry``) with one (executemany) INSERT, in order.
    ``collected``: the rows a write call collected, which need not wait for the others
    (``engine.runtime.records.unit``); otherwise those others are written first."""
    if rows:
        connection.execute(_insert_audit(schema.system["sys_audit"], collected), rows)


@functools.lru_cache(maxsize=16)
def _insert_audit(table: sa.Table, collected: bool) -> sa.Insert:
    """INSERT INTO sys_audit, built once (``KEEPS_ROWS`` for the collected rows)."""
    return sa.insert(table).execution_options(**{KEEPS_ROWS: collected})


# --- sealing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealReport:
    """What ``seal`` did: how many rows it sealed, and the chain's head afterwards (its
    length, its last row and that row's hash)."""

    sealed: int
    head_seq: int
    head_id: int | None
    head_hash: str


def seal(engine: sa.Engine, schema: Schema, batch: int = SEAL_BATCH) -> SealReport:
    """Seal every row committed unsealed so far, ``batch`` rows per transaction, so that
    memory stays flat however many wait. Raises ``AuditChainBroken`` when the chain
    cannot be continued. Rows that commit meanwhile may be left for the next call."""
    sealed, after = 0, None
    while True:
        with engine.begin() as connection:
            report, after = seal_batch(connection, schema, batch, after)
        sealed += report.sealed
        if report.sealed < batch:
            return replace(report, sealed=sealed)


def seal_batch(
    connection: sa.Connection, schema: Schema, limit: int = SEAL_BATCH, after: int | None = None
) -> tuple[SealReport, int | None]:
    """Seal up to ``limit`` unsealed rows (with an id above ``after``, when given) in the
    caller's transaction, which must be READ COMMITTED on PostgreSQL (the default); returns
    what it did and the highest id it sealed (``after`` for the next batch)."""
    audit, head = schema.system["sys_audit"], schema.system["sys_audit_head"]
    last_id, previous, seq = _lock_head(connection, audit, head)
    query = sa.select(
        audit.c.id,
        audit.c.at,
        audit.c.user_id,
        audit.c.username,
        audit.c.channel,
        audit.c.action,
        audit.c.object,
        audit.c.record_id,
        audit.c.changes,
    ).where(audit.c.seal_seq.is_(None))
    if after is not None:
        query = query.where(audit.c.id > after)
    rows = connection.execute(query.order_by(audit.c.id).limit(limit)).mappings().all()
    updates = []
    for row in rows:
        seq += 1
        digest = _digest(previous, {**row, "seal_seq": seq})
        updates.append({"b_id": row["id"], "b_seq": seq, "b_prev": previous, "b_hash": digest})
        previous = digest
    if updates:
        connection.execute(
            sa.update(audit)
            .where(audit.c.id == sa.bindparam("b_id"))
            .values(seal_seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")),
            updates,
        )
        last_id = rows[-1]["id"]
        connection.execute(
            sa.update(head).where(head.c.id == 1).values(last_id=last_id, last_hash=previous, last_seq=seq)
        )
    return SealReport(len(rows), seq, last_id, previous), rows[-1]["id"] if rows else after


def _lock_head(connection: sa.Connection, audit: sa.Table, head: sa.Table) -> tuple[int | None, str, int]:
    """Lock the chain's head (creating it for an empty trail); its last row id, hash and seal number.

    A head that is gone while rows are sealed, or behind the highest seal number, cannot be
    continued without hiding what happened to it: ``AuditChainBroken``.
    """
    statement = sa.select(head.c.last_id, head.c.last_hash, head.c.last_seq).where(head.c.id == 1)
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    current = connection.execute(statement).first()
    highest = connection.execute(sa.select(sa.func.max(audit.c.seal_seq))).scalar() or 0
    if current is None:
        if highest:
            raise AuditChainBroken(message("audit.head_missing", current_language(), sealed=highest))
        connection.execute(_insert_head(connection, head))
        current = connection.execute(statement).one()
    seq = current.last_seq or 0
    if highest > seq:
        raise AuditChainBroken(message("audit.head_behind", current_language(), highest=highest, head=seq))
    return current.last_id, current.last_hash, seq


def _insert_head(connection: sa.Connection, head: sa.Table) -> sa.Insert:
    """The empty head's row, inserted unless another sealer just did."""
    return (
        upsert(connection.dialect.name, head)
        .values(id=1, last_id=None, last_hash=GENESIS, last_seq=0, legacy_seq=0)
        .on_conflict_do_nothing()
    )


def number_legacy_rows(connection: sa.Connection, schema: Schema) -> None:
    """``apply`` upgrading a trail chained before ``seal_seq`` existed: number its rows in id
    order — the order they were chained in — and record in the head how far they reach
    (``legacy_seq``) and where the head stands (``last_seq``), so the old chain still verifies
    and sealing continues it."""
    audit, head = schema.system["sys_audit"], schema.system["sys_audit_head"]
    numbered = (
        sa.select(audit.c.id, sa.func.row_number().over(order_by=audit.c.id).label("n"))
        .where(audit.c.hash.is_not(None), audit.c.seal_seq.is_(None))
        .subquery()
    )
    connection.execute(sa.update(audit).where(audit.c.id == numbered.c.id).values(seal_seq=numbered.c.n))
    highest = connection.execute(sa.select(sa.func.max(audit.c.seal_seq))).scalar() or 0
    at_head = (
        sa.select(sa.func.count())
        .select_from(audit)
        .where(audit.c.seal_seq.is_not(None), audit.c.id <= head.c.last_id)
        .scalar_subquery()
    )
    connection.execute(
        sa.update(head)
        .where(head.c.id == 1)
        .values(last_seq=sa.case((head.c.last_id.is_(None), 0), else_=at_head), legacy_seq=highest)
    )


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, fields: Iterable[str], encrypted: Collection[str]
) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs (encrypted values masked)."""
    changes = {}
    for name in fields:
        old = (before or {}).get(name)
        new = (after or {}).get(name)
        if old != new:
            changes[name] = [ENCRYPTED, ENCRYPTED] if name in encrypted else [_plain(old), _plain(new)]
    return changes


def log_access(
    connection: sa.Connection,
    schema: Schema,
    principal: Principal,
    channel: str,
    action: str,
    object_name: str,
    record_id: int | None,
    now: dt.datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record that a user opened a record or exported data."""
    connection.execute(
        sa.insert(schema.system["sys_access_log"]).values(
            at=now,
            user_id=principal.user_id,
            username=principal.username,
            channel=channel,
            action=action,
            object=object_name,
            record_id=record_id,
            detail=dict(detail) if detail else None,
        )
    )


def log_login(
    connection: sa.Connection,
    schema: Schema,
    username: str,
    user_id: int | None,
    outcome: str,
    now: dt.datetime,
    ip: str | None = None,
    user_agent: str | None = None,
    detail: str | None = None,
) -> None:
    """Record a login attempt: ``outcome`` is e.g. ok, failed, locked, disabled, expired, ip_denied."""
    connection.execute(
        sa.insert(schema.system["sys_login_log"]).values(
            at=now,
            username=username[:100],
            user_id=user_id,
            outcome=outcome,
            ip=_clip(ip, 64),
            user_agent=_clip(user_agent),
            detail=_clip(detail),
        )
    )


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


def login_log(
    connection: sa.Connection, schema: Schema, username: str | None = None, limit: int = 50
) -> list[LoginEntry]:
    """The most recent login attempts (of ``username``, if given), newest first."""
    logins = schema.system["sys_login_log"]
    statement = sa.select(logins).order_by(logins.c.at.desc(), logins.c.id.desc()).limit(limit)
    if username is not None:
        statement = statement.where(logins.c.username == username)
    return [
        LoginEntry(r.id, r.at, r.username, r.user_id, r.outcome, r.ip, r.user_agent, r.detail)
        for r in connection.execute(statement)
    ]


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


def access_log(
    connection: sa.Connection,
    schema: Schema,
    object_name: str | None = None,
    username: str | None = None,
    limit: int = 50,
) -> list[AccessEntry]:
    """The most recent reads and exports (of ``object_name`` / by ``username``, if given), newest first."""
    access = schema.system["sys_access_log"]
    statement = sa.select(access).order_by(access.c.at.desc(), access.c.id.desc()).limit(limit)
    if object_name is not None:
        statement = statement.where(access.c.object == object_name)
    if username is not None:
        statement = statement.where(access.c.username == username)
    return [
        AccessEntry(r.id, r.at, r.username, r.channel, r.action, r.object, r.record_id, r.detail)
        for r in connection.execute(statement)
    ]


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


def history(
    connection: sa.Connection, schema: Schema, object_name: str, record_id: int, viewer: Principal
) -> list[AuditEntry]:
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
        entries.append(
            AuditEntry(
                row["id"],
                row["at"],
                row["username"],
                row["channel"],
                row["action"],
                row["object"],
                row["record_id"],
                shown,
            )
        )
    return entries


@dataclass(frozen=True)
class ChainReport:
    """The outcome of ``verify``: sealed rows checked and the first broken link, if any; for
    an intact chain, its head (the last sealed row's id and hash) to keep as a ``Reference``;
    and the rows not sealed yet (how many, the oldest and newest ``at``)."""

    checked: int
    broken_at: int | None = None
    reason: str | None = None
    head_id: int | None = field(default=None, compare=False)
    head_hash: str = field(default=GENESIS, compare=False)
    unsealed: int = field(default=0, compare=False)
    unsealed_oldest: dt.datetime | None = field(default=None, compare=False)
    unsealed_newest: dt.datetime | None = field(default=None, compare=False)

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
    """Recompute the chain of sealed rows in seal order; report the first row whose link is
    broken, and count the rows not sealed yet (it seals nothing: ``seal`` first for that).

    Each sealed row must carry the next seal number (a gap: sealed rows were deleted), the
    previous row's hash and its own. The chain's end must be the row ``sys_audit_head``
    last recorded: that catches sealed rows deleted from the end, and rows sealed outside
    Trellis with a recomputed hash. Deleting every row *and* the head leaves an empty,
    self-consistent chain: only a ``reference`` kept from an earlier run catches that (and
    any other removal of rows up to the reference's row).
    Run it inside one snapshot (REPEATABLE READ on PostgreSQL; SQLite transactions are
    snapshots already), or rows sealed meanwhile look like rows added outside Trellis.
    """
    audit, head = schema.system["sys_audit"], schema.system["sys_audit_head"]
    last = connection.execute(sa.select(head).where(head.c.id == 1)).mappings().first()
    legacy = (last["legacy_seq"] or 0) if last is not None else 0
    head_seq = (last["last_seq"] or 0) if last is not None else 0
    previous_hash, previous_id, checked = GENESIS, None, 0
    reference_at: int | None = None  # how many rows the chain had at the reference's head
    for row in _sealed_rows(connection, audit):
        problem = _broken_link(row, checked + 1, previous_id, previous_hash, legacy)
        if problem is None and (last is None or last["last_id"] is None):
            problem = (
                f"row {row['id']} is sealed, but sys_audit_head records no row sealed (the head was deleted or reset)"
            )
        if problem is None and last is not None and row["seal_seq"] > head_seq:
            problem = (
                f"row {row['id']} was added outside Trellis (seal {head_seq}, row {last['last_id']}, "
                "was the last one Trellis sealed)"
            )
        if problem is not None:
            return _with_unsealed(connection, audit, ChainReport(checked, row["id"], problem))
        previous_hash, previous_id, checked = row["hash"], row["id"], checked + 1
        if reference is not None and row["hash"] == reference.head_hash:
            reference_at = checked
    report = _end(last, checked, previous_id, previous_hash)
    if report.ok:
        report = _against(report, reference, reference_at)
    return _with_unsealed(connection, audit, report)


def _broken_link(
    row: sa.RowMapping, expected: int, previous_id: int | None, previous_hash: str, legacy: int
) -> str | None:
    """Why ``row`` does not continue the chain as its ``expected``-th sealed row, if it does not."""
    seq, after = row["seal_seq"], f"row {previous_id or 'the start'}"
    if seq > expected:
        missing = f"seal {expected} is" if seq == expected + 1 else f"seals {expected} to {seq - 1} are"
        return f"row {row['id']} does not follow {after}: {missing} gone (sealed rows were deleted)"
    if seq < expected:
        return f"row {row['id']} does not follow {after}: its seal number {seq} is out of order (a row was inserted)"
    if row["prev_hash"] != previous_hash:
        return f"row {row['id']} does not follow {after} (a row before it was changed, inserted or deleted)"
    digest = _legacy_digest if seq <= legacy else _digest
    if digest(row["prev_hash"], row) != row["hash"]:
        return f"row {row['id']} was changed after it was sealed"
    return None


def _end(last: sa.RowMapping | None, checked: int, previous_id: int | None, previous_hash: str) -> ChainReport:
    """The chain read to its end, against the head: it must end at the head's row."""
    intact = ChainReport(checked, head_id=previous_id, head_hash=previous_hash)
    if last is None or (
        last["last_id"] == previous_id and last["last_hash"] == previous_hash and (last["last_seq"] or 0) == checked
    ):
        return intact
    head = f"row {last['last_id']} (seal {last['last_seq'] or 0})"
    if previous_id is None:
        return ChainReport(
            0, last["last_id"], f"the sealed chain is empty, but {head} was the last one sealed (its rows were deleted)"
        )
    if (last["last_seq"] or 0) == checked:
        return ChainReport(
            checked - 1, previous_id, f"row {previous_id} is not the row Trellis sealed last (it was replaced)"
        )
    return ChainReport(
        checked,
        previous_id,
        f"the chain ends at row {previous_id} (seal {checked}), but {head} "
        "was the last one sealed (sealed rows at the end were deleted)",
    )


def _with_unsealed(connection: sa.Connection, audit: sa.Table, report: ChainReport) -> ChainReport:
    """``report`` with the rows not sealed yet: how many, the oldest and the newest moment."""
    count, oldest, newest = connection.execute(
        sa.select(sa.func.count(), sa.func.min(audit.c.at), sa.func.max(audit.c.at)).where(audit.c.seal_seq.is_(None))
    ).one()
    return replace(report, unsealed=count, unsealed_oldest=oldest, unsealed_newest=newest)


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


def _sealed_rows(connection: sa.Connection, audit: sa.Table) -> Iterator[sa.RowMapping]:
    statement = sa.select(audit).where(audit.c.seal_seq.is_not(None)).order_by(audit.c.seal_seq)
    yield from connection.execution_options(yield_per=1000).execute(statement).mappings()


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _log_write(write: Write, draft: Draft) -> None:
    """Stage ``audit``: the entry of a written or deleted record — the fields (and owner) that
    changed, encrypted ones masked — appended with the write call's other entries; a purge's
    is ``purge`` with the policy and no values (``Write.purge``)."""
    session, obj = write.session, write.obj
    if write.purge is not None:  # a purge forgets the values: the entry names the policy only
        assert draft.current is not None
        policy = {"retention": [dict(write.purge), "purged"]}
        session.unit.log_change(
            session.principal, session.channel, "purge", obj.name, draft.current.id, policy, session.clock().now_utc
        )
        return
    after = draft.record if write.action != "delete" else None
    record = after if after is not None else draft.current
    assert record is not None
    changes = field_changes(draft.current, after, [*obj.fields, "owner_id"], set(obj.encrypted))
    session.unit.log_change(
        session.principal, session.channel, write.action, obj.name, record["id"], changes, session.clock().now_utc
    )


#: Every write leaves its audit entry.
FEATURE = Feature("audit", {"audit": _log_write})
