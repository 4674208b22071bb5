"""``trellis explain``: why a user can see a record, and what a stage move needs (issue 17 §2).

- ``trellis explain access CONFIG USER OBJECT ID``: whether USER may read, edit and delete the
  record and why — the roles giving each right, their scope, the chain that puts the owner
  inside or outside it, hidden and read-only fields, pending approvals, a converted record, a
  disabled account (``engine.runtime.security.explain``);
- ``trellis explain access CONFIG --who OBJECT ID``: every active user who may read it, with
  edit, delete and the reason;
- ``trellis explain stage CONFIG OBJECT ID STAGE [--as USER] [--reason TEXT]``: what moving the
  record to STAGE needs now, from a dry run of the real move (``engine.runtime.workflow.explain_stage``).

Sentences are in ``--lang``, else the company's first language (``--as``: that user's locale
first, as ``trellis export``); ``--json`` prints one JSON object for machines. Nothing is
written. Exit 0 after an explanation (a refused move included), 1 with a message for an unknown
user, object, record or stage.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from engine.cli.common import DB_OPTION, config_first, echo, reader_language, secho, user_errors
from engine.cli.group import main
from engine.runtime.messages import LANGUAGES, message
from engine.trellis import Trellis

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

LANG_OPTION = click.option("--lang", type=click.Choice(LANGUAGES), help="The language of the explanation.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of sentences.")


@main.group()
def explain() -> None:
    """Explain why a user can see a record, or what moving it to a stage needs."""


@explain.command("access")
@click.argument("arguments", nargs=-1, required=True, metavar="[CONFIG] USER OBJECT ID")
@DB_OPTION
@click.option("--who", is_flag=True, help="List every user who may read the record (give OBJECT ID, no USER).")
@LANG_OPTION
@JSON_OPTION
@user_errors
def access(arguments: tuple[str, ...], db_url: str | None, who: bool, lang: str | None, as_json: bool) -> None:
    """Why USER may or may not read, edit and delete the record OBJECT ID (--who: everyone who may)."""
    wanted = ("OBJECT", "ID") if who else ("USER", "OBJECT", "ID")
    if len(arguments) == len(wanted) and os.environ.get("TRELLIS_CONFIG"):
        arguments = (os.environ["TRELLIS_CONFIG"], *arguments)
    if len(arguments) != len(wanted) + 1:
        shape = " ".join(wanted)
        raise click.UsageError(f"give the config and {shape}: CONFIG {shape} (or set TRELLIS_CONFIG and give {shape})")
    from engine.runtime.security import explain as runtime

    crm = Trellis.open(arguments[0], db_url)
    try:
        language = lang or reader_language(crm, None)
        with crm.session(channel="cli") as session:
            if who:
                _print_who(session, arguments[1], arguments[2], language, as_json)
                return
            found = runtime.explain_access(session, arguments[2], arguments[3], arguments[1], language)
    finally:
        crm.close()
    if as_json:
        echo(json.dumps(found.to_dict(language), ensure_ascii=False, indent=2))
        return
    obj = crm.config.objects[found.object]
    secho(
        f"{obj.label.get(language)} {found.record_id} “{found.title}” — {found.user_name} ({found.username})", bold=True
    )
    for action in runtime.ACTIONS:
        verb = message(f"explain.verb.{action}", language)
        answer = message("value.yes" if found.can(action) else "value.no", language)
        echo(f"  {verb}: {answer}")
    for sentence in found.sentences(language):
        echo(f"- {sentence}")


def _print_who(session: Session, object_name: str, record_id: str, language: str, as_json: bool) -> None:
    from engine.runtime.security import explain as runtime

    title, readers, inactive = runtime.who_can(session, object_name, record_id, language)
    if as_json:
        rows = [
            {
                "user": r.username,
                "name": r.name,
                "edit": r.can_edit,
                "delete": r.can_delete,
                "why": r.reason.text(language),
            }
            for r in readers
        ]
        echo(json.dumps({"title": title, "readers": rows, "inactive_left_out": inactive}, ensure_ascii=False, indent=2))
        return
    obj = session.object(object_name)
    secho(
        message("explain.who", language, object=obj.label.get(language), id=record_id, title=title, count=len(readers)),
        bold=True,
    )
    for r in readers:
        rights = [message("explain.verb.read", language)]
        rights += [
            message(f"explain.verb.{a}", language) for a, on in (("edit", r.can_edit), ("delete", r.can_delete)) if on
        ]
        echo(f"- {r.name} ({r.username}) [{', '.join(rights)}]: {r.reason.text(language)}")
    if inactive:
        echo(message("explain.who_inactive", language, count=inactive))


@explain.command("stage")
@config_first(("object_name", "OBJECT", str), ("record_id", "ID", str), ("stage", "STAGE", str))
@DB_OPTION
@click.option("--as", "username", metavar="USER", help="Move as USER (default: the system, which skips approvals).")
@click.option("--reason", metavar="TEXT", help="The reason a skip or a reopening would be given.")
@LANG_OPTION
@JSON_OPTION
@user_errors
def stage(
    config: str,
    object_name: str,
    record_id: str,
    stage: str,
    db_url: str | None,
    username: str | None,
    reason: str | None,
    lang: str | None,
    as_json: bool,
) -> None:
    """What moving the record OBJECT ID to STAGE needs now (a dry run of the real move; nothing is written)."""
    from engine.runtime.workflow.explain_stage import explain_stage

    crm = Trellis.open(config, db_url)
    try:
        language = lang or reader_language(crm, username)
        found = explain_stage(crm, object_name, record_id, stage, username, reason, language)
    finally:
        crm.close()
    if as_json:
        echo(json.dumps(found.to_dict(language), ensure_ascii=False, indent=2))
        return
    obj = crm.config.objects[found.object]
    secho(f"{obj.label.get(language)} {found.record_id} “{found.title}” → {found.stage_label}", bold=True)
    for sentence in found.sentences(language):
        echo(f"- {sentence}")
