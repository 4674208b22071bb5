"""The automation admin page ``/admin/automation``, on SQLite and PostgreSQL.

Only holders of ``manage_config`` see it (everyone else: 403): the rule runs latest
first, filtered by rule and status, failed ones highlighted with their error; the
outbox with attempts, last error and next attempt — e-mails waiting because no SMTP
server is configured included; and Retry (POST with the CSRF token), which puts a
dead message back to pending, due now. The engine functions behind it
(``engine.runtime.jobs.admin``) check the permission themselves.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from engine.runtime.jobs import admin
from engine.runtime.jobs.delivery import NO_SMTP, deliver
from engine.runtime.security.permissions import PermissionDenied
from tests.webui.conftest import client_for, make_app, post, text

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, company: Acme}
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      note: {type: text, max_length: 5}
templates:
  new_lead: {subject: "New lead {{ record.name }}", body: "Call {{ record.name }}."}
automations:
  - name: new_lead_notice
    label: New lead notice
    object: lead
    on: created
    do: [{notify: {to: [owner], template: new_lead, channels: [in_app, email]}}]
  - name: ping_erp
    object: lead
    on: created
    do: [{webhook: {url: "http://hook:s3cret@127.0.0.1:9/hooks/crm", unsigned: true}}]
  - name: broken_note
    object: lead
    on: {changed: [name]}
    do: [{set: {note: "far too long"}}]
roles:
  rep:
    objects: {lead: {read: own, edit: own, create: true}}
  admin:
    objects: {lead: {read: all}}
    permissions: [manage_config]
"""

USERS = {"alice": {"roles": ["rep"], "email": "alice@example.com"}, "adam": {"roles": ["admin"]}}


@pytest.fixture
def crm(open_crm, monkeypatch):
    monkeypatch.delenv("TRELLIS_SMTP_URL", raising=False)
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def activity(crm, clock):
    """Two leads (runs, an e-mail and a webhook each), a failed run, and one worker pass
    without SMTP that kills the webhooks (nothing listens on port 9)."""
    with crm.session("alice") as s:
        acme = s.create("lead", {"name": "Acme"})
        s.create("lead", {"name": "Globex"})
        s.update("lead", acme.id, {"name": "Acme Ltd"})
    deliver(crm, clock(), smtp=None, max_attempts=1, timeout=2)
    return acme


def outbox(crm, **where):
    table = crm.schema.system["sys_outbox"]
    with crm.engine.connect() as c:
        statement = sa.select(table).order_by(table.c.id)
        for key, value in where.items():
            statement = statement.where(table.c[key] == value)
        return [dict(r) for r in c.execute(statement).mappings()]


# --- who may see it -------------------------------------------------------------------------------------
def test_only_holders_of_manage_config_see_the_page(app, crm, activity):
    alice = client_for(app, "alice")
    assert alice.get("/admin/automation").status_code == 403
    assert "/admin/automation" not in text(alice.get("/o/lead"))
    dead = outbox(crm, kind="webhook")[0]
    assert post(alice, f"/admin/automation/outbox/{dead['id']}/retry", form_url="/o/lead").status_code == 403
    assert outbox(crm, id=dead["id"])[0]["status"] == "dead"
    adam = client_for(app, "adam")
    assert '<a class="admin-link" href="/admin/automation">Automation</a>' in text(adam.get("/notifications"))
    assert adam.get("/admin/automation").status_code == 200


def test_the_engine_checks_the_permission_too(crm, activity):
    with crm.session("alice") as s:
        for call in (
            lambda: admin.recent_runs(s),
            lambda: admin.outbox(s),
            lambda: admin.outbox_counts(s),
            lambda: admin.retry_message(s, 1),
        ):
            with pytest.raises(PermissionDenied):
                call()


# --- runs -------------------------------------------------------------------------------------------------
def test_runs_latest_first_with_failures_highlighted(app, activity):
    page = text(client_for(app, "adam").get("/admin/automation"))
    runs = page[page.index('id="runs"') : page.index('id="outbox"')]
    rules = re.findall(r'<tr class="run run-(\w+)">.*?<td data-label="Rule">([^<]+)', runs, re.S)
    assert rules[0] == ("failed", "Broken note ") and ("done", "New lead notice ") in rules
    assert len(rules) == 5  # two leads × two rules, then the failed one
    assert '<strong class="status-failed">Failed</strong>' in runs
    assert re.search(r'<span class="admin-error">[^<]*note[^<]*</span>', runs)
    assert f'<a href="/o/lead/{activity.id}">lead {activity.id}</a>' in runs  # adam may read every lead


def test_runs_filter_by_rule_and_status(app, activity):
    adam = client_for(app, "adam")
    failed = text(adam.get("/admin/automation?status=failed"))
    runs = failed[failed.index('id="runs"') : failed.index('id="outbox"')]
    assert runs.count('<tr class="run ') == 1 and '<option value="failed" selected>' in runs
    by_rule = text(adam.get("/admin/automation?rule=ping_erp"))
    runs = by_rule[by_rule.index('id="runs"') : by_rule.index('id="outbox"')]
    assert runs.count('<tr class="run run-done">') == 2 and "broken_note" not in runs.split("</select>")[-1]
    assert '<label for="f-rule">Rule</label>' in by_rule and '<label for="f-status">Status</label>' in by_rule
    assert '<label for="f-outbox-status">Status</label>' in by_rule and '<label for="f-kind">Kind</label>' in by_rule
    nothing = text(adam.get("/admin/automation?status=running"))
    assert "No rule has run (with these filters)." in nothing


# --- the outbox ---------------------------------------------------------------------------------------------
def test_the_outbox_shows_waiting_emails_and_dead_webhooks(app, activity):
    page = text(client_for(app, "adam").get("/admin/automation"))
    box = page[page.index('id="outbox"') :]
    assert box.count('class="message message-pending"') == 2 and box.count('class="message message-dead"') == 2
    assert NO_SMTP in box and "alice@example.com" in box and "New lead Acme" in box
    assert "http://hook:***@127.0.0.1:9/hooks/crm" in box and "s3cret" not in page
    assert re.search(r'<li class="count-pending">Pending: <strong>2</strong></li>', box)
    assert re.search(r'<li class="count-dead">Dead: <strong>2</strong></li>', box)
    assert box.count(">Retry<span") == 2  # only the dead ones
    webhooks = text(client_for(app, "adam").get("/admin/automation?kind=webhook&outbox_status=dead"))
    assert webhooks[webhooks.index('id="outbox"') :].count('<tr class="message ') == 2


def test_retry_puts_a_dead_message_back_to_pending(app, crm, clock, activity):
    dead = outbox(crm, kind="webhook")[0]
    assert dead["status"] == "dead" and dead["attempts"] == 1
    clock.now = clock.now.replace(hour=12)
    adam = client_for(app, "adam")  # after the clock moved: an idle session would have ended
    response = post(
        adam,
        f"/admin/automation/outbox/{dead['id']}/retry",
        {"next": "/admin/automation?kind=webhook"},
        form_url="/admin/automation",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/automation?kind=webhook")
    row = outbox(crm, id=dead["id"])[0]
    assert row["status"] == "pending" and row["attempts"] == 0 and row["next_attempt_at"] == clock.now
    assert row["idempotency_key"] == dead["idempotency_key"]
    assert f"Message {dead['id']} goes out again on the worker" in text(adam.get("/admin/automation"))
    again = post(adam, f"/admin/automation/outbox/{dead['id']}/retry", form_url="/admin/automation")
    assert again.status_code == 302
    assert f"Message {dead['id']} is sent or being sent" in text(adam.get("/admin/automation"))
    assert post(adam, "/admin/automation/outbox/999999/retry", form_url="/admin/automation").status_code == 404


def test_retry_needs_the_csrf_token(app, crm, activity):
    adam = client_for(app, "adam")
    dead = outbox(crm, kind="webhook")[0]
    assert adam.post(f"/admin/automation/outbox/{dead['id']}/retry").status_code == 400
    assert outbox(crm, id=dead["id"])[0]["status"] == "dead"


def test_pages_are_bounded_and_link_to_each_other(crm):
    with crm.session("alice") as s:
        for number in range(30):
            s.create("lead", {"name": f"Lead {number}"})
    with crm.session("adam") as s:
        first = admin.recent_runs(s, per_page=25)
        second = admin.recent_runs(s, page=2, per_page=25)
        huge = admin.outbox(s, per_page=10_000)
    assert len(first.items) == 25 and first.has_next and len(second.items) == 25 and second.has_next
    assert first.items[0].id > first.items[-1].id > second.items[0].id
    assert huge.per_page == admin.MAX_PER_PAGE and len(huge.items) == 60 and not huge.has_next
    app = make_app(crm)
    page = text(client_for(app, "adam").get("/admin/automation"))
    assert 'href="/admin/automation?runs_page=2#runs" rel="next"' in page
    assert 'href="/admin/automation?outbox_page=2#outbox" rel="next"' in page
