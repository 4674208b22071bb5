"""One user's web list request, timed alone: wall and CPU milliseconds per request (issue 18 §6).

    python benchmarks/list_request.py [--rows 100000] [--user rep1] [--url /o/opportunity]
        [--requests 40] [--rounds 5] [--db URL]

Fills ROWS opportunities as ``django_admin_compare.py`` does (its ``PIPELINE_CONFIG``, the rows of
``list_page.fill``; with ``--db`` a PostgreSQL URL, a scratch schema, vacuumed), logs USER in
through Flask's test client and, after a warm-up, times ROUNDS rounds of REQUESTS GETs of URL:
the median over the rounds of the mean wall and process CPU milliseconds per request. CPU time
moves less than wall time on a machine that other work shares, which makes it the measure for
an A/B of two versions of the code: run this script alternately from each checkout, e.g.

    for i in 1 2 3; do for tree in ../before .; do (cd $tree && PYTHONPATH=.:benchmarks \\
        python benchmarks/list_request.py --user rep1); done; done
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from django_admin_compare import PIPELINE_CONFIG  # benchmarks/django_admin_compare.py
from list_page import PASSWORD, REPS, fill, log_in, vacuum  # benchmarks/list_page.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--user", default="rep1", help="rep1…rep8 (own records) or boss (all)")
    parser.add_argument("--url", default="/o/opportunity")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: a SQLite file); a scratch schema")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    from webui import create_app  # after the secret key is set

    with tempfile.TemporaryDirectory() as name, scratch_database(args.db, Path(name)) as url:
        folder = Path(name)
        config = folder / "bench.yaml"
        config.write_text(PIPELINE_CONFIG, encoding="utf-8")
        crm = Trellis.open(config, url)
        crm.apply()
        with crm.directory() as d:
            owners = [d.add(user, roles=["rep"], password=PASSWORD).id for user in REPS]
            d.add("boss", roles=["manager"], password=PASSWORD)
        fill(crm, args.rows, owners)
        if url.startswith("postgresql"):
            vacuum(crm.engine)
        app = create_app(crm, test_config={"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
        client = app.test_client()
        log_in(client, args.user)
        for _ in range(20):
            assert client.get(args.url).status_code == 200
        walls, cpus = [], []
        for _ in range(args.rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests):
                client.get(args.url)
            walls.append((time.perf_counter() - wall) * 1000 / args.requests)
            cpus.append((time.process_time() - cpu) * 1000 / args.requests)
        crm.close()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(
        f"{commit or Path.cwd().name}: {args.user} {args.url} wall {statistics.median(walls):.2f} ms, "
        f"cpu {statistics.median(cpus):.2f} ms per request (median of {args.rounds} rounds of {args.requests})"
    )


if __name__ == "__main__":
    main()
