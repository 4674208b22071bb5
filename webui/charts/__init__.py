"""Charts drawn on the server: accessible SVG (and HTML for key figures and tables), no script,
no CDN.

A caller (a report, a dashboard widget, an e-mail) builds a ``Chart`` of its figures
(``model``: ``Chart``, ``Category``, ``Series``, ``Kpi``, ``ValueFormat``) and renders it for a
reader with ``render_chart(chart, formatter)``; in a template, ``{{ chart(c) }}`` renders it for
the page's reader. Modules, one concern each:

- ``model``: the input types; ``kinds``: the registry of chart kinds and ``render_chart``;
- ``frame``: the figure, the SVG root with its title and summary, marks, legend, data table;
- ``numbers``: round axis steps and values in the reader's locale (full and compact);
- ``text``: label widths (CJK characters count double) and cutting; ``markup``: escaped
  elements; ``style``: the colour-blind-safe palette, patterns and markers;
- one module per kind: ``bars`` (``bar``, ``stacked_bar``), ``line``, ``funnel``, ``donut``,
  ``kpi``, ``table``.

It depends on nothing but ``webui.i18n`` (words and the formatter) and the registry type of
``engine.metadata.kinds``; styles are in ``webui/static/charts.css``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from markupsafe import Markup

from webui.charts import bars, donut, funnel, kpi, line, table  # noqa: F401 - each registers its kinds
from webui.charts.kinds import CHART_KINDS, ChartKind, render_chart
from webui.charts.model import Category, Chart, Kpi, Series, ValueFormat
from webui.i18n import Formatter

__all__ = ["CHART_KINDS", "Category", "Chart", "ChartKind", "Kpi", "Series", "ValueFormat", "init_app", "render_chart"]


def init_app(app: Flask, formatter: Callable[[], Formatter]) -> None:
    """Give templates ``chart(c)``: the chart rendered for the page's reader (``formatter()``)."""

    def chart(c: Chart) -> Markup:
        return render_chart(c, formatter())

    app.add_template_global(chart, "chart")
