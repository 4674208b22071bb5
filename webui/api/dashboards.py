"""``/api/v1/dashboards``: the dashboards the caller may open, and one dashboard's figures as JSON.

- ``GET /api/v1/dashboards``: name, label, description, roles, whether it is the default and
  whether it is the caller's home, of each dashboard the caller may open;
- ``GET /api/v1/dashboards/<name>`` (``period``, ``team``, ``owner``: the filters the dashboard
  offers; absent, its defaults): the filters applied and every widget the caller may see, in the
  grid's order — its kind, title, width, chart; a report, KPI or pipeline widget's figures in the
  form of ``GET /api/v1/reports/<name>`` (a KPI also the previous period's total), or why the
  report is refused; a built-in's items (the record when the caller may read it) and counts.
  A dashboard the caller may not open is 404, as an unknown one; a bad filter value is 400.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.metadata.filters import PERIODS
from engine.runtime import dashboards
from engine.runtime.messages import current_language
from webui.api.auth import current_username
from webui.api.reports import result_json
from webui.api.responses import error_responses
from webui.api.serialize import json_value
from webui.state import get_trellis


def list_dashboards() -> Response:
    """The dashboards the caller may open."""
    language = current_language()
    with get_trellis().read_session(user=current_username(), channel="api") as session:
        found = dashboards.available(session)
        home = dashboards.home_for(session.config, session.principal)
    return jsonify(
        {
            "data": [
                {
                    "name": d.name,
                    "label": d.label.get(language),
                    "description": d.description.get(language) if d.description else None,
                    "roles": list(d.roles),
                    "default": d.default,
                    "home": d is home,
                }
                for d in found
            ]
        }
    )


def show_dashboard(name: str) -> Response:
    """One dashboard's widgets for the caller."""
    language = current_language()
    asked = {key: request.args.get(key) for key in ("period", "team", "owner")}
    with get_trellis().read_session(user=current_username(), channel="api") as session:
        result = dashboards.run_dashboard(session, name, asked, language)
    return jsonify(
        {
            "data": {
                "name": result.name,
                "label": result.title,
                "filters": dict(result.filters),
                "widgets": [_widget(w) for w in result.widgets],
            }
        }
    )


def _widget(w: dashboards.WidgetResult) -> dict[str, Any]:
    previous = None
    if w.previous is not None:
        previous = {f.measure: {"value": json_value(f.value), "text": f.text} for f in w.previous.total.figures}
    return {
        "kind": w.kind,
        "title": w.title,
        "width": w.widget.width,
        "chart": w.chart if w.report is not None or w.refused else None,
        "report": result_json(w.report) if w.report is not None else None,
        "previous": previous,
        "refused": w.refused,
        "items": [
            {
                "title": i.title,
                "object": i.object,
                "id": i.record_id,
                "detail": i.detail,
                "when": json_value(i.when),
                "flag": i.flag or None,
            }
            for i in w.items
        ],
        "counts": dict(w.counts),
    }


def register(blueprint: Blueprint) -> None:
    """Add the dashboard routes to the API blueprint."""
    blueprint.add_url_rule("/dashboards", "dashboards", list_dashboards, methods=["GET"])
    blueprint.add_url_rule("/dashboards/<name>", "dashboard", show_dashboard, methods=["GET"])


# --- OpenAPI ---------------------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """The schemas of the dashboard list and of one dashboard's widgets."""
    return {
        "DashboardInfo": {
            "type": "object",
            "required": ["name", "label", "roles", "default", "home"],
            "properties": {
                "name": {"type": "string"},
                "label": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "roles": {"type": "array", "items": {"type": "string"}},
                "default": {"type": "boolean", "description": "The home of users whose roles have none."},
                "home": {"type": "boolean", "description": "Your home dashboard."},
            },
        },
        "DashboardWidget": {
            "type": "object",
            "required": ["kind", "title", "width", "items", "counts"],
            "properties": {
                "kind": {
                    "type": "string",
                    "description": "report, kpi, my_tasks, approvals, my_pipeline, recent_records, notifications.",
                },
                "title": {"type": "string"},
                "width": {"type": "integer", "minimum": 1, "maximum": 12, "description": "Columns of 12."},
                "chart": {"type": ["string", "null"]},
                "report": {
                    "oneOf": [{"$ref": "#/components/schemas/Report"}, {"type": "null"}],
                    "description": "The figures of a report, KPI or pipeline widget, as GET /api/v1/reports/{name}.",
                },
                "previous": {
                    "type": ["object", "null"],
                    "description": "A KPI's totals over the period before (this quarter: the last).",
                },
                "refused": {
                    "type": ["string", "null"],
                    "description": "Why the report cannot be shown to you (it reads a field hidden from you).",
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string"},
                            "object": {"type": ["string", "null"]},
                            "id": {"type": ["integer", "null"]},
                            "detail": {"type": "string"},
                            "when": {"type": ["string", "null"]},
                            "flag": {"type": ["string", "null"]},
                        },
                    },
                },
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "Dashboard": {
            "type": "object",
            "required": ["name", "label", "filters", "widgets"],
            "properties": {
                "name": {"type": "string"},
                "label": {"type": "string"},
                "filters": {"type": "object", "additionalProperties": {"type": "string"}},
                "widgets": {"type": "array", "items": {"$ref": "#/components/schemas/DashboardWidget"}},
            },
        },
    }


def paths() -> dict[str, Any]:
    """The dashboard routes for the OpenAPI document."""
    errors = error_responses
    filters = [
        {
            "name": "period",
            "in": "query",
            "schema": {"type": "string", "enum": ["", *PERIODS]},
            "description": "The period of every report (empty: as each report says; absent: the dashboard's default).",
        },
        {
            "name": "team",
            "in": "query",
            "schema": {"type": "string", "pattern": "^([0-9]{1,18})?$"},
            "description": "A team id: only records owned by its members (inside your scope).",
        },
        {
            "name": "owner",
            "in": "query",
            "schema": {"type": "string", "pattern": "^(me|team|[0-9]{1,18})?$"},
            "description": "me, team or a user id: only records they own (inside your scope).",
        },
    ]

    def answer(schema: dict[str, Any]) -> dict[str, Any]:
        body = {"type": "object", "required": ["data"], "properties": {"data": schema}}
        return {"content": {"application/json": {"schema": body}}}

    return {
        "/api/v1/dashboards": {
            "get": {
                "operationId": "list_dashboards",
                "tags": ["dashboards"],
                "summary": "The dashboards you may open",
                "responses": {
                    "200": {
                        "description": "The dashboards.",
                        **answer({"type": "array", "items": {"$ref": "#/components/schemas/DashboardInfo"}}),
                    },
                    **errors("401", "429", "500"),
                },
            }
        },
        "/api/v1/dashboards/{name}": {
            "get": {
                "operationId": "show_dashboard",
                "tags": ["dashboards"],
                "summary": "A dashboard's widgets, computed over the records you may read",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    *filters,
                ],
                "responses": {
                    "200": {"description": "The widgets.", **answer({"$ref": "#/components/schemas/Dashboard"})},
                    **errors("400", "401", "404", "429", "500"),
                },
            }
        },
    }
