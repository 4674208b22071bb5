# ruff: noqa: F811 (the test functions take the imported fixture `small` by its name)
"""Queued imports (the web wizard's and the API's): the worker runs them a slice at a time, holds
each with a lease, takes over a dead worker's job without importing a row twice, and stops a
job its user cancels."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.runtime import imports
from engine.runtime.imports import jobs
from engine.runtime.imports.problems import ImportProblem
from engine.runtime.jobs import worker
from tests.test_cli_import import records, small, write_csv  # noqa: F401 (small: the fixture)

ROWS = [["Company name", "Code"]] + [[f"Firm {n}", f"C{n:03}"] for n in range(1, 8)] + [["", "C999"]]


@pytest.fixture
def upload(tmp_path):
    return write_csv(tmp_path / "accounts.csv", ROWS)


def test_the_worker_runs_a_queued_job_and_its_user_reads_its_progress(small, upload):
    _, _, crm = small
    job = imports.start(crm, "account", upload, imports.ImportOptions(batch=3), user="imp", queue=True)
    assert job.queued and job.status == jobs.PENDING
    assert imports.work(crm, seconds=0) == 0 and records(crm, "account") == []  # no time given: nothing run

    report = worker.run_once(crm)
    assert report.import_batches == 3
    done = imports.status(crm, job.id)
    assert (done.status, done.rows_done, done.created, done.failed, done.fraction) == (jobs.DONE, 8, 7, 1, 1.0)
    assert [f.row for f in imports.failures(crm, job.id)] == [9]
    assert imports.recent(crm, "account")[0].id == job.id
    assert imports.visible_to(crm.principal("imp"), done) and imports.visible_to(crm.principal("boss"), done)
    assert not imports.visible_to(crm.principal("rep"), done)
    with pytest.raises(ImportProblem, match="has ended already"):
        imports.cancel(crm, job.id, "imp")
    with pytest.raises(ImportProblem, match=f"no import job {job.id}"):
        imports.cancel(crm, job.id, "rep")  # another user's job: as if there were none


def test_a_dead_workers_job_is_taken_over_after_its_lease_and_no_row_is_imported_twice(small, upload):
    _, _, crm = small
    job = imports.start(crm, "account", upload, imports.ImportOptions(batch=2), user="imp", queue=True)
    # Worker A takes the job and dies after one batch, still holding the lease.
    now = crm.clock_now().now_utc
    with crm.engine.begin() as connection:
        assert jobs.claim(connection, crm.schema, "A", now, now + dt.timedelta(minutes=2)) == job.id
    imports.run(crm, job.id, max_batches=1)
    assert imports.work(crm, seconds=None, owner="B") == 0  # A's lease still runs
    schema = crm.schema.system["sys_import_jobs"]
    with crm.engine.begin() as connection:
        connection.execute(sa.update(schema).values(lease_until=now - dt.timedelta(seconds=1)))
    assert imports.work(crm, seconds=None, owner="B") == 3
    assert sorted(r["code"] for r in records(crm, "account")) == [f"C{n:03}" for n in range(1, 8)]
    assert imports.status(crm, job.id).lease_until is None


def test_a_cancelled_job_stops_and_keeps_what_it_committed(small, upload):
    _, _, crm = small
    pending = imports.start(crm, "account", upload, imports.ImportOptions(), user="imp", queue=True)
    assert imports.cancel(crm, pending.id, "imp").status == jobs.CANCELLED
    worker.run_once(crm)
    assert records(crm, "account") == []

    halfway = imports.start(crm, "account", upload, imports.ImportOptions(batch=2), user="imp", queue=True)
    imports.run(crm, halfway.id, max_batches=1)
    imports.cancel(crm, halfway.id, "boss")  # an administrator may stop anyone's job
    assert worker.run_once(crm).import_batches == 0
    assert [r["code"] for r in records(crm, "account")] == ["C001", "C002"]
    with pytest.raises(ImportProblem, match="was cancelled"):
        imports.run(crm, halfway.id)


def test_a_dry_run_shows_its_progress_while_it_runs_and_stops_when_cancelled(small, upload):
    _, _, crm = small
    job = imports.start(crm, "account", upload, imports.ImportOptions(batch=1), user="imp", dry_run=True, queue=True)
    seen = []

    def watch(progress: imports.Progress) -> None:
        now = imports.status(crm, job.id)  # what the wizard's progress bar reads, mid-transaction
        seen.append((now.status, now.rows_done))
        if progress.rows == 4:
            imports.cancel(crm, job.id, "imp")

    assert imports.run(crm, job.id, progress=watch).status == jobs.CANCELLED  # a cancelled dry run stops…
    assert seen[0] == (jobs.RUNNING, 0) and len(seen) == 4
    assert records(crm, "account") == []  # …and rolled back whole

    again = imports.start(crm, "account", upload, imports.ImportOptions(), user="imp", dry_run=True, queue=True)
    assert worker.run_once(crm).import_batches == 1
    done = imports.status(crm, again.id)
    assert (done.status, done.created, done.failed) == (jobs.DONE, 7, 1) and records(crm, "account") == []


def test_the_worker_removes_uploaded_files_a_month_after_their_last_job(small, tmp_path):
    _, _, crm = small
    uploaded = write_csv(tmp_path / "upload.csv", ROWS)
    (tmp_path / "upload.csv.owner.json").write_text("{}")
    kept_open = write_csv(tmp_path / "open.csv", ROWS)
    cli_file = write_csv(tmp_path / "mine.csv", ROWS)
    job = imports.start(crm, "account", uploaded, imports.ImportOptions(), user="imp", dry_run=True, queue=True)
    worker.run_once(crm)
    imports.start(crm, "account", kept_open, imports.ImportOptions(), user="imp", queue=True)
    imports.run(crm, imports.start(crm, "account", cli_file, imports.ImportOptions(), user="imp").id)

    later = crm.clock_now().now_utc + dt.timedelta(days=31)
    assert worker.run_once(crm, later, imports=False).import_files_removed == 1
    assert not uploaded.exists() and not (tmp_path / "upload.csv.owner.json").exists()
    assert kept_open.exists() and cli_file.exists()  # a job still to run, and the CLI user's own file
    schema = crm.schema.system["sys_import_jobs"]
    with crm.engine.begin() as connection:  # were the dry run's job to run again, it would say why it cannot
        connection.execute(sa.update(schema).where(schema.c.id == job.id).values(status="running"))
    with pytest.raises(ImportProblem, match="was removed 30 days after the job ended"):
        imports.run(crm, job.id)
