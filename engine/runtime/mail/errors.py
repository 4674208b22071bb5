"""What can go wrong with mail, said so that a person can act on it."""

from __future__ import annotations

from engine.runtime.errors import TrellisError
from engine.runtime.messages import localized


class MailNotConfigured(TrellisError):
    """The config has no ``mail:`` section (or not the mailbox asked for)."""

    code = "mail_not_configured"

    def __init__(self, mailbox: str | None = None, known: tuple[str, ...] = ()) -> None:
        if mailbox is None:
            english = "this config has no `mail:` section: add one (see docs/config-reference.md#mail)"
            super().__init__(localized("mail_not_configured", english))
        else:
            english = f"no mailbox `{mailbox}` under `mail.mailboxes`; known: {', '.join(known) or 'none'}"
            super().__init__(
                localized("mail_unknown_mailbox", english, {"mailbox": mailbox, "known": ", ".join(known)})
            )


class MailboxUnavailable(TrellisError):
    """A mailbox cannot be read now: a credential variable is unset, the server cannot be
    reached, refuses the login or its certificate does not verify."""

    code = "mailbox_unavailable"

    def __init__(self, mailbox: str, reason: str) -> None:
        self.mailbox, self.reason = mailbox, reason
        super().__init__(f"mailbox {mailbox}: {reason}")
