"""Retention with approval (issue 18 §4) as an operator and a compliance officer meet it on the
command line: ``trellis retention report`` and ``run --yes`` on an object whose policy names an
approver.

A run purges nothing by itself: it files one request holding exactly the records due, says it
waits, and once approved purges exactly the approved records still due and unchanged (a record
changed since, or no longer due, stays); a rejection stands until the records due change; every
decision is audited, and the audit entries outlive the purge (the chain still verifies).
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime import retention_requests
from engine.runtime.errors import ValidationFailed
from engine.runtime.security.permissions import PermissionDenied
from tests.conftest import Clock
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
roles:
  compliance:
    label: Compliance
    objects: {lead: {read: all}}
    permissions: [approve]
  rep:
    objects: {lead: {read: own, edit: own, create: true}, deal: {read: own, edit: own, create: true}}
    permissions: [approve]
objects:
  lead:
    title: "{name}"
    plural_label: {en: Leads, zh: 线索}
    retention: {years: 2, action: purge, from: ended_on, approval: {role: compliance}}
    fields:
      name: {type: text, required: true}
      ended_on: {type: date}
  deal:
    retention: false
    fields:
      name: {type: text}
      lead: {type: lookup, object: lead}
"""
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LONG_AGO = (NOW - dt.timedelta(days=5 * 365)).date()
LATELY = (NOW - dt.timedelta(days=30)).date()


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def lead_ids(crm: Trellis) -> set[int]:
    with crm.engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT id FROM obj_lead")).scalars())


def audit_rows(crm: Trellis, action: str) -> list[sa.Row]:
    with crm.engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT username, object, record_id, changes FROM sys_audit WHERE action = :a ORDER BY id"),
            {"a": action},
        ).all()


@pytest.fixture
def sample(write_config, db_url):
    config = write_config(CONFIG)
    crm = Trellis.open(config, db_url, clock=Clock(NOW))
    apply_fresh(crm)
    with crm.directory() as directory:
        directory.add("cora", roles=["compliance"])
        directory.add("rita", roles=["rep"])
    with crm.session() as s:
        ids = {
            name: s.create("lead", {"name": name, "ended_on": ended}).id
            for name, ended in (
                ("Ended long ago", LONG_AGO),
                ("Renamed since", LONG_AGO),
                ("Reopened since", LONG_AGO),
                ("Pointed at", LONG_AGO),
                ("Ended lately", LATELY),
            )
        }
        s.create("deal", {"name": "Deal", "lead": ids["Pointed at"]})
    yield crm, config, db_url, ids
    crm.close()


def test_retapprove_a_run_files_a_request_and_purges_only_what_was_approved_and_still_due(sample):
    crm, config, db_url, ids = sample
    everyone = lead_ids(crm)

    report = run("retention", "report", config, "--db", db_url)
    assert report.exit_code == 0, report.output
    assert "Leads: 4 would be purged" in report.output
    assert "(held for approval by Compliance before anything is done)" in report.output

    filed = run("retention", "run", config, "--db", db_url, "--yes")
    assert filed.exit_code == 0, filed.output
    assert "Leads: 4 held for approval by Compliance (request #1); nothing was changed." in filed.output
    assert lead_ids(crm) == everyone
    again = run("retention", "run", config, "--db", db_url, "--yes")
    assert "Leads: waiting for approval by Compliance (request #1, 4 records); nothing was changed." in again.output
    assert lead_ids(crm) == everyone
    pending = run("retention", "report", config, "--db", db_url)
    assert "Retention requests:" in pending.output
    assert "#1 Leads: 4 to purge, waiting for approval by Compliance since" in pending.output

    # rita holds `approve`, but is not the approver; a rejection says why
    with crm.session(user="rita") as s, pytest.raises(PermissionDenied, match="is for role compliance to decide"):
        retention_requests.decide(s, 1, "approve")
    with crm.session(user="cora") as s, pytest.raises(ValidationFailed):
        retention_requests.decide(s, 1, "reject", "  ")
    with crm.session() as s:  # after the request: one record renamed, one no longer due
        s.update("lead", ids["Renamed since"], {"name": "Renamed since (kept on purpose)"})
        s.update("lead", ids["Reopened since"], {"ended_on": LATELY})
    with crm.session(user="cora") as s:
        decided = retention_requests.decide(s, 1, "approve")
    assert decided.status == "approved" and decided.decided_by_name == "cora"
    approved = run("retention", "report", config, "--db", db_url)
    assert "#1 Leads: 4 to purge, approved by cora on" in approved.output

    done = run("retention", "run", config, "--db", db_url, "--yes")
    assert done.exit_code == 0, done.output
    assert "Leads: 1 purged" in done.output
    assert (
        "Leads: request #1 carried out: 1 purged, 1 kept (still referred to), "
        "2 left because they changed or are no longer due." in done.output
    )
    assert lead_ids(crm) == everyone - {ids["Ended long ago"]}

    purges = audit_rows(crm, "purge")
    assert [(p.object, p.record_id) for p in purges] == [("lead", ids["Ended long ago"])]
    assert '"request":1' in purges[0].changes.replace(" ", "")
    decisions = audit_rows(crm, "retention.approved")
    assert [(d.username, d.object, d.record_id) for d in decisions] == [("cora", "lead", None)]
    assert '"records":[null,4]' in decisions[0].changes.replace(" ", "")
    assert len(audit_rows(crm, "retention.request")) == 1 and len(audit_rows(crm, "retention.done")) == 1
    verify = run("audit", "verify", config, "--db", db_url)
    assert verify.exit_code == 0, verify.output

    # The renamed record is still due and was never approved as it is now: a new request holds
    # it with the one kept; rejected, it stands until the records due change.
    second = run("retention", "run", config, "--db", db_url, "--yes")
    assert "Leads: 2 held for approval by Compliance (request #2)" in second.output
    with crm.session(user="cora") as s:
        retention_requests.decide(s, 2, "reject", "Litigation hold on these two")
    rejected = run("retention", "run", config, "--db", db_url, "--yes")
    assert (
        "Leads: request #2 was rejected by cora (Litigation hold on these two); "
        "no new request until the records due change. Nothing was changed." in rejected.output
    )
    shown = run("retention", "report", config, "--db", db_url)
    assert "#2 Leads: 2 to purge, rejected by cora on" in shown.output and "Litigation hold" in shown.output
    with crm.session() as s:
        s.create("lead", {"name": "Another one", "ended_on": LONG_AGO})
    third = run("retention", "run", config, "--db", db_url, "--yes")
    assert "Leads: 3 held for approval by Compliance (request #3)" in third.output
    assert lead_ids(crm) == everyone - {ids["Ended long ago"]} | {max(lead_ids(crm))}
    rejections = audit_rows(crm, "retention.rejected")
    assert [(r.username, r.record_id) for r in rejections] == [("cora", None)]
    assert "Litigation hold" in rejections[0].changes


def test_retapprove_the_report_speaks_chinese(sample, monkeypatch):
    crm, config, db_url, _ = sample
    monkeypatch.setenv("TRELLIS_LANG", "zh")
    run("retention", "run", config, "--db", db_url, "--yes")
    report = run("retention", "report", config, "--db", db_url)
    assert report.exit_code == 0, report.output
    assert "线索：将彻底删除 4 条" in report.output and "须经 Compliance 批准后才会执行" in report.output
    assert "保留策略申请：" in report.output and "条待彻底删除，自" in report.output


def test_retapprove_a_request_is_withdrawn_once_the_policy_needs_no_approval(sample, write_config):
    crm, config, db_url, ids = sample
    assert "(request #1)" in run("retention", "run", config, "--db", db_url, "--yes").output
    plain = write_config(CONFIG.replace(", approval: {role: compliance}", ""), "plain.yaml")
    done = run("retention", "run", plain, "--db", db_url, "--yes")
    assert done.exit_code == 0, done.output
    assert "Leads: 3 purged" in done.output and "Leads: 1 past retention kept" in done.output
    assert lead_ids(crm) == {ids["Pointed at"], ids["Ended lately"]}
    report = run("retention", "report", plain, "--db", db_url)
    assert "#1 Leads: 4 to purge, withdrawn on" in report.output
    assert "the policy no longer needs approval" in report.output
    assert [(w.object, w.record_id) for w in audit_rows(crm, "retention.withdrawn")] == [("lead", None)]


def test_retapprove_a_request_is_withdrawn_once_the_object_keeps_its_records(sample, write_config):
    crm, config, db_url, ids = sample
    assert "(request #1)" in run("retention", "run", config, "--db", db_url, "--yes").output
    kept = write_config(
        CONFIG.replace(
            "retention: {years: 2, action: purge, from: ended_on, approval: {role: compliance}}", "retention: false"
        ),
        "kept.yaml",
    )
    done = run("retention", "run", kept, "--db", db_url, "--yes")
    assert done.exit_code == 0, done.output
    assert len(lead_ids(crm)) == 5  # nothing purged, nothing left waiting on the approvers
    with crm.session() as s:
        assert retention_requests.get(s, 1).status == "withdrawn"
    assert [(w.object, w.record_id) for w in audit_rows(crm, "retention.withdrawn")] == [("lead", None)]
