"""The ``completeness`` report in the web UI and the REST API (issue 15, S41, S6), on SQLite and
PostgreSQL, with the data and figures of tests/runtime/test_completeness_report.py: the page
shows the fill rates and the target in words, each incomplete count links to the list of
exactly those records, the chart draws the rates, the API gives the same figures as JSON."""

from __future__ import annotations

import html
import re

import pytest

from engine import Trellis
from engine.runtime.security.tokens import create_token
from tests.conftest import Clock, fresh_database
from tests.runtime.test_completeness_report import CONFIG, seed
from tests.runtime.test_reports import NOW
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, post, text


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("completeness_web")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=Clock(NOW))
    apply_fresh(crm)
    seed(crm, PASSWORD)
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


def test_the_page_shows_the_rates_the_target_in_words_and_links_the_incomplete(app):
    client = client_for(app, "bo")
    page = text(client.get("/reports/account_completeness"))
    assert "Account completeness" in page and "Target 60%" in page and "Phone filled" in page
    assert "Not met" in page and "Met" in page and "33.3%" in page
    incomplete = [html.unescape(h) for h in re.findall(r'<a href="(/o/account[^"]*any_empty[^"]*)">', page)]
    assert len(incomplete) == 4, page  # three owners and the total
    counts = [int(n) for n in re.findall(r'any_empty[^"]*">(\d+)</a>', page)]
    assert [listed(client, href) for href in incomplete] == counts == [0, 2, 1, 3]
    assert "<svg" in page  # the chart of the rates


def test_a_rep_is_told_what_is_left_out_in_chinese(app):
    client = client_for(app, "rita")
    post(client, "/lang", {"lang": "zh", "next": "/reports"}, form_url="/reports")
    page = text(client.get("/reports/account_completeness"))
    assert "以下字段您无权查看，已略去：等级。" in page and "完整率" in page and "未达成" in page
    assert "等级填写率" not in page


def test_the_api_gives_the_figures_as_json(app, crm):
    token = create_token(crm, "bo", "t")[0]
    client = app.test_client()
    body = client.get("/api/v1/reports/account_completeness", headers={"Authorization": f"Bearer {token}"}).get_json()
    data = body["data"]
    rita = next(row for row in data["rows"] if row["keys"][0]["label"] == "Rita Chen")
    assert rita["figures"]["complete"]["value"] == "0.3333"
    assert rita["figures"]["target"]["value"] is False and rita["figures"]["target"]["text"] == "Not met"
    incomplete = rita["figures"]["incomplete"]
    assert incomplete["value"] == 2 and incomplete["filter"]["any_empty"] == "industry,phone,tier"
    query = "&".join(f"{k}={v}" for k, v in incomplete["filter"].items())
    listed = client.get(f"/api/v1/account?{query}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert listed["meta"]["total"] == 2
    assert data["total"]["count"]["value"] == 6


def test_the_list_of_incomplete_records_says_its_filter_in_words(app):
    client = client_for(app, "bo")
    page = text(client.get("/o/account?any_empty=industry,phone"))
    assert "Industry or Phone is empty" in page and listed(client, "/o/account?any_empty=industry,phone") == 2
    bad = client.get("/o/account?any_empty=colour")
    assert bad.status_code == 400 and "colour" in text(bad)
