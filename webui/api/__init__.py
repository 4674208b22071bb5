"""The REST API (``/api/v1``), generated from the config.

- ``GET|POST /api/v1/<object>``, ``GET|PATCH|DELETE /api/v1/<object>/<id>``;
- ``POST /api/v1/<object>/bulk``: up to 1,000 records created or changed at once (``bulk``);
- ``/api/v1/imports``: CSV and Excel files imported by queued jobs, their progress and errors (``imports``);
- ``GET /api/v1/meta/objects``, ``GET /api/v1/openapi.json``;
- ``POST /api/v1/<object>/<id>/convert/<conversion>`` (``conversions``, S12);
- ``POST /api/v1/<object>/<id>/merge`` and ``…/unmerge`` (``merges``, issue 14);
- ``GET /api/v1/notifications``, ``POST …/notifications[/<id>]/read`` (``notifications``);
- ``GET /api/v1/reports`` and ``GET /api/v1/reports/<name>``: reports' figures (``reports``, issue 15);
- ``GET /api/v1/dashboards`` and ``GET /api/v1/dashboards/<name>``: dashboards' widgets (``dashboards``);
- ``GET /api/v1/search?q=``: every readable object searched at once (``search``);
- ``GET /api/v1/retention-requests``, ``POST …/<id>/approve|reject``: retention held for approval (``retention``);
- ``POST /api/v1/campaign/<id>/start``, ``GET …/results``, ``POST /api/v1/events`` (``campaigns``, issue 16 §3);
- bearer tokens (``engine.runtime.security.tokens``), JSON errors (``errors``), rate
  limits per token and per IP (``ratelimit``).

The guide for API users is docs/api.md.

Modules: ``routes`` (the handlers), ``bulk`` (many records per request), ``imports`` (import jobs), ``params`` (reading requests),
``serialize`` (records as JSON), ``auth``, ``errors``, ``ratelimit``, ``meta``
and ``openapi`` (describing the config to the caller).
"""

from __future__ import annotations

from flask import Flask

from webui.api import (
    approvals,
    bulk,
    campaigns,
    conversions,
    dashboards,
    emails,
    errors,
    imports,
    merges,
    notifications,
    ratelimit,
    reports,
    retention,
    search,
    timeline,
)
from webui.api.routes import create_blueprint


def init_app(app: Flask) -> None:
    """Register the API on ``app``: blueprint, error handlers, rate limits."""
    blueprint = create_blueprint()
    timeline.register(blueprint)
    emails.register(blueprint)
    approvals.register(blueprint)
    conversions.register(blueprint)
    merges.register(blueprint)
    bulk.register(blueprint)
    imports.register(blueprint)
    notifications.register(blueprint)
    reports.register(blueprint)
    dashboards.register(blueprint)
    search.register(blueprint)
    campaigns.register(blueprint)
    retention.register(blueprint)
    errors.register(app, blueprint)
    ratelimit.init_app(app, blueprint)
    app.register_blueprint(blueprint)
