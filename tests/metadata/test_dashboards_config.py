"""Dashboards in the config (issue 15 §4): what a dashboard compiles into, every error code
T-E190…T-E197 with its path, message and hint, and the samples' home dashboards. Pure Python."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.model import DashboardFilters, DashboardWidget, Label
from tests.conftest import CONFIGS

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
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
  manager: {objects: {deal: {read: all}}}
reports:
  by_stage: {object: deal, group_by: [stage], chart: bar}
  won: {object: deal, filter: {stage: won}, measures: [{sum: amount}]}
dashboards:
"""


def compile_dashboards(write_config, text: str):
    return load_config(write_config(BASE + text)).dashboards


def test_a_dashboard_compiles_into_the_model(write_config):
    dashboards = compile_dashboards(
        write_config,
        """
  sales:
    label: {en: Sales, zh: 销售}
    roles: [manager]
    filters: {period: this_quarter, team: true, owner: false}
    widgets:
      - {kpi: won, title: {en: Won, zh: 赢单}}
      - {report: by_stage, chart: funnel, width: large}
      - {widget: my_pipeline}
      - {widget: recent_records, object: note, limit: 3, width: 4}
  mine: {default: true, filters: [owner], widgets: [{widget: my_tasks}]}
""",
    )
    sales = dashboards["sales"]
    assert (sales.label.get("zh"), sales.roles, sales.default) == ("销售", ("manager",), False)
    assert sales.filters == DashboardFilters(("period", "team"), "this_quarter", None)
    assert sales.widgets == (
        DashboardWidget("kpi", 3, report="won", title=Label.of({"en": "Won", "zh": "赢单"})),
        DashboardWidget("report", 12, report="by_stage", chart="funnel"),
        DashboardWidget("my_pipeline", 6, object="deal"),
        DashboardWidget("recent_records", 4, object="note", limit=3),
    )
    assert dashboards["mine"].default and dashboards["mine"].filters.offered == ("owner",)
    assert dashboards["mine"].label.get() == "Mine"


BAD = {
    "T-E190": ("{widgets: [{report: by_stag}]}", "dashboards.d.widgets[0].report", "unknown report `by_stag`", "did you mean `by_stage`?"),
    "T-E191": ("{roles: [manger], widgets: [{widget: my_tasks}]}", "dashboards.d.roles[0]", "unknown role `manger`", "did you mean `manager`?"),
    "T-E192": ("{widgets: [{widget: my_taks}]}", "dashboards.d.widgets[0].widget", "unknown widget kind `my_taks`", "did you mean `my_tasks`?"),
    "T-E195": ("{widgets: [{widget: my_tasks, width: 13}]}", "dashboards.d.widgets[0].width", "`width: 13` is neither a number of columns from 1 to 12 nor small, medium or large", "small 3, medium 6, large 12"),
    "T-E196": ("{filters: {stage: won}, widgets: [{widget: my_tasks}]}", "dashboards.d.filters.stage", "a dashboard offers no filter `stage`", "use period, team, owner"),
    "T-E197": ("{widgets: [{kpi: won, chart: bar}]}", "dashboards.d.widgets[0].chart", "a kpi widget takes no `chart`", "it takes `width`, `title`"),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_error_code_with_its_path_message_and_hint(write_config, code):
    spec, where, message, hint = BAD[code]
    with pytest.raises(ConfigError) as error:
        compile_dashboards(write_config, f"  d: {spec}\n")
    (issue,) = error.value.issues
    assert (issue.code, issue.path, issue.message) == (code, where, message)
    assert issue.location is not None and hint in (issue.hint or "")


MESSAGES = [
    ("  d: {widgets: [{report: by_stage, kpi: won}]}\n", "T-E192", "a widget names one of `report`, `kpi` or `widget`, not `report` and `kpi`"),
    ("  d: {widgets: [{width: 4}]}\n", "T-E192", "a widget names one of `report`, `kpi` or `widget`, not none"),
    ("  d: {widgets: [{widget: report}]}\n", "T-E192", "unknown widget kind `report`"),
    ("  a: {default: true, widgets: [{widget: my_tasks}]}\n  b: {default: true, widgets: [{widget: my_tasks}]}\n", "T-E193", "`a` is the default dashboard already; there is one default"),
    ("  a: {roles: [rep], widgets: [{widget: my_tasks}]}\n  b: {roles: [manager, rep], widgets: [{widget: my_tasks}]}\n", "T-E194", "`rep` is the home of dashboard `a` already; a role lands on one home dashboard"),
    ("  d: {widgets: [{widget: my_tasks, width: huge}]}\n", "T-E195", "`width: huge` is neither a number of columns from 1 to 12 nor small, medium or large"),
    ("  d: {filters: {period: someday}, widgets: [{widget: my_tasks}]}\n", "T-E196", "`period: someday` is no default of the period filter"),
    ("  d: {filters: {owner: bob}, widgets: [{widget: my_tasks}]}\n", "T-E196", "`owner: bob` is no default of the owner filter"),
    ("  d: {widgets: [{widget: my_pipeline, object: note}]}\n", "T-E197", "a my_pipeline widget counts records by pipeline stage; note has no pipeline"),
    ("  d: {widgets: [{widget: recent_records, object: nope}]}\n", "T-E197", "unknown object `nope`"),
    ("  d: {widgets: [{widget: my_tasks, object: deal}]}\n", "T-E197", "a my_tasks widget takes no `object`"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "code", "message"), MESSAGES)
def test_messages_say_what_is_wrong(write_config, text, code, message):
    with pytest.raises(ConfigError) as error:
        compile_dashboards(write_config, text)
    assert [(i.code, i.message) for i in error.value.issues] == [(code, message)]


@pytest.mark.parametrize(
    ("sample", "manager", "rep"),
    [("sample_saas.yaml", "sales_manager", "sales_rep"), ("sample_retail.yaml", "sales_manager", "sales_rep")],
)
def test_each_sample_ships_a_manager_and_a_rep_home(sample, manager, rep):
    config = load_config(CONFIGS / sample)
    homes = {role: d.name for d in config.dashboards.values() for role in d.roles}
    manager_home = config.dashboards[homes[manager]]
    rep_home = config.dashboards[homes[rep]]
    kinds = {w.kind for w in manager_home.widgets}
    assert {"report", "kpi", "my_tasks", "approvals"} <= kinds
    shown = {config.reports[w.report].kind for w in manager_home.widgets if w.report}
    assert {"funnel", "completeness", "grouped"} <= shown
    assert {"my_tasks", "my_pipeline", "kpi"} <= {w.kind for w in rep_home.widgets}
    assert sum(d.default for d in config.dashboards.values()) == 1
