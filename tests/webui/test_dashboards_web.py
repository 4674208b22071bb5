"""Dashboards in the web UI and the REST API (issue 15 §4), on SQLite and PostgreSQL.

The config, the data and the figures by hand are those of tests/runtime/test_dashboards.py. After
login each user lands on their home dashboard; the page shows the widgets they may see with every
count linked to the list of exactly that many records; the filters bar (GET parameters) narrows
every report; a report for other roles is left out and a refused one says why; the API gives the
same figures as JSON and is in the OpenAPI document.
"""

from __future__ import annotations

import html
import re

import pytest
from openapi_spec_validator import validate

from engine import Trellis
from engine.runtime.security.tokens import create_token
from tests.conftest import Clock, fresh_database
from tests.runtime.test_dashboards import CONFIG, seed_tasks
from tests.runtime.test_reports import NOW, seed
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, log_in, make_app, post, text


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboards_web")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock, PASSWORD)
    seed_tasks(crm)
    yield crm
    crm.close()
    next(urls, None)


@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


@pytest.fixture(scope="module")
def clients(app):
    return {name: client_for(app, name) for name in ("mia", "rita")}


def links(page: str) -> list[tuple[str, str]]:
    """(href, text) of every figure linked to a deal list."""
    return [(html.unescape(href), label) for href, label in re.findall(r'<a href="(/o/deal[^"]*)">([^<]+)</a>', page)]


def listed(client, url: str) -> int:
    """How many records the web list at ``url`` shows (one page holds them all here)."""
    page = text(client.get(url))
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return body.count("<tr")


def test_after_login_each_user_lands_on_their_home_dashboard(app):
    for user, home in (
        ("mia", "/dashboards/manager_home"),
        ("bo", "/dashboards/manager_home"),
        ("rita", "/dashboards/rep_home"),
    ):
        client = app.test_client()
        assert log_in(client, user).headers["Location"] == "/"
        assert client.get("/").headers["Location"] == home, user
        assert client.get(home).status_code == 200


def test_the_managers_dashboard_links_every_count_to_exactly_its_records(clients):
    client = clients["mia"]
    page = text(client.get("/dashboards/manager_home"))
    assert "<h1>Sales overview</h1>" in page and 'href="/dashboards"' in page  # the navigation link
    for title in (
        "Deals by source",
        "Totals",
        "For managers",
        "My pipeline by stage",
        "Recently changed",
        "Notifications",
    ):
        assert f">{title}</h2>" in page, title
    assert "Approvals waiting for me" not in page  # Mia may not approve
    assert "CN¥1,500.50" in page and "CN¥1,800.50" in page
    assert "span-12" in page and "span-3" in page  # the widths of the grid
    counts = [(href, figure) for href, figure in links(page) if figure.isdigit()]
    assert len(counts) >= 6, page
    for href, figure in counts:
        assert listed(client, href) == int(figure), href
    assert 'href="/reports/by_source"' in page  # each report opens its page


def test_the_filters_narrow_every_report_widget(clients):
    client = clients["mia"]
    page = text(client.get("/dashboards/manager_home?period=this_quarter&owner="))
    assert '<option value="this_quarter" selected>' in page
    assert 'href="/reports/by_source?period=this_quarter"' in page
    period_links = [(h, f) for h, f in links(page) if "created_at=this_quarter" in h and f.isdigit()]
    assert period_links and all(listed(client, h) == int(f) for h, f in period_links)
    assert "CN¥1,300.00" in page  # the KPI of the quarter
    mine = text(client.get("/dashboards/manager_home?owner=me"))
    assert '<option value="me" selected>' in mine
    assert {f for h, f in links(mine) if "owner=me" in h and f.isdigit()} == {"1"}
    bad = client.get("/dashboards/manager_home?period=someday")
    assert bad.status_code == 400 and "period is one of" in text(bad)


def test_a_reps_home_shows_their_work_and_leaves_out_what_they_may_not_see(clients):
    client = clients["rita"]
    page = text(client.get("/dashboards/rep_home"))
    assert '<option value="me" selected>' in page  # the dashboard's default owner filter
    assert ">My deals</h2>" in page and '<a href="/o/deal?owner=me">3</a>' in page  # the KPI: Rita's three deals
    assert listed(client, "/o/deal?owner=me") == 3
    assert "This report reads Margin" in page  # refused: the reason, no figure
    assert "For managers" not in page
    assert "Call Acme" in page and "1 overdue" in page and "1 due today" in page
    assert client.get("/dashboards/manager_home").status_code == 404
    assert client.get("/dashboards/nope").status_code == 404
    listing = text(client.get("/dashboards"))
    assert "My work" in listing and "Sales overview" not in listing


def test_the_dashboard_reads_in_chinese(app):
    client = client_for(app, "mia")
    post(client, "/lang", {"lang": "zh", "next": "/dashboards"}, form_url="/dashboards")
    page = text(client.get("/dashboards/manager_home"))
    assert "销售概览" in page and "按来源统计商机" in page and "官网" in page and "我的销售管道（按阶段）" in page
    assert "仪表板" in page and "按各报表设置" in page


# --- the REST API -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(app, crm):
    client = app.test_client()
    tokens = {name: create_token(crm, name, "t")[0] for name in ("rita", "mia")}

    def call(user: str, url: str, language: str = "en"):
        return client.get(url, headers={"Authorization": f"Bearer {tokens[user]}", "Accept-Language": language})

    return call


def test_the_api_lists_dashboards_and_gives_their_figures(api):
    listed_ = api("rita", "/api/v1/dashboards").get_json()["data"]
    assert [(d["name"], d["home"], d["default"]) for d in listed_] == [("rep_home", True, True)]
    body = api("mia", "/api/v1/dashboards/manager_home?period=this_quarter").get_json()["data"]
    assert body["filters"] == {"period": "this_quarter", "team": "", "owner": ""}
    widgets = {w["title"]: w for w in body["widgets"]}
    kpi = widgets["Totals"]
    assert kpi["kind"] == "kpi" and kpi["chart"] == "kpi" and kpi["width"] == 3
    assert kpi["report"]["total"]["count"]["value"] == 3 and kpi["report"]["total"]["sum_amount"]["value"] == "1300.00"
    assert kpi["previous"]["count"]["value"] == 1
    assert widgets["Recently changed"]["items"][0]["title"] == "A3"
    rep = {w["title"]: w for w in api("rita", "/api/v1/dashboards/rep_home").get_json()["data"]["widgets"]}
    assert rep["Margin report"]["report"] is None and "Margin" in rep["Margin report"]["refused"]
    assert rep["My open tasks"]["counts"]["overdue"] == 1
    assert [i["flag"] for i in rep["My open tasks"]["items"]] == ["overdue", "today"]


def test_the_api_answers_404_and_400_clearly(api):
    missing = api("rita", "/api/v1/dashboards/manager_home")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "dashboard_not_found"
    bad = api("mia", "/api/v1/dashboards/manager_home?team=east")
    assert bad.status_code == 400 and bad.get_json()["error"]["message"] == "Team is a team id, not east."


def test_the_openapi_document_describes_the_dashboards(api):
    document = api("mia", "/api/v1/openapi.json").get_json()
    validate(document)
    assert "/api/v1/dashboards/{name}" in document["paths"] and "Dashboard" in document["components"]["schemas"]


def test_a_user_subscribes_to_a_dashboard_from_its_page(app, clients):
    rita = clients["rita"]
    page = text(rita.get("/dashboards/rep_home"))
    assert "Subscribe by e-mail" in page and 'action="/dashboards/rep_home/subscribe"' in page
    form = {"frequency": "daily", "weekday": "monday", "day": "1", "time": "07:45", "owner": "me"}
    done = post(rita, "/dashboards/rep_home/subscribe", form, form_url="/dashboards/rep_home")
    assert done.status_code == 302 and done.headers["Location"] == "/subscriptions"
    mine = text(rita.get("/subscriptions"))
    assert "My work" in mine and "Every day at 07:45" in mine and 'href="/dashboards/rep_home?owner=me"' in mine
    refused = post(rita, "/dashboards/manager_home/subscribe", form, form_url="/dashboards/rep_home")
    assert refused.status_code == 404  # a dashboard of other roles: as if it did not exist
    bad = post(rita, "/dashboards/rep_home/subscribe", {**form, "time": "7"}, form_url="/dashboards/rep_home")
    assert bad.status_code == 400 and "24-hour clock" in text(bad)
