"""Taking one message in: exactly once, routed, logged.

``take_in`` runs in one transaction of its own, as the system on channel ``mail:<mailbox>``:

1. **claim** the message's row in ``sys_mail_messages`` (mailbox, UIDVALIDITY, UID; unique), so a
   second fetch — or a second worker at the same time — finds it taken; the row commits with the
   records the message made, or not at all (a crash mid-batch neither loses nor doubles one);
2. a message whose Message-ID was taken already (another mailbox, a folder renumbered) is a
   ``duplicate``; a delivery report (DSN) marks the failed recipients (``record_bounce``); an
   automatic reply is left (``automatic``);
3. **route**: a reply (In-Reply-To / References naming a logged or sent message) goes to the
   record of its thread; else the sender's address is looked up in ``mail.senders`` in order;
   else the mailbox's ``unknown_sender`` creates a record (a lead, a ticket) through the write
   path — duplicate rules, assignment and automation apply —; else it is ``unrouted``;
4. **log** it on that record's timeline (``log.log_message``).

A message the write path refuses (a rule, a ``block`` duplicate rule) is kept as ``refused``
with the reason, and not tried again.
"""

from __future__ import annotations

import email.errors
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.model import Mailbox, MailCreate
from engine.runtime.campaigns.suppression import suppress
from engine.runtime.errors import TrellisError
from engine.runtime.mail import log
from engine.runtime.mail.log import Target
from engine.runtime.mail.parse import Parsed, parse
from engine.runtime.workflow.engagement import LOGGED_AS, record_event

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class Outcome:
    """What one message became: ``logged``, ``created`` (a new record, logged on it when the log
    object can link it), ``bounce``, ``automatic``, ``duplicate``, ``unrouted``, ``unlinked`` (a
    reply on the thread of a record the log cannot link, e.g. a ticket), ``refused``, or
    ``seen`` (taken before); the record it went to and the error of a refusal."""

    outcome: str
    target: Target | None = None
    log_id: int | None = None
    error: str | None = None


def take_in(
    crm: Runtime, mailbox: Mailbox, uidvalidity: int | None, uid: int | None, raw: bytes, folder: Path | None = None
) -> Outcome:
    """Take one message of ``mailbox`` in, exactly once (see the module)."""
    try:
        with crm.session(None, channel=f"mail:{mailbox.name}") as session:
            return _take_in(session, mailbox, uidvalidity, uid, raw, folder)
    except sa.exc.IntegrityError:
        if uid is None:
            raise
        return Outcome("seen")  # another fetch took it meanwhile


def _take_in(
    session: Session, mailbox: Mailbox, uidvalidity: int | None, uid: int | None, raw: bytes, folder: Path | None
) -> Outcome:
    if uid is not None and _taken(session, mailbox.name, uidvalidity, uid):
        return Outcome("seen")
    try:
        parsed = parse(raw)
    except (ValueError, LookupError, email.errors.MessageError) as exc:  # a message no reader could read
        log.remember(
            session, mailbox=mailbox.name, direction="inbound", outcome="refused", message_id=None,
            uidvalidity=uidvalidity, uid=uid,
        )  # fmt: skip
        return Outcome("refused", error=f"cannot read the message: {exc}"[:500])
    duplicate = log.seen_message(session, parsed.message_id)
    row = log.remember(
        session,
        mailbox=mailbox.name,
        direction="inbound",
        outcome="duplicate" if duplicate else "claimed",
        message_id=parsed.message_id,
        uidvalidity=uidvalidity,
        uid=uid,
    )
    if duplicate:
        return Outcome("duplicate")
    try:
        with session.unit.savepoint():
            outcome = route(session, mailbox, parsed, folder)
    except TrellisError as exc:
        outcome = Outcome("refused", error=str(exc)[:500])
    log.settle(session, row, outcome.outcome, outcome.target, outcome.log_id)
    return outcome


def _taken(session: Session, mailbox: str, uidvalidity: int | None, uid: int) -> bool:
    table = session.schema.system["sys_mail_messages"]
    return (
        session.connection.execute(
            sa.select(table.c.id).where(
                table.c.mailbox == mailbox, table.c.uidvalidity == uidvalidity, table.c.uid == uid
            )
        ).first()
        is not None
    )


def route(session: Session, mailbox: Mailbox, parsed: Parsed, folder: Path | None = None) -> Outcome:
    """Where a message goes, and log it there (step 2–4 of the module)."""
    if parsed.is_report and parsed.bounced:
        marked = record_bounce(session, parsed.bounced)
        return Outcome("bounce", marked[0] if marked else None)
    if parsed.automatic or parsed.is_report:
        return Outcome("automatic")
    thread = log.thread_of(session, parsed.references)
    if thread is not None and not log.can_link(session, thread.object):
        # A reply on the thread of a record the log cannot link (a ticket): on the sender's
        # record if there is one, else left — never a second ticket for the same thread.
        sender = find_sender(session, parsed.sender)
        if sender is None:
            return Outcome("unlinked", thread)
        thread = sender
    target = thread or find_sender(session, parsed.sender)
    created = False
    if target is None and mailbox.unknown_sender is not None:
        target, created = create_from(session, mailbox.unknown_sender, parsed), True
    if target is None:
        return Outcome("unrouted")
    logged = None
    if log.can_link(session, target.object):
        logged = log.log_message(
            session,
            target,
            "inbound",
            parsed.subject,
            parsed.text,
            parsed.message_id,
            parsed.sender,
            parsed.attachments,
            folder,
        ).log_id
    data: dict[str, object] = {"subject": (parsed.subject or "")[:200], "from": parsed.sender}
    if logged is not None:  # the timeline shows the message once: as the logged activity
        data[LOGGED_AS] = logged
    record_event(session, "email_received", target.object, target.id, data)  # for scoring and rules
    return Outcome("created" if created else "logged", target, logged)


def find_sender(session: Session, address: str) -> Target | None:
    """The first record of ``mail.senders`` (in order) whose e-mail field holds ``address``."""
    if "@" not in address:
        return None
    for sender in log.mail_settings(session).senders:
        try:
            found = session.query(sender.object).filter(**{sender.email: address}).order_by("id").first()
        except TrellisError:  # an address the field type cannot read: nobody has it
            return None
        if found is not None:
            return Target(sender.object, found.id)
    return None


def create_from(session: Session, create: MailCreate, parsed: Parsed) -> Target:
    """A new record for an unknown sender's message, through the write path (``allow_duplicate``:
    a ``warn`` duplicate rule lets it through for people to review; ``block`` refuses it)."""
    obj = session.object(create.object)
    values = dict(create.values)
    address = parsed.sender if "@" in parsed.sender else None
    if create.name:
        values[create.name] = log.fit(obj.fields[create.name].max_length, parsed.sender_name or parsed.sender or "—")
    if create.email and address:
        values[create.email] = address
    if create.domain and address:
        values[create.domain] = log.fit(obj.fields[create.domain].max_length, address.rsplit("@", 1)[1].lower())
    if create.subject:
        values[create.subject] = log.fit(obj.fields[create.subject].max_length, parsed.subject or "—")
    if create.body:
        values[create.body] = log.fit(obj.fields[create.body].max_length, parsed.text or "—")
    record = session.create(create.object, values, allow_duplicate=True)
    return Target(create.object, record.id)


def record_bounce(session: Session, addresses: tuple[str, ...]) -> list[Target]:
    """Set the ``bounced`` field of every sender record holding one of ``addresses``, through the
    write path, with an engagement event ``email_bounced`` each; the addresses receive no more
    e-mail (``campaigns.suppression``, reason ``bounced``). The records marked."""
    marked: list[Target] = []
    for sender in log.mail_settings(session).senders:
        if sender.bounced is None:
            continue
        for address in addresses:
            try:
                found = session.query(sender.object).filter(**{sender.email: address}).all()
            except TrellisError:
                continue
            for record in found:
                if not record.get(sender.bounced):
                    session.update(sender.object, record.id, {sender.bounced: True})
                record_event(session, "email_bounced", sender.object, record.id, {"address": address})
                marked.append(Target(sender.object, record.id))
    for address in addresses:
        suppress(session, address, "bounced")
    return marked
