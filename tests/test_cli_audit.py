"""``trellis audit`` as an auditor uses it: seal, verify, show, logins, reads.

Exit 0 on success, 1 on a broken chain or a user error with a message,
never a traceback. Runs on SQLite, and on PostgreSQL when
TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.cli.audit_commands import AuditDatabase
from engine.runtime.security import audit
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  contact:
    audit: {reads: true}
    fields:
      name: {type: text, required: true}
      id_number: {type: text}
      budget: {type: currency}
  note:
    fields:
      text: {type: text}
roles:
  rep:
    objects: {"*": {read: all, edit: all, create: true}}
    hidden: [contact.id_number]
  auditor:
    objects: {"*": {read: all}}
    permissions: [view_audit]
    hidden: [contact.id_number]
"""
NOW = dt.datetime(2026, 4, 30, 18, 5, 9, tzinfo=dt.UTC)
#: PostgreSQL lets writers commit while `verify` reads its snapshot; SQLite makes them wait.
WRITERS_RUN_DURING_VERIFY = bool(os.environ.get("TRELLIS_TEST_DATABASE_URL"))


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def config_path(write_config):
    return write_config(CONFIG)


@pytest.fixture
def crm(config_path, db_url):
    crm = Trellis.open(config_path, db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("audrey", roles=["auditor"])
    yield crm
    crm.close()


@pytest.fixture
def contact(crm):
    """A contact created by rita on the web and edited by the system: audit rows 3 and 4."""
    with crm.session("rita", channel="web") as s:
        record = s.create("contact", {"name": "Li Lei", "budget": "1200"})
    with crm.session(channel="import") as s:
        s.update("contact", record.id, {"id_number": "110101199003071234", "budget": "1500.5"})
    return record


def audit_ids(crm) -> list[int]:
    table = crm.schema.system["sys_audit"]
    with crm.engine.connect() as connection:
        return list(connection.execute(sa.select(table.c.id).order_by(table.c.id)).scalars())


# --- verify ------------------------------------------------------------------------------


def test_verify_reports_an_intact_trail(crm, contact, config_path, db_url):
    result = run("audit", "verify", config_path, "--db", db_url)

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "Audit trail intact: 4 rows checked."
    head = audit_head(crm)
    assert (
        lines[1]
        == f"Head: {head} (row {audit_ids(crm)[-1]}). Keep this line; next time check that no rows were removed:"
    )
    assert lines[2] == f"  trellis audit verify {config_path} --expect-head {head} --expect-count 4"


def audit_head(crm) -> str:
    """The hash of the last sealed row."""
    table = crm.schema.system["sys_audit"]
    with crm.engine.connect() as connection:
        return connection.execute(
            sa.select(table.c.hash).where(table.c.seal_seq.is_not(None)).order_by(table.c.seal_seq.desc()).limit(1)
        ).scalar_one()


def test_verify_detects_truncation_against_the_head_and_count_of_an_earlier_run(crm, contact, config_path, db_url):
    assert run("audit", "seal", config_path, "--db", db_url).exit_code == 0
    expect = ["--expect-head", audit_head(crm), "--expect-count", "4"]
    with crm.session("rita") as s:  # the chain grows: what was seen earlier is still in it
        s.create("note", {"text": "later"})
    assert run("audit", "verify", config_path, "--db", db_url, *expect).exit_code == 0
    ids = audit_ids(crm)
    with crm.engine.begin() as connection:  # cut the end and move the head back: the chain alone looks intact
        connection.execute(sa.text("DELETE FROM sys_audit WHERE id >= :id"), {"id": ids[2]})
        last_hash = connection.execute(sa.text("SELECT hash FROM sys_audit WHERE id = :id"), {"id": ids[1]}).scalar()
        connection.execute(
            sa.text("UPDATE sys_audit_head SET last_id = :id, last_hash = :hash, last_seq = 2"),
            {"id": ids[1], "hash": last_hash},
        )
    assert run("audit", "verify", config_path, "--db", db_url).exit_code == 0
    for args in (expect, expect[:2], expect[2:]):
        result = run("audit", "verify", config_path, "--db", db_url, *args)
        assert result.exit_code == 1, args
        assert result.output.startswith("Audit trail TRUNCATED: rows were removed")
    assert "the chain has 2 rows, but 4 were seen earlier" in result.output
    with crm.engine.begin() as connection:  # everything, head included
        connection.execute(sa.text("DELETE FROM sys_audit"))
        connection.execute(sa.text("DELETE FROM sys_audit_head"))
    assert "intact: 0 rows" in run("audit", "verify", config_path, "--db", db_url).output
    result = run("audit", "verify", config_path, "--db", db_url, *expect)
    assert result.exit_code == 1
    assert f"the head {expect[1][:16]}… seen earlier is no longer in the chain" in result.output
    bad = run("audit", "verify", config_path, "--db", db_url, "--expect-head", "abc")
    assert bad.exit_code == 2 and "64 hexadecimal digits" in bad.output


def test_verify_names_the_first_tampered_row_and_exits_1(crm, contact, config_path, db_url):
    run("audit", "seal", config_path, "--db", db_url)
    tampered = audit_ids(crm)[2]
    with crm.engine.begin() as connection:
        connection.execute(sa.text("UPDATE sys_audit SET changes = '{}' WHERE id = :id"), {"id": tampered})

    result = run("audit", "verify", config_path, "--db", db_url)

    assert result.exit_code == 1
    assert f"Audit trail BROKEN at row {tampered}: row {tampered} was changed after it was sealed" in result.output
    assert "2 rows before it are intact" in result.output


# --- seal ------------------------------------------------------------------------------------


def test_seal_chains_the_rows_written_since_the_last_seal(crm, contact, config_path, db_url):
    result = run("audit", "seal", config_path, "--db", db_url)

    assert result.exit_code == 0, result.output
    head = audit_head(crm)
    assert result.output == (
        f"Audit rows sealed: 4 (sealed rows in the chain: 4; head {head}, row {audit_ids(crm)[-1]}).\n"
    )
    again = run("audit", "seal", config_path, "--db", db_url)
    assert again.exit_code == 0
    assert again.output == f"Nothing to seal (sealed rows in the chain: 4; head {head}).\n"


def test_seal_refuses_to_continue_a_chain_whose_head_is_gone(crm, contact, config_path, db_url):
    run("audit", "seal", config_path, "--db", db_url)
    with crm.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM sys_audit_head"))

    result = run("audit", "seal", config_path, "--db", db_url)

    assert result.exit_code == 1
    assert result.output.startswith("sys_audit_head is gone, but 4 audit rows are sealed: sealing stopped")
    assert "Run `trellis audit verify`" in result.output
    verified = run("audit", "verify", config_path, "--db", db_url)
    assert verified.exit_code == 1
    assert verified.output.startswith("Could not seal before verifying (sys_audit_head is gone")
    assert f"Audit trail BROKEN at row {audit_ids(crm)[0]}" in verified.output


def test_verify_seals_first_and_reports_rows_left_unsealed(crm, contact, config_path, db_url):
    unsealed = run("audit", "verify", config_path, "--db", db_url, "--no-seal")

    assert unsealed.exit_code == 0, unsealed.output
    lines = unsealed.output.splitlines()
    assert lines[0] == "Audit trail intact: 0 rows checked."
    assert lines[3] == (
        "Rows not yet sealed: 4 (oldest at 2026-04-30 18:05:09 UTC, newest at 2026-04-30 18:05:09 UTC). "
        "They are history, but not tamper-evident until sealed (by the worker, or `trellis audit seal`)."
    )
    sealed = run("audit", "verify", config_path, "--db", db_url)
    assert sealed.output.startswith("Audit trail intact: 4 rows checked.")
    assert "not yet sealed" not in sealed.output


def test_commands_on_a_trail_of_an_older_trellis_ask_for_apply(crm, config_path, db_url):
    with crm.engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ux_sys_audit_seal_seq"))
        connection.execute(sa.text("ALTER TABLE sys_audit DROP COLUMN seal_seq"))

    for command in ("seal", "verify"):
        result = run("audit", command, config_path, "--db", db_url)
        assert result.exit_code == 1
        assert "was set up by an older Trellis: run `trellis apply" in result.output


def test_verify_on_a_database_never_set_up_says_what_to_do(config_path, db_url):
    result = run("audit", "verify", config_path, "--db", db_url)

    assert result.exit_code == 1
    assert "has no audit trail yet" in result.output and "trellis apply" in result.output


def test_verify_does_not_need_the_secret_key(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", "a passphrase long enough")
    path = write_config(CONFIG.replace("id_number: {type: text}", "id_number: {type: text, encrypted: true}"))
    crm = Trellis.open(path, db_url)
    crm.apply()
    with crm.session() as s:
        s.create("contact", {"name": "Li Lei", "id_number": "110101199003071234"})
    crm.close()
    monkeypatch.delenv("TRELLIS_SECRET_KEY")

    result = run("audit", "verify", path, "--db", db_url)

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Audit trail intact: 1 row checked.\nHead: ")


@pytest.mark.skipif(not WRITERS_RUN_DURING_VERIFY, reason="writers wait for the verifying transaction")
def test_verify_reads_one_snapshot_so_concurrent_writers_and_sealers_are_not_tampering(crm, contact):
    db = AuditDatabase(crm.config, crm.schema, crm.engine)
    audit.seal(crm.engine, crm.schema)
    with db.snapshot() as connection:
        connection.execute(sa.text("SELECT count(*) FROM sys_audit")).scalar()  # the snapshot starts here
        with crm.session() as s:
            s.create("note", {"text": "written while verify runs"})
        assert audit.seal(crm.engine, crm.schema).sealed == 1  # the worker seals meanwhile
        report = audit.verify(connection, crm.schema)
        assert report == audit.ChainReport(checked=4) and report.unsealed == 0
    with crm.engine.connect() as connection:
        assert audit.verify(connection, crm.schema) == audit.ChainReport(checked=5)


# --- show ------------------------------------------------------------------------------------


def test_show_prints_the_history_oldest_first(crm, contact, config_path, db_url):
    result = run("audit", "show", config_path, "contact", contact.id, "--db", db_url)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"History of contact {contact.id} (2 changes, oldest first):"
    create_at = lines.index(next(line for line in lines if line.endswith("create  (row 3)")))
    assert lines[create_at].startswith("2026-04-30 18:05:09 UTC  rita via web  create")
    assert "    name: (empty) → Li Lei" in lines
    assert "    budget: (empty) → 1200.00" in lines
    update_at = lines.index("2026-04-30 18:05:09 UTC  system via import  update  (row 4)")
    assert update_at > create_at
    assert "    budget: 1200.00 → 1500.50" in lines[update_at:]
    assert "    id_number: (empty) → 110101199003071234" in lines[update_at:]


def test_show_as_a_user_leaves_out_the_fields_hidden_from_them(crm, contact, config_path, db_url):
    result = run("audit", "show", config_path, "contact", contact.id, "--db", db_url, "--as", "audrey")

    assert result.exit_code == 0, result.output
    assert "as audrey sees it" in result.output
    assert "id_number" not in result.output
    assert "110101199003071234" not in result.output
    assert "    budget: 1200.00 → 1500.50" in result.output


def test_show_as_a_user_without_view_audit_is_refused(crm, contact, config_path, db_url):
    result = run("audit", "show", config_path, "contact", contact.id, "--db", db_url, "--as", "rita")

    assert result.exit_code == 1
    assert "rita may not read the audit trail: that needs the view_audit permission" in result.output
    assert "Li Lei" not in result.output


def test_show_as_an_unknown_user_is_an_error(crm, contact, config_path, db_url):
    result = run("audit", "show", config_path, "contact", contact.id, "--db", db_url, "--as", "nobody")

    assert result.exit_code == 1
    assert "there is no user 'nobody'" in result.output


def test_show_an_unknown_object_lists_the_known_ones(crm, config_path, db_url):
    result = run("audit", "show", config_path, "contcat", 1, "--db", db_url)

    assert result.exit_code == 1
    assert "unknown object 'contcat'" in result.output and "contact" in result.output


def test_show_a_record_without_history(crm, config_path, db_url):
    result = run("audit", "show", config_path, "note", 99, "--db", db_url)

    assert result.exit_code == 0
    assert "No audit rows for note 99." in result.output


def test_show_prints_user_changes_too(crm, config_path, db_url):
    with crm.directory() as d:
        rita = d.get("rita")
        d.edit("rita", display_name="Rita Rep")

    result = run("audit", "show", config_path, "sys_user", rita.id, "--db", db_url)

    assert result.exit_code == 0, result.output
    assert "user.add" in result.output and "user.edit" in result.output
    assert "    display_name: (empty) → Rita Rep" in result.output


# --- logins and reads -------------------------------------------------------------------------


def test_logins_lists_recent_attempts_newest_first(crm, config_path, db_url):
    with crm.engine.begin() as connection:
        audit.log_login(connection, crm.schema, "rita", 1, "failed", NOW, ip="10.0.0.7", user_agent="Firefox/126")
        audit.log_login(connection, crm.schema, "rita", 1, "ok", NOW + dt.timedelta(minutes=1), ip="10.0.0.7")
        audit.log_login(
            connection, crm.schema, "audrey", 2, "locked", NOW + dt.timedelta(minutes=2), detail="5 failed attempts"
        )

    everything = run("audit", "logins", config_path, "--db", db_url)
    ritas = run("audit", "logins", config_path, "--db", db_url, "--user", "rita", "--limit", "1")

    assert everything.exit_code == 0, everything.output
    assert everything.output.splitlines() == [
        "2026-04-30 18:07:09 UTC  audrey  locked  ip ?  5 failed attempts",
        "2026-04-30 18:06:09 UTC  rita  ok  ip 10.0.0.7",
        "2026-04-30 18:05:09 UTC  rita  failed  ip 10.0.0.7  Firefox/126",
    ]
    assert ritas.output.splitlines() == ["2026-04-30 18:06:09 UTC  rita  ok  ip 10.0.0.7"]


def test_logins_when_there_are_none(crm, config_path, db_url):
    result = run("audit", "logins", config_path, "--db", db_url, "--user", "rita")

    assert result.exit_code == 0
    assert "No login attempts recorded for rita." in result.output


def test_reads_lists_who_opened_which_record(crm, contact, config_path, db_url):
    with crm.session("rita", channel="web") as s:
        s.get("contact", contact.id)
    with crm.session("audrey", channel="api") as s:
        s.get("contact", contact.id)

    result = run("audit", "reads", config_path, "--db", db_url)
    only_contacts = run("audit", "reads", config_path, "--db", db_url, "--object", "contact", "--limit", "1")
    only_notes = run("audit", "reads", config_path, "--db", db_url, "--object", "note")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"2026-04-30 18:05:09 UTC  audrey via api  read  contact {contact.id}",
        f"2026-04-30 18:05:09 UTC  rita via web  read  contact {contact.id}",
    ]
    assert only_contacts.output.splitlines() == result.output.splitlines()[:1]
    assert only_notes.output.strip() == "No reads recorded."


def test_reads_of_an_unknown_object_is_an_error(crm, config_path, db_url):
    result = run("audit", "reads", config_path, "--db", db_url, "--object", "nope")

    assert result.exit_code == 1
    assert "unknown object 'nope'" in result.output


def test_limit_must_be_positive(crm, config_path, db_url):
    result = run("audit", "logins", config_path, "--db", db_url, "--limit", "0")

    assert result.exit_code == 2
    assert "--limit" in result.output


def test_user_controlled_text_cannot_drive_the_admins_terminal(crm, config_path, db_url):
    """Escape sequences in a failed login's user name and user agent (OSC 52 clipboard write,
    clear screen, a one-byte CSI, a right-to-left override) and what a field value can still
    hold (C0 control characters are refused on write; a C1 CSI and a bidi override are not)
    are shown as visible escapes: the output holds no ESC, BEL or other control byte."""
    from engine.runtime.security import auth

    hostile = "\x1b]52;c;ZWNobyBoaQ==\x07\x1b[2J\x9b1m\u202eevil"
    auth.authenticate(crm, hostile, "wrong-password", ip="10.0.0.9", user_agent="curl\x1b[1A")
    with crm.session("rita", channel="web") as s:
        record = s.create("contact", {"name": "Li \x9b1m\u202eevil"})

    logins = run("audit", "logins", config_path, "--db", db_url)
    shown = run("audit", "show", config_path, "--db", db_url, "contact", record.id)

    for result in (logins, shown):
        assert result.exit_code == 0, result.output
        assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in result.output)
    assert "\\x1b]52;c;ZWNobyBoaQ==\\x07\\x1b[2J\\x9b1m\\u202eevil" in logins.output
    assert "curl\\x1b[1A" in logins.output
    assert "Li \\x9b1m\\u202eevil" in shown.output


def test_every_cli_command_writes_through_the_escaping_helpers():
    """``engine.cli.common.echo``/``secho`` are the only way commands write: no direct click.echo or print."""
    from pathlib import Path

    import engine.cli

    folder = Path(engine.cli.__file__).parent
    for path in folder.glob("*.py"):
        source = path.read_text()
        if path.name == "common.py":
            source = source.split("def user_errors", 1)[1]
        for raw in ("click.echo(", "click.secho(", "print(", "sys.stdout.write", "sys.stderr.write"):
            assert raw not in source, f"{path.name} writes with {raw} instead of common.echo/secho"
