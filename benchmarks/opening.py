"""What opening a Trellis and its web app costs, once per process and again: what every test pays.

    python benchmarks/opening.py [--config configs/sample_saas.yaml] [--rounds 20] [--output docs/benchmarks.md]

The test suite opens a ``Trellis`` and makes a web app thousands of times per run in one
process. Three costs were paid anew each time and are now paid once per process; each is
timed here both ways, interleaved, medians of the rounds, in milliseconds:

- **schema**: the SQLAlchemy tables of the config (``tables._build_schema``, some hundred
  system tables) against ``build_schema``, which shares the schema of a config built before;
- **versions table**: ``sys_config_versions`` read at every ``check_current`` (each ``Trellis``
  opened): all the system tables built to take one, against the table built once
  (``versions._versions_table``);
- **app + first page**: ``create_app`` and a GET of the login page with a new Jinja bytecode
  cache (every template compiled), against the process's shared one
  (``webui.COMPILED_TEMPLATES``).

The database is a SQLite file (the costs are Python's; the database is not asked).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from results import append_rows, machine  # benchmarks/results.py

import webui
from engine import Trellis
from engine.metadata import load_config
from engine.runtime import tables
from engine.runtime.migrate import versions
from webui import create_app

SECTION = "## Opening a Trellis and its web app (`benchmarks/opening.py`)"
HEADER = f"""{SECTION}

`benchmarks/opening.py`: what every test pays when it opens a `Trellis` and makes a web app,
built anew each time (as before 2026-12-03) and shared within the process (now), interleaved,
medians of the rounds, in milliseconds (SQLite; the costs are Python's).

| date | config | schema: new | schema: shared | versions table: new | versions table: shared | app + login page: new | app + login page: shared | machine |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/sample_saas.yaml")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    config = load_config(args.config)
    with tempfile.TemporaryDirectory() as folder:
        crm = Trellis.open(args.config, f"sqlite:///{Path(folder) / 'bench.db'}")
        crm.apply()

        def login_page(cache: webui._CompiledTemplates) -> Callable[[], object]:
            def run() -> None:
                shared = webui.COMPILED_TEMPLATES
                webui.COMPILED_TEMPLATES = cache
                try:
                    app = create_app(crm, test_config={"TESTING": True, "SECRET_KEY": "bench"})
                finally:
                    webui.COMPILED_TEMPLATES = shared
                assert app.test_client().get("/login").status_code == 200

            return run

        kinds: dict[str, Callable[[], object]] = {
            "schema: new": lambda: tables._build_schema(config),
            "schema: shared": lambda: tables.build_schema(config),
            "versions: new": lambda: tables.system_tables(sa.MetaData())[versions.VERSIONS_TABLE],
            "versions: shared": versions._versions_table,
            "app: new": lambda: login_page(webui._CompiledTemplates())(),
            "app: shared": lambda: login_page(webui.COMPILED_TEMPLATES)(),
        }
        for work in kinds.values():  # warm-up: imports, the shared caches filled
            work()
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.rounds):
            for kind, work in kinds.items():
                times[kind].append(timed(work))
        crm.close()
    medians = [f"{statistics.median(values):.1f}" for values in times.values()]
    line = f"| {dt.date.today().isoformat()} | {Path(args.config).name} | {' | '.join(medians)} | {machine()} |"
    print(line)
    append_rows(Path(args.output), SECTION, HEADER, [line])


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - start:.1f} s")
