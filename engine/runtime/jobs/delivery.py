"""Delivering the outbox: e-mail over SMTP and signed webhooks, with retries.

Writes put e-mails and webhooks in ``sys_outbox`` (``engine.runtime.jobs.notify``) in
the same transaction as the change; ``deliver`` sends them afterwards:

1. **claim** — one short transaction marks up to ``batch`` due rows
   (``pending``/``retry`` with ``next_attempt_at <= at``, or ``sending`` whose
   lease ran out) as ``sending``, with this pass's token in ``claimed_by`` and a
   lease (``lease_until``). On PostgreSQL the rows are picked with
   ``FOR UPDATE SKIP LOCKED``, so two workers never take the same row; SQLite
   has one writer at a time. A worker that dies mid-send leaves rows that come
   back when their lease ends (and are sent again: receivers dedupe by the
   idempotency key).
2. **send** — outside any transaction, one message at a time.
3. **record** — one short transaction per message, only while the claim is
   still ours: ``sent`` (with ``sent_at``), ``retry`` after
   ``BASE_DELAY × 2^(attempts-1)`` (capped at ``MAX_DELAY``; a receiver's
   ``Retry-After`` is honoured), or ``dead`` with ``last_error`` after
   ``max_attempts`` attempts or at once for a permanent refusal: a webhook's
   4xx other than 408/425/429, a 3xx (redirects are not followed: a POST must
   not turn into a GET), an SMTP 5xx for the recipient or message.

Without ``TRELLIS_SMTP_URL`` e-mails are not claimed: they stay ``pending``
with ``last_error`` "no SMTP configured", visible to admins, and go out once
a worker with SMTP settings runs. ``requeue_dead`` sends dead letters again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.runtime.campaigns.suppression import suppressed_among
from engine.runtime.errors import TrellisError
from engine.runtime.jobs.notify import SUPPRESSED

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: Attempts before a message becomes a dead letter (``trellis worker --max-attempts``).
MAX_ATTEMPTS = 8
#: Wait after the first failed attempt; doubled after each further one, up to ``MAX_DELAY``.
BASE_DELAY = 60
MAX_DELAY = 6 * 3600
#: Seconds one SMTP conversation or webhook request may take.
TIMEOUT = 10.0
NO_SMTP = "no SMTP configured (set TRELLIS_SMTP_URL)"


class DeliverySetupError(TrellisError):
    """The worker's delivery settings (environment) are wrong."""

    code = "delivery_setup"


# --- settings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mails go: ``TRELLIS_SMTP_URL`` (``smtp://user:pass@host:port``, ``smtps://…``,
    ``?starttls=1``) and the From address ``TRELLIS_MAIL_FROM``."""

    host: str
    port: int
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "trellis@localhost"

    @classmethod
    def parse(cls, url: str, sender: str | None = None) -> SmtpSettings:
        """Settings from an SMTP URL; raises DeliverySetupError saying what is wrong."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise DeliverySetupError(
                f"TRELLIS_SMTP_URL {masked_url(url)!r} is not an SMTP URL: write "
                "smtp://user:password@host:587?starttls=1 or smtps://user:password@host:465"
            )
        query = urllib.parse.parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes", "on")
        tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if tls else 587 if starttls else 25)
        except ValueError:
            raise DeliverySetupError(f"TRELLIS_SMTP_URL {masked_url(url)!r} has a bad port") from None
        username = urllib.parse.unquote(parts.username) if parts.username else None
        password = urllib.parse.unquote(parts.password) if parts.password else None
        default_sender = username if username and "@" in username else f"trellis@{parts.hostname}"
        return cls(parts.hostname, port, tls, starttls, username, password, sender or default_sender)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SmtpSettings | None:
        """The settings in ``TRELLIS_SMTP_URL`` / ``TRELLIS_MAIL_FROM``, or None when unset."""
        url = environ.get("TRELLIS_SMTP_URL", "").strip()
        return cls.parse(url, environ.get("TRELLIS_MAIL_FROM") or None) if url else None


def masked_url(url: str) -> str:
    """A URL fit to show and to store in an error: its password and query values replaced
    by ``***`` (a token is often passed either way); anything else as it is."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None and not parts.query:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1) if password else parts.netloc
    query = "&".join(f"{pair.split('=', 1)[0]}=***" if "=" in pair else pair for pair in parts.query.split("&"))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_ENV_TARGET = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def webhook_url(target: str, environ: Mapping[str, str] = os.environ) -> tuple[str | None, str | None]:
    """The URL of a webhook's outbox ``target`` and None, or None and why it has none: a target
    ``${VAR}`` (``url_env`` in the config) is read from the worker's environment."""
    match = _ENV_TARGET.match(target)
    if not match:
        return target, None
    url = environ.get(match.group(1), "").strip()
    if not url:
        return None, f"the environment variable {match.group(1)} (the webhook's URL) is not set for the worker"
    if not url.startswith(("http://", "https://")):
        return None, f"the environment variable {match.group(1)} holds {masked_url(url)!r}, not an http(s) URL"
    return url, None


# --- outcomes and reports ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``sent``, ``retry`` (optionally not before ``retry_after``
    seconds), ``dead`` (a permanent refusal) or ``suppressed`` (not sent: the address receives
    no e-mail), with the error."""

    status: str
    error: str | None = None
    retry_after: int | None = None


@dataclass
class DeliveryReport:
    """What one ``deliver`` pass did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    #: E-mails not sent because their address receives none (``campaigns.suppression``).
    suppressed: int = 0
    #: E-mails left pending because no SMTP server is configured.
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, status: str, error: str | None, row: Mapping[str, Any]) -> None:
        if status == "lost":
            return
        if status == "sent":
            self.sent += 1
            return
        if status == "suppressed":
            self.suppressed += 1
            return
        if status == "dead":
            self.dead += 1
        else:
            self.retried += 1
        self.errors.append(f"{row['kind']} {row['id']} to {masked_url(row['target'])}: {error}")


# --- transports ---------------------------------------------------------------------------------------
class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError: a POST must not silently become a GET


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Trellis-Signature``: ``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Transports:
    """Sends outbox rows: one SMTP connection per pass (opened on the first e-mail), webhooks
    over urllib. ``send`` never raises for a delivery failure; it returns the outcome."""

    def __init__(self, smtp: SmtpSettings | None, timeout: float = TIMEOUT) -> None:
        self.smtp, self.timeout = smtp, timeout
        self._connection: smtplib.SMTP | None = None
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._senders: dict[str, Callable[[Mapping[str, Any]], Outcome]] = {
            "email": self.email,
            "webhook": self.webhook,
        }

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of message this worker can send now (e-mail only with SMTP settings)."""
        return tuple(kind for kind in self._senders if kind != "email" or self.smtp is not None)

    def send(self, row: Mapping[str, Any]) -> Outcome:
        sender = self._senders.get(row["kind"])
        if sender is None:
            return Outcome("dead", f"unknown kind of message {row['kind']!r}")
        return sender(row)

    # -- webhooks --
    def webhook(self, row: Mapping[str, Any]) -> Outcome:
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Trellis-worker",
            "Idempotency-Key": row["idempotency_key"],
            "X-Trellis-Timestamp": timestamp,
        }
        if row["secret_env"]:
            secret = os.environ.get(row["secret_env"])
            if not secret:
                return Outcome(
                    "retry",
                    f"the environment variable {row['secret_env']} (the webhook's secret) is not set for the worker",
                )
            headers["X-Trellis-Signature"] = sign(secret, timestamp, body)
        url, missing = webhook_url(row["target"])
        if url is None:
            return Outcome("retry", missing)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, detail, retry_after = response.status, "", None
        except urllib.error.HTTPError as exc:
            status, detail = exc.code, _snippet(exc)
            retry_after = _seconds(exc.headers.get("Retry-After")) if exc.headers else None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Outcome("retry", f"cannot reach {masked_url(url)}: {reason or type(exc).__name__}")
        if 200 <= status < 300:
            return Outcome("sent")
        error = f"HTTP {status}{': ' + detail if detail else ''}"
        if status in (408, 425, 429) or status >= 500:
            return Outcome("retry", error, retry_after)
        return Outcome("dead", error)  # 3xx and other 4xx: the same request would be refused again

    # -- e-mail --
    def email(self, row: Mapping[str, Any]) -> Outcome:
        assert self.smtp is not None  # not claimed without settings (see ``kinds``)
        payload = json.loads(row["payload"])
        message = EmailMessage()
        try:
            message["Subject"] = " ".join(str(payload.get("subject", "")).split())
            message["From"] = self.smtp.sender
            message["To"] = row["target"]
            if payload.get("cc"):  # the manager in copy: one message, delivered to both
                message["Cc"] = ", ".join(str(address) for address in payload["cc"])
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = f"<{row['idempotency_key']}@trellis>"
            for name, value in (payload.get("headers") or {}).items():  # List-Unsubscribe of a subscription
                message[str(name)] = " ".join(str(value).split())
            message.set_content(str(payload.get("body", "")))
            if payload.get("html"):  # a subscription's figures: the text part first, the HTML as its alternative
                message.add_alternative(str(payload["html"]), subtype="html")
        except (ValueError, TypeError) as exc:
            return Outcome("dead", f"cannot write the e-mail: {exc}")
        try:
            self._smtp().send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            return Outcome("dead", f"recipient refused: {_smtp_reply(next(iter(exc.recipients.values())))}")
        except smtplib.SMTPAuthenticationError as exc:  # the settings, not the message: try again later
            self.close()
            return Outcome("retry", f"SMTP login failed: {_smtp_reply((exc.smtp_code, exc.smtp_error))}")
        except smtplib.SMTPResponseException as exc:
            self.close()
            reply = _smtp_reply((exc.smtp_code, exc.smtp_error))
            return Outcome("dead" if 500 <= exc.smtp_code < 600 else "retry", f"SMTP server said {reply}")
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome("retry", f"SMTP {self.smtp.host}:{self.smtp.port}: {exc or type(exc).__name__}")
        return Outcome("sent")

    def _smtp(self) -> smtplib.SMTP:
        if self._connection is None:
            settings = self.smtp
            assert settings is not None
            if settings.tls:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                connection = smtplib.SMTP(settings.host, settings.port, timeout=self.timeout)
                if settings.starttls:
                    connection.starttls(context=ssl.create_default_context())
            if settings.username:
                connection.login(settings.username, settings.password or "")
            self._connection = connection
        return self._connection

    def close(self) -> None:
        """Close the SMTP connection, if one is open."""
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                self._connection.close()
            self._connection = None


def _snippet(error: urllib.error.HTTPError) -> str:
    try:
        return " ".join(error.read(300).decode("utf-8", "replace").split())
    except (OSError, http.client.HTTPException):
        return ""


def _seconds(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _smtp_reply(reply: tuple[int, bytes | str]) -> str:
    code, text = reply
    return f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}".strip()


# --- the pass ---------------------------------------------------------------------------------------
def backoff(attempts: int) -> int:
    """Seconds to wait after ``attempts`` failed attempts: 1 min, 2, 4 … capped at ``MAX_DELAY``."""
    return min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)


def deliver(
    crm: Runtime,
    at: dt.datetime,
    batch: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    smtp: SmtpSettings | None | bool = True,
    timeout: float = TIMEOUT,
) -> DeliveryReport:
    """Send every message due at ``at``, ``batch`` at a time; see the module's description.

    ``smtp`` defaults to the settings in the environment (``SmtpSettings.from_environment``);
    pass settings, or None for none. Messages that fail are not retried within this pass.
    """
    settings = SmtpSettings.from_environment() if smtp is True else smtp or None
    transports = Transports(settings, timeout)
    report = DeliveryReport()
    lease = dt.timedelta(seconds=batch * (timeout + 5) + 60)
    try:
        with crm.engine.connect() as connection:  # held, outside any transaction, while sending
            if settings is None:
                report.waiting = _mark_waiting_emails(crm, connection, at)
            while rows := claim(crm, at, batch, uuid.uuid4().hex, transports.kinds, lease, connection):
                blocked = _suppressed(crm, connection, rows)
                for row in rows:
                    if row["kind"] == "email" and row["target"].strip().lower() in blocked:
                        outcome = Outcome("suppressed", SUPPRESSED)
                    elif row["attempts"] > max_attempts:  # its worker stopped while sending, every time
                        outcome = Outcome("dead", row["last_error"] or "the worker stopped while sending it")
                    else:
                        outcome = transports.send(row)
                    report.add(_record(crm, connection, row, outcome, at, max_attempts), outcome.error, row)
    finally:
        transports.close()
    return report


def _suppressed(crm: Runtime, connection: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
    """The addresses of the claimed e-mails that no e-mail may go to (unsubscribed, bounced, or
    held by a record marked ``do_not_email``), asked once per batch, just before sending: an
    address that unsubscribed after its e-mail was queued gets nothing either."""
    addresses = [row["target"] for row in rows if row["kind"] == "email"]
    if not addresses:
        return set()
    with connection.begin():
        return suppressed_among(crm.config, crm.schema, connection, addresses)


def claim(
    crm: Runtime,
    at: dt.datetime,
    batch: int,
    token: str,
    kinds: Iterable[str],
    lease: dt.timedelta,
    connection: sa.Connection,
) -> list[dict[str, Any]]:
    """Mark up to ``batch`` due messages of ``kinds`` as being sent by ``token`` (in one
    transaction on ``connection``); return them."""
    outbox = crm.schema.system["sys_outbox"]
    due = sa.or_(
        sa.and_(outbox.c.status.in_(("pending", "retry")), outbox.c.next_attempt_at <= at),
        sa.and_(outbox.c.status == "sending", outbox.c.lease_until <= at),
    )
    ids = (
        sa.select(outbox.c.id)
        .where(due, outbox.c.kind.in_(tuple(kinds)))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(batch)
    )
    with connection.begin():
        if connection.dialect.name == "postgresql":
            ids = ids.with_for_update(skip_locked=True)
        statement = (
            sa.update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status="sending", claimed_by=token, lease_until=at + lease, attempts=outbox.c.attempts + 1)
            .returning(*outbox.c)
        )
        rows = [dict(row) for row in connection.execute(statement).mappings()]
    return sorted(rows, key=lambda r: (r["next_attempt_at"], r["id"]))


def _record(
    crm: Runtime,
    connection: sa.Connection,
    row: Mapping[str, Any],
    outcome: Outcome,
    at: dt.datetime,
    max_attempts: int,
) -> str:
    """Store the outcome of one attempt, if the claim is still ours; returns the new status."""
    status = outcome.status
    values: dict[str, Any] = {"lease_until": None, "last_error": outcome.error}
    if status == "sent":
        values["sent_at"] = at
    elif status == "retry" and row["attempts"] >= max_attempts:
        status = "dead"
        values["last_error"] = f"gave up after {row['attempts']} attempts: {outcome.error}"
    elif status == "retry":
        values["next_attempt_at"] = at + dt.timedelta(seconds=max(backoff(row["attempts"]), outcome.retry_after or 0))
    outbox = crm.schema.system["sys_outbox"]
    with connection.begin():
        stored = connection.execute(
            sa.update(outbox)
            .where(
                outbox.c.id == row["id"],
                outbox.c.claimed_by == row["claimed_by"],
                outbox.c.status == "sending",
            )
            .values(status=status, **values)
        ).rowcount
    return status if stored else "lost"  # its lease ran out and another worker took it meanwhile


def _mark_waiting_emails(crm: Runtime, connection: sa.Connection, at: dt.datetime) -> int:
    """Note on due e-mails that no SMTP server is configured; returns how many wait."""
    outbox = crm.schema.system["sys_outbox"]
    waiting = sa.and_(
        outbox.c.kind == "email", outbox.c.status.in_(("pending", "retry")), outbox.c.next_attempt_at <= at
    )
    with connection.begin():
        connection.execute(
            sa.update(outbox)
            .where(waiting, sa.or_(outbox.c.last_error.is_(None), outbox.c.last_error != NO_SMTP))
            .values(last_error=NO_SMTP)
        )
        return connection.execute(sa.select(sa.func.count()).select_from(outbox).where(waiting)).scalar_one()


def requeue_dead(crm: Runtime, at: dt.datetime, ids: Iterable[int] | None = None) -> int:
    """Give dead letters (all, or those with ``ids``) a fresh set of attempts from ``at``;
    returns how many. Their idempotency keys stay, so a receiver that got one already ignores it."""
    outbox = crm.schema.system["sys_outbox"]
    statement = sa.update(outbox).where(outbox.c.status == "dead")
    if ids is not None:
        statement = statement.where(outbox.c.id.in_(sorted(ids)))
    with crm.engine.connect() as connection, connection.begin():
        return connection.execute(
            statement.values(status="retry", attempts=0, next_attempt_at=at, claimed_by=None, lease_until=None)
        ).rowcount
