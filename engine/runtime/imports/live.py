"""A running dry run's live state, kept beside its file instead of in the database.

A dry run is one transaction that is rolled back, so it cannot commit its progress as a real run
does, and on SQLite no other connection may write while it holds the write lock. Its progress
(rows read, what they would become, how far through the file) and a request to cancel it are
therefore small files next to the job's file, which the worker running it and the web server that
shows it both reach (the worker reads the file anyway). The progress file's age is the dry run's
heartbeat: a worker that died leaves it to go stale.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from engine.runtime.imports.jobs import Counts, Job

#: A progress file older than this belongs to a dry run that is no longer running.
STALE_SECONDS = 120.0


def _progress_path(job: Job) -> Path:
    return Path(job.file_path + f".job{job.id}.progress")


def _cancel_path(job: Job) -> Path:
    return Path(job.file_path + f".job{job.id}.cancel")


def write_progress(job: Job, rows: int, counts: Counts, fraction: float | None) -> None:
    """Store how far the dry run got (replaced whole, so a reader never sees half of it)."""
    path = _progress_path(job)
    partial = path.with_name(path.name + ".tmp")
    try:
        partial.write_text(json.dumps({"rows": rows, "counts": asdict(counts), "fraction": fraction}))
        os.replace(partial, path)
    except OSError:
        pass  # the bar stands still; the dry run goes on


def read_progress(job: Job) -> tuple[int, Counts, float | None] | None:
    """The dry run's progress so far (rows, counts, fraction); None when there is none."""
    try:
        data = json.loads(_progress_path(job).read_text())
        return int(data["rows"]), Counts(**data["counts"]), data["fraction"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(job: Job) -> bool:
    """Whether a worker is running the dry run now (its progress file is fresh)."""
    try:
        return time.time() - _progress_path(job).stat().st_mtime < STALE_SECONDS
    except OSError:
        return False


def request_cancel(job: Job) -> None:
    """Ask the worker running the dry run to stop it."""
    _cancel_path(job).touch()


def cancel_requested(job: Job) -> bool:
    """Whether the dry run's user asked to stop it."""
    return _cancel_path(job).exists()


def clear(job: Job) -> None:
    """Forget the dry run's live state (it ended)."""
    for path in (_progress_path(job), _cancel_path(job)):
        path.unlink(missing_ok=True)
