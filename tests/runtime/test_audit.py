"""The audit trail (S35): every write on record, tamper-evident once sealed.

Each create, update and delete writes exactly one ``sys_audit`` row in the
writer's transaction — who, when, through which channel, which record, and
each changed field old → new — with one INSERT and no lock on a shared row:
the row is unsealed. ``seal`` chains the unsealed rows (seal number, previous
hash, hash) under the head's lock, which only sealers take. Reads of objects
with ``audit: {reads: true}`` go to the access log. ``verify`` walks the
sealed rows in seal order and names the first row that was edited, deleted,
inserted or forged with raw SQL, and counts the rows not sealed yet.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
import sqlalchemy as sa

from engine import Trellis, ValidationFailed
from engine.runtime import tables
from engine.runtime.security import audit
from engine.runtime.security.permissions import SYSTEM
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
#: PostgreSQL lets writers run side by side; SQLite makes each write transaction wait its turn.
WRITERS_RUN_CONCURRENTLY = bool(os.environ.get("TRELLIS_TEST_DATABASE_URL"))


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


def seal(crm, batch: int = audit.SEAL_BATCH) -> audit.SealReport:
    return audit.seal(crm.engine, crm.schema, batch)


def verify(crm, seal_first: bool = True) -> audit.ChainReport:
    """``verify`` as ``trellis audit verify`` runs it: seal (unless the chain cannot be
    continued), then check; ``seal_first=False``: check only."""
    if seal_first:
        with suppress(audit.AuditChainBroken):
            seal(crm)
    with crm.engine.connect() as connection:
        return audit.verify(connection, crm.schema)


@contextmanager
def statements(crm) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block, one entry per cursor execute
    (an executemany is one)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        sent.append(" ".join(statement.split()))

    sa.event.listen(crm.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", record)


def touching(sent: list[str], table: str) -> list[str]:
    """The statements naming ``table`` (not a longer name that starts with it)."""
    return [sql for sql in sent if any(word.strip('"(,').lower() == table for word in sql.split())]


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

    lead = create(
        crm, "lead", {"name": "Acme", "budget": "1500", "closes_on": "2026-05-31"}, user="alice", channel="web"
    )

    rows = audit_rows(crm)[before:]
    assert len(rows) == 1
    row = rows[0]
    assert (row["username"], row["user_id"], row["channel"], row["action"], row["object"], row["record_id"]) == (
        "alice",
        alice,
        "web",
        "create",
        "lead",
        lead.id,
    )
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


def test_every_write_appends_one_unsealed_row_that_the_sealer_chains(crm):
    ids = five_writes(crm)

    assert len(ids) == 5
    assert [(r["seal_seq"], r["prev_hash"], r["hash"]) for r in audit_rows(crm)] == [(None, None, None)] * 5
    report = verify(crm, seal_first=False)
    assert (report.ok, report.checked, report.unsealed) == (True, 0, 5)

    assert seal(crm) == audit.SealReport(sealed=5, head_seq=5, head_id=ids[-1], head_hash=audit_rows(crm)[-1]["hash"])
    assert [r["seal_seq"] for r in audit_rows(crm)] == [1, 2, 3, 4, 5]
    report = verify(crm, seal_first=False)
    assert report == audit.ChainReport(checked=5) and report.unsealed == 0
    assert seal(crm).sealed == 0  # nothing new: nothing changes


# --- one INSERT, no shared row --------------------------------------------------------------


def test_a_write_costs_one_audit_insert_and_touches_no_shared_row(crm):
    with statements(crm) as created, crm.session() as s:
        lead = s.create("lead", {"name": "Acme"})
    with statements(crm) as updated, crm.session() as s:
        s.update("lead", lead.id, {"budget": "10"})
    with statements(crm) as deleted, crm.session() as s:
        s.delete("lead", lead.id)

    for sent in (created, updated, deleted):
        assert [sql.split(" (")[0] for sql in touching(sent, "sys_audit")] == ["INSERT INTO sys_audit"], sent
        assert touching(sent, "sys_audit_head") == []


def test_log_changes_writes_a_batch_with_one_statement(crm):
    entries = [("create", "lead", n, {"name": [None, f"lead {n}"]}) for n in range(1, 11)]

    with statements(crm) as sent, crm.engine.begin() as connection:
        audit.log_changes(connection, crm.schema, SYSTEM, "import", entries, NOW)
        audit.log_changes(connection, crm.schema, SYSTEM, "import", [], NOW)  # nothing: no statement

    assert len(touching(sent, "sys_audit")) == 1 and touching(sent, "sys_audit_head") == []
    rows = audit_rows(crm)
    assert [(r["action"], r["record_id"], r["channel"], r["changes"]) for r in rows] == [
        ("create", n, "import", {"name": [None, f"lead {n}"]}) for n in range(1, 11)
    ]
    assert {r["at"] for r in rows} == {NOW.replace(microsecond=123000)}
    assert verify(crm) == audit.ChainReport(checked=10)


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
        ("alice", alice, "web", "read", "account", account.id)
    ]


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
        ("mallory", "failed"),
        ("alice", "ok"),
        ("alice", "failed"),
    ]
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


def test_an_edited_sealed_row_is_the_first_broken_link(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "UPDATE sys_audit SET changes = :c WHERE id = :id", c='{"budget":["100.00","1.00"]}', id=ids[2])
    raw(crm, "UPDATE sys_audit SET username = 'mallory' WHERE id = :id", id=ids[4])

    report = verify(crm)
    assert (report.ok, report.broken_at, report.checked) == (False, ids[2], 2)
    assert report.reason == f"row {ids[2]} was changed after it was sealed"


def test_an_edited_row_sealed_by_a_later_pass_is_found(crm):
    five_writes(crm)
    seal(crm)
    create(crm, "lead", {"name": "Initech"})
    create(crm, "lead", {"name": "Umbrella"})
    assert seal(crm).sealed == 2
    later = audit_rows(crm)[-2]["id"]
    raw(crm, "UPDATE sys_audit SET changes = '{}' WHERE id = :id", id=later)

    report = verify(crm)
    assert (report.broken_at, report.checked) == (later, 5)


def test_an_unsealed_row_changed_before_the_sealer_ran_is_not_found(crm):
    """The window docs/security.md names: until a row is sealed, whoever can write to the
    database can change it undetected; from its seal on, they cannot."""
    ids = five_writes(crm)
    raw(crm, "UPDATE sys_audit SET changes = '{}' WHERE id = :id", id=ids[2])

    assert verify(crm).ok  # sealed as it was found
    raw(crm, 'UPDATE sys_audit SET changes = \'{"budget":[null,"1"]}\' WHERE id = :id', id=ids[2])
    assert verify(crm).broken_at == ids[2]


def test_a_sealed_row_deleted_from_the_middle_leaves_a_gap(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "DELETE FROM sys_audit WHERE id = :id", id=ids[1])

    report = verify(crm)
    assert (report.broken_at, report.checked) == (ids[2], 1)
    assert report.reason == (f"row {ids[2]} does not follow row {ids[0]}: seal 2 is gone (sealed rows were deleted)")


def test_a_deleted_row_is_found_even_with_the_seal_numbers_closed_up(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "DELETE FROM sys_audit WHERE id IN (:a, :b)", a=ids[1], b=ids[2])
    raw(crm, "UPDATE sys_audit SET seal_seq = seal_seq - 2 WHERE seal_seq > 3")
    raw(crm, "UPDATE sys_audit_head SET last_seq = 3")

    report = verify(crm)
    assert report.broken_at == ids[3]
    assert f"does not follow row {ids[0]} (a row before it was changed, inserted or deleted)" in report.reason


def test_sealed_rows_deleted_from_the_end_are_found_through_the_head(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "DELETE FROM sys_audit WHERE id >= :id", id=ids[3])

    report = verify(crm)
    assert (report.broken_at, report.checked) == (ids[2], 3)
    assert report.reason == (
        f"the chain ends at row {ids[2]} (seal 3), but row {ids[4]} (seal 5) was the last one "
        "sealed (sealed rows at the end were deleted)"
    )


def test_deleting_every_row_is_found_through_the_head(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "DELETE FROM sys_audit")

    report = verify(crm)
    assert not report.ok
    assert report.broken_at == ids[-1]
    assert "empty" in report.reason


def insert_sealed(crm, row_id: int, seal_seq: int, prev_hash: str, digest: str | None = None) -> None:
    """A forged sealed row (a delete of lead 1), hashed as Trellis would unless ``digest`` is given."""
    forged = {
        "id": row_id,
        "seal_seq": seal_seq,
        "at": NOW,
        "user_id": None,
        "username": "system",
        "channel": "python",
        "action": "delete",
        "object": "lead",
        "record_id": 1,
        "changes": "{}",
    }
    raw(
        crm,
        "INSERT INTO sys_audit (id, at, user_id, username, channel, action, object, record_id, changes, "
        "prev_hash, hash, seal_seq) VALUES (:id, :at, NULL, 'system', 'python', 'delete', 'lead', 1, '{}', "
        ":prev, :hash, :seq)",
        id=row_id,
        at=NOW.replace(tzinfo=None),
        prev=prev_hash,
        hash=digest or audit._digest(prev_hash, forged),
        seq=seal_seq,
    )


def test_a_sealed_row_inserted_with_a_forged_hash_is_found(crm):
    ids = five_writes(crm)
    seal(crm)
    insert_sealed(crm, ids[-1] + 1, 6, audit_rows(crm)[-1]["hash"], digest="f" * 64)

    report = verify(crm)
    assert (report.broken_at, report.checked) == (ids[-1] + 1, 5)
    assert "changed after it was sealed" in report.reason


def test_a_row_inserted_into_the_middle_with_a_valid_hash_breaks_the_next_link(crm):
    ids = five_writes(crm)
    seal(crm)
    rows = audit_rows(crm)
    raw(crm, "UPDATE sys_audit SET seal_seq = seal_seq + 1000 WHERE seal_seq >= 3")  # make room for seal 3
    raw(crm, "UPDATE sys_audit SET seal_seq = seal_seq - 999 WHERE seal_seq >= 1000")
    raw(crm, "UPDATE sys_audit_head SET last_seq = 6")
    insert_sealed(crm, ids[-1] + 1, 3, rows[1]["hash"])

    report = verify(crm)
    assert (report.broken_at, report.checked) == (ids[2], 3)
    assert f"row {ids[2]} does not follow row {ids[-1] + 1}" in report.reason


def test_a_row_appended_with_a_correctly_computed_hash_is_still_found(crm):
    """Whoever knows the hashing scheme can append a valid-looking sealed row; the head was not
    moved, and the sealer will not continue past it."""
    ids = five_writes(crm)
    seal(crm)
    insert_sealed(crm, ids[-1] + 1, 6, audit_rows(crm)[-1]["hash"])

    report = verify(crm)
    assert report.broken_at == ids[-1] + 1
    assert report.reason == (
        f"row {ids[-1] + 1} was added outside Trellis (seal 5, row {ids[-1]}, was the last one Trellis sealed)"
    )
    with pytest.raises(audit.AuditChainBroken, match="seal 6 exists, but sys_audit_head records seal 5"):
        seal(crm)


def test_a_row_inserted_unsealed_is_sealed_like_any_other(crm):
    """The same window: an unsealed row looks like any write; it can only be told apart once
    sealed rows were kept outside the database (``Reference``) — and it cannot be removed
    undetected once sealed."""
    ids = five_writes(crm)
    raw(
        crm,
        "INSERT INTO sys_audit (at, username, channel, action, object, record_id, changes) "
        "VALUES (:at, 'system', 'python', 'delete', 'lead', 1, '{}')",
        at=NOW.replace(tzinfo=None),
    )

    assert verify(crm) == audit.ChainReport(checked=6)
    raw(crm, "DELETE FROM sys_audit WHERE id > :id", id=ids[-1])
    assert not verify(crm).ok


def test_a_deleted_head_is_found_and_stops_the_sealer(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "DELETE FROM sys_audit_head")
    create(crm, "lead", {"name": "written meanwhile"})  # writers go on: they never touch the head

    report = verify(crm)
    assert report.broken_at == ids[0]
    assert "sys_audit_head records no row sealed" in report.reason
    assert report.unsealed == 1
    with pytest.raises(audit.AuditChainBroken, match="sys_audit_head is gone, but 5 audit rows are sealed"):
        seal(crm)


def test_a_replaced_last_row_is_found(crm):
    ids = five_writes(crm)
    seal(crm)
    rows = audit_rows(crm)
    forged = {**rows[-1], "changes": '{"name":[null,"Innocent"]}'}
    raw(
        crm,
        "UPDATE sys_audit SET changes = :c, hash = :h WHERE id = :id",
        c=forged["changes"],
        h=audit._digest(rows[-2]["hash"], forged),
        id=ids[-1],
    )

    report = verify(crm)
    assert report.broken_at == ids[-1]
    assert "replaced" in report.reason


def test_the_hash_binds_the_rows_id_and_seal_number(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "UPDATE sys_audit SET id = :new WHERE id = :id", new=ids[-1] + 100, id=ids[2])

    report = verify(crm)
    assert (report.broken_at, report.reason) == (ids[-1] + 100, f"row {ids[-1] + 100} was changed after it was sealed")


def test_writing_after_tampering_does_not_hide_it(crm):
    ids = five_writes(crm)
    seal(crm)
    raw(crm, "UPDATE sys_audit SET changes = '{}' WHERE id = :id", id=ids[0])
    create(crm, "lead", {"name": "Later"})

    assert seal(crm).sealed == 1  # the chain goes on past an edited row; verify still names it
    assert verify(crm).broken_at == ids[0]


def test_the_hash_covers_the_previous_rows_hash(crm):
    five_writes(crm)
    seal(crm)
    rows = sorted(audit_rows(crm), key=lambda row: row["seal_seq"])

    assert rows[0]["prev_hash"] == audit.GENESIS
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == previous["hash"]
    assert all(len(row["hash"]) == len(hashlib.sha256().hexdigest()) for row in rows)


# --- sealing ---------------------------------------------------------------------------------------


def test_sealing_reads_and_writes_in_bounded_batches(crm):
    ids = five_writes(crm)

    with statements(crm) as sent:
        report = seal(crm, batch=2)

    assert (report.sealed, report.head_seq, report.head_id) == (5, 5, ids[-1])
    updates = [sql for sql in touching(sent, "sys_audit") if sql.startswith("UPDATE sys_audit SET")]
    assert len(updates) == 3  # 2 + 2 + 1 rows, one executemany each, each in its own transaction
    assert all("LIMIT" in sql for sql in touching(sent, "sys_audit") if sql.startswith("SELECT sys_audit.id,"))
    assert verify(crm, seal_first=False) == audit.ChainReport(checked=5)


def test_verify_counts_the_rows_not_sealed_yet(crm):
    five_writes(crm)
    seal(crm)
    with crm.engine.begin() as connection:
        for minutes in (2, 1):
            audit.log_change(
                connection,
                crm.schema,
                SYSTEM,
                "python",
                "update",
                "lead",
                1,
                {"budget": ["1", str(minutes)]},
                NOW + dt.timedelta(minutes=minutes),
            )

    report = verify(crm, seal_first=False)

    assert (report.ok, report.checked, report.unsealed) == (True, 5, 2)
    at = NOW.replace(microsecond=123000)
    assert (report.unsealed_oldest, report.unsealed_newest) == (
        at + dt.timedelta(minutes=1),
        at + dt.timedelta(minutes=2),
    )
    assert verify(crm).unsealed == 0


def test_history_shows_unsealed_rows_too(crm):
    lead = create(crm, "lead", {"name": "Acme"})
    seal(crm)
    with crm.session() as s:
        s.update("lead", lead.id, {"budget": "5"})

    with crm.engine.connect() as connection:
        entries = audit.history(connection, crm.schema, "lead", lead.id, SYSTEM)
    assert [e.action for e in entries] == ["create", "update"]
    assert [r["seal_seq"] for r in audit_rows(crm)] == [1, None]


def test_a_row_committed_late_with_a_lower_id_is_sealed_after_the_higher_one(crm):
    """Simulated on every database: a row whose id lies below the head's, unsealed (as a
    transaction that took its id first and committed last leaves it on PostgreSQL)."""
    five_writes(crm)
    seal(crm)
    raw(
        crm,
        "INSERT INTO sys_audit (id, at, username, channel, action, object, record_id, changes) "
        "VALUES (0, :at, 'system', 'python', 'update', 'lead', 1, '{}')",
        at=NOW.replace(tzinfo=None),
    )

    report = seal(crm)

    assert (report.sealed, report.head_seq, report.head_id) == (1, 6, 0)
    assert verify(crm) == audit.ChainReport(checked=6)


@pytest.mark.skipif(not WRITERS_RUN_CONCURRENTLY, reason="SQLite writers take turns: no id commits late")
def test_a_lower_id_committing_after_a_higher_one_was_sealed(crm):
    with crm.engine.connect() as slow:
        transaction = slow.begin()
        audit.log_change(slow, crm.schema, SYSTEM, "python", "create", "lead", 1, {"name": [None, "slow"]}, NOW)
        create(crm, "lead", {"name": "fast"})  # a higher id, committed first
        sealed: list[int] = []
        thread = threading.Thread(target=lambda: sealed.append(seal(crm).sealed))
        thread.start()
        thread.join(10)
        assert sealed == [1], "the sealer waited for the open writer"
        transaction.commit()
    thread.join()

    assert seal(crm).sealed == 1
    slow_row, fast_row = audit_rows(crm)  # id order
    assert slow_row["changes"] == {"name": [None, "slow"]} and slow_row["id"] < fast_row["id"]
    assert (fast_row["seal_seq"], slow_row["seal_seq"]) == (1, 2)
    assert slow_row["prev_hash"] == fast_row["hash"]
    assert verify(crm) == audit.ChainReport(checked=2)


# --- concurrent writers ---------------------------------------------------------------------------


@pytest.mark.skipif(not WRITERS_RUN_CONCURRENTLY, reason="SQLite writers take turns anyway")
def test_a_writer_does_not_wait_for_another_writers_open_transaction(crm):
    """An open transaction that wrote its audit row holds no lock another writer (or the
    sealer) needs: the second write commits while the first is still open."""
    finished = threading.Event()

    def second() -> None:
        create(crm, "lead", {"name": "second"})
        seal(crm)
        finished.set()

    with crm.session() as first:
        first.create("lead", {"name": "first, still open"})
        thread = threading.Thread(target=second)
        started = time.monotonic()
        thread.start()
        done_in_time = finished.wait(10)
    thread.join()
    assert done_in_time, f"the second writer waited {time.monotonic() - started:.1f} s for the first"
    assert verify(crm) == audit.ChainReport(checked=2)


def test_concurrent_writers_and_a_sealer_extend_one_unbroken_chain(crm):
    writers_left, lock = [THREADS], threading.Lock()

    def work(index: int) -> None:
        if index == THREADS:  # the sealer, as a worker runs it, while the others write
            while writers_left[0]:
                seal(crm, batch=7)
                time.sleep(0.01)
            return
        try:
            for n in range(PER_THREAD):
                with crm.session(channel=f"thread{index}") as s:
                    lead = s.create("lead", {"name": f"thread {index} lead {n}"})
                with crm.session(channel=f"thread{index}") as s:
                    s.update("lead", lead.id, {"budget": str(n)})
        finally:
            with lock:
                writers_left[0] -= 1

    assert run_in_threads(work, THREADS + 1) == []

    report = verify(crm)
    assert report == audit.ChainReport(checked=THREADS * PER_THREAD * 2)
    rows = audit_rows(crm)
    assert sorted(row["seal_seq"] for row in rows) == list(range(1, len(rows) + 1))
    assert len({row["prev_hash"] for row in rows}) == len(rows)  # no fork: each row has its own predecessor


# --- a trail chained by an older Trellis -------------------------------------------------------------


def old_audit_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The audit tables before sealing: each row hashed as it was written, no seal number."""
    trail = sa.Table(
        "sys_audit",
        metadata,
        sa.Column("id", tables.id_type(), primary_key=True, autoincrement=True),
        sa.Column("at", tables.UTCDateTime(), nullable=False),
        sa.Column("user_id", tables.id_type(), nullable=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Index("ix_sys_audit_object_record", "object", "record_id"),
    )
    head = sa.Table(
        "sys_audit_head",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    _, _, access, logins = CURRENT_AUDIT_TABLES(sa.MetaData())
    return trail, head, access.to_metadata(metadata), logins.to_metadata(metadata)


CURRENT_AUDIT_TABLES = tables.audit_tables


def write_old_chain(crm, count: int) -> None:
    """``count`` rows as an older Trellis's log_change wrote them: hash at write time, in id
    order, the head moved with each; one id lost to a rolled-back write (on PostgreSQL)."""
    trail, head = crm.schema.system["sys_audit"], crm.schema.system["sys_audit_head"]
    previous, last_id = audit.GENESIS, None
    for n in range(1, count + 1):
        row = {
            "at": NOW.replace(microsecond=123000),
            "user_id": None,
            "username": "system",
            "channel": "python",
            "action": "create",
            "object": "lead",
            "record_id": n,
            "changes": audit._canonical({"name": [None, f"lead {n}"]}),
        }
        row["prev_hash"], row["hash"] = previous, audit._legacy_digest(previous, row)
        previous = row["hash"]
        with crm.engine.begin() as connection:
            last_id = connection.execute(sa.insert(trail).values(row).returning(trail.c.id)).scalar_one()
            connection.execute(sa.delete(head))
            connection.execute(sa.insert(head).values(id=1, last_id=last_id, last_hash=previous))
        if n == 2:
            with crm.engine.connect() as connection, connection.begin() as transaction:
                connection.execute(sa.insert(trail).values(row))
                transaction.rollback()


def test_a_trail_chained_by_an_older_trellis_is_numbered_by_apply_and_goes_on(db_url, write_config, monkeypatch):
    path = write_config(CONFIG)
    monkeypatch.setattr(tables, "audit_tables", old_audit_tables)
    old = Trellis.open(path, db_url, clock=lambda: NOW)
    old.apply()
    write_old_chain(old, 5)
    old.close()
    monkeypatch.undo()

    crm = Trellis.open(path, db_url, clock=lambda: NOW)
    assert "number the 5 audit rows chained so far in id order (sys_audit.seal_seq)" in str(crm.plan())
    crm.apply()
    assert crm.plan().empty, str(crm.plan())

    rows = audit_rows(crm)
    assert rows[0]["hash"] == "87e417dbf8e614285eb82a926f46a7c24643f6df67d71f4e77ca1e387962bfc2"  # as 0.x wrote it
    assert [r["seal_seq"] for r in rows] == [1, 2, 3, 4, 5]
    with crm.engine.connect() as connection:
        head = connection.execute(sa.text("SELECT last_id, last_seq, legacy_seq FROM sys_audit_head")).one()
    assert tuple(head) == (rows[-1]["id"], 5, 5)
    assert verify(crm) == audit.ChainReport(checked=5)
    kept = audit.Reference(head_hash=rows[-1]["hash"], count=5)  # what verify printed before the upgrade
    with crm.engine.connect() as connection:
        assert audit.verify(connection, crm.schema, kept).ok

    create(crm, "lead", {"name": "after the upgrade"})  # unsealed, then chained on the old head
    assert verify(crm) == audit.ChainReport(checked=6)
    assert audit_rows(crm)[-1]["prev_hash"] == rows[-1]["hash"]
    raw(crm, "UPDATE sys_audit SET changes = '{}' WHERE id = :id", id=rows[1]["id"])
    assert verify(crm).broken_at == rows[1]["id"]
    crm.close()
