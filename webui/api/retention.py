"""``/api/v1/retention-requests``: the records retention holds for approval (issue 18 §4).

- ``GET /api/v1/retention-requests``: the requests the caller is the approver of, waiting
  ones first, with the report of each waiting one (``examples``: records read as the caller);
- ``GET /api/v1/retention-requests/<id>``: one of them (404 when the caller is not its approver);
- ``POST /api/v1/retention-requests/<id>/approve`` | ``reject`` (body ``{"comment": …}``,
  required to reject).

Who decides, what a request holds and carrying it out are ``engine.runtime.retention_requests``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.runtime import retention_requests
from engine.runtime.errors import NotFound
from engine.runtime.records.session import Session
from engine.runtime.retention_requests import RetentionRequest
from webui.api.auth import current_username
from webui.api.errors import ApiError, said
from webui.api.params import json_body
from webui.api.responses import IDENTIFIER, decision_paths, error_responses
from webui.state import get_trellis

#: Most requests one answer lists.
LIMIT = 100


def list_requests() -> Response:
    """The retention requests the caller decides or decided, waiting ones first."""
    with _session() as session:
        found = retention_requests.for_approver(session, LIMIT)
        found.sort(key=lambda r: (r.status != retention_requests.PENDING, -r.id))
        data = [_json(session, r) for r in found]
    return jsonify({"data": data})


def get_request(request_id: str) -> Response:
    """One request the caller is the approver of."""
    with _session() as session:
        return jsonify(_json(session, _mine(session, request_id)))


def decide_request(request_id: str, decision: str) -> Response:
    """Approve or reject a waiting request; answers with the request as it now stands."""
    body = json_body() if request.get_data(cache=True) else {}
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        problem = {"code": "invalid", "message": said("api.approvals.comment.field")}
        raise ApiError(400, "bad_request", said("api.approvals.comment"), {"comment": [problem]})
    with _session() as session:
        _mine(session, request_id)
        decided = retention_requests.decide(session, request_id, decision, comment)
        return jsonify(_json(session, decided))


def _mine(session: Session, request_id: str) -> RetentionRequest:
    """The request, when the caller is its approver (else NotFound: the API tells no more)."""
    found = retention_requests.get(session, request_id)
    if not retention_requests.is_approver(session, found):
        raise NotFound("retention request", request_id)
    return found


def _json(session: Session, found: RetentionRequest) -> dict[str, Any]:
    out = found.to_dict()
    pending = found.status == retention_requests.PENDING
    out["examples"] = (
        [{"id": e.id, "title": e.title} for e in retention_requests.examples(session, found)] if pending else []
    )
    out["can_decide"] = pending and retention_requests.may_decide(session, found)
    return out


def _session():
    return get_trellis().session(user=current_username(), channel="api")


def register(blueprint: Blueprint) -> None:
    """Add the retention request routes to the API blueprint."""
    blueprint.add_url_rule("/retention-requests", "retention_requests", list_requests, methods=["GET"])
    blueprint.add_url_rule("/retention-requests/<request_id>", "retention_request", get_request, methods=["GET"])
    for decision in ("approve", "reject"):
        blueprint.add_url_rule(
            f"/retention-requests/<request_id>/{decision}",
            f"{decision}_retention_request",
            decide_request,
            methods=["POST"],
            defaults={"decision": decision},
        )


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The schema of a retention request."""
    nullable_text = {"type": ["string", "null"]}
    return {
        "RetentionRequest": {
            "type": "object",
            "required": ["id", "object", "action", "policy", "count", "status", "approver"],
            "properties": {
                "id": {"type": "integer"},
                "object": {"type": "string"},
                "action": {"type": "string", "enum": ["archive", "purge"]},
                "policy": {
                    "type": "object",
                    "properties": {
                        "years": {"type": "integer"},
                        "from": {"type": "string"},
                        "before": {"type": "string", "format": "date"},
                    },
                },
                "count": {"type": "integer", "description": "The records it holds."},
                "status": {"type": "string", "enum": ["pending", "approved", "rejected", "done", "withdrawn"]},
                "approver": {"type": "string"},
                "requested_at": {"type": "string", "format": "date-time"},
                "decided_by": nullable_text,
                "decided_at": nullable_text,
                "comment": nullable_text,
                "done_at": nullable_text,
                "done": {"type": "integer", "description": "Records archived or purged."},
                "kept": {"type": "integer", "description": "Records kept because other records refer to them."},
                "changed": {"type": "integer", "description": "Records left: changed since, or no longer due."},
                "examples": {
                    "type": "array",
                    "description": "A few of its records the caller may read (waiting requests).",
                    "items": {"type": "object", "properties": {"id": {"type": "integer"}, "title": {"type": "string"}}},
                },
                "can_decide": {"type": "boolean"},
            },
        }
    }


def paths() -> dict[str, Any]:
    """The retention request routes for the OpenAPI document."""
    errors = error_responses
    one = {"application/json": {"schema": {"$ref": "#/components/schemas/RetentionRequest"}}}
    identifier = IDENTIFIER
    listed = {"type": "array", "items": {"$ref": "#/components/schemas/RetentionRequest"}}
    out: dict[str, Any] = {
        "/api/v1/retention-requests": {
            "get": {
                "operationId": "list_retention_requests",
                "tags": ["approvals"],
                "summary": "Retention requests the caller approves, waiting ones first",
                "responses": {
                    "200": {
                        "description": "The requests.",
                        "content": {"application/json": {"schema": {"type": "object", "properties": {"data": listed}}}},
                    },
                    **errors("401", "429", "500"),
                },
            }
        },
        "/api/v1/retention-requests/{id}": {
            "get": {
                "operationId": "get_retention_request",
                "tags": ["approvals"],
                "summary": "One retention request",
                "parameters": [identifier],
                "responses": {
                    "200": {"description": "The request.", "content": one},
                    **errors("401", "404", "429", "500"),
                },
            }
        },
    }
    out.update(
        decision_paths(
            "/api/v1/retention-requests",
            "retention_request",
            (
                ("approve", "Approve: the next retention run carries it out"),
                ("reject", "Reject (a comment is required)"),
            ),
            one,
        )
    )
    return out
