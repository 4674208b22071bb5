"""Commands about the config and the schema: validate, plan, apply, history, rollback, demo."""

from __future__ import annotations

import sys

import click

from engine.cli import main
from engine.cli.common import CONFIG_ARG, DB_OPTION, LOSS_OPTION, user_errors
from engine.metadata import load_config
from engine.runtime import migrate
from engine.runtime.database import create_engine, database_url


@main.command()
@CONFIG_ARG
@user_errors
def validate(config: str) -> None:
    """Check CONFIG and report every error with file:line:column, code and hint."""
    compiled = load_config(config)
    fields = sum(len(o.fields) for o in compiled.objects.values())
    click.secho(
        f"{config} is valid: {len(compiled.objects)} objects, {fields} fields, {len(compiled.picklists)} picklists.",
        fg="green",
    )


@main.command()
@CONFIG_ARG
@DB_OPTION
@LOSS_OPTION
@user_errors
def plan(config: str, db_url: str | None, allow_data_loss: bool) -> None:
    """Show what `apply` would change in the database (exit 1 if it would refuse)."""
    compiled = load_config(config)
    result = migrate.plan(create_engine(db_url), compiled, allow_data_loss=allow_data_loss)
    click.echo(f"Plan for {database_url(db_url)}:")
    click.echo(str(result))
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
    result = migrate.apply(create_engine(db_url), compiled, allow_data_loss=allow_data_loss, applied_by="cli")
    click.echo(str(result))
    click.secho("Applied." if not result.empty else "Nothing to change.", fg="green")


@main.command()
@DB_OPTION
@user_errors
def history(db_url: str | None) -> None:
    """List the config versions applied to the database, newest first."""
    versions = migrate.history(create_engine(db_url))
    if not versions:
        click.echo("No config has been applied to this database yet.")
    for version in versions:
        when = version.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        changes = (version.summary or "").splitlines()
        shown = changes[0] + (f" (+{len(changes) - 1} more changes)" if len(changes) > 1 else "") if changes else ""
        click.echo(f"{version.id:>4}  {when}  {version.content_hash[:12]}  {version.source_path}  {shown}")


@main.command()
@click.argument("version_id", type=int)
@DB_OPTION
@LOSS_OPTION
@user_errors
def rollback(version_id: int, db_url: str | None, allow_data_loss: bool) -> None:
    """Re-apply config version VERSION_ID (see `trellis history`) under the same data checks."""
    result = migrate.rollback(create_engine(db_url), version_id, allow_data_loss=allow_data_loss, applied_by="cli")
    click.echo(str(result))
    click.secho(f"Restored version {version_id}.", fg="green")


@main.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--records", default=20, show_default=True, help="Records per object.")
@click.option("--seed", default=7, show_default=True, help="Random seed of the sample data.")
@user_errors
def demo(config: str, db_url: str | None, records: int, seed: int) -> None:
    """Validate CONFIG, apply it and load realistic sample data."""
    from engine import Trellis
    from engine.runtime.demo import load_demo_data

    crm = Trellis.open(config, db_url)
    click.echo(f"Config {config} is valid ({len(crm.config.objects)} objects).")
    result = crm.apply(applied_by="demo")
    click.echo(f"Database {database_url(db_url)}: {'schema up to date' if result.empty else 'schema applied'}.")
    counts = load_demo_data(crm, per_object=records, seed=seed)
    for name, count in counts.items():
        click.echo(f"  {crm.config.objects[name].label.get('en'):<20} {count:>5} sample records")
    click.secho("Demo data loaded. (The web UI arrives in a later release; query the data with the Python API.)", fg="green")
