"""API tokens (S46): bearer secrets that act as their user, with the user's permissions.

A token's secret is ``trl_`` followed by 32 random bytes (URL-safe base64). It
is shown once, when the token is created; ``sys_tokens`` stores only its
SHA-256 hash, so a copy of the database does not hand out working tokens. The
secret has 256 random bits, so an unsalted fast hash is enough (nobody can
guess a pre-image), and a lookup by hash needs no scan.

``resolve_token`` turns a secret into the user it acts as and refuses, with a
message a person can act on:

- something that is not a Trellis token, an unknown, a revoked or an expired
  token → ``TokenRefused``;
- a disabled or expired account, or an unknown user → the same refusal the
  rest of Trellis gives (``AccountUnavailable`` / ``UnknownUser``, from
  ``load_principal``); an account locked after failed logins
  (``locked_until``) → ``AccountUnavailable`` until the lock ends;
- a request from outside the account's networks (``settings.security.ip_allowlist``
  and the roles' ``ip_allowlist``, the rules of login steps 1 and 4 in
  ``engine.runtime.security.auth``) → ``PermissionDenied``.

``last_used_at`` is written at most once a minute per token, so a busy
integration does not turn every read into a write.

Creating and revoking tokens is written to the audit trail (``sys_token``).

A token may be limited to ``scopes`` (``SCOPES``): such a token may call only the endpoints of
its scopes — the website's token for ``POST /api/v1/events`` (scope ``events``) reads and
writes no record. A token without scopes acts as its user on the whole API except the scoped
endpoints: ``events`` needs a token holding that scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.runtime.database import read_only
from engine.runtime.errors import NotFound, TrellisError, ValidationFailed
from engine.runtime.records.validation import Errors
from engine.runtime.security import audit
from engine.runtime.security.auth import ip_allowed
from engine.runtime.security.permissions import (
    SYSTEM,
    AccountUnavailable,
    PermissionDenied,
    Principal,
    UnknownUser,
    load_principal,
)

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: The scopes a token may be limited to, and what each allows.
SCOPES = {"events": "report engagement events (POST /api/v1/events) and nothing else"}
#: Every secret starts with this, so that scanners and people recognise a Trellis token.
TOKEN_PREFIX = "trl_"
#: Random bytes in a secret.
SECRET_BYTES = 32
#: ``last_used_at`` is updated when it is older than this.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
#: Longest token name.
MAX_NAME_LENGTH = 200


class TokenRefused(TrellisError):
    """A bearer secret that is not a valid token: malformed, unknown, revoked or expired."""

    code = "invalid_token"


@dataclass(frozen=True)
class TokenInfo:
    """A token as shown to admins (never its secret or hash)."""

    id: int
    username: str
    name: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    #: The scopes the token is limited to (``SCOPES``); None: everything its user may do.
    scopes: tuple[str, ...] | None = None

    def status(self, now: dt.datetime) -> str:
        """``revoked``, ``expired`` or ``active`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def token_hash(secret: str) -> str:
    """The stored form of a secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    crm: Runtime,
    username: str,
    name: str | None = None,
    expires_at: dt.datetime | dt.date | None = None,
    *,
    channel: str = "cli",
    scopes: Sequence[str] | None = None,
) -> tuple[str, TokenInfo]:
    """Create a token for ``username``; returns the secret (show it once) and the token.

    ``expires_at`` may be a date (the token stops working at 00:00 UTC that day, as
    an account's ``expires_at``), a naive date-time (UTC) or an aware one; it must
    lie in the future. ``scopes`` limits the token (``SCOPES``). Raises UnknownUser,
    AccountUnavailable for a disabled or expired account, and ValidationFailed for a bad name,
    expiry or scope.
    """
    tokens, users = _tables(crm)
    now = crm.clock_now().now_utc
    expires = _moment(expires_at)
    name = (name or "").strip() or None
    errors = Errors()
    if name is not None and len(name) > MAX_NAME_LENGTH:
        errors.add("name", "too_long", f"A token name has at most {MAX_NAME_LENGTH} characters.")
    if expires is not None and expires <= now:
        errors.add("expires_at", "in_past", f"The expiry {expires:%Y-%m-%d %H:%M} UTC has passed; give a later one.")
    limited = tuple(dict.fromkeys(scopes)) if scopes else None
    for scope in limited or ():
        if scope not in SCOPES:
            known = ", ".join(SCOPES)
            errors.add(
                "scopes",
                "unknown_scope",
                f"There is no scope {scope!r}; the scopes are: {known}.",
                {"scope": scope, "known": known},
            )
    if errors:
        raise ValidationFailed(dict(errors), "token")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    with crm.engine.connect() as connection, connection.begin():
        user_id = connection.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise UnknownUser.said(
                "user.no_such_create",
                f"there is no user {username!r}; create it with `trellis user add`",
                user=username,
            )
        load_principal(connection, crm.config, user_id, now, users)  # refuses disabled and expired accounts
        row = {
            "user_id": user_id,
            "name": name,
            "token_hash": token_hash(secret),
            "created_at": now,
            "expires_at": expires,
            "revoked_at": None,
            "last_used_at": None,
            "scopes": list(limited) if limited else None,
        }
        token_id = connection.execute(sa.insert(tokens).values(row).returning(tokens.c.id)).scalar_one()
        audit.log_change(
            connection,
            crm.schema,
            SYSTEM,
            channel,
            "token.create",
            "sys_token",
            token_id,
            {
                "user": [None, username],
                "name": [None, name],
                "expires_at": [None, expires.isoformat() if expires else None],
                "scopes": [None, list(limited) if limited else None],
            },
            now,
        )
    return secret, TokenInfo(token_id, username, name, now, expires, None, None, limited)


def revoke_token(crm: Runtime, token_id: int, *, channel: str = "cli") -> TokenInfo:
    """Revoke a token at once (revoking a revoked token changes nothing); raises NotFound."""
    tokens, _ = _tables(crm)
    now = crm.clock_now().now_utc
    with crm.engine.connect() as connection, connection.begin():
        info = _info(connection, crm, tokens.c.id == token_id)
        if info is None:
            raise NotFound("token", token_id)
        if info.revoked_at is not None:
            return info
        connection.execute(sa.update(tokens).where(tokens.c.id == info.id).values(revoked_at=now))
        audit.log_change(
            connection,
            crm.schema,
            SYSTEM,
            channel,
            "token.revoke",
            "sys_token",
            info.id,
            {"revoked_at": [None, now.isoformat()]},
            now,
        )
    return TokenInfo(info.id, info.username, info.name, info.created_at, info.expires_at, now, info.last_used_at)


def list_tokens(crm: Runtime, username: str | None = None) -> list[TokenInfo]:
    """Every token (of ``username``, if given), oldest first; raises UnknownUser for an unknown name."""
    tokens, users = _tables(crm)
    with crm.engine.connect() as connection:
        if username is not None:
            if connection.execute(sa.select(users.c.id).where(users.c.username == username)).first() is None:
                raise UnknownUser.named(username)
            return _infos(connection, crm, users.c.username == username)
        return _infos(connection, crm, sa.true())


def resolve_token(crm: Runtime, secret: str, ip: str | None = None) -> str:
    """The user name a bearer ``secret`` acts as; refuses as described in the module docstring.

    ``ip`` (the client's address), when given, is checked against the account's
    networks like a login.
    """
    return resolve_token_scopes(crm, secret, ip)[0]


def resolve_token_scopes(crm: Runtime, secret: str, ip: str | None = None) -> tuple[str, tuple[str, ...] | None]:
    """``resolve_token``, and the scopes the token is limited to (None: not limited)."""
    resolved = resolve_token_principal(crm, secret, ip)
    return resolved.principal.username, resolved.scopes


@dataclass(frozen=True)
class ResolvedToken:
    """Who a token's request acts as (``principal``, read with the token) and the scopes the
    token is limited to (None: not limited)."""

    principal: Principal
    scopes: tuple[str, ...] | None


def resolve_token_principal(crm: Runtime, secret: str, ip: str | None = None) -> ResolvedToken:
    """``resolve_token_scopes`` with the principal, so that the request's unit of work does not
    read the user again. The checks read in a read-only transaction (no write lock on SQLite);
    ``last_used_at``, when it is due, is written after in a short transaction of its own."""
    if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise TokenRefused.said(
            "token.not_a_token",
            f"this is not a Trellis API token (they start with {TOKEN_PREFIX}); create one with `trellis token create`",
            prefix=TOKEN_PREFIX,
        )
    tokens, users = _tables(crm)
    now = crm.clock_now().now_utc
    with read_only(crm.engine) as connection:
        row = connection.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash(secret))).mappings().first()
        if row is None:
            raise TokenRefused.said(
                "token.unknown", "unknown API token; check that it was copied whole, or create a new one"
            )
        if row["revoked_at"] is not None:
            when = f"{row['revoked_at']:%Y-%m-%d %H:%M}"
            raise TokenRefused.said("token.revoked", f"this API token was revoked on {when} UTC", when=when)
        if row["expires_at"] is not None and row["expires_at"] <= now:
            when = f"{row['expires_at']:%Y-%m-%d %H:%M}"
            raise TokenRefused.said(
                "token.expired", f"this API token expired on {when} UTC; create a new one", when=when
            )
        principal = load_principal(connection, crm.config, row["user_id"], now, users)
        locked = connection.execute(sa.select(users.c.locked_until).where(users.c.id == row["user_id"])).scalar()
    if locked is not None and locked > now:
        until = f"{locked:%Y-%m-%d %H:%M}"
        raise AccountUnavailable.said(
            "token.account_locked",
            f"the account {principal.username!r} is locked until {until} UTC "
            "after failed logins; its API tokens work again then",
            user=principal.username,
            until=until,
        )
    if ip is not None:
        _check_network(crm, principal, ip)
    if row["last_used_at"] is None or now - row["last_used_at"] >= LAST_USED_RESOLUTION:
        with crm.engine.begin() as connection:
            connection.execute(sa.update(tokens).where(tokens.c.id == row["id"]).values(last_used_at=now))
    scopes = row.get("scopes")
    return ResolvedToken(principal, tuple(scopes) if scopes else None)


# --- helpers ----------------------------------------------------------------------
def _tables(crm: Runtime) -> tuple[sa.Table, sa.Table]:
    return crm.schema.system["sys_tokens"], crm.schema.system["sys_users"]


def _check_network(crm: Runtime, principal: Principal, ip: str) -> None:
    """The network rules of login (``engine.runtime.security.auth``, steps 1 and 4) for a token's request."""
    global_networks = crm.config.settings.security.ip_allowlist
    roles = [crm.config.roles[name] for name in principal.roles]
    role_limited = bool(roles) and all(r.ip_allowlist for r in roles)
    if (global_networks and not ip_allowed(ip, global_networks)) or (
        role_limited and not ip_allowed(ip, [n for r in roles for n in r.ip_allowlist])
    ):
        raise PermissionDenied.said(
            "token.network",
            f"API access from {ip} is not allowed for the account {principal.username!r}",
            ip=ip,
            user=principal.username,
        )


def _moment(value: dt.datetime | dt.date | None) -> dt.datetime | None:
    """An expiry as an aware UTC date-time; dates and naive times are UTC, as for accounts."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _select(crm: Runtime) -> sa.Select:
    tokens, users = _tables(crm)
    return sa.select(tokens, users.c.username).join(users, users.c.id == tokens.c.user_id)


def _to_info(row: Any) -> TokenInfo:
    return TokenInfo(
        row["id"],
        row["username"],
        row["name"],
        row["created_at"],
        row["expires_at"],
        row["revoked_at"],
        row["last_used_at"],
        tuple(row["scopes"]) if row.get("scopes") else None,
    )


def _info(connection: sa.Connection, crm: Runtime, condition: sa.ColumnElement[bool]) -> TokenInfo | None:
    row = connection.execute(_select(crm).where(condition)).mappings().first()
    return None if row is None else _to_info(row)


def _infos(connection: sa.Connection, crm: Runtime, condition: sa.ColumnElement[bool]) -> list[TokenInfo]:
    tokens, _ = _tables(crm)
    rows = connection.execute(_select(crm).where(condition).order_by(tokens.c.id)).mappings()
    return [_to_info(row) for row in rows]
