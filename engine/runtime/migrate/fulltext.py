"""The search indexes on SQLite: one FTS5 trigram table per object, kept in step with its config.

What an index is and how search uses it: ``engine.runtime.fulltext``. Like PostgreSQL's
trigram indexes (``search``), these are kept out of Alembic's comparison (their tables are
neither ``obj_*`` nor ``sys_*``) and kept here by name: the name holds a hash of the indexed
columns, their types and the tokenizer, so an index whose name no object wants is stale and
is dropped (with its triggers) before anything else changes, and a missing one is created,
with its triggers, after everything else — then filled from the table (FTS5's ``rebuild``),
in the apply's transaction. Their steps are listed with the search indexes of the plan.

An Alembic batch that rebuilds a table (SQLite cannot alter some columns in place) drops the
table's triggers with it, and rows written after that in the same apply would not reach the
index. So every wanted index that is already there gets a check after everything else
(``_repair``): when a trigger is missing, the triggers are made again and the index is
rebuilt from the table. On a SQLite without FTS5 or its ``trigram`` tokenizer (older than
3.34) nothing is planned and a warning is logged; search then reads the tables.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime import fulltext
from engine.runtime.migrate.counting import _count, _plural
from engine.runtime.migrate.execute import DROP_TABLES, RENAME, _Action
from engine.runtime.migrate.model import Step
from engine.runtime.tables import search_fields

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner

log = logging.getLogger(__name__)

#: An index's name: ``fts_<table>_<hash>`` (``fulltext.index_name``), without its shadow tables.
_INDEX = re.compile(r"^fts_(obj_.+)_[0-9a-f]{8}$")


def _plan_fulltext(planner: _Planner) -> None:
    """Plan creating the missing SQLite search indexes, dropping stale ones and repairing the
    triggers of the others (SQLite only)."""
    conn = planner.conn
    if conn.dialect.name != "sqlite":
        return
    if not fulltext.supported():
        log.warning(
            "Search indexes are not created: this SQLite (%s) has no FTS5 with the trigram tokenizer "
            "(SQLite 3.34 or newer). Search still works, by reading whole tables.",
            conn.exec_driver_sql("SELECT sqlite_version()").scalar(),
        )
        return
    live = _live_indexes(conn)
    triggers = {name for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    wanted: dict[str, tuple[str, list[str]]] = {}
    for obj in planner.config.objects.values():
        columns = planner.schema.table(obj.name)
        names = fulltext.indexed_names([f.name for f in search_fields(obj)])
        if names:
            wanted[fulltext.index_name(columns, names)] = (columns.name, names)
    for stale in sorted(set(live) - set(wanted)):
        text = f"drop search index {stale} of {live[stale]}"
        step = Step("drop_search_index", live[stale], None, text)
        planner.add(RENAME, live[stale], step, sql=partial(_run, fulltext.drop_statements(stale)), search=True)
    for index, (table, names) in wanted.items():
        statements = fulltext.create_statements(table, names, index)
        if index not in live:
            rows = 0 if table in planner.created else _count(conn, table)
            filled = f", filled from its {_plural(rows, 'record')} in the transaction" if rows else ""
            text = f"add search index {index} on {table} ({', '.join(names)}; FTS5 trigram){filled}"
            sql = [*fulltext.drop_statements(index), *statements, fulltext.rebuild_statement(index)]
            step = Step("add_search_index", table, None, text)
            planner.add(DROP_TABLES, table, step, sql=partial(_run, sql), search=True)
            continue
        repair = partial(_repair, table=table, index=index, statements=statements)
        if set(fulltext.trigger_names(index)) <= triggers:  # repaired only if a table rebuild drops them
            planner.actions.append(_Action(DROP_TABLES, table, (), sql=repair, search=True))
            continue
        text = f"rebuild search index {index} of {table} (its triggers are missing)"
        step = Step("rebuild_search_index", table, None, text)
        planner.add(DROP_TABLES, table, step, sql=repair, search=True)


def _live_indexes(conn: sa.Connection) -> dict[str, str]:
    """The search indexes in the database: name → the table its name says it indexes."""
    rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name LIKE 'fts%'")
    found = {}
    for name, sql in rows:
        match = _INDEX.match(name)
        if match and (sql or "").upper().startswith("CREATE VIRTUAL TABLE"):
            found[name] = match.group(1)
    return found


def _run(statements: list[str], conn: sa.Connection) -> None:
    """Run DDL statements as written (a migration action's ``sql``)."""
    for statement in statements:
        conn.exec_driver_sql(statement)


def _repair(conn: sa.Connection, table: str, index: str, statements: list[str]) -> None:
    """Make the triggers of ``index`` again and rebuild it, when one of them is gone (a rebuilt table)."""
    names = fulltext.trigger_names(index)
    present = {
        name
        for (name,) in conn.exec_driver_sql(
            f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({', '.join('?' * len(names))})",
            tuple(names),
        )
    }
    if present == set(names):
        return
    log.info("The triggers of the search index %s of %s were gone; rebuilding it.", index, table)
    triggers = statements[1:]  # create_statements: the table, then its triggers
    _run([*fulltext.drop_trigger_statements(index), *triggers, fulltext.rebuild_statement(index)], conn)
