"""``trellis serve`` under a crowd of idle connections: a real server in a subprocess on a
loopback port, 120 sockets that connect and say nothing, then a normal browser request."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from engine import Trellis

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text}
"""
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("trellis serve did not start listening")


def test_idle_connections_do_not_lock_out_a_real_user(write_config, db_url):
    config = write_config(CONFIG)
    crm = Trellis.open(config, db_url)
    crm.apply()
    crm.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRELLIS_WEB_SECRET": "serve test"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from engine.cli import main; main()",
            "serve",
            str(config),
            "--db",
            db_url,
            "--port",
            str(port),
            "--threads",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    idle: list[socket.socket] = []
    try:
        wait_for(port, process)
        for _ in range(120):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        started = time.monotonic()
        browser = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        browser.request("GET", "/login")
        response = browser.getresponse()
        assert response.status == 200 and b'name="password"' in response.read()
        assert time.monotonic() - started < 5
        browser.close()
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "Connections: at most 1000, idle ones closed after 30 s." in output


def test_the_connection_settings_are_options_and_environment_variables():
    from click.testing import CliRunner

    from engine.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--connection-limit", "--channel-timeout", "--cleanup-interval", "--backlog"):
        assert option in result.output
    bad = CliRunner().invoke(main, ["serve", "x.yaml", "--channel-timeout", "0"])
    assert bad.exit_code == 2 and "--channel-timeout" in bad.output and "Traceback" not in bad.output
    env = CliRunner().invoke(main, ["serve", "x.yaml"], env={"TRELLIS_CONNECTION_LIMIT": "5"})
    assert env.exit_code == 2 and "connection-limit" in env.output
