"""The ``forecast`` and ``conversion`` report kinds (issue 15 §1–§2, S22, S43) under the viewer's
permissions, on SQLite and PostgreSQL. The reports run on 2026-04-22 (Q2: April–June).

Teams: east = Mia (manager), Rita and Ray (her reps); west = Wes (manager), Sam (his rep); Bo
(the executive) has no team. Stages and their forecast categories: qualify 20 % (pipeline),
propose 50 % (best case, by its probability), negotiate 60 % (commit, declared), parked
(omitted, declared), won, lost. Deals:

    deal owner amount close       stage      counts in (close date in Q2)
    R1   rita  1000   2026-05-10  qualify    pipeline; weighted 200
    R2   rita  2000   2026-06-01  propose    pipeline, best case; weighted 1000
    R3   rita  3000   2026-04-15  won        won
    R4   rita   500   2026-07-10  negotiate  - (Q3)
    Y1   ray   4000   2026-05-20  negotiate  pipeline, best case, commit; weighted 2400
    Y2   ray    800   2026-05-21  parked     - (omitted)
    Y3   ray    600   2026-04-02  lost       -
    M1   mia   1500   2026-06-30  won        won
    S1   sam   5000   2026-05-05  propose    pipeline, best case; weighted 2500
    S2   sam    700   2026-04-10  won        won
    W1   wes    100   2026-03-30  won        - (Q1)

Quotas per month: Rita 1,000, Ray 2,000, Sam 3,000, team east 12,000: for the quarter ×3.

Leads (created this quarter unless said), converted by ``lead_to_deal`` (an account, and a deal
with the amount and stage given, or none):

    lead owner source converted  deal
    L1   rita  web    yes        1000 won
    L2   rita  web    yes        -
    L3   rita  fair   no
    L4   sam   web    yes        2000 qualify
    L8   sam   web    no
    L5   sam   fair   no
    L6   sam   fair   yes        500 won
    L7   rita  web    yes        9999 won   (created 2026-01-10: last quarter)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from engine import Trellis
from engine.runtime import reports
from engine.runtime.messages import speaking
from engine.runtime.records import listparams
from engine.runtime.reports.export import export_report
from engine.runtime.reports.result import ReportRefused
from tests.conftest import Clock, fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, languages: [en, zh]}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
  deal:
    label: {en: Deal, zh: 商机}
    plural_label: {en: Deals, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      close_date: {type: date, label: {en: Close date, zh: 预计成交日期}}
    pipeline:
      field: stage
      stages:
        - {key: qualify, label: {en: Qualify, zh: 确认需求}, probability: 20}
        - {key: propose, label: {en: Propose, zh: 方案}, probability: 50}
        - {key: negotiate, label: {en: Negotiate, zh: 谈判}, probability: 60, forecast: commit}
        - {key: parked, label: {en: Parked, zh: 搁置}, probability: 10, forecast: omitted}
        - {key: won, label: {en: Won, zh: 赢单}, probability: 100, outcome: won}
        - {key: lost, label: {en: Lost, zh: 输单}, probability: 0, outcome: lost}
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      source:
        type: picklist
        label: {en: Source, zh: 来源}
        values:
          - {key: web, label: {en: Website, zh: 官网}}
          - {key: fair, label: {en: Trade fair, zh: 展会}}
      status: {type: picklist, values: [new, converted], default: new}
      converted_account: {type: lookup, object: account}
      converted_deal: {type: lookup, object: deal}
  quota:
    title: "{starts}"
    fields:
      rep: {type: user, required: true}
      starts: {type: date, required: true}
      amount: {type: currency, required: true}
conversions:
  lead_to_deal:
    from: lead
    targets:
      account: {fields: {name: name, owner_id: owner_id}}
      deal: {optional: true, fields: {name: name, owner_id: owner_id}}
    mark: {status: converted}
    links: {account: converted_account, deal: converted_deal}
roles:
  rep:
    objects:
      deal: {read: own, edit: own, create: true}
      lead: {read: own, edit: own, create: true}
      account: {read: own, create: true}
      quota: {read: own}
  manager:
    objects: {deal: {read: subtree}, lead: {read: subtree}, account: {read: subtree}, quota: {read: subtree}}
  boss:
    objects: {deal: {read: all, export: true}, lead: {read: all, export: true}, account: {read: all}, quota: {read: all}}
  marketer:
    objects: {lead: {read: all}}
  auditor:
    objects: {deal: {read: all}}
    hidden: [deal.amount]
reports:
  forecast:
    kind: forecast
    object: deal
    label: {en: Forecast, zh: 销售预测}
    close_date: close_date
    amount: amount
    filter: {close_date: this_quarter}
    quota: {per: month, users: {rita: 1000, ray: 2000, sam: 3000}, teams: {east: 12000}}
    chart: bar
  forecast_by_month:
    kind: forecast
    object: deal
    close_date: close_date
    amount: amount
    filter: {close_date: this_quarter}
    group_by: [{field: close_date, by: month}]
  forecast_from_records:
    kind: forecast
    object: deal
    close_date: close_date
    amount: amount
    filter: {close_date: this_month}
    quota: {object: quota, user: rep, amount: amount, date: starts}
  leads_by_source:
    kind: conversion
    object: lead
    label: {en: Lead conversion by source, zh: 线索转化（按来源）}
    filter: {created_at: this_quarter}
    group_by: source
    amount: deal.amount
    chart: bar
"""
#: username: (roles, display name, manager, team).
USERS = {
    "mia": (["manager"], "Mia Wang", None, "east"),
    "rita": (["rep"], "Rita Chen", "mia", "east"),
    "ray": (["rep"], "Ray Zhou", "mia", "east"),
    "wes": (["manager"], "Wes Hu", None, "west"),
    "sam": (["rep"], "Sam Li", "wes", "west"),
    "bo": (["boss"], "Bo Zhang", None, None),
    "max": (["marketer"], "Max Ma", None, None),
    "al": (["auditor"], "Al Gu", None, None),
}
D = dt.date
DEALS = [
    ("R1", "rita", "1000", D(2026, 5, 10), "qualify"),
    ("R2", "rita", "2000", D(2026, 6, 1), "propose"),
    ("R3", "rita", "3000", D(2026, 4, 15), "won"),
    ("R4", "rita", "500", D(2026, 7, 10), "negotiate"),
    ("Y1", "ray", "4000", D(2026, 5, 20), "negotiate"),
    ("Y2", "ray", "800", D(2026, 5, 21), "parked"),
    ("Y3", "ray", "600", D(2026, 4, 2), "lost"),
    ("M1", "mia", "1500", D(2026, 6, 30), "won"),
    ("S1", "sam", "5000", D(2026, 5, 5), "propose"),
    ("S2", "sam", "700", D(2026, 4, 10), "won"),
    ("W1", "wes", "100", D(2026, 3, 30), "won"),
]
UTC = dt.UTC
IN_Q2 = dt.datetime(2026, 4, 5, 2, 0, tzinfo=UTC)
#: name, owner, source, converted, the deal's (amount, stage) or None, created.
LEADS = [
    ("L1", "rita", "web", True, ("1000", "won"), IN_Q2),
    ("L2", "rita", "web", True, None, IN_Q2),
    ("L3", "rita", "fair", False, None, IN_Q2),
    ("L4", "sam", "web", True, ("2000", "qualify"), IN_Q2),
    ("L8", "sam", "web", False, None, IN_Q2),
    ("L5", "sam", "fair", False, None, IN_Q2),
    ("L6", "sam", "fair", True, ("500", "won"), IN_Q2),
    ("L7", "rita", "web", True, ("9999", "won"), dt.datetime(2026, 1, 10, 2, 0, tzinfo=UTC)),
]
NOW = dt.datetime(2026, 4, 22, 2, 0, tzinfo=UTC)


def seed(crm: Trellis, clock: Clock, password: str | None = None) -> None:
    """The users, teams, deals, quotas and leads of the tables above."""
    with crm.directory() as d:
        d.add_team("east", label="East")
        d.add_team("west", label="West")
        for username, (roles, name, manager, team) in USERS.items():
            extra = {"password": password} if password else {}
            if manager:
                extra["manager"] = manager
            if team:
                extra["team"] = team
            d.add(username, roles=roles, display_name=name, **extra)
    owner = {name: crm.principal(name).user_id for name in USERS}
    with crm.session() as s:
        for name, who, amount, close, stage in DEALS:
            s.create(
                "deal", {"name": name, "owner_id": owner[who], "amount": amount, "close_date": close, "stage": stage}
            )
        for who, amount in (("rita", "2000"), ("ray", "500")):  # April's quotas (and May's, not counted)
            for month in (D(2026, 4, 1), D(2026, 5, 1)):
                s.create("quota", {"rep": owner[who], "starts": month, "amount": amount, "owner_id": owner[who]})
    for name, who, source, converted, deal, created in LEADS:
        clock.at(created)
        with crm.session() as s:
            lead = s.create("lead", {"name": name, "owner_id": owner[who], "source": source})
            if converted:
                overrides = {"deal": {"amount": deal[0], "stage": deal[1]}} if deal else None
                s.convert("lead_to_deal", lead.id, skip=() if deal else ("deal",), overrides=overrides)
    clock.at(NOW)


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    seed(crm, clock)
    yield crm
    crm.close()
    next(urls, None)


def run(crm: Trellis, user: str, name: str = "forecast", language: str = "en", **overrides) -> reports.ReportResult:
    with crm.session(user) as s, speaking(language):
        return reports.run(s, name, reports.Overrides(**overrides), language)


FORECAST = ("pipeline", "weighted", "best_case", "commit", "won", "quota", "attainment", "open_count")


def rows(result: reports.ReportResult, *keys: str) -> list[tuple]:
    """Each row as (its labels, then the values of ``keys``; a subtotal row's marked ``=``)."""
    return [
        (*(k.label for k in row.keys), *(row.figure(k).value for k in keys), "=" if row.subtotal else "")  # type: ignore[union-attr]
        for row in result.rows
    ]


def money(*values: int | str | None) -> tuple:
    return tuple(None if v is None else Decimal(str(v)) for v in values)


def listed(crm: Trellis, user: str, params, object_name: str = "deal") -> tuple[int, Decimal]:
    """How many records the list shows for ``params``, and their amounts added up."""
    with crm.session(user) as s:
        found = list(listparams.parse(dict(params)).apply(s.query(object_name)).page(1, 500).items)
    return len(found), sum((Decimal(r["amount"] or 0) for r in found), Decimal(0)) if object_name == "deal" else 0


def test_the_executive_sees_owners_in_their_teams_with_subtotals_and_quotas(crm):
    result = run(crm, "bo")
    assert [m.key for m in result.measures] == list(FORECAST)
    assert [c.label for c in result.levels] == ["Team", "Owner"] and result.nested
    expect = [
        ("East", "Mia Wang", *money(0, 0, 0, 0, 1500, None), None, 0, ""),
        ("East", "Ray Zhou", *money(4000, 2400, 4000, 4000, 0, 6000), Decimal(0), 1, ""),
        ("East", "Rita Chen", *money(3000, 1200, 2000, 0, 3000, 3000), Decimal(1), 2, ""),
        ("East", "East subtotal", *money(7000, 3600, 6000, 4000, 4500, 36000), Decimal("0.125"), 3, "="),
        ("West", "Sam Li", *money(5000, 2500, 5000, 0, 700, 9000), Decimal("0.0778"), 1, ""),
        ("West", "West subtotal", *money(5000, 2500, 5000, 0, 700, 9000), Decimal("0.0778"), 1, "="),
    ]
    assert rows(result, *FORECAST) == expect
    total = tuple(result.total.figure(k).value for k in FORECAST)  # type: ignore[union-attr]
    assert total == (*money(12000, 6100, 11000, 4000, 5200, 45000), Decimal("0.1156"), 4)
    assert result.total.figure("pipeline").text == "CN¥12,000.00"  # type: ignore[union-attr]


def test_every_figure_lists_exactly_the_deals_it_sums(crm):
    result = run(crm, "bo")
    for row in (*result.rows, result.total):
        count = row.figure("open_count")
        assert listed(crm, "bo", count.filter)[0] == count.value, row.keys
        for key in ("pipeline", "best_case", "commit", "won"):
            figure = row.figure(key)
            assert figure.filter is not None and listed(crm, "bo", figure.filter)[1] == figure.value, (row.keys, key)
        assert row.figure("quota").filter is None


def test_a_manager_forecasts_their_subtree_and_a_rep_their_own(crm):
    mia = run(crm, "mia")
    assert [r[:2] for r in rows(mia)] == [
        ("East", "Mia Wang"), ("East", "Ray Zhou"), ("East", "Rita Chen"), ("East", "East subtotal"),
    ]  # fmt: skip
    assert mia.total.figure("pipeline").value == Decimal(7000)  # type: ignore[union-attr]
    assert mia.total.figure("quota").value == Decimal(36000)  # type: ignore[union-attr]
    rita = run(crm, "rita")
    assert rows(rita, "pipeline", "won", "quota", "attainment") == [
        ("East", "Rita Chen", *money(3000, 3000, 3000), Decimal(1), ""),
        ("East", "East subtotal", *money(3000, 3000, 3000), Decimal(1), "="),  # not the team's 36,000
    ]
    assert listed(crm, "rita", rita.total.figure("pipeline").filter) == (2, Decimal(3000))  # type: ignore[union-attr]


def test_quotas_follow_the_period_and_say_when_they_cannot(crm):
    month = run(crm, "bo", period="this_month")  # April: R3, Y3, S2; quotas ×1
    assert rows(month, "won", "quota", "attainment")[:2] == [
        ("East", "Ray Zhou", *money(0, 2000), Decimal(0), ""),
        ("East", "Rita Chen", *money(3000, 1000), Decimal(3), ""),
    ]
    days = run(crm, "bo", period="last_30_days")
    assert days.total.figure("quota").value is None  # type: ignore[union-attr]
    assert days.notes == (
        "Quotas are not shown: they are given per month, and the period is not a whole number of them.",
    )
    zh = run(crm, "bo", language="zh")
    assert zh.rows[3].keys[1].label == "East 小计" and not zh.notes
    assert "业绩指标" in run(crm, "bo", language="zh", period="last_7_days").notes[0]
    assert [m.label for m in zh.measures][:2] == ["管道金额", "加权管道金额"]


def test_quotas_read_from_records_as_the_viewer(crm):
    bo = run(crm, "bo", "forecast_from_records")  # April: Rita 2,000, Ray 500
    assert rows(bo, "won", "quota", "attainment")[:2] == [
        ("East", "Ray Zhou", *money(0, 500), Decimal(0), ""),
        ("East", "Rita Chen", *money(3000, 2000), Decimal("1.5"), ""),
    ]
    assert bo.total.figure("quota").value == Decimal(2500)  # type: ignore[union-attr]


def test_a_forecast_by_close_month(crm):
    result = run(crm, "bo", "forecast_by_month", language="zh")
    assert rows(result, "pipeline", "won") == [
        ("2026年4月", *money(0, 3700), ""),
        ("2026年5月", *money(10000, 0), ""),
        ("2026年6月", *money(2000, 1500), ""),
    ]
    may = result.rows[1].figure("open_count")
    assert listed(crm, "bo", may.filter)[0] == may.value == 3  # type: ignore[union-attr]


def test_a_forecast_over_a_hidden_amount_is_refused(crm):
    with pytest.raises(ReportRefused, match="Amount"):
        run(crm, "al")


def test_the_forecast_file_has_labels_and_subtotals(crm):
    out = io.BytesIO()
    with crm.session("bo") as s:
        export_report(s, reports.run(s, "forecast", reports.Overrides(), "en"), out, "csv")
    lines = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert lines[0][:4] == ["Team", "Owner", "Pipeline", "Weighted pipeline"]
    assert lines[4][:3] == ["East", "East subtotal", "7000.00"]
    assert lines[-1][0] == "Total"


# --- conversion ----------------------------------------------------------------------------------------
CONVERSION = ("records", "converted", "conversion_rate", "to_account", "to_deal", "amount", "won_amount")


def test_the_executive_sees_leads_converted_by_source(crm):
    result = run(crm, "bo", "leads_by_source")
    assert [m.key for m in result.measures] == list(CONVERSION)
    assert [m.label for m in result.measures] == [
        "Leads", "Converted", "Conversion rate", "Accounts", "Deals", "Amount (Deals)", "Won Amount",
    ]  # fmt: skip
    assert rows(result, *CONVERSION) == [
        ("Website", 4, 3, Decimal("0.75"), 3, 2, *money(3000, 1000), ""),
        ("Trade fair", 3, 1, Decimal("0.3333"), 1, 1, *money(500, 500), ""),
    ]
    total = tuple(result.total.figure(k).value for k in CONVERSION)  # type: ignore[union-attr]
    assert total == (7, 4, Decimal("0.5714"), 4, 3, *money(3500, 1500))
    for row in (*result.rows, result.total):
        for key in ("records", "converted", "to_account", "to_deal"):
            figure = row.figure(key)
            assert listed(crm, "bo", figure.filter, "lead")[0] == figure.value, (row.keys, key)
        assert row.figure("amount").filter is None


def test_a_rep_sees_their_leads_and_deals_and_a_marketer_no_deals(crm):
    rita = run(crm, "rita", "leads_by_source", language="zh")
    assert rows(rita, *CONVERSION) == [
        ("官网", 2, 2, Decimal(1), 2, 1, *money(1000, 1000), ""),
        ("展会", 1, 0, Decimal(0), 0, 0, *money(0, 0), ""),
    ]
    marketer = run(crm, "max", "leads_by_source")
    assert [m.key for m in marketer.measures] == ["records", "converted", "conversion_rate"]
    assert marketer.left_out == ("to_account", "to_deal")
    assert marketer.notes == ("Left out because you may not read these records: Accounts, Deals.",)
    assert marketer.total.figure("records").value == 7  # type: ignore[union-attr]
