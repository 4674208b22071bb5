"""``/api/v1/approvals``: the approvals inbox, one request, and deciding it (S18, S21, S33).

- ``GET /api/v1/approvals?box=inbox`` (default): requests waiting for the caller;
  ``box=mine``: the caller's own requests;
- ``GET /api/v1/approvals/<id>``: one request (404 outside the caller's scope);
- ``POST /api/v1/approvals/<id>/approve`` | ``reject`` (body ``{"comment": …}``,
  required to reject) | ``cancel`` (the requester withdraws it).

A write that needs approval answers 202 from ``PATCH``/``DELETE`` of the record
(``routes``); everything else — who may decide, applying the change — is
``engine.runtime.workflow.approvals``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.runtime.workflow import approvals
from webui.api.auth import current_username
from webui.api.errors import ApiError, said
from webui.api.params import json_body
from webui.api.responses import IDENTIFIER, decision_paths, error_responses
from webui.state import get_trellis

BOXES = ("inbox", "mine")


def list_approvals() -> Response:
    """The caller's inbox (or own requests with ``box=mine``)."""
    box = request.args.get("box", "inbox")
    if box not in BOXES:
        raise ApiError(
            400,
            "bad_request",
            said("api.approvals.box", boxes=", ".join(BOXES)),
            {"box": [{"code": "invalid", "message": said("api.approvals.box.field", boxes=", ".join(BOXES))}]},
        )
    with _session() as session:
        found = approvals.inbox(session) if box == "inbox" else approvals.requested_by_me(session)
    return jsonify({"data": [r.to_dict() for r in found]})


def get_approval(approval_id: str) -> Response:
    """One request with its steps."""
    with _session() as session:
        found = approvals.get(session, approval_id)
    return jsonify(found.to_dict())


def decide_approval(approval_id: str, decision: str) -> Response:
    """Approve, reject or withdraw a request; answers with the request as it now stands."""
    body = json_body() if request.get_data(cache=True) else {}
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        problem = {"code": "invalid", "message": said("api.approvals.comment.field")}
        raise ApiError(400, "bad_request", said("api.approvals.comment"), {"comment": [problem]})
    with _session() as session:
        if decision == "cancel":
            found = approvals.cancel(session, approval_id)
        else:
            found = approvals.decide(session, approval_id, decision, comment)
    return jsonify(found.to_dict())


def _session():
    return get_trellis().session(user=current_username(), channel="api")


def register(blueprint: Blueprint) -> None:
    """Add the approval routes to the API blueprint."""
    blueprint.add_url_rule("/approvals", "approvals", list_approvals, methods=["GET"])
    blueprint.add_url_rule("/approvals/<approval_id>", "approval", get_approval, methods=["GET"])
    for decision in ("approve", "reject", "cancel"):
        blueprint.add_url_rule(
            f"/approvals/<approval_id>/{decision}",
            f"{decision}_approval",
            decide_approval,
            methods=["POST"],
            defaults={"decision": decision},
        )


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The shared schema of an approval request."""
    return {
        "Approval": {
            "type": "object",
            "required": ["id", "rules", "object", "record_id", "action", "status", "steps"],
            "properties": {
                "id": {"type": "integer"},
                "rules": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The approval rules it answers.",
                },
                "object": {"type": "string"},
                "record_id": {"type": "integer"},
                "action": {"type": "string", "enum": ["update", "delete"]},
                "changes": {"type": "object", "description": "The pending values, applied when approved."},
                "reason": {"type": ["string", "null"]},
                "status": {"type": "string", "enum": ["pending", "approved", "rejected", "failed", "cancelled"]},
                "step": {"type": "integer", "description": "Index of the step waiting for a decision."},
                "requested_by": {"type": "string"},
                "requested_at": {"type": "string", "format": "date-time"},
                "decided_at": {"type": ["string", "null"]},
                "comment": {"type": ["string", "null"]},
                "result": {"type": ["string", "null"], "description": "Why an approved change could not be applied."},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "label": {"type": "string"},
                            "approver": {"type": "string"},
                            "decision": {"type": ["string", "null"], "enum": ["approved", "rejected", None]},
                            "decided_at": {"type": ["string", "null"]},
                            "comment": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        }
    }


def paths() -> dict[str, Any]:
    """The approval routes for the OpenAPI document."""
    errors = error_responses
    one = {"application/json": {"schema": {"$ref": "#/components/schemas/Approval"}}}
    identifier = IDENTIFIER
    out: dict[str, Any] = {
        "/api/v1/approvals": {
            "get": {
                "operationId": "list_approvals",
                "tags": ["approvals"],
                "summary": "Requests waiting for the caller (box=inbox) or made by the caller (box=mine)",
                "parameters": [{"name": "box", "in": "query", "schema": {"type": "string", "enum": list(BOXES)}}],
                "responses": {
                    "200": {
                        "description": "The requests.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Approval"}}
                                    },
                                }
                            }
                        },
                    },
                    **errors("400", "401", "429", "500"),
                },
            }
        },
        "/api/v1/approvals/{id}": {
            "get": {
                "operationId": "get_approval",
                "tags": ["approvals"],
                "summary": "One approval request",
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
            "/api/v1/approvals",
            "approval",
            (
                ("approve", "Approve the current step"),
                ("reject", "Reject (a comment is required)"),
                ("cancel", "Withdraw one's own request"),
            ),
            one,
        )
    )
    return out
