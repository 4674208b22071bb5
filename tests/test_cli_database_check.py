"""The commands that read or write records stop on a database not brought to the config,
with exit status 1 and the one sentence saying what to run, never a traceback; the
commands that set up or inspect a database (plan, apply, history, audit) still work.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from engine.cli import main

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects: {"*": {read: own, edit: own, create: true}}
"""
WITH_PHONE = CONFIG.replace(
    "      name: {type: text, required: true}\n",
    "      name: {type: text, required: true}\n      phone: {type: phone}\n",
)
#: Commands that touch records or users, each after CONFIG (or CONFIG's path as the first argument).
GUARDED = [
    ("user", "list"),
    ("user", "add", "{config}", "alice", "--role", "rep", "--password", "Secret-pass-123"),
    ("team", "list"),
    ("token", "list"),
    ("worker", "--once"),
    ("serve", "--port", "1"),  # stops before it would listen
    ("automation", "simulate", "--from", "2026-06-01", "--to", "2026-06-02"),
]


def run(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def command(words: tuple[str, ...], config: str, db_url: str) -> list[str]:
    if "{config}" in words:
        return [w.replace("{config}", config) for w in words] + ["--db", db_url]
    group = 2 if words[0] in ("user", "team", "token", "automation") else 1
    return [*words[:group], config, *words[group:], "--db", db_url]


@pytest.mark.parametrize("words", GUARDED, ids=lambda w: " ".join(w[:2]))
def test_a_command_on_an_empty_database_says_to_apply(write_config, db_url, words):
    config = str(write_config(CONFIG))

    result = run(*command(words, config, db_url))

    assert result.exit_code == 1
    assert f"This database has no Trellis tables yet: run `trellis apply {config}` to set it up." in result.output


@pytest.mark.parametrize("words", GUARDED, ids=lambda w: " ".join(w[:2]))
def test_a_command_on_a_stale_database_names_the_version_and_what_to_run(write_config, db_url, words):
    assert run("apply", write_config(CONFIG), "--db", db_url).exit_code == 0
    config = str(write_config(WITH_PHONE, "new.yaml"))

    result = run(*command(words, config, db_url))

    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert result.exit_code == 1
    assert (
        f"The database is at config version 1 from {today}; this config differs: run `trellis plan "
        f"{config}` to see the changes, then `trellis apply {config}`."
    ) in result.output


def test_plan_apply_history_and_audit_work_on_a_stale_database(write_config, db_url):
    assert run("apply", write_config(CONFIG), "--db", db_url).exit_code == 0
    config = write_config(WITH_PHONE, "new.yaml")

    assert run("history", config, "--db", db_url).exit_code == 0
    assert run("audit", "verify", config, "--db", db_url).exit_code == 0
    planned = run("plan", config, "--db", db_url)
    assert planned.exit_code == 0 and "add column obj_lead.phone" in planned.output
    assert run("apply", config, "--db", db_url).exit_code == 0

    listed = run("user", "list", config, "--db", db_url)
    assert listed.exit_code == 0, listed.output
