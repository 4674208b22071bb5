"""Sessions and logins in the web UI (issue 11): hostile ``next`` values, sessions
ended on the server, session lifetime, login throttling and re-confirmation."""

from __future__ import annotations

import pytest

from tests.webui.conftest import PASSWORD, post, text, token

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
  security: {lockout_attempts: 3, lockout_minutes: 15}
objects:
  lead:
    label: {en: Lead, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
  manager:
    objects:
      "*": {read: all, edit: all, delete: all, create: true, export: true}
    permissions: [manage_users]
"""

USERS = {"alice": {"roles": ["rep"]}, "mia": {"roles": ["manager"]}}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


# --- hostile next values ------------------------------------------------------------------------
HOSTILE_NEXT = ("/\r//evil.example", "/\n/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
                "\\\\evil.example", "/%2F/evil.example", "/%2f%2fevil.example", "/%5Cevil.example",
                "/%0d//evil.example", "/%250d//evil.example", "https://evil.example/", "javascript:alert(1)",
                "/\x1b//evil.example", "/\u0085//evil.example", " //evil.example")


def test_hostile_next_values_redirect_home_never_off_site_nor_500(client):
    for target in HOSTILE_NEXT:
        response = client.get("/login", query_string={"next": target})
        assert response.status_code < 500, target
        page = client.get("/login")
        lang = client.post("/lang", data={"lang": "zh", "next": target, "csrf_token": token(page)})
        assert lang.status_code == 302 and lang.headers["Location"] == "/", target
    for target in HOSTILE_NEXT:
        page = client.get("/login")
        assert page.status_code == 200, target
        response = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": target,
                                               "csrf_token": token(page)})
        assert response.status_code == 302 and response.headers["Location"] == "/", (target, text(response))
        post(client, "/logout", form_url="/o/lead")
    page = client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/o/lead?q=a%2Fb",
                                           "csrf_token": token(page)})
    assert response.headers["Location"] == "/o/lead?q=a%2Fb"  # a local next with encoded text still works
