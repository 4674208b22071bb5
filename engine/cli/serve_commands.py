"""``trellis serve``: the web application and REST API behind a production WSGI server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from engine.cli import main
from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, secho, user_errors
from engine.runtime.database import database_url

if TYPE_CHECKING:
    from engine.trellis import Trellis


@main.command()
@CONFIG_ARG
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@user_errors
def serve(config: str, db_url: str | None, host: str, port: int, threads: int) -> None:
    """Serve CONFIG's web UI and REST API (/api/v1) with waitress. For several processes, run
    `gunicorn 'webui:create_app("CONFIG")'` behind a proxy (see docs/operations.md)."""
    from engine.trellis import Trellis

    crm = Trellis.open(config, db_url)
    echo(f"Trellis serving {config} on {database_url(db_url)}")
    run_server(crm, host, port, threads)


def run_server(crm: Trellis, host: str, port: int, threads: int) -> None:
    """Serve the web UI and REST API of ``crm`` until interrupted."""
    from waitress import serve as waitress_serve

    from webui import create_app

    app = create_app(crm)
    secho(f"  Web UI:   http://{host}:{port}/", fg="green")
    echo(f"  REST API: http://{host}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json; tokens: trellis token create)")
    echo("  Stop with Ctrl+C.")
    waitress_serve(app, host=host, port=port, threads=threads, ident="trellis")
