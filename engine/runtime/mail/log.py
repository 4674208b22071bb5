"""A message in or out on the timeline: ``log_message`` writes the ``mail.log`` record (an
activity such as ``interaction``) through the write path, linked to the record the message is
about and to what that record links (a contact's account, a deal's account and contact), with
its attachments stored as the record's files; ``remember`` keeps the message's row in
``sys_mail_messages`` (its Message-ID, so that a reply finds the thread), ``thread_of`` finds the
record a reply belongs to.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import MailSettings
from engine.runtime.errors import NotFound
from engine.runtime.mail.parse import Attachment
from engine.runtime.records import files

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class Target:
    """The record a message is about: its object and id."""

    object: str
    id: int


@dataclass(frozen=True)
class Logged:
    """What ``log_message`` wrote: the log record's id (None when the log object cannot link the
    target), and the attachments left out with why."""

    log_id: int | None
    left_out: tuple[str, ...] = ()


def upload_dir() -> Path:
    """Where stored files are kept (``TRELLIS_UPLOAD_DIR``, as the web UI reads it; ``uploads``)."""
    folder = files.upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mail_settings(session: Session) -> MailSettings:
    """The config's ``mail:`` section; MailNotConfigured without one."""
    from engine.runtime.mail.errors import MailNotConfigured

    settings = session.config.mail
    if settings is None:
        raise MailNotConfigured()
    return settings


def can_link(session: Session, target: str) -> bool:
    """Whether the log object has a lookup to ``target`` records."""
    log = mail_settings(session).log
    return any(f.points_to(target) for f in session.object(log.object).fields.values())


def log_message(
    session: Session,
    target: Target,
    direction: str,
    subject: str,
    text: str,
    message_id: str | None,
    address: str | None,
    attachments: Sequence[Attachment] = (),
    folder: Path | None = None,
) -> Logged:
    """Log one message on ``target``'s timeline as a ``mail.log`` record, written by ``session``
    (its user and channel: ``mail:<mailbox>`` for intake). Engagement events (email_received)
    are to hook here."""
    settings = mail_settings(session)
    log = settings.log
    obj = session.object(log.object)
    links = _links(session, target)
    if not links:
        return Logged(None)
    values: dict[str, Any] = {**log.values, **links}
    stored, left_out = _attachments(session, settings, attachments, folder)
    body = text or "—"
    if left_out:
        body += "\n\n" + "\n".join(left_out)
    values[log.body] = fit(obj.fields[log.body].max_length, body)
    if log.subject:
        values[log.subject] = fit(obj.fields[log.subject].max_length, subject or "—")
    if log.direction:
        values[log.direction] = direction
    if log.message_id and message_id:
        values[log.message_id] = message_id[:255]
    if log.sender and address and "@" in address:
        values[log.sender] = address
    values.update(stored)
    record = session.create(log.object, values, allow_duplicate=True)
    return Logged(record.id, tuple(left_out))


def fit(limit: int | None, text: str) -> str:
    return text if limit is None or len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _links(session: Session, target: Target) -> dict[str, Any]:
    """The log object's lookups to fill: the one to ``target``, then every other lookup whose
    object the target record also points to (a contact's account, a deal's contact)."""
    log_obj = session.object(mail_settings(session).log.object)
    own = next((f.name for f in log_obj.fields.values() if f.points_to(target.object)), None)
    if own is None:
        return {}
    out: dict[str, Any] = {own: target.id}
    try:
        record = session.acting(_system(), session.channel).get(target.object, target.id)
    except NotFound:
        return {}
    target_obj = session.object(target.object)
    for f in log_obj.fields.values():
        if f.name in out or f.target is None:
            continue
        source = next((t.name for t in target_obj.fields.values() if t.points_to(f.target)), None)
        if source is not None and record.get(source) is not None:
            out[f.name] = record.get(source)
    return out


def _system() -> Any:
    from engine.runtime.security.permissions import SYSTEM

    return SYSTEM


def _attachments(
    session: Session, settings: MailSettings, attachments: Sequence[Attachment], folder: Path | None
) -> tuple[dict[str, Any], list[str]]:
    """File field → stored value of each attachment that fits (by size, and a free field), and a
    line for each left out."""
    log = settings.log
    values: dict[str, Any] = {}
    left_out: list[str] = []
    fields = iter(log.attachments)
    for attachment in attachments:
        size = len(attachment.data)
        if size > settings.max_attachment_size:
            left_out.append(
                f"[{attachment.name}: {size:,} bytes, larger than {settings.max_attachment_size:,}; not kept]"
            )
            continue
        name = next(fields, None)
        if name is None:
            left_out.append(f"[{attachment.name}: {size:,} bytes; not kept, no file field left]")
            continue
        values[name] = store_file(session, log.object, name, attachment, folder or upload_dir())
    return values, left_out


def store_file(session: Session, object_name: str, field_name: str, attachment: Attachment, folder: Path) -> dict:
    """Store an attachment's bytes under a random key (as the web UI stores an upload) and record
    it as the session's upload for ``object.field``; the file field's value."""
    key = secrets.token_urlsafe(24)
    (folder / key).write_bytes(attachment.data)
    files.register(session, object_name, field_name, key)
    return {"key": key, "name": attachment.name, "size": len(attachment.data), "content_type": attachment.content_type}


# --- sys_mail_messages ------------------------------------------------------------------------------
def _table(session: Session) -> sa.Table:
    return session.schema.system["sys_mail_messages"]


def remember(
    session: Session,
    *,
    mailbox: str | None,
    direction: str,
    outcome: str,
    message_id: str | None,
    target: Target | None = None,
    log_id: int | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
) -> int:
    """Keep one message's row; returns its id. For a mailbox's message (``uid`` given) this is
    the claim: a second insert of the same UID fails on the unique key."""
    result = session.connection.execute(
        sa.insert(_table(session))
        .values(
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            uid=uid,
            message_id=(message_id or None) and message_id[:255],
            direction=direction,
            outcome=outcome,
            object=target.object if target else None,
            record_id=target.id if target else None,
            log_id=log_id,
            at=session.clock().now_utc,
        )
        .returning(_table(session).c.id)
    )
    return int(result.scalar_one())


def settle(session: Session, row_id: int, outcome: str, target: Target | None, log_id: int | None) -> None:
    """Record what a claimed message became."""
    session.connection.execute(
        sa.update(_table(session))
        .where(_table(session).c.id == row_id)
        .values(
            outcome=outcome,
            object=target.object if target else None,
            record_id=target.id if target else None,
            log_id=log_id,
        )
    )


def thread_of(session: Session, ids: Iterable[str]) -> Target | None:
    """The record the thread of a message referring to ``ids`` is about (the nearest id first)."""
    wanted = [i[:255] for i in ids]
    if not wanted:
        return None
    table = _table(session)
    rows = session.connection.execute(
        sa.select(table.c.message_id, table.c.object, table.c.record_id).where(
            table.c.message_id.in_(wanted), table.c.object.is_not(None)
        )
    ).all()
    by_id = {row.message_id: Target(row.object, row.record_id) for row in rows}
    return next((by_id[i] for i in wanted if i in by_id), None)


def seen_message(session: Session, message_id: str | None) -> bool:
    """Whether a message with this Message-ID was taken already (from another mailbox, before the
    folder's UIDVALIDITY changed, or a retry to ``mail serve``) — or is one Trellis sent (a copy
    of it in a mailbox is no customer's message)."""
    if not message_id:
        return False
    table = _table(session)
    return (
        session.connection.execute(
            sa.select(table.c.id).where(
                table.c.message_id == message_id[:255],
                table.c.outcome.in_(("logged", "created", "bounce", "automatic", "sent")),
            )
        ).first()
        is not None
    )


def last_uid(session: Session, mailbox: str, uidvalidity: int) -> int:
    """The highest UID taken from ``mailbox`` under ``uidvalidity`` (0 when none)."""
    table = _table(session)
    found = session.connection.execute(
        sa.select(sa.func.max(table.c.uid)).where(table.c.mailbox == mailbox, table.c.uidvalidity == uidvalidity)
    ).scalar()
    return int(found or 0)
