"""What an operator watches (issue 18 §5): /healthz, /readyz, /metrics, the request id in
headers, API errors and error pages, and the JSON request log line."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from engine import Trellis
from engine.metadata import load_config_text
from engine.runtime import health, logs
from engine.runtime.context import Runtime
from engine.runtime.database import create_engine
from engine.runtime.jobs import worker
from engine.runtime.logs import JsonFormatter
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh]}
objects:
  lead:
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects:
      lead: {read: all, edit: all, create: true}
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"alice": {"roles": ["rep"]}})


def test_liveness_and_readiness_say_which_check_failed(client, crm):
    assert client.get("/healthz").get_json() == {"status": "ok"}

    before = client.get("/readyz")
    assert before.status_code == 503
    body = before.get_json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["config_version"]["ok"]
    assert body["checks"]["worker"] == {"ok": False, "detail": "no worker has finished a pass (start `trellis worker`)"}

    health.beat(crm, health.wall_clock() - dt.timedelta(seconds=400))  # a worker that stopped
    stale = client.get("/readyz").get_json()["checks"]["worker"]
    assert stale["ok"] is False and stale["detail"].startswith("the last worker pass was 40")

    worker.run_once(crm, imports=False, mail=False)  # its next pass, under the same hostname:pid
    after = client.get("/readyz")
    assert after.status_code == 200, after.get_json()
    assert after.get_json()["status"] == "ready"


def test_readiness_of_a_database_behind_its_config_or_away(tmp_path, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_READY_WORKER_MAX_AGE", "0")  # the worker check left out
    config = load_config_text(CONFIG)
    away = Runtime(config, create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"))
    checks = {c.name: c for c in health.readiness(away)}
    assert set(checks) == {"database", "config_version"}
    assert not checks["database"].ok and checks["database"].detail.startswith("the database cannot be reached")
    down = make_app(Trellis(config, away.engine)).test_client()  # the app starts while the database is down
    assert down.get("/healthz").status_code == 200
    assert down.get("/readyz").get_json()["checks"]["database"]["ok"] is False

    empty = Runtime(config, create_engine(db_url))  # never applied: /readyz 503, /healthz 200
    client = make_app(Trellis(config, empty.engine)).test_client()
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["config_version"]["ok"] is False
    assert "trellis apply" in answer.get_json()["checks"]["config_version"]["detail"]
    scraped = client.get("/metrics")  # no tables to read the gauges from: said, not a 500
    assert scraped.status_code == 200 and "trellis_database_gauges_up 0.0" in text(scraped)


def test_metrics_count_routes_stages_logins_and_read_the_outbox(app, client, crm, monkeypatch):
    token = create_token(crm, "alice", "metrics test")[0]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/lead", json={"name": "Ada"}, headers=auth).status_code == 201
    client.post("/login", data={"username": "alice", "password": "wrong"})  # CSRF refuses: 400, counted
    from engine.runtime.security.auth import authenticate

    assert not authenticate(crm, "alice", "wrong password").ok

    page = client.get("/metrics")
    assert page.status_code == 200 and page.content_type.startswith("text/plain")
    scraped = text(page)
    assert 'trellis_http_requests_total{method="POST",route="/api/v1/<object_name>",status="201"}' in scraped
    assert 'trellis_write_stage_seconds_count{stage="audit"}' in scraped
    assert 'trellis_login_failures_total{outcome="failed"}' in scraped
    assert "trellis_outbox_oldest_age_seconds 0.0" in scraped and "trellis_database_gauges_up 1.0" in scraped

    elsewhere = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=elsewhere).status_code == 403
    monkeypatch.setenv("TRELLIS_METRICS_ALLOW", "10.1.0.0/33, 10.1.0.0/16")  # a mistyped entry is skipped
    assert client.get("/metrics", environ_base=elsewhere).status_code == 200
    monkeypatch.setenv("TRELLIS_METRICS_ALLOW", "192.0.2.1")
    monkeypatch.setenv("TRELLIS_METRICS_TOKEN", "s3cret")
    assert client.get("/metrics", environ_base=elsewhere).status_code == 403
    with_token = client.get("/metrics", environ_base=elsewhere, headers={"Authorization": "Bearer s3cret"})
    assert with_token.status_code == 200


def test_the_request_id_is_in_the_header_api_errors_error_pages_and_the_log(app, client, crm, caplog):
    caplog.set_level(logging.INFO, logger="trellis.requests")

    given = client.get("/api/v1/lead", headers={"X-Request-ID": "lb-1234.abc"})
    assert given.status_code == 401
    assert given.headers["X-Request-ID"] == "lb-1234.abc"
    assert given.get_json()["error"]["request_id"] == "lb-1234.abc"

    insane = client.get("/no-such-page", headers={"X-Request-ID": "<script>"})
    made = insane.headers["X-Request-ID"]
    assert made != "<script>" and len(made) == 32
    assert f"Request id (give it to your administrator): {made}" in text(insane)

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "trellis.requests"]
    first = lines[0]
    assert first["request_id"] == "lb-1234.abc"
    assert (first["method"], first["route"], first["status"], first["user_id"]) == (
        "GET",
        "/api/v1/<object_name>",
        401,
        None,
    )
    assert first["duration_ms"] >= 0 and first["level"] == "info"

    caplog.clear()
    signed_in = client_for(app, "alice")
    assert signed_in.get("/").status_code in (200, 302)
    [line] = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "trellis.requests"][-1:]
    assert line["user"] == "alice" and line["user_id"] == crm.principal("alice").user_id


def test_json_logs_are_one_object_per_line_for_the_worker_too(monkeypatch, capsys):
    monkeypatch.setenv("TRELLIS_LOG_FORMAT", "json")
    saved = {name: logging.getLogger(name) for name in logs.LOGGERS}
    before = {name: (lg.handlers[:], lg.level, lg.propagate) for name, lg in saved.items()}
    try:
        logs.configure_from_environment()
        logs.configure_from_environment()  # once per process, however often it is called
        assert len(saved["trellis"].handlers) == len(before["trellis"][0]) + 1
        logging.getLogger("trellis.worker").error("worker pass failed, retrying in %ss: %s", 60, "server closed")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        for name, lg in saved.items():
            lg.handlers[:], lg.level, lg.propagate = before[name]
    assert line.pop("time").endswith("Z")
    assert line == {
        "level": "error",
        "logger": "trellis.worker",
        "message": "worker pass failed, retrying in 60s: server closed",
    }
