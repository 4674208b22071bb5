"""Where a benchmark runs: a SQLite file in a temporary folder, or a fresh schema of the
PostgreSQL database given with ``--db`` (``?options=-csearch_path%3D<schema>``), dropped
afterwards, so that a run never meets the tables of an earlier one. ``BENCH_SCHEMA_PREFIX`` (default
``bench``) starts the schema's name: several people benchmarking on one server can tell theirs apart."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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
