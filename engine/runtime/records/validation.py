"""The database-free steps of the write path: coerce → defaults → formulas →
validate (required, dependent picklists, inactive values, rules).

Each step works on a plain ``dict`` of field values and records problems in an
``Errors`` collector, so that every problem of a write is reported at once.
Checks that need the database (lookup targets, uniqueness, autonumbers) live in
``engine.runtime.records.session``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from engine.metadata.expressions import Clock, ExpressionEvalError, ExpressionLimitError
from engine.metadata.fieldtypes import MAX_INTEGER, FieldValueError, coerce_value
from engine.metadata.model import SYSTEM_COLUMNS, FieldDef, ObjectDef, Settings
from engine.runtime.errors import RECORD_ERRORS, FieldError
from engine.runtime.messages import current_language, message

#: System columns a caller may set through the write path.
WRITABLE_SYSTEM_FIELDS = frozenset({"owner_id"})


class Errors(dict[str, list[FieldError]]):
    """Field name → problems, collected across all steps of one write."""

    def add(
        self, field: str, code: str, message: str, params: Mapping[str, object] | None = None, translated: bool = False
    ) -> None:
        """Record one problem with ``field`` (``params`` fill its text in other languages;
        ``translated``: ``message`` is in the reader's language already)."""
        self.setdefault(field, []).append(FieldError(code, message, dict(params or {}), translated))


def coerce_input(obj: ObjectDef, values: Mapping[str, Any], settings: Settings, errors: Errors) -> dict[str, Any]:
    """Coerce and normalise each given value; unknown and computed fields are errors."""
    out: dict[str, Any] = {}
    for name, raw in values.items():
        field = obj.fields.get(name)
        if field is None:
            if name in WRITABLE_SYSTEM_FIELDS:
                out[name] = _owner(raw, errors)
                continue
            errors.add(name, "unknown_field", f"{obj.name} has no field {name!r}.")
            continue
        try:
            out[name] = coerce_value(field, raw, settings)
        except FieldValueError as exc:
            if exc.label is not None:  # a configured message, in the reader's language
                errors.add(name, exc.code, exc.label.get(current_language()), translated=True)
            else:
                errors.add(name, exc.code, exc.message, exc.params)
    return out


def _owner(raw: Any, errors: Errors) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw <= MAX_INTEGER:
        return raw
    errors.add("owner_id", "invalid", "The owner is a user id (a positive whole number).")
    return None


def apply_defaults(
    obj: ObjectDef, values: dict[str, Any], context: Mapping[str, Any], clock: Clock, settings: Settings, errors: Errors
) -> None:
    """Fill fields the caller did not give with their defaults (create only)."""
    for field in obj.fields.values():
        if field.name in values:
            continue
        if field.default_expression is not None:
            names = {**{n: None for n in obj.fields}, **values, **context}
            try:
                raw = field.default_expression.evaluate(names, clock)
                values[field.name] = coerce_value(field, raw, settings)
            except (ExpressionEvalError, FieldValueError) as exc:
                errors.add(field.name, "default_failed", f"The default could not be computed: {exc}")
        elif field.default is not None:
            values[field.name] = field.default


def compute_formulas(
    obj: ObjectDef, values: dict[str, Any], clock: Clock, settings: Settings, errors: Errors | None = None
) -> None:
    """Recompute every formula in dependency order; an empty input gives an empty result.

    A formula that would exceed a limit (``quantity ** quantity``) is an error on its
    field when ``errors`` is given: the write is refused rather than stored empty."""
    for name in obj.formula_order:
        field = obj.fields[name]
        assert field.expression is not None, "a formula field has its expression"
        try:
            raw = field.expression.evaluate(expression_names(obj, values), clock)
            values[name] = coerce_value(_result_field(field), raw, settings) if raw is not None else None
        except ExpressionLimitError as exc:
            values[name] = None
            if errors is not None:
                errors.add(name, "expression_limit", f"The formula could not be computed: {exc}.")
        except (ExpressionEvalError, FieldValueError):
            values[name] = None


def _result_field(field: FieldDef) -> FieldDef:
    from dataclasses import replace

    return replace(field, type=field.value_type)


def expression_names(obj: ObjectDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """What an expression over ``obj`` sees: every field and system column, set from ``values``."""
    names = dict.fromkeys(SYSTEM_COLUMNS) | dict.fromkeys(obj.fields)
    names.update(values)
    return names


#: What a writer is told when a rule that reads fields they may not read refuses their change:
#: the rule's own message could reveal those fields' values (e.g. by bisecting a threshold).


def check_values(
    obj: ObjectDef,
    values: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    clock: Clock,
    errors: Errors,
    unreadable: Collection[str] = (),
) -> None:
    """Required fields, dependent picklists, retired values and the object's rules.

    ``unreadable`` names the fields the writer may not read: messages never show their values."""
    for field in obj.fields.values():
        value = values.get(field.name)
        if field.name in errors:
            continue
        if field.required and not field.is_computed and is_empty(value):
            errors.add(field.name, "required", f"{field.label.get()} is required.")
            continue
        if value is None:
            continue
        _check_dependent(obj, field, value, values, errors, unreadable)
        _check_inactive(field, value, previous, errors)
    check_rules(obj, values, clock, errors, unreadable)


def is_empty(value: Any) -> bool:
    """Whether a value counts as not filled in (None, empty text, empty list)."""
    return value is None or value == "" or value == []


def _check_dependent(
    obj: ObjectDef,
    field: FieldDef,
    value: Any,
    values: Mapping[str, Any],
    errors: Errors,
    unreadable: Collection[str] = (),
) -> None:
    if not field.depends_on or field.picklist is None:
        return
    parent_field = obj.fields[field.depends_on]
    assert parent_field.picklist is not None, "the config check (T-E032) lets only a picklist be a parent"
    parent_value = values.get(field.depends_on)
    if parent_value is None:
        errors.add(field.name, "parent_required", f"Choose {parent_field.label.get()} before {field.label.get()}.")
        return
    if parent_field.picklist is field.picklist or (
        parent_field.picklist and parent_field.picklist.name == field.picklist.name
    ):
        parent = field.picklist.find(parent_value)
        allowed = {c.key for c in parent.children} if parent else set()
    else:
        allowed = {v.key for v in field.picklist.walk() if not v.parents or parent_value in v.parents}
    if value not in allowed:
        if field.depends_on in unreadable:  # neither the parent's value nor what it allows
            errors.add(
                field.name,
                "not_allowed_for_parent",
                f"{value!r} is not a choice for this record's {parent_field.label.get()}.",
            )
            return
        parent_label = parent_field.picklist.find(parent_value)
        shown = parent_label.label.get() if parent_label else parent_value
        errors.add(
            field.name,
            "not_allowed_for_parent",
            f"{value!r} is not a choice under {parent_field.label.get()} = {shown}; "
            f"choose one of: {', '.join(sorted(allowed)) or 'none'}.",
        )


def _check_inactive(field: FieldDef, value: Any, previous: Mapping[str, Any] | None, errors: Errors) -> None:
    if field.picklist is None or not field.kind.from_picklist:
        return
    before = (previous or {}).get(field.name)
    chosen = value if isinstance(value, list) else [value]
    kept = set(before if isinstance(before, list) else [before]) if before is not None else set()
    for key in chosen:
        option = field.picklist.find(key)
        if option is not None and option.inactive and key not in kept:
            errors.add(
                field.name, "inactive_value", f"{option.label.get()} is no longer offered; choose another value."
            )


def check_rules(
    obj: ObjectDef, values: Mapping[str, Any], clock: Clock, errors: Errors, unreadable: Collection[str] = ()
) -> None:
    """Evaluate each rule; a rule that cannot be evaluated (an input is empty) passes. A rule
    that reads a field in ``unreadable`` refuses with the neutral ``rule_withheld`` message instead of its
    own message, on the record rather than on an unreadable field.

    Rules run together with the field checks, so that one round reports every problem;
    a rule that reads a field which already has an error (its value unknown or refused)
    is left out, so that it cannot report a consequence of that error."""
    names = expression_names(obj, values)
    hidden = set(unreadable)
    for rule in obj.rules:
        reads = rule.assertion.names | (rule.when.names if rule.when is not None else frozenset())
        if any(name in errors for name in reads):
            continue
        try:
            if rule.when is not None and not rule.when.evaluate(names, clock):
                continue
            holds = rule.assertion.evaluate(names, clock)
        except ExpressionLimitError as exc:
            errors.add(
                rule.field or RECORD_ERRORS, "expression_limit", f"The rule {rule.name} could not be checked: {exc}."
            )
            continue
        except ExpressionEvalError:
            continue
        if not holds:
            reads = rule.assertion.names | (rule.when.names if rule.when is not None else frozenset())
            if reads & hidden:
                key = rule.field if rule.field and rule.field not in hidden else RECORD_ERRORS
                errors.add(
                    key,
                    f"rule:{rule.name}",
                    message("rule_withheld", current_language(), rule=rule.name),
                    translated=True,
                )
            else:
                errors.add(
                    rule.field or RECORD_ERRORS,
                    f"rule:{rule.name}",
                    rule.message.get(current_language()),
                    translated=True,
                )
