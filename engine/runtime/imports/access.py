"""Finding the import jobs a user may see (``runner.visible_to``: their own, or any with
``manage_config``) for a web or API caller.

A job of another user is as absent as one that does not exist (``JobNotFound``, the API's 404),
so that job numbers, file names and failed rows — other people's data — never reach the wrong user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.metadata.fieldtypes import MAX_INTEGER
from engine.runtime.database import read_only
from engine.runtime.errors import NotFound
from engine.runtime.imports import jobs, runner
from engine.runtime.imports.jobs import Job
from engine.runtime.imports.problems import ImportProblem, say

if TYPE_CHECKING:
    from engine.runtime.context import Runtime


class JobNotFound(NotFound):
    """No import job of that number that the caller may see."""

    def __init__(self, job_id: object) -> None:
        super().__init__("import job", job_id)
        self.args = (say("import.no_job", job=job_id),)


def visible_job(crm: Runtime, job_id: int, user: str | int | None) -> Job:
    """Job ``job_id`` as it stands now, when ``user`` may see it; ``JobNotFound`` otherwise (also
    when there is none)."""
    if not 1 <= job_id <= MAX_INTEGER:
        raise JobNotFound(job_id)
    try:
        job = runner.status(crm, job_id)
    except ImportProblem:
        raise JobNotFound(job_id) from None
    if not runner.visible_to(crm.principal(user), job):
        raise JobNotFound(job_id)
    return job


def visible_jobs(crm: Runtime, user: str | int | None, object_name: str | None = None, limit: int = 50) -> list[Job]:
    """The latest jobs ``user`` may see, newest first (of one object when given): their own, and
    everyone's for an administrator; a running dry run with its progress so far."""
    principal = crm.principal(user)
    everyone = principal.has(runner.AUTOMATION_OFF_PERMISSION)  # visible_to's administrator
    with read_only(crm.engine) as connection:
        found = jobs.recent(connection, crm.schema, object_name, limit, None if everyone else principal.user_id)
    live = [runner.status(crm, job.id) if job.dry_run and job.status == jobs.RUNNING else job for job in found]
    return [job for job in live if runner.visible_to(principal, job)]


def import_after(crm: Runtime, dry_run: Job) -> Job | None:
    """The real import of a dry run's file that is queued, running or done, if there is one: a dry
    run is imported once (a second "Import" finds the first)."""
    with read_only(crm.engine) as connection:
        found = jobs.imports_of_file(connection, crm.schema, dry_run.file_path)
    return next((job for job in found if job.status in (*jobs.OPEN, jobs.DONE)), None)
