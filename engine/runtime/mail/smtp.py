"""The built-in SMTP receiver (``trellis mail serve``): mail delivered straight to Trellis.

An aiosmtpd server accepts messages for the addresses of ``mail.mailboxes`` only (any other
recipient: ``550``) and takes each in for each mailbox it is addressed to, as a fetch does
(``intake.take_in``: routed, logged, one transaction) — before it answers ``250``, so a message
the database could not take is refused with ``451`` and the sending server tries again. With no
UID to remember, a message sent twice (a retry after a lost answer) is known by its Message-ID.
Meant to sit behind the company's mail server on a private network or loopback (it offers no
TLS and no login: the mail server forwards to it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import Mailbox
from engine.runtime.errors import TrellisError
from engine.runtime.mail.errors import MailNotConfigured
from engine.runtime.mail.intake import take_in

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

    from engine.runtime.context import Runtime

log = logging.getLogger("trellis.mail")


class Receiver:
    """The aiosmtpd handler: recipients checked against the mailboxes, each message taken in."""

    def __init__(self, crm: Runtime) -> None:
        settings = crm.config.mail
        if settings is None or not settings.mailboxes:
            raise MailNotConfigured()
        self.crm = crm
        self.mailboxes: dict[str, Mailbox] = {box.address.lower(): box for box in settings.mailboxes.values()}
        self.taken: dict[str, int] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.lower() not in self.mailboxes:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        boxes = {self.mailboxes[a.lower()].name: self.mailboxes[a.lower()] for a in envelope.rcpt_tos}
        try:
            for box in boxes.values():
                outcome = take_in(self.crm, box, None, None, bytes(raw))
                self.taken[outcome.outcome] = self.taken.get(outcome.outcome, 0) + 1
        except (TrellisError, sa.exc.DBAPIError) as exc:
            log.error("mail serve: a message could not be taken in, the sender will retry: %s", exc)
            return "451 4.3.0 cannot take the message now, try again later"
        return "250 Message accepted"


def receiver(crm: Runtime, host: str, port: int, max_size: int | None = None) -> Controller:
    """A started SMTP server on ``host:port`` taking mail in for ``crm`` (``stop()`` ends it)."""
    from aiosmtpd.controller import Controller

    settings = crm.config.mail
    limit = max_size or 4 * (settings.max_attachment_size if settings else 20 * 1024 * 1024)
    controller = Controller(Receiver(crm), hostname=host, port=port, data_size_limit=limit)
    controller.start()
    return controller
