"""The rows of ``sys_subscriptions``: a user's own subscriptions (``subscribe``, ``mine``,
``unsubscribe``), the unsubscribe link's token (``by_token``, ``unsubscribe_token``), and the
recipients of the config's rules (``sync_rules``: one row per rule and user holding one of its
roles, kept in step with the config and the users by the worker)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import Subscription
from engine.metadata.schedules import FREQUENCIES, WEEKDAYS, Schedule
from engine.runtime.database import upsert
from engine.runtime.errors import QueryError, TrellisError
from engine.runtime.messages import current_language, message
from engine.runtime.reports import Overrides
from engine.runtime.subscriptions.targets import RENDERERS

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

#: Subscriptions one user may keep (their own; a rule's do not count).
MOST_PER_USER = 50


class BadSubscription(QueryError):
    """A subscription that cannot be made: the message says which value is wrong."""

    code = "bad_subscription"


class SubscriptionNotFound(TrellisError):
    """No target of that name the user may open (the same answer as an unknown one: a 404)."""

    code = "subscription_not_found"


@dataclass(frozen=True)
class Stored:
    """One row of ``sys_subscriptions`` as its owner sees it."""

    id: int
    rule: str | None
    target_kind: str
    target: str
    schedule: str
    filters: Mapping[str, Any]
    next_run_at: dt.datetime
    last_sent_at: dt.datetime | None
    last_status: str | None
    last_reason: str | None
    token: str


def _table(session_or_crm: Session | Runtime) -> sa.Table:
    return session_or_crm.schema.system["sys_subscriptions"]


def _stored(row: Any) -> Stored:
    return Stored(
        row.id,
        row.rule,
        row.target_kind,
        row.target,
        row.schedule,
        dict(row.filters or {}),
        row.next_run_at,
        row.last_sent_at,
        row.last_status,
        row.last_reason,
        row.token,
    )


def form_schedule(frequency: str, day: str, time: str) -> Schedule:
    """A schedule from a form's fields (``weekly``, ``monday``, ``08:00``); ``BadSubscription``
    names the field that is wrong, in the current language."""
    language = current_language()
    if frequency not in FREQUENCIES:
        raise BadSubscription(message("subscription_bad_frequency", language))
    hour, _, minute = (time or "").strip().partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
        raise BadSubscription(message("subscription_bad_time", language, value=(time or "")[:20]))
    found: int | None = None
    if frequency == "weekly":
        if day not in WEEKDAYS:
            raise BadSubscription(message("subscription_bad_weekday", language))
        found = WEEKDAYS.index(day)
    elif frequency == "monthly":
        if not (day.isdigit() and 1 <= int(day) <= 31):
            raise BadSubscription(message("subscription_bad_day", language, value=(day or "")[:20]))
        found = int(day)
    return Schedule(frequency, int(hour), int(minute), found)


def subscribe(session: Session, kind: str, name: str, schedule: Schedule, period: str = "", owner: str = "") -> Stored:
    """Subscribe the session's user to ``name`` (a target of ``kind``) on ``schedule``, narrowed
    to ``period`` and ``owner`` as the report page's form does. ``SubscriptionNotFound`` for a target they
    may not open; ``BadSubscription`` for a bad filter, a copy of one they have, or too many."""
    language = current_language()
    target = RENDERERS.get(kind)
    user_id = session.principal.user_id
    if target is None or user_id is None or not target.may_open(session.config, session.principal, name):
        raise SubscriptionNotFound(message("subscription_not_found", language))
    try:
        overrides = Overrides.parse(period, owner)
    except QueryError as exc:
        raise BadSubscription(str(exc)) from None
    filters = {k: v for k, v in (("period", overrides.period), ("owner", overrides.owner)) if v}
    table = _table(session)
    mine = session.connection.execute(sa.select(table).where(table.c.user_id == user_id, table.c.rule.is_(None))).all()
    if any(
        (r.target_kind, r.target, r.schedule, dict(r.filters or {})) == (kind, name, schedule.text, filters)
        for r in mine
    ):
        raise BadSubscription(message("subscription_exists", language))
    if len(mine) >= MOST_PER_USER:
        raise BadSubscription(message("subscription_too_many", language, most=MOST_PER_USER))
    now = session.clock().now_utc
    values = {
        "user_id": user_id,
        "rule": None,
        "target_kind": kind,
        "target": name,
        "schedule": schedule.text,
        "filters": filters,
        "next_run_at": schedule.next_after(now, session.clock().timezone),
        "token": secrets.token_urlsafe(32),
        "created_at": now,
    }
    new_id = session.connection.execute(sa.insert(table).values(**values).returning(table.c.id)).scalar_one()
    row = session.connection.execute(sa.select(table).where(table.c.id == new_id)).one()
    return _stored(row)


def mine(session: Session) -> list[Stored]:
    """The session user's subscriptions (their own and the rules' they did not leave), by target."""
    table = _table(session)
    rows = session.connection.execute(
        sa.select(table)
        .where(table.c.user_id == session.principal.user_id, table.c.unsubscribed_at.is_(None))
        .order_by(table.c.target_kind, table.c.target, table.c.id)
    ).all()
    return [_stored(row) for row in rows]


def unsubscribe(session: Session, subscription_id: int) -> bool:
    """End one of the session user's subscriptions; False when they have no such one."""
    table = _table(session)
    where = [table.c.id == subscription_id, table.c.user_id == session.principal.user_id]
    return _end(session.connection, table, where, session.clock().now_utc)


def by_token(crm: Runtime, token: str) -> Stored | None:
    """The subscription an unsubscribe link stands for (None for an unknown or ended one)."""
    if not token or len(token) > 64:
        return None
    table = _table(crm)
    with crm.engine.connect() as connection:
        row = connection.execute(
            sa.select(table).where(table.c.token == token, table.c.unsubscribed_at.is_(None))
        ).first()
    return _stored(row) if row is not None else None


def unsubscribe_token(crm: Runtime, token: str) -> bool:
    """End the subscription of an unsubscribe link; False when there is none (any more)."""
    if not token or len(token) > 64:
        return False
    table = _table(crm)
    with crm.engine.connect() as connection, connection.begin():
        return _end(connection, table, [table.c.token == token], crm.clock_now().now_utc)


def _end(connection: sa.Connection, table: sa.Table, where: list, now: dt.datetime) -> bool:
    """Delete a user's own subscription; mark a rule's as left (the rule does not add it back)."""
    live = [*where, table.c.unsubscribed_at.is_(None)]
    deleted = connection.execute(sa.delete(table).where(*live, table.c.rule.is_(None))).rowcount
    left = connection.execute(sa.update(table).where(*live, table.c.rule.isnot(None)).values(unsubscribed_at=now))
    return bool(deleted or left.rowcount)


# --- the config's rules -------------------------------------------------------------------------------
def sync_rules(crm: Runtime, at: dt.datetime) -> None:
    """Give every active user holding a role of a ``subscriptions:`` rule their row, keep each
    row's target, schedule and filters those of its rule, and remove the rows of rules gone
    and of users who no longer hold a role of theirs (or are disabled)."""
    rules = crm.config.subscriptions
    table, users = _table(crm), crm.schema.system["sys_users"]
    zone = crm.clock_now().timezone
    with crm.engine.connect() as connection, connection.begin():
        people = connection.execute(sa.select(users.c.id, users.c.roles, users.c.active)).all()
        rows = connection.execute(sa.select(table).where(table.c.rule.isnot(None))).all()
        have = {(row.rule, row.user_id): row for row in rows}
        wanted = {
            (rule.name, person.id): rule
            for rule in rules.values()
            for person in people
            if person.active and set(person.roles or ()) & set(rule.roles)
        }
        gone = [row.id for key, row in have.items() if key not in wanted]
        if gone:
            connection.execute(sa.delete(table).where(table.c.id.in_(gone)))
        for (name, user_id), rule in wanted.items():
            row = have.get((name, user_id))
            values = _rule_values(rule)
            if row is None:
                values |= {
                    "user_id": user_id,
                    "rule": name,
                    "next_run_at": rule.schedule.next_after(at, zone),
                    "token": secrets.token_urlsafe(32),
                    "created_at": at,
                }
                insert = upsert(connection.dialect.name, table).values(**values)
                connection.execute(insert.on_conflict_do_nothing(index_elements=["rule", "user_id"]))
            elif (row.target_kind, row.target, row.schedule, dict(row.filters or {})) != tuple(values.values()):
                if row.schedule != values["schedule"]:
                    values["next_run_at"] = rule.schedule.next_after(at, zone)
                connection.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def _rule_values(rule: Subscription) -> dict[str, Any]:
    """The columns a rule decides, in the order ``sync_rules`` compares them."""
    filters = {
        k: v
        for k, v in (("period", rule.filters.period), ("owner", rule.filters.owner), ("team", rule.filters.team))
        if v
    }
    return {"target_kind": rule.target_kind, "target": rule.target, "schedule": rule.schedule.text, "filters": filters}
