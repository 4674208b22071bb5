"""``/api/v1/reports``: the reports the caller may open, and one report's figures as JSON.

- ``GET /api/v1/reports``: name, object, label, description, chart of each report the caller
  may open (the read grant on its object and, when it names roles, one of them);
- ``GET /api/v1/reports/<name>`` (``period``, ``owner``, ``team``: the overrides of
  ``engine.runtime.reports.Overrides``): the levels, the measures still shown, one row per
  group (each key raw and as people read it; each figure raw — money as an exact decimal
  string, a rate as a fraction —, formatted, and the list ``filter`` that reproduces it:
  ``GET /api/v1/<object>?<filter>`` lists those records), the total, and which measures were
  left out (hidden fields) with a note in the caller's language. A report the caller may not
  open is 404, as an unknown one; one reading a field hidden from them is 400 ``report_refused``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.metadata.filters import PERIODS
from engine.runtime import reports
from engine.runtime.messages import current_language
from engine.runtime.reports.result import ReportResult, Row
from webui.api.auth import current_username
from webui.api.responses import error_responses
from webui.api.serialize import json_value
from webui.state import get_trellis


def list_reports() -> Response:
    """The reports the caller may open."""
    language = current_language()
    with get_trellis().read_session(user=current_username(), channel="api") as session:
        found = reports.available(session)
    return jsonify(
        {
            "data": [
                {
                    "name": r.name,
                    "object": r.object,
                    "kind": r.kind,
                    "label": r.label.get(language),
                    "description": r.description.get(language) if r.description else None,
                    "chart": r.chart,
                }
                for r in found
            ]
        }
    )


def show_report(name: str) -> Response:
    """One report's figures for the caller."""
    overrides = reports.Overrides.parse(
        request.args.get("period", ""), request.args.get("owner", ""), request.args.get("team", "")
    )
    with get_trellis().read_session(user=current_username(), channel="api") as session:
        result = reports.run(session, name, overrides, current_language())
    return jsonify({"data": result_json(result)})


def result_json(result: ReportResult) -> dict[str, Any]:
    """A report's result in its JSON form."""
    return {
        "name": result.name,
        "object": result.report.object,
        "label": result.title,
        "chart": result.report.chart,
        "levels": [{"key": c.key, "label": c.label} for c in result.levels],
        "measures": [{"key": c.key, "label": c.label, "kind": c.kind} for c in result.measures],
        "nested": result.nested,
        "rows": [_row(row) for row in result.rows],
        "total": _row(result.total)["figures"],
        "more": result.more,
        "filter": dict(result.params),
        "left_out": list(result.left_out),
        "notes": list(result.notes),
    }


def _row(row: Row) -> dict[str, Any]:
    return {
        "subtotal": row.subtotal,
        "keys": [{"value": json_value(k.raw), "label": k.label} for k in row.keys],
        "figures": {
            f.measure: {"value": json_value(f.value), "text": f.text, "filter": _filter(f.filter)} for f in row.figures
        },
    }


def _filter(params: Mapping[str, str] | None) -> dict[str, str] | None:
    """A figure's list filter; None (null) when no list can show its records."""
    return None if params is None else dict(params)


def register(blueprint: Blueprint) -> None:
    """Add the report routes to the API blueprint."""
    blueprint.add_url_rule("/reports", "reports", list_reports, methods=["GET"])
    blueprint.add_url_rule("/reports/<name>", "report", show_report, methods=["GET"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The schemas of the report list and of one report's figures."""
    figure = {
        "type": "object",
        "required": ["value", "text", "filter"],
        "properties": {
            "value": {
                "type": ["integer", "string", "null"],
                "description": "Raw: a count, an exact decimal as a string, a rate as a fraction 0..1, a date.",
            },
            "text": {"type": "string", "description": "Formatted in the caller's language."},
            "filter": {
                "type": ["object", "null"],
                "additionalProperties": {"type": "string"},
                "description": "The list parameters of the records the figure counts (GET /api/v1/<object>); "
                "null when no list filter can select them (a funnel's moves in a period).",
            },
        },
    }
    figures = {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/ReportFigure"}}
    column = {
        "type": "object",
        "required": ["key", "label"],
        "properties": {"key": {"type": "string"}, "label": {"type": "string"}, "kind": {"type": "string"}},
    }
    return {
        "ReportFigure": figure,
        "ReportInfo": {
            "type": "object",
            "required": ["name", "object", "kind", "label", "chart"],
            "properties": {
                "name": {"type": "string"},
                "object": {"type": "string"},
                "kind": {"type": "string"},
                "label": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "chart": {"type": "string"},
            },
        },
        "Report": {
            "type": "object",
            "required": ["name", "object", "label", "levels", "measures", "rows", "total", "left_out", "notes"],
            "properties": {
                "name": {"type": "string"},
                "object": {"type": "string"},
                "label": {"type": "string"},
                "chart": {"type": "string"},
                "levels": {"type": "array", "items": column},
                "measures": {"type": "array", "items": column},
                "nested": {
                    "type": "boolean",
                    "description": "Rows nest the second level in the first, each closed by a subtotal row.",
                },
                "rows": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["subtotal", "keys", "figures"],
                        "properties": {
                            "subtotal": {
                                "type": "boolean",
                                "description": "A subtotal of the rows before it with its first key (a team).",
                            },
                            "keys": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"value": {}, "label": {"type": "string"}},
                                },
                            },
                            "figures": figures,
                        },
                    },
                },
                "total": figures,
                "more": {"type": "boolean", "description": "Groups past the report's limit were left out."},
                "filter": {"type": "object", "additionalProperties": {"type": "string"}},
                "left_out": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Measures left out: they read fields hidden from you.",
                },
                "notes": {"type": "array", "items": {"type": "string"}},
            },
        },
    }


def paths() -> dict[str, Any]:
    """The report routes for the OpenAPI document."""
    errors = error_responses
    overrides = [
        {
            "name": "period",
            "in": "query",
            "schema": {"type": "string", "enum": list(PERIODS)},
            "description": "Replace the report's period on its date field.",
        },
        {
            "name": "owner",
            "in": "query",
            "schema": {"type": "string", "pattern": "^(me|team|[0-9]{1,18})$"},
            "description": "me, team or a user id: only records they own (inside your scope).",
        },
        {
            "name": "team",
            "in": "query",
            "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "description": "A team id: only records owned by its members (inside your scope).",
        },
    ]
    return {
        "/api/v1/reports": {
            "get": {
                "operationId": "list_reports",
                "tags": ["reports"],
                "summary": "The reports you may open",
                "responses": {
                    "200": {
                        "description": "The reports.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["data"],
                                    "properties": {
                                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/ReportInfo"}}
                                    },
                                }
                            }
                        },
                    },
                    **errors("401", "429", "500"),
                },
            }
        },
        "/api/v1/reports/{name}": {
            "get": {
                "operationId": "show_report",
                "tags": ["reports"],
                "summary": "A report's figures, counted over the records you may read",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    *overrides,
                ],
                "responses": {
                    "200": {
                        "description": "The figures.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["data"],
                                    "properties": {"data": {"$ref": "#/components/schemas/Report"}},
                                }
                            }
                        },
                    },
                    **errors("400", "401", "404", "429", "500"),
                },
            }
        },
    }
