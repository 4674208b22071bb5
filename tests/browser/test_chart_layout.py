"""Every chart kind, in English and Chinese, laid out by Chromium at 1280 and 375 px (Playwright).

No server: the test writes a static page with the charts (``webui.charts.render_chart``) and the
app's own stylesheets, and opens it as a file. Checked: nothing sticks out sideways, the drawings
fill their width and keep their labels legible on a phone, the folded data tables open, and a bar
is a link to its drill-down. Screenshots (scratch folder): charts-<width>-<lang>.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from tests.browser.conftest import SCRATCH, TIMEOUT_MS
from tests.conftest import ROOT
from tests.webui.chart_samples import formatter, samples
from webui.charts import render_chart

STYLESHEETS = ("trellis.css", "pipeline.css", "charts.css")
#: Smallest height (px) a label of a drawing may have on screen.
LEGIBLE_PX = 9.5


def write_page(folder: Path, lang: str) -> Path:
    """A page like the app's (its stylesheets, a <main>) with every sample chart in ``lang``."""
    links = "".join(
        f'<link rel="stylesheet" href="{(ROOT / "webui" / "static" / name).as_uri()}">' for name in STYLESHEETS
    )
    fmt = formatter(lang)
    charts = "".join(str(render_chart(chart, fmt, id_prefix=f"c-{name}")) for name, chart in samples(lang).items())
    html = (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{links}</head>'
        f'<body><main id="main"><h1>Charts</h1>{charts}</main></body></html>'
    )
    path = folder / f"charts-{lang}.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("charts")
    return {lang: write_page(folder, lang) for lang in ("en", "zh")}


def sticking_out(page: Any, width: int) -> list[str]:
    """Elements whose right edge is beyond the viewport's width."""
    return page.evaluate(
        """w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest(".chart-scroll table"))
        .slice(0, 5).map(e => e.tagName + '.' + (e.getAttribute('class') || '') + ' ' + Math.round(e.getBoundingClientRect().right))""",
        width,
    )


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_chart_fits_and_reads_at(browser, pages, lang, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(pages[lang].as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= width, sticking_out(page, width)
        assert sticking_out(page, width) == []
        svgs = page.locator("svg.chart-svg")
        assert svgs.count() == 6  # bar (twice), stacked bar, line, funnel, donut; kpi and table are HTML
        # A drawing takes its column's width (the figure's at most 32rem = 512 px on a desktop).
        room = page.evaluate("Math.min(512, document.querySelector('main').clientWidth - 40)")
        for box in (svgs.nth(i).bounding_box() for i in range(svgs.count())):
            assert box["width"] >= room - 1 and box["height"] > 100
        smallest = page.evaluate(
            "Math.min(...[...document.querySelectorAll('svg.chart-svg text')].map(t => t.getBoundingClientRect().height))"
        )
        assert smallest >= LEGIBLE_PX, f"a label is {smallest:.1f} px high at {width} px"
        # The figures fold away in a table that opens; a bar leads to its list.
        first = page.locator("#c-bar details.chart-data")
        first.locator("summary").click()
        assert first.locator("table").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        bar = page.locator("#c-bar a.chart-mark").first
        assert bar.get_attribute("href") == "/objects/opportunity?sample=stage&i=0"
        SCRATCH.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCRATCH / f"charts-{width}-{lang}.png"), full_page=True, animations="disabled")
    finally:
        context.close()
