"""Logging in and account security (S36–S38) as the web UI will use them.

Each test opens a small CRM whose clock the test moves, adds users through the
``Directory`` and calls ``engine.runtime.security.auth``. Runs on SQLite, and on
PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from engine import AccountUnavailable, Trellis, ValidationFailed
from engine.runtime.security import auth
from engine.runtime.security.crypto import SecretKeyMissing
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings:
  company: Acme Trading
  security:
    lockout_attempts: 3
    lockout_minutes: 15
    password_min_length: 10
    password_classes: 3
    reconfirm_minutes: 5
{extra}
objects:
  lead:
    fields:
      name: {{type: text}}
roles:
  rep:
    objects: {{lead: {{read: own, edit: own, create: true}}}}
  office:
    ip_allowlist: [10.0.0.0/8]
    objects: {{lead: {{read: all}}}}
  branch:
    ip_allowlist: [192.168.1.0/24, "2001:db8::/32"]
    objects: {{lead: {{read: all}}}}
  finance:
    require_totp: true
    objects: {{lead: {{read: all}}}}
"""
PASSWORD = "Correct-Horse-7"
START = dt.datetime(2026, 4, 30, 9, 0, 0, tzinfo=dt.UTC)


class MovableClock:
    """The CRM's clock; tests move it forward."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(autouse=True)
def secret_key(monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def clock():
    return MovableClock()


@pytest.fixture
def make_crm(db_url, write_config, clock):
    opened = []

    def make(extra_security: str = "") -> Trellis:
        crm = Trellis.open(write_config(CONFIG.format(extra=extra_security)), db_url, clock=clock)
        apply_fresh(crm)
        opened.append(crm)
        return crm

    yield make
    for crm in opened:
        crm.close()


@pytest.fixture
def crm(make_crm):
    return make_crm()


def add_user(crm: Trellis, username: str, roles=("rep",), password: str | None = PASSWORD, **attributes):
    with crm.directory() as directory:
        return directory.add(username, roles=list(roles), password=password, **attributes)


def user_row(crm: Trellis, username: str):
    users = crm.schema.system["sys_users"]
    with crm.engine.connect() as connection:
        return connection.execute(sa.select(users).where(users.c.username == username)).mappings().one()


def login_log(crm: Trellis):
    log = crm.schema.system["sys_login_log"]
    with crm.engine.connect() as connection:
        return connection.execute(sa.select(log).order_by(log.c.id)).mappings().all()


def login(crm: Trellis, username: str, password: str = PASSWORD, **kwargs) -> auth.LoginResult:
    kwargs.setdefault("ip", "10.1.2.3")
    return auth.authenticate(crm, username, password, **kwargs)


# --- password login ---------------------------------------------------------------------
def test_a_right_password_logs_in_and_records_the_time(crm):
    alice = add_user(crm, "alice")
    result = login(crm, "alice")
    assert result.ok and result.outcome == "ok"
    assert result.user_id == alice.id
    assert not result.must_enroll_totp
    assert user_row(crm, "alice")["last_login_at"] == START


def test_a_wrong_password_and_an_unknown_user_look_the_same(crm):
    add_user(crm, "alice")
    wrong = login(crm, "alice", "Wrong-Password-1")
    unknown = login(crm, "nobody", "Wrong-Password-1")
    assert wrong == unknown
    assert wrong.outcome == "failed"
    assert wrong.message == "Wrong user name or password."
    assert wrong.user_id is None


def test_a_user_without_a_password_cannot_log_in(crm):
    add_user(crm, "newbie", password=None)
    assert login(crm, "newbie", "").outcome == "failed"
    assert login(crm, "newbie", PASSWORD).outcome == "failed"


def test_lockout_after_n_failures_in_a_row_and_release_after_the_lockout_minutes(crm, clock):
    add_user(crm, "alice")
    assert login(crm, "alice", "Wrong-1").outcome == "failed"
    assert login(crm, "alice", "Wrong-2").outcome == "failed"
    third = login(crm, "alice", "Wrong-3")
    assert third.outcome == "locked"
    assert third.message == "Wrong user name or password."  # as for a name that does not exist
    assert user_row(crm, "alice")["locked_until"] == START + dt.timedelta(minutes=15)

    clock.advance(minutes=5)
    right_but_locked = login(crm, "alice")
    assert right_but_locked.outcome == "locked"
    assert right_but_locked.minutes_locked == 10
    assert right_but_locked.message == login(crm, "nobody-here", PASSWORD).message == "Wrong user name or password."

    clock.advance(minutes=10)
    assert login(crm, "alice").ok
    row = user_row(crm, "alice")
    assert row["failed_logins"] == 0 and row["locked_until"] is None


def test_a_success_resets_the_failure_count(crm):
    add_user(crm, "alice")
    login(crm, "alice", "Wrong-1")
    login(crm, "alice", "Wrong-2")
    assert login(crm, "alice").ok
    login(crm, "alice", "Wrong-3")
    login(crm, "alice", "Wrong-4")
    assert user_row(crm, "alice")["failed_logins"] == 2
    assert user_row(crm, "alice")["locked_until"] is None


def test_an_admin_reactivating_a_user_unlocks_them(crm):
    add_user(crm, "alice")
    for attempt in range(3):
        login(crm, "alice", f"Wrong-{attempt}")
    with crm.directory() as directory:
        directory.edit("alice", active=True)
    assert login(crm, "alice").ok


def test_a_disabled_user_is_refused_but_only_told_with_the_right_password(crm):
    add_user(crm, "alice")
    with crm.directory() as directory:
        directory.disable("alice")
    assert login(crm, "alice").outcome == "disabled"
    assert login(crm, "alice", "Wrong-Password-1").outcome == "failed"
    with pytest.raises(AccountUnavailable), crm.session(user="alice"):
        pass


def test_an_expired_intern_account_stops_working_after_its_date(crm, clock):
    """S36: an intern's account expires at the end of the internship."""
    add_user(crm, "intern", expires_at="2026-05-01")
    assert login(crm, "intern").ok
    with crm.session(user="intern"):
        pass

    clock.advance(days=1)  # 2026-05-01 09:00 UTC
    result = login(crm, "intern")
    assert result.outcome == "expired"
    assert result.message == "This account expired on 2026-05-01; ask an administrator."
    with pytest.raises(AccountUnavailable, match="expired"), crm.session(user="intern"):
        pass


# --- IP allow-lists --------------------------------------------------------------------------
def test_the_global_allow_list_applies_to_everyone(make_crm):
    crm = make_crm("    ip_allowlist: [203.0.113.0/24, 198.51.100.7]")
    add_user(crm, "alice")
    assert login(crm, "alice", ip="203.0.113.50").ok
    assert login(crm, "alice", ip="198.51.100.7").ok
    assert login(crm, "alice", ip="::ffff:203.0.113.9").ok
    denied = login(crm, "alice", ip="198.51.100.8")
    assert denied.outcome == "ip_denied"
    assert login(crm, "alice", ip=None).outcome == "ip_denied"
    assert login(crm, "nobody", ip="198.51.100.8") == denied  # says nothing about the user name
    assert user_row(crm, "alice")["failed_logins"] == 0


def test_role_allow_lists_limit_users_whose_every_role_has_one(crm):
    add_user(crm, "olga", roles=["office"])
    add_user(crm, "bea", roles=["office", "branch"])
    add_user(crm, "rex", roles=["office", "rep"])
    assert login(crm, "olga", ip="10.20.30.40").ok
    assert login(crm, "olga", ip="192.168.1.5").outcome == "ip_denied"
    assert login(crm, "bea", ip="192.168.1.5").ok  # the union of her roles' lists
    assert login(crm, "bea", ip="2001:db8::1").ok
    assert login(crm, "bea", ip="172.16.0.1").outcome == "ip_denied"
    assert login(crm, "rex", ip="172.16.0.1").ok  # one unrestricted role lifts the limit


def test_passwords_cannot_be_tried_from_a_denied_network(crm):
    add_user(crm, "olga", roles=["office"])
    for attempt in range(5):
        assert login(crm, "olga", f"Wrong-{attempt}", ip="172.16.0.1").outcome == "ip_denied"
    assert user_row(crm, "olga")["failed_logins"] == 0


# --- two-factor login (TOTP) ---------------------------------------------------------------------
def code_at(secret: str, moment: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def enrolled(crm: Trellis, clock: MovableClock, username: str) -> auth.TotpEnrollment:
    """Enrol and confirm two-factor login, then move past the code used to confirm."""
    enrollment = auth.enroll_totp(crm, username)
    assert auth.confirm_totp(crm, username, code_at(enrollment.secret, clock.now))
    clock.advance(seconds=30)
    return enrollment


def test_a_role_requiring_totp_sends_an_unenrolled_user_to_enrolment(crm):
    add_user(crm, "fiona", roles=["finance"])
    result = login(crm, "fiona")
    assert result.ok and result.must_enroll_totp
    assert result.message == "Set up two-factor login to continue."


def test_the_global_setting_requires_totp_for_everyone(make_crm):
    crm = make_crm("    require_totp: true")
    add_user(crm, "alice")
    assert login(crm, "alice").must_enroll_totp


def test_an_enrolled_user_needs_the_code_and_a_missing_code_is_not_a_failure(crm, clock):
    add_user(crm, "fiona", roles=["finance"])
    enrollment = enrolled(crm, clock, "fiona")
    result = login(crm, "fiona")
    assert result.outcome == "totp_required"
    assert result.message == "Enter the code from your authenticator app, or a recovery code."
    assert user_row(crm, "fiona")["failed_logins"] == 0

    ok = login(crm, "fiona", totp_code=code_at(enrollment.secret, clock.now))
    assert ok.ok and not ok.must_enroll_totp


def test_a_wrong_code_counts_as_a_failure_and_a_code_works_once(crm, clock):
    add_user(crm, "fiona", roles=["finance"])
    enrollment = enrolled(crm, clock, "fiona")
    wrong = login(crm, "fiona", totp_code="000000" if code_at(enrollment.secret, clock.now) != "000000" else "111111")
    assert wrong.outcome == "failed" and wrong.message == "Wrong two-factor code."
    assert user_row(crm, "fiona")["failed_logins"] == 1

    code = code_at(enrollment.secret, clock.now)
    assert login(crm, "fiona", totp_code=code).ok
    assert login(crm, "fiona", totp_code=code).outcome == "failed"  # replayed


def test_a_code_from_the_previous_time_step_is_accepted(crm, clock):
    add_user(crm, "fiona", roles=["finance"])
    enrollment = enrolled(crm, clock, "fiona")
    clock.advance(seconds=30)
    assert login(crm, "fiona", totp_code=code_at(enrollment.secret, clock.now - dt.timedelta(seconds=30))).ok


def test_a_recovery_code_replaces_the_code_once(crm, clock):
    add_user(crm, "fiona", roles=["finance"])
    enrollment = enrolled(crm, clock, "fiona")
    assert len(enrollment.recovery_codes) == 10 and len(set(enrollment.recovery_codes)) == 10
    code = enrollment.recovery_codes[3]
    assert login(crm, "fiona", recovery_code=code.lower()).ok
    assert login(crm, "fiona", recovery_code=code).outcome == "failed"
    assert len(user_row(crm, "fiona")["recovery_codes"]) == 9


def test_an_unconfirmed_enrolment_changes_nothing(crm, clock):
    add_user(crm, "alice")
    enrollment = auth.enroll_totp(crm, "alice")
    assert login(crm, "alice").ok  # a half-finished enrolment does not lock alice out
    with crm.directory() as directory:
        assert not directory.get("alice").totp_enabled
    assert not auth.confirm_totp(crm, "alice", "12345")
    assert auth.confirm_totp(crm, "alice", code_at(enrollment.secret, clock.now))
    with crm.directory() as directory:
        assert directory.get("alice").totp_enabled
    assert login(crm, "alice").outcome == "totp_required"  # enrolled, so needed although not required


def test_enrolment_gives_a_provisioning_uri_for_the_company(crm):
    add_user(crm, "alice")
    enrollment = auth.enroll_totp(crm, "alice")
    assert enrollment.provisioning_uri.startswith("otpauth://totp/Acme%20Trading:alice?")
    assert f"secret={enrollment.secret}" in enrollment.provisioning_uri


def test_enrolling_again_needs_two_factor_turned_off_first(crm, clock):
    add_user(crm, "alice")
    enrolled(crm, clock, "alice")
    with pytest.raises(auth.TotpError, match="already on"):
        auth.enroll_totp(crm, "alice")
    auth.disable_totp(crm, "alice")
    assert login(crm, "alice").ok
    assert user_row(crm, "alice")["recovery_codes"] is None


def test_the_totp_secret_and_recovery_codes_are_not_stored_in_plaintext(crm, clock):
    add_user(crm, "alice")
    enrollment = auth.enroll_totp(crm, "alice")
    assert enrollment.secret not in user_row(crm, "alice")["totp_secret"]
    auth.confirm_totp(crm, "alice", code_at(enrollment.secret, clock.now))
    row = user_row(crm, "alice")
    assert enrollment.secret not in row["totp_secret"]
    stored_codes = " ".join(row["recovery_codes"])
    for code in enrollment.recovery_codes:
        assert code not in stored_codes and code.replace("-", "") not in stored_codes


def test_enrolment_without_a_secret_key_says_how_to_set_one(crm, make_crm, monkeypatch):
    add_user(crm, "alice")
    monkeypatch.delenv("TRELLIS_SECRET_KEY")
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    keyless = make_crm()  # the key is read when Trellis opens
    with pytest.raises(SecretKeyMissing, match="two-factor secrets are stored encrypted: set TRELLIS_SECRET_KEY"):
        auth.enroll_totp(keyless, "alice")


# --- password policy and change -------------------------------------------------------------
def test_a_weak_password_is_refused_with_a_field_error(crm):
    with pytest.raises(ValidationFailed) as refused:
        add_user(crm, "alice", password="alice12345")
    message = refused.value.errors["password"][0].message
    assert message.startswith("The password is too weak: ")
    assert "mix at least 3 of" in message and "do not include the user name" in message


def test_change_password_checks_the_old_one_and_the_policy(crm):
    add_user(crm, "alice")
    with pytest.raises(ValidationFailed) as wrong:
        auth.change_password(crm, "alice", "Not-The-Password-1", "Brand-New-Pass-2")
    assert wrong.value.errors["old_password"][0].code == "wrong_password"
    assert user_row(crm, "alice")["failed_logins"] == 1

    with pytest.raises(ValidationFailed) as weak:
        auth.change_password(crm, "alice", PASSWORD, "short")
    assert weak.value.errors["password"][0].message.startswith("The password is too weak: use at least 10")
    with pytest.raises(ValidationFailed, match="different from the current one"):
        auth.change_password(crm, "alice", PASSWORD, PASSWORD)

    auth.change_password(crm, "alice", PASSWORD, "Brand-New-Pass-2")
    assert login(crm, "alice", PASSWORD).outcome == "failed"
    assert login(crm, "alice", "Brand-New-Pass-2").ok


# --- re-confirmation of sensitive operations (S37) ----------------------------------------------
def test_reconfirm_opens_a_window_of_reconfirm_minutes(crm, clock):
    add_user(crm, "alice")
    assert not auth.recently_confirmed(crm, "alice")
    assert not auth.reconfirm(crm, "alice", password="Wrong-Password-1")
    assert user_row(crm, "alice")["failed_logins"] == 1
    assert not auth.recently_confirmed(crm, "alice")

    assert auth.reconfirm(crm, "alice", password=PASSWORD)
    assert auth.recently_confirmed(crm, "alice")
    clock.advance(minutes=4, seconds=59)
    assert auth.recently_confirmed(crm, "alice")
    clock.advance(seconds=1)
    assert not auth.recently_confirmed(crm, "alice")


def test_reconfirm_failures_lock_like_login_failures(crm):
    add_user(crm, "alice")
    for attempt in range(3):
        assert not auth.reconfirm(crm, "alice", password=f"Wrong-{attempt}")
    assert not auth.reconfirm(crm, "alice", password=PASSWORD)  # locked now
    assert login(crm, "alice").outcome == "locked"


def test_reconfirm_with_a_two_factor_code(crm, clock):
    add_user(crm, "fiona", roles=["finance"])
    enrollment = enrolled(crm, clock, "fiona")
    assert not auth.reconfirm(crm, "fiona", totp_code="12")
    assert auth.reconfirm(crm, "fiona", totp_code=code_at(enrollment.secret, clock.now))
    assert auth.recently_confirmed(crm, "fiona")


# --- the login log ---------------------------------------------------------------------------------
def test_every_attempt_is_in_the_login_log_with_ip_and_user_agent(crm, clock):
    alice = add_user(crm, "alice")
    browser = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"
    login(crm, "alice", ip="10.0.0.1", user_agent=browser)
    login(crm, "alice", "Wrong-1", ip="10.0.0.2", user_agent=browser)
    login(crm, "ghost", "Wrong-1", ip="10.0.0.3", user_agent="curl/8.0")
    login(crm, "alice", "Wrong-2", ip="10.0.0.2")
    login(crm, "alice", "Wrong-3", ip="10.0.0.2")
    login(crm, "alice", ip="10.0.0.1")

    rows = login_log(crm)
    assert [(r["username"], r["user_id"], r["outcome"], r["ip"]) for r in rows] == [
        ("alice", alice.id, "ok", "10.0.0.1"),
        ("alice", alice.id, "failed", "10.0.0.2"),
        ("ghost", None, "failed", "10.0.0.3"),
        ("alice", alice.id, "failed", "10.0.0.2"),
        ("alice", alice.id, "locked", "10.0.0.2"),
        ("alice", alice.id, "locked", "10.0.0.1"),
    ]
    assert rows[0]["user_agent"] == browser and rows[2]["user_agent"] == "curl/8.0"
    assert rows[0]["at"] == START
    assert rows[1]["detail"] == "wrong password (1 of 3)"
    assert rows[2]["detail"] == "unknown user"
    assert rows[4]["detail"] == "wrong password; locked after 3 failures"
    assert rows[5]["detail"] == "attempt while locked"


def test_two_factor_steps_are_in_the_login_log(crm, clock):
    add_user(crm, "fiona", roles=["finance"])
    enrollment = enrolled(crm, clock, "fiona")
    login(crm, "fiona")
    login(crm, "fiona", recovery_code=enrollment.recovery_codes[0])
    outcomes = [(r["outcome"], r["detail"]) for r in login_log(crm)]
    assert outcomes == [
        ("totp_enroll", "enrolment started"),
        ("totp_on", "two-factor login turned on"),
        ("totp_required", "password right, waiting for the code"),
        ("ok", "recovery code used"),
    ]


def test_very_long_input_is_logged_clipped(crm):
    assert login(crm, "x" * 300, "p", user_agent="a" * 900).outcome == "failed"
    row = login_log(crm)[0]
    assert len(row["username"]) == 100 and len(row["user_agent"]) == 500
