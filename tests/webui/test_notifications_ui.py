"""In-app notifications in the web UI and the REST API, on SQLite and PostgreSQL.

A rule tells a lead's owner about every new lead. The owner sees the unread count
on the bell in the header (said in its aria-label, one COUNT per page), lists the
notifications newest first — titles and bodies as text, a link to the record only
while they may still read it — and marks one or all read (POST with the CSRF token);
``/api/v1/notifications`` does the same for programs.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, post, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  lead:
    label: {en: Lead, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      note: {type: textarea}
templates:
  new_lead:
    subject: "New lead: {{ record.name }}"
    body: "{{ record.name }} came in.\\nNote: {{ record.note }}"
automations:
  - name: new_lead_notice
    object: lead
    on: created
    do: [{notify: {to: [owner], template: new_lead}}]
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
"""

USERS = {"alice": {"roles": ["rep"]}, "bob": {"roles": ["rep"]}}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm):
    return make_app(crm)


def new_lead(crm, name, user="alice", note="call back"):
    with crm.session(user) as s:
        return s.create("lead", {"name": name, "note": note})


def bell(page: str) -> re.Match:
    match = re.search(r'<a class="bell[^"]*" href="/notifications" aria-label="([^"]+)"', page)
    assert match, "the page has no bell"
    return match


# --- the bell -----------------------------------------------------------------------------------------
def test_the_bell_shows_the_unread_count(login, crm):
    client = login("alice")
    page = text(client.get("/o/lead"))
    assert bell(page).group(1) == "Notifications: none unread" and "bell-count" not in page
    new_lead(crm, "Acme")
    new_lead(crm, "Globex")
    page = text(client.get("/o/lead"))
    assert bell(page).group(1) == "Notifications: 2 unread"
    assert re.search(r'<span class="badge bell-count" aria-hidden="true">2</span>', page)
    assert 'id="lang-select"' in page  # the rest of the header is still there
    bob = client_for(client.application, "bob")
    assert bell(text(bob.get("/o/lead"))).group(1) == "Notifications: none unread"


def test_the_bell_costs_one_count_per_page(login, crm):
    new_lead(crm, "Acme")
    client = login("alice")
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(crm.engine, "before_cursor_execute", seen)
    try:
        client.get("/o/lead")
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", seen)
    on_notifications = [s for s in statements if "sys_notifications" in s]
    assert len(on_notifications) == 1 and "count(" in on_notifications[0].lower()


def test_no_bell_before_login_and_in_chinese(client, login, crm):
    assert 'class="bell' not in text(client.get("/login"))
    new_lead(crm, "Acme")
    login("alice")
    post(client, "/lang", {"lang": "zh"}, form_url="/o/lead")
    assert bell(text(client.get("/o/lead"))).group(1) == "通知：1 条未读"


# --- the page -----------------------------------------------------------------------------------------
def test_the_page_lists_notifications_newest_first_with_links(login, crm):
    first = new_lead(crm, "Acme")
    second = new_lead(crm, "Globex")
    page = text(login("alice").get("/notifications"))
    titles = re.findall(r'<h2 class="n-title"><a href="/o/lead/(\d+)">New lead: (\w+)</a>', page)
    assert titles == [(str(second.id), "Globex"), (str(first.id), "Acme")]
    assert "Notifications: 2 unread" in page and "Mark all read" in page
    assert page.count(">Mark as read<span") == 2 and '<time datetime="' in page


def test_mark_one_and_all_read(login, crm):
    new_lead(crm, "Acme")
    new_lead(crm, "Globex")
    new_lead(crm, "Initech")
    client = login("alice")
    page = text(client.get("/notifications"))
    ids = re.findall(r'id="notification-(\d+)"', page)
    response = post(client, f"/notifications/{ids[0]}/read", {"next": "/notifications"}, form_url="/notifications")
    assert response.status_code == 302 and response.headers["Location"].endswith("/notifications")
    page = text(client.get("/notifications"))
    assert "Marked as read." in page and bell(page).group(1) == "Notifications: 2 unread"
    assert (
        f'id="notification-{ids[0]}">' in page and f'class="notification unread" id="notification-{ids[0]}"' not in page
    )
    unread = text(client.get("/notifications?unread=1"))
    assert re.findall(r'id="notification-(\d+)"', unread) == ids[1:]
    post(client, "/notifications/read", form_url="/notifications")
    page = text(client.get("/notifications"))
    assert "2 notifications marked as read." in page and bell(page).group(1) == "Notifications: none unread"
    assert "Mark all read" not in page and "You have read every notification." in text(
        client.get("/notifications?unread=1")
    )


def test_marking_needs_the_csrf_token_and_ones_own_notification(app, login, crm):
    new_lead(crm, "Acme")
    client = login("alice")
    notification = re.search(r'id="notification-(\d+)"', text(client.get("/notifications"))).group(1)
    assert client.post(f"/notifications/{notification}/read").status_code == 400
    assert client.post("/notifications/read").status_code == 400
    assert bell(text(client.get("/notifications"))).group(1) == "Notifications: 1 unread"
    bob = client_for(app, "bob")
    assert post(bob, f"/notifications/{notification}/read", form_url="/notifications").status_code == 404
    assert post(bob, "/notifications/999999/read", form_url="/notifications").status_code == 404
    assert bell(text(client.get("/notifications"))).group(1) == "Notifications: 1 unread"


def test_no_link_to_a_record_the_user_may_no_longer_read(login, crm):
    lead = new_lead(crm, "Acme")
    with crm.session() as s:  # given to Bob: Alice (read: own) may not open it any more
        users = crm.schema.system["sys_users"]
        bob_id = s.connection.execute(sa.select(users.c.id).where(users.c.username == "bob")).scalar_one()
        s.update("lead", lead.id, {"owner_id": bob_id})
    page = text(login("alice").get("/notifications"))
    assert "New lead: Acme" in page and f"/o/lead/{lead.id}" not in page


def test_titles_and_bodies_are_text_never_html(login, crm):
    new_lead(crm, "<script>alert(1)</script>", note="<b>bold</b> & more")
    page = text(login("alice").get("/notifications"))
    assert "<script>alert(1)</script>" not in page and "<b>bold</b>" not in page
    assert "New lead: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [] and " style=" not in page


def test_the_page_needs_a_login_and_pages(client, login, crm):
    assert client.get("/notifications").status_code == 302
    for number in range(23):
        new_lead(crm, f"Lead{number}")
    login("alice")
    page = text(client.get("/notifications"))
    assert page.count('class="notification unread"') == 20 and 'rel="next"' in page and "Lead22" in page
    older = text(client.get("/notifications?page=2"))
    assert older.count('class="notification unread"') == 3 and "Lead0<" in older and 'rel="prev"' in older


# --- the REST API -------------------------------------------------------------------------------------
@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "t")[0] for name in USERS}

    def call(user: str, url: str, method: str = "GET"):
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[user]}"})
        assert response.mimetype == "application/json", response.data
        return response

    return call


def test_the_api_lists_and_marks_notifications(api, crm):
    acme = new_lead(crm, "Acme")
    new_lead(crm, "Globex")
    body = api("alice", "/api/v1/notifications").get_json()
    assert [n["title"] for n in body["data"]] == ["New lead: Globex", "New lead: Acme"]
    assert body["meta"] == {"page": 1, "per_page": 20, "has_next": False, "unread": 2}
    oldest = body["data"][1]
    assert oldest["record"] == f"/api/v1/lead/{acme.id}" and oldest["object"] == "lead" and oldest["read"] is False
    assert oldest["body"] == "Acme came in.\nNote: call back" and oldest["rule"] == "new_lead_notice"
    marked = api("alice", f"/api/v1/notifications/{oldest['id']}/read", "POST").get_json()
    assert marked["read"] is True and marked["read_at"]
    unread = api("alice", "/api/v1/notifications?unread=1").get_json()
    assert [n["title"] for n in unread["data"]] == ["New lead: Globex"] and unread["meta"]["unread"] == 1
    assert api("alice", "/api/v1/notifications/read", "POST").get_json() == {"marked": 1, "unread": 0}
    assert api("alice", "/api/v1/notifications?unread=1").get_json()["data"] == []
    paged = api("alice", "/api/v1/notifications?per_page=1").get_json()
    assert len(paged["data"]) == 1 and paged["meta"]["has_next"] is True


def test_the_api_hides_other_users_notifications_and_unreadable_records(api, crm):
    acme = new_lead(crm, "Acme")
    notification = api("alice", "/api/v1/notifications").get_json()["data"][0]
    assert api("bob", "/api/v1/notifications").get_json()["data"] == []
    assert api("bob", f"/api/v1/notifications/{notification['id']}/read", "POST").status_code == 404
    assert api("bob", "/api/v1/notifications/abc/read", "POST").status_code == 404
    for query, field in (("unread=maybe", "unread"), ("per_page=1000", "per_page"), ("page=0", "page")):
        refused = api("alice", f"/api/v1/notifications?{query}")
        assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_query"
        assert list(refused.get_json()["error"]["fields"]) == [field]
    with crm.session() as s:
        users = crm.schema.system["sys_users"]
        bob_id = s.connection.execute(sa.select(users.c.id).where(users.c.username == "bob")).scalar_one()
        s.update("lead", acme.id, {"owner_id": bob_id})
    again = api("alice", "/api/v1/notifications").get_json()["data"][0]
    assert again["record"] is None and again["record_id"] == acme.id


def test_the_openapi_document_describes_notifications(api):
    document = api("alice", "/api/v1/openapi.json").get_json()
    validate(document)
    assert "get" in document["paths"]["/api/v1/notifications"]
    assert "post" in document["paths"]["/api/v1/notifications/{id}/read"]
    assert "Notification" in document["components"]["schemas"]
