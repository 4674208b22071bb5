"""``GET /api/v1/<object>/<id>/timeline``: the activities and tasks attached to a record and its
engagement events, interleaved newest first (S25, issue 16 §3); ``?type=activity,task,event``
keeps some of them.

Creating, changing and deleting activities and tasks needs nothing new: they are
records of ordinary objects (``/api/v1/interaction``, ``/api/v1/task``). This
route reads ``engine.runtime.workflow.timeline.timeline`` — the caller's scope, hidden
fields removed — and describes itself in the OpenAPI document (``paths``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.metadata.model import Config, ObjectDef
from engine.runtime.messages import current_language
from engine.runtime.security.permissions import Principal
from engine.runtime.workflow import timeline
from webui.api.auth import current_username
from webui.api.errors import ApiError, said
from webui.api.params import choices, whole_number
from webui.api.responses import error_responses
from webui.api.serialize import json_value, record_json
from webui.state import get_trellis

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def entry_json(entry: timeline.TimelineEntry) -> dict[str, Any]:
    """One timeline entry as JSON: what it is (``type``), when, and the record or the event."""
    out = {
        "object": entry.object,
        "type": entry.type,
        "at": json_value(entry.at),
        "kind": json_value(entry.kind),
        "summary": json_value(entry.summary),
        "done": entry.done,
        "record": record_json(entry.record) if entry.record is not None else None,
    }
    if entry.event is not None:
        event = entry.event
        campaign = {"id": event.campaign_id, "name": event.campaign_name} if event.campaign_id is not None else None
        out["event"] = {"id": event.id, "campaign": campaign, "data": {k: json_value(v) for k, v in event.data.items()}}
    return out


def get_timeline(object_name: str, record_id: str) -> Response:
    """A page of the record's timeline, newest first; 404 outside the caller's scope."""
    page, per_page = (
        whole_number(request.args, "page", 1, 10_000),
        whole_number(request.args, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
    )
    types = choices(request.args, "type", timeline.ENTRY_TYPES)
    with get_trellis().session(user=current_username(), channel="api") as session:
        obj = session.object(object_name)
        if not obj.timeline:
            raise ApiError(404, "not_found", said("api.timeline.none", object=obj.label.get(current_language())))
        found = timeline.timeline(session, object_name, record_id, page, per_page, types)
    return jsonify(
        {
            "data": [entry_json(e) for e in found.entries],
            "meta": {"page": found.page, "per_page": found.per_page, "total": found.total, "pages": found.pages},
        }
    )


def register(blueprint: Blueprint) -> None:
    """Add the timeline route to the API blueprint."""
    blueprint.add_url_rule("/<object_name>/<record_id>/timeline", "timeline", get_timeline, methods=["GET"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The shared schemas of timeline answers."""
    return {
        "TimelineEntry": {
            "type": "object",
            "required": ["object", "type", "at", "record"],
            "properties": {
                "object": {
                    "type": ["string", "null"],
                    "description": "The activity or task object, e.g. interaction (null for an event).",
                },
                "type": {"type": "string", "enum": list(timeline.ENTRY_TYPES)},
                "at": {"type": ["string", "null"], "description": "When it happened, or when the task is due."},
                "kind": {
                    "description": "The activity's kind (its `activity.kind` field), e.g. call; an event's kind, "
                    "e.g. email_clicked."
                },
                "summary": {"description": "The activity's summary or the task's subject."},
                "done": {"type": ["boolean", "null"], "description": "Whether a task is closed (null otherwise)."},
                "record": {
                    "type": ["object", "null"],
                    "description": "The record, as GET /api/v1/<object>/<id> returns it (null for an event).",
                },
                "event": {
                    "type": "object",
                    "description": "An engagement event (type event only): its id, campaign and data.",
                    "required": ["id", "campaign", "data"],
                    "properties": {
                        "id": {"type": "integer"},
                        "campaign": {
                            "type": ["object", "null"],
                            "description": "id, and name when the caller may read the campaign (else null).",
                        },
                        "data": {"type": "object", "description": "e.g. url (a click), subject, form, utm_source."},
                    },
                },
            },
        },
        "Timeline": {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/TimelineEntry"}},
                "meta": {"$ref": "#/components/schemas/PageMeta"},
            },
        },
    }


def paths(config: Config, principal: Principal, objects: list[ObjectDef]) -> dict[str, Any]:
    """``/api/v1/<object>/{id}/timeline`` for each readable object with a timeline."""
    out = {}
    for obj in objects:
        if not obj.timeline:
            continue
        out[f"/api/v1/{obj.name}/{{id}}/timeline"] = {
            "get": {
                "operationId": f"timeline_{obj.name}",
                "tags": [obj.name],
                "summary": f"Activities, tasks and engagement events of a {obj.label.get()}, newest first",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                    {
                        "name": "type",
                        "in": "query",
                        "description": "Only these types, comma-separated: " + ", ".join(timeline.ENTRY_TYPES),
                        "schema": {"type": "string"},
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PER_PAGE,
                            "default": DEFAULT_PER_PAGE,
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of the timeline.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Timeline"}}},
                    },
                    **error_responses("400", "401", "404", "429", "500"),
                },
            }
        }
    return out
