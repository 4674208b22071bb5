"""The timeline and tasks in the web UI and the REST API (S25), on SQLite and PostgreSQL.

The record page of a timeline object shows its entries newest first and quick entry
forms (lookup prefilled, errors beside the fields, CSRF like every form); "My tasks"
lists the user's open tasks by due date with "Mark done"; ``GET
/api/v1/<object>/<id>/timeline`` pages the timeline inside the caller's scope.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from openapi_spec_validator import validate

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import START, make_app, post, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
  contact:
    label: {en: Contact, zh: 联系人}
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, required: true}
  ticket:
    title: "{subject}"
    fields:
      subject: {type: text, required: true}
  call:
    label: {en: Follow-up, zh: 跟进记录}
    title: "{topic}"
    activity: {at: at, kind: method, summary: topic}
    fields:
      account: {type: lookup, object: account}
      contact: {type: lookup, object: contact}
      method: {type: picklist, required: true, values: [{key: phone, label: {en: Phone call, zh: 电话}}, visit]}
      at: {type: datetime, required: true, default: "=now()"}
      topic: {type: textarea, required: true}
      next_step: {type: text, required: true}
      private_note: {type: text}
    rules:
      - {name: linked, assert: "account is not None", field: account, message: "A follow-up needs an account."}
  todo:
    label: {en: Task, zh: 任务}
    title: "{subject}"
    task: {due: due, assignee: owner_id, status: status, done: [done], subject: subject, remind: remind_at}
    fields:
      subject: {type: text, required: true}
      due: {type: date, default: "=today()"}
      remind_at: {type: datetime}
      status: {type: picklist, required: true, default: open, values: [open, done]}
      account: {type: lookup, object: account}
roles:
  rep:
    objects:
      account: {read: all}
      contact: {read: all}
      call: {read: own, edit: own, create: true}
      todo: {read: own, edit: own, create: true}
    hidden: [call.private_note]
  viewer:
    objects:
      account: {read: all}
      ticket: {read: all}
"""

USERS = {
    "alice": {"roles": ["rep"], "team": "east"},
    "bob": {"roles": ["rep"], "team": "east"},
    "carol": {"roles": ["viewer"]},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, teams=["east"])


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def data(crm):
    with crm.session() as s:
        acme = s.create("account", {"name": "Acme"})
        zhang = s.create("contact", {"name": "Zhang", "account": acme.id})
    with crm.session("alice") as s:
        s.create(
            "call",
            {
                "account": acme.id,
                "method": "phone",
                "topic": "Alice called",
                "next_step": "quote",
                "at": START - dt.timedelta(days=2),
            },
        )
    with crm.session("bob") as s:
        s.create(
            "call",
            {
                "account": acme.id,
                "method": "visit",
                "topic": "Bob visited",
                "next_step": "demo",
                "at": START - dt.timedelta(days=1),
            },
        )
    return {"acme": acme, "zhang": zhang}


# --- the record page ----------------------------------------------------------------------------------
def test_the_record_page_shows_the_timeline_in_the_users_scope(login, data):
    page = text(login("alice").get(f"/o/account/{data['acme'].id}"))
    panel = page[page.index('id="timeline"') :]
    assert "Alice called" in panel and "Phone call" in panel and "Bob visited" not in panel
    assert "Last activity:" in panel  # Bob's visit is the latest activity, but not shown to Alice
    assert '<label for="f-call.method">' in panel and '<label for="f-call.topic">' in panel
    assert f'name="call.account" value="{data["acme"].id}"' in panel  # the lookup to this record, prefilled
    assert "private_note" not in panel  # hidden: neither shown nor offered
    assert 'name="csrf_token"' in panel


def test_a_page_without_a_timeline_has_no_panel(login, crm):
    with crm.session() as s:
        ticket = s.create("ticket", {"subject": "Broken"})
    page = text(login("carol").get(f"/o/ticket/{ticket.id}"))
    assert "Broken" in page and 'id="timeline"' not in page


def test_quick_entry_logs_an_activity_and_updates_last_activity_at(login, crm, data):
    client = login("alice")
    url = f"/o/account/{data['acme'].id}"
    response = post(
        client,
        f"{url}/timeline/call",
        {
            "call.account": str(data["acme"].id),
            "call.method": "visit",
            "call.at": "2026-03-02T16:30",
            "call.topic": "Met the buyer",
            "call.next_step": "Send the contract",
        },
        form_url=url,
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{url}#timeline")
    page = text(client.get(url))
    assert "Logged on the timeline." in page and "Met the buyer" in page
    with crm.session() as s:
        acme = s.get("account", data["acme"].id)
        call = s.query("call").filter(topic="Met the buyer").first()
    assert call["at"] == dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)  # 16:30 in Shanghai
    assert acme["last_activity_at"] == call["at"] and acme.version == 1


def test_quick_entry_on_a_contact_also_files_it_under_the_account(login, crm, data):
    client = login("alice")
    url = f"/o/contact/{data['zhang'].id}"
    page = text(client.get(url))
    assert f'name="call.contact" value="{data["zhang"].id}"' in page
    assert f'name="call.account" value="{data["acme"].id}"' in page  # where the contact's own lookup points
    response = post(
        client,
        f"{url}/timeline/call",
        {
            "call.contact": str(data["zhang"].id),
            "call.account": str(data["acme"].id),
            "call.method": "phone",
            "call.topic": "Birthday call",
            "call.next_step": "none",
        },
        form_url=url,
    )
    assert response.status_code == 302
    with crm.session() as s:
        assert s.get("contact", data["zhang"].id)["last_activity_at"] == START  # at defaults to now
        call = s.query("call").filter(topic="Birthday call").first()
    assert (call["account"], call["contact"]) == (data["acme"].id, data["zhang"].id)


def test_a_refused_quick_entry_shows_the_errors_beside_the_fields(login, crm, data):
    client = login("alice")
    url = f"/o/account/{data['acme'].id}"
    response = post(
        client,
        f"{url}/timeline/call",
        {"call.account": str(data["acme"].id), "call.method": "phone", "call.topic": "Half done"},
        form_url=url,
    )
    assert response.status_code == 422
    page = text(response)
    assert re.search(r'<div class="field-error" role="alert" id="err-call.next_step">', page)
    assert 'value="Half done"' not in page and ">Half done</textarea>" in page  # the input is kept
    assert '<details class="quick-entry" id="quick-call" open>' in page
    with crm.session() as s:
        assert s.query("call").filter(topic="Half done").count() == 0


def test_quick_entry_errors_on_fields_not_in_the_form_are_shown_at_the_top(login, crm, data):
    client = login("alice")
    url = f"/o/account/{data['acme'].id}"
    response = post(
        client,
        f"{url}/timeline/call",
        {"call.method": "phone", "call.topic": "No account", "call.next_step": "x"},
        form_url=url,
    )
    assert response.status_code == 422
    assert 'role="alert" id="err-call-_record"' in text(response) and "A follow-up needs an account." in text(response)


def test_quick_entry_needs_csrf_create_rights_and_a_timeline(login, crm, data):
    client = login("alice")
    url = f"/o/account/{data['acme'].id}/timeline/call"
    assert client.post(url, data={"call.topic": "forged"}).status_code == 400
    assert (
        post(
            client, f"/o/account/{data['acme'].id}/timeline/ticket", {}, form_url=f"/o/account/{data['acme'].id}"
        ).status_code
        == 404
    )
    viewer = make_app(crm).test_client()
    from tests.webui.conftest import log_in

    log_in(viewer, "carol")
    assert 'id="quick-call"' not in text(viewer.get(f"/o/account/{data['acme'].id}"))
    assert post(viewer, url, {"call.topic": "x"}, form_url=f"/o/account/{data['acme'].id}").status_code in (403, 404)


def test_the_timeline_is_paged_on_the_record_page(login, crm, data):
    with crm.session("alice") as s:
        for n in range(25):
            s.create(
                "call",
                {
                    "account": data["acme"].id,
                    "method": "phone",
                    "topic": f"call number {n:02d}",
                    "next_step": "x",
                    "at": START - dt.timedelta(days=10 + n),
                },
            )
    client = login("alice")
    first = text(client.get(f"/o/account/{data['acme'].id}"))
    assert "call number 00" in first and "call number 24" not in first and "Older entries" in first
    second = text(client.get(f"/o/account/{data['acme'].id}?timeline_page=2"))
    assert "call number 24" in second and "Newer entries" in second


# --- my tasks -----------------------------------------------------------------------------------------
def test_my_tasks_lists_open_tasks_by_due_date_and_marks_them_done(login, crm, data):
    today = dt.date(2026, 3, 2)
    with crm.session("alice") as s:
        late = s.create(
            "todo", {"subject": "Overdue call-back", "due": today - dt.timedelta(days=3), "account": data["acme"].id}
        )
        s.create("todo", {"subject": "Quote for today", "due": today, "remind_at": START - dt.timedelta(hours=1)})
        s.create("todo", {"subject": "Next week", "due": today + dt.timedelta(days=7)})
        s.create("todo", {"subject": "Already done", "due": today, "status": "done"})
    with crm.session("bob") as s:
        s.create("todo", {"subject": "Task of Bob", "due": today})
    client = login("alice")
    page = text(client.get("/tasks"))
    assert '<a href="/tasks" aria-current="page">My tasks</a>' in page
    overdue, today_part, upcoming = (page[page.index(f'id="tasks-{g}"') :] for g in ("overdue", "today", "upcoming"))
    assert "Overdue call-back" in overdue[: overdue.index("</section>")] and "Acme" in overdue
    assert "Quote for today" in today_part[: today_part.index("</section>")] and "Reminder due" in today_part
    assert "Next week" in upcoming
    assert "Task of Bob" not in page and "Already done" not in page
    assert 'id="tasks-no_date"' not in page
    response = post(
        client, f"/tasks/todo/{late.id}/done", {"version": str(late.version), "next": "/tasks"}, form_url="/tasks"
    )
    assert response.status_code == 302 and response.headers["Location"] == "/tasks"
    page = text(client.get("/tasks"))
    assert "The task is done." in page and "Overdue call-back" not in page
    with crm.session() as s:
        assert s.get("todo", late.id)["status"] == "done"
    # the task shows on the account's timeline, done
    account_page = text(client.get(f"/o/account/{data['acme'].id}"))
    assert "Overdue call-back" in account_page and 'class="entry entry-task done"' in account_page


def test_marking_someone_elses_task_done_is_refused(login, crm, data):
    with crm.session("bob") as s:
        theirs = s.create("todo", {"subject": "Bob's"})
    client = login("alice")
    assert post(client, f"/tasks/todo/{theirs.id}/done", {}, form_url="/tasks").status_code == 404
    with crm.session() as s:
        assert s.get("todo", theirs.id)["status"] == "open"


def test_marking_a_task_done_without_its_version_is_refused(login, crm, data):
    with crm.session("alice") as s:
        mine = s.create("todo", {"subject": "Mine"})
    client = login("alice")
    response = post(client, f"/tasks/todo/{mine.id}/done", {"next": "/tasks"}, form_url="/tasks")
    assert response.status_code == 302
    assert "did not say which version" in text(client.get("/tasks"))
    with crm.session() as s:
        assert s.get("todo", mine.id)["status"] == "open"


def test_the_tasks_link_is_for_users_who_may_read_tasks(login, data):
    assert ">My tasks</a>" not in text(login("carol").get("/o/account"))


def test_my_tasks_speaks_chinese(login, crm):
    with crm.directory() as d:
        d.edit("alice", locale="zh_CN")
    page = text(login("alice").get("/tasks"))
    assert "我的任务" in page and "已逾期" in page


# --- the REST API -----------------------------------------------------------------------------------------
@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "t")[0] for name in ("alice", "bob", "carol")}

    def call(user: str, url: str):
        response = client.get(url, headers={"Authorization": f"Bearer {tokens[user]}"})
        assert response.mimetype == "application/json", response.data
        return response

    return call


def test_the_timeline_endpoint_pages_the_entries_in_scope(api, crm, data):
    with crm.session("alice") as s:
        s.create("todo", {"subject": "Send quote", "due": dt.date(2026, 3, 5), "account": data["acme"].id})
    body = api("alice", f"/api/v1/account/{data['acme'].id}/timeline").get_json()
    assert [(e["type"], e["summary"]) for e in body["data"]] == [("task", "Send quote"), ("activity", "Alice called")]
    activity = body["data"][1]
    assert activity["object"] == "call" and activity["kind"] == "phone" and activity["done"] is None
    assert activity["at"] == "2026-02-28T09:00:00Z" and "private_note" not in activity["record"]
    assert body["meta"] == {"page": 1, "per_page": 20, "total": 2, "pages": 1}
    paged = api("alice", f"/api/v1/account/{data['acme'].id}/timeline?per_page=1&page=2").get_json()
    assert [e["summary"] for e in paged["data"]] == ["Alice called"] and paged["meta"]["pages"] == 2
    assert api("bob", f"/api/v1/account/{data['acme'].id}/timeline").get_json()["meta"]["total"] == 1


def test_the_timeline_endpoint_errors(api, data):
    assert api("alice", "/api/v1/account/999/timeline").status_code == 404
    assert api("alice", "/api/v1/account/abc/timeline").status_code == 404
    assert api("alice", "/api/v1/ticket/1/timeline").status_code == 404
    assert api("alice", "/api/v1/nothing/1/timeline").status_code == 404
    assert api("carol", f"/api/v1/contact/{data['zhang'].id}/timeline").status_code == 404
    response = api("alice", f"/api/v1/account/{data['acme'].id}/timeline?per_page=1000")
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "bad_query"
    assert error["fields"]["per_page"][0]["message"] == "per_page must be a whole number from 1 to 100, not '1000'."


def test_the_openapi_document_describes_the_timeline(api):
    document = api("alice", "/api/v1/openapi.json").get_json()
    validate(document)
    assert "get" in document["paths"]["/api/v1/account/{id}/timeline"]
    assert "/api/v1/todo/{id}/timeline" not in document["paths"]
    assert document["components"]["schemas"]["account"]["properties"]["last_activity_at"]["readOnly"] is True
    assert "last_activity_at" not in document["components"]["schemas"]["todo"]["properties"]
