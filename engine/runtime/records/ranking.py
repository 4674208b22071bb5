"""Global search's statements (issue 18 §6): built once per shape, then only bound and run.

``search_everything`` reads each object with one ranked SELECT (``ranked``): the first
``cap + 1`` matches the database reads, in no order (so that it stops there), narrow, ranked
among themselves (``rank``) with ``count(*) OVER ()`` for the count, the best ``limit`` of them
joined back to their rows. Building that statement for every object of every request, and
SQLAlchemy compiling it, cost more than the database's work on a large table
(docs/benchmarks.md). So each statement is built once per *shape* and kept (``_shaped``): the
table (a config version), the dialect, the columns the caller may see, the scope's shape (every
record, some owners, or a team read owner by owner: ``by_owner``), the text's shape
(``query.text_shape``: its forms and the fields each is searched in; SQLite's index and whether it
decides alone), the cap and the limit. The text's forms, the ranking's values and the owners are
bound parameters (an expanding ``IN`` for the owners: the SQL PostgreSQL plans is the one it
planned before); a request binds them and runs the statement, which SQLAlchemy finds compiled by
its memoized key. The conditions are ``Query.search``'s own (``query.text_condition``) in the
caller's scope (``Query.scope_owners``), so the records are those the object's list finds for
the text: hidden fields never searched nor shown, archived records left out. An object whose
scope admits no record is not read at all.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import ObjectDef
from engine.runtime import fulltext
from engine.runtime.records import walk
from engine.runtime.records.query import text_condition, text_parameters, text_shape
from engine.runtime.tables import search_fields

if TYPE_CHECKING:
    from engine.runtime.records.query import Query

#: The statements, per table (its ``Schema``: a config version) and shape; each table keeps at
#: most ``MOST_SHAPES`` (then starts again): a few per object, role and kind of text in practice.
_SHAPES: weakref.WeakKeyDictionary[sa.Table, dict[Hashable, sa.Select]] = weakref.WeakKeyDictionary()
MOST_SHAPES = 512
_LOCK = threading.Lock()


def ranked(
    query: Query, matches: Mapping[str, Sequence[str]], limit: int, cap: int
) -> tuple[list[dict[str, Any]], int]:
    """The best ``limit`` rows of the records of ``query`` (the caller's plain query of one object)
    holding ``matches`` (``query.search_matches``: the text first, then its other forms) and how
    many hold it, up to ``cap + 1``. When at most ``cap`` match, every match is ranked: the same
    results as ranking them all. No statement runs when the caller's scope admits no record."""
    owners = query.scope_owners()
    if owners is not None and not owners:
        return [], 0
    connection = query.session.connection
    index = fulltext.serving_index(connection, query.table, [f.name for f in search_fields(query.obj)], matches)
    parameters: dict[str, Any] = {**text_parameters(matches, index), **_rank_parameters(matches)}
    source = by_owner(query, matches, index, owners)
    if source is not None:
        parameters.update(_owner_parameters(owners))
    else:
        source = _matching(query, matches, index, scoped=owners is not None)
        if owners is not None:
            parameters["search_owners"] = sorted(owners)
    visible = tuple(c.name for c in query.visible_columns())
    key = ("ranked", source, visible, cap, limit)
    statement = _shaped(query.table, key, lambda: _best(query, matches, source, cap, limit))
    rows = [dict(row) for row in connection.execute(statement, parameters).mappings()]
    count = rows[0]["_total"] if rows else 0
    shown = [row for row in rows if row["_n"] <= cap]
    return [{k: v for k, v in row.items() if k not in ("_n", "_total")} for row in shown], int(count)


def by_owner(
    query: Query, matches: Mapping[str, Sequence[str]], index: str | None, owners: frozenset[int] | None
) -> sa.Select | None:
    """For a PostgreSQL search of a scope of several ``owners`` (a team): the SELECT of the ranked
    columns of the matching records read owner by owner, in any order — or None, when the plain
    statement (``_matching``) reads the first ``cap`` matches sooner. Its owners are the bound
    parameters ``search_owner_<n>`` (``_owner_parameters``).

    The plain statement finds a team's matches in one bitmap of the search index with
    ``owner_id IN (…)``: one index scan per owner, every one of them read before the first row.
    This one reads each owner's matches in turn (``UNION ALL``, one index scan each): a text of
    1 % of the records finds the cap in the first owner or two. ``walk.PROBE_ROWS`` records of the
    scope (any of them) tell the text's share: when fewer than ``walk.RARE_FOUND`` match (a rare
    text, whose matches are all read anyway), the plain statement reads them (PostgreSQL lists the
    text's few matches from the search index in one scan and checks the owners on the rows); when
    ``walk.COMMON_FOUND`` or more do (a common text), too: PostgreSQL estimates such a text well and
    meets the cap after a short read of the table. A text shorter than ``walk.TRIGRAM`` (in any of
    its forms) is never read owner by owner: the search index cannot serve it, and each owner's
    leg would read all the owner's records (seconds at 10,000,000 deals)."""
    connection = query.session.connection
    if connection.dialect.name != "postgresql" or index is not None or owners is None:
        return None
    if any(len(text) < walk.TRIGRAM for text in matches):
        return None
    if not 1 < len(owners) <= walk.MOST_OWNERS:  # one owner: one index scan already
        return None
    table, shape = query.table, text_shape(matches)
    probe = _shaped(table, ("probe", shape, query.archived, walk.PROBE_ROWS), lambda: _probe(query, matches))
    found = connection.execute(probe, {**text_parameters(matches), "search_owners": sorted(owners)}).scalar_one()
    if not walk.RARE_FOUND <= found < walk.COMMON_FOUND:
        return None
    count = len(owners)
    return _shaped(table, ("by owner", shape, query.archived, count), lambda: _by_owner(query, matches, count))


def rank(
    obj: ObjectDef, table: sa.Table | sa.Subquery, matches: Mapping[str, Sequence[str]], bound: bool = True
) -> sa.ColumnElement[int]:
    """0: a title field equals the text; 1: one starts with it; 2: a searched field equals a form
    of it; 3: the rest (case-insensitive, as the search). With ``bound``, the text's values are
    the parameters ``_rank_parameters`` gives, else written in."""
    text = next(iter(matches))
    values = _rank_parameters(matches)

    def value(name: str) -> Any:
        return sa.bindparam(name, type_=sa.String()) if bound else values[name]

    searched = matches.get(text, [])
    titles = [table.c[n] for n in obj.title_fields() if n in searched]
    whens: list[tuple[sa.ColumnElement[bool], int]] = []
    if titles:
        whens.append((sa.or_(*(sa.func.lower(c) == value("search_lowered") for c in titles)), 0))
        whens.append((sa.or_(*(sa.func.lower(c).like(value("search_prefix"), escape="\\") for c in titles)), 1))
    exact = [
        sa.func.lower(table.c[n]) == value(f"search_exact_{number}")
        for number, names in enumerate(matches.values())
        for n in names
    ]
    whens.append((sa.or_(*exact), 2))
    return sa.case(*whens, else_=3)


def _rank_parameters(matches: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The values ``rank`` compares with: the text lower-cased, as a prefix pattern, and each form."""
    lowered = next(iter(matches)).lower()
    prefix = lowered.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    forms = {f"search_exact_{number}": form.lower() for number, form in enumerate(matches)}
    return {"search_lowered": lowered, "search_prefix": prefix, **forms}


def _owner_parameters(owners: frozenset[int] | None) -> dict[str, int]:
    """The values of ``_by_owner``'s owners, in order."""
    return {f"search_owner_{number}": owner for number, owner in enumerate(sorted(owners or ()))}


def _shaped(table: sa.Table, key: Hashable, build: Callable[[], sa.Select]) -> sa.Select:
    """The statement of ``table`` that ``key`` names, built by ``build`` the first time."""
    statements = _SHAPES.get(table)
    found = statements.get(key) if statements is not None else None
    if found is None:
        found = build()
        with _LOCK:
            statements = _SHAPES.setdefault(table, {})
            if len(statements) >= MOST_SHAPES:
                statements.clear()
            statements[key] = found
    return found


def _columns(query: Query, matches: Mapping[str, Sequence[str]]) -> list[sa.Column]:
    """The columns the ranking reads: the id, the last change and the searched fields."""
    table = query.table
    ranked_names = dict.fromkeys(name for names in matches.values() for name in names)
    return [table.c.id, table.c.updated_at, *(table.c[name] for name in ranked_names)]


def _conditions(
    query: Query, matches: Mapping[str, Sequence[str]], index: str | None = None
) -> list[sa.ColumnElement[bool]]:
    """The search's conditions with bound values, after the archived rule (as ``Query.statement``)."""
    table = query.table
    found = text_condition(table, query.obj, query.session.connection.dialect.name, matches, index, bound=True)
    archived = [] if query.archived else [table.c.archived_at.is_(None)]
    return [*archived, *found.indexed, *found.conditions]


def _matching(query: Query, matches: Mapping[str, Sequence[str]], index: str | None, scoped: bool) -> sa.Select:
    """The ranked columns of the records matching, in no order: an order would make the database
    read (or walk) past the cap. ``scoped``: of the owners ``search_owners`` only."""
    dialect = query.session.connection.dialect.name
    decides = index is not None and fulltext.decides(matches)
    key = ("matching", dialect, text_shape(matches), index, decides, scoped, query.archived)

    def build() -> sa.Select:
        table = query.table
        statement = sa.select(*_columns(query, matches))
        if scoped:
            statement = statement.where(table.c.owner_id.in_(sa.bindparam("search_owners", expanding=True)))
        return statement.where(*_conditions(query, matches, index))

    return _shaped(query.table, key, build)


def _probe(query: Query, matches: Mapping[str, Sequence[str]]) -> sa.Select:
    """How many of any ``walk.PROBE_ROWS`` records of the owners ``search_owners`` match (no order:
    one statement PostgreSQL plans at once, where the merged newest records cost a plan per owner)."""
    table = query.table
    found = text_condition(table, query.obj, "postgresql", matches, bound=True)
    sample = sa.select(sa.and_(*found.conditions).label("matches")).where(
        table.c.owner_id.in_(sa.bindparam("search_owners", expanding=True))
    )
    if not query.archived:
        sample = sample.where(table.c.archived_at.is_(None))
    sampled = sample.limit(walk.PROBE_ROWS).subquery("sampled")
    return sa.select(sa.func.count()).select_from(sampled).where(sampled.c.matches)


def _by_owner(query: Query, matches: Mapping[str, Sequence[str]], count: int) -> sa.Select:
    """``by_owner``'s statement for ``count`` owners: each owner's matches in turn (``UNION ALL``)."""
    table, columns = query.table, _columns(query, matches)
    found = text_condition(table, query.obj, "postgresql", matches, bound=True)
    archived = [] if query.archived else [table.c.archived_at.is_(None)]
    legs = [
        sa.select(*columns).where(
            table.c.owner_id == sa.bindparam(f"search_owner_{number}"), *found.conditions, *archived
        )
        for number in range(count)
    ]
    owners = sa.union_all(*legs).subquery("by_owner")
    return sa.select(*(owners.c[c.name] for c in columns))


def _best(query: Query, matches: Mapping[str, Sequence[str]], source: sa.Select, cap: int, limit: int) -> sa.Select:
    """The best ``limit`` of the first ``cap + 1`` rows of ``source``, ranked, joined to their
    visible columns; ``_n`` numbers the candidates (the last only tells that the cap is passed:
    never shown) and ``_total`` counts them."""
    table = query.table
    matched = source.subquery("matched")
    candidates = sa.select(*matched.c, sa.func.row_number().over().label("_n")).limit(cap + 1).subquery("candidates")
    over = sa.case((candidates.c._n > cap, 1), else_=0)
    best = (
        sa.select(
            candidates.c.id,
            candidates.c.updated_at,
            candidates.c._n,
            over.label("_over"),
            rank(query.obj, candidates, matches).label("_rank"),
            sa.func.count().over().label("_total"),
        )
        .order_by(over, sa.literal_column("_rank"), candidates.c.updated_at.desc(), candidates.c.id.desc())
        .limit(limit)
        .subquery("best")
    )
    return (
        sa.select(*query.visible_columns(), best.c._n, best.c._total)
        .join_from(table, best, table.c.id == best.c.id)
        .order_by(best.c._over, best.c._rank, best.c.updated_at.desc(), best.c.id.desc())
    )
