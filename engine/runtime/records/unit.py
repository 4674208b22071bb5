"""What the writes of one transaction share: caches, and the rows written together.

A ``Session`` and the sessions acting for it (automation rules, assignment rules,
the readers of a notification, an approved change) share one ``Unit``. It holds:

- the users (``sys_users`` rows) and readers' principals the writes looked up, so that
  owner checks, assignment pools and notification recipients read each user once per
  transaction, not once per record;
- within a write call: lookup targets found inside a principal's read scope (a lookup to
  the same account from a thousand records is checked once); ``stored``, the records the
  call wrote, as stored (plain values), so that automation and the readers of a
  notification see them without reading them back; ``created``, those it inserted, which
  no pending approval can lock yet;
- the rows of the audit trail, automation runs, notifications, the outbox and the stage
  history that the transaction's write calls produced. Rows of a call may change until the
  outermost write call (``Session.create``, ``update``, a chunk of ``create_many`` …) that
  collected them ends; then they wait, with the rows of the calls after it, until the
  transaction does anything else (``KEEPS_ROWS``), takes a savepoint or commits, or until
  ``FLUSH_AT`` rows wait. Then they are written together — one statement per kind, in the
  order they were produced — so that a thousand ``create`` calls in a transaction write
  their audit rows with one statement, not a thousand. Any statement the write path does not
  mark (a read of the inbox, raw SQL, a test's ``SELECT``) sees them written, because they
  are written just before it (``watch``). Outside a write call (the worker running a
  scheduled rule, ``assignment.assign`` from Python) they are written at once.

Savepoints: when one rolls back (``Unit.savepoint``, or a savepoint of the connection), the
rows collected inside it are dropped with it, as the database drops its own; a rollback of
the transaction drops every waiting row. When a call ends with a refusal (a ``TrellisError``)
what was collected before is kept all the same, as it was when every row was written at
once; the caller's rollback removes it. A call that fails otherwise drops its rows.

Users and teams change in transactions of their own (``Trellis.directory``), so a
transaction's cache of them does not go stale; the caches of records
(``stored``, lookup targets) are dropped when the call that filled them ends.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.fieldtypes import MAX_INTEGER
from engine.runtime.database import KEEPS_ROWS
from engine.runtime.errors import TrellisError
from engine.runtime.security import audit
from engine.runtime.security.permissions import Principal, load_principal

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.tables import Schema

#: The system tables whose rows a write call collects and writes together (in this order).
COLLECTED = ("sys_automation_runs", "sys_notifications", "sys_outbox", "sys_stage_history")
#: The key under which audit entries are collected.
AUDIT = "audit"
#: How many collected rows wait at most before a write call's end writes them.
FLUSH_AT = 2000


class Unit:
    """The shared state of one transaction's writes (see the module docstring)."""

    def __init__(self, crm: Runtime, connection: sa.Connection) -> None:
        self.crm = crm
        self.connection = connection
        #: How deep in write calls the transaction is now (0: outside any).
        self.calls = 0
        #: (object, id) → the record as the current call stored it (plain values, every column).
        self.stored: dict[tuple[str, int], dict[str, Any]] = {}
        #: The records the current call inserted and no approval request names: nothing locks them.
        self.created: set[tuple[str, int]] = set()
        #: The collected rows not written yet, in the order they were produced.
        self._rows: list[tuple[str, Any]] = []
        #: How many collected rows were written (a row's place is counted from the transaction's first).
        self._written = 0
        #: The place of the first row of the current outermost call: rows from there on may still change.
        self._call_start = 0
        #: The place the rows had when each savepoint of the connection was taken, by its name.
        self._savepoints: dict[str, int] = {}
        self._users: dict[int, Any] = {}
        self._missing_users: set[int] = set()
        self._all_users: list[Any] | None = None
        self._principals: dict[int, Principal] = {}
        self._teams: dict[str, int | None] = {}
        self._targets: set[tuple[Any, str, int]] = set()
        #: Keys of stored files whose records were deleted: removed once the transaction commits
        #: (``engine.runtime.records.remains``); a rollback forgets them.
        self.files_gone: list[str] = []
        watch(connection).add(self)

    @property
    def schema(self) -> Schema:
        return self.crm.schema

    # --- write calls and savepoints ------------------------------------------------------------
    @contextmanager
    def call(self) -> Iterator[None]:
        """One write call (create, update, a chunk …): when the outermost one ends, its rows are
        ready to be written (see the module docstring)."""
        if not self.calls:
            self._call_start = self._place()
        self.calls += 1
        try:
            yield
        except TrellisError:
            self._end(keep=True)
            raise
        except BaseException:
            self._end(keep=False)
            raise
        self._end(keep=True)

    def _end(self, keep: bool) -> None:
        self.calls -= 1
        if self.calls:
            return
        self.stored.clear()
        self.created.clear()
        self._targets.clear()
        self._missing_users.clear()
        if not keep:
            self._drop_from(self._call_start)
        elif len(self._rows) >= FLUSH_AT:
            self.flush()

    @contextmanager
    def savepoint(self, database: bool = True) -> Iterator[None]:
        """A savepoint; rolling it back also drops the rows collected inside it. Inside a write
        call, work that only collects rows (and reads) needs no savepoint of the database:
        ``database=False`` marks the collected rows alone."""
        mark = self._place()
        try:
            with self.connection.begin_nested() if database or not self.calls else nullcontext():
                yield
        except BaseException:
            self._drop_from(mark)
            self.stored.clear()  # records written inside it are gone again
            self.created.clear()
            self._targets.clear()
            raise

    def _place(self) -> int:
        """The place the next collected row will have."""
        return self._written + len(self._rows)

    def _drop_from(self, place: int) -> None:
        """Drop the waiting rows collected from ``place`` on."""
        del self._rows[max(place - self._written, 0) :]

    # --- collected rows ----------------------------------------------------------------------------
    def add(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Write ``row`` to the system table ``table`` with the call's other rows (at once outside
        a call). Returns the row: until the call ends, the caller may still change it."""
        if self.calls:
            self._rows.append((table, row))
        else:
            self.connection.execute(_insert(self.schema.system[table], False), row)  # what waits goes first
        return row

    def log_change(
        self,
        principal: Principal,
        channel: str,
        action: str,
        object_name: str,
        record_id: int | None,
        changes: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        """An audit row (``audit.log_change``), written with the call's other rows."""
        entry = (principal, channel, action, object_name, record_id, changes, now)
        if self.calls:
            self._rows.append((AUDIT, entry))
        else:
            audit.log_change(self.connection, self.schema, *entry)  # what waits is written first

    def flush(self) -> None:
        """Write the rows that are ready: every waiting row outside a write call, the rows of
        the calls that ended inside one. The audit entries come first, in order, with one
        INSERT, then one statement per table."""
        ready = len(self._rows) if not self.calls else max(self._call_start - self._written, 0)
        if not ready:
            return
        rows = self._rows[:ready]
        del self._rows[:ready]
        self._written += ready
        entries: list[dict[str, Any]] = []
        tables: dict[str, list[dict[str, Any]]] = {}
        for kind, row in rows:
            if kind == AUDIT:
                entries.append(audit.entry(*row))
            else:
                tables.setdefault(kind, []).append(row)
        audit.write_entries(self.connection, self.schema, entries, collected=True)
        for name in COLLECTED:
            if name in tables:
                self.connection.execute(_insert(self.schema.system[name], True), tables[name])

    # --- the connection's events ----------------------------------------------------------------
    def _savepoint_taken(self, name: str) -> None:
        self.flush()  # what waits was written outside the savepoint: its rollback cannot take it
        self._savepoints[name] = self._place()

    def _savepoint_ended(self, name: str, rolled_back: bool) -> None:
        mark = self._savepoints.pop(name, None)
        if rolled_back and mark is not None:
            self._drop_from(mark)

    def _rolled_back(self) -> None:
        self._written += len(self._rows)
        self._rows.clear()
        self.files_gone.clear()
        self._savepoints.clear()

    # --- records written ------------------------------------------------------------------------------
    def remember(self, object_name: str, record: Mapping[str, Any], created: bool = False) -> None:
        """``record`` (every column, plain values) is what is stored now (``created``: just
        inserted); only inside a call."""
        if self.calls:
            self.stored[(object_name, record["id"])] = dict(record)
            if created:
                self.created.add((object_name, record["id"]))

    def forget(self, object_name: str, record_id: int, gone: bool = False) -> None:
        """A record changed in a way not remembered (``gone``: it was deleted)."""
        self.stored.pop((object_name, record_id), None)
        if gone:
            self._targets = {t for t in self._targets if t[1:] != (object_name, record_id)}

    def remembered(self, object_name: str, record_id: Any) -> dict[str, Any] | None:
        """The record as this call stored it, or None when it must be read."""
        return self.stored.get((object_name, record_id)) if isinstance(record_id, int) else None

    # --- lookup targets ---------------------------------------------------------------------------------
    def known_targets(self, principal: Principal, object_name: str, ids: Iterable[int]) -> set[int]:
        """Of ``ids``, those found before inside ``principal``'s read scope of ``object_name``."""
        key = _scope_key(principal, object_name)
        return {i for i in ids if (key, object_name, i) in self._targets}

    def found_targets(self, principal: Principal, object_name: str, ids: Iterable[int]) -> None:
        key = _scope_key(principal, object_name)
        self._targets.update((key, object_name, i) for i in ids)

    # --- users -------------------------------------------------------------------------------------------
    def users(self, ids: Iterable[int | None]) -> dict[int, Any]:
        """``sys_users`` rows of the users ``ids`` that exist (read once per transaction); an id no
        database column holds (past 64 bits) names no user."""
        wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_INTEGER}
        missing = sorted(wanted - self._users.keys() - self._missing_users)
        if missing and self._all_users is None:
            table = self.schema.system["sys_users"]
            statement = sa.select(table).where(table.c.id.in_(missing)).execution_options(**{KEEPS_ROWS: True})
            for row in self.connection.execute(statement):
                self._users[row.id] = row
            self._missing_users.update(i for i in missing if i not in self._users)
        return {i: self._users[i] for i in wanted if i in self._users}

    def seen_users(self, rows: Mapping[int, Any]) -> None:
        """``sys_users`` rows read earlier in this transaction (a web request's login check:
        ``context.SharedRead``), which ``users`` then does not read again."""
        self._users.update(rows)

    def seen_user(self, user_id: int) -> Any | None:
        """The ``sys_users`` row of ``user_id`` if this unit read it already, else None (no read)."""
        return self._users.get(user_id)

    def user(self, user_id: int | None) -> Any | None:
        """The ``sys_users`` row of ``user_id``, or None."""
        return self.users([user_id]).get(user_id)  # type: ignore[arg-type]

    def all_users(self) -> list[Any]:
        """Every ``sys_users`` row, by id (read once per transaction)."""
        if self._all_users is None:
            table = self.schema.system["sys_users"]
            self._all_users = list(self.connection.execute(sa.select(table).order_by(table.c.id)))
            self._users = {row.id: row for row in self._all_users}
        return self._all_users

    def user_named(self, username: str) -> Any | None:
        """The ``sys_users`` row called ``username``, or None."""
        return next((row for row in self.all_users() if row.username == username), None)

    def team_id(self, name: str) -> int | None:
        """The id of the team called ``name``, or None."""
        if name not in self._teams:
            teams = self.schema.system["sys_teams"]
            self._teams[name] = self.connection.execute(sa.select(teams.c.id).where(teams.c.name == name)).scalar()
        return self._teams[name]

    def principal(self, user_id: int, now: dt.datetime) -> Principal:
        """What user ``user_id`` may read, as a reader of a message; a user who may not act
        (disabled, expired, gone) reads nothing."""
        if user_id not in self._principals:
            try:
                found = load_principal(self.connection, self.crm.config, user_id, now, self.schema.system["sys_users"])
            except TrellisError:
                found = Principal(user_id=user_id, username="")
            self._principals[user_id] = found
        return self._principals[user_id]


# --- the connection's events ------------------------------------------------------------------------
#: The units of each open connection (a connection is one transaction's at a time).
_units: weakref.WeakKeyDictionary[sa.Connection, weakref.WeakSet[Unit]] = weakref.WeakKeyDictionary()
_watched: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def watch(connection: sa.Connection) -> weakref.WeakSet[Unit]:
    """The units working on ``connection`` (a new unit adds itself); the first call for an engine
    makes its connections tell their units before a statement, at savepoints, at commit and at
    rollback, so that waiting rows are written in time or dropped with what rolls back."""
    engine = connection.engine
    if engine not in _watched:
        _watched.add(engine)
        sa.event.listen(engine, "before_execute", _before_execute)
        sa.event.listen(engine, "savepoint", _savepoint)
        sa.event.listen(engine, "rollback_savepoint", _rollback_savepoint)
        sa.event.listen(engine, "release_savepoint", _release_savepoint)
        sa.event.listen(engine, "commit", _commit)
        sa.event.listen(engine, "rollback", _rollback)
    units = _units.get(connection)
    if units is None:
        units = _units[connection] = weakref.WeakSet()
    return units


def flush_units(connection: sa.Connection) -> None:
    """Write the rows the units working on ``connection`` still hold, as a commit does (a
    connection in autocommit has no commit to do it: ``engine.runtime.autocommit_reads``)."""
    _commit(connection)


def _before_execute(
    connection: sa.Connection, element: Any, multiparams: Any, params: Any, options: Mapping[str, Any]
) -> None:
    units = _units.get(connection)
    if units and not options.get(KEEPS_ROWS):
        for unit in list(units):
            unit.flush()


def _savepoint(connection: sa.Connection, name: str) -> None:
    for unit in list(_units.get(connection, ())):
        unit._savepoint_taken(name)


def _rollback_savepoint(connection: sa.Connection, name: str, context: Any) -> None:
    for unit in list(_units.get(connection, ())):
        unit._savepoint_ended(name, rolled_back=True)


def _release_savepoint(connection: sa.Connection, name: str, context: Any) -> None:
    for unit in list(_units.get(connection, ())):
        unit._savepoint_ended(name, rolled_back=False)


def _commit(connection: sa.Connection) -> None:
    for unit in list(_units.get(connection, ())):
        unit.flush()


def _rollback(connection: sa.Connection) -> None:
    for unit in list(_units.get(connection, ())):
        unit._rolled_back()


@functools.lru_cache(maxsize=64)
def _insert(table: sa.Table, collected: bool) -> sa.Insert:
    """INSERT INTO ``table``, built once (its compiled form is then found by its cache key at once);
    ``collected``: of collected rows, which need not wait for the others (``KEEPS_ROWS``)."""
    return sa.insert(table).execution_options(**{KEEPS_ROWS: collected})


def _scope_key(principal: Principal, object_name: str) -> Any:
    """What a principal's read scope of an object depends on (its owner ids, or all)."""
    return principal.owners(principal.grant(object_name).read)
