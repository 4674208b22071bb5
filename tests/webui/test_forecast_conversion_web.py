"""The ``forecast`` and ``conversion`` reports in the web UI and the REST API (issue 15, S22,
S43), on SQLite and PostgreSQL, with the data and figures of
tests/runtime/test_forecast_conversion_report.py: labels, never keys; team subtotal rows drawn
as subtotals; every count a link to the list of exactly that many records; the API's rows say
which are subtotals."""

from __future__ import annotations

import html
import re

import pytest

from engine import Trellis
from engine.runtime.security.tokens import create_token
from tests.conftest import Clock, fresh_database
from tests.runtime.test_forecast_conversion_report import CONFIG, NOW, seed
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, post, text


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast_web")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock, PASSWORD)
    yield crm
    crm.close()
    next(urls, None)


@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


def listed(client, url: str) -> int:
    """How many records the web list at ``url`` shows (one page holds them all here)."""
    page = text(client.get(url))
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return body.count("<tr")


def counts(page: str, object_name: str) -> list[tuple[str, int]]:
    """The links of the page's counts (figures that are whole numbers) to ``object_name``'s list."""
    table = page.split('<table class="report">', 1)[1]
    found = re.findall(rf'<a href="(/o/{object_name}\?[^"]*)">(\d+)</a>', table)
    return [(html.unescape(href), int(number)) for href, number in found]


def test_the_forecast_page_shows_owners_in_teams_with_subtotals_and_links(app):
    client = client_for(app, "bo")
    response = client.get("/reports/forecast")
    page = text(response)
    assert response.status_code == 200
    assert "Weighted pipeline" in page and "Best case" in page and "Attainment" in page and "Quota" in page
    assert "Rita Chen" in page and "East subtotal" in page and page.count('<tr class="subtotal">') == 2
    assert "CN¥12,000.00" in page and "12.5%" in page  # the company's pipeline, East's attainment
    links = counts(page, "deal")
    assert [n for _, n in links] == [0, 1, 2, 3, 1, 1, 4]  # open deals: the owners, subtotals, total
    assert [listed(client, href) for href, _ in links] == [n for _, n in links]
    drawing = page.split('<div class="report-chart">', 1)[1].split("</svg>", 1)[0]
    assert "Commit" in drawing and "Won" in drawing and "Quota" in drawing
    assert "Best case" not in drawing and "Weighted" not in drawing  # three series, not six on top of each other


def test_a_rep_sees_only_their_forecast_in_chinese(app):
    client = client_for(app, "rita")
    post(client, "/lang", {"lang": "zh", "next": "/reports"}, form_url="/reports")
    page = text(client.get("/reports/forecast"))
    assert "Rita Chen" in page and "Ray Zhou" not in page and "Sam Li" not in page
    assert "管道金额" in page and "East 小计" in page


def test_the_conversion_page_counts_leads_by_source_with_links(app):
    client = client_for(app, "bo")
    response = client.get("/reports/leads_by_source")
    page = text(response)
    assert response.status_code == 200
    assert "Website" in page and "Trade fair" in page and "Conversion rate" in page and "75.0%" in page
    assert ">web<" not in page and ">fair<" not in page
    links = counts(page, "lead")
    assert [n for _, n in links] == [4, 3, 3, 2, 3, 1, 1, 1, 7, 4, 4, 3]
    assert [listed(client, href) for href, _ in links] == [n for _, n in links]
    assert '<td class="num total">CN¥3,500.00</td>' in page  # amounts are no links


def test_the_api_gives_the_forecast_with_its_subtotal_rows(app, crm):
    token = create_token(crm, "bo", "t")[0]
    body = app.test_client().get("/api/v1/reports/forecast", headers={"Authorization": f"Bearer {token}"}).get_json()
    data = body["data"]
    assert data["nested"] is True
    assert [(r["keys"][1]["label"], r["subtotal"]) for r in data["rows"]][2:4] == [
        ("Rita Chen", False),
        ("East subtotal", True),
    ]
    east = data["rows"][3]["figures"]
    assert east["pipeline"]["value"] == "7000.00" and east["pipeline"]["filter"]["owner_id__in"]
    assert east["quota"]["filter"] is None and data["total"]["won"]["text"] == "CN¥5,200.00"
