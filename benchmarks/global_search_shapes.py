"""Global search per web request, against an earlier commit: time and this process's CPU.

    python benchmarks/global_search_shapes.py --baseline FOLDER --db postgresql+psycopg://… --schema scale_<hex>
        [--rounds 3] [--requests 10] [--output docs/benchmarks.md]
    python benchmarks/global_search_shapes.py --baseline FOLDER [--rows 100000] …     # SQLite

``FOLDER`` is a checkout of the commit to compare with (``git worktree add FOLDER <commit>``).
Each round runs a fresh process importing Trellis from ``FOLDER`` (``before``), then one importing
it from this checkout (``after``), one after the other on the same database (interleaved rounds).
Each process logs its users in through Flask's test client, sends every (user, text) request
twice to warm up, then ``--requests`` times each in turn, timing ``GET /search?q=`` — the
rendered results page — in wall milliseconds and in this process's CPU milliseconds
(``time.process_time``: Python, SQLAlchemy, Flask and the driver; not the PostgreSQL server's
work, which runs in its own process; on SQLite the database's work is in the process too).
Reported: per (user, text) the median over the rounds of each process's median, before and
after, and after / before; appended to ``--output`` under its own section.

The databases: on PostgreSQL, a schema ``benchmarks/scale_10m.py --keep`` filled (configs/sample_saas.yaml;
the busiest rep ``rep001``, the busiest team's manager ``mgr01``, the executive ``ceo``; the texts of
``scale_10m.TERMS``), kept; on SQLite, a file filled once here as ``benchmarks/global_search.py``
fills it (three objects of ``--rows`` records; ``rep1`` reads their own, ``boss`` all) and removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECTION = "## Global search, built once per shape (`benchmarks/global_search_shapes.py`)"
ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: The users of each database: username → who they are.
PG_USERS = {"rep001": "busiest rep", "mgr01": "busiest team's manager", "ceo": "executive (reads all)"}
SQLITE_USERS = {"rep1": "rep (own, 1/8)", "boss": "manager (reads all)"}
SQLITE_TERMS = {
    "globex": "10 %",
    "Contact 054321": "1 record",
    "小米科技": "5 % of accounts",
    "138 0005 4321": "a phone",
}
KEY_FILE = Path(tempfile.gettempdir()) / "trellis-scale-10m.key"


def child(url: str, config: str, users: dict[str, str], terms: list[str], password: str, requests: int) -> None:
    """One process's figures, printed as JSON: (user, text) → [median ms, median CPU ms]."""
    from engine import Trellis
    from webui import create_app

    crm = Trellis.open(config, url)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            crm,
            test_config={
                "TESTING": True,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "TRELLIS_UPLOAD_DIR": str(Path(folder) / "uploads"),
            },
        )
        clients = {}
        for user in users:
            client = app.test_client()
            response = client.post("/login", data={"username": user, "password": password})
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
            clients[user] = client
        kinds = [(user, term) for user in users for term in terms]
        for _ in range(2):
            for user, term in kinds:
                assert clients[user].get("/search", query_string={"q": term}).status_code == 200
        wall: dict[tuple[str, str], list[float]] = {kind: [] for kind in kinds}
        cpu: dict[tuple[str, str], list[float]] = {kind: [] for kind in kinds}
        for _ in range(requests):
            for user, term in kinds:
                start, start_cpu = time.perf_counter(), time.process_time()
                response = clients[user].get("/search", query_string={"q": term})
                wall[(user, term)].append((time.perf_counter() - start) * 1000)
                cpu[(user, term)].append((time.process_time() - start_cpu) * 1000)
                assert response.status_code == 200
    crm.close()
    print(
        json.dumps({f"{u}\t{t}": [statistics.median(wall[(u, t)]), statistics.median(cpu[(u, t)])] for u, t in kinds})
    )


def run(code: Path, arguments: list[str]) -> dict[str, list[float]]:
    """This script's ``--child`` in a fresh process importing Trellis from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", *arguments], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the run on {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fill_sqlite(path: Path, rows: int) -> Path:
    """A SQLite file as ``benchmarks/global_search.py`` fills it; returns its config file."""
    sys.path.insert(0, str(HERE))
    import global_search  # benchmarks/global_search.py (this checkout's Trellis)

    config = path.parent / "bench.yaml"
    config.write_text(global_search.CONFIG, encoding="utf-8")
    crm = global_search.Trellis.open(config, f"sqlite:///{path}")
    crm.apply()
    with crm.directory() as d:
        owners = [d.add(name, roles=["rep"], password=global_search.PASSWORD).id for name in global_search.REPS]
        d.add("boss", roles=["manager"], password=global_search.PASSWORD)
    print(f"filled 3 × {rows:,} records in {global_search.fill(crm, rows, owners):.0f} s", flush=True)
    crm.close()
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (with --schema); default: a SQLite file")
    parser.add_argument("--schema", default=None, help="a schema benchmarks/scale_10m.py --keep filled")
    parser.add_argument("--rows", type=int, default=100_000, help="SQLite: records per object")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--child", nargs=6, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, config, users, terms, password, requests = args.child
        child(url, config, json.loads(users), json.loads(terms), password, int(requests))
        return
    if args.baseline is None:
        parser.error("--baseline FOLDER is required")
    with tempfile.TemporaryDirectory() as folder:
        if args.db:
            os.environ.setdefault("TRELLIS_SECRET_KEY", KEY_FILE.read_text(encoding="utf-8").strip())
            url = args.db + ("&" if "?" in args.db else "?") + f"options=-csearch_path%3D{args.schema}"
            config, users, terms, password = ROOT / "configs" / "sample_saas.yaml", PG_USERS, None, "Bench-pass-123"
            sys.path.insert(0, str(HERE))
            from scale_10m import TERMS

            terms = TERMS
        else:
            from cryptography.fernet import Fernet

            os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
            path = Path(folder) / "bench.db"
            config = fill_sqlite(path, args.rows)
            url, users, terms, password = f"sqlite:///{path}", SQLITE_USERS, SQLITE_TERMS, "Bench-pass-123"
        arguments = [url, str(config), json.dumps(list(users)), json.dumps(list(terms)), password, str(args.requests)]
        runs: dict[str, list[dict[str, list[float]]]] = {"before": [], "after": []}
        for number in range(args.rounds):
            for name, code in (("before", args.baseline.resolve()), ("after", ROOT)):
                runs[name].append(run(code, arguments))
            print(f"round {number + 1} done", flush=True)
    report(Path(args.output), args, "postgresql" if args.db else "sqlite", users, terms, runs)


def report(
    path: Path,
    args: argparse.Namespace,
    database: str,
    users: dict[str, str],
    terms: dict[str, str],
    runs: dict[str, list[dict[str, list[float]]]],
) -> None:
    """One row per (user, text): before and after, wall and CPU, and their ratios."""
    from results import append_rows, machine  # benchmarks/results.py

    def median(name: str, key: str, index: int) -> float:
        return statistics.median(run[key][index] for run in runs[name])

    size = f"{args.rows:,} × 3" if database == "sqlite" else f"schema {args.schema}"
    load = os.getloadavg()[0]
    lines = []
    for user, who in users.items():
        for term, share in terms.items():
            key = f"{user}\t{term}"
            before, after = median("before", key, 0), median("after", key, 0)
            cpu_before, cpu_after = median("before", key, 1), median("after", key, 1)
            lines.append(
                f"| {dt.date.today().isoformat()} | {database} | {size} | `{term}` ({share}) | {who} |"
                f" {before:,.0f} | {after:,.0f} | {after / before:.2f} | {cpu_before:,.0f} | {cpu_after:,.0f} |"
                f" {cpu_after / cpu_before:.2f} | {load:.1f} |"
            )
    for line in lines:
        print(line)
    header = (
        f"{SECTION}\n\n"
        "`GET /search?q=` (Flask's test client, the rendered page), milliseconds per request: wall time and this "
        f"process's CPU (`time.process_time`); medians over {args.rounds} interleaved rounds (a process on the "
        f"baseline's code, then one on this branch's) of each process's median of {args.requests} requests; "
        f"{machine()}; `load` the 1-minute load average at the end.\n\n"
        "| date | database | data | text | who | before ms | after ms | after / before | before CPU ms |"
        " after CPU ms | CPU after / before | load |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    append_rows(path, SECTION, header, lines)
    print(f"appended to {path}")


if __name__ == "__main__":
    main()
