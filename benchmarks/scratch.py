"""Where a benchmark runs: a SQLite file in a temporary folder, or a fresh schema of the
PostgreSQL database given with ``--db`` (``?options=-csearch_path%3D<schema>``), dropped
afterwards, so that a run never meets the tables of an earlier one. ``BENCH_SCHEMA_PREFIX`` (default
``bench``) starts the schema's name: several people benchmarking on one server can tell theirs apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


@contextmanager
def scratch_database(url: str | None, folder: Path) -> Iterator[str]:
    """Yield the URL to benchmark on: ``folder``/bench.db without ``url``, else a new schema of it."""
    if not url or not url.startswith("postgresql"):
        yield url or f"sqlite:///{folder / 'bench.db'}"
        return
    schema = f"{os.environ.get('BENCH_SCHEMA_PREFIX') or 'bench'}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_in(script: str, code: Path, url: str, options: Sequence[str]) -> dict[str, float]:
    """``script --child URL OPTIONS`` in a fresh process importing Trellis from ``code``: the JSON
    object its last line prints."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, script, "--child", url, *options], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the run on {code} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_checkouts(
    script: str, url: str | None, baseline: Path, this: Path, options: Sequence[str], rounds: int
) -> dict[str, list[dict[str, float]]]:
    """``rounds`` rounds, each ``run_in`` the baseline checkout then ``this`` one, each on a fresh
    database (``scratch_database``): the runs by ``baseline`` and ``this``."""
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(rounds):
        for name, code in (("baseline", baseline), ("this", this)):
            with tempfile.TemporaryDirectory() as folder, scratch_database(url, Path(folder)) as scratch:
                runs[name].append(run_in(script, code, scratch, options))
    return runs
