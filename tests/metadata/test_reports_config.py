"""Reports in the config (issue 15 §1): what a report compiles into, and every error code
T-E170…T-E179 with its path, message and hint. Pure Python: no database."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.model import Label, ReportGroup, ReportMeasure

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
      seats: {type: integer}
      won: {type: boolean}
      closes: {type: date}
      tags: {type: tags, values: [a, b]}
      secret: {type: text, encrypted: true}
      source: {type: picklist, values: [web, fair]}
    pipeline:
      field: stage
      stages:
        - {key: new, probability: 10}
        - {key: won, probability: 100, outcome: won}
  note:
    fields:
      body: {type: text}
roles:
  rep: {objects: {deal: {read: own}}}
reports:
"""


def compile_report(write_config, text: str):
    return load_config(write_config(BASE + text)).reports


def test_a_report_compiles_into_the_model(write_config):
    reports = compile_report(
        write_config,
        """
  by_source:
    object: deal
    label: {en: By source, zh: 按来源}
    description: Where deals come from
    filter: {created_at: this_quarter, source__in: [web, fair], won: true}
    group_by: [source, {field: created_at, by: month}]
    measures: [count, {sum: amount}, {rate: won, label: Win rate}, {weighted: amount}, {rate: {stage: won}}, {sum: amount}]
    sort: -sum_amount
    limit: 10
    chart: stacked_bar
    roles: [rep]
""",
    )
    report = reports["by_source"]
    assert report.group_by == (ReportGroup("source"), ReportGroup("created_at", "month"))
    assert [m.key for m in report.measures] == [
        "count",
        "sum_amount",
        "rate_won",
        "weighted_amount",
        "rate_stage",
        "sum_amount_2",
    ]
    assert report.measures[2] == ReportMeasure("rate", "won", label=Label.of("Win rate"), key="rate_won")
    assert dict(report.measures[4].where) == {"stage": "won"}
    assert dict(report.filter) == {"created_at": "this_quarter", "source__in": "web,fair", "won": "true"}
    assert (report.sort, report.limit, report.chart, report.roles) == (
        ("sum_amount", True),
        10,
        "stacked_bar",
        ("rep",),
    )
    assert (report.kind, report.period_field, report.label.get("zh")) == ("grouped", "created_at", "按来源")


def test_defaults(write_config):
    report = compile_report(write_config, "  plain: {object: note}\n")["plain"]
    assert (report.group_by, [m.key for m in report.measures], report.chart, report.sort) == (
        (),
        ["count"],
        "table",
        None,
    )
    assert report.label.get() == "Plain"


BAD = {
    "T-E170": ("{object: dael}", "reports.r.object", "did you mean `deal`?"),
    "T-E171": ("{object: deal, group_by: [sorce]}", "reports.r.group_by[0]", "did you mean `source`?"),
    "T-E172": ("{object: deal, group_by: [tags]}", "reports.r.group_by[0]", None),
    "T-E173": ("{object: deal, group_by: [{field: amount, by: month}]}", "reports.r.group_by[0].by", "closes"),
    "T-E174": ("{object: deal, measures: [{sum: name}]}", "reports.r.measures[0].sum", "e.g. `amount`"),
    "T-E175": ("{object: deal, filter: {amount__gte: lots}}", "reports.r.filter.amount__gte", "currency"),
    "T-E176": ("{object: deal, group_by: [source], sort: -xyz}", "reports.r.sort", "sort by one of: source, count"),
    "T-E177": ("{object: deal, roles: [boss]}", "reports.r.roles[0]", "name a role declared under `roles`"),
    "T-E178": ("{object: deal, kind: funnell}", "reports.r.kind", "did you mean `funnel`?"),
    "T-E179": ("{object: note, kind: funnel}", "reports.r.kind", "name an object that declares `pipeline:`"),
}


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_error_code_with_its_path_and_hint(write_config, code):
    spec, where, hint = BAD[code]
    with pytest.raises(ConfigError) as error:
        compile_report(write_config, f"  r: {spec}\n")
    (issue,) = error.value.issues
    assert (issue.code, issue.path) == (code, where)
    assert issue.location is not None
    if hint is not None:
        assert hint in (issue.hint or "")


MESSAGES = [
    ("{object: deal, group_by: [source, won, closes]}", "a report groups by at most 2 levels, not 3"),
    ("{object: deal, group_by: [secret]}", "`secret` is stored encrypted: a report cannot group by it"),
    (
        "{object: deal, group_by: [{field: seats, by: week}]}",
        "`seats` is a integer field: only date and datetime fields are grouped by `week`",
    ),
    ("{object: deal, measures: [{rate: amount}]}", "`rate` applies to boolean fields; `amount` is a currency field"),
    ("{object: note, measures: [{weighted: body}]}", "`weighted` applies to number fields; `body` is a text field"),
    ("{object: deal, measures: [{sum: amount, avg: seats}]}", "a measure names one kind, not sum, avg"),
    ("{object: deal, filter: {name: this_month}}", "`name: this_month`: a relative range compares a date or datetime field with `eq`; `name` is a text field"),
    ("{object: deal, filter: {closes__within: 3}}", "unknown operator `within` in `closes__within`"),
    ("{object: deal, filter: {source: east}}", "`source: east`: 'east' is not one of the allowed values: fair, web."),
    ("{object: deal, period_field: name}", "`name` is a text field: a period narrows a date or datetime field"),
    ("{object: note, kind: funnel}", "a funnel counts moves between pipeline stages; note has no pipeline"),
    ("{object: deal, kind: funnel, group_by: [source]}", "a funnel computes its own figures per stage (entered, conversion, median days, lost); it takes no `group_by`"),
    ("{object: deal, kind: funnel, measures: [count]}", "a funnel computes its own figures per stage (entered, conversion, median days, lost); it takes no `measures`"),
    ("{object: note, kind: cycle_time}", "a cycle time measures the days until a won or lost stage; note has no pipeline"),
    ("{object: deal, kind: cycle_time, measures: [count]}", "a cycle time computes its own figures (closed, median days, average days); it takes no `measures`"),
    ("{object: deal, kind: cycle_time, group_by: [source, won]}", "a cycle time groups by one level"),
    ("{object: deal, kind: cycle_time, from_stage: won}", "`won` is not an open stage of deal's pipeline"),
    ("{object: deal, from_stage: new}", "`from_stage` is a key of `kind: cycle_time`"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "message"), MESSAGES)
def test_messages_say_what_is_wrong(write_config, spec, message):
    with pytest.raises(ConfigError) as error:
        compile_report(write_config, f"  r: {spec}\n")
    assert [i.message for i in error.value.issues] == [message]


def test_a_funnel_computes_its_own_figures(write_config):
    report = compile_report(
        write_config, "  f: {object: deal, kind: funnel, filter: {stage_entered_at: this_month}}\n"
    )["f"]
    assert [m.key for m in report.measures] == ["entered", "conversion", "median_days", "lost", "lost_reasons"]
    assert (report.kind, report.group_by, report.period_field) == ("funnel", (), "stage_entered_at")


def test_a_cycle_time_keeps_one_level_and_its_start(write_config):
    spec = "  c: {object: deal, kind: cycle_time, from_stage: new, group_by: [owner_id]}\n"
    report = compile_report(write_config, spec)["c"]
    assert [m.key for m in report.measures] == ["closed", "median_days", "avg_days"]
    assert (report.from_stage, report.group_by) == ("new", (ReportGroup("owner_id"),))


def test_an_unknown_start_stage_gets_a_suggestion(write_config):
    with pytest.raises(ConfigError) as error:
        compile_report(write_config, "  c: {object: deal, kind: cycle_time, from_stage: nwe}\n")
    (issue,) = error.value.issues
    assert (issue.code, issue.path, issue.hint) == ("T-E179", "reports.c.from_stage", "did you mean `new`?")


def test_weighted_needs_stage_probabilities(write_config):
    text = BASE.replace("{key: new, probability: 10}", "{key: new}").replace(", probability: 100", "")
    with pytest.raises(ConfigError) as error:
        load_config(write_config(text + "  r: {object: deal, measures: [{weighted: amount}]}\n"))
    (issue,) = error.value.issues
    assert issue.code == "T-E174" and "add `probability:`" in (issue.hint or "")


def test_better_is_higher_or_lower(write_config):
    with pytest.raises(ConfigError) as error:
        compile_report(write_config, "  r: {object: deal, chart: kpi, better: fewer}\n")
    (issue,) = error.value.issues
    assert issue.code == "T-E011" and "better" in issue.path and "'higher', 'lower'" in issue.message


def test_the_schema_refuses_an_unknown_chart_and_key(write_config):
    with pytest.raises(ConfigError) as error:
        compile_report(write_config, "  r: {object: deal, chart: pie, colour: red}\n")
    assert sorted(i.code for i in error.value.issues) == ["T-E010", "T-E011"]
