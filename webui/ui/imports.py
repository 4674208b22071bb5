"""The import wizard: upload → map columns → dry run → import → result, and each object's import
history. For users whose role has the object's ``import`` grant (the engine checks it again).

- ``new`` (GET/POST ``/o/<object>/imports/new``): the upload form; a CSV or ``.xlsx`` file (and a
  sheet) is stored by ``uploads.store_import_upload`` with a note of who uploaded it for which
  object (``<file>.owner.json``): only that user may use it (anyone else gets 404). Files up to
  ``TRELLIS_MAX_IMPORT_UPLOAD`` bytes (200 MB unless set), a page saying so above it. Each upload
  also removes the files uploaded more than 30 days before that no job ever used.
- ``map_columns`` (``/o/<object>/imports/upload/<name>``): ``imports.preview`` — sample values, the
  field each column goes into (pre-selected), "Don't import", and an option for each picklist
  value that matches none; "Dry run" starts a queued dry run (``imports.start(…, dry_run=True,
  queue=True)``): ``trellis worker`` runs it, never the web request.
- ``job`` (``/o/<object>/imports/<id>``): while the job runs, a progress bar that
  ``static/import.js`` moves from ``progress`` (JSON, polled every second; without JavaScript the
  page reloads itself), with Cancel; then its result — for a dry run the failed rows (paged), the
  error file and "Import", which starts the real queued job with the same options (``run``); for
  an import the counts, the error file and a link to the records it created.
- ``history`` (``/o/<object>/imports``): the object's jobs, newest first.

A job is seen only by the user who started it and by holders of ``manage_config`` (others: 404).
Every ``ImportProblem`` is shown on the page, in the user's language.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, flash, jsonify, redirect, request, send_file, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from engine.metadata.model import ObjectDef
from engine.runtime import imports
from engine.runtime.imports import ImportOptions, ImportProblem, Job
from engine.runtime.imports.access import JobNotFound, import_after, visible_job, visible_jobs
from engine.runtime.records.reader import user_names
from engine.runtime.security.permissions import PermissionDenied
from webui.state import get_trellis
from webui.ui import uploads
from webui.ui.context import formatter, language, t, ui_session
from webui.ui.errors import error_page
from webui.ui.import_views import (
    ON_DUPLICATE,
    MapChoices,
    failure_view,
    job_view,
    progress_data,
    read_as,
    read_map_form,
    records_url,
)
from webui.ui.notifications import page_number
from webui.ui.views import _require_login, readable, render_page

#: The largest import file taken (bytes), unless ``TRELLIS_MAX_IMPORT_UPLOAD`` says.
DEFAULT_MAX_IMPORT_UPLOAD = 200 * 1024 * 1024
#: Failed rows shown per page of a job.
ERRORS_PER_PAGE = 50
#: Jobs the history shows.
HISTORY = 50
#: A stored import file's name (``uploads.store_import_upload``): random, so it names no other path.
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(csv|txt|tsv|xlsx|xlsm|xls)$")


# --- who may do what ---------------------------------------------------------------------------------
def _importable(object_name: str) -> ObjectDef:
    """The object, when the user may read it (else 404) and import into it (else 403)."""
    with ui_session() as session:
        obj = readable(session, object_name)
        if not session.principal.grant(obj.name).import_:
            abort(403)
    return obj


def _owner_note(path: Path) -> Path:
    return path.with_name(path.name + ".owner.json")


def _owned_upload(object_name: str, name: str) -> tuple[Path, str]:
    """The stored file ``name`` when the logged-in user uploaded it for this object, and the name
    they know it by; 404 otherwise (another user's file is unusable)."""
    if not UPLOAD_NAME.match(name):
        abort(404)
    path = uploads.upload_dir() / "imports" / name
    try:
        note = json.loads(_owner_note(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        abort(404)
    if note.get("user_id") != current_user.user_id or note.get("object") != object_name or not path.is_file():
        abort(404)
    return path, str(note.get("name") or name)


def _visible_job(obj: ObjectDef, job_id: int) -> Job:
    """Job ``job_id`` of ``obj`` when the user started it or holds ``manage_config``; 404 otherwise."""
    try:
        job = visible_job(get_trellis(), job_id, current_user.username)
    except JobNotFound:
        abort(404)
    if job.object != obj.name:
        abort(404)
    return job


# --- upload ------------------------------------------------------------------------------------------
def new(object_name: str) -> Response | str | tuple[str, int]:
    """The upload form; a file that can be read goes on to the map page."""
    obj = _importable(object_name)
    if request.method == "GET":
        return _upload_page(obj)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _upload_page(obj, [t("imports.no_file")], 422)
    if uploads.import_suffix(upload.filename) is None:
        return _upload_page(obj, [t("imports.bad_suffix")], 422)
    path = uploads.store_import_upload(upload)
    # Files' ages are the file system's: real time, not the CRM's clock (which tests may set).
    imports.remove_abandoned_uploads(get_trellis(), path.parent, dt.datetime.now(dt.UTC))
    name = "".join(c for c in upload.filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())[:255]
    note = {"user_id": current_user.user_id, "object": obj.name, "name": name}
    _owner_note(path).write_text(json.dumps(note), encoding="utf-8")
    sheet = request.form.get("sheet", "").strip() or None
    try:
        imports.preview(get_trellis(), obj.name, path, ImportOptions(sheet=sheet), current_user.username)
    except ImportProblem as problem:
        path.unlink(missing_ok=True)
        _owner_note(path).unlink(missing_ok=True)
        return _upload_page(obj, _named(problem.lines, path, name), 422)
    return redirect(url_for("imports.map_columns", object_name=obj.name, name=path.name, sheet=sheet))


def _named(lines: list[str], path: Path, file_name: str) -> list[str]:
    """Problems of a stored file naming it as its user knows it (not by its random name)."""
    return [line.replace(path.name, file_name) for line in lines]


def _upload_page(obj: ObjectDef, problems: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    limit = current_app.config["TRELLIS_MAX_IMPORT_UPLOAD"]
    return render_page(
        "import_upload.html",
        obj,
        label=obj.plural_label.get(formatter().lang),
        problems=problems or [],
        limit=_megabytes(limit),
    ), status


def _megabytes(size: int) -> str:
    return formatter().number(max(1, round(size / (1024 * 1024))))


def too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    """A file above the import limit: the error page saying the limit."""
    limit = _megabytes(current_app.config["TRELLIS_MAX_IMPORT_UPLOAD"])
    return error_page(413, t("imports.too_large", limit=limit))


# --- mapping -----------------------------------------------------------------------------------------
def map_columns(object_name: str, name: str) -> Response | tuple[str, int]:
    """The map page; "Dry run" starts the queued dry run with the choices made."""
    obj = _importable(object_name)
    path, file_name = _owned_upload(obj.name, name)
    crm = get_trellis()
    if request.method == "GET":
        options = _options_of_job(obj, request.args.get("job")) or ImportOptions(sheet=request.args.get("sheet"))
        return _map_page(obj, path, file_name, options)
    try:
        sheet = ImportOptions(sheet=request.form.get("sheet") or None)
        first = imports.preview(crm, obj.name, path, sheet, current_user.username)
    except ImportProblem as problem:  # a sheet the workbook does not have
        return _map_page(obj, path, file_name, ImportOptions(), _named(problem.lines, path, file_name), 422)
    choices = read_map_form(first, request.form)
    if request.form.get("action") != "dry_run":
        return _map_page(obj, path, file_name, choices.options)
    problems = _form_problems(obj, first, choices)
    if problems:
        return _map_page(obj, path, file_name, choices.options, problems, 422)
    try:
        job = imports.start(
            crm,
            obj.name,
            path,
            replace(choices.options, language=language()),  # the worker writes the rows' errors in it
            user=current_user.username,
            dry_run=True,
            queue=True,
            file_name=file_name,
        )
    except ImportProblem as problem:
        return _map_page(obj, path, file_name, choices.options, _named(problem.lines, path, file_name), 422)
    return redirect(url_for("imports.job", object_name=obj.name, job_id=job.id))


def _form_problems(obj: ObjectDef, found: imports.Preview, choices: MapChoices) -> list[str]:
    """What the map form must say before a dry run can start, in the wizard's words: columns given
    no field, a field given two columns, duplicates looked for without a field to match them by."""
    labels = {f.name: f.label for f in found.candidates}
    problems = []
    if choices.missing:
        problems.append(t("imports.choose_field", columns=", ".join(repr(c) for c in choices.missing)))
    for name, first, second in choices.doubled:
        problems.append(t("imports.two_columns", field=labels.get(name, name), first=first, second=second))
    options = choices.options
    given = options.spec.columns.values() if options.spec else ()
    chosen = {v.get("field") if isinstance(v, dict) else v for v in given}
    if options.on_duplicate and not options.match and not any(f.name in chosen for f in obj.uniques):
        problems.append(t("imports.match_needed"))
    return problems


def _options_of_job(obj: ObjectDef, raw: str | None) -> ImportOptions | None:
    """The options of one of the user's jobs (``?job=``: "Change the mapping" of a dry run)."""
    if not raw or not raw.isdigit() or len(raw) > 12:
        return None
    return ImportOptions.from_data(dict(_visible_job(obj, int(raw)).options))


def _map_page(
    obj: ObjectDef,
    path: Path,
    file_name: str,
    options: ImportOptions,
    problems: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    fmt = formatter()
    try:
        found = imports.preview(get_trellis(), obj.name, path, options, current_user.username)
    except ImportProblem as problem:  # a sheet that is gone: the first sheet, and why
        found = imports.preview(get_trellis(), obj.name, path, ImportOptions(spec=options.spec), current_user.username)
        problems = [*(problems or []), *_named(problem.lines, path, file_name)]
    return render_page(
        "import_map.html",
        obj,
        label=obj.plural_label.get(fmt.lang),
        preview=found,
        file_name=file_name,
        read_as=read_as(found, fmt),
        problems=problems or [],
        options=options,
        on_duplicate=[(key, t(f"imports.on_duplicate.{key or 'new'}")) for key in ON_DUPLICATE],
        match_fields=[(f.name, f.label.get(fmt.lang)) for f in obj.uniques],
        action=url_for("imports.map_columns", object_name=obj.name, name=path.name),
    ), status


# --- jobs --------------------------------------------------------------------------------------------
def job(object_name: str, job_id: int) -> str:
    """A job's page: its progress while it runs, then its result."""
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, object_name)
        found = _visible_job(obj, job_id)
        names = user_names(session, [found.user_id] if found.user_id else [])
    view = job_view(obj, found, names.get(found.user_id or 0, found.username), fmt)
    page = page_number(request.args.get("page"))
    failures = imports.failures(get_trellis(), found.id, (page - 1) * ERRORS_PER_PAGE, ERRORS_PER_PAGE + 1)
    upload = Path(found.file_path)
    headers = [str(h) for h in found.options.get("headers") or []]
    return render_page(
        "import_job.html",
        obj,
        label=obj.plural_label.get(fmt.lang),
        job=view,
        failures=[failure_view(f, headers) for f in failures[:ERRORS_PER_PAGE]],
        failures_page=page,
        newer_url=_job_url(obj, found, page - 1) if page > 1 else None,
        older_url=_job_url(obj, found, page + 1) if len(failures) > ERRORS_PER_PAGE else None,
        progress_url=url_for("imports.progress", object_name=obj.name, job_id=found.id),
        records_url=records_url(obj, found) if not found.dry_run and found.created else None,
        remap_url=url_for("imports.map_columns", object_name=obj.name, name=upload.name, job=found.id)
        if found.dry_run and UPLOAD_NAME.match(upload.name) and found.user_id == current_user.user_id
        else None,
        may_run=found.dry_run and found.status == "done" and view.passing and found.user_id == current_user.user_id,
    )


def _job_url(obj: ObjectDef, job: Job, page: int) -> str:
    args = {"page": page} if page > 1 else {}
    return url_for("imports.job", object_name=obj.name, job_id=job.id, **args) + "#failures"


def progress(object_name: str, job_id: int) -> Response:
    """The job's progress as JSON (what ``static/import.js`` shows)."""
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, object_name)
    found = _visible_job(obj, job_id)
    return jsonify(progress_data(job_view(obj, found, found.username, fmt), fmt))


def cancel(object_name: str, job_id: int) -> Response:
    """Stop a queued or running job after its current batch (what was committed stays)."""
    with ui_session() as session:
        obj = readable(session, object_name)
    found = _visible_job(obj, job_id)
    try:
        imports.cancel(get_trellis(), found.id, current_user.username)
        flash(t("imports.cancelled"), "info")
    except (ImportProblem, PermissionDenied) as problem:
        flash(str(problem), "error")
    return redirect(url_for("imports.job", object_name=obj.name, job_id=found.id))


def run(object_name: str, job_id: int) -> Response | tuple[str, int]:
    """Start the real import of a finished dry run: the same file and options, queued."""
    obj = _importable(object_name)
    found = _visible_job(obj, job_id)
    if not found.dry_run or found.status != "done" or found.user_id != current_user.user_id:
        abort(404)
    if not found.file_path:  # removed by the worker, imports.queue.KEEP_FILES after the dry run
        flash(t("imports.file_removed"), "error")
        return redirect(url_for("imports.new", object_name=obj.name))
    path = Path(found.file_path)
    _owned_upload(obj.name, path.name)
    started = import_after(get_trellis(), found)
    if started is not None:  # "Import" pressed twice, or again later: one import per file
        flash(t("imports.already_started"), "info")
        return redirect(url_for("imports.job", object_name=obj.name, job_id=started.id))
    options = ImportOptions.from_data(dict(found.options))
    try:
        started = imports.start(
            get_trellis(),
            obj.name,
            path,
            options,
            user=current_user.username,
            dry_run=False,
            queue=True,
            file_name=found.file_name,
        )
    except ImportProblem as problem:
        flash(" ".join(_named(problem.lines, path, found.file_name)), "error")
        return redirect(url_for("imports.job", object_name=obj.name, job_id=found.id))
    return redirect(url_for("imports.job", object_name=obj.name, job_id=started.id))


def error_file(object_name: str, job_id: int) -> Response:
    """The job's failed rows as a CSV file (the original columns and the reason) to fix and import."""
    with ui_session() as session:
        obj = readable(session, object_name)
    found = _visible_job(obj, job_id)
    out = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)  # noqa: SIM115 (sent, then removed)
    out.close()
    imports.write_error_file(get_trellis(), found.id, out.name)
    stem = Path(found.file_name).stem or "import"
    response = send_file(out.name, mimetype="text/csv", as_attachment=True, download_name=f"{stem}_errors.csv")
    response.call_on_close(lambda: Path(out.name).unlink(missing_ok=True))
    return response


def history(object_name: str) -> str:
    """The object's import jobs, newest first: all of them for ``manage_config``, else one's own."""
    fmt = formatter()
    with ui_session() as session:
        obj = readable(session, object_name)
        principal = session.principal
        if not (principal.grant(obj.name).import_ or principal.has("manage_config")):
            abort(403)
        found = visible_jobs(get_trellis(), principal.user_id, obj.name, HISTORY)
        names = user_names(session, sorted({j.user_id for j in found if j.user_id}))
    return render_page(
        "import_history.html",
        obj,
        label=obj.plural_label.get(fmt.lang),
        jobs=[job_view(obj, j, names.get(j.user_id or 0, j.username), fmt) for j in found],
        may_import=principal.grant(obj.name).import_,
    )


# --- the blueprint -----------------------------------------------------------------------------------
def _import_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Raise the request's body limit for the upload (before CSRF protection reads the form)."""
    if endpoint == "imports.new":
        request.max_content_length = current_app.config["TRELLIS_MAX_IMPORT_UPLOAD"]


ROUTES = (
    ("/o/<object_name>/imports", history, ["GET"]),
    ("/o/<object_name>/imports/new", new, ["GET", "POST"]),
    ("/o/<object_name>/imports/upload/<name>", map_columns, ["GET", "POST"]),
    ("/o/<object_name>/imports/<int:job_id>", job, ["GET"]),
    ("/o/<object_name>/imports/<int:job_id>/progress", progress, ["GET"]),
    ("/o/<object_name>/imports/<int:job_id>/cancel", cancel, ["POST"]),
    ("/o/<object_name>/imports/<int:job_id>/run", run, ["POST"]),
    ("/o/<object_name>/imports/<int:job_id>/errors.csv", error_file, ["GET"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The import wizard's routes; its upload limit (``TRELLIS_MAX_IMPORT_UPLOAD``) as a setting."""
    limit = app.config.setdefault("TRELLIS_MAX_IMPORT_UPLOAD", DEFAULT_MAX_IMPORT_UPLOAD)
    try:
        app.config["TRELLIS_MAX_IMPORT_UPLOAD"] = int(limit)
    except (TypeError, ValueError):
        raise ValueError(
            f"TRELLIS_MAX_IMPORT_UPLOAD is a number of bytes (209715200 for 200 MB), not {limit!r}"
        ) from None
    blueprint = Blueprint("imports", __name__)
    # URL value preprocessors run before every before_request function, CSRF protection's included.
    blueprint.url_value_preprocessor(_import_limit)
    blueprint.before_request(_require_login)
    blueprint.register_error_handler(RequestEntityTooLarge, too_large)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint
