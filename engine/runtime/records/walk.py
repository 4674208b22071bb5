"""A search's page read in the list's order, when the text is common enough (PostgreSQL).

A list search (``Query.search``) newest first can be read two ways. The search index (GIN,
``engine.runtime.migrate.search``) lists every match of the caller's owners, which are then
sorted for the page: its cost is the text's trigram lists, read again for each owner of a
team (``owner_id = ANY(…)`` is one index scan per owner), however few rows the page shows.
Or the caller's records are read newest first from the list index (``owner_recent`` per
owner, merged; ``recent`` for a reader of every record), each checked against the text, until
the page is full: cheap for a common text, hopeless for a rare one. PostgreSQL's choice
between them rests on trigram selectivity estimates that are often wrong by 100×: a
manager's search for a text that 1 % of the records hold read the index ten times or walked
the whole table's list index (0.4–6 s at 10,000,000 deals, docs/benchmarks.md).

``page_rows`` chooses by looking: it reads the first ``PROBE_ROWS`` records of the caller's
scope in the list's order and keeps those matching. When they fill the page, that is the
page. Otherwise the share that matched tells how many records the page needs; when that is
at most ``MOST_ROWS``, a second, larger window is read (``WINDOW_SPARE`` times the estimate);
when not — a rare text — or when that window still falls short, it answers None and the
query's own statement (the search index) reads the page. The result is always the query's:
the first ``n`` records in the list's order that pass every condition are, when ``n`` of them
lie among the first ``w`` records of the scope in that order, exactly the first ``n`` that
pass among those ``w`` (the order is total: the id breaks ties).

It applies to the list's default order (``created_at`` descending, then id), which
``ix_<table>_recent`` and, per owner, ``ix_<table>_owner_recent`` serve, to a scope of at most
``MOST_OWNERS`` owners (one index read each, merged by PostgreSQL's ``Merge Append``), and to
pages ending within ``MOST_NEEDED`` records. SQLite reads a search through FTS5 instead
(``engine.runtime.fulltext``).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.sql.util import ClauseAdapter

if TYPE_CHECKING:
    from engine.runtime.records.query import Query

#: The scopes' parts of the window statements, per table (its ``Schema``: a config version) and
#: shape (``_walked``): built once, so that SQLAlchemy neither builds nor collects their columns
#: again (a team's ten reads of every column cost more to build than to run).
_WALKED: weakref.WeakKeyDictionary[sa.Table, dict[tuple[int, bool], sa.Subquery]] = weakref.WeakKeyDictionary()

#: Records of the scope the first window reads.
PROBE_ROWS = 1_000
#: Global search reads a team's matches owner by owner when at least ``RARE_FOUND`` and fewer than
#: ``COMMON_FOUND`` of ``PROBE_ROWS`` records of the scope match (``ranking.by_owner``). A text of
#: about 10 % of the records lies on either side of 100 by the luck of the sample, and read
#: without the owners it took 0.3 s for a team of 658,442 of 10,000,000 deals, against 60 ms owner
#: by owner (docs/benchmarks.md): hence 300.
RARE_FOUND = 3
COMMON_FOUND = 300
#: The shortest text the trigram search index serves: a shorter one (``%ra%``) holds no trigram.
TRIGRAM = 3
#: Most records of the scope a window reads: past it, the search index reads the page.
MOST_ROWS = 10_000
#: The second window reads this many times the records the first one's share says the page needs.
WINDOW_SPARE = 1.5
#: The last record a walked page may end at (``offset + per_page + 1``).
MOST_NEEDED = 500
#: Most owners a scope may have for its records to be read owner by owner, merged.
MOST_OWNERS = 40
#: The list order the list indexes serve (``Query.order_by`` specs).
WALKED_SORT = ("-created_at",)


def page_rows(query: Query, limit: int, offset: int) -> list[sa.RowMapping] | None:
    """The ``limit`` rows from ``offset`` of ``query`` (a search, in the list's default order) read
    by walking the scope's records in order, or None when the query's own statement should read
    them (not a walkable query, or a text too rare for the walk)."""
    needed = offset + limit
    scope = _scope(query)
    if scope is None or needed > MOST_NEEDED:
        return None
    owners = scope.owners
    window = PROBE_ROWS
    connection = query.session.connection
    while True:
        statement = _window_statement(query, owners, window, needed)
        rows = connection.execute(statement, _parameters(owners, window)).mappings().all()
        if len(rows) >= needed:
            return list(rows[offset:])
        if not rows or window >= MOST_ROWS:
            return None
        estimate = window * needed / len(rows)
        if estimate > MOST_ROWS:
            return None
        window = min(MOST_ROWS, max(2 * window, int(WINDOW_SPARE * estimate)))


@dataclass(frozen=True)
class _Scope:
    """The records a walk reads: those of ``owners`` (sorted), or every record (None)."""

    owners: tuple[int, ...] | None


def _scope(query: Query) -> _Scope | None:
    """The scope of ``query`` to walk, or None when the walk does not apply (not a search in the
    list's default order)."""
    if not query.searching or query.sort != WALKED_SORT or query.indexed:
        return None
    owners = query.scope_owners()
    if owners is None:
        return _Scope(None)
    if not owners or len(owners) > MOST_OWNERS:
        return None
    return _Scope(tuple(sorted(owners)))


def _window_statement(
    query: Query, owners: tuple[int, ...] | None, window: int, needed: int, columns: Sequence[sa.Column] = ()
) -> sa.Select:
    """The first ``needed`` rows passing ``query``'s conditions among the first ``window`` records
    of its scope in the list's order (each owner's read from ``owner_recent``, merged). The
    scope's part is built once per table and shape (``_walked``); its owners and ``window`` are
    bound (``_parameters``)."""
    table = query.table
    shape = (len(owners) if owners is not None else 0, query.archived)
    built = _WALKED.setdefault(table, {})
    walked = built.get(shape)
    if walked is None:
        walked = built.setdefault(shape, _walked(query, owners))
    adapt = ClauseAdapter(walked).traverse
    return (
        sa.select(*(walked.c[c.name] for c in columns or query.visible_columns()))
        .where(*(adapt(c) for c in query.conditions))
        .order_by(walked.c.created_at.desc(), walked.c.id.asc())
        .limit(needed)
    )


def _parameters(owners: tuple[int, ...] | None, window: int) -> dict[str, int]:
    """The values of ``_walked``'s parameters."""
    return {"walk_window": window, **{f"walk_owner_{i}": owner for i, owner in enumerate(owners or ())}}


def _walked(query: Query, owners: tuple[int, ...] | None) -> sa.Subquery:
    """The first ``walk_window`` records of a scope of ``len(owners)`` owners (or of every
    record), every column, newest first: one read of ``owner_recent`` per owner, merged."""
    table = query.table
    window = sa.bindparam("walk_window", type_=sa.Integer())

    def newest(index: int | None) -> sa.Select:
        statement = sa.select(table)
        if index is not None:
            statement = statement.where(table.c.owner_id == sa.bindparam(f"walk_owner_{index}", type_=sa.BigInteger()))
        if not query.archived:
            statement = statement.where(table.c.archived_at.is_(None))
        return statement.order_by(table.c.created_at.desc(), table.c.id.asc()).limit(window)

    if owners is None:
        return newest(None).subquery("walked")
    if len(owners) == 1:
        return newest(0).subquery("walked")
    merged = sa.union_all(*(newest(index) for index in range(len(owners)))).subquery("owners")
    return sa.select(merged).order_by(merged.c.created_at.desc(), merged.c.id.asc()).limit(window).subquery("walked")
