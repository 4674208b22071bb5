"""Read replicas (issue 18 §2): which database a read-only unit of work reads from.

With ``TRELLIS_READ_DATABASE_URL`` naming a PostgreSQL streaming replica of the primary, the
runtime's one routing point, ``Router.engine_for`` (asked by ``Runtime.read_session``), sends
lists, reports, dashboards, exports and the duplicate finder to the replica, except:

- reads inside a write transaction: they are ``Runtime.session``'s, always on the primary;
- a user's reads right after their own write (read-your-writes): after a transaction of theirs
  that wrote commits, the primary's WAL position (past the commit record: ``WRITTEN_UP_TO``) is remembered for the user; their reads go to the primary until the replica has replayed
  past it (``pg_last_wal_replay_lsn()``). The mark is kept on the primary, for every process
  (``Marks``);
- when the replica is more than ``TRELLIS_REPLICA_MAX_LAG`` seconds behind (default 5), or cannot
  be reached: every read goes to the primary until it catches up.

The lag is measured on the replica — 0 when it has replayed all it received, else
``now() - pg_last_xact_replay_timestamp()`` — at most once a second per process (``Replica``).
``status(runtime)`` says it for ``/healthz`` and ``/readyz``. Without the setting nothing changes:
``read_session`` is ``session``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.runtime.database import create_engine, database_url
from engine.runtime.errors import TrellisError
from engine.runtime.messages import localized

log = logging.getLogger("trellis.replica")

#: The replica's URL (``postgresql://…``); unset: no replica.
READ_URL = "TRELLIS_READ_DATABASE_URL"
#: Seconds of lag past which reads go to the primary.
MAX_LAG = "TRELLIS_REPLICA_MAX_LAG"
DEFAULT_MAX_LAG = 5.0
#: How long one measurement of the lag is used (seconds), per process.
LAG_CACHE_SECONDS = 1.0
#: Seconds to wait for a connection to the replica (unless its URL sets ``connect_timeout``):
#: past them, reads go to the primary.
CONNECT_TIMEOUT = 2
#: SQLSTATE of a write refused in a read-only transaction (``read_only_sql_transaction``).
READ_ONLY_SQLSTATE = "25006"


class ReplicaSetupError(TrellisError):
    """``TRELLIS_READ_DATABASE_URL`` or ``TRELLIS_REPLICA_MAX_LAG`` cannot be used."""

    code = "replica_setup"

    def __init__(self, code: str, english: str, **params: object) -> None:
        self.code = code
        super().__init__(localized(code, english, params))


class ReadOnlyWrite(TrellisError):
    """A read-only unit of work (``Runtime.read_session``) tried to write: a mistake in the code
    that opened it, which should have opened ``Runtime.session``."""

    code = "read_only_write"

    def __init__(self, detail: str) -> None:
        english = (
            "A read-only session tried to write; reads go to the replica there. "
            f"Open Runtime.session for a unit of work that writes. ({detail})"
        )
        super().__init__(localized(self.code, english, {"detail": detail}))


def lsn_number(text: str | None) -> int | None:
    """A PostgreSQL WAL position (``16/B374D848``) as a number that compares; None stays None."""
    if not text:
        return None
    high, low = str(text).split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class Reading:
    """One measurement of the replica: ``lag`` in seconds (None: unknown, see ``error``) and the
    WAL position it has replayed up to (``replayed``, a ``lsn_number``)."""

    at: float
    lag: float | None
    replayed: int | None
    error: str | None = None


class Replica:
    """The replica's engine and its lag, measured at most every ``cache_seconds``."""

    def __init__(
        self,
        engine: sa.Engine,
        max_lag: float = DEFAULT_MAX_LAG,
        cache_seconds: float = LAG_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        primary: sa.Engine | None = None,
    ) -> None:
        self.engine = engine
        self.max_lag = max_lag
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Reading | None = None
        #: The primary, to check once that ``engine`` is a copy of it (the same system identifier).
        self._primary = primary
        self._copy_checked = primary is None

    def reading(self) -> Reading:
        """The latest measurement, taken now when the one held is older than ``cache_seconds``."""
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._last.at >= self.cache_seconds:
                self._last = self._measure(now)
            return self._last

    def usable(self, reading: Reading) -> bool:
        """Whether reads may go to the replica at ``reading``: reached, and at most ``max_lag`` behind."""
        return reading.lag is not None and reading.lag <= self.max_lag

    def _measure(self, now: float) -> Reading:
        try:
            if not self._copy_checked:
                if _system_id(self.engine) != _system_id(self._primary):  # type: ignore[arg-type]
                    return Reading(now, None, None, "the read database is not a replica of the primary")
                self._copy_checked = True
            with self.engine.connect() as connection:
                row = connection.execute(
                    sa.text(
                        "SELECT pg_is_in_recovery() AS standby, pg_last_wal_receive_lsn()::text AS received, "
                        "pg_last_wal_replay_lsn()::text AS replayed, "
                        "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float AS behind"
                    )
                ).one()
                if not row.standby:  # the primary itself (one server for both): nothing to wait for
                    current = connection.execute(sa.text("SELECT pg_current_wal_insert_lsn()::text")).scalar()
                    return Reading(now, 0.0, lsn_number(current))
        except sa.exc.SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            if self._last is None or self._last.error is None:  # logged when it stops answering, not every second
                log.warning("The read replica cannot be reached; reads go to the primary: %s", str(cause).strip())
            return Reading(now, None, None, f"the replica cannot be reached ({type(cause).__name__})")
        replayed = lsn_number(row.replayed)
        caught_up = row.received is None or lsn_number(row.received) == replayed
        lag = 0.0 if caught_up or row.behind is None else max(0.0, float(row.behind))
        return Reading(now, lag, replayed)


#: The table on the primary holding each user's mark (UNLOGGED: no WAL, not replicated, emptied by
#: a crash — a mark matters for seconds). Not ``sys_``: schema changes (``engine.runtime.migrate``)
#: leave it alone; it is made at first use.
MARKS_TABLE = "trellis_read_marks"
#: Right after a commit, a WAL position at or past its commit record that the primary has flushed or
#: soon will (only flushed WAL is streamed): the flush position, which a synchronous commit waited
#: for; with ``synchronous_commit = off`` the insert position (the commit is flushed within
#: ``wal_writer_delay``).
WRITTEN_UP_TO = (
    "CASE WHEN current_setting('synchronous_commit') = 'off' "
    "THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END"
)


def _system_id(engine: sa.Engine) -> int:
    """The database cluster's system identifier: a primary's physical replicas share it."""
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT system_identifier FROM pg_control_system()")).scalar_one())


class Marks:
    """Read-your-writes: per user (username and id), the primary's WAL position after their last
    write. Kept in a table on the primary (``MARKS_TABLE``), so that every process sees a mark
    another wrote (a web process, an API process), and in this process's memory, which answers
    at once while a mark is not replayed yet. When the table cannot be made (the database role
    may not create tables) the marks are kept in this process only, with a warning in the log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[str, int] = {}
        self._table: bool | None = None  # made (True), cannot be (False), not tried (None)

    def note(self, connection: sa.Connection, keys: tuple[Hashable, ...]) -> None:
        """After a transaction that wrote committed on ``connection`` (the primary): remember that
        ``keys``' user wrote up to where the primary's WAL is now."""
        names = [str(key) for key in keys if key is not None]
        if self._shared(connection.engine):
            rows = connection.execute(
                sa.text(
                    f"INSERT INTO {MARKS_TABLE} (user_key, lsn) "
                    f"SELECT key, {WRITTEN_UP_TO} FROM unnest(CAST(:keys AS text[])) AS key "
                    f"ON CONFLICT (user_key) DO UPDATE SET lsn = GREATEST({MARKS_TABLE}.lsn, EXCLUDED.lsn) "
                    "RETURNING lsn::text"
                ),
                {"keys": names},
            ).all()
            position = lsn_number(rows[0][0]) if rows else None
        else:
            position = lsn_number(connection.execute(sa.text(f"SELECT ({WRITTEN_UP_TO})::text")).scalar())
        connection.commit()  # the statement began a transaction of its own (no WAL: an unlogged table)
        if position is not None:
            with self._lock:
                for name in names:
                    self._marks[name] = max(position, self._marks.get(name, 0))

    def waiting(self, primary: sa.Engine, key: Hashable, replayed: int | None) -> bool:
        """Whether the last write of ``key``'s user is past ``replayed`` (a replica's position)."""
        name = str(key)
        with self._lock:
            mark = self._marks.get(name)
        if mark is not None and (replayed is None or replayed < mark):
            return True
        if not self._shared(primary):
            return False
        with primary.connect() as connection:
            stored = connection.execute(
                sa.text(f"SELECT lsn::text FROM {MARKS_TABLE} WHERE user_key = :key"), {"key": name}
            ).scalar()
        position = lsn_number(stored)
        return position is not None and (replayed is None or replayed < position)

    def _shared(self, primary: sa.Engine) -> bool:
        """Whether the marks table is there (made now when it was not)."""
        if self._table is None:
            try:
                with primary.begin() as connection:
                    connection.execute(
                        sa.text(
                            f"CREATE UNLOGGED TABLE IF NOT EXISTS {MARKS_TABLE} "
                            "(user_key text PRIMARY KEY, lsn pg_lsn NOT NULL)"
                        )
                    )
                self._table = True
            except sa.exc.IntegrityError:  # another process made it at the same moment
                self._table = True
            except sa.exc.DBAPIError as error:
                log.warning(
                    "Read-your-writes marks are kept per process: the table %s cannot be made on the primary (%s)",
                    MARKS_TABLE,
                    str(error.orig).strip().splitlines()[0],
                )
                self._table = False
        return self._table


class Router:
    """The one routing point: which engine a read-only unit of work uses (``engine_for``), and
    what a committed write means for its user's next reads (``written``, ``remember``)."""

    def __init__(self, primary: sa.Engine, replica: Replica | None = None) -> None:
        self.primary = primary
        self.replica = replica
        self.marks = Marks()

    def engine_for(self, user: Hashable) -> tuple[sa.Engine, str]:
        """The engine for a read as ``user`` and why: ``replica``, or the primary for ``no_replica``,
        ``own_write`` (read-your-writes), ``lag`` (too far behind) or ``unreachable``."""
        if self.replica is None:
            return self.primary, "no_replica"
        reading = self.replica.reading()
        if reading.lag is None:
            return self.primary, "unreachable"
        if not self.replica.usable(reading):
            return self.primary, "lag"
        if user is not None and self.marks.waiting(self.primary, user, reading.replayed):
            return self.primary, "own_write"
        return self.replica.engine, "replica"

    def written(self, connection: sa.Connection) -> bool:
        """Inside a transaction on the primary, before it commits: whether it wrote (a transaction
        id was assigned). False without a replica, at no cost."""
        if self.replica is None or connection.dialect.name != "postgresql":
            return False
        return connection.execute(sa.text("SELECT txid_current_if_assigned() IS NOT NULL")).scalar() is True

    def remember(self, connection: sa.Connection, keys: tuple[Hashable, ...]) -> None:
        """After a transaction that wrote committed on ``connection``: hold ``keys``' user to the
        primary until the replica has replayed past where the primary's WAL is now."""
        self.marks.note(connection, keys)


def router(primary: sa.Engine, read_url: str | None = None, max_lag: str | None = None) -> Router:
    """The router for ``primary``: with a replica when ``read_url`` (else ``TRELLIS_READ_DATABASE_URL``)
    names one, its lag bounded by ``max_lag`` (else ``TRELLIS_REPLICA_MAX_LAG``, default 5 seconds).
    Raises ``ReplicaSetupError`` for a setting that cannot be used; connects to nothing yet."""
    read_url = read_url or os.environ.get(READ_URL) or None
    if read_url is None:
        return Router(primary)
    url = database_url(read_url)
    if not url.startswith("postgresql") or primary.dialect.name != "postgresql":
        raise ReplicaSetupError(
            "replica_not_postgresql",
            f"{READ_URL} must name a PostgreSQL streaming replica of a PostgreSQL primary "
            f"(TRELLIS_DATABASE_URL); it is {sa.engine.make_url(url).drivername} and the primary is "
            f"{primary.dialect.name}.",
            variable=READ_URL,
            replica=sa.engine.make_url(url).drivername,
            primary=primary.dialect.name,
        )
    parsed = sa.engine.make_url(url)
    if "connect_timeout" not in parsed.query:  # a replica that is down is given up on quickly
        parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
    engine = create_engine(parsed.render_as_string(hide_password=False))
    return Router(primary, Replica(engine, _max_lag(max_lag), primary=primary))


def _max_lag(text: str | None) -> float:
    text = text if text is not None else os.environ.get(MAX_LAG)
    if text is None or not text.strip():
        return DEFAULT_MAX_LAG
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise ReplicaSetupError(
            "replica_bad_max_lag",
            f"{MAX_LAG} must be a number of seconds greater than 0, such as 5; it is {text!r}.",
            variable=MAX_LAG,
            value=repr(text),
        )
    return value


def status(runtime: Any) -> dict[str, Any]:
    """What ``/healthz`` and ``/readyz`` say of the replica (``runtime`` a ``Runtime``):
    ``configured`` (a replica is set), ``used`` (reads go to it now), ``lag_seconds`` (None when
    unknown), ``max_lag_seconds`` and ``error`` (why it cannot be reached). Measures at most once
    a second (cached); never raises."""
    replica = runtime.reads.replica
    if replica is None:
        return {"configured": False, "used": False, "lag_seconds": None, "max_lag_seconds": None, "error": None}
    reading = replica.reading()
    return {
        "configured": True,
        "used": replica.usable(reading),
        "lag_seconds": None if reading.lag is None else round(reading.lag, 3),
        "max_lag_seconds": replica.max_lag,
        "error": reading.error,
    }


def sentence(runtime: Any) -> str | None:
    """``status`` in words for ``/readyz`` (None without a replica), e.g. ``reads on the replica,
    0.004 s behind`` or ``reads on the primary: the replica is 7.2 s behind (more than 5 s)``. A
    replica that lags or is down does not make a process unready: its reads go to the primary."""
    state = status(runtime)
    if not state["configured"]:
        return None
    if state["error"]:
        return f"reads on the primary: {state['error']}"
    if not state["used"]:
        return f"reads on the primary: the replica is {state['lag_seconds']:g} s behind (more than {state['max_lag_seconds']:g} s)"
    return f"reads on the replica, {state['lag_seconds']:g} s behind"


def is_read_only_refusal(error: sa.exc.DBAPIError) -> bool:
    """Whether ``error`` is PostgreSQL refusing a write in a read-only transaction."""
    return getattr(error.orig, "sqlstate", None) == READ_ONLY_SQLSTATE
