"""The client's address, scheme and host behind reverse proxies (``TRELLIS_TRUSTED_PROXIES``).

Behind a proxy every request comes from the proxy's address, so the per-IP limits (API, failed
logins, web forms) would count everybody together. ``TRELLIS_TRUSTED_PROXIES`` (app config or
the environment) is the number of proxies in front of Trellis that set ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host``; with it, werkzeug's ``ProxyFix`` takes the
client's address (and the scheme and host links are built with) from the last that many values
of those headers. Unset or 0 (the default): the headers are ignored, since a client talking to
Trellis directly could write anything in them.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.runtime.errors import TrellisError

SETTING = "TRELLIS_TRUSTED_PROXIES"
#: More proxies than this in front of one application is a mistake in the setting.
MOST_PROXIES = 10


class ProxySettingError(TrellisError):
    """``TRELLIS_TRUSTED_PROXIES`` is not a number of proxies."""

    code = "bad_proxy_setting"


def trusted_proxies(value: object) -> int:
    """The number of trusted proxies ``value`` (the setting's text) gives; 0 when unset.
    Raises ``ProxySettingError`` saying what to write."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return 0
    if not text.isdigit() or int(text) > MOST_PROXIES:
        raise ProxySettingError(
            f"{SETTING}={text!r} is not valid: give the number of reverse proxies in front of Trellis "
            f"that set X-Forwarded-For (0 to {MOST_PROXIES}; e.g. {SETTING}=1 behind one nginx)."
        )
    return int(text)


def init_app(app: Flask) -> None:
    """Wrap the app in ``ProxyFix`` when ``TRELLIS_TRUSTED_PROXIES`` names proxies."""
    count = trusted_proxies(app.config.get(SETTING))
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]
