"""Session secret, cookie settings, CSRF protection and security headers.

- ``SECRET_KEY``: ``TRELLIS_WEB_SECRET``, else derived (HMAC) from
  ``TRELLIS_SECRET_KEY``, else random per process — sessions then end when the
  process restarts, and a warning says so. (``trellis serve --workers N`` sets
  one random ``TRELLIS_WEB_SECRET`` for all its workers instead:
  ``engine.cli.gunicorn_app.share_web_secret``.) Sessions are signed cookies,
  valid in every process with the same secret; nothing of them is kept in a
  process.
- Cookies are HttpOnly and SameSite=Lax; Secure unless the app runs in debug or
  testing mode; ``TRELLIS_SECURE_COOKIES`` (1/0, true/false) overrides that.
- The serializer of the session cookie is made once per app and secret (``SessionCookies``).
- Every POST form carries a ``csrf_token`` (Flask-WTF's CSRFProtect). The REST
  API is exempt: it authenticates with bearer tokens, never with cookies.
- Every response carries a Content-Security-Policy without inline scripts,
  X-Content-Type-Options, X-Frame-Options and Referrer-Policy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

from flask import Flask, Response
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer

#: Sent with every response (UI and API).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
#: Largest upload the UI accepts (bytes); larger requests get 413.
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024


def secret_key(app: Flask) -> str:
    """The key that signs session cookies (see the module docstring)."""
    configured = app.config.get("SECRET_KEY") or os.environ.get("TRELLIS_WEB_SECRET")
    if configured:
        return configured
    master = app.extensions["trellis"].keys.text  # TRELLIS_SECRET_KEY(_FILE), read when Trellis opened
    if master:
        return hmac.new(master.encode(), b"trellis web session v1", hashlib.sha256).hexdigest()
    app.logger.warning(
        "Neither TRELLIS_WEB_SECRET nor TRELLIS_SECRET_KEY(_FILE) is set: sessions are signed with a "
        "random key and end when this process stops. Set TRELLIS_WEB_SECRET to keep them."
    )
    return secrets.token_hex(32)


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def init_app(app: Flask) -> None:
    """Configure secret, cookies, upload limits and CSRF; add the security headers."""
    app.config["SECRET_KEY"] = secret_key(app)
    secure_setting = app.config.get("TRELLIS_SECURE_COOKIES", os.environ.get("TRELLIS_SECURE_COOKIES"))
    secure = _flag(secure_setting) if secure_setting not in (None, "") else not (app.debug or app.testing)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
    )
    app.config.setdefault("TRELLIS_UPLOAD_DIR", os.environ.get("TRELLIS_UPLOAD_DIR") or "uploads")
    app.config.setdefault("MAX_CONTENT_LENGTH", DEFAULT_MAX_UPLOAD)
    app.config.setdefault("WTF_CSRF_ENABLED", True)
    csrf = CSRFProtect(app)  # one per app: its exemptions stay the app's own
    api = app.blueprints.get("api")
    if api is not None:
        csrf.exempt(api)
    app.after_request(add_security_headers)
    app.session_interface = SessionCookies()


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookies, with the serializer that reads and writes them made once
    per app and secret (Flask makes one on every request — and itsdangerous tries its JSON on
    ``{}`` for each — to read the cookie and again to write it): the same cookies, the same
    checks of signature and age."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        fallbacks = app.config.get("SECRET_KEY_FALLBACKS")
        key = (app.secret_key, tuple(fallbacks) if fallbacks else ())
        made: dict[Any, URLSafeTimedSerializer | None] = app.extensions.setdefault("trellis_session_serializer", {})
        found = made.get(key)
        if found is None:
            found = super().get_signing_serializer(app)
            made.clear()  # one secret at a time
            made[key] = found
        return found


def add_security_headers(response: Response) -> Response:
    """Add the headers of ``SECURITY_HEADERS`` that the response does not set itself. A response
    whose own CSP lets some sites frame it (a public web form) gets no ``X-Frame-Options``."""
    framed = "frame-ancestors 'none'" not in response.headers.get("Content-Security-Policy", "frame-ancestors 'none'")
    for name, value in SECURITY_HEADERS.items():
        if not (framed and name == "X-Frame-Options"):
            response.headers.setdefault(name, value)
    return response
