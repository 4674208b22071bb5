"""Prometheus metrics (``prometheus_client``): what the processes count, and what the database holds.

Counted where it happens, in the process that does it:

- ``trellis_http_requests_total`` / ``trellis_http_request_seconds`` by route (the URL rule,
  not the path), method and status — observed by the web layer (``webui.monitoring``);
- ``trellis_write_stage_seconds`` by stage of the one write path (``records.stages``);
- ``trellis_automation_runs_total`` by rule and outcome (``workflow.automation``);
- ``trellis_login_failures_total`` by outcome (``security.auth``);
- what ``trellis worker`` did (``count_pass``, after each pass): ``trellis_worker_passes_total``,
  ``trellis_worker_rule_runs_total`` by rule and outcome of the sweep, ``trellis_outbox_deliveries_total``
  by outcome, ``trellis_import_batches_total``, ``trellis_duplicate_finder_runs_total``,
  ``trellis_subscriptions_total`` by outcome, ``trellis_retention_records_total`` by object and action.

Read from the database at scrape time (``DatabaseGauges``, a custom collector), so that every
process answers the same: ``trellis_outbox_messages`` by status, ``trellis_outbox_oldest_age_seconds``,
``trellis_import_rows_done`` / ``trellis_import_fraction`` of the running imports,
``trellis_worker_last_pass_age_seconds``.

Several processes (gunicorn, ``trellis worker``): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory writable
by all of them before they start; each writes its counts there and a scrape of any process
adds them up (``prometheus_client.multiprocess``) — so the web's ``/metrics`` shows the counts of
the workers sharing the directory. Empty the directory when the service starts.

A worker on a machine without a web process answers scrapes itself: ``trellis worker
--metrics-port`` serves ``serve(crm, host, port)`` — ``/metrics`` as the web gives it, to the same
clients (``may_scrape``: ``TRELLIS_METRICS_ALLOW``, ``TRELLIS_METRICS_TOKEN``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.runtime.database import read_only

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.jobs.worker import PassReport

disable_created_metrics()  # no ``…_created`` series beside each counter: noise for a dashboard

#: The content type of a scrape's answer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "trellis_http_requests",
    "HTTP requests answered, by route (URL rule), method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "trellis_http_request_seconds",
    "Time to answer an HTTP request, by route (URL rule) and method",
    ["route", "method"],
)
WRITE_STAGE_SECONDS = Histogram(
    "trellis_write_stage_seconds",
    "Time spent in a stage of the write path per row (or per chunk for chunk stages)",
    ["stage"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
AUTOMATION_RUNS = Counter("trellis_automation_runs", "Automation rule runs, by rule and outcome", ["rule", "outcome"])
LOGIN_FAILURES = Counter("trellis_login_failures", "Refused login attempts, by outcome", ["outcome"])
WORKER_PASSES = Counter("trellis_worker_passes", "Passes finished by trellis worker")
RULE_RUNS = Counter(
    "trellis_worker_rule_runs",
    "Scheduled and cron rule runs of the worker's sweeps, by rule and outcome",
    ["rule", "outcome"],
)
DELIVERIES = Counter(
    "trellis_outbox_deliveries",
    "Outbox messages handled by the worker, by outcome (sent, retried, dead, suppressed)",
    ["outcome"],
)
IMPORT_BATCHES = Counter("trellis_import_batches", "Batches of queued imports run by the worker")
FINDER_RUNS = Counter("trellis_duplicate_finder_runs", "Queued duplicate finder runs run by the worker")
SUBSCRIPTIONS = Counter(
    "trellis_subscriptions", "Due e-mail subscriptions, by outcome (sent, failed, skipped_<reason>)", ["outcome"]
)
RETENTION = Counter(
    "trellis_retention_records",
    "Records archived or purged by the worker past retention, by object and action",
    ["object", "action"],
)

_STAGES: dict[str, Histogram] = {}
#: The outbox statuses of a message still to be sent.
WAITING = ("pending", "retry", "sending")
log = logging.getLogger("trellis.metrics")


def observe_stage(stage: str, seconds: float) -> None:
    """Count ``seconds`` spent in the write path's ``stage``."""
    child = _STAGES.get(stage)
    if child is None:
        child = _STAGES[stage] = WRITE_STAGE_SECONDS.labels(stage)
    child.observe(seconds)


def count_pass(report: PassReport) -> None:
    """Count what one worker pass did (``jobs.worker.run_once``)."""
    WORKER_PASSES.inc()
    for rule, done in report.sweep.rules.items():
        for outcome, count in (("fired", done.fired), ("skipped", done.skipped), ("failed", done.failed)):
            if count:
                RULE_RUNS.labels(rule, outcome).inc(count)
    delivery = report.delivery
    for outcome, count in (
        ("sent", delivery.sent),
        ("retried", delivery.retried),
        ("dead", delivery.dead),
        ("suppressed", delivery.suppressed),
    ):
        if count:
            DELIVERIES.labels(outcome).inc(count)
    count_between_passes(report.import_batches, report.finder_runs)
    subscriptions = report.subscriptions
    for outcome, count in (("sent", subscriptions.sent), ("failed", subscriptions.failed)):
        if count:
            SUBSCRIPTIONS.labels(outcome).inc(count)
    for reason, count in subscriptions.skipped.items():
        SUBSCRIPTIONS.labels(f"skipped_{reason}").inc(count)
    for kept in report.retention:
        if kept.done:
            RETENTION.labels(kept.object, kept.action).inc(kept.done)


def count_between_passes(import_batches: int, finder_runs: int) -> None:
    """Count the imports' batches and finder runs a worker ran (in a pass or between two)."""
    if import_batches:
        IMPORT_BATCHES.inc(import_batches)
    if finder_runs:
        FINDER_RUNS.inc(finder_runs)


class DatabaseGauges(Collector):
    """The gauges read from the database when scraped: outbox, running imports, worker."""

    def __init__(self, crm: Runtime) -> None:
        self.crm = crm

    def collect(self) -> Iterator[Metric]:
        crm = self.crm
        now = crm.clock_now().now_utc
        outbox = crm.schema.system["sys_outbox"]
        jobs = crm.schema.system["sys_import_jobs"]
        beats = crm.schema.system["sys_worker_heartbeats"]
        try:
            with read_only(crm.engine) as connection:
                counts = connection.execute(
                    sa.select(outbox.c.status, sa.func.count())
                    .where(outbox.c.status.in_(WAITING + ("dead",)))
                    .group_by(outbox.c.status)
                ).all()
                oldest = connection.execute(
                    sa.select(outbox.c.created_at)
                    .where(outbox.c.status.in_(WAITING))
                    .order_by(outbox.c.created_at)
                    .limit(1)
                ).scalar()
                running = connection.execute(
                    sa.select(jobs.c.id, jobs.c.object, jobs.c.rows_done, jobs.c.fraction).where(
                        jobs.c.status == "running"
                    )
                ).all()
                last = connection.execute(
                    sa.select(beats.c.last_pass_at).order_by(beats.c.last_pass_at.desc()).limit(1)
                ).scalar()
        except sa.exc.SQLAlchemyError as exc:  # the database is away or not set up: say so, count on
            log.warning("metrics: the database gauges could not be read: %s", type(exc).__name__)
            yield GaugeMetricFamily("trellis_database_gauges_up", "Whether the database gauges could be read", value=0)
            return
        yield GaugeMetricFamily("trellis_database_gauges_up", "Whether the database gauges could be read", value=1)
        depth = GaugeMetricFamily(
            "trellis_outbox_messages", "Outbox messages not sent yet, by status", labels=["status"]
        )
        for status, count in counts:
            depth.add_metric([status], count)
        yield depth
        yield GaugeMetricFamily(
            "trellis_outbox_oldest_age_seconds",
            "Age of the oldest outbox message waiting to be sent (0: none waits)",
            value=(now - oldest).total_seconds() if oldest is not None else 0.0,
        )
        done = GaugeMetricFamily("trellis_import_rows_done", "Rows read by a running import", labels=["job", "object"])
        fraction = GaugeMetricFamily(
            "trellis_import_fraction", "How far through its file a running import is (0…1)", labels=["job", "object"]
        )
        for job_id, obj, rows, share in running:
            done.add_metric([str(job_id), obj], rows)
            if share is not None:
                fraction.add_metric([str(job_id), obj], share)
        yield done
        yield fraction
        if last is not None:
            yield GaugeMetricFamily(
                "trellis_worker_last_pass_age_seconds",
                "Seconds since a worker last finished a pass",
                value=max((dt.datetime.now(dt.UTC) - last).total_seconds(), 0.0),  # wall time, as heartbeats
            )


def scrape(crm: Runtime) -> bytes:
    """The metrics in Prometheus's text format: this process's counts (every process's with
    ``PROMETHEUS_MULTIPROC_DIR``), then the gauges read from the database."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
        text = generate_latest(counted)
    else:
        from prometheus_client import REGISTRY

        text = generate_latest(REGISTRY)
    read = CollectorRegistry(auto_describe=False)
    read.register(DatabaseGauges(crm))
    return text + generate_latest(read)


#: Who may read the metrics when ``TRELLIS_METRICS_ALLOW`` is not set.
DEFAULT_ALLOW = "127.0.0.1,::1"


def may_scrape(address: str | None, authorization: str) -> bool:
    """Whether a client at ``address`` sending the ``Authorization`` header ``authorization`` may
    read the metrics: the bearer token ``TRELLIS_METRICS_TOKEN`` when it is set, or an address in
    ``TRELLIS_METRICS_ALLOW`` (comma-separated addresses or networks; default the loopback)."""
    token = os.environ.get("TRELLIS_METRICS_TOKEN", "")
    if token and authorization.startswith("Bearer ") and hmac.compare_digest(authorization[7:].strip(), token):
        return True
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    for item in (os.environ.get("TRELLIS_METRICS_ALLOW") or DEFAULT_ALLOW).split(","):
        try:
            if item.strip() and client in ipaddress.ip_network(item.strip(), strict=False):
                return True
        except ValueError:  # a mistyped entry allows no one
            log.warning(
                "TRELLIS_METRICS_ALLOW: %r is not an address or network (e.g. 10.0.0.0/8); ignored", item.strip()
            )
    return False


#: What a refused scrape is told (the web's ``/metrics`` answers the same).
REFUSED = {"error": "metrics are only for TRELLIS_METRICS_ALLOW or TRELLIS_METRICS_TOKEN"}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("metrics: " + format, *args)


def serve(crm: Runtime, host: str, port: int) -> Callable[[], None]:
    """Answer ``GET /metrics`` on ``host:port`` in a thread of this process (``trellis worker
    --metrics-port``); returns what stops it. Raises ``OSError`` when the port cannot be taken."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found: this port answers GET /metrics only.\n"]
        if not may_scrape(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION", "")):
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [json.dumps(REFUSED).encode()]
        body = scrape(crm)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="trellis-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
