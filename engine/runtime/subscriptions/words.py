"""Subscriptions as people read them: a schedule (``Every Monday at 08:00``, ``每周一 08:00``),
the filters, and why one was not sent (``REASONS``), in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping

from engine.metadata.schedules import WEEKDAYS, Schedule, parse_schedule
from engine.runtime.messages import message

#: Why a due subscription was not sent (``sys_subscriptions.last_reason``), each a message
#: ``subscription.reason.<code>``.
REASONS = ("not_allowed", "refused", "no_email", "inactive", "missed", "no_team", "failed")


def schedule_text(schedule: Schedule | str, language: str) -> str:
    """``Every Monday at 08:00``: when ``schedule`` runs, in the company time zone."""
    if isinstance(schedule, str):
        schedule = parse_schedule(schedule)
    time = f"{schedule.hour:02d}:{schedule.minute:02d}"
    if schedule.frequency == "weekly":
        weekday = message(f"weekday.{WEEKDAYS[schedule.day or 0]}", language)
        return message("schedule.weekly", language, weekday=weekday, time=time)
    if schedule.frequency == "monthly":
        return message("schedule.monthly", language, day=schedule.day, time=time)
    return message("schedule.daily", language, time=time)


def filters_text(filters: Mapping[str, object], language: str) -> str:
    """``This month · My records``: what a subscription narrows its report to ("" for nothing)."""
    parts = []
    if filters.get("period"):
        parts.append(message(f"period.{filters['period']}", language))
    if filters.get("owner") in ("me", "team"):
        parts.append(message(f"subscription.owner_{filters['owner']}", language))
    if filters.get("team"):
        parts.append(message("subscription.team", language, team=filters["team"]))
    return " · ".join(parts)


def reason_text(reason: str | None, language: str) -> str:
    """Why a subscription was last not sent ("" without a reason)."""
    return message(f"subscription.reason.{reason}", language) if reason else ""
