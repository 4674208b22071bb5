"""``trellis test`` as a consultant meets it: a failing expectation says which step, what was
expected and what happened (exit 1); a bad test file says where and why, with its T-T code
(exit 2); ``-k`` picks cases; ``--junit`` writes JUnit XML; ``--db`` runs on PostgreSQL in a
schema of its own, dropped afterwards.

A small config keeps these fast; the samples' suites are tests/test_ctest_samples.py.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.runtime.configtests.sandbox import SCHEMA_PREFIX
from engine.runtime.configtests.words import WORDS

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, company: Acme}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
      notes: {type: textarea}
    pipeline:
      stages:
        - {key: new}
        - {key: proposal, requires: [amount]}
        - {key: won, outcome: won}
        - {key: lost, outcome: lost}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true}}
    hidden: [deal.notes]
  boss:
    objects: {deal: {read: all}}
"""

SUITE = """\
given:
  at: 2026-03-02 09:00
  users:
    - {username: ann, role: rep}
    - {username: ben, role: rep}
    - {username: bea, role: boss}
cases:
  - name: a proposal needs an amount
    when:
      - create: {object: deal, as: d, by: ann, values: {name: Big}}
        expect: {stage: new, owner: ann, readable_by: [ann, bea], not_readable_by: [ben], hidden_from: {ann: [notes]}}
      - move: {record: d, to: proposal, by: ann}
        expect:
          error: {field: amount, code: required_for_stage}
      - move: {record: d, to: proposal, by: ann, values: {amount: 5000}}
        expect: {stage: proposal, values: {amount: 5000}, shown: {amount: "$5,000.00"}}
  - name: others' deals are out of reach
    when:
      - create: {object: deal, as: d, by: ann, values: {name: Big}}
      - update: {record: d, by: ben, values: {name: Mine}}
        expect:
          error: {code: not_found}
"""


@pytest.fixture
def project(tmp_path):
    """A config with its suite where ``trellis test`` finds it: ``<folder>/tests/<config name>/``."""
    (tmp_path / "crm.yaml").write_text(CONFIG, encoding="utf-8")
    folder = tmp_path / "tests" / "crm"
    folder.mkdir(parents=True)
    (folder / "deals.yaml").write_text(SUITE, encoding="utf-8")
    return tmp_path


def trellis_test(*args):
    return CliRunner().invoke(main, ["test", *map(str, args)])


def test_a_passing_suite_is_found_next_to_the_config_and_exits_0(project):
    result = trellis_test(project / "crm.yaml")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == ["PASS a proposal needs an amount", "PASS others' deals are out of reach"]
    assert "2 passed, 0 failed" in result.output


def test_a_case_of_its_own_time_starts_there_and_the_others_share_the_files_start(project):
    timed = project / "timed.yaml"
    timed.write_text(
        "given:\n"
        "  at: 2026-03-02 09:00\n"
        "  users: [{username: ann, role: rep}]\n"
        "  records: [{object: deal, as: d, owner: ann, values: {name: Big}}]\n"
        "cases:\n"
        "  - name: the file's time\n"
        "    when: [{update: {record: d, by: ann, values: {amount: 1}}, expect: {values: {created_at: 2026-03-02 09:00}}}]\n"
        "  - name: its own time\n"
        "    given: {at: 2026-05-04 10:30, users: [{username: bo, role: boss}]}\n"
        "    when: [{update: {record: d, by: ann, values: {amount: 2}}, expect: {values: {created_at: 2026-05-04 10:30, updated_at: 2026-05-04 10:30}, readable_by: [bo]}}]\n"
        "  - name: the file's time again, its own users\n"
        "    given: {users: [{username: bo, role: boss}]}\n"
        "    when: [{update: {record: d, by: ann, values: {amount: 3}}, expect: {values: {amount: 3, created_by: null, owner_id: ann}, readable_by: [bo]}}]\n",
        encoding="utf-8",
    )
    result = trellis_test(project / "crm.yaml", timed)
    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.output


def test_a_failing_expectation_names_the_step_what_was_expected_and_what_happened(project):
    failing = project / "failing.yaml"
    failing.write_text(
        SUITE.replace(
            "expect: {stage: proposal, values: {amount: 5000}", "expect: {stage: won, values: {amount: 5000}"
        ).replace("error: {code: not_found}", "error: {code: forbidden}"),
        encoding="utf-8",
    )
    result = trellis_test(project / "crm.yaml", failing)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        "FAIL a proposal needs an amount",
        f"    step 3 (move `d` to stage proposal as ann) at {failing}:15:9",
        "    expected: stage Won (won)",
        "    got:      stage Proposal (proposal)",
    ]
    assert lines[4:8] == [
        "FAIL others' deals are out of reach",
        f"    step 2 (update `d` as ben) at {failing}:20:9",
        "    expected: error forbidden",
        "    got:      error not_found: deal 1 not found",
    ]
    assert "0 passed, 2 failed" in result.output and "Traceback" not in result.output


def test_an_unexpected_refusal_is_told_in_the_users_words(project):
    refused = project / "refused.yaml"
    refused.write_text(
        "given: {users: [{username: ann, role: rep}]}\n"
        "cases:\n"
        "  - name: no name\n"
        "    when:\n"
        "      - create: {object: deal, by: ann, values: {amount: 1}}\n",
        encoding="utf-8",
    )
    result = trellis_test(project / "crm.yaml", refused)
    assert result.exit_code == 1
    assert "    expected: success\n    got:      error required on name: Name is required." in result.output
    given = project / "given.yaml"
    given.write_text(
        "given: {users: [{username: ann, role: rep}], records: [{object: deal, owner: ann, values: {amount: 1}}]}\n"
        "cases: [{name: bad start, when: [{clock: {at: 2026-03-02 10:00}}]}]\n",
        encoding="utf-8",
    )
    result = trellis_test(project / "crm.yaml", given)
    assert result.exit_code == 1
    assert result.output.splitlines()[:4] == [
        "FAIL bad start",
        f"    given (the records and users the case starts from) at {given}:1:56",
        "    expected: success",
        "    got:      error required on name: Name is required.",
    ]


BAD_FILES = [
    ("cases: [\n", "T-T001", 2, 1, "YAML syntax error"),
    (
        "cases:\n  - name: x\n    when: [{create: {object: deal}}]\n    expct: {}\n",
        "T-T002",
        4,
        5,
        "unknown key `expct`",
    ),
    ("cases:\n  - when: [{create: {object: deal}}]\n", "T-T003", 2, 5, "missing required key `name`"),
    (
        "cases:\n  - name: x\n    when: [{worker: {at: tomorrow}}]\n",
        "T-T004",
        3,
        26,
        "'tomorrow' is not a date and time",
    ),
    ("cases:\n  - name: x\n    when: [{expect: {exists: true}}]\n", "T-T005", 3, 12, "names none"),
    ("cases:\n  - name: x\n    when: [{create: {object: dael}}]\n", "T-T006", 3, 30, "unknown object 'dael'"),
    ("cases:\n  - name: x\n    when: [{delete: {record: d}}]\n", "T-T007", 3, 30, "no record is called 'd' yet"),
    ("cases:\n  - name: x\n    when: [{create: {object: deal, by: zed}}]\n", "T-T008", 3, 40, "user 'zed' is not in"),
    (
        "cases:\n  - {name: x, when: [{clock: {at: 2026-03-02 09:00}}]}\n"
        "  - {name: x, when: [{clock: {at: 2026-03-02 09:00}}]}\n",
        "T-T009",
        3,
        5,
        "a case named 'x' comes twice",
    ),
]


@pytest.mark.parametrize(("text", "code", "line", "column", "message"), BAD_FILES, ids=[b[1] for b in BAD_FILES])
def test_a_bad_test_file_says_where_and_what_and_exits_2(project, text, code, line, column, message):
    bad = project / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    result = trellis_test(project / "crm.yaml", bad)
    assert result.exit_code == 2, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"{bad}:{line}:{column}: {code} "), result.output
    assert message in first, result.output
    assert "error in the test files." in result.output and "Traceback" not in result.output


def test_no_test_file_is_an_error_saying_where_they_were_looked_for(tmp_path):
    (tmp_path / "crm.yaml").write_text(CONFIG, encoding="utf-8")
    result = trellis_test(tmp_path / "crm.yaml")
    assert result.exit_code == 2
    assert f"T-T010 no test file found in {tmp_path / 'tests' / 'crm'}" in result.output


def test_k_runs_the_matching_cases_only(project):
    result = trellis_test(project / "crm.yaml", "-k", "REACH")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "PASS others' deals are out of reach"
    assert "1 passed, 0 failed" in result.output
    nothing = trellis_test(project / "crm.yaml", "-k", "nothing like this")
    assert nothing.exit_code == 1 and "No case matches -k 'nothing like this'." in nothing.output


def test_junit_xml_has_a_suite_per_file_and_a_failure_per_failed_case(project):
    (project / "tests" / "crm" / "more.yaml").write_text(
        SUITE.replace("error: {code: not_found}", "error: {code: forbidden}").replace(
            "name: a proposal", "name: another proposal"
        ),
        encoding="utf-8",
    )
    out = project / "results.xml"
    result = trellis_test(project / "crm.yaml", "--junit", out)
    assert result.exit_code == 1
    root = ET.parse(out).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "4", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["deals", "more"]
    assert [(c.get("name"), c.find("failure") is not None) for c in suites["more"].findall("testcase")] == [
        ("another proposal needs an amount", False),
        ("others' deals are out of reach", True),
    ]
    failure = suites["more"].find('testcase[@name="others\' deals are out of reach"]/failure')
    assert failure is not None and failure.get("message", "").startswith("step 2 (update `d` as ben)")
    assert "error forbidden" in (failure.text or "")


def test_db_takes_a_postgresql_url_only(project):
    result = trellis_test(project / "crm.yaml", "--db", "sqlite:///other.db")
    assert result.exit_code == 2 and "give a PostgreSQL URL" in result.output


@pytest.mark.skipif(not os.environ.get("TRELLIS_TEST_DATABASE_URL"), reason="needs TRELLIS_TEST_DATABASE_URL")
def test_db_runs_on_postgresql_in_a_schema_of_its_own_dropped_afterwards(project):
    url = os.environ["TRELLIS_TEST_DATABASE_URL"]
    engine = sa.create_engine(url)

    def schemas() -> set[str]:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_schema_names())

    before = schemas()
    result = trellis_test(project / "crm.yaml", "--db", url)
    after = schemas()
    engine.dispose()
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output
    assert not {s for s in after - before if s.startswith(SCHEMA_PREFIX)}


def test_every_sentence_of_the_runner_is_in_english_and_chinese():
    assert all(set(texts) == {"en", "zh"} and all(texts.values()) for texts in WORDS.values())


def test_the_schema_the_registries_and_the_reference_agree():
    """Every step kind and expectation of the test-file schema is run by a registered object and
    documented as an entry of docs/config-reference.md#testing-a-config, and every T-T code too."""
    import json
    import re

    from engine.runtime.configtests import loading
    from engine.runtime.configtests.expectations import EXPECTATIONS
    from engine.runtime.configtests.steps import STEPS
    from tests.conftest import ROOT

    schema = json.loads(loading.SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]
    steps = set(schema["step"]["properties"]) - {"expect"}
    expectations = set(schema["expect"]["properties"])
    assert steps == set(STEPS) == set(loading.STEP_KINDS)
    assert expectations == set(EXPECTATIONS) | {"error", "record"}
    reference = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    section = reference[reference.index("## Testing a config") : reference.index("## Error codes")]
    entries = set(re.findall(r"^- `([a-z_]+)`", section, flags=re.MULTILINE))
    entries |= {
        name for pair in re.findall(r"^- `([a-z_]+)` / `([a-z_]+)`", section, flags=re.MULTILINE) for name in pair
    }
    entries |= {
        name for pair in re.findall(r"^- `([a-z_]+)`, `([a-z_]+)`", section, flags=re.MULTILINE) for name in pair
    }
    assert steps | expectations <= entries, sorted((steps | expectations) - entries)
    codes = re.findall(r"^(T-T\d{3})\s", loading.__doc__ or "", flags=re.MULTILINE)
    assert codes and set(codes) == set(re.findall(r"^\| `(T-T\d{3})` \|", section, flags=re.MULTILINE))
