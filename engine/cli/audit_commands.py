"""``trellis audit``: check the tamper-evident audit trail and read the logs (S35).

- ``seal`` chains the audit rows written since the last seal (the worker does it on every
  pass): from then on, changing them is evident;
- ``verify`` seals first (unless ``--no-seal``), recomputes the hash chain and names the first
  broken row; it prints the chain's head and row count, which ``--expect-head`` /
  ``--expect-count`` of a later run compare with (rows removed up to there, even the whole
  trail with its head, are then detected), and the rows not sealed yet;
- ``show`` prints one record's history, as the system or as a given user sees it;
- ``logins`` and ``reads`` list the login log and the read/export access log.

These commands read system tables only, so they work without
TRELLIS_SECRET_KEY: encrypted values never enter the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
import sqlalchemy as sa

from engine.cli.common import CONFIG_ARG, DB_OPTION, config_first, echo, secho, user_errors
from engine.cli.group import main
from engine.metadata import Config, load_config
from engine.runtime.database import create_engine, database_url
from engine.runtime.errors import TrellisError, UnknownObject
from engine.runtime.messages import current_language, message
from engine.runtime.security import audit as trail
from engine.runtime.security.permissions import SYSTEM, PermissionDenied, Principal, load_principal
from engine.runtime.tables import Schema, build_schema

#: A head hash as ``verify`` prints it.
HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Objects of the audit trail besides the config's own: users (and teams) changed through the directory.
SYSTEM_OBJECTS = ("sys_user", "sys_team")
LIMIT_OPTION = click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=1), help="How many rows to show, newest first."
)


class NoAuditTrail(TrellisError):
    """The database has not been set up by ``trellis apply`` yet."""

    code = "no_audit_trail"


@dataclass(frozen=True)
class AuditDatabase:
    """The compiled config and the database the audit commands read."""

    config: Config
    schema: Schema
    engine: sa.Engine

    @contextmanager
    def snapshot(self) -> Iterator[sa.Connection]:
        """One read-only transaction that sees a single moment of the database, so that
        rows other writers commit meanwhile do not look like tampering."""
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection


@contextmanager
def _database(config: str, db_url: str | None) -> Iterator[AuditDatabase]:
    compiled = load_config(config)
    engine = create_engine(db_url)
    try:
        inspector = sa.inspect(engine)
        if not inspector.has_table("sys_audit"):
            raise NoAuditTrail(
                f"{database_url(db_url)} has no audit trail yet: "
                f"run `trellis apply {config}` to set up the database first"
            )
        if "seal_seq" not in {column["name"] for column in inspector.get_columns("sys_audit")}:
            raise NoAuditTrail(
                f"the audit trail of {database_url(db_url)} was set up by an older Trellis: "
                f"run `trellis apply {config}` to bring it up to date first"
            )
        yield AuditDatabase(compiled, build_schema(compiled), engine)
    finally:
        engine.dispose()


@main.group()
def audit() -> None:
    """Check the audit trail and read the audit, login and access logs."""


def _hash(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--expect-head``: a head hash as ``verify`` printed it (64 hexadecimal digits)."""
    if value is None:
        return None
    value = value.strip().lower()
    if not HEX64.match(value):
        raise click.BadParameter('give the 64 hexadecimal digits `trellis audit verify` printed after "head".')
    return value


@audit.command()
@CONFIG_ARG
@DB_OPTION
@click.option(
    "--expect-head",
    metavar="HASH",
    callback=_hash,
    help="The head hash an earlier run printed: it must still be in the chain (else rows were removed).",
)
@click.option(
    "--expect-count",
    metavar="N",
    type=click.IntRange(min=0),
    help="The row count an earlier run printed: the chain must still have at least N rows.",
)
@click.option(
    "--no-seal",
    is_flag=True,
    help="Do not seal first: check what is sealed and count the rest (e.g. as a read-only database user).",
)
@user_errors
def verify(config: str, db_url: str | None, expect_head: str | None, expect_count: int | None, no_seal: bool) -> None:
    """Seal the rows written since the last seal, recompute the audit trail's hash chain; exit 1
    at the first broken row, or when rows an earlier run saw (--expect-head / --expect-count)
    are gone."""
    reference = None
    if expect_head is not None or expect_count is not None:
        reference = trail.Reference(head_hash=expect_head, count=expect_count)
    with _database(config, db_url) as db:
        if not no_seal:
            _seal_before_verifying(db)
        with db.snapshot() as connection:
            report = trail.verify(connection, db.schema, reference)
    if report.ok:
        secho(f"Audit trail intact: {_count(report.checked, 'row')} checked.", fg="green")
        head = f"row {report.head_id}" if report.head_id is not None else "empty trail"
        echo(f"Head: {report.head_hash} ({head}). Keep this line; next time check that no rows were removed:")
        echo(f"  trellis audit verify {config} --expect-head {report.head_hash} --expect-count {report.checked}")
        _print_unsealed(report)
        return
    if report.broken_at is None:
        secho(f"Audit trail TRUNCATED: {report.reason}", fg="red")
        echo(
            f"The chain itself is intact ({_count(report.checked, 'row')}). Restore the audit tables from a "
            "backup and find out who deleted rows directly in the database."
        )
        _print_unsealed(report)
        sys.exit(1)
    secho(f"Audit trail BROKEN at row {report.broken_at}: {report.reason}", fg="red")
    intact = f"{_count(report.checked, 'row')} before it {'is' if report.checked == 1 else 'are'} intact"
    echo(f"{intact}. Restore the audit tables from a backup and find out who changed the database directly.")
    _print_unsealed(report)
    sys.exit(1)


def _seal_before_verifying(db: AuditDatabase) -> None:
    """Seal what is unsealed; when the chain cannot be continued (or the database user may not
    write), say so and let verify check what is sealed: it names the break."""
    try:
        trail.seal(db.engine, db.schema)
    except trail.AuditChainBroken as exc:
        secho(message("audit.seal_failed", current_language(), reason=str(exc)), fg="yellow", err=True)
    except sa.exc.ProgrammingError as exc:  # e.g. permission denied for a read-only database user
        reason = str(exc.orig).strip().splitlines()[0]
        secho(message("audit.seal_failed", current_language(), reason=reason), fg="yellow", err=True)


def _print_unsealed(report: trail.ChainReport) -> None:
    """The rows written since the last seal: real history, not yet tamper-evident."""
    if report.unsealed:
        echo(
            message(
                "audit.unsealed",
                current_language(),
                count=report.unsealed,
                oldest=_when(report.unsealed_oldest),
                newest=_when(report.unsealed_newest),
            )
        )


@audit.command()
@CONFIG_ARG
@DB_OPTION
@user_errors
def seal(config: str, db_url: str | None) -> None:
    """Seal the audit rows written since the last seal (the worker does this on every pass):
    chain them, so that changing them from then on breaks the chain."""
    with _database(config, db_url) as db:
        report = trail.seal(db.engine, db.schema)
    if report.sealed:
        secho(
            message(
                "audit.sealed",
                current_language(),
                count=report.sealed,
                total=report.head_seq,
                hash=report.head_hash,
                row=report.head_id,
            ),
            fg="green",
        )
    else:
        echo(message("audit.nothing_to_seal", current_language(), total=report.head_seq, hash=report.head_hash))


@audit.command()
@config_first(("object_name", "OBJECT", str), ("record_id", "ID", int))
@DB_OPTION
@click.option(
    "--as",
    "viewer",
    metavar="USER",
    help="Show the history as USER sees it (hidden fields masked); USER needs view_audit.",
)
@user_errors
def show(config: str, object_name: str, record_id: int, db_url: str | None, viewer: str | None) -> None:
    """Print the history of record ID of OBJECT, oldest first (default: the system view)."""
    with _database(config, db_url) as db, db.snapshot() as connection:
        if object_name not in db.config.objects and object_name not in SYSTEM_OBJECTS:
            raise UnknownObject(object_name, [*db.config.objects, *SYSTEM_OBJECTS])
        principal = _viewer(connection, db, viewer)
        entries = trail.history(connection, db.schema, object_name, record_id, principal)
    if not entries:
        echo(f"No audit rows for {object_name} {record_id}.")
        return
    seen_as = "" if viewer is None else f", as {principal.username} sees it"
    echo(f"History of {object_name} {record_id} ({_count(len(entries), 'change')}, oldest first{seen_as}):")
    for entry in entries:
        echo(f"{_when(entry.at)}  {entry.username} via {entry.channel}  {entry.action}  (row {entry.id})")
        for name, (old, new) in entry.changes.items():
            echo(f"    {name}: {_value(old)} → {_value(new)}")


def _viewer(connection: sa.Connection, db: AuditDatabase, username: str | None) -> Principal:
    """The principal whose view ``show`` prints; they need the ``view_audit`` permission."""
    if username is None:
        return SYSTEM
    principal = load_principal(connection, db.config, username, dt.datetime.now(dt.UTC), db.schema.system["sys_users"])
    if not principal.has("view_audit"):
        raise PermissionDenied(
            f"{principal.username} may not read the audit trail: that needs the "
            "view_audit permission (grant it to one of their roles under `roles:`)"
        )
    return principal


@audit.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--user", "username", metavar="NAME", help="Only attempts to log in as NAME.")
@LIMIT_OPTION
@user_errors
def logins(config: str, db_url: str | None, username: str | None, limit: int) -> None:
    """List recent login attempts (success, failure, lockout…), newest first."""
    with _database(config, db_url) as db, db.snapshot() as connection:
        entries = trail.login_log(connection, db.schema, username=username, limit=limit)
    if not entries:
        echo("No login attempts recorded" + (f" for {username}." if username else "."))
        return
    for entry in entries:
        parts = [_when(entry.at), entry.username, entry.outcome, f"ip {entry.ip or '?'}"]
        parts += [p for p in (entry.user_agent, entry.detail) if p]
        echo("  ".join(parts))


@audit.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--object", "object_name", metavar="OBJECT", help="Only reads of OBJECT.")
@click.option("--user", "username", metavar="NAME", help="Only reads by NAME.")
@LIMIT_OPTION
@user_errors
def reads(config: str, db_url: str | None, object_name: str | None, username: str | None, limit: int) -> None:
    """List recent record reads and exports (objects with `audit: {reads: true}`), newest first."""
    with _database(config, db_url) as db, db.snapshot() as connection:
        if object_name is not None and object_name not in db.config.objects:
            raise UnknownObject(object_name, list(db.config.objects))
        entries = trail.access_log(connection, db.schema, object_name=object_name, username=username, limit=limit)
    if not entries:
        echo("No reads recorded.")
        return
    for entry in entries:
        target = entry.object if entry.record_id is None else f"{entry.object} {entry.record_id}"
        line = f"{_when(entry.at)}  {entry.username} via {entry.channel}  {entry.action}  {target}"
        echo(line + (f"  {_value(entry.detail)}" if entry.detail else ""))


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def _value(value: Any) -> str:
    """An old or new value as the history prints it."""
    if value is None:
        return "(empty)"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
