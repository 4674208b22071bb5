"""tests/templates.py's ``apply_fresh`` leaves the database a real apply leaves: the same
tables, columns, indexes, constraints, sequences and comments, and the same rows (the
version row's time aside), on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack, contextmanager

import pytest
import sqlalchemy as sa

from engine import Trellis
from engine.runtime import migrate
from engine.runtime.security import crypto
from tests.conftest import CONFIGS, fresh_database
from tests.templates import apply_fresh

POSTGRESQL_CATALOG = {
    "columns": """SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,
                         numeric_precision, numeric_scale, is_nullable, column_default, is_identity
                  FROM information_schema.columns WHERE table_schema = current_schema()""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
    "constraints": """SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid), c.condeferrable
                      FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                      JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema()""",
    "relations": """SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()""",
    "comments": """SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_attribute a
                   JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = current_schema() AND a.attnum > 0""",
    "sequences": """SELECT sequencename, data_type, start_value, increment_by, last_value
                    FROM pg_sequences WHERE schemaname = current_schema()""",
    "triggers": """SELECT event_object_table, trigger_name, action_timing, event_manipulation, action_statement
                   FROM information_schema.triggers WHERE trigger_schema = current_schema()""",
    "functions": """SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
                    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()""",
}


def snapshot(crm: Trellis) -> dict:
    """Everything in the database that an apply makes: catalogue and rows."""
    out: dict = {}
    with crm.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            out["master"] = sorted(conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all())
            out["pragmas"] = [
                conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                for p in ("journal_mode", "page_size", "user_version", "application_id", "auto_vacuum")
            ]
        else:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            for name, query in POSTGRESQL_CATALOG.items():  # pg_indexes names the schema
                out[name] = sorted(
                    (
                        tuple(v.replace(schema, "<schema>") if isinstance(v, str) else v for v in row)
                        for row in conn.exec_driver_sql(query)
                    ),
                    key=repr,
                )
        for table in sorted(sa.inspect(conn).get_table_names()):
            rows = [dict(row) for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"').mappings()]
            for row in rows:
                row.pop("applied_at" if table == "sys_config_versions" else "", None)  # the apply's time
            out[f"rows {table}"] = sorted(rows, key=repr)
    return out


@pytest.mark.parametrize("config", ["sample_saas.yaml", "sample_retail.yaml"])
def test_a_database_from_the_template_is_the_one_a_real_apply_makes(config, tmp_path, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    with ExitStack() as stack:

        def open_(name: str) -> Trellis:
            folder = tmp_path / name
            folder.mkdir()
            url = stack.enter_context(_contextualised(fresh_database(folder)))
            crm = Trellis.open(CONFIGS / config, url)
            stack.callback(crm.close)
            return crm

        # A database's first apply also creates PostgreSQL's search extension (a step more in
        # its plan); the others find it: this test compares those.
        open_("warm").apply()
        real, first, copied = open_("real"), open_("first"), open_("copied")
        real_plan = real.apply(applied_by="ops")
        assert apply_fresh(first, applied_by="ops") == real_plan  # the template is made
        assert apply_fresh(copied, applied_by="ops") == real_plan  # … and used
        expected = snapshot(real)
        assert snapshot(first) == expected
        assert snapshot(copied) == expected
        [version] = migrate.history(copied.engine)
        assert version.source_path == str(CONFIGS / config) and version.applied_by == "ops"
        applied_at = version.applied_at if version.applied_at.tzinfo else version.applied_at.replace(tzinfo=dt.UTC)
        assert dt.datetime.now(dt.UTC) - applied_at < dt.timedelta(minutes=5)
        # the copy is a database of its own: writes there change neither the template nor the others
        with copied.directory() as directory:
            directory.add_team("east")
        again = open_("again")
        apply_fresh(again, applied_by="ops")
        with again.directory() as directory:
            assert directory.list_teams() == []
        assert snapshot(again) == expected


@contextmanager
def _contextualised(generator):
    """A ``fresh_database`` generator as a context manager (dropped on exit)."""
    url = next(generator)
    try:
        yield url
    finally:
        next(generator, None)


def test_a_database_that_is_not_empty_gets_a_real_apply(db_url, write_config, monkeypatch):
    crm = Trellis.open(write_config("trellis: 1\nobjects:\n  lead:\n    fields:\n      name: {type: text}\n"), db_url)
    try:
        crm.apply()
        grown = Trellis.open(
            write_config(
                "trellis: 1\nobjects:\n  lead:\n    fields:\n      name: {type: text}\n      city: {type: text}\n",
                "v2.yaml",
            ),
            db_url,
        )
        plan = apply_fresh(grown)
        assert [s.kind for s in plan.steps] == ["add_column"]
        with grown.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM sys_config_versions").scalar() == 2
        grown.close()
    finally:
        crm.close()


#: A config of this test alone: no other test has a schema of it in the pool.
WATCHED = "trellis: 1\nobjects:\n  watched_lead:\n    fields:\n      name: {type: text}\n      city: {type: text}\n"

#: DDL a test may run in its schema after ``apply_fresh`` (directly, or by applying a changed
#: config); the SQLite run runs what SQLite has.
#: (The trigger's two events: ``ddl_command_end`` for what is created or altered, ``sql_drop``.)
DDL = {
    "add a column": "ALTER TABLE obj_watched_lead ADD COLUMN extra integer",
    "drop a table": "DROP TABLE obj_watched_lead",
    "add a function": "CREATE FUNCTION extra_function() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
}
NOT_IN_SQLITE = {"add a function"}


@pytest.mark.parametrize("ddl", list(DDL))
def test_a_tests_ddl_is_not_seen_by_the_next_test_of_its_config(ddl, tmp_path, write_config, monkeypatch):
    """On PostgreSQL a schema is recycled for the next test of its config (the same tables,
    emptied) unless a DDL command touched it; on SQLite each test copies the template."""
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    path = write_config(WATCHED)
    runs = iter(range(10))

    @contextmanager
    def a_test():
        folder = tmp_path / str(next(runs))
        folder.mkdir()
        with _contextualised(fresh_database(folder)) as url:
            crm = Trellis.open(path, url)
            try:
                apply_fresh(crm)
                yield crm
            finally:
                crm.close()

    def table_id(crm: Trellis) -> object:
        with crm.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                return None
            return conn.exec_driver_sql("SELECT 'obj_watched_lead'::regclass::oid").scalar()

    with a_test() as crm:
        expected = snapshot(crm)
        with crm.session() as session:
            session.create("watched_lead", {"name": "Ada"})
        first = table_id(crm)
    with a_test() as crm:  # recycled (on PostgreSQL: the same table), without the first test's rows
        assert table_id(crm) == first and snapshot(crm) == expected
        with crm.engine.begin() as conn:
            conn.exec_driver_sql(DDL["add a column"])
            conn.rollback()  # undone: nothing changed
        second = table_id(crm)
    with a_test() as crm:
        assert table_id(crm) == second and snapshot(crm) == expected
        if crm.engine.dialect.name == "sqlite" and ddl in NOT_IN_SQLITE:
            pytest.skip(f"SQLite cannot {ddl}")
        with crm.engine.begin() as conn:
            conn.exec_driver_sql(DDL[ddl])
        changed = table_id(crm) if ddl != "drop a table" else None
    with a_test() as crm:  # not the changed schema: a new one
        assert table_id(crm) != changed or changed is None
        assert snapshot(crm) == expected
