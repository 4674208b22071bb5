"""One user's web list request, timed alone: wall and CPU milliseconds per request (issue 18 §6).

    python benchmarks/list_request.py [--rows 100000] [--user rep1] [--url /o/opportunity]
        [--requests 40] [--rounds 5] [--db URL] [--cases]

Fills ROWS opportunities as ``django_admin_compare.py`` does (its ``PIPELINE_CONFIG``, the rows of
``list_page.fill``; with ``--db`` a PostgreSQL URL, a scratch schema, vacuumed), logs USER in
through Flask's test client and, after a warm-up, times ROUNDS rounds of REQUESTS GETs of URL:
the median over the rounds of the mean wall and process CPU milliseconds per request. CPU time
moves less than wall time on a machine that other work shares, which makes it the measure for
an A/B of two versions of the code: run this script alternately from each checkout, e.g.

    for i in 1 2 3; do for tree in ../before .; do (cd $tree && PYTHONPATH=.:benchmarks \\
        python benchmarks/list_request.py --user rep1); done; done

``--cases`` times the four cases of ``django_admin_compare.py`` (a rep's list, the manager's list,
a stage filter, a search) one after the other on the same rows instead of USER's URL. The script
may be run from this checkout on an older one's code (``cd ../before && PYTHONPATH=.
python ../after/benchmarks/list_request.py``): its helpers are the benchmarks' own.
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
from django_admin_compare import CASES, PIPELINE_CONFIG  # benchmarks/django_admin_compare.py
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
    parser.add_argument("--cases", action="store_true", help="the four cases of django_admin_compare.py")
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
        cases = [(case, user, url) for case, url, _, user in CASES] if args.cases else [("", args.user, args.url)]
        results = [(case, user, url, *timed(app, user, url, args.requests, args.rounds)) for case, user, url in cases]
        crm.close()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    for case, user, url, wall, cpu in results:
        print(
            f"{commit or Path.cwd().name}: {case + ': ' if case else ''}{user} {url} wall {wall:.2f} ms, "
            f"cpu {cpu:.2f} ms per request (median of {args.rounds} rounds of {args.requests})"
        )


def timed(app, user: str, url: str, requests: int, rounds: int) -> tuple[float, float]:
    """The median over ROUNDS rounds of REQUESTS GETs of ``url`` as ``user``: (wall ms, CPU ms)."""
    client = app.test_client()
    log_in(client, user)
    for _ in range(20):
        assert client.get(url).status_code == 200
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            client.get(url)
        walls.append((time.perf_counter() - wall) * 1000 / requests)
        cpus.append((time.process_time() - cpu) * 1000 / requests)
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    main()
