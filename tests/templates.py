"""A database at a config without planning its apply again in every test.

Applying a config to an empty database is the same work in every test that opens that
config: compare with the live (empty) database, plan, create each table, index and
constraint, record the version. ``apply_fresh(crm)`` does that work once per config and
process and then repeats its result:

* on SQLite, the first apply goes into a template file, copied for each later test;
* on PostgreSQL, the statements the first apply sent (``CREATE TABLE``… and the version
  row; every name unqualified, the schema coming from ``search_path``) are sent again in
  the new schema, in one transaction (the DDL as one script) — or, cheaper still, a schema
  of the config recycled from an earlier test takes the test's schema's name.

Recycling (PostgreSQL): creating some two hundred tables, indexes and constraints and dropping
them again after the test cost the server about a second per test, most of the PostgreSQL
run. When a test ends, ``recycle`` keeps its schema for the next test of its config unless
the test changed its DDL: an event trigger of the test database (``watch_ddl``, installed
once; tests/test_templates.py proves it) notes the name of every schema a DDL command
creates, alters or drops something in, so finding out is one indexed look-up instead of
reading the schema's whole catalogue back. A schema some test's DDL touched after
``apply_fresh`` is dropped as before; the others have every table emptied, the rows and
sequence values of a pristine copy made once per config (the *golden* schema) put back,
and wait in a pool for the next test of that config. Without the trigger (a user who may
not create one) every schema is dropped.

Either way, the version row then gets what this apply would have recorded (the config's
source path, the time, ``applied_by``), so the database is the one ``crm.apply()`` leaves
(tests/test_templates.py compares the two on both databases). A database that is not
empty, or a config the tests have not met before, gets a real apply.

Tests of the migration itself (tests/runtime/test_migrate.py) and tests that change how
an apply works (a monkeypatched planner) call ``crm.apply()``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import sqlite3
import tempfile
import threading
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine import Trellis
from engine.runtime import migrate
from engine.runtime.database import create_engine
from engine.runtime.migrate.versions import VERSIONS_TABLE


@dataclass(frozen=True)
class _Template:
    """What the first apply of a config left: its plan, and its SQLite file or statements."""

    plan: migrate.Plan
    path: Path | None = None
    statements: tuple[tuple[str, Any], ...] = ()
    #: PostgreSQL: the pristine schema, its tables, those holding rows and the sequences.
    golden: str | None = None
    tables: tuple[str, ...] = ()
    filled: tuple[str, ...] = ()
    sequences: tuple[tuple[str, int, bool], ...] = ()


_templates: dict[tuple[str, str], _Template] = {}
_lock = threading.Lock()
_folder: Path | None = None
#: PostgreSQL schemas ready for the next test of a config, and which config a test's schema has.
_pool: dict[tuple[str, str], list[str]] = {}
_owner: dict[str, tuple[str, str]] = {}
#: Recycled schemas kept per config at most (one per test running at a time is enough).
POOL_SIZE = 2


def apply_fresh(crm: Trellis, applied_by: str | None = None) -> migrate.Plan:
    """``crm.apply(applied_by=…)`` on the test's empty database, from the template of its config."""
    dialect = crm.engine.dialect.name
    if dialect not in ("sqlite", "postgresql") or not _empty(crm.engine):
        return crm.apply(applied_by=applied_by)
    key = (dialect, crm.config.content_hash)
    with _lock:
        template = _templates.get(key)
        if template is None:
            if dialect == "postgresql":  # the first apply runs in this very schema
                plan, statements = _apply_postgresql(crm, applied_by)
                if statements is not None:
                    _templates[key] = _golden(crm, _Template(plan, statements=statements))
                    schema = _current_schema(crm.engine)
                    with crm.engine.begin() as conn:  # the apply's own DDL is no change by the test
                        _forget(conn, schema)
                    _owner[schema] = key
                return plan
            template = _templates[key] = _make_sqlite(crm)
        recycled = _pool.get(key, []).pop() if _pool.get(key) else None
    if dialect == "sqlite":
        _copy_sqlite(template.path, crm.engine)
    else:
        schema = _current_schema(crm.engine)
        with crm.engine.begin() as conn:
            if recycled is not None:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}"; ALTER SCHEMA "{recycled}" RENAME TO "{schema}"')
            else:
                for statement, parameters in template.statements:
                    conn.exec_driver_sql(statement, parameters)
            _forget(conn, schema)  # what the trigger noted of this DDL: from here on, it is the test's
        _owner[schema] = key
    _record(crm, applied_by)
    return template.plan


def _current_schema(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT current_schema()").scalar())


def _golden(crm: Trellis, template: _Template) -> _Template:
    """Replay the template into a schema of its own that no test touches, and note its tables,
    those holding rows and the sequences' values: what ``release`` restores."""
    golden = f"g_{crm.config.content_hash[:12]}_{uuid.uuid4().hex[:6]}"
    with crm.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{golden}"; SET LOCAL search_path TO "{golden}"')
        for statement, parameters in template.statements:
            conn.exec_driver_sql(statement, parameters)
        tables = _tables(conn, golden)
        filled = tuple(
            t for t in tables if conn.exec_driver_sql(f'SELECT EXISTS (SELECT FROM "{golden}"."{t}")').scalar()
        )
        sequences = _sequences(conn, golden)
    _leftovers.append((crm.engine.url, golden))
    return replace(template, golden=golden, tables=tuple(tables), filled=filled, sequences=sequences)


def _tables(conn: sa.Connection, schema: str) -> list[str]:
    return list(
        conn.exec_driver_sql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') ORDER BY 1",
            {"schema": schema},
        ).scalars()
    )


def _sequences(conn: sa.Connection, schema: str) -> tuple[tuple[str, int, bool], ...]:
    """Each sequence with the value ``setval`` restores (its start, not yet called, when unused)."""
    rows = conn.exec_driver_sql(
        "SELECT sequencename, last_value, start_value FROM pg_sequences WHERE schemaname = %(schema)s ORDER BY 1",
        {"schema": schema},
    )
    return tuple((name, int(last if last is not None else start), last is not None) for name, last, start in rows)


#: The test database's DDL watch: an event trigger noting each schema named ``t_…`` (a test's,
#: tests/conftest.py) that a DDL command created, altered or dropped something in (columns,
#: defaults, constraints, indexes, triggers, functions, comments, sequences…). It stays in the
#: database for every later run (its name carries a version: a changed definition gets new
#: names); the function is its owner's (SECURITY DEFINER), so DDL of any user is noted.
WATCH = "trellis_test_ddl"
_WATCH_TABLE = f"{WATCH}.touched_v1"
_WATCH_TRIGGERS = ("trellis_test_ddl_end_v1", "trellis_test_ddl_drop_v1")
_WATCH_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {WATCH};
CREATE UNLOGGED TABLE IF NOT EXISTS {_WATCH_TABLE} (schema_name text NOT NULL);
CREATE INDEX IF NOT EXISTS touched_v1_schema ON {_WATCH_TABLE} (schema_name);
CREATE OR REPLACE FUNCTION {WATCH}.note_v1() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog AS $body$
BEGIN
  IF tg_event = 'sql_drop' THEN
    INSERT INTO {_WATCH_TABLE} SELECT DISTINCT o.schema_name FROM pg_event_trigger_dropped_objects() o
    WHERE starts_with(o.schema_name, 't_')
      AND NOT EXISTS (SELECT FROM {_WATCH_TABLE} w WHERE w.schema_name = o.schema_name);
  ELSE
    INSERT INTO {_WATCH_TABLE} SELECT DISTINCT c.schema_name FROM pg_event_trigger_ddl_commands() c
    WHERE starts_with(c.schema_name, 't_')
      AND NOT EXISTS (SELECT FROM {_WATCH_TABLE} w WHERE w.schema_name = c.schema_name);
  END IF;
EXCEPTION WHEN undefined_table THEN
  NULL;  -- the table dropped by hand: no DDL of the database fails for it (release fails instead)
END
$body$;
"""
#: Whether the test database's DDL watch is in place (None: not asked yet; one database per process).
_watching: bool | None = None


def watch_ddl(engine: sa.Engine) -> bool:
    """Install the DDL watch in the test database unless there already (once per process; an
    advisory lock keeps two test runs from installing it at once). False when it cannot be
    installed: only superusers create event triggers; ``release`` then drops every schema."""
    global _watching
    if _watching is None:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('trellis tests: DDL watch'))")
                present = set(
                    conn.exec_driver_sql(
                        "SELECT evtname FROM pg_event_trigger WHERE evtname = ANY(%(names)s) AND evtenabled = 'A'",
                        {"names": list(_WATCH_TRIGGERS)},
                    ).scalars()
                )
                if present != set(_WATCH_TRIGGERS):
                    conn.exec_driver_sql(_WATCH_SQL)
                    for name, event in zip(_WATCH_TRIGGERS, ("ddl_command_end", "sql_drop"), strict=True):
                        conn.exec_driver_sql(f'DROP EVENT TRIGGER IF EXISTS "{name}"')
                        conn.exec_driver_sql(
                            f'CREATE EVENT TRIGGER "{name}" ON {event} EXECUTE FUNCTION {WATCH}.note_v1()'
                        )
                        # also while session_replication_role = replica (release sets it, as may a test)
                        conn.exec_driver_sql(f'ALTER EVENT TRIGGER "{name}" ENABLE ALWAYS')
                # what interrupted runs noted of schemas gone since
                conn.exec_driver_sql(
                    f"DELETE FROM {_WATCH_TABLE} w WHERE NOT EXISTS "
                    "(SELECT FROM pg_namespace n WHERE n.nspname = w.schema_name)"
                )
            _watching = True
        except sa.exc.DBAPIError:
            _watching = False
    return _watching


def _forget(conn: sa.Connection, schema: str) -> bool:
    """Forget what the DDL watch noted of ``schema``; whether it had noted anything."""
    if not _watching:
        return True
    touched = conn.exec_driver_sql(
        f"DELETE FROM {_WATCH_TABLE} WHERE schema_name = %(schema)s RETURNING 1", {"schema": schema}
    ).first()
    return touched is not None


def release(conn: sa.Connection, schema: str) -> None:
    """At a test's end: recycle its schema (``_recycle``) or drop it. ``conn``: a connection of a
    user allowed to change every test schema, inside a transaction."""
    if not _recycle(conn, schema):
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        _forget(conn, schema)  # the drop was noted too


def _recycle(conn: sa.Connection, schema: str) -> bool:
    """Keep a test's schema for the next test of its config when no DDL touched it since
    ``apply_fresh``: every table emptied, the golden schema's rows and sequence values put back,
    then renamed into the pool. False (drop it) otherwise."""
    with _lock:
        key = _owner.pop(schema, None)
        template = _templates.get(key) if key else None
        if key is None or template is None or template.golden is None or len(_pool.get(key, [])) >= POOL_SIZE:
            return False
    if not _watching or _forget(conn, schema):
        return False
    # DELETE, not TRUNCATE: a test's tables hold a handful of rows, and TRUNCATE makes new files
    # for every table (half a second for a sample config). Foreign keys are not checked meanwhile.
    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    script = [f'DELETE FROM "{schema}"."{table}"' for table in template.tables]
    script += [f'INSERT INTO "{schema}"."{t}" SELECT * FROM "{template.golden}"."{t}"' for t in template.filled]
    conn.exec_driver_sql(";\n".join(script))
    if template.sequences:
        restore = ", ".join(
            f'setval(\'"{schema}"."{name}"\', {value}, {str(called).lower()})'
            for name, value, called in template.sequences
        )
        conn.exec_driver_sql(f"SELECT {restore}")
    conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
    spare = f"p_{uuid.uuid4().hex[:12]}"
    conn.exec_driver_sql(f'ALTER SCHEMA "{schema}" RENAME TO "{spare}"')
    with _lock:
        _pool.setdefault(key, []).append(spare)
        _leftovers.append((None, spare))
    return True


#: Schemas of this process dropped when it ends: the golden ones and the pool.
_leftovers: list[tuple[Any, str]] = []


@atexit.register
def _drop_leftovers() -> None:
    url = next((u for u, _ in _leftovers if u is not None), None)
    if url is None:
        return
    engine = sa.create_engine(url)
    try:
        for _, schema in _leftovers:  # one transaction each: dropping hundreds at once runs out of locks
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except sa.exc.DBAPIError:
        pass  # the server went first; the schemas stay in the throwaway test database
    finally:
        engine.dispose()


def _empty(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            count = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
        else:
            count = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema()"
            ).scalar()
    return count == 0


def _make_sqlite(crm: Trellis) -> _Template:
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="trellis-templates-"))
        atexit.register(shutil.rmtree, _folder, True)
    path = _folder / f"{crm.config.content_hash}.db"
    template = create_engine(f"sqlite:///{path}")
    try:
        plan = migrate.apply(template, crm.config)
    finally:
        template.dispose()  # the last connection checkpoints the WAL into the file
    return _Template(plan, path=path)


def _copy_sqlite(template: Path, engine: sa.Engine) -> None:
    """Copy the template into the test's file (sqlite3's online backup: safe with the
    test's engine holding connections to the still empty file)."""
    source, target = sqlite3.connect(template), sqlite3.connect(engine.url.database)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _apply_postgresql(crm: Trellis, applied_by: str | None) -> tuple[migrate.Plan, tuple | None]:
    """Apply for real in the test's schema; the plan and every statement that changed something
    (None when one names the schema, as it cannot be sent to another schema, or when the apply
    created the search extension, which a later apply finds and does not plan)."""
    sent: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if not statement.lstrip().upper().startswith("SELECT"):  # reads: reflection, the apply lock
            sent.append((statement, parameters if parameters else None))

    with crm.engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    sa.event.listen(crm.engine, "before_cursor_execute", keep)
    try:
        plan = crm.apply(applied_by=applied_by)
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", keep)
    if any(schema in statement or schema in repr(parameters) for statement, parameters in sent):
        return plan, None
    if any(statement.lstrip().upper().startswith("CREATE EXTENSION") for statement, _ in sent):
        return plan, None  # the database's first apply; the next ones find the extension there
    return plan, _batched(sent)


def _batched(sent: list[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """The statements in their order, each run of statements without parameters joined into
    one script: one round trip (and one parse on each side) instead of two hundred."""
    batched: list[tuple[str, Any]] = []
    for statement, parameters in sent:
        if parameters is None and batched and batched[-1][1] is None:
            batched[-1] = (f"{batched[-1][0]};\n{statement}", None)
        else:
            batched.append((statement, parameters))
    return tuple(batched)


def _record(crm: Trellis, applied_by: str | None) -> None:
    """What this apply records in its version row: the config's path, now, who applied it."""
    table = crm.schema.system[VERSIONS_TABLE]
    with crm.engine.begin() as conn:
        updated = conn.execute(
            sa.update(table).values(
                source_path=crm.config.source_path, applied_at=dt.datetime.now(dt.UTC), applied_by=applied_by
            )
        )
    assert updated.rowcount == 1, f"{VERSIONS_TABLE} should hold the one version of the template"
