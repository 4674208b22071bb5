"""What a field has beyond the common attributes, one frozen dataclass per kind.

A ``FieldDef`` (``engine.metadata.model``) holds the attributes every field has
(name, type, label, required, default…) and one *part*: the attributes of its
kind. The field type registry (``engine.metadata.fieldtypes.REGISTRY``) says
which part each type carries (``FieldType.part``), so that the type checker
sees, for example, that a lookup's ``target`` is always a string and that only
numbers have ``min``/``max``.

This module imports nothing of the model at run time (the model and the
registry both import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from engine.metadata.expressions import Expression
    from engine.metadata.model import Label, Picklist


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class NoPart:
    """Kinds without attributes of their own (yes/no, dates, users, files)."""

    #: Config keys this part reads from a field's spec (the compiler fills them in).
    KEYS: ClassVar[tuple[str, ...]] = ()
    #: Whether Trellis computes the value (never given by a writer).
    computed: ClassVar[bool] = False


@dataclass(frozen=True)
class TextPart(NoPart):
    """Text kinds (text, textarea, email, phone, url): a length limit and a pattern."""

    KEYS: ClassVar[tuple[str, ...]] = ("max_length", "pattern", "pattern_message")
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: Label | None = None


@dataclass(frozen=True)
class JsonPart(NoPart):
    """JSON documents: a size limit (characters of JSON)."""

    KEYS: ClassVar[tuple[str, ...]] = ("max_length",)
    max_length: int | None = None


@dataclass(frozen=True)
class NumberPart(NoPart):
    """Numbers (integer, decimal, currency, percent): bounds and the digits after the point."""

    KEYS: ClassVar[tuple[str, ...]] = ("min", "max", "scale")
    min: float | None = None
    max: float | None = None
    scale: int | None = None


@dataclass(frozen=True)
class ChoicePart(NoPart):
    """Values from a picklist (picklist, multipicklist, tags): the picklist, the parent field
    a dependent picklist follows, and how old values map to new ones at ``apply``."""

    KEYS: ClassVar[tuple[str, ...]] = ("picklist", "depends_on", "migrate_values")
    picklist: Picklist | None = None
    depends_on: str | None = None
    migrate_values: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class LookupPart(NoPart):
    """A reference to a record of another object (``object:`` in the config)."""

    KEYS: ClassVar[tuple[str, ...]] = ("target",)
    target: str = ""


@dataclass(frozen=True)
class FormulaPart(NoPart):
    """A value computed from the record: the expression, the type of its result, its scale."""

    KEYS: ClassVar[tuple[str, ...]] = ("expression", "result", "scale")
    computed: ClassVar[bool] = True
    expression: Expression | None = None
    result: str = "decimal"
    scale: int | None = None


@dataclass(frozen=True)
class AutonumberPart(NoPart):
    """A number Trellis gives each new record: its ``format`` and the first number."""

    KEYS: ClassVar[tuple[str, ...]] = ("format", "start")
    computed: ClassVar[bool] = True
    format: str = "{000000}"
    start: int = 1


#: Every part, as the type checker sees ``FieldDef.part``.
FieldPart = NoPart | TextPart | JsonPart | NumberPart | ChoicePart | LookupPart | FormulaPart | AutonumberPart
