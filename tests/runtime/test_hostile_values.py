"""Hostile values meet the write path: each is refused on its field, quickly, never a 500 or a hang.

Catastrophic regex patterns (RE2 runs them in linear time), expression bombs in
defaults and formulas, control characters and lone surrogates in text.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from engine import Trellis, ValidationFailed
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  item:
    fields:
      name: {type: text}
      code: {type: text, pattern: '^(a+)+$'}
      letters: {type: text, pattern: '\\p{L}+'}
      notes: {type: textarea}
  bomb:
    fields:
      base: {type: integer}
      grown: {type: decimal, default: "=base ** 3999999 * base ** 3999999"}
      power: {type: formula, expression: "base ** 3999999 * base ** 3999999"}
  checked:
    fields:
      n: {type: integer}
    rules:
      - name: sane
        assert: "n ** n > 0"
        field: n
        message: never shown
  ticket:
    fields:
      name: {type: text}
      count: {type: integer}
templates:
  spam:
    subject: "Ticket {{ record.name }}"
    body: "{% for i in range(record.raw.count) %}{% for j in range(record.raw.count) %}{{ record.name }}{% endfor %}{% endfor %}"
automations:
  - {name: shout, object: ticket, on: created, do: [{notify: {to: [owner], template: spam}}]}
roles:
  admin:
    objects: {"*": {read: all, edit: all, delete: all, create: true}}
"""


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    yield crm
    crm.close()


def refused(crm: Trellis, values: dict, object_name: str = "item") -> dict[str, list[str]]:
    """The error codes per field of a create that must be refused."""
    with pytest.raises(ValidationFailed) as info, crm.session() as session:
        session.create(object_name, values)
    return {name: [e.code for e in errors] for name, errors in info.value.errors.items()}


def test_a_catastrophic_pattern_answers_in_linear_time(crm):
    started = time.process_time()
    assert refused(crm, {"code": "a" * 50 + "!"}) == {"code": ["pattern"]}
    assert time.process_time() - started < 0.5  # Python's backtracking `re` takes minutes here
    with crm.session() as session:
        assert session.create("item", {"code": "a" * 50, "letters": "Grüße"})["letters"] == "Grüße"
    assert refused(crm, {"letters": "abc1"}) == {"letters": ["pattern"]}


def test_an_expression_bomb_is_a_quick_field_error_not_minutes_of_cpu(crm):
    started = time.process_time()
    assert refused(crm, {"base": 9}, "bomb") == {"grown": ["default_failed"], "power": ["expression_limit"]}
    assert refused(crm, {"n": 3_999_999}, "checked") == {"n": ["expression_limit"]}
    assert time.process_time() - started < 1  # 9 ** 3999999 * 9 ** 3999999 alone took 10 s before
    with pytest.raises(ValidationFailed) as info, crm.session() as session:
        session.create("bomb", {"base": 9})
    assert "more than 100 digits" in info.value.errors["power"][0].message
    with crm.session() as session:  # small values still compute
        assert session.create("bomb", {"base": 1})["power"] == 1


def test_control_characters_and_lone_surrogates_are_field_errors(crm):
    assert refused(crm, {"name": "Ann\x07", "code": "aa\x00"}) == {
        "name": ["control_character"],
        "code": ["control_character"],
    }
    assert refused(crm, {"name": "two\nlines", "notes": "bell \x1b[31m"}) == {
        "name": ["control_character"],
        "notes": ["control_character"],
    }
    assert refused(crm, {"name": "tab\there"}) == {"name": ["control_character"]}
    assert refused(crm, {"name": "half \ud83d emoji", "notes": "\udc00"}) == {
        "name": ["invalid_character"],
        "notes": ["invalid_character"],
    }
    with pytest.raises(ValidationFailed) as info, crm.session() as session:
        session.create("item", {"name": "a\nb"})
    assert (
        info.value.errors["name"][0].message
        == "Control character U+000A is not allowed (this field holds a single line: no tabs or line breaks)."
    )
    with crm.session() as session:  # a textarea keeps tabs and line breaks; edges are trimmed as before
        record = session.create("item", {"name": " Grüße 😀\n", "notes": "line 1\r\n\tline 2"})
    assert (record["name"], record["notes"]) == ("Grüße 😀", "line 1\r\n\tline 2")


def test_a_template_that_would_render_megabytes_fails_its_run_quickly(crm):
    started = time.process_time()
    with crm.session() as session:  # 999 x 999 copies of a 200-character name: 200 MB before the cap
        record = session.create("ticket", {"name": "x" * 200, "count": 999})
        small = session.create("ticket", {"name": "ok", "count": 2})
    assert time.process_time() - started < 2
    runs = crm.schema.system["sys_automation_runs"]
    with crm.engine.connect() as conn:
        found = {row.record_id: (row.status, row.error) for row in conn.execute(sa.select(runs))}
    status, error = found[record.id]
    assert status == "failed" and "longer than 100,000 characters" in error
    assert found[small.id] == ("done", None)
    with crm.session() as session:  # the user's change is kept
        assert session.get("ticket", record.id)["count"] == 999
