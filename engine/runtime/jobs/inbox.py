"""The caller's in-app notifications, a page at a time, and which records they may still open.

``engine.runtime.jobs.notify`` writes notifications (``send``); this module reads
them: the bell's ``unread_count``, ``mark_read``, and for the notifications page
and ``GET /api/v1/notifications`` a page, newest first, optionally only the
unread ones (``page``), one notification (``get``), and ``readable`` — the
records the notifications point at that the caller may still read (approvals'
inbox asks ``readable_records`` the same), asked through the one read path (``Session.query``), so that a
record outside their scope (reassigned, or hidden from them since) is never
linked. Every query is bounded (``MAX_PER_PAGE``) and filters on the caller's
id, served by the index ``ix_sys_notifications_user_read``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Largest page a caller may ask for.
MAX_PER_PAGE = 100
#: The deepest page (offset paging stays cheap).
MAX_PAGE = 1000


@dataclass(frozen=True)
class Notification:
    """One in-app notification of one user."""

    id: int
    title: str
    body: str
    object: str | None
    record_id: int | None
    rule: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None


@dataclass(frozen=True)
class InboxPage:
    """One page of the caller's notifications; ``has_next`` says whether older ones follow."""

    items: list[Notification]
    page: int
    per_page: int
    has_next: bool


def unread_count(session: Session) -> int:
    """How many unread notifications the caller has."""
    statement = unread_count_statement(session.schema.system["sys_notifications"])
    return session.connection.execute(statement, {"user_id": session.user}).scalar_one()


@functools.lru_cache(maxsize=64)
def unread_count_statement(table: sa.Table) -> sa.Select:
    """The count of the unread notifications of the user bound as ``user_id``, built once per
    table (the header's bell asks on every page: a statement built anew costs SQLAlchemy several
    times its SQL; the web's login check counts them with the user's row, ``users.login_user``)."""
    return (
        sa.select(sa.func.count())
        .select_from(table)
        .where(table.c.user_id == sa.bindparam("user_id"), table.c.read_at.is_(None))
    )


def mark_read(session: Session, notification_id: int | None = None) -> int:
    """Mark one (or, with None, every) notification of the caller read; returns how many changed."""
    table = session.schema.system["sys_notifications"]
    statement = sa.update(table).where(table.c.user_id == session.user, table.c.read_at.is_(None))
    if notification_id is not None:
        statement = statement.where(table.c.id == notification_id)
    return session.connection.execute(statement.values(read_at=session.clock().now_utc)).rowcount


def page(session: Session, unread: bool = False, number: int = 1, per_page: int = 20) -> InboxPage:
    """The caller's notifications, newest first (only the unread ones with ``unread``)."""
    number = min(max(number, 1), MAX_PAGE)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    table = session.schema.system["sys_notifications"]
    statement = sa.select(table).where(table.c.user_id == session.user)
    if unread:
        statement = statement.where(table.c.read_at.is_(None))
    rows = (
        session.connection.execute(
            statement.order_by(table.c.id.desc()).offset((number - 1) * per_page).limit(per_page + 1)
        )
        .mappings()
        .all()
    )
    return InboxPage([_notification(r) for r in rows[:per_page]], number, per_page, len(rows) > per_page)


def get(session: Session, notification_id: int) -> Notification | None:
    """The caller's notification ``notification_id``; None when there is none (or it is another user's)."""
    table = session.schema.system["sys_notifications"]
    row = (
        session.connection.execute(
            sa.select(table).where(table.c.id == notification_id, table.c.user_id == session.user)
        )
        .mappings()
        .first()
    )
    return _notification(row) if row is not None else None


def readable(session: Session, notifications: Iterable[Notification]) -> set[tuple[str, int]]:
    """``(object, record id)`` of the records behind ``notifications`` that the caller may read now."""
    return readable_records(session, ((n.object, n.record_id) for n in notifications))


def readable_records(session: Session, records: Iterable[tuple[str | None, int | None]]) -> set[tuple[str, int]]:
    """Which of ``(object, record id)`` the caller may read now: one query per object through
    the read path (archived records included, as the record page shows them); objects no
    longer in the config, and empty pairs, are left out."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for object_name, record_id in records:
        if object_name and record_id is not None and object_name in session.config.objects:
            wanted[object_name].add(record_id)
    found: set[tuple[str, int]] = set()
    for object_name, ids in wanted.items():
        if session.principal.grant(object_name).read == "none":
            continue
        records_found = session.query(object_name).include_archived().filter(id__in=sorted(ids)).all()
        found |= {(object_name, record.id) for record in records_found}
    return found


def _notification(row: sa.RowMapping) -> Notification:
    return Notification(
        row["id"],
        row["title"],
        row["body"],
        row["object"],
        row["record_id"],
        row["rule"],
        row["created_at"],
        row["read_at"],
    )
