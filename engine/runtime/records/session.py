"""The one write path, and the session that carries it.

Every write — form, API, import, automation — calls ``Session.create``,
``update`` or ``delete`` (or ``create_many`` / ``update_many`` for many rows at once):
coerce → defaults → formulas → normalise (inside coercion) → validate (fields,
dependent picklists, lookups, uniqueness, rules) → permission checks
(create/edit/delete scope, hidden and read-only fields, reassignment) → persist with
an optimistic version → audit row, all in the caller's transaction. ``engine.runtime.records.writes``
runs each write through the named stages where the features join (``engine.runtime.records.stages``);
one ``create`` is a batch of one.
Problems are collected and raised together as ``ValidationFailed``; nothing is written
then. Records outside the caller's read scope are ``NotFound``; inside it but not
editable, ``PermissionDenied``.

A ``Session`` is one transaction: ``Trellis.session()`` commits it on success
and rolls it back on any exception. The sessions acting for it (automation, assignment,
approvals) share its ``Unit`` (``engine.runtime.records.unit``): its caches and the rows written
together when a write call ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Clock
from engine.metadata.model import REASON_KEY, Config, Label, ObjectDef
from engine.runtime.errors import NotFound, TrellisError, UnknownObject, ValidationFailed
from engine.runtime.messages import current_language
from engine.runtime.records import writes
from engine.runtime.records.query import Query, lookup_titles
from engine.runtime.records.record import Record
from engine.runtime.records.unit import Unit
from engine.runtime.records.validation import Errors
from engine.runtime.security import audit
from engine.runtime.security.permissions import SYSTEM, Principal
from engine.runtime.tables import Schema

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.merging.merge import MergeResult
    from engine.runtime.workflow.approvals import ApprovalRequest
    from engine.runtime.workflow.conversion import ConversionResult


class Session:
    """A unit of work as one principal (a user, or the system) in one transaction."""

    def __init__(
        self,
        crm: Runtime,
        connection: sa.Connection,
        principal: Principal = SYSTEM,
        channel: str = "python",
        approved_rules: frozenset[str] = frozenset(),
        depth: int = 0,
        unit: Unit | None = None,
        read_only: bool = False,
    ) -> None:
        self.crm = crm
        self.connection = connection
        self.principal = principal
        self.channel = channel
        #: Approval rules already approved for the change this session applies (``engine.runtime.workflow.approvals``).
        self.approved_rules = approved_rules
        #: How many automation rules deep this session's writes are (``engine.runtime.workflow.automation``).
        self.depth = depth
        #: True while ``convert`` writes its source's mark and links (``engine.runtime.workflow.converted``).
        self.converting = False
        #: When set, the time this session's writes happen at instead of now: the demo loader
        #: (``engine.runtime.demo.data``) creates sample records at moments in the past.
        self.backdate: dt.datetime | None = None
        #: What this transaction's writes share (``engine.runtime.records.unit``); pass it on to the
        #: sessions that act for this one.
        self.unit = unit or Unit(crm, connection)
        #: True while a call given ``allow_duplicate=True`` writes: ``warn`` duplicate rules let it
        #: through (``engine.runtime.records.duplicates``).
        self.allow_duplicates = False
        self._hidden: dict[str, frozenset[str]] = {}
        #: True in a read-only unit of work (``Runtime.read_session``), perhaps on the read replica.
        self.read_only = read_only

    def acting(
        self, principal: Principal, channel: str, depth: int | None = None, approved_rules: frozenset[str] = frozenset()
    ) -> Session:
        """A session of this transaction acting as ``principal`` (a rule, a reader, a requester)."""
        return Session(
            self.crm,
            self.connection,
            principal,
            channel,
            approved_rules,
            self.depth if depth is None else depth,
            self.unit,
            self.read_only,
        )

    @contextlib.contextmanager
    def primary_writes(self) -> Iterator[sa.Connection]:
        """A connection for the rows a read still writes (the access log): this transaction's own,
        or in a read-only session (which may read from the replica) a short transaction of its
        own on the primary, committed when the block ends."""
        if not self.read_only:
            yield self.connection
            return
        with self.crm.engine.begin() as connection:
            yield connection

    # --- helpers -----------------------------------------------------------
    @property
    def user(self) -> int | None:
        """The acting user's id (None for the system)."""
        return self.principal.user_id

    @property
    def config(self) -> Config:
        """The compiled config this session works with."""
        return self.crm.config

    @property
    def schema(self) -> Schema:
        """The compiled tables."""
        return self.crm.schema

    def clock(self) -> Clock:
        """The current time (injectable through ``Trellis.open(clock=…)``, or ``backdate``) and company zone."""
        clock = self.crm.clock_now()
        return clock if self.backdate is None else Clock(self.backdate, clock.timezone)

    def object(self, name: str) -> ObjectDef:
        """The object ``name``; raises UnknownObject."""
        obj = self.config.objects.get(name)
        if obj is None:
            raise UnknownObject(name, list(self.config.objects))
        return obj

    # --- reads ---------------------------------------------------------------
    def query(self, object_name: str) -> Query:
        """Start a query over ``object_name`` (the one read path), inside the caller's read scope."""
        obj = self.object(object_name)
        return Query(self, obj, self.schema.table(object_name))

    def get(self, object_name: str, record_id: Any) -> Record:
        """The record with ``record_id``; NotFound also when it is outside the caller's scope."""
        obj = self.object(object_name)
        record = (
            self.query(object_name).include_archived().filter(id=writes.record_id_of(object_name, record_id)).first()
        )
        if record is None:
            raise NotFound(object_name, record_id, obj.label.get(current_language()))
        if obj.audit_reads and not self.principal.is_system:
            with self.primary_writes() as connection:
                audit.log_access(
                    connection,
                    self.schema,
                    self.principal,
                    self.channel,
                    "read",
                    object_name,
                    record.id,
                    self.clock().now_utc,
                )
        return record

    def titles(self, object_name: str, ids: list[int]) -> dict[int, str]:
        """Titles of records (e.g. lookup targets) the caller may see a title of; see ``lookup_titles``."""
        obj = self.object(object_name)
        return lookup_titles(self, obj, self.schema.table(object_name), ids)

    def export(self, object_name: str, query: Query | None = None) -> list[Record]:
        """The records of ``query`` (default: all in scope) for an export; needs the ``export``
        grant and is written to the access log (S34). A file of any size: ``engine.runtime.exports``."""
        from engine.runtime.exports.source import export_pages

        return [record for page in export_pages(self, object_name, query) for record in page]

    # --- writes --------------------------------------------------------------
    @contextlib.contextmanager
    def duplicates_allowed(self, allow: bool = True) -> Iterator[None]:
        """While the block runs, ``warn`` duplicate rules let this session's writes through."""
        before = self.allow_duplicates
        self.allow_duplicates = before or allow
        try:
            yield
        finally:
            self.allow_duplicates = before

    def create(
        self, object_name: str, values: Mapping[str, Any], reason: str | None = None, *, allow_duplicate: bool = False
    ) -> Record:
        """Validate and insert a record; raises ValidationFailed with every problem. When an
        approval rule guards the new values, nothing is inserted: the returned Record has no
        id and carries the pending request (``pending_approval``); approving it creates the record.

        ``reason`` (or a ``stage_reason`` value) explains a record created past its
        pipeline's first stage (a skip, S18). A create is a ``create_many`` of one row
        (``engine.runtime.records.writes``). A row matching a ``warn`` duplicate rule raises
        ``PossibleDuplicate`` unless ``allow_duplicate`` (``engine.runtime.records.duplicates``)."""
        obj = self.object(object_name)
        values, reason = _split_reason(obj, values, reason)
        with self.duplicates_allowed(allow_duplicate), self.unit.call():
            return writes.create(self, obj, [(0, values, reason)], stop=True)[0]  # type: ignore[return-value]

    def create_many(
        self,
        object_name: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        on_error: str = "stop",
        chunk_size: int = writes.CHUNK,
        allow_duplicate: bool = False,
    ) -> list[Record | TrellisError]:
        """Create a record for each of ``rows``, each through exactly what ``create`` does, with the
        database checks made set-wise (``engine.runtime.records.writes``).

        ``on_error="stop"`` raises the first refusal (its ``index`` is the row's place in ``rows``)
        and writes nothing; ``"collect"`` writes the valid rows and returns, per row in order, the
        Record (pending requests included) or the ``ValidationFailed`` refusing it. The results are
        kept in memory: for millions of rows use ``create_chunks``."""
        stop = _stop(on_error)
        with self.unit.savepoint() if stop else contextlib.nullcontext():
            return [
                r
                for chunk in self.create_chunks(
                    object_name, rows, on_error=on_error, chunk_size=chunk_size, allow_duplicate=allow_duplicate
                )
                for r in chunk
            ]

    def create_chunks(
        self,
        object_name: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        on_error: str = "stop",
        chunk_size: int = writes.CHUNK,
        allow_duplicate: bool = False,
    ) -> Iterator[list[Record | TrellisError]]:
        """``create_many`` a chunk at a time: reads ``chunk_size`` rows of the iterable ``rows``,
        writes them and yields their results, so that memory stays flat however many rows come.
        With ``on_error="stop"`` the chunks yielded before a refusal stay written (roll the
        transaction back to undo them)."""
        obj = self.object(object_name)
        stop = _stop(on_error)
        for chunk in _chunks(enumerate(rows), chunk_size):
            items = [(index, *_split_reason(obj, values, None)) for index, values in chunk]
            with self.duplicates_allowed(allow_duplicate), self.unit.call():
                yield writes.create(self, obj, items, stop)

    def update(
        self,
        object_name: str,
        record_id: Any,
        values: Mapping[str, Any],
        version: int | None = None,
        reason: str | None = None,
        *,
        allow_duplicate: bool = False,
    ) -> Record:
        """Validate and apply changes; ``version`` guards against concurrent edits (Conflict).

        A change of the pipeline stage passes its gate and transition rules
        (``engine.runtime.workflow.pipeline``); ``reason`` (or a ``stage_reason`` value)
        explains a skip or a reopening. An update is an ``update_many`` of one row."""
        obj = self.object(object_name)
        values, reason = _split_reason(obj, values, reason)
        with self.duplicates_allowed(allow_duplicate), self.unit.call():
            outcome = writes.update(self, obj, [(0, record_id, values, version, reason)], stop=True)[0]
        if isinstance(outcome, TrellisError):
            raise outcome
        return outcome

    def update_many(
        self,
        object_name: str,
        changes: Iterable[Sequence[Any]],
        *,
        on_error: str = "stop",
        chunk_size: int = writes.CHUNK,
        allow_duplicate: bool = False,
    ) -> list[Record | TrellisError]:
        """Apply ``(id, values[, version])`` changes, each through exactly what ``update`` does, with
        the records read and the database checks made set-wise. ``on_error`` as for ``create_many``;
        a refusal is a ``ValidationFailed``, ``NotFound``, ``PermissionDenied`` or ``Conflict``."""
        stop = _stop(on_error)
        with self.unit.savepoint() if stop else contextlib.nullcontext():
            return [
                r
                for chunk in self.update_chunks(
                    object_name, changes, on_error=on_error, chunk_size=chunk_size, allow_duplicate=allow_duplicate
                )
                for r in chunk
            ]

    def update_chunks(
        self,
        object_name: str,
        changes: Iterable[Sequence[Any]],
        *,
        on_error: str = "stop",
        chunk_size: int = writes.CHUNK,
        allow_duplicate: bool = False,
    ) -> Iterator[list[Record | TrellisError]]:
        """``update_many`` a chunk at a time (see ``create_chunks``). A record named twice is
        changed twice, in order: its second change starts a new chunk."""
        obj = self.object(object_name)
        stop = _stop(on_error)
        for chunk in _chunks(enumerate(changes), chunk_size, key=lambda item: _change_id(item[1])):
            items = []
            for index, change in chunk:
                record_id, values, version = _change(change)
                values, reason = _split_reason(obj, values, None)
                items.append((index, record_id, values, version, reason))
            with self.duplicates_allowed(allow_duplicate), self.unit.call():
                yield writes.update(self, obj, items, stop)

    def _write(
        self,
        obj: ObjectDef,
        row: Mapping[str, Any],
        statement: sa.Executable,
        fetch: Callable[[sa.CursorResult], Any],
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run an INSERT/UPDATE and ``fetch`` its result; a unique value taken by a
        concurrent writer meanwhile becomes a field error, not a database error."""
        unique = [f.name for f in obj.fields.values() if f.unique and row.get(f.name) is not None]
        if not unique:
            return fetch(self.connection.execute(statement, parameters))
        try:
            with self.unit.savepoint():
                return fetch(self.connection.execute(statement, parameters))
        except sa.exc.IntegrityError:
            draft = writes.Draft(
                0,
                {},
                None,
                check={name: row[name] for name in unique},
                current=Record(obj.name, {"id": row.get("id")}) if row.get("id") else None,
            )
            writes._check_unique(self, obj, [draft])
            if not draft.errors:
                raise
            raise ValidationFailed(dict(draft.errors), obj.name) from None

    def delete(self, object_name: str, record_id: Any, version: int | None = None) -> ApprovalRequest | None:
        """Delete a record; refused while other records' lookups point at it. When an
        approval rule guards the delete, nothing is deleted and the pending request is
        returned instead."""
        obj = self.object(object_name)
        with self.unit.call():
            return writes.delete(self, obj, record_id, version)

    def purge(self, object_name: str, record_ids: Iterable[int], reason: Mapping[str, Any]) -> list[int]:
        """Delete records by retention (``engine.runtime.retention``): the write path's delete in
        purge mode, in chunks of ``writes.CHUNK`` — its stages run (``deleted`` rules and their
        webhooks see ``purge``: ``reason``), what the records leave behind goes (stage ``gone``),
        each leaves one value-free ``purge`` audit entry naming ``reason``; no approval holds or
        locks it. A record other records point at is kept. Returns the ids purged."""
        obj = self.object(object_name)
        purged: list[int] = []
        for chunk in _chunks(record_ids, writes.CHUNK):
            with self.unit.call():
                purged += writes.purge(self, obj, chunk, reason)
        return purged

    def archive(self, object_name: str, record_id: Any, archived: bool = True) -> Record:
        """Archive a record (or bring it back with ``archived=False``): hidden from lists and
        queries by default, kept with its history (S40). Needs edit scope over it."""
        obj = self.object(object_name)
        with self.unit.call():
            current = self._current(obj, record_id, "edit")
            now = self.clock().now_utc
            if (current["archived_at"] is not None) == archived:
                return self._visible(obj, current)
            changed = {"archived_at": now if archived else None, "updated_at": now, "version": current["version"] + 1}
            table = self.schema.table(object_name)
            self.connection.execute(sa.update(table).where(table.c.id == current.id).values(**changed))
            self.unit.remember(obj.name, {**current, **changed})
            self.unit.log_change(
                self.principal,
                self.channel,
                "archive" if archived else "unarchive",
                obj.name,
                current.id,
                {"archived_at": [_iso(current["archived_at"]), _iso(changed["archived_at"])]},
                now,
            )
            return self._visible(obj, {**current, **changed})

    def convert(
        self,
        conversion: str,
        record_id: Any,
        *,
        skip: Collection[str] = (),
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        version: int | None = None,
        link: Mapping[str, Any] | None = None,
        allow_duplicate: bool | Collection[str] = False,
    ) -> ConversionResult:
        """Convert a record as ``conversions.<conversion>`` declares (S12: lead → account, contact,
        opportunity): every target through ``create`` and the source through ``update``, all or
        nothing. ``link`` (target → id) links existing records instead of creating them;
        ``allow_duplicate`` (True or target names) creates although a ``warn`` duplicate rule
        matches. See ``engine.runtime.workflow.conversion``."""
        from engine.runtime.workflow.conversion import convert

        with self.unit.call():
            return convert(
                self,
                conversion,
                record_id,
                skip=skip,
                overrides=overrides,
                version=version,
                link=link,
                allow_duplicate=allow_duplicate,
            )

    def merge(
        self,
        object_name: str,
        survivor_id: Any,
        merged_ids: Sequence[Any],
        choices: Mapping[str, Any] | None = None,
        versions: Mapping[Any, Any] | None = None,
    ) -> MergeResult:
        """Merge duplicates into ``survivor_id`` (issue 14 §4): the survivor takes the chosen values
        through ``update``, everything pointing at the others points at it, and they are archived.
        See ``engine.runtime.records.merging.merge``."""
        from engine.runtime.records.merging.merge import merge

        with self.unit.call():
            return merge(self, object_name, survivor_id, merged_ids, choices, versions)

    def unmerge(self, object_name: str, survivor_id: Any) -> Record:
        """Undo the latest merge into ``survivor_id`` within ``settings.merge_undo_days``."""
        from engine.runtime.records.merging.merge import unmerge

        with self.unit.call():
            return unmerge(self, object_name, survivor_id)

    # --- permissions and audit ------------------------------------------------
    def _check_writable(self, obj: ObjectDef, values: Mapping[str, Any], errors: Errors) -> None:
        """Hidden and read-only fields cannot be written by this principal."""
        if not self.principal.read_only:
            return
        for name in values:
            if name in obj.fields and not self.principal.can_change(obj.name, name):
                errors.add(name, "read_only", f"You may not change {obj.fields[name].label.get()}.")

    def _unreadable(self, obj: ObjectDef) -> frozenset[str]:
        """The fields of ``obj`` this principal may not read (their values stay out of messages)."""
        if self.principal.is_system:
            return frozenset()
        hidden = self._hidden.get(obj.name)
        if hidden is None:
            hidden = self._hidden[obj.name] = frozenset(
                name for name in obj.fields if not self.principal.can_see(obj.name, name)
            )
        return hidden

    def _check_owner(self, obj: ObjectDef, old_owner: int | None, new_owner: int | None, errors: Errors) -> None:
        """A record may not be given away outside the giver's edit scope without ``reassign``,
        and never to a user who does not exist."""
        if new_owner == old_owner:
            return
        if new_owner is not None and self.unit.user(new_owner) is None:
            errors.add("owner_id", "not_found", f"There is no user with id {new_owner}.")
            return
        allowed = self.principal.may_give_to(obj.name)
        keeps_it = new_owner is not None and new_owner == self.user  # one may always own what one makes
        if not (keeps_it or allowed is None or new_owner in allowed):
            errors.add(
                "owner_id",
                "reassign_not_allowed",
                "You may not give this record to that owner; ask someone who may reassign records.",
            )

    def _visible(self, obj: ObjectDef, values: Mapping[str, Any], pending: ApprovalRequest | None = None) -> Record:
        """A Record without the fields the principal may not see."""
        hidden = self._unreadable(obj)
        if not hidden:
            return Record(obj.name, values, pending)
        return Record(obj.name, {k: v for k, v in values.items() if k not in hidden}, pending)

    # --- database checks -------------------------------------------------------
    def _current(self, obj: ObjectDef, record_id: Any, action: str) -> Record:
        """The stored record, locked for the change; NotFound outside the read scope,
        PermissionDenied inside it but outside the scope of ``action``."""
        found = writes.read_current(self, obj, [record_id], action)[0]
        if isinstance(found, TrellisError):
            raise found
        return found

    def _references_to(self, object_name: str, record_id: int) -> list[tuple[Label, Label, int]]:
        """The (object label, field label, count) of every field whose records point at the record."""
        found = []
        for other in self.config.objects.values():
            for field in other.fields.values():
                if field.points_to(object_name):
                    table = self.schema.table(other.name)
                    condition = table.c[field.name] == record_id
                    if other.name == object_name:
                        condition = sa.and_(condition, table.c.id != record_id)  # a record may point at itself
                    count = self.connection.execute(
                        sa.select(sa.func.count()).select_from(table).where(condition)
                    ).scalar_one()
                    if count:
                        found.append((other.label, field.label, count))
        return found

    def next_sequence(self, name: str, start: int = 1) -> int:
        """Atomically take the next value of a named counter (safe under concurrent inserts)."""
        return writes.take_numbers(self.connection, name, start, 1)


def _stop(on_error: str) -> bool:
    if on_error not in ("stop", "collect"):
        raise ValueError(f"on_error is 'stop' or 'collect', not {on_error!r}")
    return on_error == "stop"


def _chunks(items: Iterable[Any], size: int, key: Callable[[Any], Any] | None = None) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``; with ``key``, a list also ends before a key repeats."""
    if not 1 <= size <= writes.MAX_CHUNK:
        raise ValueError(f"chunk_size is between 1 and {writes.MAX_CHUNK:,}, not {size}")
    iterator = iter(items)
    if key is None:
        while part := list(islice(iterator, size)):
            yield part
        return
    chunk: list[Any] = []
    keys: set[Any] = set()
    for item in iterator:
        k = key(item)
        if len(chunk) == size or k in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(item)
        keys.add(k)
    if chunk:
        yield chunk


def _change(change: Sequence[Any]) -> tuple[Any, Mapping[str, Any], int | None]:
    """``(id, values)`` or ``(id, values, version)``."""
    if len(change) == 2:
        return change[0], change[1], None
    if len(change) == 3:
        return change[0], change[1], change[2]
    raise ValueError(f"a change is (id, values) or (id, values, version), not {len(change)} items")


def _change_id(change: Sequence[Any]) -> Any:
    try:
        return int(change[0])
    except (TypeError, ValueError, OverflowError, IndexError):
        return object()  # never repeats: the row fails on its own


def _split_reason(
    obj: ObjectDef, values: Mapping[str, Any], reason: str | None
) -> tuple[Mapping[str, Any], str | None]:
    """Take the write-only ``stage_reason`` out of the values of a pipeline object."""
    if obj.pipeline is None or REASON_KEY not in values:
        return values, reason
    rest = dict(values)
    given = rest.pop(REASON_KEY)
    return rest, reason if reason is not None else (str(given) if given is not None else None)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def utc_now() -> dt.datetime:
    """The real current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)
