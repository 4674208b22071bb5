"""``trellis retention``: records past their retention (``settings.retention_years``,
``objects.<o>.retention``; ``engine.runtime.retention``).

- ``report`` lists per object what would be archived or purged now: counts and examples;
- ``run`` does it — only with ``--yes`` (``--dry-run``: the report, nothing changed); the worker
  does it unattended only when ``settings.retention_automatic`` is true.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, secho, user_errors
from engine.cli.group import main
from engine.runtime import retention as policy
from engine.runtime.messages import current_language, message
from engine.runtime.records.files import upload_folder
from engine.trellis import Trellis


@main.group()
def retention() -> None:
    """Archive or purge records past their retention (dry-run report first)."""


def _print_report(crm: Trellis) -> int:
    """Print what retention would do now; the number of records it would touch."""
    language, total = current_language(), 0
    found = policy.report(crm)
    if not found:
        echo(message("retention.no_policy", language))
        return 0
    for due in found:
        total += due.count
        echo(
            message(
                f"retention.would_{due.policy.action}",
                language,
                object=crm.config.objects[due.object].plural_label.get(language),
                count=due.count,
                years=due.policy.years,
                field=due.policy.from_field,
                before=due.cutoff.date().isoformat(),
            )
        )
        for record_id, title, moment in due.examples:
            shown = moment.isoformat() if isinstance(moment, (dt.date, dt.datetime)) else moment
            echo(f"    #{record_id} {title}  ({due.policy.from_field} {shown})")
    return total


@retention.command("report")
@CONFIG_ARG
@DB_OPTION
@user_errors
def report_command(config: str, db_url: str | None) -> None:
    """List, per object, the records past retention now (counts and examples); changes nothing."""
    crm = Trellis.open(config, db_url)
    try:
        _print_report(crm)
    finally:
        crm.close()


@retention.command("run")
@CONFIG_ARG
@DB_OPTION
@click.option("--dry-run", is_flag=True, help="Only report what would go; change nothing.")
@click.option("--yes", is_flag=True, help="Archive and purge without asking (needed unless --dry-run).")
@click.option(
    "--files",
    "files_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder of stored files purged records' files are removed from (default: $TRELLIS_UPLOAD_DIR or ./uploads).",
)
@user_errors
def run_command(config: str, db_url: str | None, dry_run: bool, yes: bool, files_dir: Path | None) -> None:
    """Archive or purge the records past retention, as the config says; --dry-run first."""
    crm = Trellis.open(config, db_url)
    try:
        if dry_run or not yes:
            _refuse_or_report(crm, dry_run)
        else:
            _apply(crm, files_dir.resolve() if files_dir else upload_folder())
    finally:
        crm.close()


def _refuse_or_report(crm: Trellis, dry_run: bool) -> None:
    """The report; without --dry-run and with records to touch, exit 1 asking for --yes."""
    language = current_language()
    total = _print_report(crm)
    if dry_run or not total:
        echo(message("retention.dry_run", language))
        return
    secho(message("retention.needs_yes", language), fg="red", err=True)
    raise SystemExit(1)


def _apply(crm: Trellis, folder: Path) -> None:
    """Run retention a batch per object and transaction until none is left; print what it did."""
    language = current_language()
    totals: dict[tuple[str, str], list[int]] = {}
    while True:
        outcomes = policy.run(crm, upload_dir=folder)
        for outcome in outcomes:
            counts = totals.setdefault((outcome.object, outcome.action), [0, 0, 0])
            counts[0] += outcome.done
            counts[1] += outcome.timeline
            counts[2] = outcome.kept
        if not any(o.done >= policy.BATCH for o in outcomes):
            break
    if not totals:
        echo(message("retention.nothing", language))
    for (name, action), (done, timeline, kept) in totals.items():
        label = crm.config.objects[name].plural_label.get(language)
        secho(message(f"retention.done_{action}", language, object=label, count=done, timeline=timeline), fg="green")
        if kept:
            echo(message("retention.kept", language, object=label, count=kept))
