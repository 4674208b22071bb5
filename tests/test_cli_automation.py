"""``trellis automation simulate``: which rules would fire for a record, or in a window of
time — and nothing in the database changes. Clear errors, never a traceback.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.workflow import simulate
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, company: Acme}
objects:
  lead:
    title: "{name}"
    retention: {years: 2, action: purge}
    fields:
      name: {type: text, required: true}
      status: {type: picklist, values: [new, contacted, qualified], default: new}
      score: {type: integer, default: 0}
      tags: {type: tags}
      source: {type: picklist, values: [website, ads]}
  task:
    title: "{subject}"
    fields:
      subject: {type: text, required: true}
      lead: {type: lookup, object: lead}
      due: {type: date}
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      birthday: {type: date}
templates:
  hello: {subject: "New lead {{ record.name }}", body: "Call {{ record.name }}."}
  greet: {subject: "Happy birthday {{ record.name }}", body: "."}
automations:
  - name: welcome
    object: lead
    on: created
    when: "source == 'website'"
    do:
      - {set: {score: "=score + 60", status: contacted}}
      - {add_tags: {field: tags, tags: [web]}}
      - {create: {object: task, fields: {subject: "='Call ' + name", due: "=add_days(today(), 1)"}}}
      - {notify: {to: [owner, manager], template: hello, channels: [in_app, email]}}
      - {webhook: {url: "https://erp.example.com/hooks/lead", secret_env: ERP_SECRET}}
  - name: ads_only
    object: lead
    on: created
    when: "source == 'ads'"
    do: [{add: {score: 5}}]
  - name: on_qualified
    object: lead
    on: {changed: [status]}
    to: qualified
    do: [{add: {score: 10}}]
  - name: untouched
    object: lead
    on: {schedule: {after: 24h, from: created_at}}
    when: "status == 'new'"
    do: [{notify: {to: [owner], template: hello}}]
  - name: farewell
    object: lead
    on: deleted
    when: "purge"
    do:
      - {create: {object: task, fields: {subject: "='Purged ' + name + ', untouched since ' + purge['before']"}}}
      - {webhook: {url: "https://erp.example.com/hooks/purged", secret_env: ERP_SECRET}}
  - name: goodbye
    object: lead
    on: deleted
    when: "not purge"
    do: [{webhook: {url: "https://erp.example.com/hooks/deleted", secret_env: ERP_SECRET}}]
  - name: weekly_digest
    on: {cron: "0 9 * * 1"}
    do: [{notify: {to: [{role: rep}], template: hello}}]
  - name: birthday
    object: contact
    on: {schedule: {after: 0d, from: birthday, yearly: true}}
    do: [{notify: {to: [owner], template: greet}}]
roles:
  rep:
    objects: {"*": {read: own, edit: own, create: true}}
"""
CREATED = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai, a Monday


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def setup(write_config, db_url):
    path = write_config(CONFIG)
    crm = Trellis.open(path, db_url, clock=lambda: CREATED)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("boss", roles=["rep"], email="boss@example.com")
        d.add("rita", roles=["rep"], manager="boss", email="rita@example.com")
    with crm.session("rita") as s:
        web = s.create("lead", {"name": "Acme", "source": "website"})
        ads = s.create("lead", {"name": "Globex", "source": "ads"})
        s.create("contact", {"name": "Zhang", "birthday": dt.date(1990, 6, 3)})
        s.create("contact", {"name": "Li", "birthday": dt.date(1985, 12, 24)})
    with crm.engine.begin() as c:  # the rules above wrote these; a simulation must leave them empty
        for name in ("sys_outbox", "sys_notifications", "sys_automation_runs"):
            c.execute(sa.delete(crm.schema.system[name]))
    yield path, db_url, crm, {"web": web.id, "ads": ads.id}
    crm.close()


def snapshot(crm) -> dict[str, list]:
    """Every row of every table."""
    with crm.engine.connect() as c:
        metadata = sa.MetaData()
        metadata.reflect(c)
        return {
            name: [tuple(r) for r in c.execute(sa.select(table).order_by(*table.primary_key.columns))]
            for name, table in metadata.tables.items()
        }


def test_simulate_a_created_record_shows_what_each_rule_would_do(setup):
    path, url, crm, leads = setup
    before = snapshot(crm)
    result = run(
        "automation",
        "simulate",
        path,
        "--db",
        url,
        "--object",
        "lead",
        "--record",
        leads["web"],
        "--event",
        "created",
        "--at",
        "2026-06-01T09:00",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Dry run: lead 1 “Acme” just created, at 2026-06-01 09:00 CST. Nothing is written." in out
    assert "welcome — FIRES" in out and "when:    source == 'website' → holds" in out
    assert 'set score: 60 → 120, status: "contacted" → "contacted"' in out  # score is 60 after the rule ran
    assert 'add tags web: tags ["web"] → ["web"]' in out
    assert 'create task {subject: "Call Acme", due: "2026-06-02", lead: 1, owner_id: 2 (rita)}' in out
    assert "notify “New lead Acme” (hello) — in-app: boss, rita; e-mail: boss@example.com, rita@example.com" in out
    assert "webhook POST https://erp.example.com/hooks/lead, signed with $ERP_SECRET" in out
    assert "ads_only — does not fire" in out and "→ does not hold" in out
    assert "on_qualified — does not fire" in out and "a new record has no change" in out
    assert "untouched — does not fire" in out and "not due until 2026-06-02 09:00 CST" in out
    assert "birthday" not in out and "weekly_digest" not in out  # other objects' rules
    assert snapshot(crm) == before


def test_simulate_an_update_and_a_due_schedule(setup):
    path, url, crm, leads = setup
    before = snapshot(crm)
    result = run(
        "automation",
        "simulate",
        path,
        "--db",
        url,
        "--object",
        "lead",
        "--record",
        leads["ads"],
        "--at",
        "2026-06-02T10:00",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "just updated" in out and "welcome — does not fire" in out and "the event is updated, not created" in out
    assert "on_qualified — fires only if the update makes that change" in out
    assert "only if the update changes status" in out and "add 5 to score: 5 → 10" in out  # would have
    assert "untouched — FIRES" in out and "due since 2026-06-02 09:00 CST" in out
    assert "notify “New lead Globex” (hello) — in-app: rita" in out
    assert snapshot(crm) == before
    for table in ("sys_outbox", "sys_notifications", "sys_automation_runs"):
        assert before[table] == []


def test_a_schedule_that_ran_already_does_not_fire_again(setup):
    path, url, crm, leads = setup
    from engine.runtime.jobs import worker

    worker.sweep(crm, CREATED + dt.timedelta(hours=25))
    result = run(
        "automation",
        "simulate",
        path,
        "--db",
        url,
        "--object",
        "lead",
        "--record",
        leads["ads"],
        "--at",
        "2026-06-02T10:00",
    )
    assert "untouched — does not fire" in result.output and "ran already for this occurrence (done)" in result.output


def test_simulate_a_window_lists_the_records_scheduled_rules_would_fire_for(setup):
    path, url, crm, leads = setup
    before = snapshot(crm)
    result = run("automation", "simulate", path, "--db", url, "--from", "2026-06-01", "--to", "2026-06-08")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Dry run from 2026-06-01 00:00 CST to 2026-06-08 00:00 CST. Nothing is written." in out
    assert "untouched (lead) — 1d after created_at" in out
    assert "2 due: 1 would fire, 0 ran already, 1 skipped (`when` does not hold)" in out
    assert "2026-06-02 09:00 CST  lead 1 “Acme”: skipped: `when` does not hold" in out  # contacted already
    assert "2026-06-02 09:00 CST  lead 2 “Globex”: would fire" in out
    assert "birthday (contact) — at birthday, every year" in out
    assert "2026-06-03 00:00 CST  contact 1 “Zhang”: would fire" in out and "“Li”" not in out
    assert "weekly_digest (no object) — cron '0 9 * * 1'" in out and "2026-06-01 09:00 CST  fires once" in out
    assert "2026-06-08 09:00" not in out  # after the window
    assert snapshot(crm) == before
    only_contacts = run(
        "automation", "simulate", path, "--db", url, "--from", "2026-12-01", "--to", "2026-12-31", "--object", "contact"
    )
    assert "contact 2 “Li”" in only_contacts.output and "untouched" not in only_contacts.output


def test_the_window_in_python(setup):
    path, url, crm, leads = setup
    found = simulate.simulate_window(crm, CREATED, CREATED + dt.timedelta(days=2), "lead")
    assert [(w.rule.name, [h.record_id for h in w.hits]) for w in found] == [("untouched", [1, 2])]
    assert [(h.holds, h.ran) for h in found[0].hits] == [(False, False), (True, False)]


def test_errors_are_clear(setup):
    path, url, crm, leads = setup
    unknown = run("automation", "simulate", path, "--db", url, "--object", "leed", "--record", 1)
    assert unknown.exit_code == 1 and "unknown object 'leed'" in unknown.output and "lead" in unknown.output
    missing = run("automation", "simulate", path, "--db", url, "--object", "lead", "--record", 999)
    assert missing.exit_code == 1 and "lead 999 not found" in missing.output
    bad_id = run("automation", "simulate", path, "--db", url, "--object", "lead", "--record", "abc")
    assert bad_id.exit_code == 1 and "not found" in bad_id.output
    nothing = run("automation", "simulate", path, "--db", url)
    assert nothing.exit_code == 2 and "give --object and --record" in nothing.output
    no_object = run("automation", "simulate", path, "--db", url, "--record", 1)
    assert no_object.exit_code == 2 and "--record needs --object" in no_object.output
    half = run("automation", "simulate", path, "--db", url, "--from", "2026-06-01")
    assert half.exit_code == 2 and "--from and --to go together" in half.output
    both = run(
        "automation",
        "simulate",
        path,
        "--db",
        url,
        "--object",
        "lead",
        "--record",
        1,
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-02",
    )
    assert both.exit_code == 2
    event = run("automation", "simulate", path, "--db", url, "--object", "lead", "--record", 1, "--event", "removed")
    assert event.exit_code == 2
    bad_time = run("automation", "simulate", path, "--db", url, "--object", "lead", "--record", 1, "--at", "soon")
    assert bad_time.exit_code == 1 and "--at 'soon' is not an ISO date-time" in bad_time.output
    backwards = run("automation", "simulate", path, "--db", url, "--from", "2026-06-02", "--to", "2026-06-01")
    assert backwards.exit_code == 1 and "--to lies before --from" in backwards.output
    too_long = run("automation", "simulate", path, "--db", url, "--from", "2026-01-01", "--to", "2028-01-01")
    assert too_long.exit_code == 1 and "longer than 366 days" in too_long.output
    config = run("automation", "simulate", "nope.yaml", "--db", url, "--object", "lead", "--record", 1)
    assert config.exit_code == 1 and "Traceback" not in config.output


def test_oplimits2_simulate_a_delete_and_a_retention_purge(setup):
    path, url, crm, leads = setup
    before = snapshot(crm)
    simulate_ = ("automation", "simulate", path, "--db", url, "--object", "lead", "--record", leads["web"])
    deleted = run(*simulate_, "--event", "deleted", "--at", "2026-06-02T10:00")
    assert deleted.exit_code == 0, deleted.output
    out = deleted.output
    assert "Dry run: lead 1 “Acme” just deleted, at 2026-06-02 10:00 CST." in out and "`purge` reads" not in out
    assert "goodbye — FIRES" in out and "trigger: on delete: yes (the record is deleted)" in out
    assert "farewell — does not fire" in out and "when:    purge → does not hold" in out
    assert "untouched — does not fire" in out and "a deleted record is not swept" in out
    assert "on_qualified — does not fire" in out and "a deleted record has no change" in out
    assert "welcome — does not fire" in out and "the event is deleted, not created" in out

    purged = run(*simulate_, "--purge", "--at", "2026-06-02T10:00")
    assert purged.exit_code == 0, purged.output
    out = purged.output
    assert (
        "Dry run: lead 1 “Acme” just purged by retention (2 years after updated_at, before 2024-06-02), "
        "at 2026-06-02 10:00 CST. Nothing is written." in out
    )
    assert '`purge` reads {"years": 2, "from": "updated_at", "before": "2024-06-02"}.' in out
    assert "hooks/lead, signed with $ERP_SECRET\n" in out  # a `created` rule would not see the purge
    assert "farewell — FIRES" in out and "on delete: yes (retention purges the record)" in out
    assert "when:    purge → holds" in out
    assert 'create task {subject: "Purged Acme, untouched since 2024-06-02"' in out
    assert (
        "webhook POST https://erp.example.com/hooks/purged, signed with $ERP_SECRET (a purge: the record's system columns only"
        in out
    )
    assert "goodbye — does not fire" in out and "when:    not purge → does not hold" in out
    assert snapshot(crm) == before

    # The same with --event deleted; a purge is never a create, and only of an object retention purges.
    assert run(*simulate_, "--purge", "--event", "deleted").exit_code == 0
    created = run(*simulate_, "--purge", "--event", "created")
    assert created.exit_code == 2 and "--purge simulates one record deleted by retention" in created.output
    window = run("automation", "simulate", path, "--db", url, "--purge", "--from", "2026-06-01", "--to", "2026-06-02")
    assert window.exit_code == 2
    contact = run("automation", "simulate", path, "--db", url, "--object", "contact", "--record", 1, "--purge")
    assert contact.exit_code == 1
    assert "contact has no retention policy that purges (retention: {years: N, action: purge})" in contact.output
    assert "--purge" in run("automation", "simulate", "--help").output
