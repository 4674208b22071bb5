"""The samples' home dashboards (issue 15 §4) over their demo data, on SQLite and PostgreSQL.

For each sample the sales manager Mike (team east: Mike, Alice, Bob; ``read: team``) opens the
manager's home and the rep Alice (``read: own``) "My work". Their key figures and completeness
are computed here by hand from every record read as the system (owners, stages, dates in the
company time zone) and must equal the widgets', as must the funnel's entries per stage (from the
stage history) and the forecast's pipeline, commit and won totals; every count of every widget
lists exactly that many records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from cryptography.fernet import Fernet

from engine import Trellis
from engine.runtime import dashboards
from engine.runtime.demo import data as demo
from engine.runtime.periods import period_range
from engine.runtime.records import listparams
from tests.conftest import CONFIGS, fresh_database

#: sample → (the manager's home, the rep's home).
SAMPLES = {
    "sample_saas.yaml": ("sales_overview", "my_work"),
    "sample_retail.yaml": ("store_overview", "my_work"),
}


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def crm(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard_samples")
    urls = fresh_database(folder)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
        env.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
        crm = Trellis.open(CONFIGS / request.param, next(urls))
        crm.apply(applied_by="tests")
        demo.load_demo_users(crm)
        demo.load_demo_data(crm, per_object=12)
        crm.sample = request.param  # type: ignore[attr-defined]
        yield crm
        crm.close()
    next(urls, None)


def records(crm: Trellis, object_name: str) -> list[Any]:
    with crm.session(None) as s:
        return list(s.query(object_name).include_archived().all())


def owners(crm: Trellis, *names: str) -> set[int]:
    return {crm.principal(n).user_id for n in names}


def local_day(crm: Trellis, value: Any) -> dt.date | None:
    """A stored date, or a moment's day in the company time zone."""
    if isinstance(value, dt.datetime):
        zone = crm.clock_now().timezone
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(zone).date()
    return value


def within(crm: Trellis, period: str) -> Callable[[Any], bool]:
    start, end = period_range(period, crm.clock_now().today())
    return lambda value: value is not None and start <= local_day(crm, value) < end


def figure(result: dashboards.DashboardResult, report: str, measure: str) -> Any:
    (widget,) = [w for w in result.widgets if w.widget.report == report]
    assert widget.report is not None, widget.refused
    found = widget.report.total.figure(measure)
    assert found is not None
    return found.value


def expected_kpis(crm: Trellis, who: set[int], period: str | None = None) -> dict[tuple[str, str], Any]:
    """The key figures by hand for records owned by ``who`` over ``period`` (None: each
    report's own): (report, measure) → value."""
    archived = lambda r: r["archived_at"] is None  # noqa: E731
    mine = lambda name: [r for r in records(crm, name) if r["owner_id"] in who and archived(r)]  # noqa: E731
    if crm.sample == "sample_saas.yaml":
        quarter, month = within(crm, period or "this_quarter"), within(crm, period or "this_month")
        won = [r for r in mine("opportunity") if r["stage"] == "contract_signed" and quarter(r["close_date"])]
        return {
            ("won_this_quarter", "count"): len(won),
            ("won_this_quarter", "sum_amount"): sum((r["amount"] for r in won if r["amount"] is not None), Decimal(0))
            if won
            else None,
            ("new_leads_this_month", "count"): sum(1 for r in mine("lead") if month(r["created_at"])),
        }
    month = within(crm, period or "this_month")
    sold = [r for r in mine("sales_order") if month(r["ordered_at"]) and r["status"] not in ("returned", "cancelled")]
    return {
        ("sales_this_month", "count"): len(sold),
        ("sales_this_month", "sum_amount"): sum((r["amount"] for r in sold if r["amount"] is not None), Decimal(0))
        if sold
        else None,
        ("complaints_this_month", "count"): sum(1 for r in mine("ticket") if month(r["created_at"])),
    }


def expected_completeness(crm: Trellis, who: set[int]) -> tuple[str, Decimal | None]:
    """The completeness report of the manager's home and its overall complete share, by hand."""
    if crm.sample == "sample_saas.yaml":
        name, fields, keep = "account_completeness", ("industry", "phone", "address", "tier"), lambda r: True
    else:
        name, fields = "member_completeness", ("mobile", "birthday", "preferred_channel")
        keep = lambda r: r["membership_level"] is not None  # noqa: E731
    counted = [r for r in records(crm, "account") if r["owner_id"] in who and r["archived_at"] is None and keep(r)]
    complete = [r for r in counted if all(r[f] not in (None, "", []) for f in fields)]
    share = (Decimal(len(complete)) / len(counted)).quantize(Decimal("0.0001")) if counted else None
    return name, share


def expected_forecast(crm: Trellis, who: set[int]) -> tuple[str, dict[str, Decimal]]:
    """The forecast of the manager's home by hand: its pipeline, commit and won totals over the
    deals ``who`` own whose close date lies in the report's period."""
    (report,) = [r for r in crm.config.reports.values() if r.kind == "forecast"]
    pipeline = crm.config.objects[report.object].pipeline
    assert pipeline is not None and report.amount is not None
    closing = within(crm, report.filter[report.period_field])
    deals = [
        r
        for r in records(crm, report.object)
        if r["owner_id"] in who and r["archived_at"] is None and closing(r[report.period_field])
    ]

    def total(*categories: str) -> Decimal:
        return sum(
            (
                r[report.amount] or Decimal(0)
                for r in deals
                if pipeline.for_values(r).stage(r[pipeline.field]).forecast_category in categories
            ),
            Decimal(0),
        )

    return report.name, {
        "pipeline": total("commit", "best_case", "pipeline"),
        "commit": total("commit"),
        "won": total("won"),
    }


def expected_funnel(crm: Trellis, who: set[int]) -> tuple[str, dict[str, int]]:
    """The funnel of the manager's home by hand: per step, the records ``who`` own that moved
    into it in the report's period (the stage history read as the system)."""
    (report,) = [r for r in crm.config.reports.values() if r.kind == "funnel"]
    mine = {r.id for r in records(crm, report.object) if r["owner_id"] in who and r["archived_at"] is None}
    moved = within(crm, report.filter[report.period_field])
    history = crm.schema.system["sys_stage_history"]
    with crm.engine.connect() as connection:
        rows = connection.execute(history.select().where(history.c.object == report.object)).mappings().all()
    entered: dict[str, set[int]] = {}
    for row in rows:
        if row["record_id"] in mine and moved(row["at"]):
            entered.setdefault(row["to_stage"], set()).add(row["record_id"])
    steps = crm.config.objects[report.object].pipeline.main_line
    return report.name, {s.key: len(entered.get(s.key, ())) for s in steps}


#: The periods the key figures are checked over (the demo data lies in the past year).
PERIODS = (None, "this_year", "last_90_days")


def run(crm: Trellis, user: str, name: str, period: str | None = None) -> dashboards.DashboardResult:
    with crm.session(user) as s:
        return dashboards.run_dashboard(s, name, {"period": period})


def test_the_managers_home_equals_the_figures_by_hand(crm):
    manager_home, _ = SAMPLES[crm.sample]
    assert dashboards.home_for(crm.config, crm.principal("mike")).name == manager_home
    team = owners(crm, "mike", "alice", "bob")
    found = set()
    for period in PERIODS:
        result = run(crm, "mike", manager_home, period)
        for (report, measure), value in expected_kpis(crm, team, period).items():
            assert figure(result, report, measure) == value, (report, measure, period)
            found.add(value)
    assert found - {0, None}, "the demo data gives the key figures something to count"
    result = run(crm, "mike", manager_home)
    name, share = expected_completeness(crm, team)
    assert figure(result, name, "complete") == share
    name, by_hand = expected_funnel(crm, team)
    (funnel,) = [w for w in result.widgets if w.report is not None and w.report.report.name == name]
    assert {row.keys[0].raw: row.figure("entered").value for row in funnel.report.rows} == by_hand
    assert sum(by_hand.values()), "the demo deals moved through the pipeline this quarter"
    name, sums = expected_forecast(crm, team)
    (forecast,) = [w for w in result.widgets if w.report is not None and w.report.report.name == name]
    for measure, value in sums.items():
        assert (forecast.report.total.figure(measure).value or Decimal(0)) == value, measure


def test_the_reps_home_counts_only_their_records(crm):
    _, rep_home = SAMPLES[crm.sample]
    assert dashboards.home_for(crm.config, crm.principal("alice")).name == rep_home
    for period in PERIODS:
        result = run(crm, "alice", rep_home, period)
        assert result.filters["owner"] == "me"
        for (report, measure), value in expected_kpis(crm, owners(crm, "alice"), period).items():
            assert figure(result, report, measure) == value, (report, measure, period)
    (pipeline,) = [w for w in result.widgets if w.kind == "my_pipeline"]
    mine = [
        r for r in records(crm, "opportunity") if r["owner_id"] in owners(crm, "alice") and r["archived_at"] is None
    ]
    closed = {s.key for s in crm.config.objects["opportunity"].pipeline.all_stages() if s.is_closed}
    assert pipeline.report.total.figure("count").value == sum(1 for r in mine if r["stage"] not in closed)


def test_every_count_on_both_homes_lists_exactly_its_records(crm):
    for user, name in zip(("mike", "alice"), SAMPLES[crm.sample], strict=True):
        for w in run(crm, user, name).widgets:
            if w.report is None:
                continue
            for row in (*w.report.rows, w.report.total):
                counted = row.figure("count") or row.figure("entered")
                if counted is None or counted.filter is None:
                    continue
                with crm.session(user) as s:
                    listed = listparams.parse(dict(counted.filter)).apply(s.query(w.report.report.object)).count()
                assert listed == counted.value, (user, w.title, row.keys)
