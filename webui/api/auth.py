"""Bearer-token authentication of the REST API.

Every API request carries ``Authorization: Bearer trl_…``; the engine
(``engine.runtime.security.tokens.resolve_token``) decides whether it is valid and
whose it is. Without a token the answer is 401 with ``WWW-Authenticate: Bearer``;
with an invalid one (unknown, revoked, expired, or its account disabled or
expired) 401 with ``error="invalid_token"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import g, request

from engine.runtime.messages import set_language
from engine.runtime.records.session import Session
from engine.runtime.security.tokens import SCOPES, resolve_token_principal
from webui.api.errors import ApiError, said
from webui.api.language import api_language, asked_language
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
    set_language(asked_language())
    token = bearer_token()
    if token is None:
        raise ApiError(401, "unauthorized", said("api.no_token"))
    resolved = resolve_token_principal(get_trellis(), token, ip=request.remote_addr)
    g.api_principal, g.api_username, g.api_scopes = resolved.principal, resolved.principal.username, resolved.scopes
    set_language(api_language(g.api_username))
    needed = SCOPED_ENDPOINTS.get(request.endpoint or "")
    if g.api_scopes is not None and needed not in g.api_scopes:
        calls = "; ".join(SCOPES[s] for s in g.api_scopes if s in SCOPES)
        raise ApiError(403, "token_scope", said("api.token_limited", scopes=", ".join(g.api_scopes), calls=calls))
    if needed is not None and (g.api_scopes is None or needed not in g.api_scopes):
        raise ApiError(403, "token_scope", said("api.token_needs_scope", scope=needed))


def current_username() -> str:
    """The user the current API request acts as."""
    return g.api_username


@contextmanager
def api_session() -> Iterator[Session]:
    """An engine session as the caller, on the ``api`` channel."""
    with get_trellis().session(user=current_username(), channel="api") as session:
        yield session


@contextmanager
def api_read_session() -> Iterator[Session]:
    """An engine session as the caller that only reads (lists, reports, dashboards), on the
    ``api`` channel, as the principal the token check read; the engine may serve it from the read
    replica (``Runtime.read_session``)."""
    principal = g.get("api_principal")
    with get_trellis().read_session(user=current_username(), channel="api", principal=principal) as session:
        yield session
