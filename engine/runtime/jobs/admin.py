"""What admins see of automation: rule runs, the outbox, and sending a message again.

The page ``/admin/automation`` (``webui.ui.automation_admin``) reads these, and
only these, for users holding the ``manage_config`` permission — every function
checks it first and raises ``PermissionDenied`` otherwise (the system context
holds every permission).

- ``recent_runs``: ``sys_automation_runs`` latest first, by rule and status
  (``running``, ``done``, ``failed`` with its error, ``skipped``);
- ``outbox``: ``sys_outbox`` latest first, by status (``pending``, ``sending``,
  ``retry``, ``dead``, ``sent``, ``suppressed``: to an address that must not be e-mailed) and kind, with attempts, the last error and the
  next attempt — e-mails waiting because no SMTP server is configured are
  ``pending`` with that error; ``outbox_counts``: how many wait per status;
- ``retry_message``: puts a ``dead`` message, or one waiting to be ``retry``'d,
  back to ``pending`` with ``next_attempt_at`` = now — a dead letter with a
  fresh set of attempts, as ``trellis worker --requeue-dead`` gives it
  (``delivery.requeue_dead``, which works in its own transaction; this one is the
  caller's). Its idempotency key stays, so a receiver that got it already
  ignores it.

Pages are offset pages of at most ``MAX_PER_PAGE`` rows, read one row past the
page to know whether another follows (no count over the whole table), by the
primary key.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa

from engine.runtime.errors import NotFound, TrellisError
from engine.runtime.jobs.delivery import masked_url
from engine.runtime.security.permissions import PermissionDenied

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.admin")

#: The permission these functions need.
PERMISSION = "manage_config"
RUN_STATUSES = ("running", "done", "failed", "skipped")
OUTBOX_STATUSES = ("pending", "sending", "retry", "dead", "sent", "suppressed")
OUTBOX_KINDS = ("email", "webhook")
#: Statuses a message may be sent again from.
RETRYABLE = ("dead", "retry")
#: Statuses counted by ``outbox_counts`` (not ``sent``, which only grows).
WAITING = ("pending", "sending", "retry", "dead")
MAX_PER_PAGE = 100
MAX_PAGE = 1000

T = TypeVar("T")


class NotRetryable(TrellisError):
    """The message is not dead nor waiting for a retry (sent, or being sent)."""

    code = "not_retryable"


@dataclass(frozen=True)
class AdminPage(Generic[T]):
    """One page of rows, newest first; ``has_next`` says whether older ones follow."""

    items: list[T]
    page: int
    per_page: int
    has_next: bool


@dataclass(frozen=True)
class Run:
    """One run of a rule (``sys_automation_runs``)."""

    id: int
    rule: str
    object: str | None
    record_id: int | None
    trigger: str
    status: str
    error: str | None
    depth: int
    at: dt.datetime


@dataclass(frozen=True)
class Message:
    """One outbox message (``sys_outbox``); ``target`` (and the URL in ``last_error``) without
    any password, ``summary`` the e-mail's subject or the webhook's event."""

    id: int
    kind: str
    rule: str | None
    target: str
    summary: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None

    @property
    def retryable(self) -> bool:
        """Whether ``retry_message`` takes it."""
        return self.status in RETRYABLE


def require(session: Session) -> None:
    """Refuse callers without ``manage_config``."""
    if not session.principal.has(PERMISSION):
        raise PermissionDenied.said(
            "jobs.needs_permission", f"this needs the {PERMISSION} permission", permission=PERMISSION
        )


def recent_runs(
    session: Session, rule: str | None = None, status: str | None = None, page: int = 1, per_page: int = 50
) -> AdminPage[Run]:
    """Runs of automation rules, latest first; only of ``rule`` / with ``status`` when given."""
    require(session)
    runs = session.schema.system["sys_automation_runs"]
    statement = sa.select(runs)
    if rule:
        statement = statement.where(runs.c.rule == rule)
    if status:
        statement = statement.where(runs.c.status == status)
    rows, page, per_page, more = _page(session, statement.order_by(runs.c.id.desc()), page, per_page)
    items = [
        Run(r["id"], r["rule"], r["object"], r["record_id"], r["trigger"], r["status"], r["error"], r["depth"], r["at"])
        for r in rows
    ]
    return AdminPage(items, page, per_page, more)


def outbox(
    session: Session, status: str | None = None, kind: str | None = None, page: int = 1, per_page: int = 50
) -> AdminPage[Message]:
    """Outbox messages, latest first; only with ``status`` / of ``kind`` when given."""
    require(session)
    table = session.schema.system["sys_outbox"]
    statement = sa.select(*(table.c[name] for name in _MESSAGE_COLUMNS))
    if status:
        statement = statement.where(table.c.status == status)
    if kind:
        statement = statement.where(table.c.kind == kind)
    rows, page, per_page, more = _page(session, statement.order_by(table.c.id.desc()), page, per_page)
    return AdminPage([_message(r) for r in rows], page, per_page, more)


def outbox_counts(session: Session) -> dict[str, int]:
    """How many messages are pending, being sent, waiting for a retry and dead."""
    require(session)
    table = session.schema.system["sys_outbox"]
    rows = session.connection.execute(
        sa.select(table.c.status, sa.func.count()).where(table.c.status.in_(WAITING)).group_by(table.c.status)
    ).all()
    found: dict[str, int] = {status: count for status, count in rows}
    return {status: found.get(status, 0) for status in WAITING}


def retry_message(session: Session, message_id: int) -> Message:
    """Put a dead (or retry-waiting) message back to ``pending``, due now; returns it.

    Raises NotFound for an unknown id and NotRetryable for a message sent or being sent."""
    require(session)
    table = session.schema.system["sys_outbox"]
    now = session.clock().now_utc
    attempts = sa.case((table.c.status == "dead", 0), else_=table.c.attempts)
    changed = session.connection.execute(
        sa.update(table)
        .where(
            table.c.id == message_id,
            table.c.status.in_(RETRYABLE),
        )
        .values(status="pending", attempts=attempts, next_attempt_at=now, claimed_by=None, lease_until=None)
    ).rowcount
    row = (
        session.connection.execute(
            sa.select(*(table.c[name] for name in _MESSAGE_COLUMNS)).where(table.c.id == message_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("outbox message", message_id)
    if not changed:
        raise NotRetryable.said(
            "jobs.not_retryable",
            f"outbox message {message_id} is {row['status']}: only dead messages and those "
            "waiting for a retry can be sent again",
            id=message_id,
            status=row["status"],
        )
    log.info(
        "outbox message %s (%s to %s) requeued by %s",
        message_id,
        row["kind"],
        masked_url(row["target"]),
        session.principal.username,
    )
    return _message(row)


# --- helpers ------------------------------------------------------------------------------------------
_MESSAGE_COLUMNS = (
    "id",
    "kind",
    "rule",
    "target",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "sent_at",
)


def _page(session: Session, statement: sa.Select, page: int, per_page: int) -> tuple[list[Any], int, int, bool]:
    page = min(max(page, 1), MAX_PAGE)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    rows = session.connection.execute(statement.offset((page - 1) * per_page).limit(per_page + 1)).mappings().all()
    return list(rows[:per_page]), page, per_page, len(rows) > per_page


def _message(row: sa.RowMapping) -> Message:
    target = row["target"]
    error = row["last_error"]
    if error and target in error:  # a delivery error may quote the URL with its password
        error = error.replace(target, masked_url(target))
    return Message(
        row["id"],
        row["kind"],
        row["rule"],
        masked_url(target),
        _summary(row["kind"], row["payload"]),
        row["status"],
        row["attempts"],
        row["next_attempt_at"],
        error,
        row["created_at"],
        row["sent_at"],
    )


def _summary(kind: str, payload: str) -> str:
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    if kind == "email":
        return str(data.get("subject") or "")[:300]
    record = data.get("record")
    if not isinstance(record, dict):
        record = {}
    parts = [str(data.get("event") or ""), str(data.get("object") or ""), str(record.get("id") or "")]
    return " ".join(p for p in parts if p)
