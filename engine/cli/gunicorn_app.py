"""``trellis serve --workers N``: N processes under gunicorn, each with its own ``create_app``.

gunicorn forks its workers (POSIX only); each builds the app after the fork (no ``preload``:
no database connection or thread crosses a fork), with the ``gthread`` worker (``--threads``
per process). SIGTERM stops it gracefully: the master stops accepting, each worker finishes
its requests within ``--graceful-timeout`` seconds. Every other gunicorn setting can be given in
``GUNICORN_CMD_ARGS`` (as gunicorn's own command reads it), e.g. ``--access-logfile -``.

What the processes must share (docs/operations.md, "Serving"):

- the session secret: ``TRELLIS_WEB_SECRET``, else derived from ``TRELLIS_SECRET_KEY``; when
  neither is set, ``share_web_secret`` makes one random secret in the master that every worker
  inherits (sessions are valid in every worker and end when the server stops, as with one
  process; several servers behind one proxy need ``TRELLIS_WEB_SECRET``);
- the rate-limit counters: ``TRELLIS_REDIS_URL`` (``webui.api.ratelimit``); without it each
  process counts alone and a warning says so.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.cli.common import secho
from engine.runtime.errors import TrellisError

if TYPE_CHECKING:
    from engine.cli.serve_commands import ServerSettings

#: Why ``--workers`` cannot run here (a platform without fork, or gunicorn not installed).
UNAVAILABLE = "--workers > 1 needs gunicorn, which runs only where processes fork (Linux, macOS, BSD), not on Windows."
#: Where the rate limits are counted unless a setting says otherwise.
STORAGE_SETTINGS = ("TRELLIS_RATELIMIT_STORAGE", "TRELLIS_REDIS_URL")


class WebSettingError(TrellisError):
    """A setting of the web tier (proxies, Redis) that cannot work."""

    code = "bad_web_setting"


def available() -> bool:
    """Whether gunicorn can run here: the platform forks and the package is installed."""
    return hasattr(os, "fork") and importlib.util.find_spec("gunicorn") is not None


def check_web_settings() -> None:
    """Fail now, with what to change, on a bad ``TRELLIS_TRUSTED_PROXIES`` or a Redis for the rate
    limits that does not answer (rather than in every worker, or at the first login)."""
    from limits.storage import storage_from_string

    from webui.proxies import SETTING, trusted_proxies

    trusted_proxies(os.environ.get(SETTING))
    name = next((name for name in STORAGE_SETTINGS if os.environ.get(name)), None)
    uri = os.environ.get(name) if name else None
    if not uri or uri.startswith("memory:"):
        return
    try:
        reachable = storage_from_string(uri).check()
    except Exception as exc:  # noqa: BLE001 - a bad URL or a missing client library: say which
        raise WebSettingError(f"{name}={uri!r} cannot be used for the rate limits: {exc}") from None
    if not reachable:
        raise WebSettingError(f"{name}={uri!r}: Redis does not answer there; start it or correct the URL.")


def share_web_secret(master_key: str | None) -> None:
    """With neither ``TRELLIS_WEB_SECRET`` nor a master key (``TRELLIS_SECRET_KEY``), set one random
    ``TRELLIS_WEB_SECRET`` in this (the master's) environment, which every worker inherits, and say
    what that means."""
    if os.environ.get("TRELLIS_WEB_SECRET") or master_key:
        return
    os.environ["TRELLIS_WEB_SECRET"] = secrets.token_hex(32)
    secho(
        "Warning: neither TRELLIS_WEB_SECRET nor TRELLIS_SECRET_KEY(_FILE) is set: the workers share a "
        "random session secret, so sessions end when this server stops and another server does not "
        "accept them. Set TRELLIS_WEB_SECRET to keep them.",
        fg="yellow",
        err=True,
    )


def options(
    host: str, port: int, workers: int, threads: int, settings: ServerSettings, graceful_timeout: int
) -> dict[str, Any]:
    """gunicorn's settings for ``trellis serve``'s options (waitress's ``cleanup_interval`` has none)."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "worker_connections": settings.connection_limit,
        "keepalive": settings.channel_timeout,
        "backlog": settings.backlog,
        "graceful_timeout": graceful_timeout,
        "proc_name": "trellis",
    }


def run(config: str, db_url: str | None, settings: dict[str, Any]) -> None:
    """Run gunicorn with ``settings`` until it is stopped; each worker serves ``create_app(config, db_url)``."""
    if not any(os.environ.get(name) for name in STORAGE_SETTINGS):
        secho(
            f"Warning: TRELLIS_REDIS_URL is not set: each of the {settings['workers']} workers counts the rate "
            "limits alone, so together they allow that many times each limit.",
            fg="yellow",
            err=True,
        )

    def factory() -> Any:
        from webui import create_app

        return create_app(config, db_url)

    _server(factory, settings).run()


def _server(factory: Callable[[], Any], settings: dict[str, Any]) -> Any:
    """The gunicorn application (its class is made here: gunicorn is imported only when used)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        """gunicorn with settings from ``trellis serve`` and ``GUNICORN_CMD_ARGS``."""

        def __init__(self, factory: Callable[[], Any], settings: dict[str, Any]) -> None:
            self.factory, self.settings = factory, settings
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.settings.items():
                self.cfg.set(key, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn ≥ 25: one path per user, not per server
                self.cfg.set("control_socket_disable", True)
            extra = self.cfg.get_cmd_args_from_env()
            if extra:
                parsed = self.cfg.parser().parse_args(extra)
                for key, value in vars(parsed).items():
                    if value is not None and key != "args":
                        self.cfg.set(key.lower(), value)

        def load(self) -> Any:
            return self.factory()

    return Server(factory, settings)
