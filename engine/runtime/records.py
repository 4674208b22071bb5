"""The one write path, and the session that carries it.

Every write — form, API, import, automation — calls ``Session.create``,
``update`` or ``delete``: coerce → defaults → formulas → normalise (inside
coercion) → validate (fields, dependent picklists, lookups, uniqueness, rules)
→ permission checks (create/edit/delete scope, hidden and read-only fields,
reassignment) → persist with an optimistic version → audit row, all in the
caller's transaction. Problems are collected and raised together as
``ValidationFailed``; nothing is written then. Records outside the caller's read
scope are ``NotFound``; inside it but not editable, ``PermissionDenied``.

A ``Session`` is one transaction: ``Trellis.session()`` commits it on success
and rolls it back on any exception.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Clock
from engine.metadata.fieldtypes import MAX_INTEGER
from engine.metadata.model import Config, ObjectDef
from engine.runtime import (
    approvals,
    audit,
    automation,
    converted,
    crypto,
    files,
    pipeline,
    timeline,
)
from engine.runtime.assignment import on_create as assign_on_create
from engine.runtime.errors import RECORD_ERRORS, Conflict, NotFound, UnknownObject, ValidationFailed
from engine.runtime.permissions import SYSTEM, PermissionDenied, Principal
from engine.runtime.query import Query, encrypted_fields, lookup_titles, row_to_record
from engine.runtime.record import Record
from engine.runtime.scoring import apply_scores
from engine.runtime.tables import Schema
from engine.runtime.validation import (
    Errors,
    apply_defaults,
    check_values,
    coerce_input,
    compute_formulas,
)

if TYPE_CHECKING:
    from engine.runtime.approvals import ApprovalRequest
    from engine.runtime.conversion import ConversionResult
    from engine.trellis import Trellis

_COUNTER = re.compile(r"\{(0+)\}")


class Session:
    """A unit of work as one principal (a user, or the system) in one transaction."""

    def __init__(self, crm: Trellis, connection: sa.Connection, principal: Principal = SYSTEM,
                 channel: str = "python", approved_rules: frozenset[str] = frozenset(), depth: int = 0) -> None:
        self.crm = crm
        self.connection = connection
        self.principal = principal
        self.channel = channel
        #: Approval rules already approved for the change this session applies (``engine.runtime.approvals``).
        self.approved_rules = approved_rules
        #: How many automation rules deep this session's writes are (``engine.runtime.automation``).
        self.depth = depth
        #: True while ``convert`` writes its source's mark and links (``engine.runtime.converted``).
        self.converting = False
        #: When set, the time this session's writes happen at instead of now: the demo loader
        #: (``engine.runtime.demo``) creates sample records at moments in the past.
        self.backdate: dt.datetime | None = None

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
        record = self.query(object_name).include_archived().filter(id=_record_id(object_name, record_id)).first()
        if record is None:
            raise NotFound(object_name, record_id)
        if obj.audit_reads and not self.principal.is_system:
            audit.log_access(self.connection, self.schema, self.principal, self.channel, "read",
                             object_name, record.id, self.clock().now_utc)
        return record

    def titles(self, object_name: str, ids: list[int]) -> dict[int, str]:
        """Titles of records (e.g. lookup targets) the caller may see a title of; see ``lookup_titles``."""
        obj = self.object(object_name)
        return lookup_titles(self, obj, self.schema.table(object_name), ids)

    def export(self, object_name: str, query: Query | None = None) -> list[Record]:
        """The records of ``query`` (default: all in scope) for an export; needs the ``export``
        grant and is written to the access log (S34)."""
        obj = self.object(object_name)
        if not self.principal.grant(object_name).export:
            raise PermissionDenied(f"you may not export {obj.plural_label.get()}")
        records = (query or self.query(object_name)).all()
        audit.log_access(self.connection, self.schema, self.principal, self.channel, "export", object_name, None,
                         self.clock().now_utc, {"records": len(records)})
        return records

    # --- writes --------------------------------------------------------------
    def create(self, object_name: str, values: Mapping[str, Any], reason: str | None = None) -> Record:
        """Validate and insert a record; raises ValidationFailed with every problem. When an
        approval rule guards the new values, nothing is inserted: the returned Record has no
        id and carries the pending request (``pending_approval``); approving it creates the record.

        ``reason`` (or a ``stage_reason`` value) explains a record created past its
        pipeline's first stage (a skip, S18)."""
        obj = self.object(object_name)
        values, reason = _split_reason(obj, values, reason)
        grant = self.principal.grant(object_name)
        if not grant.create:
            raise PermissionDenied(f"you may not create {obj.plural_label.get()} records")
        clock = self.clock()
        now = clock.now_utc
        errors = Errors()
        self._check_writable(obj, values, errors)
        data = coerce_input(obj, values, self.config.settings, errors)
        converted.check_hand_set(self, object_name, data, None, errors)
        system = {"id": None, "created_at": now, "updated_at": now, "created_by": self.user,
                  "owner_id": data.pop("owner_id", self.user), "version": 1, "archived_at": None}
        if obj.pipeline:
            system["stage_entered_at"] = now
        if obj.timeline:
            system["last_activity_at"] = None  # kept by engine.runtime.timeline
        # The creator is the default owner: any other owner (also none) is a give-away.
        self._check_owner(obj, self.user, system["owner_id"], errors)
        apply_defaults(obj, data, {"current_user": self.user}, clock, self.config.settings, errors)
        first_stage = pipeline.initial_stage(obj, data, set(values))
        if first_stage is not None:
            data[obj.pipeline.field] = first_stage
        data = {**system, **data}
        compute_formulas(obj, data, clock, self.config.settings, errors)
        apply_scores(self.config, obj, data, None, clock)
        check_values(obj, data, None, clock, errors, self._unreadable(obj))
        move = pipeline.check_move(obj, None, data, set(values), self.principal, reason, clock, errors)
        if move is not None and move.skipped and not self.principal.is_system \
                and self.config.approval_rules(object_name, "stage_skip"):
            errors.add(obj.pipeline.field, "approval_required",
                       "Skipping stages needs approval: create the record at its first stage, then move it.")
        self._check_database(obj, data, None, errors)
        files.check(self, obj, data, None, errors)
        if errors:
            raise _refusal(obj, data, errors)
        rules = approvals.rules_for_create(self, obj, data)
        if rules:  # held until approved: nothing is inserted now
            pending = approvals.request(self, obj, approvals.NEW_RECORD, rules, "create", values, reason)
            return self._visible(obj, data, pending)
        row = {name: data.get(name) for name in obj.fields} | system | self._autonumbers(obj)
        del row["id"]
        table = self.schema.table(object_name)
        new_id = self._write(obj, row, _insert_returning_id(table), lambda r: r.scalar_one(),
                             _stored(obj, row, self.crm.keys))
        record = {**row, "id": new_id}
        files.bind(self, obj, new_id, record)
        self._audit(obj, "create", new_id, None, record)
        timeline.touch(self, obj, None, record)
        if move is not None:
            pipeline.record_move(self.connection, self.schema.system["sys_stage_history"], obj, new_id, move,
                                 self.principal, self.channel, now, None)
        record = assign_on_create(self, obj, record, values)
        if automation.after_write(self, obj, "create", None, record, move):
            record = self._stored_row(obj, new_id)
        return self._visible(obj, record)

    def update(self, object_name: str, record_id: Any, values: Mapping[str, Any], version: int | None = None,
               reason: str | None = None) -> Record:
        """Validate and apply changes; ``version`` guards against concurrent edits (Conflict).

        A change of the pipeline stage passes its gate and transition rules
        (``engine.runtime.pipeline``); ``reason`` (or a ``stage_reason`` value)
        explains a skip or a reopening."""
        obj = self.object(object_name)
        values, reason = _split_reason(obj, values, reason)
        current = self._current(obj, record_id, "edit")
        if version is not None and version != current["version"]:
            raise Conflict(object_name, current.id, version, current["version"])
        converted.check_not_converted(self, object_name, current)
        clock = self.clock()
        errors = Errors()
        self._check_writable(obj, values, errors)
        changes = coerce_input(obj, values, self.config.settings, errors)
        converted.check_hand_set(self, object_name, changes, current, errors)
        if "owner_id" in changes:
            self._check_owner(obj, current["owner_id"], changes["owner_id"], errors)
        data = {**current, **changes}
        entry = pipeline.entry_stage(obj, current, data, set(changes))
        if entry is not None:  # another pipeline: its first stage
            data[obj.pipeline.field] = entry
        compute_formulas(obj, data, clock, self.config.settings, errors)
        apply_scores(self.config, obj, data, current, clock)
        check_values(obj, data, current, clock, errors, self._unreadable(obj))
        move = pipeline.check_move(obj, current, data, set(changes), self.principal, reason, clock, errors)
        changed = {k: v for k, v in data.items() if (k in obj.fields or k == "owner_id") and current.get(k) != v}
        if not self.approved_rules:
            approvals.check_locks(self, obj, current.id, set(changed), "update", errors)
        self._check_database(obj, changed, current.id, errors)
        files.check(self, obj, changed, current.id, errors)
        if errors:
            raise _refusal(obj, data, errors)
        if not changed:
            return self._visible(obj, current)
        rules = approvals.rules_for_update(self, obj, data, set(changed), move)
        if rules:  # held until approved: nothing changes now
            pending = approvals.request(self, obj, current.id, rules, "update", values, reason)
            return self._visible(obj, current, pending)
        now = clock.now_utc
        if obj.pipeline and obj.pipeline.field in changed:
            changed["stage_entered_at"] = now
        changed.update(updated_at=now, version=current["version"] + 1)
        table = self.schema.table(object_name)
        statement = (sa.update(table).where(table.c.id == current.id, table.c.version == current["version"])
                     .values(**_stored(obj, changed, self.crm.keys)))
        if self._write(obj, changed, statement, lambda r: r.rowcount) != 1:
            latest = self.connection.execute(sa.select(table.c.version).where(table.c.id == current.id)).scalar()
            raise Conflict(object_name, current.id, current["version"], latest)
        record = {**current, **changed}
        files.bind(self, obj, current.id, changed)
        self._audit(obj, "update", current.id, current, record)
        timeline.touch(self, obj, current, record)
        if move is not None:
            pipeline.record_move(self.connection, self.schema.system["sys_stage_history"], obj, current.id, move,
                                 self.principal, self.channel, now, current.get("stage_entered_at"))
        if automation.after_write(self, obj, "update", current, record, move):
            record = self._stored_row(obj, current.id)
        return self._visible(obj, record)

    def _write(self, obj: ObjectDef, row: Mapping[str, Any], statement: sa.Executable,
               fetch: Callable[[sa.CursorResult], Any], parameters: Mapping[str, Any] | None = None) -> Any:
        """Run an INSERT/UPDATE and ``fetch`` its result; a unique value taken by a
        concurrent writer meanwhile becomes a field error, not a database error."""
        unique = [f.name for f in obj.fields.values() if f.unique and row.get(f.name) is not None]
        if not unique:
            return fetch(self.connection.execute(statement, parameters))
        try:
            with self.connection.begin_nested():
                return fetch(self.connection.execute(statement, parameters))
        except sa.exc.IntegrityError:
            errors = Errors()
            self._check_database(obj, {name: row[name] for name in unique}, row.get("id"), errors)
            if not errors:
                raise
            raise ValidationFailed(dict(errors), obj.name) from None

    def delete(self, object_name: str, record_id: Any, version: int | None = None) -> ApprovalRequest | None:
        """Delete a record; refused while other records' lookups point at it. When an
        approval rule guards the delete, nothing is deleted and the pending request is
        returned instead."""
        obj = self.object(object_name)
        current = self._current(obj, record_id, "delete")
        if version is not None and version != current["version"]:
            raise Conflict(object_name, current.id, version, current["version"])
        references = self._references_to(obj.name, current.id)
        if references:
            listing = ", ".join(f"{count} {name}" for name, count in references)
            raise ValidationFailed(
                {RECORD_ERRORS: [_error("in_use", f"Still referred to by {listing}; change or delete those first.")]},
                object_name,
            )
        if not self.approved_rules:
            errors = Errors()
            approvals.check_locks(self, obj, current.id, set(), "delete", errors)
            if errors:
                raise ValidationFailed(dict(errors), object_name)
        rules = approvals.rules_for_delete(self, obj, current)
        if rules:
            return approvals.request(self, obj, current.id, rules, "delete", {}, None)
        table = self.schema.table(object_name)
        self.connection.execute(sa.delete(table).where(table.c.id == current.id))
        self._audit(obj, "delete", current.id, current, None)
        timeline.touch(self, obj, current, None)
        automation.after_write(self, obj, "delete", current, None)
        return None

    def archive(self, object_name: str, record_id: Any, archived: bool = True) -> Record:
        """Archive a record (or bring it back with ``archived=False``): hidden from lists and
        queries by default, kept with its history (S40). Needs edit scope over it."""
        obj = self.object(object_name)
        current = self._current(obj, record_id, "edit")
        now = self.clock().now_utc
        if (current["archived_at"] is not None) == archived:
            return self._visible(obj, current)
        changed = {"archived_at": now if archived else None, "updated_at": now, "version": current["version"] + 1}
        table = self.schema.table(object_name)
        self.connection.execute(sa.update(table).where(table.c.id == current.id).values(**changed))
        audit.log_change(self.connection, self.schema, self.principal, self.channel,
                         "archive" if archived else "unarchive", obj.name, current.id,
                         {"archived_at": [_iso(current["archived_at"]), _iso(changed["archived_at"])]}, now)
        return self._visible(obj, {**current, **changed})

    def _stored_row(self, obj: ObjectDef, record_id: int) -> dict[str, Any]:
        """The record as stored now (after automation changed it in this transaction)."""
        table = self.schema.table(obj.name)
        row = self.connection.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
        return dict(row_to_record(obj, row, self.crm.keys)) if row is not None else {}

    def convert(self, conversion: str, record_id: Any, *, skip: Collection[str] = (),
                overrides: Mapping[str, Mapping[str, Any]] | None = None, version: int | None = None) -> ConversionResult:
        """Convert a record as ``conversions.<conversion>`` declares (S12: lead → account, contact,
        opportunity): every target through ``create`` and the source through ``update``, all or
        nothing. See ``engine.runtime.conversion``."""
        from engine.runtime.conversion import convert

        return convert(self, conversion, record_id, skip=skip, overrides=overrides, version=version)

    # --- permissions and audit ------------------------------------------------
    def _check_writable(self, obj: ObjectDef, values: Mapping[str, Any], errors: Errors) -> None:
        """Hidden and read-only fields cannot be written by this principal."""
        for name in values:
            if name in obj.fields and not self.principal.can_change(obj.name, name):
                errors.add(name, "read_only", f"You may not change {obj.fields[name].label.get()}.")

    def _unreadable(self, obj: ObjectDef) -> frozenset[str]:
        """The fields of ``obj`` this principal may not read (their values stay out of messages)."""
        if self.principal.is_system:
            return frozenset()
        return frozenset(name for name in obj.fields if not self.principal.can_see(obj.name, name))

    def _check_owner(self, obj: ObjectDef, old_owner: int | None, new_owner: int | None, errors: Errors) -> None:
        """A record may not be given away outside the giver's edit scope without ``reassign``,
        and never to a user who does not exist."""
        if new_owner == old_owner:
            return
        if new_owner is not None and not self._user_exists(new_owner):
            errors.add("owner_id", "not_found", f"There is no user with id {new_owner}.")
            return
        allowed = self.principal.may_give_to(obj.name)
        keeps_it = new_owner is not None and new_owner == self.user  # one may always own what one makes
        if not (keeps_it or allowed is None or new_owner in allowed):
            errors.add("owner_id", "reassign_not_allowed",
                       "You may not give this record to that owner; ask someone who may reassign records.")

    def _user_exists(self, user_id: int) -> bool:
        users = self.schema.system["sys_users"]
        return self.connection.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None

    def _audit(self, obj: ObjectDef, action: str, record_id: int, before: Mapping[str, Any] | None,
               after: Mapping[str, Any] | None) -> None:
        fields = [*obj.fields, "owner_id"]
        changes = audit.field_changes(before, after, fields, set(encrypted_fields(obj)))
        audit.log_change(self.connection, self.schema, self.principal, self.channel, action, obj.name,
                         record_id, changes, self.clock().now_utc)

    def _visible(self, obj: ObjectDef, values: Mapping[str, Any], pending: ApprovalRequest | None = None) -> Record:
        """A Record without the fields the principal may not see."""
        principal = self.principal
        return Record(obj.name, {k: v for k, v in values.items() if k not in obj.fields or principal.can_see(obj.name, k)},
                      pending)

    # --- database checks -------------------------------------------------------
    def _current(self, obj: ObjectDef, record_id: Any, action: str) -> Record:
        """The stored record, locked for the change; NotFound outside the read scope,
        PermissionDenied inside it but outside the scope of ``action``."""
        table = self.schema.table(obj.name)
        statement = sa.select(table).where(table.c.id == _record_id(obj.name, record_id))
        scope = self.principal.scope(obj.name, "read", table.c.owner_id)
        if scope is not None:
            statement = statement.where(scope)
        if self.connection.dialect.name == "postgresql":
            # An update locks FOR NO KEY UPDATE (what its UPDATE takes anyway): it does not wait
            # for, nor block, inserts of rows that refer to this one (their KEY SHARE lock), so
            # an automation updating an order's member cannot deadlock with the next order.
            statement = statement.with_for_update(key_share=action != "delete")
        row = self.connection.execute(statement).mappings().first()
        if row is None:
            raise NotFound(obj.name, record_id)
        if not self.principal.in_scope(obj.name, action, row["owner_id"]):
            verb = {"edit": "change", "delete": "delete"}[action]
            raise PermissionDenied(f"you may not {verb} {obj.label.get()} {row['id']}")
        return row_to_record(obj, row, self.crm.keys)

    def _check_database(self, obj: ObjectDef, data: Mapping[str, Any], record_id: int | None, errors: Errors) -> None:
        table = self.schema.table(obj.name)
        for name, value in data.items():
            field = obj.fields.get(name)
            if field is None or value is None or name in errors:
                continue
            if field.type == "lookup" and not self._exists(field.target, value):
                errors.add(name, "not_found", f"There is no {field.target} with id {value}.")
            if field.unique:
                statement = sa.select(table.c.id).where(table.c[name] == value).limit(1)
                if record_id is not None:
                    statement = statement.where(table.c.id != record_id)
                if self.connection.execute(statement).first() is not None:
                    errors.add(name, "unique", f"Another {obj.label.get()} already has {field.label.get()} = {value}.")

    def _exists(self, object_name: str, record_id: int) -> bool:
        """Whether the record exists inside the caller's read scope (a lookup may only
        point at a record its writer can see)."""
        table = self.schema.table(object_name)
        statement = _select_id(table)
        scope = self.principal.scope(object_name, "read", table.c.owner_id)
        if scope is not None:
            statement = statement.where(scope)
        return self.connection.execute(statement, {"record_id": record_id}).first() is not None

    def _references_to(self, object_name: str, record_id: int) -> list[tuple[str, int]]:
        found = []
        for other in self.config.objects.values():
            for field in other.fields.values():
                if field.type == "lookup" and field.target == object_name:
                    table = self.schema.table(other.name)
                    condition = table.c[field.name] == record_id
                    if other.name == object_name:
                        condition = sa.and_(condition, table.c.id != record_id)  # a record may point at itself
                    count = self.connection.execute(
                        sa.select(sa.func.count()).select_from(table).where(condition)
                    ).scalar_one()
                    if count:
                        found.append((f"{other.label.get()}.{field.label.get()}", count))
        return found

    def _autonumbers(self, obj: ObjectDef) -> dict[str, str]:
        out = {}
        for field in obj.fields.values():
            if field.type == "autonumber":
                number = self.next_sequence(f"{obj.name}.{field.name}", field.start)
                out[field.name] = _COUNTER.sub(lambda m, n=number: str(n).zfill(len(m.group(1))), field.format, count=1)
        return out

    def next_sequence(self, name: str, start: int = 1) -> int:
        """Atomically take the next value of a named counter (safe under concurrent inserts)."""
        return self.connection.execute(_SEQUENCE_UPSERT, {"name": name, "start": start}).scalar_one()


@functools.lru_cache(maxsize=256)
def _insert_returning_id(table: sa.Table) -> sa.Insert:
    """INSERT … RETURNING id, built once per table so its compiled form is cached."""
    return sa.insert(table).returning(table.c.id)


@functools.lru_cache(maxsize=256)
def _select_id(table: sa.Table) -> sa.Select:
    """SELECT id WHERE id = :record_id, built once per table."""
    return sa.select(table.c.id).where(table.c.id == sa.bindparam("record_id"))


#: Insert a counter at ``start`` or increment it, returning the value taken. The same
#: statement works on PostgreSQL and SQLite (3.35+); Core's dialect-specific upserts
#: are recompiled on every call, which cost a third of a create.
_SEQUENCE_UPSERT = sa.text(
    "INSERT INTO sys_sequences (name, value) VALUES (:name, :start) "
    "ON CONFLICT (name) DO UPDATE SET value = sys_sequences.value + 1 RETURNING value"
)


def _split_reason(obj: ObjectDef, values: Mapping[str, Any], reason: str | None) -> tuple[Mapping[str, Any], str | None]:
    """Take the write-only ``stage_reason`` out of the values of a pipeline object."""
    if obj.pipeline is None or pipeline.REASON_KEY not in values:
        return values, reason
    rest = dict(values)
    given = rest.pop(pipeline.REASON_KEY)
    return rest, reason if reason is not None else (str(given) if given is not None else None)


def _refusal(obj: ObjectDef, data: Mapping[str, Any], errors: Errors) -> ValidationFailed:
    """The error for a refused write: ``GateBlocked`` when only stage gates stand in the way."""
    if obj.pipeline is not None and all(p.code == "required_for_stage" for ps in errors.values() for p in ps):
        stage = obj.pipeline.for_values(data).stage(data.get(obj.pipeline.field))
        if stage is not None:
            return pipeline.GateBlocked(dict(errors), obj.name, stage)
    return ValidationFailed(dict(errors), obj.name)


def _stored(obj: ObjectDef, row: Mapping[str, Any], keys: crypto.Keys) -> dict[str, Any]:
    """The row as stored: encrypted fields replaced by their ciphertext."""
    stored = dict(row)
    for name in encrypted_fields(obj):
        if name in stored:
            stored[name] = keys.encrypt(stored[name])
    return stored


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record_id(object_name: str, record_id: Any) -> int:
    try:
        number = int(record_id)
    except (TypeError, ValueError, OverflowError):
        raise NotFound(object_name, record_id) from None
    if number <= 0 or number > MAX_INTEGER or isinstance(record_id, bool):
        raise NotFound(object_name, record_id)
    return number


def _error(code: str, message: str):
    from engine.runtime.errors import FieldError

    return FieldError(code, message)


def utc_now() -> dt.datetime:
    """The real current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)
