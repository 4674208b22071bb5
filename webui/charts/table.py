"""Tables and matrices: the figures themselves, a row per category and a column per series, with
totals of rows and columns when the values add up, every figure linked to its drill-down."""

from __future__ import annotations

from webui.charts.frame import Canvas, data_table, figure
from webui.charts.kinds import CHART_KINDS, ChartKind
from webui.charts.markup import Markup


class TableKind(ChartKind):
    """An HTML table (a matrix with two groupings: categories × series), with totals."""

    name = "table"

    def draw(self, canvas: Canvas) -> Markup:
        return data_table(canvas, css_class="chart-table chart-matrix")

    def render(self, canvas: Canvas) -> Markup:
        return figure(canvas, self.draw(canvas))


CHART_KINDS.register(TableKind())
