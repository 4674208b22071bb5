"""Saved list views per user: a name for a list's filters (its query string).

A view belongs to the session's user and is seen only by them; the system
principal has no views. Names are trimmed and 1–100 characters, unique per user
and object; a bad name or query is a ``ValidationFailed`` on that field. The
query string is stored as given (the list page reads it again like any URL, on
the one read path, so a saved view never shows more than its user may see).

Every change of a user's views raises their ``views_version`` (``sys_users``), so
that a page that only reads, which has the user's row from its login check already,
takes their views from what this process read at that version: no statement.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime.errors import NotFound, ValidationFailed
from engine.runtime.records.validation import Errors
from engine.runtime.security.permissions import PermissionDenied

if TYPE_CHECKING:
    import datetime as dt

    from engine.runtime.records.session import Session

TABLE = "sys_saved_views"
MAX_NAME = 100
MAX_QUERY = 4000


@dataclass(frozen=True)
class SavedView:
    """A user's saved list view."""

    id: int
    object: str
    name: str
    query: str
    created_at: dt.datetime


def _user(session: Session) -> int:
    if session.principal.user_id is None:
        raise PermissionDenied.said("views.needs_user", "saved views belong to a user")
    return session.principal.user_id


def save_view(session: Session, object_name: str, name: str, query: str) -> SavedView:
    """Save ``query`` (a list's query string) as ``name``; the same name again replaces it."""
    user_id = _user(session)
    session.object(object_name)  # an unknown object is NotFound
    name = (name or "").strip()
    query = (query or "").lstrip("?")
    errors = Errors()
    if not name:
        errors.add("name", "required", "Enter a name for the view.")
    elif len(name) > MAX_NAME:
        errors.add("name", "too_long", f"A view name has at most {MAX_NAME} characters.")
    elif "\x00" in name:
        errors.add("name", "invalid", "A view name cannot contain control characters.")
    if len(query) > MAX_QUERY or "\x00" in query:
        errors.add("query", "invalid", "The filters of this list cannot be saved.")
    if errors:
        raise ValidationFailed(dict(errors), TABLE)
    table = session.schema.system[TABLE]
    now = session.clock().now_utc
    mine = sa.and_(table.c.user_id == user_id, table.c.object == object_name, table.c.name == name)
    existing = session.connection.execute(sa.select(table.c.id).where(mine)).first()
    if existing is not None:
        session.connection.execute(sa.update(table).where(table.c.id == existing.id).values(query=query))
        view_id = existing.id
    else:
        view_id = session.connection.execute(
            sa.insert(table)
            .values(user_id=user_id, object=object_name, name=name, query=query, created_at=now)
            .returning(table.c.id)
        ).scalar_one()
    _changed(session, user_id)
    return SavedView(view_id, object_name, name, query, now)


def list_views(session: Session, object_name: str) -> list[SavedView]:
    """The session's user's saved views of ``object_name``, by name. In a read-only unit that
    read the user's row already (a web page's login check), those this process read at the
    row's ``views_version`` in this database, if it did (``KEPT_VIEWS`` at most per engine)."""
    user_id = session.principal.user_id
    if user_id is None:
        return []
    table = session.schema.system[TABLE]
    row = session.unit.seen_user(user_id) if session.read_only else None
    key = None if row is None else (table, user_id, object_name, row._mapping.get(VERSION) or 0)
    kept = _kept(session.connection.engine)
    if key is not None and key in kept:
        return list(kept[key])
    rows = session.connection.execute(_list_statement(table), {"user_id": user_id, "object": object_name})
    views = tuple(SavedView(r.id, r.object, r.name, r.query, r.created_at) for r in rows)
    if key is not None:
        if len(kept) >= KEPT_VIEWS:
            kept.clear()
        kept[key] = views
    return list(views)


#: The ``sys_users`` column every change of a user's views raises.
VERSION = "views_version"
#: Users' views of an object kept per engine (a database), at most, by ``sys_saved_views`` table
#: (a config version), user, object and ``VERSION``.
KEPT_VIEWS = 4096
_Kept = dict[tuple[sa.Table, int, str, int], tuple[SavedView, ...]]
_KEPT: weakref.WeakKeyDictionary[sa.Engine, _Kept] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def _kept(engine: sa.Engine) -> _Kept:
    found = _KEPT.get(engine)
    if found is None:
        with _KEPT_LOCK:
            found = _KEPT.setdefault(engine, {})
    return found


def _changed(session: Session, user_id: int) -> None:
    """Raise the user's ``views_version``, in the transaction that changed their views."""
    users = session.schema.system["sys_users"]
    session.connection.execute(
        sa.update(users).where(users.c.id == user_id).values({VERSION: sa.func.coalesce(users.c[VERSION], 0) + 1})
    )


@functools.lru_cache(maxsize=64)
def _list_statement(table: sa.Table) -> sa.Select:
    """A user's views of an object, built once per table (a list page reads them every time)."""
    return (
        sa.select(table.c.id, table.c.object, table.c.name, table.c.query, table.c.created_at)
        .where(table.c.user_id == sa.bindparam("user_id"), table.c.object == sa.bindparam("object"))
        .order_by(table.c.name, table.c.id)
    )


def delete_view(session: Session, object_name: str, view_id: int) -> None:
    """Delete one of the user's views; another user's (or an unknown) view is NotFound."""
    user_id = _user(session)
    table = session.schema.system[TABLE]
    result = session.connection.execute(
        sa.delete(table).where(table.c.id == view_id, table.c.user_id == user_id, table.c.object == object_name)
    )
    if result.rowcount == 0:
        raise NotFound("saved view", view_id)
    _changed(session, user_id)
