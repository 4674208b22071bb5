"""``trellis serve``: the web application and REST API behind a production WSGI server.

waitress keeps idle connections in its event loop (they cost no thread), but
it stops accepting new ones at ``connection_limit`` (waitress's default: 100)
and closes idle ones only after ``channel_timeout`` (default: 120 s). With those
defaults ~100 idle TCP connections lock everybody out for two minutes. The
defaults below (``SERVER_DEFAULTS``) allow many more connections (with poll()
instead of select(), which cannot watch more than 1024 sockets) and drop idle
ones sooner; each is a command option and an environment variable. A reverse
proxy in front (docs/operations.md) is still the real defence against floods.

``--workers N`` (N > 1) runs N processes under gunicorn (``engine.cli.gunicorn_app``), each
building its own app with ``webui.create_app``; waitress stays the one-process server.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, secho, user_errors
from engine.cli.group import main
from engine.runtime.database import database_url

if TYPE_CHECKING:
    from engine.trellis import Trellis


@dataclass(frozen=True)
class ServerSettings:
    """waitress's connection settings (the names are waitress's own)."""

    #: Open connections at most; more wait in the listen backlog.
    connection_limit: int = 1000
    #: Seconds a connection may stay without sending or receiving before it is closed.
    channel_timeout: int = 30
    #: Seconds between the checks for idle connections.
    cleanup_interval: int = 5
    #: Connections the operating system queues before they are accepted.
    backlog: int = 1024


#: What ``trellis serve`` passes to waitress unless an option or variable says otherwise.
SERVER_DEFAULTS = ServerSettings()


@main.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@click.option(
    "--connection-limit",
    envvar="TRELLIS_CONNECTION_LIMIT",
    default=SERVER_DEFAULTS.connection_limit,
    show_default=True,
    type=click.IntRange(10, 100_000),
    help="Open connections at most (idle ones included); keep it below `ulimit -n`. Env: TRELLIS_CONNECTION_LIMIT.",
)
@click.option(
    "--channel-timeout",
    envvar="TRELLIS_CHANNEL_TIMEOUT",
    default=SERVER_DEFAULTS.channel_timeout,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds before an idle connection is closed. Env: TRELLIS_CHANNEL_TIMEOUT.",
)
@click.option(
    "--cleanup-interval",
    envvar="TRELLIS_CLEANUP_INTERVAL",
    default=SERVER_DEFAULTS.cleanup_interval,
    show_default=True,
    type=click.IntRange(1, 600),
    help="Seconds between checks for idle connections. Env: TRELLIS_CLEANUP_INTERVAL.",
)
@click.option(
    "--backlog",
    envvar="TRELLIS_BACKLOG",
    default=SERVER_DEFAULTS.backlog,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Connections queued by the OS before they are accepted. Env: TRELLIS_BACKLOG.",
)
@click.option(
    "--workers",
    envvar="TRELLIS_WEB_WORKERS",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes; more than 1 runs gunicorn (needs TRELLIS_REDIS_URL for shared limits). Env: TRELLIS_WEB_WORKERS.",
)
@click.option(
    "--graceful-timeout",
    envvar="TRELLIS_GRACEFUL_TIMEOUT",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="With --workers > 1: seconds a stopping worker (SIGTERM) has to finish its requests. "
    "Env: TRELLIS_GRACEFUL_TIMEOUT.",
)
@user_errors
def serve(
    config: str,
    db_url: str | None,
    host: str,
    port: int,
    threads: int,
    connection_limit: int,
    channel_timeout: int,
    cleanup_interval: int,
    backlog: int,
    workers: int,
    graceful_timeout: int,
) -> None:
    """Serve CONFIG's web UI and REST API (/api/v1): one process with waitress, or --workers N
    processes with gunicorn (see docs/operations.md, "Serving")."""
    from engine.cli import gunicorn_app
    from engine.trellis import Trellis

    gunicorn_app.check_web_settings()  # a bad proxy/Redis setting stops here, not in every worker
    crm = Trellis.open(config, db_url)
    crm.check_database()  # a stale database stops here, with what to run, not at the first request
    settings = ServerSettings(connection_limit, channel_timeout, cleanup_interval, backlog)
    if workers > 1 and not gunicorn_app.available():
        secho(f"Warning: {gunicorn_app.UNAVAILABLE} Serving with waitress in one process.", fg="yellow", err=True)
        workers = 1
    echo(f"Trellis serving {config} on {database_url(db_url)}")
    if workers == 1:
        run_server(crm, host, port, threads, settings)
        return
    crm.close()  # the workers open their own connections after the fork
    gunicorn_app.share_web_secret(crm.keys.text)
    secho(f"  Web UI:   http://{_netloc(host, port)}/  ({workers} gunicorn workers × {threads} threads)", fg="green")
    echo(f"  REST API: http://{_netloc(host, port)}/api/v1")
    echo(f"  Connections: at most {connection_limit} per worker, idle ones closed after {channel_timeout} s.")
    echo(f"  Stop with SIGTERM (requests in progress get {graceful_timeout} s) or Ctrl+C (at once).")
    gunicorn_app.run(config, db_url, gunicorn_app.options(host, port, workers, threads, settings, graceful_timeout))


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_server(crm: Trellis, host: str, port: int, threads: int, settings: ServerSettings = SERVER_DEFAULTS) -> None:
    """Serve the web UI and REST API of ``crm`` until interrupted."""
    from waitress import serve as waitress_serve

    from webui import create_app

    app = create_app(crm)
    secho(f"  Web UI:   http://{host}:{port}/", fg="green")
    echo(f"  REST API: http://{host}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json; tokens: trellis token create)")
    echo(f"  Connections: at most {settings.connection_limit}, idle ones closed after {settings.channel_timeout} s.")
    echo("  Stop with Ctrl+C or SIGTERM.")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    waitress_serve(
        app, host=host, port=port, threads=threads, ident="trellis", asyncore_use_poll=True, **asdict(settings)
    )


def _stop(signum: int, frame: object) -> None:
    """SIGTERM: leave waitress's loop as Ctrl+C does (it closes its sockets), exit status 0."""
    raise SystemExit(0)
