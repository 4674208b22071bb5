"""Saved list views per user and the config's list columns, through Flask's test
client, on SQLite and PostgreSQL (``TRELLIS_TEST_DATABASE_URL``)."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from engine.runtime.errors import NotFound, ValidationFailed
from engine.runtime.records import views
from tests.webui.conftest import client_for, text, token

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
objects:
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    list:
      columns: [name, stage, secret_note, owner_id, created_at]
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      stage:
        type: picklist
        label: {en: Stage, zh: 阶段}
        values:
          - {key: new, label: {en: New, zh: 新}}
          - {key: quote, label: {en: Quote, zh: 报价}}
      amount: {type: currency, label: {en: Amount, zh: 金额}}
      secret_note: {type: text, label: {en: Secret note, zh: 机密备注}}
roles:
  rep:
    objects:
      lead: {read: all, create: true}
    hidden: [lead.secret_note]
  manager:
    objects:
      "*": {read: all, edit: all, create: true}
"""

USERS = {"alice": {"roles": ["rep"]}, "bob": {"roles": ["rep"]}, "mia": {"roles": ["manager"]}}


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, USERS)
    with crm.session(user="mia") as s:
        s.create("lead", {"name": "Acme deal", "stage": "quote", "secret_note": "top secret"})
        s.create("lead", {"name": "Beta deal", "stage": "new"})
    return crm


def save(client, list_url: str, name: str):
    page = text(client.get(list_url))
    query = html.unescape(re.search(r'name="query" value="([^"]*)"', page).group(1))
    return client.post("/o/lead/views", data={"csrf_token": token(page), "query": query, "name": name})


def view_links(page: str) -> dict[str, str]:
    section = page.split('class="saved-views"', 1)[1].split("</section>", 1)[0]
    return {
        html.unescape(name): html.unescape(url)
        for url, name in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', section)
    }


# --- list columns ------------------------------------------------------------------------------
def test_list_columns_come_from_the_config_without_hidden_ones(app):
    page = text(client_for(app, "alice").get("/o/lead"))
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    labels = re.findall(r'title="Sort by ([^"]+)"', head)
    assert labels == ["Name", "Stage", "Owner", "Created"]
    assert "Secret note" not in page and "top secret" not in page and "Amount" not in head
    assert "mia" in page  # the owner column shows the user's name
    manager = text(client_for(app, "mia").get("/o/lead"))
    assert re.findall(r'title="Sort by ([^"]+)"', manager.split("</thead>", 1)[0]) == [
        "Name",
        "Stage",
        "Secret note",
        "Owner",
        "Created",
    ]


# --- saved views ---------------------------------------------------------------------------------
def test_save_list_apply_and_delete_a_view(app):
    alice = client_for(app, "alice")
    assert "No saved views yet." in text(alice.get("/o/lead"))
    response = save(alice, "/o/lead?stage=quote&sort=name", "  Quotes  ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/o/lead?sort=name&stage=quote"
    page = text(alice.get("/o/lead"))
    assert "The view was saved." in page
    links = view_links(page)
    assert links == {"Quotes": "/o/lead?sort=name&stage=quote"}
    applied = text(alice.get(links["Quotes"]))
    assert "Acme deal" in applied and "Beta deal" not in applied
    assert 'aria-current="true">Quotes</a>' in applied
    # The same name again replaces the view's filters.
    assert save(alice, "/o/lead?stage=new", "Quotes").status_code == 302
    assert view_links(text(alice.get("/o/lead"))) == {"Quotes": "/o/lead?stage=new"}
    with app.extensions["trellis"].session(user="alice") as s:
        (saved,) = views.list_views(s, "lead")
    page = text(alice.get("/o/lead"))
    response = alice.post(f"/o/lead/views/{saved.id}/delete", data={"csrf_token": token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/o/lead"
    page = text(alice.get("/o/lead"))
    assert "The view was deleted." in page and view_links(page) == {}


def test_a_list_page_keeps_the_users_views_until_they_change_wherever_they_change(app, crm):
    alice = client_for(app, "alice")
    assert save(alice, "/o/lead?stage=quote", "Quotes").status_code == 302
    alice.get("/o/lead")  # the flash's page

    def asked(path: str) -> tuple[str, list[str]]:
        seen: list[str] = []

        def before(conn, cursor, statement, *args):  # noqa: ANN001
            seen.append(statement)

        sa.event.listen(crm.engine, "before_cursor_execute", before)
        try:
            page = text(alice.get(path))
        finally:
            sa.event.remove(crm.engine, "before_cursor_execute", before)
        return page, [s for s in seen if "sys_saved_views" in s]

    asked("/o/lead")
    page, statements = asked("/o/lead")
    assert view_links(page) == {"Quotes": "/o/lead?stage=quote"} and statements == []  # kept
    # Changed elsewhere (another process, the API, a script through the engine): seen at once.
    with crm.session(user="alice") as s:
        views.save_view(s, "lead", "New ones", "stage=new")
    page, statements = asked("/o/lead")
    assert view_links(page) == {"New ones": "/o/lead?stage=new", "Quotes": "/o/lead?stage=quote"}
    assert len(statements) == 1
    with crm.session(user="alice") as s:
        views.delete_view(s, "lead", next(v.id for v in views.list_views(s, "lead") if v.name == "Quotes"))
    assert view_links(asked("/o/lead")[0]) == {"New ones": "/o/lead?stage=new"}
    assert view_links(text(client_for(app, "bob").get("/o/lead"))) == {}  # another user's: never kept for bob


def test_another_user_does_not_see_or_delete_the_view(app, crm):
    alice = client_for(app, "alice")
    assert save(alice, "/o/lead?stage=quote", "Mine").status_code == 302
    bob = client_for(app, "bob")
    page = text(bob.get("/o/lead"))
    assert view_links(page) == {} and "Mine" not in page
    with crm.session(user="alice") as s:
        (saved,) = views.list_views(s, "lead")
    response = bob.post(f"/o/lead/views/{saved.id}/delete", data={"csrf_token": token(page)})
    assert response.status_code == 404
    assert view_links(text(alice.get("/o/lead"))) == {"Mine": "/o/lead?stage=quote"}
    # The same name is free for another user.
    assert save(bob, "/o/lead?stage=new", "Mine").status_code == 302
    assert view_links(text(bob.get("/o/lead"))) == {"Mine": "/o/lead?stage=new"}


def test_empty_or_long_name_is_a_field_error_beside_the_form(app, crm):
    alice = client_for(app, "alice")
    response = save(alice, "/o/lead?stage=quote", "   ")
    assert response.status_code == 422
    page = text(response)
    assert 'role="alert">The view was not saved: Enter a name for the view.</p>' in page
    assert 'aria-invalid="true"' in page and 'name="query" value="stage=quote"' in page
    assert save(alice, "/o/lead", "x" * 101).status_code == 422
    with crm.session(user="alice") as s:
        assert views.list_views(s, "lead") == []


def test_saving_needs_the_csrf_token(app):
    alice = client_for(app, "alice")
    response = alice.post("/o/lead/views", data={"query": "stage=quote", "name": "No token"})
    assert response.status_code == 400
    assert "No token" not in text(alice.get("/o/lead"))


def test_views_in_zh(app):
    alice = client_for(app, "alice")
    page = text(alice.get("/o/lead"))
    alice.post("/lang", data={"csrf_token": token(page), "lang": "zh", "next": "/o/lead"})
    page = text(alice.get("/o/lead"))
    assert "保存视图" in page and "还没有保存的视图。" in page and "负责人" in page


def test_engine_module_checks_names_and_owners(crm):
    with crm.session(user="alice") as s:
        with pytest.raises(ValidationFailed) as info:
            views.save_view(s, "lead", "", "stage=quote")
        assert list(info.value.errors) == ["name"]
        saved = views.save_view(s, "lead", " Hot ", "?stage=quote")
        assert (saved.name, saved.query) == ("Hot", "stage=quote")
    with crm.session(user="bob") as s:
        assert views.list_views(s, "lead") == []
        with pytest.raises(NotFound):
            views.delete_view(s, "lead", saved.id)
    with crm.session(user="alice") as s:
        views.delete_view(s, "lead", saved.id)
        assert views.list_views(s, "lead") == []
