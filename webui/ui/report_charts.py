"""A report's chart (issue 15 §3): the figures of a ``ReportResult`` as a ``webui.charts.Chart``
of the report's ``chart:`` kind, every bar, slice and point linked to the same record list as
its number in the report's table (``drill_url``).

- The **main figure** is the report's first measure shown that is a number (a count, a rate,
  a sum, an average…; not the earliest date of a ``min``). A report without one has no chart.
- **One level**: a category per group. ``bar`` and ``line`` draw the main figure and every
  other measure in the same unit (money with money, counts, rates) as more series — the
  pipeline next to the weighted pipeline; ``stacked_bar``, ``funnel`` and ``donut`` draw the
  main figure alone (stacking or sharing out different measures means nothing).
- **Two levels** (a matrix): a category per value of the first level; ``bar``, ``stacked_bar``
  and ``line`` draw a series per value of the second level (the matrix's cells), ``funnel``
  and ``donut`` the first level's subtotals (the matrix's row totals).
- **Nested levels** (a forecast's owners in their teams): a category per row of the second
  level, as one level; subtotal rows are not drawn.
- **No level**: one category, the total.
- **kpi**: the main figure's total, against the previous period (``previous_run``) when the
  report's period is a relative range that has one (this month → last month); else no change.
- **table**: no chart; the table below is the figure.

Rates are drawn in percent points and money in the company currency. A chart of an average, a
rate, a minimum or a maximum does not add up (``Chart.additive`` is False: no totals, no
shares), so a ``donut`` or ``funnel`` of one is drawn as a ``bar`` — as is a two-level one whose
first level has no totals (a report cut by ``limit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import url_for

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.filters import PREVIOUS_PERIODS
from engine.metadata.model import ObjectDef, ReportMeasure
from engine.metadata.reports import REPORT_KINDS, report_field
from engine.runtime import reports
from engine.runtime.reports.grouped import ADDITIVE
from engine.runtime.reports.result import Column, Figure, ReportResult, Row
from webui.charts import Category, Chart, Kpi, Series, ValueFormat
from webui.ui.context import t

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Kinds that draw more than the main figure: more measures (one level) or the second level.
MULTI_SERIES = ("bar", "line")
MATRIX_SERIES = ("bar", "stacked_bar", "line")
#: Kinds that draw parts of a whole (a stage's share of the first, a slice): they need figures
#: that add up and, over two levels, the first level's totals.
WHOLES = ("donut", "funnel")


@dataclass(frozen=True)
class Unit:
    """How a measure's figures are drawn: ``key`` (measures of one key share an axis), the
    value format, whether they add up, and the factor to the drawn value (100 for a rate)."""

    key: str
    value_format: ValueFormat
    additive: bool
    factor: int = 1


def drill_url(object_name: str, params: Mapping[str, str]) -> str:
    """The record list of ``object_name`` filtered by ``params`` (a figure's drill-down)."""
    return url_for("records.list_records", object_name=object_name, **params)


def unit(obj: ObjectDef, measure: ReportMeasure, currency: str) -> Unit | None:
    """How ``measure``'s figures are drawn; None when they are not numbers (dates)."""
    if measure.kind == "count":
        return Unit("count", ValueFormat.number(), True)
    if measure.kind == "rate":
        return Unit("rate", ValueFormat.percent(1), False, 100)
    field = report_field(obj, measure.field or "")
    if field is None or field.value_kind.storage not in ("integer", "decimal"):
        return None
    additive = measure.kind in ADDITIVE
    if field.value_kind.money:
        return Unit("money", ValueFormat.money(currency), additive)
    integer = field.value_kind.storage == "integer"
    scale = (2 if measure.kind in ("avg", "weighted") else 0) if integer else decimal_scale(field)
    if field.value_type == "percent":
        return Unit(f"percent:{field.name}", ValueFormat.percent(scale), additive)
    return Unit(f"number:{field.name}", ValueFormat.number(scale), additive)


@dataclass(frozen=True)
class _Drawn:
    """A measure drawn: its column and its unit."""

    column: Column
    unit: Unit


class _Builder:
    """Builds one result's chart (see the module)."""

    def __init__(self, result: ReportResult, obj: ObjectDef, currency: str) -> None:
        self.result = result
        measures = {m.key: m for m in result.report.measures}
        kind = REPORT_KINDS.get(result.report.kind)
        charted = kind.charted if kind is not None else ()
        self.drawn = [
            _Drawn(c, u)
            for c in result.measures
            if (not charted or c.key in charted) and (u := unit(obj, measures[c.key], currency)) is not None
        ]

    def value(self, drawn: _Drawn, row: Row | None) -> Any:
        """The drawn value of ``drawn`` in ``row`` (None without one)."""
        figure = row.figure(drawn.column.key) if row is not None else None
        if figure is None or figure.value is None:
            return None
        return Decimal(figure.value) * drawn.unit.factor if drawn.unit.factor != 1 else figure.value

    def link(self, drawn: _Drawn, row: Row | None) -> str | None:
        """The drill-down of ``drawn`` in ``row`` (None without a figure)."""
        figure: Figure | None = row.figure(drawn.column.key) if row is not None else None
        if figure is None or figure.value is None or figure.filter is None:
            return None
        return drill_url(self.result.report.object, figure.filter)

    def title(self, main: _Drawn) -> str:
        """The chart's title: the main figure by the levels."""
        levels = self.result.levels
        if not levels:
            return main.column.label
        if len(levels) == 1 or self.result.nested:
            return t("reports.chart_by", measure=main.column.label, level=levels[-1].label)
        return t("reports.chart_by_two", measure=main.column.label, level=levels[0].label, other=levels[1].label)

    def chart(self, kind: str, previous: ReportResult | None) -> Chart | None:
        """The chart of kind ``kind`` (None without a figure to draw)."""
        if not self.drawn:
            return None
        main = self.drawn[0]
        two_levels = len(self.result.levels) == 2 and not self.result.nested
        if kind in WHOLES and (not main.unit.additive or (two_levels and not self.result.subtotals)):
            kind = "bar"
        common: dict[str, Any] = {
            "kind": kind,
            "title": self.title(main),
            "value_format": main.unit.value_format,
            "category_heading": self.result.levels[-1 if self.result.nested else 0].label if self.result.levels else "",
        }
        if kind == "kpi":
            return Chart(kpi=self.kpi(main, previous), **common)
        measures = [main]
        if two_levels:
            categories, series = self.matrix(main, kind)
        else:
            if kind in MULTI_SERIES:
                measures += [d for d in self.drawn[1:] if d.unit.key == main.unit.key]
            categories, series = self.groups(main, measures)
        additive = all(d.unit.additive for d in measures)
        return Chart(categories=categories, series=series, additive=additive, **common)

    def kpi(self, main: _Drawn, previous: ReportResult | None) -> Kpi:
        """The main figure's total against ``previous``'s (the period before), if given."""
        total = self.result.total
        before = None
        label = ""
        if previous is not None:
            before = self.value(main, previous.total)
            period = previous.params.get(previous.report.period_field, "")
            label = t(f"reports.kpi_previous.{period}") if period else ""
        return Kpi(
            self.value(main, total),
            before,
            self.link(main, total),
            higher_is_better=self.result.report.higher_is_better,
            previous_label=label,
        )

    def groups(self, main: _Drawn, measures: list[_Drawn]) -> tuple[list[Category], list[Series]]:
        """One level (or none: the total): a category per group, a series per measure drawn."""
        rows = [r for r in self.result.rows if not r.subtotal] if self.result.levels else [self.result.total]
        last = -1 if self.result.nested else 0
        labels = [row.keys[last].label for row in rows] if self.result.levels else [t("reports.total")]
        categories = [Category(label, self.link(main, row)) for label, row in zip(labels, rows, strict=True)]
        series = [
            Series(d.column.label, [self.value(d, row) for row in rows], [self.link(d, row) for row in rows])
            for d in measures
        ]
        return categories, series

    def matrix(self, main: _Drawn, kind: str) -> tuple[list[Category], list[Series]]:
        """Two levels: a category per value of the first, a series per value of the second (or,
        for a funnel or a donut, the first level's subtotals)."""
        result = self.result
        firsts = list(dict.fromkeys((r.keys[0].raw, r.keys[0].label) for r in result.rows))
        categories = [Category(label, self.link(main, result.subtotals.get((0, raw)))) for raw, label in firsts]
        if kind not in MATRIX_SERIES:
            rows: Sequence[Row | None] = [result.subtotals.get((0, raw)) for raw, _ in firsts]
            values = [self.value(main, row) for row in rows]
            return categories, [Series(main.column.label, values, [self.link(main, row) for row in rows])]
        seconds = [(key.raw, key.label) for key in result.columns]
        found = {(r.keys[0].raw, r.keys[1].raw): r for r in result.rows}
        series = []
        for other, name in seconds:
            cells = [found.get((raw, other)) for raw, _ in firsts]
            series.append(Series(name, [self.value(main, c) for c in cells], [self.link(main, c) for c in cells]))
        return categories, series


def report_chart(
    result: ReportResult, obj: ObjectDef, currency: str, previous: ReportResult | None = None
) -> Chart | None:
    """The chart of ``result`` (a report on ``obj``) by its report's ``chart:`` kind, money in
    ``currency``; ``previous`` is the previous period's run for a ``kpi``. None for ``table``
    and for a report without a figure to draw."""
    kind = result.report.chart
    if kind == "table":
        return None
    return _Builder(result, obj, currency).chart(kind, previous)


def previous_run(session: Session, result: ReportResult, overrides: reports.Overrides) -> ReportResult | None:
    """The same report over the period before ``result``'s (with the same owner and team), when
    its period is a relative range that has one; else None."""
    report = result.report
    period = PREVIOUS_PERIODS.get(result.params.get(report.period_field, ""))
    if period is None:
        return None
    before = reports.Overrides(period, overrides.owner, overrides.team)
    return reports.run(session, report.name, before, result.language)
