"""Queued imports (the web wizard's and the API's): ``trellis worker`` runs them, never a request.

``work`` takes the oldest queued job that has rows to run with a lease (``jobs.claim``: a
conditional update, so two workers never run one job), runs it until its time slice is spent —
a real run commits and renews the lease batch by batch; a dry run is one transaction and runs
whole — and gives the lease back. A worker that dies lets its lease run out and another takes
the job on from its last committed batch, as ``trellis import --resume`` would. Problems that stop
a job (the file changed, the user lost the grant) end it as ``failed`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime.database import read_only
from engine.runtime.errors import TrellisError
from engine.runtime.imports import jobs, live, runner
from engine.runtime.imports.problems import ImportProblem, say

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

log = logging.getLogger("trellis.imports")

#: How long a worker holds a job between two batches before another may take it on.
LEASE = dt.timedelta(seconds=120)
#: How long an uploaded file stays after the last job that used it ended (a dry run's file, for
#: the import that may follow it; a job's file, to resume or look at it again).
KEEP_FILES = dt.timedelta(days=30)


def worker_name() -> str:
    """This process, as a lease names its holder."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def remove_abandoned_uploads(crm: Runtime, folder: Path, at: dt.datetime, keep: dt.timedelta = KEEP_FILES) -> int:
    """Delete the files in ``folder`` that were uploaded for import more than ``keep`` before ``at``
    and never used by a job (the user uploaded, maybe mapped, and left), with the notes beside
    them (``<file>.owner.json``); the number of files removed. Files a job names are left to
    ``remove_old_files``."""
    limit = (at - keep).timestamp()
    notes = {}
    for note in folder.glob("*.owner.json"):
        try:
            if note.stat().st_mtime < limit:
                notes[str(note.with_name(note.name.removesuffix(".owner.json")))] = note
        except OSError:
            continue
    if not notes:
        return 0
    with read_only(crm.engine) as connection:
        used = jobs.files_in_use(connection, crm.schema, sorted(notes))
    removed = 0
    for path, note in notes.items():
        if path in used:
            continue
        try:
            Path(path).unlink(missing_ok=True)
            note.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("abandoned import file %s not removed: %s", path, exc)
            continue
        removed += 1
    return removed


def work(crm: Runtime, seconds: float | None = 5.0, owner: str | None = None) -> int:
    """Run queued imports for about ``seconds`` (None: until no queued job is left); the number of
    batches run (a whole dry run counts as one)."""
    owner = owner or worker_name()
    deadline = None if seconds is None else time.monotonic() + seconds
    done = 0
    while deadline is None or time.monotonic() < deadline:
        job_id = _claim(crm, owner)
        if job_id is None:
            break
        done += _run_slice(crm, job_id, owner, deadline)
    return done


def _claim(crm: Runtime, owner: str) -> int | None:
    now = crm.clock_now().now_utc
    with crm.engine.begin() as connection:
        job_id = jobs.claim(connection, crm.schema, owner, now, now + LEASE)
    if job_id is None:
        return None
    job = runner.status(crm, job_id)
    if job.dry_run and job.status == jobs.RUNNING and live.alive(job):
        # Another worker's dry run is still going (it cannot renew its lease inside its transaction).
        return None
    return job_id


def _run_slice(crm: Runtime, job_id: int, owner: str, deadline: float | None) -> int:
    """Run job ``job_id`` until ``deadline``; the batches it ran."""
    ran = 0

    def count(_: runner.Progress) -> None:
        nonlocal ran
        ran += 1

    def lease() -> dt.datetime:
        return crm.clock_now().now_utc + LEASE

    try:
        job = runner.run(crm, job_id, progress=count, deadline=deadline, lease=lease)
    except ImportProblem as problem:
        if problem.problem not in ("import.job_moved", "import.job_cancelled"):
            log.warning("import job %s stopped: %s", job_id, problem)
        return max(ran, 1)
    except TrellisError as refused:  # the user lost the grant, or was disabled, since: the job ends
        _fail(crm, job_id, str(refused))
        return max(ran, 1)
    except sa.exc.DBAPIError:
        raise  # the database is away: the worker tries again later, the job goes on from its last batch
    except Exception:
        log.exception("import job %s stopped on an error", job_id)
        _fail(crm, job_id, say("import.internal_error"))
        return max(ran, 1)
    finally:
        with crm.engine.begin() as connection:
            jobs.release(connection, crm.schema, job_id, owner)
    if job.status in (jobs.DONE, jobs.FAILED):
        log.info("import job %s %s: %s rows read", job.id, job.status, job.rows_done)
    return max(ran, 1)


def _fail(crm: Runtime, job_id: int, reason: str) -> None:
    log.warning("import job %s stopped: %s", job_id, reason)
    with crm.engine.begin() as connection:
        jobs.finish(connection, crm.schema, job_id, jobs.FAILED, crm.clock_now().now_utc, reason)


def remove_old_files(crm: Runtime, at: dt.datetime, keep: dt.timedelta = KEEP_FILES) -> int:
    """Delete the uploaded files of queued jobs that ended more than ``keep`` before ``at`` (with the
    progress and cancel notes beside them); the number of files removed. The CLI's own files are
    never touched: only queued jobs' files, which the web and the API stored."""
    with crm.engine.connect() as connection:
        paths = jobs.stale_files(connection, crm.schema, at - keep)
    removed = 0
    for path in paths:
        for leftover in (Path(path), *Path(path).parent.glob(Path(path).name + ".*")):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("import file %s not removed: %s", leftover, exc)
                continue
        with crm.engine.begin() as connection:
            jobs.forget_file(connection, crm.schema, path)
        removed += 1
    return removed
