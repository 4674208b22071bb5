"""Charts drawn on the server (webui/charts): every kind in English and Chinese, read back with
xml.etree — bars proportional to their values, drill-down links, tooltips, the data table,
numbers in each locale (compact 1.2M / 1.2万), the empty, negative and all-zero cases, hostile
labels escaped. No database and no server: a chart is a pure function of its figures."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from flask import Flask, render_template_string

from engine.metadata.kinds import missing_parts
from tests.webui.chart_samples import formatter, samples
from webui import charts
from webui.charts import CHART_KINDS, Category, Chart, Kpi, Series, ValueFormat, render_chart
from webui.charts.numbers import Numbers, nice_scale
from webui.charts.text import fit, text_width

SVG = "{http://www.w3.org/2000/svg}"
EN, ZH = formatter("en"), formatter("zh")


def approx(expected: float) -> object:
    """Equal up to the two digits after the point that drawings are written with."""
    return pytest.approx(expected, rel=1e-3, abs=0.02)


def draw(chart: Chart, fmt=EN) -> ET.Element:
    """The chart's figure, parsed as XML (which it must be)."""
    return ET.fromstring(str(render_chart(chart, fmt, id_prefix="c")))


def marks(figure: ET.Element, kind: str = "bar") -> list[ET.Element]:
    """The marks (bars, slices, points) of a drawing, linked or not, in document order."""
    return [
        e
        for e in figure.iter()
        if f"chart-{kind}" in (e.get("class") or "").split() and "chart-mark" in e.get("class", "")
    ]


def shape(mark: ET.Element) -> ET.Element:
    return next(child for child in mark if child.tag != f"{SVG}title")


def tooltip(mark: ET.Element) -> str:
    return mark.find(f"{SVG}title").text


def shown(text: ET.Element) -> str:
    """What a text element shows (its tooltip left out)."""
    return (text.text or "") + "".join(child.tail or "" for child in text)


def table_rows(figure: ET.Element) -> list[list[str]]:
    """The data table's rows (head, body, totals) as the texts of their cells."""
    table = figure.find(".//table")
    return [["".join(cell.itertext()) for cell in row] for row in table.iter("tr")]


def bars_chart(values, labels=None, **options) -> Chart:
    labels = labels or [f"S{i}" for i in range(len(values))]
    return Chart("bar", "Deals", [Category(label) for label in labels], [Series("Deals", values)], **options)


# --- every kind, both languages --------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", list(samples("en")))
def test_every_kind_draws_a_titled_figure_in_both_languages(name, lang):
    chart = samples(lang)[name]
    figure = draw(chart, formatter(lang))
    assert figure.tag == "figure" and figure.find("figcaption").text == chart.title
    svg = figure.find(f"{SVG}svg")
    if name in ("kpi", "table"):
        assert svg is None  # HTML: a number and a table
        return
    assert svg.get("viewBox").startswith("0 0 400 ") and svg.get("width") == "100%"
    assert svg.get("aria-labelledby") == "c-title c-desc"
    assert svg.find(f"{SVG}title").text == chart.title and svg.find(f"{SVG}desc").text
    linked = any(e.tag == f"{SVG}a" for e in svg.iter())
    assert svg.get("role") == ("group" if linked else "img")
    assert figure.find("details/summary").text == ("Show the figures as a table" if lang == "en" else "以表格查看数据")


def test_every_registered_kind_has_its_parts():
    assert set(CHART_KINDS.names()) == {"bar", "stacked_bar", "line", "funnel", "donut", "kpi", "table"}
    assert [kind.name for kind in CHART_KINDS if missing_parts(kind, ("draw", "render", "check", "columns"))] == []


def test_an_unknown_kind_or_mismatched_series_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown chart kind 'pie'; known: bar, stacked_bar"):
        render_chart(Chart("pie", "x", [Category("a")], [Series("n", [1])]), EN)
    with pytest.raises(ValueError, match="series 'n' has 1 values for 2 categories"):
        Chart("bar", "x", [Category("a"), Category("b")], [Series("n", [1])])
    with pytest.raises(ValueError, match="2 values but 1 links"):
        Series("n", [1, 2], ["/a"])
    with pytest.raises(ValueError, match="a kpi chart needs its figure"):
        render_chart(Chart("kpi", "x"), EN)
    with pytest.raises(ValueError, match="must add up"):
        render_chart(Chart("donut", "x", [Category("a")], [Series("n", [1])], additive=False), EN)
    with pytest.raises(ValueError, match="finite number"):
        Series("n", [Decimal("NaN")])


# --- bars ------------------------------------------------------------------------------------------


def test_upright_bars_are_as_high_as_their_values_and_link_to_their_lists():
    chart = Chart(
        "bar",
        "Deals by stage",
        [Category("Qualified", "/o/deal?stage=q"), Category("Quote", "/o/deal?stage=quote"), Category("Won")],
        [Series("Deals", [40, 10, 25])],
    )
    figure = draw(chart)
    bars = marks(figure)
    heights = [float(shape(b).get("height")) for b in bars]
    assert heights[0] / heights[1] == approx(4.0) and heights[2] / heights[1] == approx(2.5)
    assert [tooltip(b) for b in bars] == ["Qualified: 40", "Quote: 10", "Won: 25"]
    assert [b.get("href") for b in bars] == ["/o/deal?stage=q", "/o/deal?stage=quote", None]
    assert bars[0].get("aria-label") == "Qualified: 40"
    bottoms = {round(float(shape(b).get("y")) + float(shape(b).get("height")), 2) for b in bars}
    assert len(bottoms) == 1  # all stand on the zero line
    desc = figure.find(f"{SVG}svg/{SVG}desc").text
    assert desc == "Bar chart of 3 categories. Highest: Qualified, 40. Lowest: Quote, 10."
    assert table_rows(figure) == [
        ["Category", "Deals"],
        ["Qualified", "40"],
        ["Quote", "10"],
        ["Won", "25"],
        ["Total", "75"],
    ]
    assert figure.find(".//tbody/tr/td/a").get("href") == "/o/deal?stage=q"


def test_many_or_long_labels_lay_the_bars_down_and_cut_labels_keeping_the_full_text():
    long = "长三角地区的大型企业客户与重点行业客户"
    chart = bars_chart([30, 15, 45], ["华东", "华南", long])
    figure = draw(chart, ZH)
    bars = marks(figure)
    widths = [float(shape(b).get("width")) for b in bars]
    assert widths[0] / widths[1] == approx(2.0) and widths[2] / widths[1] == approx(3.0)
    assert len({shape(b).get("x") for b in bars}) == 1  # they start at zero, side by side
    cut = [t for t in figure.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    assert len(cut) == 1 and cut[0].find(f"{SVG}title").text == long
    assert "".join(cut[0].itertext()).endswith("…") and len("".join(cut[0].itertext())) < len(long) * 2
    assert len(marks(draw(bars_chart(list(range(1, 9)))))) == 8  # eight short labels lie down too


def test_negative_values_reach_below_zero():
    figure = draw(bars_chart([Decimal(-50), Decimal(100)], ["Refunds", "Sales"], value_format=ValueFormat.money("USD")))
    refund, sale = (shape(b) for b in marks(figure))
    zero = float(sale.get("y")) + float(sale.get("height"))
    assert float(refund.get("y")) == approx(zero)  # hangs below the zero line…
    assert float(sale.get("height")) / float(refund.get("height")) == approx(2.0)  # …proportionally
    ticks = [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-tick"]
    assert ticks[0].startswith("-") and "$0" in ticks
    assert [tooltip(b) for b in marks(figure)] == ["Refunds: -$50.00", "Sales: $100.00"]


def test_all_zero_values_draw_flat_bars_on_a_zero_to_one_axis():
    figure = draw(bars_chart([0, 0, 0]))
    assert {float(shape(b).get("height")) for b in marks(figure)} == {0.0}
    assert [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-tick"] == ["0", "1"]


@pytest.mark.parametrize(
    ("chart", "fmt", "words"),
    [
        (bars_chart([]), EN, "No data"),
        (bars_chart([None, None], ["a", "b"]), ZH, "暂无数据"),
        (Chart("kpi", "Won", kpi=Kpi(None)), ZH, "暂无数据"),
        (Chart("donut", "Won", [], [Series("n", [])]), EN, "No data"),
    ],
)
def test_nothing_to_show_says_so(chart, fmt, words):
    figure = draw(chart, fmt)
    assert figure.find("figcaption").text == chart.title
    assert figure.find("p[@class='chart-empty']").text == words and figure.find(f"{SVG}svg") is None


def test_stacked_bars_stack_each_series_and_total_them():
    figure = draw(samples("en")["stacked_bar"])
    new, renewal = ([b for b in marks(figure) if f"sample={kind}&" in b.get("href", "")] for kind in ("new", "renewal"))
    assert len(new) == 4 and len(renewal) == 3  # a missing value has no part
    assert float(shape(new[0]).get("height")) / float(shape(renewal[0]).get("height")) == approx(30 / 12)
    # the renewal part sits on top of the new-business part
    assert float(shape(renewal[0]).get("y")) + float(shape(renewal[0]).get("height")) == approx(
        float(shape(new[0]).get("y"))
    )
    assert tooltip(renewal[0]) == "Website · Renewal: 12"
    totals = [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert totals == ["42", "24", "12", "4"]
    legend = [t for g in figure.iter(f"{SVG}g") if g.get("class") == "chart-legend" for t in g.iter(f"{SVG}text")]
    assert ["".join(t.itertext()) for t in legend] == ["New business", "Renewal"]
    # the second series is patterned as well as coloured, in the bars and the legend
    assert (
        shape(renewal[0]).get("fill") == "url(#c-fill-1)"
        and figure.find(f".//{SVG}pattern[@id='c-fill-1']") is not None
    )
    swatches = [r.get("fill") for r in figure.iter(f"{SVG}rect") if r.get("width") == "12"]
    assert swatches == ["#0072B2", "url(#c-fill-1)"]
    assert table_rows(figure)[0] == ["Category", "New business", "Renewal", "Total"]
    assert table_rows(figure)[-1] == ["Total", "61", "21", "82"]


def test_stacked_negative_parts_go_below_zero():
    chart = Chart("stacked_bar", "Net", [Category("Q1")], [Series("In", [Decimal(80)]), Series("Out", [Decimal(-20)])])
    inflow, outflow = (shape(b) for b in marks(draw(chart)))
    assert float(outflow.get("y")) == approx(float(inflow.get("y")) + float(inflow.get("height")))
    assert float(inflow.get("height")) / float(outflow.get("height")) == approx(4.0)


# --- line, funnel, donut, kpi, table -----------------------------------------------------------------


def test_a_line_has_a_marked_point_per_value_and_breaks_where_one_is_missing():
    figure = draw(samples("zh")["line"], ZH)
    points = marks(figure, "point")
    assert len(points) == 23  # 12 + 12 months, one missing
    assert tooltip(points[0]) == "1月 · 新业务：¥120,000.00"
    first, second = figure.iter(f"{SVG}path")
    assert first.get("d").count("M") == 2 and second.get("d").count("M") == 1
    assert second.get("stroke-dasharray") and not first.get("stroke-dasharray")  # told apart without colour
    assert points[0][1].tag == f"{SVG}circle" and points[-1][1].tag == f"{SVG}rect"
    ticks = [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-tick"]
    assert ticks == ["¥0", "¥10万", "¥20万", "¥30万", "¥40万"]


def test_a_line_over_many_categories_thins_its_labels():
    chart = Chart("line", "Daily", [Category(f"2026-03-{d:02}") for d in range(1, 31)], [Series("n", list(range(30)))])
    labels = [t for t in draw(chart).iter(f"{SVG}text") if t.get("class") == "chart-category"]
    assert 3 <= len(labels) <= 10 and "".join(labels[0].itertext()) == "2026-03-01"


def test_a_funnel_is_proportional_and_gives_stage_to_stage_conversion():
    figure = draw(samples("en")["funnel"])
    stages = marks(figure, "stage")
    widths = [float(shape(s).get("width")) for s in stages]
    assert widths[0] == 400 and widths[1] / widths[0] == approx(0.6) and widths[4] / widths[0] == approx(0.09)
    centres = {round(float(shape(s).get("x")) + float(shape(s).get("width")) / 2, 2) for s in stages}
    assert centres == {200.0}
    assert stages[2].get("href") == "/objects/opportunity?sample=stage&i=2"
    figures = [t for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert [shown(t) for t in figures[:2]] == ["200", "120 · 60.0% of previous"]
    assert tooltip(figures[1]) == "60.0% of Qualified reached Needs analysis"
    rows = table_rows(figure)
    assert rows[0] == ["Category", "Deals", "Conversion from the previous stage", "Conversion from the first stage"]
    assert rows[1] == ["Qualified", "200", "—", "100.0%"] and rows[3] == ["Quote", "60", "50.0%", "30.0%"]


def test_a_funnel_after_an_empty_stage_has_no_rate():
    chart = Chart("funnel", "F", [Category("a"), Category("b"), Category("c")], [Series("n", [5, 0, 0])])
    assert table_rows(draw(chart, ZH))[2:4] == [["b", "0", "0.0%", "0.0%"], ["c", "0", "—", "0.0%"]]


def test_a_donut_groups_tiny_slices_as_other_and_gives_shares():
    figure = draw(samples("zh")["donut"], ZH)
    slices = marks(figure, "slice")
    assert len(slices) == 6
    assert tooltip(slices[0]) == "官网：120（35.9%）"
    assert tooltip(slices[-1]) == "其他（合作伙伴、线上研讨会、其他广告）：4（1.2%）" and slices[-1].get("href") is None
    assert slices[0].get("href") == "/objects/opportunity?sample=source&i=0"
    legend = ["".join(t.itertext()) for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert legend[0] == "120 · 35.9%" and legend[-1] == "4 · 1.2%"
    assert [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-total"] == ["334"]
    rows = table_rows(figure)
    assert len(rows) == 10 and rows[6] == ["合作伙伴", "2", "0.6%"]  # every category has its row


def test_a_donut_leaves_out_negative_values_and_says_so():
    chart = Chart("donut", "Net", [Category("A"), Category("B"), Category("C")], [Series("n", [30, 10, -5])])
    figure = draw(chart)
    assert len(marks(figure, "slice")) == 2
    warning = next(t for t in figure.iter(f"{SVG}text") if t.get("class") == "chart-warning")
    assert "".join(warning.itertext()) == "Negative values cannot be slices and are not drawn: C."


def test_a_donut_without_a_positive_value_has_no_slice_but_its_table():
    figure = draw(Chart("donut", "Net", [Category("A"), Category("B")], [Series("n", [0, -3])]), ZH)
    assert figure.find("p[@class='chart-empty']").text == "暂无数据" and figure.find(f"{SVG}svg") is None
    assert table_rows(figure)[1:3] == [["A", "0", "—"], ["B", "-3", "—"]]


def test_a_single_slice_is_a_whole_ring():
    figure = draw(Chart("donut", "All", [Category("A")], [Series("n", [7])]))
    assert shape(marks(figure, "slice")[0]).get("d").count("M") == 2


@pytest.mark.parametrize(
    ("kpi", "fmt", "tone", "sentence"),
    [
        (Kpi(120, 100), EN, "good", "▲ Up +20.0% (+20) against previous period: 100"),
        (Kpi(80, 100, previous_label="Q1 2026"), EN, "bad", "▼ Down -20.0% (-20) against Q1 2026: 100"),
        (Kpi(12, 8, higher_is_better=False), ZH, "bad", "▲ 上升 +50.0%（+4），上期：8"),
        (Kpi(5, 0), ZH, "good", "▲ 上升 +5，上期：0"),
        (Kpi(7, 7), EN, "flat", "▶ No change 0.0% (0) against previous period: 7"),
    ],
)
def test_a_kpi_gives_the_change_with_arrow_word_and_sign(kpi, fmt, tone, sentence):
    figure = draw(Chart("kpi", "Complaints", kpi=kpi), fmt)
    change = figure.find(".//p[@class]/span/..")
    assert change.get("class") == f"kpi-change kpi-{tone}"
    assert "".join(change.itertext()) == sentence
    assert change.find("span").get("aria-hidden") == "true"


def test_a_kpi_without_previous_value_shows_the_number_linked():
    figure = draw(
        Chart("kpi", "Won", kpi=Kpi(Decimal("1234567.5"), link="/o/deal?won=1"), value_format=ValueFormat.money()), ZH
    )
    value = figure.find(".//p[@class='kpi-value']/a")
    assert value.text == "¥1,234,567.50" and value.get("href") == "/o/deal?won=1"
    assert figure.find(".//p[@class='kpi-change']") is None


def test_a_matrix_has_totals_of_rows_and_columns_and_links_each_figure():
    figure = draw(samples("en")["table"])
    assert figure.find("details") is None  # the table is the chart
    assert table_rows(figure) == [
        ["Owner", "New business", "Renewal", "Total"],
        ["Alice Wong", "5", "2", "7"],
        ["Bob Li", "3", "—", "3"],
        ["Carol Zhang", "0", "4", "4"],
        ["Total", "8", "6", "14"],
    ]
    links = [a.get("href") for a in figure.iter("a")]
    assert links == [
        "/objects/opportunity?sample=n&i=0",
        "/objects/opportunity?sample=r&i=0",
        "/objects/opportunity?sample=n&i=1",
        "/objects/opportunity?sample=n&i=2",
        "/objects/opportunity?sample=r&i=2",
    ]  # a missing figure has no link


def test_values_that_do_not_add_up_get_no_totals():
    chart = Chart(
        "table",
        "Rates",
        [Category("a"), Category("b")],
        [Series("x", [50, 25]), Series("y", [10, 20])],
        ValueFormat.percent(),
        additive=False,
    )
    assert table_rows(draw(chart)) == [["Category", "x", "y"], ["a", "50.0%", "10.0%"], ["b", "25.0%", "20.0%"]]
    stacked = Chart("stacked_bar", "Rates", chart.categories, chart.series, ValueFormat.percent(), additive=False)
    assert [t for t in draw(stacked).iter(f"{SVG}text") if t.get("class") == "chart-value"] == []


# --- numbers and text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "spec", "value", "full", "compact"),
    [
        (EN, ValueFormat.number(), 1234567, "1,234,567", "1.2M"),
        (EN, ValueFormat.number(), 12000, "12,000", "12K"),
        (EN, ValueFormat.number(), -2500, "-2,500", "-2.5K"),
        (EN, ValueFormat.number(), Decimal("0.25"), "0.25", "0.2"),
        (ZH, ValueFormat.number(), 12000, "12,000", "1.2万"),
        (ZH, ValueFormat.number(), 340000000, "340,000,000", "3.4亿"),
        (EN, ValueFormat.money(), Decimal("12345.6"), "CN¥12,345.60", "CN¥12.3K"),
        (ZH, ValueFormat.money(), Decimal("12345.6"), "¥12,345.60", "¥1.2万"),
        (ZH, ValueFormat.money("USD"), 1500, "US$1,500.00", "US$1500"),
        (EN, ValueFormat.percent(), Decimal("12.345"), "12.3%", "12.3%"),
        (EN, ValueFormat.number(scale=2), 3, "3.00", "3"),
        (EN, ValueFormat.number(), None, "—", "—"),
    ],
)
def test_values_are_written_in_the_readers_locale(fmt, spec, value, full, compact):
    numbers = Numbers(fmt, spec)
    assert (numbers.full(value), numbers.compact(value)) == (full, compact)


@pytest.mark.parametrize(
    ("values", "step", "low", "high"),
    [
        ([87], 20, 0, 100),
        ([12, 40], 10, 0, 40),
        ([-35, 80], 50, -50, 100),
        ([Decimal("0.3")], Decimal("0.1"), 0, Decimal("0.3")),
        ([1234567], 500000, 0, 1500000),
        ([0, 0], 1, 0, 1),
        ([], 1, 0, 1),
    ],
)
def test_axes_step_by_one_two_or_five_times_a_power_of_ten_from_zero(values, step, low, high):
    scale = nice_scale(values, 5)
    assert (scale.step, scale.low, scale.high) == (step, low, high)
    assert scale.ticks[0] == low and scale.ticks[-1] == high
    assert str(scale.step.normalize()).lstrip("0.").rstrip("0").replace("E+", "")[0] in "125"


def test_ticks_read_compact_with_the_digits_their_step_needs():
    numbers = Numbers(EN, ValueFormat.number())
    scale = nice_scale([Decimal("0.3")], 8)
    assert [numbers.tick(t, scale) for t in scale.ticks] == ["0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3"]
    scale = nice_scale([1250000], 8)
    assert [Numbers(ZH, ValueFormat.number()).tick(t, scale) for t in scale.ticks][-2:] == ["120万", "140万"]
    assert [numbers.tick(t, scale) for t in scale.ticks][-2:] == ["1.2M", "1.4M"]


def test_chinese_characters_count_about_twice_as_wide():
    assert text_width("销售", 12) == pytest.approx(2 * text_width("ab", 12), rel=0.25)
    assert fit("Sales team", 80, 12) == "Sales team"
    assert fit("华东区大客户销售团队", 80, 12) == "华东区大客户…"
    assert fit("华东区", 80, 12) == "华东区"


def test_any_figures_draw_a_well_formed_figure():
    """Seeded random charts of every kind: missing, zero, negative, tiny and huge values, one or
    many categories and series, long Chinese labels — each draws, parses, and reads them all."""
    rng = random.Random(15)
    pick = [None, 0, 1, -1, 7, Decimal("0.004"), Decimal("-2500.5"), Decimal("987654321.25"), 42, 1000]
    for index in range(150):
        kind = [k for k in CHART_KINDS.names() if k != "kpi"][index % 6]
        count = rng.choice([1, 2, 3, 7, 13, 40])
        labels = [
            rng.choice(["Q", "华东区大客户销售团队", "Needs analysis and scoping", f"{index}"]) for _ in range(count)
        ]
        series = [
            Series(f"s{s}", [rng.choice(pick) for _ in range(count)], [f"/o/x?i={i}" for i in range(count)])
            for s in range(1 if kind in ("funnel", "donut") else rng.choice([1, 2, 9]))
        ]
        chart = Chart(
            kind,
            f"c{index}",
            [Category(label) for label in labels],
            series,
            rng.choice([ValueFormat.number(), ValueFormat.money(), ValueFormat.percent()]),
        )
        figure = draw(chart, rng.choice([EN, ZH]))
        if not chart.is_empty:
            texts = "".join(figure.find(".//table").itertext())
            assert all(label in texts for label in labels)


def test_a_kpi_of_any_figures_reads():
    for value, previous in [(0, 0), (-5, 5), (Decimal("0.5"), Decimal("-0.25")), (10**12, 1), (3, None)]:
        figure = draw(Chart("kpi", "k", kpi=Kpi(value, previous)), ZH)
        assert figure.find(".//p[@class='kpi-value']").text


# --- safety and templates ---------------------------------------------------------------------------


def test_hostile_labels_are_escaped_everywhere():
    evil = "<script>alert(\"x\")</script> & 'q'"
    chart = Chart(
        "stacked_bar",
        evil,
        [Category(evil, "/o/deal?name=" + '%3Cscript%3E&x="1"')],
        [Series(evil, [1]), Series("ok", [2])],
        description=evil,
    )
    for fmt in (EN, ZH):
        html = str(render_chart(chart, fmt, id_prefix="c"))
        assert "<script>" not in html and "&lt;script&gt;" in html
        figure = ET.fromstring(html)  # still well-formed
        assert figure.find("figcaption").text == evil
        assert evil in [t.text for t in figure.iter(f"{SVG}title")]
        assert figure.find(f".//{SVG}a").get("href") == '/o/deal?name=%3Cscript%3E&x="1"'
    for link in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "//evil.example/x"):
        with pytest.raises(ValueError, match="path on this site"):
            Category("a", link)


def test_templates_draw_a_chart_for_the_pages_reader():
    app = Flask(__name__)
    charts.init_app(app, lambda: ZH)
    chart = bars_chart([3, 1], ["甲", "乙"])
    with app.test_request_context():
        html = render_template_string("<main>{{ chart(c) }}</main>", c=chart)
    figure = ET.fromstring(html).find("figure")
    assert figure.find("figcaption").text == "Deals"
    assert figure.find(f"{SVG}svg/{SVG}desc").text == "条形图，共 2 个类别。最高：甲，3；最低：乙，1。"
