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
from typing import Any

import sqlalchemy as sa

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
    row = audit.entry(
        SYSTEM,
        CHANNEL,
        "update",
        table[4:],
        0,
        {field: [None, _mask(new)] if masked else [None, new]},
        dt.datetime.now(dt.UTC),
    )
    target, source = schema.system["sys_audit"], sa.table(table, sa.column("id"), sa.column(field))
    names = [name for name in row if name != "record_id"]
    select = sa.select(
        *(sa.literal(row[name], target.c[name].type).label(name) for name in names), source.c.id.label("record_id")
    )
    if where is not None:
        select = select.where(where(source.c[field]))
    conn.execute(sa.insert(target).from_select([*names, "record_id"], select.order_by(source.c.id)))


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
