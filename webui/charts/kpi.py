"""Key figures: a big number and its change against the previous period.

The change is written with an arrow, a word ("Up", "下降") and a sign, and coloured good or bad
by ``Kpi.higher_is_better`` — the colour is never the only cue. The change in percent is left
out when the previous value is zero. HTML, not SVG: it is text, and reflows on a phone.
"""

from __future__ import annotations

from webui.charts.frame import Canvas, figure
from webui.charts.kinds import CHART_KINDS, ChartKind
from webui.charts.markup import Markup, el
from webui.charts.model import Chart, Kpi

#: Arrow, word and colour class of a change, by its sign.
DIRECTIONS = {1: ("▲", "chart.kpi.up"), -1: ("▼", "chart.kpi.down"), 0: ("▶", "chart.kpi.same")}


def _sign(kpi: Kpi) -> int:
    change = kpi.change or 0
    return (change > 0) - (change < 0)


def tone(kpi: Kpi) -> str:
    """``good``, ``bad`` or ``flat``: how the change reads for the business."""
    sign = _sign(kpi)
    if sign == 0:
        return "flat"
    return "good" if (sign > 0) == kpi.higher_is_better else "bad"


class KpiKind(ChartKind):
    """A big number with the change against the previous period."""

    name = "kpi"

    def check(self, chart: Chart) -> None:
        if chart.kpi is None:
            raise ValueError(
                f"a kpi chart needs its figure: Chart(kind='kpi', kpi=Kpi(...)) ({chart.title!r} has none)"
            )

    def draw(self, canvas: Canvas) -> Markup:
        kpi = canvas.chart.kpi
        assert kpi is not None  # check() makes sure
        numbers = canvas.numbers
        value = numbers.full(kpi.value)
        big = el("a", {"href": kpi.link}, value) if kpi.link else value
        parts = [el("p", {"class": "kpi-value"}, big)]
        if kpi.change is not None and kpi.previous is not None:
            arrow, word = DIRECTIONS[_sign(kpi)]
            period = kpi.previous_label or canvas.t("chart.kpi.previous_period")
            change = numbers.signed(numbers.full(kpi.change), kpi.change)
            percent = kpi.change_percent
            texts = {
                "direction": canvas.t(word),
                "change": change,
                "period": period,
                "previous": numbers.full(kpi.previous),
            }
            if percent is None:
                sentence = canvas.t("chart.kpi.change_plain", **texts)
            else:
                rounded = round(percent, 1)
                sentence = canvas.t(
                    "chart.kpi.change", percent=numbers.signed(canvas.fmt.number(rounded, 1) + "%", rounded), **texts
                )
            parts.append(
                el(
                    "p",
                    {"class": f"kpi-change kpi-{tone(kpi)}"},
                    el("span", {"aria-hidden": "true"}, arrow),
                    " ",
                    sentence,
                )
            )
        return el("div", {"class": "kpi"}, parts)

    def render(self, canvas: Canvas) -> Markup:
        return figure(canvas, self.draw(canvas))


CHART_KINDS.register(KpiKind())
