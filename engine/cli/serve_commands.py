"""``trellis serve``: the web application and REST API behind a production WSGI server.

waitress keeps idle connections in its event loop (they cost no thread), but
it stops accepting new ones at ``connection_limit`` (waitress's default: 100)
and closes idle ones only after ``channel_timeout`` (default: 120 s). With those
defaults ~100 idle TCP connections lock everybody out for two minutes. The
defaults below (``SERVER_DEFAULTS``) allow many more connections (with poll()
instead of select(), which cannot watch more than 1024 sockets) and drop idle
ones sooner; each is a command option and an environment variable. A reverse
proxy in front (docs/operations.md) is still the real defence against floods.
"""

from __future__ import annotations

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
) -> None:
    """Serve CONFIG's web UI and REST API (/api/v1) with waitress. For several processes, run
    `gunicorn 'webui:create_app("CONFIG")'` behind a proxy (see docs/operations.md)."""
    from engine.trellis import Trellis

    crm = Trellis.open(config, db_url)
    crm.check_database()  # a stale database stops here, with what to run, not at the first request
    echo(f"Trellis serving {config} on {database_url(db_url)}")
    run_server(crm, host, port, threads, ServerSettings(connection_limit, channel_timeout, cleanup_interval, backlog))


def run_server(crm: Trellis, host: str, port: int, threads: int, settings: ServerSettings = SERVER_DEFAULTS) -> None:
    """Serve the web UI and REST API of ``crm`` until interrupted."""
    from waitress import serve as waitress_serve

    from webui import create_app

    app = create_app(crm)
    secho(f"  Web UI:   http://{host}:{port}/", fg="green")
    echo(f"  REST API: http://{host}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json; tokens: trellis token create)")
    echo(f"  Connections: at most {settings.connection_limit}, idle ones closed after {settings.channel_timeout} s.")
    echo("  Stop with Ctrl+C.")
    waitress_serve(
        app, host=host, port=port, threads=threads, ident="trellis", asyncore_use_poll=True, **asdict(settings)
    )
