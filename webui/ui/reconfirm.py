"""Re-confirmation of sensitive operations (S37): the user proves again that they are
themselves — with their password, or with a two-factor code when they use two-factor
login — before the operation runs.

The engine checks the credentials and keeps the time (``engine.runtime.security.auth.reconfirm``:
a wrong password or code counts as a failed login and can lock the account, which ends
the session); a confirmation covers further sensitive operations for
``settings.security.reconfirm_minutes``. This module adds the page and binds the
confirmation to the browser session it was given in, so another session of the same
user (another device, or an older copy of the cookie) does not inherit it.

A sensitive route calls ``needed()`` first and, when it answers a redirect, returns it:
the confirmation page then comes back to the route. Sensitive routes today: the export
of a list, CSV or Excel (``views.export_list``).
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from engine.runtime.security.auth import recently_confirmed, reconfirm, totp_state
from webui.state import get_trellis
from webui.ui.context import local_path, t

#: The session key holding when this session last re-confirmed (engine clock, epoch seconds).
SESSION_KEY = "reconfirmed_at"


def confirmed() -> bool:
    """Whether this session re-confirmed within ``reconfirm_minutes`` (and the engine agrees)."""
    crm = get_trellis()
    at = session.get(SESSION_KEY)
    window = crm.config.settings.security.reconfirm_minutes * 60
    fresh = isinstance(at, (int, float)) and 0 <= crm.clock_now().now_utc.timestamp() - at < window
    return fresh and recently_confirmed(crm, current_user.username)


def needed() -> Response | None:
    """A redirect to the confirmation page (coming back to this request) unless ``confirmed()``."""
    if confirmed():
        return None
    return redirect(url_for("auth.confirm", next=request.full_path.rstrip("?")))


def confirm() -> Response | str | tuple[str, int]:
    """The confirmation page: the password, or a two-factor code when two-factor login is on."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    crm = get_trellis()
    with_code = totp_state(crm, current_user.username) == "on"
    next_url = local_path(request.values.get("next")) or url_for("records.home")
    message = None
    if request.method == "POST":
        secret = request.form.get("code" if with_code else "password", "").strip()
        if not secret:
            message = t("reconfirm.required")
        elif reconfirm(
            crm,
            current_user.username,
            **({"totp_code": secret} if with_code else {"password": request.form.get("password", "")}),
        ):
            session[SESSION_KEY] = crm.clock_now().now_utc.timestamp()
            return redirect(next_url)
        else:
            message = t("reconfirm.wrong_code" if with_code else "reconfirm.wrong_password")
    page = render_template(
        "reconfirm.html",
        with_code=with_code,
        next_url=next_url,
        message=message,
        minutes=crm.config.settings.security.reconfirm_minutes,
    )
    return page, 200 if message is None else 401


#: The routes (registered on the login blueprint, ``webui.ui.auth``).
ROUTES = (("/account/confirm", confirm, ["GET", "POST"]),)
