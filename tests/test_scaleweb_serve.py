"""``trellis serve --workers 2``: two gunicorn processes that share one rate limit (Redis) and
accept each other's sessions — a real server in a subprocess on a loopback port.

Which process answered each request is read from gunicorn's access log (``%(p)s``: the pid,
through ``GUNICORN_CMD_ARGS``). The limits are counted per client address; each run sends a
random ``X-Forwarded-For`` (``TRELLIS_TRUSTED_PROXIES=1``), so its Redis keys are its own (and
expire within the minute). With per-process counters the API would allow up to twice its limit,
and a session signed by one process's random secret would be refused by the other.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from engine import Trellis
from tests.templates import apply_fresh
from tests.test_cli_serve import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/11"
API_LIMIT = 5
LOGIN_LIMIT = 3
PASSWORD = "Correct-Horse-7"
CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text}
roles:
  rep:
    objects: {lead: {read: all, edit: all, create: true}}
"""


def _redis_answers() -> bool:
    from limits.storage import storage_from_string

    try:
        return bool(storage_from_string(REDIS_URL).check())
    except Exception:  # noqa: BLE001 - no Redis: the test cannot run here
        return False


pytestmark = pytest.mark.skipif(
    not os.environ.get("TRELLIS_REQUIRE_REDIS") and not _redis_answers(),
    reason=f"no Redis at {REDIS_URL} (.ci/run starts one and sets TRELLIS_REQUIRE_REDIS)",
)


class Browser:
    """One client address (``X-Forwarded-For``), a new connection per request (so that either
    process may accept it) and the cookies it was given."""

    def __init__(self, port: int, address: str) -> None:
        self.port, self.address, self.cookies = port, address, {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"X-Forwarded-For": self.address}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, value = header.split(";", 1)[0].split("=", 1)
                self.cookies[name] = value
            return response.status, text
        finally:
            connection.close()

    def post_form(self, path: str, form: dict[str, str]) -> int:
        """GET the page for its CSRF token, then POST the form (each may reach either process)."""
        _, page = self.request("GET", path)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[:500]
        return self.request("POST", path, {**form, "csrf_token": token.group(1)})[0]


def _address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _answered_by(log: Path, path: str) -> dict[str, list[int]]:
    """The statuses each pid answered for ``path`` (from the access log)."""
    found: dict[str, list[int]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        pid, status, _, target = line.split(" ", 3)
        if target == path:
            found.setdefault(pid, []).append(int(status))
    return found


@pytest.fixture
def server(write_config, db_url, tmp_path):
    """``trellis serve --workers 2`` on an applied database with user ann; yields (port, access log)."""
    config = write_config(CONFIG)
    crm = Trellis.open(config, db_url)
    apply_fresh(crm)
    with crm.directory() as directory:
        directory.add("ann", roles=["rep"], password=PASSWORD)
    crm.close()
    port, log = free_port(), tmp_path / "access.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")},
        "PYTHONPATH": str(ROOT),
        "TRELLIS_REDIS_URL": REDIS_URL,
        "TRELLIS_TRUSTED_PROXIES": "1",
        "TRELLIS_API_IP_RATE_LIMIT": f"{API_LIMIT} per minute",
        "TRELLIS_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
        "TRELLIS_SECURE_COOKIES": "0",
        "GUNICORN_CMD_ARGS": f"--access-logfile {log} --access-logformat '%(p)s %(s)s %(m)s %(U)s'",
    }
    command = [sys.executable, "-c", "from engine.cli import main; main()", "serve", str(config), "--db", db_url]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(port, process)
        yield port, log
    finally:
        process.terminate()  # SIGTERM: gunicorn's graceful stop
        output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output
    assert "2 gunicorn workers" in output and "share a random session secret" in output


def _until_both_answer(browser: Browser, path: str, log: Path) -> list[int]:
    """GET ``path`` in bursts of parallel requests until both processes answered it (the kernel
    hands each connection to either); every status, in order."""
    statuses: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(15):
            statuses += pool.map(lambda _: browser.request("GET", path)[0], range(8))
            time.sleep(0.05)  # each process writes its access-log line after answering
            if len(_answered_by(log, path)) == 2:
                return statuses
    raise AssertionError(f"one process answered every {path}, the test proves nothing: {_answered_by(log, path)}")


def test_two_processes_share_one_limit_and_accept_each_others_sessions(server):
    port, log = server

    # The API's per-address limit: exactly API_LIMIT answers in all, whichever process gave them
    # (per-process counters would give one process's first request a 401 again, not a 429).
    statuses = _until_both_answer(Browser(port, _address()), "/api/v1/objects", log)
    assert statuses.count(401) == API_LIMIT and statuses.count(429) == len(statuses) - API_LIMIT

    # Failed logins of one address: LOGIN_LIMIT are looked at, the next is refused, in any process.
    guesser = Browser(port, _address())
    failures = [guesser.post_form("/login", {"username": "ann", "password": "wrong"}) for _ in range(LOGIN_LIMIT)]
    assert failures == [401] * LOGIN_LIMIT  # wrong password (not a CSRF refusal: the token is good everywhere)
    assert guesser.post_form("/login", {"username": "ann", "password": PASSWORD}) == 429

    # A session (and its CSRF token) signed by one process is good in the other.
    ann = Browser(port, _address())
    assert ann.post_form("/login", {"username": "ann", "password": PASSWORD}) == 302
    pages = _until_both_answer(ann, "/o/lead", log)
    assert set(pages) == {200}, pages
