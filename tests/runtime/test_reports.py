"""Reports (issue 15 §1–§2) computed under the viewer's permissions, on SQLite and PostgreSQL.

Six deals seeded at known moments (one at 2026-03-31T17:00Z: April in Asia/Shanghai, one two
hours earlier: still March), owned by a rep (Rita), another rep (Sam) and their manager (Mia,
whose subtree holds Rita). Every figure below is computed by hand from that table:

    deal  owner  source    amount   seats margin won  close       stage  created (UTC)
    A1    rita   web       1000.00  2     100    yes  2026-04-10  won    2026-03-31 17:00 (Apr 1 local)
    A2    rita   web        500.50  4      50    no   2026-05-01  quote  2026-03-31 15:00 (Mar 31 local)
    A3    rita   fair       200.00  -      20    no   -           new    2026-04-15 02:00
    S1    sam    web       3000.00  10    300    yes  2026-04-20  won    2026-04-20 02:00
    S2    sam    referral   -       1      10    no   -           lost   2026-01-05 02:00
    M1    mia    -          100.00  3       5    no   2026-06-30  new    2026-04-01 02:00

Stage probabilities: new 10, quote 50, won 100, lost 0. The reports run on 2026-04-22 (a
Wednesday) at 10:00 in Shanghai. Each group_by kind (picklist, stage with labels in zh/en,
user, lookup, boolean, date buckets), each measure, sort and top-N, relative ranges and the
period override, the permission matrix (own, subtree, all; a hidden field's measure left
out, a report filtering on one refused, a report for other roles not found), the drill-down
(each figure's list filter finds exactly that many records) and the CSV/Excel files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from engine import Trellis
from engine.metadata.reports import REPORT_KINDS
from engine.runtime import reports
from engine.runtime.messages import speaking
from engine.runtime.records import listparams
from engine.runtime.reports.export import export_report
from engine.runtime.reports.kinds import RUNNERS
from engine.runtime.security.permissions import PermissionDenied
from tests.conftest import Clock, fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, languages: [en, zh]}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
  deal:
    label: {en: Deal, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, label: {en: Account, zh: 客户}}
      source:
        type: picklist
        label: {en: Source, zh: 来源}
        values:
          - {key: web, label: {en: Website, zh: 官网}}
          - {key: fair, label: {en: Trade fair, zh: 展会}}
          - {key: referral, label: {en: Referral, zh: 转介绍}}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      seats: {type: integer, label: {en: Seats, zh: 席位}}
      margin: {type: currency, label: {en: Margin, zh: 毛利}}
      converted: {type: boolean, label: {en: Converted, zh: 已转化}}
      close_date: {type: date, label: {en: Close date, zh: 预计成交日}}
    pipeline:
      field: stage
      stages:
        - {key: new, label: {en: New, zh: 新建}, probability: 10}
        - {key: quote, label: {en: Quote, zh: 报价}, probability: 50}
        - {key: won, label: {en: Won, zh: 赢单}, probability: 100, outcome: won}
        - {key: lost, label: {en: Lost, zh: 输单}, probability: 0, outcome: lost}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true}, account: {read: all}}
    hidden: [deal.margin]
  manager:
    objects: {deal: {read: subtree, edit: subtree, export: true}, account: {read: all}}
  boss:
    objects: {deal: {read: all, export: true}, account: {read: all}}
reports:
  by_source:
    object: deal
    label: {en: Deals by source, zh: 按来源统计商机}
    group_by: [source]
    measures:
      - count
      - {sum: amount}
      - {avg: seats}
      - {min: close_date}
      - {max: amount}
      - {rate: converted, label: {en: Conversion rate, zh: 转化率}}
      - {weighted: amount}
      - {sum: margin}
    sort: -count
  by_stage_month:
    object: deal
    group_by: [stage, {field: created_at, by: month}]
    measures: [count, {sum: amount}, {rate: {stage: won}}]
  by_owner: {object: deal, group_by: [owner_id]}
  by_account: {object: deal, group_by: [account]}
  by_converted: {object: deal, group_by: [converted]}
  sources_backwards: {object: deal, group_by: [source], sort: -source}
  top_source: {object: deal, group_by: [source], measures: [count, {sum: amount}], sort: -sum_amount, limit: 1}
  this_quarter:
    object: deal
    filter: {created_at: this_quarter}
    group_by: [{field: created_at, by: week}]
  by_quarter: {object: deal, group_by: [{field: created_at, by: quarter}, {field: created_at, by: year}]}
  totals: {object: deal, measures: [count, {sum: amount}]}
  margin_report: {object: deal, filter: {margin__gte: 0}, group_by: [source]}
  for_managers: {object: deal, group_by: [source], roles: [manager]}
"""

#: Users: (roles, display name, manager).
USERS = {
    "mia": (["manager"], "Mia Wang", None),
    "rita": (["rep"], "Rita Chen", "mia"),
    "sam": (["rep"], "Sam Li", None),
    "bo": (["boss"], "Bo Zhang", None),
}
UTC = dt.UTC
#: name, owner, source, amount, seats, margin, converted, close date, stage, account, created at.
DEALS = [
    ("A1", "rita", "web", "1000.00", 2, "100", True, dt.date(2026, 4, 10), "won", "Acme", dt.datetime(2026, 3, 31, 17, 0, tzinfo=UTC)),
    ("A2", "rita", "web", "500.50", 4, "50", False, dt.date(2026, 5, 1), "quote", "Acme", dt.datetime(2026, 3, 31, 15, 0, tzinfo=UTC)),
    ("A3", "rita", "fair", "200.00", None, "20", False, None, "new", None, dt.datetime(2026, 4, 15, 2, 0, tzinfo=UTC)),
    ("S1", "sam", "web", "3000.00", 10, "300", True, dt.date(2026, 4, 20), "won", "Zeta", dt.datetime(2026, 4, 20, 2, 0, tzinfo=UTC)),
    ("S2", "sam", "referral", None, 1, "10", False, None, "lost", None, dt.datetime(2026, 1, 5, 2, 0, tzinfo=UTC)),
    ("M1", "mia", None, "100.00", 3, "5", False, dt.date(2026, 6, 30), "new", None, dt.datetime(2026, 4, 1, 2, 0, tzinfo=UTC)),
]  # fmt: skip
#: When the reports run: Wednesday 2026-04-22, 10:00 in Shanghai.
NOW = dt.datetime(2026, 4, 22, 2, 0, tzinfo=UTC)


def seed(crm: Trellis, clock: Clock, password: str | None = None) -> None:
    """The users and the deals of the table above."""
    with crm.directory() as d:
        for username, (roles, name, manager) in USERS.items():
            extra = {"password": password} if password else {}
            d.add(username, roles=roles, display_name=name, **({"manager": manager} if manager else {}), **extra)
    with crm.session() as s:
        accounts = {name: s.create("account", {"name": name}).id for name in ("Acme", "Zeta")}
    for name, owner, source, amount, seats, margin, converted, close, stage, account, created in DEALS:
        clock.at(created)
        with crm.session() as s:
            s.create(
                "deal",
                {
                    "name": name,
                    "owner_id": crm.principal(owner).user_id,
                    "source": source,
                    "amount": amount,
                    "seats": seats,
                    "margin": margin,
                    "converted": converted,
                    "close_date": close,
                    "stage": stage,
                    "account": accounts.get(account),
                },
            )
    clock.at(NOW)


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock)
    yield crm
    crm.close()
    next(urls, None)


def run(crm: Trellis, user: str, name: str, language: str = "en", **overrides) -> reports.ReportResult:
    with crm.session(user) as s, speaking(language):
        return reports.run(s, name, reports.Overrides(**overrides), language)


def table(result: reports.ReportResult, *measures: str) -> list[tuple]:
    """Rows as (labels…, values of ``measures``…)."""
    return [
        (*(k.label for k in row.keys), *(row.figure(m).value for m in measures))  # type: ignore[union-attr]
        for row in result.rows
    ]


def listed(crm: Trellis, user: str, params) -> int:
    """How many records the list shows for ``params`` (as the web list and the API read them)."""
    with crm.session(user) as s:
        return listparams.parse(dict(params)).apply(s.query("deal")).count()


def test_every_report_kind_has_a_runner():
    assert set(REPORT_KINDS.names()) <= set(RUNNERS.names())


# --- each measure, picklist groups in their order, sort ---------------------------------------------------
def test_every_measure_by_source_for_the_boss(crm):
    result = run(crm, "bo", "by_source")
    measures = ("count", "sum_amount", "avg_seats", "min_close_date", "max_amount", "rate_converted")
    assert table(result, *measures, "weighted_amount", "sum_margin") == [
        ("Website", 3, Decimal("4500.50"), Decimal("5.33"), dt.date(2026, 4, 10), Decimal("3000.00"), Decimal("0.6667"), Decimal("4250.25"), Decimal("450.00")),
        ("Trade fair", 1, Decimal("200.00"), None, None, Decimal("200.00"), Decimal("0"), Decimal("20.00"), Decimal("20.00")),
        ("Referral", 1, None, Decimal("1.00"), None, None, Decimal("0"), None, Decimal("10.00")),
        ("(empty)", 1, Decimal("100.00"), Decimal("3.00"), dt.date(2026, 6, 30), Decimal("100.00"), Decimal("0"), Decimal("10.00"), Decimal("5.00")),
    ]  # fmt: skip
    total = result.total
    assert [total.figure(m).value for m in ("count", "sum_amount", "rate_converted", "weighted_amount")] == [
        6,
        Decimal("4800.50"),
        Decimal("0.3333"),
        Decimal("4280.25"),
    ]
    web = result.rows[0]
    assert [web.figure(m).text for m in ("count", "sum_amount", "rate_converted", "min_close_date")] == [
        "3",
        "CN¥4,500.50",
        "66.7%",
        "2026-04-10",
    ]
    assert [c.label for c in result.measures][:2] == ["Count", "Sum of Amount"]
    assert result.left_out == () and result.notes == ()


def test_chinese_labels_and_headings(crm):
    result = run(crm, "bo", "by_source", "zh")
    assert result.title == "按来源统计商机"
    assert [row.keys[0].label for row in result.rows] == ["官网", "展会", "转介绍", "（空）"]
    assert [c.label for c in result.measures][:3] == ["数量", "金额合计", "平均席位"]
    assert result.measures[5].label == "转化率"
    assert result.rows[0].figure("sum_amount").text == "¥4,500.50"


def test_top_n_by_a_measure_keeps_the_total_of_everything(crm):
    result = run(crm, "bo", "top_source")
    assert table(result, "count", "sum_amount") == [("Website", 3, Decimal("4500.50"))]
    assert result.more and result.total.figure("count").value == 6


def test_no_matching_record_is_no_group_and_a_zero_total(crm):
    result = run(crm, "bo", "by_stage_month", period="today")
    assert result.rows == () and result.total.figure("count").value == 0
    assert result.total.figure("sum_amount").value is None and result.total.figure("rate_stage").value is None


def test_a_level_sorted_backwards_keeps_no_value_last(crm):
    labels = [row.keys[0].label for row in run(crm, "bo", "sources_backwards").rows]
    assert labels == ["Referral", "Trade fair", "Website", "(empty)"]


def test_a_report_without_groups_is_its_total(crm):
    result = run(crm, "bo", "totals")
    assert result.rows == () and result.total.figure("sum_amount").value == Decimal("4800.50")


# --- the other kinds of group -----------------------------------------------------------------------------
def test_users_lookups_and_booleans_read_as_people_read_them(crm):
    assert table(run(crm, "bo", "by_owner"), "count") == [("Mia Wang", 1), ("Rita Chen", 3), ("Sam Li", 2)]
    assert table(run(crm, "bo", "by_account"), "count") == [("Acme", 2), ("Zeta", 1), ("(empty)", 3)]
    assert table(run(crm, "bo", "by_converted", "zh"), "count") == [("否", 4), ("是", 2)]


def test_two_levels_with_month_buckets_in_the_company_time_zone(crm):
    result = run(crm, "bo", "by_stage_month")
    assert table(result, "count", "sum_amount", "rate_stage") == [
        ("New", "Apr 2026", 2, Decimal("300.00"), Decimal("0")),
        ("Quote", "Mar 2026", 1, Decimal("500.50"), Decimal("0")),
        ("Won", "Apr 2026", 2, Decimal("4000.00"), Decimal("1.0000")),
        ("Lost", "Jan 2026", 1, None, Decimal("0")),
    ]
    # A1 (2026-03-31T17:00Z) is April in Shanghai; A2 two hours earlier is still March.
    assert result.rows[0].keys[1].raw == dt.date(2026, 4, 1)
    april = result.subtotals[(1, dt.date(2026, 4, 1))]
    assert (april.figure("count").value, april.figure("sum_amount").value) == (4, Decimal("4300.00"))
    assert april.figure("rate_stage").value is None  # a rate does not add up
    assert result.subtotals[(0, "new")].figure("count").value == 2
    assert [r.keys[1].label for r in run(crm, "bo", "by_stage_month", "zh").rows][:2] == ["2026年4月", "2026年3月"]


def test_quarter_and_year_buckets(crm):
    assert table(run(crm, "bo", "by_quarter"), "count") == [("Q1 2026", "2026", 2), ("Q2 2026", "2026", 4)]
    assert table(run(crm, "bo", "by_quarter", "zh"), "count")[0][:2] == ("2026年第1季度", "2026年")


# --- relative ranges, the period override ---------------------------------------------------------------
def test_this_quarter_by_week_and_the_period_override(crm):
    result = run(crm, "bo", "this_quarter")
    assert table(result, "count") == [
        ("Week of 2026-03-30", 2),  # A1 (Wed Apr 1, 01:00 local) and M1
        ("Week of 2026-04-13", 1),
        ("Week of 2026-04-20", 1),
    ]
    assert result.total.figure("count").value == 4
    last = run(crm, "bo", "this_quarter", period="last_quarter")
    assert last.total.figure("count").value == 2 and last.params["created_at"] == "last_quarter"
    assert run(crm, "bo", "by_source", period="last_30_days").total.figure("count").value == 5  # from Mar 24


@pytest.mark.parametrize(
    ("period", "count"),
    [("today", 0), ("this_week", 1), ("last_week", 1), ("this_month", 4), ("last_month", 1), ("this_year", 6)],
)
def test_relative_ranges_filter_lists_too(crm, period, count):
    assert listed(crm, "bo", {"created_at": period}) == count


def test_a_bad_override_is_a_clear_error(crm):
    with pytest.raises(reports.ReportRefused.__mro__[1], match="period is one of today"):
        reports.Overrides.parse(period="someday")
    with speaking("zh"), pytest.raises(reports.ReportRefused.__mro__[1], match="团队应为团队编号"):
        reports.Overrides.parse(team="east")


# --- permissions ------------------------------------------------------------------------------------------
def test_a_rep_counts_only_their_records_and_never_a_hidden_field(crm):
    result = run(crm, "rita", "by_source")
    assert table(result, "count", "sum_amount") == [
        ("Website", 2, Decimal("1500.50")),
        ("Trade fair", 1, Decimal("200.00")),
    ]
    assert result.left_out == ("sum_margin",)
    assert "sum_margin" not in {c.key for c in result.measures}
    assert result.notes == ("Left out because you may not see the fields they read: Sum of Margin.",)
    assert run(crm, "rita", "by_source", "zh").notes == ("以下指标读取了您无权查看的字段，已略去：毛利合计。",)
    assert table(run(crm, "sam", "by_source"), "count") == [("Website", 1), ("Referral", 1)]


def test_a_manager_counts_their_subtree(crm):
    result = run(crm, "mia", "by_source")
    assert table(result, "count", "sum_margin") == [
        ("Website", 2, Decimal("150.00")),
        ("Trade fair", 1, Decimal("20.00")),
        ("(empty)", 1, Decimal("5.00")),
    ]
    assert run(crm, "mia", "by_owner").total.figure("count").value == 4


def test_a_report_filtering_on_a_hidden_field_is_refused(crm):
    with pytest.raises(reports.ReportRefused, match="This report reads Margin, which you may not see"):
        run(crm, "rita", "margin_report")
    assert run(crm, "bo", "margin_report").total.figure("count").value == 6


def test_who_may_open_which_report(crm):
    with crm.session("rita") as s:
        names = [r.name for r in reports.available(s)]
        with pytest.raises(reports.ReportNotFound):
            reports.report_for(s, "for_managers")
        with pytest.raises(reports.ReportNotFound):
            reports.report_for(s, "no_such_report")
    assert "for_managers" not in names and "by_source" in names
    assert run(crm, "mia", "for_managers").total.figure("count").value == 4
    with crm.session("bo") as s:
        assert "for_managers" not in [r.name for r in reports.available(s)]


def test_owner_and_team_overrides_narrow_the_scope_never_widen_it(crm):
    assert run(crm, "mia", "by_source", owner="me").total.figure("count").value == 1
    sam = str(crm.principal("sam").user_id)
    assert run(crm, "rita", "by_source", owner=sam).total.figure("count").value == 0
    assert run(crm, "bo", "by_source", owner=sam).total.figure("count").value == 2


# --- drill-down -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "name"),
    [
        ("bo", "by_source"),
        ("rita", "by_source"),
        ("bo", "by_stage_month"),
        ("bo", "this_quarter"),
        ("mia", "by_account"),
    ],
)
def test_every_figure_links_to_a_list_of_exactly_its_records(crm, user, name):
    result = run(crm, user, name)
    for row in (*result.rows, result.total, *result.subtotals.values()):
        count = row.figure("count")
        assert listed(crm, user, count.filter) == count.value
        rate = row.figure("rate_converted") or row.figure("rate_stage")
        if rate is not None and rate.value is not None:
            assert listed(crm, user, rate.filter) == round(rate.value * count.value)


# --- files ------------------------------------------------------------------------------------------------
def test_csv_and_excel_hold_labels_and_numbers(crm):
    result = run(crm, "bo", "by_source", "zh")
    out = io.BytesIO()
    with crm.session("bo") as s:
        assert export_report(s, result, out, "csv") == 4
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert rows[0][:3] == ["来源", "数量", "金额合计"]
    assert rows[1][:3] == ["官网", "3", "4500.50"] and rows[1][6] == "66.67"
    assert rows[-1][:3] == ["合计", "6", "4800.50"]
    out = io.BytesIO()
    with crm.session("bo") as s:
        export_report(s, result, out, "xlsx")
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet.title == "按来源统计商机"
    assert [c.value for c in sheet[2]][:3] == ["官网", 3, 4500.5]
    assert "¥" in sheet["C2"].number_format and "%" in sheet["G2"].number_format
    assert sheet["A6"].value == "合计"


def test_a_file_needs_the_export_grant(crm):
    result = run(crm, "rita", "by_source")
    with crm.session("rita") as s, pytest.raises(PermissionDenied):
        export_report(s, result, io.BytesIO(), "csv")
