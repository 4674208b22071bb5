"""`trellis validate` explains automation, assignment, scoring, conversion, approval and
cross-section problems (and a subscription's schedule) in the admin's language.

Two broken configs, read with ``TRELLIS_LANG=zh`` and ``TRELLIS_LANG=en``: every issue and
hint is written in Chinese in the first case (a few checked word for word), and the English
is what it always was in the second.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

pytestmark = pytest.mark.no_database

CJK = re.compile(r"[\u4e00-\u9fff]")
ISSUE = re.compile(r"(?:警告: |warning: )?\S+:\d+:\d+: (T-[EW]\d{3}) (\S+): (.*)$")

RULES = """\
    trellis: 1
    settings:
      languages: [en, zh]
    picklists:
      unused_sizes: {values: [small, large]}
    objects:
      lead:
        label: {en: Lead, zh: 线索}
        fields:
          name: {type: text, required: true}
          notes: {type: text}
          status: {type: text}
          rating: {type: text}
          closed_on: {type: date}
      deal:
        label: {en: Deal, zh: 商机}
        fields:
          name: {type: text, required: true}
          amount: {type: decimal}
          stage_note: {type: text}
    roles:
      sales_rep: {objects: {lead: {read: all, edit: all}, deal: {read: all, edit: all}}}
      idle: {label: Idle}
    templates:
      hello: {subject: "Hi {{ record.name }}", body: "Hello"}
    automations:
      - {name: a1, object: lead, on: {stage_entered: [won]}, do: [{archive: true}]}
      - {name: a2, object: lead, on: {schedule: {after: 3 days, from: closed_on}}, do: [{archive: true}]}
      - {name: a3, object: lead, on: created, do: [{notify: {to: [owner], template: helo}}]}
      - {name: a4, object: lead, on: created, do: [{add: {name: 5}}]}
    assignment:
      a: {object: lead, field: notes, pool: {role: sales_rep}}
      b: {object: lead, pool: {role: sales_rep}, capacity: {max_open: 5, open_when: "len(name) > 3"}}
    scoring:
      s: {object: lead, field: rating, rules: [{when: 'True', points: 1}]}
    conversions:
      convert_lead:
        from: lead
        targets:
          deal:
            fields: {name: name, amount: status, stage_note: nmae}
    approvals:
      - {name: big, object: lead, on: stage_skip, approver: manager}
      - {name: both, object: deal, on: delete, approver: manager, steps: [{approver: manager}]}
    """

CROSS = """\
    trellis: 1
    settings:
      languages: [zh, en]
    objects:
      deal:
        label: {en: Deal, zh: 商机}
        fields:
          name: {type: text, required: true}
          amount: {type: decimal}
        pipeline:
          skip: {allowed: false}
          reopen: never
          stages:
            - {key: new, next: [won]}
            - {key: quoted}
            - {key: won, outcome: won}
    roles:
      sales_rep: {objects: {deal: {read: all, edit: all}}}
      checker: {objects: {deal: {read: own}}, permissions: [approve]}
    templates:
      big_deal: {subject: "Big deal {{ record.amuont }}", body: "Hello"}
    automations:
      - {name: tell, object: deal, on: created, do: [{notify: {to: [owner], template: big_deal}}]}
    approvals:
      - {name: big, object: deal, on: delete, approver: {role: checker}}
    reports:
      by_owner: {object: deal, group_by: [owner_id]}
    subscriptions:
      weekly_deals: {report: by_owner, schedule: {weekly: "funday 08:00"}, roles: [sales_rep]}
    """

RULE_CODES = [
    "T-W001",
    "T-W002",
    "T-E120",
    "T-E122",
    "T-E123",
    "T-E125",
    "T-E131",
    "T-E139",
    "T-E136",
    "T-E104",
    "T-E101",
    "T-E090",
    "T-E091",
]
CROSS_CODES = ["T-E245", "T-E241", "T-E244", "T-E201"]


def _validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, language: str) -> tuple[int, list]:
    """Exit code and, per issue, (code, path, message, hint) as ``trellis validate`` prints them."""
    path = tmp_path / "crm.yaml"
    path.write_text(textwrap.dedent(config), encoding="utf-8")
    monkeypatch.setenv("TRELLIS_LANG", language)
    result = CliRunner().invoke(main, ["validate", str(path)])
    issues: list[list] = []
    for line in result.output.splitlines():
        found = ISSUE.match(line)
        if found:
            issues.append([*found.groups(), None])
        elif line.startswith("    ") and issues:
            issues[-1][3] = line.strip()
    return result.exit_code, [tuple(issue) for issue in issues]


def _by_code(issues: list) -> dict[str, tuple]:
    return {code: (path, message, hint) for code, path, message, hint in issues}


def test_rule_checks_speak_chinese(tmp_path, monkeypatch):
    exit_code, issues = _validate(tmp_path, monkeypatch, RULES, "zh")
    assert exit_code == 1
    assert sorted(code for code, *_ in issues) == sorted(RULE_CODES)
    for code, path, message, hint in issues:
        assert CJK.search(message), f"{code} {path}: {message}"
        assert hint is None or (hint.startswith("提示: ") and CJK.search(hint)), f"{code} {path}: {hint}"
    shown = _by_code(issues)
    assert shown["T-E122"] == (
        "automations[1].on.schedule.after",
        "'3 days' 不是时长",
        "提示: 数字加 m、h、d 或 w：30m、24h、5d、2w",
    )
    assert shown["T-E131"] == (
        "assignment.a.field",
        "`notes` 是 text 类型的字段：分配写入的是用户",
        "提示: 请使用 owner_id（默认）或 user 类型的字段",
    )
    assert shown["T-E139"][1] == "未结记录在数据库中计数，而数据库无法计算 `len(name) > 3`"
    assert shown["T-E104"][1] == "`status` 是 text 类型的字段；它不能填入 decimal 类型的字段"
    assert shown["T-E101"][1:] == ("`lead` 没有字段 `nmae`", "提示: 是否想写 `name`？")
    assert shown["T-E123"][1:] == ("未知模板 `helo`", "提示: 请在 `templates:` 下声明它；已有：hello")
    assert shown["T-W002"][1] == "角色 `idle` 没有授予任何权限：没有对象，也没有权限项，拥有它的用户什么也做不了"


def test_rule_checks_keep_their_english(tmp_path, monkeypatch):
    exit_code, issues = _validate(tmp_path, monkeypatch, RULES, "en")
    assert exit_code == 1
    assert sorted(code for code, *_ in issues) == sorted(RULE_CODES)
    assert not [issue for issue in issues if any(CJK.search(text or "") for text in issue)]
    shown = _by_code(issues)
    assert shown["T-E122"][1:] == ("'3 days' is not a duration", "hint: a number and m, h, d or w: 30m, 24h, 5d, 2w")
    assert shown["T-E131"][1] == "`notes` is a text field: an assignment writes a user"
    assert shown["T-E139"][1] == "open records are counted in the database, which cannot evaluate `len(name) > 3`"
    assert shown["T-E104"][1] == "`status` is a text field; it cannot fill a decimal field"
    assert shown["T-W001"][1:] == (
        "picklist `unused_sizes` is not used by any field",
        "hint: use it with `picklist: unused_sizes` on a field, or remove it",
    )


def test_cross_section_checks_speak_the_configs_first_language(tmp_path, monkeypatch):
    exit_code, issues = _validate(tmp_path, monkeypatch, CROSS, "zh")
    assert exit_code == 1
    assert [code for code, *_ in issues] == CROSS_CODES
    for code, path, message, hint in issues:
        assert CJK.search(message) and hint and CJK.search(hint), f"{code} {path}: {message} / {hint}"
    shown = _by_code(issues)
    assert shown["T-E245"][1] == ("从 `new` 无法到达阶段 `quoted`：没有哪个阶段的 `next` 通向它，且不允许跳过阶段")
    assert shown["T-E244"][1] == (
        "审批人角色 `checker` 只能读取自己的商机记录，又不能审批自己的请求：别人提交的请求涉及它读不到的记录"
    )
    assert shown["T-E201"] == (
        "subscriptions.weekly_deals.schedule",
        "`funday` 不是星期几",
        "提示: 请使用其中之一：monday, tuesday, wednesday, thursday, friday, saturday, sunday（`weekly: monday 08:00`）",
    )


def test_cross_section_checks_in_english(tmp_path, monkeypatch):
    exit_code, issues = _validate(tmp_path, monkeypatch, CROSS, "en")
    assert exit_code == 1
    assert [code for code, *_ in issues] == CROSS_CODES
    assert not [issue for issue in issues if any(CJK.search(text or "") for text in issue)]
    shown = _by_code(issues)
    assert shown["T-E244"][1].startswith("approver role `checker` reads only its own Deal records")
    assert shown["T-E201"][1:] == (
        "`funday` is not a day of the week",
        "hint: use one of: monday, tuesday, wednesday, thursday, friday, saturday, sunday (`weekly: monday 08:00`)",
    )
