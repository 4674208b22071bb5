"""The manager's home dashboard in a browser (configs/sample_saas.yaml and its demo data): Mike,
the sales manager, logs in and lands on the sales overview; at 1280 px the widgets stand side by
side, at 375 px in one column without the page scrolling sideways; the period filter narrows the
figures (a GET parameter); a bar of his pipeline opens the list of exactly that many records.

Screenshots: dashboard-1280 and dashboard-375 (docs/user-guide.md shows them).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_layout import no_page_scroll

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None


def widget_boxes(page: Any) -> list[dict[str, float]]:
    """The boxes of the dashboard's widgets, in the grid's order."""
    return [w.bounding_box() for w in page.locator(".dashboard-widget").all()]


@pytest.mark.parametrize("width", [1280, 375])
def test_the_manager_lands_on_the_home_dashboard(new_page, login, screenshot, width):
    phone = width < 600
    page = new_page(viewport={"width": width, "height": 812 if phone else 900}, is_mobile=phone, has_touch=phone)
    login(page, "mike")
    assert page.url.endswith("/dashboards/sales_overview"), page.url
    expect(page.locator("h1")).to_have_text("Sales overview")
    expect(page.locator(".dashboard-widget h2").first).to_have_text("Won ARR this quarter")
    expect(page.locator(".widget-report .report-chart svg.chart-svg").first).to_be_visible()
    boxes = widget_boxes(page)
    assert len(boxes) >= 8
    if phone:  # one column: every widget under the one before, as wide as the others
        assert all(b["x"] == boxes[0]["x"] and b["width"] == boxes[0]["width"] for b in boxes)
        no_page_scroll(page, width)
    else:  # the two key figures side by side, in the first row
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[1]["x"] > boxes[0]["x"]
    screenshot(page, f"dashboard-{width}", full_page=not phone)

    if phone:
        return
    page.locator("#dashboard-period").select_option("this_year")
    with page.expect_navigation():
        page.locator(".dashboard-filters button[type=submit]").click()
    assert "period=this_year" in page.url
    more = page.locator(".widget-report .widget-more a").first
    assert "period=this_year" in (more.get_attribute("href") or "")
    bar = page.locator(".widget-report a.chart-mark").first  # the funnel's first stage
    count = int((bar.get_attribute("aria-label") or "").rsplit(": ", 1)[1].replace(",", ""))
    bar.click()
    page.wait_for_load_state()
    assert "/o/opportunity?" in page.url
    expect(page.locator("table.records tbody tr")).to_have_count(count)
