"""The ``forecast`` and ``conversion`` report kinds and a stage's ``forecast`` category in the
config (issue 15 §1): what they compile into, and the errors T-E184…T-E187 with their paths,
messages and hints. Pure Python: no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.model import ReportGroup, ReportQuota

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
objects:
  account:
    fields:
      name: {type: text, required: true}
  deal:
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
      closes: {type: date}
      source: {type: picklist, values: [web, fair]}
    pipeline:
      field: stage
      stages:
        - {key: new, probability: 10}
        - {key: demo, probability: 50}
        - {key: quote, probability: 60, forecast: commit}
        - {key: parked, probability: 90, forecast: omitted}
        - {key: won, probability: 100, outcome: won}
        - {key: lost, probability: 0, outcome: lost}
  lead:
    fields:
      name: {type: text, required: true}
      source: {type: picklist, values: [web, fair]}
      status: {type: picklist, values: [new, converted]}
      account: {type: lookup, object: account}
      deal: {type: lookup, object: deal}
  target:
    fields:
      rep: {type: user}
      starts: {type: date}
      amount: {type: currency}
      note: {type: text}
conversions:
  lead_to_deal:
    from: lead
    targets:
      account: {fields: {name: name}}
      deal: {optional: true, fields: {name: name}}
    mark: {status: converted}
    links: {account: account, deal: deal}
reports:
"""


def test_stages_fall_in_forecast_categories_declared_or_by_probability(write_config):
    config = load_config(write_config(BASE + "  c: {object: lead, kind: conversion}\n"))
    stages = config.objects["deal"].pipeline.all_stages()  # type: ignore[union-attr]
    assert {s.key: s.forecast_category for s in stages} == {
        "new": "pipeline", "demo": "best_case", "quote": "commit", "parked": "omitted", "won": "won", "lost": "lost",
    }  # fmt: skip


def test_a_forecast_compiles_with_owners_its_close_date_and_quotas(write_config):
    text = "  f: {object: deal, kind: forecast, close_date: closes, amount: amount, quota: {per: quarter, users: {alice: 1000}, teams: {east: 3000}}}\n"
    report = load_config(write_config(BASE + text)).reports["f"]
    assert (report.group_by, report.period_field, report.amount) == ((ReportGroup("owner_id"),), "closes", "amount")
    assert report.quota == ReportQuota("quarter", {"alice": Decimal(1000)}, {"east": Decimal(3000)})
    assert [m.key for m in report.measures] == [
        "pipeline", "weighted", "best_case", "commit", "won", "quota", "attainment", "open_count",
    ]  # fmt: skip


def test_a_conversion_report_finds_its_conversion(write_config):
    text = "  c: {object: lead, kind: conversion, group_by: source, amount: deal.amount}\n"
    report = load_config(write_config(BASE + text)).reports["c"]
    assert (report.conversion, report.amount, report.group_by) == (
        "lead_to_deal",
        "deal.amount",
        (ReportGroup("source"),),
    )


F = "{object: deal, kind: forecast, close_date: closes, amount: amount, "
BAD = [
    ("{object: account, kind: forecast, close_date: closes, amount: amount}", "T-E184", "reports.r.kind", "a forecast sums open deals by their stages' forecast categories; account has no pipeline", "name an object that declares `pipeline:`"),
    ("{object: deal, kind: forecast, amount: amount}", "T-E184", "reports.r.close_date", "name the date field `close_date`", "e.g. `close_date: closes`"),
    ("{object: deal, kind: forecast, close_date: name, amount: amount}", "T-E184", "reports.r.close_date", "`name` is a text field: `close_date` names a date field", "e.g. `close_date: closes`"),
    ("{object: deal, kind: forecast, close_date: closes, amount: amont}", "T-E184", "reports.r.amount", "deal has no field `amont`: `amount` names a number field", "did you mean `amount`?"),
    (F + "measures: [count]}", "T-E184", "reports.r.measures", "a forecast computes its own figures over `close_date`: it takes no `measures`", "remove `measures`"),
    (F + "group_by: [owner_id, source]}", "T-E184", "reports.r.group_by", "this report kind groups by one level", "keep one, e.g. `owner`"),
    (F + "quota: {users: {alice: lots}}}", "T-E186", "reports.r.quota.users.alice", "`alice: lots` is not an amount", "e.g. `alice: 300000`"),
    (F + "quota: {per: month}}", "T-E186", "reports.r.quota", "a quota names the amounts of `users` or `teams`, or the `object` holding them", "e.g. `quota: {per: quarter, users: {alice: 300000}}`"),
    (F + "group_by: source, quota: {users: {alice: 5}}}", "T-E186", "reports.r.quota", "a quota belongs to owners and teams: the forecast must be grouped by owner", "remove `group_by` (owners in their teams), or remove `quota`"),
    (F + "quota: {object: target, user: note, amount: amount, date: starts}}", "T-E186", "reports.r.quota.user", "`note` is a text field: `user` names a user field", "e.g. `user: rep`"),
    (F + "quota: {object: targt, user: rep, amount: amount, date: starts}}", "T-E186", "reports.r.quota.object", "unknown object `targt`", "did you mean `target`?"),
    (F + "quota: {object: target, user: rep, amount: amount, date: starts, per: month}}", "T-E186", "reports.r.quota", "a quota comes from the config (`per`, `users`, `teams`) or from an object, not both", "keep `object`, `user`, `amount`, `date`, or the amounts"),
    (F + "quota: {per: week, users: {alice: 5}}}", "T-E011", "reports.r.quota.per", "'week' is not one of ['month', 'quarter', 'year']", "allowed: month, quarter, year"),
    ("{object: deal, kind: conversion}", "T-E187", "reports.r.object", "no conversion converts deal", "declare a conversion `from: deal` under `conversions`, or report on its source object"),
    ("{object: lead, kind: conversion, conversion: lead_to_dael}", "T-E187", "reports.r.conversion", "unknown conversion `lead_to_dael`", "did you mean `lead_to_deal`?"),
    ("{object: lead, kind: conversion, amount: deal.amont}", "T-E187", "reports.r.amount", "deal has no number field `amont` to sum", "did you mean `amount`?"),
    ("{object: lead, kind: conversion, amount: contact.amount}", "T-E187", "reports.r.amount", "`contact` is not a target `lead_to_deal` links back to the record it converts", "write `target.field` with a target of: account, deal"),
    ("{object: deal, group_by: source, close_date: closes}", "T-E184", "reports.r.close_date", "`close_date` belongs to a forecast, not a grouped one", "set `kind:`, or remove `close_date`"),
    ("{object: lead, kind: completeness, fields: [name], conversion: lead_to_deal}", "T-E187", "reports.r.conversion", "`conversion` belongs to a conversion report, not a completeness one", "set `kind:`, or remove `conversion`"),
    ("{object: lead, kind: conversion, close_date: created_at}", "T-E184", "reports.r.close_date", "`close_date` belongs to a forecast, not a conversion one", "set `kind:`, or remove `close_date`"),
    ("{object: lead, kind: conversion, measures: [count]}", "T-E187", "reports.r.measures", "a conversion report computes its own figures: it takes no `measures`", "remove `measures`"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "code", "where", "message", "hint"), BAD)
def test_errors_say_what_is_wrong_and_where(write_config, spec, code, where, message, hint):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(f"{BASE}  r: {spec}\n"))
    issue = error.value.issues[0]
    assert (issue.code, issue.path, issue.message, issue.hint) == (code, where, message, hint)
    assert issue.location is not None


def test_a_won_stage_takes_no_forecast_category(write_config):
    text = BASE.replace("{key: won, probability: 100, outcome: won}", "{key: won, outcome: won, forecast: commit}")
    text += "  c: {object: lead, kind: conversion}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write_config(text))
    (issue,) = error.value.issues
    assert (issue.code, issue.path, issue.message, issue.hint) == (
        "T-E185",
        "objects.deal.pipeline.stages[4].forecast",
        "stage `won` closes the record (won): a forecast counts it as won, not as `commit`",
        "remove `forecast` from won and lost stages",
    )
