"""A corpus of hostile config files (tests/metadata/hostile/, and a few generated here that
are too big to commit): `trellis validate` answers each with exit 1 and a located error with
its code — or exit 0 where the file is legitimately valid — never a traceback, never a hang.

The time bound only guards against hangs (a generous 5 s per file; each takes well under
2 s, the slowest — 100,000 values — about 1 s), it is no benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

pytestmark = pytest.mark.no_database

HOSTILE = Path(__file__).parent / "hostile"
#: Seconds of this process's CPU after which a file counts as hanging the validator (CPU time, not
#: wall time: a machine busy with other work slows the wall clock, not the work done here).
HANG_GUARD = 5

#: File → the code `trellis validate` answers with (None: the file is valid).
EXPECTED: dict[str, str | None] = {
    "alias_bomb.yaml": "T-E009",  # billion laughs: 9**9 values in 300 bytes
    "bidi_override_name.yaml": "T-E020",  # U+202E in an object's name
    "binary_tag.yaml": "T-E007",
    "bom.yaml": None,  # a UTF-8 byte order mark is fine
    "deep_json.json": "T-E008",
    "deep_nesting.yaml": "T-E008",
    "deeper_than_the_parser.yaml": "T-E001",  # 10,000 brackets: libyaml stops first
    "empty.yaml": "T-E012",
    "escape_sequence_name.yaml": "T-E020",  # ESC[2J in a name: shown escaped
    "extends_cycle_a.yaml": "T-E003",
    "extends_cycle_b.yaml": "T-E003",
    "extends_dev_stdin.yaml": "T-E006",  # never reads (and waits on) standard input
    "extends_dev_zero.yaml": "T-E006",
    "extends_etc_passwd.yaml": "T-E013",
    "extends_folder.yaml": "T-E006",
    "extends_missing.yaml": "T-E002",
    "extends_not_text.yaml": "T-E011",
    "extends_self.yaml": "T-E003",
    "formula_bomb.yaml": "T-E044",  # 9**9**9**9
    "formula_deep_parens.yaml": "T-E040",  # 5,000 parentheses
    "formula_long_chain.yaml": "T-E040",  # 1 + 1 + … 20,000 times
    "formula_string_bomb.yaml": "T-E044",  # 'ab' * 10**12
    "huge_default.yaml": "T-E247",  # a 5,000-digit integer
    "huge_float.yaml": "T-E011",  # 1e999999 is infinity
    "huge_key.yaml": "T-E001",  # a 100,000-character key
    "huge_number.yaml": "T-E247",
    "invalid_utf8.yaml": "T-E001",
    "list_top.yaml": "T-E011",
    "many_duplicate_keys.yaml": "T-E004",
    "many_unknown_keys.yaml": "T-E010",
    "merge_abuse.yaml": "T-E011",  # <<: 1
    "merge_of_aliases.yaml": "T-E010",  # <<: [*b, *b, …] twice
    "non_string_keys.yaml": "T-E020",  # 1: (then T-E011 for ? [a, b])
    "nul_bytes.yaml": "T-E001",
    "null_key.yaml": "T-E020",
    "only_a_comment.yaml": "T-E012",
    "python_name_tag.yaml": "T-E007",
    "python_tag.yaml": "T-E007",  # !!python/object/apply:os.system
    "redos_pattern.yaml": None,  # ^(a+)+$ runs in linear time on RE2
    "regex_backreference.yaml": "T-E074",
    "regex_giant.yaml": None,  # 5,000 alternations: RE2 compiles it in linear time
    "scalar_top.yaml": "T-E011",
    "self_alias.yaml": "T-E008",  # &a {company: *a}
    "set_tag.yaml": "T-E007",
    "tabs.yaml": "T-E001",
    "template_bomb.yaml": "T-E129",  # range(10**9) twice
    "template_extends.yaml": "T-E243",
    "template_include_passwd.yaml": "T-E243",
    "template_sandbox_escape.yaml": "T-E248",  # ''.__class__.__mro__
    "unicode_confusable_name.yaml": "T-E020",  # a Cyrillic а
    "utf16.yaml": "T-E001",
    "utf16_no_bom.yaml": "T-E001",
}


def _forty_megabytes(folder: Path) -> Path:
    path = folder / "forty_mb.yaml"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("trellis: 1\npicklists:\n  p:\n    values:\n")
        chunk = "      - value\n" * 10_000
        for _ in range(40 * 1024 * 1024 // len(chunk) + 1):
            handle.write(chunk)
    return path


def _ten_megabyte_string(folder: Path) -> Path:
    path = folder / "ten_mb_string.yaml"
    path.write_text("trellis: 1\nsettings:\n  company: " + "x" * (10 * 1024 * 1024) + "\n", encoding="utf-8")
    return path


def _hundred_thousand_entries(folder: Path) -> Path:
    path = folder / "list.yaml"
    values = ", ".join(f"t{i}" for i in range(100_000))
    path.write_text(f"trellis: 1\nobjects: {{lead: {{fields: {{name: {{type: tags, values: [{values}]}}}}}}}}\n")
    return path


def _endless_extends(folder: Path) -> Path:
    for i in range(40):
        (folder / f"chain{i}.yaml").write_text(f"trellis: 1\nextends: chain{i + 1}.yaml\n", encoding="utf-8")
    return folder / "chain0.yaml"


#: Generated in the test's folder (too big to commit): name → (writer, code).
GENERATED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "forty_mb": (_forty_megabytes, "T-E005"),
    "ten_mb_string": (_ten_megabyte_string, "T-E005"),
    "hundred_thousand_entries": (_hundred_thousand_entries, "T-E009"),
    "endless_extends": (_endless_extends, "T-E014"),
}


def test_vcheck_the_corpus_is_complete():
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) + len(GENERATED) >= 30


@pytest.mark.parametrize("name", [*EXPECTED, *GENERATED])
def test_vcheck_validate_answers_a_hostile_file(name, tmp_path):
    if name in GENERATED:
        write, code = GENERATED[name]
        path = write(tmp_path)
    else:
        path, code = HOSTILE / name, EXPECTED[name]
    started = time.process_time()
    result = CliRunner().invoke(main, ["validate", str(path)])
    elapsed = time.process_time() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert elapsed < HANG_GUARD, f"{name}: {elapsed:.1f} s — a hang guard, not a benchmark"
    if code is None:
        assert result.exit_code == 0 and "is valid" in result.output, result.output
        return
    assert result.exit_code == 1, result.output
    first = result.output.splitlines()[0]
    assert f": {code} " in first or first.startswith(f"{code} ") or f" {code} " in first, result.output[:500]
    assert "\x1b" not in result.output and "\u202e" not in result.output  # names are shown escaped
