"""The audit rows of an apply's data fixes (S35): stored values an apply rewrites are audited.

A data fix (a picklist value mapped with ``migrate_values`` or cleared, a
default filled into a newly required field, values emptied for a type or
encryption change) writes one ``sys_audit`` row per record it changes, in the
apply's transaction — ``_log_fixes`` ``BATCH`` rows per INSERT, ``_log_filled`` all the
rows given one value with one ``INSERT … SELECT`` (a million records in seconds, where one
INSERT per record took minutes): action ``update`` on channel ``apply``, by the system,
with the field's old and new value — so the record's history (``trellis audit
show``, the record page) says what the apply did to it, and the hash chain
covers it. Values of fields encrypted before or after the change are masked as
for any write. ``last_activity_at``, which an apply derives from the activities
when ``timeline: true`` is added, is not a field and is not audited, as when
the runtime keeps it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from engine.runtime.migrate import inflight
from engine.runtime.security import audit
from engine.runtime.security.permissions import SYSTEM
from engine.runtime.tables import Schema

#: The audit channel of the changes an apply makes.
CHANNEL = "apply"
#: Audit rows written per INSERT (one executemany) by ``_log_fixes``.
BATCH = 1000


def _log_fixes(
    conn: sa.Connection,
    schema: Schema,
    table: str,
    field: str,
    changes: Iterable[tuple[int, Any, Any]],
    masked: bool = False,
) -> None:
    """One audit row per ``(record_id, old, new)`` of ``table.field`` (records of objects only),
    ``BATCH`` rows per INSERT."""
    if not table.startswith("obj_"):
        return
    now = dt.datetime.now(dt.UTC)
    entries = (
        ("update", table[4:], record_id, {field: [_mask(old), _mask(new)] if masked else [old, new]})
        for record_id, old, new in changes
    )
    while batch := list(itertools.islice(entries, BATCH)):
        audit.log_changes(conn, schema, SYSTEM, CHANNEL, batch, now)


def _log_filled(
    conn: sa.Connection,
    schema: Schema,
    table: str,
    field: str,
    where: Callable[[sa.ColumnClause[Any]], Any] | None,
    new: Any,
    masked: bool = False,
) -> None:
    """The audit rows of a fix that gives ``table.field`` the one value ``new`` where ``where(column)``
    (every row when None), old value empty, written with one ``INSERT … SELECT`` in id order before
    the fix: the same rows as ``_log_fixes`` would write for them."""
    if not table.startswith("obj_"):
        return
    row = _filled_entry(table, field, new, masked)
    matching = None if where is None else (lambda records: where(records.c[field]))
    conn.execute(sa.insert(schema.system["sys_audit"]).from_select(*_audit_select(schema, table, field, row, matching)))


@dataclass
class FillAudit:
    """The audit rows of the records a new column's constant value fills (PostgreSQL, ``columns.
    _add_filled``), written so that writers do not wait for them: ``ahead``, before the apply
    locks the table (the ``AHEAD`` phase), writes a row for every record there is; ``settle``
    (the ``SETTLE`` phase, still unlocked) adds the records written meanwhile and removes those
    deleted meanwhile; ``catch_up``, once ``ALTER TABLE`` holds the lock, does the same for what
    changed since ``settle``. The rows are those ``_log_filled`` writes, in id order but for the
    records caught up, which come last.

    A pass (``_pass``) reads only what changed since ``ahead``: a record it may not have seen was
    written by a transaction not finished when ``ahead`` began, so its ``xmin`` is not older than
    that snapshot's ``xmin`` (``age(xmin)`` says so in one pass over the table, which counts the
    records too); those without a row of this fill (looked up by the index on object and record)
    get one. Deleted records are counted — every record now, against those audited — and only
    when some are missing are this fill's rows joined with the table to remove theirs.

    ``settle`` notes the highest record id and audit id, waits for the writers then in flight
    (``inflight``), then makes the pass. After it every record up to that id is settled: a record
    written since has a higher id, and a record deleted since has a ``delete`` or ``purge`` audit
    row with a higher id (the write path audits every delete in its transaction). So ``catch_up``
    reads two index ranges under the lock, not the table: milliseconds where the pass took 1.5 s
    at 10,000,000 deals. When a writer keeps its transaction open past ``SETTLE_WAIT``, nothing is
    settled and ``catch_up`` makes the pass under the lock instead."""

    schema: Schema
    table: str
    column: str
    new: Any
    row: dict[str, Any] = field(default_factory=dict)
    #: The highest ``sys_audit.id`` before ``ahead`` (its rows and the catch-up's come after).
    before: int = 0
    #: The ``xmin`` of a snapshot taken before ``ahead``'s, and how many records are audited.
    horizon: int = 0
    seen: int = 0
    #: Once settled: the highest record id and ``sys_audit.id`` up to which nothing is in flight.
    settled: tuple[int, int] | None = None

    def ahead(self, conn: sa.Connection) -> None:
        """Audit every record of the table now, without locking it (a plain read)."""
        target = self.schema.system["sys_audit"]
        self.before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(target.c.id), 0))).scalar_one()
        self.horizon = int(conn.exec_driver_sql("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").scalar_one())
        self.row = _filled_entry(self.table, self.column, self.new, masked=False)
        insert = sa.insert(target).from_select(*_audit_select(self.schema, self.table, self.column, self.row))
        self.seen = conn.execute(insert, execution_options=_ROWCOUNT).rowcount
        if self.seen >= ANALYZE_AFTER:  # so that the catch-up, under the lock, looks its rows up by index
            conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(target)}")

    def settle(self, conn: sa.Connection) -> None:
        """Still unlocked: audit what was written and deleted while ``ahead`` ran, once the writers
        in flight have finished, so that the lock's catch-up reads index ranges only."""
        target = self.schema.system["sys_audit"]
        source = sa.table(self.table, sa.column("id"))
        highest = conn.execute(sa.select(sa.func.coalesce(sa.func.max(source.c.id), 0))).scalar_one()
        audited = conn.execute(sa.select(sa.func.coalesce(sa.func.max(target.c.id), 0))).scalar_one()
        if inflight.wait_for_writers(conn, [self.table, target.name], SETTLE_WAIT):
            self._pass(conn)
            self.settled = (highest, audited)

    def catch_up(self, conn: sa.Connection) -> None:
        """Under the table's lock: audit the records not yet seen, drop the rows of those gone."""
        if self.settled is None:
            self._pass(conn)
            return
        highest, audited = self.settled
        target, source = self.schema.system["sys_audit"], sa.table(self.table, sa.column("id"))
        self._add(conn, list(conn.scalars(sa.select(source.c.id).where(source.c.id > highest))))
        gone = conn.scalars(
            sa.select(target.c.record_id).where(
                target.c.id > audited, target.c.object == self.table[4:], target.c.action.in_(_GONE)
            )
        ).all()
        if gone:
            self._remove(conn, target.c.record_id.in_(gone))

    def _pass(self, conn: sa.Connection) -> None:
        """One pass over the table: audit the records written since ``ahead`` began that lack a row,
        and, when fewer records are left than audited, drop the rows of those gone."""
        # How many records the table has, and those written since the horizon (xids counted back
        # from this transaction's, as age() counts).
        source = sa.table(self.table, sa.column("id"))
        recent = sa.func.age(sa.literal_column(f"{self.table}.xmin")) <= (
            sa.literal_column("pg_current_xact_id()::text::bigint") - self.horizon
        )
        count, written = conn.execute(
            sa.select(sa.func.count(), sa.func.array_agg(source.c.id).filter(recent)).select_from(source)
        ).one()
        self.seen += self._add(conn, written or [])
        if count < self.seen:
            self._remove(conn, sa.true())

    def _add(self, conn: sa.Connection, written: list[int]) -> int:
        """Audit those of the records ``written`` without a row of this fill (the index on object and
        record); how many."""
        if not written:
            return 0
        target = self.schema.system["sys_audit"]
        ids = sa.bindparam("written", written, type_=postgresql.ARRAY(sa.BigInteger()))
        audited = set(
            conn.scalars(sa.select(target.c.record_id).where(*self._same(), target.c.record_id == sa.any_(ids)))
        )
        missing = sorted(set(written) - audited)
        if not missing:
            return 0
        columns, select = _audit_select(
            self.schema, self.table, self.column, self.row, lambda records: records.c.id.in_(missing)
        )
        return conn.execute(sa.insert(target).from_select(columns, select), execution_options=_ROWCOUNT).rowcount

    def _remove(self, conn: sa.Connection, which: Any) -> None:
        """Drop this fill's rows matching ``which`` whose record is gone."""
        target, source = self.schema.system["sys_audit"], sa.table(self.table, sa.column("id"))
        gone = ~sa.select(source.c.id).where(source.c.id == target.c.record_id).exists()
        conn.execute(sa.delete(target).where(target.c.id > self.before, *self._same(), which, gone))

    def _same(self) -> list[sa.ColumnElement[bool]]:
        """What every audit row of this fill has in common (``_SAME``), as conditions."""
        target = self.schema.system["sys_audit"]
        return [target.c[name] == sa.literal(self.row[name], target.c[name].type) for name in _SAME]


#: Audit rows written ahead from which ``sys_audit`` is analysed before the table is locked: the
#: planner, knowing the audit that small, read it whole (seconds at 10,000,000 deals) to find
#: which records written meanwhile lack a row, instead of by the index on object and record.
ANALYZE_AFTER = 10_000
#: Seconds ``settle`` waits for the writers in flight before leaving the pass to the lock.
SETTLE_WAIT = 5.0
#: The audit actions of a deleted record.
_GONE = ("delete", "purge")
#: What makes an ``INSERT … SELECT`` tell how many rows it wrote.
_ROWCOUNT = {"preserve_rowcount": True}
#: The columns every row of one fill shares (``FillAudit.catch_up`` finds them by).
_SAME = ("at", "channel", "object", "changes")


def _filled_entry(table: str, field: str, new: Any, masked: bool) -> dict[str, Any]:
    changes = {field: [None, _mask(new)] if masked else [None, new]}
    return audit.entry(SYSTEM, CHANNEL, "update", table[4:], 0, changes, dt.datetime.now(dt.UTC))


def _audit_select(
    schema: Schema,
    table: str,
    field: str,
    row: dict[str, Any],
    where: Callable[[sa.TableClause], Any] | None = None,
) -> tuple[list[str], sa.Select[Any]]:
    """The columns and the ``SELECT`` of an ``INSERT … SELECT`` of ``row`` for each record of
    ``table`` matching ``where(<the table>)`` (every one when None), in id order."""
    target, source = schema.system["sys_audit"], sa.table(table, sa.column("id"), sa.column(field))
    names = [name for name in row if name != "record_id"]
    select = sa.select(
        *(sa.literal(row[name], target.c[name].type).label(name) for name in names), source.c.id.label("record_id")
    )
    if where is not None:
        select = select.where(where(source))
    return [*names, "record_id"], select.order_by(source.c.id)


def _mask(value: Any) -> Any:
    return None if value is None else audit.ENCRYPTED


def _filled_rows(conn: sa.Connection, table: str, field: str, where: Any) -> list[tuple[int, Any]]:
    """``(id, value)`` of the rows of ``table`` matching ``where(column)``, before a fix changes them."""
    clause = sa.table(table, sa.column("id"), sa.column(field))
    return [
        (row[0], row[1])
        for row in conn.execute(
            sa.select(clause.c.id, clause.c[field]).where(where(clause.c[field])).order_by(clause.c.id)
        )
    ]
