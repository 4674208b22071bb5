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
  history that the current write call produced. They are written together — one
  statement per kind — when the outermost write call (``Session.create``, ``update``, a
  chunk of ``create_many`` …) ends, in the order they were produced. Outside a write call
  (the worker running a scheduled rule, ``assignment.assign`` from Python) they are
  written at once.

Savepoints inside a write call go through ``Unit.savepoint``: when one rolls back, the
rows collected inside it are dropped with it, as the database drops its own. When a call
ends with a refusal (a ``TrellisError``) what was collected before is written all the same,
as it was when every row was written at once; the caller's rollback removes it.

Users and teams change in transactions of their own (``Trellis.directory``), so a
transaction's cache of them does not go stale; the caches of records
(``stored``, lookup targets) are dropped when the call that filled them ends.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

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
        self._rows: list[tuple[str, Any]] = []
        self._users: dict[int, Any] = {}
        self._missing_users: set[int] = set()
        self._all_users: list[Any] | None = None
        self._principals: dict[int, Principal] = {}
        self._teams: dict[str, int | None] = {}
        self._targets: set[tuple[Any, str, int]] = set()

    @property
    def schema(self) -> Schema:
        return self.crm.schema

    # --- write calls and savepoints ------------------------------------------------------------
    @contextmanager
    def call(self) -> Iterator[None]:
        """One write call (create, update, a chunk …): the outermost one writes what was collected."""
        self.calls += 1
        try:
            yield
        except TrellisError:
            self._end(write=True)
            raise
        except BaseException:
            self._end(write=False)
            raise
        self._end(write=True)

    def _end(self, write: bool) -> None:
        self.calls -= 1
        if self.calls:
            return
        self.stored.clear()
        self.created.clear()
        self._targets.clear()
        self._missing_users.clear()
        if write:
            self.flush()
        else:
            self._rows.clear()

    @contextmanager
    def savepoint(self, database: bool = True) -> Iterator[None]:
        """A savepoint; rolling it back also drops the rows collected inside it. Inside a write
        call, work that only collects rows (and reads) needs no savepoint of the database:
        ``database=False`` marks the collected rows alone."""
        mark = len(self._rows)
        try:
            with self.connection.begin_nested() if database or not self.calls else nullcontext():
                yield
        except BaseException:
            del self._rows[mark:]
            self.stored.clear()  # records written inside it are gone again
            self.created.clear()
            self._targets.clear()
            raise

    # --- collected rows ----------------------------------------------------------------------------
    def add(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Write ``row`` to the system table ``table`` with the call's other rows (at once outside
        a call). Returns the row: until the call ends, the caller may still change it."""
        if self.calls:
            self._rows.append((table, row))
        else:
            self.connection.execute(_insert(self.schema.system[table]), row)
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
            audit.log_change(self.connection, self.schema, *entry)

    def flush(self) -> None:
        """Write the collected rows: the audit entries in order, then one statement per table."""
        rows, self._rows = self._rows, []
        if not rows:
            return
        tables: dict[str, list[dict[str, Any]]] = {}
        # Audit entries in order, one INSERT per run of entries sharing principal, channel and time.
        runs: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]] = []
        for kind, row in rows:
            if kind == AUDIT:
                principal, channel, action, object_name, record_id, changes, now = row
                key = (principal, channel, now)
                if not runs or runs[-1][0] != key:
                    runs.append((key, []))
                runs[-1][1].append((action, object_name, record_id, changes))
            else:
                tables.setdefault(kind, []).append(row)
        for (principal, channel, now), entries in runs:
            audit.log_changes(self.connection, self.schema, principal, channel, entries, now)
        for name in COLLECTED:
            if name in tables:
                self.connection.execute(_insert(self.schema.system[name]), tables[name])

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
        wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63}
        missing = sorted(wanted - self._users.keys() - self._missing_users)
        if missing and self._all_users is None:
            table = self.schema.system["sys_users"]
            for row in self.connection.execute(sa.select(table).where(table.c.id.in_(missing))):
                self._users[row.id] = row
            self._missing_users.update(i for i in missing if i not in self._users)
        return {i: self._users[i] for i in wanted if i in self._users}

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


@functools.lru_cache(maxsize=64)
def _insert(table: sa.Table) -> sa.Insert:
    """INSERT INTO ``table``, built once (its compiled form is then found by its cache key at once)."""
    return sa.insert(table)


def _scope_key(principal: Principal, object_name: str) -> Any:
    """What a principal's read scope of an object depends on (its owner ids, or all)."""
    return principal.owners(principal.grant(object_name).read)
