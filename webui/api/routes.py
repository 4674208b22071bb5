"""The REST API's routes under ``/api/v1``: parse HTTP → call the engine → serialise.

Each request is one engine session (one transaction) acting as the token's
user on the ``api`` channel: committed when the handler returns, rolled back
when it raises. Validation, scopes, hidden and read-only fields, versions and
audit are the engine's; nothing here decides them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from engine.runtime.records import listparams
from engine.runtime.records.query import Page
from engine.runtime.records.record import Record
from webui.api import meta, openapi
from webui.api.auth import api_read_session, api_session, authenticate
from webui.api.params import allow_duplicate, expected_version, json_body
from webui.api.serialize import record_json

PREFIX = "/api/v1"


def _record_response(record: Record, status: int = 200) -> Response:
    response = jsonify(record_json(record))
    response.status_code = status
    response.headers["ETag"] = f'"{record.version}"'
    return response


def list_records(object_name: str) -> Response:
    """``GET /api/v1/<object>``: filters, owner, search, sort and a page of records, read by the
    one list-parameter spec (``engine.runtime.records.listparams``; in id order without ``sort``); a bad
    parameter is 400 ``bad_query`` naming it in ``fields``."""
    params = listparams.parse(request.args)
    with api_read_session() as session:
        page = params.read_page(session.query(object_name))
    return jsonify({"data": [record_json(record) for record in page.items], "meta": page_meta(page)})


def page_meta(page: Page) -> dict[str, Any]:
    """``meta`` of a list: past the count limit, ``total`` and ``pages`` are lower bounds, said by
    ``total_exact: false`` (absent while the total is exact) and ``has_next``."""
    meta: dict[str, Any] = {"page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}
    if not page.total_exact:
        meta.update(total_exact=False, has_next=page.has_next)
    return meta


def create_record(object_name: str) -> Response:
    """``POST /api/v1/<object>``: 201 with the new record and its URL in ``Location``; 202 with
    the pending request when the create needs approval (nothing is created yet); 409
    ``possible_duplicate`` with the ``candidates`` when a ``warn`` duplicate rule matches, unless
    ``?allow_duplicate=true`` (a ``block`` rule: 422 ``validation_failed`` with the candidates)."""
    allowed = allow_duplicate(request.args)
    with api_session() as session:
        session.object(object_name)  # an unknown object is 404 before the body is judged
        record = session.create(object_name, json_body(), allow_duplicate=allowed)
    if record.pending_approval is not None:
        return _pending_response(record.pending_approval)
    response = _record_response(record, 201)
    response.headers["Location"] = url_for("api.record", object_name=object_name, record_id=record.id)
    return response


def get_record(object_name: str, record_id: str) -> Response:
    """``GET /api/v1/<object>/<id>``; 404 also for a record outside the caller's scope."""
    with api_session() as session:
        record = session.get(object_name, record_id)
    return _record_response(record)


def update_record(object_name: str, record_id: str) -> Response:
    """``PATCH /api/v1/<object>/<id>``: needs ``version`` (body) or ``If-Match``; 409 when stale;
    202 with the pending request when the change needs approval (the record is unchanged); 409
    ``possible_duplicate`` as for ``POST`` (``?allow_duplicate=true`` overrides)."""
    allowed = allow_duplicate(request.args)
    with api_session() as session:
        session.object(object_name)
        body = json_body()
        version = expected_version(body, required=True)
        record = session.update(object_name, record_id, body, version=version, allow_duplicate=allowed)
    if record.pending_approval is not None:
        return _pending_response(record.pending_approval, record)
    return _record_response(record)


def delete_record(object_name: str, record_id: str) -> Response:
    """``DELETE /api/v1/<object>/<id>``: 204; ``If-Match`` (optional) guards against a stale delete;
    202 with the request when the delete needs approval."""
    with api_session() as session:
        pending = session.delete(object_name, record_id, version=expected_version(None, required=False))
    if pending is not None:
        return _pending_response(pending)
    return Response(status=204)


def _pending_response(pending, record: Record | None = None) -> Response:
    """202: the change waits for approval; nothing changed yet (``engine.runtime.workflow.approvals``)."""
    body = {"approval": pending.to_dict()}
    if record is not None:
        body["data"] = record_json(record)
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = url_for("api.approval", approval_id=pending.id)
    return response


def record(object_name: str, record_id: str) -> Response:
    """One URL, three methods: read, change, delete a record."""
    handlers = {"GET": get_record, "PATCH": update_record, "DELETE": delete_record}
    return handlers[request.method](object_name, record_id)


def meta_objects() -> Response:
    """``GET /api/v1/meta/objects``: the objects and fields the caller may see."""
    with api_session() as session:
        return jsonify({"data": meta.describe_objects(session.config, session.principal)})


def openapi_document() -> Response:
    """``GET /api/v1/openapi.json``: OpenAPI 3.1 of the API as the caller may use it."""
    with api_session() as session:
        document = openapi.build_document(session.config, session.principal, request.script_root or "/")
    return jsonify(document)


def create_blueprint() -> Blueprint:
    """A fresh API blueprint (one per app, so that each app's limiter and handlers stay its own)."""
    blueprint = Blueprint("api", __name__, url_prefix=PREFIX)
    blueprint.before_request(authenticate)
    blueprint.add_url_rule("/meta/objects", "meta_objects", meta_objects, methods=["GET"])
    blueprint.add_url_rule("/openapi.json", "openapi", openapi_document, methods=["GET"])
    blueprint.add_url_rule("/<object_name>", "records", _collection, methods=["GET", "POST"])
    blueprint.add_url_rule("/<object_name>/<record_id>", "record", record, methods=["GET", "PATCH", "DELETE"])
    return blueprint


def _collection(object_name: str) -> Response:
    return list_records(object_name) if request.method == "GET" else create_record(object_name)
