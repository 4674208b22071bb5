"""Shared pieces of the ``trellis`` commands: arguments, options, error handling."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa

from engine.metadata import ConfigError, ConfigIssue
from engine.runtime import migrate
from engine.runtime.errors import TrellisError, ValidationFailed
from engine.runtime.messages import LANGUAGES, message

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

CONFIG_ARG = click.argument("config", envvar="TRELLIS_CONFIG", type=click.Path(dir_okay=False))
DB_OPTION = click.option(
    "--db",
    "db_url",
    envvar="TRELLIS_DATABASE_URL",
    default=None,
    help="Database URL (default: $TRELLIS_DATABASE_URL or sqlite:///trellis.db).",
)
LOSS_OPTION = click.option("--allow-data-loss", is_flag=True, help="Allow changes that drop stored values.")

#: Characters a terminal acts on instead of showing: C0 controls but newline and tab, DEL, C1 controls
#: (ESC starts cursor moves, screen clears and OSC 52 clipboard writes; 0x9b is a one-byte CSI) and the
#: bidirectional overrides that reorder what an admin reads.
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """``text`` with every character of ``TERMINAL_CONTROLS`` written as a visible escape
    (``\\x1b``, ``\\u202e``), so that values users control (user names of failed logins,
    field values in the audit trail) cannot drive the admin's terminal."""
    return TERMINAL_CONTROLS.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def echo(message: object = "", **kwargs: Any) -> None:
    """``click.echo`` of ``visible(message)``: every command writes through this (or ``secho``)."""
    click.echo(visible(message), **kwargs)


def secho(message: object = "", **kwargs: Any) -> None:
    """``click.secho`` of ``visible(message)``; the colours are added after escaping."""
    click.secho(visible(message), **kwargs)


def config_first(*names: tuple[str, str, Callable[[str], Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``CONFIG ARG…`` for a command with more positional arguments, CONFIG optional when
    ``TRELLIS_CONFIG`` names it, as for every other command (Click fills positional arguments
    left to right, so CONFIG's envvar alone cannot make ``trellis token revoke 3`` work).

    Each of ``names`` is ``(parameter, METAVAR, converter)``; the command gets ``config`` and
    the converted values; a value the converter refuses is a usage error naming it.
    """
    metavars = " ".join(metavar for _, metavar, _ in names)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(arguments: tuple[str, ...], **kwargs: Any) -> Any:
            if len(arguments) == len(names) and os.environ.get("TRELLIS_CONFIG"):
                arguments = (os.environ["TRELLIS_CONFIG"], *arguments)
            if len(arguments) != len(names) + 1:
                raise click.UsageError(
                    f"give the config and {metavars}: CONFIG {metavars} (or set TRELLIS_CONFIG and give {metavars})"
                )
            values: dict[str, Any] = {}
            for (parameter, metavar, convert), text in zip(names, arguments[1:], strict=True):
                try:
                    values[parameter] = convert(text)
                except ValueError:
                    raise click.BadParameter(f"{text!r} is not a valid {metavar}", param_hint=metavar) from None
            return command(arguments[0], **values, **kwargs)

        return click.argument("arguments", nargs=-1, required=True, metavar=f"[CONFIG] {metavars}")(wrapper)

    return decorate


def reader_language(crm: Runtime, username: str | None) -> str:
    """The language a command speaks when no ``--lang`` is given: the user's locale when it is a
    language Trellis speaks, else the company's first language (``settings.languages``)."""
    from engine.runtime.security.users import user_locale

    return first_spoken((user_locale(crm, username) if username else None, *crm.config.settings.languages))


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors users cause into a message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            language = config_language(exc.languages)
            for issue in exc.issues:
                echo(issue.shown(language), err=True)
            count = len(exc.issues)
            secho(message(counted("cli.config_errors", count), language, count=count), fg="red", err=True)
            show_warnings(exc.warnings, language, err=True)
        except migrate.MigrationRefused as exc:
            secho("Refused: this change would lose or break data.", fg="red", err=True)
            for refusal in exc.refusals:
                echo(f"  - {refusal.message}", err=True)
        except migrate.UnknownVersion as exc:
            secho(str(exc), fg="red", err=True)
        except ValidationFailed as exc:
            for name, problems in exc.errors.items():
                for problem in problems:
                    echo(f"{name}: {problem.message}", err=True)
        except TrellisError as exc:
            secho(str(exc), fg="red", err=True)
        except sa.exc.OperationalError as exc:
            secho(f"Cannot use the database: {exc.orig}", fg="red", err=True)
            echo("Check --db / TRELLIS_DATABASE_URL and that the database server is running.", err=True)
        sys.exit(1)

    return wrapper


def show_warnings(warnings: Sequence[ConfigIssue], language: str = "en", err: bool = False) -> None:
    """Print a config's warnings (T-W…) in yellow, apart from its errors, and how many, in ``language``."""
    if not warnings:
        return
    label = message("cli.warning", language)
    for issue in warnings:
        secho(f"{label}: {visible(issue.shown(language))}", fg="yellow", err=err)
    count = len(warnings)
    secho(message(counted("cli.config_warnings", count), language, count=count), fg="yellow", err=err)


def config_language(languages: Sequence[str]) -> str:
    """The language a config's errors and warnings are shown in: ``TRELLIS_LANG`` when it names a
    language Trellis speaks, else the config's first such language (``settings.languages``), else English."""
    return first_spoken((os.environ.get("TRELLIS_LANG"), *languages))


def first_spoken(candidates: Sequence[str | None]) -> str:
    """The first of ``candidates`` (languages or locales such as ``zh_CN.UTF-8``) that names a
    language Trellis speaks, as its base language; English when none does."""
    for candidate in candidates:
        base = (candidate or "").replace("-", "_").split("_")[0].lower()
        if base in LANGUAGES:
            return base
    return "en"


def counted(code: str, count: int) -> str:
    """``code.one`` for one thing, ``code.other`` for any other number (English plurals)."""
    return f"{code}.{'one' if count == 1 else 'other'}"


class TimeOptionError(TrellisError):
    """A time option (``--at``, ``--from``, ``--to``) that is not an ISO date or date-time."""

    code = "bad_time"


def parse_time(option: str, text: str, zone: dt.tzinfo) -> dt.datetime:
    """The value of the time ``option``: an ISO date or date-time (read in ``zone``, the company's
    time zone, when it has no offset), in UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeOptionError(
            f"{option} {text!r} is not an ISO date-time: write e.g. 2026-06-01T09:00 "
            "(company time zone) or 2026-06-01T01:00:00+00:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(dt.UTC)
