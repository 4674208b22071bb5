"""When an e-mail subscription is due (issue 15 §4, S45): ``daily``, ``weekly`` or ``monthly``
at a local time of the company time zone.

A schedule is written as one key and its value, in the config
(``schedule: {weekly: "monday 08:00"}``) and as a stored text (``weekly: monday 08:00``, the
form ``sys_subscriptions.schedule`` keeps):

- ``daily: "08:00"`` — every day at 08:00;
- ``weekly: monday 08:00`` — every Monday (``mon`` will do) at 08:00;
- ``monthly: 1 08:00`` — on the 1st of every month at 08:00 (29, 30 and 31: the month's last
  day in shorter months).

``parse_schedule`` reads one once (``ScheduleError`` says what is wrong and how to write it);
``Schedule.next_after`` is the first moment after a given one, computed on the local calendar
of a time zone (a local time a DST change skips moves forward by the gap; one it repeats is
taken at its first occurrence).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.metadata.errors import Words

#: How often a schedule runs, in the order a form offers them.
FREQUENCIES = ("daily", "weekly", "monthly")
#: Weekday names (Monday first, as ``datetime.weekday``).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: How to write each frequency (the hint of an error).
EXAMPLES = {"daily": '"08:00"', "weekly": "monday 08:00", "monthly": "1 08:00"}

_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


class ScheduleError(ValueError):
    """A schedule that cannot be read: ``message`` says what is wrong, ``hint`` how to write it
    (English); ``words`` and ``hint_words`` are the same in every language (``Words``: the
    config check T-E201 shows them in the admin's language)."""

    def __init__(self, message: Words, hint: Words) -> None:
        super().__init__(str(message))
        self.message, self.hint = str(message), str(hint)
        self.words, self.hint_words = message, hint


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: ``frequency`` (``FREQUENCIES``), ``day`` (a weekday 0–6 for weekly,
    a day of the month 1–31 for monthly, None for daily) and the local ``hour`` and ``minute``."""

    frequency: str
    hour: int
    minute: int
    day: int | None = None

    @property
    def text(self) -> str:
        """The stored form: ``weekly: monday 08:00``."""
        time = f"{self.hour:02d}:{self.minute:02d}"
        if self.frequency == "weekly":
            return f"weekly: {WEEKDAYS[self.day or 0]} {time}"
        if self.frequency == "monthly":
            return f"monthly: {self.day} {time}"
        return f"daily: {time}"

    def next_after(self, moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
        """The first time of this schedule strictly after ``moment`` (aware), in UTC."""
        local = moment.astimezone(zone)
        day = local.date()
        for _ in range(400):  # a month and a day at most; the bound only guards the loop
            if self._runs_on(day):
                at = self._at(day, zone)
                if at > moment:
                    return at
            day += dt.timedelta(days=1)
        raise AssertionError(f"no time of {self.text} after {moment}")  # pragma: no cover

    def _runs_on(self, day: dt.date) -> bool:
        if self.frequency == "weekly":
            return day.weekday() == self.day
        if self.frequency == "monthly":
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == min(self.day or 1, last)
        return True

    def _at(self, day: dt.date, zone: dt.tzinfo) -> dt.datetime:
        # fold 0: a wall time a DST change repeats is its first occurrence; one it skips is read
        # with the offset before the change, which lands after the gap (02:30 → 03:30)
        return dt.datetime(day.year, day.month, day.day, self.hour, self.minute, tzinfo=zone).astimezone(dt.UTC)


def parse_schedule(spec: Mapping[str, Any] | str) -> Schedule:
    """A schedule from ``{weekly: "monday 08:00"}`` or ``"weekly: monday 08:00"``."""
    if isinstance(spec, str):
        frequency, _, value = spec.partition(":")
        if not value:
            raise ScheduleError(
                Words(f"`{spec}` is not a schedule", f"`{spec}` 不是计划"),
                Words("write e.g. `weekly: monday 08:00`", "请写，例如 `weekly: monday 08:00`"),
            )
        spec = {frequency.strip(): value.strip()}
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ScheduleError(
            Words(
                "a schedule is one of `daily`, `weekly` or `monthly` with its time",
                "计划是 `daily`、`weekly` 或 `monthly` 之一，并带上时间",
            ),
            Words('write e.g. `{weekly: "monday 08:00"}`', '请写，例如 `{weekly: "monday 08:00"}`'),
        )
    ((frequency, value),) = spec.items()
    if frequency not in FREQUENCIES:
        raise ScheduleError(
            Words(f"`{frequency}` is not a frequency", f"`{frequency}` 不是频率"),
            Words(f"use one of: {', '.join(FREQUENCIES)}", f"请使用其中之一：{', '.join(FREQUENCIES)}"),
        )
    words = str(value).split()
    example = f"`{frequency}: {EXAMPLES[frequency]}`"
    if len(words) != (1 if frequency == "daily" else 2):
        raise ScheduleError(
            Words(f"`{frequency}: {value}` does not say when", f"`{frequency}: {value}` 没有说明何时运行"),
            Words(f"write e.g. {example}", f"请写，例如 {example}"),
        )
    hour, minute = _time(words[-1], frequency, example)
    if frequency == "daily":
        return Schedule("daily", hour, minute)
    if frequency == "weekly":
        return Schedule("weekly", hour, minute, _weekday(words[0], example))
    return Schedule("monthly", hour, minute, _day_of_month(words[0], example))


def _time(text: str, frequency: str, example: str) -> tuple[int, int]:
    match = _TIME.match(text)
    if not match:
        raise ScheduleError(
            Words(f"`{text}` is not a time of day", f"`{text}` 不是一天中的时间"),
            Words(
                f"write hours and minutes, 24-hour clock: {example}",
                f"请按 24 小时制写时和分：{example}",
            ),
        )
    return int(match.group(1)), int(match.group(2))


def _weekday(text: str, example: str) -> int:
    word = text.lower()
    found = [i for i, name in enumerate(WEEKDAYS) if len(word) >= 3 and name.startswith(word)]
    if len(found) != 1:
        raise ScheduleError(
            Words(f"`{text}` is not a day of the week", f"`{text}` 不是星期几"),
            Words(
                f"use one of: {', '.join(WEEKDAYS)} ({example})",
                f"请使用其中之一：{', '.join(WEEKDAYS)}（{example}）",
            ),
        )
    return found[0]


def _day_of_month(text: str, example: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 31:
        raise ScheduleError(
            Words(f"`{text}` is not a day of the month", f"`{text}` 不是每月的日期"),
            Words(
                f"use 1 to 31 (29–31: the month's last day in shorter months): {example}",
                f"请使用 1 到 31（29–31：在较短的月份中为当月最后一天）：{example}",
            ),
        )
    return int(text)
