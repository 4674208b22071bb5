"""Rate limits of the REST API, per token and per client IP, with Flask-Limiter.

Both limits count every API request. The per-token limit applies to requests
that carry a bearer token and is keyed by a hash of it (the secret never
reaches the limiter's storage); the per-IP limit applies to every request,
with or without a token, so that guessing tokens is limited too.

Settings (app config, or the environment of the same name):

- ``TRELLIS_API_RATE_LIMIT`` — per token, default ``600 per minute``
  (Flask-Limiter's notation: ``100/minute``, ``10 per second;1000 per hour``…);
- ``TRELLIS_API_IP_RATE_LIMIT`` — per IP, default the same as per token;
- ``TRELLIS_RATELIMIT_STORAGE`` — where counts are kept, default
  ``TRELLIS_REDIS_URL`` when that is set, else ``memory://`` (one process: with
  several processes each would count alone and allow N× the limit);
  ``redis://host:6379/0`` shares them between processes. With Redis, a Redis
  that stops answering makes the limits count in memory until it is back
  (Flask-Limiter's fallback; a failed login or a web form that finds it down
  first is not counted, ``counted``: the engine's account lockout still holds);
- ``RATELIMIT_ENABLED = False`` turns limiting off (Flask-Limiter's own setting).

Behind a reverse proxy, set ``TRELLIS_TRUSTED_PROXIES`` (``webui.proxies``) so
that the client's address, not the proxy's, is counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Flask, Response, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from webui.api.auth import bearer_token
from webui.api.errors import LIMITER_KEY

DEFAULT_LIMIT = "600 per minute"
DEFAULT_STORAGE = "memory://"
T = TypeVar("T")


def _token_key() -> str:
    token = bearer_token() or ""
    return "token:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _ip_key() -> str:
    return "ip:" + (get_remote_address() or "unknown")


def _token_limit() -> str:
    return current_app.config["TRELLIS_API_RATE_LIMIT"]


def _ip_limit() -> str:
    return current_app.config.get("TRELLIS_API_IP_RATE_LIMIT") or current_app.config["TRELLIS_API_RATE_LIMIT"]


def _without_token() -> bool:
    return bearer_token() is None


def _add_headers(response: Response) -> Response:
    """``X-RateLimit-Limit/Remaining/Reset`` of the tightest limit (``Retry-After`` only on 429)."""
    limiter: Limiter | None = current_app.extensions.get(LIMITER_KEY)
    current = limiter.current_limit if limiter is not None and limiter.enabled else None
    if current is not None:
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(current.remaining)
        response.headers["X-RateLimit-Reset"] = str(current.reset_at)
    return response


def init_app(app: Flask, blueprint: Blueprint) -> Limiter:
    """Create the app's limiter and put both limits on the API blueprint."""
    app.config.setdefault("TRELLIS_API_RATE_LIMIT", DEFAULT_LIMIT)
    app.config.setdefault("TRELLIS_API_IP_RATE_LIMIT", None)
    app.config.setdefault("TRELLIS_RATELIMIT_STORAGE", app.config.get("TRELLIS_REDIS_URL") or DEFAULT_STORAGE)
    storage = app.config["TRELLIS_RATELIMIT_STORAGE"]
    limiter = Limiter(
        _ip_key,
        app=app,
        storage_uri=storage,
        in_memory_fallback_enabled=not storage.startswith("memory:"),
        headers_enabled=False,
        key_prefix="trellis-api",
    )
    limiter.limit(
        _token_limit,
        key_func=_token_key,
        exempt_when=_without_token,
        error_message=lambda: f"{_token_limit()} per token",
    )(blueprint)
    limiter.limit(_ip_limit, key_func=_ip_key, error_message=lambda: f"{_ip_limit()} per IP address")(blueprint)
    blueprint.after_request(_add_headers)
    app.extensions[LIMITER_KEY] = limiter
    return limiter


def counted(call: Callable[[], T], fallback: T) -> T:
    """``call()``, a use of the limiter's storage outside Flask-Limiter's own checks (failed
    logins, web forms); ``fallback`` with a logged warning when the storage (Redis) fails, so that
    an unreachable Redis costs a limit, never a 500."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the storage's client raises its own errors (redis, …)
        current_app.logger.warning("Rate-limit storage unreachable, not counted: %s", exc)
        return fallback
