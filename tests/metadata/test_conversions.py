"""Compiling ``conversions:`` (S12): the model, and each error code T-E100…T-E105.

Each error test takes a valid conversion, changes one thing, and checks what the
author sees: the code, ``file:line:column``, the config path and the hint.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.metadata import ConfigError, ConfigIssue, load_config

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parents[2]

OBJECTS = """\
trellis: 1
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      employees: {type: integer}
      revenue: {type: currency}
      tier: {type: picklist, values: [a, b]}
      number: {type: autonumber, format: "A-{0000}"}
  contact:
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, required: true}
      notes: {type: tags}
  lead:
    fields:
      name: {type: text, required: true}
      company: {type: text}
      size: {type: integer}
      rating: {type: picklist, values: [a, b, c]}
      status: {type: picklist, values: [new, qualified, converted], default: new}
      converted_account: {type: lookup, object: account}
      converted_contact: {type: lookup, object: contact}
"""

CONVERSION = """\
conversions:
  lead_to_customer:
    label: {en: Convert lead, zh: 线索转化}
    from: lead
    when: "status == 'qualified'"
    targets:
      account:
        fields: {name: company, employees: size, revenue: size}
        match: [name]
      contact:
        fields: {name: name, account: "@account"}
    mark: {status: converted}
    links: {account: converted_account, contact: converted_contact}
"""


def write(tmp_path: Path, conversion: str = CONVERSION) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(OBJECTS + textwrap.dedent(conversion), encoding="utf-8")
    return path


def changed(tmp_path: Path, old: str, new: str) -> Path:
    assert old in CONVERSION, old
    return write(tmp_path, CONVERSION.replace(old, new, 1))


def only_issue(path: Path) -> ConfigIssue:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    issues = info.value.issues
    assert len(issues) == 1, "expected one issue, got:\n" + "\n".join(map(str, issues))
    return issues[0]


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def assert_issue(issue: ConfigIssue, code: str, line: int, path: str, hint: str | None = None) -> None:
    assert issue.code == code, str(issue)
    assert issue.location is not None and issue.location.line == line, str(issue)
    assert issue.path == path, str(issue)
    if hint is not None:
        assert issue.hint is not None and hint in issue.hint, str(issue)


# --- the model ----------------------------------------------------------------------------


def test_a_conversion_compiles_into_the_model(tmp_path):
    config = load_config(write(tmp_path))
    conversion = config.conversions["lead_to_customer"]
    assert conversion.source == "lead"
    assert conversion.label.get("zh") == "线索转化"
    assert conversion.when is not None and conversion.when.names == {"status"}
    assert [t.name for t in conversion.targets] == ["account", "contact"]
    account, contact = conversion.targets
    assert account.object == "account" and account.match == ("name",) and not account.optional
    assert [(m.field, m.kind, m.source) for m in account.fields] == [
        ("name", "field", "company"),
        ("employees", "field", "size"),
        ("revenue", "field", "size"),
    ]
    assert [(m.field, m.kind, m.source) for m in contact.fields] == [
        ("name", "field", "name"),
        ("account", "target", "account"),
    ]
    assert dict(conversion.mark) == {"status": "converted"}
    assert dict(conversion.links) == {"account": "converted_account", "contact": "converted_contact"}


def test_expressions_constants_and_an_explicit_object_compile(tmp_path):
    text = CONVERSION.replace(
        '      contact:\n        fields: {name: name, account: "@account"}',
        "      person:\n        object: contact\n        optional: true\n"
        '        fields: {name: "=upper(name)", account: "@account"}\n'
        "      extra:\n        object: account\n        fields: {name: \"='X'\", employees: 5, revenue: size}",
    )
    config = load_config(write(tmp_path, text.replace("contact: converted_contact", "person: converted_contact")))
    conversion = config.conversions["lead_to_customer"]
    person = conversion.target("person")
    assert person.object == "contact" and person.optional and person.label.get() == "Contact"
    assert person.fields[0].kind == "expression" and person.fields[0].expression.names == {"name"}
    extra = conversion.target("extra")
    assert [(m.field, m.kind) for m in extra.fields] == [
        ("name", "expression"),
        ("employees", "constant"),
        ("revenue", "field"),
    ]
    assert extra.fields[1].value == 5


def test_the_samples_declare_their_conversions():
    saas = load_config(ROOT / "configs" / "sample_saas.yaml").conversions["lead_to_customer"]
    assert [t.name for t in saas.targets] == ["account", "contact", "opportunity"]
    assert saas.target("opportunity").optional
    assert "product_line" in [m.field for m in saas.target("opportunity").fields]
    retail = load_config(ROOT / "configs" / "sample_retail.yaml").conversions
    assert list(retail) == ["lead_to_member"]
    assert retail["lead_to_member"].target("member").match == ("mobile",)


# --- the error codes ------------------------------------------------------------------------


def test_E100_unknown_source_object(tmp_path):
    path = changed(tmp_path, "from: lead", "from: leed")
    issues = pytest.raises(ConfigError, load_config, path).value.issues
    issue = next(i for i in issues if i.code == "T-E100")
    assert_issue(
        issue, "T-E100", line_of(path, "from: leed"), "conversions.lead_to_customer.from", "did you mean `lead`?"
    )


def test_E100_unknown_target_object(tmp_path):
    path = changed(tmp_path, "      contact:\n", "      contact:\n        object: contakt\n")
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E100",
        line_of(path, "object: contakt"),
        "conversions.lead_to_customer.targets.contact.object",
        "did you mean `contact`?",
    )


def test_E101_unknown_target_field(tmp_path):
    path = changed(tmp_path, "{name: company,", "{nam: company,")
    assert_issue(
        only_issue(path),
        "T-E101",
        line_of(path, "nam: company"),
        "conversions.lead_to_customer.targets.account.fields.nam",
        "did you mean `name`?",
    )


def test_E101_unknown_source_field(tmp_path):
    path = changed(tmp_path, "{name: company,", "{name: compnay,")
    assert_issue(
        only_issue(path),
        "T-E101",
        line_of(path, "compnay"),
        "conversions.lead_to_customer.targets.account.fields.name",
        "did you mean `company`?",
    )


def test_E101_computed_target_field(tmp_path):
    path = changed(tmp_path, "{name: company,", "{number: company, name: company,")
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E101",
        line_of(path, "number: company"),
        "conversions.lead_to_customer.targets.account.fields.number",
        "remove it",
    )
    assert "computes" in issue.message


def test_E101_unknown_name_in_an_expression(tmp_path):
    path = changed(tmp_path, "when: \"status == 'qualified'\"", "when: \"stats == 'qualified'\"")
    assert_issue(
        only_issue(path),
        "T-E101",
        line_of(path, "stats =="),
        "conversions.lead_to_customer.when",
        "did you mean `status`?",
    )


def test_E101_unknown_match_and_mark_fields(tmp_path):
    path = changed(tmp_path, "match: [name]", "match: [nme]")
    assert_issue(
        only_issue(path),
        "T-E101",
        line_of(path, "match: [nme]"),
        "conversions.lead_to_customer.targets.account.match[0]",
        "did you mean `name`?",
    )
    path = changed(tmp_path, "mark: {status: converted}", "mark: {state: converted}")
    assert_issue(
        only_issue(path), "T-E101", line_of(path, "state: converted"), "conversions.lead_to_customer.mark.state"
    )


def test_E102_reference_to_an_undeclared_target(tmp_path):
    path = changed(tmp_path, '"@account"', '"@acount"')
    assert_issue(
        only_issue(path),
        "T-E102",
        line_of(path, "@acount"),
        "conversions.lead_to_customer.targets.contact.fields.account",
        "did you mean `account`?",
    )


def test_E102_reference_to_a_later_target(tmp_path):
    text = CONVERSION.replace('      contact:\n        fields: {name: name, account: "@account"}\n', "")
    text = text.replace(
        "      account:\n", '      contact:\n        fields: {name: name, account: "@account"}\n      account:\n', 1
    )
    path = write(tmp_path, text)
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E102",
        line_of(path, "@account"),
        "conversions.lead_to_customer.targets.contact.fields.account",
        "declared before this one",
    )
    assert "declared after" in issue.message


def test_E102_link_for_an_undeclared_target(tmp_path):
    path = changed(tmp_path, "contact: converted_contact}", "contakt: converted_contact}")
    assert_issue(
        only_issue(path),
        "T-E102",
        line_of(path, "contakt: converted_contact"),
        "conversions.lead_to_customer.links.contakt",
        "did you mean `contact`?",
    )


def test_E103_link_field_is_not_a_lookup_to_the_target_object(tmp_path):
    path = changed(tmp_path, "account: converted_account,", "account: converted_contact,")
    assert_issue(
        only_issue(path),
        "T-E103",
        line_of(path, "account: converted_contact"),
        "conversions.lead_to_customer.links.account",
        "object: account",
    )


def test_E103_reference_into_a_field_that_is_not_a_lookup_to_it(tmp_path):
    path = changed(tmp_path, '{name: name, account: "@account"}', '{name: "@account", account: "@account"}')
    assert_issue(
        only_issue(path),
        "T-E103",
        line_of(path, 'name: "@account"'),
        "conversions.lead_to_customer.targets.contact.fields.name",
        "type: lookup, object: account",
    )


def test_E104_source_field_of_an_incompatible_type(tmp_path):
    path = changed(tmp_path, "employees: size,", "employees: company,")
    issue = only_issue(path)
    assert_issue(
        issue,
        "T-E104",
        line_of(path, "employees: company"),
        "conversions.lead_to_customer.targets.account.fields.employees",
        "compatible type",
    )
    assert "text field" in issue.message and "integer field" in issue.message


def test_E104_picklist_values_the_target_lacks(tmp_path):
    path = changed(tmp_path, "revenue: size}", "revenue: size, tier: rating}")
    issue = only_issue(path)
    assert_issue(
        issue, "T-E104", line_of(path, "tier: rating"), "conversions.lead_to_customer.targets.account.fields.tier"
    )
    assert "c" in issue.message


def test_E104_mark_value_and_constant_that_do_not_fit(tmp_path):
    path = changed(tmp_path, "mark: {status: converted}", "mark: {status: convertd}")
    assert_issue(
        only_issue(path),
        "T-E104",
        line_of(path, "status: convertd"),
        "conversions.lead_to_customer.mark.status",
        "did you mean `converted`?",
    )
    path = changed(tmp_path, "revenue: size}", "revenue: size, tier: true}")
    assert_issue(
        only_issue(path),
        "T-E104",
        line_of(path, "tier: true"),
        "conversions.lead_to_customer.targets.account.fields.tier",
    )


def test_E104_match_on_a_field_that_cannot_be_compared(tmp_path):
    path = changed(
        tmp_path, '{name: name, account: "@account"}', '{name: name, account: "@account"}\n        match: [notes]'
    )
    assert_issue(
        only_issue(path),
        "T-E104",
        line_of(path, "match: [notes]"),
        "conversions.lead_to_customer.targets.contact.match[0]",
        "match on a text",
    )


def test_E105_expression_does_not_parse(tmp_path):
    path = changed(tmp_path, "when: \"status == 'qualified'\"", 'when: "status == "')
    assert_issue(
        only_issue(path),
        "T-E105",
        line_of(path, 'when: "status == "'),
        "conversions.lead_to_customer.when",
        "Python-like expression",
    )


def test_E105_expression_calls_an_unknown_function(tmp_path):
    path = changed(tmp_path, "{name: company,", '{name: "=uppper(company)",')
    assert_issue(
        only_issue(path),
        "T-E105",
        line_of(path, "uppper"),
        "conversions.lead_to_customer.targets.account.fields.name",
        "did you mean `upper`?",
    )


def test_a_target_named_like_the_source_object_is_refused(tmp_path):
    path = changed(tmp_path, "      contact:\n", "      lead:\n        object: contact\n")
    path.write_text(
        path.read_text(encoding="utf-8").replace("contact: converted_contact", "lead: converted_contact"),
        encoding="utf-8",
    )
    issues = pytest.raises(ConfigError, load_config, path).value.issues
    assert any(i.code == "T-E021" and i.path == "conversions.lead_to_customer.targets.lead" for i in issues)


def test_an_overlay_changes_and_removes_conversions(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "base.yaml").write_text(OBJECTS + CONVERSION, encoding="utf-8")
    overlay = tmp_path / "company.yaml"
    overlay.write_text(
        textwrap.dedent("""\
        trellis: 1
        extends: templates/base.yaml
        conversions:
          lead_to_customer:
            targets:
              account:
                fields: {employees: "=coalesce(size, 1)"}
                match: []
              contact: {remove: true}
            links:
              contact: {remove: true}
        """),
        encoding="utf-8",
    )
    conversion = load_config(overlay).conversions["lead_to_customer"]
    assert [t.name for t in conversion.targets] == ["account"]
    account = conversion.target("account")
    assert account.match == ()
    assert [(m.field, m.kind) for m in account.fields] == [
        ("name", "field"),
        ("employees", "expression"),
        ("revenue", "field"),
    ]
    assert dict(conversion.links) == {"account": "converted_account"}
