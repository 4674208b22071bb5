"""Reading a mailbox's new messages over IMAP (``trellis mail fetch``, the worker).

Always over TLS — IMAPS (``security: tls``) or STARTTLS — with the server's certificate
verified (against ``ca_file`` when given: a self-signed server's CA; ``tls_verify: false``
turns verification off). The credentials come from the environment variables the config names,
read here: a config compiles without them, a fetch without them says which one is missing.

The folder is opened read-only (flags untouched: people may read the same mailbox). The
messages after the highest UID taken under the folder's UIDVALIDITY (``sys_mail_messages``) are
fetched in UID order, each taken in by ``intake.take_in`` in a transaction of its own; when the
server renumbers the folder (a new UIDVALIDITY) every message is read again and the ones taken
before are known by their Message-ID.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import ssl
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.metadata.model import ImapServer, Mailbox
from engine.runtime.mail import log
from engine.runtime.mail.errors import MailboxUnavailable, MailNotConfigured
from engine.runtime.mail.intake import take_in

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: Seconds one IMAP conversation step may take.
TIMEOUT = 30.0
#: Messages taken from one mailbox per fetch at most (the next fetch goes on).
BATCH = 500


@dataclass
class FetchReport:
    """What one fetch of one mailbox did: how many messages became what."""

    mailbox: str
    outcomes: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    @property
    def taken(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "seen")


def fetch(
    crm: Runtime,
    mailboxes: tuple[str, ...] = (),
    environ: Mapping[str, str] = os.environ,
    folder: Path | None = None,
    batch: int = BATCH,
) -> list[FetchReport]:
    """Fetch the new messages of ``mailboxes`` (default: every mailbox of the config). A mailbox
    that cannot be read is reported (``FetchReport.error``) and the others are still read."""
    settings = crm.config.mail
    if settings is None:
        raise MailNotConfigured()
    names = mailboxes or tuple(name for name, box in settings.mailboxes.items() if box.imap is not None)
    for name in names:
        if name not in settings.mailboxes:
            raise MailNotConfigured(name, tuple(settings.mailboxes))
    reports = []
    for name in names:
        report = FetchReport(name)
        try:
            fetch_mailbox(crm, settings.mailboxes[name], environ, report, folder, batch)
        except MailboxUnavailable as exc:
            report.error = exc.reason
        reports.append(report)
    return reports


def fetch_mailbox(
    crm: Runtime,
    mailbox: Mailbox,
    environ: Mapping[str, str],
    report: FetchReport,
    folder: Path | None = None,
    batch: int = BATCH,
) -> None:
    """Take in the new messages of one mailbox (see the module)."""
    if mailbox.imap is None:
        raise MailboxUnavailable(mailbox.name, "it has no `imap:` server: it receives through `trellis mail serve`")
    connection = connect(mailbox, environ)
    try:
        uidvalidity = _select(connection, mailbox)
        with crm.session(None, channel=f"mail:{mailbox.name}") as session:
            last = log.last_uid(session, mailbox.name, uidvalidity)
        for uid in _new_uids(connection, mailbox, last)[:batch]:
            raw = _message(connection, mailbox, uid)
            if raw is not None:
                report.outcomes[take_in(crm, mailbox, uidvalidity, uid, raw, folder).outcome] += 1
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            connection.logout()


def tls_context(server: ImapServer) -> ssl.SSLContext:
    """The TLS settings of a server: verified against the system's CAs or ``ca_file``."""
    context = ssl.create_default_context(cafile=server.ca_file)
    if not server.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(mailbox: Mailbox, environ: Mapping[str, str]) -> imaplib.IMAP4:
    """A logged-in connection to the mailbox's server; MailboxUnavailable saying why not."""
    server = mailbox.imap
    assert server is not None, "fetch_mailbox reads mailboxes with a server only"
    user, password = environ.get(server.username_env, ""), environ.get(server.password_env, "")
    for variable, value, what in (
        (server.username_env, user, "user name"),
        (server.password_env, password, "password"),
    ):
        if not value:
            raise MailboxUnavailable(mailbox.name, f"the environment variable {variable} (the IMAP {what}) is not set")
    where = f"{server.host}:{server.port}"
    try:
        context = tls_context(server)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxUnavailable(mailbox.name, f"cannot read ca_file {server.ca_file}: {exc}") from None
    try:
        if server.security == "tls":
            connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                server.host, server.port, ssl_context=context, timeout=TIMEOUT
            )
        else:
            connection = imaplib.IMAP4(server.host, server.port, timeout=TIMEOUT)
            connection.starttls(ssl_context=context)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxUnavailable(
            mailbox.name,
            f"the certificate of {where} does not verify ({exc.verify_message}): "
            "give the server's CA as `ca_file` in the mailbox's `imap:` settings",
        ) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxUnavailable(mailbox.name, f"cannot reach {where}: {exc or type(exc).__name__}") from None
    try:
        connection.login(user, password)
    except (imaplib.IMAP4.error, OSError) as exc:
        connection.shutdown()
        raise MailboxUnavailable(mailbox.name, f"{where} refused the login of {user}: {_text(exc)}") from None
    return connection


def _text(exc: Exception) -> str:
    return str(exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc)


def _select(connection: imaplib.IMAP4, mailbox: Mailbox) -> int:
    """Open the folder read-only; its UIDVALIDITY."""
    folder = mailbox.imap.folder if mailbox.imap else "INBOX"
    status, data = connection.select(_quoted(folder), readonly=True)
    if status != "OK":
        raise MailboxUnavailable(mailbox.name, f"no folder {folder!r}: {_text(Exception(*data))}")
    _, values = connection.response("UIDVALIDITY")
    try:
        return int(values[0])
    except (TypeError, ValueError, IndexError):
        raise MailboxUnavailable(mailbox.name, "the server gave the folder no UIDVALIDITY") from None


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _new_uids(connection: imaplib.IMAP4, mailbox: Mailbox, last: int) -> list[int]:
    status, data = connection.uid("SEARCH", f"UID {last + 1}:*")
    if status != "OK":
        raise MailboxUnavailable(mailbox.name, f"the server refused to list the messages: {data!r}")
    found = (data[0] or b"").split() if data else []
    return sorted(uid for uid in (int(u) for u in found) if uid > last)  # `N:*` names the last UID even below N


_LITERAL = re.compile(rb"BODY\[\]")


def _message(connection: imaplib.IMAP4, mailbox: Mailbox, uid: int) -> bytes | None:
    status, data = connection.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if status != "OK":
        raise MailboxUnavailable(mailbox.name, f"the server refused message {uid}: {data!r}")
    for item in data:
        if isinstance(item, tuple) and _LITERAL.search(item[0]):
            return bytes(item[1])
    return None  # expunged meanwhile
