"""Sessions and logins in the web UI (issue 11): hostile ``next`` values, sessions
ended on the server, session lifetime, login throttling and re-confirmation."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.runtime.security import auth, tokens
from tests.webui.conftest import PASSWORD, make_app, post, text, token

CONFIG = """
trellis: 1
settings:
  languages: [en, zh]
  security: {lockout_attempts: 3, lockout_minutes: 15, session_lifetime: 2h, session_idle_timeout: 20m}
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
HOSTILE_NEXT = (
    "/\r//evil.example",
    "/\n/evil.example",
    "/\t/evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%0d//evil.example",
    "/%250d//evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\x1b//evil.example",
    "/\u0085//evil.example",
    " //evil.example",
)


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
        response = client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "next": target, "csrf_token": token(page)}
        )
        assert response.status_code == 302 and response.headers["Location"] == "/", (target, text(response))
        post(client, "/logout", form_url="/o/lead")
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "next": "/o/lead?q=a%2Fb", "csrf_token": token(page)}
    )
    assert response.headers["Location"] == "/o/lead?q=a%2Fb"  # a local next with encoded text still works


# --- sessions ended on the server -----------------------------------------------------------------
def stolen_copy(app, client):
    """A second browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def logged_in(client) -> bool:
    response = client.get("/o/lead")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def run_cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result


def test_logout_and_sign_out_everywhere_end_copies_of_the_cookie(app, login, client, crm):
    login("alice")
    thief = stolen_copy(app, client)
    assert logged_in(thief)
    post(client, "/logout", form_url="/o/lead")
    assert not logged_in(thief) and not logged_in(client)
    assert thief.get("/o/lead").headers["Location"].startswith("/login")

    login("alice")
    other_device = stolen_copy(app, client)
    page = client.get("/account")
    assert "Sign out everywhere" in text(page) and ">alice<" in text(page)
    response = client.post("/account/signout", data={"csrf_token": token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Every session of your account has ended." in text(client.get("/login"))
    assert not logged_in(other_device) and not logged_in(client)
    assert client.post("/account/signout").status_code == 400  # CSRF-protected
    login("alice")
    assert logged_in(client)  # a new login works at once


def test_password_disable_role_change_and_lockout_end_every_session(app, client, crm, tmp_path, db_url):
    def session_of(username):
        browser = app.test_client()
        assert post(browser, "/login", {"username": username, "password": PASSWORD}).status_code == 302
        return stolen_copy(app, browser)

    events = {
        "admin sets a password": lambda: _edit(crm, "alice", password="Another-pass-456"),
        "roles change": lambda: _edit(crm, "alice", roles=["rep", "manager"]),
        "cli roles change": lambda: run_cli(
            "user", "edit", tmp_path / "config.yaml", "alice", "--role", "rep", "--db", db_url
        ),
        "cli signout": lambda: run_cli("user", "signout", tmp_path / "config.yaml", "alice", "--db", db_url),
        "own password change": lambda: auth.change_password(crm, "alice", PASSWORD, "Brand-new-pass-789"),
    }
    for event, action in events.items():
        copy = session_of("alice")
        bystander = session_of("mia")
        assert logged_in(copy), event
        action()
        assert not logged_in(copy), f"the session survived: {event}"
        assert logged_in(bystander), f"another user's session ended: {event}"
        if "password" in event:
            _edit(crm, "alice", password=PASSWORD)
    unchanged = session_of("alice")
    _edit(crm, "alice", display_name="Alice A.")  # other changes leave sessions alone
    assert logged_in(unchanged)

    copy = session_of("alice")
    for _ in range(3):  # lockout_attempts: 3
        assert post(app.test_client(), "/login", {"username": "alice", "password": "wrong-wrong-1"}).status_code == 401
    assert not logged_in(copy), "the session survived the lockout"

    copy = session_of("mia")
    run_cli("user", "disable", tmp_path / "config.yaml", "mia", "--db", db_url)
    run_cli("user", "edit", tmp_path / "config.yaml", "mia", "--active", "--db", db_url)
    assert not logged_in(copy), "the session survived disable and re-enable"
    result = CliRunner().invoke(main, ["user", "signout", str(tmp_path / "config.yaml"), "nobody", "--db", db_url])
    assert result.exit_code == 1 and "user nobody not found" in result.output


def test_disabled_and_locked_accounts_api_tokens_stop_working(app, crm, clock):
    secret, _ = tokens.create_token(crm, "alice", "integration")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/lead", headers=headers).status_code == 200
    for _ in range(3):
        auth.authenticate(crm, "alice", "wrong-wrong-1")
    locked = api.get("/api/v1/lead", headers=headers)
    assert locked.status_code == 401 and "locked until" in text(locked)
    clock.now += dt.timedelta(minutes=16)
    assert api.get("/api/v1/lead", headers=headers).status_code == 200  # the lock is over
    _edit(crm, "alice", active=False)
    disabled = api.get("/api/v1/lead", headers=headers)
    assert disabled.status_code == 401 and "disabled" in text(disabled)


def _edit(crm, username, **changes):
    with crm.directory() as directory:
        directory.edit(username, **changes)


# --- session lifetime --------------------------------------------------------------------------------
def test_sessions_end_after_the_idle_timeout_and_the_lifetime(app, login, client, clock):
    """settings.security: session_lifetime 2h, session_idle_timeout 20m (on the engine's clock)."""
    login("alice")
    thief = stolen_copy(app, client)
    clock.now += dt.timedelta(minutes=19)
    assert logged_in(client)
    clock.now += dt.timedelta(minutes=19)  # 19 minutes after the last request: still fresh
    assert logged_in(client)
    clock.now += dt.timedelta(minutes=1)  # the stolen copy was idle for 39 minutes
    assert not logged_in(thief)
    clock.now += dt.timedelta(minutes=20)
    response = client.get("/o/lead")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Your session has ended" in text(client.get(response.headers["Location"]))

    login("alice")
    for _ in range(7):  # busy for 1h45m: never idle, still within the lifetime
        clock.now += dt.timedelta(minutes=15)
        assert logged_in(client)
    clock.now += dt.timedelta(minutes=15)  # 2h after the login
    assert not logged_in(client)
    assert app.permanent_session_lifetime == dt.timedelta(hours=2)  # the signed cookie's own limit


# --- login throttling -----------------------------------------------------------------------------
def test_failed_logins_from_one_address_are_throttled_with_a_429_page(crm, clock):
    app = make_app(crm, TRELLIS_LOGIN_RATE_LIMIT="5 per minute")
    attacker, office = app.test_client(), app.test_client()
    names = ["alice", "mia", "nobody", "root", "admin"]
    for name in names:  # five names, one wrong password each: no account is locked
        assert post(attacker, "/login", {"username": name, "password": "guess-123-abc"}).status_code == 401
    page = attacker.get("/login")
    refused = attacker.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token(page)})
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Too many failed logins from your network: wait 1 min and try again." in text(refused)
    assert "Traceback" not in text(refused)
    other = office.post(
        "/login",
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
        data={"username": "mia", "password": PASSWORD, "csrf_token": token(office.get("/login"))},
    )
    assert other.status_code == 302  # another address is not affected

    zh = app.test_client()
    page = zh.get("/login")
    zh.post("/lang", data={"lang": "zh", "next": "/login", "csrf_token": token(page)})
    refused = zh.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token(page)})
    assert refused.status_code == 429 and "登录失败次数过多" in text(refused)


def test_the_two_factor_step_counts_towards_the_throttle(crm, clock):
    enrollment = auth.enroll_totp(crm, "alice")
    assert auth.confirm_totp(crm, "alice", pyotp.TOTP(enrollment.secret).at(clock.now))
    app = make_app(crm, TRELLIS_LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert post(client, "/login", {"username": "alice", "password": PASSWORD}).headers["Location"] == "/login/totp"
    for _ in range(2):
        assert post(client, "/login/totp", {"code": "not-a-code"}).status_code == 401
    assert post(client, "/login/totp", {"code": pyotp.TOTP(enrollment.secret).at(clock.now)}).status_code == 429


def test_unknown_and_locked_names_get_the_same_answer_and_the_same_work(crm, monkeypatch):
    """The answer and the work (one Argon2 verification) are those of a wrong password."""
    calls = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda stored, given: calls.append(stored) or real(stored, given))
    for _ in range(3):
        auth.authenticate(crm, "alice", "wrong-wrong-1")
    answers = {}
    for name in ("alice", "nobody-at-all"):
        calls.clear()
        result = auth.authenticate(crm, name, PASSWORD)
        answers[name] = (result.message, result.user_id, len(calls))
    assert answers["alice"] == answers["nobody-at-all"] == ("Wrong user name or password.", None, 1)


# --- re-confirmation (S37) ------------------------------------------------------------------------
def test_csv_export_asks_for_the_password_again_for_a_few_minutes(app, login, client, crm, clock):
    login("alice")
    assert client.get("/o/lead/export.csv").status_code == 403  # no export grant: not even asked
    post(client, "/logout", form_url="/o/lead")
    login("mia")
    asked = client.get("/o/lead/export.csv?q=x")
    assert asked.status_code == 302 and asked.headers["Location"] == "/account/confirm?next=/o/lead/export.csv?q%3Dx"
    page = client.get(asked.headers["Location"])
    assert page.status_code == 200 and 'type="password" name="password"' in text(page)
    assert "Confirm it is you" in text(page) and 'name="next" value="/o/lead/export.csv?q=x"' in text(page)
    assert client.post("/account/confirm", data={"password": PASSWORD}).status_code == 400  # CSRF
    wrong = client.post(
        "/account/confirm", data={"password": "not-it-123", "next": "/o/lead/export.csv?q=x", "csrf_token": token(page)}
    )
    assert wrong.status_code == 401 and "The password is wrong." in text(wrong)
    assert client.get("/o/lead/export.csv?q=x").status_code == 302
    right = client.post(
        "/account/confirm", data={"password": PASSWORD, "next": "/o/lead/export.csv?q=x", "csrf_token": token(page)}
    )
    assert right.status_code == 302 and right.headers["Location"] == "/o/lead/export.csv?q=x"
    assert client.get("/o/lead/export.csv?q=x").mimetype == "text/csv"
    other_device = app.test_client()
    assert post(other_device, "/login", {"username": "mia", "password": PASSWORD}).status_code == 302
    assert other_device.get("/o/lead/export.csv").status_code == 302  # the confirmation was this session's
    clock.now += dt.timedelta(minutes=4)
    assert client.get("/o/lead/export.csv").status_code == 200
    clock.now += dt.timedelta(minutes=2)  # reconfirm_minutes (5) passed
    assert client.get("/o/lead/export.csv").headers["Location"].startswith("/account/confirm")
    hostile = post(
        client, "/account/confirm", {"password": PASSWORD, "next": "/\r//evil.example"}, form_url="/account/confirm"
    )
    assert hostile.status_code == 302 and hostile.headers["Location"] == "/"


def test_with_two_factor_login_the_confirmation_is_a_code(login, client, crm, clock):
    enrollment = auth.enroll_totp(crm, "mia")
    assert auth.confirm_totp(crm, "mia", pyotp.TOTP(enrollment.secret).at(clock.now))
    clock.now += dt.timedelta(minutes=1)
    assert post(client, "/login", {"username": "mia", "password": PASSWORD}).status_code == 302
    assert post(client, "/login/totp", {"recovery_code": enrollment.recovery_codes[0]}).status_code == 302
    page = text(client.get("/account/confirm?next=/o/lead/export.csv"))
    assert 'name="code"' in page and 'name="password"' not in page
    wrong = post(
        client, "/account/confirm", {"code": "12345x", "next": "/o/lead/export.csv"}, form_url="/account/confirm"
    )
    assert wrong.status_code == 401 and "The code is wrong." in text(wrong)
    clock.now += dt.timedelta(minutes=1)
    right = post(
        client,
        "/account/confirm",
        {"code": pyotp.TOTP(enrollment.secret).at(clock.now), "next": "/o/lead/export.csv"},
        form_url="/account/confirm",
    )
    assert right.headers["Location"] == "/o/lead/export.csv"
    assert client.get("/o/lead/export.csv").status_code == 200
