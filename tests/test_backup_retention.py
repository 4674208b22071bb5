"""Retention (S1, issue 18 §4) as an operator runs it: ``trellis retention report`` and ``run``.

Records past their object's policy go — exactly those: purged with their timeline entries and
files (one ``purge`` audit entry each) or archived; a record other records point at is kept; a
dry run changes nothing; the audit trail still verifies after the purge.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime import retention
from engine.runtime.jobs import worker
from engine.runtime.records import files
from engine.runtime.security import audit
from tests.conftest import Clock
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {retention_years: 3}
objects:
  lead:
    title: "{name}"
    timeline: true
    retention: {years: 2, action: purge, from: last_activity_at}
    fields:
      name: {type: text, required: true}
      photo: {type: file}
  call:
    activity: {at: at}
    fields:
      at: {type: datetime, required: true}
      lead: {type: lookup, object: lead}
  deal:
    fields:
      name: {type: text}
      lead: {type: lookup, object: lead}
  note:
    retention: false
    fields:
      text: {type: text}
"""
NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=6 * 365)
RECENT = NOW - dt.timedelta(days=30)
KEY = "k" * 24


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def rows(crm, table: str) -> list[tuple]:
    with crm.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]


@pytest.fixture
def sample(write_config, db_url, tmp_path, monkeypatch):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setenv("TRELLIS_UPLOAD_DIR", str(uploads))
    config = write_config(CONFIG)
    clock = Clock(OLD)
    crm = Trellis.open(config, db_url, clock=clock)
    apply_fresh(crm)
    (uploads / KEY).write_bytes(b"photo")
    with crm.session() as s:
        files.register(s, "lead", "photo", KEY)
        photo = {"key": KEY, "name": "a.png", "size": 5, "content_type": "image/png"}
        gone = s.create("lead", {"name": "Old, quiet", "photo": photo}).id
        s.create("call", {"at": OLD, "lead": gone})
        pointed = s.create("lead", {"name": "Old, but a deal points at it"}).id
        s.create("call", {"at": OLD, "lead": pointed})  # stays with its lead
        old_deal = s.create("deal", {"name": "Old deal", "lead": pointed}).id
        s.create("note", {"text": "kept for ever"})
    clock.at(RECENT)
    with crm.session() as s:
        active = s.create("lead", {"name": "Old, but called lately"}).id
        s.create("call", {"at": RECENT, "lead": active})
        fresh = s.create("lead", {"name": "New"}).id
        new_deal = s.create("deal", {"name": "New deal"}).id
    clock.at(NOW)
    yield (
        crm,
        config,
        db_url,
        uploads,
        {"gone": gone, "pointed": pointed, "active": active, "fresh": fresh},
        (
            old_deal,
            new_deal,
        ),
    )
    crm.close()


def test_backup_retention_purges_and_archives_exactly_what_the_policy_says(sample):
    crm, config, db_url, uploads, leads, (old_deal, new_deal) = sample
    tables = ("obj_lead", "obj_call", "obj_deal", "obj_note", "sys_files", "sys_audit")
    before = {t: rows(crm, t) for t in tables}

    report = run("retention", "report", config, "--db", db_url)
    assert report.exit_code == 0, report.output
    assert "Lead: 2 would be purged" in report.output and "Deal: 1 would be archived" in report.output
    assert f"#{leads['gone']} Old, quiet" in report.output
    dry = run("retention", "run", config, "--db", db_url, "--dry-run")
    assert dry.exit_code == 0 and "Dry run: nothing was changed." in dry.output
    unconfirmed = run("retention", "run", config, "--db", db_url)
    assert unconfirmed.exit_code == 1 and "--yes" in unconfirmed.output
    assert {t: rows(crm, t) for t in tables} == before

    done = run("retention", "run", config, "--db", db_url, "--yes")
    assert done.exit_code == 0, done.output
    assert "Lead: 1 purged, with 1 timeline entries" in done.output
    assert "Lead: 1 past retention kept, because other records still refer to them." in done.output
    assert "Deal: 1 archived." in done.output
    assert "Call: 1 archived." in done.output  # the default, settings.retention_years

    with crm.session() as s:
        left = {r["id"] for r in s.query("lead").page(1, 100)}
        deals = {r["id"]: r["archived_at"] for r in s.query("deal").include_archived().page(1, 100)}
        calls = [r["lead"] for r in s.query("call").include_archived().page(1, 100)]
    assert left == {leads["pointed"], leads["active"], leads["fresh"]}
    assert sorted(calls) == [leads["pointed"], leads["active"]]
    assert deals[old_deal] is not None and deals[new_deal] is None
    assert len(rows(crm, "obj_note")) == 1
    assert rows(crm, "sys_files") == [] and not (uploads / KEY).exists()
    with crm.engine.connect() as connection:
        purges = connection.execute(
            sa.text("SELECT object, record_id, changes FROM sys_audit WHERE action = 'purge' ORDER BY id")
        ).all()
        earlier = connection.execute(
            sa.text("SELECT count(*) FROM sys_audit WHERE object = 'lead' AND record_id = :id AND action = 'create'"),
            {"id": leads["gone"]},
        ).scalar()
    assert [(p.object, p.record_id) for p in purges] == [("call", 1), ("lead", leads["gone"])]
    assert '"years":2' in purges[1].changes and "Old, quiet" not in purges[1].changes
    assert earlier == 1  # the record's history stays: the chain hashes it
    shown = run("audit", "show", config, "lead", leads["gone"], "--db", db_url)
    assert shown.exit_code == 0 and "retention  purge" in shown.output, shown.output
    verify = run("audit", "verify", config, "--db", db_url)
    assert verify.exit_code == 0, verify.output
    assert retention.work(crm, NOW) == []  # settings.retention_automatic is not set: the worker leaves it
    again = run("retention", "run", config, "--db", db_url, "--yes")
    assert "Lead: 0 purged" in again.output and "Lead: 1 past retention kept" in again.output


def test_backup_retention_runs_in_the_worker_only_when_automatic(write_config, db_url):
    text = CONFIG.replace("settings: {retention_years: 3}", "settings: {retention_years: 3, retention_automatic: true}")
    clock = Clock(OLD)
    crm = Trellis.open(write_config(text), db_url, clock=clock)
    try:
        apply_fresh(crm)
        with crm.session() as s:
            pointed = s.create("lead", {"name": "Old, pointed at"}).id
            s.create("deal", {"name": "Deal", "lead": pointed})
            s.create("lead", {"name": "Old"})
            s.create("lead", {"name": "Old too"})
        clock.at(NOW)
        first = retention.run(crm, NOW, batch=1)  # a batch goes past the records kept
        assert [(o.action, o.done, o.kept) for o in first if o.object == "lead"] == [("purge", 1, 1)]
        report = worker.run_once(crm, NOW, imports=False, mail=False)
        assert [(o.object, o.action, o.done, o.kept) for o in report.retention] == [("lead", "purge", 1, 1)]
        assert report.seal_error is None and report.sealed >= 2  # the purge entry is sealed in the same pass
        with crm.engine.connect() as connection:
            assert audit.verify(connection, crm.schema).ok
    finally:
        crm.close()
