"""Funnels: the stages of a pipeline as centred bars whose widths are proportional to how many
records reached each stage, with the conversion from the previous stage beside each one.

The chart's first series counts the stages (its categories, in pipeline order). Each stage is
a row: its name and count above a bar; the conversion rate from the stage before (and, in the
data table, from the first stage) is written out, so the drop-off reads without the drawing.
"""

from __future__ import annotations

from webui.charts.frame import FONT, WIDTH, Canvas, Column, label, mark, summary, svg, value_title
from webui.charts.kinds import CHART_KINDS, ChartKind
from webui.charts.markup import Markup, el
from webui.charts.model import Number
from webui.charts.numbers import MISSING, Numbers
from webui.charts.style import colour
from webui.charts.text import text_width

ROW = 44
BAR = 20


def _rate(numbers: Numbers, part: Number | None, whole: Number | None) -> str:
    """``part`` in percent of ``whole`` ("—" when either is missing or ``whole`` is not positive)."""
    if part is None or whole is None or whole <= 0:
        return MISSING
    return numbers.share(part, whole)


class FunnelKind(ChartKind):
    """Stages with their counts and stage-to-stage conversion."""

    name = "funnel"

    def conversions(self, canvas: Canvas) -> tuple[list[str], list[str]]:
        """Per stage: the conversion from the previous stage, and from the first one."""
        values = canvas.chart.series[0].values
        numbers = canvas.numbers
        step = [MISSING] + [_rate(numbers, values[i], values[i - 1]) for i in range(1, len(values))]
        overall = [_rate(numbers, v, values[0]) for v in values]
        return step, overall

    def columns(self, canvas: Canvas) -> list[Column]:
        step, overall = self.conversions(canvas)
        return [Column(canvas.t("chart.funnel.step"), step), Column(canvas.t("chart.funnel.overall"), overall)]

    def draw(self, canvas: Canvas) -> Markup:
        chart = canvas.chart
        values = chart.series[0].values
        widest = max([v for v in values if v is not None and v > 0] or [1])
        step, _ = self.conversions(canvas)
        parts = []
        for i, category in enumerate(chart.categories):
            value = values[i]
            top = i * ROW
            count = canvas.numbers.full(value)
            rate = step[i] if i else MISSING
            figures = count if rate == MISSING else f"{count} · {canvas.t('chart.funnel.rate', rate=rate)}"
            room = WIDTH - text_width(figures, FONT) - 12
            parts.append(label(0, top + FONT + 2, category.label, room, css_class="chart-category"))
            rate_title = (
                el(
                    "title",
                    {},
                    canvas.t(
                        "chart.funnel.rate_title",
                        rate=rate,
                        previous=chart.categories[i - 1].label,
                        stage=category.label,
                    ),
                )
                if rate != MISSING
                else None
            )
            parts.append(
                el(
                    "text",
                    {"x": WIDTH, "y": top + FONT + 2, "text-anchor": "end", "class": "chart-value"},
                    rate_title,
                    figures,
                )
            )
            width = WIDTH * max(0.0, float(value or 0)) / float(widest)
            rect = el(
                "rect",
                {
                    "x": (WIDTH - width) / 2,
                    "y": float(top + FONT + 8),
                    "width": float(width),
                    "height": BAR,
                    "fill": colour(0),
                    "rx": 2,
                },
            )
            parts.append(mark(chart.link(0, i), value_title(canvas, i, 0, value), rect, kind="stage"))
        return svg(canvas, len(chart.categories) * ROW + 2, summary(canvas), *parts)


CHART_KINDS.register(FunnelKind())
