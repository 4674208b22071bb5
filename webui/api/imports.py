"""``/api/v1/imports``: import jobs over the REST API (issue 13 §3).

- ``POST /api/v1/imports`` (``multipart/form-data``: ``file``, ``object`` and the options ``map``
  (JSON), ``on_duplicate``, ``match``, ``sheet``, ``batch``, ``dry_run``, ``automation``) stores the
  file (``webui.ui.uploads.store_import_upload``, at most ``TRELLIS_MAX_IMPORT_UPLOAD`` bytes: 413
  beyond) and queues a job (``engine.runtime.imports.start(…, queue=True)``): 202 with the job and
  its URL in ``Location``. ``trellis worker`` runs it; a request never does;
- ``GET /api/v1/imports`` (``?object=``, ``limit``): the caller's jobs, newest first;
- ``GET /api/v1/imports/<id>``: status, rows read, fraction of the file, counts, encoding, message;
- ``GET /api/v1/imports/<id>/errors`` (``offset``, ``limit``): the failed rows (row, cells, error);
- ``GET /api/v1/imports/<id>/errors.csv``: the error file, to fix in Excel and import again;
- ``POST /api/v1/imports/<id>/cancel``: stop a queued or running job after its current batch.

A job is seen only by its user and by holders of ``manage_config`` (``imports.access``); anyone
else gets 404, as for a job that does not exist. A problem that stops an import (a file it cannot
read, a column that matches no field, an option that does not fit) is 422 with the problem's
stable code (``no_sheet``, ``bad_mapping``…) and, under the form field at fault, every problem
found; no ``import`` grant is 403. Messages are in the caller's language.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from engine.metadata.fieldtypes import MAX_INTEGER
from engine.runtime import imports
from engine.runtime.imports.access import JobNotFound, visible_job, visible_jobs
from engine.runtime.messages import current_language
from engine.runtime.records.writes import MAX_CHUNK
from webui.api.auth import current_username
from webui.api.errors import ApiError
from webui.api.params import whole_number
from webui.api.responses import error_responses
from webui.api.serialize import json_value
from webui.i18n import translate
from webui.state import get_trellis
from webui.ui.uploads import max_import_upload, store_import_upload

#: The parts a ``POST /api/v1/imports`` may have.
FORM_KEYS = ("file", "object", "map", "on_duplicate", "match", "sheet", "batch", "dry_run", "automation")
#: Jobs listed by default and at most.
DEFAULT_JOBS, MAX_JOBS = 50, 200
#: Failed rows per page by default and at most.
DEFAULT_ERRORS, MAX_ERRORS = 100, 1000
#: The form field an ImportProblem's code is about (the file itself when not named here).
PROBLEM_FIELDS = {
    "no_sheet": "sheet",
    "sheet_not_xlsx": "sheet",
    "map_shape": "map",
    "bad_on_duplicate": "on_duplicate",
    "bad_batch": "batch",
    "unknown_object": "object",
}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


# --- starting a job --------------------------------------------------------------------------------------
def start_import() -> Response:
    """Store the uploaded file and queue its import job; see the module docstring."""
    upload, fields = _read_form()
    options, object_name, dry_run = _options(fields)
    crm = get_trellis()
    path = store_import_upload(upload)
    try:
        with import_problems():
            user = current_username()
            job = imports.start(crm, object_name, path, options, user, dry_run, queue=True, file_name=_name(upload))
    except BaseException:
        path.unlink(missing_ok=True)  # no job keeps it
        raise
    response = jsonify(job_json(job))
    response.status_code = 202
    response.headers["Location"] = url_for("api.import_job", job_id=job.id)
    return response


def _read_form() -> tuple[FileStorage, dict[str, str]]:
    """The uploaded file and the other form fields; 415, 413 or 400 naming the part at fault."""
    language = current_language()
    if request.mimetype != "multipart/form-data":
        given = request.mimetype or "no Content-Type"
        raise ApiError(415, "unsupported_media_type", translate("api.imports.multipart", language, given=given))
    request.max_content_length = max_import_upload()
    try:
        files, form = request.files, request.form
    except RequestEntityTooLarge:
        limit = _size(max_import_upload())
        raise ApiError(413, "too_large", translate("api.imports.too_large", language, limit=limit)) from None
    unknown = sorted((set(files) | set(form)) - set(FORM_KEYS))
    if unknown:
        name = unknown[0][:40]
        raise _bad_form(name, translate("api.imports.unknown_part", language, name=name))
    upload = files.get("file")
    if upload is None or not upload.filename:
        raise _bad_form("file", translate("api.imports.no_file", language))
    if not form.get("object", "").strip():
        raise _bad_form("object", translate("api.imports.no_object", language))
    return upload, {name: value.strip() for name, value in form.items()}


def _size(size: int) -> str:
    """A number of bytes as people read it: ``200 MB``, ``512 KB``."""
    return f"{size / 1024 / 1024:,.0f} MB" if size >= 1024 * 1024 else f"{size / 1024:,.0f} KB"


def _name(upload: FileStorage) -> str:
    """The uploaded file's name without any folder, as its user knows it."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", upload.filename or "")  # never a header's line break
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "import"


def _options(fields: dict[str, str]) -> tuple[imports.ImportOptions, str, bool]:
    """The import's options, the object and whether it is a dry run, from the form fields; what the
    engine judges (an on_duplicate value, a batch size, the map's contents) it judges."""
    language = current_language()
    spec = None
    if fields.get("map"):
        try:
            data = json.loads(fields["map"])
        except (ValueError, RecursionError) as exc:
            raise _bad_form("map", translate("api.imports.bad_map", language, reason=str(exc)[:200])) from None
        with import_problems():
            spec = imports.MapSpec.from_data(data, "map")
    batch = imports.QUEUED_BATCH
    if fields.get("batch"):
        if not fields["batch"].isdigit() or len(fields["batch"]) > 9:
            raise _bad_form("batch", translate("api.imports.bad_batch", language, value=fields["batch"][:40]))
        batch = int(fields["batch"])
    options = imports.ImportOptions(
        sheet=fields.get("sheet") or None,
        spec=spec,
        on_duplicate=fields.get("on_duplicate") or None,
        match=fields.get("match") or None,
        batch=batch,
        automation=_flag(fields, "automation", True),
    )
    return options, fields["object"], _flag(fields, "dry_run", False)


def _flag(fields: dict[str, str], name: str, default: bool) -> bool:
    value = fields.get(name, "").lower()
    if not value:
        return default
    if value not in _TRUE + _FALSE:
        raise _bad_form(name, translate("api.imports.bad_flag", current_language(), name=name))
    return value in _TRUE


def _bad_form(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", message, {name: [{"code": "invalid", "message": message}]})


@contextmanager
def import_problems() -> Iterator[None]:
    """Answer an ImportProblem with 422: its stable code, its message and each of its problems under
    the form field at fault."""
    try:
        yield
    except imports.ImportProblem as problem:
        field = PROBLEM_FIELDS.get(problem.code, "file")
        fields = {field: [{"code": problem.code, "message": line} for line in problem.lines]}
        raise ApiError(422, problem.code, "\n".join(problem.lines), fields) from None


# --- reading jobs ----------------------------------------------------------------------------------------
def job_json(job: imports.Job) -> dict[str, Any]:
    """A job as the API shows it (never the server's path of its file)."""
    options = {name: job.options.get(name) for name in ("sheet", "map", "on_duplicate", "match", "batch", "automation")}
    return {
        "id": job.id,
        "object": job.object,
        "file_name": job.file_name,
        "user": job.username,
        "status": job.status,
        "queued": job.queued,
        "dry_run": job.dry_run,
        "rows_read": job.rows_done,
        "fraction": job.fraction,
        "counts": {name: getattr(job, name) for name in ("created", "updated", "skipped", "held", "failed")},
        "encoding": job.encoding,
        "message": job.message,
        "options": options,
        "created_at": json_value(job.created_at),
        "updated_at": json_value(job.updated_at),
        "finished_at": json_value(job.finished_at),
        "links": {
            "self": url_for("api.import_job", job_id=job.id),
            "errors": url_for("api.import_errors", job_id=job.id),
            "error_file": url_for("api.import_error_file", job_id=job.id),
            "cancel": url_for("api.import_cancel", job_id=job.id),
        },
    }


def list_jobs() -> Response:
    """The caller's jobs (everyone's with ``manage_config``), newest first; ``?object=`` one object's."""
    object_name = request.args.get("object") or None
    crm = get_trellis()
    if object_name is not None and object_name not in crm.config.objects:
        message = translate("api.imports.unknown_object", current_language(), name=object_name[:60])
        raise ApiError(400, "bad_query", message, {"object": [{"code": "invalid", "message": message}]})
    limit = whole_number(request.args, "limit", DEFAULT_JOBS, MAX_JOBS)
    found = visible_jobs(crm, current_username(), object_name, limit)
    return jsonify({"data": [job_json(job) for job in found], "meta": {"limit": limit}})


def get_job(job_id: str) -> Response:
    """One job: where it is and what it did so far."""
    return jsonify(job_json(_job(job_id)))


def job_errors(job_id: str) -> Response:
    """A page of the job's failed rows, in row order."""
    job = _job(job_id)
    offset = _offset()
    limit = whole_number(request.args, "limit", DEFAULT_ERRORS, MAX_ERRORS)
    rows = imports.failures(get_trellis(), job.id, offset, limit)
    return jsonify(
        {
            "data": [{"row": r.row, "cells": r.cells, "error": r.error} for r in rows],
            "meta": {"offset": offset, "limit": limit, "total": job.failed},
        }
    )


def job_error_file(job_id: str) -> Response:
    """The error file: the failed rows under the file's header, with the error column."""
    job = _job(job_id)
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as spool:
        path = Path(spool.name)
    try:
        imports.write_error_file(get_trellis(), job.id, path)
        handle = path.open("rb")
    finally:
        path.unlink(missing_ok=True)  # the open handle keeps the bytes until the answer is sent
    name = f"{Path(job.file_name).stem or 'import'}-errors.csv"
    return send_file(handle, mimetype="text/csv", as_attachment=True, download_name=name)


def _offset() -> int:
    """The ``offset`` query parameter: a whole number from 0 (0 when absent); 400 otherwise."""
    raw = (request.args.get("offset") or "0").strip()
    if not raw.isdigit() or len(raw) > 18:
        message = translate("api.imports.bad_offset", current_language(), value=raw[:40])
        raise ApiError(400, "bad_query", message, {"offset": [{"code": "invalid", "message": message}]})
    return int(raw)


def cancel_job(job_id: str) -> Response:
    """Stop a queued or running job after its current batch; answers with the job."""
    job = _job(job_id)
    with import_problems():
        job = imports.cancel(get_trellis(), job.id, current_username())
    return jsonify(job_json(job))


def _job(job_id: str) -> imports.Job:
    """The job ``job_id`` if the caller may see it; 404 otherwise."""
    if not job_id.isdigit() or len(job_id) > 19 or not 1 <= int(job_id) <= MAX_INTEGER:
        raise JobNotFound(job_id[:20])
    return visible_job(get_trellis(), int(job_id), current_username())


def register(blueprint: Blueprint) -> None:
    """Add the import routes to the API blueprint."""
    blueprint.add_url_rule("/imports", "imports", _imports, methods=["GET", "POST"])
    blueprint.add_url_rule("/imports/<job_id>", "import_job", get_job, methods=["GET"])
    blueprint.add_url_rule("/imports/<job_id>/errors", "import_errors", job_errors, methods=["GET"])
    blueprint.add_url_rule("/imports/<job_id>/errors.csv", "import_error_file", job_error_file, methods=["GET"])
    blueprint.add_url_rule("/imports/<job_id>/cancel", "import_cancel", cancel_job, methods=["POST"])


def _imports() -> Response:
    return list_jobs() if request.method == "GET" else start_import()


# --- OpenAPI ---------------------------------------------------------------------------------------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(schema: dict[str, Any], description: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
        }
    return answer


_COUNT = {"type": "integer", "minimum": 0}
_MOMENT = {"type": ["string", "null"], "format": "date-time"}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_PROBLEM = _answer(
    _ref("Error"),
    "The import cannot start: `code` names the problem (`bad_mapping`, `no_sheet`, `bad_xlsx`…), "
    "`fields` lists every problem under the form field at fault.",
)


def schemas() -> dict[str, Any]:
    """The schemas of an import job and of its failed rows."""
    return {
        "ImportJob": {
            "type": "object",
            "required": ["id", "object", "file_name", "status", "queued", "dry_run", "rows_read", "counts"],
            "properties": {
                "id": {"type": "integer"},
                "object": {"type": "string"},
                "file_name": {"type": "string"},
                "user": {"type": "string", "description": "Who started it."},
                "status": {"type": "string", "enum": ["pending", "running", "done", "failed", "cancelled"]},
                "queued": {"type": "boolean", "description": "Run by `trellis worker`."},
                "dry_run": {"type": "boolean"},
                "rows_read": {**_COUNT, "description": "Data rows whose outcome is known (committed)."},
                "fraction": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "counts": {
                    "type": "object",
                    "properties": {name: _COUNT for name in ("created", "updated", "skipped", "held", "failed")},
                },
                "encoding": {"type": ["string", "null"], "description": "The CSV encoding detected, or the sheet."},
                "message": {"type": ["string", "null"], "description": "Why a failed job stopped."},
                "options": {"type": "object"},
                "created_at": _MOMENT,
                "updated_at": _MOMENT,
                "finished_at": _MOMENT,
                "links": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "ImportFailure": {
            "type": "object",
            "required": ["row", "cells", "error"],
            "properties": {
                "row": {"type": "integer", "description": "As a spreadsheet numbers it: the header is row 1."},
                "cells": {"type": "array", "description": "The row's cells as read."},
                "error": {"type": "string"},
            },
        },
    }


def paths() -> dict[str, Any]:
    """The import routes for the OpenAPI document."""
    errors = error_responses
    job = _answer(_ref("ImportJob"), "The job.")
    return {
        "/api/v1/imports": {
            "get": {
                "operationId": "list_imports",
                "tags": ["imports"],
                "summary": "Your import jobs, newest first",
                "parameters": [
                    {"name": "object", "in": "query", "schema": {"type": "string"}, "description": "One object's."},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_JOBS}},
                ],
                "responses": {
                    "200": _answer(
                        {"type": "object", "properties": {"data": {"type": "array", "items": _ref("ImportJob")}}},
                        "The jobs.",
                    ),
                    **errors("400", "401", "429", "500"),
                },
            },
            "post": {
                "operationId": "start_import",
                "tags": ["imports"],
                "summary": "Upload a CSV or Excel file and queue its import",
                "description": (
                    "Needs the object's `import` grant. The file is checked (encoding, sheet, columns, map) and "
                    "the job queued; `trellis worker` runs it. Follow `Location` for its progress."
                ),
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _form_schema()}}},
                "responses": {
                    "202": _answer(_ref("ImportJob"), "The job, queued.", Location="The job's URL."),
                    "422": _PROBLEM,
                    **errors("400", "401", "403", "413", "415", "429", "500"),
                },
            },
        },
        "/api/v1/imports/{job_id}": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "get_import",
                "tags": ["imports"],
                "summary": "An import job's progress and counts",
                "responses": {"200": job, **errors("401", "404", "429", "500")},
            },
        },
        "/api/v1/imports/{job_id}/errors": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "import_errors",
                "tags": ["imports"],
                "summary": "The job's failed rows, in row order",
                "parameters": [
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ERRORS, "default": DEFAULT_ERRORS},
                    },
                ],
                "responses": {
                    "200": _answer(
                        {"type": "object", "properties": {"data": {"type": "array", "items": _ref("ImportFailure")}}},
                        "A page of failed rows.",
                    ),
                    **errors("400", "401", "404", "429", "500"),
                },
            },
        },
        "/api/v1/imports/{job_id}/errors.csv": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "import_error_file",
                "tags": ["imports"],
                "summary": "The error file: the failed rows with an error column, to fix and import again",
                "responses": {
                    "200": {
                        "description": "CSV, UTF-8 with a BOM.",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **errors("401", "404", "429", "500"),
                },
            },
        },
        "/api/v1/imports/{job_id}/cancel": {
            "parameters": [_JOB_ID],
            "post": {
                "operationId": "cancel_import",
                "tags": ["imports"],
                "summary": "Stop a queued or running job after its current batch",
                "responses": {"200": job, "422": _PROBLEM, **errors("401", "404", "429", "500")},
            },
        },
    }


def _form_schema() -> dict[str, Any]:
    text = {"type": "string"}
    flag = {"type": "string", "enum": ["true", "false", "1", "0"]}
    return {
        "type": "object",
        "required": ["file", "object"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "contentMediaType": "application/octet-stream", "description": ".csv or .xlsx"},
            "object": {**text, "description": "The object to import into, e.g. account."},
            "map": {**text, "description": 'JSON: {"columns": {"Header": "field" | "skip" | {…}}, "constants": {…}}'},
            "on_duplicate": {"type": "string", "enum": ["skip", "update", "error"]},
            "match": {**text, "description": "The field rows are matched with existing records by."},
            "sheet": {**text, "description": "The sheet of an .xlsx file (default: the first)."},
            "batch": {"type": "integer", "minimum": 1, "maximum": MAX_CHUNK, "default": 1000},
            "dry_run": {**flag, "description": "Check every row, then roll back."},
            "automation": {**flag, "description": "false: run no automation (needs manage_config)."},
        },
    }
