"""What only a conversion may write, and converted records being read-only (S12).

A conversion (``conversions:`` of the config) marks its source (``mark``, e.g.
``status: converted``) and links it to what it became (``links``, e.g.
``converted_account``). Those values are facts of the conversion, so people
cannot set them by hand, on create or update, in any channel:

- a ``links`` field cannot be changed (``set_by_conversion``);
- a ``mark`` field cannot be given its mark value (``set_by_conversion``); its
  other values stay free (a lead's status moves between new, working, …).

A record that was converted (a ``links`` field set, or every ``mark`` value
holding — the test ``engine.runtime.workflow.conversion.refusal`` uses) is read-only to
people: ``update`` refuses it with one record-level error (``converted``).

The conversion's own update (``Session.converting``) and the system context
(automation, the worker, the demo loader) are not limited here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.metadata.model import Config, Conversion
from engine.runtime.errors import RECORD_ERRORS, FieldError, ValidationFailed
from engine.runtime.records.stages import Feature

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.validation import Errors
    from engine.runtime.records.writes import Draft

#: The error code of a field only a conversion sets, and of an edit of a converted record.
SET_BY_CONVERSION, CONVERTED = "set_by_conversion", "converted"


class RecordConverted(ValidationFailed):
    """A person tried to change a converted record (``errors``: one ``_record`` problem)."""

    code = "converted_read_only"


def _conversions(config: Config, object_name: str) -> list[Conversion]:
    return [c for c in config.conversions.values() if c.source == object_name]


def link_fields(config: Config, object_name: str) -> frozenset[str]:
    """The fields of ``object_name`` that conversions fill with what a record became."""
    return frozenset(f for c in _conversions(config, object_name) for f in c.links.values())


def mark_values(config: Config, object_name: str) -> dict[str, set[Any]]:
    """Field → the values only a conversion gives it (``mark``)."""
    marks: dict[str, set[Any]] = {}
    for conversion in _conversions(config, object_name):
        for name, value in conversion.mark.items():
            marks.setdefault(name, set()).add(value)
    return marks


def converted_by(config: Config, object_name: str, record: Mapping[str, Any]) -> Conversion | None:
    """The conversion that converted ``record`` (a link set, or every mark holding), or None."""
    for conversion in _conversions(config, object_name):
        if any(record.get(f) is not None for f in conversion.links.values()) or (
            conversion.mark and all(record.get(k) == v for k, v in conversion.mark.items())
        ):
            return conversion
    return None


def _exempt(session: Session) -> bool:
    return session.converting or session.principal.is_system


def check_not_converted(session: Session, object_name: str, current: Mapping[str, Any]) -> None:
    """Refuse a person's update of a converted record (``ValidationFailed`` under ``_record``)."""
    if _exempt(session):
        return
    conversion = converted_by(session.config, object_name, current)
    if conversion is None:
        return
    label = session.object(object_name).label.get()
    raise RecordConverted(
        {
            RECORD_ERRORS: [
                FieldError(
                    CONVERTED, f"This {label} was converted ({conversion.label.get()}) and can no longer be changed."
                )
            ]
        },
        object_name,
    )


def check_hand_set(
    session: Session, object_name: str, changes: Mapping[str, Any], current: Mapping[str, Any] | None, errors: Errors
) -> None:
    """Field errors for values in ``changes`` that only a conversion may set."""
    if _exempt(session):
        return
    config, obj = session.config, session.object(object_name)
    before = current or {}
    for name in link_fields(config, object_name) & set(changes):
        if changes[name] != before.get(name):
            errors.add(
                name, SET_BY_CONVERSION, f"{obj.fields[name].label.get()} is set by converting the record, not by hand."
            )
    for name, values in mark_values(config, object_name).items():
        value = changes.get(name)
        if name in changes and value in values and value != before.get(name):
            field = obj.fields[name]
            option = field.picklist.find(value) if field.picklist and isinstance(value, str) else None
            shown = option.label.get() if option else value
            errors.add(name, SET_BY_CONVERSION, f"{field.label.get()} becomes {shown} only by converting the record.")


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _refuse(write: Write, draft: Draft) -> None:
    """Stage ``input``: a converted record stays as it is; what only a conversion sets is refused."""
    if draft.current is not None:
        check_not_converted(write.session, write.obj.name, draft.current)
    check_hand_set(write.session, write.obj.name, draft.data, draft.current, draft.errors)


#: Converted records are read-only, and conversion's links and marks are not set by hand.
FEATURE = Feature("converted", {"input": _refuse})
