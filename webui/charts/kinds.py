"""The chart kinds: one ``ChartKind`` object per kind, registered once in ``CHART_KINDS``.

``render_chart`` finds the chart's kind by name and asks it to draw; nothing else compares
kind names. A kind draws a chart with something to show (``draw``: the SVG or HTML of the
figure) and may add columns to its data table (``columns``); the empty state, the figure
around the drawing and the data table are the same for every kind (``webui.charts.frame``).
A new kind is one module that registers one object (``webui/charts/__init__.py`` imports it).
"""

from __future__ import annotations

import itertools

from engine.metadata.kinds import Kinds, placeholder
from webui.charts.frame import Canvas, Column, data_table, empty_figure, figure
from webui.charts.markup import Markup
from webui.charts.model import Chart
from webui.charts.numbers import Numbers
from webui.i18n import Formatter


class ChartKind:
    """One kind of chart (``name``, as a report's ``chart:`` names it)."""

    name: str = ""

    def check(self, chart: Chart) -> None:
        """Raise ValueError when ``chart`` lacks what this kind needs (default: at least one series)."""
        if not chart.series:
            raise ValueError(f"a {self.name} chart needs at least one series ({chart.title!r} has none)")

    @placeholder
    def draw(self, canvas: Canvas) -> Markup:
        """The drawing of a chart that has something to show."""
        raise NotImplementedError

    def columns(self, canvas: Canvas) -> list[Column]:
        """Extra columns of the data table (none by default)."""
        return []

    def render(self, canvas: Canvas) -> Markup:
        """The whole figure: caption, drawing and data table."""
        return figure(canvas, self.draw(canvas), data_table(canvas, self.columns(canvas)))


#: Every chart kind, by name.
CHART_KINDS: Kinds[ChartKind] = Kinds("chart")

_ids = itertools.count(1)


def render_chart(chart: Chart, fmt: Formatter, id_prefix: str | None = None) -> Markup:
    """``chart`` as HTML for the reader of ``fmt`` (language, locale, currency): a ``<figure>``
    with the drawing and its data table, or its "No data" state. ``id_prefix`` keeps the ids of
    its elements unique on the page (a fresh one by default)."""
    kind = CHART_KINDS.get(chart.kind)
    if kind is None:
        raise ValueError(f"unknown chart kind {chart.kind!r}; known: {', '.join(CHART_KINDS.names())}")
    kind.check(chart)
    canvas = Canvas(chart, fmt, Numbers(fmt, chart.value_format), id_prefix or f"chart-{next(_ids)}")
    return empty_figure(canvas) if chart.is_empty else kind.render(canvas)
