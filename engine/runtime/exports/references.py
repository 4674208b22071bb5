"""The titles and names a page of exported records refers to, read as the exporting user."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from engine.runtime.exports.columns import Column
from engine.runtime.records.present import References
from engine.runtime.security.users import user_names

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


def page_references(session: Session, records: Iterable[Mapping[str, Any]], columns: Iterable[Column]) -> References:
    """Titles of the records the page's lookups point at — only those the user may read
    (``Session.titles``; the others stay ``#id``) — and the names of the users it names."""
    records = list(records)
    titles: dict[tuple[str, int], str] = {}
    users: set[int] = set()
    for column in columns:
        f = column.field
        values: list[int] = [r[f.name] for r in records if r.get(f.name) is not None]
        if not values:
            continue
        if f.kind.refers_to_record and f.target:
            titles.update({(f.target, i): text for i, text in session.titles(f.target, values).items()})
        elif f.kind.refers_to_user:
            users.update(values)
    return References(titles, user_names(session, users))
