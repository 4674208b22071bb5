"""Each report's chart on its page (issue 15 §3), over HTTP on SQLite and PostgreSQL.

The deals of tests/runtime/test_reports.py with five more reports, one per way of drawing:
a bar of counts by source (every bar links to exactly its table number's list), a bar of money
(the pipeline next to the weighted pipeline, in the company currency), a stacked bar over two
levels (a series per stage, each part linked to its matrix cell), a donut of a rate (drawn as
bars in percent: a rate does not add up) and a KPI against the previous quarter. The chart
kinds a config may name are the kinds the renderer draws.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from engine import Trellis
from engine.metadata.reports import CHARTS
from tests.conftest import Clock, fresh_database
from tests.runtime.test_reports import CONFIG, NOW, seed
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, post, text
from webui.charts import CHART_KINDS

CHART_REPORTS = """
  chart_sources: {object: deal, group_by: [source], measures: [count, {sum: amount}], chart: bar}
  chart_money: {object: deal, group_by: [stage], measures: [{sum: amount}, {weighted: amount}, count], chart: bar}
  chart_stacked: {object: deal, group_by: [source, stage], measures: [count], chart: stacked_bar}
  chart_rate: {object: deal, group_by: [source], measures: [{rate: converted}], chart: donut}
  chart_kpi: {object: deal, filter: {created_at: this_quarter}, measures: [count], chart: kpi}
  chart_kpi_lower: {object: deal, filter: {created_at: this_quarter}, measures: [count], chart: kpi, better: lower}
  chart_table: {object: deal, group_by: [source], chart: table}
  chart_line: {object: deal, group_by: [{field: created_at, by: month}], chart: line}
  chart_funnel: {object: deal, group_by: [stage, source], chart: funnel}
  chart_rate_funnel: {object: deal, group_by: [stage, source], measures: [{rate: converted}], chart: funnel}
  chart_dates: {object: deal, group_by: [source], measures: [{min: close_date}], chart: bar}
  chart_total: {object: deal, measures: [{sum: amount}], chart: bar}
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_charts")
    (folder / "config.yaml").write_text(CONFIG + CHART_REPORTS, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock, PASSWORD)
    yield make_app(crm)
    crm.close()
    next(urls, None)


@pytest.fixture(scope="module")
def bo(app):
    return client_for(app, "bo")  # reads every deal


def svg(page: str) -> str:
    """The report's chart: the SVG inside ``.report-chart``."""
    chart = page.split('<div class="report-chart">', 1)[1]
    return chart.split("<svg", 1)[1].split("</svg>", 1)[0]


def marks(page: str) -> list[tuple[str, str]]:
    """(href, tooltip) of every linked bar, slice or point of the chart."""
    found = re.findall(r'<a href="([^"]+)" class="chart-mark[^"]*" aria-label="([^"]*)"', svg(page))
    return [(html.unescape(href), html.unescape(label)) for href, label in found]


def table_links(page: str, column: int = 0) -> list[str]:
    """The links of the ``column``-th number of each row of the report's table."""
    body = page.split('<table class="report', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = []
    for row in body.split("<tr>")[1:]:
        cells = re.findall(r'<td class="num">(?:<a href="([^"]*)">)?', row)
        out.append(html.unescape(cells[column]))
    return out


def chart_enums(node: object) -> list[list[str]]:
    """Every ``chart`` property's ``enum`` in a JSON schema."""
    if isinstance(node, list):
        return [e for item in node for e in chart_enums(item)]
    if not isinstance(node, dict):
        return []
    found = [node["chart"]["enum"]] if isinstance(node.get("chart"), dict) and "enum" in node["chart"] else []
    return found + [e for value in node.values() for e in chart_enums(value)]


def test_every_chart_kind_a_config_names_is_drawn():
    schema = json.loads((Path(__file__).parents[2] / "engine/metadata/schema.json").read_text(encoding="utf-8"))
    enums = chart_enums(schema)  # a report's `chart` and a dashboard widget's
    assert len(enums) == 2 and all(set(enum) == set(CHARTS) == set(CHART_KINDS.names()) for enum in enums)


def test_the_page_draws_the_chart_above_the_table_and_its_bars_link_as_the_numbers(bo):
    page = text(bo.get("/reports/chart_sources"))
    assert page.index('<div class="report-chart">') < page.index('<table class="report')
    assert 'class="chart-svg"' in page and "<title" in svg(page) and "Count by Source" in page
    found = marks(page)
    assert [href for href, _ in found] == table_links(page)  # the same lists as the table's counts
    assert [label for _, label in found][:2] == ["Website: 3", "Trade fair: 1"]


def test_money_measures_share_an_axis_in_the_company_currency(bo):
    page = text(bo.get("/reports/chart_money"))
    chart = svg(page)
    assert "Sum of Amount" in chart and "Weighted Amount" in chart and "Count" not in chart.split("</desc>")[1]
    labels = [label for _, label in marks(page)]
    assert "Won · Sum of Amount: CN¥4,000.00" in labels
    assert "Quote · Weighted Amount: CN¥250.25" in labels


def test_a_two_level_report_is_a_stacked_bar_linked_as_its_matrix(bo):
    page = text(bo.get("/reports/chart_stacked"))
    assert 'class="chart chart-stacked-bar"' in page
    assert "Stacked bar chart of New, Quote, Won, Lost" in page  # the stages in their pipeline order
    found = dict((label, href) for href, label in marks(page))
    assert set(found) >= {"Website · Won: 2", "Website · Quote: 1", "Trade fair · New: 1"}
    matrix = page.split('<table class="report matrix">', 1)[1]
    cells = {html.unescape(h) for h in re.findall(r'<td class="num"><a href="([^"]*)">', matrix)}
    assert set(found.values()) <= cells  # every part is one of the matrix's numbers


def test_a_rate_is_drawn_in_percent_as_bars(bo):
    page = text(bo.get("/reports/chart_rate"))
    assert 'class="chart chart-bar"' in page  # a donut of a rate would share out what does not add up
    assert "Website: 66.7%" in [label for _, label in marks(page)]


def test_a_kpi_against_the_previous_quarter(bo):
    page = text(bo.get("/reports/chart_kpi"))
    kpi = page.split('<div class="report-chart">', 1)[1].split("</figure>", 1)[0]
    assert '<p class="kpi-value"><a href="' in kpi and ">4</a>" in kpi
    assert "against last quarter: 2" in kpi and "+2" in kpi and "+100.0%" in kpi
    assert "kpi-change kpi-good" in kpi
    fewer_is_better = text(bo.get("/reports/chart_kpi_lower")).split('<div class="report-chart">', 1)[1]
    assert "kpi-change kpi-bad" in fewer_is_better and "+100.0%" in fewer_is_better  # the same rise, bad news
    mine = text(client_for(bo.application, "rita").get("/reports/chart_kpi?owner=me"))
    assert ">2</a>" in mine.split('class="kpi-value"', 1)[1].split("</p>", 1)[0]  # A1 and A3; A2 last quarter


def test_chinese_labels_and_no_chart_for_a_table(app):
    client = client_for(app, "bo")
    post(client, "/lang", {"lang": "zh", "next": "/reports"}, form_url="/reports")
    page = text(client.get("/reports/chart_sources"))
    labels = [label for _, label in marks(page)]
    assert labels[0].startswith("官网") and "按来源统计的数量" in page
    assert "report-chart" not in text(client.get("/reports/chart_table"))


def test_a_line_over_months_a_funnel_of_subtotals_a_total_and_no_chart_of_dates(bo):
    line = text(bo.get("/reports/chart_line"))
    assert [label for _, label in marks(line)] == ["Jan 2026: 1", "Mar 2026: 1", "Apr 2026: 4"]
    assert [href for href, _ in marks(line)] == table_links(line)
    funnel = text(bo.get("/reports/chart_funnel"))  # two levels: the stages' totals (the matrix's row totals)
    assert [label for _, label in marks(funnel)] == ["New: 2", "Quote: 1", "Won: 2", "Lost: 1"]
    totals = [html.unescape(h) for h in re.findall(r'<td class="num total"><a href="([^"]*)">', funnel)]
    assert [href for href, _ in marks(funnel)] == totals[:4]
    rates = text(bo.get("/reports/chart_rate_funnel"))  # a rate has no stage totals: bars per source
    assert 'class="chart chart-bar"' in rates and "Won · Website: 100.0%" in [label for _, label in marks(rates)]
    total = text(bo.get("/reports/chart_total"))
    assert "Total: CN¥4,800.50" in [label for _, label in marks(total)]
    assert "No records match" not in total  # a report without groups is its total row
    dates = text(bo.get("/reports/chart_dates"))
    assert "report-chart" not in dates and ">2026-04-10</a>" in dates  # a date is no bar; the table shows it
