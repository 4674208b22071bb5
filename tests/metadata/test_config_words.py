"""A config's errors, warnings and hints are written in every language Trellis speaks.

Each check reports its problem with ``Words(en, zh)`` (engine/metadata/errors.py): the CLI shows
the issue in ``TRELLIS_LANG`` or the config's first language. The first test reads the checks'
code and fails on a message or hint given as a bare English string; the others run the CLI as an
admin would and read what it prints.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parents[2]
CHECKED = sorted((ROOT / "engine" / "metadata").glob("*.py")) + [ROOT / "engine/runtime/configtests/loading.py"]
CODE = re.compile(r"T-[EWT]\d{3}$")
CJK = re.compile(r"[\u4e00-\u9fff]")

#: Where the message and the hint stand in each way a check reports an issue.
POSITIONS = {"issue": (2, 3), "warn": (2, 3), "_add": (1, 3), "_issue": (1, 4), "of": (1, 4)}


def _english_only(node: ast.AST | None) -> bool:
    """Whether ``node`` is a text written in English alone: a literal, an f-string, a sum or
    ``.format``/``.join`` of them, or such a text as one branch of ``or``/``… if … else …``."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _english_only(node.left) or _english_only(node.right)
    if isinstance(node, ast.BoolOp):
        return any(_english_only(value) for value in node.values)
    if isinstance(node, ast.IfExp):
        return _english_only(node.body) or _english_only(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in {"format", "join"} and _english_only(node.func.value)
    return False


def _texts(node: ast.AST) -> list[ast.AST | None]:
    """The message and hint of an issue reported at ``node`` (a call or a problem tuple), if it is one."""
    if isinstance(node, ast.Tuple) and len(node.elts) >= 2:
        first = node.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and CODE.match(first.value):
            return list(node.elts[1:3])
        return []
    if not isinstance(node, ast.Call) or not node.args:
        return []
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    first = node.args[0]
    if name not in POSITIONS or not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return []
    if not CODE.match(first.value):
        return []
    found = [node.args[i] if i < len(node.args) else None for i in POSITIONS[name]]
    return found + [k.value for k in node.keywords if k.arg in {"message", "hint"}]


def english_only_texts(path: Path) -> list[str]:
    """``file:line code`` of each issue in ``path`` whose message or hint is English alone."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        for text in _texts(node):
            if _english_only(text):
                code = node.elts[0] if isinstance(node, ast.Tuple) else node.args[0]  # type: ignore[attr-defined]
                found.append(f"{path.relative_to(ROOT)}:{text.lineno} {code.value}")  # type: ignore[union-attr]
    return found


#: Files whose checks are still being translated (empty when every check speaks zh and en).
NOT_YET: set[str] = set()


def test_every_config_issue_is_written_in_chinese_and_english():
    found = [hit for path in CHECKED if path.name not in NOT_YET for hit in english_only_texts(path)]
    assert found == [], "messages or hints in English only (give them as Words(en, zh)):\n" + "\n".join(found)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crm.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


BROKEN = """\
    trellis: 1
    settings:
      languages: [LANGUAGES]
      retention_years: 3
    objects:
      lead:
        retention: {years: 2, from: closd_on}
        fields:
          name: {type: text}
          closed_on: {type: date}
    """


@pytest.mark.parametrize("languages", ["zh, en", "en"])
def test_validate_speaks_the_configs_first_language(tmp_path, monkeypatch, languages):
    monkeypatch.delenv("TRELLIS_LANG", raising=False)
    path = _write(tmp_path, BROKEN.replace("LANGUAGES", languages))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    if languages.startswith("zh"):
        assert "T-E271 objects.lead.retention.from: `closd_on` 既不是 lead 的字段，也不是系统日期列" in result.output
        assert "    提示: 是否想写 `closed_on`？" in lines
        assert "配置中有 1 处错误。" in lines
    else:
        assert "T-E271 objects.lead.retention.from: `closd_on` is neither a field of lead nor a system date column" in (
            result.output
        )
        assert "    hint: did you mean `closed_on`?" in lines
        assert "1 error in the config." in lines


def test_trellis_lang_overrides_the_configs_language(tmp_path, monkeypatch):
    path = _write(tmp_path, BROKEN.replace("LANGUAGES", "en"))
    monkeypatch.setenv("TRELLIS_LANG", "zh_CN.UTF-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "既不是 lead 的字段" in result.output and "配置中有 1 处错误。" in result.output
    fixed = _write(tmp_path, BROKEN.replace("LANGUAGES", "en").replace("closd_on", "closed_on"))
    result = CliRunner().invoke(main, ["validate", str(fixed)])
    assert result.exit_code == 0, result.output
    assert f"{fixed} 有效：1 个对象" in result.output
