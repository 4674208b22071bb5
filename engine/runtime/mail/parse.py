"""Reading one e-mail (the bytes an IMAP server or an SMTP client hands over) with the standard
library's ``email`` package: headers decoded (RFC 2047 words in any charset; GB2312 and GBK read
as GB18030, their superset, so that a character outside GB2312 still reads), the text part — or
the text of an HTML-only message —, attachments, the ids that thread it, whether it is an
automatic reply, and the failed recipients of a delivery report (DSN, RFC 3464).
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.message
import email.utils
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

#: Charsets read as a superset of them (mail clients label GBK text ``gb2312``).
SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "ascii": "utf-8"}
#: The longest text kept of one message (characters); the rest is cut with a note.
MAX_TEXT = 100_000
#: ``Precedence`` values of mail no person wrote.
AUTOMATIC_PRECEDENCE = ("bulk", "junk", "auto_reply", "auto-reply")
_IDS = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Attachment:
    """One attached file: its name, content type and bytes."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Parsed:
    """What intake needs of a message."""

    message_id: str | None
    subject: str
    sender: str
    sender_name: str
    text: str
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    automatic: bool = False
    #: The recipients a delivery report says failed (empty for any other message).
    bounced: tuple[str, ...] = ()
    is_report: bool = False
    recipients: tuple[str, ...] = field(default_factory=tuple)


def charset(name: str | None) -> str:
    """A codec name for a declared charset (unknown ones read as UTF-8)."""
    wanted = (name or "utf-8").strip().strip('"').lower()
    wanted = SUPERSETS.get(wanted, wanted)
    try:
        codecs.lookup(wanted)
    except LookupError:
        return "utf-8"
    return wanted


def header(message: email.message.Message, name: str) -> str:
    """A header's text, its encoded words decoded, folded onto one line."""
    raw = message.get(name)
    if raw is None:
        return ""
    if isinstance(raw, email.header.Header):
        raw = str(raw)
    out = []
    for value, declared in email.header.decode_header(str(raw)):
        if isinstance(value, bytes):
            out.append(value.decode(charset(declared), errors="replace"))
        else:
            out.append(value)
    return " ".join("".join(out).split())


def parse(raw: bytes) -> Parsed:
    """The parts of ``raw`` intake uses; never raises for a malformed message (it reads what it can)."""
    message = email.message_from_bytes(raw)
    name, address = email.utils.parseaddr(header(message, "From"))
    ids = _IDS.findall(message.get("In-Reply-To", "") or "") + _IDS.findall(message.get("References", "") or "")
    message_id = (_IDS.findall(message.get("Message-ID", "") or "") or [None])[0]
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    bounced: list[str] = []
    report = message.get_content_type() == "multipart/report"
    for part in message.walk():
        _read_part(part, texts, htmls, attachments, bounced, report)
    text = "\n\n".join(t.strip() for t in texts if t.strip()) or "\n\n".join(html_text(h) for h in htmls)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n[…]"
    recipients = tuple(
        a.lower() for _, a in email.utils.getaddresses(message.get_all("To", []) + message.get_all("Cc", []))
    )
    return Parsed(
        message_id=message_id,
        subject=header(message, "Subject"),
        sender=address.strip(),
        sender_name=name.strip(),
        text=text,
        references=tuple(dict.fromkeys(reversed(ids))),  # the nearest first: In-Reply-To, then the newest reference
        attachments=tuple(attachments),
        automatic=is_automatic(message),
        bounced=tuple(dict.fromkeys(bounced)),
        is_report=report,
        recipients=recipients,
    )


def is_automatic(message: email.message.Message) -> bool:
    """Whether no person wrote it: ``Auto-Submitted`` other than ``no`` (RFC 3834),
    ``X-Autoreply``/``X-Autorespond``, or ``Precedence: bulk/junk/auto_reply``."""
    submitted = (message.get("Auto-Submitted") or "no").strip().lower()
    if submitted != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    return (message.get("Precedence") or "").strip().lower() in AUTOMATIC_PRECEDENCE


def _read_part(
    part: email.message.Message,
    texts: list[str],
    htmls: list[str],
    attachments: list[Attachment],
    bounced: list[str],
    report: bool,
) -> None:
    kind = part.get_content_type()
    if report and kind == "message/delivery-status":  # its payload is a list of header blocks
        bounced.extend(_failed_recipients(part))
        return
    if part.is_multipart():
        return
    filename = part.get_filename()
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    if filename or disposition == "attachment":
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            name = header_text(filename) if filename else "attachment"
            attachments.append(Attachment(name[:255] or "attachment", kind[:100], data))
        return
    if kind in ("text/plain", "text/html"):
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            return
        decoded = data.decode(charset(part.get_content_charset()), errors="replace")
        (texts if kind == "text/plain" else htmls).append(decoded)


def header_text(value: str) -> str:
    """A header parameter's text (a file name), encoded words decoded."""
    out = []
    for chunk, declared in email.header.decode_header(value):
        out.append(chunk.decode(charset(declared), errors="replace") if isinstance(chunk, bytes) else chunk)
    return "".join(out).replace("\\", "/").rsplit("/", 1)[-1].strip()


def _failed_recipients(part: email.message.Message) -> list[str]:
    """``Final-Recipient`` of each per-recipient block whose ``Action`` is ``failed``."""
    payload = part.get_payload()
    blocks: list[email.message.Message] = (
        [b for b in payload if isinstance(b, email.message.Message)] if isinstance(payload, list) else []
    )
    if not blocks:  # some servers send the status as text: read it as header blocks
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(payload)
        blocks = [email.message_from_string(chunk) for chunk in re.split(r"\r?\n\r?\n", text) if chunk.strip()]
    out = []
    for block in blocks:
        if (block.get("Action") or "").strip().lower() != "failed":
            continue
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient") or ""
        address = recipient.split(";", 1)[-1].strip().strip("<>")
        if "@" in address:
            out.append(address)
    return out


class _Text(HTMLParser):
    """The text of an HTML part: tags dropped, a line break for each block, scripts and styles skipped."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_text(html: str) -> str:
    """A text version of an HTML message: what a reader sees, one paragraph per line."""
    reader = _Text()
    reader.feed(html)
    reader.close()
    lines = (" ".join(line.split()) for line in "".join(reader.out).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
