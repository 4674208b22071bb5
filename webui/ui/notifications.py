"""In-app notifications in the web UI: the bell in the header and the notifications page.

HTTP and view models only: who is told what is ``engine.runtime.jobs.notify`` (written
by automation rules); reading is ``engine.runtime.jobs.inbox`` and ``notify``.

- ``bell`` (template context, shown by ``_bell.html`` in the header): the link to
  the page with the number of unread notifications — one indexed COUNT per page,
  as the principal the request loaded already; its ``aria-label`` says the number.
  For holders of ``manage_config`` it also carries the link to the automation
  admin page (``webui.ui.automation_admin``);
- ``show`` (``/notifications``, ``?unread=1`` for the unread ones only): the user's
  notifications newest first, 20 a page — title, body (as text: autoescaped, never
  HTML), when, and a link to the record only while the user may still read it
  (asked through the one read path);
- ``read_one`` / ``read_all`` (POST, CSRF): mark one or every notification read,
  then back to where the user was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, g, redirect, request, url_for
from flask_login import current_user

from engine.runtime import retention_requests
from engine.runtime.database import read_only
from engine.runtime.jobs import inbox
from engine.runtime.jobs.inbox import Notification
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import Principal
from webui.state import get_trellis
from webui.ui import context
from webui.ui.context import formatter, local_path, plural, t, ui_session
from webui.ui.views import _require_login, render_page

PER_PAGE = 20


# --- the bell -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bell:
    """The header's notifications link: ``count`` unread, said in ``label``; ``admin_url`` for admins."""

    url: str
    count: int
    label: str
    active: bool
    admin_url: str | None = None
    admin_active: bool = False


def unread(principal: Principal) -> int:
    """The user's unread notifications: counted by the page's read session already
    (``context.ui_session``), else one COUNT on a read-only connection of its own (no principal
    reload)."""
    if "unread" in g:
        return g.unread
    crm = get_trellis()
    with read_only(crm.engine) as connection:
        return inbox.unread_count(Session(crm, connection, principal, "web"))


def bell() -> dict[str, Any]:
    """``bell`` for base.html (None when nobody is logged in)."""
    if not current_user.is_authenticated:
        return {"bell": None}
    if "bell" not in g:
        principal = context._principal()
        if principal is None:
            return {"bell": None}
        count = unread(principal)
        admin = principal.has("manage_config")
        g.bell = Bell(
            url_for("notifications.show"),
            count,
            t("notifications.bell", count=count) if count else t("notifications.bell_none"),
            request.endpoint == "notifications.show",
            url_for("automation_admin.show") if admin else None,
            request.endpoint == "automation_admin.show",
        )
    return {"bell": g.bell}


# --- the page -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotificationView:
    """One notification as the page shows it; ``url`` only when the user may open the record."""

    id: int
    title: str
    body: str
    when: str
    iso: str
    url: str | None
    unread: bool
    read_url: str


def show() -> str:
    """The user's notifications, newest first (``?unread=1``: only the unread ones)."""
    fmt = formatter()
    only_unread = request.args.get("unread") == "1"
    number = page_number(request.args.get("page"))
    with ui_session() as session:
        found = inbox.page(session, only_unread, number, PER_PAGE)
        links = inbox.readable(session, found.items)
        count = inbox.unread_count(session)
    items = [
        NotificationView(
            n.id,
            n.title,
            n.body,
            fmt.moment(n.created_at),
            n.created_at.isoformat(),
            _link(n, links),
            n.read_at is None,
            url_for("notifications.read_one", notification_id=n.id),
        )
        for n in found.items
    ]
    here = _url(only_unread, found.page)
    return render_page(
        "notifications.html",
        None,
        items=items,
        unread_count=count,
        only_unread=only_unread,
        here=here,
        all_url=_url(False, 1),
        unread_url=_url(True, 1),
        newer_url=_url(only_unread, found.page - 1) if found.page > 1 else None,
        older_url=_url(only_unread, found.page + 1) if found.has_next else None,
        page_number=found.page,
    )


def page_number(raw: str | None) -> int:
    """``?page=`` as a number from 1 (anything else is page 1)."""
    return int(raw) if raw and raw.isdigit() and len(raw) < 6 and int(raw) > 0 else 1


def _url(only_unread: bool, page: int) -> str:
    args = {k: v for k, v in (("unread", "1" if only_unread else None), ("page", page if page > 1 else None)) if v}
    return url_for("notifications.show", **args)


def read_one(notification_id: int) -> Response:
    """Mark one notification read; 404 when it is not the user's."""
    with ui_session() as session:
        if inbox.get(session, notification_id) is None:
            abort(404)
        inbox.mark_read(session, notification_id)
    flash(t("notifications.marked"), "info")
    return redirect(local_path(request.form.get("next")) or url_for("notifications.show"))


def read_all() -> Response:
    """Mark every notification of the user read."""
    with ui_session() as session:
        count = inbox.mark_read(session)
    flash(plural("notifications.marked_all", count), "info")
    return redirect(local_path(request.form.get("next")) or url_for("notifications.show"))


ROUTES = (
    ("/notifications", show, ["GET"]),
    ("/notifications/<int:notification_id>/read", read_one, ["POST"]),
    ("/notifications/read", read_all, ["POST"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The notification routes; also gives templates ``bell``."""
    app.context_processor(bell)
    blueprint = Blueprint("notifications", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint


def _link(n: Notification, links: set[tuple[str, int]]) -> str | None:
    """Where a notification leads: its record when the user may open it; a retention request's
    (``retention_requests.NOTIFY_RULE``) to the approvals page."""
    if n.rule == retention_requests.NOTIFY_RULE:
        return url_for("pipeline.inbox", _anchor="retention-h")
    if (n.object, n.record_id) in links:
        return url_for("records.show", object_name=n.object, record_id=n.record_id)
    return None
