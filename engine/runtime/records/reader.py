"""What the readers of a record may see of it: the one gate every channel that shows record
values to someone other than the acting user passes (notifications, e-mails, webhooks,
approval details).

A page or an API answer is read by the user who asked: it reads through ``Session.query``
as them. Everything else is read by someone else — one user, a user with their manager in
copy, an outside address, an outside system — and goes through this module:

- ``values_for(session, reader, obj, values)``: the record's values every one of ``reader``
  may read, read through the read path (``Session.query`` as each reader's ``Principal``;
  an outside reader reads as the system, then keeps only what ``readable_fields`` allows).
  A key left out is not for them; a record a reader may not read at all gives nothing.
- ``readable_fields(config, principals, obj)``: the field-level half of that rule, for values
  that are not stored rows (the pending values of an approval request). An outside reader
  (no principal) reads no field any role hides and no encrypted field.
- ``template_context``: what a notification template renders, built on ``values_for``. A
  field some reader may not read renders as ``HIDDEN``. ``record.<field>`` is the value
  formatted for people (``engine.runtime.records.present``): dates in ``settings.date_format``,
  moments in the company time zone, picklist labels in the reader's language, lookup
  titles, users' names, money with its currency. ``record.raw.<field>`` is the stored
  value (``None`` when hidden).

A deleted record is no longer stored: its last values count, inside each reader's read
scope, without encrypted fields (unless the reader is the system).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import SYSTEM_COLUMNS, Config, FieldDef, ObjectDef
from engine.runtime.records.present import References, ValueFormatter, moment_text
from engine.runtime.security.permissions import SYSTEM, Principal
from engine.runtime.security.users import user_names

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: What a field the reader may not read renders as.
HIDDEN = "—"


@dataclass(frozen=True)
class Reader:
    """The people who read one message (none: an outside address) and its language."""

    principals: tuple[Principal, ...]
    language: str

    @classmethod
    def outside(cls, language: str) -> Reader:
        """An outside address or system: what no role hides, no encrypted field."""
        return cls((), language)

    @classmethod
    def system(cls, language: str) -> Reader:
        """The system: every field (for what the config names explicitly, e.g. a webhook's ``fields``)."""
        return cls((SYSTEM,), language)


def language_of(config: Config, locale: str | None) -> str:
    """The language of a user with ``locale``: its base language when the config offers it,
    else the company's first language."""
    languages = config.settings.languages
    if locale:
        base = locale.replace("-", "_").split("_")[0].lower()
        if base in languages:
            return base
    return languages[0] if languages else "en"


def readable_fields(config: Config, principals: tuple[Principal, ...], obj: ObjectDef) -> frozenset[str]:
    """The fields of ``obj`` every one of ``principals`` may read; with none (an outside
    reader), the fields no role hides that are not encrypted."""
    if not principals:
        hidden = {name for role in config.roles.values() for (o, name) in role.hidden if o == obj.name}
        return frozenset(n for n, f in obj.fields.items() if n not in hidden and not f.encrypted)
    hidden = {name for p in principals for name in _hidden(p, obj.name)}
    return frozenset(n for n in obj.fields if n not in hidden) if hidden else frozenset(obj.fields)


def _hidden(principal: Principal, object_name: str) -> list[str]:
    """The fields of ``object_name`` hidden from ``principal`` (``Principal.can_see``)."""
    return [name for (o, name) in principal.hidden if o == object_name]


def values_for(session: Session, reader: Reader, obj: ObjectDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the record ``values`` (its ``id`` names it) every one of ``reader`` may read,
    read now through the read path as each of them; system columns included, a field left
    out is not for them. Every channel that shows a record to someone other than the acting
    user takes its values from here."""
    seen, _ = _readable(session, obj, values, reader)
    return seen


def _readable(
    session: Session, obj: ObjectDef, values: Mapping[str, Any], reader: Reader
) -> tuple[dict[str, Any], list[Session]]:
    """``values_for``, and a session per reader (to read lookup titles as them)."""
    record_id = values.get("id")
    fields = readable_fields(session.config, reader.principals, obj)
    sessions = [session.acting(p, "automation") for p in reader.principals]
    remembered = session.unit.remembered(obj.name, record_id)
    stored = (
        remembered is not None
        or record_id is not None
        and session.connection.execute(
            sa.select(sa.literal(1)).where(session.schema.table(obj.name).c.id == record_id)
        ).first()
        is not None
    )
    seen: dict[str, Any] | None = None
    for acting in sessions or [session.acting(SYSTEM, "automation")]:
        principal = acting.principal
        if remembered is not None:  # written in this call: read it as the read path would
            mine = _as_read(principal, obj, remembered)
        elif stored:
            found = acting.query(obj.name).include_archived().filter(id=record_id).first()
            mine = dict(found) if found is not None else {}
        elif principal.in_scope(obj.name, "read", values.get("owner_id")):
            # deleted: what the reader could have read of it, encrypted fields only for the system
            mine = {
                k: v
                for k, v in values.items()
                if k not in obj.fields or principal.is_system or not obj.fields[k].encrypted
            }
        else:
            mine = {}
        seen = mine if seen is None else {k: v for k, v in seen.items() if k in mine}
    kept = {k: v for k, v in (seen or {}).items() if k in fields or (k in SYSTEM_COLUMNS and k not in obj.fields)}
    return kept, sessions


def _as_read(principal: Principal, obj: ObjectDef, row: Mapping[str, Any]) -> dict[str, Any]:
    """What ``Session.query`` returns of the stored ``row`` to ``principal``: nothing outside the
    read scope, no field they may not see."""
    if not principal.in_scope(obj.name, "read", row.get("owner_id")):
        return {}
    hidden = _hidden(principal, obj.name)
    return {k: v for k, v in row.items() if k not in hidden} if hidden else dict(row)


def template_context(
    session: Session,
    obj: ObjectDef | None,
    values: Mapping[str, Any],
    reader: Reader,
    extra: Mapping[str, Any],
    fields: Collection[str] | None = None,
) -> dict[str, Any]:
    """The context a template is rendered with for ``reader``: ``record`` (formatted values,
    ``record.raw``), ``object`` (its label in the reader's language) and ``extra``. With
    ``fields`` (what the template reads, ``templating.keys_read``) only those are formatted
    (``raw`` only when read)."""
    if obj is None:
        return {"record": {}, "object": "", **extra}
    seen, sessions = _readable(session, obj, values, reader)
    shown = obj.fields if fields is None else {n: f for n, f in obj.fields.items() if n in fields}
    refs = _references(session, shown, seen, sessions)
    fmt = ValueFormatter(session.config.settings, reader.language, refs)
    record: dict[str, Any] = {}
    for name in SYSTEM_COLUMNS if fields is None else [n for n in SYSTEM_COLUMNS if n in fields]:
        value = seen.get(name)
        record[name] = moment_text(value, session.config.settings) if isinstance(value, dt.datetime) else value
    for name, f in shown.items():
        record[name] = fmt.text(seen[name], f) if name in seen else HIDDEN
    if fields is None or "raw" in fields:
        record["raw"] = {name: seen.get(name) for name in (*SYSTEM_COLUMNS, *obj.fields)}
    return {"record": record, "object": obj.label.get(reader.language), **extra}


def _references(
    session: Session, fields: Mapping[str, FieldDef], seen: Mapping[str, Any], sessions: list[Session]
) -> References:
    """Titles of the lookups (of ``fields``) every reader may see a title of (none for an
    outside reader: no ``sessions``), and the users' names."""
    titles: dict[tuple[str, int], str] = {}
    users: set[int] = set()
    for name, f in fields.items():
        value = seen.get(name)
        if value is None:
            continue
        if f.target:
            found = [s.titles(f.target, [value]).get(value) for s in sessions] if sessions else [None]
            if found[0] is not None and all(title is not None for title in found):
                titles[(f.target, value)] = found[0]
        elif f.kind.refers_to_user:
            users.add(value)
    return References(titles, user_names(session, users))
