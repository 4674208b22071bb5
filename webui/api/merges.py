"""``POST /api/v1/<object>/<id>/merge`` and ``…/unmerge``: merge duplicates into the record, undo it.

The merge body: ``{"merge": [12, 13], "fields": {"email": 13}, "versions": {"7": 4, "12": 2}}`` —
the records merged into this one (archived, linked, everything pointing at them re-pointed here),
for a field the record whose value survives (else the field's ``merge: {keep: …}``, else this
record's, else the first non-empty), and optionally the versions read (409 when one changed).
The answer is 200 with the survivor and the merge (its id, the merged ids, ``undo_until``).
``unmerge`` (no body) undoes this record's latest merge while ``undo_until`` has not passed.
403 without the ``merge`` grant (or edit rights here, delete rights on the merged), 404 for a
record out of reach, 422 with ``fields`` (``merge``, a field name) for a refused merge — a
stage whose required fields would be missing is ``required_for_stage`` on those fields.
Everything else is ``engine.runtime.records.merging``'s.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.metadata.model import Config
from engine.runtime.records.merging.merge import MergeInfo
from engine.runtime.security.permissions import Principal
from webui.api.auth import current_username
from webui.api.errors import ApiError
from webui.api.params import json_body
from webui.api.responses import error_responses
from webui.api.serialize import record_json
from webui.state import get_trellis

#: Keys a merge request body may have.
BODY_KEYS = ("merge", "fields", "versions")


def merge_json(info: MergeInfo) -> dict[str, Any]:
    """A merge as JSON."""
    return {
        "id": info.id,
        "merged_ids": list(info.merged_ids),
        "merged_at": info.merged_at.isoformat(),
        "undo_until": info.undo_until.isoformat(),
    }


def merge_records(object_name: str, record_id: str) -> Response:
    """Merge ``merge`` into the record; 200 with the survivor and the merge."""
    body = json_body()
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise _bad_body(unknown[0], f"Unknown key {unknown[0]!r}; a merge takes {', '.join(BODY_KEYS)}.")
    merged = body.get("merge")
    if not isinstance(merged, list) or not merged or not all(type(i) is int for i in merged):  # not true/false
        raise _bad_body("merge", "merge is a list of the ids of the records to merge into this one, e.g. [12, 13].")
    fields, versions = body.get("fields") or {}, body.get("versions") or {}
    if not isinstance(fields, dict):
        raise _bad_body(
            "fields", 'fields maps a field to the id of the record whose value survives, e.g. {"email": 12}.'
        )
    if not isinstance(versions, dict):
        raise _bad_body("versions", 'versions maps record ids to the versions you read, e.g. {"7": 4, "12": 2}.')
    with get_trellis().session(user=current_username(), channel="api") as session:
        result = session.merge(object_name, record_id, merged, choices=fields, versions=versions)
    response = jsonify({"survivor": record_json(result.survivor), "merge": merge_json(result.merge)})
    response.headers["ETag"] = f'"{result.survivor.version}"'
    return response


def unmerge_record(object_name: str, record_id: str) -> Response:
    """Undo the record's latest merge; 200 with the record."""
    with get_trellis().session(user=current_username(), channel="api") as session:
        record = session.unmerge(object_name, record_id)
    response = jsonify(record_json(record))
    response.headers["ETag"] = f'"{record.version}"'
    return response


def _bad_body(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", message, {name: [{"code": "invalid", "message": message}]})


def register(blueprint: Blueprint) -> None:
    """Add the merge routes to the API blueprint."""
    blueprint.add_url_rule("/<object_name>/<record_id>/merge", "merge", merge_records, methods=["POST"])
    blueprint.add_url_rule("/<object_name>/<record_id>/unmerge", "unmerge", unmerge_record, methods=["POST"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The shared schemas of merge requests and answers."""
    return {
        "MergeRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["merge"],
            "properties": {
                "merge": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 1,
                    "maxItems": 10,
                    "description": "The records merged into this one (archived, kept, linked).",
                },
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "Per field, the id of the record whose value survives.",
                },
                "versions": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "Per record id, the version you read (409 when it changed).",
                },
            },
        },
        "MergeResult": {
            "type": "object",
            "required": ["survivor", "merge"],
            "properties": {
                "survivor": {"type": "object", "description": "The record as it is after the merge."},
                "merge": {
                    "type": "object",
                    "required": ["id", "merged_ids", "merged_at", "undo_until"],
                    "properties": {
                        "id": {"type": "integer"},
                        "merged_ids": {"type": "array", "items": {"type": "integer"}},
                        "merged_at": {"type": "string", "format": "date-time"},
                        "undo_until": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    }


def paths(config: Config, principal: Principal) -> dict[str, Any]:
    """``/api/v1/<object>/{id}/merge`` and ``…/unmerge`` for each object the caller may merge."""
    out: dict[str, Any] = {}
    ident = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    for obj in config.objects.values():
        if not principal.grant(obj.name).merge_:
            continue
        errors = error_responses("400", "401", "403", "404", "409", "415", "422", "429", "500")
        out[f"/api/v1/{obj.name}/{{id}}/merge"] = {
            "post": {
                "operationId": f"merge_{obj.name}",
                "tags": [obj.name],
                "summary": f"Merge duplicates into this {obj.label.get()}",
                "parameters": [ident],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MergeRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "Merged.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MergeResult"}}},
                    },
                    **errors,
                },
            }
        }
        out[f"/api/v1/{obj.name}/{{id}}/unmerge"] = {
            "post": {
                "operationId": f"unmerge_{obj.name}",
                "tags": [obj.name],
                "summary": f"Undo the latest merge into this {obj.label.get()}",
                "parameters": [ident],
                "responses": {"200": {"description": "The merge is undone; the record as it is now."}, **errors},
            }
        }
    return out
