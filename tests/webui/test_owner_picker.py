"""The Owner control of record forms and the user picker (``webui.ui.userpicker``),
through Flask's test client, on SQLite and PostgreSQL (``TRELLIS_TEST_DATABASE_URL``).

Who sees the control follows the write path's rule (reassign, or an edit scope
wider than oneself); the engine refuses a forged owner and the form shows why. With
few users the pickers are selects; with more (``TRELLIS_USER_SELECT_MAX``) a
type-ahead on ``/users/lookup`` that also works without JavaScript.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.webui.conftest import client_for, make_app, post, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh]}
objects:
  deal:
    label: {en: Deal, zh: 交易}
    plural_label: {en: Deals, zh: 交易}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      csm: {type: user, label: {en: Success manager, zh: 客户成功经理}}
roles:
  rep:
    objects:
      deal: {read: own, edit: own, create: true}
  team_rep:
    objects:
      deal: {read: team, edit: team, create: true}
  manager:
    objects:
      deal: {read: team, edit: team, create: true, reassign: true}
"""

USERS = {
    "alice": {"roles": ["rep"], "team": "east"},
    "bob": {"roles": ["rep"], "team": "east", "display_name": "Bob Li"},
    "tina": {"roles": ["team_rep"], "team": "east"},
    "mia": {"roles": ["manager"], "team": "east", "display_name": "Mia Manager"},
    "walt": {"roles": ["rep"], "team": "west"},
}


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, USERS, teams=["east", "west"])
    with crm.directory() as d:
        d.add("gone", roles=["rep"], team="east")
        d.disable("gone")
    return crm


@pytest.fixture
def ids(crm) -> dict[str, int]:
    with crm.directory() as d:
        return {u.username: u.id for u in d.list()}


@pytest.fixture
def deal(crm):
    """A deal of Alice's."""
    with crm.session(user="alice") as s:
        return s.create("deal", {"name": "Acme deal"})


@pytest.fixture
def typeahead_app(crm):
    """The app with so low a select limit that every user picker is the type-ahead."""
    return make_app(crm, TRELLIS_USER_SELECT_MAX=1)


def owner_of(crm, record_id: int) -> int | None:
    with crm.session() as s:
        return s.get("deal", record_id)["owner_id"]


def select_options(page: str, name: str) -> dict[str, str]:
    """value → label of the options of the select named ``name``."""
    body = page.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]
    return {value: html.unescape(label) for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', body)}


def edit(client, record_id: int, data: dict):
    url = f"/o/deal/{record_id}/edit"
    return post(client, url, {"name": "Acme deal", **data}, form_url=url)


# --- who sees the control -----------------------------------------------------------------------
def test_only_users_who_may_give_records_away_see_the_owner_control(app, deal):
    alice = client_for(app, "alice")
    for url in ("/o/deal/new", f"/o/deal/{deal.id}/edit"):
        page = text(alice.get(url))
        assert 'id="f-owner_id"' not in page and 'name="owner_id' not in page, url
    for username in ("tina", "mia"):  # an edit scope of the team; reassign
        client = client_for(app, username)
        for url in ("/o/deal/new", f"/o/deal/{deal.id}/edit"):
            page = text(client.get(url))
            assert '<label for="f-owner_id">Owner</label>' in page, (username, url)


def test_the_owner_select_offers_whom_the_write_path_allows(app, deal, ids):
    tina = text(client_for(app, "tina").get(f"/o/deal/{deal.id}/edit"))
    assert set(select_options(tina, "owner_id")) == {str(ids[u]) for u in ("alice", "bob", "tina", "mia")}
    mia = text(client_for(app, "mia").get(f"/o/deal/{deal.id}/edit"))
    options = select_options(mia, "owner_id")
    assert set(options) == {str(ids[u]) for u in ("alice", "bob", "tina", "mia", "walt")}  # not the disabled one
    assert options[str(ids["mia"])] == "Mia Manager" and "" not in options  # no "(none)": a record keeps an owner
    assert f'<option value="{ids["alice"]}" selected>' in mia


def test_a_new_record_s_owner_defaults_to_its_creator_and_can_be_another(app, crm, ids):
    mia = client_for(app, "mia")
    assert f'<option value="{ids["mia"]}" selected>' in text(mia.get("/o/deal/new"))
    response = post(mia, "/o/deal/new", {"name": "For Bob", "owner_id": str(ids["bob"])})
    assert response.status_code == 302
    assert owner_of(crm, int(response.headers["Location"].rsplit("/", 1)[1])) == ids["bob"]


def test_a_manager_reassigns_and_the_record_page_shows_the_new_owner(app, crm, deal, ids):
    mia = client_for(app, "mia")
    response = edit(mia, deal.id, {"owner_id": str(ids["bob"]), "version": "1"})
    assert response.status_code == 302
    assert owner_of(crm, deal.id) == ids["bob"]
    page = text(mia.get(f"/o/deal/{deal.id}"))
    assert re.search(r"<dt>Owner</dt><dd>Bob Li</dd>", page)
    # Outside the team too: reassign allows it (and the record leaves Mia's scope).
    assert edit(mia, deal.id, {"owner_id": str(ids["walt"]), "version": "2"}).status_code == 302
    assert owner_of(crm, deal.id) == ids["walt"]


# --- what the write path refuses ------------------------------------------------------------------
def test_a_forged_owner_is_refused_by_the_engine_and_shown_beside_the_control(app, crm, deal, ids):
    tina = client_for(app, "tina")  # team edit scope, no reassign: not to another team
    response = edit(tina, deal.id, {"owner_id": str(ids["walt"]), "version": "1"})
    assert response.status_code == 422
    page = text(response)
    assert re.search(r'<div class="field-error" role="alert" id="err-owner_id">You may not give this record', page)
    assert 'id="f-owner_id"' in page and 'aria-describedby="err-owner_id"' in page
    assert owner_of(crm, deal.id) == ids["alice"]


def test_a_forged_owner_from_a_user_without_the_control_is_refused_too(app, crm, deal, ids):
    alice = client_for(app, "alice")
    response = edit(alice, deal.id, {"owner_id": str(ids["bob"]), "version": "1"})
    assert response.status_code == 422
    page = text(response)
    assert '<output id="f-owner_id" class="readonly">alice</output>' in page  # her name, not a control
    assert re.search(r'role="alert" id="err-owner_id">You may not give this record', page)
    assert owner_of(crm, deal.id) == ids["alice"]
    response = post(alice, "/o/deal/new", {"name": "Gift", "owner_id": "not-a-number"})
    assert response.status_code == 422 and 'id="err-owner_id">The owner is a user id' in text(response)


# --- the type-ahead ----------------------------------------------------------------------------------------------
def test_with_many_users_the_owner_control_is_a_type_ahead(typeahead_app, crm, deal, ids):
    mia = client_for(typeahead_app, "mia")
    page = text(mia.get(f"/o/deal/{deal.id}/edit"))
    assert 'data-lookup-url="/users/lookup?owner_of=deal"' in page
    assert f'<input type="hidden" id="h-owner_id" name="owner_id" value="{ids["alice"]}">' in page
    assert re.search(r'<input type="text" id="f-owner_id"[^>]* name="owner_id__name" value="alice"', page)
    assert '<label for="f-owner_id">Owner</label>' in page
    # As the script sends it: the picked id with its name.
    response = edit(mia, deal.id, {"owner_id": str(ids["bob"]), "owner_id__name": "Bob Li", "version": "1"})
    assert response.status_code == 302 and owner_of(crm, deal.id) == ids["bob"]
    # Without JavaScript: the old id stays in the hidden input, the typed user name wins.
    response = edit(mia, deal.id, {"owner_id": str(ids["bob"]), "owner_id__name": "TINA", "version": "2"})
    assert response.status_code == 302 and owner_of(crm, deal.id) == ids["tina"]
    # A display name only one user has works as well; an empty one keeps the owner.
    assert edit(mia, deal.id, {"owner_id": "", "owner_id__name": "mia manager", "version": "3"}).status_code == 302
    assert owner_of(crm, deal.id) == ids["mia"]
    assert edit(mia, deal.id, {"owner_id": "", "owner_id__name": " ", "version": "4"}).status_code == 302
    assert owner_of(crm, deal.id) == ids["mia"]


def test_an_unknown_typed_user_is_a_field_error_keeping_the_text(typeahead_app, crm, deal, ids):
    mia = client_for(typeahead_app, "mia")
    for name in ("nobody", "gone"):  # no such user; a disabled one
        response = edit(mia, deal.id, {"owner_id": "", "owner_id__name": name, "version": "1"})
        assert response.status_code == 422
        page = text(response)
        assert f'role="alert" id="err-owner_id">There is no active user called “{name}”' in page
        assert f'name="owner_id__name" value="{name}"' in page
    assert owner_of(crm, deal.id) == ids["alice"]


def test_user_fields_use_the_same_picker(app, typeahead_app, crm, deal, ids):
    alice = client_for(app, "alice")
    options = select_options(text(alice.get(f"/o/deal/{deal.id}/edit")), "csm")
    assert options[""] == "(none)" and str(ids["walt"]) in options and str(ids["gone"]) not in options
    assert edit(alice, deal.id, {"csm": str(ids["gone"]), "version": "1"}).status_code == 302
    page = text(alice.get(f"/o/deal/{deal.id}/edit"))  # a disabled user stays chosen, not silently cleared
    assert f'<option value="{ids["gone"]}" selected>gone</option>' in page
    alice = client_for(typeahead_app, "alice")
    page = text(alice.get(f"/o/deal/{deal.id}/edit"))
    assert 'data-lookup-url="/users/lookup"' in page and 'name="csm__name" value="gone"' in page
    assert edit(alice, deal.id, {"csm": "", "csm__name": "bob li", "version": "2"}).status_code == 302
    with crm.session() as s:
        assert s.get("deal", deal.id)["csm"] == ids["bob"]
    assert edit(alice, deal.id, {"csm": "", "csm__name": "", "version": "3"}).status_code == 302
    with crm.session() as s:
        assert s.get("deal", deal.id)["csm"] is None


# --- the JSON endpoint -----------------------------------------------------------------------------------------
def test_the_lookup_needs_a_login(app):
    response = app.test_client().get("/users/lookup?q=a")
    assert response.status_code == 401 and response.is_json


def test_the_lookup_finds_active_users_by_name_and_user_name_only_id_and_name(app, ids):
    alice = client_for(app, "alice")
    assert alice.get("/users/lookup?q=LI").get_json() == [
        {"id": ids["alice"], "name": "alice"},
        {"id": ids["bob"], "name": "Bob Li"},
    ]
    assert alice.get("/users/lookup?q=gone").get_json() == []  # disabled
    assert alice.get("/users/lookup?q=%25").get_json() == []  # a LIKE wildcard is a plain character
    assert alice.get("/users/lookup?q=_").get_json() == []
    everyone = alice.get("/users/lookup").get_json()
    assert [u["name"] for u in everyone] == ["alice", "Bob Li", "Mia Manager", "tina", "walt"]
    assert alice.get("/users/lookup?q=a").headers["Cache-Control"] == "no-store"


def test_the_lookup_is_bounded(app, crm):
    with crm.directory() as d:
        for number in range(25):
            d.add(f"temp{number:02}", roles=["rep"])
    found = client_for(app, "alice").get("/users/lookup?q=temp").get_json()
    assert len(found) == 20 and found[0]["name"] == "temp00"


def test_the_owner_lookup_offers_whom_the_user_may_give_records_to(app, ids):
    tina = client_for(app, "tina")
    names = {u["name"] for u in tina.get("/users/lookup?owner_of=deal").get_json()}
    assert names == {"alice", "Bob Li", "Mia Manager", "tina"}
    assert tina.get("/users/lookup?owner_of=nothing").status_code == 404
    mia = client_for(app, "mia")
    assert "walt" in {u["name"] for u in mia.get("/users/lookup?owner_of=deal&q=w").get_json()}
    alice = client_for(app, "alice")  # own scope: only herself
    assert alice.get("/users/lookup?owner_of=deal").get_json() == [{"id": ids["alice"], "name": "alice"}]


def test_the_owner_control_speaks_chinese(app, deal):
    mia = client_for(app, "mia")
    post(mia, "/lang", {"lang": "zh", "next": "/o/deal"}, form_url="/o/deal")
    page = text(mia.get(f"/o/deal/{deal.id}/edit"))
    assert '<label for="f-owner_id">负责人</label>' in page and "负责此记录的用户。" in page
