"""Commands about the config and the schema: validate, plan (with what an overlay changes of its
template), apply, history, rollback, demo."""

from __future__ import annotations

import sys
from dataclasses import replace

import click
import sqlalchemy as sa

from engine.cli.common import (
    CONFIG_ARG,
    DB_OPTION,
    LOSS_OPTION,
    config_first,
    config_language,
    echo,
    secho,
    show_warnings,
    user_errors,
)
from engine.cli.group import main
from engine.cli.handover_commands import print_overlay
from engine.metadata import ConfigError, load_config
from engine.runtime import migrate
from engine.runtime.database import create_engine, database_url, missing_database
from engine.runtime.errors import TrellisError
from engine.runtime.messages import message


@main.command()
@CONFIG_ARG
@click.option("--strict", is_flag=True, help="Treat warnings (T-W codes) as errors: exit 1 when there are any.")
@user_errors
def validate(config: str, strict: bool) -> None:
    """Check CONFIG and report every error and warning with file:line:column, code and hint."""
    compiled = load_config(config)
    languages = compiled.settings.languages
    if strict and compiled.warnings:
        raise ConfigError([replace(issue, severity="error") for issue in compiled.warnings], tuple(languages))
    fields = sum(len(o.fields) for o in compiled.objects.values())
    language = config_language(languages)
    counts = {"objects": len(compiled.objects), "fields": fields, "picklists": len(compiled.picklists)}
    secho(message("cli.config_valid", language, config=config, **counts), fg="green")
    show_warnings(compiled.warnings, language)


@main.command()
@CONFIG_ARG
@DB_OPTION
@LOSS_OPTION
@user_errors
def plan(config: str, db_url: str | None, allow_data_loss: bool) -> None:
    """Show what `apply` would change in the database (exit 1 if it would refuse)."""
    compiled = load_config(config)
    result = migrate.plan(create_engine(db_url), compiled, allow_data_loss=allow_data_loss)
    echo(f"Plan for {database_url(db_url)}:")
    echo(str(result))
    print_overlay(config, compiled)
    if result.refusals:
        sys.exit(1)


@main.command()
@CONFIG_ARG
@DB_OPTION
@LOSS_OPTION
@user_errors
def apply(config: str, db_url: str | None, allow_data_loss: bool) -> None:
    """Change the database to match CONFIG, all or nothing, and record the version."""
    compiled = load_config(config)
    result = migrate.apply(
        create_engine(db_url), compiled, allow_data_loss=allow_data_loss, applied_by="cli", progress=echo
    )
    echo(str(result))
    secho("Applied." if not result.empty else "Nothing to change.", fg="green")


@main.command()
@CONFIG_ARG
@DB_OPTION
@user_errors
def history(config: str, db_url: str | None) -> None:
    """List the config versions applied to CONFIG's database, newest first."""
    versions = migrate.history(_existing_database(config, db_url))
    if not versions:
        echo(f"No config has been applied to this database yet; apply one with `trellis apply {config}`.")
    for version in versions:
        when = version.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        changes = (version.summary or "").splitlines()
        shown = changes[0] + (f" (+{len(changes) - 1} more changes)" if len(changes) > 1 else "") if changes else ""
        echo(f"{version.id:>4}  {when}  {version.content_hash[:12]}  {version.source_path}  {shown}")


@main.command()
@config_first(("version_id", "VERSION_ID", int))
@DB_OPTION
@LOSS_OPTION
@user_errors
def rollback(config: str, version_id: int, db_url: str | None, allow_data_loss: bool) -> None:
    """Re-apply config version VERSION_ID (see `trellis history CONFIG`) under the same data checks;
    lists the stored values that do not come back."""
    engine = _existing_database(config, db_url)
    result = migrate.rollback(engine, version_id, allow_data_loss=allow_data_loss, applied_by="cli")
    echo(str(result))
    secho(f"Restored version {version_id}.", fg="green")


@main.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--records", default=20, show_default=True, help="Records per object.")
@click.option("--seed", default=7, show_default=True, help="Random seed of the sample data.")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the web UI afterwards.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
@user_errors
def demo(config: str, db_url: str | None, records: int, seed: int, serve: bool, host: str, port: int) -> None:
    """Validate CONFIG, apply it, create demo users (one per role, in teams and a
    manager hierarchy), load realistic sample data owned by them, and serve the
    web UI (unless --no-serve), printing its address and the demo logins.

    The demo users share a published password: for local use only (docs/demo.md).
    When the config encrypts fields and no TRELLIS_SECRET_KEY is set, a key is
    generated into .trellis-secret-key next to the SQLite database (or in the
    current directory) and reused on the next run.
    """
    from engine import Trellis
    from engine.runtime.demo.data import (
        DEMO_PASSWORD,
        ensure_secret_key,
        load_demo_data,
        load_demo_users,
    )

    compiled = load_config(config)
    url = database_url(db_url)
    notice = ensure_secret_key(compiled, url)
    if notice is not None and notice.generated:
        secho(
            f"TRELLIS_SECRET_KEY is not set: generated a new key for the encrypted fields into {notice.path}",
            fg="yellow",
        )
        echo("  Keep that file: without it the encrypted values in this database cannot be read.")
    elif notice is not None:
        echo(f"TRELLIS_SECRET_KEY is not set: using the key in {notice.path}")
    if notice is not None:
        echo(f"  To use this database later (trellis, Python): export TRELLIS_SECRET_KEY_FILE={notice.path}")
    crm = Trellis(compiled, create_engine(url))
    echo(f"Config {config} is valid ({len(crm.config.objects)} objects).")
    result = crm.apply(applied_by="demo")
    echo(f"Database {url}: {'schema up to date' if result.empty else 'schema applied'}.")
    logins = load_demo_users(crm)
    counts = load_demo_data(crm, per_object=records, seed=seed)
    for name, count in counts.items():
        echo(f"  {crm.config.objects[name].label.get('en'):<20} {count:>5} sample records")
    if logins:
        made = sum(1 for login in logins if login.created)
        echo(f"Demo users ({made} created, {len(logins) - made} kept from an earlier run):")
        echo(f"  {'user':<8} {'role':<16} {'team':<9} reports to")
        for login in logins:
            echo(f"  {login.username:<8} {', '.join(login.roles):<16} {login.team or '-':<9} {login.manager or '-'}")
        secho(
            f"  Password of every demo user: {DEMO_PASSWORD} — FOR LOCAL USE ONLY: it is published, "
            "never use these accounts on a shared or public server (docs/demo.md).",
            fg="yellow",
        )
    else:
        echo("No demo users: the config declares none of the demo roles (see docs/demo.md).")
    secho("Demo data loaded.", fg="green")
    if not serve:
        crm.close()
        echo(f"Serve it with: trellis serve {config} --db {url}")
        return
    from engine.cli.serve_commands import run_server

    run_server(crm, host, port, threads=8)


class NoDatabase(TrellisError):
    """``history``/``rollback`` on a SQLite file that does not exist (it is not created)."""

    code = "no_database"


def _existing_database(config: str, db_url: str | None) -> sa.Engine:
    """An engine on the database, which must exist: reading history never creates a SQLite file."""
    path = missing_database(db_url)
    if path is not None:
        raise NoDatabase(
            f"There is no database at {path}: nothing has been applied yet. Create it with "
            f"`trellis apply {config}`, or point --db / TRELLIS_DATABASE_URL at the database."
        )
    return create_engine(db_url)
