"""``POST /api/v1/<object>/<id>/emails``: write an e-mail to a record's contact (issue 16 §2).

The body is ``{to, subject, body}`` or ``{template}`` (its subject and body rendered for the
record; given ``subject``/``body`` win); ``to`` defaults to the record's address
(``engine.runtime.mail.outbound.draft``). The e-mail goes to the outbox and is logged on the
record's timeline; 202 with its Message-ID and the log record's id. 403 without the right to
e-mail from the record, 404 outside the read scope, 422 with the problems per field.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.metadata.model import Config, ObjectDef
from engine.runtime.mail import outbound
from engine.runtime.security.permissions import Principal
from webui.api.auth import current_username
from webui.api.errors import ApiError, said
from webui.api.params import json_body
from webui.api.responses import error_responses
from webui.state import get_trellis

BODY_KEYS = ("to", "subject", "body", "template")


def send(object_name: str, record_id: str) -> Response:
    """Send an e-mail from the record; 202 with its Message-ID."""
    body = json_body()
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise ApiError(
            400,
            "bad_request",
            said("api.emails.unknown_key", key=unknown[0], keys=", ".join(BODY_KEYS)),
            {unknown[0]: [{"code": "unknown", "message": said("api.emails.unknown_key.field")}]},
        )
    for key in BODY_KEYS:
        if body.get(key) is not None and not isinstance(body[key], str):
            problem = {"code": "invalid", "message": said("api.emails.text.field")}
            raise ApiError(400, "bad_request", said("api.emails.text", key=key), {key: [problem]})
    template = body.get("template") or None
    with get_trellis().session(user=current_username(), channel="api") as session:
        to = body.get("to")
        if to is None:
            to = outbound.draft(session, object_name, record_id).to
        sent = outbound.send_email(
            session, object_name, record_id, to, body.get("subject") or "", body.get("body") or "", template
        )
    response = jsonify({"message_id": sent.message_id, "to": sent.to, "logged_id": sent.log_id, "status": "queued"})
    response.status_code = 202
    return response


def register(blueprint: Blueprint) -> None:
    """Add the e-mail route to the API blueprint."""
    blueprint.add_url_rule("/<object_name>/<record_id>/emails", "send_email", send, methods=["POST"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The request and answer of the e-mail route."""
    return {
        "EmailInput": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "to": {"type": "string", "format": "email", "description": "Default: the record's address."},
                "subject": {"type": "string", "maxLength": outbound.MAX_SUBJECT},
                "body": {"type": "string", "maxLength": outbound.MAX_BODY, "description": "Plain text."},
                "template": {"type": "string", "description": "A template of `templates:` filling subject and body."},
            },
        },
        "EmailQueued": {
            "type": "object",
            "required": ["message_id", "to", "status"],
            "properties": {
                "message_id": {"type": "string", "description": "The Message-ID replies refer to."},
                "to": {"type": "string"},
                "logged_id": {"type": ["integer", "null"], "description": "The record logging it on the timeline."},
                "status": {"type": "string", "enum": ["queued"]},
            },
        },
    }


def paths(config: Config, principal: Principal, objects: list[ObjectDef]) -> dict[str, Any]:
    """``/api/v1/<object>/{id}/emails`` for each object whose records a logged e-mail can link."""
    if config.mail is None:
        return {}
    log_obj = config.objects[config.mail.log.object]
    out = {}
    for obj in objects:
        if not any(f.points_to(obj.name) for f in log_obj.fields.values()):
            continue
        out[f"/api/v1/{obj.name}/{{id}}/emails"] = {
            "post": {
                "operationId": f"email_{obj.name}",
                "tags": [obj.name],
                "summary": f"Write an e-mail from a {obj.label.get()} (sent through the outbox, logged on its timeline)",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmailInput"}}},
                },
                "responses": {
                    "202": {
                        "description": "Queued in the outbox and logged.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmailQueued"}}},
                    },
                    **error_responses("400", "401", "403", "404", "413", "415", "422", "429", "500"),
                },
            }
        }
    return out
