"""Run planned actions in the caller's transaction, turning database errors into MigrationFailed.

The planner describes its work as ``_Action`` objects tagged with a phase;
``_execute`` runs them phase by phase. On SQLite every table change goes
through Alembic's batch mode, which rebuilds the table when SQLite cannot
ALTER it, so the foreign keys are checked again before the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa
from alembic.operations import BatchOperations, Operations

from engine.runtime.database import foreign_key_violations
from engine.runtime.migrate.compare import _context
from engine.runtime.migrate.counting import _plural
from engine.runtime.migrate.model import MigrationFailed, Step

BatchRun = Callable[[BatchOperations], None]
SqlRun = Callable[[sa.Connection], None]

# Phases, in execution order (0 = renames, run while planning). AHEAD and SETTLE: work done
# before any table is locked (``fixlog.FillAudit.ahead`` and ``settle``).
RENAME, AHEAD, SETTLE, CREATE, ADD, UNCONSTRAIN, REWRITE, RETYPE, BACKFILL, ALTER, DROP_TABLES = range(11)


@dataclass(frozen=True)
class _Action:
    """Executable work behind one or more steps: SQL on the connection, or batch ops on ``table``.

    An action with neither (a rename) was already run while planning.
    """

    phase: int
    table: str
    steps: tuple[Step, ...]
    sql: SqlRun | None = None
    batch: BatchRun | None = None
    order: int = 0
    reflect: tuple[sa.Column, ...] = ()
    fix: bool = False
    search: bool = False
    rebuild: bool = False


def _execute(conn: sa.Connection, actions: list[_Action]) -> None:
    """Run the actions phase by phase; batch actions on one table share one batch."""
    operations = Operations(_context(conn))
    pending = sorted(actions, key=lambda a: (a.phase, a.batch is None, a.table, a.order))
    index = 0
    while index < len(pending):
        action = pending[index]
        if action.batch is None:
            if action.sql is not None:
                _guarded(action.steps, partial(action.sql, conn))
            index += 1
            continue
        group = [a for a in pending[index:] if a.phase == action.phase and a.table == action.table and a.batch]
        _run_batch(operations, conn, group)
        index += len(group)


def _run_batch(operations: Operations, conn: sa.Connection, group: list[_Action]) -> None:
    """One Alembic batch for ``group`` (plain ALTERs, or a table rebuild on SQLite)."""
    reflect = tuple(column for action in group for column in action.reflect) if conn.dialect.name == "sqlite" else ()
    steps = tuple(step for action in group for step in action.steps)

    options: dict = {"recreate": "auto"}
    if conn.dialect.name == "sqlite":
        # A rebuild (migrate.autoincrement) recreates the table even when nothing else
        # changes; any rebuild keeps a table's AUTOINCREMENT ids.
        if any(action.rebuild for action in group):
            options = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
        elif _autoincrement(conn, group[0].table):
            options["table_kwargs"] = {"sqlite_autoincrement": True}

    def run() -> None:
        with operations.batch_alter_table(group[0].table, reflect_args=reflect, **options) as batch:
            for action in group:
                assert action.batch is not None, "a batch group holds batch actions only"
                action.batch(batch)

    _guarded(steps, run)


def _autoincrement(conn: sa.Connection, table: str) -> bool:
    """Whether the live SQLite table ``table`` hands out AUTOINCREMENT ids."""
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    return "AUTOINCREMENT" in (sql or "").upper()


def _guarded(steps: Sequence[Step], run: Callable[[], None]) -> None:
    """Run one unit of work; a database error becomes MigrationFailed naming the step."""
    try:
        run()
    except sa.exc.SQLAlchemyError as exc:
        what = "; ".join(s.description for s in steps) or "a change"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise MigrationFailed(
            f"the database refused `{what}`: {reason}. Nothing was changed (the whole apply was rolled back)."
        ) from exc


def _check_foreign_keys(conn: sa.Connection) -> None:
    """Refuse to commit when a table rebuild left rows pointing nowhere (SQLite)."""
    broken = foreign_key_violations(conn)
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise MigrationFailed(
            f"{_plural(len(broken), 'row')} of {tables} would point at missing records; "
            "nothing was changed (the whole apply was rolled back)."
        )
