"""``/api/v1/notifications``: the caller's in-app notifications, and marking them read.

- ``GET /api/v1/notifications`` (``?unread=1``: only the unread ones; ``page``,
  ``per_page``): newest first, with the number unread in ``meta``;
- ``POST /api/v1/notifications/<id>/read``: mark one read (404 when it is not the
  caller's); answers with the notification;
- ``POST /api/v1/notifications/read``: mark every one read; answers how many changed.

A notification's ``record`` link (``/api/v1/<object>/<id>``) is given only while
the caller may read that record (``engine.runtime.jobs.inbox.readable``, the one read
path); otherwise it is null. Reading and marking are ``engine.runtime.jobs.inbox`` and
``engine.runtime.jobs.notify``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from engine.runtime.jobs import inbox
from engine.runtime.jobs.inbox import Notification
from webui.api.auth import current_username
from webui.api.errors import ApiError, said
from webui.api.params import whole_number
from webui.api.responses import error_responses
from webui.api.serialize import json_value
from webui.state import get_trellis

DEFAULT_PER_PAGE = 20


def notification_json(item: Notification, readable: set[tuple[str, int]]) -> dict[str, Any]:
    """One notification as JSON; ``record`` only when the caller may read it."""
    link = (item.object, item.record_id) in readable
    return {
        "id": item.id,
        "title": item.title,
        "body": item.body,
        "rule": item.rule,
        "object": item.object,
        "record_id": item.record_id,
        "record": url_for("api.record", object_name=item.object, record_id=item.record_id) if link else None,
        "created_at": json_value(item.created_at),
        "read_at": json_value(item.read_at),
        "read": item.read_at is not None,
    }


def list_notifications() -> Response:
    """A page of the caller's notifications, newest first."""
    unread = request.args.get("unread", "0")
    if unread not in ("0", "1", "true", "false"):
        raise ApiError(
            400,
            "bad_query",
            said("api.notifications.unread"),
            {"unread": [{"code": "invalid", "message": said("api.notifications.unread")}]},
        )
    page = whole_number(request.args, "page", 1, inbox.MAX_PAGE)
    per_page = whole_number(request.args, "per_page", DEFAULT_PER_PAGE, inbox.MAX_PER_PAGE)
    with _session() as session:
        found = inbox.page(session, unread in ("1", "true"), page, per_page)
        readable = inbox.readable(session, found.items)
        count = inbox.unread_count(session)
    return jsonify(
        {
            "data": [notification_json(n, readable) for n in found.items],
            "meta": {"page": found.page, "per_page": found.per_page, "has_next": found.has_next, "unread": count},
        }
    )


def read_notification(notification_id: str) -> Response:
    """Mark one notification read (already read stays as it is)."""
    if not notification_id.isdigit() or len(notification_id) > 18:
        raise ApiError(404, "not_found", said("api.notifications.not_found", id=notification_id))
    with _session() as session:
        if inbox.get(session, int(notification_id)) is None:
            raise ApiError(404, "not_found", said("api.notifications.not_found", id=notification_id))
        inbox.mark_read(session, int(notification_id))
        item = inbox.get(session, int(notification_id))
        readable = inbox.readable(session, [item])
    return jsonify(notification_json(item, readable))


def read_all() -> Response:
    """Mark every notification of the caller read."""
    with _session() as session:
        marked = inbox.mark_read(session)
    return jsonify({"marked": marked, "unread": 0})


def _session():
    return get_trellis().session(user=current_username(), channel="api")


def register(blueprint: Blueprint) -> None:
    """Add the notification routes to the API blueprint."""
    blueprint.add_url_rule("/notifications", "notifications", list_notifications, methods=["GET"])
    blueprint.add_url_rule("/notifications/read", "read_notifications", read_all, methods=["POST"])
    blueprint.add_url_rule(
        "/notifications/<notification_id>/read", "read_notification", read_notification, methods=["POST"]
    )


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The schema of a notification and of a page of them."""
    return {
        "Notification": {
            "type": "object",
            "required": ["id", "title", "body", "created_at", "read"],
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "body": {"type": "string", "description": "Plain text (show it as text, not HTML)."},
                "rule": {"type": ["string", "null"], "description": "The automation rule that sent it."},
                "object": {"type": ["string", "null"]},
                "record_id": {"type": ["integer", "null"]},
                "record": {
                    "type": ["string", "null"],
                    "description": "The record's API path, while you may read the record; else null.",
                },
                "created_at": {"type": "string", "format": "date-time"},
                "read_at": {"type": ["string", "null"], "format": "date-time"},
                "read": {"type": "boolean"},
            },
        },
        "NotificationList": {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
                "meta": {
                    "type": "object",
                    "required": ["page", "per_page", "has_next", "unread"],
                    "properties": {
                        "page": {"type": "integer", "minimum": 1},
                        "per_page": {"type": "integer", "minimum": 1},
                        "has_next": {"type": "boolean", "description": "Whether older notifications follow."},
                        "unread": {"type": "integer", "minimum": 0, "description": "How many are unread in all."},
                    },
                },
            },
        },
    }


def paths() -> dict[str, Any]:
    """The notification routes for the OpenAPI document."""
    errors = error_responses
    one = {"application/json": {"schema": {"$ref": "#/components/schemas/Notification"}}}
    return {
        "/api/v1/notifications": {
            "get": {
                "operationId": "list_notifications",
                "tags": ["notifications"],
                "summary": "Your in-app notifications, newest first",
                "parameters": [
                    {
                        "name": "unread",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                        "description": "1: only the unread ones.",
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": inbox.MAX_PER_PAGE,
                            "default": DEFAULT_PER_PAGE,
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of notifications.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotificationList"}}},
                    },
                    **errors("400", "401", "429", "500"),
                },
            }
        },
        "/api/v1/notifications/{id}/read": {
            "post": {
                "operationId": "read_notification",
                "tags": ["notifications"],
                "summary": "Mark one notification read",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
                ],
                "responses": {
                    "200": {"description": "The notification, read.", "content": one},
                    **errors("401", "404", "429", "500"),
                },
            }
        },
        "/api/v1/notifications/read": {
            "post": {
                "operationId": "read_notifications",
                "tags": ["notifications"],
                "summary": "Mark all your notifications read",
                "responses": {
                    "200": {
                        "description": "How many were marked.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["marked"],
                                    "properties": {
                                        "marked": {"type": "integer", "minimum": 0},
                                        "unread": {"type": "integer", "const": 0},
                                    },
                                }
                            }
                        },
                    },
                    **errors("401", "429", "500"),
                },
            }
        },
    }
