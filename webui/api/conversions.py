"""``POST /api/v1/<object>/<id>/convert/<conversion>``: convert a record (S12).

The body: ``{"skip": ["opportunity"], "overrides": {"contact":
{"decision_role": "decision_maker"}}, "version": 3}`` — targets not to create
(optional ones only), values that replace or add to the mapping per target, and
the source's version (or ``If-Match``; required, 428 without) to guard against a
concurrent change.
Duplicate rules of the targets (issue 14 §2): ``"link": {"account": 12}`` links a
target to an existing record the caller may read instead of creating one, and
``"allow_duplicate": true`` (or a list of target names, or ``?allow_duplicate=true``)
creates targets although a ``warn`` rule matches them.
The answer is 201 with the source as it is now and what became of each target
(``created``, ``linked`` or ``skipped``, with the record). A target meeting a ``warn``
rule without a choice is 409 ``possible_duplicate`` with ``duplicates``: per target,
``create_allowed`` and its ``candidates`` (as ``POST /api/v1/<object>`` tells them).
Refusals and validation problems are 422 with ``fields`` keyed ``_record`` (not
convertible: ``already_converted``, ``condition_not_met``), ``skip``/``overrides``/
``link.<target>``/``allow_duplicate`` or ``<target>.<field>`` (``account.name``; a
``block`` rule's match too, with ``duplicates``); 403, 404 and 409 as on other routes.
Everything else is ``engine.runtime.workflow.conversion``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.metadata.model import Config
from engine.runtime.errors import FieldError, ValidationFailed
from engine.runtime.records.duplicates import Candidate
from engine.runtime.security.permissions import Principal
from engine.runtime.workflow import conversion as conversions
from webui.api.auth import current_username
from webui.api.errors import ApiError, error_response
from webui.api.params import allow_duplicate, expected_version, json_body
from webui.api.responses import error_responses
from webui.api.serialize import record_json
from webui.state import get_trellis

#: Keys a conversion request body may have.
BODY_KEYS = ("skip", "overrides", "version", "link", "allow_duplicate")


def result_json(result: conversions.ConversionResult) -> dict[str, Any]:
    """A conversion's outcome as JSON: the source and each target, in order."""
    return {
        "conversion": result.conversion.name,
        "source": record_json(result.source),
        "targets": {
            t.name: {
                "object": t.object,
                "outcome": t.outcome,
                "id": t.record.id if t.record is not None else None,
                "record": record_json(t.record) if t.record is not None else None,
            }
            for t in result.targets
        },
    }


def convert_record(object_name: str, record_id: str, conversion: str) -> Response:
    """Convert the record; 201 with the outcome, 422 with the problems per target and field."""
    body = json_body() if request.content_length else {}  # no body: convert as declared
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise _bad_body(unknown[0], f"Unknown key {unknown[0]!r}; a conversion takes {', '.join(BODY_KEYS)}.")
    skip, overrides = _skip(body.get("skip")), _overrides(body.get("overrides"))
    link, allowed = _link(body.get("link")), _allow_duplicate(body.get("allow_duplicate"))
    allowed = True if allow_duplicate(request.args) else allowed
    version = expected_version(body, required=True)
    with get_trellis().session(user=current_username(), channel="api") as session:
        session.object(object_name)  # an unknown object is 404 before the conversion is looked up
        declared = conversions.conversion_of(session.config, conversion, object_name)
        try:
            result = session.convert(
                declared.name,
                record_id,
                skip=skip,
                overrides=overrides,
                version=version,
                link=link,
                allow_duplicate=allowed,
            )
        except conversions.ConversionDuplicates as exc:
            return error_response(
                409, exc.code, str(exc), _fields(exc.errors), extra={"duplicates": duplicates_json(exc.duplicates)}
            )
        except ValidationFailed as exc:
            count = sum(len(problems) for problems in exc.errors.values())
            label = session.object(object_name).label.get()
            found = getattr(exc, "duplicates", None)
            return error_response(
                422,
                exc.code,
                f"The {label} was not converted: {count} problem{'s' if count != 1 else ''}.",
                _fields(exc.errors),
                extra={"duplicates": duplicates_json(found)} if found else None,
            )
    response = jsonify(result_json(result))
    response.status_code = 201
    response.headers["ETag"] = f'"{result.source.version}"'
    return response


def duplicates_json(duplicates: Mapping[str, tuple[Candidate, ...]]) -> dict[str, Any]:
    """Per target: whether it may be created anyway (only ``warn`` rules matched) and its
    likely duplicates, as the caller may know them."""
    return {
        name: {"create_allowed": conversions.create_allowed(found), "candidates": [c.as_dict() for c in found]}
        for name, found in duplicates.items()
    }


def _fields(errors: Mapping[str, list[FieldError]]) -> dict[str, list[dict[str, str]]]:
    return {name: [{"code": e.code, "message": e.message} for e in problems] for name, problems in errors.items()}


def _link(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(value, int) and not isinstance(value, bool) for value in raw.values()
    ):
        raise _bad_body("link", 'link maps target names to the id of the record to link, e.g. {"account": 12}.')
    return raw


def _allow_duplicate(raw: Any) -> bool | list[str]:
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return raw
    raise _bad_body("allow_duplicate", 'allow_duplicate is true, false or a list of target names, e.g. ["account"].')


def _skip(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise _bad_body("skip", 'skip is a list of target names, e.g. ["opportunity"].')
    return raw


def _overrides(raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(values, dict) for values in raw.values()):
        raise _bad_body(
            "overrides",
            "overrides maps each target name to an object of field values, "
            'e.g. {"contact": {"decision_role": "decision_maker"}}.',
        )
    return raw


def _bad_body(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", message, {name: [{"code": "invalid", "message": message}]})


def register(blueprint: Blueprint) -> None:
    """Add the conversion route to the API blueprint."""
    blueprint.add_url_rule(
        "/<object_name>/<record_id>/convert/<conversion>", "convert", convert_record, methods=["POST"]
    )


# --- OpenAPI ---------------------------------------------------------------------------------------------
def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def schemas() -> dict[str, Any]:
    """The shared schemas of conversion requests and answers."""
    return {
        "ConversionRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "skip": {
                    "type": "array",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                    "description": "Optional targets not to create.",
                },
                "overrides": {
                    "type": "object",
                    "additionalProperties": {"type": "object"},
                    "description": "Per target, field values that replace or add to the mapping.",
                },
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "The source's version you last read (or send If-Match); "
                    "without either the answer is 428.",
                },
                "link": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 1},
                    "description": "Per target, the id of an existing record of its object to link instead of "
                    "creating one (typically one of its `candidates`); it must be readable by you and not "
                    'archived, e.g. {"account": 12}.',
                },
                "allow_duplicate": {
                    "oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "true (every target) or target names: create although a `warn` duplicate "
                    "rule matches (a `block` rule still refuses; link instead).",
                },
            },
        },
        "ConversionDuplicates": {
            "type": "object",
            "required": ["create_allowed", "candidates"],
            "description": "A target's likely duplicates (issue 14): link one of them, or create anyway "
            "when `create_allowed` (only `warn` rules matched).",
            "properties": {
                "create_allowed": {"type": "boolean"},
                "candidates": {"type": "array", "items": _ref("DuplicateCandidate")},
            },
        },
        "ConvertedTarget": {
            "type": "object",
            "required": ["object", "outcome", "id", "record"],
            "properties": {
                "object": {"type": "string"},
                "outcome": {"type": "string", "enum": [conversions.CREATED, conversions.LINKED, conversions.SKIPPED]},
                "id": {"type": ["integer", "null"]},
                "record": {"type": ["object", "null"], "description": "The record created or linked."},
            },
        },
        "ConversionResult": {
            "type": "object",
            "required": ["conversion", "source", "targets"],
            "properties": {
                "conversion": {"type": "string"},
                "source": {"type": "object", "description": "The converted record, marked and linked."},
                "targets": {
                    "type": "object",
                    "additionalProperties": _ref("ConvertedTarget"),
                    "description": "What became of each target, in order.",
                },
            },
        },
    }


def paths(config: Config, principal: Principal) -> dict[str, Any]:
    """``/api/v1/<object>/{id}/convert/<conversion>`` for each conversion of an object the caller may edit."""
    out = {}
    for declared in config.conversions.values():
        if principal.grant(declared.source).edit == "none":
            continue
        targets = ", ".join(f"{t.name}{' (optional)' if t.optional else ''}" for t in declared.targets)
        out[f"/api/v1/{declared.source}/{{id}}/convert/{declared.name}"] = {
            "post": {
                "operationId": f"convert_{declared.source}_{declared.name}",
                "tags": [declared.source],
                "summary": declared.label.get(),
                "description": (
                    f"Converts the {declared.source} into: {targets}"
                    + (f", when {declared.when.source}" if declared.when else "")
                    + "."
                ),
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "allow_duplicate",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean"},
                        "description": "true: create every target although a `warn` duplicate rule matches "
                        "(as `allow_duplicate: true` in the body).",
                    },
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("ConversionRequest")}},
                },
                "responses": {
                    "201": {
                        "description": "Converted.",
                        "content": {"application/json": {"schema": _ref("ConversionResult")}},
                    },
                    "409": {
                        "description": "The source changed since `version` (`conflict`), or targets meet `warn` "
                        "duplicate rules (`possible_duplicate`, with `duplicates`: per target its candidates); "
                        "send `link` or `allow_duplicate` for them. Nothing was written.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    **error_responses("400", "401", "403", "404", "415", "422", "428", "429", "500"),
                },
            }
        }
    return out
