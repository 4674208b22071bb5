"""The JSON Schema of each field type's value, as the API returns it (``FieldType.schema``).

``webui.api.openapi`` puts these into ``/api/v1/openapi.json``; they are plain data, so
they live beside the field type registry and a new type brings its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.metadata.model import FieldDef

#: A decimal as the API writes it: a string, exact.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

Schema = dict[str, Any]


def string(field: FieldDef) -> Schema:
    """Any text."""
    return {"type": "string"}


def text(field: FieldDef) -> Schema:
    """Text up to the field's length."""
    length = field.max_length or field.value_kind.string_length
    return {"type": "string", **({"maxLength": length} if length else {})}


def email(field: FieldDef) -> Schema:
    """An e-mail address."""
    return {**text(field), "format": "email"}


def url(field: FieldDef) -> Schema:
    """A web address."""
    return {**text(field), "format": "uri"}


def integer(field: FieldDef) -> Schema:
    """A whole number within the field's bounds."""
    bounds = {"minimum": field.min, "maximum": field.max}
    return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}}


def decimal(field: FieldDef) -> Schema:
    """A decimal number, as a string."""
    return {
        "type": "string",
        "pattern": DECIMAL_PATTERN,
        "description": 'A decimal number as a string, exact (e.g. "1234.50").',
    }


def boolean(field: FieldDef) -> Schema:
    """Yes or no."""
    return {"type": "boolean"}


def date(field: FieldDef) -> Schema:
    """A date (ISO 8601)."""
    return {"type": "string", "format": "date"}


def datetime(field: FieldDef) -> Schema:
    """A moment (ISO 8601, UTC)."""
    return {"type": "string", "format": "date-time"}


def picklist(field: FieldDef) -> Schema:
    """One key of the field's picklist."""
    keys = [v.key for v in field.picklist.walk()] if field.picklist else []
    return {"type": "string", "enum": keys} if keys else {"type": "string"}


def choices(field: FieldDef) -> Schema:
    """A list of distinct picklist keys (or of any text without a picklist)."""
    return {"type": "array", "items": picklist(field) if field.picklist else {"type": "string"}, "uniqueItems": True}


def reference(field: FieldDef) -> Schema:
    """The id of a record of the lookup's object, or of a user."""
    target = f"a {field.target}" if field.target else "a user"
    return {"type": "integer", "minimum": 1, "description": f"The id of {target}."}


def computed(field: FieldDef) -> Schema:
    """A formula's value: the schema of its result type."""
    return field.value_kind.schema(field) if field.value_type != field.type else {}


def file(field: FieldDef) -> Schema:
    """A stored file's reference."""
    return {
        "type": "object",
        "required": ["key"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "content_type": {"type": "string"},
        },
    }


def json(field: FieldDef) -> Schema:
    """Any JSON value."""
    return {}
