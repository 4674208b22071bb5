"""Logging in and out (Flask-Login), the two-factor step, and the language switch.

The engine decides every login (``engine.runtime.security.auth.authenticate``: lockout,
expiry, networks, two-factor); this module only carries its answer to the
browser and shows ``LoginResult.message``. The session cookie holds the user's
id and session generation; each request reloads the user from ``sys_users``, so
a user disabled or expired meanwhile, or whose sessions were ended on the server
(logout, sign out everywhere, a new password or roles: ``engine.runtime.security.sessions``),
is logged out on their next request.

Between the password and the two-factor code the engine needs both again, so
the credentials wait in the session cookie encrypted (Fernet, a key derived
from the app's secret) for at most ``PENDING_SECONDS``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from engine.runtime.security import sessions, users
from engine.runtime.security.auth import (
    LoginResult,
    TotpError,
    authenticate,
    confirm_totp,
    enroll_totp,
    totp_state,
)
from webui.i18n import LANGUAGES
from webui.state import get_trellis
from webui.ui import reconfirm, throttle, userpicker
from webui.ui.context import end_request_read, local_path, request_read, t

#: How long the two-factor step may take after the password was right.
PENDING_SECONDS = 300
#: How long setting up two-factor login may take after the password was right.
ENROL_SECONDS = 900
#: The session key holding the user's session generation at login (``engine.runtime.security.sessions``).
GENERATION_KEY = "gen"
#: Session keys: when the session's login was and when its last request (seconds since the epoch,
#: on the engine's clock).
STARTED_KEY, SEEN_KEY = "started", "seen"
#: The last request's time is written back at most this often (seconds), not on every request.
SEEN_RESOLUTION = 60


@dataclass(frozen=True)
class WebUser(UserMixin):
    """The logged-in user as Flask-Login sees them."""

    user_id: int
    username: str
    locale: str | None = None

    def get_id(self) -> str:
        return str(self.user_id)


def load_user(user_id: str) -> WebUser | None:
    """The user with ``user_id`` if they may act now (active, not expired) and this session was
    not ended on the server (its generation is still the user's: ``engine.runtime.security.sessions``), else None.
    Read on every request, with what the user may do (``g.principal``, their roles and team as
    they are now), which the request's engine sessions use instead of reading the user again — in
    the transaction a ``reads_only`` view's read session goes on in (``context.request_read``)."""
    if not user_id.isdigit() or len(user_id) > 18:
        return None
    crm = get_trellis()
    found = users.login_user(crm, int(user_id), shared=request_read())
    if found is None or not found.active or session.get(GENERATION_KEY) != found.session_generation:
        end_request_read()
        return None
    now = crm.clock_now().now_utc
    if not found.may_act(now) or found.principal is None or not _session_fresh(now.timestamp()):
        end_request_read()
        return None
    g.principal = found.principal  # read with the row: the request's unit of work reuses it
    if found.unread is not None:  # the header's bell, counted with the row (a page that only reads)
        g.unread = found.unread
    return WebUser(found.id, found.username, found.locale)


def _session_fresh(now: float) -> bool:
    """Whether this session is within ``settings.security.session_lifetime`` of its login and
    ``session_idle_timeout`` of its last request (then the last request moves to ``now``)."""
    security = get_trellis().config.settings.security
    started, seen = session.get(STARTED_KEY), session.get(SEEN_KEY)
    if (
        not isinstance(started, (int, float))
        or not isinstance(seen, (int, float))
        or now - started >= security.session_lifetime
        or now - seen >= security.session_idle_timeout
    ):
        g.session_expired = True
        return False
    if now - seen >= SEEN_RESOLUTION:
        session[SEEN_KEY] = now
    return True


# --- pending two-factor logins ------------------------------------------------------
def _fernet() -> Fernet:
    digest = hashlib.sha256(f"trellis pending login:{current_app.config['SECRET_KEY']}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _remember_pending(username: str, password: str, next_url: str) -> None:
    payload = json.dumps({"u": username, "p": password, "n": next_url}).encode()
    session["pending_login"] = _fernet().encrypt(payload).decode()


def _pending() -> dict[str, str] | None:
    token = session.get("pending_login")
    if not token:
        return None
    try:
        return json.loads(_fernet().decrypt(token.encode(), ttl=PENDING_SECONDS))
    except (InvalidToken, ValueError):
        session.pop("pending_login", None)
        return None


def _remember_enrolment(username: str, user_id: int | None, next_url: str) -> None:
    """A user whose role requires two-factor login enrols before they are logged in."""
    payload = json.dumps({"u": username, "i": user_id, "n": next_url}).encode()
    session["pending_enrolment"] = _fernet().encrypt(payload).decode()


def _pending_enrolment() -> dict | None:
    token = session.get("pending_enrolment")
    if not token:
        return None
    try:
        return json.loads(_fernet().decrypt(token.encode(), ttl=ENROL_SECONDS))
    except (InvalidToken, ValueError):
        session.pop("pending_enrolment", None)
        return None


# --- routes ----------------------------------------------------------------------------
def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the start page (no open redirects)."""
    return local_path(target) or url_for("records.home")


def _attempt(username: str, password: str, **codes: str | None) -> LoginResult:
    return authenticate(
        get_trellis(), username, password, ip=request.remote_addr, user_agent=request.headers.get("User-Agent"), **codes
    )


def _finish(result: LoginResult, username: str, next_url: str) -> Response:
    """Start a fresh session for the user (no session fixation) and go on."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    crm = get_trellis()
    session[GENERATION_KEY] = sessions.current(crm, result.user_id)
    session[STARTED_KEY] = session[SEEN_KEY] = crm.clock_now().now_utc.timestamp()
    login_user(WebUser(result.user_id, username))
    return redirect(safe_next(next_url))


def login() -> Response | str:
    """The login form; on success the start page (or ``next``)."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    message, username = None, ""
    next_url = request.values.get("next", "")
    if request.method == "POST":
        wait = throttle.seconds_blocked()
        if wait:
            return throttle.refused(wait)
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username or not password:
            message = t("login.required")
        else:
            result = _attempt(username, password)
            if result.outcome == "totp_required":
                _remember_pending(username, password, next_url)
                return redirect(url_for("auth.totp"))
            if result.ok and result.must_enroll_totp:
                _remember_enrolment(username, result.user_id, next_url)
                flash(t("twofactor.required"), "info")
                return redirect(url_for("auth.account_totp"))
            elif result.ok:
                return _finish(result, username, next_url)
            else:
                throttle.count_failure()
                message = result.message
    status = 200 if message is None else 401
    return render_template("login.html", message=message, username=username, next_url=next_url), status


def totp() -> Response | str:
    """The second step: a code from the authenticator app, or a recovery code."""
    pending = _pending()
    if pending is None:
        flash(t("totp.expired"), "error")
        return redirect(url_for("auth.login"))
    message = None
    if request.method == "POST":
        wait = throttle.seconds_blocked()
        if wait:
            return throttle.refused(wait)
        code = request.form.get("code", "").strip() or None
        recovery = request.form.get("recovery_code", "").strip() or None
        result = _attempt(pending["u"], pending["p"], totp_code=code, recovery_code=recovery)
        if result.ok:
            return _finish(result, pending["u"], pending["n"])
        throttle.count_failure()
        if result.outcome not in ("failed", "totp_required"):
            session.pop("pending_login", None)
            flash(result.message, "error")
            return redirect(url_for("auth.login"))
        message = result.message
    return render_template("totp.html", message=message), 200 if message is None else 401


def qr_svg(data: str, title: str) -> Markup:
    """``data`` as a QR code in inline SVG (segno, drawn on the server: no script, no
    image request), named ``title`` for screen readers."""
    svg = segno.make(data, error="m").svg_inline(scale=4, title=title, svgclass="qr", lineclass=None, omitsize=True)
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))


def account_totp() -> Response | str | tuple[str, int]:
    """Set up two-factor login. GET only shows the state and the buttons; a POST (with its
    CSRF token) either starts an enrolment (``action=start``: a QR code of the provisioning
    URI, the secret and URI as text and the recovery codes, shown once) or confirms it with
    a code from the app (``auth.confirm_totp``).

    For a logged-in user (the "Two-factor" link), or for one whose role requires it
    right after their password (they are logged in once the code is confirmed).
    """
    pending = None if current_user.is_authenticated else _pending_enrolment()
    if not current_user.is_authenticated and pending is None:
        if session.pop("pending_enrolment", None):
            flash(t("twofactor.expired"), "error")
            return redirect(url_for("auth.login"))
        return current_app.login_manager.unauthorized()
    username = current_user.username if pending is None else pending["u"]
    crm = get_trellis()
    enrolment, message, status = None, None, 200
    if request.method == "POST" and request.form.get("action") == "start":
        try:
            enrolment = enroll_totp(crm, username)
        except TotpError:
            return render_template("totp_enrol.html", state="on", enrolment=None, message=None)
    elif request.method == "POST":
        try:
            confirmed = confirm_totp(crm, username, request.form.get("code", "").strip())
        except TotpError:
            flash(t("twofactor.expired"), "error")
            return redirect(url_for("auth.account_totp"))
        if confirmed:
            response = redirect(url_for("records.home"))
            if pending is not None:  # a fresh session: the flash goes after it
                response = _finish(LoginResult("ok", "", pending["i"]), username, pending["n"])
            flash(t("twofactor.done"), "info")
            return response
        message, status = t("twofactor.bad_code"), 422
    state = "pending" if enrolment else totp_state(crm, username)
    qr = qr_svg(enrolment.provisioning_uri, t("twofactor.qr")) if enrolment else None
    response = current_app.make_response(
        (render_template("totp_enrol.html", state=state, enrolment=enrolment, qr=qr, message=message), status)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def logout() -> Response:
    """End the session: on the server too (every session of the user ends, so a copy of the
    cookie is worthless), then in the browser."""
    if current_user.is_authenticated:
        sessions.end_all(
            get_trellis(),
            current_user.username,
            channel="web",
            reason="logout",
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
        )
    return _signed_out(t("logged_out"))


def account() -> Response | str:
    """The account page: who is logged in, two-factor login, and "sign out everywhere"."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return render_template("account.html")


def sign_out_everywhere() -> Response:
    """End every session of the user, on every device, this one included."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    sessions.end_all(
        get_trellis(),
        current_user.username,
        channel="web",
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )
    return _signed_out(t("account.signed_out_everywhere"))


def _signed_out(message: str) -> Response:
    """Clear this browser's session (keeping the language) and go to the login page."""
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(message, "info")
    return redirect(url_for("auth.login"))


def switch_language() -> Response:
    """Remember the chosen language (en or zh) in the session and go back."""
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")))


def _unauthorized() -> Response:
    if request.method == "GET":
        flash(t("session.expired" if g.get("session_expired") else "login.needed"), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


#: The routes: URL rule, view, methods (the endpoint is the view's name); with them the
#: re-confirmation page (``reconfirm.ROUTES``) and the user picker's type-ahead
#: (``userpicker.ROUTES``), which check the login themselves.
ROUTES = (
    ("/login", login, ["GET", "POST"]),
    ("/login/totp", totp, ["GET", "POST"]),
    ("/account", account, ["GET"]),
    ("/account/signout", sign_out_everywhere, ["POST"]),
    ("/account/totp", account_totp, ["GET", "POST"]),
    ("/logout", logout, ["POST"]),
    ("/lang", switch_language, ["POST"]),
    *reconfirm.ROUTES,
    *userpicker.ROUTES,
)


def create_blueprint(app: Flask) -> Blueprint:
    """Register the login manager on ``app``; a fresh blueprint of the login routes."""
    manager = LoginManager()
    manager.user_loader(load_user)
    manager.unauthorized_handler(_unauthorized)
    manager.init_app(app)
    throttle.init_app(app)
    # The signed cookie itself is refused after the session lifetime too (besides _session_fresh).
    lifetime = dt.timedelta(seconds=app.extensions["trellis"].config.settings.security.session_lifetime)
    app.config["PERMANENT_SESSION_LIFETIME"] = min(app.permanent_session_lifetime, lifetime)
    blueprint = Blueprint("auth", __name__)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint
