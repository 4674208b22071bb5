"""Shared fixtures: a clean database per test, on SQLite or PostgreSQL.

Database tests take their URL from ``TRELLIS_TEST_DATABASE_URL`` (PostgreSQL in
CI); without it they run on a fresh SQLite file. On PostgreSQL each test gets
its own schema (dropped afterwards), selected through ``search_path``.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from engine.runtime.security import passwords
from tests import templates

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

# Argon2id with production parameters costs ~0.2 s of CPU per login or password set; the
# tests log in thousands of times. They hash with the same algorithm at its cheapest
# parameters; tests/runtime/test_passwords.py proves production keeps argon2-cffi's defaults.
PRODUCTION_HASHER = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# A test's database is thrown away after it, so no commit waits for the disk: SQLite skips
# its fsync at each commit (PRAGMA synchronous=OFF) and PostgreSQL reports a commit before
# the WAL reaches the disk (synchronous_commit=off, set in fresh_database's URL). Only
# durability across a power cut differs; what a transaction sees and locks is unchanged.
# That waiting was a third of the SQLite run's time.
@sa.event.listens_for(sa.engine.Engine, "connect")
def _no_disk_waits(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


#: Set while a test marked ``no_database`` runs: such a test opening a database fails.
_database_forbidden: list[str] = []


@sa.event.listens_for(sa.engine.Engine, "connect")
def _refuse_in_no_database_tests(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    if _database_forbidden:
        raise AssertionError(f"{_database_forbidden[0]} is marked no_database but opened a database connection")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "no_database: the test checks the config language, the docs or the code and opens no database; "
        "the PostgreSQL runs leave it to the SQLite run, since no database can change its result",
    )
    config.addinivalue_line("markers", "uses_database: in a ``no_database`` module, a test that does open one")


def _database_free(item: pytest.Item) -> bool:
    return item.get_closest_marker("no_database") is not None and item.get_closest_marker("uses_database") is None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (TRELLIS_TEST_DATABASE_URL set), deselect the ``no_database`` tests: they
    ran in the SQLite run and would only repeat the same work."""
    if not os.environ.get("TRELLIS_TEST_DATABASE_URL"):
        return
    skipped = [item for item in items if _database_free(item)]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if not _database_free(item)]


@pytest.fixture(autouse=True)
def _no_database_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """A ``no_database`` test that connects to a database fails (in the SQLite run), so the
    marker cannot hide a database test from PostgreSQL."""
    if not _database_free(request.node):
        yield
        return
    _database_forbidden.append(request.node.nodeid)
    try:
        yield
    finally:
        _database_forbidden.clear()


class Clock:
    """A clock the test moves: ``clock.now += …`` or ``clock.at(moment)``; pass it as
    ``Trellis.open(…, clock=clock)``."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, moment: dt.datetime) -> dt.datetime:
        """Move to ``moment`` (any time zone) and return it in UTC."""
        self.now = moment.astimezone(dt.UTC)
        return self.now


def fresh_database(folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database, dropped afterwards (a SQLite file in ``folder``,
    or a new PostgreSQL schema when TRELLIS_TEST_DATABASE_URL is set)."""
    base = os.environ.get("TRELLIS_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{folder / 'test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema} -csynchronous_commit=off')}"
    with admin.begin() as conn:
        templates.release(conn, schema)  # kept for the next test of its config when its DDL is unchanged


_admin_engines: dict[str, sa.Engine] = {}


def _admin_engine(base: str) -> sa.Engine:
    """One engine per process that creates and drops the tests' schemas (a connection kept
    open instead of a new one twice per test)."""
    if base not in _admin_engines:
        _admin_engines[base] = sa.create_engine(base, connect_args={"options": "-csynchronous_commit=off"})
        templates.watch_ddl(_admin_engines[base])
    return _admin_engines[base]


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database for this test."""
    yield from fresh_database(tmp_path)


def run_in_threads(work: Callable[[int], None], threads: int) -> list[BaseException]:
    """Run ``work(index)`` in ``threads`` threads released at once; returns what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def runner(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    workers = [threading.Thread(target=runner, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.fixture
def write_config(tmp_path: Path):
    """Write YAML text to a file in the test's folder and return its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
