"""Sending the subscriptions that are due, each rendered for its recipient (``trellis worker``).

``send_due(crm, at)`` first brings the rules' recipients up to date (``store.sync_rules``), then
takes each row whose ``next_run_at`` is at or before ``at``, as the recipient (their principal,
read from the primary: their scope and hidden fields; their language):

1. **render** — the target as the recipient sees it (``targets``), in a read-only unit of work
   (``Runtime.read_session``: on the read replica when one is set and not too far behind);
2. **claim** — then, in one transaction on the primary, ``UPDATE … SET next_run_at = <the
   schedule's next time after at> WHERE id = ? AND next_run_at = <the due time>``: of two
   workers only one changes the row (the other waits for its lock on PostgreSQL, then finds the
   time moved), so a due time sends at most once — the other's rendering is thrown away;
3. **enqueue** — the e-mail (``digest``) into the outbox in that same transaction, delivered by
   ``delivery`` with its retries and dead letters, like every other e-mail.

A due time more than ``LOOKBACK`` back (the worker was stopped) is not sent late: it is
skipped as ``missed`` and the next time counts. Not sent either, with the reason kept on the
row (``last_status`` ``skipped``, ``last_reason``, shown on the recipient's subscriptions page)
and a log line: a target the recipient may no longer open (``not_allowed``, nothing of it
rendered), one reading a field hidden from them (``refused``), a recipient without an e-mail
address (``no_email``) or disabled (``inactive``), a rule's team that no longer exists
(``no_team``). A target that fails to render is ``failed`` (logged with its traceback).

Links: the report's page and the unsubscribe page are absolute URLs under ``TRELLIS_BASE_URL``
(``https://crm.example.com``); without it the e-mail has no links and says where to
unsubscribe in Trellis.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.schedules import parse_schedule
from engine.runtime.jobs.notify import enqueue
from engine.runtime.messages import speaking
from engine.runtime.records.reader import language_of
from engine.runtime.reports import Overrides
from engine.runtime.security.permissions import AccountUnavailable, UnknownUser
from engine.runtime.subscriptions import digest, store
from engine.runtime.subscriptions.targets import RENDERERS, Unavailable
from engine.runtime.subscriptions.words import schedule_text

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.worker")

#: A due time further back than this is skipped (``missed``), not sent late.
LOOKBACK = dt.timedelta(days=1)
#: Due rows read per query.
BATCH = 100


@dataclass
class SubscriptionReport:
    """What one ``send_due`` did: e-mails written to the outbox, rows skipped (by reason), failed."""

    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0


def base_url() -> str | None:
    """``TRELLIS_BASE_URL`` without its trailing slash, or None when unset."""
    url = os.environ.get("TRELLIS_BASE_URL", "").strip().rstrip("/")
    return url if url.startswith(("http://", "https://")) else None


def send_due(crm: Runtime, at: dt.datetime) -> SubscriptionReport:
    """Send every subscription due at ``at`` (see the module's description)."""
    report = SubscriptionReport()
    if not crm.config.subscriptions and not _any_rows(crm):
        return report
    store.sync_rules(crm, at)
    table = crm.schema.system["sys_subscriptions"]
    after = 0
    while True:
        with crm.engine.connect() as connection:
            due = connection.execute(
                sa.select(table)
                .where(table.c.next_run_at <= at, table.c.unsubscribed_at.is_(None), table.c.id > after)
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
        for row in due:
            _send_one(crm, row, at, report)
        if len(due) < BATCH:
            return report
        after = due[-1].id


def _any_rows(crm: Runtime) -> bool:
    table = crm.schema.system["sys_subscriptions"]
    with crm.engine.connect() as connection:
        return connection.execute(sa.select(table.c.id).limit(1)).first() is not None


def _send_one(crm: Runtime, row: Any, at: dt.datetime, report: SubscriptionReport) -> None:
    """Render ``row``'s e-mail as its user where reads go, then claim the due time, enqueue the
    e-mail and record the outcome in one transaction on the primary."""
    row_id, user_id, due = row.id, row.user_id, row.next_run_at
    try:
        with crm.read_session(user_id, channel="subscription") as reading:
            status, reason, mail = _render(reading, row, due, at)
        with crm.session(user_id, channel="subscription") as session:
            if _claim(session.connection, crm, row_id, due, at) is not None:
                if mail is not None:
                    enqueue(session, "email", f"subscription:{row.rule or row.id}"[:100], *mail)
                _record(session.connection, crm, row_id, at, status, reason, report)
    except (AccountUnavailable, UnknownUser):  # disabled or expired since: nothing is rendered for them
        with crm.engine.connect() as connection, connection.begin():
            if _claim(connection, crm, row_id, due, at) is not None:
                log.info("subscription %s: not sent, user %s may not sign in", row_id, user_id)
                _record(connection, crm, row_id, at, "skipped", "inactive", report)


def _claim(connection: sa.Connection, crm: Runtime, row_id: int, due: dt.datetime, at: dt.datetime) -> Any | None:
    """Move the row's next run past ``at`` if it is still due at ``due``; the row, or None when
    another worker took this due time (or the row ended meanwhile)."""
    table = crm.schema.system["sys_subscriptions"]
    row = connection.execute(sa.select(table).where(table.c.id == row_id)).first()
    if row is None:
        return None
    following = parse_schedule(row.schedule).next_after(at, crm.clock_now().timezone)
    claimed = connection.execute(
        sa.update(table)
        .where(table.c.id == row_id, table.c.next_run_at == due, table.c.unsubscribed_at.is_(None))
        .values(next_run_at=following, last_run_at=at)
    ).rowcount
    return row if claimed == 1 else None


def _record(
    connection: sa.Connection,
    crm: Runtime,
    row_id: int,
    at: dt.datetime,
    status: str,
    reason: str | None,
    report: SubscriptionReport,
) -> None:
    table = crm.schema.system["sys_subscriptions"]
    values: dict[str, Any] = {"last_status": status, "last_reason": reason}
    if status == "sent":
        values["last_sent_at"] = at
        report.sent += 1
    elif status == "failed":
        report.failed += 1
    else:
        report.skipped[reason or ""] = report.skipped.get(reason or "", 0) + 1
    connection.execute(sa.update(table).where(table.c.id == row_id).values(**values))


#: An e-mail to put in the outbox: its address and payload.
Mail = tuple[str, dict[str, Any]]


def _render(session: Session, row: Any, due: dt.datetime, at: dt.datetime) -> tuple[str, str | None, Mail | None]:
    """Render the row's target for its user; (status, reason, the e-mail to send or None)."""
    if at - due > LOOKBACK:
        log.info("subscription %s: the time %s was missed (the worker did not run); not sent late", row.id, due)
        return "skipped", "missed", None
    person = session.unit.user(row.user_id)
    language = language_of(session.config, person.locale if person is not None else None)
    if person is None or not person.email:
        log.info("subscription %s: not sent, user %s has no e-mail address", row.id, row.user_id)
        return "skipped", "no_email", None
    filters = dict(row.filters or {})
    team = _team_id(session, filters.get("team"))
    if filters.get("team") and team is None:
        log.info("subscription %s: not sent, its team %r does not exist", row.id, filters["team"])
        return "skipped", "no_team", None
    overrides = Overrides(filters.get("period"), filters.get("owner"), team)
    target = RENDERERS.get(row.target_kind)
    try:
        with speaking(language), session.connection.begin_nested():
            if target is None:
                raise Unavailable("not_allowed")
            section = target.render(session, row.target, overrides, language)
    except Unavailable as exc:
        log.info("subscription %s: not sent to %s: %s", row.id, person.username, exc.reason)
        return "skipped", exc.reason, None
    except Exception:  # noqa: BLE001 - one broken subscription must not stop the others
        log.exception("subscription %s: %s %s failed to render", row.id, row.target_kind, row.target)
        return "failed", "failed", None
    base = base_url()
    link = f"{base}{section.path}" if base else None
    leave = f"{base}/subscriptions/unsubscribe/{row.token}" if base else None
    company = session.config.settings.company
    rule = session.config.subscriptions.get(row.rule) if row.rule else None
    label = rule.label.get(language) if rule is not None and rule.label is not None else None
    mail = digest.compose(section, schedule_text(row.schedule, language), company, language, link, leave, label)
    payload: dict[str, Any] = {"subject": mail.subject, "body": mail.text, "html": mail.html}
    if leave:
        payload["headers"] = {"List-Unsubscribe": f"<{leave}>"}
    return "sent", None, (person.email, payload)


def _team_id(session: Session, name: Any) -> int | None:
    if not name:
        return None
    teams = session.schema.system["sys_teams"]
    return session.connection.execute(sa.select(teams.c.id).where(teams.c.name == str(name))).scalar()
