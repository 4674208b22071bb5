"""API read throughput of `trellis serve` with one process against `--workers 2` (issue 18 §6).

    python benchmarks/serve_workers.py [--db sqlite|postgresql|both] [--rows 20000] [--seconds 8]
        [--clients 8] [--rounds 3] [--output docs/benchmarks.md]

Fills ROWS opportunities (benchmarks/list_page.py's config and filler), then, ROUNDS times and
interleaved, starts `trellis serve --workers 1` (waitress) and `trellis serve --workers 2`
(gunicorn) as real processes on a free port and lets CLIENTS concurrent keep-alive HTTP clients
read `GET /api/v1/opportunity?per_page=50` as the manager for SECONDS seconds. The load comes from
ApacheBench (`ab`, Debian's apache2-utils: C, a few percent of one core), so that the servers, not
the load generator, use the machine's two cores; without `ab`, threads of this process do it (and
take a core of their own: the ratio then says little). Reports requests per second, the median of
the rounds, and the ratio of two processes to one. The rate limits are lifted for the run; nothing
else differs between the two servers. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet
from list_page import CONFIG, PASSWORD, REPS, fill, vacuum  # benchmarks/list_page.py
from results import append_rows, databases, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime.security.tokens import create_token

POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECTION = "## Serving with several processes (`benchmarks/serve_workers.py`)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(config: Path, url: str, workers: int, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`trellis serve` on a free port, once it answers /healthz."""
    port = free_port()
    trellis = [sys.executable, "-c", "from engine.cli import main; main()"]  # the trellis command of this Python
    command = [*trellis, "serve", str(config), "--db", url, "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"trellis serve --workers {workers} did not answer within 60 s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def throughput(port: int, token: str, clients: int, seconds: float) -> float:
    """Requests per second that CLIENTS keep-alive clients complete in SECONDS (after a warm-up):
    ApacheBench when installed, else threads of this process."""
    ab = shutil.which("ab")
    if ab is None:
        return python_throughput(port, token, clients, seconds)
    url = f"http://127.0.0.1:{port}/api/v1/opportunity?per_page=50"
    auth = ["-H", f"Authorization: Bearer {token}"]
    subprocess.run([ab, "-q", "-k", "-c", str(clients), "-n", str(clients * 5), *auth, url], capture_output=True)
    done = subprocess.run(
        [ab, "-q", "-k", "-c", str(clients), "-t", str(int(seconds)), "-n", "10000000", *auth, url],
        capture_output=True,
        text=True,
    )
    failed = re.search(r"Non-2xx responses:\s+(\d+)", done.stdout)
    if done.returncode != 0 or failed:
        raise SystemExit(f"ab failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return float(re.search(r"Requests per second:\s+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]


def python_throughput(port: int, token: str, clients: int, seconds: float) -> float:
    """``throughput`` by threads of this process (when ``ab`` is not installed)."""
    counts = [0] * clients
    failures: list[str] = []
    stop = threading.Event()
    go = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        page = index
        for _ in range(3):  # warm-up: connections, the app's first requests
            connection.request("GET", f"/api/v1/opportunity?per_page=50&page={page % 40 + 1}", headers=headers)
            connection.getresponse().read()
        go.wait()
        while not stop.is_set():
            page += 1
            connection.request("GET", f"/api/v1/opportunity?per_page=50&page={page % 40 + 1}", headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(str(response.status))
                return
            counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    done = sum(counts)
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a request failed with HTTP {failures[0]}")
    return done / elapsed


def run(db: str | None, args: argparse.Namespace) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as folder, scratch_database(db, Path(folder)) as url:
        config = Path(folder) / "bench.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(config, url)
        crm.apply()
        with crm.directory() as d:
            owners = [d.add(name, roles=["rep"], password=PASSWORD).id for name in REPS]
            d.add("boss", roles=["manager"], password=PASSWORD)
        fill(crm, args.rows, owners)
        if url.startswith("postgresql"):
            vacuum(crm.engine)
        token = create_token(crm, "boss", "bench")[0]
        crm.close()
        env = {
            **os.environ,
            "TRELLIS_API_RATE_LIMIT": "10000000 per minute",
            "TRELLIS_API_IP_RATE_LIMIT": "10000000 per minute",
            "TRELLIS_WEB_SECRET": "bench-web-secret",
            "TRELLIS_UPLOAD_DIR": str(Path(folder) / "uploads"),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        env.pop("TRELLIS_REDIS_URL", None)
        rates: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(args.rounds):
            for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
                process, port = start_server(config, url, workers, env)
                try:
                    rate = throughput(port, token, args.clients, args.seconds)
                finally:
                    stop_server(process)
                rates[workers].append(rate)
                print(f"round {round_ + 1}, --workers {workers}: {rate:,.0f} requests/s")
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        dialect = url.split(":", 1)[0].split("+")[0]
        lines.append(
            f"| {dialect} | {args.rows:,} | {args.clients} | {one:,.0f} | {two:,.0f} | {two / one:.2f}× | "
            f"{dt.date.today().isoformat()} | {machine()} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgresql", default=POSTGRESQL, help="the PostgreSQL URL of --db postgresql")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    lines = [line for db in databases(args.db, args.postgresql) for line in run(db, args)]
    for line in lines:
        print(line)
    header = (
        f"{SECTION}\n\n"
        "Requests per second of `GET /api/v1/opportunity?per_page=50` (the manager's first page of 50) "
        "through real HTTP from keep-alive clients on the same machine, for `trellis serve` in one process "
        "(waitress) and `--workers 2` (gunicorn); the median of interleaved rounds; the load from ApacheBench "
        "(`ab -k`). Goal (issue 18): two "
        "processes ≥ 1.6× one on this 2-core machine.\n\n"
        "| database | rows | clients | 1 process (req/s) | 2 processes (req/s) | ratio | date | machine |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    append_rows(Path(args.output), SECTION, header, lines)


if __name__ == "__main__":
    main()
