"""SQLite tables made before ids were ``AUTOINCREMENT``: rebuild them so ids are never reused.

``tables.never_reuse_ids`` marks every table with an auto-incremented ``id``;
SQLite only honours that when the table is created, so a database made by an
older Trellis keeps handing out the id of the newest deleted record again. For
each such table the plan rebuilds it (Alembic's batch mode with
``recreate="always"``, the same create-copy-drop-rename as any other SQLite
table change, ids kept) and then raises its counter in ``sqlite_sequence`` to
the highest id the audit trail has seen for the object, so that ids of records
deleted before the upgrade are not handed out again either. PostgreSQL's
sequences never go back: nothing to do there.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime.migrate.execute import ALTER
from engine.runtime.migrate.model import Step

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner


def _plan_autoincrement(planner: _Planner, new_tables: set[str]) -> None:
    """Rebuild each existing SQLite table the schema marks AUTOINCREMENT but the database does not."""
    if planner.dialect.name != "sqlite":
        return
    tables = planner.conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    live: dict[str, str | None] = {name: sql for name, sql in tables}
    for table in planner.schema.metadata.tables.values():
        if table.name in new_tables or table.name not in live or not table.dialect_options["sqlite"]["autoincrement"]:
            continue
        if "AUTOINCREMENT" in (live[table.name] or "").upper():
            continue
        step = Step(
            "autoincrement",
            table.name,
            None,
            f"rebuild table {table.name} with AUTOINCREMENT ids (SQLite), so that the id of a "
            f"deleted record is never given to a new one",
        )
        planner.add(ALTER, table.name, step, batch=lambda batch: None, rebuild=True)
        obj = planner.object(table.name)
        counter = Step(
            "autoincrement_counter",
            table.name,
            None,
            f"continue the ids of {table.name} after the highest one ever used"
            + (" (the audit trail's included)" if obj else ""),
        )
        planner.add(
            ALTER,
            table.name,
            counter,
            order=99,
            fix=True,
            sql=partial(_raise_counter, table=table.name, obj=obj.name if obj else None),
        )


def _raise_counter(conn: sa.Connection, table: str, obj: str | None) -> None:
    """Set ``table``'s AUTOINCREMENT counter to the highest id it or the audit trail has seen."""
    highest = conn.exec_driver_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').scalar() or 0
    if obj is not None and conn.dialect.has_table(conn, "sys_audit"):
        audited = (
            conn.exec_driver_sql("SELECT COALESCE(MAX(record_id), 0) FROM sys_audit WHERE object = ?", (obj,)).scalar()
            or 0
        )
        highest = max(highest, audited)
    conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
    conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, highest))
