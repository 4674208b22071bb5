"""The one read path: a small, immutable query builder over one object.

Lists, record pages, the API, exports, reports and search all build their
SELECTs here, so that the caller's record scope (as SQL) and hidden fields
are applied in exactly one place: a query never selects a hidden column, and
a filter or sort on one is refused as if the field did not exist. Filters are keyword arguments ``field__op=value``
whose values are coerced by the field's type, so ``amount__gte="1000"`` and
``close_date__lt="2026-01-01"`` mean what they say.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from engine.metadata.fieldtypes import FieldValueError, coerce_value
from engine.metadata.model import FieldDef, Label, ObjectDef
from engine.runtime import crypto
from engine.runtime.errors import QueryError
from engine.runtime.record import Record

if TYPE_CHECKING:
    from engine.runtime.records import Session

#: Filter operators and what they mean.
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "startswith", "isnull")
#: Field types stored as JSON lists: filters match any element.
LIST_TYPES = ("multipicklist", "tags")
#: Largest page a caller may ask for.
MAX_PER_PAGE = 500
_SYSTEM_FILTERABLE = ("id", "created_at", "updated_at", "created_by", "owner_id", "version", "archived_at", "stage_entered_at")
#: How filter values on system columns are coerced (as a field of this type).
_SYSTEM_TYPES = {"id": "integer", "created_by": "user", "owner_id": "user", "version": "integer",
                 "created_at": "datetime", "updated_at": "datetime", "archived_at": "datetime",
                 "stage_entered_at": "datetime"}
#: Types whose stored value is text, so that ``contains`` and ``startswith`` apply.
_TEXT_MATCH_TYPES = frozenset({"text", "textarea", "email", "phone", "url", "picklist", "autonumber"})


@dataclass(frozen=True)
class Page:
    """One page of results with what a pager needs."""

    items: list[Record]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1)."""
        return max(1, -(-self.total // self.per_page))

    def __iter__(self) -> Iterator[Record]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def row_to_record(obj: ObjectDef, row: Mapping[str, Any]) -> Record:
    """Turn a result row into a Record, decrypting encrypted fields."""
    values = dict(row)
    for name in encrypted_fields(obj):
        if name in values:
            values[name] = crypto.decrypt(values[name])
    return Record(obj.name, values)


def encrypted_fields(obj: ObjectDef) -> list[str]:
    """Names of the object's fields stored encrypted."""
    return [f.name for f in obj.fields.values() if f.encrypted]


@dataclass(frozen=True)
class Query:
    """A query over one object; each method returns a new, refined query."""

    session: Session
    obj: ObjectDef
    table: sa.Table
    conditions: tuple[sa.ColumnElement[bool], ...] = ()
    ordering: tuple[sa.ColumnElement[Any], ...] = ()
    archived: bool = False

    def filter(self, **conditions: Any) -> Query:
        """Keep records matching every ``field__op=value`` (op defaults to ``eq``)."""
        clauses = tuple(self._condition(key, value) for key, value in conditions.items())
        return replace(self, conditions=self.conditions + clauses)

    def search(self, text: str) -> Query:
        """Keep records where any text-like field contains ``text`` (case-insensitive)."""
        text = (text or "").replace("\x00", "").strip()
        if not text:
            return self
        principal = self.session.principal
        columns = [self.table.c[f.name] for f in self.obj.fields.values()
                   if f.type in ("text", "textarea", "email", "phone", "url", "autonumber")
                   and not f.encrypted and principal.can_see(self.obj.name, f.name)]
        if not columns:
            return self
        pattern = f"%{_escape_like(text)}%"
        return replace(self, conditions=(*self.conditions, sa.or_(*(c.ilike(pattern, escape="\\") for c in columns))))

    def order_by(self, *fields: str) -> Query:
        """Sort by fields; ``-name`` sorts descending; empty values come last. The id breaks ties."""
        ordering = []
        for spec in fields:
            name = spec.lstrip("-+")
            column = self._column(name)
            # Empty values sort last in both directions, on every database.
            ordering.append(column.desc().nulls_last() if spec.startswith("-") else column.asc().nulls_last())
        return replace(self, ordering=tuple(ordering))

    def include_archived(self) -> Query:
        """Also return archived records (hidden by default)."""
        return replace(self, archived=True)

    # --- execution -------------------------------------------------------------
    def statement(self) -> sa.Select:
        """The SELECT this query runs (without paging)."""
        statement = sa.select(*self.visible_columns())
        scope = self.session.principal.scope(self.obj.name, "read", self.table.c.owner_id)
        if scope is not None:
            statement = statement.where(scope)
        if not self.archived:
            statement = statement.where(self.table.c.archived_at.is_(None))
        if self.conditions:
            statement = statement.where(*self.conditions)
        return statement.order_by(*self.ordering, self.table.c.id.asc())

    def visible_columns(self) -> list[sa.Column]:
        """The system columns and the fields the caller may see."""
        principal = self.session.principal
        return [c for c in self.table.c if c.name not in self.obj.fields or principal.can_see(self.obj.name, c.name)]

    def all(self) -> list[Record]:
        """Every matching record."""
        rows = self.session.connection.execute(self.statement()).mappings()
        return [row_to_record(self.obj, row) for row in rows]

    def __iter__(self) -> Iterator[Record]:
        return iter(self.all())

    def first(self) -> Record | None:
        """The first matching record, or None."""
        row = self.session.connection.execute(self.statement().limit(1)).mappings().first()
        return None if row is None else row_to_record(self.obj, row)

    def count(self) -> int:
        """How many records match."""
        inner = self.statement().order_by(None).with_only_columns(self.table.c.id).subquery()
        return self.session.connection.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one()

    def page(self, number: int = 1, per_page: int = 50) -> Page:
        """Page ``number`` (1-based) of ``per_page`` records (at most MAX_PER_PAGE)."""
        if number < 1:
            raise QueryError("page numbers start at 1")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        rows = self.session.connection.execute(
            self.statement().limit(per_page).offset((number - 1) * per_page)
        ).mappings()
        items = [row_to_record(self.obj, row) for row in rows]
        return Page(items=items, total=self.count(), page=number, per_page=per_page)

    # --- building conditions -----------------------------------------------------
    def _column(self, name: str) -> sa.Column:
        field = self.obj.fields.get(name)
        if field is not None and self.session.principal.can_see(self.obj.name, name):
            if field.encrypted:
                raise QueryError(f"{name} is stored encrypted; it cannot be filtered or sorted on")
            return self.table.c[name]
        if field is None and name in _SYSTEM_FILTERABLE and name in self.table.c:
            return self.table.c[name]
        raise QueryError(f"{self.obj.name} has no field {name!r}")

    def _condition(self, key: str, value: Any) -> sa.ColumnElement[bool]:
        name, _, op = key.partition("__")
        op = op or "eq"
        if op not in OPERATORS:
            raise QueryError(f"unknown operator {op!r} in {key!r}; use one of {', '.join(OPERATORS)}")
        column = self._column(name)
        field = self.obj.fields.get(name)
        if op == "isnull":
            return column.is_(None) if value in (True, "true", "1", 1) else column.is_not(None)
        if field is not None and field.type in LIST_TYPES and op in ("eq", "ne", "in", "not_in"):
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
        return {
            "eq": column == coerced, "ne": column != coerced, "lt": column < coerced,
            "lte": column <= coerced, "gt": column > coerced, "gte": column >= coerced,
        }[op]

    def _list_condition(self, field: FieldDef, column: sa.Column, op: str, value: Any) -> sa.ColumnElement[bool]:
        """On tags and multipicklists, ``eq``/``in`` mean "holds the value / any of the values"."""
        items = value.split(",") if isinstance(value, str) else [value] if not isinstance(value, (list, tuple)) else value
        dialect = self.session.connection.dialect.name
        holds = sa.or_(*(_json_list_contains(dialect, column, self._value(field, field.name, item)) for item in items))
        return holds if op in ("eq", "in") else sa.or_(column.is_(None), sa.not_(holds))

    def _value(self, field: FieldDef | None, name: str, value: Any) -> Any:
        if field is None:
            field = FieldDef(name=name, type=_SYSTEM_TYPES[name], label=Label.of(None, name))
        if field.is_computed:
            field = replace(field, type=field.value_type if field.type == "formula" else "text")
        if field.type in ("multipicklist", "tags"):
            field = replace(field, type="picklist" if field.picklist else "text")
        try:
            return coerce_value(field, value, self.session.config.settings)
        except FieldValueError as exc:
            raise QueryError(f"filter on {name}: {exc.message}") from None

    def _text_match(self, field: FieldDef | None, column: sa.Column, op: str, value: Any) -> sa.ColumnElement[bool]:
        if field is not None and field.type in ("multipicklist", "tags"):
            return _json_list_contains(self.session.connection.dialect.name, column, self._value(field, field.name, value))
        if field is None or field.value_type not in _TEXT_MATCH_TYPES:
            kind = field.value_type if field else "system"
            raise QueryError(f"{op} applies to text fields; {column.name} is a {kind} field")
        pattern = _escape_like(str(value).replace("\x00", ""))
        pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
        return column.ilike(pattern, escape="\\")


def _json_list_contains(dialect: str, column: sa.Column, item: Any) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        # The column's type is JSON with a JSONB variant; its comparator is JSON's (LIKE), so coerce to JSONB for @>.
        return sa.type_coerce(column, JSONB()).contains([item])
    each = sa.func.json_each(column).table_valued("value").alias("each_item")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == item))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def format_title(obj: ObjectDef, values: Mapping[str, Any]) -> str:
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
    readable = {r.id: format_title(obj, r) for r in Query(session, obj, table).include_archived().filter(id__in=wanted).all()}
    missing = [i for i in wanted if i not in readable]
    if missing and principal.lookup_titles:
        names = [n for n in obj.title_fields() if n in obj.fields and principal.can_see(obj.name, n)
                 and not obj.fields[n].encrypted]
        rows = session.connection.execute(
            sa.select(table.c.id, *(table.c[n] for n in names)).where(table.c.id.in_(missing))).mappings()
        readable.update({row["id"]: format_title(obj, row) for row in rows})
    return readable
