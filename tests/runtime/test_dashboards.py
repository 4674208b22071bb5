"""Dashboards (issue 15 §4) run as their viewer, on SQLite and PostgreSQL.

The deals and users of tests/runtime/test_reports.py (its table of six deals), two tasks of
Rita's (one due 2026-04-20: overdue on the 22nd; one due today) and a done one, and two
dashboards: the managers' home (Mia, manager of Rita, reads her subtree: A1 A2 A3 M1; Bo reads
all six) and the reps' home, also the default (Rita reads A1 A2 A3; the owner filter defaults to
``me``). Figures by hand:

    by_source for Mia (-count): Website 2 (CN¥1,500.50), Trade fair 1 (200.00), none 1 (100.00)
    totals: Mia 4 / 1,800.50; Bo 6 / 4,800.50; Rita 3 / 1,700.50
    this quarter (from Apr 1 local): Mia A1 A3 M1 = 3 / 1,300.00, the quarter before A2 = 1 / 500.50;
                                     Rita A1 A3 = 2 / 1,200.00, before 1 / 500.50
    owner=me for Mia: M1 = 1 / 100.00
    my pipeline (open deals the viewer owns): Mia new 1 (100.00); Rita new 1 (200.00), quote 1 (500.50)
    recent deals for Mia (updated last first): A3, M1, A1
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine import Trellis
from engine.runtime import dashboards
from engine.runtime.dashboards.access import dashboards_for
from engine.runtime.errors import QueryError
from engine.runtime.jobs import worker
from engine.runtime.jobs.delivery import SmtpSettings
from engine.runtime.messages import speaking
from engine.runtime.records import listparams
from engine.runtime.reports import ReportResult
from tests.conftest import Clock, fresh_database
from tests.receivers import smtp_server
from tests.runtime import test_reports
from tests.runtime.test_reports import NOW, seed
from tests.templates import apply_fresh

TASKS = """
  call:
    title: "{topic}"
    activity: {at: at, kind: method, summary: topic}
    fields:
      account: {type: lookup, object: account}
      at: {type: datetime, required: true, default: "=now()"}
      method: {type: picklist, values: [phone, visit]}
      topic: {type: text, required: true}
  todo:
    label: {en: Task, zh: 任务}
    title: "{subject}"
    task: {due: due, assignee: owner_id, status: status, done: [done], subject: subject}
    fields:
      subject: {type: text, required: true}
      due: {type: date}
      status: {type: picklist, values: [open, done], default: open}
      account: {type: lookup, object: account}
"""
DASHBOARDS = """
dashboards:
  manager_home:
    label: {en: Sales overview, zh: 销售概览}
    roles: [manager, boss]
    filters: {period: true, team: true, owner: true}
    widgets:
      - {report: by_source, width: large}
      - {kpi: totals}
      - {report: for_managers, chart: donut, width: small}
      - {widget: my_pipeline}
      - {widget: approvals}
      - {widget: recent_records, object: deal, limit: 3}
      - {widget: notifications}
  rep_home:
    label: {en: My work, zh: 我的工作}
    roles: [rep]
    default: true
    filters: {owner: me, period: true}
    widgets:
      - {kpi: totals, title: {en: My deals, zh: 我的商机}}
      - {report: margin_report}
      - {report: for_managers}
      - {widget: my_pipeline}
      - {widget: my_tasks}
"""
SUBSCRIPTIONS = """
subscriptions:
  rep_digest: {dashboard: rep_home, schedule: {weekly: "monday 08:00"}, roles: [rep]}
  manager_digest: {dashboard: manager_home, schedule: {weekly: "monday 08:00"}, roles: [manager]}
"""
#: Monday 27 April 2026, 08:00 in Shanghai (the first Monday after NOW).
MONDAY_8 = dt.datetime(2026, 4, 27, 0, 0, tzinfo=dt.UTC)
#: The reports test's config with a task object, its grants, the dashboards and their digests.
CONFIG = (
    test_reports.CONFIG.replace("\nroles:\n", TASKS + "roles:\n", 1)
    .replace("  account:\n    label: {en: Account, zh: 客户}\n", "  account:\n    label: {en: Account, zh: 客户}\n    timeline: true\n", 1)
    .replace("account: {read: all}}\n    hidden", "account: {read: all}, todo: {read: own}}\n    hidden", 1)
    .replace("subtree, export: true}, account: {read: all}}", "subtree, export: true}, account: {read: all}, todo: {read: own}}", 1)
    + DASHBOARDS
    + SUBSCRIPTIONS
)  # fmt: skip


def seed_tasks(crm: Trellis) -> None:
    """Rita's tasks: overdue, due today, done."""
    rita = crm.principal("rita").user_id
    with crm.session() as s:
        for subject, due, status in (
            ("Call Acme", dt.date(2026, 4, 20), "open"),
            ("Send quote", dt.date(2026, 4, 22), "open"),
            ("Old call", dt.date(2026, 4, 1), "done"),
        ):
            s.create("todo", {"subject": subject, "due": due, "status": status, "owner_id": rita})


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboards")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock)
    seed_tasks(crm)
    crm.test_clock = clock  # type: ignore[attr-defined]
    yield crm
    crm.close()
    next(urls, None)


def run(crm: Trellis, user: str, name: str, language: str = "en", **asked) -> dashboards.DashboardResult:
    with crm.session(user) as s, speaking(language):
        return dashboards.run_dashboard(s, name, asked, language)


def widget(result: dashboards.DashboardResult, title: str) -> dashboards.WidgetResult:
    return next(w for w in result.widgets if w.title == title)


def total(w: dashboards.WidgetResult | ReportResult | None, measure: str = "count"):
    """The total of ``measure`` in a widget's report (or a report's result)."""
    result = w.report if isinstance(w, dashboards.WidgetResult) else w
    assert result is not None, w
    figure = result.total.figure(measure)
    return figure.value if figure is not None else None


def listed(crm: Trellis, user: str, object_name: str, params) -> int:
    with crm.session(user) as s:
        return listparams.parse(dict(params)).apply(s.query(object_name)).count()


def test_each_user_has_the_home_of_their_role_and_opens_only_theirs(crm):
    config = crm.config
    assert dashboards.home_for(config, crm.principal("mia")).name == "manager_home"
    assert dashboards.home_for(config, crm.principal("bo")).name == "manager_home"
    assert dashboards.home_for(config, crm.principal("rita")).name == "rep_home"
    assert [d.name for d in dashboards_for(config, crm.principal("rita"))] == ["rep_home"]
    assert [d.name for d in dashboards_for(config, crm.principal("mia"))] == ["manager_home", "rep_home"]
    with crm.session("rita") as s, pytest.raises(dashboards.DashboardNotFound):
        dashboards.run_dashboard(s, "manager_home")
    with crm.session("rita") as s, pytest.raises(dashboards.DashboardNotFound):
        dashboards.run_dashboard(s, "nope")


def test_a_managers_dashboard_equals_the_figures_by_hand(crm):
    result = run(crm, "mia", "manager_home")
    assert result.title == "Sales overview"
    by_source = widget(result, "Deals by source")
    rows = [(r.keys[0].label, r.figure("count").value, r.figure("sum_amount").value) for r in by_source.report.rows]
    assert rows == [
        ("Website", 2, Decimal("1500.50")),
        ("Trade fair", 1, Decimal("200.00")),
        ("(empty)", 1, Decimal("100.00")),
    ]
    assert (total(by_source), total(by_source, "sum_amount")) == (4, Decimal("1800.50"))
    kpi = widget(result, "Totals")
    assert (total(kpi), total(kpi, "sum_amount")) == (4, Decimal("1800.50"))
    assert kpi.chart == "kpi" and kpi.previous is None  # the report has no period: no change to show
    assert widget(result, "For managers").chart == "donut"
    pipeline = widget(result, "My pipeline by stage")
    assert [(r.keys[0].label, r.figure("count").value) for r in pipeline.report.rows] == [("New", 1)]
    assert total(pipeline, "sum_amount") == Decimal("100.00")
    assert [i.title for i in widget(result, "Recently changed").items] == ["A3", "M1", "A1"]
    assert widget(result, "Notifications").counts == {"unread": 0}
    assert "Approvals waiting for me" not in [w.title for w in result.widgets]  # Mia may not approve
    boss = run(crm, "bo", "manager_home")
    assert (total(widget(boss, "Totals")), total(widget(boss, "Totals"), "sum_amount")) == (6, Decimal("4800.50"))
    assert widget(run(crm, "mia", "manager_home", "zh"), "按来源统计商机").report.rows[0].keys[0].label == "官网"


def test_a_reps_dashboard_counts_only_their_records(crm):
    result = run(crm, "rita", "rep_home")
    assert result.filters == {"period": "", "owner": "me"}
    mine = widget(result, "My deals")
    assert (total(mine), total(mine, "sum_amount")) == (3, Decimal("1700.50"))
    pipeline = widget(result, "My pipeline by stage")
    got = [(r.keys[0].label, r.figure("count").value, r.figure("sum_amount").value) for r in pipeline.report.rows]
    assert got == [("New", 1, Decimal("200.00")), ("Quote", 1, Decimal("500.50"))]
    tasks = widget(result, "My open tasks")
    assert [(i.title, i.flag) for i in tasks.items] == [("Call Acme", "overdue"), ("Send quote", "today")]
    assert tasks.counts["overdue"] == 1 and tasks.counts["today"] == 1
    refused = widget(result, "Margin report")  # filters on a field hidden from reps: the reason, no figure
    assert refused.report is None and "Margin" in (refused.refused or "")
    assert "For managers" not in [w.title for w in result.widgets]  # a report for other roles: left out
    sam = run(crm, "sam", "rep_home")
    assert total(widget(sam, "My deals")) == 2 and widget(sam, "My pipeline by stage").report.rows == ()


def test_the_filters_narrow_every_report_widget(crm):
    quarter = run(crm, "mia", "manager_home", period="this_quarter")
    for title in ("Deals by source", "Totals", "For managers"):
        w = widget(quarter, title)
        assert w.report.params["created_at"] == "this_quarter", title
        assert total(w) == 3, title
    kpi = widget(quarter, "Totals")
    assert total(kpi, "sum_amount") == Decimal("1300.00")
    assert (total(kpi.previous), total(kpi.previous, "sum_amount")) == (1, Decimal("500.50"))
    mine = run(crm, "mia", "manager_home", owner="me")
    assert [total(widget(mine, t)) for t in ("Deals by source", "Totals", "For managers")] == [1, 1, 1]
    rita = run(crm, "rita", "rep_home", period="this_quarter")
    assert (total(widget(rita, "My deals")), total(widget(rita, "My deals").previous)) == (2, 1)
    nobody = run(crm, "bo", "manager_home", team="999999")
    assert [total(widget(nobody, t)) for t in ("Deals by source", "Totals")] == [0, 0]
    everyone = run(crm, "rita", "rep_home", owner="")  # the owner filter cleared: the scope still holds
    assert total(widget(everyone, "My deals")) == 3
    with crm.session("mia") as s, pytest.raises(QueryError, match="period"):
        dashboards.run_dashboard(s, "manager_home", {"period": "someday"})


def test_every_figure_drills_down_to_exactly_its_records(crm):
    for user, name in (("mia", "manager_home"), ("rita", "rep_home")):
        for w in run(crm, user, name).widgets:
            if w.report is None:
                continue
            for row in (*w.report.rows, w.report.total):
                figure = row.figure("count")
                assert figure is not None and figure.filter is not None
                assert listed(crm, user, w.report.report.object, figure.filter) == figure.value, (user, w.title, row)


def test_a_dashboard_by_e_mail_holds_each_widget_as_its_reader_sees_it(crm, monkeypatch):
    monkeypatch.setenv("TRELLIS_BASE_URL", "http://crm.example.test/")
    with crm.directory() as d:
        d.edit("rita", email="rita@example.com")
        d.edit("mia", email="mia@example.com", locale="zh_CN")
    clock = crm.test_clock
    with smtp_server() as (url, box):
        smtp = SmtpSettings.parse(url, "trellis@example.com")
        try:
            clock.at(NOW)
            worker.run_once(crm, NOW, smtp=smtp)  # the rules' rows; nothing is due before Monday
            clock.at(MONDAY_8)
            worker.run_once(crm, MONDAY_8, smtp=smtp)
        finally:
            clock.at(NOW)
    mails = {m["To"]: m for m in box.messages}
    rita = mails["rita@example.com"].get_body(("plain",)).get_content()
    assert "My work" in rita and "My deals" in rita and "Call Acme" in rita and "2026-04-20" in rita
    assert "For managers" not in rita  # a report she may not open: left out
    mia = mails["mia@example.com"].get_body(("plain",)).get_content()
    assert "销售概览" in mia and "官网" in mia and "Call Acme" not in mia
    html = mails["mia@example.com"].get_body(("html",)).get_content()
    assert "<table" in html and "<svg" not in html and "/dashboards/manager_home" in html
