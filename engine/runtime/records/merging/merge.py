"""Merge duplicate records into one, and undo a merge (issue 14 §4).

``merge`` needs the ``merge`` grant on the object, edit rights on the survivor and delete
rights on each merged record (read rights first: a record out of reach is NotFound). In one
savepoint it

1. checks the records (none archived, none with a pending approval) and their ``versions``;
2. gives the stored files of the merged records to the survivor (``moves.files``) and, when the
   survivor takes a unique value of a merged record, empties it there (``moves.give_up``);
3. updates the survivor with the surviving values through ``Session.update`` — its gates (a
   stage whose fields are missing refuses the merge with them), approval locks and validation.
   A merge is never held for approval (see docs/security.md, "Merges and approvals"): values an
   approval rule guards refuse it (``merge_needs_approval``), and so does a stage that skips
   stages (``merge_stage_skip``: a skip needs a written reason only a stage move carries);
4. re-points every lookup and system row (``moves.lookups``, ``moves.system_rows``);
5. archives the merged records, audits both sides (``merge`` on the survivor with each merged
   record's full values; ``merged`` on each merged record) and keeps the merge in ``sys_merges``.

``unmerge`` undoes the survivor's latest merge within ``settings.merge_undo_days``: the survivor's
fields go back (where they still hold the merged values) through ``Session.update``, what moved
goes back (``moves.put_back``) and the merged records come out of the archive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.fieldtypes import coerce_value
from engine.metadata.model import REASON_KEY, FieldDef, ObjectDef
from engine.runtime.errors import Conflict, FieldError, TrellisError, ValidationFailed
from engine.runtime.messages import current_language
from engine.runtime.records import writes
from engine.runtime.records.merging import moves, values
from engine.runtime.records.record import Record
from engine.runtime.records.validation import Errors
from engine.runtime.security.audit import plain
from engine.runtime.security.permissions import PermissionDenied
from engine.runtime.workflow.approvals import PENDING

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Most records merged into one at a time.
MAX_MERGED = 10
#: Key of the problems with the records to merge, and with the choices.
MERGE_KEY, FIELDS_KEY = "merge", "fields"


@dataclass(frozen=True)
class MergeInfo:
    """A merge kept in ``sys_merges``."""

    id: int
    object: str
    survivor_id: int
    merged_ids: tuple[int, ...]
    merged_at: dt.datetime
    undo_until: dt.datetime
    undone_at: dt.datetime | None


@dataclass(frozen=True)
class MergeResult:
    """The survivor as it is after the merge, and the merge."""

    survivor: Record
    merge: MergeInfo


@dataclass(frozen=True)
class MergePlan:
    """What a person chooses from before a merge: the records side by side (survivor first, hidden
    fields left out), the fields to choose for and the default choice of each (the record id, None
    for a sum)."""

    object: ObjectDef
    records: tuple[Record, ...]
    fields: tuple[FieldDef, ...]
    defaults: Mapping[str, int | None]
    values: Mapping[str, Any]


def plan(session: Session, object_name: str, survivor_id: Any, merged_ids: Sequence[Any]) -> MergePlan:
    """The side-by-side view of a merge, checked as ``merge`` checks it (grant, scopes, records)."""
    obj = session.object(object_name)
    survivor, merged = _records(session, obj, survivor_id, merged_ids)
    fields = values.choosable(obj, session.principal)
    chosen = values.surviving(fields, [survivor, *merged], {})
    records = tuple(session._visible(obj, r) for r in (survivor, *merged))
    return MergePlan(
        obj,
        records,
        tuple(fields),
        {name: source for name, (_, source) in chosen.items()},
        {name: value for name, (value, _) in chosen.items()},
    )


def merge(
    session: Session,
    object_name: str,
    survivor_id: Any,
    merged_ids: Sequence[Any],
    choices: Mapping[str, Any] | None = None,
    versions: Mapping[Any, Any] | None = None,
) -> MergeResult:
    """Merge the ``merged_ids`` records of ``object_name`` into ``survivor_id``: ``choices`` maps a
    field to the id of the record whose value survives; ``versions`` maps record ids to the versions
    the caller read (a changed record is a Conflict). All or nothing; see the module docstring."""
    obj = session.object(object_name)
    survivor, merged = _records(session, obj, survivor_id, merged_ids)
    _check_versions(obj, [survivor, *merged], versions or {})
    fields = values.choosable(obj, session.principal)
    picked = _choices(obj, fields, [survivor, *merged], choices or {})
    chosen = values.surviving(fields, [survivor, *merged], picked)
    changes = {name: value for name, (value, _) in chosen.items() if value != survivor.get(name)}
    now = session.clock().now_utc
    merged_ids_ = [r.id for r in merged]
    with session.unit.savepoint():
        moved: list[moves.Move] = moves.files(session, obj, survivor.id, merged_ids_)
        for record in merged:
            given = [n for n in changes if obj.fields[n].unique and chosen[n][1] == record.id]
            moved += moves.give_up(session, obj, record.id, given, now)
        # Archived first: the survivor taking a merged record's values is no duplicate of that record.
        _archive(session, obj, merged, survivor.id, now)
        before = {name: plain(survivor.get(name)) for name in changes}
        version = _version(versions or {}, survivor.id)
        try:
            updated = session.update(obj.name, survivor.id, changes, version=version) if changes else survivor
        except ValidationFailed as exc:
            raise _skip_refused(obj, exc, changes) from None
        if updated.pending_approval is not None:  # the values would wait for an approval: merge nothing
            raise _refused(
                MERGE_KEY,
                "merge_needs_approval",
                "The values chosen need an approval ({rules}); keep this record's values for them, or have "
                "them approved first.",
                {"rules": ", ".join(updated.pending_approval.rules)},
            )
        moved += moves.lookups(session, obj, survivor.id, merged_ids_, now)
        moved += moves.system_rows(session, obj, survivor.id, merged_ids_)
        session.unit.log_change(
            session.principal,
            session.channel,
            "merge",
            obj.name,
            survivor.id,
            {"merged": {str(r.id): _audited(obj, r) for r in merged}},
            now,
        )
        info = _keep(
            session, obj, survivor.id, merged_ids_, before, {n: plain(updated.get(n)) for n in changes}, moved, now
        )
    return MergeResult(session.get(obj.name, survivor.id), info)


def unmerge(session: Session, object_name: str, survivor_id: Any) -> Record:
    """Undo the latest merge into ``survivor_id`` (within ``settings.merge_undo_days``) and return
    the survivor as it is then. See the module docstring."""
    obj = session.object(object_name)
    _check_grant(session, obj)
    survivor = session._current(obj, survivor_id, "edit")
    info, row = _latest(session, obj, survivor.id)
    now = session.clock().now_utc
    if info is None or row is None:
        raise _refused(MERGE_KEY, "no_merge_to_undo", "This record has no merge to undo.", {})
    if now > info.undo_until:
        raise _refused(
            MERGE_KEY,
            "merge_undo_expired",
            "This merge can no longer be undone: it was possible until {until}.",
            {"until": info.undo_until.date().isoformat()},
        )
    table = session.schema.table(obj.name)
    kept = set(session.connection.execute(sa.select(table.c.id).where(table.c.id.in_(info.merged_ids))).scalars())
    gone = [i for i in info.merged_ids if i not in kept]
    if gone:
        raise _refused(
            MERGE_KEY,
            "merge_record_gone",
            "This merge can no longer be undone: record {id} it merged was deleted since.",
            {"id": gone[0]},
        )
    with session.unit.savepoint():
        back = {
            name: (coerce_value(obj.fields[name], old, session.config.settings) if old is not None else None)
            for name, old in (row["before"] or {}).items()
            if name in obj.fields and plain(survivor.get(name)) == (row["after"] or {}).get(name)
        }
        if back:
            session.update(obj.name, survivor.id, back)
        moves.put_back(session, obj, row["moved"] or [], survivor.id, now)
        for merged_id in info.merged_ids:
            session.connection.execute(
                sa.update(table)
                .where(table.c.id == merged_id)
                .values(archived_at=None, updated_at=now, version=table.c.version + 1)
            )
            session.unit.forget(obj.name, merged_id)
            session.unit.log_change(
                session.principal,
                session.channel,
                "unmerge",
                obj.name,
                merged_id,
                {"merged_into": [survivor.id, None]},
                now,
            )
        session.unit.log_change(
            session.principal,
            session.channel,
            "unmerge",
            obj.name,
            survivor.id,
            {"restored": list(info.merged_ids)},
            now,
        )
        merges = session.schema.system["sys_merges"]
        session.connection.execute(sa.update(merges).where(merges.c.id == info.id).values(undone_at=now))
    return session.get(obj.name, survivor.id)


def undoable(session: Session, object_name: str, survivor_id: int) -> MergeInfo | None:
    """The survivor's latest merge while it can still be undone (for an "Undo merge" button)."""
    info, _ = _latest(session, session.object(object_name), survivor_id)
    if info is None or session.clock().now_utc > info.undo_until:
        return None
    return info


def merged_into(session: Session, object_name: str, record: Record) -> int | None:
    """The id of the record an archived ``record`` was merged into (while the merge stands), else None.
    A merge archives its records at the moment it is kept, so only merges of that moment are read."""
    if record.get("archived_at") is None:
        return None
    table = session.schema.system["sys_merges"]
    found = session.connection.execute(
        sa.select(table.c.survivor_id, table.c.merged_ids).where(
            table.c.object == object_name, table.c.merged_at == record["archived_at"], table.c.undone_at.is_(None)
        )
    )
    return next((survivor for survivor, ids in found if record.id in ids), None)


# --- checks -------------------------------------------------------------------------------------------
def _check_grant(session: Session, obj: ObjectDef) -> None:
    if not session.principal.grant(obj.name).merge_:
        raise PermissionDenied.said(
            "merge.no_grant",
            f"You may not merge {obj.label.get()} records; ask for the merge permission.",
            object=obj.label.get(current_language()),
        )


def _records(
    session: Session, obj: ObjectDef, survivor_id: Any, merged_ids: Sequence[Any]
) -> tuple[Record, list[Record]]:
    """The survivor (edit scope) and the merged records (delete scope), checked for a merge."""
    _check_grant(session, obj)
    survivor = session._current(obj, survivor_id, "edit")
    ids = []
    for raw in merged_ids:
        found = writes.read_current(session, obj, [raw], "delete")[0]
        if isinstance(found, TrellisError):
            raise found
        ids.append(found)
    if not ids:
        raise _refused(MERGE_KEY, "merge_nothing", "Choose at least one other record to merge into this one.", {})
    if len(ids) > MAX_MERGED:
        raise _refused(MERGE_KEY, "merge_too_many", "Merge at most {most} records at a time.", {"most": MAX_MERGED})
    seen = {survivor.id}
    for record in ids:
        if record.id in seen:
            raise _refused(MERGE_KEY, "merge_twice", "Record {id} is named twice.", {"id": record.id})
        seen.add(record.id)
    for record in (survivor, *ids):
        if record.get("archived_at") is not None:
            raise _refused(
                MERGE_KEY, "merge_archived", "Record {id} is archived; bring it back first.", {"id": record.id}
            )
    _check_pending(session, obj, [r.id for r in ids])
    return survivor, ids


def _check_pending(session: Session, obj: ObjectDef, ids: list[int]) -> None:
    """A record waiting for an approval cannot be merged away: its request would change another record."""
    table = session.schema.system["sys_approvals"]
    waiting = session.connection.execute(
        sa.select(table.c.record_id)
        .where(table.c.object == obj.name, table.c.record_id.in_(ids), table.c.status == PENDING)
        .limit(1)
    ).scalar()
    if waiting is not None:
        raise _refused(
            MERGE_KEY,
            "merge_pending_approval",
            "Record {id} waits for an approval; decide or cancel the request before merging it.",
            {"id": waiting},
        )


def _check_versions(obj: ObjectDef, records: Sequence[Record], versions: Mapping[Any, Any]) -> None:
    for record in records:
        expected = _version(versions, record.id)
        if expected is not None and expected != record.version:
            raise Conflict(obj.name, record.id, expected, record.version)


def _version(versions: Mapping[Any, Any], record_id: int) -> int | None:
    given = versions.get(record_id, versions.get(str(record_id)))
    if given is None:
        return None
    try:
        return int(given)
    except (TypeError, ValueError):
        raise _refused("versions", "invalid", "A version is a whole number, e.g. 3.", {}) from None


def _choices(
    obj: ObjectDef, fields: Sequence[FieldDef], records: Sequence[Record], choices: Mapping[str, Any]
) -> dict[str, int]:
    """``choices`` checked: known, choosable fields (a hidden one is unknown), records of the merge."""
    names = {f.name for f in fields}
    ids = {r.id for r in records}
    errors = Errors()
    out = {}
    for name, raw in choices.items():
        if name not in names:
            errors.add(name, "unknown_field", f"{obj.name} has no field {name!r} to choose a value for.")
            continue
        try:
            record_id = int(raw)
        except (TypeError, ValueError):
            record_id = -1
        if record_id not in ids:
            errors.add(
                name,
                "merge_not_in_group",
                "Choose the value of one of the records being merged ({ids}).",
                {"ids": ", ".join(str(i) for i in sorted(ids))},
            )
            continue
        out[name] = record_id
    if errors:
        raise ValidationFailed(dict(errors), obj.name)
    return out


def _skip_refused(obj: ObjectDef, refused: ValidationFailed, changes: Mapping[str, Any]) -> ValidationFailed:
    """The survivor's update as refused — except that a stage skip asking for a written reason,
    which a merge has no place for, is said at the stage with what to do instead (merge keeping
    this record's stage, then move it: the skip's reason, permission and approval rules apply)."""
    problems = refused.errors.get(REASON_KEY, [])
    if obj.pipeline is None or not any(p.code == "reason_required" for p in problems):
        return refused
    stage = next((s for s in obj.pipeline.all_stages() if s.key == changes.get(obj.pipeline.field)), None)
    label = stage.label if stage is not None else None
    errors = {name: list(found) for name, found in refused.errors.items() if name != REASON_KEY}
    english = label.get() if label is not None else str(changes.get(obj.pipeline.field))
    own = label.get(current_language()) if label is not None else english
    errors.setdefault(obj.pipeline.field, []).append(
        FieldError(
            "merge_stage_skip",
            f"Taking the stage {english} skips stages, and a skip needs a written reason, which a merge cannot "
            f"give: keep this record's stage, merge, then move it to {english} with the reason.",
            {"stage": own},
        )
    )
    return ValidationFailed(errors, obj.name)


def _refused(key: str, code: str, text: str, params: Mapping[str, object]) -> ValidationFailed:
    errors = Errors()
    errors.add(key, code, text.format(**params), params)
    return ValidationFailed(dict(errors))


# --- writing --------------------------------------------------------------------------------------------
def _archive(session: Session, obj: ObjectDef, merged: Sequence[Record], survivor: int, now: dt.datetime) -> None:
    table = session.schema.table(obj.name)
    for record in merged:
        session.connection.execute(
            sa.update(table)
            .where(table.c.id == record.id)
            .values(archived_at=now, updated_at=now, version=table.c.version + 1)
        )
        session.unit.forget(obj.name, record.id)
        session.unit.log_change(
            session.principal,
            session.channel,
            "merged",
            obj.name,
            record.id,
            {"merged_into": [None, survivor], "archived_at": [None, plain(now)]},
            now,
        )


def _audited(obj: ObjectDef, record: Record) -> dict[str, Any]:
    """A merged record's full values for the survivor's audit entry (encrypted ones masked)."""
    return {
        name: ("***" if name in obj.fields and obj.fields[name].encrypted else plain(value))
        for name, value in record.items()
    }


def _keep(
    session: Session,
    obj: ObjectDef,
    survivor: int,
    merged: list[int],
    before: dict[str, Any],
    after: dict[str, Any],
    moved: list[moves.Move],
    now: dt.datetime,
) -> MergeInfo:
    table = session.schema.system["sys_merges"]
    until = now + dt.timedelta(days=session.config.settings.merge_undo_days)
    row = {
        "object": obj.name,
        "survivor_id": survivor,
        "merged_ids": merged,
        "before": before,
        "after": after,
        "moved": moved,
        "user_id": session.principal.user_id,
        "merged_at": now,
        "undo_until": until,
    }
    merge_id = session.connection.execute(sa.insert(table).values(**row).returning(table.c.id)).scalar_one()
    return MergeInfo(merge_id, obj.name, survivor, tuple(merged), now, until, None)


def _latest(session: Session, obj: ObjectDef, survivor: int) -> tuple[MergeInfo | None, Mapping[str, Any] | None]:
    table = session.schema.system["sys_merges"]
    row = (
        session.connection.execute(
            sa.select(table)
            .where(table.c.object == obj.name, table.c.survivor_id == survivor, table.c.undone_at.is_(None))
            .order_by(table.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None, None
    info = MergeInfo(
        row["id"], obj.name, survivor, tuple(row["merged_ids"]), row["merged_at"], row["undo_until"], row["undone_at"]
    )
    return info, dict(row)
