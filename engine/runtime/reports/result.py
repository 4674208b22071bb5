"""What running a report returns: typed, ready for a page, a file or JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.metadata.model import Report
from engine.runtime.errors import QueryError
from engine.runtime.messages import current_language, message


class ReportRefused(QueryError):
    """The report groups or filters by a field hidden from the viewer: it cannot be shown."""

    code = "report_refused"

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        super().__init__(message(self.code, current_language(), fields=", ".join(fields)))


@dataclass(frozen=True)
class Key:
    """One group's value on one level: ``raw`` as stored (a picklist key, a user id, the first
    day of a date bucket; None for no value) and ``label`` as people read it."""

    raw: Any
    label: str


@dataclass(frozen=True)
class Figure:
    """One measure's value in one group: ``value`` raw (int, exact Decimal, a date; None for
    no value; a rate as a fraction 0..1), ``text`` formatted for the reader, and ``filter``,
    the list filter (query-string parameters) of the records it was computed from — None when
    no list filter can say which records those are (a funnel's moves in a period): no link."""

    measure: str
    value: Any
    text: str
    filter: Mapping[str, str] | None


@dataclass(frozen=True)
class Row:
    """One group: its keys (one per level; none for the total) and a figure per measure."""

    keys: tuple[Key, ...]
    figures: tuple[Figure, ...]
    #: A subtotal of the rows before it that share its first key (a forecast's team).
    subtotal: bool = False

    def figure(self, measure: str) -> Figure | None:
        """The figure of the measure ``measure`` (its key), or None."""
        return next((f for f in self.figures if f.measure == measure), None)


@dataclass(frozen=True)
class Column:
    """A heading: a group level (``key`` ``source``, ``created_at:month``) or a measure."""

    key: str
    label: str
    kind: str = ""


@dataclass(frozen=True)
class ReportResult:
    """A report run for one viewer.

    ``levels`` head the group levels, ``measures`` the figures still shown (a measure reading
    a field hidden from the viewer is left out: ``left_out`` names it, ``notes`` says so in
    the reader's language); ``rows`` are the groups after sort and ``limit`` (``more`` says
    groups were cut); ``total`` covers every matching record, those past the limit too.
    ``params`` is the list filter of the whole report (with the overrides applied)."""

    report: Report
    title: str
    description: str
    levels: tuple[Column, ...]
    measures: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: Row
    params: Mapping[str, str]
    left_out: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    more: bool = False
    #: A two-level report's totals per value of a level: ``(level, raw key)`` → a row of one key
    #: (figures of count, sum and weighted; the others without a value). Empty when cut by ``limit``.
    subtotals: Mapping[tuple[int, Any], Row] = field(default_factory=dict)
    language: str = "en"
    #: A two-level report's values of the second level (a matrix's columns, a chart's series) in
    #: that level's order: picklists as declared, dates in time, names alphabetically, none last.
    columns: tuple[Key, ...] = ()
    #: The rows nest the second level in the first, each first-level value closed by a
    #: ``subtotal`` row (a forecast's owners in their teams): a table, never a matrix.
    nested: bool = False

    @property
    def name(self) -> str:
        """The report's name in the config."""
        return self.report.name
