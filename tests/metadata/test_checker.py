"""The config checker: every error code, template overlays, the model, expressions.

Each error test writes a small config with exactly one kind of mistake and checks
what an author would see: the code, ``file:line:column`` of the offending key or
value, the dotted config path, and the hint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.metadata import ConfigError, ConfigIssue, load_config
from engine.metadata.expressions import (
    Clock,
    ExpressionEvalError,
    ExpressionSyntaxError,
    parse_expression,
)

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parents[2]


# --- helpers -------------------------------------------------------------------


@pytest.fixture
def config_file(write_config, tmp_path: Path):
    """Write dedented YAML (line 1 = the first line of the text), creating folders."""

    def write(text: str, name: str = "config.yaml") -> Path:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        return write_config(textwrap.dedent(text).lstrip("\n"), name)

    return write


def issues_of(path: Path | str) -> list[ConfigIssue]:
    """Every issue ``load_config`` reports for ``path`` (it must fail)."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.issues


def only_issue(path: Path | str) -> ConfigIssue:
    """The single issue reported for ``path``."""
    issues = issues_of(path)
    assert len(issues) == 1, "expected one issue, got:\n" + "\n".join(map(str, issues))
    return issues[0]


def assert_issue(issue: ConfigIssue, code: str, where: str, path: str, hint: str | None = None) -> None:
    """``where`` is ``file:line:column``; ``hint`` (when given) must appear in the hint."""
    assert issue.code == code, str(issue)
    assert str(issue.location) == where, str(issue)
    assert issue.path == path, str(issue)
    if hint is not None:
        assert issue.hint is not None and hint in issue.hint, str(issue)


# --- T-E001..T-E004: reading files -------------------------------------------------


def test_E001_yaml_syntax_error_points_at_the_bad_character(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            label: Lead: prospect
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E001", f"{path}:4:16", "", "check indentation and quoting")
    assert "mapping values are not allowed" in issue.message  # libyaml: "… in this context"


def test_E002_missing_config_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    issue = only_issue(path)
    assert_issue(issue, "T-E002", f"{path}:1:1", "", "check the path")


def test_E002_missing_template_points_at_extends(config_file):
    path = config_file("""
        trellis: 1
        extends: templates/crm_bse.yaml
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E002", f"{path}:2:10", "extends", "relative to the file that names them")
    assert "templates/crm_bse.yaml" in issue.message


def test_E003_extends_cycle(config_file, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config_file("trellis: 1\nextends: b.yaml\n", "a.yaml")
    config_file("trellis: 1\nextends: a.yaml\n", "b.yaml")
    issue = only_issue("a.yaml")
    assert_issue(issue, "T-E003", "b.yaml:2:10", "extends", "must not extend the config that uses it")
    assert "a.yaml → b.yaml → a.yaml" in issue.message


def test_E003_config_extending_itself(config_file):
    path = config_file("trellis: 1\nextends: config.yaml\n")
    assert_issue(only_issue(path), "T-E003", f"{path}:2:10", "extends")


def test_E004_duplicate_key_points_at_the_second_one(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text}
              email: {type: email}
              name: {type: text, required: true}
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E004", f"{path}:7:7", "objects.lead.fields.name", "remove or rename one of them")
    assert "first at line 5" in issue.message


# --- T-E010..T-E012: the schema ----------------------------------------------------


def test_E010_unknown_key_suggests_the_closest(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name:
                type: text
                lable: Name
        """)
    assert_issue(only_issue(path), "T-E010", f"{path}:7:9", "objects.lead.fields.name.lable", "did you mean `label`?")


def test_E010_unknown_top_level_key_lists_the_allowed_ones(config_file):
    path = config_file("""
        trellis: 1
        widgets: []
        """)
    assert_issue(only_issue(path), "T-E010", f"{path}:2:1", "widgets", "allowed here: trellis, extends")


def test_E011_unknown_field_type_suggests_the_closest(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount:
                type: currancy
        """)
    assert_issue(
        only_issue(path), "T-E011", f"{path}:6:15", "objects.opportunity.fields.amount.type", "did you mean `currency`?"
    )


def test_E011_value_of_the_wrong_type(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name:
                type: text
                required: always
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E011", f"{path}:7:19", "objects.lead.fields.name.required")
    assert "'always' is not of type 'boolean'" in issue.message


def test_E011_wrong_language_version(config_file):
    path = config_file("trellis: 2\n")
    assert_issue(only_issue(path), "T-E011", f"{path}:1:10", "trellis")


def test_E012_field_without_type(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name:
                label: Name
        """)
    assert_issue(only_issue(path), "T-E012", f"{path}:6:9", "objects.lead.fields.name", "add `type:`")


def test_E012_config_without_trellis_version(config_file):
    path = config_file("""
        objects: {}
        """)
    assert_issue(only_issue(path), "T-E012", f"{path}:1:1", "", "add `trellis:` here")


def test_E012_pipeline_without_stages(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            pipeline:
              stages: []
        """)
    assert_issue(
        only_issue(path), "T-E012", f"{path}:5:15", "objects.opportunity.pipeline.stages", "add `stages: [...]`"
    )


def test_E012_rule_without_assert(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
            rules:
              - name: positive
                when: amount
        """)
    assert_issue(only_issue(path), "T-E012", f"{path}:7:9", "objects.opportunity.rules[0]", "add e.g. `assert:")


# --- T-E020, T-E021: names -----------------------------------------------------------


def test_E020_field_name_not_lower_snake_case(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              FullName: {type: text}
        """)
    assert_issue(only_issue(path), "T-E020", f"{path}:5:7", "objects.lead.fields.FullName", "use lower_snake_case")


def test_E020_picklist_value_not_an_identifier(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              rating: {type: picklist, values: [hot, Warm]}
        """)
    assert_issue(
        only_issue(path), "T-E020", f"{path}:5:46", "objects.lead.fields.rating.values[1]", "use lower_snake_case"
    )


def test_E020_name_too_long(config_file):
    name = "a" * 51
    path = config_file(f"""
        trellis: 1
        objects:
          lead:
            fields:
              {name}: {{type: text}}
        """)
    assert_issue(only_issue(path), "T-E020", f"{path}:5:7", f"objects.lead.fields.{name}", "use a shorter name")


@pytest.mark.parametrize("name", ["user", "search"])  # search: /search and /api/v1/search are the global search
def test_E021_reserved_object_name(config_file, name):
    path = config_file(f"""
        trellis: 1
        objects:
          {name}:
            fields:
              name: {{type: text}}
        """)
    assert_issue(only_issue(path), "T-E021", f"{path}:3:3", f"objects.{name}", "choose another name")


def test_E021_field_named_like_a_system_column(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              created_at: {type: datetime}
        """)
    assert_issue(
        only_issue(path),
        "T-E021",
        f"{path}:5:7",
        "objects.lead.fields.created_at",
        "system columns, function names and keywords are reserved",
    )


def test_E021_field_named_like_a_function(config_file):
    path = config_file("""
        trellis: 1
        objects:
          task:
            fields:
              today: {type: date}
        """)
    assert_issue(only_issue(path), "T-E021", f"{path}:5:7", "objects.task.fields.today")


# --- T-E030..T-E035: references and field properties ----------------------------------


def test_E030_lookup_to_unknown_object(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text}
          contact:
            fields:
              account:
                type: lookup
                object: acount
        """)
    assert_issue(
        only_issue(path), "T-E030", f"{path}:10:17", "objects.contact.fields.account.object", "did you mean `account`?"
    )


def test_E031_unknown_shared_picklist(config_file):
    path = config_file("""
        trellis: 1
        picklists:
          lead_source:
            values: [web, referral]
        objects:
          lead:
            fields:
              source:
                type: picklist
                picklist: lead_sorce
        """)
    assert_issue(
        only_issue(path),
        "T-E031",
        f"{path}:10:19",
        "objects.lead.fields.source.picklist",
        "did you mean `lead_source`?",
    )


def test_E032_stage_gate_requires_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
            pipeline:
              stages:
                - key: proposal
                  requires: [amount, amuont]
        """)
    assert_issue(
        only_issue(path),
        "T-E032",
        f"{path}:9:30",
        "objects.opportunity.pipeline.stages[0].requires[1]",
        "did you mean `amount`?",
    )


def test_E032_depends_on_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              region: {type: picklist, values: [north, south]}
              city:
                type: picklist
                values: [beijing, guangzhou]
                depends_on: regoin
        """)
    assert_issue(
        only_issue(path), "T-E032", f"{path}:9:21", "objects.lead.fields.city.depends_on", "did you mean `region`?"
    )


def test_E032_title_names_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            title: "{nmae} ({city})"
            fields:
              name: {type: text}
              city: {type: text}
        """)
    assert_issue(only_issue(path), "T-E032", f"{path}:4:12", "objects.account.title", "did you mean `name`?")


def test_E032_rule_shown_beside_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
            rules:
              - name: positive
                assert: amount > 0
                field: amout
        """)
    assert_issue(
        only_issue(path), "T-E032", f"{path}:9:16", "objects.opportunity.rules[0].field", "did you mean `amount`?"
    )


def test_E032_webhook_fields_name_fields_of_the_rules_object(config_file):
    path = config_file("""
        trellis: 1
        objects:
          deal:
            fields:
              name: {type: text}
              amount: {type: currency}
        automations:
          - name: to_erp
            object: deal
            on: created
            do: [{webhook: {url: "https://erp.example.com/hook", fields: [name, amout], unsigned: true}}]
        """)
    assert_issue(
        only_issue(path), "T-E032", f"{path}:11:73", "automations[0].do[0].webhook.fields[1]", "did you mean `amount`?"
    )


def test_E124_webhook_fields_need_the_rules_object(config_file):
    path = config_file("""
        trellis: 1
        objects:
          deal:
            fields:
              name: {type: text}
        automations:
          - name: digest
            on: {cron: "0 9 * * 1"}
            do: [{webhook: {url: "https://erp.example.com/hook", fields: [name], unsigned: true}}]
        """)
    assert_issue(
        only_issue(path), "T-E124", f"{path}:9:66", "automations[0].do[0].webhook.fields", "in a rule with an `object`"
    )


def test_E124_notify_recipients_and_channels_are_lists(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text}
        templates:
          hello: {subject: "Hi", body: "Hello"}
        automations:
          - name: tell
            on: created
            object: lead
            do: [{notify: {to: owner, template: hello, channels: email}}]
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    to, channels = info.value.issues  # one error each, not one per character of "owner"
    assert (to.code, to.path, to.message) == (
        "T-E124",
        "automations[0].do[0].notify.to",
        "`notify.to` is a list, not 'owner'",
    )
    assert to.hint == "write it in brackets, e.g. `to: [owner]`"
    assert (channels.path, channels.hint) == (
        "automations[0].do[0].notify.channels",
        "write it in brackets, e.g. `channels: [in_app, email]`",
    )


def test_E010_webhook_keys_are_checked_by_the_schema(config_file):
    path = config_file("""
        trellis: 1
        objects:
          deal:
            fields:
              name: {type: text}
        automations:
          - name: to_erp
            object: deal
            on: created
            do: [{webhook: {url: "https://erp.example.com/hook", field: [name]}}]
        """)
    issue = only_issue(path)
    assert (issue.code, issue.path) == ("T-E010", "automations[0].do[0].webhook.field"), str(issue)


def test_E033_dependent_picklist_parent_is_not_a_picklist(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              country: {type: text}
              city:
                type: picklist
                values: [beijing, shanghai]
                depends_on: country
        """)
    issue = only_issue(path)
    assert_issue(
        issue, "T-E033", f"{path}:9:21", "objects.lead.fields.city.depends_on", "point depends_on at a picklist field"
    )
    assert "`country` is a text field" in issue.message


def test_E033_picklist_depending_on_itself(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              city:
                type: picklist
                values: [beijing]
                depends_on: city
        """)
    assert_issue(only_issue(path), "T-E033", f"{path}:8:21", "objects.lead.fields.city.depends_on")


def test_E034_property_of_another_type(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              employees:
                type: integer
                max_length: 10
        """)
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E034",
        f"{path}:7:9",
        "objects.lead.fields.employees.max_length",
        "`max_length` applies to: email, json, phone, text, textarea, url",
    )


def test_E034_both_picklist_and_values(config_file):
    path = config_file("""
        trellis: 1
        picklists:
          colors:
            values: [red]
        objects:
          lead:
            fields:
              color:
                type: picklist
                picklist: colors
                values: [blue]
        """)
    assert_issue(only_issue(path), "T-E034", f"{path}:11:9", "objects.lead.fields.color.values", "keep one")


def test_E034_pipeline_field_that_is_not_a_picklist(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              stage: {type: text}
            pipeline:
              stages: [new, won]
        """)
    assert_issue(
        only_issue(path), "T-E034", f"{path}:5:21", "objects.opportunity.fields.stage.type", "set it to picklist"
    )


def test_E034_default_on_a_computed_field_is_reported_once(config_file):
    path = config_file("""
        trellis: 1
        objects:
          order:
            fields:
              total:
                type: formula
                expression: 1 + 1
                default: 5
        """)
    assert_issue(
        only_issue(path), "T-E034", f"{path}:8:9", "objects.order.fields.total.default", "`default` applies to:"
    )


def test_pipeline_field_may_be_declared_without_type_to_set_label_and_default(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              stage: {label: {en: Sales stage, zh: 销售阶段}, default: proposal}
            pipeline:
              stages: [new, proposal, won]
        """)
    stage = load_config(path).objects["opportunity"].fields["stage"]
    assert (stage.type, stage.default, stage.label.get("zh")) == ("picklist", "proposal", "销售阶段")


def test_E033_dependent_value_names_a_parent_value_that_does_not_exist(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              region: {type: picklist, values: [north, south]}
              city:
                type: picklist
                depends_on: region
                values:
                  - {key: beijing, parents: [north]}
                  - {key: guangzhou, parents: [suth]}
        """)
    assert_issue(
        only_issue(path),
        "T-E033",
        f"{path}:11:40",
        "objects.lead.fields.city.values[1].parents[0]",
        "did you mean `south`?",
    )


def test_E035_lookup_without_object(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              account:
                type: lookup
        """)
    assert_issue(
        only_issue(path), "T-E035", f"{path}:6:9", "objects.contact.fields.account", "add e.g. `object: account`"
    )


def test_E035_formula_without_expression(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              total: {type: formula}
        """)
    assert_issue(
        only_issue(path), "T-E035", f"{path}:5:14", "objects.opportunity.fields.total", "add e.g. `expression:"
    )


def test_E035_picklist_without_values(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              rating:
                type: picklist
        """)
    assert_issue(only_issue(path), "T-E035", f"{path}:6:9", "objects.lead.fields.rating", "add e.g. `values:")


# --- T-E040..T-E043: expressions ------------------------------------------------------


def test_E040_expression_that_does_not_parse(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
              doubled:
                type: formula
                expression: amount * (2
        """)
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E040",
        f"{path}:8:21",
        "objects.opportunity.fields.doubled.expression",
        "write a Python-like expression",
    )
    assert "'(' was never closed" in issue.message


def test_E040_attribute_access_is_refused(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
            rules:
              - name: sneaky
                assert: amount.__class__
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E040", f"{path}:8:17", "objects.opportunity.rules[0].assert")
    assert "attribute access" in issue.message


def test_E041_expression_names_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              quantity: {type: integer}
              unit_price: {type: currency}
              amount:
                type: formula
                expression: unit_price * quantiy
        """)
    assert_issue(
        only_issue(path),
        "T-E041",
        f"{path}:9:21",
        "objects.opportunity.fields.amount.expression",
        "did you mean `quantity`?",
    )


def test_E041_rule_condition_names_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
              discount: {type: percent}
            rules:
              - name: discount_limit
                when: amount > 0
                assert: discont <= 30
        """)
    assert_issue(
        only_issue(path), "T-E041", f"{path}:10:17", "objects.opportunity.rules[0].assert", "did you mean `discount`?"
    )


def test_E042_expression_calls_unknown_function(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              close_date: {type: date}
              age:
                type: formula
                result: integer
                expression: days_snce(close_date)
        """)
    assert_issue(
        only_issue(path),
        "T-E042",
        f"{path}:9:21",
        "objects.opportunity.fields.age.expression",
        "did you mean `days_since`?",
    )


def test_E042_unknown_function_without_a_close_match_lists_the_functions(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              hack: {type: formula, expression: open("x")}
        """)
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E042",
        f"{path}:5:41",
        "objects.opportunity.fields.hack.expression",
        "available: abs, add_days, coalesce",
    )


def test_E043_formulas_in_a_cycle(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              a: {type: formula, expression: b + 1}
              b: {type: formula, expression: c + 1}
              c: {type: formula, expression: a + 1}
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E043", f"{path}:5:38", "objects.opportunity.fields.a.expression", "break the cycle")
    assert "a → b → c → a" in issue.message


# --- T-E050, T-E060, T-E061 --------------------------------------------------------------


def test_E050_default_of_the_wrong_type(config_file):
    path = config_file("""
        trellis: 1
        objects:
          order:
            fields:
              quantity:
                type: integer
                default: many
        """)
    issue = only_issue(path)
    assert_issue(
        issue, "T-E050", f"{path}:7:18", "objects.order.fields.quantity.default", "or an expression starting with '='"
    )
    assert "not a whole number" in issue.message


def test_E050_default_not_in_the_picklist(config_file):
    path = config_file("""
        trellis: 1
        objects:
          ticket:
            fields:
              priority:
                type: picklist
                values: [low, high]
                default: urgent
        """)
    assert_issue(only_issue(path), "T-E050", f"{path}:8:18", "objects.ticket.fields.priority.default")


def test_E050_default_stage_that_is_not_a_stage(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              stage:
                type: picklist
                default: wonn
            pipeline:
              stages: [new, won]
        """)
    assert_issue(
        only_issue(path), "T-E050", f"{path}:7:18", "objects.opportunity.fields.stage.default", "did you mean `won`?"
    )


def test_E060_picklist_value_declared_twice(config_file):
    path = config_file("""
        trellis: 1
        picklists:
          lead_source:
            values: [web, referral, web]
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E060", f"{path}:4:29", "picklists.lead_source.values[2]", "keep one of them")
    assert "also at picklists.lead_source.values[0]" in issue.message


def test_E060_child_value_repeating_a_parent_value(config_file):
    path = config_file("""
        trellis: 1
        picklists:
          industry:
            values:
              - key: internet
                children: [ecommerce, internet]
        """)
    assert_issue(only_issue(path), "T-E060", f"{path}:6:31", "picklists.industry.values[0].children[1]")


def test_E060_stage_declared_twice(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            pipeline:
              stages: [new, won, new]
        """)
    assert_issue(only_issue(path), "T-E060", f"{path}:5:26", "objects.opportunity.pipeline.stages[2]")


def test_E060_rule_declared_twice(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
            rules:
              - {name: positive, assert: amount > 0}
              - {name: positive, assert: amount < 1000000}
        """)
    assert_issue(only_issue(path), "T-E060", f"{path}:8:9", "objects.opportunity.rules[1]", "rename one of them")


# --- T-E070..T-E073 -----------------------------------------------------------------------


def test_E070_invalid_regular_expression(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              code:
                type: text
                pattern: "[A-Z"
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E070", f"{path}:7:18", "objects.lead.fields.code.pattern", "check brackets and escapes")
    assert "unterminated character set" in issue.message


def test_E074_pattern_the_linear_time_engine_cannot_run(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              code: {type: text, pattern: '(a+)\\1'}
              word: {type: text, pattern: '(?!test)[a-z]+'}
        """)
    backreference, lookahead = issues_of(path)
    assert_issue(backreference, "T-E074", f"{path}:5:35", "objects.lead.fields.code.pattern", "backreferences")
    assert_issue(lookahead, "T-E074", f"{path}:6:35", "objects.lead.fields.word.pattern", "negative lookahead")


def test_E071_unknown_time_zone(config_file):
    path = config_file("""
        trellis: 1
        settings:
          timezone: Asia/Shangai
        """)
    assert_issue(only_issue(path), "T-E071", f"{path}:3:13", "settings.timezone", "Asia/Shanghai")


def test_E072_min_greater_than_max(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              score:
                type: integer
                min: 10
                max: 1
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E072", f"{path}:7:14", "objects.lead.fields.score.min", "swap them")
    assert "min (10) is greater than max (1)" in issue.message


def test_E073_migrate_values_to_a_value_not_in_the_picklist(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              status:
                type: picklist
                values: [open, qualified, closed]
                migrate_values:
                  new: open
                  done: closd
        """)
    assert_issue(
        only_issue(path),
        "T-E073",
        f"{path}:10:17",
        "objects.lead.fields.status.migrate_values.done",
        "did you mean `closed`?",
    )


# --- T-E080..T-E083: roles, account security, encrypted fields ------------------------------


def test_E080_role_inherits_from_an_unknown_role_suggests_the_closest(config_file):
    path = config_file("""
        trellis: 1
        roles:
          sales_rep: {}
          sales_manager:
            inherits: sales_rpe
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E080", f"{path}:5:15", "roles.sales_manager.inherits", "did you mean `sales_rep`?")
    assert "unknown role `sales_rpe`" in issue.message


def test_E080_unknown_role_in_an_inherits_list_lists_the_known_roles(config_file):
    path = config_file("""
        trellis: 1
        roles:
          sales_rep: {}
          executive:
            inherits: [sales_rep, board]
        """)
    assert_issue(only_issue(path), "T-E080", f"{path}:5:27", "roles.executive.inherits[1]", "known roles: sales_rep")


def test_E081_roles_inheriting_from_each_other_in_a_cycle(config_file):
    path = config_file("""
        trellis: 1
        roles:
          rep:
            inherits: [manager]
          manager:
            inherits: director
          director:
            inherits: rep
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E081", f"{path}:4:15", "roles.rep.inherits", "cannot (indirectly) inherit from itself")
    assert "rep → manager → director → rep" in issue.message


def test_E081_role_inheriting_from_itself(config_file):
    path = config_file("""
        trellis: 1
        roles:
          admin:
            inherits: admin
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E081", f"{path}:4:15", "roles.admin.inherits")
    assert "admin → admin" in issue.message


def test_E082_bad_network_in_the_global_ip_allowlist(config_file):
    path = config_file("""
        trellis: 1
        settings:
          security:
            ip_allowlist: [10.0.0.0/8, 10.0.0.300/24]
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E082", f"{path}:4:32", "settings.security.ip_allowlist[1]", "e.g. 10.0.0.0/8")
    assert "`10.0.0.300/24` is not an IP network" in issue.message


def test_E011_session_lifetime_and_idle_timeout_must_be_durations(config_file):
    path = config_file("""
        trellis: 1
        settings:
          security:
            session_lifetime: 12 hours
            session_idle_timeout: 0m
        """)
    lifetime, idle = issues_of(path)
    assert_issue(lifetime, "T-E011", f"{path}:4:23", "settings.security.session_lifetime", "e.g. 30m, 12h, 1d")
    assert lifetime.message == "'12 hours' is not a duration"
    assert_issue(idle, "T-E011", f"{path}:5:27", "settings.security.session_idle_timeout", "a whole number above 0")
    path = config_file("""
        trellis: 1
        settings:
          security: {session_lifetime: 1d, session_idle_timeout: 45m}
        """)
    security = load_config(path).settings.security
    assert (security.session_lifetime, security.session_idle_timeout) == (86400, 2700)


def test_E082_bad_network_in_a_role_ip_allowlist(config_file):
    path = config_file("""
        trellis: 1
        roles:
          finance:
            ip_allowlist:
              - 2001:db8::/32
              - 192.168.1.0/33
        """)
    assert_issue(
        only_issue(path), "T-E082", f"{path}:6:9", "roles.finance.ip_allowlist[1]", "write an address or a CIDR block"
    )


def test_E083_encrypted_field_cannot_be_unique(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              id_number:
                type: text
                encrypted: true
                unique: true
        """)
    issue = only_issue(path)
    assert_issue(
        issue, "T-E083", f"{path}:8:17", "objects.contact.fields.id_number.unique", "the database cannot compare them"
    )
    assert "an encrypted field cannot be `unique`" in issue.message


def test_E083_encrypted_field_cannot_be_indexed(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              passport: {type: text, encrypted: true, indexed: true}
        """)
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E083",
        f"{path}:5:56",
        "objects.contact.fields.passport.indexed",
        "encrypted values differ each time they are stored",
    )
    assert "cannot be `indexed`" in issue.message


def test_E084_E085_merge_keep_fits_the_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text, merge: {keep: sum}}
              visits: {type: integer, merge: {keep: longest}}
              score: {type: integer, merge: {keep: sum}}
              notes: {type: textarea, merge: {keep: longest}}
        """)
    summed, longest = issues_of(path)
    assert_issue(summed, "T-E084", f"{path}:5:40", "objects.account.fields.name.merge.keep", "use `keep: newest`")
    assert "`keep: sum` adds numbers up, and name is a text field" in summed.message
    assert_issue(longest, "T-E085", f"{path}:6:45", "objects.account.fields.visits.merge.keep", "or `sum`")


def test_merge_settings_and_grant_are_checked_by_the_schema(config_file):
    path = config_file("""
        trellis: 1
        settings: {merge_undo_days: 0}
        objects:
          account:
            fields:
              name: {type: text, merge: {keep: biggest}}
        roles:
          manager:
            objects:
              account: {read: all, merge: yes please}
        """)
    found = {issue.path: issue for issue in issues_of(path)}
    assert set(found) == {
        "settings.merge_undo_days",
        "objects.account.fields.name.merge.keep",
        "roles.manager.objects.account.merge",
    }, found
    assert all(issue.code == "T-E011" for issue in found.values())
    assert "0 is less than the minimum of 1" in found["settings.merge_undo_days"].message
    assert "allowed: newest, oldest, longest, sum" in found["objects.account.fields.name.merge.keep"].hint
    assert "'yes please' is not of type 'boolean'" in found["roles.manager.objects.account.merge"].message


def test_E030_role_grants_on_an_unknown_object(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              name: {type: text}
        roles:
          sales_rep:
            objects:
              contcat: {read: own}
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E030", f"{path}:9:7", "roles.sales_rep.objects.contcat", "did you mean `contact`?")
    assert "unknown object `contcat`" in issue.message


def test_E030_hidden_field_of_an_unknown_object(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              name: {type: text}
        roles:
          sales_rep:
            hidden: [contract.name]
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E030", f"{path}:8:14", "roles.sales_rep.hidden[0]", "did you mean `contact`?")
    assert "unknown object `contract` in `contract.name`" in issue.message


def test_E032_hidden_names_an_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              phone: {type: phone}
              id_number: {type: text}
        roles:
          sales_rep:
            hidden:
              - contact.phone
              - contact.id_numbr
        """)
    issue = only_issue(path)
    assert_issue(issue, "T-E032", f"{path}:11:9", "roles.sales_rep.hidden[1]", "did you mean `id_number`?")
    assert "unknown field `id_numbr` in `contact.id_numbr`" in issue.message


def test_E032_read_only_names_an_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          opportunity:
            fields:
              amount: {type: currency}
        roles:
          sales_rep:
            read_only: [opportunity.amout]
        """)
    assert_issue(only_issue(path), "T-E032", f"{path}:8:17", "roles.sales_rep.read_only[0]", "did you mean `amount`?")


def test_E034_encrypted_on_a_type_that_cannot_be_encrypted(config_file):
    path = config_file("""
        trellis: 1
        objects:
          contact:
            fields:
              salary:
                type: currency
                encrypted: true
        """)
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E034",
        f"{path}:7:9",
        "objects.contact.fields.salary.encrypted",
        "`encrypted` applies to: email, json, phone, text, textarea, url",
    )
    assert "does not apply to a currency field" in issue.message


def test_E011_unknown_permission_and_access_level_in_a_role(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text}
        roles:
          sales_rep:
            objects:
              lead: {read: mine}
            permissions: [approve, fly]
        """)
    found = [(i.code, i.path) for i in issues_of(path)]
    assert found == [
        ("T-E011", "roles.sales_rep.objects.lead.read"),
        ("T-E011", "roles.sales_rep.permissions[1]"),
    ]


# --- all problems at once -----------------------------------------------------------------


def test_every_semantic_mistake_is_reported_at_once(config_file):
    path = config_file("""
        trellis: 1
        settings:
          timezone: Mars/Olympus
        objects:
          account:
            fields:
              name: {type: text}
          contact:
            fields:
              account: {type: lookup, object: acount}
              source: {type: picklist, picklist: lead_source}
              age: {type: integer, default: old}
              id: {type: text}
              score: {type: formula, expression: age * factr}
            rules:
              - {name: has_age, assert: age > 0}
              - {name: has_age, assert: age < 150}
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = [(i.code, i.location.line) for i in info.value.issues]
    assert found == [
        ("T-E071", 3),
        ("T-E030", 10),
        ("T-E031", 11),
        ("T-E050", 12),
        ("T-E021", 13),
        ("T-E041", 14),
        ("T-E060", 17),
    ]
    assert str(info.value).startswith("7 errors in the config:\n")


def test_schema_mistakes_are_all_reported_together(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: txt}
              email: {type: email, requird: true}
              Phone: {type: phone}
        """)
    assert [i.code for i in issues_of(path)] == ["T-E011", "T-E010", "T-E020"]


def test_issue_text_reads_file_line_column_code_path_message_and_hint(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text, lable: Name}
        """)
    assert str(only_issue(path)) == (
        f"{path}:5:26: T-E010 objects.lead.fields.name.lable: unknown key `lable`\n    hint: did you mean `label`?"
    )


# --- extends: template chains and overlays --------------------------------------------------

BASE = """
    trellis: 1
    settings:
      timezone: Asia/Shanghai
      company: Base Co
    picklists:
      lead_source:
        values: [web, referral, cold_call, fax]
    objects:
      lead:
        label: {en: Lead, zh: 线索}
        fields:
          name: {type: text, required: true, label: Name}
          source: {type: picklist, picklist: lead_source}
          rating: {type: integer, default: 1}
          fax: {type: phone}
      opportunity:
        fields:
          amount: {type: currency}
        pipeline:
          stages:
            - {key: new, probability: 10}
            - {key: proposal, probability: 50}
            - {key: negotiation, probability: 70}
            - {key: won, probability: 100, outcome: won}
        rules:
          - name: amount_positive
            assert: amount > 0
    """

MIDDLE = """
    trellis: 1
    extends: base.yaml
    picklists:
      lead_source:
        values:
          - webinar
          - {key: fax, remove: true}
    objects:
      lead:
        fields:
          email: {type: email}
          rating: {default: 3}
      opportunity:
        pipeline:
          stages:
            - {key: proposal, probability: 40}
            - {key: lost, probability: 0, outcome: lost}
    """

TOP = """
    trellis: 1
    extends: templates/middle.yaml
    settings:
      company: Top Co
    objects:
      lead:
        label: {zh: 销售线索}
        fields:
          name: {required: false, label: Full name}
          rating: {default: 5}
          fax: {remove: true}
      opportunity:
        pipeline:
          stages:
            - {key: negotiation, remove: true}
        rules:
          - name: amount_below_limit
            assert: amount < 1000000
    """


@pytest.fixture
def template_chain(config_file, monkeypatch, tmp_path):
    """top.yaml → templates/middle.yaml → templates/base.yaml, loaded from their folder."""
    monkeypatch.chdir(tmp_path)
    config_file(BASE, "templates/base.yaml")
    config_file(MIDDLE, "templates/middle.yaml")

    def top(text: str = TOP) -> str:
        config_file(text, "top.yaml")
        return "top.yaml"

    return top


def test_extends_chain_merges_objects_and_fields(template_chain):
    config = load_config(template_chain())
    assert list(config.objects) == ["lead", "opportunity"]
    assert list(config.objects["lead"].fields) == ["name", "source", "rating", "email"]
    assert config.settings.timezone == "Asia/Shanghai"  # from the base
    assert config.settings.company == "Top Co"  # overridden on top


def test_extends_chain_merges_picklist_values_by_key(template_chain):
    config = load_config(template_chain())
    assert [v.key for v in config.picklists["lead_source"].values] == ["web", "referral", "cold_call", "webinar"]


def test_extends_chain_merges_stages_by_key(template_chain):
    pipeline = load_config(template_chain()).objects["opportunity"].pipeline
    assert [(s.key, s.probability, s.outcome) for s in pipeline.stages] == [
        ("new", 10, "open"),
        ("proposal", 40, "open"),  # probability changed by the middle template
        ("won", 100, "won"),
        ("lost", 0, "lost"),  # appended by the middle template
    ]


def test_extends_chain_merges_rules_by_name(template_chain):
    rules = load_config(template_chain()).objects["opportunity"].rules
    assert [r.name for r in rules] == ["amount_positive", "amount_below_limit"]


def test_overlay_overrides_label_default_and_required_property_by_property(template_chain):
    lead = load_config(template_chain()).objects["lead"]
    name = lead.fields["name"]
    assert name.label.get("en") == "Full name"
    assert name.required is False
    assert name.type == "text"  # kept from the base
    assert lead.fields["rating"].default == 5  # base 1, middle 3, top 5
    assert lead.label.get("zh") == "销售线索"
    assert lead.label.get("en") == "Lead"  # label languages merge key by key


def test_overlay_removes_field_picklist_value_and_stage(template_chain):
    config = load_config(template_chain())
    assert "fax" not in config.objects["lead"].fields
    assert config.picklists["lead_source"].find("fax") is None
    assert config.objects["opportunity"].pipeline.stage("negotiation") is None


def test_overlay_removes_whole_object(template_chain):
    config = load_config(
        template_chain("""
        trellis: 1
        extends: templates/middle.yaml
        objects:
          opportunity: {remove: true}
        """)
    )
    assert list(config.objects) == ["lead"]


def test_error_in_overlay_points_at_the_overlay_file(template_chain):
    path = template_chain("""
        trellis: 1
        extends: templates/middle.yaml
        objects:
          lead:
            fields:
              rating: {default: many}
        """)
    assert_issue(only_issue(path), "T-E050", "top.yaml:6:25", "objects.lead.fields.rating.default")


def test_error_in_template_points_at_the_template_file(config_file, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config_file(
        """
        trellis: 1
        objects:
          deal:
            fields:
              total: {type: formula, expression: price * qty}
        """,
        "templates/base.yaml",
    )
    config_file("trellis: 1\nextends: templates/base.yaml\n", "top.yaml")
    issues = issues_of("top.yaml")
    assert [str(i.location) for i in issues] == ["templates/base.yaml:5:42", "templates/base.yaml:5:42"]
    assert {i.code for i in issues} == {"T-E041"}


def test_E061_removing_a_field_the_template_does_not_declare(template_chain):
    path = template_chain("""
        trellis: 1
        extends: templates/middle.yaml
        objects:
          lead:
            fields:
              ratin: {remove: true}
        """)
    assert_issue(only_issue(path), "T-E061", "top.yaml:6:14", "objects.lead.fields.ratin", "did you mean `rating`?")


def test_E061_removing_a_picklist_value_the_template_does_not_declare(template_chain):
    path = template_chain("""
        trellis: 1
        extends: templates/middle.yaml
        picklists:
          lead_source:
            values:
              - {key: cold_cal, remove: true}
        """)
    assert_issue(
        only_issue(path), "T-E061", "top.yaml:6:9", "picklists.lead_source.values.cold_cal", "did you mean `cold_call`?"
    )


def test_E061_removing_a_stage_already_removed_lower_in_the_chain(template_chain):
    path = template_chain("""
        trellis: 1
        extends: templates/middle.yaml
        picklists:
          lead_source:
            values:
              - {key: fax, remove: true}
        """)
    assert_issue(
        only_issue(path),
        "T-E061",
        "top.yaml:6:9",
        "picklists.lead_source.values.fax",
        "only what a template declares can be removed",
    )


def test_E061_remove_in_a_config_without_template(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text}
              rating: {type: integer, remove: true}
        """)
    assert_issue(
        only_issue(path),
        "T-E061",
        f"{path}:6:15",
        "objects.lead.fields.rating",
        "only what a template declares can be removed",
    )


# --- JSON configs -----------------------------------------------------------------------------


def test_json_config_loads(config_file):
    path = config_file(
        """
        {
          "trellis": 1,
          "settings": {"timezone": "Europe/Berlin"},
          "objects": {
            "deal": {
              "fields": {
                "quantity": {"type": "integer", "default": 2, "max": 1e4},
                "price": {"type": "currency"},
                "total": {"type": "formula", "expression": "quantity * price"}
              }
            }
          }
        }
        """,
        "config.json",
    )
    deal = load_config(path).objects["deal"]
    assert deal.fields["quantity"].default == 2
    assert deal.fields["quantity"].max == 10000
    assert deal.formula_order == ("total",)


def test_json_config_indented_with_tabs_loads(config_file):
    path = config_file(
        '{\n\t"trellis": 1,\n\t"objects": {\n\t\t"deal": {"fields": {"name": {"type": "text"}}}\n\t}\n}\n',
        "config.json",
    )
    assert list(load_config(path).objects["deal"].fields) == ["name"]


def test_json_config_errors_have_lines_and_columns(config_file):
    path = config_file(
        """
        {
          "trellis": 1,
          "objects": {
            "deal": {
              "fields": {
                "quantity": {"type": "integer"},
                "total": {"type": "formula", "expression": "quantiti * 2"}
              }
            }
          }
        }
        """,
        "config.json",
    )
    assert_issue(
        only_issue(path), "T-E041", f"{path}:7:52", "objects.deal.fields.total.expression", "did you mean `quantity`?"
    )


def test_json_duplicate_key(config_file):
    path = config_file(
        """
        {
          "trellis": 1,
          "trellis": 1
        }
        """,
        "config.json",
    )
    assert_issue(only_issue(path), "T-E004", f"{path}:3:3", "trellis")


def test_json_syntax_error(config_file):
    path = config_file(
        """
        {
          "trellis": 1,
          "objects": {
        }
        """,
        "config.json",
    )
    assert only_issue(path).code == "T-E001"


# --- the compiled model ---------------------------------------------------------------------

MODEL = """
    trellis: 1
    settings:
      timezone: Asia/Shanghai
      languages: [zh, en]
    picklists:
      industry:
        label: {en: Industry, zh: 行业}
        values:
          - key: manufacturing
            label: {en: Manufacturing, zh: 制造业}
            children:
              - {key: automotive, label: {en: Automotive, zh: 汽车}}
              - electronics
          - internet
    objects:
      opportunity:
        label: {en: Opportunity, zh: 商机}
        title: "{name}"
        fields:
          name: {type: text, required: true, label: {en: Name, zh: 名称}}
          industry: {type: picklist, picklist: industry}
          total: {type: formula, expression: subtotal + tax, result: currency}
          tax: {type: formula, expression: subtotal * 0.13, result: currency}
          subtotal: {type: formula, expression: unit_price * quantity, result: currency}
          unit_price: {type: currency, default: 99.5}
          quantity: {type: integer, default: "3"}
          close_date: {type: date, default: "=add_days(today(), 30)"}
          start_date: {type: date, default: "2026-01-31"}
          owner_phone: {type: phone, default: "+86 138 0013 8000"}
        pipeline:
          stages:
            - {key: qualify, label: {en: Qualify, zh: 资格确认}, probability: 10}
            - {key: proposal, probability: 50, requires: [quantity]}
            - {key: won, probability: 100, outcome: won}
        rules:
          - name: quantity_positive
            when: quantity
            assert: quantity > 0
            message: {en: Quantity must be positive, zh: 数量必须大于零}
            field: quantity
    """


@pytest.fixture
def model(config_file):
    return load_config(config_file(MODEL))


def test_model_fields_have_their_types(model):
    fields = model.objects["opportunity"].fields
    assert fields["name"].type == "text"
    assert fields["name"].required is True
    assert fields["total"].type == "formula"
    assert fields["total"].value_type == "currency"


def test_model_labels_in_each_language(model):
    opportunity = model.objects["opportunity"]
    assert opportunity.label.get("zh") == "商机"
    assert opportunity.label.get("en") == "Opportunity"
    assert opportunity.label.get("zh_CN") == "商机"
    assert opportunity.fields["name"].label.get("zh") == "名称"
    assert opportunity.fields["quantity"].label.get("zh") == "Quantity"  # generated from the name


def test_model_picklist_children(model):
    industry = model.picklists["industry"]
    manufacturing = industry.values[0]
    assert [c.key for c in manufacturing.children] == ["automotive", "electronics"]
    assert manufacturing.children[0].label.get("zh") == "汽车"
    assert manufacturing.children[1].label.get("en") == "Electronics"
    assert industry.keys() == {"manufacturing", "automotive", "electronics", "internet"}
    assert model.objects["opportunity"].fields["industry"].picklist is industry


def test_model_pipeline_stages_and_stage_field(model):
    opportunity = model.objects["opportunity"]
    pipeline = opportunity.pipeline
    assert [(s.key, s.probability, s.outcome) for s in pipeline.stages] == [
        ("qualify", 10, "open"),
        ("proposal", 50, "open"),
        ("won", 100, "won"),
    ]
    assert pipeline.stage("qualify").label.get("zh") == "资格确认"
    assert pipeline.stage("proposal").requires == ("quantity",)
    stage = opportunity.fields["stage"]
    assert (stage.type, stage.required, stage.default) == ("picklist", True, "qualify")
    assert stage.picklist.keys() == {"qualify", "proposal", "won"}


def test_model_formula_order_puts_dependencies_first(model):
    assert model.objects["opportunity"].formula_order == ("subtotal", "tax", "total")


def test_model_static_defaults_are_coerced_to_the_field_type(model):
    fields = model.objects["opportunity"].fields
    assert fields["unit_price"].default == Decimal("99.50")
    assert fields["quantity"].default == 3
    assert fields["start_date"].default == dt.date(2026, 1, 31)
    assert fields["owner_phone"].default == "+8613800138000"


def test_model_expression_default_is_parsed(model):
    close_date = model.objects["opportunity"].fields["close_date"]
    assert close_date.default is None
    assert close_date.default_expression.calls == {"add_days", "today"}
    clock = Clock(dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC), ZoneInfo("Asia/Shanghai"))
    assert close_date.default_expression.evaluate({}, clock) == dt.date(2026, 5, 31)


def test_model_rules(model):
    rule = model.objects["opportunity"].rules[0]
    assert rule.name == "quantity_positive"
    assert rule.field == "quantity"
    assert rule.message.get("zh") == "数量必须大于零"
    assert rule.assertion.names == {"quantity"}
    assert rule.when.source == "quantity"


def test_model_settings(model):
    assert model.settings.timezone == "Asia/Shanghai"
    assert model.settings.languages == ("zh", "en")
    assert model.settings.currency == "USD"


def test_model_dataclasses_are_frozen(model):
    field = model.objects["opportunity"].fields["name"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        field.type = "textarea"
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.settings.timezone = "UTC"
    with pytest.raises(TypeError):
        model.objects["opportunity"].fields["name"] = field
    with pytest.raises(TypeError):
        model.objects["opportunity"].label.texts["zh"] = "改"


def test_model_content_hash_is_stable(config_file):
    first = load_config(config_file(MODEL, "a.yaml"))
    second = load_config(config_file(MODEL, "b.yaml"))
    assert first.content_hash == second.content_hash


# --- the compiled model: roles and security ----------------------------------------------------

ROLES_MODEL = """
    trellis: 1
    settings:
      security:
        lockout_attempts: 3
        lockout_minutes: 30
        password_min_length: 12
        password_classes: 3
        ip_allowlist: [10.0.0.0/8, 203.0.113.7]
        require_totp: true
        reconfirm_minutes: 10
    objects:
      account:
        fields:
          name: {type: text}
          credit_limit: {type: currency}
      contact:
        audit: {reads: true}
        fields:
          name: {type: text}
          phone: {type: phone}
          id_number: {type: text, encrypted: true}
      opportunity:
        fields:
          name: {type: text}
          amount: {type: currency}
          discount: {type: percent}
    roles:
      sales_rep:
        label: {en: Sales rep, zh: 销售代表}
        description: Sells to their own accounts.
        objects:
          "*": {read: own, edit: own, create: true, export: true}
          opportunity: {read: own, edit: own, delete: own, create: true}
        permissions: [skip_stage]
        hidden: [contact.id_number, account.credit_limit]
        read_only: [opportunity.discount]
        ip_allowlist: [10.1.0.0/16]
      sales_manager:
        inherits: sales_rep
        objects:
          opportunity: {read: team, edit: team}
          account: {import: true, reassign: true}
        permissions: [approve, skip_stage]
        hidden: [account.credit_limit]
      service_agent:
        objects:
          contact: {read: all}
        hidden: [contact.id_number]
        lookup_titles: true
        ip_allowlist: [192.168.0.0/24]
      executive:
        inherits: [sales_manager, service_agent]
        objects:
          "*": {read: all}
        permissions: [view_audit]
        require_totp: true
      branch_lead:
        inherits: [sales_rep, service_agent]
      auditor:
        permissions: [view_audit]
      compliance:
        inherits: [sales_rep, auditor]
    """


@pytest.fixture
def roles_model(config_file):
    return load_config(config_file(ROLES_MODEL))


def grant_tuple(grant) -> tuple:
    return (grant.read, grant.edit, grant.delete, grant.create, grant.export, grant.import_, grant.reassign)


def test_model_role_label_description_and_defaults(roles_model):
    rep = roles_model.roles["sales_rep"]
    assert rep.label.get("zh") == "销售代表"
    assert rep.description == "Sells to their own accounts."
    assert roles_model.roles["sales_manager"].label.get() == "Sales manager"  # generated from the name
    assert (rep.lookup_titles, rep.require_totp) == (False, False)
    assert set(roles_model.roles) == {
        "sales_rep",
        "sales_manager",
        "service_agent",
        "executive",
        "branch_lead",
        "auditor",
        "compliance",
    }


def test_model_star_grant_applies_to_every_object_not_listed(roles_model):
    rep = roles_model.roles["sales_rep"]
    for name in ("account", "contact"):
        assert grant_tuple(rep.grant(name)) == ("own", "own", "none", True, True, False, False)
    # a listed object takes its own entry only: `*` adds nothing to it (no export here)
    assert grant_tuple(rep.grant("opportunity")) == ("own", "own", "own", True, False, False, False)


def test_model_objects_a_role_does_not_mention_get_no_access(roles_model):
    agent = roles_model.roles["service_agent"]
    assert grant_tuple(agent.grant("contact")) == ("all", "none", "none", False, False, False, False)
    assert grant_tuple(agent.grant("opportunity")) == ("none", "none", "none", False, False, False, False)
    assert grant_tuple(agent.grant("no_such_object")) == ("none",) * 3 + (False,) * 4


def test_model_inherits_merges_grants_and_the_child_overrides_the_keys_it_gives(roles_model):
    manager = roles_model.roles["sales_manager"]
    # read and edit replaced; delete, create kept from sales_rep's opportunity entry
    assert grant_tuple(manager.grant("opportunity")) == ("team", "team", "own", True, False, False, False)
    # import and reassign added to what sales_rep's `*` gives
    assert grant_tuple(manager.grant("account")) == ("own", "own", "none", True, True, True, True)
    # not mentioned: inherited as is
    assert manager.grant("contact") == roles_model.roles["sales_rep"].grant("contact")


def test_model_several_parents_give_the_most_permissive_grant_then_star_applies(roles_model):
    executive = roles_model.roles["executive"]
    # sales_manager (own, own, none, create, export) + service_agent (read all), then `*: {read: all}`
    assert grant_tuple(executive.grant("contact")) == ("all", "own", "none", True, True, False, False)
    assert grant_tuple(executive.grant("opportunity")) == ("all", "team", "own", True, False, False, False)
    branch_lead = roles_model.roles["branch_lead"]
    assert grant_tuple(branch_lead.grant("contact")) == ("all", "own", "none", True, True, False, False)


def test_model_permissions_are_the_union_of_the_role_and_its_parents(roles_model):
    assert roles_model.roles["sales_rep"].permissions == {"skip_stage"}
    assert roles_model.roles["sales_manager"].permissions == {"skip_stage", "approve"}
    assert roles_model.roles["executive"].permissions == {"skip_stage", "approve", "view_audit"}
    assert roles_model.roles["service_agent"].permissions == frozenset()


def test_model_hidden_given_by_a_role_replaces_what_it_inherits(roles_model):
    assert roles_model.roles["sales_rep"].hidden == {("contact", "id_number"), ("account", "credit_limit")}
    # sales_manager lists hidden itself: id_number becomes visible, credit_limit stays hidden
    assert roles_model.roles["sales_manager"].hidden == {("account", "credit_limit")}


def test_model_hidden_not_given_keeps_only_fields_every_parent_hides(roles_model):
    # one parent: inherited whole
    assert roles_model.roles["sales_manager"].read_only == {("opportunity", "discount")}
    # two parents: a field stays hidden only if both hide it
    assert roles_model.roles["branch_lead"].hidden == {("contact", "id_number")}
    assert roles_model.roles["executive"].hidden == frozenset()
    assert roles_model.roles["executive"].read_only == frozenset()


def test_model_lookup_titles_totp_and_allowlist_are_inherited(roles_model):
    roles = roles_model.roles
    assert roles["service_agent"].lookup_titles is True
    assert roles["executive"].lookup_titles is True  # a parent has it
    assert roles["executive"].require_totp is True
    assert roles["sales_manager"].require_totp is False
    assert roles["sales_manager"].ip_allowlist == ("10.1.0.0/16",)
    # every parent restricts: the union of their networks
    assert roles["branch_lead"].ip_allowlist == ("10.1.0.0/16", "192.168.0.0/24")
    assert roles["executive"].ip_allowlist == ("10.1.0.0/16", "192.168.0.0/24")
    # a parent without a list allows anywhere, so the child does too
    assert roles["compliance"].ip_allowlist == ()
    assert roles["compliance"].permissions == {"skip_stage", "view_audit"}


def test_model_security_settings_values(roles_model):
    security = roles_model.settings.security
    assert security.lockout_attempts == 3
    assert security.lockout_minutes == 30
    assert security.password_min_length == 12
    assert security.password_classes == 3
    assert security.ip_allowlist == ("10.0.0.0/8", "203.0.113.7")
    assert security.require_totp is True
    assert security.reconfirm_minutes == 10


def test_model_security_settings_defaults(model):
    security = model.settings.security
    assert (security.lockout_attempts, security.lockout_minutes) == (5, 15)
    assert (security.password_min_length, security.password_classes) == (10, 2)
    assert security.ip_allowlist == ()
    assert security.require_totp is False
    assert security.reconfirm_minutes == 5
    assert (security.session_lifetime, security.session_idle_timeout) == (12 * 3600, 30 * 60)
    assert dict(model.roles) == {}


def test_model_audit_reads_and_encrypted_fields(roles_model, model):
    contact = roles_model.objects["contact"]
    assert contact.audit_reads is True
    assert roles_model.objects["account"].audit_reads is False
    assert contact.fields["id_number"].encrypted is True
    assert contact.fields["phone"].encrypted is False
    assert model.objects["opportunity"].audit_reads is False


def test_model_roles_are_frozen(roles_model):
    rep = roles_model.roles["sales_rep"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.lookup_titles = True
    with pytest.raises(TypeError):
        roles_model.roles["intruder"] = rep
    with pytest.raises(TypeError):
        rep.grants["contact"] = rep.grant("opportunity")


# --- engine.metadata needs neither SQLAlchemy nor Flask -----------------------------------

_BLOCKER = """
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sqlalchemy", "flask", "flask_login", "alembic"):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Blocker())
"""

_LOAD = """
import engine.metadata
config = engine.metadata.load_config({path!r})
assert "sqlalchemy" not in sys.modules and "flask" not in sys.modules
print(sorted(config.objects))
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_engine_metadata_loads_a_config_with_sqlalchemy_and_flask_blocked(config_file):
    path = config_file(MODEL)
    result = _run(_BLOCKER + _LOAD.format(path=str(path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['opportunity']"


# --- expressions ------------------------------------------------------------------------------

#: 2026-05-01 17:30 UTC is already 2026-05-02 01:30 in Shanghai.
NEAR_MIDNIGHT = dt.datetime(2026, 5, 1, 17, 30, tzinfo=dt.UTC)
SHANGHAI = Clock(NEAR_MIDNIGHT, ZoneInfo("Asia/Shanghai"))
UTC = Clock(NEAR_MIDNIGHT, ZoneInfo("UTC"))


def evaluate(source: str, clock: Clock = SHANGHAI, **values):
    return parse_expression(source).evaluate(values, clock)


def test_today_is_the_date_in_the_company_time_zone():
    assert evaluate("today()", SHANGHAI) == dt.date(2026, 5, 2)
    assert evaluate("today()", UTC) == dt.date(2026, 5, 1)


def test_now_is_the_utc_moment():
    assert evaluate("now()") == NEAR_MIDNIGHT


def test_days_since_a_date_counts_from_its_midnight_in_the_company_time_zone():
    # 2026-04-22 00:00 Shanghai = 2026-04-21 16:00 UTC: 10 days and 1.5 hours before now.
    assert evaluate("days_since(d)", d=dt.date(2026, 4, 22)) == 10


def test_days_since_a_datetime_counts_whole_days():
    assert evaluate("days_since(t)", t=dt.datetime(2026, 4, 21, 18, 0, tzinfo=dt.UTC)) == 9


def test_days_since_nothing_is_nothing():
    assert evaluate("days_since(d)", d=None) is None


def test_days_since_refuses_text():
    with pytest.raises(ExpressionEvalError):
        evaluate("days_since(d)", d="yesterday")


def test_coalesce_returns_the_first_filled_value():
    assert evaluate("coalesce(nickname, name, 'unknown')", nickname="", name=None) == "unknown"
    assert evaluate("coalesce(nickname, name)", nickname=None, name="Li Wei") == "Li Wei"
    assert evaluate("coalesce(a, b)", a=None, b=None) is None


def test_contains_looks_into_lists_and_text_and_tolerates_nothing():
    assert evaluate("contains(tags, 'vip')", tags=["vip", "partner"]) is True
    assert evaluate("contains(tags, 'vip')", tags=["partner"]) is False
    assert evaluate("contains(tags, 'vip')", tags=None) is False
    assert evaluate("contains(name, 'Ltd')", name="Acme Ltd") is True


def test_parse_collects_names_and_calls():
    expr = parse_expression("  coalesce(amount, 0) * rate > limit or None  ")
    assert expr.source == "coalesce(amount, 0) * rate > limit or None"
    assert expr.names == {"amount", "rate", "limit"}
    assert expr.calls == {"coalesce"}


@pytest.mark.parametrize("source", ["amount.real", "x.__class__", "(1).__class__.__bases__"])
def test_attribute_access_is_refused_at_parse_time(source):
    with pytest.raises(ExpressionSyntaxError, match="attribute access"):
        parse_expression(source)


@pytest.mark.parametrize("source", ["name.upper()", "''.join(tags)", "(lambda: 1)()"])
def test_only_documented_functions_can_be_called(source):
    with pytest.raises(ExpressionSyntaxError, match="only documented functions"):
        parse_expression(source)


@pytest.mark.parametrize("source", ["__import__('os')", "__builtins__", "amount + __x"])
def test_dunder_names_are_refused_at_parse_time(source):
    with pytest.raises(ExpressionSyntaxError, match="__"):
        parse_expression(source)


def test_lambda_is_refused_at_parse_time():
    with pytest.raises(ExpressionSyntaxError, match="Lambda"):
        parse_expression("lambda: amount")


@pytest.mark.parametrize("source", ["(n := 1)", "f'{name}'", "max(*values)"])
def test_walrus_fstrings_and_star_args_are_refused_at_parse_time(source):
    with pytest.raises(ExpressionSyntaxError):
        parse_expression(source)


def test_syntax_error_reports_the_offset():
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression("amount >")
    assert info.value.offset >= 7


@pytest.mark.parametrize("source", ["9 ** 9 ** 9", "2 ** 5000000", "(10 ** 4000) ** 4000", "x ** 10000000"])
def test_huge_powers_are_refused_quickly(source):
    started = time.process_time()
    with pytest.raises(ExpressionEvalError):
        evaluate(source, x=10)
    assert time.process_time() - started < 1


def test_huge_text_is_refused():
    with pytest.raises(ExpressionEvalError):
        evaluate("'a' * 100000000")


def test_unknown_name_at_evaluation_is_an_expression_error():
    with pytest.raises(ExpressionEvalError, match="unknown name"):
        evaluate("missing + 1")


def test_wrong_types_are_an_expression_error():
    with pytest.raises(ExpressionEvalError):
        evaluate("amount + 'x'", amount=Decimal("1"))


# --- list: {columns} ------------------------------------------------------------------


def test_E032_list_names_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text}
              city: {type: text}
            list:
              columns: [name, ctiy, owner_id]
        """)
    assert_issue(only_issue(path), "T-E032", f"{path}:8:23", "objects.account.list.columns[1]", "did you mean `city`?")


def test_list_columns_may_name_fields_and_system_columns(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text}
              city: {type: text}
            list:
              columns: [city, name, created_at, owner_id]
          contact:
            fields:
              name: {type: text}
        """)
    config = load_config(path)
    assert config.objects["account"].list_columns == ("city", "name", "created_at", "owner_id")
    assert config.objects["contact"].list_columns == ()


# --- layout: {sections} ---------------------------------------------------------------


def test_E032_layout_names_unknown_field(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text}
              city: {type: text}
            layout:
              sections:
                - {label: Main, fields: [name, ctiy]}
        """)
    assert_issue(
        only_issue(path),
        "T-E032",
        f"{path}:9:40",
        "objects.account.layout.sections[0].fields[1]",
        "did you mean `city`?",
    )


def test_E060_layout_names_a_field_twice(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text}
              city: {type: text}
            layout:
              sections:
                - {label: Main, fields: [name, city]}
                - label: {en: Address, zh: 地址}
                  fields: [city]
        """)
    assert_issue(
        only_issue(path),
        "T-E060",
        f"{path}:11:20",
        "objects.account.layout.sections[1].fields[0]",
        "keep it in one section",
    )


def test_layout_sections_in_the_model(config_file):
    path = config_file("""
        trellis: 1
        objects:
          account:
            fields:
              name: {type: text}
              city: {type: text}
              notes: {type: textarea}
            layout:
              sections:
                - {label: {en: Main, zh: 基本信息}, fields: [name], columns: 2}
                - {label: Address, fields: [city]}
          contact:
            fields:
              name: {type: text}
        """)
    config = load_config(path)
    main, address = config.objects["account"].sections
    assert (main.label.get("zh"), main.fields, main.columns) == ("基本信息", ("name",), 2)
    assert (str(address.label), address.fields, address.columns) == ("Address", ("city",), 1)
    assert config.objects["contact"].sections == ()
