"""Errors the runtime raises for users' mistakes; each carries what a UI or API needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from engine.runtime.messages import MESSAGES, current_language, localized

if TYPE_CHECKING:
    from engine.metadata.model import Stage

#: Key under which record-level errors (rules without a field) are reported.
RECORD_ERRORS = "_record"


class TrellisError(Exception):
    """Base class of errors caused by input or state, not by a bug."""

    code = "error"
    #: Which row of a ``create_many`` / ``update_many`` this refuses (its place in the input).
    index: int | None = None

    @classmethod
    def said(cls, code: str, english: str, /, **params: object) -> Self:
        """This error saying ``english`` in the current language: as it is in English, else the
        text of ``code`` in ``engine.runtime.messages.MESSAGES`` with ``params`` (names and labels
        as people read them). For the errors whose only argument is their message."""
        return cls(localized(code, english, params))


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: a stable ``code``, the engine's English ``text`` and the
    ``params`` a translation needs. ``message`` is the text for people in the current
    language (``engine.runtime.messages``)."""

    code: str
    text: str
    params: Mapping[str, object] = field(default_factory=dict, compare=False)
    #: True when ``text`` is in the reader's language already (a configured message).
    translated: bool = field(default=False, compare=False)

    @property
    def message(self) -> str:
        """The problem in the language of the person the engine works for."""
        return self.text if self.translated else localized(self.code, self.text, self.params)


class ValidationFailed(TrellisError):
    """A write was refused; ``errors`` maps each field (or ``_record``) to its problems.

    Nothing was written when this is raised.
    """

    code = "validation_failed"

    def __init__(self, errors: dict[str, list[FieldError]], object_name: str = "") -> None:
        self.errors = errors
        self.object_name = object_name
        lines = [f"{field}: {e.message} ({e.code})" for field, errs in errors.items() for e in errs]
        super().__init__(f"{object_name or 'record'} is not valid: " + "; ".join(lines))


class GateBlocked(ValidationFailed):
    """A stage move refused because fields the stage needs are empty.

    ``missing`` lists those fields, so a UI can ask for exactly them.
    """

    code = "required_for_stage"

    def __init__(self, errors: dict[str, list[FieldError]], object_name: str, stage: Stage) -> None:
        super().__init__(errors, object_name)
        self.stage = stage
        self.missing = [
            name for name, problems in errors.items() if any(p.code == "required_for_stage" for p in problems)
        ]


class Conflict(TrellisError):
    """The record changed since the caller read it (stale ``version``)."""

    code = "conflict"

    def __init__(self, object_name: str, record_id: int, expected: int, actual: int | None) -> None:
        self.object_name, self.record_id = object_name, record_id
        self.expected, self.actual = expected, actual
        super().__init__(
            localized(
                "conflict",
                f"{object_name} {record_id} was changed meanwhile (you had version {expected}, "
                f"it is now version {actual}); reload it and apply your change again",
            )
        )


class NotFound(TrellisError):
    """No such record (or, later, none the caller may see).

    ``label`` names the thing as people read it (an object's label); without one, a thing the
    engine keeps itself (``approval``, ``user``…) is named by ``thing.<name>`` in ``MESSAGES``."""

    code = "not_found"

    def __init__(self, object_name: str, record_id: object, label: str | None = None) -> None:
        self.object_name, self.record_id = object_name, record_id
        thing = label or _thing(object_name)
        super().__init__(
            localized("record_not_found", f"{object_name} {record_id} not found", {"thing": thing, "id": record_id})
        )


def _thing(name: str) -> str:
    """What ``name`` is called in the current language (``thing.<name>``), else ``name``."""
    texts = MESSAGES.get(f"thing.{name.replace(' ', '_')}", {})
    return texts.get(current_language()) or name


class UnknownObject(TrellisError):
    """The config declares no object of that name."""

    code = "unknown_object"

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        listing = ", ".join(sorted(known))
        super().__init__(
            localized(
                "object.unknown", f"unknown object {name!r}; known objects: {listing}", {"name": name, "known": listing}
            )
        )


class QueryError(TrellisError):
    """A filter or sort names an unknown field or operator, or a value that does not fit."""

    code = "bad_query"
