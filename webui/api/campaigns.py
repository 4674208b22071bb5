"""Campaigns and engagement events in the REST API (issue 16 §3).

- ``POST /api/v1/campaign/<id>/start``: start a draft campaign as the caller
  (``engine.runtime.campaigns.starting``): 200 with what was queued; 422 with the field at
  fault (``status``, ``segment``, ``template``, ``rate``, ``_record``); 404 outside the scope;
- ``GET /api/v1/campaign/<id>/results``: its figures as the caller may see them;
- ``POST /api/v1/events``: the company's website reports a visit, a form or a custom event of a
  contact or lead, named by ``id`` or ``email`` (``engine.runtime.workflow.engagement.report_event``):
  201 with the event's id; 422 with the problems per key. Only a token with the scope
  ``events`` may call it (``webui.api.auth.SCOPED_ENDPOINTS``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.metadata.campaigns import CAMPAIGN_OBJECT, EVENT_KINDS
from engine.runtime.campaigns.results import FIGURES, campaign_results
from engine.runtime.campaigns.starting import start_campaign
from engine.runtime.errors import NotFound
from engine.runtime.workflow.engagement import MAX_DATA_KEYS, MAX_DATA_TEXT, REPORTED_KINDS, report_event
from webui.api.auth import current_username
from webui.api.params import json_body
from webui.api.responses import error_responses
from webui.state import get_trellis


def _campaigns_declared() -> None:
    if CAMPAIGN_OBJECT not in get_trellis().config.objects:
        raise NotFound(CAMPAIGN_OBJECT, None)


def start(record_id: str) -> Response:
    """Start the campaign; 200 with the recipients queued and the times they go out."""
    _campaigns_declared()
    with get_trellis().session(user=current_username(), channel="api") as session:
        started = start_campaign(session, record_id)
    return jsonify(
        {
            "campaign": started.campaign_id,
            "status": started.status,
            "queued": started.queued,
            "suppressed": started.suppressed,
            "first_at": started.first_at.isoformat(),
            "last_at": started.last_at.isoformat(),
        }
    )


def results(record_id: str) -> Response:
    """The campaign's figures as the caller may see them."""
    _campaigns_declared()
    with get_trellis().session(user=current_username(), channel="api") as session:
        found = campaign_results(session, record_id)
    figures: dict[str, Any] = dict(found.figures())
    if figures["won_amount"] is not None:
        figures["won_amount"] = str(figures["won_amount"])
    return jsonify({"campaign": found.campaign["id"], "status": found.campaign.get("status"), "figures": figures})


def events() -> tuple[Response, int]:
    """Record an event reported by the website; 201 with its id."""
    body = json_body()
    with get_trellis().session(user=current_username(), channel="api") as session:
        object_name, record_id, event_id = report_event(session, body)
    return jsonify({"id": event_id, "object": object_name, "record_id": record_id}), 201


def register(blueprint: Blueprint) -> None:
    """Add the campaign and event routes to the API blueprint."""
    blueprint.add_url_rule(f"/{CAMPAIGN_OBJECT}/<record_id>/start", "campaign_start", start, methods=["POST"])
    blueprint.add_url_rule(f"/{CAMPAIGN_OBJECT}/<record_id>/results", "campaign_results", results, methods=["GET"])
    blueprint.add_url_rule("/events", "events", events, methods=["POST"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The schemas of the event body and the campaign answers."""
    return {
        "EngagementEvent": {
            "type": "object",
            "required": ["event", "object"],
            "additionalProperties": False,
            "properties": {
                "event": {"type": "string", "enum": list(REPORTED_KINDS)},
                "object": {"type": "string", "description": "The object of the person: contact or lead."},
                "id": {"type": "integer", "description": "The record's id (or give `email`)."},
                "email": {"type": "string", "format": "email", "description": "The person's e-mail address."},
                "data": {
                    "type": "object",
                    "maxProperties": MAX_DATA_KEYS,
                    "additionalProperties": {
                        "type": ["string", "number", "boolean", "null"],
                        "maxLength": MAX_DATA_TEXT,
                    },
                    "description": 'What automation rules read as event[\'…\'], e.g. {"url": "/pricing"}; '
                    "a custom event's `name`.",
                },
            },
        },
        "CampaignResults": {
            "type": "object",
            "properties": {
                "campaign": {"type": "integer"},
                "status": {"type": "string"},
                "figures": {
                    "type": "object",
                    "properties": {name: {"type": ["integer", "string", "null"]} for name in FIGURES},
                },
            },
        },
    }


def paths(has_campaigns: bool) -> dict[str, Any]:
    """``/api/v1/events`` and, with a campaign object, its start and results."""
    out: dict[str, Any] = {
        "/api/v1/events": {
            "post": {
                "operationId": "report_event",
                "tags": ["meta"],
                "summary": "Report a visit, a form or a custom event of a contact or lead",
                "description": (
                    "Needs a token with the scope `events` (`trellis token create CONFIG USER --scope events`). "
                    "The event is kept on the person's record and runs the automation rules "
                    f"`on: {{event: …}}` (kinds: {', '.join(EVENT_KINDS)})."
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EngagementEvent"}}},
                },
                "responses": {
                    "201": {"description": "Recorded: the event's id, the object and the record's id."},
                    **error_responses("400", "401", "403", "422", "429", "500"),
                },
            }
        }
    }
    if has_campaigns:
        out[f"/api/v1/{CAMPAIGN_OBJECT}/{{id}}/start"] = {
            "post": {
                "operationId": "start_campaign",
                "tags": [CAMPAIGN_OBJECT],
                "summary": "Start a draft campaign: queue its segment's recipients",
                "responses": {
                    "200": {"description": "Queued: recipients, suppressed addresses, first and last send times."},
                    **error_responses("401", "403", "404", "409", "422", "429", "500"),
                },
            }
        }
        out[f"/api/v1/{CAMPAIGN_OBJECT}/{{id}}/results"] = {
            "get": {
                "operationId": "campaign_results",
                "tags": [CAMPAIGN_OBJECT],
                "summary": "A campaign's figures as you may see them",
                "responses": {
                    "200": {
                        "description": "Sent, delivered, bounced, opened, clicked, unsubscribed, leads, deals won.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CampaignResults"}}},
                    },
                    **error_responses("401", "404", "429", "500"),
                },
            }
        }
    return out
