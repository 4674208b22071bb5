"""Renames, the first pass of the planner: follow ``renamed_from`` on objects and fields.

A rename runs at once, while planning, so that the comparison that follows sees
the data under its new name; ``plan`` rolls it back with everything else.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.operations import Operations

from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.migrate.compare import _context
from engine.runtime.migrate.counting import _count
from engine.runtime.migrate.execute import RENAME, _Action, _guarded
from engine.runtime.migrate.model import Step

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner

#: SQLite learned ``ALTER TABLE … RENAME COLUMN`` in 3.25.
SQLITE_RENAME_COLUMN = (3, 25, 0)


def _rename_table(conn: sa.Connection, old: str, new: str) -> None:
    Operations(_context(conn)).rename_table(old, new)


def _rename_tables(planner: _Planner) -> None:
    """Rename the table of each object with ``renamed_from``, or refuse or note why not."""
    live = set(sa.inspect(planner.conn).get_table_names())
    for obj in planner.config.objects.values():
        if not obj.renamed_from:
            continue
        old, new = f"obj_{obj.renamed_from}", obj.table_name
        if old in live and new not in live:
            step = Step("rename_table", new, None, f"rename table {old} → {new} (keeps its records)")
            _guarded([step], partial(_rename_table, planner.conn, old, new))
            planner.actions.append(_Action(RENAME, new, (step,)))
            live = (live - {old}) | {new}
        elif old in live:
            planner.refuse(
                "rename_conflict",
                obj.name,
                None,
                _count(planner.conn, old),
                f"`{obj.name}` is renamed from `{obj.renamed_from}`, but both tables {old} and {new} "
                f"exist; drop one of them or remove `renamed_from`",
            )
        elif new not in live:
            planner.notes[(new, None)] = f"renamed_from `{obj.renamed_from}` found no table {old}, so it starts empty"


def _rename_columns(planner: _Planner) -> None:
    """Rename the column of each field with ``renamed_from`` in the tables that exist."""
    live_tables = set(sa.inspect(planner.conn).get_table_names())
    for obj in planner.config.objects.values():
        renamed = [f for f in obj.fields.values() if f.renamed_from]
        if not renamed or obj.table_name not in live_tables:
            continue
        columns = set(planner.live_columns(obj.table_name))
        for fdef in renamed:
            _rename_column(planner, obj, fdef, columns)


def _rename_column(planner: _Planner, obj: ObjectDef, fdef: FieldDef, columns: set[str]) -> None:
    table, old, new = obj.table_name, fdef.renamed_from or "", fdef.name
    if old in columns and new not in columns:
        step = Step("rename_column", table, new, f"rename column {table}.{old} → {table}.{new} (keeps its values)")
        _guarded([step], lambda: _execute_column_rename(planner.conn, table, old, new))
        planner.actions.append(_Action(RENAME, table, (step,)))
        columns.discard(old)
        columns.add(new)
    elif old in columns:
        planner.refuse(
            "rename_conflict",
            obj.name,
            new,
            0,
            f"`{obj.name}.{new}` is renamed from `{old}`, but both columns exist in {table}; "
            f"drop one of them or remove `renamed_from`",
        )
    elif new not in columns:
        planner.notes[(table, new)] = f"renamed_from `{old}` found no column {table}.{old}, so it starts empty"


def _execute_column_rename(conn: sa.Connection, table: str, old: str, new: str) -> None:
    operations = Operations(_context(conn))
    if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_RENAME_COLUMN:
        with operations.batch_alter_table(table) as batch:
            batch.alter_column(old, new_column_name=new)
    else:
        operations.alter_column(table, old, new_column_name=new)
