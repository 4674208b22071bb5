"""``trellis worker --metrics-port``: a worker on a machine without a web process answers
Prometheus itself, with what it did and the gauges read from the database, to the clients the
web's ``/metrics`` allows (``TRELLIS_METRICS_ALLOW``, ``TRELLIS_METRICS_TOKEN``).

The worker runs as an operator runs it, in a process of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from tests.templates import apply_fresh
from tests.test_cli_worker import CONFIG, CREATED

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_oplimits3_worker_answers_prometheus_on_its_own_port(write_config, db_url):
    config = write_config(CONFIG.replace("HOOK_URL", "http://127.0.0.1:9/nobody-listens"))
    crm = Trellis.open(config, db_url, clock=lambda: CREATED)
    apply_fresh(crm)
    crm.close()
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRELLIS_", "PROMETHEUS_"))},
        "PYTHONPATH": str(ROOT),
        "TRELLIS_CLI_HOOK_SECRET": "cli-secret",
        "TRELLIS_METRICS_ALLOW": "10.0.0.0/8",  # not this machine: only the token lets the test in
        "TRELLIS_METRICS_TOKEN": "scrape-me",
    }
    command = [sys.executable, "-c", "from engine.cli import main; main()", "worker", str(config), "--db", db_url]
    worker = subprocess.Popen(
        [*command, "--interval", "0.2", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        status, body = 0, ""
        while time.monotonic() < deadline:
            try:
                status, body = _get(url, "scrape-me")
            except OSError:  # not listening yet
                status = 0
            if (
                status == 200
                and "trellis_worker_passes_total" in body
                and "trellis_worker_passes_total 0.0" not in body
            ):
                break
            time.sleep(0.2)
        assert status == 200, body
        assert "trellis_database_gauges_up 1.0" in body  # the gauges read from the database follow the counts
        assert "trellis_worker_last_pass_age_seconds" in body
        refused = _get(url)
        assert refused[0] == 403 and "TRELLIS_METRICS_TOKEN" in refused[1]
        assert _get(f"http://127.0.0.1:{port}/other", "scrape-me")[0] == 404

        taken = CliRunner().invoke(main, ["worker", str(config), "--db", db_url, "--metrics-port", str(port)])
        assert taken.exit_code == 1  # the port is the first worker's: said, not a traceback
        assert f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}" in taken.output
        assert "Traceback" not in taken.output
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert f"Metrics at http://127.0.0.1:{port}/metrics" in output
