"""Which columns an export has, and their headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.metadata.model import FieldDef, Label, ObjectDef, frozen_map
from engine.runtime.messages import LANGUAGES, message
from engine.runtime.security.permissions import Principal

#: The system columns an export adds before and after the fields, with their types.
HEAD: Mapping[str, str] = {"id": "integer"}
TAIL: Mapping[str, str] = {"owner_id": "user", "created_at": "datetime", "updated_at": "datetime"}


@dataclass(frozen=True)
class Column:
    """One column of an export: the field (a system column as a field too) and whether it is
    one of the config's fields or a system column."""

    field: FieldDef
    system: bool = False

    @property
    def key(self) -> str:
        """The field's key (``account``, ``owner_id``): the second header row, for re-import."""
        return self.field.name

    def label(self, language: str) -> str:
        """The header people read, in ``language``."""
        return self.field.label.get(language)


def system_field(name: str, type_name: str) -> FieldDef:
    """A system column as a field, labelled in every language (``column.<name>`` in the messages)."""
    label = Label(frozen_map({lang: message(f"column.{name}", lang) for lang in LANGUAGES}))
    return FieldDef(name=name, type=type_name, label=label)


def export_columns(obj: ObjectDef, principal: Principal) -> list[Column]:
    """The id, every field ``principal`` may see (config order), then owner, created and updated.
    A hidden field is never a column."""
    visible = [Column(f) for f in obj.fields.values() if principal.can_see(obj.name, f.name)]
    return [
        *(Column(system_field(name, kind), system=True) for name, kind in HEAD.items()),
        *visible,
        *(Column(system_field(name, kind), system=True) for name, kind in TAIL.items() if name not in obj.fields),
    ]
