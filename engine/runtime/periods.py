"""Calendar periods in the company time zone: relative date ranges and date buckets.

- ``period_range(name, today)``: the dates ``[start, end)`` a relative range
  (``engine.metadata.filters.PERIODS``: ``this_quarter``, ``last_30_days``…) covers on the
  company's ``today``; ``Query`` turns ``created_at=this_quarter`` into ``start <= created_at
  < end`` (for a datetime, local midnights as UTC moments), so lists and reports share it.
  Weeks start on Monday (ISO 8601); ``last_7_days`` is today and the six days before.
- ``bucket_sql(column, unit, …)``: the SQL expression of the first day of the bucket
  (``day``, ``week``, ``month``, ``quarter``, ``year``) a date or moment falls in, the moment
  read in the company time zone — ``date_trunc`` over ``timezone(zone, column)`` on PostgreSQL,
  the ``trellis_bucket`` function (``register_sqlite``, Python's ``zoneinfo``) on SQLite —
  so both databases count a record at 2026-03-31T17:00Z in April in Asia/Shanghai.
- ``bucket_range(start, unit)``: the dates ``[start, end)`` of a bucket (its drill-down filter).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

#: SQLite's name of the bucket function.
SQLITE_FUNCTION = "trellis_bucket"


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def bucket_start(day: dt.date, unit: str) -> dt.date:
    """The first day of the ``unit`` (day, week, month, quarter, year) holding ``day``."""
    if unit == "day":
        return day
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return _quarter_start(day)
    if unit == "year":
        return dt.date(day.year, 1, 1)
    raise ValueError(f"unknown date bucket {unit!r}")


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def bucket_range(start: dt.date, unit: str) -> tuple[dt.date, dt.date]:
    """The dates ``[start, end)`` of the bucket beginning on ``start``."""
    start = bucket_start(start, unit)
    if unit == "day":
        return start, start + dt.timedelta(days=1)
    if unit == "week":
        return start, start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    return start, _add_months(start, months)


def period_range(name: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The dates ``[start, end)`` of the relative range ``name`` on ``today``."""
    if name.startswith("last_") and name.endswith("_days"):
        days = int(name.split("_")[1])
        return today - dt.timedelta(days=days - 1), today + dt.timedelta(days=1)
    if name in ("today", "yesterday"):
        day = today if name == "today" else today - dt.timedelta(days=1)
        return day, day + dt.timedelta(days=1)
    which, _, unit = name.partition("_")
    start, end = bucket_range(today, unit)
    if which == "last":
        previous = start - dt.timedelta(days=1)
        return bucket_range(previous, unit)
    return start, end


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC moment at which ``day`` begins in ``zone``."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def bucket_sql(column: sa.ColumnElement[Any], unit: str, value_type: str, dialect: str, zone: str) -> sa.ColumnElement:
    """The first day of the bucket ``column`` falls in (a date), counted in ``zone``."""
    if dialect == "postgresql":
        local = sa.func.timezone(zone, column) if value_type == "datetime" else column
        return sa.cast(sa.func.date_trunc(unit, local), sa.Date)
    return sa.func.trellis_bucket(column, unit, zone if value_type == "datetime" else "")


def as_date(value: Any) -> dt.date | None:
    """A bucket's start as the database returned it (a date, or ISO text on SQLite)."""
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _sqlite_bucket(value: str | None, unit: str, zone: str) -> str | None:
    """``trellis_bucket`` for SQLite: ``value`` is a date (``zone`` empty) or a UTC moment as
    SQLite stores it (``2026-03-31 17:00:00.000000``)."""
    if value is None:
        return None
    try:
        if zone:
            moment = dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)
            day = moment.astimezone(_zone(zone)).date()
        else:
            day = dt.date.fromisoformat(str(value)[:10])
        return bucket_start(day, unit).isoformat()
    except ValueError:
        return None


def register_sqlite(connection: sqlite3.Connection) -> None:
    """Give a SQLite connection the ``trellis_bucket(value, unit, zone)`` function."""
    connection.create_function(SQLITE_FUNCTION, 3, _sqlite_bucket, deterministic=True)
