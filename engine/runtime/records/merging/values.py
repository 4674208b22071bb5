"""Which value of each field survives a merge (``engine.runtime.records.merging``).

A field a person may read and change is *choosable*; its value comes from the record the
person chose, else from the field's ``merge: {keep: newest | oldest | longest | sum}``, else
from the survivor, else from the first of the merged records (in the order given) that has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.records.record import Record
from engine.runtime.security.permissions import Principal


def empty(value: Any) -> bool:
    """Whether a value counts as not given (None, blank text, an empty list or document)."""
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def choosable(obj: ObjectDef, principal: Principal) -> list[FieldDef]:
    """The fields whose surviving value a merge sets: stored (not computed), and readable and
    changeable by ``principal``; hidden fields are neither shown nor chosen."""
    return [
        f
        for f in obj.fields.values()
        if not f.is_computed and principal.can_see(obj.name, f.name) and principal.can_change(obj.name, f.name)
    ]


def by_rule(field: FieldDef, records: Sequence[Record]) -> tuple[Any, int | None]:
    """The value ``field.merge_keep`` keeps among ``records`` (survivor first) and the id of the
    record it comes from (None for a sum of several)."""
    given = [r for r in records if not empty(r.get(field.name))]
    if not given:
        return records[0].get(field.name), records[0].id
    keep = field.merge_keep
    if keep == "sum":
        total = sum(
            (r[field.name] for r in given), start=Decimal(0) if isinstance(given[0][field.name], Decimal) else 0
        )
        return total, given[0].id if len(given) == 1 else None
    if keep == "newest":
        chosen = max(given, key=lambda r: (r["updated_at"], r.id))
    elif keep == "oldest":
        chosen = min(given, key=lambda r: (r["created_at"], r.id))
    elif keep == "longest":
        chosen = max(given, key=lambda r: len(str(r[field.name])))  # the first of equally long ones
    else:
        chosen = given[0]  # the survivor's, else the first non-empty
    return chosen[field.name], chosen.id


def surviving(
    fields: Sequence[FieldDef], records: Sequence[Record], choices: Mapping[str, int]
) -> dict[str, tuple[Any, int | None]]:
    """Field → (surviving value, the record it comes from), for ``fields`` over ``records``
    (survivor first); ``choices`` (field → record id) are already checked."""
    by_id = {r.id: r for r in records}
    out: dict[str, tuple[Any, int | None]] = {}
    for field in fields:
        if field.name in choices:
            source = by_id[choices[field.name]]
            out[field.name] = (source.get(field.name), source.id)
        else:
            out[field.name] = by_rule(field, records)
    return out
