"""Stored files belong to the record and field they were uploaded to.

A file field holds a reference ``{key, name, size, content_type}``; the bytes are
kept by the web UI under a random key. Knowing a key must not be enough to take a
file: ``sys_files`` records, for every stored file, the object and field it was
uploaded for, who uploaded it and — from the first save on — the record.

- ``register`` (at upload): the file is the uploader's, for ``object.field``, not yet
  bound to a record.
- ``check`` (the write path, before anything is written): a file value whose key is
  in ``sys_files`` must be this record's file for this field, or an unbound upload of
  the writer for this object and field; anything else is the field error
  ``file_not_yours``. Keys Trellis never stored (references to files kept elsewhere)
  are not judged here, and are never served by ``owned_file``.
- ``bind`` (the write path, after the row is written): the writer's unbound uploads
  become the record's.
- ``owned_file`` (downloads): the file value of a record the caller may read and a
  field they may see, only when ``sys_files`` says it is that record's and field's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import ObjectDef
from engine.runtime.errors import NotFound
from engine.runtime.records.stages import Feature
from engine.runtime.records.validation import Errors

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft

#: The field error of a file value that belongs to another record, field or user.
NOT_YOURS = "file_not_yours"


def upload_folder() -> Path:
    """Where stored files are kept outside the web app: ``TRELLIS_UPLOAD_DIR``, else ``./uploads``
    (the web app reads the same variable into ``TRELLIS_UPLOAD_DIR`` of its config)."""
    return Path(os.environ.get("TRELLIS_UPLOAD_DIR") or "uploads").resolve()


def _table(session: Session) -> sa.Table:
    return session.schema.system["sys_files"]


def _keys(obj: ObjectDef, data: Mapping[str, Any]) -> dict[str, str]:
    """Field name → stored key of the file values in ``data``."""
    return {
        name: value["key"]
        for name, value in data.items()
        if name in obj.fields
        and obj.fields[name].kind.stores_file
        and isinstance(value, Mapping)
        and isinstance(value.get("key"), str)
    }


def register(session: Session, object_name: str, field_name: str, key: str) -> None:
    """Record a just stored upload as the acting user's, for ``object.field`` (no record yet)."""
    session.connection.execute(
        sa.insert(_table(session)).values(
            key=key,
            object=object_name,
            field=field_name,
            record_id=None,
            uploaded_by=session.user,
            uploaded_at=session.clock().now_utc,
        )
    )


def check(session: Session, obj: ObjectDef, data: Mapping[str, Any], record_id: int | None, errors: Errors) -> None:
    """Refuse file values (of the fields in ``data``) whose stored file is not this record's
    (``record_id``; None for a new record) for that field, nor the writer's unbound upload."""
    check_many(session, obj, [(data, record_id, errors)])


def check_many(session: Session, obj: ObjectDef, writes: list[tuple[Mapping[str, Any], int | None, Errors]]) -> None:
    """``check`` for several writes ``(data, record_id, errors)`` of ``obj``, in one query; an
    unbound upload goes to the first of them that names it (binding it makes it that record's)."""
    found = [(_keys(obj, data), record_id, errors) for data, record_id, errors in writes]
    wanted = sorted({key for keys, _, _ in found for key in keys.values()})
    if not wanted:
        return
    table = _table(session)
    rows = {row.key: row for row in session.connection.execute(sa.select(table).where(table.c.key.in_(wanted)))}
    claimed: set[str] = set()
    for keys, record_id, errors in found:
        _judge(session, obj, keys, rows, record_id, errors, claimed)


def _judge(
    session: Session,
    obj: ObjectDef,
    keys: Mapping[str, str],
    rows: Mapping[str, Any],
    record_id: int | None,
    errors: Errors,
    claimed: set[str],
) -> None:
    for name, key in keys.items():
        row = rows.get(key)
        if row is None:
            continue
        ours = row.object == obj.name and row.field == name
        bound_here = record_id is not None and row.record_id == record_id
        own_upload = row.record_id is None and row.uploaded_by == session.user and key not in claimed
        if own_upload:
            claimed.add(key)
        if not (ours and (bound_here or own_upload)):
            errors.add(name, NOT_YOURS, "This file belongs to another record or field; upload the file here instead.")


def bind(session: Session, obj: ObjectDef, record_id: int, data: Mapping[str, Any]) -> None:
    """Make the unbound uploads named in ``data`` the record's (its first save)."""
    table = _table(session)
    for name, key in _keys(obj, data).items():
        session.connection.execute(
            sa.update(table)
            .where(table.c.key == key, table.c.object == obj.name, table.c.field == name, table.c.record_id.is_(None))
            .values(record_id=record_id)
        )


def owned_file(session: Session, object_name: str, record_id: Any, field_name: str) -> dict[str, Any]:
    """The file value of ``object.field`` of a record the caller may read (the read path), when
    the stored file was uploaded to that record and field; else ``NotFound``."""
    obj = session.object(object_name)
    field = obj.fields.get(field_name)
    record = session.get(object_name, record_id)
    value = record.get(field_name) if field is not None and field.kind.stores_file else None
    if not isinstance(value, Mapping) or not isinstance(value.get("key"), str):
        raise NotFound(object_name, record_id)
    table = _table(session)
    owner = session.connection.execute(
        sa.select(table.c.key).where(
            table.c.key == value["key"],
            table.c.object == obj.name,
            table.c.field == field_name,
            table.c.record_id == record.id,
        )
    ).first()
    if owner is None:
        raise NotFound(object_name, record_id)
    return dict(value)


# --- the write path's hooks (engine.runtime.records.stages) ---------------------------------------
def _check_chunk(write: Write, drafts: list[Draft]) -> None:
    """Stage ``check``: the file values of the chunk's rows, in one query."""
    if write.obj.files:
        check_many(write.session, write.obj, [(d.check, d.record_id, d.errors) for d in drafts])


def _bind(write: Write, draft: Draft) -> None:
    """Stage ``write``: the writer's uploads named in the written values become the record's."""
    assert draft.record is not None
    bind(write.session, write.obj, draft.record["id"], draft.written)


#: Stored files are the record's and field's they were uploaded to.
FEATURE = Feature("files", {"check": _check_chunk, "write": _bind})
