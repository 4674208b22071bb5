"""Running an import: a channel (``import``) of the one write path, a batch at a time.

``start`` checks everything that does not depend on a row — the ``import`` grant, the file, the
map, the options — and stores a job (``engine.runtime.imports.jobs``) with an audit entry saying
who imports what, and whether automation runs. ``run`` then works through the file in batches:
each batch's rows are converted (``cells``), their lookups and matching records found
(``resolve``), and written with ``Session.create_many`` / ``update_many`` (``on_error="collect"``)
— coercion, rules, unique checks (also against earlier rows of the file), dependent picklists,
stage gates, record scope, read-only fields, audit, assignment and automation as in a form —
then committed together with the job's progress. ``run`` may stop after some batches
(``max_batches``: a web worker's slice) and be called again; after a crash it goes on from the
last committed batch. A dry run does the same in one transaction that is rolled back, then
stores what would have happened.

Empty cells are not given: a create takes the field's default, an update keeps the value.

Jobs of the web wizard and the API are *queued* (``start(queue=True)``): ``trellis worker`` runs
them a slice at a time (``engine.runtime.imports.queue``), and their user may ``cancel`` them.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.metadata.fieldtypes import FieldValueError
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.database import read_only
from engine.runtime.imports import jobs, live
from engine.runtime.imports.batch import Plan, batches, write
from engine.runtime.imports.cells import CellContext, Ref, convert_cell, stage_names
from engine.runtime.imports.jobs import Counts, FailedRow, Job
from engine.runtime.imports.mapping import ColumnMap, MapSpec, build_map, field_of, keys_row
from engine.runtime.imports.problems import ImportProblem, label, say
from engine.runtime.imports.reading import file_digest, open_source
from engine.runtime.imports.resolve import user_index
from engine.runtime.messages import localized, speaking
from engine.runtime.records.session import Session
from engine.runtime.records.writes import MAX_CHUNK
from engine.runtime.security import audit
from engine.runtime.security.permissions import PermissionDenied, Principal
from engine.runtime.workflow import automation

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: The channel an import writes through (the audit trail's ``channel``).
CHANNEL = "import"
#: What ``--on-duplicate`` may say.
ON_DUPLICATE = ("skip", "update", "error")
#: Rows per batch of a queued job unless its caller says otherwise: the worker reports progress after
#: every committed batch, and 250 rows keep a report within 2 s on a loaded machine at the same
#: speed as 1,000 (docs/benchmarks.md, "Import").
QUEUED_BATCH = 250
#: The permission that lets a user import with automation off (an administrator's).
AUTOMATION_OFF_PERMISSION = "manage_config"


@dataclass(frozen=True)
class ImportOptions:
    """How to import a file: which sheet, the map, duplicates, batch size, automation."""

    sheet: str | None = None
    spec: MapSpec | None = None
    on_duplicate: str | None = None
    match: str | None = None
    batch: int = 1000
    automation: bool = True
    #: The language the rows' errors and the job's message are written in (the web user's; None:
    #: the caller's, e.g. the CLI's ``--language``), kept for the worker that runs the job.
    language: str | None = None

    def to_data(self) -> dict[str, Any]:
        """The options as stored with a job."""
        return {
            "sheet": self.sheet,
            "map": self.spec.to_data() if self.spec else None,
            "on_duplicate": self.on_duplicate,
            "match": self.match,
            "batch": self.batch,
            "automation": self.automation,
            "language": self.language,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ImportOptions:
        """The options a job was started with."""
        spec = data.get("map")
        return cls(
            sheet=data.get("sheet"),
            spec=MapSpec.from_data(spec) if spec else None,
            on_duplicate=data.get("on_duplicate"),
            match=data.get("match"),
            batch=int(data.get("batch") or 1000),
            automation=bool(data.get("automation", True)),
            language=data.get("language"),
        )


@dataclass(frozen=True)
class Progress:
    """Where a running job is: rows read so far, what they became, how far through the file."""

    job_id: int
    rows: int
    counts: Counts
    fraction: float | None


# --- starting ------------------------------------------------------------------------------------------
def start(
    crm: Runtime,
    object_name: str,
    path: str | Path,
    options: ImportOptions,
    user: str | int | None = None,
    dry_run: bool = False,
    queue: bool = False,
    file_name: str | None = None,
) -> Job:
    """Check an import and store its job (nothing imported yet; ``queue``: for ``trellis worker`` to
    run); raises ImportProblem (every problem of the map at once), PermissionDenied (no ``import``
    grant) or UnknownUser. ``file_name``: the name the user knows the file by, when it is stored
    under another (an upload)."""
    principal = crm.principal(user)
    obj = _object(crm, object_name)
    _check_allowed(principal, obj, options)
    path = Path(path)
    with crm.session(user, channel=CHANNEL) as session:
        plan = _plan(session, obj, path, options, file_name)
        file_name = (file_name or path.name)[:500]
        plan.source.close()
        size, digest = file_digest(path)
        now = crm.clock_now().now_utc
        job_id = jobs.create(
            session.connection,
            crm.schema,
            now,
            object=obj.name,
            file_name=file_name,
            file_path=str(path.resolve())[:2000],
            file_size=size,
            file_sha256=digest,
            options={**options.to_data(), "headers": plan.source.headers, "keys": plan.source.keys},
            user_id=principal.user_id,
            username=principal.username,
            dry_run=dry_run,
            encoding=plan.source.encoding or plan.source.sheet,
            queued=queue,
        )
        audit.log_change(
            session.connection,
            crm.schema,
            principal,
            CHANNEL,
            "import",
            obj.name,
            None,
            {"job": job_id, "file": file_name, "dry_run": dry_run, "automation": "on" if options.automation else "off"},
            now,
        )
        return jobs.load(session.connection, crm.schema, job_id)


def _object(crm: Runtime, object_name: str) -> ObjectDef:
    obj = crm.config.objects.get(object_name)
    if obj is None:
        raise ImportProblem("import.unknown_object", object=object_name, known=", ".join(sorted(crm.config.objects)))
    return obj


def _check_allowed(principal: Principal, obj: ObjectDef, options: ImportOptions) -> None:
    if not principal.grant(obj.name).import_:
        raise PermissionDenied(say("import.denied", object=label(obj.plural_label)))
    if not options.automation and not principal.has(AUTOMATION_OFF_PERMISSION):
        raise PermissionDenied(say("import.automation_admin_only"))
    if options.on_duplicate is not None and options.on_duplicate not in ON_DUPLICATE:
        raise ImportProblem("import.bad_on_duplicate", value=options.on_duplicate)
    if not 1 <= options.batch <= MAX_CHUNK:
        raise ImportProblem("import.bad_batch", highest=MAX_CHUNK)


def _plan(
    session: Session, obj: ObjectDef, path: Path, options: ImportOptions, name: str | None = None, queued: bool = False
) -> Plan:
    """Open the file and check the map, constants and duplicate options against it."""
    source = open_source(path, options.sheet, name)
    try:
        headers = source.headers
        if keys_row(obj, headers, source.second):  # a file exported with --keys: map it by its keys
            source.header_rows, headers = 2, [source.second[i] if h else "" for i, h in enumerate(headers)]
        columns = build_map(session.config, obj, headers, options.spec, session.principal).named(source.headers)
        context = CellContext(
            session.config.settings, user_index(session), chosen=columns.value_choices(), aliases=stage_names(obj)
        )
        constants: dict[str, Any] = {}
        problems = []
        for name, value in columns.constants.items():
            if isinstance(value, int) and field_of(obj, name).type == "lookup":
                constants[name] = value  # a lookup's constant is the record's id
                continue
            try:
                constants[name] = convert_cell(value, field_of(obj, name), context)
            except FieldValueError as exc:
                problems.append(f"{name}: {localized(exc.code, exc.message, exc.params)}")
            if isinstance(constants.get(name), Ref):
                problems.append(say("import.constant_lookup", field=name))
        match = _match_field(obj, columns, options, problems)
        if problems:
            raise ImportProblem(lines=problems)
    except BaseException:
        source.close()
        raise
    return Plan(obj, columns, constants, context, options.batch, options.on_duplicate, match, source, queued)


def _match_field(obj: ObjectDef, columns: ColumnMap, options: ImportOptions, problems: list[str]) -> FieldDef | None:
    """The field rows are matched with existing records by (``--match``, else a mapped unique field)."""
    if options.match is None and options.on_duplicate is None:
        return None
    name = options.match or next((f.name for f in obj.uniques if columns.column_of(f.name)), None)
    if name is None and obj.duplicates:  # the object's duplicate rules find the duplicates
        return None
    if name is None:
        problems.append(say("import.match_needed"))
        return None
    fdef = obj.fields.get(name)
    if fdef is None:
        problems.append(say("import.unknown_field", field=name, object=obj.name))
    elif columns.column_of(name) is None:
        problems.append(say("import.match_not_mapped", field=name))
    elif fdef.encrypted or fdef.value_type in ("lookup", "multipicklist", "tags", "json", "file"):
        problems.append(say("import.match_unusable", field=name))
    else:
        return fdef
    return None


def status(crm: Runtime, job_id: int) -> Job:
    """Job ``job_id`` as it stands now (its progress and counts, a running dry run's so far);
    ImportProblem when there is none."""
    with read_only(crm.engine) as connection:  # beside a dry run's transaction, on SQLite too
        job = jobs.load(connection, crm.schema, job_id)
    if job.dry_run and job.status == jobs.RUNNING and (now := live.read_progress(job)) is not None:
        rows, counts, fraction = now
        job = replace(job, rows_done=rows, fraction=fraction, **vars(counts))
    return job


def recent(crm: Runtime, object_name: str | None = None, limit: int = 50) -> list[Job]:
    """The latest jobs, newest first (of one object when given): an object's import history."""
    with read_only(crm.engine) as connection:
        return jobs.recent(connection, crm.schema, object_name, limit)


def visible_to(principal: Principal, job: Job) -> bool:
    """Whether ``principal`` may see (and cancel) the job: its own user, or an administrator."""
    return (job.user_id is not None and job.user_id == principal.user_id) or principal.has(AUTOMATION_OFF_PERMISSION)


def cancel(crm: Runtime, job_id: int, user: str | int | None = None) -> Job:
    """Stop a job that has rows to run: at once when no batch is running, else after the current
    batch (the batches committed before stay; a dry run is rolled back whole). Raises ImportProblem
    (no such job, or one the user may not see; a job that ended already)."""
    principal = crm.principal(user)
    job = status(crm, job_id)
    if not visible_to(principal, job):
        raise ImportProblem("import.no_job", job=job_id)
    if not job.open:
        raise ImportProblem("import.job_ended", job=job.id)
    if job.dry_run and job.status == jobs.RUNNING:
        live.request_cancel(job)  # the dry run holds its transaction: it stops itself
        return job
    with crm.engine.begin() as connection:
        moved = jobs.set_status(connection, crm.schema, job.id, jobs.CANCELLED, crm.clock_now().now_utc, jobs.OPEN)
    if not moved:
        raise ImportProblem("import.job_ended", job=job.id)
    return status(crm, job.id)


def failures(crm: Runtime, job_id: int, offset: int = 0, limit: int = jobs.ERROR_PAGE) -> list[FailedRow]:
    """A page of job ``job_id``'s failed rows in row order (each with its cells and the reason)."""
    with read_only(crm.engine) as connection:
        return jobs.failures(connection, crm.schema, job_id, offset, limit)


# --- running -------------------------------------------------------------------------------------------
def run(
    crm: Runtime,
    job_id: int,
    path: str | Path | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    max_batches: int | None = None,
    batch: int | None = None,
    deadline: float | None = None,
    lease: Callable[[], dt.datetime] | None = None,
) -> Job:
    """Run (or resume) job ``job_id`` from its last committed batch, as the user who started it;
    ``path`` when the file moved since (it must be the same file). Stops after ``max_batches``
    batches, or the first batch ending after ``deadline`` (``time.monotonic``), when given;
    ``batch`` changes the rows per batch from here on (progress counts rows, so a resumed job may
    use another size); ``lease`` gives a worker's lease renewed with each batch. Returns the job as
    stored afterwards."""
    with crm.engine.connect() as connection:
        job = jobs.load(connection, crm.schema, job_id)
    if job.finished:
        raise ImportProblem("import.job_done", job=job.id)
    if job.status == jobs.CANCELLED:
        raise ImportProblem("import.job_cancelled", job=job.id)
    if not job.file_path and path is None:
        raise ImportProblem("import.file_removed", job=job.id)
    path = Path(path or job.file_path)
    if not path.is_file() or file_digest(path) != (job.file_size, job.file_sha256):
        raise ImportProblem("import.file_changed", job=job.id, path=str(path))
    options = ImportOptions.from_data(dict(job.options))
    if batch is not None:
        options = replace(options, batch=batch)
    user = job.user_id
    _check_allowed(crm.principal(user), _object(crm, job.object), options)
    report = progress or (lambda _: None)
    try:
        with (
            automation.suspended() if not options.automation else nullcontext(),
            speaking(options.language) if options.language else nullcontext(),
        ):
            if job.dry_run:
                _dry_run(crm, job, path, options, report)
            elif _real_run(crm, job, path, options, report, _Stop(max_batches, deadline), lease):
                with crm.engine.begin() as connection:
                    jobs.finish(connection, crm.schema, job.id, jobs.DONE, crm.clock_now().now_utc)
    except ImportProblem as problem:
        if problem.problem in ("import.job_moved", "import.job_cancelled"):
            raise  # another run carries the job on, or its user stopped it
        with crm.engine.begin() as connection:
            jobs.finish(connection, crm.schema, job.id, jobs.FAILED, crm.clock_now().now_utc, str(problem))
        raise
    with crm.engine.connect() as connection:
        return jobs.load(connection, crm.schema, job.id)


@dataclass(frozen=True)
class _Stop:
    """When a run stops before the end of the file: after so many batches, or past a moment."""

    batches: int | None = None
    deadline: float | None = None

    def now(self, written: int) -> bool:
        if self.batches is not None and written >= self.batches:
            return True
        return self.deadline is not None and written > 0 and time.monotonic() >= self.deadline


def _real_run(
    crm: Runtime,
    job: Job,
    path: Path,
    options: ImportOptions,
    report: Callable[[Progress], None],
    stop: _Stop,
    lease: Callable[[], dt.datetime] | None,
) -> bool:
    """Commit batch after batch; True when the file was read to its end."""
    obj = crm.config.objects[job.object]
    with crm.session(job.user_id, channel=CHANNEL) as session:
        plan = _plan(session, obj, path, options, job.file_name, job.queued)
    done, counts, written = job.rows_done, _counts(job), 0
    try:
        for rows_to, rows in batches(plan, done):
            if stop.now(written):
                return False
            with crm.session(job.user_id, channel=CHANNEL) as session:
                batch, failed = write(session, plan, rows)
                fraction = plan.source.fraction()
                now = crm.clock_now().now_utc
                until = lease() if lease else None
                jobs.advance(session.connection, crm.schema, job, done, rows_to, batch, failed, now, fraction, until)
            done, counts, written = rows_to, counts + batch, written + 1
            report(Progress(job.id, done, counts, fraction))
    finally:
        plan.source.close()
    return True


class _Rollback(Exception):
    """Ends a dry run's transaction (rolled back by the session)."""


class _Cancelled(_Rollback):
    """Ends a dry run its user cancelled."""


#: Seconds between two stores of a dry run's progress (``live``).
LIVE_EVERY = 0.5


def _dry_run(crm: Runtime, job: Job, path: Path, options: ImportOptions, report: Callable[[Progress], None]) -> None:
    """The whole import in one transaction, rolled back; then store what it would have done.
    Its progress so far, and a request to cancel it, live beside its file (``live``)."""
    obj = crm.config.objects[job.object]
    counts, done = Counts(), 0
    with crm.engine.begin() as connection:
        jobs.set_status(connection, crm.schema, job.id, jobs.RUNNING, crm.clock_now().now_utc, jobs.OPEN)
    live.write_progress(job, 0, counts, 0.0)
    stored = time.monotonic()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:  # failed rows, flat in memory
        try:
            with crm.session(job.user_id, channel=CHANNEL) as session:
                plan = _plan(session, obj, path, options, job.file_name, job.queued)
                try:
                    for rows_to, rows in batches(plan, 0):
                        batch, failed = write(session, plan, rows)
                        for failure in failed:
                            spool.write(json.dumps([failure.row, failure.cells, failure.error], default=str) + "\n")
                        done, counts = rows_to, counts + batch
                        report(Progress(job.id, done, counts, plan.source.fraction()))
                        if live.cancel_requested(job):
                            raise _Cancelled
                        if time.monotonic() - stored >= LIVE_EVERY:
                            live.write_progress(job, done, counts, plan.source.fraction())
                            stored = time.monotonic()
                finally:
                    plan.source.close()
                raise _Rollback
        except _Cancelled:
            with crm.engine.begin() as connection:
                jobs.set_status(connection, crm.schema, job.id, jobs.CANCELLED, crm.clock_now().now_utc, jobs.OPEN)
            return
        except _Rollback:
            pass
        finally:
            live.clear(job)
        spool.seek(0)
        with crm.engine.begin() as connection:
            jobs.clear_failures(connection, crm.schema, job.id)
            page: list[FailedRow] = []
            for line in spool:
                page.append(FailedRow(*json.loads(line)))
                if len(page) == jobs.ERROR_PAGE:
                    jobs.add_failures(connection, crm.schema, job.id, page)
                    page = []
            jobs.add_failures(connection, crm.schema, job.id, page)
            jobs.finish(connection, crm.schema, job.id, jobs.DONE, crm.clock_now().now_utc, None, counts, done)


def _counts(job: Job) -> Counts:
    return Counts(job.created, job.updated, job.skipped, job.held, job.failed)
