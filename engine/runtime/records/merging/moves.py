"""What a merge re-points to the survivor, and putting it back (``engine.runtime.records.merging``).

Each move is recorded as ``[kind, name, column, row id, old value]``: kind ``lookup`` for a
lookup of a record of object ``name`` re-pointed, ``cleared`` for a unique value a merged record
gave up to the survivor, ``table`` for a column of the system table ``name``. The moves are set-wise UPDATEs, not
``Session.update`` calls: re-pointing a lookup is no change a person made to the record, so its
rules, approvals and automation do not run — but each record moved gets a new version and an
audit entry (``merge``; ``unmerge`` when it goes back), so the history and concurrent editors see it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.fieldtypes import coerce_value
from engine.metadata.model import ObjectDef
from engine.runtime.security.audit import plain
from engine.runtime.workflow import timeline

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

Move = list[Any]
#: System tables whose ``(object, record_id)`` rows follow a merged record.
FOLLOWING = (
    "sys_approvals",
    "sys_notifications",
    "sys_files",
    "sys_stage_history",
    "sys_mail_messages",
    "sys_engagement_events",
)
RUNS = "sys_automation_runs"


def files(session: Session, obj: ObjectDef, survivor: int, merged: Sequence[int]) -> list[Move]:
    """The stored files of the merged records become the survivor's (before the survivor takes a
    file value of theirs, which the write path checks is its own)."""
    return _follow(session, "sys_files", obj, survivor, merged, key="key")


def system_rows(session: Session, obj: ObjectDef, survivor: int, merged: Sequence[int]) -> list[Move]:
    """Approvals, notifications, stage history, mail threads (a reply to a merged contact's
    e-mail is filed on the survivor) and engagement events (opens, clicks, form submissions: the
    survivor's timeline and event rules count them) of the merged records become the survivor's; so do
    their automation runs, with the run key re-keyed, so that a time rule that ran for a merged
    record does not fire again for the survivor (a run the survivor has already had stays put)."""
    moves = [m for table in FOLLOWING if table != "sys_files" for m in _follow(session, table, obj, survivor, merged)]
    return moves + _runs(session, obj, survivor, merged)


def lookups(session: Session, obj: ObjectDef, survivor: int, merged: Sequence[int], now: dt.datetime) -> list[Move]:
    """Every lookup of every object that points at a merged record points at the survivor (the
    survivor's own lookups at a merged record are left alone: it would point at itself)."""
    moves: list[Move] = []
    for other in session.config.objects.values():
        for field in other.fields.values():
            if not field.points_to(obj.name):
                continue
            table = session.schema.table(other.name)
            column = table.c[field.name]
            condition: sa.ColumnElement[bool] = column.in_(merged)
            if other.name == obj.name:
                condition = sa.and_(condition, table.c.id != survivor)
            rows = session.connection.execute(sa.select(table.c.id, column).where(condition).order_by(table.c.id)).all()
            if not rows:
                continue
            for part in _parts([record_id for record_id, _ in rows]):  # per lookup, each record a new version
                session.connection.execute(
                    sa.update(table)
                    .where(table.c.id.in_(part), column.in_(merged))
                    .values({field.name: survivor, "version": table.c.version + 1, "updated_at": now})
                )
            for record_id, old in rows:
                session.unit.forget(other.name, record_id)
                changes = {field.name: [old, survivor]}
                session.unit.log_change(
                    session.principal, session.channel, "merge", other.name, record_id, changes, now
                )
                moves.append(["lookup", other.name, field.name, record_id, old])
    if obj.timeline:
        timeline.recompute(session, obj.name, [survivor, *merged])
    return moves


def give_up(session: Session, obj: ObjectDef, record_id: int, names: Iterable[str], now: dt.datetime) -> list[Move]:
    """Empty the unique values ``names`` of a merged record, so that the survivor can take them."""
    table = session.schema.table(obj.name)
    row = session.connection.execute(sa.select(table).where(table.c.id == record_id)).mappings().one()
    moves: list[Move] = []
    for name in names:
        _set(session, obj, record_id, name, None, now, "merge", row[name])
        moves.append(["cleared", obj.name, name, record_id, plain(row[name])])
    return moves


def put_back(session: Session, obj: ObjectDef, moves: Sequence[Move], survivor: int, now: dt.datetime) -> None:
    """Undo ``moves`` of a merge of ``obj`` records, set-wise (one UPDATE per column and old value and
    1,000 rows), each row only where it still holds what the merge put there (a lookup a person
    re-pointed since stays where it is)."""
    groups: dict[tuple[str, str, str, str], tuple[Any, list[Any]]] = {}
    for kind, name, column, row_id, old in moves:  # grouped by the old value as JSON (it may be a list)
        groups.setdefault((kind, name, column, json.dumps(old, sort_keys=True)), (old, []))[1].append(row_id)
    touched: set[int] = {survivor}
    for (kind, name, column, _), (old, row_ids) in groups.items():
        for part in _parts(row_ids):
            if kind == "table":
                table = session.schema.system[name]
                key = table.c.key if name == "sys_files" else table.c.id
                session.connection.execute(sa.update(table).where(key.in_(part)).values({column: old}))
                continue
            other = session.object(name)
            restored = _restore(session, other, part, column, survivor if kind == "lookup" else None, old, now)
            if restored and kind == "lookup" and other.activity is not None:
                touched.add(int(old))
    if obj.timeline:
        timeline.recompute(session, obj.name, sorted(touched))


def _restore(
    session: Session, obj: ObjectDef, row_ids: list[int], column: str, held: Any, old: Any, now: dt.datetime
) -> bool:
    """Set ``column`` of the rows ``row_ids`` that still hold ``held`` back to ``old`` (each with a new
    version and an ``unmerge`` audit entry); whether any did."""
    table = session.schema.table(obj.name)
    still = table.c[column].is_(None) if held is None else table.c[column] == held
    ids = list(session.connection.execute(sa.select(table.c.id).where(table.c.id.in_(row_ids), still)).scalars())
    if not ids:
        return False
    value = coerce_value(obj.fields[column], old, session.config.settings) if old is not None else None
    session.connection.execute(
        sa.update(table)
        .where(table.c.id.in_(ids), still)
        .values({column: value, "version": table.c.version + 1, "updated_at": now})
    )
    for record_id in ids:
        session.unit.forget(obj.name, record_id)
        session.unit.log_change(
            session.principal, session.channel, "unmerge", obj.name, record_id, {column: [held, plain(value)]}, now
        )
    return True


def _parts(items: list[Any], size: int = 1000) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _follow(
    session: Session, name: str, obj: ObjectDef, survivor: int, merged: Sequence[int], key: str = "id"
) -> list[Move]:
    table = session.schema.system[name]
    condition = sa.and_(table.c.object == obj.name, table.c.record_id.in_(merged))
    rows = session.connection.execute(sa.select(table.c[key], table.c.record_id).where(condition)).all()
    if rows:
        session.connection.execute(sa.update(table).where(condition).values(record_id=survivor))
    return [["table", name, "record_id", row_key, old] for row_key, old in rows]


def _runs(session: Session, obj: ObjectDef, survivor: int, merged: Sequence[int]) -> list[Move]:
    table = session.schema.system[RUNS]
    condition = sa.and_(table.c.object == obj.name, table.c.record_id.in_(merged))
    rows = session.connection.execute(sa.select(table.c.id, table.c.record_id, table.c.run_key).where(condition)).all()
    moves: list[Move] = []
    for run_id, old_id, old_key in rows:
        new_key = _rekey(old_key, old_id, survivor)
        if new_key is not None and new_key != old_key:
            taken = session.connection.execute(sa.select(table.c.id).where(table.c.run_key == new_key)).first()
            if taken is not None:
                continue  # the survivor had this occurrence already: nothing fires twice either way
            session.connection.execute(sa.update(table).where(table.c.id == run_id).values(run_key=new_key))
            moves.append(["table", RUNS, "run_key", run_id, old_key])
        session.connection.execute(sa.update(table).where(table.c.id == run_id).values(record_id=survivor))
        moves.append(["table", RUNS, "record_id", run_id, old_id])
    return moves


def _rekey(key: str | None, old_id: int, survivor: int) -> str | None:
    """``rule|<id>|occurrence`` and ``rule|cron|time|<id>`` with the survivor's id."""
    if key is None:
        return None
    parts = key.split("|")
    if len(parts) >= 3 and parts[1] == str(old_id):
        parts[1] = str(survivor)
    elif len(parts) >= 4 and parts[1] == "cron" and parts[-1] == str(old_id):
        parts[-1] = str(survivor)
    return "|".join(parts)


def _set(
    session: Session, obj: ObjectDef, record_id: int, column: str, value: Any, now: dt.datetime, action: str, old: Any
) -> None:
    """One column of one record, with a new version and an audit entry ``{column: [old, value]}``."""
    table = session.schema.table(obj.name)
    session.connection.execute(
        sa.update(table)
        .where(table.c.id == record_id)
        .values({column: value, "version": table.c.version + 1, "updated_at": now})
    )
    session.unit.forget(obj.name, record_id)
    shown = ["***", "***"] if obj.fields[column].encrypted else [old, value]
    session.unit.log_change(session.principal, session.channel, action, obj.name, record_id, {column: shown}, now)
