"""Authentication (S36–S38): log in, two-factor login (TOTP), re-confirmation,
password change. An engine capability: the web UI calls these functions and
shows ``LoginResult.message``; nothing here knows about HTTP.

The login decision, in order; each step decides only if the ones before it passed:

1. **Global network**: ``settings.security.ip_allowlist`` (when not empty) must
   contain the IP → ``ip_denied``. Same answer for every user name.
2. **Unknown user** → ``failed``, with the message (and about the time: a dummy
   hash is checked) of a wrong password, so user names cannot be probed.
3. **Locked** (``locked_until`` is in the future) → ``locked`` (for the login log;
   ``minutes_locked`` tells the minutes left), with the message of a wrong password
   and a dummy hash checked, like an unknown name: the answer does not tell that
   the name exists. The password is not checked, so guessing during a lockout
   learns nothing. The failure that locks the account answers the same way.
4. **Role networks**: when *every* role of the user declares an allow-list, the
   IP must be in their union → ``ip_denied``; checked before the password so that
   passwords cannot be tried from outside. One unrestricted role lifts the limit.
5. **Password**: wrong → ``failed``; the ``lockout_attempts``-th failure in a row
   locks the account for ``lockout_minutes`` → ``locked``.
6. **Disabled** → ``disabled``; **expired** (``expires_at`` passed, S36) →
   ``expired``. Only someone who knows the password learns this.
7. **Two-factor**, when the user enrolled: no code → ``totp_required`` (not a
   failure: the password was right); a wrong code counts as a failure (step 5's
   lockout); a recovery code replaces the code once. When two-factor is required
   (settings or any role) but the user has not enrolled yet → ``ok`` with
   ``must_enroll_totp``, so the UI sends them to enrolment first.
8. **ok**: the failure count resets, ``last_login_at`` is set and the password
   hash is upgraded if Argon2's parameters changed.

Every attempt writes one ``sys_login_log`` row (the outcome above, IP, user
agent, a detail for admins) in the same transaction as the counters it
changes; enrolment, re-confirmation and password changes write rows too.

Storage: the TOTP secret is encrypted (``engine.runtime.security.crypto``). An enrolment
waiting for its first code is stored as ``pending:`` + the encrypted secret and
recovery-code hashes, and counts for nothing until ``confirm_totp``; so a
half-finished enrolment cannot lock anyone out. Recovery codes are 80 random
bits each, so their SHA-256 hashes cannot be reversed by guessing; only the
hashes are stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import pyotp
import sqlalchemy as sa

from engine.metadata.model import Role
from engine.runtime import metrics
from engine.runtime.errors import TrellisError, ValidationFailed
from engine.runtime.messages import current_language, localized, message
from engine.runtime.records.validation import Errors
from engine.runtime.security import audit, sessions
from engine.runtime.security.passwords import hash_password, needs_rehash, password_problems, verify_password
from engine.runtime.security.permissions import AccountUnavailable, Principal, UnknownUser

#: What the audit trail records instead of a password or secret.
SECRET_CHANGED = "•••"

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: How ``sys_users.totp_secret`` marks an enrolment that is not confirmed yet.
PENDING = "pending:"
RECOVERY_CODES = 10
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_KEY_NEEDED = "two-factor secrets are stored encrypted"

FAILED = "Wrong user name or password."
WRONG_CODE = "Wrong two-factor code."
MESSAGES = {
    "ok": "Welcome.",
    "must_enroll": "Set up two-factor login to continue.",
    "totp_required": "Enter the code from your authenticator app, or a recovery code.",
    "disabled": "This account is disabled; ask an administrator.",
    "ip_denied": "Logging in from this network is not allowed for this account.",
}


class TotpError(TrellisError):
    """A two-factor enrolment step that does not fit the user's current state."""

    code = "totp"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt; show ``message`` to the person."""

    outcome: str  # ok | totp_required | failed | locked | disabled | expired | ip_denied
    message: str
    user_id: int | None = None  # only once the password was right
    must_enroll_totp: bool = False
    minutes_locked: int | None = None

    @property
    def ok(self) -> bool:
        """True when the person is logged in."""
        return self.outcome == "ok"


@dataclass(frozen=True)
class TotpEnrollment:
    """What the user needs to set up their authenticator app; shown once."""

    secret: str
    provisioning_uri: str
    recovery_codes: list[str] = field(default_factory=list)


# --- login -------------------------------------------------------------------------
def authenticate(
    crm: Runtime,
    username: str,
    password: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    totp_code: str | None = None,
    recovery_code: str | None = None,
) -> LoginResult:
    """Decide one login attempt (see the module docstring) and record it."""
    with crm.engine.connect() as connection, connection.begin():
        login = _Login(_Account(crm, connection, username, ip, user_agent), password, totp_code, recovery_code)
        result, detail = login.decide()
        login.account.save(result.outcome, detail)
    if result.outcome not in ("ok", "totp_required"):
        metrics.LOGIN_FAILURES.labels(result.outcome).inc()
    return result


class _Account:
    """One user row, locked for the transaction, and the changes an attempt makes to it."""

    def __init__(
        self,
        crm: Runtime,
        connection: sa.Connection,
        username: str,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.crm, self.connection = crm, connection
        self.users = crm.schema.system["sys_users"]
        self.username, self.ip, self.user_agent = (username or "").strip(), ip, user_agent
        self.now = crm.clock_now().now_utc
        self.security = crm.config.settings.security
        self.row = (
            connection.execute(sa.select(self.users).where(self.users.c.username == self.username).with_for_update())
            .mappings()
            .first()
        )
        self.updates: dict[str, Any] = {}

    @property
    def user(self) -> sa.RowMapping:
        """The user's row, asked for once the user is known to exist (``_Login.known``, ``_account``)."""
        if self.row is None:
            raise UnknownUser.named(self.username)
        return self.row

    @property
    def user_id(self) -> int | None:
        return self.row["id"] if self.row is not None else None

    def roles(self) -> list[Role]:
        return [self.crm.config.roles[r] for r in self.user["roles"] or [] if r in self.crm.config.roles]

    def minutes_locked(self) -> int | None:
        """Minutes left of a lockout, or None when the account is not locked."""
        until = self.user["locked_until"]
        if until is None or until <= self.now:
            return None
        return max(1, math.ceil((until - self.now).total_seconds() / 60))

    def unavailable(self) -> str | None:
        """``disabled`` or ``expired`` when the account may not be used now."""
        if not self.user["active"]:
            return "disabled"
        expires = self.user["expires_at"]
        return "expired" if expires is not None and expires <= self.now else None

    def count_failure(self) -> bool:
        """Count one failed attempt; True when it locks the account."""
        failures = self.user["failed_logins"] + 1
        if failures >= self.security.lockout_attempts:
            until = self.now + dt.timedelta(minutes=self.security.lockout_minutes)
            self.updates.update({"failed_logins": 0, "locked_until": until, sessions.COLUMN: sessions.bump(self.users)})
            return True
        self.updates["failed_logins"] = failures
        return False

    def totp(self) -> dict[str, Any] | None:
        """The confirmed two-factor setup (secret, last used step), or None."""
        stored = self.user["totp_secret"]
        if not totp_active(stored):
            return None
        self.crm.keys.cipher(_KEY_NEEDED)
        return self.crm.keys.decrypt(stored)

    def check_totp(self, code: str | None) -> bool:
        """Whether ``code`` is the current one (each code works once)."""
        setup = self.totp()
        step = _totp_step(setup["secret"], code, self.now, setup.get("last_step")) if setup else None
        if setup is None or step is None:
            return False
        self.updates["totp_secret"] = self.crm.keys.encrypt({**setup, "last_step": step})
        return True

    def use_recovery_code(self, code: str | None) -> bool:
        """Consume a recovery code; False when it is not one of the user's."""
        hashes = list(self.user["recovery_codes"] or [])
        digest = _code_hash(code or "")
        if digest not in hashes:
            return False
        hashes.remove(digest)
        self.updates["recovery_codes"] = hashes
        return True

    def save(self, outcome: str, detail: str | None) -> None:
        """Write the row's changes and the login log row (same transaction)."""
        if self.row is not None and self.updates:
            self.updates["updated_at"] = self.now
            self.connection.execute(sa.update(self.users).where(self.users.c.id == self.user_id).values(self.updates))
        self.connection.execute(
            sa.insert(self.crm.schema.system["sys_login_log"]).values(
                at=self.now,
                username=self.username[:100],
                user_id=self.user_id,
                outcome=outcome,
                ip=_clip(self.ip, 64),
                user_agent=_clip(self.user_agent, 500),
                detail=_clip(detail, 500),
            )
        )

    def audit(self, action: str, changes: dict[str, Any], channel: str) -> None:
        actor = Principal(user_id=self.user_id, username=self.user["username"])
        audit.log_change(
            self.connection, self.crm.schema, actor, channel, action, "sys_user", self.user_id, changes, self.now
        )


_Decision = tuple[LoginResult, str | None]
#: Outcomes after a right password: only these tell the caller the user's id.
_PASSWORD_PROVEN = frozenset({"ok", "totp_required", "disabled", "expired"})


class _Login:
    """The steps of one login decision; each returns a decision or None to go on."""

    def __init__(self, account: _Account, password: str, totp_code: str | None, recovery_code: str | None) -> None:
        self.account, self.password = account, password or ""
        self.totp_code, self.recovery_code = totp_code, recovery_code
        self.recovery_used = False

    def decide(self) -> _Decision:
        return (
            self.global_network()
            or self.known()
            or self.unlocked()
            or self.role_network()
            or self.right_password()
            or self.available()
            or self.second_factor()
            or self.success()
        )

    def result(self, outcome: str, message: str, detail: str | None = None, **extra: Any) -> _Decision:
        user_id = self.account.user_id if outcome in _PASSWORD_PROVEN else None
        code = (
            "login.wrong_code"
            if message == WRONG_CODE
            else ("login.must_enroll" if extra.get("must_enroll_totp") else f"login.{outcome}")
        )
        expires = self.account.row["expires_at"] if self.account.row is not None else None
        params = {"minutes": extra.get("minutes_locked"), "day": f"{expires:%Y-%m-%d}" if expires else ""}
        return LoginResult(outcome, localized(code, message, params), user_id, **extra), detail

    def global_network(self) -> _Decision | None:
        networks = self.account.security.ip_allowlist
        if networks and not ip_allowed(self.account.ip, networks):
            return self.result("ip_denied", MESSAGES["ip_denied"], "outside settings.security.ip_allowlist")
        return None

    def known(self) -> _Decision | None:
        if self.account.row is not None:
            return None
        verify_password(_dummy_hash(), self.password)  # take as long as for a real user
        return self.result("failed", FAILED, "unknown user")

    def unlocked(self) -> _Decision | None:
        minutes = self.account.minutes_locked()
        if minutes is None:
            return None
        verify_password(_dummy_hash(), self.password)  # as long and as worded as an unknown name
        return self.result("locked", FAILED, "attempt while locked", minutes_locked=minutes)

    def role_network(self) -> _Decision | None:
        roles = self.account.roles()
        if not roles or not all(r.ip_allowlist for r in roles):
            return None
        if ip_allowed(self.account.ip, [n for r in roles for n in r.ip_allowlist]):
            return None
        return self.result("ip_denied", MESSAGES["ip_denied"], "outside the allow-lists of the user's roles")

    def right_password(self) -> _Decision | None:
        if verify_password(self.account.user["password_hash"], self.password):
            return None
        return self.failure(FAILED, "wrong password")

    def available(self) -> _Decision | None:
        state = self.account.unavailable()
        if state == "disabled":
            return self.result("disabled", MESSAGES["disabled"], "account disabled")
        if state == "expired":
            day = f"{self.account.user['expires_at']:%Y-%m-%d}"
            return self.result("expired", f"This account expired on {day}; ask an administrator.", "account expired")
        return None

    def second_factor(self) -> _Decision | None:
        account = self.account
        if not totp_active(account.user["totp_secret"]):
            return None
        if not self.totp_code and not self.recovery_code:
            return self.result("totp_required", MESSAGES["totp_required"], "password right, waiting for the code")
        if self.totp_code:
            return None if account.check_totp(self.totp_code) else self.failure(WRONG_CODE, "wrong two-factor code")
        if account.use_recovery_code(self.recovery_code):
            self.recovery_used = True
            return None
        return self.failure(WRONG_CODE, "wrong recovery code")

    def failure(self, message: str, detail: str) -> _Decision:
        attempts = self.account.user["failed_logins"] + 1
        if self.account.count_failure():
            minutes = self.account.security.lockout_minutes
            return self.result("locked", message, f"{detail}; locked after {attempts} failures", minutes_locked=minutes)
        return self.result("failed", message, f"{detail} ({attempts} of {self.account.security.lockout_attempts})")

    def success(self) -> _Decision:
        account = self.account
        account.updates.update(failed_logins=0, locked_until=None, last_login_at=account.now)
        if needs_rehash(account.user["password_hash"]):
            account.updates["password_hash"] = hash_password(self.password)
        details = ["recovery code used"] if self.recovery_used else []
        enroll = not totp_active(account.user["totp_secret"]) and totp_required(account.crm, account.roles())
        if enroll:
            details.append("must enrol two-factor")
        message = MESSAGES["must_enroll" if enroll else "ok"]
        return self.result("ok", message, "; ".join(details) or None, must_enroll_totp=enroll)


# --- rules ---------------------------------------------------------------------------
def ip_allowed(ip: str | None, networks: Iterable[str]) -> bool:
    """Whether ``ip`` lies in one of ``networks`` (CIDR blocks or addresses); no IP is not allowed."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def totp_required(crm: Runtime, roles: Iterable[Role]) -> bool:
    """Whether the settings or any of ``roles`` require two-factor login."""
    return crm.config.settings.security.require_totp or any(r.require_totp for r in roles)


def totp_active(stored: str | None) -> bool:
    """Whether a ``sys_users.totp_secret`` value is a confirmed two-factor setup."""
    return stored is not None and not stored.startswith(PENDING)


def totp_state(crm: Runtime, username: str) -> str:
    """``on``, ``pending`` (an enrolment waits for its first code) or ``off``; raises UnknownUser."""
    users = crm.schema.system["sys_users"]
    with crm.engine.connect() as connection:
        row = connection.execute(sa.select(users.c.totp_secret).where(users.c.username == username)).first()
    if row is None:
        raise UnknownUser.named(username)
    return "on" if totp_active(row.totp_secret) else "pending" if row.totp_secret else "off"


# --- two-factor enrolment ---------------------------------------------------------------
def enroll_totp(crm: Runtime, username: str, *, channel: str = "web") -> TotpEnrollment:
    """Start two-factor enrolment: a new secret and recovery codes, active after ``confirm_totp``."""
    crm.keys.cipher(_KEY_NEEDED)
    secret = pyotp.random_base32()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    with _account(crm, username) as account:
        if totp_active(account.user["totp_secret"]):
            raise TotpError.said(
                "totp.already_on",
                f"two-factor login is already on for {username!r}; turn it off before enrolling again",
                user=username,
            )
        pending = crm.keys.encrypt({"secret": secret, "codes": [_code_hash(c) for c in codes]})
        account.updates["totp_secret"] = PENDING + pending
        account.save("totp_enroll", "enrolment started")
        account.audit("user.totp", {"totp": ["off", "pending"]}, channel)
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=crm.config.settings.company)
    return TotpEnrollment(secret, uri, codes)


def confirm_totp(crm: Runtime, username: str, code: str, *, channel: str = "web") -> bool:
    """Turn on a pending enrolment when ``code`` is right; False (nothing changes) when it is not."""
    with _account(crm, username) as account:
        stored = account.user["totp_secret"]
        if stored is None or not stored.startswith(PENDING):
            raise TotpError.said(
                "totp.nothing_to_confirm",
                f"{username!r} has no two-factor enrolment to confirm; start one first",
                user=username,
            )
        pending = crm.keys.decrypt(stored[len(PENDING) :])
        step = _totp_step(pending["secret"], code, account.now, None)
        if step is None:
            return False
        account.updates.update(
            totp_secret=crm.keys.encrypt({"secret": pending["secret"], "last_step": step}),
            recovery_codes=pending["codes"],
        )
        account.save("totp_on", "two-factor login turned on")
        account.audit("user.totp", {"totp": ["pending", "on"]}, channel)
    return True


def disable_totp(crm: Runtime, username: str, *, channel: str = "web") -> None:
    """Turn two-factor login off (or drop a pending enrolment) and forget the recovery codes."""
    with _account(crm, username) as account:
        before = (
            "on" if totp_active(account.user["totp_secret"]) else "pending" if account.user["totp_secret"] else "off"
        )
        account.updates.update(totp_secret=None, recovery_codes=None)
        account.save("totp_off", "two-factor login turned off")
        account.audit("user.totp", {"totp": [before, "off"]}, channel)


# --- re-confirmation and password change -------------------------------------------------
def reconfirm(crm: Runtime, username: str, *, password: str | None = None, totp_code: str | None = None) -> bool:
    """Confirm a sensitive operation with the password and/or a two-factor code (S37).

    Every credential given must be right. A wrong one counts as a failed login
    (and can lock the account); success opens the ``reconfirm_minutes`` window.
    """
    if password is None and totp_code is None:
        raise ValueError("reconfirm needs the password or a two-factor code")
    with _account(crm, username) as account:
        refusal = account.unavailable() or ("locked" if account.minutes_locked() else None)
        if refusal:
            account.save("reconfirm_refused", f"account {refusal}")
            return False
        right = (password is None or verify_password(account.user["password_hash"], password)) and (
            totp_code is None or account.check_totp(totp_code)
        )
        if not right:
            locked = account.count_failure()
            account.save("reconfirm_failed", "wrong credentials" + ("; locked" if locked else ""))
            return False
        account.updates.update(reconfirmed_at=account.now, failed_logins=0)
        account.save("reconfirm_ok", "password" if totp_code is None else "two-factor code")
    return True


def recently_confirmed(crm: Runtime, username: str) -> bool:
    """Whether the user re-confirmed within the last ``reconfirm_minutes``."""
    users = crm.schema.system["sys_users"]
    with crm.engine.connect() as connection:
        at = connection.execute(sa.select(users.c.reconfirmed_at).where(users.c.username == username)).scalar()
    window = dt.timedelta(minutes=crm.config.settings.security.reconfirm_minutes)
    return at is not None and crm.clock_now().now_utc - at < window


def change_password(crm: Runtime, username: str, old: str, new: str, *, channel: str = "web") -> None:
    """Change one's own password; raises ValidationFailed (``old_password`` / ``password``).

    A wrong current password counts as a failed login.
    """
    errors = Errors()
    with _account(crm, username) as account:
        state, minutes = account.unavailable(), account.minutes_locked()
        if state:
            said = message(f"account.state.{state}", current_language())
            raise AccountUnavailable.said(
                "account.unavailable", f"the account {username!r} is {state}", user=username, state=said
            )
        if minutes:
            errors.add("old_password", "locked", _locked_message(minutes))
        elif not verify_password(account.user["password_hash"], old):
            account.count_failure()
            account.save("password_change_failed", "wrong current password")
            errors.add("old_password", "wrong_password", "The current password is wrong.")
        else:
            _set_password(account, old, new, errors, channel)
    if errors:
        raise ValidationFailed(dict(errors), "user")


def _set_password(account: _Account, old: str, new: str, errors: Errors, channel: str) -> None:
    problems = password_problems(new, account.user["username"], account.security)
    if new == old:
        problems.append("choose a password different from the current one")
    if problems:
        errors.add("password", "weak_password", "The password is too weak: " + "; ".join(problems) + ".")
        return
    account.updates.update(
        {
            "password_hash": hash_password(new),
            "password_changed_at": account.now,
            sessions.COLUMN: sessions.bump(account.users),
        }
    )  # sessions elsewhere end
    account.save("password_changed", None)
    account.audit("user.password", {"password": [SECRET_CHANGED, SECRET_CHANGED]}, channel)


# --- helpers -------------------------------------------------------------------------------
@contextmanager
def _account(crm: Runtime, username: str) -> Iterator[_Account]:
    """The user's row, locked, in one transaction; raises UnknownUser."""
    with crm.engine.connect() as connection, connection.begin():
        account = _Account(crm, connection, username)
        if account.row is None:
            raise UnknownUser.named(username)
        yield account


def _totp_step(secret: str, code: str | None, now: dt.datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (one step of clock drift either way), or None.

    Steps up to ``last_step`` were used already, so a code cannot be replayed.
    """
    code = re.sub(r"\s", "", code or "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_BASE32) for _ in range(16))  # 80 random bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _code_hash(code: str) -> str:
    normal = re.sub(r"[\s-]", "", code).upper()
    return hashlib.sha256(normal.encode()).hexdigest()


def _locked_message(minutes: int) -> str:
    return f"Too many failed attempts: the account is locked for {minutes} more minute{'s' if minutes != 1 else ''}."


def _clip(text: str | None, length: int) -> str | None:
    return text[:length] if text is not None else None


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
