"""Trellis behind PgBouncer in transaction pooling mode (issue 18 §1): the API creates, lists,
updates and reports, and the worker makes its pass, all through Debian's ``pgbouncer``.

PostgreSQL only (``TRELLIS_TEST_DATABASE_URL``). The test starts its own pgbouncer (an ini in a
temporary folder, a free port, ``pool_mode = transaction``, ``auth_type = any``) in front of the
test database; the test's schema is put in the search path of every server connection by the
database entry's ``connect_query`` (a client's ``options=-csearch_path`` is not something
PgBouncer passes on, and a ``SET`` would not outlive its transaction). A missing ``pgbouncer``
skips the test, or fails it when ``TRELLIS_REQUIRE_PGBOUNCER=1`` (CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from engine import Trellis
from engine.runtime.jobs import worker
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import make_app

BASE = os.environ.get("TRELLIS_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not BASE, reason="PgBouncer runs in front of PostgreSQL (TRELLIS_TEST_DATABASE_URL)")

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
      status: {type: picklist, values: [new, working, won]}
      amount: {type: decimal}
roles:
  rep:
    objects:
      lead: {read: all, edit: all, create: true}
reports:
  by_status:
    object: lead
    group_by: [status]
    measures: [count, {sum: amount}]
    roles: [rep]
"""


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found is None:
        message = "Debian's pgbouncer is not installed (apt-get install pgbouncer)"
        if os.environ.get("TRELLIS_REQUIRE_PGBOUNCER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bouncer(tmp_path: Path) -> Iterator[str]:
    """The URL of the test database through a fresh pgbouncer, on a schema of its own."""
    binary = _pgbouncer()
    server = sa.engine.make_url(BASE)
    schema = f"t_{uuid.uuid4().hex[:12]}"  # the pattern .ci/run cleans up after a killed run
    admin = sa.create_engine(BASE)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    port = _free_port()
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"trellis = host={server.host or '127.0.0.1'} port={server.port or 5432} dbname={server.database} "
        f"user={server.username or 'postgres'} connect_query='SET search_path TO {schema}'\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 50\n"
        "ignore_startup_parameters = extra_float_digits\n"
        "server_round_robin = 1\n",  # each transaction on the next server connection, as under load
        encoding="utf-8",
    )
    command = [binary, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]  # it refuses to run as root
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"pgbouncer did not start: {output}")
                time.sleep(0.05)
        yield f"postgresql+psycopg://{server.username or 'postgres'}@127.0.0.1:{port}/trellis"
    finally:
        process.terminate()
        process.wait(timeout=10)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _open_server_connections(engine: sa.Engine, count: int) -> None:
    """Make pgbouncer open ``count`` server connections (as many transactions at once), so that
    consecutive transactions of one client run on different ones (``server_round_robin``)."""
    connections = [engine.connect() for _ in range(count)]
    for connection in connections:
        connection.exec_driver_sql("SELECT 1")
    for connection in connections:
        connection.close()


def test_the_api_and_the_worker_run_through_pgbouncer_in_transaction_pooling(bouncer, write_config, monkeypatch):
    monkeypatch.setenv("TRELLIS_DB_PGBOUNCER", "1")
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(write_config(CONFIG), bouncer)
    try:
        crm.apply()
        with crm.directory() as directory:
            directory.add("alice", roles=["rep"])
        raw = crm.engine.raw_connection()
        assert raw.driver_connection.prepare_threshold is None  # no server-side prepared statements
        raw.close()
        _open_server_connections(crm.engine, 3)
        auth = {"Authorization": f"Bearer {create_token(crm, 'alice', 'pgbouncer')[0]}"}
        client = make_app(crm).test_client()

        ids = []
        for number in range(12):  # more than psycopg's default prepare threshold (5) of each statement
            made = client.post(
                "/api/v1/lead", json={"name": f"Lead {number}", "status": "new", "amount": 10}, headers=auth
            )
            assert made.status_code == 201, made.get_json()
            ids.append(made.get_json()["id"])
        for record_id in ids[:6]:
            current = client.get(f"/api/v1/lead/{record_id}", headers=auth).get_json()
            changed = client.patch(
                f"/api/v1/lead/{record_id}",
                json={"status": "won"},
                headers={**auth, "If-Match": str(current["version"])},
            )
            assert changed.status_code == 200, changed.get_json()
        listed = client.get("/api/v1/lead?status=won&per_page=50", headers=auth)
        assert listed.status_code == 200 and len(listed.get_json()["data"]) == 6
        report = client.get("/api/v1/reports/by_status", headers=auth)
        assert report.status_code == 200, report.get_json()

        with crm.engine.connect() as connection:  # one pooled connection's life: statements repeated
            for number in range(8):
                assert connection.execute(sa.text("SELECT CAST(:n AS integer)"), {"n": number}).scalar() == number
                connection.commit()

        passed = worker.run_once(crm, imports=False, mail=False)
        assert passed.seal_error is None and passed.sealed > 0
        assert client.get("/readyz").status_code == 200
    finally:
        crm.close()
