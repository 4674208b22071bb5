"""What every chart shares: the figure around it, the SVG root with its title and summary, a mark
(a bar, a slice, a point) with its tooltip and drill-down link, the legend, and the data table
that gives screen readers and readers without SVG the same figures.

Sizes are in the drawing's own units: every SVG is ``WIDTH`` wide (its ``viewBox``) and scales
to the width of its container, so at 375 px a label in ``FONT`` units reads at about 11 px.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from webui.charts.markup import AttrValue, Child, Markup, el
from webui.charts.model import Chart, Number
from webui.charts.numbers import Numbers
from webui.charts.style import fill
from webui.charts.text import fit, text_width
from webui.i18n import Formatter

#: Width of every drawing (viewBox units).
WIDTH = 400
#: Font size of labels and ticks.
FONT = 12
#: Height of one legend row, and the side of its swatches.
LEGEND_ROW = 18
SWATCH = 12


@dataclass(frozen=True)
class Canvas:
    """One chart being drawn for one reader: the chart, the reader's formatter, its numbers
    and the prefix that keeps the drawing's ids unique on the page."""

    chart: Chart
    fmt: Formatter
    numbers: Numbers
    prefix: str

    def t(self, key: str, **values: object) -> str:
        """UI text in the reader's language."""
        return self.fmt.t(key, **values)

    @property
    def has_links(self) -> bool:
        """Whether any figure of the chart drills down somewhere."""
        chart = self.chart
        return any(chart.link(s, i) for s in range(len(chart.series)) for i in range(len(chart.categories)))


@dataclass(frozen=True)
class Column:
    """An extra column of the data table (conversion rates, shares): a heading and one text per category."""

    heading: str
    texts: Sequence[str]


def figure(canvas: Canvas, body: Markup, table: Markup | None = None, kind_class: str = "") -> Markup:
    """The chart's ``<figure>``: caption (the title), the caller's description, ``body`` and, folded
    away in a ``<details>``, ``table``."""
    chart = canvas.chart
    details = None
    if table is not None:
        details = el("details", {"class": "chart-data"}, el("summary", {}, canvas.t("chart.show_data")), table)
    return el(
        "figure",
        {"class": f"chart chart-{kind_class or chart.kind.replace('_', '-')}", "id": canvas.prefix},
        el("figcaption", {"id": f"{canvas.prefix}-caption"}, chart.title),
        el("p", {"class": "chart-note"}, chart.description) if chart.description else None,
        body,
        details,
    )


def empty_figure(canvas: Canvas) -> Markup:
    """The figure of a chart with nothing to draw: its title and "No data"."""
    return figure(canvas, el("p", {"class": "chart-empty"}, canvas.t("chart.no_data")), kind_class="empty")


def svg(canvas: Canvas, height: float, summary: str, *content: Child, defs: Markup | None = None) -> Markup:
    """The ``<svg>`` of a drawing ``height`` high: named by its ``<title>`` and described by
    ``summary`` (``<desc>``). A drawing without links is one image (``role="img"``); with links
    it is a group whose links a screen reader reaches one by one."""
    prefix = canvas.prefix
    return el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "chart-svg",
            "viewBox": f"0 0 {WIDTH} {max(1, round(height))}",
            "width": "100%",
            "role": "group" if canvas.has_links else "img",
            "aria-labelledby": f"{prefix}-title {prefix}-desc",
            "font-size": FONT,
            "font-family": "system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif",
            "fill": "currentColor",
        },
        el("title", {"id": f"{prefix}-title"}, canvas.chart.title),
        el("desc", {"id": f"{prefix}-desc"}, summary),
        el("defs", {}, defs) if defs else None,
        *content,
    )


def mark(link: str | None, title: str, *shapes: Child, kind: str = "bar") -> Markup:
    """A figure on the drawing (``chart-<kind>``) with its label and value as tooltip; a link to
    its drill-down when it has one."""
    tooltip = el("title", {}, title)
    if link:
        return el("a", {"href": link, "class": f"chart-mark chart-{kind}", "aria-label": title}, tooltip, *shapes)
    return el("g", {"class": f"chart-mark chart-{kind}"}, tooltip, *shapes)


def label(x: float, y: float, text: str, width: float, anchor: str = "start", css_class: str | None = None) -> Markup:
    """A text at ``(x, y)`` cut to ``width`` (class ``css_class``); when cut, its full text is its tooltip."""
    shown = fit(text, width, FONT)
    attributes: dict[str, AttrValue] = {"x": float(x), "y": float(y), "text-anchor": anchor, "class": css_class}
    return el("text", attributes, el("title", {}, text) if shown != text else None, shown)


def legend(
    canvas: Canvas, names: Sequence[str], top: float, fills: Sequence[str] | None = None
) -> tuple[Markup, float]:
    """The legend of ``names`` (swatches in each series' fill) flowing in rows from ``top``;
    returns it and its height."""
    x, y, items = 0.0, top, []
    for index, name in enumerate(names):
        shown = fit(name, WIDTH / 2, FONT)
        width = SWATCH + 4 + text_width(shown, FONT) + 14
        if x and x + width > WIDTH:
            x, y = 0.0, y + LEGEND_ROW
        paint = fills[index] if fills else fill(canvas.prefix, index)
        items.append(
            el(
                "g",
                {"class": "chart-legend-item"},
                el("rect", {"x": float(x), "y": float(y + 2), "width": SWATCH, "height": SWATCH, "fill": paint}),
                label(x + SWATCH + 4, y + 12, name, WIDTH / 2),
            )
        )
        x += width
    return el("g", {"class": "chart-legend"}, items), y + LEGEND_ROW - top


def value_title(canvas: Canvas, category: int, series: int | None = None, value: Number | None = None) -> str:
    """The tooltip of a figure: "Quote: 12", "Quote · Won: 3"."""
    chart = canvas.chart
    name = chart.categories[category].label
    if series is not None and len(chart.series) > 1:
        name = f"{name} · {chart.series[series].name}"
    return canvas.t("chart.value_title", name=name, value=canvas.numbers.full(value))


def summary(canvas: Canvas) -> str:
    """What the drawing shows, in one or two sentences: the caller's description, the kind and
    the number of categories, and (one series) the highest and the lowest figure."""
    chart = canvas.chart
    kind = canvas.t(f"chart.kind.{chart.kind}")
    count = len(chart.categories)
    if len(chart.series) == 1:
        pairs = [(v, c.label) for v, c in zip(chart.series[0].values, chart.categories, strict=True) if v is not None]
        high = max(pairs, key=lambda pair: pair[0])
        low = min(pairs, key=lambda pair: pair[0])
        text = canvas.t(
            "chart.summary",
            kind=kind,
            count=count,
            high_label=high[1],
            high=canvas.numbers.full(high[0]),
            low_label=low[1],
            low=canvas.numbers.full(low[0]),
        )
    else:
        separator = canvas.t("chart.list_separator")
        text = canvas.t(
            "chart.summary_series", kind=kind, count=count, series=separator.join(s.name for s in chart.series)
        )
    return f"{chart.description} {text}".strip() if chart.description else text


def total(values: Iterable[Number | None]) -> Number | None:
    """The sum of the values present (None when there is none)."""
    present = [v for v in values if v is not None]
    return sum(present[1:], present[0]) if present else None


def _linked(text: str, link: str | None) -> Markup:
    return el("a", {"href": link}, text) if link else el("span", {}, text)


def data_table(canvas: Canvas, extra: Sequence[Column] = (), css_class: str = "chart-table") -> Markup:
    """The chart's figures as a table: a row per category (linked to its list), a column per
    series (each figure linked to its drill-down), ``extra`` columns, and totals when the values
    add up (a column with several series, a row with several categories)."""
    chart, numbers = canvas.chart, canvas.numbers
    row_totals = chart.additive and len(chart.series) > 1
    heading = chart.category_heading or canvas.t("chart.category")
    head = el(
        "tr",
        {},
        el("th", {"scope": "col"}, heading),
        [el("th", {"scope": "col", "class": "num"}, s.name) for s in chart.series],
        [el("th", {"scope": "col", "class": "num"}, c.heading) for c in extra],
        el("th", {"scope": "col", "class": "num"}, canvas.t("chart.total")) if row_totals else None,
    )
    rows = []
    for i, category in enumerate(chart.categories):
        values = [s.values[i] for s in chart.series]
        rows.append(
            el(
                "tr",
                {},
                el("th", {"scope": "row"}, _linked(category.label, category.link)),
                [
                    el("td", {"class": "num"}, _linked(numbers.full(v), chart.link(s, i) if v is not None else None))
                    for s, v in enumerate(values)
                ],
                [el("td", {"class": "num"}, c.texts[i]) for c in extra],
                el("td", {"class": "num"}, numbers.full(total(values))) if row_totals else None,
            )
        )
    foot = None
    if chart.additive and len(chart.categories) > 1:
        sums = [total(s.values) for s in chart.series]
        foot = el(
            "tfoot",
            {},
            el(
                "tr",
                {},
                el("th", {"scope": "row"}, canvas.t("chart.total")),
                [el("td", {"class": "num"}, numbers.full(v)) for v in sums],
                [el("td", {}, "") for _ in extra],
                el("td", {"class": "num"}, numbers.full(total(sums))) if row_totals else None,
            ),
        )
    table = el(
        "table",
        {"class": css_class},
        el("caption", {"class": "vh"}, chart.title),
        el("thead", {}, head),
        el("tbody", {}, rows),
        foot,
    )
    return el("div", {"class": "chart-scroll"}, table)
