"""One list-parameter spec (``engine.runtime.records.listparams``) for the web list, the board, the
REST API's list and the CSV export, on SQLite and PostgreSQL: the same query string gives the
same records in all four; ``owner=team`` is the user's team (themselves included), never the
people below a manager in other teams; a bad parameter is 400 ``bad_query`` naming it in the
API and a message in the user's language (en, zh) on the list, the board and the export.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from engine.runtime.security.tokens import create_token
from tests.webui.conftest import PASSWORD, client_for, make_app, post, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai, currency: CNY}
objects:
  deal:
    label: {en: Deal, zh: 商机}
    plural_label: {en: Deals, zh: 商机}
    title: "{name}"
    list: {columns: [name, stage, amount]}
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
      region: {type: picklist, values: [east, west]}
    pipeline:
      stages:
        - {key: initial, probability: 10}
        - {key: quote, probability: 50}
        - {key: won, outcome: won, probability: 100}
        - {key: lost, outcome: lost}
roles:
  seller:
    objects: {deal: {read: all, edit: own, create: true, export: true}}
"""

#: Mia leads the east team; Alice and Bob are in it and report to her; Dave reports to her
#: from the west team; Zoe reports to her and has no team.
USERS = {
    "mia": {"roles": ["seller"], "team": "east"},
    "alice": {"roles": ["seller"], "team": "east", "manager": "mia"},
    "bob": {"roles": ["seller"], "team": "east", "manager": "mia"},
    "dave": {"roles": ["seller"], "team": "west", "manager": "mia"},
    "zoe": {"roles": ["seller"], "manager": "mia", "locale": "zh_CN"},
}

DEALS = (  # owner, name, stage, amount, region
    ("alice", "Acme", "quote", "1000", "east"),
    ("alice", "Beta", "initial", "500", "east"),
    ("bob", "Bolt", "quote", "2500", "west"),
    ("mia", "Mango", "won", "7000", "east"),
    ("dave", "Delta", "quote", "9000", "west"),
    ("zoe", "Zeta", "initial", "300", None),
)


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, teams=["east", "west"])


@pytest.fixture
def user_ids(crm) -> dict[str, int]:
    with crm.directory() as directory:
        return {u.username: u.id for u in directory.list()}


@pytest.fixture
def deals(crm, user_ids) -> dict[str, int]:
    """Name → id of the deals above (created by the system, at any stage, for their owners)."""
    with crm.session() as session:
        return {
            name: session.create(
                "deal", {"name": name, "stage": stage, "amount": amount, "region": region, "owner_id": user_ids[owner]}
            ).id
            for owner, name, stage, amount, region in DEALS
        }


# --- reading the four channels -------------------------------------------------------------
def listed(client, query: str) -> list[int]:
    """The ids on the list page, in order."""
    response = client.get(f"/o/deal?{query}")
    assert response.status_code == 200, text(response)
    body = text(response)
    table = body[body.index("<tbody>") : body.index("</tbody>")] if "<tbody>" in body else ""
    return [int(i) for i in re.findall(r'<tr>\s*<td[^>]*>\s*<a href="/o/deal/(\d+)"', table)]


def on_board(client, query: str) -> set[int]:
    """The ids of the board's cards (the board groups them by stage: a set)."""
    response = client.get(f"/o/deal/board?{query}")
    assert response.status_code == 200, text(response)
    return {int(i) for i in re.findall(r'<li class="card" id="card-(\d+)"', text(response))}


def exported(client, query: str) -> list[int]:
    """The ids in the CSV export, in order (the password confirmed first, as S37 asks)."""
    response = client.get(f"/o/deal/export.csv?{query}")
    if response.status_code == 302:
        post(client, response.headers["Location"], {"password": PASSWORD})
        response = client.get(f"/o/deal/export.csv?{query}")
    assert response.status_code == 200, text(response)
    rows = list(csv.reader(io.StringIO(text(response).lstrip("\ufeff"))))
    return [int(row[0]) for row in rows[1:]]


def from_api(client, token: str, query: str) -> list[int]:
    response = client.get(f"/api/v1/deal?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return [record["id"] for record in response.get_json()["data"]]


# --- one query string, the same records everywhere -----------------------------------------
#: A query string (``{dave}`` is Dave's id) → the deals Alice gets, in order when it sorts.
CASES = {
    "owner=team": {"Acme", "Beta", "Bolt", "Mango"},
    "owner=me": {"Acme", "Beta"},
    "owner={dave}": {"Delta"},
    "stage=quote": {"Acme", "Bolt", "Delta"},
    "q=ta": {"Beta", "Delta", "Zeta"},
    "sort=-amount": ["Delta", "Mango", "Bolt", "Acme", "Beta", "Zeta"],
    "owner=team&stage=quote&sort=name": ["Acme", "Bolt"],
    "amount__gte=1000&region=east&sort=amount": ["Acme", "Mango"],
    "q=&owner=&stage=&region=&sort=-name&amount__lte=2500": ["Zeta", "Bolt", "Beta", "Acme"],  # a form's empty controls
}


@pytest.mark.parametrize("query", list(CASES))
def test_the_same_query_string_gives_the_same_records_everywhere(crm, deals, user_ids, query):
    app = make_app(crm)
    client = client_for(app, "alice")
    token = create_token(crm, "alice", "parity")[0]
    expected = CASES[query]
    query = query.format(dave=user_ids["dave"])
    names = {record_id: name for name, record_id in deals.items()}

    in_list, in_export = listed(client, query), exported(client, query)
    in_api, in_board = from_api(app.test_client(), token, query), on_board(client, query)

    if isinstance(expected, list):  # sorted: the same order in the list, the export and the API
        assert [names[i] for i in in_list] == expected
        assert in_export == in_api == in_list
    assert {names[i] for i in in_list} == set(expected)
    assert set(in_export) == set(in_api) == in_board == set(in_list)


# --- owner=team ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "team"),
    [
        ("alice", {"Acme", "Beta", "Bolt", "Mango"}),  # in a team, with a manager: the team, not the manager's reports
        ("mia", {"Acme", "Beta", "Bolt", "Mango"}),  # a manager: her team, not Dave (west) or Zoe (no team) below her
        ("dave", {"Delta"}),  # alone in his team
        ("zoe", {"Zeta"}),  # no team: just her own
    ],
)
def test_owner_team_is_the_users_team_with_themselves(crm, deals, user, team):
    app = make_app(crm)
    names = {record_id: name for name, record_id in deals.items()}
    token = create_token(crm, user, "team")[0]
    assert {names[i] for i in from_api(app.test_client(), token, "owner=team")} == team
    client = client_for(app, user)
    assert {names[i] for i in listed(client, "owner=team")} == team
    assert {names[i] for i in on_board(client, "owner=team")} == team


def test_owner_as_a_user_id_is_named_in_the_sentence_and_kept_in_the_select(crm, deals, user_ids):
    client = client_for(make_app(crm), "alice")
    page = text(client.get(f"/o/deal?owner={user_ids['dave']}"))
    assert "Owner is dave" in page
    assert f'<option value="{user_ids["dave"]}" selected>dave</option>' in page
    assert "Owner is in my team" in text(client.get("/o/deal?owner=team"))


# --- bad parameters --------------------------------------------------------------------------
def api_error(client, token: str, query: str, language: str = "en") -> dict:
    response = client.get(
        f"/api/v1/deal?{query}", headers={"Authorization": f"Bearer {token}", "Accept-Language": language}
    )
    assert response.status_code == 400, response.get_json()
    body = response.get_json()["error"]
    assert body["code"] == "bad_query" and body["message"].endswith((".", "。"))  # one full stop, in its language
    return body


@pytest.mark.parametrize(
    ("query", "parameter", "code"),
    [
        ("owner=someone", "owner", "bad_owner"),
        ("owner=me&owner_id=1", "owner", "owner_conflict"),
        ("page=abc", "page", "bad_page"),
        ("per_page=501", "per_page", "bad_per_page"),
        ("stage=quote&stage=won", "stage", "repeated_parameter"),
        ("name=a%00", "name", "nul_character"),
        ("colour=red", "colour", "bad_filter"),
        ("amount__gte=lots", "amount__gte", "bad_filter"),
        ("sort=nope", "sort", "bad_sort"),
        ("q=" + "x" * 201, "q", "search_too_long"),
    ],
)
def test_a_bad_parameter_is_400_bad_query_naming_it(crm, deals, query, parameter, code):
    body = api_error(make_app(crm).test_client(), create_token(crm, "alice", "bad")[0], query)
    assert [e["code"] for e in body["fields"][parameter]] == [code]


def test_every_bad_parameter_is_named_at_once_in_the_callers_language(crm, deals):
    client, token = make_app(crm).test_client(), create_token(crm, "alice", "bad")[0]
    body = api_error(client, token, "page=0&colour=red&owner=x&sort=nope")
    assert set(body["fields"]) == {"page", "colour", "owner", "sort"}
    assert body["message"].startswith("Page must be a whole number from 1") and "no field 'colour'" in body["message"]
    chinese = api_error(client, token, "page=0&owner=x", "zh-CN")
    assert chinese["fields"]["page"][0]["message"] == "页码（page）必须是从 1 起的整数。"
    assert chinese["fields"]["owner"][0]["message"] == "负责人筛选（owner）只能是 me、team 或用户编号。"


@pytest.mark.parametrize("path", ["/o/deal", "/o/deal/board"])
def test_a_bad_parameter_is_a_message_on_the_list_and_the_board(crm, deals, path):
    app = make_app(crm)
    english = client_for(app, "alice").get(f"{path}?owner=someone&page=abc")
    assert english.status_code == 400
    page = text(english)
    assert "The filter was not applied: page must be a whole number from 1, not &#39;abc&#39;" in page
    assert "owner is me, team or a user id, not &#39;someone&#39;" in page
    assert 'id="card-' not in page and "Acme" not in page  # nothing listed rather than everything
    chinese = text(client_for(app, "zoe").get(f"{path}?owner=someone"))
    assert "筛选未生效：负责人筛选（owner）只能是 me、team 或用户编号。" in chinese


def test_a_bad_parameter_on_the_export_is_the_error_page(crm, deals):
    client = client_for(make_app(crm), "alice")
    exported(client, "")  # confirm the password once
    response = client.get("/o/deal/export.csv?stage=nope")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "The filter was not applied: filter on stage" in text(response)
