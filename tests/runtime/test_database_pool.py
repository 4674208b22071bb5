"""PostgreSQL connections as the engine sets them up (issue 18 §6). A pooled connection is checked
only after it rested: one taken again within ``TRELLIS_DB_PING_IDLE`` seconds goes straight to its
statement — no round trip of its own on a busy server — and one that rested longer is checked and,
when the server cut it meanwhile, replaced without the caller seeing it. Statements psycopg
prepares are planned for each execution's values (``plan_cache_mode``), except behind PgBouncer,
where nothing is prepared."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from engine.runtime.database import create_engine

pytestmark = pytest.mark.skipif(
    not os.environ.get("TRELLIS_TEST_DATABASE_URL"), reason="the pool's check is PostgreSQL's"
)


def _cut(engine: sa.Engine, pid: int) -> None:
    """End server process ``pid`` from another connection, as a restart or a firewall would."""
    with sa.create_engine(os.environ["TRELLIS_TEST_DATABASE_URL"]).connect() as admin:
        assert admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    time.sleep(0.1)


def _pid(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _pings(engine: sa.Engine, work) -> int:  # noqa: ANN001
    """How many checks (the dialect's ``do_ping``) ``work()`` made."""
    made = 0
    ping = engine.dialect.do_ping

    def counted(dbapi_connection) -> bool:  # noqa: ANN001
        nonlocal made
        made += 1
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        work()
    finally:
        engine.dialect.do_ping = ping  # type: ignore[method-assign]
    return made


@contextmanager
def _engine(db_url: str, monkeypatch, idle: str) -> Iterator[sa.Engine]:  # noqa: ANN001
    monkeypatch.setenv("TRELLIS_DB_PING_IDLE", idle)
    engine = create_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_connection_taken_again_at_once_is_not_checked_and_a_rested_one_is(db_url, monkeypatch):
    with _engine(db_url, monkeypatch, "1") as engine:
        first = _pid(engine)
        assert _pings(engine, lambda: [_pid(engine) for _ in range(5)]) == 0  # busy: no round trip
        time.sleep(1.2)
        assert _pings(engine, lambda: _pid(engine)) == 1  # rested: checked once

        _cut(engine, first)
        time.sleep(1.2)
        assert _pid(engine) != first  # rested and cut: replaced, the caller sees nothing


def test_with_no_rest_allowed_a_connection_cut_is_replaced_at_once(db_url, monkeypatch):
    with _engine(db_url, monkeypatch, "0") as engine:
        first = _pid(engine)
        _cut(engine, first)
        assert _pid(engine) != first  # taken right after the cut: checked, replaced


def test_a_connection_cut_and_taken_within_its_rest_fails_once_then_the_pool_is_renewed(db_url, monkeypatch):
    with _engine(db_url, monkeypatch, "60") as engine:
        first = _pid(engine)
        _cut(engine, first)
        with pytest.raises(sa.exc.OperationalError) as failed:
            _pid(engine)
        assert failed.value.connection_invalidated
        assert _pid(engine) != first  # SQLAlchemy replaced the pool's connections


def test_prepared_statements_are_planned_for_their_values_and_the_urls_options_are_kept(db_url, monkeypatch):
    monkeypatch.delenv("TRELLIS_DB_PGBOUNCER", raising=False)
    with _engine(db_url, monkeypatch, "1") as engine, engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
        # the test URL's own options: its schema, synchronous_commit off
        assert connection.exec_driver_sql("SELECT current_schema()").scalar() != "public"
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    monkeypatch.setenv("TRELLIS_DB_PGBOUNCER", "1")  # nothing prepared: no server option for PgBouncer
    with _engine(db_url, monkeypatch, "1") as engine, engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
