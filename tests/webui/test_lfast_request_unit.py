"""One web request, one read of its user (issue 18 §6): a list page reads the logged-in user
once (with what they may do and the bell's unread count), and its first page's rows with their
count in one statement; a change of team
still shows on the next request. On SQLite its reads take no write lock: a list is served
while another process holds the write lock, a write through a read session is refused, and
the access log of a read is still written."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from engine.runtime.replica import ReadOnlyWrite
from engine.runtime.security import users
from tests.webui.conftest import client_for, text

CONFIG = """
trellis: 1
settings: {languages: [en]}
objects:
  lead:
    title: "{name}"
    audit: {reads: true}
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects:
      lead: {read: team, edit: own, create: true}
"""
USERS = {"ann": {"roles": ["rep"], "team": "east"}, "bob": {"roles": ["rep"], "team": "east"}}


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, USERS, teams=["east", "west"])
    with crm.session("bob") as session:
        session.create("lead", {"name": "Bob's lead"})
    return crm


def statements(crm, work) -> list[str]:
    """The SQL the engine runs during ``work()``, BEGINs included."""
    seen: list[str] = []

    def before(conn, cursor, statement, *args):  # noqa: ANN001
        seen.append(statement)

    sa.event.listen(crm.engine, "before_cursor_execute", before)
    try:
        work()
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", before)
    return seen


def test_a_list_page_reads_its_user_once_and_a_team_change_shows_on_the_next_request(app, crm):
    ann = client_for(app, "ann")
    pages: list = []
    sql = statements(crm, lambda: pages.append(ann.get("/o/lead")))
    assert pages[0].status_code == 200 and "Bob&#39;s lead" in text(pages[0])
    assert 'class="bell"' in text(pages[0])
    # Beside the owners' names of the rows (``id IN``), one read of sys_users: the login check's
    # (the user's row and the team graph in one statement), reused by the list and the bell.
    users = [s for s in sql if s.lstrip().startswith("SELECT") and "FROM sys_users" in s and " IN (" not in s]
    assert len(users) == 1, users
    if crm.engine.dialect.name == "sqlite":
        assert "BEGIN IMMEDIATE" not in sql  # the page only reads: no write lock
    # The first page's rows carry their count (one statement), and the bell is counted with the
    # login check: no statement of their own.
    assert len([s for s in sql if "FROM obj_lead" in s]) == 1, sql
    assert not [s for s in sql if s.lstrip().startswith("SELECT count(*)") and "sys_notifications" in s], sql
    assert "Notifications: none unread" in text(pages[0]) and "bell-count" not in text(pages[0])

    with crm.directory() as directory:
        directory.edit("bob", team="west")
    moved = ann.get("/o/lead")
    assert moved.status_code == 200 and "Bob&#39;s lead" not in text(moved)


def test_the_bell_counted_with_the_login_check_is_the_users_own_unread_count(app, crm):
    notifications = crm.schema.system["sys_notifications"]
    with crm.directory() as directory:
        ids = {name: directory.get(name).id for name in ("ann", "bob")}
    now = crm.clock_now().now_utc
    with crm.engine.begin() as connection:
        connection.execute(
            sa.insert(notifications),
            [
                {"user_id": ids["ann"], "title": "one", "body": "", "created_at": now, "read_at": None},
                {"user_id": ids["ann"], "title": "two", "body": "", "created_at": now, "read_at": None},
                {"user_id": ids["ann"], "title": "read", "body": "", "created_at": now, "read_at": now},
                {"user_id": ids["bob"], "title": "bob's", "body": "", "created_at": now, "read_at": None},
            ],
        )
    page = client_for(app, "ann").get("/o/lead")
    assert page.status_code == 200 and "Notifications: 2 unread" in text(page)
    assert '<span class="badge bell-count" aria-hidden="true">2</span>' in text(page)
    assert "Notifications: 1 unread" in text(client_for(app, "bob").get("/o/lead"))


def test_sqlite_reads_beside_a_writer_refuse_writes_and_still_log_access(app, crm):
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's locks: PostgreSQL's readers never wait for writers")
    writer = sqlite3.connect(crm.engine.url.database, timeout=0.1, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with crm.read_session("ann") as session:
            assert [r["name"] for r in session.query("lead").all()] == ["Bob's lead"]
    finally:
        writer.rollback()
        writer.close()

    ann = client_for(app, "ann")
    writer = sqlite3.connect(crm.engine.url.database, timeout=0.1, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert ann.get("/o/lead").status_code == 200  # served while the lock is held
    finally:
        writer.rollback()
        writer.close()

    with pytest.raises(ReadOnlyWrite), crm.read_session("ann") as session:
        session.create("lead", {"name": "not here"})
    with crm.read_session("ann") as session:
        lead = session.query("lead").first()
        session.get("lead", lead.id)  # audit: reads → the access log, in its own short write
    access = crm.schema.system["sys_access_log"]
    with crm.engine.connect() as connection:
        logged = connection.execute(sa.select(sa.func.count()).select_from(access)).scalar()
    assert logged >= 1


def test_a_pages_shared_read_refuses_writes_logs_access_and_leaves_nothing_half_written(crm):
    """The read a ``reads_only`` page shares with its login check: SQLite's READ ONLY transaction,
    PostgreSQL's statements in autocommit (no BEGIN or COMMIT) — each refuses a write."""
    with crm.directory() as directory:
        ann = directory.get("ann").id
    before = _leads(crm)
    for write in (
        lambda session: session.create("lead", {"name": "not here"}),
        lambda session: session.connection.execute(sa.text("UPDATE obj_lead SET name = 'changed'")),
        lambda session: session.connection.exec_driver_sql("DELETE FROM obj_lead"),
    ):
        shared = crm.shared_read()
        found = users.login_user(crm, ann, shared=shared)
        assert found is not None and found.unread == 0
        with pytest.raises(ReadOnlyWrite), crm.read_session("ann", principal=found.principal, shared=shared) as s:
            write(s)
        assert shared.connection is None  # ended with the error
    assert _leads(crm) == before

    shared = crm.shared_read()
    found = users.login_user(crm, ann, shared=shared)
    autocommit = _read_and_open(crm, found.principal, shared)
    if crm.engine.dialect.name == "postgresql":
        assert autocommit  # no BEGIN, no COMMIT
        with crm.engine.connect() as connection:  # back in the pool, a plain connection again
            assert connection.connection.driver_connection.autocommit is False
    access = crm.schema.system["sys_access_log"]
    with crm.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(access)).scalar() == 1


def _read_and_open(crm, principal, shared) -> bool:  # noqa: ANN001
    """Whether the read ran in autocommit."""
    with crm.read_session("ann", principal=principal, shared=shared) as session:
        lead = session.query("lead").first()
        session.get("lead", lead.id)  # audit: reads → the access log, in its own short write
        return bool(getattr(session.connection.connection.driver_connection, "autocommit", False))


def _leads(crm) -> list[tuple]:  # noqa: ANN001
    with crm.engine.connect() as connection:
        return connection.execute(sa.text("SELECT id, name FROM obj_lead ORDER BY id")).all()


def test_sqlite_reads_of_one_process_take_turns_but_never_wait_for_ever(crm, monkeypatch):
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("the turns are SQLite's (engine.runtime.database.sqlite_reads)")
    import threading

    from engine.runtime import database

    monkeypatch.setattr(database, "READ_TURN_WAIT", 0.2)
    inside, leave = threading.Event(), threading.Event()

    def long_read() -> None:
        with crm.read_session("ann") as session:
            session.query("lead").all()
            inside.set()
            leave.wait(5)

    reader = threading.Thread(target=long_read)
    reader.start()
    try:
        assert inside.wait(5)
        with crm.read_session("bob") as session:  # waits its turn, then goes ahead: no deadlock
            with crm.read_session("bob") as nested:  # a nested read of the same thread too
                assert [r["name"] for r in nested.query("lead").all()] == ["Bob's lead"]
            assert session.query("lead").count() == 1
    finally:
        leave.set()
        reader.join()
