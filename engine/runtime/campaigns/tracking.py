"""Signed tracking tokens and the links of a campaign e-mail (issue 16 §3).

Each e-mail carries, per recipient, an open pixel ``/t/o/<token>``, one click URL per link
``/t/c/<token>`` and an unsubscribe URL ``/t/u/<token>``. A token is the recipient row's id,
what it is for (open, click, unsubscribe) and, for a click, the place of the link in that
e-mail — 11 bytes — followed by the first 16 bytes of their HMAC-SHA256 under a key derived
from the app's secret key (``TRELLIS_SECRET_KEY``), URL-safe base64: no address, name or URL
is in it. ``read_token`` gives back what a token says only when its MAC verifies, so a
forged, altered or truncated token is refused (the web answers 404 and records nothing).

A click's target is not in its URL: it is the link at that place in the recipient's own
e-mail, stored when the e-mail was written (``sys_campaign_recipients.links``), so the
redirect can only lead where the e-mail led — there is no open redirect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import re
import struct
from dataclasses import dataclass

from engine.runtime.errors import TrellisError
from engine.runtime.security.crypto import Keys

#: What a token is for, and its code in the token.
PURPOSES = {"open": 1, "click": 2, "unsubscribe": 3}
#: The path of each purpose's URL.
PATHS = {"open": "/t/o/", "click": "/t/c/", "unsubscribe": "/t/u/"}
_PACK = struct.Struct(">QBH")
_MAC = 16
_LABEL = b"trellis campaign tracking v1"
#: The links of a text that are tracked: http(s) URLs up to a space, a quote or a bracket.
LINK = re.compile(r"https?://[^\s<>\"'()\[\]{}]+[^\s<>\"'()\[\]{}.,;:!?]")
#: Links tracked per e-mail at most (more are left as they are).
MAX_LINKS = 50


class TrackingKeyMissing(TrellisError):
    """No secret key to sign tracking links with."""

    code = "campaign_no_secret"


@dataclass(frozen=True)
class Token:
    """What a verified token says."""

    recipient_id: int
    purpose: str
    link: int = 0


def tracking_key(keys: Keys) -> bytes:
    """The HMAC key of tracking tokens, derived from the app's secret key; raises
    ``TrackingKeyMissing`` when none is configured."""
    if not keys.text:
        raise TrackingKeyMissing(
            "Campaign e-mails carry signed tracking and unsubscribe links: set TRELLIS_SECRET_KEY "
            "(or TRELLIS_SECRET_KEY_FILE) for the web server and the worker."
        )
    return hmac.new(keys.text.encode(), _LABEL, hashlib.sha256).digest()


def make_token(key: bytes, recipient_id: int, purpose: str, link: int = 0) -> str:
    """The token of ``purpose`` (open, click, unsubscribe) for one recipient (and link)."""
    payload = _PACK.pack(recipient_id, PURPOSES[purpose], link)
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def read_token(key: bytes, token: str, purpose: str) -> Token | None:
    """What ``token`` says if it is a genuine token of ``purpose``; None otherwise."""
    if not isinstance(token, str) or len(token) > 64:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _PACK.size + _MAC:
        return None
    payload, mac = raw[: _PACK.size], raw[_PACK.size :]
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest()[:_MAC], mac):
        return None
    recipient_id, code, link = _PACK.unpack(payload)
    if code != PURPOSES[purpose]:
        return None
    return Token(recipient_id, purpose, link)


def url(base: str, key: bytes, recipient_id: int, purpose: str, link: int = 0) -> str:
    """The absolute tracking URL of ``purpose`` under the base URL."""
    return f"{base}{PATHS[purpose]}{make_token(key, recipient_id, purpose, link)}"


@dataclass(frozen=True)
class TrackedText:
    """A text whose links were replaced by click URLs, and the links in their order."""

    text: str
    links: tuple[str, ...]


def track_links(text: str, base: str, key: bytes, recipient_id: int) -> TrackedText:
    """Replace each http(s) link of ``text`` (the first ``MAX_LINKS``) by its click URL."""
    links: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if len(links) >= MAX_LINKS:
            return match.group(0)
        links.append(match.group(0))
        return url(base, key, recipient_id, "click", len(links) - 1)

    return TrackedText(LINK.sub(replace, text), tuple(links))


def html_body(text: str, footer: str, unsubscribe: str, pixel: str) -> str:
    """The HTML part of a campaign e-mail: the (tracked) text with its links clickable, the
    footer with the unsubscribe link, and the open pixel."""
    linked = LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(text, quote=False))
    paragraphs = "".join(f"<p>{part.replace(chr(10), '<br>')}</p>" for part in linked.split("\n\n"))
    return (
        f'<!doctype html><html><body>{paragraphs}<hr><p style="font-size:small">{html.escape(footer)} '
        f'<a href="{html.escape(unsubscribe)}">{html.escape(unsubscribe)}</a></p>'
        f'<img src="{html.escape(pixel)}" width="1" height="1" alt=""></body></html>'
    )
