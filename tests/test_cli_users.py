"""``trellis user``, ``trellis team`` and ``trellis secret`` as an admin uses them.

Exit 0 on success, 1 on a user error with a message, never a traceback. Runs
on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from engine import Trellis
from engine.cli import main

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text}
roles:
  admin:
    permissions: [manage_users]
    objects: {"*": {read: all, edit: all, delete: all, create: true}}
  sales_rep:
    objects: {lead: {read: own, edit: own, create: true}}
  finance:
    require_totp: true
    objects: {lead: {read: all}}
"""
PASSWORD = "Correct-Horse-7"


def run(*args: str, input: str | None = None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def cli(db_url, write_config):
    """``cli("user", "add", NAME, …)``: a command on an applied database (config passed for you)."""
    config = write_config(CONFIG)
    assert run("apply", config, "--db", db_url).exit_code == 0

    def invoke(group: str, command: str, *args: str, input: str | None = None):
        return run(group, command, config, *args, "--db", db_url, input=input)

    invoke.config, invoke.db_url = config, db_url
    return invoke


def table(output: str) -> dict[str, str]:
    """The lines of a printed table by their first cell."""
    return {line.split()[0]: line for line in output.splitlines() if line.strip()}


def test_user_add_then_list(cli):
    assert cli("team", "add", "east", "--label", "East region").exit_code == 0
    boss = cli(
        "user", "add", "boss", "--role", "admin", "--password", PASSWORD, "--display-name", "Big Boss", "--team", "east"
    )
    assert boss.exit_code == 0, boss.output
    assert "Created user boss (admin)." in boss.output
    alice = cli(
        "user",
        "add",
        "alice",
        "--role",
        "sales_rep",
        "--role",
        "finance",
        "--manager",
        "boss",
        "--team",
        "east",
        "--email",
        "alice@example.com",
        "--expires",
        "2030-06-30",
        "--password",
        PASSWORD,
    )
    assert alice.exit_code == 0, alice.output

    listed = cli("user", "list")
    assert listed.exit_code == 0
    rows = table(listed.output)
    assert rows["USER"].split() == ["USER", "NAME", "ROLES", "TEAM", "MANAGER", "STATUS", "2FA"]
    assert rows["alice"].split() == [
        "alice",
        "sales_rep,",
        "finance",
        "east",
        "boss",
        "active",
        "until",
        "2030-06-30",
        "needed",
    ]
    assert rows["boss"].split() == ["boss", "Big", "Boss", "admin", "east", "active", "off"]


def test_user_add_without_a_password_says_the_user_cannot_log_in(cli):
    result = cli("user", "add", "newbie", "--role", "sales_rep")
    assert result.exit_code == 0
    assert "newbie has no password and cannot log in until one is set" in result.output


def test_user_add_at_a_terminal_asks_for_the_password_twice(cli, monkeypatch):
    monkeypatch.setattr("engine.cli.user_commands._at_terminal", lambda: True)
    result = cli("user", "add", "alice", "--role", "sales_rep", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password for alice:" in result.output and "Repeat for confirmation:" in result.output
    assert PASSWORD not in result.output
    assert "cannot log in" not in result.output

    weak = cli("user", "add", "bob", "--role", "sales_rep", input="bob\nbob\n")
    assert weak.exit_code == 1
    assert "password: The password is too weak" in weak.output


def test_user_edit_and_disable(cli):
    cli("team", "add", "west")
    cli("user", "add", "alice", "--role", "sales_rep")
    edited = cli(
        "user",
        "edit",
        "alice",
        "--team",
        "west",
        "--role",
        "admin",
        "--password",
        PASSWORD,
        "--display-name",
        "Alice Wang",
    )
    assert edited.exit_code == 0, edited.output
    assert "Updated user alice." in edited.output
    assert table(cli("user", "list").output)["alice"].split() == [
        "alice",
        "Alice",
        "Wang",
        "admin",
        "west",
        "active",
        "off",
    ]

    assert cli("user", "disable", "alice").exit_code == 0
    assert "disabled" in table(cli("user", "list").output)["alice"]
    assert cli("user", "edit", "alice", "--active").exit_code == 0
    assert "active" in table(cli("user", "list").output)["alice"]

    crm = Trellis.open(cli.config, cli.db_url)
    try:
        with crm.directory() as directory:
            alice = directory.get("alice")
        assert (alice.team, alice.roles, alice.display_name, alice.active) == ("west", ("admin",), "Alice Wang", True)
    finally:
        crm.close()


def test_user_edit_of_an_unknown_user(cli):
    result = cli("user", "edit", "ghost", "--team", "")
    assert result.exit_code == 1
    assert "user ghost not found" in result.output


def test_unknown_role_is_refused(cli):
    result = cli("user", "add", "bob", "--role", "sales_rpe")
    assert result.exit_code == 1
    assert "roles: Unknown role sales_rpe; roles: admin, sales_rep, finance." in result.output
    assert "bob" not in cli("user", "list").output


def test_weak_password_prints_the_field_message(cli):
    result = cli("user", "add", "bob", "--role", "sales_rep", "--password", "bob")
    assert result.exit_code == 1
    assert "password: The password is too weak: use at least 10 characters" in result.output
    assert "do not include the user name" in result.output


def test_every_field_error_is_printed_at_once(cli):
    result = cli("user", "add", "bob", "--role", "nope", "--team", "nowhere", "--expires", "someday")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("roles: Unknown role nope") for line in lines)
    assert any(line.startswith("team: There is no team 'nowhere'") for line in lines)
    assert any(line.startswith("expires_at: 'someday' is not a date") for line in lines)


def test_manager_cycle_is_refused(cli):
    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "alice", "--role", "sales_rep", "--manager", "boss")
    result = cli("user", "edit", "boss", "--manager", "alice")
    assert result.exit_code == 1
    assert "manager: 'alice' cannot manage 'boss': that would make a cycle." in result.output
    assert cli("user", "edit", "alice", "--manager", "alice").exit_code == 1


def test_team_add_and_list(cli):
    assert "No teams yet" in cli("team", "list").output
    assert cli("team", "add", "east", "--label", "East region").exit_code == 0
    cli("user", "add", "alice", "--role", "sales_rep", "--team", "east")
    listed = cli("team", "list")
    assert listed.exit_code == 0
    assert table(listed.output)["east"].split() == ["east", "East", "region", "1"]
    duplicate = cli("team", "add", "east")
    assert duplicate.exit_code == 1
    assert "name: There is already a team 'east'." in duplicate.output


def test_commands_need_an_applied_database(tmp_path, write_config):
    config = write_config(CONFIG)
    result = run("user", "list", config, "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.exit_code == 1
    assert f"has no Trellis tables yet: run `trellis apply {config}`" in result.output


def test_config_and_database_come_from_the_environment(cli, monkeypatch):
    monkeypatch.setenv("TRELLIS_CONFIG", str(cli.config))
    monkeypatch.setenv("TRELLIS_DATABASE_URL", cli.db_url)
    result = run("user", "add", "alice", "--role", "sales_rep")
    assert result.exit_code == 0, result.output
    assert "alice" in run("user", "list").output


def test_secret_generate_prints_a_usable_key():
    result = run("secret", "generate")
    assert result.exit_code == 0
    key = result.stdout.strip()
    Fernet(key.encode())  # a valid Fernet key
    assert "TRELLIS_SECRET_KEY" in result.stderr
    assert run("secret", "generate").stdout.strip() != key
