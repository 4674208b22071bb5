"""The board, the stage path and moving records between stages in the web UI
(webui/ui/board.py, webui/ui/pipeline.py): only records in the user's scope, counts and
sums per column, the move endpoint's answers (200, 202, 403, 409, 422 with the missing
fields and their widgets), CSRF, the form flow without JavaScript, and the stage reason of
the edit form.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from tests.webui.conftest import make_app, post, text, token
from webui.ui import board as board_module

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY, locale: en_US}
objects:
  deal:
    title: "{name}"
    list: {columns: [name, stage, amount]}
    fields:
      name: {type: text, required: true}
      needs_analysis: {type: textarea}
      unit_price: {type: currency}
      quantity: {type: integer, default: 1}
      amount: {type: formula, expression: "unit_price * quantity", result: currency}
      region: {type: picklist, values: [east, west]}
      secret_note: {type: text}
      lost_reason: {type: picklist, values: [price, other]}
    pipeline:
      stages:
        - {key: initial_contact, probability: 10}
        - {key: needs_confirmed, probability: 30}
        - {key: solution_demo, probability: 50, requires: [needs_analysis]}
        - {key: won, outcome: won, probability: 100, color: "#2e7d32"}
        - {key: lost, outcome: lost, requires: [lost_reason]}
      skip: {approval: manager}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true}}
    hidden: [deal.secret_note]
  senior:
    objects: {deal: {read: own, edit: own, create: true}}
    permissions: [skip_stage]
  manager:
    objects: {deal: {read: all, edit: all, create: true}}
    permissions: [skip_stage, approve]
  auditor:
    objects: {deal: {read: all}}
    hidden: [deal.unit_price, deal.amount, deal.stage]
  finance:
    objects: {deal: {read: all}}
    hidden: [deal.unit_price, deal.amount]
"""

USERS = {
    "max": {"roles": ["manager"]},
    "rita": {"roles": ["rep"], "manager": "max"},
    "ron": {"roles": ["rep"], "manager": "max"},
    "sam": {"roles": ["senior"], "manager": "max"},
    "aud": {"roles": ["auditor"]},
    "fin": {"roles": ["finance"]},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def deals(crm):
    """Rita: Acme (2 × 1,000) and Beta (500) in Initial contact, Gamma (west, 250) in Needs
    confirmed; Ron: Rondo (9,999); Sam: Samba (10)."""
    made = {}
    for user, values in (
        ("rita", {"name": "Acme", "unit_price": "1000", "quantity": 2, "region": "east"}),
        ("rita", {"name": "Beta", "unit_price": "500", "region": "east"}),
        ("rita", {"name": "Gamma", "unit_price": "250", "region": "west"}),
        ("ron", {"name": "Rondo", "unit_price": "9999"}),
        ("sam", {"name": "Samba", "unit_price": "10", "needs_analysis": "Known"}),
    ):
        with crm.session(user=user) as session:
            made[values["name"]] = session.create("deal", values)
    with crm.session(user="rita") as session:
        made["Gamma"] = session.update("deal", made["Gamma"].id, {"stage": "needs_confirmed"})
    return made


def card_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card" id="card-(\d+)"', page)]


def column(page: str, stage: str) -> str:
    start = page.index(f'id="column-{stage}"')
    end = page.find('<section class="board-column', start + 1)
    return page[start : end if end != -1 else len(page)]


def csrf(client) -> str:
    return token(client.get("/o/deal/board"))


def move(client, record, stage, csrf_token, version=None, **values):
    body = {"stage": stage, "version": record.version if version is None else version}
    reason = values.pop("stage_reason", None)
    if reason is not None:
        body["stage_reason"] = reason
    if values:
        body["values"] = values
    return client.post(f"/o/deal/{record.id}/move", json=body, headers={"X-CSRFToken": csrf_token})


# --- the board --------------------------------------------------------------------------------


def test_the_board_shows_only_the_users_records_with_counts_and_sums(login, deals):
    client = login("rita")
    response = client.get("/o/deal/board")
    assert response.status_code == 200
    page = text(response)
    assert sorted(card_ids(page)) == sorted(deals[n].id for n in ("Acme", "Beta", "Gamma"))
    assert "Rondo" not in page and "Samba" not in page
    first = column(page, "initial_contact")
    assert "2 records" in first and "Total CN¥2,500.00" in first and "10%" in first
    assert "Acme" in first and "CN¥2,000.00" in first and "rita" in first
    second = column(page, "needs_confirmed")
    assert "1 record" in second and "Total CN¥250.00" in second and "Gamma" in second
    assert "No records" in column(page, "won") and "Total CN¥0.00" in column(page, "won")
    assert "Secret note" not in page


def test_the_manager_sees_every_card_and_the_totals_of_all(login, deals):
    page = text(login("max").get("/o/deal/board"))
    assert sorted(card_ids(page)) == sorted(r.id for r in deals.values())
    assert "Total CN¥12,509.00" in column(page, "initial_contact")


def test_the_board_follows_the_lists_search_and_filters(login, deals):
    client = login("rita")
    page = text(client.get("/o/deal/board?region=east"))
    assert sorted(card_ids(page)) == sorted([deals["Acme"].id, deals["Beta"].id])
    assert "Total CN¥0.00" in column(page, "needs_confirmed")
    assert "Showing: Region is East" in page
    page = text(client.get("/o/deal/board?q=bet"))
    assert card_ids(page) == [deals["Beta"].id]
    assert 'href="/o/deal?q=bet"' in page  # back to the list with the same filter
    refused = text(client.get("/o/deal/board?name__op=1"))
    assert "The filter was not applied" in refused and card_ids(refused) == []


def test_the_list_links_to_the_board_with_its_filters(login, deals):
    page = text(login("rita").get("/o/deal?region=east"))
    assert 'href="/o/deal/board?region=east"' in page


def test_columns_cap_their_cards_and_link_to_the_rest(login, deals, monkeypatch):
    monkeypatch.setattr(board_module, "CARDS_PER_COLUMN", 1)
    page = text(login("rita").get("/o/deal/board"))
    first = column(page, "initial_contact")
    assert len(card_ids(first)) == 1 and "2 records" in first
    assert "1 more in the list" in first
    assert html.escape("/o/deal?stage=initial_contact") in first


def test_without_the_amount_field_there_is_no_sum_and_a_hidden_stage_has_no_board(login, deals, app):
    from tests.webui.conftest import client_for

    page = text(client_for(app, "fin").get("/o/deal/board"))
    assert "Total" not in page and "CN¥" not in page and len(card_ids(page)) == 5
    assert "Move to…" not in page  # finance reads, never moves
    auditor = client_for(app, "aud")
    assert auditor.get("/o/deal/board").status_code == 404
    assert 'href="/o/deal/board' not in text(auditor.get("/o/deal"))
    assert auditor.get(f"/o/deal/{deals['Acme'].id}/move?stage=won").status_code == 404


def test_each_card_has_a_labelled_move_control_and_the_page_no_inline_script(login, deals):
    page = text(login("rita").get("/o/deal/board"))
    acme = deals["Acme"].id
    menu = page.split(f'<details class="card-menu" id="move-{acme}">', 1)[1].split("</details>", 1)[0]
    assert '<summary aria-label="Move Acme to…">Move to…</summary>' in menu
    stages = re.findall(r'<button type="submit" name="stage" value="([^"]+)">([^<]+)</button>', menu)
    assert stages == [
        ("needs_confirmed", "Needs confirmed"),
        ("solution_demo", "Solution demo"),
        ("won", "Won"),
        ("lost", "Lost"),
    ]  # every stage but the card's own
    assert f'id="card-{acme}" tabindex="0"' in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [] and " style=" not in page


# --- the move endpoint ----------------------------------------------------------------------------


def test_a_gated_move_answers_422_with_the_missing_field_and_its_widget(login, deals):
    client = login("rita")
    gamma = deals["Gamma"]
    response = move(client, gamma, "solution_demo", csrf(client))
    assert response.status_code == 422
    body = response.get_json()
    assert body["missing"] == ["needs_analysis"]
    assert body["fields"]["needs_analysis"][0]["code"] == "required_for_stage"
    assert body["widgets"] == [
        {"name": "needs_analysis", "label": "Needs analysis", "widget": "textarea", "required": True}
    ]
    assert '<textarea id="f-needs_analysis"' in body["form_html"]
    assert '<label for="f-needs_analysis">' in body["form_html"] and 'role="alert"' in body["form_html"]
    assert body["title"] == "Move to Solution demo"
    moved = move(client, gamma, "solution_demo", csrf(client), needs_analysis="SSO and audit logs")
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["record"]["stage"] == "solution_demo"
    assert moved.get_json()["message"] == "Moved to Solution demo."


def test_a_move_takes_only_the_fields_the_stage_needs(login, deals, crm):
    client = login("rita")
    gamma = deals["Gamma"]
    response = move(client, gamma, "solution_demo", csrf(client), needs_analysis="SSO", name="Renamed", region="east")
    assert response.status_code == 200
    with crm.session(user="rita") as session:
        stored = session.get("deal", gamma.id)
    assert (stored["name"], stored["region"], stored["needs_analysis"]) == ("Gamma", "west", "SSO")


def test_a_skip_without_the_permission_is_403(login, deals):
    client = login("rita")
    response = move(client, deals["Acme"], "solution_demo", csrf(client), needs_analysis="x", stage_reason="hurry")
    assert response.status_code == 403
    assert "skip_stage" in response.get_json()["error"]["message"]


def test_a_skip_asks_for_the_reason_then_waits_for_approval_with_202(login, deals, crm):
    client = login("sam")
    samba = deals["Samba"]
    asked = move(client, samba, "solution_demo", csrf(client))
    assert asked.status_code == 422
    body = asked.get_json()
    assert body["fields"]["stage_reason"][0]["code"] == "reason_required"
    assert 'name="stage_reason"' in body["form_html"] and "Reason for the stage change" in body["form_html"]
    response = move(client, samba, "solution_demo", csrf(client), stage_reason="Workshop done")
    assert response.status_code == 202
    body = response.get_json()
    assert body["approval"]["status"] == "pending" and body["record"]["stage"] == "initial_contact"
    assert body["message"] == "Sent for approval to max; nothing changed yet."
    with crm.session(user="sam") as session:
        assert session.get("deal", samba.id)["stage"] == "initial_contact"
    page = text(client.get(f"/o/deal/{samba.id}"))
    assert "The stage cannot change while a request waits for approval." in page
    assert "Waiting for approval" in page


def test_a_stale_version_is_409_and_an_unknown_stage_422(login, deals):
    client = login("rita")
    response = move(client, deals["Acme"], "needs_confirmed", csrf(client), version=99)
    assert response.status_code == 409
    assert "changed meanwhile" in response.get_json()["error"]["message"]
    response = move(client, deals["Acme"], "nowhere", csrf(client))
    assert response.status_code == 422 and "There is no stage" in response.get_json()["error"]["message"]


def test_a_move_without_a_version_is_409_on_the_board_and_without_javascript(login, deals, crm):
    client = login("rita")
    acme = deals["Acme"]
    response = client.post(
        f"/o/deal/{acme.id}/move", json={"stage": "needs_confirmed"}, headers={"X-CSRFToken": csrf(client)}
    )
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"
    assert "did not say which version" in response.get_json()["error"]["message"]
    url = f"/o/deal/{acme.id}"
    response = post(client, f"{url}/move", {"stage": "needs_confirmed", "version": ""}, form_url=url)
    assert response.status_code == 302
    assert "did not say which version" in text(client.get(url))
    with crm.session(user="rita") as session:
        assert session.get("deal", acme.id)["stage"] == "initial_contact"


def test_out_of_scope_records_are_404_for_the_move(login, deals):
    client = login("rita")
    response = move(client, deals["Rondo"], "needs_confirmed", csrf(client))
    assert response.status_code == 404
    assert client.get(f"/o/deal/{deals['Rondo'].id}/move?stage=needs_confirmed").status_code == 404


def test_a_move_without_the_csrf_token_is_refused(login, deals, app, crm):
    app.config["WTF_CSRF_ENABLED"] = True
    client = login("rita")
    acme = deals["Acme"]
    response = client.post(f"/o/deal/{acme.id}/move", json={"stage": "needs_confirmed", "version": acme.version})
    assert response.status_code == 400
    response = client.post(f"/o/deal/{acme.id}/move", data={"stage": "needs_confirmed", "version": acme.version})
    assert response.status_code == 400
    with crm.session(user="rita") as session:
        assert session.get("deal", acme.id)["stage"] == "initial_contact"


def test_reopening_asks_for_a_reason_first(login, deals, crm):
    client = login("rita")
    with crm.session(user="rita") as session:
        session.update("deal", deals["Gamma"].id, {"stage": "lost", "lost_reason": "price"})
        gamma = session.get("deal", deals["Gamma"].id)
    asked = move(client, gamma, "needs_confirmed", csrf(client))
    assert asked.status_code == 422 and asked.get_json()["error"]["code"] == "reason_wanted"
    assert 'name="stage_reason"' in asked.get_json()["form_html"]
    moved = move(client, gamma, "needs_confirmed", csrf(client), stage_reason="They came back")
    assert moved.status_code == 200
    page = text(client.get(f"/o/deal/{gamma.id}"))
    assert "They came back" in page


# --- without JavaScript ------------------------------------------------------------------------------


def test_the_stage_forms_work_without_javascript(login, deals, crm):
    client = login("rita")
    gamma = deals["Gamma"]
    url = f"/o/deal/{gamma.id}"
    page = text(client.get(url))
    assert 'aria-current="step"' in page and "Current stage: Needs confirmed" in page
    assert "To move to Solution demo, fill in: Needs analysis." in page
    refused = post(client, f"{url}/move", {"stage": "solution_demo", "version": gamma.version}, form_url=url)
    assert refused.status_code == 422
    form = text(refused)
    assert "Move “Gamma” to Solution demo" in form and '<label for="f-needs_analysis">' in form
    assert 'role="alert"' in form and "Not moved; see the fields marked below." in form
    done = post(
        client,
        f"{url}/move",
        {"stage": "solution_demo", "version": gamma.version, "needs_analysis": "SSO"},
        form_url=url,
    )
    assert done.status_code == 302 and done.headers["Location"].endswith(url)
    page = text(client.get(url))
    assert "Moved to Solution demo." in page and "Current stage: Solution demo" in page


def test_the_boards_move_form_returns_to_the_board(login, deals):
    client = login("rita")
    acme = deals["Acme"]
    response = post(
        client,
        f"/o/deal/{acme.id}/move",
        {"stage": "needs_confirmed", "version": acme.version, "next": "/o/deal/board?region=east"},
        form_url="/o/deal/board",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/o/deal/board?region=east")
    evil = post(
        client,
        f"/o/deal/{acme.id}/move",
        {"stage": "initial_contact", "version": acme.version + 1, "next": "//evil.example/"},
        form_url="/o/deal/board",
    )
    assert evil.status_code == 302 and "evil" not in evil.headers["Location"]
    page = text(client.get("/o/deal/board"))
    assert deals["Acme"].id in card_ids(column(page, "initial_contact"))


def test_a_refused_move_without_javascript_says_why(login, deals):
    client = login("rita")
    acme = deals["Acme"]
    url = f"/o/deal/{acme.id}"
    response = post(client, f"{url}/move", {"stage": "won", "version": acme.version}, form_url=url)
    assert response.status_code == 302
    assert "you may not make this move" in text(client.get(url))


# --- the record page ---------------------------------------------------------------------------------


def test_the_stage_path_days_in_stage_and_history(login, deals, clock):
    gamma = deals["Gamma"]
    clock.now += dt.timedelta(days=3, hours=2)
    client = login("rita")  # after the clock moved: an idle session would have ended
    page = text(client.get(f"/o/deal/{gamma.id}"))
    assert "In this stage for 3 days" in page and "30% probability" in page
    assert re.search(r'class="stage outcome-won stage-colored stage-deal-won state-todo kind-skip"', page)
    assert "Stage history" in page and "created in Initial contact" in page
    assert "Initial contact → Needs confirmed" in page
    response = move(client, gamma, "solution_demo", csrf(client), needs_analysis="SSO")
    assert response.status_code == 200
    page = text(client.get(f"/o/deal/{gamma.id}"))
    assert "Needs confirmed → Solution demo" in page and "3 days" in page
    assert "Entered this stage today" in page
    css = client.get("/stages.css")
    assert css.mimetype == "text/css" and ".stage-deal-won { --stage-color: #2e7d32; }" in text(css)


def test_a_reader_sees_the_path_without_move_buttons(app, deals):
    from tests.webui.conftest import client_for

    page = text(client_for(app, "fin").get(f"/o/deal/{deals['Acme'].id}"))
    assert 'class="stage-path"' in page and "data-move" not in page


# --- the edit form's stage reason ------------------------------------------------------------------


def test_the_edit_form_has_a_stage_reason_and_a_skip_with_it_waits_for_approval(login, deals, crm):
    client = login("sam")
    samba = deals["Samba"]
    url = f"/o/deal/{samba.id}/edit"
    form = text(client.get(url))
    assert '<label for="f-stage_reason">Reason for the stage change</label>' in form
    missing = post(
        client,
        url,
        {
            "name": "Samba",
            "stage": "solution_demo",
            "needs_analysis": "Known",
            "unit_price": "10",
            "quantity": "1",
            "version": samba.version,
        },
    )
    assert missing.status_code == 422
    assert re.search(r'id="err-stage_reason">[^<]*reason', text(missing))
    response = post(
        client,
        url,
        {
            "name": "Samba",
            "stage": "solution_demo",
            "needs_analysis": "Known",
            "unit_price": "10",
            "quantity": "1",
            "version": samba.version,
            "stage_reason": "Demo given at the fair",
        },
    )
    assert response.status_code == 302
    page = text(client.get(f"/o/deal/{samba.id}"))
    assert "Sent for approval to max; nothing changed yet." in page and "Saved." not in page
    with crm.session(user="sam") as session:
        assert session.get("deal", samba.id)["stage"] == "initial_contact"


def test_the_board_and_the_stage_path_speak_chinese(login, deals):
    client = login("rita")
    post(client, "/lang", {"lang": "zh"}, form_url="/o/deal/board")
    page = text(client.get("/o/deal/board"))
    assert "看板" in page and "移至…" in page and re.search(r"合计 [^<]*2,500.00", page) and "2 条" in page
    page = text(client.get(f"/o/deal/{deals['Gamma'].id}"))
    assert "当前阶段" in page and "阶段历史" in page and "今天进入此阶段" in page
