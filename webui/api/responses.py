"""The error responses of the OpenAPI document: one name and description per HTTP status,
shared by every module that documents routes (``openapi`` and the feature modules)."""

from __future__ import annotations

from typing import Any

ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "Malformed JSON, a body that is not an object, or a bad query parameter."),
    "401": ("Unauthorized", "No token, or an unknown, revoked or expired one, or its account is disabled."),
    "403": ("Forbidden", "The caller may see the record or object but not do this."),
    "404": ("NotFound", "No such object or record, or the record is outside the caller's scope."),
    "409": (
        "Conflict",
        "The record changed since the version the caller sent (`conflict`), or it matches a `warn` duplicate"
        " rule (`possible_duplicate`, with `candidates`; repeat with `?allow_duplicate=true`).",
    ),
    "413": ("TooLarge", "The body is too large."),
    "415": ("UnsupportedMediaType", "The body is not JSON."),
    "422": (
        "ValidationFailed",
        "The record is not valid, or a search cannot run (`bad_search`); `fields` says why, field by field.",
    ),
    "428": ("PreconditionRequired", "A PATCH or a conversion without `version` or If-Match."),
    "429": ("TooManyRequests", "Rate limited; retry after Retry-After seconds."),
    "500": ("Internal", "An unexpected error (logged on the server)."),
}


def error_responses(*statuses: str) -> dict[str, Any]:
    """``responses`` entries that refer to the shared error responses of ``statuses``."""
    return {status: {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"} for status in statuses}


#: The ``id`` path parameter of a route about one thing (a request, a record).
IDENTIFIER = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def decision_paths(base: str, operation: str, decisions: tuple[tuple[str, str], ...], one: dict) -> dict[str, Any]:
    """The OpenAPI entries of ``POST {base}/{id}/<decision>`` for each ``(decision, summary)``: an
    optional JSON ``comment``, answered with the request as it now stands (``one``). The operation
    ids are ``<decision>_<operation>``."""
    return {
        f"{base}/{{id}}/{decision}": {
            "post": {
                "operationId": f"{decision}_{operation}",
                "tags": ["approvals"],
                "summary": summary,
                "parameters": [IDENTIFIER],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"comment": {"type": "string"}}}
                        }
                    },
                },
                "responses": {
                    "200": {"description": "The request as it now stands.", "content": one},
                    **error_responses("400", "401", "403", "404", "422", "429", "500"),
                },
            }
        }
        for decision, summary in decisions
    }
