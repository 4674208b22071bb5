"""Bar charts: ``bar`` (a bar per value, series side by side) and ``stacked_bar`` (series stacked
per category; negative parts below zero, the total at the end).

Bars stand upright when a few short labels fit under them (at most ``MAX_COLUMNS`` categories
and ``MAX_UPRIGHT_BARS`` bars); otherwise they lie horizontally, one row per category with its
label beside it (cut with "…" to ``LABEL_SHARE`` of the width, the full label in its tooltip),
which stays legible on a phone however many categories there are. The value axis has round
steps and includes zero; every bar's length is proportional to its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from webui.charts.frame import FONT, WIDTH, Canvas, label, legend, mark, summary, svg, total, value_title
from webui.charts.kinds import CHART_KINDS, ChartKind
from webui.charts.markup import Markup, el
from webui.charts.model import Number
from webui.charts.numbers import Scale, nice_scale
from webui.charts.style import fill, fill_defs
from webui.charts.text import text_width

#: Upright bars for at most this many categories, and this many bars in all.
MAX_COLUMNS = 6
MAX_UPRIGHT_BARS = 12
#: Share of the width a horizontal chart's category labels may take.
LABEL_SHARE = 0.32
#: Height of the plot of upright bars; thickness of one bar lying down.
PLOT_HEIGHT = 200
LANE = 16
GAP = 10
#: End labels wider than this are written compactly (12K instead of 12,345).
MAX_END_LABEL = 80


@dataclass(frozen=True)
class Bar:
    """One bar (or a stacked part): category, series, lane within the category, from–to."""

    category: int
    series: int
    lane: int
    start: Number
    end: Number
    value: Number


@dataclass(frozen=True)
class EndLabel:
    """A value written at the end of a category's bar (or stack), in lane ``lane``."""

    category: int
    lane: int
    at: Number
    value: Number


@dataclass(frozen=True)
class Layout:
    """The bars of a chart, their end labels and how many lanes a category has."""

    bars: list[Bar]
    labels: list[EndLabel]
    lanes: int


def side_by_side(canvas: Canvas) -> Layout:
    """A bar per value, the series in lanes next to each other."""
    chart = canvas.chart
    bars, labels = [], []
    for s, series in enumerate(chart.series):
        for i, value in enumerate(series.values):
            if value is not None:
                bars.append(Bar(i, s, s, 0, value, value))
                labels.append(EndLabel(i, s, value, value))
    return Layout(bars, labels, len(chart.series))


def stacked(canvas: Canvas) -> Layout:
    """The series of each category stacked: positive values up from zero, negative down; the
    category's total at the end of its stack (when values add up)."""
    chart = canvas.chart
    bars, labels = [], []
    for i in range(len(chart.categories)):
        up: Number = 0
        down: Number = 0
        for s, series in enumerate(chart.series):
            value = series.values[i]
            if value is None or value == 0:
                continue
            if value > 0:
                bars.append(Bar(i, s, 0, up, up + value, value))
                up += value
            else:
                bars.append(Bar(i, s, 0, down, down + value, value))
                down += value
        column_total = total(series.values[i] for series in chart.series)
        if chart.additive and column_total is not None:
            labels.append(EndLabel(i, 0, up if column_total >= 0 else down, column_total))
    return Layout(bars, labels, 1)


def upright(canvas: Canvas, layout: Layout) -> bool:
    """Whether the bars stand: few categories, few bars, and every label fits under its bar."""
    count = len(canvas.chart.categories)
    if count > MAX_COLUMNS or count * layout.lanes > MAX_UPRIGHT_BARS:
        return False
    slot = (WIDTH - 50) / count
    return all(text_width(c.label, FONT) <= slot - 6 for c in canvas.chart.categories)


def end_texts(canvas: Canvas, layout: Layout, room: float) -> dict[tuple[int, int], str]:
    """The end labels' texts: in full when every one fits ``room``, else compact."""
    numbers = canvas.numbers
    full = {(e.category, e.lane): numbers.full(e.value) for e in layout.labels}
    if all(text_width(text, FONT) <= room for text in full.values()):
        return full
    return {(e.category, e.lane): numbers.compact(e.value) for e in layout.labels}


def scale_for(layout: Layout, ticks: int) -> Scale:
    """The value axis of the bars."""
    return nice_scale([v for bar in layout.bars for v in (bar.start, bar.end)], ticks)


def draw_bars(canvas: Canvas, layout: Layout) -> Markup:
    """The drawing: standing or lying bars, a legend for several series, axis and labels."""
    chart = canvas.chart
    top = 0.0
    parts: list[Markup] = []
    if len(chart.series) > 1:
        legend_markup, legend_height = legend(canvas, [s.name for s in chart.series], 0)
        parts.append(legend_markup)
        top = legend_height + 6
    draw = _draw_upright if upright(canvas, layout) else _draw_lying
    body, height = draw(canvas, layout, top)
    return svg(canvas, height, summary(canvas), *parts, body, defs=fill_defs(canvas.prefix, len(chart.series)))


def _bar_mark(canvas: Canvas, bar: Bar, x: float, y: float, width: float, height: float) -> Markup:
    rect = el(
        "rect",
        {
            "x": float(x),
            "y": float(y),
            "width": float(max(width, 0.0)),
            "height": float(max(height, 0.0)),
            "fill": fill(canvas.prefix, bar.series),
        },
    )
    title = value_title(canvas, bar.category, bar.series, bar.value)
    return mark(canvas.chart.link(bar.series, bar.category), title, rect)


def _category_label(canvas: Canvas, index: int, x: float, y: float, width: float, anchor: str) -> Markup:
    """A category's label; linked to its list when its bars are of several series (one series:
    the bar itself is that link)."""
    category = canvas.chart.categories[index]
    text = label(x, y, category.label, width, anchor, css_class="chart-category")
    return el("a", {"href": category.link}, text) if category.link and len(canvas.chart.series) > 1 else text


def _draw_lying(canvas: Canvas, layout: Layout, top: float) -> tuple[Markup, float]:
    chart = canvas.chart
    label_width = min(max(text_width(c.label, FONT) for c in chart.categories) + 8, WIDTH * LABEL_SHARE)
    texts = end_texts(canvas, layout, MAX_END_LABEL)
    right = max([text_width(texts[(e.category, e.lane)], FONT) + 6 for e in layout.labels if e.at >= 0] or [0])
    left = max([text_width(texts[(e.category, e.lane)], FONT) + 6 for e in layout.labels if e.at < 0] or [0])
    x0, x1 = label_width + left, WIDTH - right - 2
    scale = scale_for(layout, 4)
    band = layout.lanes * LANE + GAP

    def x(value: Number) -> float:
        return x0 + scale.fraction(value) * (x1 - x0)

    bottom = top + band * len(chart.categories)
    parts = [_grid_lying(canvas, scale, x, top, bottom)]
    for i in range(len(chart.categories)):
        parts.append(_category_label(canvas, i, label_width - 6, top + band * i + band / 2 + 4, label_width - 8, "end"))
    for bar in layout.bars:
        start, end = sorted((x(bar.start), x(bar.end)))
        y = top + band * bar.category + GAP / 2 + bar.lane * LANE
        parts.append(_bar_mark(canvas, bar, start, y + 1, end - start, LANE - 2))
    for e in layout.labels:
        y = top + band * e.category + GAP / 2 + e.lane * LANE + LANE / 2 + 4
        at, anchor = (x(e.at) + 4, "start") if e.at >= 0 else (x(e.at) - 4, "end")
        parts.append(
            el("text", {"x": at, "y": y, "text-anchor": anchor, "class": "chart-value"}, texts[(e.category, e.lane)])
        )
    return el("g", {}, parts), bottom + FONT + 10


def _grid_lying(canvas: Canvas, scale: Scale, x: Callable[[Number], float], top: float, bottom: float) -> Markup:
    """Vertical grid lines at the ticks (zero stronger), labelled as often as the labels fit."""
    ticks = scale.ticks
    texts = [canvas.numbers.tick(t, scale) for t in ticks]
    spacing = (x(ticks[-1]) - x(ticks[0])) / max(1, len(ticks) - 1)
    every = max(1, math.ceil((max(text_width(t, FONT) for t in texts) + 8) / spacing))
    zero = ticks.index(Decimal(0)) if Decimal(0) in ticks else 0
    lines = []
    for index, tick in enumerate(ticks):
        at = x(tick)
        lines.append(
            el(
                "line",
                {
                    "x1": at,
                    "x2": at,
                    "y1": top,
                    "y2": bottom,
                    "stroke": "currentColor",
                    "stroke-opacity": 0.5 if tick == 0 else 0.15,
                },
            )
        )
        if (index - zero) % every == 0:
            lines.append(
                el(
                    "text",
                    {"x": at, "y": bottom + FONT + 2, "text-anchor": "middle", "class": "chart-tick"},
                    texts[index],
                )
            )
    return el("g", {"class": "chart-axis", "aria-hidden": "true"}, lines)


def _draw_upright(canvas: Canvas, layout: Layout, top: float) -> tuple[Markup, float]:
    chart = canvas.chart
    count = len(chart.categories)
    scale = scale_for(layout, 5)
    tick_width = max(text_width(canvas.numbers.tick(t, scale), FONT) for t in scale.ticks) + 6
    x0, x1 = tick_width, WIDTH - 2
    slot = (x1 - x0) / count
    texts = end_texts(canvas, layout, slot / layout.lanes)
    top += FONT + 4  # room for the end label of the tallest bar
    negative = any(e.at < 0 for e in layout.labels)
    plot_bottom = top + PLOT_HEIGHT

    def y(value: Number) -> float:
        return top + (1 - scale.fraction(value)) * PLOT_HEIGHT

    parts = []
    grid = []
    for tick in scale.ticks:
        at = y(tick)
        grid.append(
            el(
                "line",
                {
                    "x1": x0,
                    "x2": x1,
                    "y1": at,
                    "y2": at,
                    "stroke": "currentColor",
                    "stroke-opacity": 0.5 if tick == 0 else 0.15,
                },
            )
        )
        grid.append(
            el(
                "text",
                {"x": x0 - 4, "y": at + 4, "text-anchor": "end", "class": "chart-tick"},
                canvas.numbers.tick(tick, scale),
            )
        )
    parts.append(el("g", {"class": "chart-axis", "aria-hidden": "true"}, grid))
    group = min(slot * 0.7, layout.lanes * 36)
    lane = group / layout.lanes
    labels_y = plot_bottom + (FONT + 4 if negative else 0) + FONT + 4
    for i in range(count):
        parts.append(_category_label(canvas, i, x0 + slot * i + slot / 2, labels_y, slot - 4, "middle"))
    for bar in layout.bars:
        left = x0 + slot * bar.category + (slot - group) / 2 + bar.lane * lane
        high, low = sorted((y(bar.start), y(bar.end)))
        parts.append(_bar_mark(canvas, bar, left + 1, high, lane - 2, low - high))
    for e in layout.labels:
        centre = x0 + slot * e.category + (slot - group) / 2 + e.lane * lane + lane / 2
        at = y(e.at) - 4 if e.at >= 0 else y(e.at) + FONT + 2
        parts.append(
            el(
                "text",
                {"x": centre, "y": at, "text-anchor": "middle", "class": "chart-value"},
                texts[(e.category, e.lane)],
            )
        )
    return el("g", {}, parts), labels_y + 6


class BarKind(ChartKind):
    """Bars, the series side by side."""

    name = "bar"

    def draw(self, canvas: Canvas) -> Markup:
        return draw_bars(canvas, side_by_side(canvas))


class StackedBarKind(ChartKind):
    """Bars with the series stacked, the total at the end."""

    name = "stacked_bar"

    def draw(self, canvas: Canvas) -> Markup:
        return draw_bars(canvas, stacked(canvas))


CHART_KINDS.register(BarKind())
CHART_KINDS.register(StackedBarKind())
