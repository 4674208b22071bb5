"""Commands about accounts: ``trellis user …``, ``trellis team …``, ``trellis secret generate``.

They act as the system (an admin at the server's shell), through the same
``Directory`` the admin UI uses, so every change is checked and audited.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, config_first, echo, secho, user_errors
from engine.cli.group import main
from engine.runtime.context import Runtime
from engine.runtime.security import crypto
from engine.runtime.security.auth import totp_required
from engine.runtime.security.users import Directory, User
from engine.trellis import Trellis


@contextmanager
def _directory(config: str, db_url: str | None) -> Iterator[Directory]:
    """The user directory of a database brought to CONFIG, in one transaction, as the system
    (``directory`` raises DatabaseOutOfDate otherwise)."""
    crm = Trellis.open(config, db_url)
    try:
        with crm.directory(user=None, channel="cli") as directory:
            yield directory
    finally:
        crm.close()


#: ``[CONFIG] NAME``: see ``config_first``.
_config_and_name = config_first(("name", "NAME", str))


def _attribute_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The user attributes ``user add`` and ``user edit`` share."""
    options = [
        click.option("--team", help="The user's team (see `trellis team list`)."),
        click.option("--manager", help="User name of the user's manager."),
        click.option("--password", help="The password (without it you are asked, when at a terminal)."),
        click.option("--email", help="E-mail address."),
        click.option("--display-name", help="The name shown to people."),
        click.option("--expires", help="Date (YYYY-MM-DD, 00:00 UTC) or ISO date-time when the account stops working."),
        click.option("--locale", help="Language and region, e.g. zh_CN."),
        click.option("--timezone", help="Time zone, e.g. Asia/Shanghai."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _attributes(**given: Any) -> dict[str, Any]:
    """The options actually given, under the Directory's attribute names."""
    names = {"display_name": "display_name", "expires": "expires_at"}
    return {names.get(k, k): v for k, v in given.items() if v is not None}


def _at_terminal() -> bool:
    stdin = sys.stdin
    return stdin is not None and stdin.isatty()


def _ask_password(username: str) -> str | None:
    """Ask for the password (hidden, twice) at a terminal; None in scripts."""
    if not _at_terminal():
        return None
    return click.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True)


@main.group()
def user() -> None:
    """Manage users: add, edit, disable, list."""


@user.command("add")
@_config_and_name
@click.option("--role", "roles", multiple=True, required=True, help="A role from the config (repeat for several).")
@_attribute_options
@DB_OPTION
@user_errors
def user_add(
    config: str, name: str, roles: Sequence[str], password: str | None, db_url: str | None, **attributes: Any
) -> None:
    """Create user NAME with one or more roles."""
    password = password if password is not None else _ask_password(name)
    with _directory(config, db_url) as directory:
        created = directory.add(name, roles=list(roles), password=password, **_attributes(**attributes))
    secho(f"Created user {created.username} ({', '.join(created.roles)}).", fg="green")
    if password is None:
        echo(
            f"{created.username} has no password and cannot log in until one is set: "
            f"trellis user edit {config} {created.username} --password …"
        )


@user.command("edit")
@_config_and_name
@click.option("--role", "roles", multiple=True, help="Replace the user's roles (repeat for several).")
@_attribute_options
@click.option("--active/--inactive", default=None, help="Let the user log in again (also unlocks) or stop them.")
@click.option(
    "--away-until",
    help="Away (leave, holiday) until this date or ISO date-time: assignment rules skip "
    "the user meanwhile ('' clears).",
)
@DB_OPTION
@user_errors
def user_edit(
    config: str,
    name: str,
    roles: Sequence[str],
    password: str | None,
    active: bool | None,
    db_url: str | None,
    **attributes: Any,
) -> None:
    """Change user NAME: only the options given change (an empty value clears, e.g. --team '')."""
    changes = {k: (v or None) for k, v in _attributes(**attributes).items()}
    if roles:
        changes["roles"] = list(roles)
    if active is not None:
        changes["active"] = active
    if not changes and password is None:
        raise click.UsageError("give at least one change, e.g. --role, --team or --password")
    with _directory(config, db_url) as directory:
        directory.edit(name, password=password, **changes)
    secho(f"Updated user {name}.", fg="green")


@user.command("disable")
@_config_and_name
@DB_OPTION
@user_errors
def user_disable(config: str, name: str, db_url: str | None) -> None:
    """Stop user NAME from logging in; their records stay theirs."""
    with _directory(config, db_url) as directory:
        directory.disable(name)
    secho(f"Disabled user {name}.", fg="green")


@user.command("signout")
@_config_and_name
@DB_OPTION
@user_errors
def user_signout(config: str, name: str, db_url: str | None) -> None:
    """End every web session of user NAME, on every device (their API tokens stay valid)."""
    with _directory(config, db_url) as directory:
        directory.sign_out(name)
    secho(f"Signed out user {name} everywhere.", fg="green")


@user.command("list")
@CONFIG_ARG
@DB_OPTION
@user_errors
def user_list(config: str, db_url: str | None) -> None:
    """List users: name, roles, team, manager, status and two-factor login."""
    with _directory(config, db_url) as directory:
        users = directory.list()
        now, crm = directory.crm.clock_now().now_utc, directory.crm
    if not users:
        echo(f"No users yet; add one with `trellis user add {config} NAME --role ROLE`.")
        return
    rows = [
        [
            u.username,
            u.display_name or "",
            ", ".join(u.roles),
            u.team or "",
            u.manager or "",
            _status(u, now),
            _two_factor(u, crm),
        ]
        for u in users
    ]
    _table(["USER", "NAME", "ROLES", "TEAM", "MANAGER", "STATUS", "2FA"], rows)


def _status(user: User, now: dt.datetime) -> str:
    if not user.active:
        return "disabled"
    if user.expires_at is not None and user.expires_at <= now:
        return f"expired {user.expires_at:%Y-%m-%d}"
    if user.locked_until is not None and user.locked_until > now:
        return f"locked until {user.locked_until:%H:%M} UTC"
    if user.away_until is not None and user.away_until > now:
        return f"away until {user.away_until:%Y-%m-%d %H:%M} UTC"
    return f"active until {user.expires_at:%Y-%m-%d}" if user.expires_at else "active"


def _two_factor(user: User, crm: Runtime) -> str:
    if user.totp_enabled:
        return "on"
    roles = [crm.config.roles[r] for r in user.roles if r in crm.config.roles]
    return "needed" if totp_required(crm, roles) else "off"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for line in [headers, *rows]:
        echo("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


@main.group()
def team() -> None:
    """Manage teams: add, list."""


@team.command("add")
@_config_and_name
@click.option("--label", help="The name shown to people.")
@DB_OPTION
@user_errors
def team_add(config: str, name: str, label: str | None, db_url: str | None) -> None:
    """Create team NAME."""
    with _directory(config, db_url) as directory:
        created = directory.add_team(name, label)
    secho(f"Created team {created.name}.", fg="green")


@team.command("list")
@CONFIG_ARG
@DB_OPTION
@user_errors
def team_list(config: str, db_url: str | None) -> None:
    """List teams with their member counts."""
    with _directory(config, db_url) as directory:
        teams = directory.list_teams()
    if not teams:
        echo(f"No teams yet; add one with `trellis team add {config} NAME`.")
        return
    _table(["TEAM", "LABEL", "MEMBERS"], [[t.name, t.label or "", str(t.members)] for t in teams])


@main.group()
def secret() -> None:
    """Keys for encryption at rest."""


@secret.command("generate")
def secret_generate() -> None:
    """Print a new key for TRELLIS_SECRET_KEY (stdout: the key alone)."""
    echo(crypto.generate_key())
    echo("Set it as TRELLIS_SECRET_KEY and keep it safe: data encrypted with a lost key cannot be read.", err=True)
