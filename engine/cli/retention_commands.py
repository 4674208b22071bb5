"""``trellis retention``: records past their retention (``settings.retention_years``,
``objects.<o>.retention``; ``engine.runtime.retention``).

- ``report`` lists per object what would be archived or purged now: counts and examples;
- ``run`` does it — only with ``--yes`` (``--dry-run``: the report, nothing changed); the worker
  does it unattended only when ``settings.retention_automatic`` is true.

An object whose policy needs approval (``retention.approval``, ``settings.retention_approval``)
is held: ``run --yes`` files a retention request for it, or says it waits for one, and carries
out an approved one; ``report`` lists the requests open and each object's last decided one.
Both speak ``TRELLIS_LANG``, else the config's first language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, config_language, echo, secho, user_errors
from engine.cli.group import main
from engine.metadata.model import Approver
from engine.runtime import retention as policy
from engine.runtime import retention_requests as requests
from engine.runtime.messages import current_language, message, speaking
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
        if due.policy.approver is not None and due.count:
            echo(message("retention.needs_approval", language, approver=_approver(crm, due.policy.approver, language)))
        for record_id, title, moment in due.examples:
            shown = moment.isoformat() if isinstance(moment, (dt.date, dt.datetime)) else moment
            echo(f"    #{record_id} {title}  ({due.policy.from_field} {shown})")
    _print_requests(crm)
    return total


def _approver(crm: Trellis, approver: Approver, language: str) -> str:
    role = crm.config.roles.get(approver.name or "") if approver.kind == "role" else None
    return role.label.get(language) if role is not None else approver.name or ""


def _print_requests(crm: Trellis) -> None:
    """The retention requests open, and each object's last closed one."""
    language = current_language()
    with crm.session(channel=policy.CHANNEL) as session:
        found = requests.recent(session)
        who = {r.id: requests.approver_text(session, r, language) for r in found}
    if not found:
        return
    echo(message("retention.requests", language))
    for r in found:
        obj = crm.config.objects.get(r.object)
        params = {
            "id": r.id,
            "object": obj.plural_label.get(language) if obj is not None else r.object,
            "count": r.count,
            "action": message(f"retention.action.{r.action}", language),
            "approver": who[r.id],
            "user": r.decided_by_name or "",
            "comment": r.comment or "",
            "done": r.done,
            "kept": r.kept,
            "changed": r.changed,
        }
        at = r.done_at or r.decided_at or r.requested_at
        echo(message(f"retention.request_{_state(r.status)}", language, at=_moment(crm, at), **params))


def _state(status: str) -> str:
    return "finished" if status == requests.DONE else status


def _moment(crm: Trellis, at: dt.datetime) -> str:
    return at.astimezone(crm.clock_now().timezone).strftime("%Y-%m-%d %H:%M")


@retention.command("report")
@CONFIG_ARG
@DB_OPTION
@user_errors
def report_command(config: str, db_url: str | None) -> None:
    """List, per object, the records past retention now (counts and examples); changes nothing."""
    crm = Trellis.open(config, db_url)
    try:
        with speaking(config_language(crm.config.settings.languages)):
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
        with speaking(config_language(crm.config.settings.languages)):
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
    """Run retention a batch per object and transaction until none is left; print what it did,
    and which objects wait for approval."""
    language = current_language()
    totals: dict[tuple[str, str], list[int]] = {}
    held: list[policy.Outcome] = []  # requests filed, waiting, rejected or carried out, in order
    while True:
        outcomes = policy.run(crm, upload_dir=folder)
        for outcome in outcomes:
            if outcome.action in ("requested", "waiting", "rejected"):
                if not any(h.object == outcome.object and h.request == outcome.request for h in held):
                    held.append(outcome)  # once per request: a later batch finds it waiting
                continue
            counts = totals.setdefault((outcome.object, outcome.action), [0, 0, 0])
            counts[0] += outcome.done
            counts[1] += outcome.timeline
            counts[2] = outcome.kept
            if outcome.finished:
                held.append(outcome)
        if not any(o.action in ("archive", "purge") and o.done >= policy.BATCH for o in outcomes):
            break
    if not totals and not held:
        echo(message("retention.nothing", language))
    _print_held(crm, held, language)
    for (name, action), (done, timeline, kept) in totals.items():
        label = crm.config.objects[name].plural_label.get(language)
        secho(message(f"retention.done_{action}", language, object=label, count=done, timeline=timeline), fg="green")
        if kept:
            echo(message("retention.kept", language, object=label, count=kept))


def _print_held(crm: Trellis, held: Iterable[policy.Outcome], language: str) -> None:
    """The objects waiting for approval (a request filed now, or one still pending), and the
    approved requests carried out to the end."""
    with crm.session(channel=policy.CHANNEL) as session:
        for outcome in held:
            label = crm.config.objects[outcome.object].plural_label.get(language)
            params = {"object": label, "id": outcome.request, "approver": outcome.approver}
            done = requests.get(session, outcome.request)
            if outcome.action == "rejected":
                params.update(user=done.decided_by_name, comment=done.comment)
            if outcome.action in ("requested", "waiting", "rejected"):
                secho(message(f"retention.{outcome.action}", language, count=outcome.done, **params), fg="yellow")
                continue
            secho(
                message(
                    "retention.request_done",
                    language,
                    done=done.done,
                    kept=done.kept,
                    changed=done.changed,
                    action=message(f"retention.action_done.{done.action}", language),
                    **params,
                ),
                fg="green",
            )
