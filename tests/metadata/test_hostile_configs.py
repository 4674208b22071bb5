"""Hostile config files: each gives one bounded, located error with a code and a hint,
never a traceback or a hang (T-E005…T-E009, T-E013, T-E014, and YAML's merge key).

The style is tests/metadata/test_checker.py's: the code, ``file:line:column``, the
dotted path and the hint an author sees.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.metadata import ConfigError, load_config
from engine.metadata.loader import MAX_FILE_BYTES
from tests.metadata.test_checker import assert_issue, issues_of, only_issue

pytestmark = pytest.mark.no_database

#: Nine aliases of nine aliases…: 9**9 (387 million) values once expanded, in 300 bytes.
BILLION_LAUGHS = "trellis: 1\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.fixture
def config_file(tmp_path: Path):
    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


def test_E005_a_file_over_the_size_cap(config_file, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("trellis: 1\n" + "#" * MAX_FILE_BYTES, encoding="utf-8")
    assert_issue(only_issue(big), "T-E005", f"{big}:1:1", "", "split it with `extends`")
    path = config_file("trellis: 1\nextends: big.yaml\n")
    issue = only_issue(path)
    assert_issue(issue, "T-E005", f"{path}:2:10", "extends")
    assert "at most 1,048,576" in issue.message


def test_E006_extends_a_device_or_a_folder(config_file, tmp_path):
    path = config_file("trellis: 1\nextends: /dev/zero\n")
    issue = only_issue(path)
    assert_issue(issue, "T-E006", f"{path}:2:10", "extends", "name a YAML or JSON file")
    assert issue.message == "/dev/zero is not a regular file"
    assert_issue(only_issue(tmp_path), "T-E006", f"{tmp_path}:1:1", "")


def test_E007_python_and_other_tags_are_refused(config_file):
    path = config_file("""
        trellis: 1
        settings:
          company: !!python/name:os.system
        objects: !!python/object/apply:os.system [echo hacked]
        """)
    company, objects = issues_of(path)  # and no second error on the refused values
    assert_issue(company, "T-E007", f"{path}:3:12", "settings.company", "without `!!` tags")
    assert "`!!python/name:os.system`" in company.message
    assert_issue(objects, "T-E007", f"{path}:4:10", "objects")


def test_E008_deep_nesting(config_file):
    path = config_file("trellis: 1\nx: " + "[" * 60 + "]" * 60 + "\n")
    issue = only_issue(path)
    assert_issue(issue, "T-E008", f"{path}:2:{4 + 50}", "x[0][0]…", "runaway bracket")
    path = config_file("trellis: 1\nx: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert only_issue(path).code == "T-E001"  # libyaml stops at 1,000 levels: no RecursionError


def test_E009_alias_bomb_stops_at_the_value_cap(config_file):
    path = config_file(BILLION_LAUGHS)
    started = time.process_time()
    issue = only_issue(path)
    assert time.process_time() - started < 1  # counted before expanding: no 387 million values built
    assert_issue(issue, "T-E009", f"{path}:7:4", "f", "an alias that repeats another alias multiplies")
    assert "more than 100,000 values" in issue.message


def test_E013_extends_a_file_that_is_not_a_config(config_file):
    config_file("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", "passwd")
    config_file("- a\n- b\n", "list.yaml")
    path = config_file("trellis: 1\nextends: passwd\n")
    issue = only_issue(path)
    assert_issue(issue, "T-E013", f"{path}:2:10", "extends", "YAML or JSON template")
    assert issue.message == "`passwd` is not a Trellis config: it holds text, not a mapping of keys"
    path = config_file("trellis: 1\nextends: list.yaml\n")
    assert "it holds a list" in only_issue(path).message


def test_E014_a_thousand_deep_extends_chain(config_file):
    for index in range(1, 1000):
        config_file(f"extends: t{index + 1}.yaml\n", f"t{index}.yaml")
    config_file("trellis: 1\n", "t1000.yaml")
    path = config_file("trellis: 1\nextends: t1.yaml\n")
    issue = only_issue(path)
    assert issue.code == "T-E014" and issue.path == "extends" and "more than 20 templates" in issue.message
    assert str(issue.location).endswith("/t19.yaml:1:10")


def test_yaml_merge_key_copies_an_anchored_mapping(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              first_name: &short {type: text, max_length: 40, required: false}
              last_name: {<<: *short, required: true}
              both: {<<: [{type: text, max_length: 5}, *short]}
        """)
    fields = load_config(path).objects["lead"].fields
    assert (fields["last_name"].type, fields["last_name"].max_length, fields["last_name"].required) == (
        "text",
        40,
        True,
    )
    assert fields["both"].max_length == 5  # the earlier merged mapping wins
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {<<: text}
        """)
    issues = issues_of(path)
    assert_issue(issues[0], "T-E011", f"{path}:5:18", "objects.lead.fields.name.<<", "`<<: *anchor`")


def test_validate_answers_hostile_files_with_exit_1_and_no_traceback(config_file, tmp_path):
    cases = {
        "bomb.yaml": (BILLION_LAUGHS, "T-E009"),
        "zero.yaml": ("trellis: 1\nextends: /dev/zero\n", "T-E006"),
        "tag.yaml": ("trellis: 1\nx: !!python/name:os.system\n", "T-E007"),
        "deep.yaml": ("x: " + "[" * 10_000 + "]" * 10_000 + "\n", "T-E001"),
        "merge.yaml": ("trellis: 1\nobjects: {<<: 1}\n", "T-E011"),
    }
    for name, (text, code) in cases.items():
        path = config_file(text, name)
        result = CliRunner().invoke(main, ["validate", str(path)])
        assert result.exit_code == 1, (name, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
        assert code in result.output and "Traceback" not in result.output, (name, result.output)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "bomb.yaml")


def test_E044_an_expression_bomb_is_refused_when_the_config_loads(config_file):
    path = config_file("""
        trellis: 1
        objects:
          lead:
            fields:
              amount: {type: decimal}
              big: {type: decimal, default: "=9**9**9"}
              huge: {type: formula, expression: "amount + 9**3999999 * 9**3999999"}
              long: {type: textarea, default: "='x' * 10**9"}
              fine: {type: formula, expression: "amount * (1 + 0.05) ** 30"}
        """)
    started = time.process_time()
    big, huge, long = issues_of(path)
    assert time.process_time() - started < 2
    assert_issue(big, "T-E044", f"{path}:6:37", "objects.lead.fields.big.default", "at most 100 digits")
    assert "9 ** 387420489 would have more than 100 digits" in big.message
    assert_issue(huge, "T-E044", f"{path}:7:41", "objects.lead.fields.huge.expression")
    assert_issue(long, "T-E044", f"{path}:8:39", "objects.lead.fields.long.default")
    assert "longer than 100,000" in long.message


def test_E129_a_template_over_a_rendering_limit_whatever_the_record(config_file):
    path = config_file("""
        trellis: 1
        templates:
          loop: {subject: Hi, body: "{% for i in range(10**7) %}x{% endfor %}"}
          macro: {subject: "{% macro f(x) %}{{ f(x ~ x) }}{% endmacro %}{{ f('a') }}", body: ok}
          wide: {subject: Hi, body: "{{ '%999999999d'|format(1) }} {{ 'x' * 10**9 }}"}
          fine: {subject: "{{ record.name }}", body: "{% for i in range(3) %}{{ i }}{% endfor %} {{ '%5d'|format(2) }}"}
        """)
    loop, macro, wide = issues_of(path)
    assert_issue(loop, "T-E129", f"{path}:3:29", "templates.loop.body", "loops may run 1,000 times")
    assert "range() may give at most 1,000 items (10,000,000 asked)" in loop.message
    assert_issue(macro, "T-E129", f"{path}:4:20", "templates.macro.subject")
    assert "macros" in macro.message
    assert_issue(wide, "T-E129", f"{path}:5:29", "templates.wide.body")
    assert "a width of 999,999,999" in wide.message
