"""The capped global search against the uncapped one, and the list search's count at two ``work_mem``.

    python benchmarks/scale_10m.py --db URL --rows 1000000 --keep      # fills a schema, prints its name
    python benchmarks/global_search_cap.py --db URL --schema scale_<hex> [--rounds 3] [--requests 5]
        [--output docs/benchmarks.md]

Measured on a schema ``benchmarks/scale_10m.py --keep`` filled (configs/sample_saas.yaml, 301 users,
deals at the size it was filled with), through Flask's test client as a user sees it, as the busiest
rep (``rep001``), the busiest team's manager (``mgr01``) and the executive (``ceo``), for the script's search terms
(10 %, 1 % and 0.01 % of the deals):

- ``global before`` / ``global after``: ``GET /search?q=`` with the global search's ranking as it
  was (``count(*) OVER ()`` over every match, all of them ranked: ``_uncapped`` below, a copy of
  the old ``_ranked``) and as it is (the first ``SEARCH_CAP + 1`` matches the database reads,
  ranked among themselves);
- ``list 4MB`` / ``list 32MB``: ``GET /o/opportunity?q=`` (page 1 and its capped count) with the
  server's ``work_mem`` (4 MB by default) and with ``SET LOCAL work_mem = '32MB'`` at the start of
  every transaction.

Each round runs every kind ``--requests`` times in turn (interleaved, after one warm-up); reported
are the medians over ``--rounds`` rounds of each round's median, in milliseconds, and after / before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from results import append_rows, machine  # benchmarks/results.py
from scale_10m import CONFIG, PASSWORD, TERMS, logged_in

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Trellis  # noqa: E402
from engine.runtime.records import ranking, search  # noqa: E402
from engine.runtime.records.query import Query  # noqa: E402

SECTION = "### After: the capped global search (`benchmarks/global_search_cap.py`)"
USERS = {"rep001": "busiest rep", "mgr01": "busiest team's manager", "ceo": "executive (reads all)"}


def _uncapped(query: Query, text: str, matches: Mapping[str, list[str]], limit: int) -> tuple[list[dict], int]:
    """The global search's ranking before the cap: every match counted and ranked."""
    query = query.search(text)
    table = query.table
    statement = (
        query.statement()
        .add_columns(sa.func.count().over().label("_total"))
        .order_by(None)
        .order_by(ranking.rank(query.obj, table, matches, bound=False), table.c.updated_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    rows = [dict(row) for row in query.session.connection.execute(statement).mappings()]
    count = rows[0]["_total"] if rows else 0
    return [{k: v for k, v in row.items() if k != "_total"} for row in rows], int(count)


def kinds(app: Any, crm: Trellis) -> dict[tuple[str, str, str], Callable[[], None]]:
    """(what, term, user) → one request of it."""
    capped = search._ranked
    state = {"work_mem": None}

    @sa.event.listens_for(crm.engine, "begin")
    def _work_mem(conn: sa.Connection) -> None:
        if state["work_mem"]:
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{state['work_mem']}'")

    def get(client: Any, url: str, ranked: Callable, work_mem: str | None) -> Callable[[], None]:
        def run() -> None:
            search._ranked, state["work_mem"] = ranked, work_mem
            try:
                response = client.get(url)
                assert response.status_code == 200, response.status_code
            finally:
                search._ranked, state["work_mem"] = capped, None

        return run

    clients = {user: logged_in(app, user) for user in USERS}
    work: dict[tuple[str, str, str], Callable[[], None]] = {}
    for term in TERMS:
        for user, client in clients.items():
            work[("global before", term, user)] = get(client, f"/search?q={term}", _uncapped, None)
            work[("global after", term, user)] = get(client, f"/search?q={term}", capped, None)
            work[("list 4MB", term, user)] = get(client, f"/o/opportunity?q={term}", capped, None)
            work[("list 32MB", term, user)] = get(client, f"/o/opportunity?q={term}", capped, "32MB")
    return work


def measure(work: dict[tuple[str, str, str], Callable[[], None]], rounds: int, requests: int) -> dict:
    """Each kind's median over ``rounds`` of the round's median of ``requests`` runs, in ms."""
    for run in work.values():
        run()
    medians: dict[tuple[str, str, str], list[float]] = {kind: [] for kind in work}
    for number in range(rounds):
        for kind, run in work.items():
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1000)
            medians[kind].append(statistics.median(times))
        print(f"round {number + 1} done", flush=True)
    return {kind: statistics.median(values) for kind, values in medians.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="the PostgreSQL URL scale_10m.py filled the schema in")
    parser.add_argument("--schema", required=True, help="a schema scale_10m.py --keep filled")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    key_file = Path(tempfile.gettempdir()) / "trellis-scale-10m.key"
    os.environ.setdefault("TRELLIS_SECRET_KEY", key_file.read_text(encoding="utf-8").strip())
    from webui import create_app  # after the secret key is set

    url = args.db + ("&" if "?" in args.db else "?") + f"options=-csearch_path%3D{args.schema}"
    crm = Trellis.open(CONFIG, url)
    with crm.directory() as directory:  # scale_10m.py gives the executive no password
        directory.edit("ceo", password=PASSWORD)
    with crm.engine.connect() as conn:
        deals = conn.exec_driver_sql("SELECT count(*) FROM obj_opportunity").scalar_one()
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
        figures = measure(kinds(app, crm), args.rounds, args.requests)
    crm.close()
    report(Path(args.output), args, deals, figures)


def report(path: Path, args: argparse.Namespace, deals: int, figures: dict) -> None:
    """Print the figures and append them to ``path``: one row per (term, user) and comparison."""
    day = dt.date.today().isoformat()
    lines = []
    for (what, term, user), after in figures.items():
        base = {"global after": "global before", "list 32MB": "list 4MB"}.get(what)
        if base is None:
            continue
        before = figures[(base, term, user)]
        lines.append(
            f"| {day} | {deals:,} | {what.split()[0]} `{term}` ({TERMS[term]}) | {USERS[user]} |"
            f" {base.split()[1]} {before:,.0f} | {what.split()[1]} {after:,.0f} | {after / before:.2f}× |"
        )
    for line in lines:
        print(line)
    header = (
        f"{SECTION}\n\n"
        "Web requests (Flask's test client), medians over the rounds of each round's median, milliseconds; "
        f"the kinds interleaved; PostgreSQL default settings; {machine()}.\n\n"
        "| date | deals | what | who | before (ms) | after (ms) | after / before |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    append_rows(path, SECTION, header, lines)
    print(f"appended to {path} (rounds {args.rounds}, requests {args.requests})")


if __name__ == "__main__":
    main()
