"""Finding records for an import a batch at a time, through the read path as the importing user:
the records lookup cells name (by title or a ``{by: field}``) and the existing records rows match
(``--match``). One ``IN (…)`` query per lookup column and batch; a record the user may not see is
not found, as in a form.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from engine.metadata.fieldtypes import FieldValueError, field_type
from engine.metadata.model import FieldDef, ObjectDef, Settings
from engine.runtime.imports.mapping import normal
from engine.runtime.records.session import Session

#: Values per ``IN (…)`` query (SQLite takes at most 32,766 parameters per statement).
IN_CHUNK = 5000


def user_index(session: Session) -> dict[str, frozenset[int]]:
    """Every active user by user name, e-mail and display name (normalised) → their ids."""
    users = session.schema.system["sys_users"]
    found: dict[str, set[int]] = {}
    rows = session.connection.execute(
        sa.select(users.c.id, users.c.username, users.c.email, users.c.display_name).where(users.c.active)
    )
    for user_id, *names in rows:
        for name in names:
            if name:
                found.setdefault(normal(str(name)), set()).add(user_id)
    return {name: frozenset(ids) for name, ids in found.items()}


def key_of(fdef: FieldDef | None, value: Any, settings: Settings) -> Any:
    """``value`` as the database stores it in ``fdef`` (a phone in E.164, a trimmed text), so that a
    cell finds its record however it was written; None when it is not a valid value."""
    if fdef is None:  # the id
        try:
            return int(str(value).strip().lstrip("#"))
        except ValueError:
            return None
    try:
        return field_type(fdef).coerce(value, fdef, settings)  # a formula's by its result type
    except (FieldValueError, ValueError, TypeError):
        return None


def find(
    session: Session, obj: ObjectDef, by: str, values: Iterable[Any], archived: bool = False
) -> dict[Any, list[int]]:
    """The ids of the records of ``obj`` the session's user can read whose ``by`` holds each value;
    ``archived``: archived records too (they still hold their unique values)."""
    wanted = sorted({v for v in values if v is not None}, key=str)
    found: dict[Any, list[int]] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        part = wanted[start : start + IN_CHUNK]
        query = session.query(obj.name).filter(**{f"{by}__in": part})
        if archived:
            query = query.include_archived()
        for record in query.all():
            found.setdefault(record[by], []).append(record.id)
    return found
