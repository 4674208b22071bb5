"""Reports in the web UI and the REST API (issue 15 §3), on SQLite and PostgreSQL.

The data and the hand-computed figures are those of tests/runtime/test_reports.py. The
reports page lists what a user may open; a report's page shows its table (or matrix) with
labels in the user's language, the notes about left-out measures, and every figure is a link
to the record list that shows exactly that many records; the period override narrows it; the
CSV and Excel files hold labels; ``/api/v1/reports`` gives the same figures as JSON, 404 for a
report the caller may not open, and is in the OpenAPI document.
"""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from openapi_spec_validator import validate

from engine import Trellis
from engine.runtime.security.tokens import create_token
from tests.conftest import Clock, fresh_database
from tests.runtime.test_reports import CONFIG, NOW, seed
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, post, text


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports_web")
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


@pytest.fixture(scope="module")
def clients(app):
    return {name: client_for(app, name) for name in ("rita", "mia", "bo")}


def links(page: str) -> list[tuple[str, str]]:
    """(href, text) of every figure linked to a record list."""
    return [(html.unescape(href), text) for href, text in re.findall(r'<a href="(/o/deal[^"]*)">([^<]+)</a>', page)]


def listed(client, url: str) -> int:
    """How many records the web list at ``url`` shows (one page holds them all here)."""
    page = text(client.get(url))
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return body.count("<tr")


def test_the_reports_page_lists_what_the_user_may_open(clients):
    page = text(clients["rita"].get("/reports"))
    assert 'href="/reports"' in page  # the navigation link
    assert "Deals by source" in page and "for_managers" not in page and "For managers" not in page
    assert "For managers" in text(clients["mia"].get("/reports"))


def test_a_report_page_links_every_figure_to_exactly_its_records(clients):
    client = clients["rita"]
    page = text(client.get("/reports/by_source"))
    assert "Website" in page and "CN¥1,500.50" in page
    assert "Left out because you may not see the fields they read: Sum of Margin." in page
    assert "Margin" not in page.split("report-note")[0].split("<table")[-1]  # never a column
    found = links(page)
    assert found, page
    for href, figure in found:
        if figure.replace(",", "").isdigit():  # the counts (sums and rates link to the same records)
            assert listed(client, href) == int(figure), href
    assert '<div class="report-scroll">' in page  # the table scrolls sideways at 375 px


def test_a_two_level_report_is_a_matrix_with_totals(clients):
    page = text(clients["bo"].get("/reports/by_stage_month"))
    assert 'class="report matrix"' in page and "Apr 2026" in page and "Mar 2026" in page
    counts = [(href, figure) for href, figure in links(page) if figure.isdigit()]
    assert ("6" in [f for _, f in counts]) and len(counts) > 6
    for href, figure in counts:
        assert listed(clients["bo"], href) == int(figure), href


def test_chinese_and_the_period_override(app, crm):
    client = client_for(app, "bo")
    post(client, "/lang", {"lang": "zh", "next": "/reports"}, form_url="/reports")
    page = text(client.get("/reports/this_quarter?period=last_quarter"))
    assert "上季度" in page and "合计" in page and "下载 Excel" in page
    assert '<option value="last_quarter" selected>' in page
    (total,) = [f for href, f in links(page) if "last_quarter" in href and "__" not in href]
    assert total == "2"


def test_bad_requests_and_reports_not_to_be_opened(clients):
    assert clients["rita"].get("/reports/for_managers").status_code == 404
    assert clients["rita"].get("/reports/nope").status_code == 404
    refused = clients["rita"].get("/reports/margin_report")
    assert refused.status_code == 400 and "This report reads Margin" in text(refused)
    bad = clients["bo"].get("/reports/by_source?period=someday")
    assert bad.status_code == 400 and "period is one of" in text(bad)


def test_csv_and_excel_downloads(clients):
    client = clients["bo"]
    response = client.get("/reports/by_source/export.csv?period=this_year")
    if response.status_code == 302:  # S37: the password again first, as for a list's export
        assert response.headers["Location"].startswith("/account/confirm")
        post(client, response.headers["Location"], {"password": PASSWORD})
        response = client.get("/reports/by_source/export.csv?period=this_year")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:2] == ["Source", "Count"] and rows[1][:3] == ["Website", "3", "4500.50"]
    xlsx = client.get("/reports/by_source/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert clients["rita"].get("/reports/by_source/export.csv").status_code == 403  # no export grant


# --- the REST API -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(app, crm):
    client = app.test_client()
    tokens = {name: create_token(crm, name, "t")[0] for name in ("rita", "bo")}

    def call(user: str, url: str, language: str = "en"):
        return client.get(url, headers={"Authorization": f"Bearer {tokens[user]}", "Accept-Language": language})

    return call


def test_the_api_lists_reports_and_gives_their_figures(api):
    names = [r["name"] for r in api("rita", "/api/v1/reports").get_json()["data"]]
    assert "by_source" in names and "for_managers" not in names
    body = api("rita", "/api/v1/reports/by_source").get_json()["data"]
    web = body["rows"][0]
    assert web["keys"] == [{"value": "web", "label": "Website"}]
    assert web["figures"]["count"] == {"value": 2, "text": "2", "filter": {"source": "web"}}
    assert web["figures"]["sum_amount"]["value"] == "1500.50"
    assert web["figures"]["rate_converted"]["value"] == "0.5000"
    assert body["left_out"] == ["sum_margin"] and body["total"]["count"]["value"] == 3
    listed = api("rita", "/api/v1/deal?source=web&converted=true").get_json()
    assert listed["meta"]["total"] == 1  # the rate's filter lists its records
    zh = api("bo", "/api/v1/reports/by_stage_month?period=this_year", "zh").get_json()["data"]
    assert zh["rows"][0]["keys"][1] == {"value": "2026-04-01", "label": "2026年4月"}


def test_the_api_answers_404_and_400_clearly(api):
    missing = api("rita", "/api/v1/reports/for_managers")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "report_not_found"
    bad = api("bo", "/api/v1/reports/by_source?team=east")
    assert bad.status_code == 400 and bad.get_json()["error"]["message"] == "Team is a team id, not east."
    refused = api("rita", "/api/v1/reports/margin_report", "zh")
    assert refused.status_code == 400 and "毛利" in refused.get_json()["error"]["message"]


def test_the_openapi_document_describes_the_reports(api):
    document = api("bo", "/api/v1/openapi.json").get_json()
    validate(document)
    assert "/api/v1/reports/{name}" in document["paths"] and "Report" in document["components"]["schemas"]


def test_a_list_says_its_relative_range_in_words(clients):
    page = text(clients["bo"].get("/o/deal?created_at=this_quarter"))
    assert "this quarter" in page and listed(clients["bo"], "/o/deal?created_at=this_quarter") == 4
