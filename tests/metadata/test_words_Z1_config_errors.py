"""`trellis validate` and `trellis test` tell a Chinese admin what is wrong in Chinese.

Broken configs cover the compiler's checks (settings, fields, picklists, expressions, pipelines,
roles, duplicates), JSON Schema's messages (each validator kind written in Chinese), the loader
(YAML, duplicate keys, ``extends``), templates, and the T-T codes of test files. Each is run with
``TRELLIS_LANG=zh`` and ``TRELLIS_LANG=en``: the same issue, at the same place, in each language.
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
#: An issue line: ``file:line:column: CODE path: message``.
ISSUE = re.compile(r"^\S+:\d+:\d+: (T-[EWT]\d{3}) ")

SEMANTICS = """\
    trellis: 1
    settings:
      languages: [en, zh]
      timezone: Asia/Shangai
    picklists:
      sources: {values: [web, fair]}
    objects:
      deal:
        fields:
          name: {type: text, required: true}
          amount: {type: decimal, min: 10, max: 1}
          source: {type: picklist, picklist: sorces}
          origin: {type: picklist, picklist: sources}
          kind: {type: picklist}
          margin: {type: formula, expression: "amout * 2"}
          total: {type: formula, expression: "(amount + 1"}
          huge: {type: formula, expression: "amount + 9 ** 9999"}
          closes: {type: date, default: soon}
        pipeline:
          stages: [new, won, new]
        duplicates:
          - {name: same, match: [{field: name, method: exactly}]}
    roles:
      rep: {inherits: mangr, objects: {deal: {read: all}}}
      boss: {objects: {deal: {read: all}}}
    """

SCHEMA = """\
    settings:
      languages: [en, en]
      colour: blue
      retention_years: 500
      currency: eur
    objects:
      Deal: {fields: {name: {type: text}}}
      deal:
        fields:
          name: {type: text, max_length: 0}
          title: {type: text, unique: "yes"}
        pipeline:
          stages: [{key: new}, {key: won, outcome: wonn}]
          pipelines:
            big: {when: [], stages: [new]}
    """

LOADER = """\
    trellis: 1
    extends: missing_base.yaml
    settings:
      languages: [en]
      languages: [zh]
    """

TEMPLATES = """\
    trellis: 2
    objects:
      deal:
        fields:
          name: {type: text}
    automations:
      - {name: tell, on: created, object: deal, do: [{notify: {template: t, to: [owner]}}]}
    templates:
      t: {subject: "{{ record.name | uper }}", body: "{% include 'x' %}"}
      u: {subject: "x", body: "{{ 2 ** 99999 }}"}
    """

#: (config, [(English issue, its Chinese), …], [(English hint, its Chinese), …]) — each line exact,
#: after the file:line:column of the issue.
CASES = {
    "semantics": (
        SEMANTICS,
        [
            (
                "T-E071 settings.timezone: unknown time zone `Asia/Shangai`",
                "T-E071 settings.timezone: 未知的时区 `Asia/Shangai`",
            ),
            (
                "T-E072 objects.deal.fields.amount.min: min (10) is greater than max (1)",
                "T-E072 objects.deal.fields.amount.min: min（10）大于 max（1）",
            ),
            (
                "T-E031 objects.deal.fields.source.picklist: unknown picklist `sorces`",
                "T-E031 objects.deal.fields.source.picklist: 未知的选项列表 `sorces`",
            ),
            (
                "T-E035 objects.deal.fields.kind: a picklist field needs `picklist:` (a shared picklist) or `values:`",
                "T-E035 objects.deal.fields.kind: picklist 字段需要 `picklist:`（共享的选项列表）或 `values:`",
            ),
            (
                "T-E041 objects.deal.fields.margin.expression: unknown field `amout` in expression 'amout * 2'",
                "T-E041 objects.deal.fields.margin.expression: 表达式 'amout * 2' 中有未知的字段 `amout`",
            ),
            (
                "T-E040 objects.deal.fields.total.expression: expression does not parse: '(' was never closed "
                "(at character 1 of '(amount + 1')",
                "T-E040 objects.deal.fields.total.expression: 表达式无法解析：'(' 没有闭合（在 '(amount + 1' 的第 1 个字符处）",
            ),
            (
                "T-E044 objects.deal.fields.huge.expression: expression 'amount + 9 ** 9999' exceeds a limit: "
                "9 ** 9999 would have more than 100 digits",
                "T-E044 objects.deal.fields.huge.expression: 表达式 'amount + 9 ** 9999' 超出了限制："
                "9 ** 9999 的结果会超过 100 位",
            ),
            (
                "T-E050 objects.deal.fields.closes.default: default 'soon' does not fit a date field: "
                "'soon' is not a date (use YYYY-MM-DD).",
                "T-E050 objects.deal.fields.closes.default: 默认值 'soon' 不适合 date 字段："
                "'soon' 不是日期（请用 YYYY-MM-DD）。",
            ),
            (
                "T-E060 objects.deal.pipeline.stages[2]: stage `new` is declared twice (also stages[0])",
                "T-E060 objects.deal.pipeline.stages[2]: 阶段 `new` 声明了两次（另一处是 stages[0]）",
            ),
            (
                "T-E161 objects.deal.duplicates[0].match[0].method: unknown matching method `exactly`",
                "T-E161 objects.deal.duplicates[0].match[0].method: 未知的匹配方法 `exactly`",
            ),
            ("T-E080 roles.rep.inherits: unknown role `mangr`", "T-E080 roles.rep.inherits: 未知的角色 `mangr`"),
        ],
        [
            (
                "use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC",
                "请使用 IANA 时区名，例如 Asia/Shanghai、Europe/Berlin 或 UTC",
            ),
            ("swap them", "请交换两者"),
            ("did you mean `sources`?", "是否想写 `sources`？"),
            ("add e.g. `values: [price, competitor, other]`", "请添加，例如 `values: [price, competitor, other]`"),
            ("did you mean `amount`?", "是否想写 `amount`？"),
            ("keep one of them", "请保留其中一个"),
            ("known roles: boss", "已有的角色：boss"),
        ],
    ),
    "schema": (
        SCHEMA,
        [
            ("T-E012 missing required key `trellis`", "T-E012 缺少必需的键 `trellis`"),
            ("T-E010 settings.colour: unknown key `colour`", "T-E010 settings.colour: 未知的键 `colour`"),
            (
                "T-E011 settings.languages: ['en', 'en'] has non-unique elements",
                "T-E011 settings.languages: ['en', 'en'] 含有重复的元素",
            ),
            (
                "T-E011 settings.retention_years: 500 is greater than the maximum of 100",
                "T-E011 settings.retention_years: 500 大于最大值 100",
            ),
            (
                "T-E011 settings.currency: 'eur' does not match '^[A-Z]{3}$'",
                "T-E011 settings.currency: 'eur' 不符合格式 '^[A-Z]{3}$'",
            ),
            ("T-E020 objects.Deal: `Deal` is not a valid name", "T-E020 objects.Deal: `Deal` 不是有效的名称"),
            (
                "T-E011 objects.deal.fields.name.max_length: 0 is less than the minimum of 1",
                "T-E011 objects.deal.fields.name.max_length: 0 小于最小值 1",
            ),
            (
                "T-E011 objects.deal.fields.title.unique: 'yes' is not of type 'boolean'",
                "T-E011 objects.deal.fields.title.unique: 'yes' 不是 'boolean' 类型（true 或 false）",
            ),
            (
                "T-E011 objects.deal.pipeline.stages[1].outcome: 'wonn' is not one of ['open', 'won', 'lost']",
                "T-E011 objects.deal.pipeline.stages[1].outcome: 'wonn' 不是允许的值 ['open', 'won', 'lost'] 之一",
            ),
            (
                "T-E011 objects.deal.pipeline.pipelines.big.when: [] should be non-empty",
                "T-E011 objects.deal.pipeline.pipelines.big.when: [] 不能为空",
            ),
        ],
        [
            ("add `trellis:` here", "请在此处添加 `trellis:`"),
            (
                "use lower_snake_case: a letter, then letters, digits or _",
                "请使用 lower_snake_case：以字母开头，其后是字母、数字或 _",
            ),
            ("did you mean `won`?", "是否想写 `won`？"),
        ],
    ),
    "loader": (
        LOADER,
        [
            (
                "T-E004 settings.languages: key `languages` appears twice in this mapping (first at line 4)",
                "T-E004 settings.languages: 键 `languages` 在此映射中出现了两次（第一次在第 4 行）",
            ),
        ],
        [
            ("remove or rename one of them", "请删除或重命名其中一个"),
            (
                "paths in `extends` are relative to the file that names them",
                "`extends` 中的路径相对于写它的那个文件",
            ),
        ],
    ),
    "templates": (
        TEMPLATES,
        [
            ("T-E011 trellis: 1 was expected", "T-E011 trellis: 此处应为 1"),
            ("T-E242 templates.t.subject: unknown filter `uper`", "T-E242 templates.t.subject: 未知的过滤器 `uper`"),
            (
                "T-E243 templates.t.body: `{% include %}` is not allowed: a notification template cannot read "
                "other templates or files",
                "T-E243 templates.t.body: 不允许使用 `{% include %}`：通知模板不能读取其他模板或文件",
            ),
            (
                "T-E129 templates.u.body: the template exceeds a limit: a power with more than 100 digits",
                "T-E129 templates.u.body: 模板超出限制：幂运算的结果超过了 100 位",
            ),
        ],
        [("did you mean `upper`?", "是否想写 `upper`？")],
    ),
}


def _run(args: list[str], language: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    monkeypatch.setenv("TRELLIS_LANG", language)
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output.splitlines()


def _issues(lines: list[str]) -> list[str]:
    """The issue lines, without their file:line:column."""
    return [line.split(": ", 1)[1] for line in lines if ISSUE.match(line)]


def _places(lines: list[str]) -> list[str]:
    """The file:line:column and code of each issue line."""
    return [found.group(0) for found in map(ISSUE.match, lines) if found]


@pytest.mark.parametrize("name", CASES)
def test_validate_says_each_problem_and_hint_in_chinese_and_in_english(tmp_path, monkeypatch, name):
    text, issues, hints = CASES[name]
    path = tmp_path / "crm.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    zh_code, zh = _run(["validate", str(path)], "zh", monkeypatch)
    en_code, en = _run(["validate", str(path)], "en", monkeypatch)
    assert zh_code == en_code == 1, "\n".join(zh)
    for english, chinese in issues:
        assert english in _issues(en), "\n".join(en)
        assert chinese in _issues(zh), "\n".join(zh)
    for english, chinese in hints:
        assert f"    hint: {english}" in en, "\n".join(en)
        assert f"    提示: {chinese}" in zh, "\n".join(zh)
    # every issue and hint is in Chinese, in the same order and with the same codes and places
    shown = [line for line in zh if ISSUE.match(line) or line.startswith("    提示: ")]
    assert shown and all(CJK.search(line.split(": ", 1)[1]) for line in shown), "\n".join(zh)
    assert _places(zh) == _places(en)
    assert not any(CJK.search(line) for line in en), "\n".join(en)


def test_a_file_that_does_not_parse_or_does_not_exist_is_said_in_chinese(tmp_path, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text("trellis: 1\nobjects:\n  deal: {fields: {name: {type: text}}\n", encoding="utf-8")
    _, zh = _run(["validate", str(broken)], "zh", monkeypatch)
    assert any(line.startswith("T-E001 YAML 语法错误：") for line in _issues(zh)), "\n".join(zh)
    assert "    提示: 请检查此处附近的缩进和引号" in zh
    _, zh = _run(["validate", str(tmp_path / "nothing.yaml")], "zh", monkeypatch)
    assert f"T-E002 找不到文件：{tmp_path / 'nothing.yaml'}" in _issues(zh)


CONFIG = """\
    trellis: 1
    settings: {languages: [zh, en]}
    objects:
      deal:
        fields:
          name: {type: text}
    roles:
      rep: {objects: {deal: {read: all, create: true}}}
    """


def _project(tmp_path: Path) -> Path:
    config = tmp_path / "crm.yaml"
    config.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return config


def test_a_bad_test_file_is_described_in_the_configs_language(tmp_path, monkeypatch):
    config = _project(tmp_path)
    names = tmp_path / "names.yaml"
    names.write_text(
        "given: {users: [{username: ann, role: rep}]}\n"
        "cases:\n  - name: x\n    when: [{create: {object: dael, by: zed}}]\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("TRELLIS_LANG", raising=False)
    result = CliRunner().invoke(main, ["test", str(config), str(names)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert "T-T006 cases[0].when[0].create.object: 未知的对象 'dael'" in _issues(lines)
    assert "T-T008 cases[0].when[0].create.by: 用户 'zed' 不在此用例的 given.users 中" in _issues(lines)
    assert "    提示: 是否想写 `deal`？" in lines
    assert lines[-1] == "测试文件中有 2 处错误。"
    code, lines = _run(["test", str(config), str(names)], "en", monkeypatch)
    assert code == 2
    assert "T-T006 cases[0].when[0].create.object: unknown object 'dael'" in _issues(lines)
    assert "T-T008 cases[0].when[0].create.by: user 'zed' is not in this case's given.users" in _issues(lines)
    assert lines[-1] == "2 errors in the test files."


def test_a_test_file_the_schema_refuses_is_described_in_chinese(tmp_path, monkeypatch):
    config = _project(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "cases:\n  - name: x\n    when: [{worker: {at: tomorrow}}]\n    expct: {}\n  - when: []\n", encoding="utf-8"
    )
    code, lines = _run(["test", str(config), str(bad)], "zh", monkeypatch)
    assert code == 2
    issues = _issues(lines)
    assert "T-T002 cases[0].expct: 未知的键 `expct`" in issues, "\n".join(lines)
    assert "T-T004 cases[0].when[0].worker.at: 'tomorrow' 不是日期时间" in issues
    assert "T-T003 cases[1]: 缺少必需的键 `name`" in issues
    assert "    提示: 请写公司时区的日期和时间：2026-03-02 09:00" in lines
    assert all(CJK.search(line) for line in issues)
