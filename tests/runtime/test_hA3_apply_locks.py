"""An apply adding fields to an existing PostgreSQL table does not lock its writers out for the
table's size (issue 18 §6): an ``indexed: true`` field's index is built after the commit,
concurrently, and a required field with a default is added as a catalogue change (no row
rewritten), the filled records' audit rows written and settled before the table is locked and
what came after caught up under it — records written or deleted meanwhile included, and those of a
writer still in flight when the apply stopped waiting for it.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.migrate import concurrent, fixlog
from engine.runtime.migrate.fixlog import FillAudit
from engine.runtime.security import audit
from tests.templates import apply_fresh

pytestmark = pytest.mark.skipif(
    not os.environ.get("TRELLIS_TEST_DATABASE_URL"),
    reason="concurrent index builds and catalogue-only columns are PostgreSQL's",
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
INDEXED = BEFORE + "      code: {type: integer, indexed: true}\n"
REQUIRED = BEFORE + "      tier: {type: picklist, values: [gold, silver], required: true, default: silver}\n"
WRITE = "SET LOCAL lock_timeout = '1s'"


@pytest.fixture
def crm(db_url, write_config):
    """A database at BEFORE holding three opportunities."""
    crm = Trellis.open(write_config(BEFORE), db_url)
    apply_fresh(crm)
    with crm.session() as s:
        for name in ("Globex pilot", "Initech renewal", "Acme upsell"):
            s.create("opportunity", {"name": name})
    yield crm
    crm.close()


def wait_for(conn: sa.Connection, sql: str, what: str) -> None:
    deadline = time.monotonic() + 30  # another apply on the server may hold the apply lock a while
    while not conn.exec_driver_sql(sql).first():
        assert time.monotonic() < deadline, what
        conn.rollback()  # pg_stat_activity is read once per transaction
        time.sleep(0.05)
    conn.rollback()


def test_hA3_an_indexed_field_is_indexed_after_the_commit_while_writers_write(crm, db_url, write_config):
    new = Trellis.open(write_config(INDEXED, "after.yaml"), db_url)
    text = "add index ix_obj_opportunity_code on obj_opportunity (code), after the commit, concurrently"
    assert text in str(new.plan())  # what `trellis plan` prints
    old = crm.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    old.exec_driver_sql("SELECT 1")  # an older transaction: the concurrent build waits for it
    said: list[str] = []
    worker = threading.Thread(target=lambda: new.apply(progress=said.append))
    try:
        worker.start()
        with crm.engine.connect() as conn:
            wait_for(
                conn,
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY ix_obj_opportunity_code %%' "
                "AND wait_event_type = 'Lock'",
                "no concurrent index build waited for the older transaction",
            )
            with conn.begin():  # the field is committed; a writer gets its locks at once
                conn.exec_driver_sql(WRITE)
                conn.exec_driver_sql("UPDATE obj_opportunity SET code = 7 WHERE name = 'Acme upsell'")
        assert said == ["Building the index ix_obj_opportunity_code of Opportunity concurrently…"]
        new.check_database()
    finally:
        old.rollback()
        old.close()
        worker.join(30)
    try:
        with new.engine.connect() as conn:
            valid = conn.exec_driver_sql(
                "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE i.relname = 'ix_obj_opportunity_code'"
            ).scalar()
        assert valid is True
        with new.session() as s:
            assert [r["name"] for r in s.query("opportunity").filter(code=7).all()] == ["Acme upsell"]
        assert new.plan().empty
    finally:
        new.close()


class PausedApply:
    """``new.apply()`` in a thread, paused once the filled records' audit rows are written ahead
    (``at_ahead``) and once they are settled (``at_settle``), each until the test goes on."""

    def __init__(self, new: Trellis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.new, self.failures = new, []
        self.at_ahead, self.at_settle = threading.Event(), threading.Event()
        self.past_ahead, self.past_settle = threading.Event(), threading.Event()
        for name, at, past in (("ahead", self.at_ahead, self.past_ahead), ("settle", self.at_settle, self.past_settle)):
            monkeypatch.setattr(FillAudit, name, self.paused(getattr(FillAudit, name), at, past))
        self.worker = threading.Thread(target=self.applying)

    @staticmethod
    def paused(real, at: threading.Event, past: threading.Event):
        def run(fill, conn):  # stands for the minutes a million audit rows take
            real(fill, conn)
            at.set()
            assert past.wait(30)

        return run

    def applying(self) -> None:
        try:
            self.new.apply()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.failures.append(exc)

    def __enter__(self) -> PausedApply:
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.past_ahead.set()
        self.past_settle.set()
        self.worker.join(30)
        assert not self.failures, self.failures


def filled_rows(new: Trellis) -> list[tuple]:
    """The apply's audit rows, after checking that the column was added without a rewrite."""
    with new.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT record_id, changes, username, action FROM sys_audit WHERE channel = 'apply' ORDER BY record_id"
        ).all()
    audit.seal(new.engine, new.schema)
    with new.engine.connect() as conn:
        assert audit.verify(conn, new.schema).ok
    return rows


FILLED = '{"tier":[null,"silver"]}'


def test_hA3_a_required_field_with_a_default_leaves_writers_alone_and_audits_every_record(
    crm, db_url, write_config, monkeypatch
):
    with crm.engine.connect() as conn:
        ids = dict(conn.exec_driver_sql("SELECT name, id FROM obj_opportunity").all())
        relfile = conn.exec_driver_sql("SELECT pg_relation_filenode('obj_opportunity')").scalar()
    monkeypatch.setattr(fixlog, "ANALYZE_AFTER", 1)  # the audit analysed ahead, as after many rows
    new = Trellis.open(write_config(REQUIRED, "after.yaml"), db_url)
    try:
        with PausedApply(new, monkeypatch) as apply:
            assert apply.at_ahead.wait(10), "the apply never wrote its audit rows"
            with crm.engine.connect() as conn, conn.begin():  # the apply's audit rows are written: no lock held
                conn.exec_driver_sql(WRITE)
                conn.exec_driver_sql("UPDATE obj_opportunity SET amount = 5 WHERE name = 'Globex pilot'")
                conn.exec_driver_sql(f"DELETE FROM obj_opportunity WHERE id = {ids['Initech renewal']}")
                added = conn.exec_driver_sql(
                    "INSERT INTO obj_opportunity (created_at, updated_at, version, name) "
                    "VALUES (now(), now(), 1, 'Written meanwhile') RETURNING id"
                ).scalar()
            apply.past_ahead.set()
            assert apply.at_settle.wait(10), "the apply never settled its audit rows"
            with crm.session() as s:  # settled, still no lock held: writes through the write path
                s.delete("opportunity", ids["Acme upsell"])
                later = s.create("opportunity", {"name": "Written once settled"}).id
            with crm.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql(WRITE)
                conn.exec_driver_sql("UPDATE obj_opportunity SET amount = 6 WHERE name = 'Written meanwhile'")
        with new.session() as s:
            tiers = {r["name"]: (r["tier"], r["amount"]) for r in s.query("opportunity").all()}
        assert tiers == {
            "Globex pilot": ("silver", 5),
            "Written meanwhile": ("silver", 6),
            "Written once settled": ("silver", None),
        }
        with new.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_relation_filenode('obj_opportunity')").scalar() == relfile
            default = conn.exec_driver_sql(
                "SELECT column_default FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'obj_opportunity' AND column_name = 'tier'"
            ).scalar()
        assert default is None  # the write path stays the only source of defaults
        assert filled_rows(new) == [
            (i, FILLED, "system", "update") for i in sorted([ids["Globex pilot"], added, later])
        ]
    finally:
        new.close()


def test_hA3_a_writer_in_flight_past_the_wait_is_caught_up_under_the_lock(crm, db_url, write_config, monkeypatch):
    monkeypatch.setattr(fixlog, "SETTLE_WAIT", 0.3)
    new = Trellis.open(write_config(REQUIRED, "after.yaml"), db_url)
    try:
        with PausedApply(new, monkeypatch) as apply, crm.engine.connect() as conn:
            assert apply.at_ahead.wait(10), "the apply never wrote its audit rows"
            with conn.begin():  # a writer's transaction open across the settling
                conn.exec_driver_sql(WRITE)
                added = conn.exec_driver_sql(
                    "INSERT INTO obj_opportunity (created_at, updated_at, version, name) "
                    "VALUES (now(), now(), 1, 'Written slowly') RETURNING id"
                ).scalar()
                conn.exec_driver_sql("DELETE FROM obj_opportunity WHERE name = 'Acme upsell'")
                apply.past_ahead.set()
                assert apply.at_settle.wait(10), "the apply waited for the open transaction"
                apply.past_settle.set()
        with new.session() as s:
            names = sorted(r["name"] for r in s.query("opportunity").all())
        assert names == ["Globex pilot", "Initech renewal", "Written slowly"]
        with new.engine.connect() as conn:
            kept = dict(conn.exec_driver_sql("SELECT name, id FROM obj_opportunity").all())
        assert filled_rows(new) == [(i, FILLED, "system", "update") for i in sorted(kept.values())]
        assert added in kept.values()
    finally:
        new.close()


def index_valid(engine: sa.Engine, name: str) -> bool | None:
    """Whether the index ``name`` is valid; None when there is none."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            f"SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = '{name}'"
        ).scalar()


def test_hA3_a_failed_index_build_is_said_in_words_and_the_next_apply_builds_it(crm, db_url, write_config, monkeypatch):
    after = write_config(INDEXED, "after.yaml")
    real = concurrent.IndexBuild

    def failing(label, index, ddl, **more):  # the build divides by zero on a row, as a bad expression would
        return real(label, index, f"CREATE INDEX CONCURRENTLY {index} ON obj_opportunity ((1 / (id - id)))", **more)

    monkeypatch.setattr(concurrent, "IndexBuild", failing)
    applying = CliRunner().invoke(main, ["apply", str(after), "--db", db_url])
    assert applying.exit_code == 0, applying.output  # the config is applied; the index is not
    assert (
        "The index ix_obj_opportunity_code of Opportunity was not built (division by zero). The config is "
        "applied and works, more slowly where it would read this index; run `trellis apply` again to build it."
    ) in " ".join(applying.output.split())
    assert index_valid(crm.engine, "ix_obj_opportunity_code") is None  # what the failed build left is dropped
    monkeypatch.setattr(concurrent, "IndexBuild", real)

    planned = CliRunner().invoke(main, ["plan", str(after), "--db", db_url])
    assert (
        "add index ix_obj_opportunity_code on obj_opportunity (code), after the commit, concurrently" in planned.output
    )
    assert CliRunner().invoke(main, ["apply", str(after), "--db", db_url]).exit_code == 0
    assert index_valid(crm.engine, "ix_obj_opportunity_code") is True

    with crm.engine.begin() as conn:  # as an interrupted CREATE INDEX CONCURRENTLY leaves it
        conn.exec_driver_sql(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_obj_opportunity_code'::regclass"
        )
    planned = CliRunner().invoke(main, ["plan", str(after), "--db", db_url])
    assert "drop invalid index ix_obj_opportunity_code of obj_opportunity" in planned.output
    assert CliRunner().invoke(main, ["apply", str(after), "--db", db_url]).exit_code == 0
    assert index_valid(crm.engine, "ix_obj_opportunity_code") is True
    new = Trellis.open(after, db_url)
    try:
        assert new.plan().empty
    finally:
        new.close()
