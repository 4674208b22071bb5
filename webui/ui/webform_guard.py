"""What tells a person's web form submission from spam (issue 16 §1): HTTP-level checks only.

- The signed form token (itsdangerous, keyed by the app's ``SECRET_KEY``, salt ``trellis-web-form``)
  replaces the CSRF cookie of logged-in pages: it names the form, when the page was shown, what
  the visit told (UTM parameters, referrer: tamper-proof, they travel inside it), a nonce and, with
  ``challenge: arithmetic``, an HMAC of the answer (never the answer itself: the token is signed,
  not encrypted). No session, no cookie: a cross-origin frame or a visitor refusing third-party
  cookies sends it as well. A token is good for ``TOKEN_MAX_AGE``.
- The fill time: the token's time to the POST's, at least ``spam.min_seconds``.
- The honeypot: a hidden decoy input (``spam.honeypot``) people never see nor fill in.
- The rate limits: per client address and per form, counted in the REST API's Flask-Limiter
  storage (``TRELLIS_RATELIMIT_STORAGE``, else ``TRELLIS_REDIS_URL``: Redis shared by every
  process; else ``memory://``, per process), under
  ``trellis-form/<form>/<ip>`` and ``trellis-form/<form>``; off with ``RATELIMIT_ENABLED = False``.
- The size limit: a POST whose body is larger than ``spam.max_bytes``.
- The origin: a POST whose ``Origin`` header is neither this site nor one of ``origins``.

``judge`` runs them in order and returns the first reason (``engine.runtime.webforms.rejections.REASONS``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import limits
from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from engine.metadata.model import WebForm
from webui.api.errors import LIMITER_KEY
from webui.api.ratelimit import counted

SALT = "trellis-web-form"
#: How long a shown form may be sent (seconds): a day.
TOKEN_MAX_AGE = 24 * 3600
#: Namespace of the rate counters in the limiter's storage.
NAMESPACE = "trellis-form"


@dataclass(frozen=True)
class Ticket:
    """What a form's token carries: the form, when it was shown, the visit's attribution, the
    nonce and the challenge's answer digest (None: no challenge)."""

    form: str
    issued: float
    captured: dict[str, str] = field(default_factory=dict)
    nonce: str = ""
    answer: str | None = None


@dataclass(frozen=True)
class Challenge:
    """An arithmetic question (``a + b``) and the digest of its answer."""

    a: int
    b: int
    digest: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _answer_digest(nonce: str, answer: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{nonce}:{answer.strip()}".encode(), hashlib.sha256).hexdigest()[:32]


def new_ticket(form: WebForm, captured: dict[str, str]) -> tuple[Ticket, Challenge | None]:
    """A ticket for a form shown now, and its challenge when the form asks one."""
    nonce = secrets.token_urlsafe(12)
    challenge = None
    if form.spam.challenge == "arithmetic":
        a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
        challenge = Challenge(a, b, _answer_digest(nonce, str(a + b)))
    ticket = Ticket(form.name, time.time(), captured, nonce, challenge.digest if challenge else None)
    return ticket, challenge


def sign(ticket: Ticket) -> str:
    """The token of ``ticket``."""
    return _serializer().dumps(
        {"f": ticket.form, "t": ticket.issued, "c": ticket.captured, "n": ticket.nonce, "a": ticket.answer}
    )


def read(token: str, form: WebForm) -> Ticket | None:
    """The ticket of a token signed here for ``form`` within ``TOKEN_MAX_AGE``, else None."""
    try:
        data: Any = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("f") != form.name or not isinstance(data.get("t"), (int, float)):
        return None
    captured = data.get("c") if isinstance(data.get("c"), dict) else {}
    return Ticket(
        form.name, float(data["t"]), {str(k): str(v) for k, v in captured.items()}, str(data.get("n")), data.get("a")
    )


def client_address() -> str:
    """The visitor's address (behind a proxy, see ``webui.api.ratelimit``)."""
    return request.remote_addr or "unknown"


def allowed_origins(form: WebForm) -> list[str]:
    """This site's origin and the form's ``origins``."""
    return [request.host_url.rstrip("/"), *form.origins]


def over_the_limit(form: WebForm) -> int | None:
    """Count this POST; seconds until the address (or the form) may send again when over a limit."""
    limiter = current_app.extensions.get(LIMITER_KEY)
    if limiter is None or not limiter.enabled:
        return None
    strategy = limiter.limiter

    def count() -> list[float]:
        waits = []
        for items, keys in (
            (limits.parse_many(form.spam.rate_limit), (form.name, client_address())),
            (limits.parse_many(form.spam.form_rate_limit), (form.name,)),
        ):
            for item in items:
                if not strategy.hit(item, NAMESPACE, *keys):
                    waits.append(strategy.get_window_stats(item, NAMESPACE, *keys).reset_time - time.time())
        return waits

    waits = counted(count, [])
    return max(1, math.ceil(max(waits))) if waits else None


def judge(form: WebForm) -> tuple[str | None, Ticket | None]:
    """The first reason this POST is spam (None: it passes) and its ticket when readable."""
    if (request.content_length or 0) > form.spam.max_bytes:
        return "too_large", None
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.rstrip("/") not in allowed_origins(form):
        return "origin", None
    ticket = read(request.form.get("_token", ""), form)
    if ticket is None:
        return "bad_token", None
    if request.form.get(form.spam.honeypot):
        return "honeypot", ticket
    if time.time() - ticket.issued < form.spam.min_seconds:
        return "too_fast", ticket
    if ticket.answer is not None and not hmac.compare_digest(
        ticket.answer, _answer_digest(ticket.nonce, request.form.get("_answer", ""))
    ):
        return "challenge", ticket
    return None, ticket
