"""Commands about API tokens: ``trellis token create | list | revoke``.

They act as the system (an admin at the server's shell). The secret of a new
token is printed once; Trellis stores only its hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, config_first, echo, secho, user_errors
from engine.cli.group import main
from engine.runtime.errors import TrellisError
from engine.runtime.security import tokens
from engine.trellis import Trellis


class BadExpiry(TrellisError):
    """``--expires`` is not a date."""

    code = "invalid"


@contextmanager
def _crm(config: str, db_url: str | None) -> Iterator[Trellis]:
    """The CRM of a database brought to CONFIG (raises DatabaseOutOfDate otherwise)."""
    crm = Trellis.open(config, db_url)
    try:
        crm.check_database()
        yield crm
    finally:
        crm.close()


def _expiry(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadExpiry(f"--expires {value!r} is not a date: use YYYY-MM-DD or an ISO date-time") from None


def _when(moment: dt.datetime | None, empty: str = "-") -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else empty


@main.group()
def token() -> None:
    """Manage API tokens: create, list, revoke."""


@token.command("create")
@config_first(("username", "USERNAME", str))
@click.option("--name", help="What the token is for, e.g. the integration's name.")
@click.option("--expires", help="Date (YYYY-MM-DD, 00:00 UTC) or ISO date-time when the token stops working.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Limit the token to a scope (repeatable): events (POST /api/v1/events only, e.g. for the website).",
)
@DB_OPTION
@user_errors
def create(
    config: str, username: str, name: str | None, expires: str | None, scopes: tuple[str, ...], db_url: str | None
) -> None:
    """Create an API token acting as USERNAME and print its secret (shown only this once)."""
    expires_at = _expiry(expires)
    with _crm(config, db_url) as crm:
        secret, info = tokens.create_token(crm, username, name=name, expires_at=expires_at, scopes=scopes or None)
    until = f", expires {_when(info.expires_at)} UTC" if info.expires_at else ""
    limited = f", limited to {', '.join(info.scopes)}" if info.scopes else ""
    secho(f"Created token {info.id} for {info.username}{until}{limited}.", fg="green")
    echo("Its secret is shown only now; store it safely (e.g. in your integration's secret store):")
    echo(secret)
    echo("Use it as the header:  Authorization: Bearer <secret>")


@token.command("list")
@CONFIG_ARG
@click.option("--user", "username", help="Only this user's tokens.")
@DB_OPTION
@user_errors
def list_(config: str, username: str | None, db_url: str | None) -> None:
    """List API tokens (never their secrets)."""
    with _crm(config, db_url) as crm:
        found = tokens.list_tokens(crm, username)
        now = crm.clock_now().now_utc
    if not found:
        echo("No API tokens." if username is None else f"{username} has no API tokens.")
        return
    echo(f"{'ID':>4}  {'USER':<16} {'STATUS':<8} {'CREATED':<16}  {'EXPIRES':<16}  {'LAST USED':<16}  NAME")
    for info in found:
        echo(
            f"{info.id:>4}  {info.username:<16} {info.status(now):<8} {_when(info.created_at):<16}  "
            f"{_when(info.expires_at, 'never'):<16}  {_when(info.last_used_at, 'never'):<16}  {info.name or ''}"
        )


@token.command("revoke")
@config_first(("token_id", "TOKEN_ID", int))
@DB_OPTION
@user_errors
def revoke(config: str, token_id: int, db_url: str | None) -> None:
    """Revoke API token TOKEN_ID (see `trellis token list`); it stops working at once."""
    with _crm(config, db_url) as crm:
        info = tokens.revoke_token(crm, token_id)
    secho(f"Revoked token {info.id} of {info.username}.", fg="green")
