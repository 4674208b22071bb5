"""The ``trellis`` command as an admin uses it: exit codes and messages.

Exit 0 on success, 1 on a user error with a message, never a traceback.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from tests.conftest import CONFIGS

BASE = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
      fax: {type: phone}
"""
WITHOUT_FAX = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
"""


def run(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize("config", ["sample_saas.yaml", "sample_retail.yaml", "templates/crm_base.yaml"])
def test_validate_accepts_the_sample_configs(config):
    result = run("validate", CONFIGS / config)
    assert result.exit_code == 0
    assert "is valid" in result.output


def test_validate_prints_every_error_with_location_code_and_hint(write_config):
    path = write_config("""
trellis: 1
objects:
  opportunity:
    fields:
      quantity: {type: integer}
      amount: {type: formula, expression: "unit_price * quantiy"}
      account: {type: lookup, object: acount}
""")
    result = run("validate", path)
    assert result.exit_code == 1
    assert f"{path}:7:43: T-E041 objects.opportunity.fields.amount.expression: unknown field `quantiy`" in result.output
    assert "did you mean `quantity`?" in result.output
    assert f"{path}:7:43: T-E041" in result.output and "unknown field `unit_price`" in result.output
    assert f"{path}:8:39: T-E030 objects.opportunity.fields.account.object: unknown object `acount`" in result.output
    assert "3 errors in the config." in result.output


def test_validate_reports_a_missing_file(tmp_path):
    result = run("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 1
    assert "T-E002" in result.output and "file not found" in result.output


def test_validate_takes_the_config_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRELLIS_CONFIG", str(CONFIGS / "sample_saas.yaml"))
    assert run("validate").exit_code == 0


def test_plan_then_apply_then_plan_is_empty(write_config, db_url):
    path = write_config(BASE)
    planned = run("plan", path, "--db", db_url)
    assert planned.exit_code == 0
    assert "create table obj_lead" in planned.output
    applied = run("apply", path, "--db", db_url)
    assert applied.exit_code == 0 and "Applied." in applied.output
    again = run("plan", path, "--db", db_url)
    assert again.exit_code == 0 and "No changes" in again.output


def test_apply_refuses_to_drop_values_and_names_the_override(write_config, db_url):
    assert run("apply", write_config(BASE), "--db", db_url).exit_code == 0
    crm = Trellis.open(write_config(BASE), db_url)
    with crm.session() as s:
        for n in range(3):
            s.create("lead", {"name": f"Lead {n}", "fax": "+86 10 1234 5678"})
    crm.close()
    smaller = write_config(WITHOUT_FAX, "smaller.yaml")

    refused = run("apply", smaller, "--db", db_url)
    assert refused.exit_code == 1
    assert "`lead.fax` holds 3 values; pass --allow-data-loss to drop it" in refused.output
    assert run("plan", smaller, "--db", db_url).exit_code == 1

    allowed = run("apply", smaller, "--db", db_url, "--allow-data-loss")
    assert allowed.exit_code == 0, allowed.output


def test_history_and_rollback(write_config, db_url):
    assert run("history", "--db", db_url).output.startswith("No config has been applied")
    run("apply", write_config(BASE), "--db", db_url)
    run("apply", write_config(WITHOUT_FAX, "v2.yaml"), "--db", db_url)

    listing = run("history", "--db", db_url)
    ids = re.findall(r"^\s+(\d+)\s", listing.output, flags=re.M)
    assert ids == ["2", "1"]

    restored = run("rollback", "1", "--db", db_url)
    assert restored.exit_code == 0, restored.output
    assert "Restored version 1." in restored.output
    assert "add column obj_lead.fax" in restored.output


def test_rollback_to_an_unknown_version_is_a_clear_error(db_url, write_config):
    run("apply", write_config(BASE), "--db", db_url)
    result = run("rollback", "99", "--db", db_url)
    assert result.exit_code == 1
    assert "there is no config version 99" in result.output


def test_apply_with_a_broken_config_changes_nothing(write_config, db_url):
    result = run("apply", write_config("trellis: 1\nobjects: {lead: {fields: {x: {type: txt}}}}\n"), "--db", db_url)
    assert result.exit_code == 1
    assert "T-E011" in result.output
    assert run("history", "--db", db_url).output.startswith("No config has been applied")


def test_unreachable_database_is_a_message_not_a_traceback(write_config):
    result = run("plan", write_config(BASE), "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.exit_code == 1
    assert "Cannot use the database" in result.output


@pytest.mark.parametrize("config", ["sample_saas.yaml", "sample_retail.yaml"])
def test_demo_applies_and_loads_sample_data_through_the_write_path(config, db_url):
    result = run("demo", CONFIGS / config, "--db", db_url, "--records", "5")
    assert result.exit_code == 0, result.output
    assert "Demo data loaded" in result.output
    crm = Trellis.open(CONFIGS / config, db_url)
    with crm.session() as s:
        counts = {name: s.query(name).count() for name in crm.config.objects}
    crm.close()
    assert all(count == 5 for count in counts.values()), counts

    again = run("demo", CONFIGS / config, "--db", db_url, "--records", "5")
    assert again.exit_code == 0 and "schema up to date" in again.output
