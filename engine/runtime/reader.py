"""What the readers of one message may see of a record, and the template context they get.

A notification or e-mail is read by people: one user, a user with their manager in
copy, or an outside address. ``Reader`` names them and their language;
``template_context`` reads the record through the read path as each of them
(``Session.query`` as their ``Principal``) and keeps only the fields every one of
them may read. A field some reader may not read renders as ``HIDDEN``; a record a
reader may not read at all shows none of its fields. An outside address (no user)
sees no field any role hides and no encrypted field.

``record.<field>`` is the value formatted for people (``engine.runtime.present``):
dates in ``settings.date_format``, moments in the company time zone, picklist labels
in the reader's language, lookup titles, users' names, money with its currency.
``record.raw.<field>`` is the stored value (``None`` when hidden).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import SYSTEM_COLUMNS, Config, FieldDef, ObjectDef
from engine.runtime.permissions import Principal
from engine.runtime.present import References, ValueFormatter, moment_text

if TYPE_CHECKING:
    from engine.runtime.records import Session

#: What a field the reader may not read renders as.
HIDDEN = "—"


@dataclass(frozen=True)
class Reader:
    """The people who read one message (none: an outside address) and its language."""

    principals: tuple[Principal, ...]
    language: str


def language_of(config: Config, locale: str | None) -> str:
    """The language of a user with ``locale``: its base language when the config offers it,
    else the company's first language."""
    languages = config.settings.languages
    if locale:
        base = locale.replace("-", "_").split("_")[0].lower()
        if base in languages:
            return base
    return languages[0] if languages else "en"


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names (else user names) of users; a name is no secret inside the company."""
    return {row.id: row.display_name or row.username for row in session.unit.users(ids).values()}


def template_context(session: Session, obj: ObjectDef | None, values: Mapping[str, Any], reader: Reader,
                     extra: Mapping[str, Any], fields: Collection[str] | None = None) -> dict[str, Any]:
    """The context a template is rendered with for ``reader``: ``record`` (formatted values,
    ``record.raw``), ``object`` (its label in the reader's language) and ``extra``. With
    ``fields`` (what the template reads, ``templating.keys_read``) only those are formatted."""
    if obj is None:
        return {"record": {}, "object": "", **extra}
    seen, sessions = _readable(session, obj, values, reader)
    shown = obj.fields if fields is None else {n: f for n, f in obj.fields.items() if n in fields}
    refs = _references(session, shown, seen, sessions)
    fmt = ValueFormatter(session.config.settings, reader.language, refs)
    record: dict[str, Any] = {}
    for name in SYSTEM_COLUMNS:
        value = seen.get(name)
        record[name] = moment_text(value, session.config.settings) if isinstance(value, dt.datetime) else value
    for name, f in shown.items():
        record[name] = fmt.text(seen[name], f) if name in seen else HIDDEN
    record["raw"] = {name: seen.get(name) for name in (*SYSTEM_COLUMNS, *obj.fields)}
    return {"record": record, "object": obj.label.get(reader.language), **extra}


def _readable(session: Session, obj: ObjectDef, values: Mapping[str, Any],
              reader: Reader) -> tuple[dict[str, Any], list[Session]]:
    """The values every reader may read (a key missing = not for them), and a session per reader."""
    record_id = values.get("id")
    if not reader.principals:  # an outside address: nothing any role hides, nothing encrypted
        hidden = {name for role in session.config.roles.values() for (o, name) in role.hidden if o == obj.name}
        return ({k: v for k, v in values.items() if k not in obj.fields
                 or (k not in hidden and not obj.fields[k].encrypted)}, [])
    sessions = [session.acting(p, "automation") for p in reader.principals]
    remembered = session.unit.remembered(obj.name, record_id)
    stored = remembered is not None or record_id is not None and session.connection.execute(
        sa.select(sa.literal(1)).where(session.schema.table(obj.name).c.id == record_id)).first() is not None
    seen: dict[str, Any] | None = None
    for acting in sessions:
        if remembered is not None:  # written in this call: read it as the read path would
            mine = _as_read(acting.principal, obj, remembered)
        elif stored:
            found = acting.query(obj.name).include_archived().filter(id=record_id).first()
            mine = dict(found) if found is not None else {}
        else:  # deleted: what the reader could have read of it, encrypted fields never
            principal = acting.principal
            mine = {} if not principal.in_scope(obj.name, "read", values.get("owner_id")) else {
                k: v for k, v in values.items() if k not in obj.fields
                or (principal.can_see(obj.name, k) and not obj.fields[k].encrypted)}
        seen = mine if seen is None else {k: v for k, v in seen.items() if k in mine}
    return seen or {}, sessions


def _as_read(principal: Principal, obj: ObjectDef, row: Mapping[str, Any]) -> dict[str, Any]:
    """What ``Session.query`` returns of the stored ``row`` to ``principal``: nothing outside the
    read scope, no field they may not see."""
    if not principal.in_scope(obj.name, "read", row.get("owner_id")):
        return {}
    return {k: v for k, v in row.items() if k not in obj.fields or principal.can_see(obj.name, k)}


def _references(session: Session, fields: Mapping[str, FieldDef], seen: Mapping[str, Any],
                sessions: list[Session]) -> References:
    """Titles of the lookups (of ``fields``) every reader may see a title of, and the users' names."""
    titles: dict[tuple[str, int], str] = {}
    users: set[int] = set()
    for name, f in fields.items():
        value = seen.get(name)
        if value is None:
            continue
        if f.type == "lookup" and f.target:
            found = [s.titles(f.target, [value]).get(value) for s in sessions] if sessions else [None]
            if all(title is not None for title in found):
                titles[(f.target, value)] = found[0]
        elif f.type == "user":
            users.add(value)
    return References(titles, user_names(session, users))
