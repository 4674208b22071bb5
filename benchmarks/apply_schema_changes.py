"""Time of `apply` making schema changes to a large PostgreSQL table, and the longest a writer
waits meanwhile, this code against a baseline checkout (issue 18 §6: "apply on a 10M-record table
without locking writers").

    python benchmarks/apply_schema_changes.py --baseline DIR [--this DIR] [--rows 1000000]
        [--rounds 3] [--postgresql URL]

``--baseline DIR`` is the code to compare with, e.g. ``git worktree add --detach /tmp/base
f7462a5``. One scratch schema holds benchmarks/list_page.py's opportunity table with ROWS rows
(``VACUUM ANALYZE``d). Each round runs, for each code in turn (the order alternates between
rounds, so that a table growing with each change weighs on both alike), three applies in a fresh
process (``PYTHONPATH`` = the code's folder): one with no change, one adding a field with
``indexed: true`` (a plain index), one adding a required picklist field with a default (every
existing record is filled, and audited). Every change is made once, by one code: the configs are
one sequence. Meanwhile a writer in this process updates a random record every 10 ms in its own
transaction; the longest UPDATE overlapping an apply is what a user saving a record waited.
Prints the medians of the rounds (seconds of the apply, of its part until the commit, the
longest UPDATE in ms, and the ratio to the apply with no change); the rows for
docs/benchmarks.md are printed, not written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from list_page import CONFIG, REPS, fill, vacuum  # benchmarks/list_page.py  # noqa: E402
from results import machine  # benchmarks/results.py  # noqa: E402
from scratch import run_in, scratch_database  # benchmarks/scratch.py  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHANGES = ("no change", "indexed field", "required field with a default")
ANCHOR = "      description: {type: textarea}\n"


def field_for(change: str, step: int) -> str:
    """The field line step ``step`` adds for ``change`` (none for "no change")."""
    if change == "indexed field":
        return f"      code_{step}: {{type: integer, indexed: true}}\n"
    if change == "required field with a default":
        return f"      tier_{step}: {{type: picklist, values: [gold, silver], required: true, default: silver}}\n"
    return ""


class Writer:
    """Updates a random record every 10 ms on its own connection, remembering when each UPDATE
    started and how long it took (wall clock, comparable with another process's)."""

    def __init__(self, url: str, rows: int) -> None:
        self.engine, self.rows = sa.create_engine(url), rows
        self.times: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        update = sa.text("UPDATE obj_opportunity SET probability = (probability + 1) % 100 WHERE id = :id")
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                start = time.time()
                with conn.begin():
                    conn.execute(update, {"id": random.randint(1, self.rows)})
                self.times.append((start, time.time() - start))
                time.sleep(0.01)

    def longest(self, start: float, end: float) -> float:
        """The longest UPDATE that ran during ``start``–``end`` (seconds)."""
        return max((took for at, took in self.times if at < end and at + took > start), default=0.0)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.engine.dispose()


def child(url: str, config: str) -> None:
    """Apply ``config`` (the code on PYTHONPATH) and print its wall-clock start, commit and end."""
    from engine import Trellis

    crm = Trellis.open(config, url)
    try:
        committed: list[float] = []
        start = time.time()
        result = crm.apply(progress=lambda _: committed.append(time.time()))
        end = time.time()
    finally:
        crm.close()
    assert not result.warnings, result.warnings
    print(json.dumps({"start": start, "commit": committed[0] if committed else end, "end": end}))


def run(args: argparse.Namespace) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    codes = {"baseline": args.baseline.resolve(), "this": (args.this or HERE).resolve()}
    times: dict[tuple[str, str], list[tuple[float, float, float]]] = {(c, ch): [] for c in codes for ch in CHANGES}
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.postgresql, Path(folder)) as url:
        from engine import Trellis

        config, fields = Path(folder) / "bench.yaml", ""
        config.write_text(CONFIG, encoding="utf-8")
        crm = Trellis.open(config, url)
        try:
            crm.apply()
            with crm.directory() as d:
                owner = d.add(REPS[0], roles=["rep"]).id
            print(f"filled {args.rows:,} rows in {fill(crm, args.rows, [owner]):.1f} s", flush=True)
            vacuum(crm.engine)
        finally:
            crm.close()
        step = 0
        with Writer(url, args.rows) as writer:
            for round_ in range(1, args.rounds + 1):
                order = list(codes) if round_ % 2 else list(reversed(codes))
                for code in order:
                    for change in CHANGES:
                        step += 1
                        fields += field_for(change, step)
                        config.write_text(CONFIG.replace(ANCHOR, ANCHOR + fields), encoding="utf-8")
                        got = run_in(__file__, codes[code], url, [str(config)])
                        whole, commit = got["end"] - got["start"], got["commit"] - got["start"]
                        longest = writer.longest(got["start"], got["end"])
                        times[(code, change)].append((whole, commit, longest))
                        print(
                            f"round {round_}, {code}, {change}: apply {whole:.2f} s (commit at {commit:.2f} s), "
                            f"UPDATE ≤ {longest * 1000:,.0f} ms",
                            flush=True,
                        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help="the checkout to compare with")
    parser.add_argument("--this", type=Path, help="the checkout measured (default: this one)")
    parser.add_argument("--postgresql", default=POSTGRESQL, help="the PostgreSQL URL to benchmark on")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.baseline is None:
        parser.error("--baseline DIR is required")
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())  # the children inherit it
    times = run(args)
    day, where = dt.date.today().isoformat(), machine()
    for code in ("baseline", "this"):
        none = statistics.median(t[0] for t in times[(code, "no change")])
        for change in CHANGES:
            whole, commit, longest = (statistics.median(t[i] for t in times[(code, change)]) for i in range(3))
            print(
                f"| {code} | {args.rows:,} | {change} | {whole:.2f} | {commit:.2f} | {whole / none:.1f}× | "
                f"{longest * 1000:,.0f} | {day} | {where} |"
            )


if __name__ == "__main__":
    main()
