"""The ``completeness`` report kind (issue 15 §1, S41, S6) under the viewer's permissions, on
SQLite and PostgreSQL. Six accounts, fields industry, phone and tier, target 60 %:

    account  owner  industry  phone  tier    complete
    R1       rita   tech      123    gold    yes
    R2       rita   tech      -      gold    no (phone)
    R3       rita   -         456    -       no (industry, tier)
    S1       sam    retail    789    silver  yes
    S2       sam    retail    111    -       no (tier)
    M1       mia    tech      222    gold    yes

Rita (a rep: her own accounts, tier hidden) sees R1–R3 over industry and phone: 1 of 3
complete; Mia (manager of Rita: her subtree) sees Rita's and her own; Bo sees all six: 3 of 6,
50 %, the target not met. The clerk may see none of the fields: the report is refused. Every
incomplete count's drill-down (``any_empty``) lists exactly that many records.
"""

from __future__ import annotations

import csv
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
from tests.runtime.test_reports import NOW
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, languages: [en, zh]}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      industry:
        type: picklist
        label: {en: Industry, zh: 行业}
        values: [{key: tech, label: {en: Tech, zh: 科技}}, {key: retail, label: {en: Retail, zh: 零售}}]
      phone: {type: text, label: {en: Phone, zh: 电话}}
      tier: {type: picklist, label: {en: Tier, zh: 等级}, values: [gold, silver]}
roles:
  rep:
    objects: {account: {read: own, edit: own, create: true}}
    hidden: [account.tier]
  manager:
    objects: {account: {read: subtree}}
  boss:
    objects: {account: {read: all, export: true}}
  clerk:
    objects: {account: {read: all}}
    hidden: [account.industry, account.phone, account.tier]
reports:
  account_completeness:
    kind: completeness
    object: account
    label: {en: Account completeness, zh: 客户资料完整度}
    fields: [industry, phone, tier]
    target: 60%
    chart: bar
  by_industry: {kind: completeness, object: account, fields: [phone], group_by: industry}
  by_team: {kind: completeness, object: account, fields: [industry, phone, tier], group_by: team}
"""
USERS = {"mia": (["manager"], "Mia Wang", None), "rita": (["rep"], "Rita Chen", "mia")}
USERS |= {"sam": (["rep"], "Sam Li", None), "bo": (["boss"], "Bo Zhang", None), "cy": (["clerk"], "Cy Xu", None)}
ACCOUNTS = [
    ("R1", "rita", "tech", "123", "gold"),
    ("R2", "rita", "tech", None, "gold"),
    ("R3", "rita", None, "456", None),
    ("S1", "sam", "retail", "789", "silver"),
    ("S2", "sam", "retail", "111", None),
    ("M1", "mia", "tech", "222", "gold"),
]


def seed(crm: Trellis, password: str | None = None) -> None:
    """The users and the accounts of the table above."""
    with crm.directory() as d:
        d.add_team("east", label="East")
        for username, (roles, name, manager) in USERS.items():
            extra = {"password": password} if password else {}
            team = {"team": "east"} if username in ("mia", "rita") else {}
            d.add(
                username, roles=roles, display_name=name, **({"manager": manager} if manager else {}), **extra, **team
            )
    with crm.session() as s:
        for name, owner, industry, phone, tier in ACCOUNTS:
            values = {"name": name, "industry": industry, "phone": phone, "tier": tier}
            s.create("account", {**values, "owner_id": crm.principal(owner).user_id})


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("completeness")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=Clock(NOW))
    apply_fresh(crm)
    seed(crm)
    yield crm
    crm.close()
    next(urls, None)


def run(crm: Trellis, user: str, name: str = "account_completeness", language: str = "en"):
    with crm.session(user) as s, speaking(language):
        return reports.run(s, name, reports.Overrides(), language)


def figures(row, *keys: str) -> tuple:
    return tuple(row.figure(k).value for k in keys)


def listed(crm: Trellis, user: str, params) -> int:
    with crm.session(user) as s:
        return listparams.parse(dict(params)).apply(s.query("account")).count()


KEYS = ("count", "complete", "incomplete", "filled_industry", "filled_phone", "filled_tier", "target")
THIRD, TWO_THIRDS = Decimal("0.3333"), Decimal("0.6667")


def test_the_boss_sees_every_owner_against_the_target(crm):
    result = run(crm, "bo")
    assert [m.key for m in result.measures] == [
        "complete", "filled_industry", "filled_phone", "filled_tier", "count", "incomplete", "target",
    ]  # fmt: skip
    assert [m.label for m in result.measures][-1] == "Target 60%"
    rows = {row.keys[0].label: figures(row, *KEYS) for row in result.rows}
    assert rows == {
        "Mia Wang": (1, Decimal(1), 0, Decimal(1), Decimal(1), Decimal(1), True),
        "Rita Chen": (3, THIRD, 2, TWO_THIRDS, TWO_THIRDS, TWO_THIRDS, False),
        "Sam Li": (2, Decimal("0.5"), 1, Decimal(1), Decimal(1), Decimal("0.5"), False),
    }
    assert figures(result.total, *KEYS) == (
        6,
        Decimal("0.5"),
        3,
        Decimal("0.8333"),
        Decimal("0.8333"),
        Decimal("0.6667"),
        False,
    )
    assert [f.text for f in result.total.figures] == ["50.0%", "83.3%", "83.3%", "66.7%", "6", "3", "Not met"]
    assert result.notes == () and result.left_out == ()


def test_a_rep_sees_her_own_records_without_the_hidden_field(crm):
    result = run(crm, "rita")
    assert [row.keys[0].label for row in result.rows] == ["Rita Chen"]
    assert "filled_tier" not in [m.key for m in result.measures] and result.left_out == ("filled_tier",)
    assert result.notes == ("Left out because you may not see them: Tier.",)
    # over industry and phone: R1 complete, R2 without phone, R3 without industry
    assert figures(result.total, "count", "complete", "incomplete") == (3, THIRD, 2)
    assert result.total.figure("incomplete").filter == {"any_empty": "industry,phone"}


def test_a_manager_sees_her_subtree(crm):
    result = run(crm, "mia")
    assert [(row.keys[0].label, row.figure("complete").value) for row in result.rows] == [
        ("Mia Wang", Decimal(1)),
        ("Rita Chen", THIRD),
    ]
    assert figures(result.total, "count", "incomplete", "target") == (4, 2, False)


@pytest.mark.parametrize("user", ["bo", "rita", "mia"])
def test_every_figure_drills_down_to_exactly_its_records(crm, user):
    result = run(crm, user)
    for row in (*result.rows, result.total):
        count = row.figure("count").value
        assert listed(crm, user, row.figure("count").filter) == count
        assert listed(crm, user, row.figure("incomplete").filter) == row.figure("incomplete").value
        complete = row.figure("complete")
        assert listed(crm, user, complete.filter) == round(complete.value * count)


def test_in_chinese(crm):
    result = run(crm, "bo", language="zh")
    assert result.title == "客户资料完整度"
    assert [m.label for m in result.measures] == [
        "完整率",
        "行业填写率",
        "电话填写率",
        "等级填写率",
        "记录数",
        "不完整",
        "目标 60%",
    ]
    assert result.total.figure("target").text == "未达成"
    assert [row.figure("target").text for row in result.rows] == ["已达成", "未达成", "未达成"]


def test_grouped_by_a_field_without_a_target(crm):
    result = run(crm, "bo", "by_industry")
    assert [(row.keys[0].label, *figures(row, "count", "complete")) for row in result.rows] == [
        ("Tech", 3, TWO_THIRDS),
        ("Retail", 2, Decimal(1)),
        ("(empty)", 1, Decimal(1)),
    ]
    assert "target" not in [m.key for m in result.measures]
    assert listed(crm, "bo", result.rows[0].figure("incomplete").filter) == 1


def test_grouped_by_the_owners_team(crm):
    result = run(crm, "bo", "by_team", language="zh")
    assert [c.label for c in result.levels] == ["团队"]
    assert [(row.keys[0].label, *figures(row, "count", "complete", "incomplete")) for row in result.rows] == [
        ("East", 4, Decimal("0.5"), 2),
        ("（无团队）", 2, Decimal("0.5"), 1),
    ]
    for row in result.rows:
        assert listed(crm, "bo", row.figure("incomplete").filter) == row.figure("incomplete").value
        assert listed(crm, "bo", row.figure("count").filter) == row.figure("count").value


def test_a_report_of_fields_all_hidden_is_refused(crm):
    with pytest.raises(ReportRefused) as refused:
        run(crm, "cy")
    assert "Industry, Phone, Tier" in str(refused.value)


def test_the_list_filter_any_empty_names_a_bad_field_clearly(crm):
    with crm.session("rita") as s, pytest.raises(listparams.BadListParams) as bad:
        listparams.parse({"any_empty": "phone,tier"}).apply(s.query("account"))
    assert list(bad.value.errors) == ["any_empty"]


def test_the_csv_file_holds_rates_counts_and_the_verdict_in_words(crm):
    result = run(crm, "bo", language="zh")
    out = io.BytesIO()
    with crm.session("bo") as s:
        assert export_report(s, result, out, "csv") == 3
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert rows[0] == ["负责人", "完整率", "行业填写率", "电话填写率", "等级填写率", "记录数", "不完整", "目标 60%"]
    assert rows[2] == ["Rita Chen", "33.33", "66.67", "66.67", "66.67", "3", "2", "未达成"]
    assert rows[-1] == ["合计", "50.00", "83.33", "83.33", "66.67", "6", "3", "未达成"]
