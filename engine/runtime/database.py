"""Database engines for Trellis: SQLite (embedded default) and PostgreSQL.

SQLite is set up so that Trellis can rely on it the way it relies on
PostgreSQL: WAL journal, foreign keys enforced, a busy timeout, writers that queue
instead of failing (BEGIN IMMEDIATE), and real transactions around DDL (pysqlite's own transaction handling is turned off and
SQLAlchemy emits BEGIN itself), so that a failed migration rolls back whole.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.metadata.fieldtypes import MAX_INTEGER
from engine.runtime.errors import NotFound, TrellisError

DEFAULT_URL = "sqlite:///trellis.db"
#: The execution option (``statement.execution_options(**{KEEPS_ROWS: True})``) of the write
#: path's own statements that neither read nor depend on the rows a transaction's writes
#: collect (a record's INSERT, a lookup check, a read of ``sys_users``): they run without
#: writing those rows first, as every other statement does (``engine.runtime.records.unit``).
KEEPS_ROWS = "trellis_keeps_collected_rows"


def database_url(url: str | None = None) -> str:
    """``url``, else ``TRELLIS_DATABASE_URL``, else the SQLite file ``trellis.db``."""
    url = url or os.environ.get("TRELLIS_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def missing_database(url: str | None = None) -> str | None:
    """The path of the SQLite file ``url`` names when it does not exist (connecting would create
    it); None for an existing file, an in-memory database or a server database."""
    parsed = sa.engine.make_url(database_url(url))
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return None if os.path.exists(parsed.database) else parsed.database


#: The execution option of a connection that only reads: on SQLite it does not wait for the write
#: lock, so that it reads (a job's progress, say) while a long transaction writes.
READ_ONLY = "trellis_read_only"


@contextmanager
def read_only(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection for reads only (see ``READ_ONLY``); writing through it is a mistake SQLite may
    refuse with "database is locked"."""
    with engine.connect() as connection:
        yield connection.execution_options(**{READ_ONLY: True})


def deferred_reads(engine: sa.Engine) -> bool:
    """Whether read-only units of work on ``engine`` take ``sqlite_reads``: a SQLite file (an
    in-memory database is one connection, shared by every transaction of its thread)."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


#: The SQLite error of a write refused by ``PRAGMA query_only`` (``sqlite_reads``).
QUERY_ONLY_REFUSAL = "attempt to write a readonly database"


#: The longest a read of this process waits for another's to end (``_reads_take_turns``), in seconds.
READ_TURN_WAIT = 1.0
_READ_TURN = threading.RLock()


@contextmanager
def _reads_take_turns() -> Iterator[None]:
    """The read-only units of work of one process take turns on SQLite (re-entrant for a thread).
    Under ``BEGIN IMMEDIATE`` they did, waiting inside SQLite with the GIL released; side by side,
    a server's threads contend for the GIL instead, and one ``trellis serve`` process served about
    30 % fewer requests (docs/benchmarks.md, "Serving with several processes"). Processes still
    read side by side. A read waits at most ``READ_TURN_WAIT`` and then goes ahead, so a read that
    waits inside another's turn for something (a write lock) never deadlocks."""
    taken = _READ_TURN.acquire(timeout=READ_TURN_WAIT)
    try:
        yield
    finally:
        if taken:
            _READ_TURN.release()


@contextmanager
def sqlite_reads(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read-only transaction on a SQLite file: a deferred ``BEGIN`` (``READ_ONLY``), which takes
    no write lock, so that several processes read side by side under WAL while one writes; it
    reads one snapshot throughout. ``PRAGMA query_only`` refuses a write through it (an
    ``OperationalError``, ``QUERY_ONLY_REFUSAL``) instead of letting it try to take the write lock
    half-way, which under WAL fails at once (``SQLITE_BUSY_SNAPSHOT``) when another connection
    wrote since the snapshot. Rows a read still writes (the access log) go in a short
    ``BEGIN IMMEDIATE`` transaction of their own (``Session.primary_writes``)."""
    with _reads_take_turns(), read_only(engine) as connection:
        raw = connection.connection.driver_connection
        assert raw is not None, "the connection is open, so it has its sqlite3 connection"
        raw.execute("PRAGMA query_only = 1")
        try:
            with connection.begin():
                yield connection
        finally:
            raw.execute("PRAGMA query_only = 0")


def create_engine(url: str | None = None) -> sa.Engine:
    """An engine for ``url`` (see ``database_url``) with Trellis's connection set-up."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **pool_options(url))
        _configure_sqlite(engine)
        return engine
    options = pool_options(url)
    connect_args = {**options.get("connect_args", {}), **pgbouncer_connect_args()}
    if "prepare_threshold" not in connect_args:  # psycopg prepares statements run often: plan them anew
        given = connect_args.get("options") or _url_options(url)
        connect_args["options"] = f"{given} {CUSTOM_PLANS}".strip()
    options["connect_args"] = connect_args
    engine = sa.create_engine(url, **options)
    ping_when_idle(engine, ping_idle())
    return engine


#: The connection option that has PostgreSQL plan a prepared statement for each execution's values.
#: psycopg prepares a statement on the server once it ran five times on a connection; after five
#: more, PostgreSQL may switch to a generic plan, made without the values. For a search (the text
#: bound) that plan read a team's rare text's matches in 0.25 s instead of 50 ms at 10,000,000
#: deals (docs/benchmarks.md); planning each time cost a rep's list page nothing measurable.
CUSTOM_PLANS = "-c plan_cache_mode=force_custom_plan"


def _url_options(url: str) -> str:
    """The ``options`` (server settings) ``url`` gives, or ``""``."""
    given = sa.engine.make_url(url).query.get("options", "")
    return " ".join(given) if isinstance(given, tuple) else given


def ping_idle() -> int:
    """``TRELLIS_DB_PING_IDLE`` (``PING_IDLE``), else ``PING_IDLE_DEFAULT``; raises
    ``DatabaseSettingError`` naming a bad value."""
    idle = _whole_number(PING_IDLE, 0, "seconds a pooled connection may rest and be taken unchecked")
    return PING_IDLE_DEFAULT if idle is None else idle


_RESTING_SINCE = "trellis_resting_since"


def ping_when_idle(engine: sa.Engine, seconds: float) -> None:
    """Check a pooled connection (one empty round trip, the dialect's ``do_ping``) when it is
    taken after resting more than ``seconds`` in the pool, and replace it if the server no
    longer answers (``DisconnectionError``: the pool opens a new one). SQLAlchemy's
    ``pool_pre_ping`` checks at every checkout: a round trip on every request of a busy server,
    whose connections rest a few milliseconds, for the case of a server restarted or a
    connection cut while they rested. A connection taken sooner than ``seconds`` and found dead
    fails its statement; SQLAlchemy then replaces every connection of the pool opened before."""

    @sa.event.listens_for(engine, "checkin")
    def resting(dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTING_SINCE] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def taken(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop(_RESTING_SINCE, None)
        if since is None or time.monotonic() - since <= seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError(str(error)) from error


class DatabaseSettingError(TrellisError):
    """A ``TRELLIS_DB_*`` environment variable whose value is not what it takes."""

    code = "bad_database_setting"


#: The connection-pool settings read from the environment: variable, SQLAlchemy's
#: ``create_engine`` argument, smallest value allowed, what the value means.
POOL_SETTINGS = (
    ("TRELLIS_DB_POOL_SIZE", "pool_size", 1, "connections kept open per process"),
    ("TRELLIS_DB_MAX_OVERFLOW", "max_overflow", 0, "connections opened beyond the pool at busy times"),
    ("TRELLIS_DB_POOL_TIMEOUT", "pool_timeout", 1, "seconds to wait for a free connection"),
    ("TRELLIS_DB_POOL_RECYCLE", "pool_recycle", 1, "seconds after which a connection is replaced"),
)
#: Milliseconds a PostgreSQL statement may run before the server cancels it (unset: no limit).
STATEMENT_TIMEOUT = "TRELLIS_DB_STATEMENT_TIMEOUT"
#: Seconds a PostgreSQL connection may rest in the pool and still be taken without a check
#: (``ping_when_idle``; 0: checked every time it is taken).
PING_IDLE = "TRELLIS_DB_PING_IDLE"
#: ``PING_IDLE`` when it is not set.
PING_IDLE_DEFAULT = 1


def _whole_number(name: str, smallest: int, meaning: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = smallest - 1
    if value < smallest:
        raise DatabaseSettingError(
            f"{name}={text!r} is not valid: give a whole number of {meaning}, at least {smallest} (e.g. {name}=10)."
        )
    return value


def pool_options(url: str) -> dict[str, Any]:
    """The ``create_engine`` arguments the environment sets for ``url``: the pool's size, overflow,
    timeout and recycle time (``POOL_SETTINGS``), and on PostgreSQL the statement timeout
    (``STATEMENT_TIMEOUT``, sent as a connection option). Unset variables leave SQLAlchemy's
    defaults. Raises ``DatabaseSettingError`` naming a bad value (``PING_IDLE``'s too, which
    ``create_engine`` applies)."""
    options: dict[str, Any] = {}
    for name, argument, smallest, meaning in POOL_SETTINGS:
        value = _whole_number(name, smallest, meaning)
        if value is not None:
            options[argument] = value
    timeout = _whole_number(STATEMENT_TIMEOUT, 1, "milliseconds a statement may run")
    ping_idle()  # refused here too, with the other settings, before any connection
    parsed = sa.engine.make_url(url)
    if timeout is not None and parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {"options": f"{_url_options(url)} -c statement_timeout={timeout}".strip()}
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return {}  # one connection held by SingletonThreadPool: pool sizes do not apply
    return options


def pgbouncer_connect_args() -> dict[str, Any]:
    """``TRELLIS_DB_PGBOUNCER=1`` (PgBouncer in transaction pooling mode between Trellis and
    PostgreSQL): psycopg prepares no statement on the server (``prepare_threshold=None``), since
    the next transaction may run on another server connection that never saw it. Trellis holds
    no other session state across transactions (its advisory locks and ``SET``s are the
    transaction's own: ``pg_advisory_xact_lock``, ``SET LOCAL``)."""
    if os.environ.get("TRELLIS_DB_PGBOUNCER", "").strip().lower() in ("1", "true", "yes", "on"):
        return {"prepare_threshold": None}
    return {}


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):  # noqa: ANN001
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (below)
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection):  # noqa: ANN001
        # IMMEDIATE takes the write lock up front: a transaction that reads (lookup and
        # unique checks) and then writes can otherwise fail at once with "database is
        # locked" when another writer got there first, instead of waiting its turn.
        # A connection that only reads (``read_only``) reads its WAL snapshot beside a writer.
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


@contextmanager
def foreign_keys_deferred(connection: sa.Connection) -> Iterator[None]:
    """On SQLite, turn foreign-key enforcement off around a table rebuild.

    SQLite rebuilds a table to change it (create, copy, drop, rename); with
    enforcement on, dropping the old table would break rows that refer to it.
    This is the procedure SQLite documents: enforcement off outside the
    transaction, ``PRAGMA foreign_key_check`` before commit, enforcement back
    on. Must be entered before the connection begins its transaction. On other
    databases it does nothing.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None, "the connection is open, so it has its sqlite3 connection"
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def foreign_key_violations(connection: sa.Connection) -> list[sa.Row[Any]]:
    """Rows that break a foreign key (SQLite's ``PRAGMA foreign_key_check``)."""
    if connection.dialect.name != "sqlite":
        return []
    return list(connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall())


def upsert(dialect: str, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` in the ``dialect`` named ("postgresql" or "sqlite"), the kind
    that has ``on_conflict_do_nothing`` / ``on_conflict_do_update`` (both dialects spell them
    alike)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def bulk_insert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many ``rows`` (dicts of the same columns) into ``table`` as fast as the database
    takes them: PostgreSQL's ``COPY … FROM STDIN`` through psycopg, an ``executemany`` INSERT
    elsewhere. In the connection's transaction, like any other statement."""
    if not rows:
        return
    raw = connection.connection.driver_connection
    if raw is None or connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        connection.execute(sa.insert(table), rows)
        return
    names = list(rows[0])
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in names)
    with raw.cursor() as cursor, cursor.copy(f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def row_by_id(connection: sa.Connection, table: sa.Table, raw_id: Any, what: str, lock: bool = False) -> sa.RowMapping:
    """The row of ``table`` whose id is ``raw_id`` as a user gave it (text or number), locked
    ``FOR UPDATE`` on PostgreSQL when ``lock``; ``NotFound(what, raw_id)`` for an id that is no
    whole number in the column's range, or that no row has."""
    try:
        number = int(raw_id)
    except (TypeError, ValueError, OverflowError):
        raise NotFound(what, raw_id) from None
    if not 0 < number <= MAX_INTEGER:
        raise NotFound(what, raw_id)
    statement = sa.select(table).where(table.c.id == number)
    if lock and connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = connection.execute(statement).mappings().first()
    if row is None:
        raise NotFound(what, raw_id)
    return row
