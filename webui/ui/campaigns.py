"""Campaigns in the web UI (issue 16 §3, S30): the Start button and results on a campaign's page,
a record's engagement events, and the tracking links of campaign e-mails.

- ``campaign_panel(view)`` (templates, ``_campaign_panel.html``): on a campaign's page, Start
  (a draft the user may edit) and the results (``engine.runtime.campaigns.results``, read as
  the user);
- ``engagement_panel(view)`` (``_engagement.html``): on a record of an object without a timeline
  that has engagement events, the latest with their campaigns, in the user's language and time
  zone (with a timeline they are its entries: ``webui.ui.timeline``, no second display);
  ``event_detail`` is what an event adds to its kind, on both;
- ``start`` (POST ``/o/campaign/<id>/start``): ``start_campaign`` as the user; a refusal is shown
  on the page, per field;
- ``/t/o/<token>`` (open pixel), ``/t/c/<token>`` (a link: redirect to that link of that
  e-mail), ``/t/u/<token>`` (unsubscribe: a GET asks, a POST — the page's button or a mail
  program's RFC 8058 one-click POST — unsubscribes): no login, no CSRF token (the signed token
  is the secret); a bad or forged token is a plain 404 and nothing is recorded.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, g, redirect, request, url_for

from engine.metadata.campaigns import CAMPAIGN_OBJECT
from engine.runtime.campaigns import engaging
from engine.runtime.campaigns.results import campaign_results
from engine.runtime.campaigns.starting import start_campaign
from engine.runtime.errors import ValidationFailed
from engine.runtime.workflow.engagement import events_of
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui import display
from webui.ui.context import formatter, t, ui_session
from webui.ui.views import _require_login, render_page

#: The 1×1 transparent GIF of the open pixel.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@dataclass(frozen=True)
class CampaignPanel:
    """A campaign page's Start button (``start_url`` when it may be started) and its figures."""

    start_url: str | None
    figures: list[tuple[str, str]]


@dataclass(frozen=True)
class EventEntry:
    """One engagement event as a person reads it."""

    kind: str
    when: str
    iso: str
    campaign: str
    detail: str


def campaign_panel(view: display.RecordView) -> CampaignPanel | None:
    """The campaign page's panel, or None on other pages."""
    if view.obj.name != CAMPAIGN_OBJECT or g.get("principal") is None:
        return None
    fmt = formatter()
    with ui_session() as session:
        results = campaign_results(session, view.record.id)
    figures = [(t(f"campaigns.figure.{name}"), _figure(fmt, name, value)) for name, value in results.figures()]
    draft = view.record.get("status") == "draft" and view.can_edit
    start = url_for("campaigns.start", record_id=view.record.id) if draft else None
    return CampaignPanel(start, figures)


def _figure(fmt: Formatter, name: str, value: Any) -> str:
    if name == "won_amount":
        return fmt.money(value) if value is not None else "—"
    return fmt.number(value)


def engagement_panel(view: display.RecordView) -> list[EventEntry]:
    """The record's latest engagement events (none: the panel is not shown; nor on an object
    with a timeline, where they are timeline entries)."""
    if g.get("principal") is None or view.obj.timeline:
        return []
    fmt = formatter()
    with ui_session() as session:
        events = events_of(session, view.obj.name, view.record.id)
    return [
        EventEntry(
            t(f"campaigns.event.{e.kind}"),
            fmt.moment(e.at),
            e.at.isoformat(),
            e.campaign_name or "",
            event_detail(e.data, fmt.lang),
        )
        for e in events
    ]


def event_detail(data: dict[str, Any], lang: str) -> str:
    """What an event adds to its kind: a click's link, a reported event's name, a received
    e-mail's subject, a bounced address, a web form's title and where its visitor came from."""
    if data.get("form"):
        form = get_trellis().config.forms.get(data["form"])
        title = form.label.get(lang) if form is not None else str(data["form"])
        return " · ".join(str(part) for part in (title, data.get("utm_source")) if part)
    return str(data.get("url") or data.get("name") or data.get("subject") or data.get("address") or "")


def start(record_id: int) -> Response:
    """Start the campaign (POST from its page's button)."""
    page = url_for("records.show", object_name=CAMPAIGN_OBJECT, record_id=record_id)
    fmt = formatter()
    try:
        with ui_session() as session:
            started = start_campaign(session, record_id)
    except ValidationFailed as exc:
        for field, problems in exc.errors.items():
            label = _field_label(field)
            for problem in problems:
                flash(f"{label}: {problem.message}" if label else problem.message, "error")
        return redirect(page)
    flash(
        t(
            "campaigns.started",
            count=fmt.number(started.queued),
            first=fmt.moment(started.first_at),
            last=fmt.moment(started.last_at),
            suppressed=fmt.number(started.suppressed),
        ),
        "info",
    )
    return redirect(page)


def _field_label(name: str) -> str:
    obj = get_trellis().config.objects[CAMPAIGN_OBJECT]
    f = obj.fields.get(name)
    return f.label.get(formatter().lang) if f is not None else ""


# --- the links of the e-mails ----------------------------------------------------------------------
def opened(token: str) -> Response:
    """The open pixel: record the open, answer a 1×1 GIF that is never cached."""
    if not engaging.track_open(get_trellis(), token):
        abort(404)
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, max-age=0"
    return response


def clicked(token: str) -> Response:
    """A tracked link: record the click, send the reader on to the link of their e-mail."""
    target = engaging.track_click(get_trellis(), token)
    if target is None:
        abort(404)
    response = redirect(target, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def leave(token: str) -> str:
    """Unsubscribe: a GET asks (mail scanners follow links), a POST unsubscribes."""
    crm = get_trellis()
    if request.method == "POST":
        done = engaging.unsubscribe(crm, token)
        if done is None:
            abort(404)
        return render_page("campaign_unsubscribe.html", None, company=done.company, done=True)
    company = engaging.unsubscribe_valid(crm, token)
    if company is None:
        abort(404)
    return render_page("campaign_unsubscribe.html", None, company=company, done=False)


def create_blueprints(app: Flask) -> tuple[Blueprint, Blueprint]:
    """The campaign routes (logged in) and the tracking links (no login, exempt from CSRF);
    makes ``campaign_panel`` and ``engagement_panel`` available to templates."""
    app.jinja_env.globals["campaign_panel"] = campaign_panel
    app.jinja_env.globals["engagement_panel"] = engagement_panel
    pages = Blueprint("campaigns", __name__)
    pages.before_request(_require_login)
    pages.add_url_rule(f"/o/{CAMPAIGN_OBJECT}/<int:record_id>/start", "start", start, methods=["POST"])
    links = Blueprint("tracking", __name__)
    links.add_url_rule("/t/o/<token>", "opened", opened, methods=["GET"])
    links.add_url_rule("/t/c/<token>", "clicked", clicked, methods=["GET"])
    links.add_url_rule("/t/u/<token>", "leave", leave, methods=["GET", "POST"])
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(links)
    return pages, links
