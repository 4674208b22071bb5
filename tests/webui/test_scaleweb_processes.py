"""What makes several web processes behave as one: the client's address behind trusted proxies
only, the applied config version looked at again (another process's ``apply``), and
``--workers`` where gunicorn cannot run."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine import Trellis
from engine.cli import gunicorn_app, main, serve_commands
from tests.templates import apply_fresh
from tests.test_scaleweb_serve import CONFIG
from tests.webui.conftest import log_in, make_app
from webui import readiness

WITH_PHONE = CONFIG.replace("      name: {type: text}\n", "      name: {type: text}\n      phone: {type: phone}\n")


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    yield crm
    crm.close()


def _statuses(client, addresses: list[str]) -> list[int]:
    """GET the API (no token: 401 until the per-IP limit) from REMOTE_ADDR 10.0.0.1, a proxy, for
    each client address it forwards."""
    return [
        client.get("/api/v1/lead", headers={"X-Forwarded-For": a}, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
        for a in addresses
    ]


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(crm):
    limit = {"TRELLIS_API_IP_RATE_LIMIT": "2 per minute"}
    clients = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    # Not trusted (the default): the header is the client's word; all three are one address.
    assert _statuses(make_app(crm, **limit).test_client(), clients) == [401, 401, 429]
    # One trusted proxy: each forwarded address has its own budget; a lie before the proxy's
    # own entry does not change the address counted.
    trusting = make_app(crm, TRELLIS_TRUSTED_PROXIES="1", **limit).test_client()
    assert _statuses(trusting, clients) == [401, 401, 401]
    assert _statuses(trusting, ["203.0.113.9, 198.51.100.1"] * 2) == [401, 429]


def test_another_process_applying_a_new_schema_turns_this_one_to_503(crm, write_config, db_url, monkeypatch):
    monkeypatch.setattr(readiness, "VERSION_RECHECK_SECONDS", 0.0)
    client = make_app(crm).test_client()
    assert client.get("/login").status_code == 200
    upgrade = Trellis.open(write_config(WITH_PHONE, "new.yaml"), db_url)
    upgrade.apply()  # a rolling upgrade, from another process
    upgrade.close()
    stale = client.get("/api/v1/lead", headers={"Authorization": "Bearer whatever"})
    assert stale.status_code == 503 and stale.get_json()["error"]["code"] == "database_out_of_date"


def test_workers_fall_back_to_one_waitress_process_without_fork(crm, monkeypatch):
    served = []
    monkeypatch.setattr(gunicorn_app, "available", lambda: False)
    monkeypatch.setattr(serve_commands, "run_server", lambda crm, host, port, threads, settings: served.append(port))
    result = CliRunner().invoke(
        main,
        [
            "serve",
            str(crm.config.source_path),
            "--db",
            crm.engine.url.render_as_string(hide_password=False),
            "--workers",
            "4",
            "--port",
            "8123",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "Warning: --workers > 1 needs gunicorn" in result.output
        and "Serving with waitress in one process" in result.output
    )
    assert served == [8123]


def test_a_redis_that_stops_answering_costs_limits_never_a_500(crm, caplog):
    """Redis down (nothing listens on port 9): the API's limits count in memory meanwhile; a failed
    login and a login page are answered as usual, and the log says why nothing was counted."""
    app = make_app(crm, TRELLIS_RATELIMIT_STORAGE="redis://127.0.0.1:9/0", TRELLIS_API_IP_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert log_in(client, "nobody", "wrong").status_code == 401
    assert "Rate-limit storage unreachable, not counted" in caplog.text
    assert [client.get("/api/v1/lead").status_code for _ in range(3)] == [401, 401, 429]
    assert log_in(client, "nobody", "wrong").status_code == 401  # counted in memory now, as the API's
