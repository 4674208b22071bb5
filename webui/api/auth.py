"""Bearer-token authentication of the REST API.

Every API request carries ``Authorization: Bearer trl_…``; the engine
(``engine.runtime.tokens.resolve_token``) decides whether it is valid and
whose it is. Without a token the answer is 401 with ``WWW-Authenticate: Bearer``;
with an invalid one (unknown, revoked, expired, or its account disabled or
expired) 401 with ``error="invalid_token"``.
"""

from __future__ import annotations

from flask import g, request

from engine.runtime.tokens import resolve_token
from webui import get_trellis
from webui.api.errors import ApiError


def bearer_token() -> str | None:
    """The bearer token of the current request, or None when it has none."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def authenticate() -> None:
    """``before_request`` of the API: resolve the token into ``g.api_username`` or refuse."""
    token = bearer_token()
    if token is None:
        raise ApiError(401, "unauthorized", "This API needs a token: send the header "
                       "`Authorization: Bearer <token>` (create a token with `trellis token create`).")
    g.api_username = resolve_token(get_trellis(), token, ip=request.remote_addr)


def current_username() -> str:
    """The user the current API request acts as."""
    return g.api_username
