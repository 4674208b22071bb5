"""PostgreSQL's search index holds the owner beside the text (``btree_gin``), so that a rep's and a
team's search come from one index scan (issue 18 §6): ``plan`` lists it, ``apply`` builds it and
replaces an index without the owner only once it is built; without ``btree_gin`` the trigram index
alone is built, and the apply says why. A second apply started during a build waits for it
instead of ending it as a deadlock.
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
    not os.environ.get("TRELLIS_TEST_DATABASE_URL"), reason="btree_gin and concurrent builds are PostgreSQL's"
)

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY}
objects:
  opportunity:
    label: {en: Opportunity, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      note: {type: text}
roles:
  rep:
    objects:
      opportunity: {read: own, edit: own, create: true}
"""


def search_indexes(engine: sa.Engine) -> dict[str, str]:
    """The search indexes of obj_opportunity: name → definition (valid ones only)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'obj_opportunity'::regclass AND i.relname LIKE '%%_search_%%' AND x.indisvalid"
        )
        return dict(rows.all())


@pytest.fixture
def without_owner(db_url, write_config, monkeypatch, caplog):
    """CONFIG applied where ``btree_gin`` cannot be created (the trigram index alone, as Trellis
    built it before), with two reps' opportunities; yields the config's path."""
    monkeypatch.setattr(search_module, "OWNER_EXTENSION", "trellis_no_such_extension")
    path = write_config(CONFIG)
    crm = Trellis.open(path, db_url)
    with caplog.at_level(logging.WARNING, logger=search_module.__name__):
        apply_fresh(crm)
    with crm.directory() as d:
        rita, ravi = d.add("rita", roles=["rep"]).id, d.add("ravi", roles=["rep"]).id
    with crm.session() as s:
        s.create("opportunity", {"name": "Globex pilot", "owner_id": rita})
        s.create("opportunity", {"name": "Globex renewal", "owner_id": ravi})
        s.create("opportunity", {"name": "Initech", "note": "globex referral", "owner_id": rita})
    crm.close()
    monkeypatch.setattr(search_module, "OWNER_EXTENSION", "btree_gin")
    return path


def test_bigsearch_without_btree_gin_the_trigram_index_alone_is_built_and_apply_says_why(without_owner, db_url, caplog):
    logged = " ".join(r.getMessage() for r in caplog.get_records("setup"))
    assert "Search indexes are built without the owner: the PostgreSQL extension trellis_no_such_extension" in logged
    assert "CREATE EXTENSION trellis_no_such_extension;" in logged
    crm = Trellis.open(without_owner, db_url)
    try:
        (definition,) = search_indexes(crm.engine).values()
        assert "USING gin (lower(" in definition and "owner_id" not in definition
    finally:
        crm.close()


def test_bigsearch_plan_and_apply_replace_it_with_the_owners_index_once_built(without_owner, db_url):
    crm = Trellis.open(without_owner, db_url)
    try:
        (old,) = search_indexes(crm.engine)
        planned = CliRunner().invoke(main, ["plan", str(without_owner), "--db", db_url])
        assert planned.exit_code == 0, planned.output
        (new,) = [s.description.split()[3] for s in crm.plan().search_indexes if s.kind == "add_search_index"]
        assert f"drop search index {old} of obj_opportunity, once {new} is built" in planned.output
        assert f"add search index {new} on obj_opportunity (owner_id, name, note), after the commit" in planned.output
        applying = CliRunner().invoke(main, ["apply", str(without_owner), "--db", db_url])
        assert applying.exit_code == 0 and "Warnings" not in applying.output, applying.output
        indexes = search_indexes(crm.engine)
        assert list(indexes) == [new] and "USING gin (owner_id, lower(" in indexes[new]
        assert crm.plan().empty
        with crm.session("rita") as s:  # the same rows as before: her own matches only
            found = s.query("opportunity").search("GLOBEX").order_by("name").all()
            assert [r["name"] for r in found] == ["Globex pilot", "Initech"]
    finally:
        crm.close()


def test_bigsearch_a_second_apply_during_a_build_waits_for_it(without_owner, db_url):
    """A writer's open transaction holds the build at its start; a second apply starts meanwhile
    and waits for the apply lock holding no snapshot, so the build, which then waits for every
    older snapshot, is not ended as a deadlock (as it was while the apply waited in
    ``pg_advisory_xact_lock``)."""
    crm = Trellis.open(without_owner, db_url)
    writer = crm.engine.connect()
    writer.exec_driver_sql("UPDATE obj_opportunity SET note = note WHERE id = -1")  # holds its table lock
    results: dict[str, object] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", crm.apply()))
    second = threading.Thread(target=lambda: results.setdefault("second", crm.apply()))
    try:
        first.start()
        with crm.engine.connect() as conn:
            deadline = time.monotonic() + 10
            while not conn.exec_driver_sql(
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'"
            ).first():
                assert time.monotonic() < deadline, "the build did not wait for the writer"
                conn.rollback()
                time.sleep(0.05)
        second.start()
        time.sleep(0.5)  # the second apply is waiting for the lock
    finally:
        writer.rollback()
        writer.close()
        first.join(60)
        second.join(60)
    assert results["first"].warnings == () and results["second"].warnings == ()  # type: ignore[attr-defined]
    assert len(search_indexes(crm.engine)) == 1 and crm.plan().empty
    crm.close()
