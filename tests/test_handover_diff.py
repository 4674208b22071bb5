"""`trellis diff` (a config change in business terms) and `trellis plan` on an overlay (S8)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.metadata import load_config_text
from engine.metadata.configdiff import CHANGE_WORDS, diff_configs, say_changes
from tests.conftest import CONFIGS

pytestmark = pytest.mark.no_database

OLD = """
trellis: 1
settings: {languages: [en, zh]}
picklists:
  source:
    label: {en: Source, zh: 来源}
    values: [{key: web, label: {en: Web, zh: 网站}}, {key: fair, label: {en: Trade fair, zh: 展会}}, phone]
  region: {values: [north, south]}
objects:
  deal:
    label: {en: Opportunity, zh: 商机}
    fields:
      name: {type: text, label: {en: Name, zh: 名称}, required: true}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      budget: {type: text, label: {en: Budget, zh: 预算}}
      fax: {type: phone, label: {en: Fax, zh: 传真}}
      code: {type: text, label: {en: Code, zh: 编码}, unique: true}
      source: {type: picklist, picklist: source, label: {en: Source, zh: 来源}}
      size:
        type: picklist
        label: {en: Size, zh: 规模}
        values: [{key: small, label: {en: Small, zh: 小}}, {key: big, label: {en: Big, zh: 大}}, tiny]
      stage: {type: picklist, label: {en: Stage, zh: 阶段}}
    pipeline:
      field: stage
      stages:
        - {key: new, label: {en: New, zh: 新建}, probability: 10}
        - {key: demo, label: {en: Demo, zh: 演示}, probability: 30, requires: [budget]}
        - {key: negotiation, label: {en: Negotiation, zh: 谈判}, probability: 60, requires: [amount]}
        - {key: won, label: {en: Won, zh: 赢单}, outcome: won, probability: 100}
        - {key: lost, label: {en: Lost, zh: 输单}, outcome: lost, probability: 0}
  memo:
    label: {en: Memo, zh: 备忘}
    fields: {text: {type: text}}
roles:
  rep:
    label: {en: Sales rep, zh: 销售代表}
    objects: {deal: {read: own, edit: own, delete: own, create: true, export: true}}
    read_only: [deal.code]
    permissions: [skip_stage]
  intern:
    label: {en: Intern, zh: 实习生}
    objects: {deal: {read: own}}
approvals:
  - {name: big_deal, label: {en: Big deal, zh: 大单审批}, object: deal, on: {change: [amount]}, approver: manager}
  - {name: delete_deal, label: {en: Delete a deal, zh: 删除商机审批}, object: deal, on: delete, approver: manager}
templates:
  won: {subject: "Won {{ record.name }}", body: "Won."}
automations:
  - name: won_notice
    label: {en: Won notice, zh: 赢单通知}
    object: deal
    on: {stage_entered: won}
    do: [{notify: {to: [owner], template: won}}]
  - name: lost_notice
    label: {en: Lost notice, zh: 输单通知}
    object: deal
    on: {stage_entered: lost}
    do: [{notify: {to: [owner], template: won}}]
reports:
  by_stage: {object: deal, label: {en: Deals by stage, zh: 按阶段}, group_by: [stage], measures: [count]}
  by_source: {object: deal, label: {en: Deals by source, zh: 按来源}, group_by: [source], measures: [count]}
"""

NEW = """
trellis: 1
settings: {languages: [en, zh]}
picklists:
  source:
    label: {en: Source, zh: 来源}
    values:
      - {key: web, label: {en: Website, zh: 官网}}
      - {key: fair, label: {en: Trade fair, zh: 展会}, inactive: true}
      - {key: referral, label: {en: Referral, zh: 转介绍}}
  segment: {label: {en: Segment, zh: 细分}, values: [smb, enterprise]}
objects:
  deal:
    label: {en: Deal, zh: 商机}
    fields:
      name: {type: text, label: {en: Deal name, zh: 商机名称}, unique: true}
      amount: {type: currency, label: {en: Amount, zh: 金额}, required: true}
      budget: {type: currency, label: {en: Budget, zh: 预算}}
      code: {type: text, label: {en: Code, zh: 编码}}
      email: {type: email, label: {en: E-mail, zh: 邮箱}, unique: true}
      source: {type: picklist, picklist: source, label: {en: Source, zh: 来源}}
      size:
        type: picklist
        label: {en: Size, zh: 规模}
        values: [{key: small, label: {en: Small, zh: 小}}, {key: big, label: {en: Large, zh: 大}}, {key: huge, label: {en: Huge, zh: 特大}}]
      stage: {type: picklist, label: {en: Stage, zh: 阶段}}
    pipeline:
      field: stage
      stages:
        - {key: new, label: {en: New, zh: 新建}, probability: 10}
        - {key: qualified, label: {en: Qualified, zh: 已确认}, probability: 20}
        - {key: demo, label: {en: Demo, zh: 演示}, probability: 40}
        - key: negotiation
          label: {en: Negotiation, zh: 谈判}
          probability: 60
          requires: [amount, email]
          requires_when: [{when: "amount > 1000", fields: [budget]}]
        - {key: won, label: {en: Closed won, zh: 赢单}, outcome: won, probability: 100}
  ticket:
    label: {en: Ticket, zh: 工单}
    fields: {subject: {type: text}}
roles:
  rep:
    label: {en: Sales rep, zh: 销售代表}
    objects: {deal: {read: team, edit: own, delete: none, create: true, export: false, merge: true}}
    hidden: [deal.budget]
    permissions: [reopen]
  manager:
    label: {en: Manager, zh: 经理}
    objects: {deal: {read: all, edit: all}}
    permissions: [approve]
approvals:
  - name: big_deal
    label: {en: Big deal, zh: 大单审批}
    object: deal
    on: {change: [amount]}
    when: "amount > 100000"
    approver: manager
  - {name: skip, label: {en: Skipping stages, zh: 跳阶段审批}, object: deal, on: stage_skip, approver: {role: manager}}
templates:
  won: {subject: "Won {{ record.name }}", body: "Won."}
automations:
  - name: won_notice
    label: {en: Won notice, zh: 赢单通知}
    object: deal
    on: {stage_entered: won}
    do: [{notify: {to: [owner, manager], template: won}}]
  - name: big_deal_tag
    label: {en: Tag big deals, zh: 大单标记}
    object: deal
    on: created
    do: [{set: {size: big}}]
reports:
  by_stage: {object: deal, label: {en: Deals by stage, zh: 按阶段}, group_by: [stage], measures: [count]}
  by_size: {object: deal, label: {en: Deals by size, zh: 按规模}, group_by: [size], measures: [count, {sum: amount}]}
"""


@pytest.fixture(scope="module")
def configs():
    return load_config_text(OLD, "old.yaml"), load_config_text(NEW, "new.yaml")


def lines(configs, language: str) -> dict[str, list[str]]:
    old, new = configs
    return {g.title: list(g.lines) for g in say_changes(old, new, diff_configs(old, new), language)}


def test_every_kind_of_change_the_brief_names_is_found(configs):
    kinds = {change.kind for change in diff_configs(*configs)}
    assert kinds >= {
        "object_added", "object_removed", "object_label",
        "field_added", "field_removed", "field_type", "field_label",
        "field_required", "field_optional", "field_unique", "field_not_unique",
        "value_added", "value_removed", "value_label",
        "picklist_added", "picklist_removed",
        "shared_value_added", "shared_value_removed", "shared_value_retired", "shared_value_label",
        "stage_added", "stage_removed", "stage_label", "gate_tightened", "gate_loosened", "gate_conditions", "probability",
        "role_added", "role_removed", "role_widened", "role_narrowed", "role_may", "role_may_not",
        "role_hides", "role_may_edit", "permission_given", "permission_taken",
        "approval_added", "approval_changed", "approval_removed",
        "automation_added", "automation_changed", "automation_removed",
        "report_added", "report_removed",
    }  # fmt: skip
    assert kinds <= set(CHANGE_WORDS)


def test_changes_read_as_sentences_grouped_by_object(configs):
    said = lines(configs, "en")
    deal = said["Deal (deal)"]
    for sentence in (
        "Renamed from “Opportunity” to “Deal”.",
        "Field “E-mail” added (E-mail address).",
        "Field “Fax” removed.",
        "Field “Budget” changes type from Text to Amount (USD).",
        "Field `name` renamed from “Name” to “Deal name”.",
        "Field “Deal name” is no longer required.",
        "Field “Amount” is now required.",
        "Field “Code” need no longer be unique.",
        "Field “Deal name” must now be unique.",
        "Value “Huge” added to “Size”.",
        "Value “Tiny” removed from “Size”.",
        "Stage “Qualified” added.",
        "Stage “Lost” removed.",
        "Gate of stage “Negotiation” tightened: it now also requires “E-mail”.",
        "Gate of stage “Demo” loosened: it no longer requires “Budget”.",
        "Conditional requirements of stage “Negotiation” changed.",
        "Probability of stage “Demo” changed from 30 % to 40 %.",
        "Stage `won` renamed from “Won” to “Closed won”.",
        "Role “Sales rep” widened: Read own → team's.",
        "Role “Sales rep” narrowed: Delete own → none.",
        "Role “Sales rep” may no longer export.",
        "Role “Sales rep” may now merge duplicates.",
        "Role “Sales rep” no longer sees “Budget”.",
        "Role “Sales rep” may now change “Code”.",
        "Approval “Big deal” changed.",
        "New approval “Skipping stages”.",
        "Approval “Delete a deal” removed.",
        "Automation rule “Won notice” changed.",
        "New automation rule “Tag big deals”.",
        "Automation rule “Lost notice” removed.",
        "New report “Deals by size”.",
        "Report “Deals by source” removed.",
    ):
        assert sentence in deal, sentence
    assert said["Ticket (ticket)"] == ["New object “Ticket”."]
    assert said["Memo (memo)"] == ["Object “Memo” removed."]
    assert said["Shared picklists"] == [
        "New picklist “Segment”.",
        "Picklist “region” removed.",
        "Value “Referral” added to “Source”.",
        "Value “Phone” removed from “Source”.",
        "Value `web` of “Source” renamed.",
        "Value “Trade fair” of “Source” is no longer offered.",
    ]
    assert said["Roles"] == [
        "New role “Manager”.",
        "Role “Intern” removed.",
        "Role “Sales rep” may now reopen closed records.",
        "Role “Sales rep” may no longer skip pipeline stages.",
    ]


def test_the_same_changes_in_chinese(configs):
    deal = lines(configs, "zh")["商机 (deal)"]
    for sentence in (
        "名称由英文：“Opportunity”改为英文：“Deal”。",  # only the English name changed
        "新增字段“邮箱”（电子邮件地址）。",
        "阶段“谈判”的门槛收紧：现在还要求填写“邮箱”。",
        "阶段“演示”的赢率由30%改为40%。",
        "角色“销售代表”权限扩大：查看 本人的 → 本团队的。",
        "删除自动化规则“输单通知”。",
    ):
        assert sentence in deal, sentence


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_trellis_diff_prints_one_line_per_change_and_exits_0(write_config):
    old, new = write_config(OLD, "old.yaml"), write_config(NEW, "new.yaml")
    result = run("diff", old, new, "--lang", "zh")
    assert result.exit_code == 0
    assert result.output.startswith(f"{old} → {new}:\n  商机 (deal)\n    - 名称由")
    assert "    - 新增阶段“已确认”。" in result.output
    same = run("diff", old, old)
    assert same.exit_code == 0 and same.output.endswith("No changes.\n")


def test_trellis_diff_reports_a_broken_config(write_config):
    result = run("diff", write_config(OLD, "old.yaml"), write_config("trellis: 2\n", "new.yaml"))
    assert result.exit_code == 1 and "1 error in the config." in result.output


@pytest.mark.uses_database
def test_plan_on_an_overlay_says_what_comes_from_the_template_and_what_it_changes(db_url):
    result = run("plan", CONFIGS / "sample_saas.yaml", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "From template crm_base.yaml: 8 objects, " in result.output
    assert "This overlay (" in result.output
    assert "  Deal (opportunity)\n    - Renamed from “Opportunity” to “Deal”." in result.output
    assert "    - Gate of stage “Quote negotiation” tightened: it now also requires “Product line”." in result.output
    assert "    - Field “Rating” removed." in result.output


@pytest.mark.uses_database
def test_plan_says_when_the_template_does_not_compile_alone(write_config, db_url):
    write_config(
        "trellis: 1\nobjects:\n  deal:\n    fields:\n      account: {type: lookup, object: account}\n", "base.yaml"
    )
    overlay = write_config("trellis: 1\nextends: base.yaml\nobjects:\n  account:\n    fields: {name: {type: text}}\n")
    result = run("plan", overlay, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "Template base.yaml does not compile alone (1 error), so what this" in result.output
