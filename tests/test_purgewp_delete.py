"""Deletes and retention purges through the one write path (issue 18 §4).

An ordinary delete and a retention purge run the same stages: ``on: deleted`` rules and their
webhooks fire for both (the payload's ``purge`` says which; a purge's carries no field values),
a pending approval neither holds nor locks a purge, and what a deleted record leaves behind
goes with it (stage ``gone``): its ``sys_*`` rows, and its stored file once the transaction
commits — never when it rolls back. ``trellis retention run`` says what it did as before and
the audit trail still verifies.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.records import files
from engine.runtime.workflow import engagement
from tests.conftest import Clock
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  lead:
    title: "{name}"
    retention: {years: 2, action: purge}
    fields:
      name: {type: text, required: true}
      email: {type: email}
      photo: {type: file}
    pipeline:
      stages: [new, qualified]
    duplicates:
      - {name: same_email, match: [{field: email, method: email}]}
automations:
  - name: lead_gone
    object: lead
    on: deleted
    do: [{webhook: {url: "https://erp.example.com/gone", unsigned: true}}]
  - name: deleted_by_hand
    object: lead
    on: deleted
    when: "not purge"
    do: [{webhook: {url: "https://erp.example.com/by-hand", unsigned: true}}]
approvals:
  - {name: rename_lead, object: lead, on: {change: [name]}, approver: {role: boss}}
roles:
  rep:
    objects: {lead: {read: all, edit: all, create: true, delete: all}}
  boss:
    objects: {lead: {read: all, edit: all, delete: all}}
    permissions: [approve]
"""
NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=4 * 365)
KEY = "p" * 24
#: The rows an ordinary delete removes with its record (engine.runtime.records.remains).
GONE = ("sys_files", "sys_dup_keys", "sys_stage_history", "sys_notifications", "sys_engagement_events")


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def count(crm, table: str, record_id: int, extra: str = "") -> int:
    with crm.engine.connect() as connection:
        where = f"object = 'lead' AND record_id = {int(record_id)} {extra}"
        return connection.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


def webhooks(crm) -> list[tuple[str, dict]]:
    with crm.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT target, payload FROM sys_outbox ORDER BY id")).all()
    return [(target, json.loads(payload)) for target, payload in rows]


@pytest.fixture
def crm(write_config, db_url, tmp_path, monkeypatch):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setenv("TRELLIS_UPLOAD_DIR", str(uploads))
    clock = Clock(OLD)
    path = write_config(CONFIG)
    crm = Trellis.open(path, db_url, clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("bob", roles=["boss"])
    crm.test_path, crm.test_url, crm.test_clock, crm.test_uploads = path, db_url, clock, uploads
    yield crm
    crm.close()


def test_purgewp_rules_and_webhooks_fire_for_a_purge_and_a_delete_and_no_approval_holds_a_purge(crm):
    with crm.session() as s:
        old = s.create("lead", {"name": "Old Wang", "email": "wang@example.com"}).id
        by_hand = s.create("lead", {"name": "Deleted by hand"}).id
    with crm.session("rita") as s:
        held = s.update("lead", old, {"name": "Wang Wei"})
    assert held.pending_approval is not None and count(crm, "sys_approvals", old) == 1
    crm.test_clock.at(NOW)
    with crm.session() as s:
        s.delete("lead", by_hand)

    done = cli("retention", "run", crm.test_path, "--db", crm.test_url, "--yes")
    assert done.exit_code == 0, done.output
    assert "Lead: 1 purged, with 0 timeline entries" in done.output  # the pending rename held nothing

    sent = webhooks(crm)
    assert [(target.rsplit("/", 1)[1], p["id"], p["event"]) for target, p in sent] == [
        ("gone", by_hand, "deleted"),
        ("by-hand", by_hand, "deleted"),
        ("gone", old, "deleted"),
    ]
    deleted, purged = sent[0][1], sent[2][1]
    assert deleted["purge"] is None and deleted["record"]["name"] == "Deleted by hand"
    assert purged["purge"] == {
        "years": 2,
        "from": "updated_at",
        "before": (NOW.date().replace(year=NOW.year - 2)).isoformat(),
    }
    assert purged["title"] is None and "name" not in purged["record"] and "Wang" not in json.dumps(purged)
    assert count(crm, "sys_approvals", old) == 0  # a purge forgets the record's history
    with crm.engine.connect() as connection:
        entry = connection.execute(
            sa.text("SELECT channel, changes FROM sys_audit WHERE action = 'purge' AND record_id = :id"), {"id": old}
        ).one()
    assert entry.channel == "retention" and "Wang" not in entry.changes and '"years":2' in entry.changes
    verify = cli("audit", "verify", crm.test_path, "--db", crm.test_url)
    assert verify.exit_code == 0, verify.output


def test_purgewp_a_delete_leaves_no_orphan_rows_and_its_file_goes_only_once_committed(crm):
    uploads = crm.test_uploads
    (uploads / KEY).write_bytes(b"photo")
    with crm.session() as s:
        files.register(s, "lead", "photo", KEY)
        photo = {"key": KEY, "name": "a.png", "size": 5, "content_type": "image/png"}
        gone = s.create("lead", {"name": "Li Na", "email": "li@example.com", "photo": photo}).id
        twin = s.create("lead", {"name": "Li Na (2)", "email": "li@example.com"}, allow_duplicate=True).id
        s.update("lead", gone, {"stage": "qualified"})
        engagement.record_event(s, "page_visited", "lead", gone, {"url": "https://example.com/pricing"})
        system = crm.schema.system
        bob = s.unit.user_named("bob").id
        note = {"user_id": bob, "title": "Li Na", "body": "qualified", "object": "lead", "record_id": gone}
        s.connection.execute(sa.insert(system["sys_notifications"]).values(**note, created_at=NOW))
        found = {"object": "lead", "rule": "same_email", "score": 1.0, "size": 2, "found_at": NOW}
        group = s.connection.execute(
            sa.insert(system["sys_dup_groups"]).values(found).returning(system["sys_dup_groups"].c.id)
        ).scalar_one()
        members = [{"group_id": group, "record_id": member, "score": 1.0} for member in (gone, twin)]
        s.connection.execute(sa.insert(system["sys_dup_members"]), members)
    assert all(count(crm, table, gone) for table in GONE)

    with pytest.raises(RuntimeError), crm.session() as s:  # rolled back: nothing goes, the file stays
        s.delete("lead", gone)
        raise RuntimeError("changed my mind")
    assert (uploads / KEY).exists() and count(crm, "sys_files", gone) == 1

    with crm.session() as s:
        s.delete("lead", gone)
        assert (uploads / KEY).exists()  # until the commit
    assert not (uploads / KEY).exists()
    assert {table: count(crm, table, gone) for table in GONE} == dict.fromkeys(GONE, 0)
    assert count(crm, "sys_dup_keys", twin) == 1  # the other record keeps its keys
    with crm.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM sys_dup_groups")).scalar_one() == 0
        assert connection.execute(sa.text("SELECT count(*) FROM sys_dup_members")).scalar_one() == 0
    assert count(crm, "sys_audit", gone, "AND action = 'delete'") == 1  # the trail stays
    assert count(crm, "sys_automation_runs", gone) == 2  # so does the run log of the delete's rules
