"""The search indexes on PostgreSQL: one trigram index per object, kept in step with its config.

``Query.search`` matches ``LIKE '%text%'`` against ``tables.search_document`` —
the object's searchable text fields, lower-cased, in one string — and a GIN
index with the ``gin_trgm_ops`` operator class of the ``pg_trgm`` extension on
exactly that expression answers such a pattern without reading the table.

Alembic cannot compare expression indexes reliably (it would see a change on
every plan), so these indexes are kept out of its comparison
(``compare._include_object``) and out of the ``MetaData``. They are kept here by
name instead: the name holds a hash of the indexed columns and their types
(``tables.search_index_name``), so an index whose name is not the expected one
is stale and is dropped (before columns change, in the apply's transaction: a
quick catalogue change), and a missing one is created. Their steps are listed
apart, as ``Plan.search_indexes``.

A missing index on a table the apply creates is built in the transaction (the
table is empty). On an existing table it is built **after the commit**, with
``CREATE INDEX CONCURRENTLY`` on an autocommit connection (``build_concurrently``),
so that writers are not locked out while the GIN index reads a large table;
search reads the table until it is ready (the schema fingerprint covers which
fields are searched, not the live index, so the web keeps serving). Such a build
waits for the transactions older than it; one that fails leaves an INVALID
index (``pg_index.indisvalid``), which is dropped at once when possible, and
which the next ``plan`` and ``apply`` see as stale: they drop and rebuild it.
A failed build does not fail the apply (the schema change is committed): it is
logged and returned as a warning naming the fix, ``trellis apply`` again.

The index holds the record's owner beside its text — ``USING gin (owner_id,
(<search_document>) gin_trgm_ops)``, ``owner_id`` through the ``btree_gin``
extension — so that a rep's search (``owner_id = …``) and a team's (``owner_id
IN (…)``) find their matches in one index scan, where a trigram index alone and
the owner's list index had to be combined (a ``BitmapAnd`` that read every match
of the text in the whole table and every record of the owners: seconds at
10,000,000 records, docs/benchmarks.md). A GIN index serves any subset of its
columns, so a user who reads every record is served by its text alone. An
index of the same fields without the owner (what Trellis built before) is
replaced by the one with it: dropped only once the new one is built
(``SearchBuild.replaces``), so search keeps an index meanwhile.

``pg_trgm`` and ``btree_gin`` are created when missing (``CREATE EXTENSION``, in
``public`` when that schema exists so that they outlive any one Trellis schema,
else in the current schema). When ``pg_trgm`` cannot be — the role may not
create extensions, or the server lacks ``contrib`` — a warning is logged, no
search index is planned, and search works as before, by reading the table. When
``btree_gin`` cannot be, a warning is logged and the index is the trigram index
alone (as before; search is right, slower for one owner or a team on a large
table). SQLite has no such index: FTS5 serves it there (``migrate/fulltext.py``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime.messages import current_language, message
from engine.runtime.migrate.execute import ALTER, UNCONSTRAIN
from engine.runtime.migrate.model import Step
from engine.runtime.tables import (
    SEARCH_INDEX_PATTERN,
    search_document,
    search_fields,
    search_index_name,
)

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner

log = logging.getLogger(__name__)

#: The PostgreSQL extension providing the trigram operator class.
EXTENSION = "pg_trgm"
#: The PostgreSQL extension that lets a GIN index hold plain columns (``OWNER_COLUMNS``) too.
OWNER_EXTENSION = "btree_gin"
#: The columns the search index holds beside the text when ``OWNER_EXTENSION`` is there.
OWNER_COLUMNS = ("owner_id",)
DEADLOCK = "40P01"  # SQLSTATE deadlock_detected
DEADLOCK_TRIES = 3
#: Seconds between two tries of the apply's advisory lock (``locked_transaction``).
LOCK_POLL = 0.2


@dataclass(frozen=True)
class SearchBuild:
    """A search index to build after the apply's commit: ``CREATE INDEX CONCURRENTLY`` ``ddl``."""

    label: str
    index: str
    ddl: str
    #: An index of the same fields without the owner, dropped once this one is built.
    replaces: str | None = None


def _plan_search_indexes(planner: _Planner) -> None:
    """Plan creating the missing search indexes and dropping stale ones (PostgreSQL only)."""
    conn = planner.conn
    if conn.dialect.name != "postgresql":
        return
    schema = _extension_schema(conn, EXTENSION) or _create_extension(planner, EXTENSION, _NO_TRIGRAMS)
    if schema is None:
        return
    with_owner = _extension_schema(conn, OWNER_EXTENSION) or _create_extension(planner, OWNER_EXTENSION, _NO_OWNER)
    leading = OWNER_COLUMNS if with_owner else ()
    live, invalid = _live_search_indexes(conn)
    quote = conn.dialect.identifier_preparer.quote
    for obj in planner.config.objects.values():
        table = planner.schema.table(obj.name)
        names = [f.name for f in search_fields(obj)]
        wanted = search_index_name(table, names, conn.dialect, leading) if names else None
        building = bool(wanted) and wanted not in live.get(table.name, set()) and table.name not in planner.created
        # The same fields' index without the owner serves search until the new one is built.
        kept = search_index_name(table, names, conn.dialect) if names and leading and building else None
        kept = kept if kept in live.get(table.name, set()) else None
        for stale in sorted(live.get(table.name, set()) - {wanted}) + sorted(invalid.get(table.name, set())):
            what = "invalid search index" if stale in invalid.get(table.name, set()) else "search index"
            if stale == kept:
                planner.add(
                    UNCONSTRAIN,
                    table.name,
                    Step(
                        "drop_search_index",
                        table.name,
                        None,
                        f"drop {what} {stale} of {table.name}, once {wanted} is built",
                    ),
                    search=True,
                )
                continue
            planner.add(
                UNCONSTRAIN,
                table.name,
                Step("drop_search_index", table.name, None, f"drop {what} {stale} of {table.name}"),
                sql=partial(_execute, f"DROP INDEX {quote(stale)}"),
                search=True,
            )
        if wanted and wanted not in live.get(table.name, set()):
            ddl = _create_index_sql(conn.dialect, table, names, wanted, schema, leading=leading)
            text = f"add search index {wanted} on {table.name} ({', '.join([*leading, *names])})"
            step = Step("add_search_index", table.name, None, text)
            if not building:  # a table this apply creates is empty: built in the transaction, at no cost
                planner.add(ALTER, table.name, step, sql=partial(_execute, ddl), order=10, search=True)
                continue
            planner.add(
                ALTER,
                table.name,
                Step(step.kind, step.table, None, f"{text}, after the commit, concurrently"),
                search=True,
            )
            concurrent = ddl.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
            planner.builds.append(SearchBuild(obj.label.get(current_language()), wanted, concurrent, kept))


def build_concurrently(
    engine: sa.Engine, builds: list[SearchBuild], lock: int, progress: Callable[[str], None] | None = None
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
                        progress(message("search_index.building", language, object=build.label))
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


def _build_one(conn: sa.Connection, build: SearchBuild) -> sa.exc.DBAPIError | None:
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
            _drop_concurrently(conn, build.index, "The invalid search index")
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_TRIES:
                return exc
            log.info("The search index %s met a deadlock; building it again (try %d).", build.index, attempt + 1)
    return None  # pragma: no cover - the loop returns


def _failed(build: SearchBuild, exc: Exception, language: str) -> str:
    """The warning (logged, and returned) for a concurrent build that failed."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    meanwhile = "with the index it had" if build.replaces else "by reading the table"
    log.warning(
        "The search index %s of %s was not built: %s. The config is applied and search works, %s; "
        "run `trellis apply` again to build it.",
        build.index,
        build.label,
        reason,
        meanwhile,
    )
    code = "search_index.failed_kept" if build.replaces else "search_index.failed"
    return message(code, language, object=build.label, reason=reason)


def _drop_concurrently(conn: sa.Connection, index: str, what: str) -> None:
    """Drop ``index`` without locking writers out — what a failed build left, or the index a new one
    replaces (best effort: the next apply drops it otherwise)."""
    try:
        conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {conn.dialect.identifier_preparer.quote(index)}")
    except sa.exc.DBAPIError:
        log.warning("%s %s is left in place; the next `trellis apply` drops it.", what, index)


def _execute(sql: str, conn: sa.Connection) -> None:
    """Run one DDL statement as written (a migration action's ``sql``)."""
    conn.exec_driver_sql(sql)


def _extension_schema(conn: sa.Connection, extension: str) -> str | None:
    """The schema ``extension`` is installed in, or None."""
    return conn.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = :name"
        ),
        {"name": extension},
    ).scalar()


#: What is logged when ``pg_trgm`` cannot be created (its name, the reason, its name).
_NO_TRIGRAMS = (
    "Search indexes are not created: the PostgreSQL extension %s is not installed and cannot be "
    "created (%s). Search still works, by reading whole tables, which is slow on large ones. "
    "Have a database superuser run `CREATE EXTENSION %s;` in this database, then run "
    "`trellis apply` again."
)
#: What is logged when ``btree_gin`` cannot be created (its name, the reason, its name).
_NO_OWNER = (
    "Search indexes are built without the owner: the PostgreSQL extension %s is not installed and "
    "cannot be created (%s). Search works; a rep's or a team's search on a large table is slower "
    "(two indexes combined instead of one). Have a database superuser run `CREATE EXTENSION %s;` "
    "in this database, then run `trellis apply` again."
)


def _create_extension(planner: _Planner, extension: str, missing: str) -> str | None:
    """Create ``extension`` now (a plan rolls it back with the rest); None, logged (``missing``),
    when it cannot be."""
    conn = planner.conn
    has_public = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")).scalar()
    statements = [f"CREATE EXTENSION IF NOT EXISTS {extension} SCHEMA public"] if has_public else []
    statements.append(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    reason = ""
    for statement in statements:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        schema = _extension_schema(conn, extension)  # also when another apply created it meanwhile
        if schema is not None:
            planner.add(
                0,
                "",
                Step(
                    "create_extension",
                    "",
                    None,
                    f"create extension {extension} in schema {schema} (for the search indexes)",
                ),
                search=True,
            )
            return schema
    log.warning(missing, extension, reason, extension)
    return None


def _live_search_indexes(conn: sa.Connection) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The valid and the INVALID search indexes (by name) on each Trellis table of the current schema.

    An invalid one is what a failed (or a still running) ``CREATE INDEX CONCURRENTLY`` leaves."""
    rows = conn.execute(
        sa.text(
            "SELECT t.relname, i.relname, x.indisvalid FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace"
        )
    )
    valid: dict[str, set[str]] = {}
    invalid: dict[str, set[str]] = {}
    for table, name, ok in rows:
        if table.startswith("obj_") and re.match(SEARCH_INDEX_PATTERN, name):
            (valid if ok else invalid).setdefault(table, set()).add(name)
    return valid, invalid


def _create_index_sql(
    dialect: sa.Dialect, table: sa.Table, names: list[str], index: str, schema: str, leading: tuple[str, ...] = ()
) -> str:
    """``CREATE INDEX … USING gin (<leading columns>, (<search_document>) <schema>.gin_trgm_ops)``;
    the leading columns (``owner_id``) take ``btree_gin``'s default operator class."""
    quote = dialect.identifier_preparer.quote
    expression = search_document(table, names).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    columns = "".join(f"{quote(name)}, " for name in leading)
    return (
        f"CREATE INDEX {quote(index)} ON {quote(table.name)} "
        f"USING gin ({columns}({expression}) {quote(schema)}.gin_trgm_ops)"
    )
