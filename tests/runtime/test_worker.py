"""The worker: scheduled and cron rules fire once per occurrence; the outbox is delivered by
SMTP and signed webhooks with retries, backoff, dead letters and leases.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set (the test
with two worker processes needs PostgreSQL). Time is moved with an injectable clock.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from engine import Trellis
from engine.runtime import imports
from engine.runtime.jobs import delivery, notify, worker
from engine.runtime.jobs.delivery import SmtpSettings, backoff
from engine.runtime.security import audit
from engine.runtime.subscriptions import store
from engine.runtime.workflow import timed, triggers
from tests.conftest import Clock
from tests.receivers import smtp_server, webhook_receiver
from tests.templates import apply_fresh

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Asia/Shanghai")
SECRET = "s3cret-for-tests"

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      status: {type: picklist, values: [new, contacted], default: new}
      tags: {type: tags}
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      contract_end: {type: date}
    pipeline:
      stages: [open, demo, {key: won, outcome: won}, {key: lost, outcome: lost}]
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      email: {type: email}
      birthday: {type: date}
templates:
  overdue: {subject: "Lead {{ record.name }} untouched for 24 hours", body: "Call {{ record.name }}."}
  stalled: {subject: "{{ record.name }}: 5 days in {{ record.stage }}", body: "Need support?"}
  renewal: {subject: "{{ record.name }} ends on {{ record.contract_end }}", body: "Renew it."}
  birthday_soon: {subject: "{{ record.name }}'s birthday is in 7 days", body: "Prepare a card."}
  greeting: {subject: "生日快乐, {{ record.name }}!", body: "All the best from {{ company }}."}
  digest: {subject: "Weekly digest", body: "Here is your week."}
automations:
  - name: lead_overdue
    object: lead
    on: {schedule: {after: 24h, from: created_at}}
    when: "status == 'new'"
    do:
      - {notify: {to: [owner], template: overdue, channels: [in_app, email]}}
      - {add_tags: {field: tags, tags: [overdue]}}
  - name: stalled_deal
    object: deal
    on: {schedule: {after: 5d, from: stage_entered_at}}
    when: "stage in ['open', 'demo']"
    do: [{notify: {to: [owner], template: stalled}}]
  - name: renewal
    object: deal
    on: {schedule: {before: 30d, from: contract_end, window: 7d}}
    do: [{notify: {to: [owner], template: renewal}}]
  - name: birthday_soon
    object: contact
    on: {schedule: {before: 7d, from: birthday, yearly: true}}
    do: [{notify: {to: [owner], template: birthday_soon}}]
  - name: birthday_greeting
    object: contact
    on: {schedule: {after: 9h, from: birthday, yearly: true}}
    do: [{notify: {to: [{field: email}], template: greeting, channels: [email]}}]
  - name: weekly_digest
    on: {cron: "0 9 * * 1"}
    do: [{notify: {to: [{role: manager}], template: digest, channels: [in_app, email]}}]
  - name: open_deals_daily
    object: deal
    on: {cron: "0 8 * * *"}
    when: "stage == 'open'"
    do: [{webhook: {url: "HOOK_URL", secret_env: TRELLIS_TEST_HOOK_SECRET}}]
roles:
  rep:
    objects: {"*": {read: own, edit: own, create: true}}
  manager:
    objects: {"*": {read: all, edit: all, create: true}}
"""

#: Monday 1 June 2026, 09:00 in Shanghai.
MONDAY_9 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=ZONE).astimezone(dt.UTC)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZONE)


@pytest.fixture
def clock():
    return Clock(MONDAY_9)


@pytest.fixture
def open_crm(write_config, db_url, clock, monkeypatch):
    monkeypatch.setenv("TRELLIS_TEST_HOOK_SECRET", SECRET)
    opened = []

    def open_crm(hook_url: str = "https://erp.example.com/hooks/crm") -> Trellis:
        crm = Trellis.open(write_config(CONFIG.replace("HOOK_URL", hook_url)), db_url, clock=clock)
        apply_fresh(crm)
        with crm.directory() as d:
            d.add("boss", roles=["manager"], email="boss@example.com")
            d.add("rita", roles=["rep"], manager="boss", email="rita@example.com")
        opened.append(crm)
        return crm

    yield open_crm
    for crm in opened:
        crm.close()


@pytest.fixture
def crm(open_crm):
    return open_crm()


def rows(crm, table, **where):
    t = crm.schema.system[table]
    with crm.engine.connect() as c:
        statement = sa.select(t).order_by(t.c.id)
        for key, value in where.items():
            statement = statement.where(t.c[key] == value)
        return [dict(r) for r in c.execute(statement).mappings()]


def fired(report, rule):
    counts = report.rules.get(rule)
    return (counts.fired, counts.skipped, counts.failed) if counts else (0, 0, 0)


def sweep(crm, clock, moment):
    return worker.sweep(crm, clock.at(moment))


# --- schedule rules ---------------------------------------------------------------------------------
def test_a_24_hour_rule_fires_once_per_lead(crm, clock):
    with crm.session("rita") as s:
        a = s.create("lead", {"name": "Acme"})
        b = s.create("lead", {"name": "Globex"})
        called = s.create("lead", {"name": "Initech"})
        s.update("lead", called.id, {"status": "contacted"})
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(hours=23, minutes=59)), "lead_overdue") == (0, 0, 0)
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(hours=24)), "lead_overdue") == (2, 1, 0)
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(hours=25)), "lead_overdue") == (0, 0, 0)
    with crm.session("rita") as s:
        assert s.get("lead", a.id)["tags"] == ["overdue"]
        s.update("lead", a.id, {"name": "Acme Ltd"})  # an edit does not re-arm it
        s.update("lead", called.id, {"status": "new"})  # nor does `when` holding later
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=3)), "lead_overdue") == (0, 0, 0)
    runs = rows(crm, "sys_automation_runs", rule="lead_overdue")
    assert sorted((r["record_id"], r["status"]) for r in runs) == [
        (a.id, "done"),
        (b.id, "done"),
        (called.id, "skipped"),
    ]
    created = rows(crm, "sys_audit", object="lead", record_id=a.id)[0]["at"]
    assert runs[0]["run_key"] == f"lead_overdue|{a.id}|{created:%Y-%m-%d %H:%M:%S.%f}"
    assert [n["title"] for n in rows(crm, "sys_notifications", rule="lead_overdue")] == [
        "Lead Acme untouched for 24 hours",
        "Lead Globex untouched for 24 hours",
    ]
    assert [e["target"] for e in rows(crm, "sys_outbox", rule="lead_overdue")] == ["rita@example.com"] * 2
    logged = rows(crm, "sys_audit", object="lead", record_id=b.id)
    assert (logged[-1]["username"], logged[-1]["channel"]) == ("automation:lead_overdue", "automation")


DORMANT = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  member:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      last_purchase: {type: datetime}
      tags: {type: tags}
automations:
  - name: dormant
    object: member
    on: {schedule: {after: OFFSET, from: last_purchase}}
    do: [{add_tags: {field: tags, tags: [dormant]}}]
roles:
  clerk: {objects: {"*": {read: all, edit: all, create: true}}}
"""


def test_a_rule_without_window_sweeps_what_is_new_and_everything_once_a_day(write_config, db_url, clock):
    crm = Trellis.open(write_config(DORMANT.replace("OFFSET", "90d")), db_url, clock=clock)
    try:
        crm.apply()
        with crm.session() as s:
            s.create("member", {"name": "old", "last_purchase": MONDAY_9 - dt.timedelta(days=100)})
        assert fired(sweep(crm, clock, MONDAY_9), "dormant") == (1, 0, 0)  # the first sweep is full
        clock.at(MONDAY_9 + dt.timedelta(hours=1))
        with crm.session() as s:  # an import brings a member whose last purchase is long past
            s.create("member", {"name": "imported", "last_purchase": MONDAY_9 - dt.timedelta(days=300)})
        assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(hours=2)), "dormant") == (1, 0, 0)  # written since
        members = crm.schema.table("member")
        with crm.engine.begin() as c:  # a value no write announces (as a backdated activity moves last_activity_at)
            c.execute(
                sa.insert(members).values(
                    name="quiet",
                    last_purchase=MONDAY_9 - dt.timedelta(days=200),
                    owner_id=None,
                    version=1,
                    created_at=MONDAY_9 - dt.timedelta(days=200),
                    updated_at=MONDAY_9 - dt.timedelta(days=200),
                )
            )
        assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(hours=3)), "dormant") == (0, 0, 0)  # narrowed
        assert fired(sweep(crm, clock, local(2026, 6, 2, 0, 1)), "dormant") == (1, 0, 0)  # the day's full sweep
        assert fired(sweep(crm, clock, local(2026, 6, 2, 0, 2)), "dormant") == (0, 0, 0)
        with crm.engine.begin() as c:
            c.execute(
                sa.insert(members).values(
                    name="earlier",
                    last_purchase=MONDAY_9 - dt.timedelta(days=95),
                    owner_id=None,
                    version=1,
                    created_at=MONDAY_9 - dt.timedelta(days=95),
                    updated_at=MONDAY_9 - dt.timedelta(days=95),
                )
            )
        assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(hours=5)), "dormant") == (
            1,
            0,
            0,
        )  # run for an earlier time: full
        sweeps = crm.schema.system["sys_automation_sweeps"]
        with crm.engine.connect() as c:
            assert c.execute(sa.select(sweeps.c.rule, sweeps.c.signature)).all() == [
                ("dormant", "member|last_purchase|7776000")
            ]
    finally:
        crm.close()
    changed = Trellis.open(write_config(DORMANT.replace("OFFSET", "60d"), "changed.yaml"), db_url, clock=clock)
    try:
        changed.apply()
        with changed.engine.begin() as c:
            c.execute(
                sa.insert(changed.schema.table("member")).values(
                    name="sixty",
                    last_purchase=MONDAY_9 - dt.timedelta(days=70),
                    owner_id=None,
                    version=1,
                    created_at=MONDAY_9 - dt.timedelta(days=70),
                    updated_at=MONDAY_9 - dt.timedelta(days=70),
                )
            )
        assert fired(sweep(changed, clock, local(2026, 6, 2, 0, 3)), "dormant") == (1, 0, 0)  # a changed rule: full
    finally:
        changed.close()


def test_archived_records_do_not_fire(crm, clock):
    with crm.session("rita") as s:
        lead = s.create("lead", {"name": "Gone"})
        s.archive("lead", lead.id)
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=2)), "lead_overdue") == (0, 0, 0)


def test_a_new_stage_re_arms_the_days_in_stage_rule(crm, clock):
    with crm.session("rita") as s:
        deal = s.create("deal", {"name": "Big deal"})
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=4, hours=23)), "stalled_deal") == (0, 0, 0)
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=5)), "stalled_deal") == (1, 0, 0)
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=5, hours=1)), "stalled_deal") == (0, 0, 0)
    clock.at(MONDAY_9 + dt.timedelta(days=6))
    with crm.session("rita") as s:
        s.update("deal", deal.id, {"stage": "demo"})
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=10)), "stalled_deal") == (0, 0, 0)
    assert fired(sweep(crm, clock, MONDAY_9 + dt.timedelta(days=11)), "stalled_deal") == (1, 0, 0)
    assert [n["title"] for n in rows(crm, "sys_notifications", rule="stalled_deal")] == [
        "Big deal: 5 days in Open",
        "Big deal: 5 days in Demo",
    ]  # picklist labels, as people read them


def test_thirty_days_before_a_contract_ends(crm, clock):
    with crm.session("rita") as s:
        ends = s.create("deal", {"name": "Ends 1 Aug", "contract_end": "2026-08-01"})
        s.create("deal", {"name": "Ended long ago", "contract_end": "2025-01-31"})  # outside the window
        s.create("deal", {"name": "No end"})
    # due at the start of 2 July in the company's time zone (1 Aug - 30 days)
    assert fired(sweep(crm, clock, local(2026, 7, 1, 23, 59)), "renewal") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 7, 2, 0, 0)), "renewal") == (1, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 7, 3)), "renewal") == (0, 0, 0)
    assert [r["record_id"] for r in rows(crm, "sys_automation_runs", rule="renewal")] == [ends.id]
    with crm.session("rita") as s:  # a new end date is a new occurrence
        s.update("deal", ends.id, {"contract_end": "2027-08-01"})
    assert fired(sweep(crm, clock, local(2027, 7, 2, 0, 0)), "renewal") == (1, 0, 0)
    with crm.session("rita") as s:  # found later than the 7-day window: skipped
        late = s.create("deal", {"name": "Late", "contract_end": "2027-08-05"})
    assert fired(sweep(crm, clock, local(2027, 7, 20)), "renewal") == (0, 0, 0)
    assert all(r["record_id"] != late.id for r in rows(crm, "sys_automation_runs", rule="renewal"))


def test_birthdays_seven_days_before_and_on_the_day_once_a_year(crm, clock):
    with crm.session("rita") as s:
        ann = s.create("contact", {"name": "Ann", "email": "ann@example.com", "birthday": "1990-06-10"})
        s.create("contact", {"name": "Bo", "birthday": "1985-12-24"})
    for year in (2026, 2027):
        assert fired(sweep(crm, clock, local(year, 6, 2, 23, 0)), "birthday_soon") == (0, 0, 0)
        assert fired(sweep(crm, clock, local(year, 6, 3, 0, 5)), "birthday_soon") == (1, 0, 0)
        assert fired(sweep(crm, clock, local(year, 6, 3, 12)), "birthday_soon") == (0, 0, 0)
        assert fired(sweep(crm, clock, local(year, 6, 10, 8, 59)), "birthday_greeting") == (0, 0, 0)
        assert fired(sweep(crm, clock, local(year, 6, 10, 9, 0)), "birthday_greeting") == (1, 0, 0)
        assert fired(sweep(crm, clock, local(year, 6, 10, 18)), "birthday_greeting") == (0, 0, 0)
    keys = sorted(r["run_key"] for r in rows(crm, "sys_automation_runs") if r["rule"].startswith("birthday"))
    assert keys == [
        f"birthday_greeting|{ann.id}|2026-06-10",
        f"birthday_greeting|{ann.id}|2027-06-10",
        f"birthday_soon|{ann.id}|2026-06-10",
        f"birthday_soon|{ann.id}|2027-06-10",
    ]
    greetings = rows(crm, "sys_outbox", kind="email")
    assert [(g["target"], json.loads(g["payload"])["subject"]) for g in greetings] == [
        ("ann@example.com", "生日快乐, Ann!")
    ] * 2


def test_29_february_is_celebrated_on_28_february_in_other_years(crm, clock):
    with crm.session("rita") as s:
        s.create("contact", {"name": "Leap", "email": "leap@example.com", "birthday": "2000-02-29"})
    assert fired(sweep(crm, clock, local(2027, 2, 28, 9, 30)), "birthday_greeting") == (1, 0, 0)
    assert fired(sweep(crm, clock, local(2027, 3, 1, 9, 30)), "birthday_greeting") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2028, 2, 28, 9, 30)), "birthday_greeting") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2028, 2, 29, 9, 30)), "birthday_greeting") == (1, 0, 0)
    assert fired(sweep(crm, clock, local(2027, 2, 21, 0, 30)), "birthday_soon") == (1, 0, 0)


def test_a_birthday_already_past_when_the_contact_is_added_is_not_greeted_late(crm, clock):
    clock.at(local(2026, 6, 5, 10))
    with crm.session("rita") as s:
        s.create("contact", {"name": "Cy", "email": "cy@example.com", "birthday": "1970-06-03"})
    assert fired(sweep(crm, clock, local(2026, 6, 5, 10)), "birthday_greeting") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2027, 6, 3, 9, 1)), "birthday_greeting") == (1, 0, 0)


def test_schedule_fields_are_indexed_and_the_plan_stays_empty(crm):
    indexes = {ix["name"] for ix in sa.inspect(crm.engine).get_indexes("obj_deal")}
    assert {"ix_obj_deal_stage_entered_at", "ix_obj_deal_contract_end"} <= indexes
    assert "ix_obj_contact_birthday" not in {ix["name"] for ix in sa.inspect(crm.engine).get_indexes("obj_contact")}
    assert crm.plan().empty, str(crm.plan())


def test_a_rule_that_breaks_does_not_stop_the_others(crm, clock, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(triggers.TRIGGERS["cron"], "sweep", broken)
    with crm.session("rita") as s:
        s.create("lead", {"name": "Acme"})
    report = sweep(crm, clock, MONDAY_9 + dt.timedelta(days=1))
    assert fired(report, "lead_overdue") == (1, 0, 0)
    assert report.rules["weekly_digest"].error == "RuntimeError: boom"


# --- the audit trail -----------------------------------------------------------------------------------
def test_every_pass_seals_the_audit_rows_written_before_it_and_by_it(crm, clock):
    with crm.session("rita") as s:
        s.create("lead", {"name": "Acme"})
    assert worker.run_once(crm).sealed == 3  # boss, rita and the lead
    assert worker.run_once(crm).sealed == 0

    report = worker.run_once(crm, clock.at(MONDAY_9 + dt.timedelta(hours=24)))

    assert fired(report.sweep, "lead_overdue") == (1, 0, 0)
    assert (report.sealed, report.seal_error) == (1, None)  # the rule's tag, written in this pass
    with crm.engine.connect() as c:
        chain = audit.verify(c, crm.schema)
    assert (chain.ok, chain.checked, chain.unsealed) == (True, 4, 0)


def test_a_chain_the_sealer_cannot_continue_does_not_stop_the_pass(crm, clock):
    worker.run_once(crm)
    with crm.engine.begin() as c:
        c.execute(sa.text("DELETE FROM sys_audit_head"))
    with crm.session("rita") as s:
        s.create("lead", {"name": "Acme"})

    report = worker.run_once(crm, clock.at(MONDAY_9 + dt.timedelta(hours=24)))

    assert fired(report.sweep, "lead_overdue") == (1, 0, 0)
    assert report.sealed == 0 and report.seal_error.startswith("sys_audit_head is gone, but 2 audit rows are sealed")


def test_schedules_count_only_from_columns_the_object_has(write_config):
    from engine.metadata import load_config
    from engine.metadata.errors import ConfigError

    config = """
trellis: 1
objects:
  lead: {fields: {name: {type: text}}}
automations:
  - {name: a, object: lead, on: {schedule: {after: 5d, from: stage_entered_at}}, do: [{archive: true}]}
  - {name: b, object: lead, on: {schedule: {after: 90d, from: last_activity_at}}, do: [{archive: true}]}
  - {name: c, object: lead, on: {schedule: {after: 90d, from: updated_at}}, do: [{archive: true}]}
"""
    with pytest.raises(ConfigError) as error:
        load_config(write_config(config))
    assert [(i.code, i.path) for i in error.value.issues] == [
        ("T-E032", "automations[0].on.schedule.from"),
        ("T-E032", "automations[1].on.schedule.from"),
    ]


# --- cron rules ---------------------------------------------------------------------------------------
def test_a_weekly_digest_fires_once_per_week(crm, clock):
    assert fired(sweep(crm, clock, local(2026, 6, 1, 8, 59)), "weekly_digest") == (0, 0, 0)  # last week's: too old
    assert fired(sweep(crm, clock, local(2026, 6, 1, 9, 0)), "weekly_digest") == (1, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 6, 1, 9, 30)), "weekly_digest") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 6, 2, 8, 0)), "weekly_digest") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 6, 5, 12, 0)), "weekly_digest") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 6, 8, 9, 1)), "weekly_digest") == (1, 0, 0)
    keys = [r["run_key"] for r in rows(crm, "sys_automation_runs", rule="weekly_digest")]
    assert keys == ["weekly_digest|cron|2026-06-01T09:00:00+08:00", "weekly_digest|cron|2026-06-08T09:00:00+08:00"]
    assert [e["target"] for e in rows(crm, "sys_outbox", kind="email")] == ["boss@example.com"] * 2
    assert [n["user_id"] for n in rows(crm, "sys_notifications")] == [1, 1]


def test_a_worker_deployed_on_friday_does_not_send_mondays_digest(crm, clock):
    assert fired(sweep(crm, clock, local(2026, 6, 5, 12, 0)), "weekly_digest") == (0, 0, 0)
    assert rows(crm, "sys_outbox") == []


def test_a_cron_rule_with_an_object_runs_for_each_record_meeting_when(crm, clock):
    clock.at(local(2026, 5, 30))
    with crm.session("rita") as s:
        ids = [s.create("deal", {"name": f"Deal {i}"}).id for i in range(3)]
        s.update("deal", ids[2], {"stage": "lost"})
    assert fired(sweep(crm, clock, local(2026, 6, 1, 8, 0)), "open_deals_daily") == (2, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 6, 1, 8, 30)), "open_deals_daily") == (0, 0, 0)
    assert fired(sweep(crm, clock, local(2026, 6, 2, 8, 0)), "open_deals_daily") == (2, 0, 0)
    hooks = rows(crm, "sys_outbox", kind="webhook")
    assert sorted(json.loads(h["payload"])["record"]["id"] for h in hooks) == sorted(ids[:2] * 2)
    markers = [r for r in rows(crm, "sys_automation_runs", rule="open_deals_daily") if r["record_id"] is None]
    assert [m["run_key"] for m in markers] == [
        "open_deals_daily|cron|2026-06-01T08:00:00+08:00",
        "open_deals_daily|cron|2026-06-02T08:00:00+08:00",
    ]


def test_cron_time_is_the_latest_at_or_before(clock):
    assert timed.cron_time("0 9 * * 1", local(2026, 6, 1, 9, 0), ZONE) == local(2026, 6, 1, 9, 0)
    assert timed.cron_time("0 9 * * 1", local(2026, 6, 1, 8, 59, 59), ZONE) == local(2026, 5, 25, 9, 0)
    assert timed.anniversary_days(local(2027, 2, 28), local(2027, 2, 28), ZONE) == {
        "02-28": dt.date(2027, 2, 28),
        "02-29": dt.date(2027, 2, 28),
    }


# --- e-mail -------------------------------------------------------------------------------------------
def queue_emails(crm, clock, count=1):
    """Leads created on Monday at 11:00, so that Tuesday 11:00 sends their 24-hour e-mails (and
    Monday 09:00's digest lies more than a day back)."""
    clock.at(MONDAY_9 + dt.timedelta(hours=2))
    with crm.session("rita") as s:
        for i in range(count):
            s.create("lead", {"name": f"Lead {i}"})
    return worker.sweep(crm, clock.at(MONDAY_9 + dt.timedelta(days=1, hours=2)))


def test_templated_emails_reach_a_real_smtp_server(crm, clock, monkeypatch):
    queue_emails(crm, clock, 2)
    with smtp_server() as (url, box):
        monkeypatch.setenv("TRELLIS_SMTP_URL", url)
        monkeypatch.setenv("TRELLIS_MAIL_FROM", "Trellis CRM <crm@example.com>")
        report = worker.run_once(crm, clock.now)
    assert (report.delivery.sent, report.delivery.retried, report.delivery.dead) == (2, 0, 0)
    assert sorted(m["Subject"] for m in box.messages) == [
        "Lead Lead 0 untouched for 24 hours",
        "Lead Lead 1 untouched for 24 hours",
    ]
    message = box.messages[0]
    assert (message["From"], message["To"], box.envelopes[0]) == (
        "Trellis CRM <crm@example.com>",
        "rita@example.com",
        ["rita@example.com"],
    )
    keys = {e["idempotency_key"] for e in rows(crm, "sys_outbox")}
    assert {m["Message-ID"].strip("<>").split("@")[0] for m in box.messages} == keys
    assert message.get_content().strip().startswith("Call Lead")
    assert [(e["status"], e["attempts"], e["sent_at"]) for e in rows(crm, "sys_outbox")] == [("sent", 1, clock.now)] * 2
    assert worker.run_once(crm, clock.now).delivery.sent == 0


def test_without_smtp_emails_wait_visibly(crm, clock, monkeypatch):
    monkeypatch.delenv("TRELLIS_SMTP_URL", raising=False)
    queue_emails(crm, clock)
    report = worker.run_once(crm, clock.now)
    assert (report.delivery.sent, report.delivery.waiting) == (0, 1)
    [mail] = rows(crm, "sys_outbox")
    assert (mail["status"], mail["attempts"], mail["last_error"]) == ("pending", 0, delivery.NO_SMTP)


def test_a_refused_recipient_is_a_dead_letter_and_a_down_server_a_retry(crm, clock):
    queue_emails(crm, clock)
    down = SmtpSettings.parse(f"smtp://127.0.0.1:{_closed_port()}")
    report = delivery.deliver(crm, clock.now, smtp=down, timeout=2)
    assert report.retried == 1
    [mail] = rows(crm, "sys_outbox")
    assert (mail["status"], mail["next_attempt_at"]) == ("retry", clock.now + dt.timedelta(minutes=1))
    assert "Connection refused" in mail["last_error"] or "refused" in mail["last_error"].lower()
    with smtp_server() as (url, box):
        box.refuse.add("rita@example.com")
        report = delivery.deliver(crm, clock.at(clock.now + dt.timedelta(minutes=1)), smtp=SmtpSettings.parse(url))
    [mail] = rows(crm, "sys_outbox")
    assert (report.dead, mail["status"], mail["attempts"]) == (1, "dead", 2)
    assert mail["last_error"].startswith("recipient refused: 550")


def test_smtp_urls(monkeypatch):
    settings = SmtpSettings.parse("smtp://crm%40acme.com:p%40ss@mail.acme.com?starttls=1")
    assert (settings.host, settings.port, settings.starttls, settings.tls) == ("mail.acme.com", 587, True, False)
    assert (settings.username, settings.password, settings.sender) == ("crm@acme.com", "p@ss", "crm@acme.com")
    assert SmtpSettings.parse("smtps://u:p@mail.acme.com").port == 465
    assert SmtpSettings.parse("smtp://localhost:2525", "crm@x.cn").sender == "crm@x.cn"
    with pytest.raises(delivery.DeliverySetupError, match=r"http://user:\*\*\*@mail") as error:
        SmtpSettings.parse("http://user:hunter2@mail.acme.com")
    assert "hunter2" not in str(error.value)
    monkeypatch.delenv("TRELLIS_SMTP_URL", raising=False)
    assert SmtpSettings.from_environment() is None


def _closed_port() -> int:
    from tests.receivers import free_port

    return free_port()


# --- webhooks -----------------------------------------------------------------------------------------
def queue_webhooks(crm, url, count, secret_env="TRELLIS_TEST_HOOK_SECRET"):
    with crm.session() as s:
        for i in range(count):
            notify.enqueue(s, "webhook", "test", url, {"n": i, "name": f"客户 {i}"}, secret_env=secret_env)


def deliver_until_done(crm, clock, passes=40, **options):
    """Run delivery passes, moving the clock to the next due message each time."""
    outbox = crm.schema.system["sys_outbox"]
    for _ in range(passes):
        delivery.deliver(crm, clock.now, smtp=None, timeout=2, **options)
        with crm.engine.connect() as c:
            due = c.execute(
                sa.select(sa.func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.status.in_(("pending", "retry")), outbox.c.kind == "webhook"
                )
            ).scalar()
        if due is None:
            return
        clock.at(max(due, clock.now))
    raise AssertionError("the outbox did not drain")


def test_a_flaky_receiver_gets_every_webhook_once_signed(open_crm, clock):
    with webhook_receiver(SECRET, fail_before=0.15, fail_after=0.15) as (url, receiver):
        crm = open_crm(url)
        clock.at(local(2026, 5, 30))
        with crm.session("rita") as s:
            for i in range(20):
                s.create("deal", {"name": f"Deal {i}"})
        assert fired(sweep(crm, clock, local(2026, 6, 1, 8, 0)), "open_deals_daily") == (20, 0, 0)
        queue_webhooks(crm, url, 40)
        deliver_until_done(crm, clock)
    outbox = rows(crm, "sys_outbox", kind="webhook")
    assert len(outbox) == 60 and {m["status"] for m in outbox} == {"sent"}
    assert receiver.bad_signatures == []
    assert set(receiver.processed) == {m["idempotency_key"] for m in outbox}
    assert sum(receiver.seen.values()) > 60, "the receiver should have failed some requests"
    assert max(receiver.seen.values()) > 1 and max(m["attempts"] for m in outbox) > 1
    deals = sorted(p["record"]["name"] for p in receiver.processed.values() if "record" in p)
    assert deals == sorted(f"Deal {i}" for i in range(20))
    assert sorted(p["n"] for p in receiver.processed.values() if "n" in p) == list(range(40))


def test_backoff_doubles_until_the_message_is_dead(crm, clock):
    with webhook_receiver(SECRET, status=503) as (url, receiver):
        queue_webhooks(crm, url, 1)
        start = clock.now
        waits = []
        for _ in range(4):
            delivery.deliver(crm, clock.now, smtp=None, max_attempts=4)
            [message] = rows(crm, "sys_outbox")
            if message["status"] == "dead":
                break
            waits.append((message["next_attempt_at"] - clock.now).total_seconds())
            clock.at(message["next_attempt_at"])
    assert waits == [60, 120, 240]
    assert (message["status"], message["attempts"]) == ("dead", 4)
    assert message["last_error"] == "gave up after 4 attempts: HTTP 503: ok"
    assert sum(receiver.seen.values()) == 4 and clock.now - start == dt.timedelta(minutes=7)
    assert [backoff(n) for n in (1, 2, 3, 7, 9, 10, 30)] == [60, 120, 240, 3840, 15360, 6 * 3600, 6 * 3600]


def test_a_permanent_refusal_is_dead_at_once_and_can_be_requeued(crm, clock):
    with webhook_receiver(SECRET, status=404) as (url, receiver):
        queue_webhooks(crm, url, 1)
        report = delivery.deliver(crm, clock.now, smtp=None)
        [message] = rows(crm, "sys_outbox")
        assert (report.dead, message["status"], message["attempts"]) == (1, "dead", 1)
        assert message["last_error"] == "HTTP 404: ok"
        receiver.status = None
        assert delivery.requeue_dead(crm, clock.now) == 1
        assert delivery.deliver(crm, clock.now, smtp=None).sent == 1
    assert list(receiver.processed) == [message["idempotency_key"]]


def test_rate_limits_are_retried_after_the_receivers_retry_after(crm, clock):
    with webhook_receiver(SECRET, status=429, retry_after="600") as (url, _receiver):
        queue_webhooks(crm, url, 1)
        assert delivery.deliver(crm, clock.now, smtp=None).retried == 1
    [message] = rows(crm, "sys_outbox")
    assert (message["status"], message["next_attempt_at"]) == ("retry", clock.now + dt.timedelta(seconds=600))


def test_a_missing_secret_is_retried_not_sent_unsigned(crm, clock, monkeypatch):
    with webhook_receiver(SECRET) as (url, receiver):
        queue_webhooks(crm, url, 1, secret_env="TRELLIS_TEST_UNSET_SECRET")
        monkeypatch.delenv("TRELLIS_TEST_UNSET_SECRET", raising=False)
        assert delivery.deliver(crm, clock.now, smtp=None).retried == 1
    [message] = rows(crm, "sys_outbox")
    assert "TRELLIS_TEST_UNSET_SECRET" in message["last_error"] and sum(receiver.seen.values()) == 0


def test_an_unreachable_receiver_and_a_timeout_are_retried(crm, clock):
    queue_webhooks(crm, f"http://127.0.0.1:{_closed_port()}/x", 1)
    with webhook_receiver(SECRET, delay=1.5) as (url, _receiver):
        queue_webhooks(crm, url, 1)
        report = delivery.deliver(crm, clock.now, smtp=None, timeout=0.5)
    assert report.retried == 2
    errors = [m["last_error"] for m in rows(crm, "sys_outbox")]
    assert errors[0].startswith("cannot reach http://127.0.0.1") and "timed out" in errors[1]


def test_an_address_from_the_environment_is_read_at_delivery_and_never_stored(crm, clock, monkeypatch):
    monkeypatch.delenv("TRELLIS_TEST_HOOK_URL", raising=False)
    queue_webhooks(crm, "${TRELLIS_TEST_HOOK_URL}", 1)  # what `url_env: TRELLIS_TEST_HOOK_URL` queues
    assert delivery.deliver(crm, clock.now, smtp=None).retried == 1
    [waiting] = rows(crm, "sys_outbox")
    assert waiting["last_error"] == (
        "the environment variable TRELLIS_TEST_HOOK_URL (the webhook's URL) is not set for the worker"
    )
    monkeypatch.setenv("TRELLIS_TEST_HOOK_URL", "ftp://files.example.com/x?token=t0p")
    assert delivery.deliver(crm, clock.at(waiting["next_attempt_at"]), smtp=None).retried == 1
    [bad] = rows(crm, "sys_outbox")
    assert "not an http(s) URL" in bad["last_error"] and "t0p" not in bad["last_error"]
    with webhook_receiver(SECRET) as (url, receiver):
        monkeypatch.setenv("TRELLIS_TEST_HOOK_URL", url + "?token=t0p")
        assert delivery.deliver(crm, clock.at(bad["next_attempt_at"]), smtp=None).sent == 1
    [sent] = rows(crm, "sys_outbox")
    assert sent["target"] == "${TRELLIS_TEST_HOOK_URL}" and len(receiver.processed) == 1


def test_delivery_errors_do_not_keep_a_urls_password_or_token(crm, clock):
    port = _closed_port()
    queue_webhooks(crm, f"http://erp:s3cr3t@127.0.0.1:{port}/hook?token=abc123&mode=full", 1)
    report = delivery.deliver(crm, clock.now, smtp=None)
    [message] = rows(crm, "sys_outbox")
    assert message["last_error"].startswith(f"cannot reach http://erp:***@127.0.0.1:{port}/hook?token=***&mode=***")
    assert "s3cr3t" not in message["last_error"] + " ".join(report.errors)
    assert "abc123" not in message["last_error"] + " ".join(report.errors)


def test_a_crashed_workers_messages_come_back_after_the_lease(crm, clock):
    with webhook_receiver(SECRET) as (url, receiver):
        queue_webhooks(crm, url, 2)
        lease = dt.timedelta(minutes=5)
        with crm.engine.connect() as connection:  # a worker claims one message, then dies
            claimed = delivery.claim(crm, clock.now, 1, "crashed-worker", ["webhook"], lease, connection)
        assert [m["status"] for m in claimed] == ["sending"]
        assert delivery.deliver(crm, clock.now, smtp=None).sent == 1  # the other one
        assert delivery.deliver(crm, clock.at(clock.now + lease), smtp=None).sent == 1
    assert {m["status"] for m in rows(crm, "sys_outbox")} == {"sent"}
    assert len(receiver.processed) == 2


# --- several worker processes (issue 18 §3) -------------------------------------------------------------
#: What the worker processes' config adds to CONFIG: a report e-mailed to the managers every Monday.
SUBSCRIBED = """
reports:
  leads_by_status: {object: lead, group_by: [status], measures: [count]}
subscriptions:
  monday_leads:
    report: leads_by_status
    schedule: {weekly: "monday 08:00"}
    roles: [manager]
"""
#: The Monday after MONDAY_9, a minute past the subscription's time: when the workers run.
NEXT_MONDAY = local(2026, 6, 8, 8, 1).astimezone(dt.UTC)


def worker_command(config: Path, db_url: str, *options: str) -> list[str]:
    """``trellis worker CONFIG --db URL OPTIONS`` in a process of its own."""
    return [
        sys.executable,
        "-c",
        "from engine.cli import main; main()",
        "worker",
        str(config),
        "--db",
        db_url,
        *options,
    ]


def worker_env() -> dict[str, str]:
    env = {**os.environ, "TRELLIS_TEST_HOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    env.pop("TRELLIS_SMTP_URL", None)
    return env


def queue_import(crm, tmp_path: Path, name: str, count: int, batch: int) -> int:
    """A queued import of ``count`` leads (``name-0``…), as the web wizard queues it; its job id."""
    path = tmp_path / f"{name}.csv"
    path.write_text("name\n" + "".join(f"{name}-{n}\n" for n in range(count)), encoding="utf-8")
    return imports.start(crm, "lead", path, imports.ImportOptions(batch=batch), queue=True).id


def lead_names(crm) -> list[str]:
    table = crm.schema.table("lead")
    with crm.engine.connect() as c:
        return list(c.execute(sa.select(table.c.name)).scalars())


@pytest.mark.skipif(
    not os.environ.get("TRELLIS_TEST_DATABASE_URL"),
    reason="SQLite has one writer at a time; concurrent workers are a PostgreSQL deployment",
)
def test_four_worker_processes_share_sweeps_delivery_imports_and_subscriptions_once(
    crm, clock, db_url, write_config, tmp_path
):
    config = write_config(CONFIG.replace("HOOK_URL", "https://unused.example.com") + SUBSCRIBED, "workers.yaml")
    subscribed = Trellis.open(config, db_url, clock=clock)
    store.sync_rules(subscribed, clock.now)  # the managers' rows, due next Monday 08:00
    subscribed.close()
    with crm.session("rita") as s:  # a week old and still new: lead_overdue is due for each
        for n in range(30):
            s.create("lead", {"name": f"stale-{n}"})
    jobs_queued = [queue_import(crm, tmp_path, f"imp{i}", 100, batch=25) for i in range(4)]
    with webhook_receiver(SECRET, delay=0.002) as (url, receiver):
        queue_webhooks(crm, url, 400)
        command = worker_command(config, db_url, "--once", "--batch", "25", "--at", NEXT_MONDAY.isoformat())
        processes = [
            subprocess.Popen(
                command, env=worker_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
    webhooks = [m for m in rows(crm, "sys_outbox") if m["kind"] == "webhook"]
    assert len(webhooks) == 400 and {m["status"] for m in webhooks} == {"sent"}
    assert receiver.bad_signatures == []
    assert len(receiver.processed) == 400 and max(receiver.seen.values()) == 1  # no duplicates, nothing lost
    sent = [int(out.split("outbox: sent ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent) == 400 and sum(1 for n in sent if n) >= 2, outputs  # shared, none sent twice
    overdue = rows(crm, "sys_automation_runs", rule="lead_overdue")
    assert len(overdue) == 30 and len({r["record_id"] for r in overdue}) == 30  # each lead's occurrence once
    assert len(rows(crm, "sys_notifications", rule="lead_overdue")) == 30
    assert [m["target"] for m in rows(crm, "sys_outbox", rule="subscription:monday_leads")] == ["boss@example.com"]
    imported = [n for n in lead_names(crm) if n.startswith("imp")]
    assert len(imported) == len(set(imported)) == 400  # every row of the four files, once
    assert {imports.status(crm, job).status for job in jobs_queued} == {"done"}
    beats = crm.schema.system["sys_worker_heartbeats"]
    with crm.engine.connect() as c:  # each process reported its pass (/readyz)
        assert c.execute(sa.select(sa.func.count()).select_from(beats)).scalar() == 4


@pytest.mark.skipif(
    not os.environ.get("TRELLIS_TEST_DATABASE_URL"),
    reason="SQLite has one writer at a time; concurrent workers are a PostgreSQL deployment",
)
def test_a_worker_killed_mid_import_leaves_a_lease_that_runs_out_and_another_finishes_the_job(
    crm, db_url, write_config, tmp_path
):
    config = write_config(CONFIG.replace("HOOK_URL", "https://unused.example.com"), "workers.yaml")
    job = queue_import(crm, tmp_path, "big", 800, batch=20)
    command = worker_command(config, db_url, "--once")
    doomed = subprocess.Popen(
        command, env=worker_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while (imports.status(crm, job).rows_done or 0) < 40:  # two batches committed
            assert doomed.poll() is None and time.monotonic() < deadline, "the job did not start"
            time.sleep(0.02)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    held = imports.status(crm, job)
    assert held.status == "running" and held.lease_owner and held.rows_done < 800
    assert held.lease_until > dt.datetime.now(dt.UTC)  # another worker leaves it alone until then…
    table = crm.schema.system["sys_import_jobs"]
    with crm.engine.begin() as c:  # …two minutes (imports.queue.LEASE), here run out at once
        c.execute(sa.update(table).values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    taken_over = subprocess.run(command, env=worker_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert taken_over.returncode == 0, taken_over.stderr
    done = imports.status(crm, job)
    assert (done.status, done.rows_done, done.created) == ("done", 800, 800)
    names = lead_names(crm)
    assert len(names) == len(set(names)) == 800  # the rows of the killed worker's batches are not imported twice
