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
``CREATE INDEX CONCURRENTLY`` (``concurrent.build_concurrently``, which also says
what a failed build leaves), so that writers are not locked out while the GIN
index reads a large table; search reads the table until it is ready (the schema
fingerprint covers which fields are searched, not the live index, so the web
keeps serving). An INVALID search index (``pg_index.indisvalid``: a failed
build's) is seen here as stale: dropped and rebuilt.

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
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime.messages import current_language
from engine.runtime.migrate.concurrent import IndexBuild
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
            planner.builds.append(IndexBuild(obj.label.get(current_language()), wanted, concurrent, kept))


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
