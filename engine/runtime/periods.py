"""Calendar periods in the company time zone: relative date ranges and date buckets.

- ``period_range(name, today)``: the dates ``[start, end)`` a relative range
  (``engine.metadata.filters.PERIODS``: ``this_quarter``, ``last_30_days``…) covers on the
  company's ``today``; ``Query`` turns ``created_at=this_quarter`` into ``start <= created_at
  < end`` (for a datetime, local midnights as UTC moments), so lists and reports share it.
  Weeks start on Monday (ISO 8601); ``last_7_days`` is today and the six days before.
- ``bucket_sql(column, unit, …)``: the SQL expression of the first day of the bucket
  (``day``, ``week``, ``month``, ``quarter``, ``year``) a date or moment falls in, the moment
  read in the company time zone — ``date_trunc`` over ``timezone(zone, column)`` on PostgreSQL;
  on SQLite its date functions over the moment shifted by the zone's offset at that moment
  (``utc_offsets``: when the offset changes, from Python's ``zoneinfo``, as a tree of CASEs)
  — so both databases count a record at 2026-03-31T17:00Z in April in Asia/Shanghai.
- ``bucket_range(start, unit)``: the dates ``[start, end)`` of a bucket (its drill-down filter).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa


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
    """The first day of the bucket ``column`` falls in (a date; ISO text on SQLite), counted in ``zone``."""
    local: sa.ColumnElement[Any] = column
    if dialect == "postgresql":
        if value_type == "datetime":
            local = sa.func.timezone(zone, column)
        return sa.cast(sa.func.date_trunc(unit, local), sa.Date)
    if value_type == "datetime":  # SQLite stores UTC moments as text: shift each by its zone's offset
        local = sa.func.datetime(column, _sqlite_offset(column, *utc_offsets(zone)))
    return _SQLITE_BUCKETS[unit](local)


def _sqlite_quarter(local: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    month = sa.func.strftime("%m", local)
    first = sa.case((month <= "03", "01"), (month <= "06", "04"), (month <= "09", "07"), else_="10")
    return sa.func.strftime("%Y", local) + "-" + first + "-01"


#: SQLite: the first day of each bucket of a local date or moment (text), with its date functions.
_SQLITE_BUCKETS = {
    "day": lambda local: sa.func.date(local),
    "week": lambda local: sa.func.date(local, "-6 days", "weekday 1"),  # the Monday on or before
    "month": lambda local: sa.func.strftime("%Y-%m-01", local),
    "quarter": _sqlite_quarter,
    "year": lambda local: sa.func.strftime("%Y-01-01", local),
}
#: The years whose changes of UTC offset SQLite's buckets know (before and after: the nearest offset).
OFFSET_YEARS = (1970, 2070)


@lru_cache(maxsize=32)
def utc_offsets(zone: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """When ``zone``'s UTC offset changes within ``OFFSET_YEARS``: the moments (UTC, as SQLite
    stores them) and the offsets in minutes before, between and after them (one more)."""
    tz = ZoneInfo(zone)
    start = dt.datetime(OFFSET_YEARS[0], 1, 1, tzinfo=dt.UTC)
    days = (dt.datetime(OFFSET_YEARS[1], 1, 1, tzinfo=dt.UTC) - start).days

    def offset(minute: int) -> int:
        moment = start + dt.timedelta(minutes=minute)
        return int(moment.astimezone(tz).utcoffset().total_seconds() // 60)  # type: ignore[union-attr]

    offsets, moments = [offset(0)], []
    for week in range(0, days, 7):  # a week at a time; the days of a week whose offset changed
        if offset(min(week + 7, days) * 1440) == offsets[-1]:
            continue
        for day in range(week, min(week + 7, days)):
            low, high = day * 1440, (day + 1) * 1440
            if offset(high) == offsets[-1]:
                continue
            while high - low > 1:  # the first minute of the new offset
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == offsets[-1] else (low, middle)
            moments.append((start + dt.timedelta(minutes=high)).strftime("%Y-%m-%d %H:%M:%S"))
            offsets.append(offset(high))
    return tuple(moments), tuple(offsets)


def _sqlite_offset(column: sa.ColumnElement[Any], moments: tuple[str, ...], offsets: tuple[int, ...]) -> Any:
    """The SQLite date modifier (``'+480 minutes'``) of the offset in force at ``column``: a
    binary tree of CASEs over the moments the offset changes (a handful of comparisons a row)."""
    if not moments:
        return sa.literal(f"{offsets[0]:+d} minutes")
    middle = len(moments) // 2
    return sa.case(
        (
            sa.type_coerce(column, sa.String()) < moments[middle],
            _sqlite_offset(column, moments[:middle], offsets[: middle + 1]),
        ),
        else_=_sqlite_offset(column, moments[middle + 1 :], offsets[middle + 1 :]),
    )


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
