"""Bearer-token authentication of the REST API.

Every API request carries ``Authorization: Bearer trl_…``; the engine
(``engine.runtime.security.tokens.resolve_token``) decides whether it is valid and
whose it is. Without a token the answer is 401 with ``WWW-Authenticate: Bearer``;
with an invalid one (unknown, revoked, expired, or its account disabled or
expired) 401 with ``error="invalid_token"``.
"""

from __future__ import annotations

from flask import g, request

from engine.runtime.messages import set_language
from engine.runtime.security.tokens import SCOPES, resolve_token_scopes
from engine.runtime.security.users import user_locale
from webui.api.errors import ApiError, said
from webui.i18n import LANGUAGES
from webui.state import get_trellis

#: Endpoints that need a token holding a scope (``engine.runtime.security.tokens.SCOPES``), by endpoint.
SCOPED_ENDPOINTS = {"api.events": "events"}


def bearer_token() -> str | None:
    """The bearer token of the current request, or None when it has none."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def authenticate() -> None:
    """``before_request`` of the API: resolve the token into ``g.api_username`` or refuse."""
    set_language(asked_language())
    token = bearer_token()
    if token is None:
        raise ApiError(401, "unauthorized", said("api.no_token"))
    g.api_username, g.api_scopes = resolve_token_scopes(get_trellis(), token, ip=request.remote_addr)
    set_language(api_language(g.api_username))
    needed = SCOPED_ENDPOINTS.get(request.endpoint or "")
    if g.api_scopes is not None and needed not in g.api_scopes:
        calls = "; ".join(SCOPES[s] for s in g.api_scopes if s in SCOPES)
        raise ApiError(403, "token_scope", said("api.token_limited", scopes=", ".join(g.api_scopes), calls=calls))
    if needed is not None and (g.api_scopes is None or needed not in g.api_scopes):
        raise ApiError(403, "token_scope", said("api.token_needs_scope", scope=needed))


def api_language(username: str) -> str:
    """The language of the API's messages: the best of ``Accept-Language`` among the config's
    languages, else the user's locale, else English."""
    asked = asked_language()
    if asked is not None:
        return asked
    languages = _languages()
    locale = user_locale(get_trellis(), username)
    base = (locale or "").replace("-", "_").split("_")[0].lower()
    return base if base in languages else "en"


def asked_language() -> str | None:
    """The best of ``Accept-Language`` among the config's languages (``zh-CN`` asks for ``zh``);
    None without the header, English when it names none of them. A refused token already speaks it."""
    if not request.accept_languages:
        return None
    languages = _languages()
    best = request.accept_languages.best_match(languages)
    if best is None:
        asked = (value.replace("-", "_").split("_")[0].lower() for value, _ in request.accept_languages)
        best = next((lang for lang in asked if lang in languages), None)
    return best or "en"


def _languages() -> list[str]:
    return [lang for lang in get_trellis().config.settings.languages if lang in LANGUAGES] or ["en"]


def current_username() -> str:
    """The user the current API request acts as."""
    return g.api_username
