"""``trellis mail fetch``: read the new messages of the config's mailboxes (``mail:``) and file
each under its sender's record (issue 16 §2, S27). Credentials come from the environment
variables the config names; attachments are stored under ``TRELLIS_UPLOAD_DIR`` as uploads are.
``trellis worker`` fetches too, every ``--mail-interval`` seconds."""

from __future__ import annotations

import sys

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, secho, user_errors
from engine.cli.group import main

#: How each outcome reads in the summary line (one, many).
OUTCOMES = {
    "logged": ("logged", "logged"),
    "created": ("new record", "new records"),
    "bounce": ("bounce", "bounces"),
    "automatic": ("automatic reply", "automatic replies"),
    "duplicate": ("duplicate", "duplicates"),
    "unrouted": ("from an unknown sender, left", "from unknown senders, left"),
    "refused": ("refused", "refused"),
}


@main.group()
def mail() -> None:
    """Mail intake: read the config's mailboxes."""


@mail.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--mailbox", "mailboxes", multiple=True, help="Read this mailbox only (repeatable; default: all).")
@user_errors
def fetch(config: str, db_url: str | None, mailboxes: tuple[str, ...]) -> None:
    """Read the new messages of CONFIG's mailboxes, each exactly once, and log them on their records."""
    from engine.runtime.mail.imap import fetch as run
    from engine.trellis import Trellis

    crm = Trellis.open(config, db_url)
    try:
        crm.check_database()
        reports = run(crm, mailboxes)
    finally:
        crm.close()
    failed = False
    for report in reports:
        if report.error:
            secho(f"mailbox {report.mailbox}: {report.error}", fg="red", err=True)
            failed = True
            continue
        echo(f"{report.mailbox}: {summary(report.outcomes)}")
    if failed:
        sys.exit(1)


def summary(outcomes: dict[str, int]) -> str:
    """``2 logged, 1 new record`` — or ``no new messages``."""
    parts = [
        f"{count} {OUTCOMES[name][count != 1]}"
        for name, count in sorted(
            outcomes.items(), key=lambda item: list(OUTCOMES).index(item[0]) if item[0] in OUTCOMES else 99
        )
        if name in OUTCOMES and count
    ]
    return ", ".join(parts) or "no new messages"
