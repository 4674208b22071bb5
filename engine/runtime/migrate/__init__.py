"""Safe schema changes: bring the database to a config, refusing to lose data silently.

The pipeline, for both ``plan`` and ``apply``, runs on one connection in one
transaction:

1. **Renames.** ``renamed_from`` on an object or a field renames the live table
   or column (``obj_old`` → ``obj_new``) so that the comparison below sees
   the data under its new name. These are cheap catalogue changes; ``plan``
   rolls them back with everything else.
2. **Compare.** Alembic compares the compiled config (``build_schema``) with
   the live database, looking only at the tables Trellis owns (``obj_*``,
   ``sys_*``), and returns typed operations (``AddColumnOp``, ``AlterColumnOp``…).
3. **Data checks**, before any other DDL: each operation that could lose or
   break data counts the rows concerned and either plans a data fix (a default
   for a newly required field, ``migrate_values`` for removed picklist values)
   or adds a ``Refusal`` with the count. Some refusals are lifted by
   ``allow_data_loss``; the others need the data or the config fixed first.
4. **Ordered operations**: renames, new tables (in foreign-key order), added
   columns (always nullable at first), dropped indexes and constraints, value
   rewrites, type changes, default backfills, NOT NULL and new indexes,
   constraints and foreign keys, dropped columns, dropped tables. On SQLite
   every table change goes through Alembic's batch mode, which rebuilds the
   table when SQLite cannot ALTER it.
5. **One transaction**: ``apply`` runs it all, checks foreign keys, records
   the config in ``sys_config_versions`` and commits; any error rolls back the
   whole apply (DDL included, on SQLite and PostgreSQL alike), leaving the
   database exactly as it was. ``plan`` always rolls back. On PostgreSQL an
   advisory lock keeps two applies from interleaving.
6. **After the commit** (PostgreSQL): the indexes new on existing tables (search
   indexes and plain ones) are built with ``CREATE INDEX CONCURRENTLY``, not locking
   writers out (``concurrent``); a build that fails is a warning (``Plan.warnings``),
   healed by the next apply.

Only ``obj_*`` and ``sys_*`` tables are looked at; ``sys_*`` tables are only
ever created or extended here, never dropped or narrowed, since other parts of
Trellis may add to them.

``history``, ``load_version`` and ``rollback`` read and re-apply the stored
config versions; a rollback passes through the same data checks and lists what
it cannot bring back (``Plan.not_restored``). ``check_current`` tells whether
the database was brought to a config: whether the latest version's schema
fingerprint (``fingerprint``) is the config's.

The package, one job per module: ``model`` holds the public types, ``compare``
asks Alembic for the differences (step 2), ``planner`` turns them into checked,
ordered actions (steps 1 to 4, with ``renames``, ``columns`` and ``picklists``,
and ``counting`` for the row counts, and ``search`` for the PostgreSQL search
indexes, which Alembic does not compare, ``fulltext`` for SQLite's (FTS5 tables kept by
triggers, made in the transaction), and ``autoincrement`` for SQLite tables
made before ids were never reused), ``execute`` runs the actions,
``versions`` keeps ``sys_config_versions`` and ``fingerprint`` hashes the part of
a config that decides the schema. ``_run`` below ties them together
in one transaction (step 5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import sqlalchemy as sa

from engine.metadata import Config
from engine.runtime.database import foreign_keys_deferred
from engine.runtime.migrate.concurrent import build_concurrently, locked_transaction
from engine.runtime.migrate.execute import _check_foreign_keys, _execute
from engine.runtime.migrate.model import (
    DatabaseOutOfDate,
    MigrationFailed,
    MigrationRefused,
    Plan,
    Refusal,
    Step,
    UnknownVersion,
    VersionInfo,
)
from engine.runtime.migrate.planner import _Planner
from engine.runtime.migrate.versions import (
    _losses_since,
    _record_version,
    check_current,
    history,
    latest_version_id,
    load_version,
)
from engine.runtime.tables import build_schema

__all__ = [
    "DatabaseOutOfDate",
    "MigrationFailed",
    "MigrationRefused",
    "Plan",
    "Refusal",
    "Step",
    "UnknownVersion",
    "VersionInfo",
    "apply",
    "check_current",
    "history",
    "latest_version_id",
    "load_version",
    "plan",
    "rollback",
]

#: Key of the PostgreSQL advisory lock held by an apply ("trellis" in ASCII).
APPLY_LOCK = 0x7472656C6C6973


# --- entry points --------------------------------------------------------------------


def plan(engine: sa.Engine, config: Config, allow_data_loss: bool = False) -> Plan:
    """What ``apply`` would do to the database now; changes nothing."""
    return _run(engine, config, allow_data_loss, execute=False)


def apply(
    engine: sa.Engine,
    config: Config,
    allow_data_loss: bool = False,
    applied_by: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Bring the database to ``config`` in one transaction and record the version; then, on
    PostgreSQL, build the new indexes of existing tables concurrently (``concurrent``), telling
    ``progress`` about each. A build that fails is in the plan's ``warnings``, not raised.

    Raises ``MigrationRefused`` (nothing changed) when a check refuses, and
    ``MigrationFailed`` (nothing changed) when the database rejects a step.
    """
    return _run(engine, config, allow_data_loss, execute=True, applied_by=applied_by, progress=progress)


def rollback(engine: sa.Engine, version_id: int, allow_data_loss: bool = False, applied_by: str | None = None) -> Plan:
    """Re-apply version ``version_id``'s config, under the same data checks, as a new version.

    The schema comes back, stored values dropped since do not: the plan's ``not_restored``
    names the fields and objects re-created empty and the later versions' lossy steps.
    """
    config = load_version(engine, version_id)
    with engine.connect() as conn:
        losses = _losses_since(conn, version_id)
    result = _run(
        engine, config, allow_data_loss, execute=True, applied_by=applied_by, note=f"rollback to version {version_id}"
    )
    empty = [
        f"{s.table[4:]}.{s.column} comes back empty"
        if s.kind == "add_column"
        else f"{s.table[4:]} comes back without records"
        for s in result.steps
        if s.kind in ("add_column", "create_table") and s.table.startswith("obj_")
    ]
    return replace(result, not_restored=(*empty, *losses))


# --- the pipeline -----------------------------------------------------------------------


def _run(
    engine: sa.Engine,
    config: Config,
    allow_data_loss: bool,
    execute: bool,
    applied_by: str | None = None,
    note: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Plan (and when ``execute``, apply) ``config`` in one transaction; see the module docstring.
    After the commit, the search indexes left to build concurrently are built.

    ``_record_version`` is looked up in this module, where the tests replace it
    to make an apply fail after all its steps.
    """
    schema = build_schema(config)
    with engine.connect() as conn, foreign_keys_deferred(conn):
        transaction = conn.begin()
        try:
            if execute and conn.dialect.name == "postgresql":
                transaction = locked_transaction(conn, transaction, APPLY_LOCK)
                # TRELLIS_DB_STATEMENT_TIMEOUT bounds requests; an index build on a large table
                # may take longer: none for this transaction.
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            planner = _Planner(conn, config, schema, allow_data_loss)
            result = planner.run()
            if execute:
                if result.refusals:
                    raise MigrationRefused(result.refusals, result)
                _execute(conn, planner.actions)
                _check_foreign_keys(conn)
                _record_version(conn, config, schema, result, applied_by, note, planner.latest_hash)
                transaction.commit()
            else:
                transaction.rollback()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    if execute and planner.builds:
        result = replace(result, warnings=build_concurrently(engine, planner.builds, APPLY_LOCK, progress))
    return result
