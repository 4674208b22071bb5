"""Who may see an import job: the user who started it, and whoever holds ``manage_config``.

A web or API caller reaches jobs only through these functions: a job of another user is as
absent as one that does not exist (``JobNotFound``, the API's 404), so that job numbers, file
names and failed rows — which hold other people's data — never reach the wrong user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.runtime.errors import NotFound
from engine.runtime.imports import jobs
from engine.runtime.imports.jobs import Job
from engine.runtime.imports.problems import ImportProblem, say
from engine.runtime.security.permissions import Principal

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: The permission that shows every user's import jobs (an administrator's).
ALL_JOBS_PERMISSION = "manage_config"


class JobNotFound(NotFound):
    """No import job of that number that the caller may see."""

    def __init__(self, job_id: object) -> None:
        super().__init__("import job", job_id)
        self.args = (say("import.no_job", job=job_id),)


def may_see(principal: Principal, job: Job) -> bool:
    """Whether ``principal`` may see ``job``: their own, or any with ``manage_config``."""
    return principal.has(ALL_JOBS_PERMISSION) or (principal.user_id is not None and principal.user_id == job.user_id)


def visible_job(crm: Runtime, job_id: int, user: str | int | None) -> Job:
    """Job ``job_id`` when ``user`` may see it; ``JobNotFound`` otherwise (also when there is none)."""
    principal = crm.principal(user)
    try:
        with crm.engine.connect() as connection:
            job = jobs.load(connection, crm.schema, job_id)
    except ImportProblem:
        raise JobNotFound(job_id) from None
    if not may_see(principal, job):
        raise JobNotFound(job_id)
    return job


def visible_jobs(crm: Runtime, user: str | int | None, object_name: str | None = None, limit: int = 50) -> list[Job]:
    """The latest jobs ``user`` may see (their own; everyone's with ``manage_config``), newest
    first, of one object when given."""
    principal = crm.principal(user)
    mine = None if principal.has(ALL_JOBS_PERMISSION) else principal.user_id
    with crm.engine.connect() as connection:
        return jobs.recent(connection, crm.schema, object_name, limit, user_id=mine)
