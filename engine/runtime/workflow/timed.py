"""When time-based rules are due: one definition that the worker sweeps by and dry runs show.

A ``schedule`` rule is due once per record and *occurrence*: the value of its ``from``
field (a date counts from the start of that day in the company time zone), or for
``yearly`` rules each anniversary of it (a 29 February on 28 February in other years).
``DueRange`` holds the occurrences whose due moment lies in a range: the SQL that finds
their records, and per record the run key and due moment. The worker
(``engine.runtime.jobs.worker``) fires those due up to now; ``trellis automation
simulate`` lists those in a window, or tells whether one record is due.

A ``cron`` rule is due at the latest time of its expression at or before now, unless
that lies more than ``CRON_LOOKBACK`` back (``CronTime``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from engine.metadata.model import Automation

#: How far back a cron time may lie and still fire.
CRON_LOOKBACK = dt.timedelta(days=1)
#: A yearly rule's default ``window``.
YEARLY_WINDOW = 86400
_DATETIME_TEXT = "%Y-%m-%d %H:%M:%S.%f"


# --- schedule rules -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DueRange:
    """The occurrences of the schedule ``rule`` due between ``low`` and ``high`` (``low`` None:
    any time up to ``high``; for a yearly rule, its ``window`` — default a day — up to ``high``).

    ``moments``: when the month and day of a date-time are computed in SQL on SQLite, the
    time zone's offsets at these moments are used (default ``high``); the record's run key
    (``key``) then decides exactly."""

    rule: Automation
    table: sa.Table
    zone: dt.tzinfo
    dialect: str
    high: dt.datetime
    low: dt.datetime | None = None
    moments: Sequence[dt.datetime] = ()

    @property
    def column(self) -> sa.Column:
        """The ``from`` field's column."""
        return self.table.c[self.rule.trigger.from_field or ""]

    @property
    def offset(self) -> dt.timedelta:
        """How long after (negative: before) its ``from`` value an occurrence is due."""
        return dt.timedelta(seconds=self.rule.trigger.offset_seconds)

    @cached_property
    def days(self) -> dict[str, dt.date]:
        """A yearly rule's anniversaries due in the range, by ``MM-DD``."""
        trigger = self.rule.trigger
        window = dt.timedelta(seconds=trigger.window_seconds or YEARLY_WINDOW)
        low = self.low if self.low is not None else self.high - window
        return anniversary_days(low - self.offset, self.high - self.offset, self.zone)

    @property
    def empty(self) -> bool:
        """Whether no occurrence can lie in the range (a yearly rule without an anniversary in it)."""
        return self.rule.trigger.yearly and not self.days

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """SQL on the object's table: the records with an occurrence due in the range."""
        column = self.column
        if self.rule.trigger.yearly:
            month_days = [day.in_(sorted(self.days)) for day in self._month_days()]
            conditions = [column.is_not(None), sa.or_(*month_days) if len(month_days) > 1 else month_days[0]]
            if isinstance(column.type, sa.Date):
                conditions.append(column <= max(self.days.values()))
            return conditions
        conditions = [column.is_not(None), column <= bound(column, self.high - self.offset, self.zone, upper=True)]
        if self.low is not None:
            conditions.append(column >= bound(column, self.low - self.offset, self.zone, upper=False))
        return conditions

    def key_sql(self) -> sa.ColumnElement[str]:
        """The run key of a record's occurrence, in SQL (what ``key`` computes in Python)."""
        if self.rule.trigger.yearly:
            day = sa.case({md: d.isoformat() for md, d in self.days.items()}, value=self._month_days()[0], else_="")
            return record_key_sql(self.rule.name, self.table) + day
        return record_key_sql(self.rule.name, self.table) + occurrence_sql(self.column, self.dialect)

    def occurrence(self, values: Mapping[str, Any]) -> tuple[str, dt.datetime] | None:
        """The run key and due moment of the record's occurrence; None when its ``from`` is empty,
        or (yearly) no anniversary of it lies in the range."""
        value = values.get(self.rule.trigger.from_field or "")
        if value is None:
            return None
        if not self.rule.trigger.yearly:
            return f"{self.rule.name}|{values['id']}|{occurrence(value)}", moment(value, self.zone) + self.offset
        local = local_date(value, self.zone)
        day = self.days.get(local.strftime("%m-%d"))
        if day is None or local > day:  # another day's (a time zone edge), or before the date itself
            return None
        return f"{self.rule.name}|{values['id']}|{day.isoformat()}", start_of(day, self.zone) + self.offset

    def key(self, values: Mapping[str, Any]) -> str | None:
        """The run key of the record's occurrence in the range, or None."""
        found = self.occurrence(values)
        return found[0] if found is not None else None

    def _month_days(self) -> list[sa.ColumnElement[str]]:
        moments = self.moments or (self.high,)
        offsets = dict.fromkeys(m.astimezone(self.zone).utcoffset() for m in moments)
        return [month_day_sql(self.column, self.dialect, self.zone, offset) for offset in offsets]


def anniversary_days(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> dict[str, dt.date]:
    """The days whose start (in ``zone``) lies in ``[start, end]``, by ``MM-DD``; in a year
    without 29 February, ``02-29`` maps to the 28th. At most a year of days."""
    days: dict[str, dt.date] = {}
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last and len(days) < 366:
        if start <= dt.datetime.combine(day, dt.time(), zone) <= end:
            days[day.strftime("%m-%d")] = day
            if day.month == 2 and day.day == 28 and not _leap(day.year):
                days["02-29"] = day
        day += dt.timedelta(days=1)
    return days


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def occurrence(value: dt.datetime | dt.date) -> str:
    """The text of a ``from`` value in run keys: ``YYYY-MM-DD`` or UTC ``YYYY-MM-DD HH:MM:SS.ffffff``
    (what ``occurrence_sql`` computes in the database)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime(_DATETIME_TEXT)
    return value.isoformat()


def occurrence_sql(column: sa.Column, dialect: str) -> sa.ColumnElement[str]:
    """``occurrence`` of the column's value, in SQL."""
    if dialect == "postgresql":
        if isinstance(column.type, sa.Date):
            return sa.func.to_char(column, "YYYY-MM-DD", type_=sa.String)
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS.US", type_=sa.String)
    return sa.cast(column, sa.String)  # SQLite stores both as this text already (UTC for date-times)


def record_key_sql(rule: str, table: sa.Table) -> sa.ColumnElement[str]:
    """``<rule>|<id>|`` in SQL: the start of a record's run key."""
    return sa.literal(f"{rule}|", sa.String) + sa.cast(table.c.id, sa.String) + sa.literal("|", sa.String)


def month_day_sql(
    column: sa.Column, dialect: str, zone: dt.tzinfo, offset: dt.timedelta | None
) -> sa.ColumnElement[str]:
    """``MM-DD`` of a date, or of a date-time in ``zone`` (on SQLite with the zone's ``offset``)."""
    if isinstance(column.type, sa.Date):
        if dialect == "postgresql":
            return sa.func.to_char(column, "MM-DD", type_=sa.String)
        return sa.func.strftime("%m-%d", column, type_=sa.String)
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone(str(zone), column), "MM-DD", type_=sa.String)
    seconds = int((offset or dt.timedelta()).total_seconds())
    return sa.func.strftime("%m-%d", column, f"{seconds:+d} seconds", type_=sa.String)


def bound(column: sa.Column, when: dt.datetime, zone: dt.tzinfo, upper: bool) -> dt.date | dt.datetime:
    """The column value matching ``when``: itself, or for a date column the last (``upper``)
    or first day whose start in ``zone`` is at or before / at or after it."""
    if not isinstance(column.type, sa.Date):
        return when
    local = when.astimezone(zone)
    if upper or local.time() == dt.time():
        return local.date()
    return local.date() + dt.timedelta(days=1)


# --- cron rules ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CronTime:
    """The cron time of ``rule`` that is due at ``at`` (in ``zone``) and its run keys."""

    rule: Automation
    at: dt.datetime
    zone: dt.tzinfo

    @cached_property
    def fire(self) -> dt.datetime:
        """The latest time of the expression at or before ``at``."""
        return cron_time(self.rule.trigger.cron or "", self.at, self.zone)

    @property
    def stale(self) -> bool:
        """Whether that time lies too far back to fire (``CRON_LOOKBACK``)."""
        return self.at - self.fire > CRON_LOOKBACK

    @property
    def key(self) -> str:
        """The run key of the time (the rule's run without an object, or the time's marker run)."""
        return f"{self.rule.name}|cron|{self.fire.isoformat()}"

    def record_key(self, record_id: Any) -> str:
        """The run key of the time for one record."""
        return f"{self.key}|{record_id}"


def cron_time(expression: str, at: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The latest time of the cron ``expression`` (read in ``zone``) at or before ``at``."""
    from croniter import croniter

    local = at.astimezone(zone)
    fire = croniter(expression, local + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    return fire if fire <= local else croniter(expression, local).get_prev(dt.datetime)


def cron_times(expression: str, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo, most: int) -> list[dt.datetime]:
    """The times of the cron ``expression`` in ``[start, end]`` (at most ``most``), in UTC."""
    from croniter import croniter

    times: list[dt.datetime] = []
    walker = croniter(expression, start.astimezone(zone) - dt.timedelta(microseconds=1))
    while len(times) < most:
        when = walker.get_next(dt.datetime)
        if when > end:
            break
        times.append(when.astimezone(dt.UTC))
    return times


# --- moments --------------------------------------------------------------------------------------------
def moment(value: dt.date | dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A date-time as it is (UTC), a date as the start of that day in ``zone``."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return start_of(value, zone)


def start_of(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The start of ``day`` in ``zone``, in UTC."""
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def local_date(value: dt.date | dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The day of ``value`` in ``zone`` (a date is its own day)."""
    if isinstance(value, dt.datetime):
        return moment(value, zone).astimezone(zone).date()
    return value
