"""``GET /api/v1/openapi.json``: an OpenAPI 3.1 description generated from the config.

It describes the API *as the caller sees it*: the objects they may read, the
fields not hidden from them, and as writable only what they may change. So
the document needs a token like every other route; it never shows a hidden
field or an object the caller cannot read (a field's name can be a secret too).

Each field type brings the JSON Schema of its values (``FieldType.schema``, in
``engine/metadata/fieldschemas.py``). Per object there are four
schemas: ``<object>`` (a record as returned), ``<object>_create`` (the body of
a POST, with the required fields), ``<object>_update`` (a PATCH: any writable
field plus ``version``) and ``<object>_list`` (a page of records).
"""

from __future__ import annotations

from typing import Any

from engine.metadata.campaigns import CAMPAIGN_OBJECT
from engine.metadata.model import Config, FieldDef, ObjectDef
from engine.runtime.records.listparams import DEFAULT_PER_PAGE, RESERVED
from engine.runtime.records.query import COUNT_LIMIT, MAX_PER_PAGE, OPERATORS
from engine.runtime.security.permissions import Principal
from webui.api import (
    approvals,
    bulk,
    campaigns,
    conversions,
    dashboards,
    emails,
    imports,
    merges,
    notifications,
    reports,
    retention,
    search,
    timeline,
)
from webui.api.meta import readable_objects, visible_fields, writable
from webui.api.responses import ERROR_RESPONSES

OPENAPI_VERSION = "3.1.0"

Schema = dict[str, Any]


def field_schema(field: FieldDef, for_input: bool = False) -> Schema:
    """The JSON Schema of a field's value (nullable); decimals also accept numbers on input."""
    schema = dict(field.value_kind.schema(field))
    if for_input and field.value_kind.storage == "decimal":
        schema = {"type": ["string", "number"], "description": "A decimal number; send a string to keep it exact."}
    if field.label.get():
        schema["title"] = field.label.get()
    if field.is_computed:
        schema["readOnly"] = True
    return _nullable(schema)


def _nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind is None:
        return schema
    kinds = kind if isinstance(kind, list) else [kind]
    result = {**schema, "type": [*kinds, "null"]}
    if "enum" in schema:
        result["enum"] = [*schema["enum"], None]
    return result


_TIMESTAMP = {"type": "string", "format": "date-time"}
#: A write held for approval (``webui.api.approvals``).
_PENDING = {
    "description": "The change needs approval and waits for it; nothing changed yet.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["approval"],
                "properties": {"approval": {"$ref": "#/components/schemas/Approval"}, "data": {"type": "object"}},
            }
        }
    },
    "headers": {"Location": {"description": "The approval request's URL.", "schema": {"type": "string"}}},
}
_ID = {"type": "integer", "minimum": 1}


def _system_properties(obj: ObjectDef) -> dict[str, Schema]:
    properties = {
        "id": {**_ID, "readOnly": True},
        "version": {
            "type": "integer",
            "minimum": 1,
            "readOnly": True,
            "description": "Send it back with PATCH (or as If-Match) to detect concurrent edits.",
        },
        "created_at": {**_TIMESTAMP, "readOnly": True},
        "updated_at": {**_TIMESTAMP, "readOnly": True},
        "created_by": {"type": ["integer", "null"], "readOnly": True},
        "owner_id": {"type": ["integer", "null"], "description": "The user who owns the record."},
        "archived_at": {"type": ["string", "null"], "format": "date-time", "readOnly": True},
    }
    if obj.pipeline:
        properties["stage_entered_at"] = {"type": ["string", "null"], "format": "date-time", "readOnly": True}
    if obj.timeline:
        properties["last_activity_at"] = {
            "type": ["string", "null"],
            "format": "date-time",
            "readOnly": True,
            "description": "When the latest activity attached to the record happened.",
        }
    return properties


# --- schemas per object ------------------------------------------------------------------
def object_schemas(obj: ObjectDef, principal: Principal) -> dict[str, Schema]:
    """The four schemas of one object, as the caller sees it."""
    fields = visible_fields(obj, principal)
    inputs = [f for f in fields if writable(obj, f, principal)]
    input_properties = {f.name: field_schema(f, for_input=True) for f in inputs}
    input_properties["owner_id"] = {
        "type": ["integer", "null"],
        "minimum": 1,
        "description": "Give the record to this user (default: you).",
    }
    if obj.pipeline:
        input_properties["stage_reason"] = {
            "type": ["string", "null"],
            "writeOnly": True,
            "maxLength": 2000,
            "description": "Why the stage moves past others (a skip) or reopens.",
        }
    required = [f.name for f in inputs if f.required and f.default is None and f.default_expression is None]
    label = obj.label.get()
    return {
        obj.name: {
            "type": "object",
            "title": label,
            "description": obj.description or f"A {label} record.",
            "required": ["id", "version", "created_at", "updated_at"],
            "properties": {**_system_properties(obj), **{f.name: field_schema(f) for f in fields}},
        },
        f"{obj.name}_create": {
            "type": "object",
            "title": f"New {label}",
            "additionalProperties": False,
            "properties": input_properties,
            **({"required": required} if required else {}),
        },
        f"{obj.name}_update": {
            "type": "object",
            "title": f"Changes to a {label}",
            "additionalProperties": False,
            "properties": {
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "The version you last read (or send If-Match).",
                },
                **input_properties,
            },
        },
        f"{obj.name}_list": {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {"data": {"type": "array", "items": _ref(obj.name)}, "meta": _ref("PageMeta")},
        },
    }


def _ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


# --- operations ---------------------------------------------------------------------------
def _responses(*statuses: str, **success: Schema) -> dict[str, Any]:
    return {**success, **{status: _ref(ERROR_RESPONSES[status][0], "responses") for status in statuses}}


def _json(schema: Schema, description: str, headers: dict[str, Any] | None = None) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


_ETAG_HEADER = {"ETag": {"description": "The record's version in quotes, for If-Match.", "schema": {"type": "string"}}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": 'The version you last read, e.g. "3" (or * to overwrite any version).',
}
_ALLOW_DUPLICATE = {
    "name": "allow_duplicate",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean"},
    "description": "true: write although a `warn` duplicate rule matches (else 409 possible_duplicate).",
}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": _ID, "description": "The record's id."}


def _list_parameters(obj: ObjectDef, principal: Principal) -> list[Schema]:
    operators = ", ".join(OPERATORS)
    parameters: list[Schema] = [
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Search the text fields."},
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Comma-separated fields; a leading - sorts descending, e.g. -created_at,name.",
        },
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
        {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
        },
        {
            "name": "owner",
            "in": "query",
            "schema": {"type": "string"},
            "description": "me, team (anyone in your team, you included), or a user id.",
        },
    ]
    for field in visible_fields(obj, principal):
        if field.name in RESERVED or field.encrypted or field.value_kind.document:
            continue
        parameters.append(
            {
                "name": field.name,
                "in": "query",
                "schema": {"type": "string"},
                "description": f"Equal to this value; other operators as {field.name}__<op> ({operators}).",
            }
        )
    return parameters


def object_paths(obj: ObjectDef, principal: Principal) -> dict[str, Any]:
    """The two paths of one object and their operations."""
    label, plural, name = obj.label.get(), obj.plural_label.get(), obj.name
    body = {"required": True, "content": {"application/json": {"schema": _ref(f"{name}_create")}}}
    patch = {"required": True, "content": {"application/json": {"schema": _ref(f"{name}_update")}}}
    return {
        f"/api/v1/{name}": {
            "get": {
                "operationId": f"list_{name}",
                "tags": [name],
                "summary": f"List {plural}",
                "parameters": _list_parameters(obj, principal),
                "responses": _responses(
                    "400", "401", "404", "429", "500", **{"200": _json(_ref(f"{name}_list"), f"A page of {plural}.")}
                ),
            },
            "post": {
                "operationId": f"create_{name}",
                "tags": [name],
                "summary": f"Create a {label}",
                "parameters": [_ALLOW_DUPLICATE],
                "requestBody": body,
                "responses": _responses(
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "413",
                    "415",
                    "422",
                    "429",
                    "500",
                    **{
                        "201": _json(
                            _ref(name),
                            f"The new {label}.",
                            {
                                **_ETAG_HEADER,
                                "Location": {"description": "The new record's URL.", "schema": {"type": "string"}},
                            },
                        )
                    },
                ),
            },
        },
        f"/api/v1/{name}/{{id}}": {
            "parameters": [_ID_PARAM],
            "get": {
                "operationId": f"get_{name}",
                "tags": [name],
                "summary": f"Read a {label}",
                "responses": _responses(
                    "401", "404", "429", "500", **{"200": _json(_ref(name), f"The {label}.", _ETAG_HEADER)}
                ),
            },
            "patch": {
                "operationId": f"update_{name}",
                "tags": [name],
                "summary": f"Change a {label}",
                "parameters": [_IF_MATCH, _ALLOW_DUPLICATE],
                "requestBody": patch,
                "responses": _responses(
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                    "500",
                    **{"200": _json(_ref(name), f"The changed {label}.", _ETAG_HEADER), "202": _PENDING},
                ),
            },
            "delete": {
                "operationId": f"delete_{name}",
                "tags": [name],
                "summary": f"Delete a {label}",
                "parameters": [_IF_MATCH],
                "responses": _responses(
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                    "429",
                    "500",
                    **{"204": {"description": "Deleted."}, "202": _PENDING},
                ),
            },
        },
    }


# --- shared components ----------------------------------------------------------------------
#: Error responses: status → (component name, description).

_ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "Stable, e.g. validation_failed, conflict, not_found."},
                "message": {"type": "string", "description": "For people."},
                "request_id": {
                    "type": "string",
                    "description": "This request's id, also in the X-Request-ID header and the server's log.",
                },
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": _ref("FieldError")},
                    "description": "Problems per field (`_record` for the record as a whole).",
                },
                "candidates": {
                    "type": "array",
                    "items": _ref("DuplicateCandidate"),
                    "description": "possible_duplicate (409) and a block rule's 422: the likely duplicates.",
                },
                "duplicates": {
                    "type": "object",
                    "additionalProperties": _ref("ConversionDuplicates"),
                    "description": "A conversion's possible_duplicate (409) or 422: per target, its likely duplicates.",
                },
            },
        }
    },
}

_META_SCHEMAS: dict[str, Schema] = {
    "Error": _ERROR_SCHEMA,
    "DuplicateCandidate": {
        "type": "object",
        "required": ["rule", "action", "id", "title", "owner", "score", "matched"],
        "description": "A likely duplicate; id and title are null for a record the caller may not read.",
        "properties": {
            "rule": {"type": "string"},
            "action": {"type": "string", "enum": ["warn", "block"]},
            "id": {"type": ["integer", "null"]},
            "row": {
                "type": "integer",
                "minimum": 0,
                "description": "Bulk requests: the index of the earlier record of the same request it repeats "
                "(then id is null for a new record).",
            },
            "title": {"type": ["string", "null"]},
            "owner": {"type": ["string", "null"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "matched": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": "string"},
                        "label": {"type": "string"},
                        "score": {"type": "number"},
                    },
                },
            },
        },
    },
    "FieldError": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "PageMeta": {
        "type": "object",
        "required": ["page", "per_page", "total", "pages"],
        "properties": {
            **{name: {"type": "integer", "minimum": 0} for name in ("page", "per_page", "total", "pages")},
            "total_exact": {
                "type": "boolean",
                "const": False,
                "description": f"Present (false) when more than {COUNT_LIMIT:,} records match: "
                "the count stopped there, so total and pages are lower bounds "
                "(more than total records match).",
            },
            "has_next": {"type": "boolean", "description": "With total_exact: whether a page follows this one."},
        },
    },
    "ObjectMeta": {
        "type": "object",
        "required": ["name", "label", "fields"],
        "properties": {
            "name": {"type": "string"},
            "label": {"type": "object"},
            "plural_label": {"type": "object"},
            "permissions": {"type": "object"},
            "fields": {"type": "array", "items": _ref("FieldMeta")},
            "pipeline": {"type": "object"},
        },
    },
    "FieldMeta": {
        "type": "object",
        "required": ["name", "type", "label", "required", "read_only"],
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string"},
            "label": {"type": "object", "additionalProperties": {"type": "string"}},
            "required": {"type": "boolean"},
            "read_only": {"type": "boolean"},
            "object": {"type": "string", "description": "A lookup's target object."},
            "values": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def _error_responses() -> dict[str, Any]:
    responses = {}
    for status, (name, description) in ERROR_RESPONSES.items():
        response = _json(_ref("Error"), description)
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == "429":
            response["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
        responses[name] = response
    return responses


def _fixed_paths() -> dict[str, Any]:
    return {
        "/api/v1/meta/objects": {
            "get": {
                "operationId": "meta_objects",
                "tags": ["meta"],
                "summary": "Objects and fields you may see",
                "responses": _responses(
                    "401",
                    "429",
                    "500",
                    **{
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": _ref("ObjectMeta")}},
                            },
                            "The objects.",
                        )
                    },
                ),
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This document, for you",
                "responses": _responses("401", "429", "500", **{"200": _json({"type": "object"}, "OpenAPI 3.1.")}),
            }
        },
    }


def build_document(config: Config, principal: Principal, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API as ``principal`` may use it."""
    objects = readable_objects(config, principal)
    schemas: dict[str, Schema] = dict(_META_SCHEMAS)
    paths: dict[str, Any] = _fixed_paths()
    for obj in objects:
        schemas.update(object_schemas(obj, principal))
        paths.update(object_paths(obj, principal))
    schemas.update(timeline.schemas())
    paths.update(timeline.paths(config, principal, objects))
    schemas.update(emails.schemas())
    paths.update(emails.paths(config, principal, objects))
    schemas.update(approvals.schemas())
    paths.update(approvals.paths())
    schemas.update(retention.schemas())
    paths.update(retention.paths())
    schemas.update(conversions.schemas())
    paths.update(conversions.paths(config, principal))
    schemas.update(merges.schemas())
    paths.update(merges.paths(config, principal))
    schemas.update(bulk.schemas())
    paths.update(bulk.paths(objects, principal))
    schemas.update(notifications.schemas())
    paths.update(notifications.paths())
    schemas.update(imports.schemas())
    paths.update(imports.paths())
    schemas.update(reports.schemas())
    paths.update(reports.paths())
    schemas.update(dashboards.schemas())
    paths.update(dashboards.paths())
    schemas.update(search.schemas())
    paths.update(search.paths())
    schemas.update(campaigns.schemas())
    paths.update(campaigns.paths(any(obj.name == CAMPAIGN_OBJECT for obj in objects)))
    company = config.settings.company
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{company} CRM API",
            "version": f"1+{config.content_hash[:12]}",
            "description": (
                "The Trellis REST API, generated from the CRM's config for the calling user: "
                "only the objects and fields you may see are described. Errors are "
                '`{"error": {"code", "message", "fields"}}`.'
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "meta"}, *({"name": obj.name, "description": obj.plural_label.get()} for obj in objects)],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `trellis token create` (trl_…).",
                }
            },
            "schemas": schemas,
            "responses": _error_responses(),
        },
    }
