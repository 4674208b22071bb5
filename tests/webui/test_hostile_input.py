"""Control characters and lone surrogates through the REST API and the web form:
a 422 with the field's error code (a lone surrogate in a JSON body: 400 malformed_json; never a 500),
and the form's error in the user's language."""

from __future__ import annotations

import pytest

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import post, text

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
objects:
  note:
    fields:
      title: {type: text}
      body: {type: textarea}
roles:
  admin:
    objects: {"*": {read: all, edit: all, delete: all, create: true}}
"""


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"ann": {"roles": ["admin"]}, "li": {"roles": ["admin"], "locale": "zh"}})


def test_the_api_answers_422_with_the_field_code(client, crm):
    headers = {"Authorization": f"Bearer {create_token(crm, 'ann')[0]}", "Content-Type": "application/json"}
    cases = [
        ('{"title": "bell\\u0007", "body": "ok\\n\\tfine"}', {"title": "control_character"}),
        ('{"title": "one\\ntwo"}', {"title": "control_character"}),
    ]
    for body, expected in cases:
        response = client.post("/api/v1/note", data=body, headers=headers)
        assert response.status_code == 422, text(response)
        fields = response.get_json()["error"]["fields"]
        assert {name: problems[0]["code"] for name, problems in fields.items()} == expected
    # A lone surrogate escape is no character, so a JSON body holding one is no valid text: the API refuses
    # the whole body with 400 malformed_json (docs/api.md) before any field is read — still a clear 4xx,
    # never a 500. The field error invalid_character is what the write path answers to the channels that
    # can still hand it such a string (Session: tests/runtime/test_hostile_values.py).
    for body in ('{"title": "half \\ud83d emoji", "body": "\\udc00"}', '{"title": "fine", "body": "\\udc00"}'):
        response = client.post("/api/v1/note", data=body, headers=headers)
        assert response.status_code == 400, text(response)
        error = response.get_json()["error"]
        assert error["code"] == "malformed_json" and "surrogate" in error["message"]
    assert client.get("/api/v1/note", headers=headers).get_json()["meta"]["total"] == 0  # nothing stored
    response = client.post("/api/v1/note", data='{"title": "fine", "body": "a\\r\\n\\tb"}', headers=headers)
    assert response.status_code == 201 and response.get_json()["body"] == "a\r\n\tb"


def test_the_form_shows_the_error_in_the_users_language(app, crm):
    from tests.webui.conftest import client_for

    for user, shown in (("ann", "Control characters are not allowed here"), ("li", "此处不允许使用控制字符")):
        client = client_for(app, user)
        response = post(client, "/o/note/new", {"title": "bell\x07", "body": ""})
        assert response.status_code == 422, text(response)
        assert shown in text(response)
