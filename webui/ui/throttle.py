"""Per-IP throttling of failed logins (the password and the two-factor step).

The engine locks one *account* after ``lockout_attempts`` failures; this stops
one *address* from trying many accounts (or unknown names) in a row. Only
failed attempts count, so an office behind one NAT address logging in at nine
is not slowed down. The counters live in the REST API's Flask-Limiter storage
(``TRELLIS_RATELIMIT_STORAGE``, else ``TRELLIS_REDIS_URL``: Redis shared by every
process; else ``memory://``, per process),
keyed ``trellis-login/<ip>``.

Settings (app config, or the environment of the same name):

- ``TRELLIS_LOGIN_RATE_LIMIT`` — failed logins per IP address, default
  ``10 per minute;50 per hour`` (Flask-Limiter's notation);
- ``RATELIMIT_ENABLED = False`` turns it off together with the API's limits.

Past the limit, ``POST /login`` and ``POST /login/totp`` answer 429 with a page
saying when to try again and ``Retry-After``, without looking at the
credentials. Behind a reverse proxy, see ``webui.api.ratelimit`` about the
client's address.
"""

from __future__ import annotations

import math
import time

import limits
from flask import Flask, current_app, render_template, request
from limits.strategies import RateLimiter
from werkzeug.wrappers import Response

from webui.api.errors import LIMITER_KEY
from webui.api.ratelimit import counted
from webui.ui.context import t

DEFAULT_LOGIN_LIMIT = "10 per minute;50 per hour"
#: Namespace of the counters in the limiter's storage.
NAMESPACE = "trellis-login"


def init_app(app: Flask) -> None:
    """Default ``TRELLIS_LOGIN_RATE_LIMIT`` (the environment and test config win)."""
    app.config.setdefault("TRELLIS_LOGIN_RATE_LIMIT", DEFAULT_LOGIN_LIMIT)


def _strategy() -> RateLimiter | None:
    limiter = current_app.extensions.get(LIMITER_KEY)
    return limiter.limiter if limiter is not None and limiter.enabled else None


def _items() -> list[limits.RateLimitItem]:
    return limits.parse_many(current_app.config["TRELLIS_LOGIN_RATE_LIMIT"])


def _address() -> str:
    return request.remote_addr or "unknown"


def seconds_blocked() -> int | None:
    """Seconds until this address may try to log in again, or None when it may now."""
    strategy = _strategy()
    if strategy is None:
        return None
    waits = counted(
        lambda: [
            strategy.get_window_stats(item, NAMESPACE, _address()).reset_time - time.time()
            for item in _items()
            if not strategy.test(item, NAMESPACE, _address())
        ],
        [],
    )
    return max(1, math.ceil(max(waits))) if waits else None


def count_failure() -> None:
    """Count one failed login (wrong name, password or code; locked) of this address."""
    strategy = _strategy()
    if strategy is not None:
        counted(lambda: [strategy.hit(item, NAMESPACE, _address()) for item in _items()], [])


def refused(seconds: int) -> Response:
    """The 429 page: too many failed logins from this address, try again in so many minutes."""
    message = t("login.throttled", minutes=max(1, math.ceil(seconds / 60)))
    response = current_app.make_response((render_template("error.html", obj=None, status=429, message=message), 429))
    response.headers["Retry-After"] = str(seconds)
    return response
