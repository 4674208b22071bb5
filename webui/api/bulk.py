"""``POST /api/v1/<object>/bulk``: create or change up to ``MAX_RECORDS`` records in one request.

The body: ``{"records": [{"name": "Acme"}, {"id": 7, "version": 3, "stage": "won"}], "atomic": false}``.
A record without ``id`` is created; one with ``id`` is changed, and needs the ``version`` the
caller last read. Consecutive creates go to the engine as one ``Session.create_many``, consecutive
changes as one ``update_many``, both with ``on_error="collect"``: every record passes exactly the
checks of a single POST or PATCH, and the valid ones are written.

The answer is 200 with one result per record, in the order sent:
``{"data": [{"index": 0, "status": "created", "record": {…}}, {"index": 1, "status": "error",
"error": {"code", "message", "fields"}}], "meta": {"created", "updated", "pending", "failed"}}``;
``status`` is ``created``, ``updated``, ``pending_approval`` (with ``approval``) or ``error``.
With ``"atomic": true`` it is all or nothing: when any record fails, nothing is written and the
answer is 422 with the error and the same ``data`` (the valid records ``not_written``).
More than ``MAX_RECORDS`` records, an empty list or a malformed body is 400; messages are in
the caller's language (``Accept-Language``), as everywhere in the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.metadata.model import ObjectDef
from engine.runtime.errors import FieldError, TrellisError, ValidationFailed
from engine.runtime.messages import current_language
from engine.runtime.records.duplicates import renumber
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import Principal
from webui.api.auth import current_username
from webui.api.errors import ApiError, error_json
from webui.api.params import allow_duplicate, body_version, json_body
from webui.api.responses import error_responses
from webui.api.serialize import record_json
from webui.i18n import translate
from webui.state import get_trellis

#: The most records one bulk request takes.
MAX_RECORDS = 1000
#: The largest bulk body read (a thousand records of a kilobyte or so each, with room to spare).
MAX_BULK_BYTES = 16 * 1024 * 1024
#: Keys a bulk request body may have.
BODY_KEYS = ("records", "atomic")
#: What became of one record.
CREATED, UPDATED, PENDING, ERROR, NOT_WRITTEN = "created", "updated", "pending_approval", "error", "not_written"


@dataclass
class Item:
    """One record of the request: its place, what to write, and (once known) what became of it."""

    index: int
    values: Mapping[str, Any]
    record_id: Any = None
    version: int | None = None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def is_update(self) -> bool:
        """Whether this record is a change of an existing one (it has an ``id``)."""
        return self.record_id is not None


class _RollBack(Exception):
    """Raised inside the engine session of an atomic request that failed, to undo its writes."""


def bulk_write(object_name: str) -> Response:
    """Create and change the records of the body; see the module docstring."""
    raw_records, atomic = _read_body(json_body(MAX_BULK_BYTES))
    items = [_item(index, raw) for index, raw in enumerate(raw_records)]
    try:
        with get_trellis().session(user=current_username(), channel="api") as session:
            session.object(object_name)  # an unknown object is 404 before the records are judged
            session.allow_duplicates = allow_duplicate(request.args)
            for is_update, run in groupby((i for i in items if not i.result), key=lambda i: i.is_update):
                _write_run(session, object_name, list(run), is_update)
            if atomic and any(item.result["status"] == ERROR for item in items):
                raise _RollBack
    except _RollBack:
        return _atomic_failure(items)
    return jsonify({"data": [item.result for item in items], "meta": _meta(items)})


def _read_body(body: dict[str, Any]) -> tuple[list[Any], bool]:
    """``records`` and ``atomic`` of the body; 400 with the key at fault otherwise."""
    language = current_language()
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise _bad_body(unknown[0], translate("api.bulk.unknown_key", language, name=unknown[0][:40]))
    records, atomic = body.get("records"), body.get("atomic", False)
    if not isinstance(atomic, bool):
        raise _bad_body("atomic", translate("api.bulk.atomic", language))
    if not isinstance(records, list) or not records:
        raise _bad_body("records", translate("api.bulk.records", language, max=MAX_RECORDS))
    if len(records) > MAX_RECORDS:
        message = translate("api.bulk.too_many", language, max=f"{MAX_RECORDS:,}", count=f"{len(records):,}")
        raise ApiError(400, "too_many_records", message, {"records": [{"code": "too_many", "message": message}]})
    return records, atomic


def _item(index: int, raw: Any) -> Item:
    """One record of the body; a record that cannot be sent to the engine gets its error at once."""
    if not isinstance(raw, dict):
        text = translate("api.bulk.not_an_object", current_language())
        return _refused(Item(index, {}), ValidationFailed({"_record": [FieldError("invalid", text, translated=True)]}))
    values = dict(raw)
    if "id" not in values:
        values.pop("version", None)  # a new record has no version to check
        return Item(index, values)
    record_id = values.pop("id")
    item = Item(index, values, record_id if record_id is not None else "")
    if "version" not in values:
        return _refused(item, ValidationFailed({"version": [FieldError("required", "This is required.")]}))
    item.version = body_version(values.pop("version"))
    if item.version is None:
        return _refused(item, ValidationFailed({"version": [FieldError("invalid", "This value is not valid here.")]}))
    return item


def _write_run(session: Session, object_name: str, run: list[Item], is_update: bool) -> None:
    """Write a run of creates (or of changes) through the engine's batch write, collecting each
    record's outcome; a refusal of the whole run (no create grant) is each record's error."""
    try:
        if is_update:
            changes = [(item.record_id, item.values, item.version) for item in run]
            outcomes = session.update_many(object_name, changes, on_error="collect")
        else:
            outcomes = session.create_many(object_name, [item.values for item in run], on_error="collect")
    except TrellisError as exc:
        outcomes = [exc] * len(run)
    positions = [item.index for item in run]
    for item, outcome in zip(run, outcomes, strict=True):
        if isinstance(outcome, TrellisError):
            renumber(outcome, positions)  # a duplicate of an earlier record of the request names its index
            _refused(item, outcome)
        elif outcome.pending_approval is not None:
            item.result = _result(item, PENDING, approval=outcome.pending_approval.to_dict())
            if outcome.id is not None:
                item.result["record"] = record_json(outcome)
        else:
            item.result = _result(item, UPDATED if is_update else CREATED, record=record_json(outcome))


def _refused(item: Item, error: TrellisError) -> Item:
    item.result = _result(item, ERROR, error=error_json(error))
    return item


def _result(item: Item, status: str, **details: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"index": item.index, "status": status}
    if item.is_update:
        result["id"] = item.record_id
    return {**result, **details}


def _meta(items: list[Item]) -> dict[str, int]:
    statuses = [item.result["status"] for item in items]
    return {
        "created": statuses.count(CREATED),
        "updated": statuses.count(UPDATED),
        "pending": statuses.count(PENDING),
        "failed": statuses.count(ERROR),
    }


def _atomic_failure(items: list[Item]) -> Response:
    """422: an atomic request in which some record failed; nothing was written."""
    failed = sum(item.result["status"] == ERROR for item in items)
    data = [item.result if item.result["status"] == ERROR else _result(item, NOT_WRITTEN) for item in items]
    message = translate("api.bulk.not_written", current_language(), count=failed, total=len(items))
    response = jsonify({"error": {"code": "bulk_failed", "message": message, "fields": {}}, "data": data})
    response.status_code = 422
    return response


def _bad_body(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", message, {name: [{"code": "invalid", "message": message}]})


def register(blueprint: Blueprint) -> None:
    """Add the bulk route to the API blueprint."""
    blueprint.add_url_rule("/<object_name>/bulk", "bulk", bulk_write, methods=["POST"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def schemas() -> dict[str, Any]:
    """The shared schemas of bulk answers (the request's record schemas are per object)."""
    return {
        "BulkResult": {
            "type": "object",
            "required": ["index", "status"],
            "properties": {
                "index": {"type": "integer", "minimum": 0, "description": "The record's place in `records`."},
                "status": {"type": "string", "enum": [CREATED, UPDATED, PENDING, ERROR, NOT_WRITTEN]},
                "id": {"description": "The id sent, for a change."},
                "record": {"type": "object", "description": "The record as written."},
                "approval": {"$ref": "#/components/schemas/Approval"},
                "error": {"type": "object", "description": "Why this record was refused: code, message, fields."},
            },
        },
        "BulkMeta": {
            "type": "object",
            "required": ["created", "updated", "pending", "failed"],
            "properties": {
                name: {"type": "integer", "minimum": 0} for name in ("created", "updated", "pending", "failed")
            },
        },
        "BulkAnswer": {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {"data": {"type": "array", "items": _ref("BulkResult")}, "meta": _ref("BulkMeta")},
        },
        "BulkFailure": {
            "type": "object",
            "required": ["error", "data"],
            "properties": {"error": {"type": "object"}, "data": {"type": "array", "items": _ref("BulkResult")}},
        },
    }


def paths(objects: list[ObjectDef], principal: Principal) -> dict[str, Any]:
    """``/api/v1/<object>/bulk`` for each object the caller may create or edit records of."""
    out: dict[str, Any] = {}
    for obj in objects:
        grant = principal.grant(obj.name)
        if not grant.create and grant.edit == "none":
            continue
        record = {"anyOf": [_ref(f"{obj.name}_create"), _bulk_update(obj.name)]}
        out[f"/api/v1/{obj.name}/bulk"] = {
            "post": {
                "operationId": f"bulk_{obj.name}",
                "tags": [obj.name],
                "summary": f"Create or change up to {MAX_RECORDS:,} {obj.plural_label.get()}",
                "description": (
                    "Records without `id` are created, records with `id` and `version` are changed, each "
                    "through the same checks as a single POST or PATCH. One result per record, in order; "
                    'with `"atomic": true` nothing is written unless every record is valid (else 422).'
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["records"],
                                "additionalProperties": False,
                                "properties": {
                                    "records": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": MAX_RECORDS,
                                        "items": record,
                                    },
                                    "atomic": {"type": "boolean", "default": False},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _answer("BulkAnswer", "One result per record, in the order sent."),
                    "422": _answer("BulkFailure", "Atomic: some record failed, so none was written."),
                    **error_responses("400", "401", "403", "404", "413", "415", "429", "500"),
                },
            }
        }
    return out


def _bulk_update(object_name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "version"],
        "properties": {
            "id": {"type": "integer", "minimum": 1, "description": "The record to change."},
            "version": {"type": "integer", "minimum": 1, "description": "The version you last read."},
        },
        "description": f"A change: `id`, `version` and the fields to change, as in {object_name}_update.",
    }


def _answer(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}
