"""The database side of the field type registry: per field type, its SQL parts.

``engine.metadata.fieldtypes.REGISTRY`` knows each type without SQLAlchemy; here each
of its ``FieldType`` objects gets its ``FieldSQL``: the column type that stores it, how
a filter tests that a column *holds* a value (equality; any element of a JSON list) and
how an aggregate reads back as Python. ``tables.py`` builds columns with it and
``records/query.py`` filters and aggregates with it; ``tests/metadata/test_fieldtype_registry.py``
fails when a registered type has no entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from engine.metadata.fieldtypes import DECIMAL_PRECISION, REGISTRY, FieldType, decimal_scale
from engine.metadata.model import FieldDef


class UTCDateTime(sa.types.TypeDecorator):
    """Timestamps stored in UTC and always returned timezone-aware (UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def json_type() -> sa.types.TypeEngine:
    """JSON everywhere, JSONB on PostgreSQL; an empty value is SQL NULL, not JSON null."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def id_type() -> sa.types.TypeEngine:
    """64-bit ids; plain INTEGER on SQLite so that ids auto-increment there."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


Holds = Callable[[str, sa.ColumnElement[Any], Any], sa.ColumnElement[bool]]


@dataclass(frozen=True)
class FieldSQL:
    """What the database side knows about one field type."""

    #: The SQL type of the field's column (not encrypted; ``column_type`` handles that).
    column_type: Callable[[FieldDef], sa.types.TypeEngine]
    #: ``(dialect name, column, value)`` → the condition "the column holds the value".
    holds: Holds
    #: ``(aggregate, value the database returned)`` → the aggregate as Python.
    aggregate: Callable[[str, Any], Any]


def _equals(dialect: str, column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return column == value


def _has_item(dialect: str, column: sa.ColumnElement[Any], item: Any) -> sa.ColumnElement[bool]:
    """A JSON list holds ``item``: ``@>`` on PostgreSQL (the GIN-indexable form), ``json_each`` on SQLite."""
    if dialect == "postgresql":
        # The column's type is JSON with a JSONB variant; its comparator is JSON's (LIKE), so coerce to JSONB for @>.
        return sa.type_coerce(column, JSONB()).contains([item])
    each = sa.func.json_each(column).table_valued("value").alias("each_item")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == item))


def _as_read(kind: str, value: Any) -> Any:
    """Dates and moments as the column reads them."""
    return value


def _whole(kind: str, value: Any) -> Any:
    """Integer sums and extremes as int; averages as exact decimals."""
    if value is None:
        return None
    return int(value) if kind != "avg" else _exact(kind, value)


def _exact(kind: str, value: Any) -> Any:
    """Exact decimals (SQLite answers floats)."""
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _string(field: FieldDef) -> sa.types.TypeEngine:
    return sa.String(field.max_length or field.kind.string_length or field.value_kind.string_length or 255)


#: Per storage kind of the registry: the column type and how an aggregate reads back.
STORAGE: dict[str, tuple[Callable[[FieldDef], sa.types.TypeEngine], Callable[[str, Any], Any]]] = {
    "string": (_string, _exact),
    "text": (lambda f: sa.Text(), _exact),
    "integer": (lambda f: sa.BigInteger(), _whole),
    "decimal": (lambda f: sa.Numeric(DECIMAL_PRECISION, decimal_scale(f), asdecimal=True), _exact),
    "boolean": (lambda f: sa.Boolean(create_constraint=False), _exact),
    "date": (lambda f: sa.Date(), _as_read),
    "datetime": (lambda f: UTCDateTime(), _as_read),
    "json": (lambda f: json_type(), _exact),
    "reference": (lambda f: id_type(), _whole),
    "user": (lambda f: id_type(), _whole),
}


def _sql(kind: FieldType) -> FieldSQL:
    if kind.storage == "computed":  # a formula: its result type's parts (``for_field``)
        return FieldSQL(lambda f: for_field(f).column_type(f), _equals, _exact)
    column, aggregate = STORAGE[kind.storage]
    return FieldSQL(column, _has_item if kind.list_valued else _equals, aggregate)


#: The SQL parts of every registered field type, keyed by the registry's type objects.
SQL: dict[FieldType, FieldSQL] = {kind: _sql(kind) for kind in REGISTRY.values()}


def for_field(field: FieldDef) -> FieldSQL:
    """The SQL parts of ``field``'s stored value (a formula's result type)."""
    return SQL[field.value_kind]


def column_type(field: FieldDef) -> sa.types.TypeEngine:
    """The SQL type storing ``field`` (a formula stores its result type; an encrypted field its ciphertext)."""
    if field.encrypted:
        return sa.Text()  # the ciphertext (Fernet token) of the value
    return for_field(field).column_type(field)
