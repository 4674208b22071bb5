"""``trellis worker``: fire time-based automation rules, deliver the outbox, seal the audit trail,
run the imports the web wizard and the API queued.

Runs a pass (``engine.runtime.jobs.worker.run_once``) every ``--interval`` seconds
until stopped (Ctrl+C or SIGTERM), or once with ``--once``. ``--at`` runs as
if it were another time (a date-time without an offset is read in the
company's time zone), for testing rules and catching up. Prints what each
pass did. E-mail settings come from ``TRELLIS_SMTP_URL`` / ``TRELLIS_MAIL_FROM``
(see docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, parse_time, user_errors
from engine.cli.group import main
from engine.cli.mail_commands import summary
from engine.runtime.jobs.delivery import MAX_ATTEMPTS, SmtpSettings, requeue_dead

if TYPE_CHECKING:
    from engine.runtime.jobs.worker import PassReport


@main.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--once", is_flag=True, help="Run one pass and exit.")
@click.option(
    "--at",
    "at_text",
    metavar="ISO-TIME",
    help="Run as if it were this time, e.g. 2026-06-01T09:00 (company time zone) or …+00:00.",
)
@click.option(
    "--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds between passes."
)
@click.option(
    "--batch", default=100, show_default=True, type=click.IntRange(1, 10_000), help="Outbox messages claimed at a time."
)
@click.option(
    "--max-attempts",
    default=MAX_ATTEMPTS,
    show_default=True,
    type=click.IntRange(1, 100),
    envvar="TRELLIS_WORKER_MAX_ATTEMPTS",
    help="Attempts before a message becomes a dead letter.",
)
@click.option("--requeue-dead", "requeue", is_flag=True, help="First give every dead letter a fresh set of attempts.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="TRELLIS_WORKER_METRICS_PORT",
    help="Answer Prometheus at http://HOST:PORT/metrics (TRELLIS_METRICS_ALLOW / TRELLIS_METRICS_TOKEN).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="The address --metrics-port listens on.")
@user_errors
def worker(
    config: str,
    db_url: str | None,
    once: bool,
    at_text: str | None,
    interval: float,
    batch: int,
    max_attempts: int,
    requeue: bool,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Fire CONFIG's scheduled and cron automation rules, send queued e-mails and webhooks, seal the audit trail."""
    from engine.metadata import load_config
    from engine.runtime import logs
    from engine.runtime.database import create_engine, database_url
    from engine.runtime.jobs import worker as runtime
    from engine.trellis import Trellis

    logs.configure_from_environment()  # TRELLIS_LOG_FORMAT=json
    compiled = load_config(config)
    zone = ZoneInfo(compiled.settings.timezone)
    at = parse_time("--at", at_text, zone) if at_text else None
    smtp = SmtpSettings.from_environment()
    crm = Trellis(compiled, create_engine(db_url), clock=_clock(at, once))
    stop_metrics: Callable[[], None] | None = None
    try:
        crm.check_database()
        if metrics_port is not None and not once:
            stop_metrics = _serve_metrics(crm, metrics_host, metrics_port)
        if requeue:
            count = requeue_dead(crm, crm.clock_now().now_utc)
            echo(f"Requeued {count} dead letter{'s' if count != 1 else ''}.")
        options: dict[str, Any] = {"batch": batch, "max_attempts": max_attempts, "smtp": smtp}
        if once:
            _print_pass(runtime.run_once(crm, **options), zone, quiet=False)
            return
        echo(
            f"Trellis worker on {database_url(db_url)}: a pass every {interval:g} s"
            f"{'' if smtp else ' (no SMTP configured: e-mails wait)'}; Ctrl+C stops."
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            runtime.run_forever(crm, interval, stop, lambda r: _print_pass(r, zone, quiet=True), **options)
        except KeyboardInterrupt:
            echo("Stopped.")
    finally:
        if stop_metrics is not None:
            stop_metrics()
        crm.close()


def _serve_metrics(crm: Any, host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` for this worker, or stop the command with a clear message (exit 1)."""
    from engine.runtime import metrics

    try:
        stop = metrics.serve(crm, host, port)
    except OSError as exc:
        message = f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})."
        raise click.ClickException(message) from None
    echo(f"Metrics at http://{host}:{port}/metrics")
    return stop


def _clock(at: dt.datetime | None, fixed: bool) -> Callable[[], dt.datetime] | None:
    if at is None:
        return None
    if fixed:
        return lambda: at
    start = dt.datetime.now(dt.UTC)
    return lambda: at + (dt.datetime.now(dt.UTC) - start)  # time runs on from --at


def _print_pass(report: PassReport, zone: ZoneInfo, quiet: bool) -> None:
    delivery = report.delivery
    busy = (
        report.sweep.rules
        or delivery.sent
        or delivery.retried
        or delivery.dead
        or report.seal_error
        or report.import_batches
        or report.finder_runs
        or report.retention
        or any(m.taken or m.error for m in report.mail)
    )
    if quiet and not busy:
        return
    echo(f"Pass at {report.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z} ({report.at:%H:%M:%S} UTC):")
    if not report.sweep.rules:
        echo("  rules: none due")
    for name, counts in report.sweep.rules.items():
        echo(
            f"  rule {name}: fired {counts.fired}, skipped {counts.skipped}, failed {counts.failed}"
            + (f"; stopped: {counts.error}" if counts.error else "")
        )
    for fetched in report.mail:
        echo(
            f"  ! mail {fetched.mailbox}: {fetched.error}"
            if fetched.error
            else f"  mail {fetched.mailbox}: {summary(fetched.outcomes)}"
        )
    echo(f"  outbox: sent {delivery.sent}, retried {delivery.retried}, dead {delivery.dead}")
    if report.import_batches:
        echo(f"  imports: {report.import_batches} batch{'es' if report.import_batches != 1 else ''} run")
    if report.finder_runs:
        echo(f"  duplicate finder: {report.finder_runs} run{'s' if report.finder_runs != 1 else ''}")
    for outcome in report.retention:
        echo(f"  retention {outcome.object}: {outcome.action} {outcome.done}, kept {outcome.kept} (still referred to)")
    echo(f"  audit: sealed {report.sealed}" if report.seal_error is None else f"  ! audit: {report.seal_error}")
    if delivery.waiting:
        echo(f"  e-mails waiting: {delivery.waiting} (no SMTP configured: set TRELLIS_SMTP_URL)")
    for error in delivery.errors[:20]:
        echo(f"  ! {error}")
    if len(delivery.errors) > 20:
        echo(f"  ! … and {len(delivery.errors) - 20} more")
