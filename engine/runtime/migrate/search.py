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
is stale and is dropped (before columns change), and a missing one is created
(after they have). Their steps are listed apart, as ``Plan.search_indexes``.

``pg_trgm`` is created when missing (``CREATE EXTENSION``, in ``public`` when
that schema exists so that it outlives any one Trellis schema, else in the
current schema). When it cannot be — the role may not create extensions, or the
server lacks ``contrib`` — a warning is logged, no search index is planned, and
search works as before, by reading the table. SQLite has no such index:
``LIKE '%text%'`` reads the table there (about 100 ms per 100,000 rows, see
docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

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


def _plan_search_indexes(planner: _Planner) -> None:
    """Plan creating the missing search indexes and dropping stale ones (PostgreSQL only)."""
    conn = planner.conn
    if conn.dialect.name != "postgresql":
        return
    schema = _trigram_schema(conn) or _create_extension(planner)
    if schema is None:
        return
    live = _live_search_indexes(conn)
    for obj in planner.config.objects.values():
        table = planner.schema.table(obj.name)
        names = [f.name for f in search_fields(obj)]
        wanted = search_index_name(table, names, conn.dialect) if names else None
        for stale in sorted(live.get(table.name, set()) - {wanted}):
            drop = f"DROP INDEX {conn.dialect.identifier_preparer.quote(stale)}"
            planner.add(
                UNCONSTRAIN,
                table.name,
                Step("drop_search_index", table.name, None, f"drop search index {stale} of {table.name}"),
                sql=partial(_execute, drop),
                search=True,
            )
        if wanted and wanted not in live.get(table.name, set()):
            ddl = _create_index_sql(conn.dialect, table, names, wanted, schema)
            planner.add(
                ALTER,
                table.name,
                Step(
                    "add_search_index",
                    table.name,
                    None,
                    f"add search index {wanted} on {table.name} ({', '.join(names)})",
                ),
                sql=partial(_execute, ddl),
                order=10,
                search=True,
            )


def _execute(sql: str, conn: sa.Connection) -> None:
    """Run one DDL statement as written (a migration action's ``sql``)."""
    conn.exec_driver_sql(sql)


def _trigram_schema(conn: sa.Connection) -> str | None:
    """The schema ``pg_trgm`` is installed in, or None."""
    return conn.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = :name"
        ),
        {"name": EXTENSION},
    ).scalar()


def _create_extension(planner: _Planner) -> str | None:
    """Create ``pg_trgm`` now (a plan rolls it back with the rest); None, logged, when it cannot be."""
    conn = planner.conn
    has_public = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")).scalar()
    statements = [f"CREATE EXTENSION IF NOT EXISTS {EXTENSION} SCHEMA public"] if has_public else []
    statements.append(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
    reason = ""
    for statement in statements:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        schema = _trigram_schema(conn)  # also when another apply created it meanwhile
        if schema is not None:
            planner.add(
                0,
                "",
                Step(
                    "create_extension",
                    "",
                    None,
                    f"create extension {EXTENSION} in schema {schema} (for the search indexes)",
                ),
                search=True,
            )
            return schema
    log.warning(
        "Search indexes are not created: the PostgreSQL extension %s is not installed and cannot be "
        "created (%s). Search still works, by reading whole tables, which is slow on large ones. "
        "Have a database superuser run `CREATE EXTENSION %s;` in this database, then run "
        "`trellis apply` again.",
        EXTENSION,
        reason,
        EXTENSION,
    )
    return None


def _live_search_indexes(conn: sa.Connection) -> dict[str, set[str]]:
    """The search indexes (by name) on each Trellis table of the current schema."""
    rows = conn.execute(sa.text("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()"))
    live: dict[str, set[str]] = {}
    for table, name in rows:
        if table.startswith("obj_") and re.match(SEARCH_INDEX_PATTERN, name):
            live.setdefault(table, set()).add(name)
    return live


def _create_index_sql(dialect: sa.Dialect, table: sa.Table, names: list[str], index: str, schema: str) -> str:
    """``CREATE INDEX … USING gin (<search_document> <schema>.gin_trgm_ops)``."""
    quote = dialect.identifier_preparer.quote
    expression = search_document(table, names).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return f"CREATE INDEX {quote(index)} ON {quote(table.name)} USING gin (({expression}) {quote(schema)}.gin_trgm_ops)"
