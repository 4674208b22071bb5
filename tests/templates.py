"""A database at a config without planning its apply again in every test.

Applying a config to an empty database is the same work in every test that opens that
config: compare with the live (empty) database, plan, create each table, index and
constraint, record the version. ``apply_fresh(crm)`` does that work once per config and
process and then repeats its result:

* on SQLite, the first apply goes into a template file, copied for each later test;
* on PostgreSQL, the statements the first apply sent (``CREATE TABLE``… and the version
  row; every name unqualified, the schema coming from ``search_path``) are sent again in
  the new schema, in one transaction (the DDL as one script).

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
from dataclasses import dataclass
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


_templates: dict[tuple[str, str], _Template] = {}
_lock = threading.Lock()
_folder: Path | None = None


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
                    _templates[key] = _Template(plan, statements=statements)
                return plan
            template = _templates[key] = _make_sqlite(crm)
    if dialect == "sqlite":
        _copy_sqlite(template.path, crm.engine)
    else:
        with crm.engine.begin() as conn:
            for statement, parameters in template.statements:
                conn.exec_driver_sql(statement, parameters)
    _record(crm, applied_by)
    return template.plan


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
