"""What approval adds to a retention purge (issue 18 §4): filing the request, and carrying out
the approved one, against the purge of the same records without approval.

    python benchmarks/retention_approval.py [--records 5000] [--rounds 3] [--db sqlite|postgresql|both]
                                            [--postgresql URL] [--output docs/benchmarks.md]

Each round makes two fresh databases (a SQLite file, or a new schema of ``--postgresql``) with
RECORDS leads past their retention (``{years: 2, action: purge}``), made through the write path
(``create_many``) with the clock set four years back; one config names an approver
(``approval: {role: compliance}``), the other none. Timed: on the first, ``retention.run`` filing
the request (the due records streamed for the fingerprint, copied into ``sys_retention_items``
with one INSERT … SELECT, the approvers notified), then, once a compliance officer approved it,
the ``retention.run`` carrying it out (``batch`` = RECORDS: the approved records still due and
unchanged, one join); on the second, the plain ``retention.run`` purge. Medians of the rounds;
appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import append_rows, databases, machine  # benchmarks/results.py  # noqa: E402
from scratch import scratch_database  # benchmarks/scratch.py  # noqa: E402

CONFIG = """
trellis: 1
roles:
  compliance: {permissions: [approve], objects: {lead: {read: all}}}
objects:
  lead:
    title: "{name}"
    retention: {years: 2, action: purge%s}
    fields:
      name: {type: text, required: true}
      email: {type: email}
"""
SECTION = "## Retention approval (`benchmarks/retention_approval.py`)"
HEADER = f"""{SECTION}

`benchmarks/retention_approval.py`: RECORDS leads past their retention on fresh databases; with an
approver, the run that files the request (fingerprint of the due records, one INSERT … SELECT into
`sys_retention_items`, the approvers notified) and, once approved, the run that purges them (the
approved records still due and unchanged, one join), against the plain purge of the same records
without approval. Medians of the rounds, seconds; the machine (2 cores) was shared with other work.

| date | database | records | file the request s | purge, approved s | purge, no approval s | ratio | machine |
| --- | --- | --- | --- | --- | --- | --- | --- |
"""


def build(url: str, approval: bool, records: int, folder: Path):
    """A Trellis on ``url`` with RECORDS leads made four years ago; its clock set to now."""
    from engine import Trellis

    now = dt.datetime.now(dt.UTC)
    clock = {"at": now - dt.timedelta(days=4 * 365)}
    path = folder / ("approval.yaml" if approval else "plain.yaml")
    path.write_text(CONFIG % (", approval: {role: compliance}" if approval else ""), encoding="utf-8")
    crm = Trellis.open(path, url, clock=lambda: clock["at"])
    crm.apply()
    if approval:
        with crm.directory() as directory:
            directory.add("cora", roles=["compliance"])
    with crm.session() as s:
        rows = ({"name": f"Lead {i}", "email": f"lead{i}@example.com"} for i in range(records))
        s.create_many("lead", rows)
    clock["at"] = now
    return crm


def one_round(url: str | None, records: int) -> tuple[float, float, float]:
    from engine.runtime import retention, retention_requests

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with scratch_database(url, _mkdir(folder / "a")) as first:
            crm = build(first, True, records, folder)
            try:
                started = time.perf_counter()
                [filed] = retention.run(crm, batch=records)
                filing = time.perf_counter() - started
                assert filed.action == "requested" and filed.done == records, filed
                with crm.session(user="cora") as s:
                    retention_requests.decide(s, filed.request, "approve")
                started = time.perf_counter()
                [done] = retention.run(crm, batch=records)
                approved = time.perf_counter() - started
                assert done.action == "purge" and done.done == records, done
            finally:
                crm.close()
        with scratch_database(url, _mkdir(folder / "b")) as second:
            crm = build(second, False, records, folder)
            try:
                started = time.perf_counter()
                [plain] = retention.run(crm, batch=records)
                alone = time.perf_counter() - started
                assert plain.done == records, plain
            finally:
                crm.close()
    return filing, approved, alone


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    lines = []
    for url in databases(args.db, args.postgresql):
        rounds = [one_round(url, args.records) for _ in range(args.rounds)]
        filing, approved, alone = (statistics.median(r[i] for r in rounds) for i in range(3))
        name = "PostgreSQL" if url else "SQLite"
        line = (
            f"| {dt.date.today().isoformat()} | {name} | {args.records:,} | {filing:.2f} | {approved:.2f} | "
            f"{alone:.2f} | {(filing + approved) / alone:.2f}× | {machine()} |"
        )
        print(line, flush=True)
        lines.append(line)
    if args.output:
        append_rows(args.output, SECTION, HEADER, lines)


if __name__ == "__main__":
    main()
