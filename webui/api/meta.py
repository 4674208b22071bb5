"""``GET /api/v1/meta/objects``: the objects and fields the caller may see, from the config.

An object is listed when the caller's grant lets them read some of its records
(``read`` is not ``none``); a field when it is not hidden from them. Each field
says what a client needs to build a form: its type, label per language,
whether it is required or read-only for the caller, its picklist values, the
target of a lookup. The permission answers come from the engine's ``Principal``.
"""

from __future__ import annotations

from typing import Any

from engine.metadata.model import Config, FieldDef, Label, ObjectDef, Picklist, PicklistValue
from engine.runtime.security.permissions import Principal


def readable_objects(config: Config, principal: Principal) -> list[ObjectDef]:
    """The objects whose records the caller may read (some of)."""
    return [obj for name, obj in config.objects.items() if principal.grant(name).read != "none"]


def visible_fields(obj: ObjectDef, principal: Principal) -> list[FieldDef]:
    """The object's fields that are not hidden from the caller, in config order."""
    return [f for f in obj.fields.values() if principal.can_see(obj.name, f.name)]


def writable(obj: ObjectDef, field: FieldDef, principal: Principal) -> bool:
    """Whether the caller may give this field a value (not computed, hidden or read-only)."""
    return not field.is_computed and principal.can_change(obj.name, field.name)


def label_json(label: Label, languages: tuple[str, ...]) -> dict[str, str]:
    """A label in each configured language (plus any other language the config gives)."""
    texts = {language: label.get(language) for language in languages}
    texts.update({language: text for language, text in label.texts.items() if language})
    return texts


def describe_objects(config: Config, principal: Principal) -> list[dict[str, Any]]:
    """Every readable object with its visible fields, as JSON."""
    return [describe_object(config, obj, principal) for obj in readable_objects(config, principal)]


def describe_object(config: Config, obj: ObjectDef, principal: Principal) -> dict[str, Any]:
    """One object: labels, the caller's permissions, fields and pipeline."""
    languages = config.settings.languages
    grant = principal.grant(obj.name)
    described: dict[str, Any] = {
        "name": obj.name,
        "label": label_json(obj.label, languages),
        "plural_label": label_json(obj.plural_label, languages),
        "title": obj.title,
        "permissions": {
            "read": grant.read,
            "create": grant.create,
            "edit": grant.edit,
            "delete": grant.delete,
            "export": grant.export,
        },
        "fields": [describe_field(obj, f, principal, languages) for f in visible_fields(obj, principal)],
    }
    if obj.pipeline is not None and principal.can_see(obj.name, obj.pipeline.field):
        described["pipeline"] = {
            "field": obj.pipeline.field,
            "stages": _stages(obj.pipeline.stages, languages),
        }
        if obj.pipeline.variants:
            described["pipeline"]["by"] = obj.pipeline.by
            described["pipeline"]["pipelines"] = [
                {
                    "key": v.key,
                    "label": label_json(v.label, languages),
                    "when": list(v.when),
                    "stages": _stages(v.stages, languages),
                }
                for v in obj.pipeline.variants
            ]
    return described


def _stages(stages, languages: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        _drop_none(
            {
                "key": s.key,
                "label": label_json(s.label, languages),
                "probability": s.probability,
                "outcome": s.outcome,
                "requires": list(s.requires),
                "next": list(s.next) or None,
            }
        )
        for s in stages
    ]


def describe_field(obj: ObjectDef, field: FieldDef, principal: Principal, languages: tuple[str, ...]) -> dict[str, Any]:
    """One field as a client sees it."""
    return _drop_none(
        {
            "name": field.name,
            "type": field.type,
            "label": label_json(field.label, languages),
            "help": label_json(field.help, languages) if field.help else None,
            "required": field.required,
            "read_only": not writable(obj, field, principal),
            "unique": field.unique or None,
            "max_length": field.max_length,
            "min": field.min,
            "max": field.max,
            "scale": field.scale,
            "result": field.result,
            "object": field.target,
            "depends_on": field.depends_on,
            "values": picklist_json(field.picklist, languages) if field.picklist else None,
        }
    )


def picklist_json(picklist: Picklist, languages: tuple[str, ...]) -> list[dict[str, Any]]:
    """A picklist's values (with their children, for hierarchies)."""
    return [_value_json(value, languages) for value in picklist.values]


def _value_json(value: PicklistValue, languages: tuple[str, ...]) -> dict[str, Any]:
    return _drop_none(
        {
            "key": value.key,
            "label": label_json(value.label, languages),
            "parents": list(value.parents) or None,
            "inactive": value.inactive or None,
            "children": [_value_json(child, languages) for child in value.children] or None,
        }
    )


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}
