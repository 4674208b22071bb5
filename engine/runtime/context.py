"""The runtime context: a compiled config bound to a database, handed to every runtime service.

``Runtime`` holds what the services share (config, ``Schema``, engine, clock, ``crypto.Keys``,
the write path's features at their stages)
and opens transactions (``session``, ``directory``). ``engine.trellis.Trellis`` is the public
facade on top of it (it adds loading a config file); runtime modules take a ``Runtime`` and
never import the facade (tests/test_import_graph.py). The convention for a runtime function's
first argument: the ``Session`` when it works inside the caller's transaction, the
``Runtime`` when it opens transactions of its own.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.metadata import Config
from engine.metadata.expressions import Clock
from engine.runtime import autocommit_reads, features, migrate, replica
from engine.runtime.database import QUERY_ONLY_REFUSAL, deferred_reads, read_only, sqlite_reads
from engine.runtime.records import remains
from engine.runtime.records.session import Session, utc_now
from engine.runtime.records.stages import WriteStages
from engine.runtime.security import crypto
from engine.runtime.security.permissions import SYSTEM, Principal, load_principal
from engine.runtime.security.users import Directory
from engine.runtime.tables import Schema, build_schema


class Runtime:
    """What every runtime service needs: the compiled config and its tables, the database
    engine, the clock, the secret keys (read once) — created by ``Trellis.open`` and handed down,
    so that no runtime module reaches up to the facade. It plans, applies and opens sessions.

    Opening one does not touch the database. The first session (or ``directory``,
    ``principal``) checks once that the database was brought to this config with
    ``apply`` and raises ``DatabaseOutOfDate`` (a sentence saying what to run) when
    not; ``check_database`` makes that check at once, as ``trellis serve`` and
    ``trellis worker`` do before they start. ``plan`` and ``apply`` work on any
    database.
    """

    def __init__(
        self,
        config: Config,
        engine: sa.Engine,
        clock: Callable[[], dt.datetime] | None = None,
        read_url: str | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        #: Which engine a read-only unit of work reads from (``read_session``): the replica of
        #: ``read_url`` (else ``TRELLIS_READ_DATABASE_URL``) when set and close enough, else ``engine``.
        self.reads: replica.Router = replica.router(engine, read_url)
        self.schema: Schema = build_schema(config)
        self._clock = clock or utc_now
        self._zone = ZoneInfo(config.settings.timezone)
        self._current = False  # the database was found to be at this config (check_database)
        #: Seconds between looks at the latest applied version once current (None: never look again).
        self._recheck_every: float | None = None
        self._recheck_at = 0.0
        self._version_seen: int | None = None
        #: The encryption key, read from the environment once, now (``crypto.Keys``).
        self.keys = crypto.Keys.load()
        if any(f.encrypted for o in config.objects.values() for f in o.fields.values()):
            self.keys.cipher()  # fail now, with a clear message, when the key is missing
        #: The features of the write path at its stages (``engine.runtime.features``); a channel or
        #: a feature of its own joins with ``stages.register``.
        self.stages: WriteStages = features.write_stages()
        #: The folder of stored files (the web app sets its ``TRELLIS_UPLOAD_DIR``); None: the
        #: environment's ``TRELLIS_UPLOAD_DIR``, else ``./uploads`` (``records.remains.folder``).
        self.files_dir: Path | None = None

    def clock_now(self) -> Clock:
        """The current moment (UTC) and the company time zone."""
        return Clock(self._clock().astimezone(dt.UTC), self._zone)

    def plan(self, allow_data_loss: bool = False) -> migrate.Plan:
        """What ``apply`` would change in the database, and what it would refuse."""
        return migrate.plan(self.engine, self.config, allow_data_loss=allow_data_loss)

    def apply(
        self,
        allow_data_loss: bool = False,
        applied_by: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> migrate.Plan:
        """Bring the database to this config; raises MigrationRefused with reasons. Search indexes
        built after the commit are told to ``progress``; one not built is in the plan's ``warnings``."""
        result = migrate.apply(
            self.engine, self.config, allow_data_loss=allow_data_loss, applied_by=applied_by, progress=progress
        )
        self._current = True
        self._version_seen = migrate.latest_version_id(self.engine) if self._recheck_every is not None else None
        return result

    def check_database(self) -> None:
        """Raise ``DatabaseOutOfDate`` unless the database was brought to this config with ``apply``.

        Checked once: after it passed, later calls cost nothing. A config differing from the
        applied one only where the database is not concerned (labels, views, layouts, roles…)
        passes; see ``engine.runtime.migrate.fingerprint``. With ``recheck_every``, a database
        found current is looked at again (one small query) at most that often: when another process
        applied a new version, the check runs again and fails if the schema moved on."""
        if self._current:
            if self._recheck_every is None or time.monotonic() < self._recheck_at:
                return
            self._recheck_at = time.monotonic() + self._recheck_every
            if migrate.latest_version_id(self.engine) == self._version_seen:
                return
            self._current = False
        seen = migrate.latest_version_id(self.engine) if self._recheck_every is not None else None
        migrate.check_current(self.engine, self.config, self.schema)
        self._current, self._version_seen = True, seen
        if self._recheck_every is not None:
            self._recheck_at = time.monotonic() + self._recheck_every

    def recheck_every(self, seconds: float) -> None:
        """Look again at the applied config version at most every ``seconds`` (see
        ``check_database``): a long-running process that several share a database with (the web
        server's workers) stops serving a schema that another process's ``apply`` replaced."""
        self._recheck_every = seconds
        self._recheck_at = 0.0
        self._version_seen = migrate.latest_version_id(self.engine) if self._current else None

    @property
    def database_current(self) -> bool:
        """Whether ``check_database`` (or ``apply``) found the database at this config already."""
        return self._current

    @contextmanager
    def session(
        self, user: str | int | None = None, channel: str = "python", principal: Principal | None = None
    ) -> Iterator[Session]:
        """One transaction as ``user`` (a username or id; None = the system context):
        commit on success, roll back on any exception. ``channel`` (web, api, import,
        automation, cli, python) is recorded in the audit trail. Raises ``DatabaseOutOfDate``
        when the database was not brought to this config (``check_database``). ``principal``:
        ``user`` resolved already (``read_session`` passes on the one it was given)."""
        self.check_database()
        with self.engine.connect() as connection:
            with connection.begin():
                session = Session(self, connection, principal or self._principal(connection, user), channel)
                yield session
                wrote = not session.principal.is_system and self.reads.written(connection)
            if session.unit.files_gone:  # committed: the deleted records' stored files go now
                remains.remove_files(self, session.unit.files_gone)
            if wrote:  # read-your-writes: this user's next reads wait for the replica to replay it
                self.reads.remember(connection, (session.principal.username, session.principal.user_id))

    @contextmanager
    def read_session(
        self,
        user: str | int | None = None,
        channel: str = "python",
        principal: Principal | None = None,
        shared: SharedRead | None = None,
    ) -> Iterator[Session]:
        """A read-only unit of work as ``user`` — lists, reports, dashboards, exports, the
        duplicate finder: on the read replica when one is set (``TRELLIS_READ_DATABASE_URL``), not
        too far behind and ``user`` has no write of theirs it has not replayed yet, else on the
        primary (``engine.runtime.replica.Router.engine_for`` decides). The transaction is READ
        ONLY on the replica and on SQLite (``sqlite_reads``: a deferred ``BEGIN``, so that several
        processes read side by side); a write through it raises ``ReadOnlyWrite``; the access log
        it writes goes to the primary in a short transaction of its own (``Session.primary_writes``).
        On PostgreSQL without a replica (and an in-memory SQLite) it is ``session``. ``principal``:
        ``user`` resolved already in this request (the web's login check, on the primary), not read
        again. Who ``user`` is — their row, active flag, expiry and roles — is always read from the
        primary, so that a user disabled a moment ago is refused at once, however far behind the
        replica is. ``shared``: the request's read on the primary that read ``principal``
        (``shared_read``), which this unit of work continues and ends, when it has one open and
        there is no replica — one connection for the request instead of two."""
        if shared is not None and shared.connection is not None and self.reads.replica is None:
            self.check_database()
            with shared.ending() as connection:  # the request's read so far (its login check): go on in it
                session = self._read_unit(connection, principal or self._principal(connection, user), channel)
                session.unit.seen_users(shared.users)
                yield session
            return
        if self.reads.replica is None and not deferred_reads(self.engine):
            with self.session(user, channel, principal) as session:
                yield session
            return
        self.check_database()
        if self.reads.replica is None:
            with sqlite_reads(self.engine) as connection:
                try:
                    yield self._read_unit(connection, principal or self._principal(connection, user), channel)
                except sa.exc.OperationalError as error:
                    if QUERY_ONLY_REFUSAL in str(error.orig):
                        raise replica.ReadOnlyWrite(str(error.orig)) from error
                    raise
            return
        principal = principal or self.principal(user)  # the primary: never a disabled user's stale row
        with self.read_connection(user) as connection:
            try:
                yield Session(self, connection, principal, channel, read_only=True)
            except sa.exc.DBAPIError as error:
                if replica.is_read_only_refusal(error):
                    raise replica.ReadOnlyWrite(str(error.orig).strip().splitlines()[0]) from error
                raise

    def _read_unit(self, connection: sa.Connection, principal: Principal, channel: str) -> Session:
        """A read-only unit of work on ``connection``: SQLite's READ ONLY transaction
        (``sqlite_reads``) or PostgreSQL's reads in autocommit (``autocommit_reads``), both
        refusing writes; the access log goes in a transaction of its own (``primary_writes``)."""
        return Session(self, connection, principal, channel, read_only=True)

    def shared_read(self) -> SharedRead | None:
        """A read on the primary that one web request's reads share (``SharedRead``), or None where
        the request's page reads elsewhere (a read replica) or a connection cannot wait open
        beside another (an in-memory SQLite: one connection per thread)."""
        if self.reads.replica is not None:
            return None
        if self.engine.dialect.name == "sqlite" and not deferred_reads(self.engine):
            return None
        return SharedRead(self)

    @contextmanager
    def read_connection(self, user: str | int | None = None) -> Iterator[sa.Connection]:
        """A connection in a READ ONLY transaction for reads outside a unit of work (the duplicate
        finder's scan), on the engine ``replica.Router.engine_for`` chooses for ``user``'s reads (the
        replica, or the primary after ``user``'s own write, past the lag, without a replica).
        Without a replica it is ``database.read_only`` on the primary (SQLite: beside writers)."""
        if self.reads.replica is None:
            with read_only(self.engine) as connection:
                yield connection
            return
        engine, _reason = self.reads.engine_for(user)
        with engine.connect() as connection, connection.begin():
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield connection

    @contextmanager
    def directory(self, user: str | int | None = None, channel: str = "cli") -> Iterator[Directory]:
        """Manage users and teams in one transaction, as ``user`` (None = the system)."""
        self.check_database()
        with self.engine.connect() as connection, connection.begin():
            yield Directory(self, connection, self._principal(connection, user), channel)

    def principal(self, user: str | int | None) -> Principal:
        """Who ``user`` is and what they may do (refuses unknown, disabled and expired users)."""
        self.check_database()
        with read_only(self.engine) as connection:
            return self._principal(connection, user)

    def _principal(self, connection: sa.Connection, user: str | int | None) -> Principal:
        if user is None:
            return SYSTEM
        return load_principal(connection, self.config, user, self.clock_now().now_utc, self.schema.system["sys_users"])

    def close(self) -> None:
        """Release the database connections (the read replica's too)."""
        self.engine.dispose()
        if self.reads.replica is not None:
            self.reads.replica.engine.dispose()


class SharedRead:
    """One read transaction on the primary that a web request's reads share: the login check's
    (the user's row and team graph: ``users.login_user``) and then the page's read session
    (``Runtime.read_session(shared=…)``), which goes on in it and ends it — one connection per
    request instead of two, and the user's row read once for the page's names too (``users``).
    On SQLite it is ``sqlite_reads`` (a deferred ``BEGIN`` under ``PRAGMA query_only``); on
    PostgreSQL ``autocommit_reads`` (no ``BEGIN`` … ``COMMIT`` at all: in READ COMMITTED each
    statement reads its own snapshot either way), both refusing writes.
    Opened by the first read (``connection``); ``close`` ends it when no read session took it.
    """

    def __init__(self, crm: Runtime) -> None:
        self._crm = crm
        self._stack: ExitStack | None = None
        #: The open connection, None before the first read and after the end.
        self.connection: sa.Connection | None = None
        #: ``sys_users`` rows read in it, by id (the login check's), for the page's unit of work.
        self.users: dict[int, Any] = {}

    def open(self) -> sa.Connection:
        """The transaction's connection, begun at the first call."""
        if self.connection is None:
            stack = ExitStack()
            engine = self._crm.engine
            try:
                if deferred_reads(engine):
                    connection = stack.enter_context(sqlite_reads(engine))
                elif engine.dialect.name == "postgresql":
                    connection = stack.enter_context(autocommit_reads.reading(engine))
                else:
                    connection = stack.enter_context(engine.connect())
                    stack.enter_context(connection.begin())
            except BaseException:
                stack.close()
                raise
            self._stack, self.connection = stack, connection
        return self.connection

    @contextmanager
    def ending(self) -> Iterator[sa.Connection]:
        """The open connection for the last reads of the transaction, which ends with them:
        committed when they succeed, rolled back when they raise (a write refused on SQLite's
        read-only transaction is ``ReadOnlyWrite``, as in ``read_session``)."""
        connection = self.open()
        try:
            yield connection
        except BaseException as error:
            self._end(error)
            if isinstance(error, sa.exc.OperationalError) and QUERY_ONLY_REFUSAL in str(error.orig):
                raise replica.ReadOnlyWrite(str(error.orig)) from error
            raise
        self._end(None)

    def close(self) -> None:
        """End the transaction (nothing was written in it) if it is still open."""
        self._end(None)

    def _end(self, error: BaseException | None) -> None:
        stack, self._stack, self.connection = self._stack, None, None
        if stack is not None:
            if error is None:
                stack.close()
            else:
                stack.__exit__(type(error), error, error.__traceback__)
