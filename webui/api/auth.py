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
from engine.runtime.security.tokens import SCOPES, resolve_token_principal
from engine.runtime.security.users import user_locale
from webui.api.errors import ApiError
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
    """``before_request`` of the API: resolve the token into ``g.api_username`` (and who that is,
    ``g.api_principal``, which the request's read session reuses) or refuse."""
    token = bearer_token()
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "This API needs a token: send the header "
            "`Authorization: Bearer <token>` (create a token with `trellis token create`).",
        )
    resolved = resolve_token_principal(get_trellis(), token, ip=request.remote_addr)
    g.api_principal, g.api_username, g.api_scopes = resolved.principal, resolved.principal.username, resolved.scopes
    set_language(api_language(g.api_username))
    needed = SCOPED_ENDPOINTS.get(request.endpoint or "")
    if g.api_scopes is not None and needed not in g.api_scopes:
        raise ApiError(
            403,
            "token_scope",
            f"This token is limited to {', '.join(g.api_scopes)}: it may call only "
            + "; ".join(SCOPES[s] for s in g.api_scopes if s in SCOPES)
            + ". Use a token without scopes for the rest of the API.",
        )
    if needed is not None and (g.api_scopes is None or needed not in g.api_scopes):
        raise ApiError(
            403,
            "token_scope",
            f"This endpoint needs a token with the scope {needed}: "
            f"create one with `trellis token create CONFIG USER --scope {needed}`.",
        )


def api_language(username: str) -> str:
    """The language of the API's messages: the best of ``Accept-Language`` among the config's
    languages, else the user's locale, else English."""
    crm = get_trellis()
    languages = [lang for lang in crm.config.settings.languages if lang in LANGUAGES] or ["en"]
    if request.accept_languages:
        best = request.accept_languages.best_match(languages)
        if best is None:  # zh-CN asks for zh
            best = next(
                (
                    lang
                    for lang, _ in (
                        (value.replace("-", "_").split("_")[0].lower(), q) for value, q in request.accept_languages
                    )
                    if lang in languages
                ),
                None,
            )
        return best or "en"
    locale = user_locale(crm, username)
    base = (locale or "").replace("-", "_").split("_")[0].lower()
    return base if base in languages else "en"


def current_username() -> str:
    """The user the current API request acts as."""
    return g.api_username
