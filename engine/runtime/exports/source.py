"""The records of an export: the ``export`` grant, the pages of the query, the access log (S34)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from engine.runtime.messages import current_language
from engine.runtime.records.query import Query
from engine.runtime.records.record import Record
from engine.runtime.security import audit
from engine.runtime.security.permissions import PermissionDenied

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Records read (and formatted, and written) at a time: memory stays flat whatever the list's size.
PAGE_SIZE = 1000


def check_grant(session: Session, object_name: str) -> None:
    """Raise ``PermissionDenied`` unless the caller holds the ``export`` grant on the object."""
    obj = session.object(object_name)
    if not session.principal.grant(obj.name).export:
        raise PermissionDenied.said(
            "export.denied",
            f"you may not export {obj.plural_label.get()}",
            objects=obj.plural_label.get(current_language()),
        )


def export_pages(
    session: Session,
    object_name: str,
    query: Query | None = None,
    page_size: int = PAGE_SIZE,
    detail: Mapping[str, Any] | None = None,
) -> Iterator[list[Record]]:
    """The records of ``query`` (default: every record in the caller's scope), ``page_size`` at a
    time, read as the caller (scope, hidden fields); needs the ``export`` grant. Once the last
    page is read, the export is written to the access log with how many records it held (and
    ``detail``, e.g. the format); an export stopped half-way is rolled back with its transaction."""
    check_grant(session, object_name)
    count = 0
    for page in (query or session.query(object_name)).pages(page_size):
        count += len(page)
        yield page
    with session.primary_writes() as connection:
        audit.log_access(
            connection,
            session.schema,
            session.principal,
            session.channel,
            "export",
            object_name,
            None,
            session.clock().now_utc,
            {"records": count, **(detail or {})},
        )
