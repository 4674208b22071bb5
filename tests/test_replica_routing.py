"""Read replicas (issue 18 §2) on a real PostgreSQL streaming replica started here.

The shared server at 127.0.0.1:5432 takes no replication connections, and a test may not restart
it: the fixture makes a primary of its own (``initdb`` in a temporary folder, on a free port), a
replica of it with ``pg_basebackup -R``, starts both and stops and removes them at the end. It runs
in the PostgreSQL run only (``TRELLIS_TEST_DATABASE_URL`` set); ``TRELLIS_REQUIRE_REPLICA=1`` (CI)
makes a missing PostgreSQL server binary a failure instead of a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import Trellis
from engine.runtime import replica
from engine.runtime.messages import speaking
from engine.runtime.records.finder import finding
from engine.runtime.replica import ReadOnlyWrite, ReplicaSetupError
from engine.runtime.security.permissions import AccountUnavailable
from engine.runtime.security.tokens import create_token
from engine.runtime.subscriptions import sending
from webui import create_app

BIN = Path("/usr/lib/postgresql/15/bin")
CONFIG = """
trellis: 1
objects:
  deal:
    audit: {reads: true}
    fields:
      name: {type: text, required: true}
  company:
    fields:
      name: {type: text, required: true}
    duplicates:
      - name: same_name
        match: [{field: name, method: exact}]
reports:
  companies:
    object: company
    group_by: [name]
    measures: [count]
subscriptions:
  daily_companies:
    report: companies
    schedule: {daily: "08:00"}
    roles: [rep]
roles:
  rep:
    objects: {"*": {read: all, edit: own, create: true, export: true, merge: true}}
"""
#: Server settings for a throwaway cluster: nothing waits for the disk.
FAST = "-c fsync=off -c full_page_writes=off -c listen_addresses=127.0.0.1"


def _as_postgres(*command: str) -> list[str]:
    """``command`` run as the ``postgres`` OS user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else list(command)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*command: str) -> None:
    done = subprocess.run(_as_postgres(*command), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    """(primary URL, replica URL) of a primary and its streaming replica, started for this module."""
    if not os.environ.get("TRELLIS_TEST_DATABASE_URL"):
        pytest.skip("the replica tests run on PostgreSQL (TRELLIS_TEST_DATABASE_URL)")
    if not (BIN / "initdb").exists() or not (BIN / "pg_basebackup").exists():
        if os.environ.get("TRELLIS_REQUIRE_REPLICA") == "1":
            pytest.fail(f"TRELLIS_REQUIRE_REPLICA=1 but {BIN}/initdb or pg_basebackup is missing")
        pytest.skip(f"PostgreSQL server binaries are not installed ({BIN})")
    folder = Path(tempfile.mkdtemp(prefix="trellis-replica-"))
    if os.getuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    primary, standby = folder / "primary", folder / "replica"
    ports = _free_port(), _free_port()
    started: list[Path] = []
    try:
        _run(str(BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        for data, port in ((primary, ports[0]), (standby, ports[1])):
            if data == standby:
                _run(
                    str(BIN / "pg_basebackup"),
                    *("-h", "127.0.0.1", "-p", str(ports[0]), "-U", "postgres", "-D", str(standby)),
                    *("-R", "-X", "stream", "-c", "fast", "--no-sync"),
                )
            options = f"-p {port} -k {folder} {FAST}"
            _run(
                str(BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / f"{data.name}.log"),
                "-w",
                "start",
            )
            started.append(data)
        yield tuple(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres" for port in ports)  # type: ignore[misc]
    finally:
        for data in reversed(started):
            subprocess.run(
                _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"), capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def crm(servers, tmp_path_factory) -> Iterator[Trellis]:
    primary_url, replica_url = servers
    path = tmp_path_factory.mktemp("replica") / "config.yaml"
    path.write_text(CONFIG)
    crm = Trellis.open(path, primary_url, read_url=replica_url)
    crm.apply()
    with crm.directory() as directory:
        directory.add("alice", roles=["rep"])
        directory.add("bob", roles=["rep"])
    _wait_until_replayed(crm)
    yield crm
    crm.close()


def _replica(crm: Trellis) -> replica.Replica:
    assert crm.reads.replica is not None
    return crm.reads.replica


def _wait_until_replayed(crm: Trellis) -> None:
    """Until the replica has replayed all the primary wrote (the schema, the users)."""
    with crm.engine.connect() as connection:
        target = replica.lsn_number(connection.execute(sa.text("SELECT pg_current_wal_flush_lsn()::text")).scalar())
    with _replica(crm).engine.connect() as connection:
        for _ in range(200):
            replayed = connection.execute(sa.text("SELECT pg_last_wal_replay_lsn()::text")).scalar()
            if (replica.lsn_number(replayed) or 0) >= (target or 0):
                return
            time.sleep(0.02)
    with crm.engine.connect() as connection:
        now = connection.execute(
            sa.text(
                "SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_lsn()::text, pg_current_wal_flush_lsn()::text"
            )
        ).one()
    raise AssertionError(f"the replica did not catch up: {replayed} vs {now}")


def _replay(crm: Trellis, paused: bool) -> None:
    with _replica(crm).engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"))
        connection.commit()
    _replica(crm)._last = None  # measure again now, not in a second


def _names(crm: Trellis, user: str) -> set[str]:
    with crm.read_session(user, channel="web") as session:
        return {record["name"] for record in session.query("deal").all()}


def test_replica_serves_lists_and_a_writer_reads_their_own_write(crm):
    replica_engine = _replica(crm).engine
    with crm.read_session("bob") as session:
        assert session.connection.engine is replica_engine  # lists are read on the replica
    _replica(crm).max_lag = 60.0
    _replay(crm, paused=True)
    try:
        with crm.session("alice") as session:
            session.create("deal", {"name": "Written while replay is paused"})
        assert "Written while replay is paused" not in _names(crm, "bob")  # bob reads the replica
        assert "Written while replay is paused" in _names(crm, "alice")  # alice: read-your-writes
        other = Trellis(crm.config, crm.engine, read_url=str(_replica(crm).engine.url))  # another process
        try:
            assert "Written while replay is paused" in _names(other, "alice")  # the mark is on the primary
            assert "Written while replay is paused" not in _names(other, "bob")
        finally:
            other.reads.replica.engine.dispose()  # type: ignore[union-attr]
    finally:
        _replay(crm, paused=False)
    _wait_until_replayed(crm)
    _replica(crm)._last = None
    assert "Written while replay is paused" in _names(crm, "bob")
    assert "Written while replay is paused" in _names(crm, "alice")
    with crm.read_session("alice") as session:
        assert session.connection.engine is replica_engine  # alice back on the replica once it replayed


def test_replica_too_far_behind_sends_reads_to_the_primary(crm):
    _replay(crm, paused=True)
    try:
        with crm.session("alice") as session:
            session.create("deal", {"name": "Written while the replica lags"})
        _replica(crm).max_lag = 0.2
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the replica receives the write but does not replay it
            _replica(crm)._last = None
            if (_replica(crm).reading().lag or 0) > 0.25:  # past 0.2 once rounded to the ms too
                break
            time.sleep(0.05)
        status = replica.status(crm)
        assert status["configured"] is True and status["used"] is False and status["lag_seconds"] > 0.2
        assert (
            replica.sentence(crm)
            == f"reads on the primary: the replica is {status['lag_seconds']:g} s behind (more than 0.2 s)"
        )
        assert "Written while the replica lags" in _names(crm, "bob")  # the primary answers
        with crm.read_session("bob") as session:
            assert session.connection.engine is crm.engine
    finally:
        _replica(crm).max_lag = 60.0
        _replay(crm, paused=False)
    _wait_until_replayed(crm)
    _replica(crm)._last = None
    assert replica.status(crm)["used"] is True
    assert replica.sentence(crm).startswith("reads on the replica, ")


def test_replica_that_cannot_be_reached_sends_reads_to_the_primary(crm):
    gone = Trellis(crm.config, crm.engine, read_url=f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/postgres")
    try:
        assert "Opened by nobody yet" not in _names(gone, "bob")  # answered, by the primary
        with gone.read_session("bob") as session:
            assert session.connection.engine is crm.engine
        status = replica.status(gone)
        assert status["configured"] is True and status["used"] is False and status["lag_seconds"] is None
        assert status["error"] == "the replica cannot be reached (OperationalError)"  # no host, no URL
        assert replica.sentence(gone) == "reads on the primary: the replica cannot be reached (OperationalError)"
    finally:
        gone.reads.replica.engine.dispose()  # type: ignore[union-attr]


def test_replica_of_another_primary_is_not_read(crm):
    stranger = Trellis(crm.config, crm.engine, read_url=os.environ["TRELLIS_TEST_DATABASE_URL"])
    try:  # the shared test server: another cluster, whose data is not the primary's
        with stranger.read_session("bob") as session:
            assert session.connection.engine is crm.engine
        assert replica.sentence(stranger) == "reads on the primary: the read database is not a replica of the primary"
    finally:
        stranger.reads.replica.engine.dispose()  # type: ignore[union-attr]


def test_replica_read_session_refuses_writes_and_logs_access_on_the_primary(crm):
    with crm.session("alice") as session:
        deal = session.create("deal", {"name": "Opened by bob"})
    _wait_until_replayed(crm)
    with crm.read_session("bob") as session:
        assert session.connection.engine is _replica(crm).engine
        assert session.get("deal", deal.id)["name"] == "Opened by bob"  # the read is logged (audit reads)
    with crm.engine.connect() as connection:
        logged = connection.execute(
            sa.text("SELECT count(*) FROM sys_access_log WHERE username = 'bob' AND record_id = :id"), {"id": deal.id}
        ).scalar()
    assert logged == 1
    with pytest.raises(ReadOnlyWrite, match="read-only session tried to write"), crm.read_session("bob") as session:
        session.create("deal", {"name": "Never written"})


def test_replica_api_list_after_a_write_through_the_api(crm):
    """What an API client sees: its own new record in the list and the global search at once;
    another user's list and search are the replica's, and show it once the replica replays it."""
    client = create_app(crm, test_config={"TESTING": True, "SECRET_KEY": "test secret"}).test_client()
    headers = {
        user: {"Authorization": f"Bearer {create_token(crm, user, 'replica test')[0]}"} for user in ("alice", "bob")
    }
    _wait_until_replayed(crm)
    _replay(crm, paused=True)
    try:
        created = client.post("/api/v1/deal", json={"name": "Posted while replay is paused"}, headers=headers["alice"])
        assert created.status_code == 201, created.json

        def listed(user: str) -> set[str]:
            response = client.get("/api/v1/deal?per_page=500", headers=headers[user])
            assert response.status_code == 200, response.json
            return {record["name"] for record in response.json["data"]}

        def searched(user: str) -> set[str]:
            response = client.get("/api/v1/search?q=replay%20is%20paused&objects=deal", headers=headers[user])
            assert response.status_code == 200, response.json
            return {hit["record"]["name"] for group in response.json["data"] for hit in group["records"]}

        assert "Posted while replay is paused" in listed("alice")
        assert "Posted while replay is paused" not in listed("bob")
        assert "Posted while replay is paused" in searched("alice")
        assert "Posted while replay is paused" not in searched("bob")
    finally:
        _replay(crm, paused=False)
    _wait_until_replayed(crm)
    _replica(crm)._last = None
    assert "Posted while replay is paused" in listed("bob")
    assert "Posted while replay is paused" in searched("bob")


def test_replica_refuses_a_user_disabled_on_the_primary_at_once(crm):
    """Who a user is comes from the primary: disabled there, refused at once, though the replica
    still holds their row as active and lists still read the replica."""
    with crm.directory() as directory:
        directory.add("carol", roles=["rep"])
    _wait_until_replayed(crm)
    _replica(crm).max_lag = 600.0
    _replay(crm, paused=True)
    try:
        with crm.directory() as directory:
            directory.disable("carol")
        with crm.read_session("bob") as session:
            assert session.connection.engine is _replica(crm).engine
            active = session.connection.execute(sa.text("SELECT active FROM sys_users WHERE username = 'carol'"))
            assert active.scalar() is True  # the replica has not replayed the disabling
        with pytest.raises(AccountUnavailable), crm.read_session("carol"):
            pass
    finally:
        _replica(crm).max_lag = 60.0
        _replay(crm, paused=False)
    _wait_until_replayed(crm)


def test_replica_serves_the_duplicate_finder_and_the_subscriptions(crm):
    """The finder's scan and a subscription's report read the replica: what the primary holds and
    the replica has not replayed is in neither; the groups and the outbox are on the primary."""
    with crm.directory() as directory:
        directory.add("dora", roles=["rep"], email="dora@example.com")
    with crm.session("alice") as session:
        for name in ("Acme", "Acme"):
            session.create("company", {"name": name}, allow_duplicate=True)
    now = crm.clock_now().now_utc
    sending.send_due(crm, now)  # the rule's rows, due at the next 08:00
    with crm.engine.connect() as connection:
        due = connection.execute(
            sa.text(
                "SELECT s.next_run_at FROM sys_subscriptions s JOIN sys_users u ON u.id = s.user_id "
                "WHERE u.username = 'dora'"
            )
        ).scalar_one()
    _wait_until_replayed(crm)
    _replica(crm).max_lag = 600.0
    _replay(crm, paused=True)
    try:
        with crm.session("alice") as session:
            for name in ("Globex", "Globex"):
                session.create("company", {"name": name}, allow_duplicate=True)
        found = finding.find(crm, "company")
        assert (found.records, found.groups) == (2, 1)  # the replica's Acme pair; Globex not replayed
        report = sending.send_due(crm, due)
        assert report.sent == 1, report
        with crm.engine.connect() as connection:  # the e-mail is in the primary's outbox
            body = connection.execute(
                sa.text("SELECT payload FROM sys_outbox WHERE target = 'dora@example.com'")
            ).scalar_one()
        text = str(body)
        assert "Acme" in text and "Globex" not in text
    finally:
        _replica(crm).max_lag = 60.0
        _replay(crm, paused=False)
    _wait_until_replayed(crm)
    _replica(crm)._last = None
    assert finding.find(crm, "company").groups == 2  # replayed: both pairs


@pytest.mark.no_database
def test_replica_settings_that_cannot_be_used_are_refused_in_words():
    sqlite = sa.create_engine("sqlite://")
    with pytest.raises(ReplicaSetupError, match="must name a PostgreSQL streaming replica") as refused:
        replica.router(sqlite, "postgresql://reader@127.0.0.1/crm")
    assert refused.value.code == "replica_not_postgresql"
    postgres = sa.create_engine("postgresql+psycopg://writer@127.0.0.1/crm")
    with pytest.raises(
        ReplicaSetupError,
        match=r"TRELLIS_REPLICA_MAX_LAG must be a number of seconds greater than 0, such as 5; it is 'soon'",
    ):
        replica.router(postgres, "postgresql://reader@127.0.0.1/crm", max_lag="soon")
    with speaking("zh"), pytest.raises(ReplicaSetupError, match="必须是大于 0 的秒数"):
        replica.router(postgres, "postgresql://reader@127.0.0.1/crm", max_lag="-1")
    assert replica.router(postgres, None).replica is None or os.environ.get(replica.READ_URL)
    assert replica.router(postgres, "postgresql://reader@127.0.0.1/crm", max_lag="2.5").replica.max_lag == 2.5
