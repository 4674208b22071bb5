"""``trellis automation simulate``: which automation rules would fire, changing nothing.

- ``--object lead --record 17 [--event created|updated|deleted] [--purge] [--at TIME]``:
  every rule of the object for that record — its trigger, whether it applies, whether
  ``when`` holds, and what each action would do (``engine.runtime.workflow.simulate.simulate_record``);
  ``--purge``: the delete is a retention purge under the object's policy at ``--at``, which
  ``deleted`` rules read as ``purge``;
- ``--from TIME --to TIME [--object lead]``: the records each ``schedule`` rule
  would fire for in that window, and the times of ``cron`` rules
  (``simulate_window``).

A time without an offset is read in the company's time zone. Nothing is
written: the actions are evaluated, never run, inside a transaction that is
rolled back. Exit 0 after a simulation, 1 for an unknown object or record
(or a database that cannot be used), 2 for options that do not fit together.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, parse_time, secho, user_errors
from engine.cli.group import main
from engine.runtime.errors import TrellisError

if TYPE_CHECKING:
    from engine.runtime.workflow.simulate import RecordSimulation, RulePreview, WindowPreview

#: The events a record can be simulated for (``engine.runtime.workflow.simulate.EVENTS``).
EVENTS = ("created", "updated", "deleted")
#: How the outcome of a rule is shown.
VERDICTS = {True: "FIRES", False: "does not fire", None: "fires only if the update makes that change"}


class SimulateUsageError(TrellisError):
    """A time given to ``trellis automation simulate`` that does not parse."""

    code = "simulate_usage"


@main.group()
def automation() -> None:
    """Automation rules: simulate what they would do."""


@automation.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--object", "object_name", metavar="OBJECT", help="The object, e.g. lead.")
@click.option("--record", "record_id", metavar="ID", help="The record's id: simulate the rules for it.")
@click.option(
    "--event",
    type=click.Choice(EVENTS),
    help="Simulate the record as just created, updated or deleted.  [default: updated; deleted with --purge]",
)
@click.option(
    "--purge",
    is_flag=True,
    help="Simulate a retention purge: the record deleted under its object's retention policy at --at, "
    "which `deleted` rules read as `purge`.",
)
@click.option("--at", "at_text", metavar="TIME", help="As if it were this time (default: now), e.g. 2026-06-01T09:00.")
@click.option("--from", "from_text", metavar="TIME", help="With --to: the records scheduled rules would fire for.")
@click.option("--to", "to_text", metavar="TIME", help="The end of the --from window.")
@user_errors
def simulate(
    config: str,
    db_url: str | None,
    object_name: str | None,
    record_id: str | None,
    event: str | None,
    purge: bool,
    at_text: str | None,
    from_text: str | None,
    to_text: str | None,
) -> None:
    """Show which of CONFIG's automation rules would fire for a record, or in a window of time.

    A dry run: nothing is written — no field, record, notification, e-mail, webhook or run."""
    window = from_text is not None or to_text is not None
    if window and (from_text is None or to_text is None):
        raise click.UsageError("--from and --to go together: give both")
    if window and (record_id is not None or at_text is not None):
        raise click.UsageError("--record/--at simulate one record; --from/--to a window: use one or the other")
    if not window and record_id is None:
        raise click.UsageError("give --object and --record (one record), or --from and --to (a window)")
    if record_id is not None and object_name is None:
        raise click.UsageError("--record needs --object, e.g. --object lead --record 17")
    if purge and (window or event not in (None, "deleted")):
        raise click.UsageError("--purge simulates one record deleted by retention: give --object and --record")
    event = event or ("deleted" if purge else "updated")

    from engine.metadata import load_config
    from engine.runtime.database import create_engine
    from engine.runtime.workflow import simulate as runtime
    from engine.trellis import Trellis

    compiled = load_config(config)
    zone = ZoneInfo(compiled.settings.timezone)
    crm = Trellis(compiled, create_engine(db_url))
    try:
        crm.check_database()
        if from_text is not None and to_text is not None:  # a window (both or neither: checked above)
            start, end = parse_time("--from", from_text, zone), parse_time("--to", to_text, zone)
            _print_window(runtime.simulate_window(crm, start, end, object_name), start, end, zone)
        else:
            assert object_name is not None and record_id is not None, "one record: checked above"
            at = parse_time("--at", at_text, zone) if at_text else None
            _print_record(runtime.simulate_record(crm, object_name, record_id, event, at, purge=purge), zone)
    finally:
        crm.close()


def _local(moment: dt.datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def _print_record(result: RecordSimulation, zone: ZoneInfo) -> None:
    happened = f"just {result.event}"
    if result.purge is not None:
        policy = result.purge
        happened = (
            f"just purged by retention ({policy['years']} years after {policy['from']}, before {policy['before']})"
        )
    echo(
        f"Dry run: {result.object} {result.record_id} “{result.title}” {happened}, "
        f"at {_local(result.at, zone)}. Nothing is written."
    )
    if result.purge is not None:
        from engine.runtime.workflow.rulecontext import show

        echo(f"`purge` reads {show(result.purge)}.")
    if not result.rules:
        echo(f"No automation rule is declared for {result.object}.")
        return
    firing = sum(1 for r in result.rules if r.fires)
    echo(f"{len(result.rules)} rule{'s' if len(result.rules) != 1 else ''} of {result.object}, {firing} would fire:")
    for rule in result.rules:
        _print_rule(rule)


def _print_rule(preview: RulePreview) -> None:
    rule = preview.rule
    verdict = VERDICTS[preview.fires]
    echo("")
    secho(f"{rule.name} — {verdict}", bold=True, fg="green" if preview.fires else None)
    if rule.label.get() not in (rule.name, rule.name.replace("_", " ").capitalize()):
        echo(f"  label:   {rule.label.get()}")
    echo(f"  trigger: {preview.trigger}: {preview.triggered} ({preview.reason})")
    if rule.when is not None:
        outcome = "holds" if preview.holds else "does not hold"
        echo(f"  when:    {rule.when.source} → {outcome}{f' ({preview.when_error})' if preview.when_error else ''}")
    label = "would" if preview.fires is not False else "would have"
    echo(f"  actions ({label}):")
    for action in preview.actions:
        if action.error:
            echo(f"    - {action.kind}: cannot tell: {action.error}")
        else:
            echo(f"    - {action.text}")


def _print_window(results: list[WindowPreview], start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> None:
    echo(f"Dry run from {_local(start, zone)} to {_local(end, zone)}. Nothing is written.")
    if not results:
        echo("No scheduled or cron rule applies.")
        return
    for preview in results:
        echo("")
        rule = preview.rule
        secho(f"{rule.name} ({rule.object or 'no object'}) — {preview.trigger}", bold=True)
        if rule.when is not None:
            echo(f"  when: {rule.when.source}")
        if preview.times is not None:  # a rule that fires at times, not per record
            _print_cron(preview, zone)
            continue
        if not preview.hits:
            echo("  no record is due in this window")
            continue
        fire = sum(1 for h in preview.hits if not h.ran and h.holds is not False)
        ran = sum(1 for h in preview.hits if h.ran)
        more = "at least " if preview.more else ""
        echo(
            f"  {more}{len(preview.hits)} due: {fire} would fire, {ran} ran already, "
            f"{len(preview.hits) - fire - ran} skipped (`when` does not hold)"
        )
        for hit in preview.hits:
            if hit.ran:
                state = "ran already"
            elif hit.holds is False:
                state = "skipped: `when` does not hold"
            else:
                state = "would fire"
            echo(f"  {_local(hit.due, zone)}  {rule.object} {hit.record_id} “{hit.title}”: {state}")
        if preview.more:
            echo(f"  … and more (only the first {len(preview.hits)} are listed)")


def _print_cron(preview: WindowPreview, zone: ZoneInfo) -> None:
    rule = preview.rule
    whom = (
        f"for every {rule.object} meeting `when`"
        if rule.object and rule.when
        else (f"for every {rule.object}" if rule.object else "once")
    )
    if not preview.times:
        echo("  no cron time in this window")
    for moment in preview.times or ():
        echo(f"  {_local(moment, zone)}  fires {whom}")
