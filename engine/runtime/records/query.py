"""The one read path: a small, immutable query builder over one object.

Lists, record pages, the API, exports, reports and search all build their
SELECTs here, so that the caller's record scope (as SQL) and hidden fields
are applied in exactly one place: a query never selects a hidden column, and
a filter or sort on one is refused as if the field did not exist. Filters are keyword arguments ``field__op=value``
whose values are coerced by the field's type, so ``amount__gte="1000"`` and
``close_date__lt="2026-01-01"`` mean what they say.

``grouped`` counts and sums inside the same scope (a board's columns, a report's
rows): GROUP BY one or more visible fields, with the sum, average, minimum and
maximum of number fields.

Large tables (docs/benchmarks.md): a page counts its total only up to
``COUNT_LIMIT`` records (``Page.total_exact``); a deep page selects the ids of
its rows first and then the rows (a "deferred join"), so that skipping the
earlier rows reads the list index ``ix_obj_<name>_recent`` only; and
``search`` is served by the object's search index on PostgreSQL (a GIN index over
``owner_id`` and ``tables.search_document``: the caller's scope and the text in one index
scan) and its FTS5 trigram table on SQLite
(``engine.runtime.fulltext``; ``page`` counts through it, and pages through it
unless more than ``DENSE_MATCHES`` records match; when its MATCH provably finds what the LIKE
finds, ``fulltext.decides``, the LIKE is left out while the index is used). A PostgreSQL search's
page in the list's default order is read from the list index in order when the text is common
enough to fill it soon (``engine.runtime.records.walk``).
"""

from __future__ import annotations

import dataclasses
import operator
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.util import ClauseAdapter

from engine.metadata.fieldtypes import REGISTRY, FieldType, FieldValueError, coerce_value, filter_field
from engine.metadata.filters import OPERATORS, PERIOD_TYPES, PERIODS, SYSTEM_TYPES
from engine.metadata.model import FieldDef, Label, ObjectDef, Settings
from engine.runtime import fieldsql, fulltext, periods
from engine.runtime.errors import QueryError
from engine.runtime.messages import current_language
from engine.runtime.records import moves, walk
from engine.runtime.records.record import Record
from engine.runtime.security import crypto
from engine.runtime.tables import SEARCH_SEPARATOR, search_document, search_fields

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.security.permissions import Principal

#: Largest page a caller may ask for.
MAX_PER_PAGE = 500
#: Longest search text (``q``), in characters: longer is a QueryError, not a huge LIKE pattern.
MAX_SEARCH_LENGTH = 200
#: Most sort keys one query takes.
MAX_SORT_KEYS = 10
#: A page counts its total up to this many records; beyond, ``Page.total`` says "more than".
COUNT_LIMIT = 10_000
#: From this offset on, a page selects its ids first, then their rows (a deferred join).
DEFERRED_JOIN_OFFSET = 10_000
#: A search matching more records than this pages without SQLite's search index (``page``).
DENSE_MATCHES = 2_000
_SYSTEM_FILTERABLE = tuple(SYSTEM_TYPES)
#: How filter values on system columns are coerced (as a field of this type).
_SYSTEM_TYPES = SYSTEM_TYPES
#: Most fields one ``grouped`` query groups by.
MAX_GROUP_KEYS = 5
#: Aggregates ``grouped`` computes, and the value types each applies to (``FieldType.aggregates``).
AGGREGATES = {
    kind: tuple(t.name for t in REGISTRY.values() if kind in t.aggregates) for kind in ("sum", "avg", "min", "max")
}


@dataclass(frozen=True)
class Page:
    """One page of results with what a pager needs.

    ``total`` is exact when ``total_exact``; otherwise the count stopped at the
    query's count limit and more than ``total`` records match (``pages`` is then
    a lower bound too). ``more`` says whether a record follows this page.
    """

    items: list[Record]
    total: int
    page: int
    per_page: int
    total_exact: bool = True
    more: bool | None = None

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1); when the total is not exact, at least that many."""
        if self.total_exact:
            return max(1, -(-self.total // self.per_page))
        return max(-(-(self.total + 1) // self.per_page), self.page + 1 if self.more else 1)

    @property
    def has_next(self) -> bool:
        """Whether a page follows this one."""
        return self.more if self.more is not None else self.page < self.pages

    def __iter__(self) -> Iterator[Record]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Group:
    """One row of ``Query.grouped``: the grouping fields' values, how many records have them,
    and the aggregates asked for (``sums["amount"]``; None when no record has a value)."""

    values: Mapping[str, Any]
    count: int
    sums: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    avgs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    mins: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    maxs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: How many records of the group match each share's condition (``shares``).
    shares: Mapping[str, int] = dataclasses.field(default_factory=dict)
    #: Per number field, the sum of its values times the stage probability (``weighted``).
    weighted: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> tuple[Any, ...]:
        """The grouping fields' values, in the order they were named."""
        return tuple(self.values.values())


#: The label of the count a first page's statement carries as its last column (``Query.page``).
COUNTED = "_counted"


def row_to_record(
    obj: ObjectDef, row: Mapping[str, Any] | sa.RowMapping, keys: crypto.Keys, *, counted: bool = False
) -> Record:
    """Turn a result row into a Record, decrypting encrypted fields with ``keys`` (``Trellis.keys``);
    ``counted``: the row carries the page's count (``COUNTED``), which is not a value."""
    values = dict(row)
    if counted:
        del values[COUNTED]
    for name in obj.encrypted:
        if name in values:
            values[name] = keys.decrypt(values[name])
    return Record(obj.name, values)


#: SELECTs of queries without conditions, built once per table and shape (``Query._shape``): a
#: statement built anew costs SQLAlchemy its construction and its cache key (a walk of the whole
#: statement) on every execution, several times the SQL of a list's small reads; one built
#: before is found by its memoized key at once. Per table, so that they go with its ``Schema``
#: (a config version); each table keeps at most ``BUILT_PER_TABLE`` (then starts again).
_BUILT: weakref.WeakKeyDictionary[sa.Table, dict[Any, sa.Select]] = weakref.WeakKeyDictionary()
BUILT_PER_TABLE = 2048
_BUILT_LOCK = threading.Lock()


def _built(table: sa.Table, key: Any, build: Callable[[], sa.Select]) -> sa.Select:
    """The SELECT of ``table`` that ``key`` names, built by ``build`` the first time."""
    statements = _BUILT.get(table)
    found = statements.get(key) if statements is not None else None
    if found is None:
        found = build()
        with _BUILT_LOCK:
            statements = _BUILT.setdefault(table, {})
            if len(statements) >= BUILT_PER_TABLE:
                statements.clear()
            statements[key] = found
    return found


#: Per table and count (``Query.count``'s key): whether its last count went past its limit.
_PAST_LIMIT: weakref.WeakKeyDictionary[sa.Table, dict[Any, bool]] = weakref.WeakKeyDictionary()


def _past_limit(table: sa.Table) -> dict[Any, bool]:
    found = _PAST_LIMIT.get(table)
    if found is None:
        with _BUILT_LOCK:
            found = _PAST_LIMIT.setdefault(table, {})
    if len(found) >= BUILT_PER_TABLE:
        found.clear()
    return found


def encrypted_fields(obj: ObjectDef) -> list[str]:
    """Names of the object's fields stored encrypted."""
    return list(obj.encrypted)


@dataclass(frozen=True)
class Query:
    """A query over one object; each method returns a new, refined query."""

    session: Session
    obj: ObjectDef
    table: sa.Table
    conditions: tuple[sa.ColumnElement[bool], ...] = ()
    ordering: tuple[sa.ColumnElement[Any], ...] = ()
    archived: bool = False
    #: The records SQLite's search index finds for ``search`` (``engine.runtime.fulltext``):
    #: conditions that only narrow the rows ``conditions`` decide among; ``page`` may leave them out.
    indexed: tuple[sa.ColumnElement[bool], ...] = ()
    #: The LIKE conditions of a search that ``indexed`` decides exactly (``fulltext.decides``):
    #: left out while the index is used, put back without it (``without_index``).
    matched: tuple[sa.ColumnElement[bool], ...] = ()
    #: The ``order_by`` specs ``ordering`` was made from (``-created_at``…): with them a query
    #: without conditions is one of few shapes, whose SELECTs are built once (``_built``).
    sort: tuple[str, ...] = ()
    #: The ``filter`` arguments ``conditions`` were made from, one per condition, in order — None
    #: once a condition came another way (``any_of``, ``moved``, ``search``) or a value cannot be
    #: a key: with the shape they name a count for ``_PAST_LIMIT`` (a hint, never a result).
    filtered: tuple[tuple[str, Any], ...] | None = ()
    #: A PostgreSQL search narrows it: ``page`` may walk the list index (``engine.runtime.records.walk``).
    searching: bool = False

    def filter(self, **conditions: Any) -> Query:
        """Keep records matching every ``field__op=value`` (op defaults to ``eq``)."""
        clauses = tuple(self._condition(key, value) for key, value in conditions.items())
        filtered = None if self.filtered is None else self.filtered + tuple(conditions.items())
        try:
            hash(filtered)
        except TypeError:  # a list of values
            filtered = None
        return replace(self, conditions=self.conditions + clauses, filtered=filtered)

    def any_of(self, **conditions: Any) -> Query:
        """Keep records matching at least one ``field__op=value`` (same operators as ``filter``)."""
        if not conditions:
            return self
        clauses = [self._condition(key, value) for key, value in conditions.items()]
        return replace(self, conditions=(*self.conditions, sa.or_(*clauses)), filtered=None)

    def moved(self, move: moves.Moved) -> Query:
        """Keep records that made ``move`` through their pipeline (``engine.runtime.records.moves``)."""
        return replace(self, conditions=(*self.conditions, moves.condition(self, move)), filtered=None)

    def search(self, text: str) -> Query:
        """Keep records where any text-like field the caller may see contains ``text`` (case-insensitive).

        A field whose type writes values in another form than people type them
        (``FieldType.search_forms``: a phone number typed ``138 0013 8000`` is
        stored ``+8613800138000``) also matches those forms of ``text``.

        On SQLite: ``field LIKE '%text%'`` OR-ed over those fields (like ILIKE there, it
        ignores the case of ASCII letters only), among the records the object's FTS5 trigram
        index finds when every form of the text has three characters or more
        (``engine.runtime.fulltext``; else the table is read) — or the index alone, when its
        folding provably agrees with LIKE's on every character of the forms
        (``fulltext.decides``: ASCII but ``k`` and ``s``, or characters without case). On PostgreSQL:
        ``search_document LIKE lower('%text%')`` — every searchable field,
        lower-cased, in one string — which the object's trigram index serves and
        which means the same as ILIKE on each field (PostgreSQL's ILIKE compares
        lower-cased text too). When some searchable field is hidden from the
        caller, a form applies to some fields only, or ``text`` holds the
        document's separator, the OR-ed fields decide among the document's matches.
        """
        text = (text or "").replace("\x00", "").strip()
        if not text:
            return self
        if len(text) > MAX_SEARCH_LENGTH:
            raise _refused(
                "search_length",
                f"the search text is at most {MAX_SEARCH_LENGTH} characters, not {len(text)}",
                most=MAX_SEARCH_LENGTH,
                given=len(text),
            )
        matches = search_matches(self.session.principal, self.obj, text, self.session.config.settings)
        if not matches:
            return self
        connection = self.session.connection
        index = fulltext.serving_index(connection, self.table, [f.name for f in search_fields(self.obj)], matches)
        found = text_condition(self.table, self.obj, connection.dialect.name, matches, index)
        return replace(
            self,
            conditions=(*self.conditions, *found.conditions),
            indexed=(*self.indexed, *found.indexed),
            matched=(*self.matched, *found.matched),
            filtered=None,
            searching=self.searching or connection.dialect.name == "postgresql",
        )

    def order_by(self, *fields: str) -> Query:
        """Sort by fields (at most ``MAX_SORT_KEYS``); ``-name`` sorts descending; empty values come
        last. The id breaks ties."""
        if len(fields) > MAX_SORT_KEYS:
            raise _refused(
                "sort_keys",
                f"sort by at most {MAX_SORT_KEYS} fields, not {len(fields)}",
                most=MAX_SORT_KEYS,
                given=len(fields),
            )
        ordering = []
        for spec in fields:
            name = spec.lstrip("-+")
            column = self._column(name)
            ordered = column.desc() if spec.startswith("-") else column.asc()
            # Empty values sort last in both directions, on every database. A column that
            # cannot be empty needs no NULLS LAST, and without it an index can serve the order.
            ordering.append(ordered.nulls_last() if column.nullable else ordered)
        return replace(self, ordering=tuple(ordering), sort=tuple(fields))

    def include_archived(self) -> Query:
        """Also return archived records (hidden by default)."""
        return replace(self, archived=True)

    # --- execution -------------------------------------------------------------
    def statement(self) -> sa.Select:
        """The SELECT this query runs (without paging)."""
        shape = self._shape()
        if shape is not None:
            return _built(self.table, shape, lambda: self._statement())
        return self._statement()

    def _shape(self) -> tuple[Any, ...] | None:
        """What the SELECT of a query without conditions depends on — its visible columns, the
        reader's owners, archived, the sort — or None for a query with conditions (a filter, a
        search): a list's plain page is one of few shapes, built once (``_built``)."""
        if self.conditions or self.indexed:
            return None
        return self._scope_shape()

    def _scope_shape(self) -> tuple[Any, ...]:
        return (tuple(c.name for c in self.visible_columns()), self.scope_owners(), self.archived, self.sort)

    def scope_owners(self) -> frozenset[int] | None:
        """The owners of the records the caller may read (their read scope): None for every
        record, an empty set for none."""
        principal = self.session.principal
        return principal.owners(principal.grant(self.obj.name).read)

    def _statement(self) -> sa.Select:
        statement = sa.select(*self.visible_columns())
        scope = self.session.principal.scope(self.obj.name, "read", self.table.c.owner_id)
        if scope is not None:
            statement = statement.where(scope)
        if not self.archived:
            statement = statement.where(self.table.c.archived_at.is_(None))
        if self.conditions or self.indexed:
            statement = statement.where(*self.indexed, *self.conditions)
        return statement.order_by(*self.ordering, self.table.c.id.asc())

    def without_index(self) -> Query:
        """The same query without SQLite's search index: its LIKE conditions decide on every row."""
        if not self.indexed:
            return self
        return replace(self, conditions=(*self.conditions, *self.matched), indexed=(), matched=())

    def visible_columns(self) -> list[sa.Column]:
        """The system columns and the fields the caller may see."""
        principal = self.session.principal
        return [c for c in self.table.c if c.name not in self.obj.fields or principal.can_see(self.obj.name, c.name)]

    def all(self) -> list[Record]:
        """Every matching record."""
        rows = self.session.connection.execute(self.statement()).mappings()
        return [row_to_record(self.obj, row, self.session.crm.keys) for row in rows]

    def __iter__(self) -> Iterator[Record]:
        return iter(self.all())

    def pages(self, size: int = 1000) -> Iterator[list[Record]]:
        """Every matching record, ``size`` at a time, from one statement read as it goes (a
        server-side cursor on PostgreSQL): memory stays flat however many records match. Other
        statements may run on the session between two pages (an export reads titles)."""
        statement = self.statement().execution_options(yield_per=size)
        result = self.session.connection.execute(statement).mappings()
        try:
            for rows in result.partitions(size):
                yield [row_to_record(self.obj, row, self.session.crm.keys) for row in rows]
        finally:
            result.close()  # a reader that stops early frees the cursor at once

    def first(self) -> Record | None:
        """The first matching record, or None."""
        row = self.session.connection.execute(self.statement().limit(1)).mappings().first()
        return None if row is None else row_to_record(self.obj, row, self.session.crm.keys)

    def count(self, limit: int | None = None) -> int:
        """How many records match; with ``limit``, counting stops after ``limit + 1`` records.

        A query without conditions whose last count went past ``limit`` (``_PAST_LIMIT``: a
        list's plain page, counted on every request) first looks for its ``limit + 1``-th record
        and counts only when there is none (``_capped_count_statement``): the same number, from
        an index walk without the count's per-row work. Either statement gives the right count;
        what was seen before only chooses the cheaper one. A filtered query (``filter`` alone: a
        list's stage filter) is named by its filters too; its statements are built anew."""
        key, query = self._counting(limit)
        counted: int = self.session.connection.execute(query).scalar_one()
        self._counted(key, limit, counted)
        return counted

    def _counting(self, limit: int | None) -> tuple[tuple[Any, ...] | None, sa.Select]:
        """The statement ``count(limit)`` runs and the key its result is remembered by (None: not
        remembered)."""
        shape = self._shape()
        if shape is None:
            if limit is None or self.indexed or self.filtered is None or len(self.filtered) != len(self.conditions):
                return None, self._count_statement(limit)
            key: tuple[Any, ...] = ("count", limit, self._scope_shape(), self.filtered)
            capped = _past_limit(self.table).get(key)
            return key, self._capped_count_statement(limit) if capped else self._count_statement(limit)
        key = ("count", limit, shape)
        if limit is not None and _past_limit(self.table).get(key):
            return key, _built(self.table, ("capped count", limit, shape), lambda: self._capped_count_statement(limit))
        return key, _built(self.table, key, lambda: self._count_statement(limit))

    def _counted(self, key: tuple[Any, ...] | None, limit: int | None, counted: int) -> None:
        if key is not None and limit is not None:
            _past_limit(self.table)[key] = counted > limit

    def _count_statement(self, limit: int | None) -> sa.Select:
        inner: sa.Select[Any] = self.statement().order_by(None).with_only_columns(sa.literal_column("1"))
        if limit is not None:
            inner = inner.limit(limit + 1)
        return sa.select(sa.func.count()).select_from(inner.subquery())

    def _capped_count_statement(self, limit: int) -> sa.Select:
        """``limit + 1`` when a record follows the first ``limit`` (one index walk that skips them,
        ``OFFSET``), else the exact count: ``COALESCE`` evaluates the count only when the first
        finds nothing, on SQLite and PostgreSQL alike."""
        plain = self.statement().order_by(None)
        beyond = plain.with_only_columns(sa.literal(limit + 1)).limit(1).offset(limit).scalar_subquery().correlate(None)
        every = plain.with_only_columns(sa.func.count()).scalar_subquery().correlate(None)
        return sa.select(sa.func.coalesce(beyond, every))

    def grouped(
        self,
        *by: str,
        sums: Sequence[str] = (),
        avgs: Sequence[str] = (),
        mins: Sequence[str] = (),
        maxs: Sequence[str] = (),
        shares: Mapping[str, str | Mapping[str, Any]] | None = None,
        weighted: Sequence[str] = (),
    ) -> list[Group]:
        """The matching records grouped by ``by`` (at most ``MAX_GROUP_KEYS``), one ``Group`` per
        combination of their values, ordered by them (empty values last): how many records, and
        the sums, averages, minimums and maximums of the named number fields (min and max take
        dates too). One GROUP BY over ``statement()``: the caller's scope, filters and archived
        rule apply; a hidden field is an unknown field, an encrypted one is refused, as in filters.

        A ``by`` of ``field:unit`` groups a date or datetime field by the first day of its
        ``day``/``week``/``month``/``quarter``/``year`` in the company time zone
        (``periods.bucket_sql``; the group's value is that date). ``shares`` counts, per group,
        the records true in a boolean field (``{"won": "won"}``) or matching filters
        (``{"converted": {"status": "converted"}}``); ``weighted`` sums number fields times the
        probability of each record's stage (``Pipeline`` stages, in percent; none: 0)."""
        if len(by) > MAX_GROUP_KEYS:
            raise _refused(
                "group_keys",
                f"group by at most {MAX_GROUP_KEYS} fields, not {len(by)}",
                most=MAX_GROUP_KEYS,
                given=len(by),
            )
        asked = {"sum": sums, "avg": avgs, "min": mins, "max": maxs}
        aggregates = [(kind, name, self._aggregated(kind, name)) for kind, names in asked.items() for name in names]
        computed = [self._group_key(name).label(f"_g{index}") for index, name in enumerate(by)]
        share_items = list((shares or {}).items())
        computed += [self._share(spec).label(f"_s{index}") for index, (_, spec) in enumerate(share_items)]
        computed += [self._weighted(name).label(f"_w{index}") for index, name in enumerate(weighted)]
        inner = self.statement().order_by(None).add_columns(*computed).subquery("grouped")
        keys = [inner.c[f"_g{index}"] for index in range(len(by))]
        columns = [
            *keys,
            sa.func.count().label("count"),
            *(getattr(sa.func, kind)(inner.c[name]) for kind, name, _ in aggregates),
            *(sa.func.coalesce(sa.func.sum(inner.c[f"_s{index}"]), 0) for index in range(len(share_items))),
            *(sa.func.sum(inner.c[f"_w{index}"]) for index in range(len(weighted))),
        ]
        statement = sa.select(*columns).select_from(inner)
        if keys:
            # No ORDER BY: the planner, which cannot tell how few groups an expression (a date
            # bucket) makes, would sort every row to give the groups in order rather than hash
            # them; the few groups are put in order here instead (docs/benchmarks.md, "Reports").
            statement = statement.group_by(*keys)
        bucketed = [":" in name for name in by]
        groups = []
        for row in self.session.connection.execute(statement):
            values = [periods.as_date(v) if bucket else v for v, bucket in zip(row[: len(by)], bucketed, strict=True)]
            rest = list(row[len(by) + 1 :])
            found: dict[str, dict[str, Any]] = {kind: {} for kind in asked}
            for (kind, name, value_kind), value in zip(aggregates, rest[: len(aggregates)], strict=True):
                found[kind][name] = fieldsql.SQL[value_kind].aggregate(kind, value)
            rest = rest[len(aggregates) :]
            counted = {name: int(value) for (name, _), value in zip(share_items, rest, strict=False)}
            rest = rest[len(share_items) :]
            sums_weighted = {name: _percent_of(value) for name, value in zip(weighted, rest, strict=True)}
            if not by and row[0] == 0:
                found = {kind: dict.fromkeys(names) for kind, names in asked.items()}
            groups.append(
                Group(
                    dict(zip(by, values, strict=True)),
                    row[len(by)],
                    found["sum"],
                    found["avg"],
                    found["min"],
                    found["max"],
                    counted,
                    sums_weighted,
                )
            )
        return sorted(groups, key=lambda g: tuple((value is None, value) for value in g.key))

    def group_expression(self, name: str) -> sa.ColumnElement[Any]:
        """The SQL expression ``grouped`` groups ``name`` (a field or ``field:unit``) by, for a
        report that joins ``statement()`` with another object's query (a conversion's targets)."""
        return self._group_key(name)

    def _group_key(self, name: str) -> sa.ColumnElement[Any]:
        """The expression a group key ``field`` or ``field:unit`` (a date bucket) groups by."""
        field_name, _, unit = name.partition(":")
        column = self._groupable(field_name)
        if not unit:
            return column
        value_type = self._value_type(field_name)
        if value_type not in PERIOD_TYPES:
            raise _refused(
                "bucket_type",
                f"{field_name} is a {value_type} field; only date and datetime fields group by {unit}",
                field=self._called(field_name),
                type=value_type,
                unit=unit,
            )
        if unit not in ("day", "week", "month", "quarter", "year"):
            raise _refused("bucket", f"unknown date bucket {unit!r}; use day, week, month, quarter or year", unit=unit)
        zone = self.session.config.settings.timezone
        return periods.bucket_sql(column, unit, value_type, self.session.connection.dialect.name, zone)

    def _share(self, spec: str | Mapping[str, Any]) -> sa.ColumnElement[int]:
        """1 for a record true in the boolean field ``spec`` (or matching the filters ``spec``), else 0."""
        if isinstance(spec, str):
            column = self._column(spec)
            if self._value_type(spec) != "boolean":
                raise _refused(
                    "share_type",
                    f"a share counts a boolean field; {spec} is a {self._value_type(spec)} field",
                    field=self._called(spec),
                    type=self._value_type(spec),
                )
            condition: sa.ColumnElement[bool] = column.is_(True)
        else:
            condition = sa.and_(*(self._condition(key, value) for key, value in spec.items()))
        return sa.case((condition, 1), else_=0)

    def _weighted(self, name: str) -> sa.ColumnElement[Any]:
        """``name`` times the probability (percent) of the record's stage."""
        self._aggregated("sum", name)
        pipeline = self.obj.pipeline
        if pipeline is None:
            raise _refused(
                "no_pipeline",
                f"{self.obj.name} has no pipeline: no stage probability to weight {name} by",
                object=self.obj.label.get(current_language()),
                field=self._called(name),
            )
        stage = self._column(pipeline.field)
        chances = [(stage == s.key, Decimal(str(s.probability))) for s in pipeline.all_stages() if s.probability]
        if not chances:
            return sa.literal(Decimal(0))
        return self.table.c[name] * sa.case(*chances, else_=Decimal(0))

    def _value_type(self, name: str) -> str:
        field = self.obj.fields.get(name)
        return field.value_type if field is not None else _SYSTEM_TYPES[name]

    def page(
        self, number: int = 1, per_page: int = 50, count_limit: int | None = None, *, counting: bool = True
    ) -> Page:
        """Page ``number`` (1-based) of ``per_page`` records (at most MAX_PER_PAGE).

        The total is counted up to ``count_limit`` (default ``COUNT_LIMIT``)
        records; past it, ``Page.total_exact`` is False and ``total`` is the limit.
        No count is made when this page shows where the records end (it is then exact).
        With ``counting=False`` none is made either when more records follow this page:
        ``total`` is then the records up to this page's end and not exact (the web list's
        search: counting the matches costs seconds on a large table, docs/benchmarks.md);
        a page past the end still counts, to say where the records end.
        """
        if number < 1:
            raise _refused("page", "page numbers start at 1")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise _refused("per_page", f"per_page must be between 1 and {MAX_PER_PAGE}", most=MAX_PER_PAGE)
        limit = COUNT_LIMIT if count_limit is None else count_limit
        offset = (number - 1) * per_page
        # SQLite's search index counts its matches to choose how to page (up to DENSE_MATCHES
        # when nothing else needs the count).
        counted, paged = self._indexed_count(limit if counting else DENSE_MATCHES)
        # A PostgreSQL search newest first: its records read in order when the text is common.
        walked = walk.page_rows(self, per_page + 1, offset) if self.searching else None
        if walked is None and counting and counted is None and offset == 0:
            # The first page: its rows and their count in one statement (one round trip).
            key, count_statement = self._counting(limit)
            statement = self._first_page_statement(per_page + 1, count_statement)
            rows: Sequence[sa.RowMapping] = self.session.connection.execute(statement).mappings().all()
            counted = rows[0][COUNTED] if rows else 0
            self._counted(key, limit, counted)
            items = [row_to_record(self.obj, row, self.session.crm.keys, counted=True) for row in rows[:per_page]]
        else:
            rows = (
                walked
                if walked is not None
                else self.session.connection.execute(paged._page_statement(per_page + 1, offset)).mappings().all()
            )
            items = [row_to_record(self.obj, row, self.session.crm.keys) for row in rows[:per_page]]
        more = len(rows) > per_page
        if not more and (items or offset == 0):  # the last page: the total is known
            total, exact = offset + len(items), True
        elif more and not counting:  # "more than this": no count
            total, exact = offset + per_page, False
        else:
            counted = self.count(limit) if counted is None or not counting else counted
            total, exact = min(counted, limit), counted <= limit
        return Page(items=items, total=total, page=number, per_page=per_page, total_exact=exact, more=more)

    def _indexed_count(self, limit: int) -> tuple[int | None, Query]:
        """For a search the index serves: the count (through the index, up to ``limit``) and the
        query to page with — through the index when few records match (it reads just those),
        without it (``without_index``: the LIKE decides) when more than ``DENSE_MATCHES`` do: then
        the list index, read in the page's order, meets the page's records after a few rows,
        sooner than the index lists them all.
        Otherwise (None, self)."""
        if not self.indexed:
            return None, self
        counted = self.count(limit)
        return counted, self.without_index() if counted > DENSE_MATCHES else self

    def _first_page_statement(self, limit: int, count_statement: sa.Select) -> sa.Select:
        """The first ``limit`` rows with, as their last column (``COUNTED``), what
        ``count_statement`` counts: an uncorrelated subquery, which SQLite and PostgreSQL
        evaluate once (PostgreSQL's InitPlan), and not at all when no row matches."""
        counted = count_statement.scalar_subquery().correlate(None).label(COUNTED)
        shape = self._shape()
        if shape is not None:
            return _built(
                self.table,
                ("first page", limit, shape, count_statement),
                lambda: self.statement().add_columns(counted).limit(limit),
            )
        return self.statement().add_columns(counted).limit(limit)

    def _page_statement(self, limit: int, offset: int) -> sa.Select:
        """``limit`` rows from ``offset``; from DEFERRED_JOIN_OFFSET on, the ids are chosen first
        (on the list index alone when it serves the order), then only their rows are read."""
        if offset < DEFERRED_JOIN_OFFSET:
            shape = self._shape()
            if shape is not None:
                return _built(
                    self.table, ("page", limit, offset, shape), lambda: self.statement().limit(limit).offset(offset)
                )
            return self.statement().limit(limit).offset(offset)
        statement = self.statement()
        ids = statement.with_only_columns(self.table.c.id).limit(limit).offset(offset).subquery("page_ids")
        rows = self.table.alias("paged")
        adapt = ClauseAdapter(rows).traverse
        return (
            sa.select(*(rows.c[c.name] for c in self.visible_columns()))
            .join_from(rows, ids, rows.c.id == ids.c.id)
            .order_by(*(adapt(o) for o in self.ordering), rows.c.id.asc())
        )

    # --- building conditions -----------------------------------------------------
    def _called(self, name: str) -> str:
        """What people call the field ``name`` (its label in the current language), else ``name``."""
        field = self.obj.fields.get(name)
        return field.label.get(current_language()) if field is not None else name

    def _column(self, name: str) -> sa.Column:
        field = self.obj.fields.get(name)
        if field is not None and self.session.principal.can_see(self.obj.name, name):
            if field.encrypted:
                raise _refused(
                    "encrypted",
                    f"{name} is stored encrypted; it cannot be filtered or sorted on",
                    field=self._called(name),
                )
            return self.table.c[name]
        if field is None and name in _SYSTEM_FILTERABLE and name in self.table.c:
            return self.table.c[name]
        raise _refused(
            "no_field",
            f"{self.obj.name} has no field {name!r}",
            object=self.obj.label.get(current_language()),
            name=name,
        )

    def _groupable(self, name: str) -> sa.Column:
        column = self._column(name)
        field = self.obj.fields.get(name)
        if field is not None and not field.value_kind.orderable:
            raise _refused(
                "not_orderable",
                f"{name} holds lists or documents; a query cannot group by it",
                field=self._called(name),
            )
        return column

    def _aggregated(self, kind: str, name: str) -> FieldType:
        """The value type of the field ``kind`` (sum, avg, min, max) aggregates; QueryError when it cannot."""
        self._column(name)
        field = self.obj.fields.get(name)
        value_kind = field.value_kind if field is not None else REGISTRY[_SYSTEM_TYPES[name]]
        if kind not in value_kind.aggregates:
            types = ", ".join(AGGREGATES[kind])
            raise _refused(
                "aggregate",
                f"{kind} applies to {types} fields; {name} is a {value_kind.name} field",
                kind=kind,
                types=types,
                field=self._called(name),
                type=value_kind.name,
            )
        return value_kind

    def _condition(self, key: str, value: Any) -> sa.ColumnElement[bool]:
        name, _, op = key.partition("__")
        op = op or "eq"
        if op not in OPERATORS:
            raise _refused(
                "operator",
                f"unknown operator {op!r} in {key!r}; use one of {', '.join(OPERATORS)}",
                op=op,
                key=key,
                known=", ".join(OPERATORS),
            )
        column = self._column(name)
        field = self.obj.fields.get(name)
        if op == "isnull":
            return column.is_(None) if value in (True, "true", "1", 1) else column.is_not(None)
        if op == "eq" and isinstance(value, str) and value in PERIODS and self._value_type(name) in PERIOD_TYPES:
            return self._period_condition(name, column, value)
        if field is not None and field.kind.list_valued and op in ("eq", "ne", "in", "not_in"):
            return self._list_condition(field, column, op, value)
        if op in ("in", "not_in"):
            items = value.split(",") if isinstance(value, str) else list(value)
            coerced = [self._value(field, name, item) for item in items]
            return column.in_(coerced) if op == "in" else column.not_in(coerced)
        if op in ("contains", "startswith"):
            return self._text_match(field, column, op, value)
        coerced = self._value(field, name, value)
        if coerced is None:
            return column.is_(None) if op == "eq" else column.is_not(None)
        if isinstance(coerced, bool) and op not in ("eq", "ne"):
            raise _refused(
                "boolean_op",
                f"{op} does not compare yes/no values; use eq or ne on {name}",
                op=op,
                field=self._called(name),
            )
        return _COMPARE[op](column, coerced)  # built for this operator only (``<`` on a boolean would not build)

    def _period_condition(self, name: str, column: sa.Column, period: str) -> sa.ColumnElement[bool]:
        """``start <= column < end`` for the relative range ``period`` on the company's today."""
        clock = self.session.clock()
        start, end = periods.period_range(period, clock.today())
        if self._value_type(name) == "datetime":
            return sa.and_(
                column >= periods.local_midnight(start, clock.timezone),
                column < periods.local_midnight(end, clock.timezone),
            )
        return sa.and_(column >= start, column < end)

    def _list_condition(self, field: FieldDef, column: sa.Column, op: str, value: Any) -> sa.ColumnElement[bool]:
        """On tags and multipicklists, ``eq``/``in`` mean "holds the value / any of the values"."""
        items = (
            value.split(",") if isinstance(value, str) else [value] if not isinstance(value, (list, tuple)) else value
        )
        dialect, sql = self.session.connection.dialect.name, fieldsql.for_field(field)
        holds = sa.or_(*(sql.holds(dialect, column, self._value(field, field.name, item)) for item in items))
        return holds if op in ("eq", "in") else sa.or_(column.is_(None), sa.not_(holds))

    def _value(self, field: FieldDef | None, name: str, value: Any) -> Any:
        if field is None:
            field = FieldDef(name=name, type=_SYSTEM_TYPES[name], label=Label.of(None, name))
        try:
            return coerce_value(filter_field(field), value, self.session.config.settings)
        except FieldValueError as exc:
            raise _refused(
                "value", f"filter on {name}: {exc.message}", field=self._called(name), problem=exc.message
            ) from None

    def _text_match(self, field: FieldDef | None, column: sa.Column, op: str, value: Any) -> sa.ColumnElement[bool]:
        if field is not None and field.kind.list_valued:
            item = self._value(field, field.name, value)
            return fieldsql.for_field(field).holds(self.session.connection.dialect.name, column, item)
        if field is None or not field.value_kind.text_match:
            kind = field.value_type if field else "system"
            raise _refused(
                "text_op",
                f"{op} applies to text fields; {column.name} is a {kind} field",
                op=op,
                field=self._called(column.name),
                type=kind,
            )
        pattern = _escape_like(str(value).replace("\x00", ""))
        pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
        return column.ilike(pattern, escape="\\")


#: The comparisons of ``Query.filter``, by operator.
_COMPARE: Mapping[str, Any] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _percent_of(value: Any) -> Decimal | None:
    """A sum of values times percentages, as an exact decimal of the values (SQLite answers floats)."""
    if value is None:
        return None
    return (value if isinstance(value, Decimal) else Decimal(str(value))) / 100


@dataclass(frozen=True)
class TextMatch:
    """A search's conditions (``text_condition``), as ``Query`` holds them: ``conditions`` decide
    on the rows; ``indexed`` narrows them through SQLite's search index; ``matched`` are the LIKEs
    that ``indexed`` decides exactly (``fulltext.decides``), left out while the index is used."""

    conditions: tuple[sa.ColumnElement[bool], ...] = ()
    indexed: tuple[sa.ColumnElement[bool], ...] = ()
    matched: tuple[sa.ColumnElement[bool], ...] = ()


def text_condition(
    table: sa.Table,
    obj: ObjectDef,
    dialect: str,
    matches: Mapping[str, Sequence[str]],
    index: str | None = None,
    bound: bool = False,
) -> TextMatch:
    """The conditions of ``Query.search`` for ``matches`` (``search_matches``) on ``dialect``,
    through SQLite's search index ``index`` when there is one (``fulltext.serving_index``).

    With ``bound``, each form's pattern is the bound parameter ``search_form_<n>`` and the
    index's MATCH text ``search_match`` (their values: ``text_parameters``): one statement then
    serves every text of the same ``text_shape`` (global search: ``engine.runtime.records.ranking``)."""
    forms = list(matches.items())
    patterns: list[Any] = [
        sa.bindparam(f"search_form_{n}", type_=sa.String()) if bound else f"%{_escape_like(form)}%"
        for n, (form, _) in enumerate(forms)
    ]
    columns = {name: table.c[name] for _, names in forms for name in names}
    if dialect != "postgresql":
        # SQLite's LIKE ignores the case of ASCII letters, as its lower() does (both know no
        # other letters): the same matches as lower(field) LIKE lower(pattern), at half the cost.
        like = sa.or_(
            *(
                columns[name].like(pattern, escape="\\")
                for pattern, (_, names) in zip(patterns, forms, strict=True)
                for name in names
            )
        )
        if index is None:
            return TextMatch(conditions=(like,))
        expression: str | sa.BindParameter[str] = (
            sa.bindparam("search_match", type_=sa.String()) if bound else fulltext.match_expression(matches) or ""
        )
        found = fulltext.candidates_in(table, index, expression)
        if fulltext.decides(matches):  # the MATCH finds exactly what the LIKE finds
            return TextMatch(indexed=(found,), matched=(like,))
        return TextMatch(conditions=(like,), indexed=(found,))
    searchable = [f.name for f in search_fields(obj)]
    alternatives = []
    for pattern, (form, names) in zip(patterns, forms, strict=True):
        document: sa.ColumnElement[bool] = search_document(table, searchable).like(sa.func.lower(pattern), escape="\\")
        if len(names) < len(searchable) or SEARCH_SEPARATOR in form:
            document = sa.and_(document, sa.or_(*(columns[n].ilike(pattern, escape="\\") for n in names)))
        alternatives.append(document)
    return TextMatch(conditions=(sa.or_(*alternatives),))


def text_shape(matches: Mapping[str, Sequence[str]]) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """What ``text_condition``'s statement depends on besides the table, the dialect and the
    index: per form of the text, the fields searched for it and whether it holds the search
    document's separator (its values are ``text_parameters``)."""
    return tuple((tuple(names), SEARCH_SEPARATOR in form) for form, names in matches.items())


def text_parameters(matches: Mapping[str, Sequence[str]], index: str | None = None) -> dict[str, str]:
    """The values of ``text_condition(..., bound=True)``'s parameters for ``matches``."""
    values = {f"search_form_{n}": f"%{_escape_like(form)}%" for n, form in enumerate(matches)}
    if index is not None:
        values["search_match"] = fulltext.match_expression(matches) or ""
    return values


def search_matches(principal: Principal, obj: ObjectDef, text: str, settings: Settings) -> dict[str, list[str]]:
    """What ``Query.search`` looks for: each form of ``text`` (the text itself first) → the
    fields, visible to ``principal``, that are searched for it (``tables.search_fields``:
    never an encrypted field, never a hidden one)."""
    visible = [f for f in search_fields(obj) if principal.can_see(obj.name, f.name)]
    matches: dict[str, list[str]] = {text: [f.name for f in visible]} if visible else {}
    for f in visible:
        forms = f.value_kind.search_forms
        for form in forms(text, settings) if forms is not None else ():
            names = matches.setdefault(form, [])
            if f.name not in names:
                names.append(f.name)
    return matches


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def format_title(obj: ObjectDef, values: Mapping[str, Any] | sa.RowMapping) -> str:
    """A record's title from the object's ``title`` template (empty parts stay empty)."""
    if obj.title:
        shown = {name: "" if values.get(name) is None else values.get(name) for name in obj.title_fields()}
        text = obj.title.format_map(shown).strip()
        if text:
            return text
    return f"{obj.label.get()} {values.get('id')}"


def lookup_titles(session: Session, obj: ObjectDef, table: sa.Table, ids: list[int]) -> dict[int, str]:
    """Titles of the records ``ids`` of ``obj`` that the caller may see a title of.

    A title is shown when the caller may read the record, or when one of their roles
    has ``lookup_titles: true``; then only the title's fields are read, never more,
    and hidden title fields stay empty.
    """
    principal = session.principal
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    readable = {
        r.id: format_title(obj, r) for r in Query(session, obj, table).include_archived().filter(id__in=wanted).all()
    }
    missing = [i for i in wanted if i not in readable]
    if missing and principal.lookup_titles:
        names = [
            n
            for n in obj.title_fields()
            if n in obj.fields and principal.can_see(obj.name, n) and not obj.fields[n].encrypted
        ]
        rows = session.connection.execute(
            sa.select(table.c.id, *(table.c[n] for n in names)).where(table.c.id.in_(missing))
        ).mappings()
        readable.update({row["id"]: format_title(obj, row) for row in rows})
    return readable


def _refused(code: str, english: str, /, **params: object) -> QueryError:
    """A QueryError saying ``english``, or ``query.<code>`` of the catalogue in the current language."""
    return QueryError.said(f"query.{code}", english, **params)
