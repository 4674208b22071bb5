"""`trellis validate` finds everything at once: schema and semantic errors in one pass,
the cross-section checks (T-E240…T-E246) and the warnings (T-W001, T-W002, `--strict`).

Each test writes a small config and checks what an author sees: code, ``file:line:column``,
path, message and hint — through ``load_config`` or the CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.metadata import ConfigError, ConfigIssue, load_config, templating

pytestmark = pytest.mark.no_database


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.issues


def only(path: Path) -> ConfigIssue:
    issues = issues_of(path)
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


def validate(*args: str):
    return CliRunner().invoke(main, ["validate", *args])


# --- one pass -------------------------------------------------------------------------

TEN = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, max_length: ten}
      amount: {type: decimal}
      score: {type: integr}
      total: {type: formula, expression: amuont * 2}
  deal:
    colour: blue
    fields:
      title: {type: text}
templates:
  hello:
    subject: "Hi {{ record.name }}"
    body: "Hello"
automations:
  - name: greet
    object: lead
    on: created
    do:
      - {notify: {to: [owner], template: helo}}
  - name: later
    object: lead
    on: {after: created, wait: 3 fortnights}
    do:
      - {notify: {to: [owner], template: hello}}
reports:
  by_score:
    object: lead
    group_by: [scroe, score]
    measures: [count]
  deals:
    object: dael
    measures: [count]
roles:
  rep:
    inherits: sales
    objects:
      lead: {read: own}
    hidden: [lead.score]
  boss:
    objects:
      lead: {read: everything}
"""


def test_ten_independent_errors_are_ten_reports_schema_and_semantic_alike(tmp_path):
    path = write(tmp_path, TEN)
    result = validate(str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith(str(path))]
    found = [(line.split(": ")[0].removeprefix(f"{path}:"), line.split(": ")[1].split(" ")[0]) for line in lines]
    assert found == [
        ("5:38", "T-E011"),  # max_length: ten — a bad type…
        ("7:21", "T-E011"),  # type: integr
        ("8:42", "T-E041"),  # …does not hide `amuont` in a formula
        ("10:5", "T-E010"),  # colour
        ("22:42", "T-E123"),  # template helo
        ("25:9", "T-E011"),  # on: {after: …}
        ("31:16", "T-E171"),  # scroe (and nothing about `score`, the field whose type is refused)
        ("34:13", "T-E170"),  # dael
        ("38:15", "T-E080"),  # inherits: sales
        ("44:20", "T-E011"),  # read: everything
    ], result.output
    assert "10 errors in the config." in result.output
    assert "did you mean `amount`?" in result.output and "did you mean `integer`?" in result.output


def test_a_part_the_schema_refuses_is_reported_once_and_breaks_nothing_else(tmp_path):
    path = write(
        tmp_path,
        """
        trellis: 1
        objects:
          lead:
            fields:
              score: {type: integr}
              total: {type: formula, expression: score * 2}
              stage2: 5
            pipeline: {stages: 7}
        reports:
          r: {object: lead, group_by: [score], measures: [count]}
        roles:
          boss: {objects: 7}
          rep: {inherits: boss, hidden: [lead.score]}
        approvals:
          - {name: a, object: lead, on: delete, approver: {role: boss}}
        """,
    )
    assert [(i.code, i.path) for i in issues_of(path)] == [
        ("T-E011", "objects.lead.fields.score.type"),
        ("T-E011", "objects.lead.fields.stage2"),
        ("T-E011", "objects.lead.pipeline.stages"),
        ("T-E011", "roles.boss.objects"),
    ]


# --- T-E240: webhooks are signed unless the config says otherwise -----------------------

HOOK = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text}
automations:
  - name: to_erp
    object: deal
    on: created
    do: [{webhook: {url: "https://erp.example.com/hook"%s}}]
"""


def test_E240_a_webhook_without_secret_env_needs_unsigned_true(tmp_path):
    issue = only(write(tmp_path, HOOK % ""))
    assert (issue.code, issue.path, issue.location.line) == ("T-E240", "automations[0].do[0].webhook", 10)
    assert "would be sent unsigned" in issue.message and "unsigned: true" in (issue.hint or "")
    both = only(write(tmp_path, HOOK % ", secret_env: HOOK_SECRET, unsigned: true", "b.yaml"))
    assert (both.code, both.path) == ("T-E240", "automations[0].do[0].webhook.unsigned")
    assert "cannot be both" in both.message
    unsigned = load_config(write(tmp_path, HOOK % ", unsigned: true", "c.yaml"))
    assert unsigned.automations[0].actions[0].secret_env is None
    signed = load_config(write(tmp_path, HOOK % ", secret_env: HOOK_SECRET", "d.yaml"))
    assert signed.automations[0].actions[0].secret_env == "HOOK_SECRET"


# --- T-E241…T-E243: templates ----------------------------------------------------------

TEMPLATE = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text}
      amount: {type: decimal}
templates:
  hello:
    subject: "Hi {{ record.name }}"
    body: "%s"
automations:
  - name: greet
    object: lead
    on: created
    do: [{notify: {to: [owner], template: hello}}]
"""


def test_E241_a_template_names_a_field_its_rules_object_lacks(tmp_path):
    issue = only(write(tmp_path, TEMPLATE % "{{ record.amuont }} {{ record.id }} {{ record.name }}"))
    assert (issue.code, issue.path, str(issue.location)) == (
        "T-E241",
        "templates.hello.body",
        f"{tmp_path}/config.yaml:10:11",
    )
    assert "`record.amuont`: lead has no field `amuont`" in issue.message and "rule `greet`" in issue.message
    assert issue.hint == "did you mean `amount`?"


def test_E242_an_unknown_filter(tmp_path):
    issue = only(write(tmp_path, TEMPLATE % "{{ record.name | uppr }}"))
    assert (issue.code, issue.path, issue.message, issue.hint) == (
        "T-E242",
        "templates.hello.body",
        "unknown filter `uppr`",
        "did you mean `upper`?",
    )


@pytest.mark.parametrize(
    "tag",
    ["{% include '/etc/passwd' %}", "{% import 'x' as y %}", "{% from 'x' import y %}", "{% extends '/etc/passwd' %}"],
)
def test_E243_templates_read_no_other_template_or_file(tmp_path, tag):
    issue = only(write(tmp_path, TEMPLATE % tag))
    assert (issue.code, issue.path) == ("T-E243", "templates.hello.body"), str(issue)
    assert "is not allowed: a notification template cannot read other templates or files" in issue.message
    # And at runtime the sandbox has no loader: nothing can be read even if a template got through.
    with pytest.raises(TypeError, match="no loader"):
        templating.render(tag, {"record": {}})


def test_rendered_template_output_is_bounded():
    with pytest.raises(templating.TemplateLimitError, match="longer than"):
        templating.render("{% for i in range(1000) %}{{ x }}{% endfor %}", {"x": "y" * 200})


# --- T-E244: approvers who can never decide ---------------------------------------------

APPROVAL = """
trellis: 1
objects:
  account:
    fields:
      name: {type: text}
approvals:
  - name: delete_customer
    object: account
    on: delete
    approver: {role: %s}
roles:
  sales_manager:
    objects: {account: {read: team, edit: team, delete: team}}
    permissions: [approve]
  executive:
    objects: {account: {read: all}}
    permissions: [approve]
  admin:
    objects: {"*": {read: all, edit: all, delete: all}}
  clerk:
    objects: {account: {read: own}}
    permissions: [approve]
"""


def test_E244_the_S33_deadlock_an_approver_who_cannot_read_what_admins_may_delete(tmp_path):
    issue = only(write(tmp_path, APPROVAL % "sales_manager"))
    assert (issue.code, issue.path, issue.location.line) == ("T-E244", "approvals[0].approver", 10)
    assert issue.message == (
        "approver role `sales_manager` reads `team` Account records, and admin (all) may submit requests "
        "about records it cannot read: they would wait for ever"
    )
    assert "`read: all`" in (issue.hint or "")
    assert load_config(write(tmp_path, APPROVAL % "executive", "ok.yaml")).approvals[0].name == "delete_customer"


def test_E244_an_approver_without_approve_or_with_own_records_only(tmp_path):
    no_permission = only(write(tmp_path, APPROVAL % "admin"))
    assert no_permission.code == "T-E244" and "lacks the `approve` permission" in no_permission.message
    own = only(
        write(
            tmp_path,
            APPROVAL.replace('admin:\n    objects: {"*": {read: all, edit: all, delete: all}}', "admin: {}") % "clerk",
            "own.yaml",
        )
    )
    assert own.code == "T-E244", str(own)


# --- T-E245, T-E246: stages that cannot be reached -------------------------------------

PIPELINE = """
trellis: 1
objects:
  deal:
    fields:
      discount: {type: percent}
    pipeline:
      skip: {allowed: %s}
      stages:
        - {key: new, next: [won]}
        - {key: qualified, requires: [discount]}
        - {key: won, outcome: won}
        - {key: lost, outcome: lost}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true}}
    read_only: [deal.discount]
"""


def test_E245_a_stage_no_next_leads_to_when_skipping_is_not_allowed(tmp_path):
    issues = issues_of(write(tmp_path, PIPELINE.replace("skip:", "reopen: never\n      skip:") % "false"))
    unreachable = [i for i in issues if i.code == "T-E245"]
    assert [(i.path, i.location.line) for i in unreachable] == [("objects.deal.pipeline.stages[1]", 11)]
    assert unreachable[0].message.startswith("stage `qualified` cannot be reached from `new`")


def test_E246_a_gate_requires_a_field_every_editor_has_read_only(tmp_path):
    issue = only(write(tmp_path, PIPELINE % "true"))
    assert (issue.code, issue.path, issue.location.line) == (
        "T-E246",
        "objects.deal.pipeline.stages[1].requires[0]",
        10,
    )
    assert issue.message == (
        "stage `qualified` requires `discount`, which every role that edits deal has hidden or read-only (rep): "
        "no record can reach the stage"
    )


# --- warnings ----------------------------------------------------------------------------

WARNED = """
trellis: 1
picklists:
  regions: {values: [north, south]}
objects:
  lead:
    fields:
      name: {type: text}
roles:
  rep: {objects: {lead: {read: own}}}
  intern: {label: Intern}
"""


def test_W001_W002_warnings_leave_the_config_valid_and_print_in_yellow(tmp_path):
    path = write(tmp_path, WARNED)
    config = load_config(path)
    assert [(w.code, w.path, w.location.line, w.severity) for w in config.warnings] == [
        ("T-W001", "picklists.regions", 3, "warning"),
        ("T-W002", "roles.intern", 10, "warning"),
    ]
    assert config.warnings[0].message == "picklist `regions` is not used by any field"
    assert config.warnings[1].message.startswith("role `intern` grants nothing")
    result = CliRunner().invoke(main, ["validate", str(path)], color=True)
    assert result.exit_code == 0, result.output
    valid, *warnings = result.output.splitlines()
    assert "is valid" in valid
    assert "\x1b[33mwarning: " in warnings[0] and "T-W001" in warnings[0]
    assert "2 warnings (`trellis validate --strict` treats them as errors)." in result.output


def test_strict_makes_warnings_errors(tmp_path):
    result = validate("--strict", str(write(tmp_path, WARNED)))
    assert result.exit_code == 1
    assert "T-W001 picklists.regions: picklist `regions` is not used" in result.output
    assert "2 errors in the config." in result.output


def test_warnings_are_shown_after_the_errors(tmp_path):
    path = write(tmp_path, WARNED.replace("name: {type: text}", "name: {type: text, min: 3}"))
    result = validate(str(path))
    assert result.exit_code == 1
    out = result.output
    assert out.index("T-E034") < out.index("1 error in the config.") < out.index("warning: ") < out.index("T-W002")


def test_sample_configs_validate_strict_without_warnings():
    root = Path(__file__).resolve().parents[2]
    for name in ("sample_saas.yaml", "sample_retail.yaml"):
        result = validate("--strict", str(root / "configs" / name))
        assert result.exit_code == 0 and "warning" not in result.output, result.output


# --- T-E247, T-E248, T-E040: bounds a hostile file meets -------------------------------


def test_E247_a_number_too_long_to_read(tmp_path):
    path = write(
        tmp_path,
        "trellis: 1\nobjects:\n  lead:\n    fields:\n      name: {type: text, max_length: " + "9" * 5000 + "}\n",
    )
    issue = only(path)
    assert (issue.code, str(issue.location), issue.message) == (
        "T-E247",
        f"{path}:5:38",
        "a number with more than 4,300 digits",
    )


def test_E248_a_template_reading_internals(tmp_path):
    issue = only(write(tmp_path, TEMPLATE % "{{ ''.__class__.__mro__ }}"))
    assert (issue.code, issue.path) == ("T-E248", "templates.hello.body")
    assert issue.message == "`.__class__`, `.__mro__`: names starting with _ are internals the sandbox refuses"


def test_E040_an_expression_nested_past_the_limit(tmp_path):
    chain = " + ".join(["amount"] * 20_000)
    text = "trellis: 1\nobjects:\n  lead:\n    fields:\n      amount: {type: decimal}\n"
    issue = only(write(tmp_path, text + f'      total: {{type: formula, expression: "{chain}"}}\n'))
    assert (issue.code, issue.path) == ("T-E040", "objects.lead.fields.total.expression")
    assert "nested more than 100 levels deep" in issue.message


def test_warnings_of_a_cached_config_name_the_file_read(tmp_path):
    first, second = write(tmp_path, WARNED, "a.yaml"), write(tmp_path, WARNED, "b.yaml")
    assert load_config(first).warnings[0].location.file == str(first)
    assert load_config(second).warnings[0].location.file == str(second)


def test_E245_in_a_pipeline_chosen_by_a_field(tmp_path):
    issue = only(
        write(
            tmp_path,
            """
            trellis: 1
            objects:
              deal:
                fields:
                  line: {type: picklist, values: [hw, sw]}
                pipeline:
                  by: line
                  reopen: never
                  skip: {allowed: false}
                  stages: [new, won]
                  pipelines:
                    hardware:
                      when: [hw]
                      stages:
                        - {key: new, next: [shipped]}
                        - {key: built}
                        - {key: shipped, outcome: won}
            """,
        )
    )
    assert (issue.code, issue.path, issue.location.line) == (
        "T-E245",
        "objects.deal.pipeline.pipelines.hardware.stages[1]",
        16,
    )
    assert issue.hint == "add `built` to the `next` of a stage before it, or allow `skip`"
