"""Ask Alembic how the live database differs from a schema, and classify column types.

Only the tables Trellis owns (``obj_*``, ``sys_*``) are compared, without the
PostgreSQL search indexes: Alembic cannot compare their expression reliably,
so ``search`` keeps them by name instead. Types are
reduced to coarse storage kinds so that the planner can tell a lossless
conversion (a widening, or anything to text) from one that loses values.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import ops as alembic_ops

from engine.runtime.tables import OWNED_PREFIXES, SEARCH_INDEX_PATTERN

# --- comparison --------------------------------------------------------------------------


def _owned(name: str | None) -> bool:
    return name is not None and name != "" and name.startswith(OWNED_PREFIXES)


def _search_index(name: str | None) -> bool:
    return name is not None and name != "" and re.match(SEARCH_INDEX_PATTERN, name) is not None


def _include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic hook: look only at the tables Trellis owns, and not at search indexes."""
    if type_ == "index":
        return not _search_index(name)
    return type_ != "table" or _owned(name)


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic hook: look only at the tables Trellis owns, and not at search indexes."""
    if type_ == "index":
        return not _search_index(name)
    return type_ != "table" or _owned(name)


def _context(conn: sa.Connection) -> MigrationContext:
    return MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "include_name": _include_name,
            "include_object": _include_object,
            "render_as_batch": True,
        },
    )


@contextmanager
def _cycles_allowed() -> Iterator[None]:
    """Silence SQLAlchemy's warning about foreign-key cycles: mutual lookups are normal in a CRM."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Can(not correctly|'t) sort tables", sa.exc.SAWarning)
        yield


def _compare(conn: sa.Connection, metadata: sa.MetaData) -> list[alembic_ops.MigrateOperation]:
    """Alembic's operations turning the live database into ``metadata``."""
    with _cycles_allowed():
        script = produce_migrations(_context(conn), metadata)
    assert script.upgrade_ops is not None, "produce_migrations always fills the upgrade"
    return list(script.upgrade_ops.ops)


# --- types -------------------------------------------------------------------------------

_WIDENINGS = frozenset({("integer", "numeric"), ("date", "datetime"), ("string", "text")})


def _resolve(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> sa.types.TypeEngine:
    """The concrete type on ``dialect``: variants picked, TypeDecorators unwrapped."""
    variant = getattr(type_, "_variant_mapping", {}).get(dialect.name)
    if variant is not None:
        type_ = variant
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.load_dialect_impl(dialect)
    return type_


def _kind(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    """A coarse storage kind: string, text, integer, numeric, boolean, date, datetime, json."""
    type_ = _resolve(type_, dialect)
    for kind, classes in (
        ("json", sa.JSON),
        ("text", (sa.Text, sa.CLOB)),
        ("string", sa.String),
        ("integer", sa.Integer),
        ("numeric", sa.Numeric),
        ("boolean", sa.Boolean),
        ("datetime", sa.DateTime),
        ("date", sa.Date),
    ):
        if isinstance(type_, classes):
            return kind
    return "other"


def _compatible(old: str, new: str) -> bool:
    """Whether values convert without loss from kind ``old`` to kind ``new``."""
    return old == new or new in ("text", "string") or (old, new) in _WIDENINGS


def _sql_type(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    return type_.compile(dialect=dialect)
