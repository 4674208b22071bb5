"""Import jobs in ``sys_import_jobs`` and their failed rows in ``sys_import_errors``.

A job remembers what it imports (object, file with size and SHA-256, options, user) and how far
it got: ``rows_done`` counts the file's data rows whose outcome is committed. Each batch commits
its records, its failed rows and the job's new ``rows_done`` in one transaction, and moves
``rows_done`` only from the value it started from (``advance``): after a crash the job goes on
from the last committed batch, and two runs of one job cannot both commit the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from engine.runtime.imports.problems import ImportProblem

#: A job's states: ``running`` also after a crash (resume it), ``failed`` when it stopped on a problem,
#: ``cancelled`` when its user stopped it (the batches committed before stay).
PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
#: The states in which a job still has rows to run.
OPEN = (PENDING, RUNNING)
#: Failed rows read per query when they are listed or written to an error file.
ERROR_PAGE = 1000


@dataclass(frozen=True)
class Job:
    """One import job as stored."""

    id: int
    object: str
    file_name: str
    file_path: str
    file_size: int
    file_sha256: str
    options: Mapping[str, Any]
    user_id: int | None
    username: str
    status: str
    dry_run: bool
    encoding: str | None
    rows_done: int
    created: int
    updated: int
    skipped: int
    held: int
    failed: int
    message: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    #: Run by ``trellis worker`` (a job of the web wizard or the API), not by the CLI.
    queued: bool = False
    #: How far through the file the last committed batch (or a dry run) read, 0…1; None when unknown.
    fraction: float | None = None
    lease_owner: str | None = None
    lease_until: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has run to its end (nothing left to resume)."""
        return self.status == DONE

    @property
    def open(self) -> bool:
        """Whether the job still has rows to run (pending, or running / stopped halfway)."""
        return self.status in OPEN


@dataclass(frozen=True)
class Counts:
    """What one batch (or a whole run) did."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    held: int = 0
    failed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class FailedRow:
    """A row that was not imported: its number (the header is row 1), its cells and why."""

    row: int
    cells: list[Any]
    error: str


def _tables(schema: Any) -> tuple[sa.Table, sa.Table]:
    return schema.system["sys_import_jobs"], schema.system["sys_import_errors"]


def create(connection: sa.Connection, schema: Any, now: dt.datetime, **values: Any) -> int:
    """Store a new job (``values``: the columns describing it); returns its id."""
    jobs, _ = _tables(schema)
    row = {
        "status": PENDING,
        "rows_done": 0,
        **{name: 0 for name in ("created", "updated", "skipped", "held", "failed")},
        "created_at": now,
        "updated_at": now,
        **values,
    }
    return connection.execute(sa.insert(jobs).returning(jobs.c.id), row).scalar_one()


def load(connection: sa.Connection, schema: Any, job_id: int) -> Job:
    """The job ``job_id``; ImportProblem when there is none."""
    jobs, _ = _tables(schema)
    row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise ImportProblem("import.no_job", job=job_id)
    return Job(**row)


def recent(
    connection: sa.Connection, schema: Any, object_name: str | None = None, limit: int = 50, user_id: int | None = None
) -> list[Job]:
    """The latest jobs, newest first (of one object, of one user when given): an import history."""
    jobs, _ = _tables(schema)
    query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if object_name is not None:
        query = query.where(jobs.c.object == object_name)
    if user_id is not None:
        query = query.where(jobs.c.user_id == user_id)
    return [Job(**row) for row in connection.execute(query).mappings()]


def advance(
    connection: sa.Connection,
    schema: Any,
    job: Job,
    rows_from: int,
    rows_to: int,
    counts: Counts,
    failures: list[FailedRow],
    now: dt.datetime,
    fraction: float | None = None,
    lease_until: dt.datetime | None = None,
) -> None:
    """Record a batch in its own transaction: rows ``rows_from``…``rows_to`` done, its counts,
    how far through the file, and failed rows (``lease_until``: a worker's lease renewed). Raises
    ImportProblem when the job was cancelled or another run moved it meanwhile (nothing of this
    batch is then committed: the caller's transaction rolls back)."""
    jobs, errors = _tables(schema)
    values: dict[str, Any] = {"lease_until": lease_until} if lease_until is not None else {}
    moved = connection.execute(
        sa.update(jobs)
        .where(jobs.c.id == job.id, jobs.c.rows_done == rows_from, jobs.c.status.in_(OPEN))
        .values(
            rows_done=rows_to,
            status=RUNNING,
            updated_at=now,
            fraction=fraction,
            **values,
            **{name: getattr(jobs.c, name) + getattr(counts, name) for name in _COUNTED},
        )
    ).rowcount
    if moved != 1:
        state = connection.execute(sa.select(jobs.c.status).where(jobs.c.id == job.id)).scalar()
        raise ImportProblem("import.job_cancelled" if state == CANCELLED else "import.job_moved", job=job.id)
    add_failures(connection, schema, job.id, failures)


_COUNTED = ("created", "updated", "skipped", "held", "failed")


def add_failures(connection: sa.Connection, schema: Any, job_id: int, failures: list[FailedRow]) -> None:
    """Store failed rows of a job."""
    if failures:
        _, errors = _tables(schema)
        connection.execute(
            sa.insert(errors),
            [{"job_id": job_id, "row": f.row, "cells": f.cells, "error": f.error} for f in failures],
        )


def finish(
    connection: sa.Connection,
    schema: Any,
    job_id: int,
    status: str,
    now: dt.datetime,
    message: str | None = None,
    counts: Counts | None = None,
    rows_done: int | None = None,
) -> None:
    """Mark the job done or failed (a dry run also stores its counts and rows read here)."""
    jobs, _ = _tables(schema)
    values: dict[str, Any] = {"status": status, "updated_at": now, "message": message, "lease_until": None}
    if status == DONE:
        values["finished_at"] = now
        values["fraction"] = 1.0
    if counts is not None:
        values.update({name: getattr(counts, name) for name in _COUNTED})
    if rows_done is not None:
        values["rows_done"] = rows_done
    connection.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**values))


def failures(
    connection: sa.Connection, schema: Any, job_id: int, offset: int = 0, limit: int = ERROR_PAGE
) -> list[FailedRow]:
    """A page of the job's failed rows, in row order."""
    _, errors = _tables(schema)
    query = (
        sa.select(errors.c.row, errors.c.cells, errors.c.error)
        .where(errors.c.job_id == job_id)
        .order_by(errors.c.row, errors.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [FailedRow(row, list(cells or []), error) for row, cells, error in connection.execute(query)]


def all_failures(engine: sa.Engine, schema: Any, job_id: int) -> Iterator[FailedRow]:
    """Every failed row of the job, a page at a time."""
    offset = 0
    while True:
        with engine.connect() as connection:
            page = failures(connection, schema, job_id, offset)
        yield from page
        if len(page) < ERROR_PAGE:
            return
        offset += len(page)


def clear_failures(connection: sa.Connection, schema: Any, job_id: int) -> None:
    """Forget a job's failed rows (a dry run stores them again after it rolled back)."""
    _, errors = _tables(schema)
    connection.execute(sa.delete(errors).where(errors.c.job_id == job_id))


def set_status(
    connection: sa.Connection, schema: Any, job_id: int, status: str, now: dt.datetime, only_from: tuple[str, ...]
) -> bool:
    """Move the job to ``status`` if it is in one of ``only_from``; whether it moved."""
    jobs, _ = _tables(schema)
    query = sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(only_from))
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == CANCELLED:
        values.update(finished_at=now, lease_until=None)
    return connection.execute(query.values(**values)).rowcount == 1


def claim(connection: sa.Connection, schema: Any, owner: str, now: dt.datetime, until: dt.datetime) -> int | None:
    """Take the oldest queued job that has rows to run and no live lease, for ``owner`` until
    ``until``; its id, or None when there is none. Two workers never hold one job: the lease is
    taken with a conditional update."""
    jobs, _ = _tables(schema)
    free = sa.or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now)
    candidates = connection.execute(
        sa.select(jobs.c.id).where(jobs.c.queued.is_(True), jobs.c.status.in_(OPEN), free).order_by(jobs.c.id).limit(5)
    ).scalars()
    for job_id in list(candidates):
        taken = connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_(OPEN), free)
            .values(lease_owner=owner, lease_until=until)
        ).rowcount
        if taken == 1:
            return int(job_id)
    return None


def release(connection: sa.Connection, schema: Any, job_id: int, owner: str) -> None:
    """Give up ``owner``'s lease on the job (another worker, or the next slice, takes it on)."""
    jobs, _ = _tables(schema)
    connection.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == owner).values(lease_until=None))


def stale_files(connection: sa.Connection, schema: Any, before: dt.datetime) -> list[str]:
    """The uploaded files (of queued jobs) that no job has touched since ``before`` and that no job
    still has rows to run from: a dry run's file stays while its import may follow."""
    jobs, _ = _tables(schema)
    still_open = sa.func.sum(sa.case((jobs.c.status.in_(OPEN), 1), else_=0))
    query = (
        sa.select(jobs.c.file_path)
        .where(jobs.c.queued.is_(True), jobs.c.file_path != "")
        .group_by(jobs.c.file_path)
        .having(sa.func.max(jobs.c.updated_at) < before, still_open == 0)
    )
    return list(connection.execute(query).scalars())


def files_in_use(connection: sa.Connection, schema: Any, paths: list[str]) -> set[str]:
    """Those of ``paths`` that some job names as its file (the rest no job has ever used)."""
    jobs, _ = _tables(schema)
    if not paths:
        return set()
    query = sa.select(jobs.c.file_path).where(jobs.c.file_path.in_(paths)).distinct()
    return set(connection.execute(query).scalars())


def forget_file(connection: sa.Connection, schema: Any, path: str) -> None:
    """Note that the jobs' file was removed (a job that would need it says the file is gone)."""
    jobs, _ = _tables(schema)
    connection.execute(sa.update(jobs).where(jobs.c.file_path == path).values(file_path=""))


def imports_of_file(connection: sa.Connection, schema: Any, path: str) -> list[Job]:
    """The real imports (not dry runs) of the file at ``path``, newest first."""
    jobs, _ = _tables(schema)
    query = (
        sa.select(jobs)
        .where(jobs.c.file_path == path, jobs.c.dry_run.is_(False), jobs.c.file_path != "")
        .order_by(jobs.c.id.desc())
    )
    return [Job(**row) for row in connection.execute(query).mappings()]
