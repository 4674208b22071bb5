"""The list filter that reproduces a figure (the drill-down).

A figure is computed from the report's records (its ``filter`` with the overrides) in one
group; the same records are the list's with the report's parameters plus one per level:
``field=value`` (``field__isnull=true`` for no value), and for a date bucket ``field__gte``
its first day and ``field__lt`` the next bucket's, read by the list in the company time zone
as the bucket was. A rate's figure adds its condition (the records that count as true).
When a level's bound meets a report filter on the same key, the narrower bound stays; two
different values of one field (a rate ``stage: won`` in the group of ``new``) match nothing
(``id__isnull=true``), as the figure counts nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from engine.metadata.model import ReportGroup, ReportMeasure
from engine.runtime.periods import bucket_range

#: The list parameter no record matches (every record has an id).
NOTHING = ("id__isnull", "true")
#: Operators whose larger value is the narrower filter, and those whose smaller one is.
_LOWER = ("gte", "gt")
_UPPER = ("lte", "lt")


def text(value: Any) -> str:
    """A value as a list's query string writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def level_filter(group: ReportGroup, raw: Any) -> dict[str, str]:
    """The list parameters of one level's value."""
    if raw is None:
        return {f"{group.field}__isnull": "true"}
    if group.bucket:
        start, end = bucket_range(raw, group.bucket)
        return {f"{group.field}__gte": start.isoformat(), f"{group.field}__lt": end.isoformat()}
    return {group.field: text(raw)}


def measure_filter(measure: ReportMeasure) -> dict[str, str]:
    """What a measure's figure adds: a rate's condition."""
    if measure.kind != "rate":
        return {}
    return dict(measure.where) if measure.field is None else {measure.field: "true"}


def merged(*parts: Mapping[str, str]) -> dict[str, str]:
    """Parameters of every part; a key given twice keeps its narrower bound."""
    out: dict[str, str] = {}
    for part in parts:
        for key, value in part.items():
            if key in out and out[key] != value:
                op = key.partition("__")[2]
                if op in _LOWER:
                    value = max(out[key], value)
                elif op in _UPPER:
                    value = min(out[key], value)
                else:  # two different values of one field: no record has both
                    out[NOTHING[0]] = NOTHING[1]
                    continue
            out[key] = value
    return out
