"""THE permission matrix joined by the channels: the REST API and the web UI.

tests/runtime/test_permission_matrix.py proves, on the engine, that every role of
both sample configs reads exactly the records its scope allows and never sees a
hidden field. This module builds the same worlds (its ``build_world`` and
``worlds`` fixture: demo users, the extra users, anchor/free/archived records,
unique ``secret-…`` markers in fields some role hides) and asks the same
questions through HTTP, with the expectations of that module (``World.scope_ids``,
``effective``), computed from the config's role definitions and the users' team
and manager data — never from the engine's scope code:

1. API (bearer token of the subject): ``GET /api/v1/<object>?per_page=500`` lists
   exactly the readable live ids; ``GET /api/v1/<object>/<id>`` of an out-of-scope
   record is 404; no hidden field is a key of a record, of the object in
   ``/api/v1/meta/objects`` or of its schemas and list parameters in
   ``/api/v1/openapi.json``; no hidden marker value appears in any answer.
2. Web UI (logged in through ``/login``): ``/o/<object>`` (every page) links exactly
   to the readable live ids; an out-of-scope record page is 404; the record page and
   the edit form of a readable record show no hidden field (no ``id="f-<field>"``,
   no ``<label for="f-<field>">``, no ``<dt>`` with its label, no marker value).
3. CSV export: exactly the readable live ids and no hidden column for roles with the
   export grant; 403 for roles without it (404 when the role cannot read the object).
4. The board and the approvals page of every pipeline object: exactly the scope.
5. Notifications, e-mails, webhooks and approval details: a template naming a hidden and
   an encrypted field shows their values to a recipient who may read them, "—" to one who
   may not (in the app, the API and the e-mails); an approval request shows its pending
   value of a hidden field to the requester only; a webhook carries neither field. And
   structurally: with ``reader.values_for`` / ``reader.readable_fields`` letting nothing
   through, no channel shows a value — every one of them reads through that gate.

Worlds, apps, tokens and logged-in clients are built once per module. Cases are
named ``<config>-<role>-<object>``.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from engine.runtime.demo import data as demo
from engine.runtime.security.tokens import create_token
from tests.runtime import test_permission_matrix as matrix
from tests.runtime.test_permission_matrix import CASES, Subject, World, case_world
from webui import create_app

#: The module-scoped fixture of the engine matrix: ``worlds(name)`` → World.
worlds = matrix.worlds

#: How many out-of-scope records each case opens through each channel.
OUTSIDERS = 3


@dataclass
class Channels:
    """One subject's ways in: an API client with its bearer header, and a logged-in web client."""

    api: FlaskClient
    headers: dict[str, str]
    web: FlaskClient


@pytest.fixture(scope="module")
def channels(worlds, tmp_path_factory):
    """``channels(world, subject)`` → Channels, built once per module."""
    apps: dict[tuple[str, bool], Any] = {}
    built: dict[tuple[str, str], Channels] = {}

    def get(world: World, subject: Subject) -> Channels:
        key = (world.name, subject.label)
        if key in built:
            return built[key]
        app_key = (world.name, subject.overlay)
        if app_key not in apps:
            apps[app_key] = create_app(
                world.crm_for(subject),
                test_config={
                    "TESTING": True,
                    "SECRET_KEY": "channel matrix",
                    "WTF_CSRF_ENABLED": False,
                    "RATELIMIT_ENABLED": False,
                    "TRELLIS_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
                },
            )
        app = apps[app_key]
        secret, _ = create_token(world.crm_for(subject), subject.username, name="channel matrix")
        web = app.test_client()
        response = web.post("/login", data={"username": subject.username, "password": demo.DEMO_PASSWORD})
        assert response.status_code == 302, (
            f"{subject.username} could not log in: {response.status_code} {response.get_data(as_text=True)[:500]}"
        )
        built[key] = Channels(app.test_client(), {"Authorization": f"Bearer {secret}"}, web)
        return built[key]

    return get


# --- expectations and helpers ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    world: World
    subject: Subject
    obj: str
    ch: Channels

    @property
    def eff(self):
        return self.world.effective(self.subject)

    @property
    def hidden(self) -> list[str]:
        return self.eff.hidden_in(self.world.config.objects[self.obj])

    @property
    def live(self) -> list[int]:
        """The readable records a list shows (archived ones are not listed)."""
        return self.world.scope_ids(self.subject, self.obj, "read", archived=False)

    def outside(self) -> list[int]:
        in_scope = set(self.world.scope_ids(self.subject, self.obj, "read"))
        return [r.id for r in self.world.rows[self.obj] if r.id not in in_scope][:OUTSIDERS]

    def sample(self) -> int | None:
        """A readable live record, preferring the subject's own anchor (others' records point at it)."""
        live = set(self.live)
        rows = [r for r in self.world.rows[self.obj] if r.id in live]
        user = self.world.user(self.subject)
        rows.sort(key=lambda r: (r.kind != "anchor", r.owner_id != user.id))
        return rows[0].id if rows else None

    def secrets(self) -> list[str]:
        """Marker values of fields (of any object) hidden from the subject."""
        hidden = self.eff.hidden
        return [m for key, by_id in self.world.markers.items() if key in hidden for m in by_id.values()]

    def labels(self) -> dict[str, set[str]]:
        """The labels (every configured language) of the object's hidden fields, without those
        a visible field of the object shares."""
        obj = self.world.config.objects[self.obj]
        languages = self.world.config.settings.languages

        def texts(name: str) -> set[str]:
            return {obj.fields[name].label.get(language) for language in languages}

        visible = set().union(*(texts(f) for f in self.eff.visible(obj)))
        return {f: texts(f) - visible for f in self.hidden}


def make_case(worlds, channels, name: str, subject: Subject, obj: str) -> Case:
    world = case_world(worlds, name, subject)
    return Case(world, subject, obj, channels(world, subject))


def body(response) -> str:
    return response.get_data(as_text=True)


def no_secrets(case: Case, text: str, where: str) -> None:
    leaked = [m for m in case.secrets() if m in text]
    assert not leaked, f"{where}: hidden values {leaked[:5]} appear"


def no_hidden_fields_in_html(case: Case, page: str, where: str, history: list[str]) -> None:
    """Assert that the page shows no hidden field; hidden fields the history panel names
    (label only, values masked) are added to ``history`` for the caller to judge."""
    for name, labels in case.labels().items():
        assert f'id="f-{name}"' not in page, f"{where}: the input of hidden field {name} is shown"
        assert f'for="f-{name}"' not in page, f"{where}: the label of hidden field {name} is shown"
        for label in labels:
            escaped = html.escape(label, quote=False)
            assert f"<dt>{escaped}</dt>" not in page, f"{where}: hidden field {name} is shown as {label!r}"
            assert not re.search(rf"<label[^>]*>\s*{re.escape(escaped)}\s*[<*]", page), (
                f"{where}: hidden field {name} has a label {label!r}"
            )
            if f"<li>{escaped}: " in page:
                history.append(f"{where}: the history names hidden field {name} ({label!r}, values masked)")
    no_secrets(case, page, where)


def list_ids(case: Case, history: list[str]) -> list[int]:
    """The record ids the web list links to, every page."""
    found: list[int] = []
    url = f"/o/{case.obj}"
    for _ in range(100):
        response = case.ch.web.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        page = body(response)
        no_hidden_fields_in_html(case, page, url, history)
        tbody = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
        for row in tbody.split("<tr>")[1:]:
            match = re.search(rf'href="/o/{case.obj}/(\d+)"', row)
            assert match, f"{url}: a row without a link to its record: {row[:300]}"
            found.append(int(match.group(1)))
        following = re.search(r'<a href="([^"]+)" rel="next">', page)
        if not following:
            return found
        url = html.unescape(following.group(1))
    raise AssertionError(f"/o/{case.obj}: more than 100 pages")


WEB_CASES = CASES


# --- 1. the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_api_reads_exactly_the_scope_and_never_a_hidden_field(worlds, channels, name, subject, obj):
    case = make_case(worlds, channels, name, subject, obj)
    api, headers, hidden = case.ch.api, case.ch.headers, set(case.hidden)
    readable = case.eff.grants[obj].read != "none"

    response = api.get(f"/api/v1/{obj}?per_page=500", headers=headers)
    if readable:
        assert response.status_code == 200, body(response)
        data = response.get_json()
        assert [r["id"] for r in data["data"]] == case.live
        assert data["meta"]["total"] == len(case.live)
        for record in data["data"]:
            assert not hidden & set(record), f"record {record['id']} has hidden keys {sorted(hidden & set(record))}"
        no_secrets(case, body(response), f"GET /api/v1/{obj}")
    else:
        assert response.status_code in (200, 403, 404), body(response)
        if response.status_code == 200:
            assert response.get_json()["data"] == []

    if readable:
        sample = case.sample()
        if sample is not None:
            response = api.get(f"/api/v1/{obj}/{sample}", headers=headers)
            assert response.status_code == 200, body(response)
            assert not hidden & set(response.get_json())
            no_secrets(case, body(response), f"GET /api/v1/{obj}/{sample}")
    for record_id in case.outside():
        response = api.get(f"/api/v1/{obj}/{record_id}", headers=headers)
        assert response.status_code == 404, f"GET /api/v1/{obj}/{record_id}: {response.status_code} {body(response)}"
        no_secrets(case, body(response), f"GET /api/v1/{obj}/{record_id}")

    response = api.get("/api/v1/meta/objects", headers=headers)
    assert response.status_code == 200, body(response)
    described = {o["name"]: o for o in response.get_json()["data"]}
    assert (obj in described) == readable
    if readable:
        names = {f["name"] for f in described[obj]["fields"]}
        assert not hidden & names, f"meta/objects describes hidden fields {sorted(hidden & names)}"
        assert described[obj].get("pipeline", {}).get("field") not in hidden

    response = api.get("/api/v1/openapi.json", headers=headers)
    assert response.status_code == 200, body(response)
    document = response.get_json()
    schemas = document["components"]["schemas"]
    assert (obj in schemas) == readable
    if readable:
        for schema_name in (obj, f"{obj}_create", f"{obj}_update"):
            schema = schemas.get(schema_name, {})
            leaked = hidden & (set(schema.get("properties", {})) | set(schema.get("required", [])))
            assert not leaked, f"openapi schema {schema_name} has hidden fields {sorted(leaked)}"
        parameters = {p["name"] for p in document["paths"][f"/api/v1/{obj}"]["get"]["parameters"]}
        assert not hidden & parameters, f"openapi list parameters include hidden fields {sorted(hidden & parameters)}"


# --- 2. the web UI ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "subject", "obj"), WEB_CASES)
def test_web_pages_show_exactly_the_scope_and_never_a_hidden_field(worlds, channels, name, subject, obj):
    case = make_case(worlds, channels, name, subject, obj)
    web = case.ch.web
    grant = case.eff.grants[obj]
    history: list[str] = []

    if grant.read == "none":
        assert web.get(f"/o/{obj}").status_code == 404
    else:
        shown = list_ids(case, history)
        assert sorted(shown) == sorted(case.live) and len(shown) == len(set(shown)), (
            f"the list links to {sorted(shown)}, expected {sorted(case.live)}"
        )

    for record_id in case.outside():
        for url in (f"/o/{obj}/{record_id}", f"/o/{obj}/{record_id}/edit"):
            response = web.get(url)
            assert response.status_code == 404, f"{url}: {response.status_code}"
            no_secrets(case, body(response), url)

    sample = case.sample() if grant.read != "none" else None
    if sample is None:
        assert not history, "; ".join(history)
        return
    url = f"/o/{obj}/{sample}"
    response = web.get(url)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    no_hidden_fields_in_html(case, body(response), url, history)

    url = f"/o/{obj}/{sample}/edit"
    response = web.get(url)
    may_edit = sample in case.world.scope_ids(subject, obj, "edit")
    assert response.status_code == (200 if may_edit else 403), f"{url}: {response.status_code}"
    if may_edit:
        no_hidden_fields_in_html(case, body(response), url, history)
    assert not history, "; ".join(history)


# --- 3. CSV export ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_csv_export_is_exactly_the_scope_without_hidden_columns(worlds, channels, name, subject, obj):
    case = make_case(worlds, channels, name, subject, obj)
    grant = case.eff.grants[obj]
    if grant.export:  # S37: an export asks for the password again first
        confirmed = case.ch.web.post("/account/confirm", data={"password": demo.DEMO_PASSWORD})
        assert confirmed.status_code == 302, body(confirmed)
    response = case.ch.web.get(f"/o/{obj}/export.csv")
    if grant.read == "none":
        assert response.status_code == 404, response.status_code
        return
    if not grant.export:
        assert response.status_code == 403, response.status_code
        return
    assert response.status_code == 200, body(response)
    text = body(response).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]  # labels, as people read them; the first column is the id
    leaked = {name for name, labels in case.labels().items() if labels & set(header)}
    assert not leaked, f"hidden columns {sorted(leaked)}"
    visible = case.eff.visible(case.world.config.objects[obj])
    assert len(header) == 1 + len(visible) + 3, f"columns {header} for the visible fields {sorted(visible)}"
    exported = [int(row[0]) for row in rows[1:]]
    assert sorted(exported) == sorted(case.live), f"exported {sorted(exported)}, expected {sorted(case.live)}"
    no_secrets(case, text, f"/o/{obj}/export.csv")


# --- 4. the board and the approvals page ---------------------------------------------------------

#: Cases of objects with a pipeline: their board (webui/ui/board.py) is one more read channel.
BOARD_CASES = [case for case in CASES if matrix.SAMPLES[case.values[0]].objects[case.values[2]].pipeline]


@pytest.mark.parametrize(("name", "subject", "obj"), BOARD_CASES)
def test_board_and_approvals_show_exactly_the_scope_and_never_a_hidden_field(worlds, channels, name, subject, obj):
    case = make_case(worlds, channels, name, subject, obj)
    web = case.ch.web
    stage_field = case.world.config.objects[obj].pipeline.field
    history: list[str] = []
    url = f"/o/{obj}/board"
    response = web.get(url)
    if case.eff.grants[obj].read == "none" or stage_field in case.hidden:
        assert response.status_code == 404, f"{url}: {response.status_code}"
    else:
        # With several pipelines the board shows one at a time (a switcher links the others):
        # together their boards show exactly the scope, each record on one board only.
        assert response.status_code == 200, f"{url}: {response.status_code}"
        page = body(response)
        boards = [(url, page)] + [
            (f"{url}?pipeline={key}", body(web.get(f"{url}?pipeline={key}")))
            for key in re.findall(r'<a href="[^"]*" data-pipeline="([\w-]+)"(?! aria-current)', page)
        ]
        shown, counted, complete = [], 0, True
        for board_url, board in boards:
            cards = [int(i) for i in re.findall(r'<li class="card" id="card-(\d+)"', board)]
            assert set(cards) <= set(case.live) and len(cards) == len(set(cards)), (
                f"{board_url} shows cards {sorted(set(cards) - set(case.live))} outside the scope"
            )
            shown += cards
            counted += sum(int(n) for n in re.findall(r'data-count="(\d+)"', board))  # columns and "in no stage"
            complete = (
                complete and not re.search(r'class="more"', board) and not re.search(r'class="hint board-other"', board)
            )
            no_hidden_fields_in_html(case, board, board_url, history)
        assert len(shown) == len(set(shown)), f"{url}: a record is on the boards of several pipelines"
        assert counted == len(case.live), f"{url} and its pipelines count {counted} records, expected {len(case.live)}"
        if complete:
            assert sorted(shown) == sorted(case.live), f"{url} shows {sorted(shown)}, expected {sorted(case.live)}"
    response = web.get("/approvals")
    assert response.status_code == 200, f"/approvals: {response.status_code}"
    no_hidden_fields_in_html(case, body(response), "/approvals", history)
    assert not history, "; ".join(history)


# --- 5. notifications, e-mails, webhooks and approval details --------------------------------------

NOTIFY_CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      income: {type: text}
      id_number: {type: text, encrypted: true}
templates:
  new_contact:
    subject: "New contact {{ record.name }} {{ record.id_number }}"
    body: "Income {{ record.income }}; ID {{ record.id_number }}; raw {{ record.raw.id_number }}"
approvals:
  - {name: income_change, object: contact, on: {change: [income]}, approver: manager, applies_to: update}
automations:
  - name: new_contact
    object: contact
    on: created
    do:
      - {notify: {to: [owner, manager], template: new_contact, channels: [in_app, email]}}
      - {webhook: {url: "https://erp.example.com/hooks/contact", unsigned: true}}
roles:
  rep:
    objects:
      contact: {read: own, edit: own, create: true}
  lead:
    objects:
      contact: {read: team}
    hidden: [contact.income, contact.id_number]
    permissions: [approve]
"""

INCOME, ID_NUMBER, NEW_INCOME = "secret-income-71", "secret-id-3101", "secret-income-72"


def person_channels(crm, app) -> dict[str, dict[str, str]]:
    """What each person reads of the contact, by channel: their notification in the app and
    the API, their e-mail, and the approval request in the app and the API; and the webhook."""
    from tests.webui.conftest import client_for

    with crm.engine.connect() as connection:
        outbox = crm.schema.system["sys_outbox"]
        sent = connection.execute(sa.select(outbox.c.kind, outbox.c.target, outbox.c.payload)).all()
    mails = {target: payload for kind, target, payload in sent if kind == "email"}
    seen: dict[str, dict[str, str]] = {"erp": {"webhook": "".join(p for k, _, p in sent if k == "webhook")}}
    for username in ("rita", "mei"):
        secret, _ = create_token(crm, username, name="channel matrix")
        headers = {"Authorization": f"Bearer {secret}"}
        api = app.test_client()
        web = client_for(app, username)
        box = "mine" if username == "rita" else "inbox"
        seen[username] = {
            "notification (API)": body(api.get("/api/v1/notifications", headers=headers)),
            "notification (app)": body(web.get("/notifications")),
            "e-mail": mails.get(f"{username}@example.com", ""),
            "approval (API)": body(api.get(f"/api/v1/approvals?box={box}", headers=headers)),
            "approval (app)": body(web.get("/approvals")),
        }
    return seen


def contact_story(open_crm):
    """Rita (rep) adds a contact, then asks to change its income, which her manager Mei
    (lead: income and ID number hidden) decides."""
    from tests.webui.conftest import make_app

    crm = open_crm(
        NOTIFY_CONFIG,
        {
            "mei": {"roles": ["lead"], "team": "east", "email": "mei@example.com"},
            "rita": {"roles": ["rep"], "team": "east", "manager": "mei", "email": "rita@example.com"},
        },
        teams=["east"],
    )
    with crm.session("rita") as s:
        contact = s.create("contact", {"name": "Wei", "income": INCOME, "id_number": ID_NUMBER})
        pending = s.update("contact", contact.id, {"income": NEW_INCOME})
    assert getattr(pending, "pending_approval", None) is not None
    return crm, make_app(crm)


def test_no_channel_shows_a_person_a_value_they_may_not_read(open_crm):
    """A template naming a hidden field and an encrypted field, an approval request changing
    the hidden field, a webhook: the owner (who may read both fields) reads their values in
    her notification (app and API), her e-mail and her request (app and API); her manager
    (both hidden) reads "—" or nothing in every one of them; the webhook carries neither."""
    crm, app = contact_story(open_crm)
    seen = person_channels(crm, app)
    for channel, text in seen["rita"].items():
        assert (INCOME in text or NEW_INCOME in text) and (ID_NUMBER in text or "approval" in channel), (
            f"rita via {channel}: her own values are missing"
        )
    for channel, text in {**seen["mei"], **seen["erp"]}.items():
        leaked = [s for s in (INCOME, ID_NUMBER, NEW_INCOME) if s in text]
        assert not leaked, f"mei / the webhook via {channel}: {leaked} shown"
    [note] = json.loads(seen["mei"]["notification (API)"])["data"]
    assert note["title"] == "New contact Wei —" and note["body"] == "Income —; ID —; raw None"
    [request] = json.loads(seen["mei"]["approval (API)"])["data"]
    assert request["changes"] == {} and request["hidden_changes"] == 1
    assert json.loads(seen["erp"]["webhook"])["record"]["name"] == "Wei"
    # the manager may read less than the owner: not copied on hers, an e-mail of their own
    assert seen["mei"]["e-mail"] and "cc" not in json.loads(seen["rita"]["e-mail"])


def test_every_channel_takes_record_values_from_the_one_reader(open_crm, monkeypatch):
    """Structural: with the reader's gate closed (``reader.values_for`` and
    ``reader.readable_fields`` let nothing through), no channel that renders a record for
    someone shows a value of it — so no channel reads around the gate."""
    from engine.runtime.records import reader

    asked: list[str] = []

    def nothing_readable(session, who, obj, values):
        asked.append("values_for")
        return {}

    def no_fields(config, principals, obj):
        asked.append("readable_fields")
        return frozenset()

    monkeypatch.setattr(reader, "values_for", nothing_readable)
    monkeypatch.setattr(reader, "readable_fields", no_fields)
    crm, app = contact_story(open_crm)
    seen = person_channels(crm, app)
    for who, channels in seen.items():
        for channel, text in channels.items():
            leaked = [s for s in (INCOME, ID_NUMBER, NEW_INCOME) if s in text]
            assert not leaked, f"{who} via {channel}: {leaked} shown around reader.values_for"
    [note] = json.loads(seen["rita"]["notification (API)"])["data"]
    assert note["title"] == "New contact — —"
    assert json.loads(seen["erp"]["webhook"])["record"] == {}
    assert {"values_for", "readable_fields"} <= set(asked)
