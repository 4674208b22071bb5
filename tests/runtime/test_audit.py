"""The audit trail (S35): every write on record, tamper-evident.

Each create, update and delete writes exactly one ``sys_audit`` row in the
writer's transaction — who, when, through which channel, which record, and
each changed field old → new. Reads of objects with ``audit: {reads: true}``
go to the access log. ``verify`` recomputes the hash chain and names the
first row that was edited, deleted, inserted or forged with raw SQL.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from engine import Trellis, ValidationFailed
from engine.runtime import audit
from engine.runtime.permissions import SYSTEM
from tests.conftest import run_in_threads
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  account:
    audit: {reads: true}
    fields:
      name: {type: text, required: true}
  lead:
    fields:
      name: {type: text, required: true}
      budget: {type: currency}
      closes_on: {type: date}
      id_number: {type: text}
      account: {type: lookup, object: account}
roles:
  rep:
    objects: {"*": {read: own, edit: own, delete: own, create: true}}
    hidden: [lead.id_number]
  auditor:
    objects: {"*": {read: all}}
    permissions: [view_audit]
"""
NOW = dt.datetime(2026, 4, 30, 18, 0, 0, 123456, tzinfo=dt.UTC)
THREADS = 4
PER_THREAD = 10


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    apply_fresh(crm)
    yield crm
    crm.close()


# --- helpers ---------------------------------------------------------------------------


def audit_rows(crm) -> list[dict]:
    """Every sys_audit row, oldest first, with ``changes`` parsed."""
    table = crm.schema.system["sys_audit"]
    with crm.engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings().all()
    return [{**row, "changes": json.loads(row["changes"])} for row in rows]


def access_rows(crm) -> list[dict]:
    table = crm.schema.system["sys_access_log"]
    with crm.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(table).order_by(table.c.id)).mappings()]


def add_user(crm, username: str, *roles: str) -> int:
    with crm.directory() as directory:
        return directory.add(username, roles=list(roles)).id


def create(crm, object_name, values, user=None, channel="python"):
    with crm.session(user, channel=channel) as s:
        return s.create(object_name, values)


def verify(crm) -> audit.ChainReport:
    with crm.engine.connect() as connection:
        return audit.verify(connection, crm.schema)


def raw(crm, sql: str, **params) -> None:
    """Change the audit tables behind Trellis's back, as an intruder with database access would."""
    with crm.engine.begin() as connection:
        connection.execute(sa.text(sql), params)


def five_writes(crm) -> list[int]:
    """Five audit rows (create, three updates, create); returns their ids."""
    lead = create(crm, "lead", {"name": "Acme"})
    for budget in ("100", "200", "300"):
        with crm.session() as s:
            s.update("lead", lead.id, {"budget": budget})
    create(crm, "lead", {"name": "Globex"})
    return [row["id"] for row in audit_rows(crm)]


# --- one row per write, in the same transaction ----------------------------------------------


def test_create_writes_one_row_with_who_channel_record_and_new_values(crm):
    alice = add_user(crm, "alice", "rep")
    before = len(audit_rows(crm))

    lead = create(crm, "lead", {"name": "Acme", "budget": "1500", "closes_on": "2026-05-31"}, user="alice",
                  channel="web")

    rows = audit_rows(crm)[before:]
    assert len(rows) == 1
    row = rows[0]
    assert (row["username"], row["user_id"], row["channel"], row["action"], row["object"], row["record_id"]) == (
        "alice", alice, "web", "create", "lead", lead.id)
    assert row["at"] == NOW.replace(microsecond=123000)
    assert row["changes"] == {
        "name": [None, "Acme"],
        "budget": [None, "1500.00"],
        "closes_on": [None, "2026-05-31"],
        "owner_id": [None, alice],
    }


def test_update_records_old_and_new_of_the_changed_fields_only(crm):
    lead = create(crm, "lead", {"name": "Acme", "budget": "1500", "closes_on": "2026-05-31"})

    with crm.session(channel="api") as s:
        s.update("lead", lead.id, {"budget": "1750.5", "closes_on": "2026-06-15", "name": "Acme"})

    row = audit_rows(crm)[-1]
    assert (row["action"], row["channel"], row["record_id"]) == ("update", "api", lead.id)
    assert row["changes"] == {"budget": ["1500.00", "1750.50"], "closes_on": ["2026-05-31", "2026-06-15"]}


def test_delete_records_the_values_that_were_lost(crm):
    lead = create(crm, "lead", {"name": "Acme", "budget": "10"})

    with crm.session() as s:
        s.delete("lead", lead.id)

    row = audit_rows(crm)[-1]
    assert (row["action"], row["record_id"]) == ("delete", lead.id)
    assert row["changes"] == {"name": ["Acme", None], "budget": ["10.00", None]}


def test_the_system_context_is_named_system(crm):
    create(crm, "lead", {"name": "Imported"}, channel="import")

    row = audit_rows(crm)[-1]
    assert (row["username"], row["user_id"], row["channel"]) == ("system", None, "import")


def test_an_update_that_changes_nothing_writes_no_row(crm):
    lead = create(crm, "lead", {"name": "Acme"})

    with crm.session() as s:
        s.update("lead", lead.id, {"name": "Acme"})

    assert len(audit_rows(crm)) == 1


def test_a_session_that_fails_leaves_neither_the_record_nor_its_audit_row(crm):
    with pytest.raises(RuntimeError), crm.session() as s:
        s.create("lead", {"name": "Acme"})
        raise RuntimeError("the caller failed after the write")

    assert audit_rows(crm) == []
    with crm.session() as s:
        assert s.query("lead").count() == 0
    assert verify(crm).ok


def test_a_refused_write_writes_no_audit_row(crm):
    with pytest.raises(ValidationFailed), crm.session() as s:
        s.create("lead", {"budget": "5"})

    assert audit_rows(crm) == []


def test_every_write_extends_the_chain_by_one_row(crm):
    ids = five_writes(crm)

    assert len(ids) == 5
    assert verify(crm) == audit.ChainReport(checked=5)


# --- users and teams ----------------------------------------------------------------------


def test_user_and_team_changes_are_audited_with_passwords_masked(crm):
    with crm.directory() as d:
        team = d.add_team("north")
        alice = d.add("alice", roles=["rep"], team="north", password="a-long passphrase 2026")
    with crm.directory() as d:
        d.edit("alice", roles=["rep", "auditor"], password="another long passphrase 2026")

    rows = [r for r in audit_rows(crm) if r["object"] in ("sys_user", "sys_team")]
    assert [(r["object"], r["action"], r["record_id"], r["username"], r["channel"]) for r in rows] == [
        ("sys_team", "team.add", team.id, "system", "cli"),
        ("sys_user", "user.add", alice.id, "system", "cli"),
        ("sys_user", "user.edit", alice.id, "system", "cli"),
    ]
    assert rows[1]["changes"]["username"] == [None, "alice"]
    assert rows[1]["changes"]["team_id"] == [None, team.id]
    assert rows[2]["changes"] == {"roles": [["rep"], ["rep", "auditor"]], "password": ["•••", "•••"]}
    assert "passphrase" not in json.dumps([r["changes"] for r in rows])


def test_team_changes_are_not_mixed_into_a_users_history(crm):
    with crm.directory() as d:
        d.add_team("north")
        alice = d.add("alice", roles=["rep"])
    assert alice.id == 1

    with crm.engine.connect() as connection:
        entries = audit.history(connection, crm.schema, "sys_user", alice.id, SYSTEM)
    assert [e.action for e in entries] == ["user.add"]


# --- the read access log ---------------------------------------------------------------


def test_opening_a_record_of_an_audited_object_is_logged(crm):
    alice = add_user(crm, "alice", "rep")
    account = create(crm, "account", {"name": "Acme"}, user="alice")

    with crm.session("alice", channel="web") as s:
        s.get("account", account.id)

    rows = access_rows(crm)
    assert [(r["username"], r["user_id"], r["channel"], r["action"], r["object"], r["record_id"]) for r in rows] == [
        ("alice", alice, "web", "read", "account", account.id)]


def test_lists_queries_and_unaudited_objects_are_not_logged(crm):
    add_user(crm, "alice", "rep")
    create(crm, "account", {"name": "Acme"}, user="alice")
    lead = create(crm, "lead", {"name": "Acme"}, user="alice")

    with crm.session("alice") as s:
        assert len(s.query("account").all()) == 1
        s.query("account").page(1)
        s.get("lead", lead.id)

    assert access_rows(crm) == []


def test_a_refused_read_is_not_logged_as_a_read(crm):
    add_user(crm, "alice", "rep")
    account = create(crm, "account", {"name": "Not Alice's"})

    with pytest.raises(Exception, match="not found"), crm.session("alice") as s:
        s.get("account", account.id)

    assert access_rows(crm) == []


def test_reads_are_listed_newest_first_and_filtered(crm):
    add_user(crm, "alice", "rep")
    first = create(crm, "account", {"name": "Acme"}, user="alice")
    second = create(crm, "account", {"name": "Globex"}, user="alice")
    with crm.session("alice") as s:
        s.get("account", first.id)
        s.get("account", second.id)

    with crm.engine.connect() as connection:
        assert [e.record_id for e in audit.access_log(connection, crm.schema)] == [second.id, first.id]
        assert [e.record_id for e in audit.access_log(connection, crm.schema, limit=1)] == [second.id]
        assert audit.access_log(connection, crm.schema, object_name="lead") == []
        assert audit.access_log(connection, crm.schema, username="bob") == []


def test_login_attempts_are_logged_and_listed_newest_first(crm):
    with crm.engine.begin() as connection:
        audit.log_login(connection, crm.schema, "alice", 1, "failed", NOW, ip="10.0.0.7", user_agent="curl/8")
        audit.log_login(connection, crm.schema, "alice", 1, "ok", NOW + dt.timedelta(minutes=1), ip="10.0.0.7")
        audit.log_login(connection, crm.schema, "mallory", None, "failed", NOW + dt.timedelta(minutes=2))

    with crm.engine.connect() as connection:
        everything = audit.login_log(connection, crm.schema)
        alices = audit.login_log(connection, crm.schema, username="alice", limit=1)
    assert [(e.username, e.outcome) for e in everything] == [
        ("mallory", "failed"), ("alice", "ok"), ("alice", "failed")]
    assert everything[-1].ip == "10.0.0.7" and everything[-1].user_agent == "curl/8"
    assert [(e.username, e.outcome) for e in alices] == [("alice", "ok")]


# --- history, masked for the viewer ----------------------------------------------------------


def test_history_is_oldest_first_and_masks_fields_hidden_from_the_viewer(crm):
    alice = add_user(crm, "alice", "rep")
    lead = create(crm, "lead", {"name": "Acme", "id_number": "110101199003071234", "owner_id": alice})
    with crm.session() as s:
        s.update("lead", lead.id, {"id_number": "220202199104082345", "budget": "99"})

    with crm.session("alice") as s:
        as_rep = audit.history(s.connection, crm.schema, "lead", lead.id, s.principal)
    with crm.session() as s:
        as_system = audit.history(s.connection, crm.schema, "lead", lead.id, s.principal)

    assert [e.action for e in as_rep] == ["create", "update"]
    assert as_rep[0].changes == {"name": [None, "Acme"], "owner_id": [None, alice]}
    assert as_rep[1].changes == {"budget": [None, "99.00"]}
    assert as_system[1].changes["id_number"] == ["110101199003071234", "220202199104082345"]
    assert as_system[1].username == "system"


# --- tamper evidence ---------------------------------------------------------------------------


def test_an_intact_chain_verifies(crm):
    five_writes(crm)

    report = verify(crm)
    assert report.ok and report.checked == 5 and report.reason is None


def test_an_empty_trail_verifies(crm):
    assert verify(crm) == audit.ChainReport(checked=0)


def test_an_edited_row_is_the_first_broken_link(crm):
    ids = five_writes(crm)
    raw(crm, "UPDATE sys_audit SET changes = :c WHERE id = :id", c='{"budget":["100.00","1.00"]}', id=ids[2])
    raw(crm, "UPDATE sys_audit SET username = 'mallory' WHERE id = :id", id=ids[4])

    report = verify(crm)
    assert (report.ok, report.broken_at, report.checked) == (False, ids[2], 2)
    assert report.reason == f"row {ids[2]} was changed after it was written"


def test_a_row_deleted_from_the_middle_breaks_the_next_link(crm):
    ids = five_writes(crm)
    raw(crm, "DELETE FROM sys_audit WHERE id = :id", id=ids[1])

    report = verify(crm)
    assert report.broken_at == ids[2]
    assert f"does not follow row {ids[0]}" in report.reason


def test_rows_deleted_from_the_end_are_found_through_the_head(crm):
    ids = five_writes(crm)
    raw(crm, "DELETE FROM sys_audit WHERE id >= :id", id=ids[3])

    report = verify(crm)
    assert (report.broken_at, report.checked) == (ids[2], 3)
    assert f"row {ids[4]} was the last one written" in report.reason


def test_deleting_every_row_is_found_through_the_head(crm):
    ids = five_writes(crm)
    raw(crm, "DELETE FROM sys_audit")

    report = verify(crm)
    assert not report.ok
    assert report.broken_at == ids[-1]
    assert "empty" in report.reason


def test_a_row_inserted_with_a_forged_hash_is_found(crm):
    ids = five_writes(crm)
    last = audit_rows(crm)[-1]
    raw(crm, "INSERT INTO sys_audit (id, at, user_id, username, channel, action, object, record_id, changes, "
             "prev_hash, hash) VALUES (:id, :at, NULL, 'system', 'python', 'delete', 'lead', 1, '{}', :prev, :hash)",
        id=ids[-1] + 1, at=NOW.replace(tzinfo=None), prev=last["hash"], hash="f" * 64)

    report = verify(crm)
    assert (report.broken_at, report.checked) == (ids[-1] + 1, 5)
    assert "changed after it was written" in report.reason


def test_a_row_appended_with_a_correctly_computed_hash_is_still_found(crm):
    """Whoever knows the hashing scheme can append a valid-looking row; the head was not moved."""
    ids = five_writes(crm)
    last = audit_rows(crm)[-1]
    forged = {"at": NOW, "user_id": None, "username": "system", "channel": "python", "action": "delete",
              "object": "lead", "record_id": 1, "changes": "{}"}
    forged_hash = audit._digest(last["hash"], forged)
    raw(crm, "INSERT INTO sys_audit (id, at, user_id, username, channel, action, object, record_id, changes, "
             "prev_hash, hash) VALUES (:id, :at, NULL, 'system', 'python', 'delete', 'lead', 1, '{}', :prev, :hash)",
        id=ids[-1] + 1, at=NOW.replace(tzinfo=None), prev=last["hash"], hash=forged_hash)

    report = verify(crm)
    assert report.broken_at == ids[-1] + 1
    assert "added outside Trellis" in report.reason


def test_a_deleted_head_is_found(crm):
    ids = five_writes(crm)
    raw(crm, "DELETE FROM sys_audit_head")

    report = verify(crm)
    assert report.broken_at == ids[0]
    assert "sys_audit_head records no row" in report.reason


def test_a_replaced_last_row_is_found(crm):
    ids = five_writes(crm)
    rows = audit_rows(crm)
    forged = {**rows[-1], "changes": '{"name":[null,"Innocent"]}'}
    raw(crm, "UPDATE sys_audit SET changes = :c, hash = :h WHERE id = :id",
        c=forged["changes"], h=audit._digest(rows[-2]["hash"], forged), id=ids[-1])

    report = verify(crm)
    assert report.broken_at == ids[-1]
    assert "replaced" in report.reason


def test_writing_after_tampering_does_not_hide_it(crm):
    ids = five_writes(crm)
    raw(crm, "UPDATE sys_audit SET changes = '{}' WHERE id = :id", id=ids[0])
    create(crm, "lead", {"name": "Later"})

    assert verify(crm).broken_at == ids[0]


def test_the_hash_covers_the_previous_rows_hash(crm):
    five_writes(crm)
    rows = audit_rows(crm)

    assert rows[0]["prev_hash"] == audit.GENESIS
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == previous["hash"]
    assert all(len(row["hash"]) == len(hashlib.sha256().hexdigest()) for row in rows)


# --- concurrent writers ---------------------------------------------------------------------------


def test_concurrent_writers_extend_one_unbroken_chain(crm):
    def work(index: int) -> None:
        for n in range(PER_THREAD):
            with crm.session(channel=f"thread{index}") as s:
                lead = s.create("lead", {"name": f"thread {index} lead {n}"})
            with crm.session(channel=f"thread{index}") as s:
                s.update("lead", lead.id, {"budget": str(n)})

    assert run_in_threads(work, THREADS) == []

    report = verify(crm)
    assert report == audit.ChainReport(checked=THREADS * PER_THREAD * 2)
    rows = audit_rows(crm)
    assert len({row["prev_hash"] for row in rows}) == len(rows)  # no fork: each row has its own predecessor
