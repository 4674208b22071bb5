"""``trellis token create | list | revoke`` and the token functions behind them."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import AccountUnavailable, Trellis, UnknownUser
from engine.cli import main
from engine.runtime.security.tokens import (
    TOKEN_PREFIX,
    TokenRefused,
    create_token,
    list_tokens,
    resolve_token,
    revoke_token,
)
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects:
      lead: {read: own, create: true}
"""


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def setup(db_url, write_config):
    """An applied database with users alice and bob; returns (config path, db url)."""
    path = write_config(CONFIG)
    crm = Trellis.open(path, db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("alice", roles=["rep"])
        d.add("bob", roles=["rep"])
    crm.close()
    return path, db_url


@pytest.fixture
def crm(setup):
    crm = Trellis.open(*setup)
    yield crm
    crm.close()


def secret_of(output: str) -> str:
    found = re.findall(rf"^({TOKEN_PREFIX}\S+)$", output, flags=re.MULTILINE)
    assert len(found) == 1, output
    return found[0]


def test_create_prints_the_secret_once_and_it_resolves_to_the_user(setup, crm):
    config, db = setup
    result = run("token", "create", config, "alice", "--name", "zapier", "--db", db)
    assert result.exit_code == 0, result.output
    secret = secret_of(result.output)
    assert len(secret) > 40
    assert "Created token 1 for alice" in result.output and "shown only now" in result.output
    assert resolve_token(crm, secret) == "alice"


def test_only_the_hash_of_the_secret_is_stored(setup, crm):
    config, db = setup
    secret = secret_of(run("token", "create", config, "alice", "--db", db).output)
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(crm.schema.system["sys_tokens"])).mappings().one()
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(dict(row))


def test_create_with_an_expiry(setup):
    config, db = setup
    result = run("token", "create", config, "bob", "--expires", "2999-01-31", "--db", db)
    assert result.exit_code == 0 and "expires 2999-01-31 00:00 UTC" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "there is no user 'nobody'"),
        (["alice", "--expires", "2001-01-01"], "has passed"),
        (["alice", "--expires", "soon"], "is not a date"),
    ],
)
def test_create_refuses_with_a_message(setup, args, message):
    config, db = setup
    result = run("token", "create", config, *args, "--db", db)
    assert result.exit_code == 1
    assert message in result.output


def test_create_refuses_a_disabled_account(setup, crm):
    with crm.directory() as d:
        d.disable("bob")
    result = run("token", "create", setup[0], "bob", "--db", setup[1])
    assert result.exit_code == 1 and "disabled" in result.output


def test_list_shows_tokens_without_secrets(setup):
    config, db = setup
    first = secret_of(run("token", "create", config, "alice", "--name", "zapier", "--db", db).output)
    run("token", "create", config, "bob", "--name", "n8n", "--db", db)
    result = run("token", "list", config, "--db", db)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "USER", "STATUS"]
    assert re.search(r"^\s+1\s+alice\s+active\s.*never\s+zapier$", result.output, flags=re.MULTILINE), result.output
    assert "n8n" in result.output and first not in result.output
    only_bob = run("token", "list", config, "--user", "bob", "--db", db).output
    assert "n8n" in only_bob and "zapier" not in only_bob


def test_list_when_there_are_none(setup):
    config, db = setup
    assert "No API tokens." in run("token", "list", config, "--db", db).output
    assert "alice has no API tokens." in run("token", "list", config, "--user", "alice", "--db", db).output
    result = run("token", "list", config, "--user", "nobody", "--db", db)
    assert result.exit_code == 1 and "no user 'nobody'" in result.output


def test_revoke_stops_the_token(setup, crm):
    config, db = setup
    secret = secret_of(run("token", "create", config, "alice", "--db", db).output)
    result = run("token", "revoke", config, "1", "--db", db)
    assert result.exit_code == 0 and "Revoked token 1 of alice." in result.output
    with pytest.raises(TokenRefused, match="revoked"):
        resolve_token(crm, secret)
    assert "revoked" in run("token", "list", config, "--db", db).output
    assert run("token", "revoke", config, "1", "--db", db).exit_code == 0  # again: nothing changes


def test_revoke_an_unknown_token(setup):
    result = run("token", "revoke", setup[0], "42", "--db", setup[1])
    assert result.exit_code == 1 and "token 42 not found" in result.output


def test_commands_on_a_database_without_the_token_table(write_config, db_url):
    config = write_config(CONFIG)
    result = run("token", "list", config, "--db", db_url)
    assert result.exit_code == 1 and "trellis apply" in result.output


# --- the functions ---------------------------------------------------------------------------
def test_resolve_refuses_unknown_and_malformed_secrets(crm):
    with pytest.raises(TokenRefused, match="not a Trellis API token"):
        resolve_token(crm, "abc")
    with pytest.raises(TokenRefused, match="unknown API token"):
        resolve_token(crm, TOKEN_PREFIX + "x" * 43)


def test_resolve_refuses_expired_tokens_and_unavailable_accounts(setup):
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    crm = Trellis.open(*setup, clock=lambda: now[0])
    secret, info = create_token(crm, "alice", expires_at=dt.date(2026, 2, 1))
    assert info.expires_at == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert resolve_token(crm, secret) == "alice"
    now[0] = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    with pytest.raises(TokenRefused, match="expired"):
        resolve_token(crm, secret)
    assert list_tokens(crm)[0].status(now[0]) == "expired"
    other, _ = create_token(crm, "bob")
    with crm.directory() as d:
        d.disable("bob")
    with pytest.raises(AccountUnavailable, match="disabled"):
        resolve_token(crm, other)
    crm.close()


def test_last_used_is_written_at_most_once_a_minute(setup):
    now = [dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)]
    crm = Trellis.open(*setup, clock=lambda: now[0])
    secret, _ = create_token(crm, "alice")
    resolve_token(crm, secret)
    now[0] += dt.timedelta(seconds=30)
    resolve_token(crm, secret)
    assert list_tokens(crm)[0].last_used_at == dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    now[0] += dt.timedelta(seconds=31)
    resolve_token(crm, secret)
    assert list_tokens(crm)[0].last_used_at == now[0]
    crm.close()


def test_creating_and_revoking_is_audited(crm):
    _, info = create_token(crm, "alice", name="ci")
    revoke_token(crm, info.id)
    with crm.engine.connect() as conn:
        audit = crm.schema.system["sys_audit"]
        rows = conn.execute(
            sa.select(audit.c.action, audit.c.object, audit.c.record_id)
            .where(audit.c.object == "sys_token")
            .order_by(audit.c.id)
        ).all()
    assert rows == [("token.create", "sys_token", info.id), ("token.revoke", "sys_token", info.id)]


def test_list_tokens_of_an_unknown_user(crm):
    with pytest.raises(UnknownUser):
        list_tokens(crm, "nobody")


def test_config_comes_first_or_from_the_environment_in_every_command(setup, monkeypatch):
    """CONFIG is the first positional of every command and defaults to $TRELLIS_CONFIG alike:
    token create and revoke, audit show, user add, team add, rollback."""
    path, db_url = setup
    assert run("token", "create", "alice", "--db", db_url).exit_code == 2  # no config anywhere: a usage error
    assert (
        "give the config and USERNAME: CONFIG USERNAME (or set TRELLIS_CONFIG and give USERNAME)"
        in run("token", "create", "alice", "--db", db_url).output
    )
    created = run("token", "create", path, "alice", "--db", db_url)
    assert created.exit_code == 0, created.output
    monkeypatch.setenv("TRELLIS_CONFIG", str(path))
    again = run("token", "create", "bob", "--db", db_url)
    assert again.exit_code == 0 and "Created token 2 for bob." in again.output, again.output
    assert run("token", "revoke", "2", "--db", db_url).output.startswith("Revoked token 2 of bob.")
    bad = run("token", "revoke", "two", "--db", db_url)
    assert bad.exit_code == 2 and "'two' is not a valid TOKEN_ID" in bad.output
    assert run("user", "add", "carol", "--role", "rep", "--db", db_url).exit_code == 0
    assert run("team", "add", "east", "--db", db_url).exit_code == 0
    shown = run("audit", "show", "sys_user", "1", "--db", db_url)
    assert shown.exit_code == 0 and "History of sys_user 1" in shown.output, shown.output
    for command in (["token", "create"], ["token", "revoke"], ["audit", "show"], ["user", "add"], ["rollback"]):
        usage = run(*command, "--help").output
        assert "Usage: main " + " ".join(command) + " [OPTIONS] [CONFIG] " in usage, usage
