"""Automation rules triggered by writes: conditions, actions, the outbox, loop guard and failures.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set. Time-based
triggers and delivery are the worker's (tests/runtime/test_worker.py).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from engine import Trellis, ValidationFailed
from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.runtime.jobs import inbox
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, automation_depth: 3}
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      source: {type: picklist, values: [website, ads, referral]}
      status: {type: picklist, values: [new, contacted, qualified], default: new}
      score: {type: integer, default: 0}
      tags: {type: tags}
      bounce: {type: integer, default: 0}
      email: {type: email}
      note: {type: text, max_length: 5}
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      lead: {type: lookup, object: lead}
    pipeline:
      stages: [open, {key: signed, outcome: won}, {key: lost, outcome: lost}]
  task:
    title: "{subject}"
    fields:
      subject: {type: text, required: true}
      deal: {type: lookup, object: deal}
      due: {type: date}
templates:
  qualified:
    subject: "Lead {{ record.name }} is qualified"
    body: "Score {{ record.score }}. <b>Call today.</b>"
automations:
  - name: score_website
    object: lead
    on: created
    when: "source == 'website'"
    do: [{add: {score: 60}}]
  - name: score_ads
    object: lead
    on: created
    when: "source == 'ads'"
    do: [{set: {score: "=score + 40"}}]
  - name: tell_owner_when_qualified
    object: lead
    on: {changed: [status]}
    to: qualified
    do:
      - {notify: {to: [owner, manager], template: qualified, channels: [in_app, email]}}
      - {add_tags: {field: tags, tags: [hot]}}
  - name: survey_and_invoice
    object: deal
    on: {stage_entered: signed}
    do:
      - {create: {object: task, fields: {subject: "=name + ' – satisfaction survey'", due: "=add_days(today(), 7)"}}}
      - {webhook: {url: "https://erp.example.com/hooks/invoice", secret_env: ERP_SECRET}}
  - name: ping_pong
    object: lead
    on: {changed: [bounce]}
    do: [{set: {bounce: "=bounce + 1"}}]
  - name: broken_note
    object: lead
    on: {changed: [name]}
    when: "old['name'] != name"
    do: [{set: {note: "far too long"}}]
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
      deal: {read: own, edit: own, create: true}
      task: {read: own, edit: own, create: true}
  lead_manager:
    objects:
      lead: {read: subtree}
"""

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("boss", roles=["rep", "lead_manager"], email="boss@example.com")
        d.add("rita", roles=["rep"], manager="boss", email="rita@example.com")
    yield crm
    crm.close()


def rows(crm, table, **where):
    t = crm.schema.system[table]
    with crm.engine.connect() as c:
        statement = sa.select(t).order_by(t.c.id)
        for key, value in where.items():
            statement = statement.where(t.c[key] == value)
        return [dict(r) for r in c.execute(statement).mappings()]


def test_created_rules_score_leads_by_source(crm):
    with crm.session("rita") as s:
        website = s.create("lead", {"name": "A", "source": "website"})
        ads = s.create("lead", {"name": "B", "source": "ads"})
        other = s.create("lead", {"name": "C", "source": "referral"})
    assert (website["score"], ads["score"], other["score"]) == (60, 40, 0)
    audit = rows(crm, "sys_audit", record_id=website.id, object="lead")
    assert [(a["action"], a["username"], a["channel"]) for a in audit] == [
        ("create", "rita", "python"),
        ("update", "automation:score_website", "automation"),
    ]
    runs = rows(crm, "sys_automation_runs", rule="score_website")
    assert [(r["record_id"], r["status"]) for r in runs] == [(website.id, "done")]


def test_a_change_to_a_value_notifies_owner_and_manager_in_app_and_by_email(crm):
    with crm.session("rita") as s:
        lead = s.create("lead", {"name": "Acme <script>", "source": "website"})
        s.update("lead", lead.id, {"status": "contacted"})
        assert s.get("lead", lead.id)["tags"] in (None, [])
        updated = s.update("lead", lead.id, {"status": "qualified"})
    assert updated["tags"] == ["hot"]
    notes = rows(crm, "sys_notifications")
    assert sorted(n["user_id"] for n in notes) == [1, 2]
    assert notes[0]["title"] == notes[1]["title"] == "Lead Acme <script> is qualified"
    emails = rows(crm, "sys_outbox", kind="email")  # one e-mail to the owner, the manager in copy
    assert [(e["target"], json.loads(e["payload"]).get("cc")) for e in emails] == [
        ("rita@example.com", ["boss@example.com"])
    ]
    assert json.loads(emails[0]["payload"])["subject"] == "Lead Acme <script> is qualified"
    assert all(e["status"] == "pending" and len(e["idempotency_key"]) == 32 for e in emails)
    with crm.session("rita") as s:
        assert inbox.unread_count(s) == 1
        assert inbox.page(s).items[0].title.startswith("Lead Acme")
        assert inbox.mark_read(s) == 1
        assert inbox.unread_count(s) == 0


def test_entering_a_stage_creates_a_linked_task_and_queues_a_webhook(crm):
    with crm.session("rita") as s:
        deal = s.create("deal", {"name": "Big deal"})
        s.update("deal", deal.id, {"stage": "signed"})
        tasks = s.query("task").all()
    assert [(t["subject"], t["deal"], t["due"], t["owner_id"]) for t in tasks] == [
        ("Big deal – satisfaction survey", deal.id, dt.date(2026, 6, 8), deal["owner_id"])
    ]
    hooks = rows(crm, "sys_outbox", kind="webhook")
    assert len(hooks) == 1 and hooks[0]["target"] == "https://erp.example.com/hooks/invoice"
    payload = json.loads(hooks[0]["payload"])
    assert payload["record"]["stage"] == "signed" and payload["rule"] == "survey_and_invoice"
    assert hooks[0]["secret_env"] == "ERP_SECRET"


def test_a_rolled_back_change_leaves_nothing_in_the_outbox(crm):
    with crm.session("rita") as s:
        deal = s.create("deal", {"name": "Big deal"})
    with pytest.raises(RuntimeError), crm.session("rita") as s:
        s.update("deal", deal.id, {"stage": "signed"})
        raise RuntimeError("the user's transaction fails after the change")
    assert rows(crm, "sys_outbox") == []


def test_rules_triggering_each_other_stop_at_the_configured_depth(crm):
    with crm.session("rita") as s:
        lead = s.create("lead", {"name": "Loop"})
        kept = s.update("lead", lead.id, {"bounce": 1})
    assert kept["bounce"] == 4  # the user's 1, then three rule levels
    failed = [r for r in rows(crm, "sys_automation_runs", rule="ping_pong") if r["status"] == "failed"]
    assert len(failed) == 1 and "automation_depth is 3" in failed[0]["error"]


def test_a_failing_rule_keeps_the_users_change_and_is_recorded(crm):
    with crm.session("rita") as s:
        lead = s.create("lead", {"name": "Old"})
        renamed = s.update("lead", lead.id, {"name": "New"})
    assert renamed["name"] == "New" and renamed["note"] is None
    run = rows(crm, "sys_automation_runs", rule="broken_note")[-1]
    assert run["status"] == "failed" and "note" in run["error"]


def test_a_blocking_rule_that_fails_refuses_the_change(write_config, db_url):
    crm = Trellis.open(
        write_config(
            CONFIG.replace(
                "    when: \"old['name'] != name\"\n", "    when: \"old['name'] != name\"\n    blocking: true\n"
            )
        ),
        db_url,
        clock=lambda: NOW,
    )
    try:
        crm.apply()
        with crm.session() as s:
            lead = s.create("lead", {"name": "Old"})
        with pytest.raises(ValidationFailed) as refused, crm.session() as s:
            s.update("lead", lead.id, {"name": "New"})
        assert "note" in refused.value.errors
        with crm.session() as s:
            assert s.get("lead", lead.id)["name"] == "Old"
    finally:
        crm.close()


BAD = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text}
      when_born: {type: text}
      parent: {type: lookup, object: lead}
templates:
  hello: {subject: "{{ oops", body: "x"}
automations:
  - {name: b, object: lead, on: {schedule: {after: soon, from: created_at}}, do: [{archive: true}]}
  - {name: c, object: lead, on: {schedule: {after: 2d, from: when_born}}, do: [{archive: true}]}
  - {name: d, object: lead, on: created, do: [{notify: {to: [owner], template: bye}}]}
  - {name: e, object: lead, on: created, do: [{set: {}}]}
  - {name: f, object: lead, on: created, do: [{add: {name: 1}}]}
  - {name: g, on: {cron: "every monday"}, do: [{archive: true}]}
  - {name: h, object: lead, on: created, do: [{convert: nothing}]}
  - {name: i, object: leads, on: created, do: [{archive: true}]}
  - {name: j, object: lead, on: created, do: [{update: {record: name, set: {name: x}}}]}
  - {name: k, object: lead, on: created, do: [{update: {record: parent, set: {name: "=target['nope']"}}}]}
  - {name: l, object: lead, on: created, do: [{webhook: {url: "https://a.example", url_env: HOOK_URL}}]}
  - {name: m, object: lead, on: created, do: [{webhook: {url_env: "not a variable"}}]}
roles:
  admin: {objects: {"*": {read: all}}}
"""


def test_config_errors_for_automations(write_config):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(BAD))
    found = sorted((issue.code, issue.path) for issue in error.value.issues)
    assert found == [
        ("T-E030", "automations[7].object"),
        ("T-E041", "automations[9].do[0].update.set.name"),
        ("T-E121", "automations[1].on.schedule.from"),
        ("T-E122", "automations[0].on.schedule.after"),
        ("T-E123", "automations[2].do[0].notify.template"),
        ("T-E124", "automations[10].do[0].webhook"),
        ("T-E124", "automations[11].do[0].webhook.url_env"),
        ("T-E124", "automations[3].do[0].set"),
        ("T-E125", "automations[4].do[0].add.name"),
        ("T-E125", "automations[8].do[0].update.record"),
        ("T-E126", "automations[5].on.cron"),
        ("T-E127", "automations[6].do[0].convert"),
        ("T-E128", "templates.hello.subject"),
    ], [str(i) for i in error.value.issues]
    # Schema errors in one rule hide nothing else (one pass), and add no second report of that rule.
    semantic = set(found) - {("T-E124", "automations[3].do[0].set")}
    schema_level = BAD.replace("on: created, do: [{set: {}}]", "on: sometimes, do: [{explode: true}]")
    with pytest.raises(ConfigError) as error:
        load_config(write_config(schema_level, "b.yaml"))
    assert sorted((issue.code, issue.path) for issue in error.value.issues) == sorted(
        {*semantic, ("T-E011", "automations[3].on"), ("T-E020", "automations[3].do[0].explode")}
    )


ORDERS = """
trellis: 1
objects:
  member:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      total: {type: currency, default: 0}
      last_order: {type: date}
  order:
    title: "{number}"
    fields:
      number: {type: text, required: true}
      member: {type: lookup, object: member}
      amount: {type: currency, required: true}
      day: {type: date, required: true}
automations:
  - name: order_updates_member
    object: order
    on: created
    do:
      - update:
          record: member
          set:
            total: "=coalesce(target['total'], 0) + amount"
            last_order: "=max(day, coalesce(target['last_order'], day))"
roles:
  clerk: {objects: {"*": {read: all, edit: all, create: true}}}
"""


def test_update_changes_the_linked_record_and_concurrent_orders_all_count(write_config, db_url):
    from tests.conftest import run_in_threads

    crm = Trellis.open(write_config(ORDERS), db_url)
    try:
        crm.apply()
        with crm.directory() as d:
            d.add("clerk", roles=["clerk"])
        with crm.session("clerk") as s:
            member = s.create("member", {"name": "Wang"})
            s.create("order", {"number": "A-0", "amount": 100, "day": dt.date(2026, 5, 2)})  # no member: nothing to do
            s.create("order", {"number": "A-1", "member": member.id, "amount": 100, "day": dt.date(2026, 5, 2)})
            s.create("order", {"number": "A-2", "member": member.id, "amount": 50, "day": dt.date(2026, 4, 1)})
            assert (s.get("member", member.id)["total"], s.get("member", member.id)["last_order"]) == (
                150,
                dt.date(2026, 5, 2),
            )  # an older order does not move the date back

        def work(index: int) -> None:
            with crm.session("clerk") as s:
                s.create(
                    "order", {"number": f"B-{index}", "member": member.id, "amount": 10, "day": dt.date(2026, 6, 1)}
                )

        assert run_in_threads(work, 6) == []
        with crm.session() as s:
            assert s.get("member", member.id)["total"] == 150 + 60  # every concurrent order counted once
        audit = crm.schema.system["sys_audit"]
        with crm.engine.connect() as c:
            who = c.execute(
                sa.select(audit.c.username).where(audit.c.object == "member", audit.c.action == "update")
            ).scalars()
            assert set(who) == {"automation:order_updates_member"}
    finally:
        crm.close()
