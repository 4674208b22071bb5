"""The reports pages in a browser (configs/sample_saas.yaml and its demo data): at 1280 px in
English and 375 px in Chinese, a manager opens the reports from the navigation, reads the
pipeline by stage (bars above its table) and the follow-ups by owner (a stacked bar above
its matrix), the deal funnel from the stage history (its figures are no links), the
quarter's forecast (his team's reps and its subtotal row), without the
page scrolling sideways (a wide table scrolls inside its own box, the
chart fits the width), and a count's link, as the stage's bar, opens the list of exactly
that many records.

Screenshots (scratch folder): reports-<width>-<lang>-{table,matrix,funnel,forecast}; report-chart-<width>-<lang>
(the pipeline's bars and table: docs/user-guide.md shows them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.browser.test_layout import no_page_scroll

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

TEXTS = {
    "en": {"reports": "Reports", "pipeline": "Pipeline by stage", "follow_ups": "Follow-ups by owner"},
    "zh": {"reports": "报表", "pipeline": "销售管道（按阶段）", "follow_ups": "跟进记录（按负责人）"},
}


def open_as(new_page, login, switch_language, lang: str, width: int) -> Any:
    phone = width < 600
    page = new_page(viewport={"width": width, "height": 812 if phone else 900}, is_mobile=phone, has_touch=phone)
    login(page, "mike")  # the sales manager: the team's records
    if lang != "en":
        switch_language(page, lang)
    return page


def chart_fits(page: Any, selector: str, width: int) -> None:
    """The report's chart (``selector``) is drawn above the table and fits the viewport."""
    chart = page.locator(f".report-chart {selector}")
    expect(chart).to_be_visible()
    expect(chart.locator("svg.chart-svg")).to_be_visible()
    box = chart.locator("svg.chart-svg").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, box
    table = page.locator("table.report").first.bounding_box()
    assert table is not None and box["y"] + box["height"] <= table["y"], (box, table)


@pytest.mark.parametrize(("width", "lang"), [(1280, "en"), (375, "zh")])
def test_a_manager_reads_reports_and_drills_down(
    new_page, login, switch_language, screenshot, live_server, width, lang
):
    words = TEXTS[lang]
    account = live_server.create("account", {"name": f"Report Follow-up {width} Ltd"}, user="alice")
    for method in ("call", "visit"):  # two follow-ups of the last 30 days by alice, in mike's team
        live_server.create(
            "interaction",
            {
                "account": account,
                "method": method,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                "content": "Talked about the renewal",
                "next_step": "Send the quote",
            },
            user="alice",
        )
    page = open_as(new_page, login, switch_language, lang, width)
    page.goto("/")
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible():
        toggle.click()
    page.locator("header nav").get_by_role("link", name=words["reports"]).click()
    expect(page.locator("h1")).to_have_text(words["reports"])
    page.get_by_role("link", name=words["pipeline"]).click()
    expect(page.locator("h1")).to_have_text(words["pipeline"])
    table = page.locator("table.report")
    expect(table).to_be_visible()
    chart_fits(page, "figure.chart-bar", width)
    no_page_scroll(page, width)
    screenshot(page, f"reports-{width}-{lang}-table")
    screenshot(page, f"report-chart-{width}-{lang}")

    page.goto("/reports/activities_by_owner")
    expect(page.locator("table.report.matrix").first).to_be_visible()
    chart_fits(page, "figure.chart-stacked-bar", width)
    no_page_scroll(page, width)
    screenshot(page, f"reports-{width}-{lang}-matrix")

    page.goto("/reports/deal_funnel")  # a funnel from the stage history: each count opens its deals
    expect(page.locator("table.report").first).to_be_visible()
    chart_fits(page, "figure.chart-funnel", width)
    no_page_scroll(page, width)
    screenshot(page, f"reports-{width}-{lang}-funnel")
    entered = page.locator("table.report tbody tr").first.locator("td.num a").first
    count = int(entered.inner_text().replace(",", ""))
    entered.click()
    page.wait_for_load_state()
    assert "moved_to=" in page.url
    expect(page.locator("table.records tbody tr")).to_have_count(count)

    page.goto("/reports/quarter_forecast?period=this_year")  # owners in the team, its subtotal row
    expect(page.locator("table.report").first).to_be_visible()
    if page.locator("table.report tbody td.num").count():  # the demo's deals close near today
        expect(page.locator("table.report tr.subtotal")).to_have_count(1)  # mike's team only
        chart_fits(page, "figure.chart-bar", width)
    no_page_scroll(page, width)
    screenshot(page, f"reports-{width}-{lang}-forecast")

    page.goto("/reports/pipeline_by_stage")
    link = page.locator("table.report tbody td.num a").first
    stage = page.locator(".report-chart a.chart-mark").first
    assert stage.get_attribute("href") == link.get_attribute("href")  # the bar drills down as the table
    count = int(link.inner_text().replace(",", ""))
    stage.click()
    page.wait_for_load_state()
    assert "/o/opportunity?" in page.url
    expect(page.locator("table.records tbody tr")).to_have_count(count)
