"""The worker's counters on the web's ``/metrics`` (issue 18's known limits, item 1): ``trellis
worker`` and the web share ``PROMETHEUS_MULTIPROC_DIR``, so one scrape of the web shows what the
worker did — its passes, the rules its sweep fired, the outbox messages it tried.

The worker runs as an operator runs it, in a process of its own (``--once --at``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine import Trellis
from tests.templates import apply_fresh
from tests.test_cli_worker import CONFIG, CREATED
from tests.webui.conftest import make_app, text

ROOT = Path(__file__).resolve().parent.parent


def test_oplimits_web_metrics_show_what_a_worker_process_did(write_config, db_url, tmp_path, monkeypatch):
    config = write_config(CONFIG.replace("HOOK_URL", "http://127.0.0.1:9/nobody-listens"))
    crm = Trellis.open(config, db_url, clock=lambda: CREATED)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"], email="rita@example.com")
    with crm.session("rita") as s:
        s.create("lead", {"name": "Acme"})
        s.create("lead", {"name": "Globex"})
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRELLIS_", "PROMETHEUS_"))},
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "TRELLIS_CLI_HOOK_SECRET": "cli-secret",
    }
    command = [sys.executable, "-c", "from engine.cli import main; main()", "worker", str(config), "--db", db_url]
    done = subprocess.run(
        [*command, "--once", "--at", "2026-06-03T09:00"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rule lead_overdue: fired 2" in done.stdout and "outbox: sent 0, retried 2" in done.stdout

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    scraped = text(make_app(crm).test_client().get("/metrics"))
    assert "trellis_worker_passes_total 1.0" in scraped
    assert 'trellis_worker_rule_runs_total{outcome="fired",rule="lead_overdue"} 2.0' in scraped
    assert 'trellis_outbox_deliveries_total{outcome="retried"} 2.0' in scraped
    assert 'trellis_automation_runs_total{outcome="done",rule="lead_overdue"} 2.0' in scraped
    assert "trellis_database_gauges_up 1.0" in scraped  # the gauges still follow
    crm.close()
