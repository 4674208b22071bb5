"""``GET /api/v1/search?q=&objects=&per_object=``: the global search as JSON.

The same search as the web UI's top bar (``engine.runtime.records.search``): every object
the caller may read (or those ``objects`` names), the best matches of each with the number
of matches (up to ``SEARCH_CAP``; past it ``total`` is the cap and ``count_capped`` is true),
ranked the same way; the caller's scope and hidden fields apply, encrypted
fields are never searched. A ``q`` that is too short or too long, an unknown or unreadable
object in ``objects`` and a bad ``per_object`` are 422 ``bad_search`` naming the parameter.
Titles and matched values are formatted for people in the request's language
(``Accept-Language``). It reads in a read session (``api_read_session``): on the read replica
when one is set and the caller has no write of theirs it has not replayed yet.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.runtime.errors import FieldError
from engine.runtime.messages import current_language
from engine.runtime.records.query import MAX_SEARCH_LENGTH
from engine.runtime.records.search import (
    MAX_PER_OBJECT,
    MIN_SEARCH_LENGTH,
    PER_OBJECT,
    SEARCH_CAP,
    BadSearch,
    ObjectHits,
    search_everything,
)
from webui.api.auth import api_read_session
from webui.api.responses import error_responses
from webui.api.serialize import record_json


def _per_object() -> int:
    raw = (request.args.get("per_object") or "").strip()
    if not raw:
        return PER_OBJECT
    if not raw.isdigit() or len(raw) > 3 or not 1 <= int(raw) <= MAX_PER_OBJECT:
        problem = FieldError(
            "search_per_object",
            f"per_object is a whole number from 1 to {MAX_PER_OBJECT}, not {raw[:40]!r}.",
            {"max": MAX_PER_OBJECT},
        )
        raise BadSearch({"per_object": [problem]})
    return int(raw)


def group_json(group: ObjectHits, language: str) -> dict[str, Any]:
    """One object's matches: its name and label, how many match, and the best records."""
    return {
        "object": group.obj.name,
        "label": group.obj.plural_label.get(language),
        "total": group.total,
        "count_capped": group.capped,
        "more": group.more,
        "records": [
            {
                "id": hit.id,
                "title": hit.title,
                "matched": [{"field": f.name, "label": f.label.get(language), "value": v} for f, v in hit.matched],
                "record": record_json(hit.record),
            }
            for hit in group.hits
        ],
    }


def search() -> Response:
    """The best matches of ``q`` per readable object (or per object of ``objects``)."""
    objects = [n.strip() for raw in request.args.getlist("objects") for n in raw.split(",") if n.strip()]
    per_object = _per_object()
    language = current_language()
    with api_read_session() as session:
        found = search_everything(session, request.args.get("q"), objects, per_object, language)
    return jsonify(
        {
            "data": [group_json(group, language) for group in found.groups],
            "meta": {
                "q": found.text,
                "total": found.total,
                "count_capped": found.capped,
                "per_object": per_object,
                "searched": [obj.name for obj in found.searched],
            },
        }
    )


def register(blueprint: Blueprint) -> None:
    """Add the search route to the API blueprint (``search`` is a reserved object name)."""
    blueprint.add_url_rule("/search", "search", search, methods=["GET"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The schemas of the search's answer."""
    return {
        "SearchGroup": {
            "type": "object",
            "required": ["object", "label", "total", "count_capped", "more", "records"],
            "properties": {
                "object": {"type": "string"},
                "label": {"type": "string", "description": "The object's plural label in the request's language."},
                "total": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": SEARCH_CAP,
                    "description": f"How many records of it match, counted up to {SEARCH_CAP}.",
                },
                "count_capped": {
                    "type": "boolean",
                    "description": (
                        f"More than `total` ({SEARCH_CAP}) records match; `records` are then the best "
                        f"among the first {SEARCH_CAP} matches the database read (in no particular order)."
                    ),
                },
                "more": {"type": "boolean", "description": "Whether more records match than `records` holds."},
                "records": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "title", "matched", "record"],
                        "properties": {
                            "id": {"type": "integer", "minimum": 1},
                            "title": {"type": "string", "description": "The record's title, formatted for people."},
                            "matched": {
                                "type": "array",
                                "description": "Fields beyond the title that hold the text, formatted for people.",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "field": {"type": "string"},
                                        "label": {"type": "string"},
                                        "value": {"type": "string"},
                                    },
                                },
                            },
                            "record": {"type": "object", "description": "The record, as GET /api/v1/<object>/<id>."},
                        },
                    },
                },
            },
        },
        "SearchResults": {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/SearchGroup"}},
                "meta": {
                    "type": "object",
                    "properties": {
                        "q": {"type": "string", "description": "The text searched (trimmed)."},
                        "total": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "The groups' totals added up (a lower bound when `count_capped`).",
                        },
                        "count_capped": {"type": "boolean", "description": "Some group's `count_capped` is true."},
                        "per_object": {"type": "integer"},
                        "searched": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    }


def paths() -> dict[str, Any]:
    """``/api/v1/search`` for the OpenAPI document."""
    return {
        "/api/v1/search": {
            "get": {
                "operationId": "search",
                "tags": ["meta"],
                "summary": "Search every object you may read",
                "description": (
                    "The text fields you may see (text, e-mail, phone, URL, autonumber) of every object you may "
                    "read; a phone number matches however it is typed (`138 0013 8000`). Per object the best "
                    "matches (a title equal to or starting with the text first, then the most recently changed) "
                    f"and how many match, counted up to {SEARCH_CAP} (past it `count_capped` is true and only "
                    f"the first {SEARCH_CAP} matches the database reads are ranked)."
                ),
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SEARCH_LENGTH},
                        "description": f"At least {MIN_SEARCH_LENGTH} characters (one Chinese character is enough).",
                    },
                    {
                        "name": "objects",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Comma-separated object names to search (default: every readable one).",
                    },
                    {
                        "name": "per_object",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_OBJECT, "default": PER_OBJECT},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The matches, grouped by object (objects without a match are left out).",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResults"}}},
                    },
                    **error_responses("401", "422", "429", "500"),
                },
            }
        }
    }
