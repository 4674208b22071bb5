"""``trellis worker`` as an operator runs it: ``--once --at`` passes that fire scheduled rules
once and send e-mail to a real SMTP server; clear errors for bad options and an
unprepared database, never a traceback.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.cli.common import parse_time
from engine.runtime.errors import TrellisError
from tests.receivers import smtp_server, webhook_receiver
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, company: Acme}
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      status: {type: picklist, values: [new, contacted], default: new}
templates:
  overdue: {subject: "Lead {{ record.name }} untouched for 24 hours", body: "Call {{ record.name }} today."}
automations:
  - name: lead_overdue
    object: lead
    on: {schedule: {after: 24h, from: created_at}}
    when: "status == 'new'"
    do: [{notify: {to: [owner], template: overdue, channels: [in_app, email]}}]
  - name: ping_erp
    object: lead
    on: created
    do: [{webhook: {url: "HOOK_URL", secret_env: TRELLIS_CLI_HOOK_SECRET}}]
roles:
  rep:
    objects: {"*": {read: own, edit: own, create: true}}
"""
CREATED = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


def run(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def setup(write_config, db_url, monkeypatch):
    monkeypatch.delenv("TRELLIS_SMTP_URL", raising=False)
    monkeypatch.setenv("TRELLIS_CLI_HOOK_SECRET", "cli-secret")
    opened = []

    def setup(hook_url="http://127.0.0.1:9/unused"):
        path = write_config(CONFIG.replace("HOOK_URL", hook_url))
        crm = Trellis.open(path, db_url, clock=lambda: CREATED)
        apply_fresh(crm)
        with crm.directory() as d:
            d.add("rita", roles=["rep"], email="rita@example.com")
        with crm.session("rita") as s:
            s.create("lead", {"name": "Acme"})
            s.create("lead", {"name": "Globex"})
        opened.append(crm)
        return path, crm

    yield setup
    for crm in opened:
        crm.close()


def outbox(crm, kind):
    table = crm.schema.system["sys_outbox"]
    with crm.engine.connect() as c:
        return [
            dict(r) for r in c.execute(sa.select(table).where(table.c.kind == kind).order_by(table.c.id)).mappings()
        ]


def test_once_at_fires_due_rules_once_and_mails_them(setup, db_url):
    path, crm = setup()
    early = run("worker", path, "--db", db_url, "--once", "--at", "2026-06-02T08:59")
    assert early.exit_code == 0, early.output
    assert "Pass at 2026-06-02 08:59:00 CST (00:59:00 UTC)" in early.output
    assert "rules: none due" in early.output
    assert "e-mails waiting" not in early.output
    assert "audit: sealed 3" in early.output  # rita and her two leads
    with smtp_server() as (url, box):
        env = {"TRELLIS_SMTP_URL": url, "TRELLIS_MAIL_FROM": "crm@acme.example"}
        due = run("worker", path, "--db", db_url, "--once", "--at", "2026-06-02T09:00+08:00", env=env)
        again = run("worker", path, "--db", db_url, "--once", "--at", "2026-06-02T10:00", env=env)
    assert due.exit_code == 0, due.output
    assert "rule lead_overdue: fired 2, skipped 0, failed 0" in due.output
    assert "outbox: sent 2, retried 2, dead 0" in due.output  # the two webhooks: nobody listens on port 9
    assert "! webhook 1 to http://127.0.0.1:9/unused: cannot reach" in due.output
    assert sorted(m["Subject"] for m in box.messages) == [
        "Lead Acme untouched for 24 hours",
        "Lead Globex untouched for 24 hours",
    ]
    assert {m["From"] for m in box.messages} == {"crm@acme.example"}
    assert again.exit_code == 0 and "rules: none due" in again.output and "outbox: sent 0" in again.output
    assert "audit: sealed 0" in again.output
    assert [m["status"] for m in outbox(crm, "email")] == ["sent", "sent"]


def test_without_smtp_the_pass_says_that_emails_wait(setup, db_url):
    path, crm = setup()
    result = run("worker", path, "--db", db_url, "--once", "--at", "2026-06-03")
    assert result.exit_code == 0, result.output
    assert "e-mails waiting: 2 (no SMTP configured: set TRELLIS_SMTP_URL)" in result.output
    assert {m["status"] for m in outbox(crm, "email")} == {"pending"}


def test_webhooks_are_signed_and_dead_letters_can_be_requeued(setup, db_url):
    with webhook_receiver("cli-secret", status=410) as (url, receiver):
        path, crm = setup(url)
        gone = run("worker", path, "--db", db_url, "--once", "--at", "2026-06-01T09:30")
        assert "outbox: sent 0, retried 0, dead 2" in gone.output, gone.output
        assert "HTTP 410" in gone.output
        receiver.status = None
        again = run("worker", path, "--db", db_url, "--once", "--requeue-dead", "--at", "2026-06-01T09:31")
    assert again.exit_code == 0, again.output
    assert "Requeued 2 dead letters." in again.output and "outbox: sent 2" in again.output
    assert receiver.bad_signatures == [] and len(receiver.processed) == 2


def test_bad_at_is_a_clear_error(setup, db_url):
    path, crm = setup()
    result = run("worker", path, "--db", db_url, "--once", "--at", "next tuesday")
    assert result.exit_code == 1
    assert "--at 'next tuesday' is not an ISO date-time" in result.output


def test_a_bad_smtp_url_is_a_clear_error(setup, db_url):
    path, crm = setup()
    result = run("worker", path, "--db", db_url, "--once", env={"TRELLIS_SMTP_URL": "mail.example.com:25"})
    assert result.exit_code == 1 and "is not an SMTP URL" in result.output


def test_an_unprepared_database_is_a_clear_error(write_config, tmp_path):
    path = write_config(CONFIG.replace("HOOK_URL", "https://erp.example.com/hooks"))
    result = run("worker", path, "--db", f"sqlite:///{tmp_path / 'empty.db'}", "--once")
    assert result.exit_code == 1
    assert f"has no Trellis tables yet: run `trellis apply {path}`" in result.output


def test_times_without_an_offset_are_in_the_company_time_zone():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    assert parse_time("--at", "2026-06-01T09:00", zone) == dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)
    assert parse_time("--at", "2026-06-01", zone) == dt.datetime(2026, 5, 31, 16, 0, tzinfo=dt.UTC)
    assert parse_time("--at", "2026-06-01T09:00Z", zone) == dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
    with pytest.raises(TrellisError):
        parse_time("--at", "1 June", zone)
