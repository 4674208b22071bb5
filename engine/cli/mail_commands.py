"""``trellis mail fetch``: read the new messages of the config's mailboxes (``mail:``) and file
each under its sender's record (issue 16 §2, S27). Credentials come from the environment
variables the config names; attachments are stored under ``TRELLIS_UPLOAD_DIR`` as uploads are.
``trellis worker`` fetches too, at each pass. ``trellis mail serve`` receives mail over SMTP
instead (``engine.runtime.mail.smtp``)."""

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
    "unlinked": ("reply to a record the log cannot link, left", "replies to records the log cannot link, left"),
    "refused": ("refused", "refused"),
}


@main.group()
def mail() -> None:
    """Mail intake: read the config's mailboxes, or receive their mail over SMTP."""


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


@mail.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2525, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@user_errors
def serve(config: str, db_url: str | None, host: str, port: int) -> None:
    """Receive mail for CONFIG's mailboxes over SMTP (behind the company's mail server) until stopped."""
    import contextlib
    import signal
    import threading

    from engine.runtime.mail.smtp import receiver
    from engine.trellis import Trellis

    crm = Trellis.open(config, db_url)
    try:
        crm.check_database()
        controller = receiver(crm, host, port)
        addresses = ", ".join(box.address for box in crm.config.mail.mailboxes.values()) if crm.config.mail else ""
        echo(f"Trellis mail receiver on {host}:{port} for {addresses}; Ctrl+C stops.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        controller.stop()
        echo(f"Stopped: {summary(controller.handler.taken)}.")
    finally:
        crm.close()


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
