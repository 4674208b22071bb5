"""The ``funnel`` report kind (issue 15 §1): figures from the stage history, under the viewer's
scope, on SQLite and PostgreSQL, in the engine, on the report page and in the API.

Five deals moved at known moments (UTC; the company is in UTC). Rita is a rep (own records),
Mia her manager (subtree), Sam another rep, Bo sees everything:

    deal  owner  moves
    R1    rita   new 04-01 → qualify 04-03 → quote 04-07 → won 04-08
    R2    rita   new 04-02 → qualify 04-06 → lost 04-10 (price)
    R3    rita   new 03-20 → qualify 04-02 (still there)
    S1    sam    new 04-05 → lost 04-06 (timing)
    S2    sam    new 04-10 (still there)

The report runs on 2026-04-22 for ``this_month`` (April). For Bo: entered new {R1,R2,S1,S2} 4,
qualify {R1,R2,R3} 3 (75.0 % of 4), quote 1 (33.3 %), won 1 (100 %); median days in new of
the ended stays begun in April (R1 2, R2 4, S1 1) 2.0, in qualify (R1 4, R2 4) 4.0, in quote
1.0, in won none (open); lost from new 1 (Timing), from qualify 1 (Price); total: 5 records,
1 of 4 won (25.0 %), 2 lost. For Rita (and Mia, whose subtree is Rita and herself): new 2,
qualify 3 (150.0 %: R3 entered new in March), quote 1, won 1; new's median (2, 4) 3.0; one
lost from qualify. March alone (``last_month``): R3 entered new, stayed 13 days.

Cycle time (closed in April): R1 won 7 days after creation (5 after entering qualify), R2
lost after 8 (4), S1 lost after 1 (never qualified). By owner for Bo: Rita 2 closed, median
and average 7.5; Sam 1, 1.0; total 3, median 7.0, average 5.3. From qualify: 2, 4.5, 4.5.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from engine import Trellis
from engine.runtime import reports
from engine.runtime.messages import speaking
from engine.runtime.records import listparams
from engine.runtime.reports.export import export_report
from engine.runtime.security.tokens import create_token
from tests.conftest import Clock, fresh_database
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, text

CONFIG = """
trellis: 1
settings: {timezone: UTC, languages: [en, zh]}
objects:
  deal:
    label: {en: Deal, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      lost_reason:
        type: picklist
        label: {en: Lost reason, zh: 输单原因}
        values:
          - {key: price, label: {en: Price, zh: 价格}}
          - {key: timing, label: {en: Timing, zh: 时机}}
    pipeline:
      field: stage
      label: {en: Stage, zh: 阶段}
      stages:
        - {key: new, label: {en: New, zh: 新建}}
        - {key: qualify, label: {en: Qualified, zh: 已确认}}
        - {key: quote, label: {en: Quote, zh: 报价}}
        - {key: won, label: {en: Won, zh: 赢单}, outcome: won}
        - {key: lost, label: {en: Lost, zh: 输单}, outcome: lost, requires: [lost_reason]}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true}}
  hushed:
    objects: {deal: {read: all}}
    hidden: [deal.lost_reason]
  manager:
    objects: {deal: {read: subtree, edit: subtree}}
  boss:
    objects: {deal: {read: all, export: true}}
reports:
  funnel:
    object: deal
    kind: funnel
    label: {en: Deal funnel, zh: 商机漏斗}
    filter: {stage_entered_at: this_month}
    chart: funnel
  cycle:
    object: deal
    kind: cycle_time
    label: {en: Sales cycle, zh: 销售周期}
    filter: {stage_entered_at: this_month}
    group_by: [owner_id]
    chart: bar
  cycle_from_qualify: {object: deal, kind: cycle_time, from_stage: qualify, filter: {stage_entered_at: this_month}}
"""

USERS = {
    "mia": (["manager"], None),
    "rita": (["rep"], "mia"),
    "sam": (["rep"], None),
    "bo": (["boss"], None),
    "hu": (["hushed"], None),
}
NAMES = {"rita": "Rita Chen", "sam": "Sam Li"}


def _at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, 0, tzinfo=dt.UTC)


#: deal, owner, moves: (month, day, stage).
MOVES = [
    ("R1", "rita", [(4, 1, "new"), (4, 3, "qualify"), (4, 7, "quote"), (4, 8, "won")]),
    ("R2", "rita", [(4, 2, "new"), (4, 6, "qualify"), (4, 10, "lost")]),
    ("R3", "rita", [(3, 20, "new"), (4, 2, "qualify")]),
    ("S1", "sam", [(4, 5, "new"), (4, 6, "lost")]),
    ("S2", "sam", [(4, 10, "new")]),
]
REASONS = {"R2": "price", "S1": "timing"}
NOW = dt.datetime(2026, 4, 22, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_funnel")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        for username, (roles, manager) in USERS.items():
            extra = {"manager": manager} if manager else {}
            d.add(username, roles=roles, password=PASSWORD, display_name=NAMES.get(username, username), **extra)
    for name, owner, moves in MOVES:
        (month, day, stage), *later = moves
        clock.at(_at(month, day))
        with crm.session() as s:
            record_id = s.create("deal", {"name": name, "owner_id": crm.principal(owner).user_id, "stage": stage}).id
        for month, day, stage in later:
            clock.at(_at(month, day))
            values = {"stage": stage, **({"lost_reason": REASONS[name]} if stage == "lost" else {})}
            with crm.session() as s:
                s.update("deal", record_id, values)
    clock.at(NOW)
    yield crm
    crm.close()
    next(urls, None)


def run(crm: Trellis, user: str, language: str = "en", name: str = "funnel", **overrides) -> reports.ReportResult:
    with crm.session(user) as s, speaking(language):
        return reports.run(s, name, reports.Overrides(**overrides), language)


def listed(crm: Trellis, user: str, where: dict[str, str]) -> set[str]:
    """The names of the deals the drill-down list ``where`` shows ``user``."""
    with crm.session(user) as s:
        return {r["name"] for r in listparams.parse(where).apply(s.query("deal")).all()}


def figures(result: reports.ReportResult) -> list[tuple]:
    """(stage, entered, conversion, median days, lost, lost reasons) per stage."""
    return [
        (row.keys[0].label, *(f.value for f in row.figures))  # type: ignore[union-attr]
        for row in result.rows
    ]


def test_the_boss_sees_every_deal_that_moved_in_the_period(crm):
    result = run(crm, "bo")
    assert figures(result) == [
        ("New", 4, None, Decimal("2.0"), 1, "Timing 1"),
        ("Qualified", 3, Decimal("0.7500"), Decimal("4.0"), 1, "Price 1"),
        ("Quote", 1, Decimal("0.3333"), Decimal("1.0"), 0, None),
        ("Won", 1, Decimal("1.0000"), None, 0, None),
    ]
    assert [f.value for f in result.total.figures] == [5, Decimal("0.2500"), None, 2, "Price 1 · Timing 1"]
    assert [c.key for c in result.measures] == ["entered", "conversion", "median_days", "lost", "lost_reasons"]
    for row in (*result.rows, result.total):  # every count links to exactly the records it counts
        entered, conversion, days, lost, _ = row.figures
        assert conversion.filter is None and days.filter is None
        assert len(listed(crm, "bo", entered.filter)) == entered.value
        assert len(listed(crm, "bo", lost.filter)) == lost.value
    assert listed(crm, "bo", result.rows[1].figures[0].filter) == {"R1", "R2", "R3"}
    assert listed(crm, "bo", result.rows[0].figures[3].filter) == {"S1"}


def test_a_rep_and_her_manager_count_only_what_they_may_read(crm):
    rita = run(crm, "rita")
    assert figures(rita) == [
        ("New", 2, None, Decimal("3.0"), 0, None),
        ("Qualified", 3, Decimal("1.5000"), Decimal("4.0"), 1, "Price 1"),
        ("Quote", 1, Decimal("0.3333"), Decimal("1.0"), 0, None),
        ("Won", 1, Decimal("1.0000"), None, 0, None),
    ]
    assert [f.value for f in rita.total.figures] == [3, Decimal("0.5000"), None, 1, "Price 1"]
    assert figures(run(crm, "mia")) == figures(rita)
    assert listed(crm, "rita", rita.rows[1].figures[0].filter) == {"R1", "R2", "R3"}
    assert listed(crm, "rita", rita.total.figures[3].filter) == {"R2"}
    sam = run(crm, "sam")
    assert [row.figures[0].value for row in sam.rows] == [2, 0, 0, 0]


def test_the_period_override_and_all_time(crm):
    march = run(crm, "bo", period="last_month")
    assert figures(march)[0] == ("New", 1, None, Decimal("13.0"), 0, None)
    assert listed(crm, "bo", march.rows[0].figures[0].filter) == {"R3"}
    assert march.total.figures[0].value == 1


def test_hidden_lost_reasons_are_left_out_with_a_note(crm):
    result = run(crm, "hu")
    assert [c.key for c in result.measures] == ["entered", "conversion", "median_days", "lost"]
    assert all(len(row.figures) == 4 for row in (*result.rows, result.total))
    assert any("Lost reasons" in note for note in result.notes)


def test_labels_in_chinese(crm):
    result = run(crm, "bo", "zh")
    assert [row.keys[0].label for row in result.rows] == ["新建", "已确认", "报价", "赢单"]
    assert [c.label for c in result.measures][:2] == ["进入数", "较上一阶段转化率"]
    assert result.rows[1].figures[1].text == "75.0%" and result.rows[0].figures[4].text == "时机 1"
    assert result.levels[0].label == "阶段" and result.notes == ()


# --- the page and the API ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


def test_the_page_shows_the_figures_as_text_and_the_funnel_chart(app):
    page = text(client_for(app, "bo").get("/reports/funnel"))
    assert "Deal funnel" in page and "Median days in stage" in page and "Price 1 · Timing 1" in page
    assert "75.0%" in page and "<svg" in page
    link = re.search(r'<a href="(/o/deal[^"]*)">4</a>', page)  # the four deals that entered "New"
    assert link and "moved_to=new" in link.group(1)
    listing = text(client_for(app, "bo").get(link.group(1).replace("&amp;", "&")))
    assert "Moved to New this month" in listing and all(n in listing for n in ("R1", "R2", "S1", "S2"))
    assert "R3" not in listing


def test_the_api_gives_the_figures_with_their_filters(app, crm):
    token = create_token(crm, "rita", "t")[0]
    response = app.test_client().get("/api/v1/reports/funnel", headers={"Authorization": f"Bearer {token}"})
    body = response.get_json()["data"]
    qualify = body["rows"][1]
    assert qualify["keys"] == [{"value": "qualify", "label": "Qualified"}]
    assert qualify["figures"]["entered"] == {
        "value": 3,
        "text": "3",
        "filter": {"moved_to": "qualify", "moved_during": "this_month"},
    }
    assert qualify["figures"]["conversion"]["filter"] is None
    assert qualify["figures"]["conversion"]["value"] == "1.5000"
    assert qualify["figures"]["median_days"]["value"] == "4.0"
    assert qualify["figures"]["lost_reasons"]["value"] == "Price 1"
    assert body["total"]["entered"]["value"] == 3


def test_the_csv_file_holds_labels_and_figures(crm):
    result = run(crm, "bo", "zh")
    out = io.BytesIO()
    with crm.session("bo") as s:
        assert export_report(s, result, out, "csv") == 4
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert rows[0] == ["阶段", "进入数", "较上一阶段转化率", "阶段停留天数（中位数）", "在此阶段流失", "流失原因"]
    assert rows[2] == ["已确认", "3", "75.00", "4.0", "1", "价格 1"]


# --- cycle time ----------------------------------------------------------------------------------------
def cycle(result: reports.ReportResult) -> list[tuple]:
    return [(*(k.label for k in row.keys), *(f.value for f in row.figures)) for row in (*result.rows, result.total)]


def test_cycle_time_by_owner_for_the_boss_and_a_rep(crm):
    assert cycle(run(crm, "bo", name="cycle")) == [
        ("Rita Chen", 2, Decimal("7.5"), Decimal("7.5")),
        ("Sam Li", 1, Decimal("1.0"), Decimal("1.0")),
        (3, Decimal("7.0"), Decimal("5.3")),
    ]
    assert cycle(run(crm, "rita", name="cycle")) == [
        ("Rita Chen", 2, Decimal("7.5"), Decimal("7.5")),
        (2, Decimal("7.5"), Decimal("7.5")),
    ]
    assert cycle(run(crm, "bo", name="cycle", period="last_month")) == [(0, None, None)]
    rows = run(crm, "bo", name="cycle")
    assert listed(crm, "bo", rows.rows[0].figures[0].filter) == {"R1", "R2"}
    assert listed(crm, "bo", rows.total.figures[0].filter) == {"R1", "R2", "S1"}


def test_cycle_time_from_a_stage_in_chinese(crm):
    result = run(crm, "bo", "zh", name="cycle_from_qualify")
    assert cycle(result) == [(2, Decimal("4.5"), Decimal("4.5"))]
    assert result.total.figures[0].filter is None and result.notes[0].startswith("从首次进入")
    assert [c.label for c in result.measures] == ["已关闭", "天数中位数", "平均天数"]
    assert run(crm, "bo", "zh", name="cycle").title == "销售周期"


def test_the_api_gives_cycle_times(app, crm):
    token = create_token(crm, "bo", "t")[0]
    response = app.test_client().get("/api/v1/reports/cycle", headers={"Authorization": f"Bearer {token}"})
    body = response.get_json()["data"]
    assert body["rows"][0]["keys"][0]["label"] == "Rita Chen"
    assert body["rows"][0]["figures"]["median_days"]["filter"]["moved_during"] == "this_month"
    assert body["total"]["avg_days"]["value"] == "5.3"


def test_a_list_by_a_move_names_what_it_cannot_read(app, crm):
    token = create_token(crm, "bo", "t2")[0]
    api = app.test_client()

    def get(query: str) -> dict:
        response = api.get(f"/api/v1/deal?{query}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400, response.get_data(as_text=True)
        return response.get_json()["error"]

    wrong = get("moved_to=quotation&moved_during=this_month")
    assert "There is no stage quotation; the stages are new, qualify, quote, won, lost" in wrong["message"]
    assert "oved_during is one of today, yesterday" in get("moved_to=new&moved_during=someday")["message"]
    listed_page = api.get("/api/v1/deal?moved_from=qualify&moved_to=lost", headers={"Authorization": f"Bearer {token}"})
    assert [r["name"] for r in listed_page.get_json()["data"]] == ["R2"]
