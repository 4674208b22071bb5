"""Count the rows and values a change concerns, and say how many in words.

The data checks use these small queries on table clauses (no config needed),
so that they also work on columns the config no longer describes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def _filled(column: Any, kind: str) -> sa.ColumnElement[bool]:
    """``column`` holds a value (JSON ``null`` counts as empty)."""
    if kind == "json":
        return sa.and_(column.isnot(None), sa.cast(column, sa.Text) != "null")
    return column.isnot(None)


def _empty(column: Any, kind: str) -> sa.ColumnElement[bool]:
    return sa.not_(_filled(column, kind)) if kind == "json" else column.is_(None)


def _count(
    conn: sa.Connection, table: str, where: Callable[[Any], Any] | None = None, column: str | None = None
) -> int:
    """Rows of ``table`` (matching ``where(column)`` when given)."""
    clause = _table(table, *([column] if column else []))
    query = sa.select(sa.func.count()).select_from(clause)
    if where is not None:
        assert column is not None, "a condition is on a column"
        query = query.where(where(clause.c[column]))
    return int(conn.execute(query).scalar_one())


def _like_key(column: Any, key: str) -> sa.ColumnElement[bool]:
    """A JSON list in ``column`` contains the string ``key`` (keys are identifiers)."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(column, sa.Text).like(f'%"{escaped}"%', escape="\\")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
