"""The ``trellis`` command as an admin uses it: exit codes and messages.

Exit 0 on success, 1 on a user error with a message, never a traceback.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.demo.data import DEMO_PASSWORD, DEMO_USERS
from engine.runtime.security.crypto import generate_key
from engine.runtime.security.passwords import verify_password
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
def test_validate_accepts_the_sample_configs(config, monkeypatch):
    monkeypatch.delenv("TRELLIS_LANG", raising=False)
    result = run("validate", CONFIGS / config)
    assert result.exit_code == 0
    assert "有效：" in result.output  # the samples' first language is zh (settings.languages: [zh, en])
    monkeypatch.setenv("TRELLIS_LANG", "en")
    assert "is valid" in run("validate", CONFIGS / config).output


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


def test_history_and_rollback(write_config, db_url, tmp_path, monkeypatch):
    base = write_config(BASE)
    if db_url.startswith("sqlite"):  # reading the history of no database creates none
        missing = f"sqlite:///{tmp_path / 'nothing-here.db'}"
        for args in (("history", base), ("rollback", base, "1")):
            result = run(*args, "--db", missing)
            assert result.exit_code == 1
            assert (
                f"There is no database at {tmp_path / 'nothing-here.db'}: nothing has been applied yet. "
                f"Create it with `trellis apply {base}`" in result.output
            )
        assert not (tmp_path / "nothing-here.db").exists()
    run("apply", base, "--db", db_url)
    crm = Trellis.open(base, db_url)
    with crm.session() as s:
        for phone in ("+86 138 0013 8001", "+86 138 0013 8002", "+86 138 0013 8003"):
            s.create("lead", {"name": "x", "fax": phone})
    crm.close()
    run("apply", write_config(WITHOUT_FAX, "v2.yaml"), "--db", db_url, "--allow-data-loss")

    listing = run("history", base, "--db", db_url)
    ids = re.findall(r"^\s+(\d+)\s", listing.output, flags=re.M)
    assert ids == ["2", "1"]

    assert run("rollback", base, "one", "--db", db_url).exit_code == 2  # a usage error, not a traceback
    monkeypatch.setenv("TRELLIS_CONFIG", str(base))  # CONFIG from the environment, as for every command
    restored = run("rollback", "1", "--db", db_url)
    assert restored.exit_code == 0, restored.output
    assert "Restored version 1." in restored.output
    assert "add column obj_lead.fax" in restored.output
    # The column comes back, its values do not: the rollback says which.
    assert (
        "Not restored (dropped data cannot come back):\n  - lead.fax comes back empty\n"
        "  - version 2: drop column obj_lead.fax (3 values lost)" in restored.output
    )


def test_rollback_to_an_unknown_version_is_a_clear_error(db_url, write_config):
    run("apply", write_config(BASE), "--db", db_url)
    result = run("rollback", write_config(BASE), "99", "--db", db_url)
    assert result.exit_code == 1
    assert "there is no config version 99" in result.output


def test_apply_with_a_broken_config_changes_nothing(write_config, db_url):
    result = run("apply", write_config("trellis: 1\nobjects: {lead: {fields: {x: {type: txt}}}}\n"), "--db", db_url)
    assert result.exit_code == 1
    assert "T-E011" in result.output
    history = run("history", write_config(BASE), "--db", db_url).output
    assert history.startswith("No config has been applied") or history.startswith("There is no database at")


def test_unreachable_database_is_a_message_not_a_traceback(write_config):
    result = run("plan", write_config(BASE), "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.exit_code == 1
    assert "Cannot use the database" in result.output


@pytest.fixture
def secret_key(monkeypatch):
    """A TRELLIS_SECRET_KEY for the sample configs (they encrypt contact.id_number)."""
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("TRELLIS_SECRET_KEY", generate_key())


@pytest.fixture
def no_secret_key(monkeypatch):
    """No key in the environment; whatever the command sets there is removed afterwards."""
    for name in ("TRELLIS_SECRET_KEY", "TRELLIS_SECRET_KEY_FILE"):
        monkeypatch.setenv(name, "placeholder")  # so that monkeypatch restores "unset" afterwards
        monkeypatch.delenv(name)


@pytest.mark.parametrize("config", ["sample_saas.yaml", "sample_retail.yaml"])
def test_demo_applies_and_loads_sample_data_through_the_write_path(config, db_url, secret_key):
    result = run("demo", CONFIGS / config, "--db", db_url, "--records", "5", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "Demo data loaded" in result.output
    crm = Trellis.open(CONFIGS / config, db_url)
    with crm.session() as s:
        counts = {name: s.query(name).count() for name in crm.config.objects}
        # Some sample leads are converted (engine.runtime.demo.converting): each may add a record
        # of each target (an account of the same name is linked instead, a deal is optional).
        made = {name: 0 for name in counts}
        for conversion in crm.config.conversions.values():
            converted = s.query(conversion.source).filter(**dict(conversion.mark)).count()
            for target in conversion.targets:
                made[target.object] += converted
    crm.close()
    assert all(5 <= count <= 5 + made[name] for name, count in counts.items()), (counts, made)

    again = run("demo", CONFIGS / config, "--db", db_url, "--records", "5", "--no-serve")
    assert again.exit_code == 0 and "schema up to date" in again.output
    assert f"Demo users (0 created, {len(DEMO_USERS)} kept from an earlier run)" in again.output


@pytest.mark.parametrize("config", ["sample_saas.yaml", "sample_retail.yaml"])
def test_demo_creates_a_user_per_role_in_teams_and_a_hierarchy(config, db_url, secret_key):
    result = run("demo", CONFIGS / config, "--db", db_url, "--records", "8", "--no-serve")
    assert result.exit_code == 0, result.output
    assert f"Demo users ({len(DEMO_USERS)} created, 0 kept from an earlier run)" in result.output
    assert DEMO_PASSWORD in result.output and "FOR LOCAL USE ONLY" in result.output
    assert re.search(r"^\s+alice\s+sales_rep\s+east\s+mike$", result.output, flags=re.M), result.output

    crm = Trellis.open(CONFIGS / config, db_url)
    with crm.directory() as d:
        users = {u.username: u for u in d.list()}
        teams = {t.name for t in d.list_teams()}
    assert {(u.username, u.roles, u.team, u.manager) for u in users.values()} == {
        (u.username, u.roles, u.team, u.manager) for u in DEMO_USERS
    }
    assert set(crm.config.roles) <= {r for u in users.values() for r in u.roles}
    assert teams == {"hq", "east", "south", "service", "after_sales"}
    sys_users = crm.schema.system["sys_users"]
    with crm.engine.connect() as conn:
        hashes = dict(conn.execute(sa.select(sys_users.c.username, sys_users.c.password_hash)).all())
    assert verify_password(hashes["alice"], DEMO_PASSWORD)

    # The sample records are owned by the people working them, so the scopes show.
    with crm.session() as s:
        total = s.query("opportunity").count()
        owners = {r["owner_id"] for r in s.query("opportunity").all()}
    with crm.session("alice") as s:
        own = s.query("opportunity").all()
    with crm.session("mike") as s:
        team = s.query("opportunity").count()
    with crm.session("emma") as s:
        everything = s.query("opportunity").count()
    crm.close()
    assert len(owners) > 2 and None not in owners
    assert own and {r["owner_id"] for r in own} == {users["alice"].id}
    assert len(own) < team < total == everything


def test_demo_without_a_key_generates_one_next_to_the_database_and_reuses_it(tmp_path, monkeypatch, no_secret_key):
    monkeypatch.chdir(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'data' / 'demo.db'}"
    (tmp_path / "data").mkdir()
    key_file = tmp_path / "data" / ".trellis-secret-key"

    first = run("demo", CONFIGS / "sample_saas.yaml", "--db", db_url, "--records", "3", "--no-serve")
    assert first.exit_code == 0, first.output
    assert f"generated a new key for the encrypted fields into {key_file}" in first.output
    assert f"export TRELLIS_SECRET_KEY_FILE={key_file}" in first.output
    assert key_file.stat().st_mode & 0o077 == 0, "the key file is readable by its owner only"
    key = key_file.read_text().strip()

    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE")  # a new shell: the key file is found again
    second = run("demo", CONFIGS / "sample_saas.yaml", "--db", db_url, "--records", "4", "--no-serve")
    assert second.exit_code == 0, second.output
    assert f"using the key in {key_file}" in second.output
    assert key_file.read_text().strip() == key
    assert not (tmp_path / ".trellis-secret-key").exists()

    crm = Trellis.open(CONFIGS / "sample_saas.yaml", db_url)  # TRELLIS_SECRET_KEY_FILE is set again
    with crm.session("sam") as s:
        numbers = [c["id_number"] for c in s.query("contact").all()]
    crm.close()
    assert len(numbers) == 4 and any(numbers)


def test_demo_with_a_key_set_writes_no_key_file(tmp_path, monkeypatch, secret_key):
    monkeypatch.chdir(tmp_path)
    result = run(
        "demo",
        CONFIGS / "sample_retail.yaml",
        "--db",
        f"sqlite:///{tmp_path / 'demo.db'}",
        "--records",
        "2",
        "--no-serve",
    )
    assert result.exit_code == 0, result.output
    assert "TRELLIS_SECRET_KEY is not set" not in result.output
    assert not (tmp_path / ".trellis-secret-key").exists()
