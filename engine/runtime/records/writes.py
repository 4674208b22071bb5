"""The one write path over a chunk of rows at once, through the named stages of ``stages.py``.

``Session.create`` is a chunk of one; ``Session.create_many`` cuts its rows into
chunks of ``CHUNK`` and runs each through the same steps, as do ``update`` and
``update_many`` (``delete`` takes one record; ``purge``, retention's delete, a chunk of them:
their rows go with one DELETE, then stage ``gone`` takes what they leave behind). The core's own steps, with the stages where the
features registered on the runtime join (``Runtime.stages``; ``engine.runtime.features``):

1. **prepare** each row in memory: (update: stage ``read`` for the chunk's stored records) owner
   and field permissions, coerce and normalise (stage ``input``), defaults (stage ``prepare``),
   formulas (stage ``compute``), field checks, dependent picklists, rules (stage ``validate``);
   users come from the transaction's cache (``engine.runtime.records.unit``);
2. **check the database** set-wise: one ``IN (…)`` query per lookup field, stage ``check``, one
   query per unique field for the whole chunk — a unique value repeated inside the chunk is
   refused on the later row, as a second ``create`` would be;
3. **hold** the rows that stage ``approve`` finds held (stage ``hold``: nothing written);
4. **write** the rest: one multi-row ``INSERT … RETURNING id`` (a block of autonumbers
   taken in one statement per field), or one ``UPDATE`` per row guarded by its version;
5. **after** each written row, in order: stages ``write``, ``audit`` and ``after`` — the audit
   entries, runs, notifications, outbox messages and stage history rows are collected and written
   with one statement per kind when the chunk ends (``engine.runtime.records.unit``).

A row that fails becomes its ``ValidationFailed`` (``index`` set to its place among the
caller's rows); with ``stop`` the first one is raised before anything of the chunk is written.

Checks run for the whole chunk before its first row is written: what automation does
while a row is written (a record it creates, a value it changes) is seen by the checks of
the next chunk, not by those of later rows in the same chunk — with one exception, an
update of a record that automation changed meanwhile, which is checked again on its own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.fieldparts import AutonumberPart
from engine.metadata.fieldtypes import MAX_INTEGER
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.database import KEEPS_ROWS
from engine.runtime.errors import (
    RECORD_ERRORS,
    Conflict,
    FieldError,
    GateBlocked,
    NotFound,
    TrellisError,
    ValidationFailed,
)
from engine.runtime.messages import current_language, localized, message
from engine.runtime.records.query import encrypted_fields, row_to_record
from engine.runtime.records.record import Record
from engine.runtime.records.stages import Write
from engine.runtime.records.validation import (
    Errors,
    apply_defaults,
    check_values,
    coerce_input,
    compute_formulas,
)
from engine.runtime.security.permissions import PermissionDenied

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import WriteStages
    from engine.runtime.security import crypto
    from engine.runtime.workflow.approvals import ApprovalRequest
    from engine.runtime.workflow.pipeline import StageMove

#: Rows per chunk of ``create_many`` / ``update_many``: checked, written and flushed together.
CHUNK = 1000
#: The largest chunk: a chunk's checks send its values in one ``IN (…)``, and SQLite takes at
#: most 32,766 parameters per statement.
MAX_CHUNK = 10_000
#: What a chunk's row turns into: its record, or why it was refused.
Outcome = Record | TrellisError
#: The write path's reads of records and its inserts neither read nor depend on the rows the
#: transaction collected (audit, runs, notifications …): they run without writing them first.
_KEEPS = {KEEPS_ROWS: True}

_COUNTER = re.compile(r"\{(0+)\}")


@dataclass
class Draft:
    """One row on its way through the stages."""

    index: int
    values: Mapping[str, Any]
    reason: str | None
    errors: Errors = field(default_factory=Errors)
    data: dict[str, Any] = field(default_factory=dict)
    #: The values the database checks look at (create: every value; update: the changed ones).
    check: dict[str, Any] = field(default_factory=dict)
    move: StageMove | None = None
    current: Record | None = None
    version: int | None = None
    #: The approval rules that hold the draft (None: not asked yet).
    rules: list[Any] | None = None
    outcome: Outcome | None = None
    #: The names the caller gave (create: as given; update: the coerced changes).
    given: set[str] = field(default_factory=set)
    #: The request a held draft became (stage ``hold``).
    pending: ApprovalRequest | None = None
    #: The row as written (stage ``write`` on), and the values the write stored (create: the row;
    #: update: the changed columns).
    record: dict[str, Any] | None = None
    written: Mapping[str, Any] = field(default_factory=dict)

    @property
    def record_id(self) -> int | None:
        return self.current.id if self.current is not None else None

    def fail(self, error: TrellisError) -> None:
        error.index = self.index
        self.outcome = error


# --- create ----------------------------------------------------------------------------------------------
def create(
    session: Session, obj: ObjectDef, rows: Sequence[tuple[int, Mapping[str, Any], str | None]], stop: bool
) -> list[Outcome]:
    """Create a chunk of ``(index, values, reason)`` rows; see the module docstring."""
    grant = session.principal.grant(obj.name)
    if not grant.create:
        raise PermissionDenied(
            localized(
                "write.create_denied",
                f"you may not create {obj.plural_label.get()} records",
                {"objects": obj.plural_label.get(current_language())},
            )
        )
    write = Write(session, obj, "create", session.clock())
    session.unit.users(values.get("owner_id") for _, values, _ in rows)  # every owner given, in one query
    drafts = [_prepare_create(write, Draft(i, values, reason)) for i, values, reason in rows]
    rules_of = functools.partial(_approval_rules, write)
    _check_database(write, drafts, rules_of)
    _settle(session, obj, drafts, stop, rules_of)
    _hold(write, drafts, stop)
    writing = [d for d in drafts if d.outcome is None]
    if writing:
        for draft, record in zip(writing, _insert(session, obj, writing, stop), strict=True):
            if record is not None:
                draft.outcome = _after_create(write, draft, record)
    return [d.outcome for d in drafts]  # type: ignore[misc]


def prepared(session: Session, obj: ObjectDef, values: Mapping[str, Any]) -> Draft:
    """A create of ``values`` taken through the database-free steps only (coercion, defaults,
    formulas, field checks and the stages up to ``validate``), writing nothing: the row as the
    write path would check it (``draft.data``) and its problems so far. For previews, e.g. the
    likely duplicates of a conversion's target (``engine.runtime.records.duplicates``)."""
    return _prepare_create(Write(session, obj, "create", session.clock()), Draft(0, values, None))


def _prepare_create(write: Write, draft: Draft) -> Draft:
    """The database-free steps of a create (``Session.create``'s docstring lists them), with the
    stages ``input``, ``prepare``, ``compute`` and ``validate`` between them."""
    session, obj, clock, stages = write.session, write.obj, write.clock, _stages(write)
    errors, values, now = draft.errors, draft.values, clock.now_utc
    session._check_writable(obj, values, errors)
    data = draft.data = coerce_input(obj, values, session.config.settings, errors)
    draft.given = set(values)
    stages.run("input", write, draft)
    system = {
        "id": None,
        "created_at": now,
        "updated_at": now,
        "created_by": session.user,
        "owner_id": data.pop("owner_id", session.user),
        "version": 1,
        "archived_at": None,
    }
    if obj.pipeline:
        system["stage_entered_at"] = now
    if obj.timeline:
        system["last_activity_at"] = None  # kept by engine.runtime.workflow.timeline
    # The creator is the default owner: any other owner (also none) is a give-away.
    session._check_owner(obj, session.user, system["owner_id"], errors)
    apply_defaults(obj, data, {"current_user": session.user}, clock, session.config.settings, errors)
    stages.run("prepare", write, draft)
    data = draft.data = {**system, **data}
    compute_formulas(obj, data, clock, session.config.settings, errors)
    stages.run("compute", write, draft)
    check_values(obj, data, None, clock, errors, session._unreadable(obj))
    draft.check = data
    try:
        stages.run("validate", write, draft)
    except PermissionDenied as exc:
        draft.fail(exc)
    return draft


def _after_create(write: Write, draft: Draft, record: dict[str, Any]) -> Record:
    """What follows the insert of one row (``Session.create``): the stages ``write``, ``audit``
    and ``after``."""
    session, obj, stages = write.session, write.obj, _stages(write)
    draft.record = draft.written = record
    stages.run("write", write, draft)
    session.unit.remember(obj.name, record, created=True)
    stages.run("audit", write, draft)
    stages.run("after", write, draft)
    return session._visible(obj, draft.record)


def _insert(session: Session, obj: ObjectDef, drafts: list[Draft], stop: bool) -> list[dict[str, Any] | None]:
    """Insert the drafts' rows (autonumbers taken); each row as stored with its id, or None for a
    row whose unique value a concurrent writer took meanwhile (its draft then fails)."""
    rows = []
    for draft, numbers in zip(drafts, _autonumbers(session, obj, len(drafts)), strict=True):
        row = {name: draft.data.get(name) for name in obj.fields} | _system(draft.data) | numbers
        del row["id"]
        rows.append(row)
    table = session.schema.table(obj.name)
    unique = [f.name for f in obj.fields.values() if f.unique]
    if not any(row.get(name) is not None for row in rows for name in unique):
        return _inserted(session, table, obj, rows)
    try:
        with session.unit.savepoint():
            return _inserted(session, table, obj, rows)
    except sa.exc.IntegrityError:
        taken = _taken_meanwhile(session, obj, drafts, [{n: row[n] for n in unique} for row in rows])
        if not taken:
            raise
    for draft in taken:
        if stop:
            raise draft.outcome  # type: ignore[misc]
    keep = [i for i, d in enumerate(drafts) if d not in taken]
    again = iter(_insert(session, obj, [drafts[i] for i in keep], stop)) if keep else iter(())
    return [None if d in taken else next(again) for d in drafts]


def _inserted(
    session: Session, table: sa.Table, obj: ObjectDef, rows: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    stored = [_stored(obj, row, session.crm.keys) for row in rows]
    connection = session.connection
    if len(rows) == 1:
        ids = [connection.execute(_insert_returning_id(table), stored[0]).scalar_one()]
    elif connection.dialect.name == "sqlite":
        # SQLAlchemy can only keep the order of RETURNING on SQLite by inserting row by row.
        # SQLite writes one transaction at a time and numbers the rows of an INSERT in order
        # (AUTOINCREMENT, ``tables.never_reuse_ids``): the ids, sorted, are the rows' ids.
        ids = sorted(connection.execute(_insert_returning_id(table), stored).scalars())
    else:
        ids = list(connection.execute(_insert_returning_ids(table), stored).scalars())
    return [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)]


def _taken_meanwhile(
    session: Session,
    obj: ObjectDef,
    drafts: list[Draft],
    values: list[dict[str, Any]],
) -> list[Draft]:
    """After a refused insert: the drafts whose unique values are taken now (each gets its error)."""
    checking = [
        Draft(d.index, d.values, d.reason, check=v, current=d.current) for d, v in zip(drafts, values, strict=True)
    ]
    _check_unique(session, obj, checking)
    taken = []
    for draft, checked in zip(drafts, checking, strict=True):
        if checked.errors:
            draft.fail(ValidationFailed(dict(checked.errors), obj.name))
            taken.append(draft)
    return taken


def _autonumbers(session: Session, obj: ObjectDef, count: int) -> list[dict[str, str]]:
    """Each new row's autonumber values: a block of ``count`` numbers per field, in one statement."""
    out: list[dict[str, str]] = [{} for _ in range(count)]
    for f in obj.fields.values():
        if isinstance(f.part, AutonumberPart):
            last = take_numbers(session.connection, f"{obj.name}.{f.name}", f.start, count)
            for offset, numbers in enumerate(out):
                numbers[f.name] = autonumber(f, last - count + 1 + offset)
    return out


def take_numbers(connection: sa.Connection, name: str, start: int, count: int) -> int:
    """Atomically take ``count`` numbers of the named counter (safe under concurrent writers);
    returns the last one taken (a new counter starts at ``start``)."""
    return connection.execute(_SEQUENCE_BLOCK, {"name": name, "last": start + count - 1, "count": count}).scalar_one()


def autonumber(f: FieldDef, number: int) -> str:
    """``number`` in the autonumber field's format (``OPP-{000000}`` → ``OPP-000042``)."""
    assert f.format is not None, "an autonumber field has its format"
    return _COUNTER.sub(lambda m: str(number).zfill(len(m.group(1))), f.format, count=1)


# --- update ------------------------------------------------------------------------------------------------
def update(
    session: Session,
    obj: ObjectDef,
    rows: Sequence[tuple[int, Any, Mapping[str, Any], int | None, str | None]],
    stop: bool,
) -> list[Outcome]:
    """Update a chunk of ``(index, id, values, version, reason)`` rows (each id once)."""
    drafts = [Draft(i, values, reason, version=version) for i, _, values, version, reason in rows]
    currents = read_current(session, obj, [record_id for _, record_id, _, _, _ in rows], "edit")
    write = Write(session, obj, "update", session.clock())
    for draft, found in zip(drafts, currents, strict=True):
        if isinstance(found, TrellisError):
            draft.fail(found)
        else:
            draft.current = found
    stages = _stages(write)
    stages.run_chunk("read", write, drafts)
    session.unit.users(values.get("owner_id") for _, _, values, _, _ in rows)
    for draft in drafts:
        if draft.outcome is not None:
            continue
        try:
            _prepare_update(write, draft)
        except TrellisError as exc:  # a stale version, a converted record, a reopening refused
            draft.fail(exc)
    rules_of = functools.partial(_approval_rules, write)
    _check_database(write, drafts, rules_of)
    _settle(session, obj, drafts, stop, rules_of)
    _hold(write, drafts, stop)
    for draft in drafts:
        if draft.outcome is None:
            draft.outcome = _write_update(write, draft, stop)
    return [d.outcome for d in drafts]  # type: ignore[misc]


def _prepare_update(write: Write, draft: Draft) -> None:
    """The database-free steps of an update (``Session.update``), with the stages ``input``,
    ``prepare``, ``compute`` and ``validate`` between them."""
    session, obj, clock, stages = write.session, write.obj, write.clock, _stages(write)
    current, errors = draft.current, draft.errors
    assert current is not None
    if draft.version is not None and draft.version != current["version"]:
        raise Conflict(obj.name, current.id, draft.version, current["version"])
    session._check_writable(obj, draft.values, errors)
    changes = draft.data = coerce_input(obj, draft.values, session.config.settings, errors)
    draft.given = set(changes)
    stages.run("input", write, draft)
    if "owner_id" in changes:
        session._check_owner(obj, current["owner_id"], changes["owner_id"], errors)
    data = draft.data = {**current, **changes}
    stages.run("prepare", write, draft)
    compute_formulas(obj, data, clock, session.config.settings, errors)
    stages.run("compute", write, draft)
    check_values(obj, data, current, clock, errors, session._unreadable(obj))
    changed = {k: v for k, v in data.items() if (k in obj.fields or k == "owner_id") and current.get(k) != v}
    draft.check = changed
    stages.run("validate", write, draft)


def _write_update(write: Write, draft: Draft, stop: bool) -> Outcome:
    """Write one checked update and what follows it (``Session.update``): the stages ``write``,
    ``audit`` and ``after``."""
    session, obj, stages = write.session, write.obj, _stages(write)
    current = draft.current
    assert current is not None
    latest = session.unit.remembered(obj.name, current.id)
    if latest is not None and latest["version"] != current["version"]:
        # Automation of an earlier row changed this record meanwhile: check it again as it is now.
        again = update(session, obj, [(draft.index, current.id, draft.values, draft.version, draft.reason)], stop)
        return again[0]
    changed = dict(draft.check)
    if not changed:
        return session._visible(obj, current)
    now = session.clock().now_utc
    if obj.pipeline and obj.pipeline.field in changed:
        changed["stage_entered_at"] = now
    changed.update(updated_at=now, version=current["version"] + 1)
    table = session.schema.table(obj.name)
    statement = (
        sa.update(table)
        .where(table.c.id == current.id, table.c.version == current["version"])
        .values(**_stored(obj, changed, session.crm.keys))
    )
    try:
        count = session._write(obj, changed, statement, lambda r: r.rowcount)
    except ValidationFailed as exc:
        if stop:
            raise
        draft.fail(exc)
        return exc
    if count != 1:
        version = session.connection.execute(sa.select(table.c.version).where(table.c.id == current.id)).scalar()
        conflict = Conflict(obj.name, current.id, current["version"], version)
        if stop:
            raise conflict
        draft.fail(conflict)
        return conflict
    record = draft.record = {**current, **changed}
    draft.written = changed
    stages.run("write", write, draft)
    session.unit.remember(obj.name, record)
    stages.run("audit", write, draft)
    stages.run("after", write, draft)
    return session._visible(obj, draft.record)


# --- delete ------------------------------------------------------------------------------------------------
def delete(session: Session, obj: ObjectDef, record_id: Any, version: int | None) -> ApprovalRequest | None:
    """Delete one record (``Session.delete``): refused while lookups of other records point at it;
    then the stages ``read``, ``validate``, ``approve`` — a held delete returns its pending request
    (stage ``hold``) — and, once the row is gone, ``gone`` (what it leaves behind), ``audit`` and
    ``after``."""
    current = session._current(obj, record_id, "delete")
    if version is not None and version != current["version"]:
        raise Conflict(obj.name, current.id, version, current["version"])
    references = session._references_to(obj.name, current.id)
    if references:
        listing = ", ".join(f"{count} {other.get()}.{field.get()}" for other, field, count in references)
        language = current_language()
        shown = message("in_use.separator", language).join(
            message("in_use.item", language, field=f"{other.get(language)}.{field.get(language)}", count=count)
            for other, field, count in references
        )
        english = f"Still referred to by {listing}; change or delete those first."
        raise ValidationFailed({RECORD_ERRORS: [FieldError("in_use", english, {"references": shown})]}, obj.name)
    write = Write(session, obj, "delete", session.clock())
    stages = _stages(write)
    draft = Draft(0, {}, None, current=current)
    stages.run_chunk("read", write, [draft])
    stages.run("validate", write, draft)
    if draft.errors:
        raise ValidationFailed(dict(draft.errors), obj.name)
    if _approval_rules(write, draft):
        stages.run("hold", write, draft)
        return draft.pending
    _remove(write, [draft])
    return None


def purge(session: Session, obj: ObjectDef, record_ids: Sequence[int], reason: Mapping[str, Any]) -> list[int]:
    """Delete a chunk of records in purge mode (``Session.purge``): the stages of ``delete`` with
    ``Write.purge`` set to ``reason`` (the retention policy), set-wise where the stages allow —
    one read, one reference check per lookup, one DELETE and one ``gone`` for the chunk. A record
    another record's lookup points at, or that a ``validate`` hook refuses, is kept (not an
    error); no approval holds a purge. Returns the ids deleted, in order."""
    write = Write(session, obj, "delete", session.clock(), purge=reason)
    stages = _stages(write)
    found = read_current(session, obj, list(record_ids), "delete")
    drafts = [Draft(i, {}, None, current=f) for i, f in enumerate(found) if isinstance(f, Record)]
    pointed = referenced(session, obj, [d.current.id for d in drafts if d.current is not None])
    drafts = [d for d in drafts if d.record_id not in pointed]
    stages.run_chunk("read", write, drafts)
    for draft in drafts:
        stages.run("validate", write, draft)
    drafts = [d for d in drafts if not d.errors]
    if drafts:
        _remove(write, drafts)
    return [d.record_id for d in drafts if d.record_id is not None]


def referenced(
    session: Session, obj: ObjectDef, ids: Sequence[int], skip: Collection[tuple[str, str]] = ()
) -> set[int]:
    """The records of ``ids`` another record's lookup points at (records of ``ids`` pointing at
    each other aside: they go together; lookups ``(object, field)`` in ``skip`` left out): one
    query per lookup."""
    pointed: set[int] = set()
    if not ids:
        return pointed
    for other in session.config.objects.values():
        for f in other.lookups:
            if not f.points_to(obj.name) or (other.name, f.name) in skip:
                continue
            table = session.schema.table(other.name)
            column = table.c[f.name]
            query = sa.select(column).where(column.in_(ids))
            if other.name == obj.name:
                query = query.where(table.c.id.not_in(ids))
            pointed.update(session.connection.execute(query.distinct()).scalars())
    return pointed


def _remove(write: Write, drafts: list[Draft]) -> None:
    """Delete the drafts' rows with one statement, then the stages ``gone`` (for the chunk),
    ``audit`` and ``after`` (for each row)."""
    session, obj, stages = write.session, write.obj, _stages(write)
    ids = [d.current.id for d in drafts if d.current is not None]
    table = session.schema.table(obj.name)
    session.connection.execute(sa.delete(table).where(table.c.id.in_(ids) if len(ids) > 1 else table.c.id == ids[0]))
    for record_id in ids:
        session.unit.forget(obj.name, record_id, gone=True)
    stages.run_chunk("gone", write, drafts)
    for draft in drafts:
        stages.run("audit", write, draft)
        stages.run("after", write, draft)


def stored_row(session: Session, obj: ObjectDef, record_id: int) -> dict[str, Any]:
    """The record as stored now, decrypted (after automation changed it in this transaction)."""
    remembered = session.unit.remembered(obj.name, record_id)
    if remembered is not None:
        return dict(remembered)
    table = session.schema.table(obj.name)
    row = session.connection.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
    return dict(row_to_record(obj, row, session.crm.keys)) if row is not None else {}


def read_current(session: Session, obj: ObjectDef, record_ids: list[Any], action: str) -> list[Record | TrellisError]:
    """The stored records, locked for the change (one query for the chunk); NotFound outside the
    read scope, PermissionDenied inside it but outside the scope of ``action``."""

    principal = session.principal
    ids: list[int | None] = []
    for record_id in record_ids:
        try:
            ids.append(record_id_of(obj.name, record_id))
        except NotFound:
            ids.append(None)
    found: dict[int, Record] = {}
    reading = []
    for i in ids:
        if i is None:
            continue
        known = session.unit.remembered(obj.name, i)
        if known is None:
            reading.append(i)
        elif principal.in_scope(obj.name, "read", known["owner_id"]):
            found[i] = Record(obj.name, known)
    if reading:
        table = session.schema.table(obj.name)
        statement = (
            sa.select(table)
            .where(table.c.id.in_(reading) if len(reading) > 1 else table.c.id == reading[0])
            .execution_options(**_KEEPS)
        )
        scope = principal.scope(obj.name, "read", table.c.owner_id)
        if scope is not None:
            statement = statement.where(scope)
        if session.connection.dialect.name == "postgresql":
            # An update locks FOR NO KEY UPDATE (what its UPDATE takes anyway): it does not wait
            # for, nor block, inserts of rows that refer to this one (their KEY SHARE lock), so
            # an automation updating an order's member cannot deadlock with the next order.
            statement = statement.with_for_update(key_share=action != "delete")
        for row in session.connection.execute(statement).mappings():
            found[row["id"]] = row_to_record(obj, row, session.crm.keys)
    out: list[Record | TrellisError] = []
    for record_id, i in zip(record_ids, ids, strict=True):
        record = found.get(i) if i is not None else None
        if record is None:
            out.append(NotFound(obj.name, record_id, obj.label.get(current_language())))
        elif not principal.in_scope(obj.name, action, record["owner_id"]):
            verb = {"edit": "change", "delete": "delete"}[action]
            english = f"you may not {verb} {obj.label.get()} {record['id']}"
            params = {"object": obj.label.get(current_language()), "id": record["id"]}
            out.append(PermissionDenied(localized(f"write.{action}_denied", english, params)))
        else:
            out.append(record)
    return out


# --- shared stages -------------------------------------------------------------------------------------------
def _stages(write: Write) -> WriteStages:
    """The runtime's registry of the write path's features (``engine.runtime.features``)."""
    return write.session.crm.stages


def _approval_rules(write: Write, draft: Draft) -> list[Any]:
    """The stage ``approve``: what holds a valid draft for approval (empty: it is written)."""
    draft.rules = []
    _stages(write).run("approve", write, draft)
    return draft.rules


def _settle(
    session: Session, obj: ObjectDef, drafts: list[Draft], stop: bool, rules_of: Callable[[Draft], list[Any]]
) -> None:
    """Turn each draft's problems into its refusal (with ``stop``, raise the first one) and find
    the approval rules that hold the valid ones."""

    for draft in drafts:
        if draft.outcome is None and draft.errors:
            draft.fail(refusal(obj, draft.data, draft.errors))
        if stop and isinstance(draft.outcome, TrellisError):
            raise draft.outcome
    for draft in drafts:
        if draft.outcome is None and draft.rules is None:
            draft.rules = rules_of(draft)


def _hold(write: Write, drafts: list[Draft], stop: bool) -> None:
    """The stage ``hold``: the drafts an approval rule guards become pending requests; nothing of
    them is written."""
    session, obj, stages = write.session, write.obj, _stages(write)
    for draft in drafts:
        if draft.outcome is not None or not draft.rules:
            continue
        try:
            stages.run("hold", write, draft)
        except ValidationFailed as exc:  # no approver can be found
            if stop:
                raise
            draft.fail(exc)
            continue
        draft.outcome = session._visible(obj, draft.data if draft.current is None else draft.current, draft.pending)


def _check_database(write: Write, drafts: list[Draft], rules_of: Callable[[Draft], list[Any]]) -> None:
    """Lookups, the stage ``check`` (stored files) and unique values of every draft, set-wise."""
    session, obj = write.session, write.obj
    drafts = [d for d in drafts if d.outcome is None]
    if not drafts:
        return
    for f in obj.lookups:
        _check_lookup(session, f, drafts)
    _stages(write).run_chunk("check", write, drafts)
    _check_unique(session, obj, drafts, rules_of)


def _check_lookup(session: Session, f: FieldDef, drafts: list[Draft]) -> None:
    """One query for the chunk: the lookup's targets must exist inside the writer's read scope."""
    wanted = {d.check[f.name] for d in drafts if d.check.get(f.name) is not None and f.name not in d.errors}
    if not wanted:
        return
    principal, unit = session.principal, session.unit
    assert f.target is not None, "a lookup names its target object"
    found = unit.known_targets(principal, f.target, wanted)
    for target_id in wanted - found:
        row = unit.remembered(f.target, target_id)
        if row is not None and principal.in_scope(f.target, "read", row["owner_id"]):
            found.add(target_id)
    missing = sorted(wanted - found)
    if missing:
        table = session.schema.table(f.target)
        statement = (
            sa.select(table.c.id)
            .where(table.c.id.in_(missing) if len(missing) > 1 else table.c.id == missing[0])
            .execution_options(**_KEEPS)
        )
        scope = principal.scope(f.target, "read", table.c.owner_id)
        if scope is not None:
            statement = statement.where(scope)
        present = set(session.connection.execute(statement).scalars())
        unit.found_targets(principal, f.target, present)
        found |= present
    for draft in drafts:
        value = draft.check.get(f.name)
        if value is not None and f.name not in draft.errors and value not in found:
            draft.errors.add(f.name, "not_found", f"There is no {f.target} with id {value}.")


def _check_unique(
    session: Session, obj: ObjectDef, drafts: list[Draft], rules_of: Callable[[Draft], list[Any]] | None = None
) -> None:
    """One query per unique field for the chunk. With ``rules_of`` (the approval rules of a
    valid draft), a value an earlier row of the chunk will write (or an earlier update gives
    up) counts as the database's would; a row held for approval writes nothing."""
    fields = obj.uniques
    if not fields:
        return
    table = session.schema.table(obj.name)
    holders: dict[str, dict[Any, set[int]]] = {}
    for f in fields:
        values = {d.check[f.name] for d in drafts if d.check.get(f.name) is not None and f.name not in d.errors}
        holders[f.name] = {}
        if values:
            column = table.c[f.name]
            statement = sa.select(column, table.c.id).where(column.in_(values)).execution_options(**_KEEPS)
            for value, holder in session.connection.execute(statement):
                holders[f.name].setdefault(value, set()).add(holder)
    for draft in drafts:
        for f in fields:
            value = draft.check.get(f.name)
            if value is None or f.name in draft.errors:
                continue
            if holders[f.name].get(value, set()) - {draft.record_id}:
                draft.errors.add(f.name, "unique", f"Another {obj.label.get()} already has {f.label.get()} = {value}.")
        if rules_of is None or draft.errors or draft.outcome is not None:
            continue
        draft.rules = rules_of(draft)
        if not draft.rules:
            for f in fields:  # this row takes its values, and an update gives up its old ones
                value = draft.check.get(f.name)
                if value is None and f.name not in draft.check:
                    continue
                if draft.current is not None and draft.current.get(f.name) is not None:
                    holders[f.name].get(draft.current[f.name], set()).discard(draft.current.id)
                if value is not None:
                    holders[f.name].setdefault(value, set()).add(draft.record_id or -1 - draft.index)


def _system(data: Mapping[str, Any]) -> dict[str, Any]:
    from engine.metadata.model import SYSTEM_COLUMNS

    return {name: data[name] for name in SYSTEM_COLUMNS if name in data}


def _stored(obj: ObjectDef, row: Mapping[str, Any], keys: crypto.Keys) -> dict[str, Any]:
    """The row as stored: encrypted fields replaced by their ciphertext (``keys``: ``Trellis.keys``)."""
    names = encrypted_fields(obj)
    if not names:
        return dict(row)
    stored = dict(row)
    for name in names:
        if name in stored:
            stored[name] = keys.encrypt(stored[name])
    return stored


@functools.lru_cache(maxsize=256)
def _insert_returning_id(table: sa.Table) -> sa.Insert:
    """INSERT … RETURNING id, built once per table so its compiled form is cached. A record's
    insert does not wait for the rows the transaction collected (``KEEPS_ROWS``)."""
    return sa.insert(table).returning(table.c.id).execution_options(**_KEEPS)


@functools.lru_cache(maxsize=256)
def _insert_returning_ids(table: sa.Table) -> sa.Insert:
    """The multi-row INSERT … RETURNING id (ids in the order of the rows given)."""
    return sa.insert(table).returning(table.c.id, sort_by_parameter_order=True).execution_options(**_KEEPS)


#: Take a block of ``count`` numbers of a named counter (``last`` is the block's end when the
#: counter is new) and return the block's last number. The same statement works on PostgreSQL
#: and SQLite (3.35+); Core's dialect-specific upserts are recompiled on every call.
_SEQUENCE_BLOCK = sa.text(
    "INSERT INTO sys_sequences (name, value) VALUES (:name, :last) "
    "ON CONFLICT (name) DO UPDATE SET value = sys_sequences.value + :count RETURNING value"
).execution_options(**_KEEPS)


def refusal(obj: ObjectDef, data: Mapping[str, Any], errors: Errors) -> ValidationFailed:
    """The error for a refused write: ``GateBlocked`` when only stage gates stand in the way."""
    if obj.pipeline is not None and all(p.code == "required_for_stage" for ps in errors.values() for p in ps):
        stage = obj.pipeline.for_values(data).stage(data.get(obj.pipeline.field))
        if stage is not None:
            return GateBlocked(dict(errors), obj.name, stage)
    return ValidationFailed(dict(errors), obj.name)


def record_id_of(object_name: str, record_id: Any) -> int:
    """``record_id`` as a record id (a positive whole number a column holds); NotFound otherwise."""
    try:
        number = int(record_id)
    except (TypeError, ValueError, OverflowError):
        raise NotFound(object_name, record_id) from None
    if number <= 0 or number > MAX_INTEGER or isinstance(record_id, bool):
        raise NotFound(object_name, record_id)
    return number
