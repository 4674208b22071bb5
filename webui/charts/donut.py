"""Donut charts: the shares of a whole (the first series over the categories), with the total in
the middle and a legend giving each slice's value and percentage.

Slices smaller than ``MIN_SHARE`` of the whole (when there are at least two of them), and any
beyond ``MAX_SLICES``, are grouped into one "Other" slice whose tooltip names them; every
category keeps its own row in the data table. A share of a whole needs values that add up and
are not negative: a negative value is left out of the drawing and said so under it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from webui.charts.frame import (
    FONT,
    LEGEND_ROW,
    SWATCH,
    WIDTH,
    Canvas,
    Column,
    data_table,
    figure,
    label,
    mark,
    summary,
    svg,
)
from webui.charts.kinds import CHART_KINDS, ChartKind
from webui.charts.markup import Markup, el
from webui.charts.model import Chart, Number
from webui.charts.style import OTHER_COLOUR, fill, fill_defs
from webui.charts.text import text_width

RADIUS = 80
INNER = 48
#: Slices under this share of the whole are grouped as "Other" (when two or more are).
MIN_SHARE = Decimal("0.03")
#: At most this many slices, "Other" included.
MAX_SLICES = 7


@dataclass(frozen=True)
class Slice:
    """A slice: its label, value, drill-down link and fill; ``members`` are the categories an
    "Other" slice stands for."""

    label: str
    value: Number
    link: str | None
    fill: str
    members: tuple[str, ...] = ()


def slices(canvas: Canvas) -> list[Slice]:
    """The slices of the positive values, in the categories' order, small ones grouped."""
    chart = canvas.chart
    values = chart.series[0].values
    positive = [(i, v) for i, v in enumerate(values) if v is not None and v > 0]
    whole = sum(Decimal(v) for _, v in positive)
    tiny = {i for i, v in positive if Decimal(v) / whole < MIN_SHARE}
    if len(tiny) < 2:
        tiny = set()
    kept = [(i, v) for i, v in positive if i not in tiny]
    room = MAX_SLICES - (1 if tiny else 0)
    if len(kept) > room:
        room = MAX_SLICES - 1
        smallest = sorted(kept, key=lambda pair: pair[1])[: len(kept) - room]
        tiny |= {i for i, _ in smallest}
        kept = [(i, v) for i, v in kept if i not in tiny]
    out = [
        Slice(chart.categories[i].label, v, chart.link(0, i), fill(canvas.prefix, n)) for n, (i, v) in enumerate(kept)
    ]
    if tiny:
        members = tuple(chart.categories[i].label for i, _ in positive if i in tiny)
        other_value = sum((v for i, v in positive if i in tiny), Decimal(0))
        out.append(Slice(canvas.t("chart.other"), other_value, None, OTHER_COLOUR, members))
    return out


def _arc(start: float, end: float) -> str:
    """The path of a ring segment between the angles ``start`` and ``end`` (turns, 0 at the top)."""
    centre_x, centre_y = WIDTH / 2, RADIUS + 2
    if end - start >= 0.9999:  # a whole ring: two halves
        return _arc(start, start + 0.5) + " " + _arc(start + 0.5, end)

    def point(turns: float, radius: float) -> str:
        angle = 2 * math.pi * turns - math.pi / 2
        return f"{centre_x + radius * math.cos(angle):.2f},{centre_y + radius * math.sin(angle):.2f}"

    large = 1 if end - start > 0.5 else 0
    return (
        f"M{point(start, RADIUS)} A{RADIUS},{RADIUS} 0 {large} 1 {point(end, RADIUS)} "
        f"L{point(end, INNER)} A{INNER},{INNER} 0 {large} 0 {point(start, INNER)} Z"
    )


class DonutKind(ChartKind):
    """Shares of a whole, with a legend and percentages."""

    name = "donut"

    def check(self, chart: Chart) -> None:
        super().check(chart)
        if not chart.additive:
            raise ValueError(f"a donut shows shares of a whole: the values of {chart.title!r} must add up (additive)")

    def columns(self, canvas: Canvas) -> list[Column]:
        values = canvas.chart.series[0].values
        whole = sum((Decimal(v) for v in values if v is not None and v > 0), Decimal(0))
        shares = [canvas.numbers.share(v, whole) if v is not None and v > 0 else "—" for v in values]
        return [Column(canvas.t("chart.share"), shares)]

    def render(self, canvas: Canvas) -> Markup:
        """The figure; with no positive value there is no slice to draw: "No data" over the table."""
        if slices(canvas):
            return super().render(canvas)
        nothing = el("p", {"class": "chart-empty"}, canvas.t("chart.no_data"))
        return figure(canvas, nothing, data_table(canvas, self.columns(canvas)))

    def draw(self, canvas: Canvas) -> Markup:
        chart = canvas.chart
        parts = slices(canvas)
        whole = sum((Decimal(s.value) for s in parts), Decimal(0))
        drawn = []
        turns = 0.0
        for piece in parts:
            share = float(Decimal(piece.value) / whole) if whole else 0.0
            title = self._title(canvas, piece, whole)
            path = el(
                "path", {"d": _arc(turns, turns + share), "fill": piece.fill, "stroke": "#fff", "stroke-width": 1}
            )
            drawn.append(mark(piece.link, title, path, kind="slice"))
            turns += share
        centre = [
            el(
                "text",
                {
                    "x": WIDTH / 2,
                    "y": RADIUS + 2,
                    "text-anchor": "middle",
                    "font-size": 18,
                    "font-weight": "bold",
                    "class": "chart-total",
                },
                canvas.numbers.compact(whole) if whole else "0",
            ),
            el(
                "text",
                {"x": WIDTH / 2, "y": RADIUS + 18, "text-anchor": "middle", "font-size": 11},
                canvas.t("chart.total"),
            ),
        ]
        top = 2 * RADIUS + 14
        rows = []
        for n, piece in enumerate(parts):
            y = top + n * LEGEND_ROW
            figures = f"{canvas.numbers.full(piece.value)} · {canvas.numbers.share(piece.value, whole)}"
            room = WIDTH - SWATCH - 10 - text_width(figures, FONT)
            rows.append(
                el(
                    "g",
                    {"class": "chart-legend-item"},
                    el("rect", {"x": 0, "y": y + 2, "width": SWATCH, "height": SWATCH, "fill": piece.fill}),
                    label(SWATCH + 4, y + 12, piece.label, room),
                    el("text", {"x": WIDTH, "y": y + 12, "text-anchor": "end", "class": "chart-value"}, figures),
                )
            )
        height = top + len(parts) * LEGEND_ROW
        negative = [
            c.label for c, v in zip(chart.categories, chart.series[0].values, strict=True) if v is not None and v < 0
        ]
        note = None
        if negative:
            separator = canvas.t("chart.list_separator")
            note = label(
                0,
                height + 14,
                canvas.t("chart.negative_not_drawn", labels=separator.join(negative)),
                WIDTH,
                css_class="chart-warning",
            )
            height += 20
        return svg(
            canvas,
            height + 4,
            summary(canvas),
            drawn,
            centre,
            el("g", {"class": "chart-legend"}, rows),
            note,
            defs=fill_defs(canvas.prefix, len(parts)),
        )

    def _title(self, canvas: Canvas, piece: Slice, whole: Decimal) -> str:
        """A slice's tooltip: its label (an "Other" slice's members too), value and share."""
        numbers = canvas.numbers
        figures = {"name": piece.label, "value": numbers.full(piece.value), "share": numbers.share(piece.value, whole)}
        if piece.members:
            members = canvas.t("chart.list_separator").join(piece.members)
            return canvas.t("chart.other_title", members=members, **figures)
        return canvas.t("chart.slice_title", **figures)


CHART_KINDS.register(DonutKind())
