"""The web layer of Trellis: HTTP only, no business rules.

``create_app`` is the application factory (there is no module-level app). It
binds one ``Trellis`` instance to the app (``app.extensions["trellis"]``) and
lets each piece register itself through its ``init_app(app)``: routes, error
handlers, hooks and the defaults of its own settings (``app.config.setdefault``),
so that ``test_config`` and the environment win over them.

Every handler parses HTTP, calls the engine (``engine.runtime``: the one read
path and the one write path) and renders the answer; validation, permissions
and audit happen in the engine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

from engine.trellis import Trellis

#: App settings read from the environment when set there (test_config wins over both).
ENVIRONMENT_SETTINGS = (
    "TRELLIS_API_RATE_LIMIT",
    "TRELLIS_API_IP_RATE_LIMIT",
    "TRELLIS_LOGIN_RATE_LIMIT",
    "TRELLIS_RATELIMIT_STORAGE",
    "TRELLIS_REDIS_URL",
    "TRELLIS_TRUSTED_PROXIES",
    "TRELLIS_SECURE_COOKIES",
    "TRELLIS_UPLOAD_DIR",
    "TRELLIS_MAX_IMPORT_UPLOAD",
)


def create_app(
    config_path_or_crm: str | os.PathLike[str] | Trellis,
    db_url: str | None = None,
    test_config: Mapping[str, Any] | None = None,
) -> Flask:
    """Build the Flask app for a config file (opened on ``db_url``) or an open ``Trellis``.

    The database must have been brought to the config with ``trellis apply``; until it is,
    every request is answered with 503 (``webui.readiness``).
    """
    app = Flask(__name__)
    app.jinja_options = {**app.jinja_options, "bytecode_cache": COMPILED_TEMPLATES}
    app.config.update({name: os.environ[name] for name in ENVIRONMENT_SETTINGS if os.environ.get(name)})
    if test_config:
        app.config.update(test_config)
    crm = config_path_or_crm if isinstance(config_path_or_crm, Trellis) else Trellis.open(config_path_or_crm, db_url)
    app.extensions["trellis"] = crm

    from webui import api, monitoring, proxies, readiness, ui

    monitoring.init_app(app)  # first: the request id and the timing wrap every other hook
    proxies.init_app(app)  # X-Forwarded-* of trusted proxies only
    readiness.init_app(app)  # no other hook may read a stale database
    api.init_app(app)
    ui.init_app(app)  # after the API: CSRF protection exempts the API's blueprint
    crm.files_dir = Path(app.config["TRELLIS_UPLOAD_DIR"]).resolve()  # a deleted record's files go from there
    return app


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory for every app of the process: an app compiles a
    template once (parse, generate, ``compile``: milliseconds each) and the next app made in
    the same process (the tests make thousands) loads its code instead. Jinja checks each
    entry against the template's source (a changed file, or a config's own template of the
    same name elsewhere, is compiled again)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = _CompiledTemplates()
