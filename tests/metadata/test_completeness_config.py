"""The ``completeness`` report kind in the config (issue 15 §1, S41, S6): what it compiles into
and T-E183 with its path, message and hint. Pure Python: no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.model import ReportGroup
from tests.metadata.test_reports_config import BASE

pytestmark = pytest.mark.no_database


def test_a_completeness_report_compiles_with_owner_by_default(write_config):
    text = BASE + "  filled: {object: deal, kind: completeness, fields: [amount, closes], target: 85%}\n"
    report = load_config(write_config(text)).reports["filled"]
    assert (report.kind, report.fields, report.target) == ("completeness", ("amount", "closes"), Decimal("0.85"))
    assert report.group_by == (ReportGroup("owner_id"),)


def test_group_by_one_field_alone_and_a_target_as_a_number(write_config):
    text = BASE + "  filled: {object: deal, kind: completeness, fields: [amount], group_by: source, target: 87.5}\n"
    report = load_config(write_config(text)).reports["filled"]
    assert (report.group_by, report.target) == ((ReportGroup("source"),), Decimal("0.875"))


def test_group_by_team_groups_the_owners_by_their_team(write_config):
    text = BASE + "  filled: {object: deal, kind: completeness, fields: [amount], group_by: team}\n"
    report = load_config(write_config(text)).reports["filled"]
    assert (report.group_by, report.per_team) == ((ReportGroup("owner_id"),), True)


BAD = [
    ("{object: deal, kind: completeness}", "reports.r.fields", "a completeness report names the fields that make a record complete", "e.g. `fields: [industry, phone]`"),
    ("{object: deal, kind: completeness, fields: [amount], target: lots}", "reports.r.target", "`target: lots` is not a share of records", "e.g. `target: 85%`"),
    ("{object: deal, kind: completeness, fields: [amount], target: 120%}", "reports.r.target", "`target: 120%` is not a share of records", "e.g. `target: 85%`"),
    ("{object: deal, kind: completeness, fields: [amount], sort: -count}", "reports.r.sort", "a completeness report computes its own figures: `sort` does not apply", "remove `sort`"),
    ("{object: deal, fields: [amount]}", "reports.r.fields", "`fields` and `target` belong to a completeness report, not a grouped one", "add `kind: completeness`, or remove them"),
    ("{object: deal, kind: completeness, fields: [amont]}", "reports.r.fields[0]", "deal has no field `amont`", "did you mean `amount`?"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "where", "message", "hint"), BAD)
def test_errors_say_what_is_wrong_and_where(write_config, spec, where, message, hint):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(f"{BASE}  r: {spec}\n"))
    (issue,) = error.value.issues
    code = "T-E171" if "no field" in message else "T-E183"
    assert (issue.code, issue.path, issue.message, issue.hint) == (code, where, message, hint)
    assert issue.location is not None
