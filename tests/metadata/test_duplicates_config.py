"""Duplicate rules in the config (issue 14 §1): the matching methods' pairs that match and the
near misses that must not, Chinese and English; the compiled rules; every error code
T-E160…T-E165 with its path, message and hint. Pure Python: no database."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.matching import METHODS
from engine.metadata.model import DuplicateRule, MatchCriterion

pytestmark = pytest.mark.no_database

#: (method, a, b, matches at the method's default threshold)
PAIRS = [
    ("exact", "91310000MA1K", "91310000MA1K", True),
    ("exact", "91310000MA1K", "91310000ma1k", False),
    ("normalized", "ＡＣＭＥ-Trading", "acme trading", True),
    ("normalized", "Acme Trading", "Acme Tradings", False),
    ("phone", "+8613800138000", "+86 138-0013-8000", True),
    ("phone", "+8613800138000", "+8613800138001", False),
    ("email", "John.Doe+crm@Gmail.com", "johndoe@gmail.com", True),
    ("email", "wang+news@outlook.com", "WANG@outlook.com", True),
    ("email", "john+crm@example.com", "john@example.com", False),  # a provider whose +tag may mean another box
    ("person_name", "张 伟", "张伟", True),
    ("person_name", "张伟", "张玮", False),
    ("person_name", "John Smith", "Smith, John", True),
    ("person_name", "John Smith", "Jon Smith", True),
    ("person_name", "John Smith", "Jane Smith", False),
    ("company_name", "上海云帆软件科技有限公司", "云帆软件（上海）有限公司", True),
    ("company_name", "云帆软件股份有限公司", "云帆软件集团", True),
    ("company_name", "云帆软件有限公司", "云海软件有限公司", False),
    ("company_name", "Acme Co., Ltd.", "ACME Inc.", True),
    ("company_name", "Acme GmbH", "Acne GmbH", False),
    ("company_name", "Northwind Traders Ltd", "Northwind Trading Co", False),
    ("fuzzy", "Annual licence renewal", "renewal of annual licence", True),
    ("fuzzy", "Annual licence renewal", "Annual support renewal", False),
    ("fuzzy", "北京大学附属中学", "北京大学附属小学", False),
]


@pytest.mark.parametrize(("method", "a", "b", "expected"), PAIRS)
def test_each_method_matches_its_pairs_and_not_the_near_misses(method, a, b, expected):
    kind = METHODS[method]
    threshold = kind.default_threshold or 1.0
    assert (kind.compare(a, b) >= threshold) is expected
    if expected:  # a match is found through the blocking keys: the two share one at least
        assert kind.keys(a) & kind.keys(b)


BASE = """
trellis: 1
objects:
  account:
    fields:
      name: {type: text, required: true}
      credit_code: {type: text}
      phone: {type: phone}
      tags: {type: tags, values: [a, b]}
      secret: {type: text, encrypted: true}
"""

GOOD = """
    duplicates:
      - name: same_company
        match:
          - {field: name, method: company_name, threshold: 0.9}
          - {field: credit_code, method: exact}
        any: true
        action: block
        reveal: nothing
      - name: same_phone
        match: [{field: phone, method: phone}]
"""


def test_rules_compile_into_the_model(write_config):
    config = load_config(write_config(BASE + GOOD))
    first, second = config.objects["account"].duplicates
    assert first == DuplicateRule(
        name="same_company",
        object="account",
        match=(MatchCriterion("name", "company_name", 0.9), MatchCriterion("credit_code", "exact")),
        any=True,
        action="block",
        reveal="nothing",
    )
    assert (second.any, second.action, second.reveal) == (False, "warn", "owner")


BAD = {
    "T-E160": ("{field: nmae, method: fuzzy}", "[0].field", "did you mean `name`?"),
    "T-E161": ("{field: name, method: fuzy}", "[0].method", "did you mean `fuzzy`?"),
    "T-E162": ("{field: name, method: phone}", "[0].method", "use one of: exact, normalized, person_name"),
    "T-E163": ("{field: name, method: fuzzy, threshold: 88}", "[0].threshold", "e.g. 0.85"),
    "T-E164": ("{field: phone, method: phone, threshold: 0.9}", "[0].threshold", "remove `threshold`"),
    "T-E165": ("{field: secret, method: exact}", "[0].field", "not encrypted"),
}


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_error_code_with_its_path_and_hint(write_config, code):
    criterion, where, hint = BAD[code]
    text = BASE + f"    duplicates:\n      - {{name: r, match: [{criterion}]}}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write_config(text))
    (issue,) = error.value.issues
    assert (issue.code, issue.path) == (code, f"objects.account.duplicates[0].match{where}")
    assert issue.location is not None and hint in (issue.hint or "")


def test_messages_say_what_is_wrong(write_config):
    text = BASE + "    duplicates:\n      - {name: r, match: [{field: tags, method: fuzzy}]}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write_config(text))
    assert error.value.issues[0].message == "method `fuzzy` compares text fields; `tags` is a tags field"


def test_two_rules_of_one_name_are_refused(write_config):
    text = BASE + "    duplicates:\n" + "      - {name: r, match: [{field: name, method: exact}]}\n" * 2
    with pytest.raises(ConfigError) as error:
        load_config(write_config(text))
    assert [(i.code, i.path) for i in error.value.issues] == [("T-E060", "objects.account.duplicates[1].name")]
