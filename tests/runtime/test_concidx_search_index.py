"""PostgreSQL builds a search (trigram) index of an existing table after the apply's commit, with
``CREATE INDEX CONCURRENTLY``: writers are not locked out meanwhile, search and the database check
keep working until it is ready, a build that fails is a warning (the apply stands), and an
INVALID index left by one is seen by ``plan`` and rebuilt by the next ``apply`` (issue 18 §6).
"""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.migrate import search as search_module
from tests.templates import apply_fresh

pytestmark = pytest.mark.skipif(
    not os.environ.get("TRELLIS_TEST_DATABASE_URL"), reason="concurrent index builds are PostgreSQL's"
)

BEFORE = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY}
objects:
  opportunity:
    label: {en: Opportunity, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
"""
AFTER = BEFORE + "      note: {type: text}\n"


def search_indexes(engine: sa.Engine) -> dict[str, bool]:
    """The search indexes of obj_opportunity: name → valid."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.relname, x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'obj_opportunity'::regclass AND i.relname LIKE '%%_search_%%'"
        )
        return dict(rows.all())


@pytest.fixture
def applied(db_url, write_config):
    """A database at BEFORE holding one opportunity; yields the path of AFTER (a new text field)."""
    crm = Trellis.open(write_config(BEFORE), db_url)
    apply_fresh(crm)
    with crm.session() as s:
        s.create("opportunity", {"name": "Globex pilot"})
    crm.close()
    return write_config(AFTER, "after.yaml")


def test_concidx_plan_says_after_the_commit_and_apply_builds_a_valid_index(applied, db_url):
    planned = CliRunner().invoke(main, ["plan", str(applied), "--db", db_url])
    assert planned.exit_code == 0, planned.output
    assert "(owner_id, name, note), after the commit, concurrently" in planned.output
    applying = CliRunner().invoke(main, ["apply", str(applied), "--db", db_url])
    assert applying.exit_code == 0, applying.output
    assert "Building the search index of Opportunity concurrently…" in applying.output
    crm = Trellis.open(applied, db_url)
    try:
        assert list(search_indexes(crm.engine).values()) == [True]
        assert crm.plan().empty
    finally:
        crm.close()


def test_concidx_a_writer_is_not_blocked_while_the_index_builds(applied, db_url):
    """A repeatable-read transaction opened first makes the concurrent build wait for it (as it
    does for any older transaction); meanwhile the schema change is committed, the index is not
    valid yet, search and the database check work, and an update gets its lock at once."""
    crm = Trellis.open(applied, db_url)
    old = crm.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    old.exec_driver_sql("SELECT 1")  # holds its snapshot until it ends
    said: list[str] = []
    worker = threading.Thread(target=lambda: crm.apply(progress=said.append))
    try:
        worker.start()
        deadline = time.monotonic() + 5
        # This schema's index exists, not valid yet: its concurrent build began (after the schema
        # change's commit) and waits for the older transaction. (pg_stat_activity would show other
        # tests' builds too, in their schemas, on a server several test runs share.)
        while list(search_indexes(crm.engine).values()) != [False]:
            assert time.monotonic() < deadline, "no concurrent index build waited for the older transaction"
            time.sleep(0.05)
        with crm.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            conn.exec_driver_sql("UPDATE obj_opportunity SET note = 'written meanwhile'")
        assert said == ["Building the search index of Opportunity concurrently…"]
        assert list(search_indexes(crm.engine).values()) == [False]
        crm.check_database()  # the web keeps serving
        with crm.session() as s:
            assert [r["name"] for r in s.query("opportunity").search("meanwhile").all()] == ["Globex pilot"]
    finally:
        old.rollback()
        old.close()
        worker.join(60)
    assert list(search_indexes(crm.engine).values()) == [True]
    crm.close()


def test_concidx_a_failed_build_warns_and_the_next_apply_builds_it(applied, db_url, monkeypatch, caplog):
    real = search_module._create_index_sql

    def failing(dialect, table, names, index, schema, **_):  # divides by zero on the row there
        return f"CREATE INDEX {index} ON {table.name} USING gin ((CAST(1 / (id - id) AS text)) {schema}.gin_trgm_ops)"

    monkeypatch.setattr(search_module, "_create_index_sql", failing)
    with caplog.at_level(logging.WARNING, logger=search_module.__name__):
        applying = CliRunner().invoke(main, ["apply", str(applied), "--db", db_url])
    assert applying.exit_code == 0, applying.output
    assert "The search index of Opportunity was not built (division by zero)" in applying.output
    assert "run `trellis apply` again to build it" in applying.output
    assert "division by zero" in caplog.text
    monkeypatch.setattr(search_module, "_create_index_sql", real)
    crm = Trellis.open(applied, db_url)
    try:
        assert search_indexes(crm.engine) == {}  # what the failed build left was dropped
        crm.check_database()
        assert [s.kind for s in crm.plan().search_indexes] == ["add_search_index"]
        assert crm.apply().warnings == ()
        assert list(search_indexes(crm.engine).values()) == [True]
    finally:
        crm.close()


def test_concidx_an_invalid_index_is_planned_away_and_rebuilt(applied, db_url):
    crm = Trellis.open(applied, db_url)
    try:
        crm.apply()
        (name,) = search_indexes(crm.engine)
        with crm.engine.begin() as conn:  # as a failed CREATE INDEX CONCURRENTLY leaves it
            conn.exec_driver_sql(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{name}'::regclass")
        planned = CliRunner().invoke(main, ["plan", str(applied), "--db", db_url])
        assert planned.exit_code == 0, planned.output
        assert f"drop invalid search index {name} of obj_opportunity" in planned.output
        assert f"add search index {name} on obj_opportunity (owner_id, name, note), after the commit" in planned.output
        crm.apply()
        assert search_indexes(crm.engine) == {name: True}
        assert crm.plan().empty
    finally:
        crm.close()
