"""Indexes built after the apply's commit, on PostgreSQL, without locking writers out.

``CREATE INDEX`` on an existing table holds a lock that makes every writer of the table wait
until the index is built (seconds to minutes on a large table, docs/benchmarks.md). So an index
the apply adds to a table it does not create — a search index (``search``) or a plain one (a
field made ``indexed``, a lookup, the stage history's indexes: ``plan_plain_index``) — is left
out of the apply's transaction and built **after the commit** with ``CREATE INDEX CONCURRENTLY``
on an autocommit connection (``build_concurrently``). A table the apply creates is empty: its
indexes are made in the transaction, at no cost.

A concurrent build waits for the transactions older than it. One that fails leaves an INVALID
index (``pg_index.indisvalid``), which is dropped at once when possible and otherwise seen by the
next ``plan`` and ``apply``, which drop and rebuild it (``plan_invalid_indexes`` for plain
indexes, ``search`` for its own). A failed build does not fail the apply (the schema change is
committed): it is logged and returned as a warning naming the fix, ``trellis apply`` again.
The apply's advisory lock is held meanwhile, so that a second apply waits for the builds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.operations import ops as alembic_ops

from engine.runtime.messages import current_language, message
from engine.runtime.migrate.execute import ALTER, UNCONSTRAIN
from engine.runtime.migrate.model import Step

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner

log = logging.getLogger(__name__)

DEADLOCK = "40P01"  # SQLSTATE deadlock_detected
DEADLOCK_TRIES = 3
#: Seconds between two tries of the apply's advisory lock (``locked_transaction``).
LOCK_POLL = 0.2


@dataclass(frozen=True)
class IndexBuild:
    """An index to build after the apply's commit: ``CREATE INDEX CONCURRENTLY`` ``ddl``.

    ``kind`` names its messages (``search_index.building``, ``index.failed``…); ``label`` is
    the object (or the system table) it serves, as the messages show it."""

    label: str
    index: str
    ddl: str
    #: An index of the same fields without the owner, dropped once this one is built.
    replaces: str | None = None
    kind: str = "search_index"


# --- planning plain indexes ----------------------------------------------------------------------


def plan_plain_index(planner: _Planner, table: str, op: alembic_ops.CreateIndexOp, text: str, order: int) -> bool:
    """Plan the plain (not unique) index ``op`` of the existing ``table`` to be built after the
    commit, concurrently (PostgreSQL); False, planning nothing, when it belongs in the transaction."""
    conn = planner.conn
    if conn.dialect.name != "postgresql" or op.unique or table in planner.created:
        return False
    ddl = str(sa.schema.CreateIndex(op.to_index()).compile(dialect=conn.dialect))
    step = Step("add_index", table, None, f"{text}, after the commit, concurrently")
    planner.add(ALTER, table, step, order=order)
    concurrent = ddl.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
    planner.builds.append(IndexBuild(_label(planner, table), str(op.index_name), concurrent, kind="index"))
    return True


def plan_invalid_indexes(planner: _Planner) -> None:
    """Drop (in the transaction) and rebuild (after it) each INVALID plain index of a Trellis table
    that the schema wants — what a failed or interrupted concurrent build left (PostgreSQL)."""
    conn = planner.conn
    if conn.dialect.name != "postgresql":
        return
    rows = conn.execute(
        sa.text(
            "SELECT t.relname, i.relname FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisvalid ORDER BY 1, 2"
        )
    )
    quote = conn.dialect.identifier_preparer.quote
    for table, name in rows:
        wanted = planner.schema.metadata.tables.get(table)
        index = (
            next((i for i in wanted.indexes if i.name == name and not i.unique), None) if wanted is not None else None
        )
        if index is None:
            continue
        drop = Step("drop_index", table, None, f"drop invalid index {name} of {table}")
        planner.add(UNCONSTRAIN, table, drop, sql=partial(_execute, f"DROP INDEX {quote(name)}"))
        op = alembic_ops.CreateIndexOp.from_index(index)
        plan_plain_index(planner, table, op, f"add index {name} on {table} ({_columns(op)})", 6)


def _columns(op: alembic_ops.CreateIndexOp) -> str:
    return ", ".join(str(getattr(c, "name", c)) for c in op.columns)


def _label(planner: _Planner, table: str) -> str:
    obj = planner.object(table)
    return obj.label.get(current_language()) if obj is not None else table


def _execute(sql: str, conn: sa.Connection) -> None:
    """Run one DDL statement as written (a migration action's ``sql``)."""
    conn.exec_driver_sql(sql)


# --- building after the commit -------------------------------------------------------------------


def build_concurrently(
    engine: sa.Engine, builds: list[IndexBuild], lock: int, progress: Callable[[str], None] | None = None
) -> tuple[str, ...]:
    """Build ``builds`` with ``CREATE INDEX CONCURRENTLY`` on an autocommit connection, after the
    apply committed; returns a warning per build that failed (logged too), none raised.

    The apply's advisory lock (``lock``) is held for the session meanwhile, so that a second apply
    waits instead of dropping an index being built as an invalid one.
    """
    language = current_language()
    warnings: list[str] = []
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("SET statement_timeout = 0")
            _session_lock(conn, lock)
            try:
                for build in builds:
                    if progress is not None:
                        progress(message(f"{build.kind}.building", language, object=build.label, index=build.index))
                    failure = _build_one(conn, build)
                    if failure is not None:
                        warnings.append(_failed(build, failure, language))
                    elif build.replaces is not None:
                        _drop_concurrently(conn, build.replaces, "The replaced search index")
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": lock})
                conn.exec_driver_sql("RESET statement_timeout")
    except sa.exc.DBAPIError as exc:  # the connection itself failed: every build not done is reported
        done = len(warnings)
        warnings += [_failed(build, exc, language) for build in builds[done:]]
    return tuple(warnings)


def locked_transaction(conn: sa.Connection, transaction: sa.RootTransaction, key: int) -> sa.RootTransaction:
    """``transaction`` holding the apply's advisory lock ``key`` (``pg_try_advisory_xact_lock``),
    or a new one on ``conn``: while another apply holds the lock, each try's transaction is ended
    and the next one begun ``LOCK_POLL`` seconds later.

    Not ``pg_advisory_xact_lock``, which waits inside a transaction that holds a snapshot: a
    concurrent build of the apply holding the lock waits for every transaction with an older
    snapshot to end, and PostgreSQL ends the build as a deadlock. A try's transaction ends at once."""
    try_lock = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
    while not conn.execute(try_lock, {"key": key}).scalar():
        transaction.rollback()
        time.sleep(LOCK_POLL)
        transaction = conn.begin()
    return transaction


def _session_lock(conn: sa.Connection, key: int) -> None:
    """Take the advisory lock ``key`` for the session of the autocommit ``conn``, trying again
    every ``LOCK_POLL`` seconds (each try its own transaction: see ``locked_transaction``)."""
    try_lock = sa.text("SELECT pg_try_advisory_lock(:key)")
    while not conn.execute(try_lock, {"key": key}).scalar():
        time.sleep(LOCK_POLL)


def _build_one(conn: sa.Connection, build: IndexBuild) -> sa.exc.DBAPIError | None:
    """Run one concurrent build; None when it was built, else its last error (what it left dropped).

    Two concurrent builds in one database wait for each other's snapshot and PostgreSQL may end one
    of them as a deadlock (another schema's apply, say); that one is tried again, up to
    ``DEADLOCK_TRIES`` times, since nothing was wrong with it.
    """
    for attempt in range(1, DEADLOCK_TRIES + 1):
        try:
            conn.exec_driver_sql(build.ddl)
            return None
        except sa.exc.DBAPIError as exc:
            _drop_concurrently(conn, build.index, "The invalid index")
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_TRIES:
                return exc
            log.info("The index %s met a deadlock; building it again (try %d).", build.index, attempt + 1)
    return None  # pragma: no cover - the loop returns


def _failed(build: IndexBuild, exc: Exception, language: str) -> str:
    """The warning (logged, and returned) for a concurrent build that failed."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if build.kind == "search_index":
        meanwhile = "search works, " + ("with the index it had" if build.replaces else "by reading the table")
    else:
        meanwhile = "Trellis works, more slowly where it would read this index"
    log.warning(
        "The %s %s of %s was not built: %s. The config is applied and %s; run `trellis apply` again to build it.",
        build.kind.replace("_", " "),
        build.index,
        build.label,
        reason,
        meanwhile,
    )
    code = f"{build.kind}.failed_kept" if build.replaces else f"{build.kind}.failed"
    return message(code, language, object=build.label, index=build.index, reason=reason)


def _drop_concurrently(conn: sa.Connection, index: str, what: str) -> None:
    """Drop ``index`` without locking writers out — what a failed build left, or the index a new one
    replaces (best effort: the next apply drops it otherwise)."""
    try:
        conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {conn.dialect.identifier_preparer.quote(index)}")
    except sa.exc.DBAPIError:
        log.warning("%s %s is left in place; the next `trellis apply` drops it.", what, index)
