"""What an operator watches: ``/healthz``, ``/readyz``, ``/metrics``, the request id and the request log.

- ``/healthz`` (liveness): 200 ``{"status": "ok"}`` when the process answers; no database.
- ``/readyz`` (readiness): every check of ``engine.runtime.health.CHECKS``; 200 when all pass,
  503 otherwise, with each check's outcome (``{"status": "ready"|"not_ready", "checks": {…}}``).
- ``/metrics``: Prometheus's text format (``engine.runtime.metrics.scrape``), only to clients
  whose address is in ``TRELLIS_METRICS_ALLOW`` (comma-separated addresses or networks, default
  ``127.0.0.1,::1``) or that send ``Authorization: Bearer`` ``TRELLIS_METRICS_TOKEN``; 403 else.

Every request gets a request id: the client's ``X-Request-ID`` when it is sane (1–128 of
``A-Za-z0-9._-``), else a new one. It is sent back in ``X-Request-ID``, is in every API
error (``error.request_id``) and on the error pages, and is in the log line of the request —
one JSON object per line on the ``trellis.requests`` logger when ``TRELLIS_LOG_FORMAT=json``
(id, method, route, status, duration in ms, the user's id and name).

Requests are counted by route (the URL rule, e.g. ``/api/v1/<object>``, never the raw path),
method and status. None of these answers holds a secret or record data; none needs a login.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Blueprint, Flask, Response, g, has_app_context, jsonify, request

from engine.runtime import health, logs, metrics
from webui.state import get_trellis

#: The paths that answer before the database check of ``webui.readiness`` (they say it themselves).
PATHS = ("/healthz", "/readyz", "/metrics")
#: A client's request id is kept when it matches this; else a new one is made.
SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

requests_log = logging.getLogger("trellis.requests")
bp = Blueprint("monitoring", __name__)


def init_app(app: Flask) -> None:
    """Add the three routes and the hooks that time, count and log every request."""
    app.register_blueprint(bp)
    app.before_request(_start)
    app.after_request(_finish)
    logs.configure_from_environment()


def request_id() -> str | None:
    """The current request's id (None outside a request or before it was given one)."""
    return g.get("request_id") if has_app_context() else None


def _request_fields() -> dict[str, object]:
    """The request id on every log line written while a request runs (``logs.CONTEXT``)."""
    rid = request_id()
    return {"request_id": rid} if rid else {}


logs.CONTEXT.append(_request_fields)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: every registered check passes (200) or not (503), with each outcome."""
    checks = health.readiness(get_trellis())
    ready = all(check.ok for check in checks)
    body = {"status": "ready" if ready else "not_ready", "checks": {c.name: c.as_json() for c in checks}}
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics_page() -> Response:
    """The metrics, for allowed addresses or the bearer token only."""
    if not metrics.may_scrape(request.remote_addr, request.headers.get("Authorization", "")):
        response = jsonify(metrics.REFUSED)
        response.status_code = 403
        return response
    return Response(metrics.scrape(get_trellis()), mimetype=None, content_type=metrics.CONTENT_TYPE)


def _start() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if SANE_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    rid = g.get("request_id")
    if rid is None:  # a hook before ours answered
        _start()
        rid = g.request_id
    response.headers["X-Request-ID"] = rid
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    metrics.REQUEST_SECONDS.labels(route, request.method).observe(seconds)
    if requests_log.isEnabledFor(logging.INFO):
        web_user = g.get("_login_user")  # Flask-Login's user, when this request loaded it (never loaded here)
        signed_in = web_user is not None and web_user.is_authenticated
        requests_log.info(
            "%s %s %s %s",
            request.method,
            route,
            response.status_code,
            rid,
            extra={
                "trellis": {
                    "request_id": rid,
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                    "user_id": int(web_user.get_id()) if signed_in else None,
                    "user": web_user.username if signed_in else g.get("api_username"),
                }
            },
        )
    return response
