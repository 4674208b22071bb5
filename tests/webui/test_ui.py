"""The web UI through Flask's test client, on SQLite and PostgreSQL.

Logging in and out (with lockout, disabled accounts and the two-factor step),
navigation and lists scoped to the user's role, hidden fields absent from
every page, forms with field errors and version conflicts, CSV export, the
type-ahead, files, the language switch, CSRF and the security headers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pyotp
import pytest
import sqlalchemy as sa

from engine.runtime.security import audit, auth
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import PASSWORD, client_for, log_in, make_app, post, text, token
from webui import create_app
from webui.i18n import LANGUAGES, TEXTS

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
  timezone: Asia/Shanghai
  currency: CNY
  security: {lockout_attempts: 3, lockout_minutes: 15}
picklists:
  industry:
    values:
      - {key: finance, children: [{key: banking}, {key: insurance}]}
      - {key: retail, children: [{key: grocery}]}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      industry: {type: picklist, picklist: industry, default: finance}
      sub_industry: {type: picklist, picklist: industry, depends_on: industry}
      since: {type: date, default: "=today()"}
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      amount: {type: currency, min: 0, label: {en: Amount, zh: 金额}}
      stage:
        type: picklist
        label: {en: Stage, zh: 阶段}
        values:
          - {key: new, label: {en: New, zh: 新}}
          - {key: quote, label: {en: Quote, zh: 报价}}
      region:
        type: picklist
        values: [{key: east, label: East}, {key: west, label: West}]
      city:
        type: picklist
        depends_on: region
        values:
          - {key: shanghai, label: Shanghai, parents: [east]}
          - {key: chengdu, label: Chengdu, parents: [west]}
      close_date: {type: date}
      hot: {type: boolean}
      tags: {type: tags}
      score: {type: integer}
      account: {type: lookup, object: account}
      secret_note: {type: textarea, label: {en: Secret note, zh: 机密备注}}
      attachment: {type: file}
      contract: {type: file}
roles:
  rep:
    objects:
      lead: {read: own, edit: own, delete: own, create: true}
      account: {read: all}
    hidden: [lead.secret_note]
    read_only: [lead.score]
  manager:
    objects:
      "*": {read: all, edit: all, delete: all, create: true, export: true}
    permissions: [view_audit]
  viewer:
    objects:
      account: {read: all}
"""

USERS = {
    "alice": {"roles": ["rep"], "team": "east"},
    "bob": {"roles": ["rep"], "team": "east"},
    "mia": {"roles": ["manager"]},
    "carol": {"roles": ["viewer"]},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, teams=["east"])


@pytest.fixture
def app(crm, tmp_path):
    return make_app(crm, TRELLIS_UPLOAD_DIR=str(tmp_path / "uploads"))


@pytest.fixture
def leads(crm):
    """Alice has two leads, Bob one."""
    made = {}
    for user, name, stage, amount in (
        ("alice", "Acme deal", "quote", "1200.50"),
        ("alice", "Beta deal", "new", "80"),
        ("bob", "Bobs deal", "quote", "500"),
    ):
        with crm.session(user=user) as s:
            made[name] = s.create("lead", {"name": name, "stage": stage, "amount": amount})
    with crm.session() as s:
        made["acct"] = s.create("account", {"name": "Acme Corp"})
    return made


# --- logging in and out ----------------------------------------------------------------------
def test_login_page_has_the_form_the_browser_tests_use(client):
    page = text(client.get("/login"))
    assert 'name="username"' in page and 'name="password"' in page and ">Log in</button>" in page
    assert '<label for="f-username">' in page and 'name="csrf_token"' in page


def test_wrong_password_shows_the_engines_message_and_the_right_one_logs_in(client):
    response = log_in(client, "alice", "wrong password!")
    assert response.status_code == 401
    assert "Wrong user name or password." in text(response)
    response = log_in(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/o/account"  # the first object in the config


def test_pages_need_a_login_and_come_back_after_it(client):
    response = client.get("/o/lead?stage=quote")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]
    login_page = client.get(response.headers["Location"])
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": token(login_page),
            "next": "/o/lead?stage=quote",
        },
    )
    assert response.headers["Location"] == "/o/lead?stage=quote"


def test_login_never_redirects_to_another_site(client):
    response = post(client, "/login", {"username": "alice", "password": PASSWORD, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_a_locked_account_is_answered_like_an_unknown_name(client, crm):
    for _ in range(3):
        assert "Wrong user name or password." in text(log_in(client, "alice", "nope-nope-nope"))
    locked = log_in(client, "alice")  # even the right password is refused now
    unknown = log_in(client, "nobody-at-all")
    assert locked.status_code == unknown.status_code == 401

    def page(response, name):
        return re.sub(r'name="csrf_token" value="[^"]+"', "", text(response).replace(name, "NAME"))

    assert page(locked, "alice") == page(unknown, "nobody-at-all")
    assert auth.authenticate(crm, "alice", PASSWORD).outcome == "locked"  # the login log still tells admins


def test_logout_ends_the_session(login, client):
    login("alice")
    assert client.get("/o/lead").status_code == 200
    response = post(client, "/logout", form_url="/o/lead")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/o/lead").status_code == 302


def test_a_disabled_user_is_logged_out_on_the_next_request(login, client, crm):
    login("alice")
    with crm.directory() as d:
        d.disable("alice")
    assert client.get("/o/lead").status_code == 302


def test_two_factor_step(client, crm, clock):
    enrollment = auth.enroll_totp(crm, "alice")
    assert auth.confirm_totp(crm, "alice", pyotp.TOTP(enrollment.secret).at(clock.now))
    clock.now += dt.timedelta(minutes=1)
    response = log_in(client, "alice")
    assert response.headers["Location"] == "/login/totp"
    page = client.get("/login/totp")
    assert 'name="code"' in text(page) and 'name="recovery_code"' in text(page)
    wrong = client.post(
        "/login/totp",
        data={
            "code": "000000" if pyotp.TOTP(enrollment.secret).at(clock.now) != "000000" else "111111",
            "csrf_token": token(page),
        },
    )
    assert "Wrong two-factor code." in text(wrong)
    response = client.post(
        "/login/totp", data={"recovery_code": enrollment.recovery_codes[0], "csrf_token": token(wrong)}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/o/lead").status_code == 200


# --- navigation, lists and scopes ----------------------------------------------------------------
def test_navigation_lists_only_readable_objects(login, client):
    login("carol")
    page = text(client.get("/o/account"))
    assert 'href="/o/account"' in page and 'href="/o/lead"' not in page
    assert client.get("/o/lead").status_code == 404
    assert client.get("/o/nothing").status_code == 404


def test_a_rep_sees_only_their_own_records(login, client, leads):
    login("alice")
    page = text(client.get("/o/lead"))
    assert "Acme deal" in page and "Beta deal" in page and "Bobs deal" not in page
    assert client.get(f"/o/lead/{leads['Bobs deal'].id}").status_code == 404
    assert client.get(f"/o/lead/{leads['Bobs deal'].id}/edit").status_code == 404
    assert post(client, f"/o/lead/{leads['Bobs deal'].id}/delete", form_url="/o/lead").status_code == 404
    assert client.get(f"/o/lead/{leads['Acme deal'].id}").status_code == 200


def test_list_filters_search_sort_and_the_sentence(login, client, leads):
    login("alice")
    page = text(client.get("/o/lead?stage=quote&owner=me"))
    assert "Acme deal" in page and "Beta deal" not in page
    assert "Stage is Quote and owner is me" in page
    page = text(client.get("/o/lead?amount__gte=100"))
    assert "Acme deal" in page and "Beta deal" not in page
    page = text(client.get("/o/lead?q=beta"))
    assert "Beta deal" in page and "Acme deal" not in page
    page = text(client.get("/o/lead?sort=name"))
    assert page.index("Acme deal") < page.index("Beta deal") and 'aria-sort="ascending"' in page
    page = text(client.get("/o/lead?sort=-name"))
    assert page.index("Beta deal") < page.index("Acme deal")
    page = text(client.get("/o/lead?nosuchfield=1"))
    assert "The filter was not applied" in page


def test_money_and_dates_are_formatted_for_the_locale(login, client, leads):
    login("alice")
    page = text(client.get(f"/o/lead/{leads['Acme deal'].id}"))
    assert "1,200.50" in page and "CN¥" in page
    assert "2026-03-02 17:00" in page  # created_at, in the company time zone and settings.date_format


def test_settings_date_format_decides_how_dates_and_moments_are_shown(open_crm):
    crm = open_crm(
        CONFIG.replace("  currency: CNY\n", "  currency: CNY\n  date_format: DD/MM/YYYY\n"),
        {"alice": {"roles": ["rep"], "team": "east"}},
        teams=["east"],
    )
    with crm.session("alice") as s:
        lead = s.create("lead", {"name": "Acme deal", "close_date": "2026-04-01"})
    page = text(client_for(make_app(crm), "alice").get(f"/o/lead/{lead.id}"))
    assert "01/04/2026" in page and "2026-04-01" not in page.split("<main", 1)[-1].replace('value="2026-04-01"', "")
    assert "02/03/2026 17:00" in page  # created_at: the date format, Shanghai time


def test_hidden_fields_are_absent_from_list_record_and_form(login, client, crm, leads):
    with crm.session() as s:
        s.update("lead", leads["Acme deal"].id, {"secret_note": "TOPSECRET"})
    login("alice")
    record_id = leads["Acme deal"].id
    for url in ("/o/lead", f"/o/lead/{record_id}", f"/o/lead/{record_id}/edit", "/o/lead/new"):
        page = text(client.get(url))
        assert "secret_note" not in page and "Secret note" not in page and "TOPSECRET" not in page, url


def test_read_only_fields_are_shown_but_not_submitted(login, client, crm, leads):
    with crm.session() as s:
        s.update("lead", leads["Acme deal"].id, {"score": 42})
    login("alice")
    record_id = leads["Acme deal"].id
    page = text(client.get(f"/o/lead/{record_id}/edit"))
    assert '<output id="f-score"' in page and 'name="score"' not in page
    response = post(
        client,
        f"/o/lead/{record_id}/edit",
        {"name": "Acme deal", "score": "99", "version": "2"},
        form_url=f"/o/lead/{record_id}/edit",
    )
    assert response.status_code == 302
    with crm.session() as s:
        assert s.get("lead", record_id)["score"] == 42


# --- forms ----------------------------------------------------------------------------------------------
def test_create_shows_field_errors_keeps_input_then_succeeds(login, client, crm, leads):
    login("alice")
    page = text(client.get("/o/lead/new"))
    assert '<label for="f-name">' in page and 'aria-required="true"' in page
    assert 'data-parent="f-region"' in page and 'data-parents="east"' in page
    response = post(
        client,
        "/o/lead/new",
        {"name": "", "amount": "-5", "stage": "quote", "tags": "a, b", "hot": "1", "close_date": "2026-04-01"},
    )
    assert response.status_code == 422
    page = text(response)
    assert re.search(r'<div class="field-error" role="alert" id="err-name">[^<]*required', page)
    assert re.search(r'id="err-amount">[^<]*at least 0', page)
    assert 'value="-5"' in page and 'value="a, b"' in page and 'value="2026-04-01"' in page
    assert '<option value="quote" selected>' in page
    response = post(
        client,
        "/o/lead/new",
        {
            "name": "New deal",
            "amount": "10",
            "stage": "quote",
            "tags": "a, b",
            "hot": "1",
            "account": str(leads["acct"].id),
            "region": "east",
            "city": "shanghai",
        },
    )
    assert response.status_code == 302
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with crm.session() as s:
        record = s.get("lead", record_id)
    assert record["tags"] == ["a", "b"] and record["hot"] is True and record["account"] == leads["acct"].id
    assert record["close_date"] is None and record["region"] == "east"
    page = text(client.get(response.headers["Location"]))
    assert "Acme Corp" in page and "Quote" in page


def test_dependent_picklists_are_checked_by_the_server(login, client):
    login("alice")
    response = post(client, "/o/lead/new", {"name": "X", "region": "east", "city": "chengdu"})
    assert response.status_code == 422 and 'id="err-city"' in text(response)


def test_new_forms_show_fixed_defaults_and_the_engine_applies_the_others(login, client, crm):
    login("mia")
    page = text(client.get("/o/account/new"))
    industry = page[page.index('id="f-industry"') : page.index('id="f-sub_industry"')]
    assert '<option value="finance" selected>' in industry and "banking" not in industry  # top level only
    assert '<option value="banking" data-parents="finance">' in page  # children, tagged with their parent
    response = post(client, "/o/account/new", {"name": "Defaults Co"})
    assert response.status_code == 302
    with crm.session() as s:
        record = s.get("account", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert record["industry"] == "finance" and record["since"] == dt.date(2026, 3, 2)


def test_a_dependent_picklist_on_the_same_tree_accepts_children_of_the_parent(login, client):
    login("mia")
    assert (
        post(
            client,
            "/o/account/new",
            {"name": "A", "industry": "finance", "sub_industry": "banking"},
        ).status_code
        == 302
    )
    response = post(client, "/o/account/new", {"name": "B", "industry": "retail", "sub_industry": "banking"})
    assert response.status_code == 422 and 'id="err-sub_industry"' in text(response)


def test_a_config_can_override_the_template_of_one_object(login, client, crm, leads, tmp_path):
    folder = tmp_path / "templates" / "account"
    folder.mkdir(parents=True)
    (folder / "record.html").write_text(
        '{% extends "record.html" %}{% block record_fields %}<p>Custom page of {{ view.title }}</p>{% endblock %}',
        encoding="utf-8",
    )
    login("alice")
    assert "<p>Custom page of Acme Corp</p>" in text(client.get(f"/o/account/{leads['acct'].id}"))
    assert "Custom page" not in text(client.get(f"/o/lead/{leads['Acme deal'].id}"))
    # the apps of a process share their compiled templates (webui.COMPILED_TEMPLATES): the next
    # app serves the file as it is now, not the code compiled from it before
    (folder / "record.html").write_text(
        '{% extends "record.html" %}{% block record_fields %}<p>New page of {{ view.title }}</p>{% endblock %}',
        encoding="utf-8",
    )
    again = client_for(make_app(crm), "alice")
    assert "<p>New page of Acme Corp</p>" in text(again.get(f"/o/account/{leads['acct'].id}"))


def test_a_reps_create_button_shows_and_a_viewers_does_not(login, client):
    login("carol")
    assert "/o/account/new" not in text(client.get("/o/account"))
    assert client.get("/o/account/new").status_code == 403


def test_edit_with_a_stale_version_shows_who_changed_it(login, client, crm, leads):
    login("alice")
    record_id = leads["Acme deal"].id
    form = client.get(f"/o/lead/{record_id}/edit")
    assert 'name="version" value="1"' in text(form)
    with crm.session(user="mia") as s:
        s.update("lead", record_id, {"amount": "999"})
    response = client.post(
        f"/o/lead/{record_id}/edit",
        data={"csrf_token": token(form), "version": "1", "name": "My new name", "stage": "new"},
    )
    assert response.status_code == 409
    page = text(response)
    assert "This record was changed by mia meanwhile (version 2). Reload to see their change." in page
    assert 'value="My new name"' in page
    with crm.session() as s:
        assert s.get("lead", record_id)["name"] == "Acme deal"


def test_an_edit_or_delete_without_a_version_is_a_conflict_never_an_overwrite(login, client, crm, leads):
    login("alice")
    record_id = leads["Acme deal"].id
    form = client.get(f"/o/lead/{record_id}/edit")
    with crm.session(user="mia") as s:
        s.update("lead", record_id, {"amount": "999"})
    for version in (None, "", "abc", "0"):
        data = {"csrf_token": token(form), "name": "Overwritten", "stage": "new"}
        if version is not None:
            data["version"] = version
        response = client.post(f"/o/lead/{record_id}/edit", data=data)
        assert response.status_code == 409, version
        assert "did not say which version of the record it started from" in text(response)
    response = client.post(f"/o/lead/{record_id}/delete", data={"csrf_token": token(form)})
    assert response.status_code == 302 and response.headers["Location"] == f"/o/lead/{record_id}"
    assert "Reload and apply your change again." in text(client.get(f"/o/lead/{record_id}"))
    with crm.session() as s:
        stored = s.get("lead", record_id)
    assert (stored["name"], stored.version) == ("Acme deal", 2)
    # outside the user's scope it stays 404, version or not
    assert client.post(f"/o/lead/{leads['Bobs deal'].id}/edit", data={"csrf_token": token(form)}).status_code == 404


def test_edit_and_delete(login, client, crm, leads):
    login("alice")
    record_id = leads["Beta deal"].id
    response = post(
        client,
        f"/o/lead/{record_id}/edit",
        {"name": "Beta renamed", "version": "1", "stage": "new"},
        form_url=f"/o/lead/{record_id}/edit",
    )
    assert response.status_code == 302
    assert "Beta renamed" in text(client.get(f"/o/lead/{record_id}"))
    response = post(client, f"/o/lead/{record_id}/delete", {"version": "2"}, form_url=f"/o/lead/{record_id}")
    assert response.status_code == 302 and response.headers["Location"] == "/o/lead"
    assert client.get(f"/o/lead/{record_id}").status_code == 404


def test_values_are_escaped(login, client):
    login("alice")
    payload = '<script>alert("x")</script>'
    response = post(client, "/o/lead/new", {"name": payload})
    assert response.status_code == 302
    for url in ("/o/lead", response.headers["Location"]):
        page = text(client.get(url))
        assert payload not in page and "&lt;script&gt;" in page


# --- record page -----------------------------------------------------------------------------------------
def test_related_lists_and_history_for_those_allowed(login, client, crm, leads):
    with crm.session(user="alice") as s:
        s.update("lead", leads["Acme deal"].id, {"account": leads["acct"].id})
    with crm.session(user="bob") as s:
        s.update("lead", leads["Bobs deal"].id, {"account": leads["acct"].id})
    login("alice")
    page = text(client.get(f"/o/account/{leads['acct'].id}"))
    assert "Acme deal" in page and "Bobs deal" not in page  # the related list is scoped
    assert "History" not in page
    post(client, "/logout", form_url="/o/lead")
    login("mia")
    page = text(client.get(f"/o/lead/{leads['Acme deal'].id}"))
    assert "History" in page and "created" in page


# --- export, lookup, files ----------------------------------------------------------------------------------
def test_csv_export_needs_the_grant_and_is_logged(login, client, crm, leads):
    login("alice")
    assert "export.csv" not in text(client.get("/o/lead"))
    assert client.get("/o/lead/export.csv").status_code == 403
    post(client, "/logout", form_url="/o/lead")
    login("mia")
    assert "Export CSV" in text(client.get("/o/lead"))
    confirm = client.get("/o/lead/export.csv?stage=quote")  # S37: the password again first
    assert confirm.status_code == 302 and confirm.headers["Location"].startswith("/account/confirm")
    response = post(client, confirm.headers["Location"], {"password": PASSWORD})
    assert response.headers["Location"] == "/o/lead/export.csv?stage=quote"
    response = client.get("/o/lead/export.csv?stage=quote")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = text(response)
    assert "Acme deal" in body and "Bobs deal" in body and "Beta deal" not in body
    with crm.engine.connect() as connection:
        entries = audit.access_log(connection, crm.schema, object_name="lead")
    assert [(e.username, e.action, e.channel) for e in entries] == [("mia", "export", "web")]


def test_csv_export_neutralises_formulas_in_text_and_list_cells(login, client, crm):
    hostile = {
        '=HYPERLINK("http://x")': ["=cmd|' /C calc'!A0", "ok"],
        "+1+1": ["ok", "@SUM(A1)"],
        "-2+3": ["-x"],
        "@user": [],
        "safe name": ["plain"],
    }
    with crm.session(user="mia") as s:
        for name, tags in hostile.items():
            s.create("lead", {"name": name, "tags": tags, "score": -5})
    login("mia")
    confirm = client.get("/o/lead/export.csv")  # S37: the password again first
    assert confirm.status_code == 302 and confirm.headers["Location"].startswith("/account/confirm")
    post(client, confirm.headers["Location"], {"password": PASSWORD})
    response = client.get("/o/lead/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text(response).lstrip("\ufeff"))))
    assert {row["Name"]: row["Tags"] for row in rows} == {
        '\'=HYPERLINK("http://x")': "'=cmd|' /C calc'!A0, ok",
        "'+1+1": "ok, '@SUM(A1)",
        "'-2+3": "'-x",
        "'@user": "",
        "safe name": "plain",
    }
    assert {row["Score"] for row in rows} == {"-5"}  # numbers are data, never quoted


def test_lookup_returns_only_readable_records(login, client, leads):
    login("alice")
    found = client.get("/o/lead/lookup?q=deal").get_json()
    assert sorted(item["title"] for item in found) == ["Acme deal", "Beta deal"]
    assert client.get("/o/account/lookup?q=acme").get_json() == [{"id": leads["acct"].id, "title": "Acme Corp"}]
    post(client, "/logout", form_url="/o/lead")
    login("carol")
    assert client.get("/o/lead/lookup?q=deal").status_code == 404


def test_file_upload_and_download_follow_the_record_scope(login, client, crm, leads, app):
    login("alice")
    record_id = leads["Acme deal"].id
    form_url = f"/o/lead/{record_id}/edit"
    response = post(
        client,
        form_url,
        {"name": "Acme deal", "version": "1", "attachment": (io.BytesIO(b"hello file"), "notes.txt", "text/plain")},
        form_url=form_url,
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with crm.session() as s:
        stored = s.get("lead", record_id)["attachment"]
    assert stored["name"] == "notes.txt" and stored["size"] == 10 and stored["content_type"] == "text/plain"
    assert "notes.txt" not in stored["key"]
    url = f"/o/lead/{record_id}/file/attachment"
    assert url in text(client.get(f"/o/lead/{record_id}"))
    download = client.get(url)
    assert download.status_code == 200 and download.data == b"hello file"
    assert "attachment" in download.headers["Content-Disposition"]
    post(client, "/logout", form_url="/o/lead")
    login("bob")
    assert client.get(url).status_code == 404


def upload(client, record_id, name="notes.txt", content_type="text/plain", field="attachment", version="1"):
    form_url = f"/o/lead/{record_id}/edit"
    return post(
        client,
        form_url,
        {"name": "Acme deal", "version": version, field: (io.BytesIO(b"hello file"), name, content_type)},
        form_url=form_url,
        content_type="multipart/form-data",
    )


def test_a_file_stays_with_the_record_and_field_it_was_uploaded_to(login, client, crm, leads):
    login("alice")
    acme, beta, bobs = (leads[name].id for name in ("Acme deal", "Beta deal", "Bobs deal"))
    assert upload(client, acme).status_code == 302
    with crm.session() as s:
        stolen = s.get("lead", acme)["attachment"]
    tokens = {name: create_token(crm, name, "test")[0] for name in ("alice", "bob")}

    def api(user, method, url, body):
        return client.open(url, method=method, json=body, headers={"Authorization": f"Bearer {tokens[user]}"})

    attempts = [
        ("bob", "PATCH", f"/api/v1/lead/{bobs}", {"attachment": stolen["key"], "version": 1}),
        ("bob", "POST", "/api/v1/lead", {"name": "Thief", "attachment": stolen}),
        ("alice", "PATCH", f"/api/v1/lead/{beta}", {"attachment": stolen, "version": 1}),  # another record
        ("alice", "PATCH", f"/api/v1/lead/{acme}", {"contract": stolen, "version": 2}),
    ]  # another field
    for user, method, url, body in attempts:
        response = api(user, method, url, body)
        assert response.status_code == 422, (user, url, response.get_json())
        problem = next(iter(response.get_json()["error"]["fields"].values()))[0]
        assert problem["code"] == "file_not_yours" and "belongs to another record" in problem["message"]
    assert api("alice", "PATCH", f"/api/v1/lead/{acme}", {"attachment": stolen, "version": 2}).status_code == 200
    # a value written behind Trellis's back (or before files were registered) is not served
    table = crm.schema.table("lead")
    with crm.engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id == bobs).values(attachment=stolen))
    post(client, "/logout", form_url="/o/lead")
    login("bob")
    assert client.get(f"/o/lead/{bobs}/file/attachment").status_code == 404
    # a new record's upload is bound to it on its first save
    created = post(
        client,
        "/o/lead/new",
        {"name": "With file", "stage": "new", "attachment": (io.BytesIO(b"mine"), "mine.txt", "text/plain")},
        content_type="multipart/form-data",
    )
    assert created.status_code == 302
    assert client.get(created.headers["Location"] + "/file/attachment").data == b"mine"
    post(client, "/logout", form_url="/o/lead")
    login("alice")
    assert client.get(f"/o/lead/{acme}/file/attachment").data == b"hello file"


def test_control_characters_in_file_names_are_refused_and_never_reach_a_header(login, client, crm, leads):
    login("alice")
    acme = leads["Acme deal"].id
    form_url = f"/o/lead/{acme}/edit"
    # RFC 2231 lets a multipart filename carry CR/LF percent-encoded; werkzeug decodes it
    disposition = "filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20x%3D1.txt"
    parts = [
        f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'
        for name, value in (("csrf_token", token(client.get(form_url))), ("version", "1"), ("name", "Acme deal"))
    ]
    parts.append(
        f'Content-Disposition: form-data; name="attachment"; {disposition}\r\nContent-Type: text/plain\r\n\r\nhello'
    )
    body = "".join(f"--B\r\n{part}\r\n" for part in parts) + "--B--\r\n"
    response = client.post(form_url, data=body.encode(), content_type="multipart/form-data; boundary=B")
    assert response.status_code == 422 and "contains control characters" in text(response)
    assert upload(client, acme, "ok.txt", "text/plain\tx").status_code == 422
    with crm.session() as s:
        assert s.get("lead", acme)["attachment"] is None
    secret = create_token(crm, "alice", "test")[0]
    response = client.patch(
        f"/api/v1/lead/{acme}",
        headers={"Authorization": f"Bearer {secret}"},
        json={"attachment": {"key": "k" * 20, "name": "a\r\nb.txt"}, "version": 1},
    )
    assert response.status_code == 422 and "control characters" in text(response)
    # a value stored with CR/LF (written behind Trellis's back) downloads with clean headers
    assert upload(client, acme).status_code == 302
    with crm.session() as s:
        value = s.get("lead", acme)["attachment"]
    table = crm.schema.table("lead")
    with crm.engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.id == acme)
            .values(attachment={**value, "name": "a\r\nSet-Cookie: x=1.txt", "content_type": "text/html\r\nX-Evil: 1"})
        )
    download = client.get(f"/o/lead/{acme}/file/attachment")
    assert download.status_code == 200 and download.data == b"hello file"
    assert "X-Evil" not in download.headers and "Set-Cookie" not in download.headers
    assert download.mimetype == "application/octet-stream" and "\n" not in download.headers["Content-Disposition"]


# --- language, CSRF, headers --------------------------------------------------------------------------------
def test_language_switch_to_chinese(login, client, leads):
    login("alice")
    assert "新建" not in text(client.get("/o/lead"))
    response = post(client, "/lang", {"lang": "zh", "next": "/o/lead"}, form_url="/o/lead")
    assert response.headers["Location"] == "/o/lead"
    page = text(client.get("/o/lead"))
    assert "线索" in page and "新建" in page and "名称" in page and "报价" in page
    assert 'lang="zh-CN"' in page


def test_the_login_page_switches_language_too(client):
    post(client, "/lang", {"lang": "zh"}, form_url="/login")
    assert ">登录</button>" in text(client.get("/login"))


def test_every_ui_text_has_every_language():
    missing = [
        key
        for key, texts in TEXTS.items()
        if not set(LANGUAGES) <= set(texts) or set(texts) - set(LANGUAGES) - {f"{lang}_one" for lang in LANGUAGES}
    ]
    assert missing == []


def test_a_post_without_csrf_token_is_refused(client, app):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/o/lead").status_code == 302  # not logged in


def test_the_api_needs_no_csrf_token(client, crm):
    from engine.runtime.security.tokens import create_token

    secret = create_token(crm, "alice", "t")[0]
    response = client.post("/api/v1/lead", json={"name": "Via API"}, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201
    assert client.get("/api/v1/nothing/here/at/all", headers={"Authorization": f"Bearer {secret}"}).is_json


def test_security_headers_and_cookie_flags(client):
    response = log_in(client, "alice")
    for headers in (client.get("/login").headers, response.headers, client.get("/api/v1/lead").headers):
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_outside_testing_and_configurable(crm):
    assert create_app(crm, test_config={"SECRET_KEY": "x"}).config["SESSION_COOKIE_SECURE"] is True
    app = create_app(crm, test_config={"SECRET_KEY": "x", "TRELLIS_SECURE_COOKIES": "0"})
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_no_inline_scripts_in_pages(login, client, leads):
    login("alice")
    for url in ("/o/lead", f"/o/lead/{leads['Acme deal'].id}", "/o/lead/new"):
        page = text(client.get(url))
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [] and " style=" not in page and "onclick" not in page


def test_unknown_pages_are_html_404s(login, client):
    login("alice")
    response = client.get("/o/lead/999999")
    assert response.status_code == 404 and "<html" in text(response)


def test_a_chinese_user_reads_the_engines_messages_in_chinese_and_pagers_count_in_english(open_crm):
    """Login errors in the page's language, field errors in the user's (zh_CN), and "1 record"."""
    crm = open_crm(
        CONFIG,
        {"wang": {"roles": ["rep"], "team": "east", "locale": "zh_CN"}, "alice": {"roles": ["rep"], "team": "east"}},
        teams=["east"],
    )
    app = make_app(crm)
    client = app.test_client()
    post(client, "/lang", {"lang": "zh"}, form_url="/login")
    response = post(client, "/login", {"username": "wang", "password": "wrong-password-1"})
    assert response.status_code == 401 and "用户名或密码错误。" in text(response)
    wang = client_for(app, "wang")
    response = post(wang, "/o/lead/new", {"name": "", "amount": "-5", "stage": "quote"})
    page = text(response)
    assert "请填写名称。" in page and "不能小于 0。" in page  # a missing field is named
    assert "is required" not in page and "Must be at least" not in page
    alice = client_for(app, "alice")
    post(alice, "/o/lead/new", {"name": "Only one", "amount": "10", "stage": "quote"})
    assert "1 record ·" in text(alice.get("/o/lead")).replace("</span>", "")
