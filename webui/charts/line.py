"""Line charts: one or more series over ordered categories (months, weeks, quarters).

Each series is a line in its colour and its own dash, each value a point with its own marker
shape (so lines are told apart without colour), its tooltip and its drill-down link. A missing
value breaks the line. Category labels that would collide are thinned to every n-th one; every
value stays in the points' tooltips and the data table.
"""

from __future__ import annotations

import math

from webui.charts.frame import FONT, WIDTH, Canvas, legend, mark, summary, svg, value_title
from webui.charts.kinds import CHART_KINDS, ChartKind
from webui.charts.markup import Markup, el
from webui.charts.model import Number
from webui.charts.numbers import nice_scale
from webui.charts.style import DASHES, colour, marker
from webui.charts.text import fit, text_width

PLOT_HEIGHT = 180


def label_step(labels: list[str], slot: float) -> int:
    """Show every n-th category label so that the shown ones do not overlap."""
    widest = min(max(text_width(text, FONT) for text in labels), WIDTH / 2) + 10
    return max(1, math.ceil(widest / slot))


class LineKind(ChartKind):
    """Lines over ordered categories."""

    name = "line"

    def draw(self, canvas: Canvas) -> Markup:
        chart = canvas.chart
        parts: list[Markup] = []
        top = 8.0
        if len(chart.series) > 1:
            fills = [colour(i) for i in range(len(chart.series))]
            legend_markup, height = legend(canvas, [s.name for s in chart.series], 0, fills)
            parts.append(legend_markup)
            top += height
        values = [v for s in chart.series for v in s.values if v is not None]
        scale = nice_scale(values, 5)
        tick_width = max(text_width(canvas.numbers.tick(t, scale), FONT) for t in scale.ticks) + 6
        count = len(chart.categories)
        half_label = min(max(text_width(c.label, FONT) for c in chart.categories), WIDTH / 4) / 2
        x0, x1 = max(tick_width + 6, half_label), WIDTH - max(10, half_label)
        slot = (x1 - x0) / max(1, count - 1) if count > 1 else x1 - x0

        def x(index: int) -> float:
            return x0 + slot * index if count > 1 else (x0 + x1) / 2

        def y(value: Number) -> float:
            return top + (1 - scale.fraction(value)) * PLOT_HEIGHT

        grid = []
        for tick in scale.ticks:
            grid.append(
                el(
                    "line",
                    {
                        "x1": x0,
                        "x2": x1,
                        "y1": y(tick),
                        "y2": y(tick),
                        "stroke": "currentColor",
                        "stroke-opacity": 0.5 if tick == 0 else 0.15,
                    },
                )
            )
            grid.append(
                el(
                    "text",
                    {"x": x0 - 6, "y": y(tick) + 4, "text-anchor": "end", "class": "chart-tick"},
                    canvas.numbers.tick(tick, scale),
                )
            )
        parts.append(el("g", {"class": "chart-axis", "aria-hidden": "true"}, grid))
        labels = [c.label for c in chart.categories]
        step = label_step(labels, slot if count > 1 else WIDTH)
        bottom = top + PLOT_HEIGHT + FONT + 6
        for i, category in enumerate(chart.categories):
            if i % step:
                continue
            shown = fit(category.label, min(slot * step - 8, WIDTH / 2) if count > 1 else WIDTH, FONT)
            text = el(
                "text",
                {"x": x(i), "y": bottom, "text-anchor": "middle", "class": "chart-category"},
                el("title", {}, category.label) if shown != category.label else None,
                shown,
            )
            parts.append(el("a", {"href": category.link}, text) if category.link else text)
        for s, series in enumerate(chart.series):
            parts.append(
                self._line(canvas, s, [(x(i), y(v)) if v is not None else None for i, v in enumerate(series.values)])
            )
        return svg(canvas, bottom + 6, summary(canvas), *parts)

    def _line(self, canvas: Canvas, s: int, points: list[tuple[float, float] | None]) -> Markup:
        """Series ``s``: its path (broken where a value is missing) and a marked point per value."""
        runs: list[list[tuple[float, float]]] = [[]]
        for point in points:
            if point is None:
                runs.append([])
            else:
                runs[-1].append(point)
        path = " ".join("M" + " L".join(f"{px:.2f},{py:.2f}" for px, py in run) for run in runs if run)
        series = canvas.chart.series[s]
        marks = [
            mark(canvas.chart.link(s, i), value_title(canvas, i, s, series.values[i]), marker(s, *point), kind="point")
            for i, point in enumerate(points)
            if point is not None
        ]
        line = el(
            "path",
            {
                "d": path,
                "fill": "none",
                "stroke": colour(s),
                "stroke-width": 2.5,
                "stroke-dasharray": DASHES[s % len(DASHES)],
                "stroke-linejoin": "round",
            },
        )
        return el("g", {"class": "chart-series"}, line, marks)


CHART_KINDS.register(LineKind())
