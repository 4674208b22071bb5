"""E-mail subscriptions in the web UI (issue 15 §4, S45).

HTTP and view models only: storing, scheduling and sending are ``engine.runtime.subscriptions``'.

- ``subscribe`` (POST ``/reports/<name>/subscribe``, CSRF): the "Subscribe by e-mail" form of a
  report's page — how often (daily, weekly, monthly), the weekday or day of the month, the time
  (company time zone) — with the page's period and owner; then the user's subscriptions. A bad
  value is the report's form again with the message (400); a report they may not open is 404;
  ``subscribe_dashboard`` (POST ``/dashboards/<name>/subscribe``) the same on a dashboard's page;
- ``mine`` (``/subscriptions``): the user's subscriptions — their own and the config's rules they
  receive — what, when, narrowed how, the next time, the last sent and why the last was not
  sent; each with Unsubscribe (POST ``/subscriptions/<id>/unsubscribe``);
- ``leave`` (``/subscriptions/unsubscribe/<token>``, no login): the e-mail's unsubscribe link.
  A GET shows what it ends and a button (mail scanners follow links; only the POST ends it).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, flash, redirect, request, url_for

from engine.metadata.schedules import FREQUENCIES, WEEKDAYS
from engine.runtime.subscriptions import store
from engine.runtime.subscriptions.targets import query_of, title_of
from engine.runtime.subscriptions.words import filters_text, reason_text, schedule_text
from webui.state import get_trellis
from webui.ui.context import formatter, language, t, ui_session
from webui.ui.views import _require_login, render_page


@dataclass(frozen=True)
class SubscriptionView:
    """One row of the user's subscriptions page."""

    id: int
    title: str
    url: str
    schedule: str
    filters: str
    next_run: str
    last_sent: str
    note: str
    #: The config's rule it comes from (None: the user's own).
    rule: str | None
    unsubscribe_url: str


@dataclass(frozen=True)
class ScheduleForm:
    """The choices of the "Subscribe by e-mail" form."""

    frequencies: list[tuple[str, str]]
    weekdays: list[tuple[str, str]]
    days: list[int]


def schedule_form() -> ScheduleForm:
    """The form's choices in the user's language (``report.html`` includes the form)."""
    return ScheduleForm(
        [(f, t(f"subscriptions.{f}")) for f in FREQUENCIES],
        [(w, t(f"weekday.{w}")) for w in WEEKDAYS],
        list(range(1, 32)),
    )


#: The page of each kind of target (its endpoint, taking ``name``).
PAGES = {"report": "reports.show", "dashboard": "dashboards.show"}


def subscribe(name: str) -> Response | tuple[str, int]:
    """Subscribe the user to the report ``name`` from its page's form."""
    return _subscribe("report", name)


def subscribe_dashboard(name: str) -> Response | tuple[str, int]:
    """Subscribe the user to the dashboard ``name`` from its page's form."""
    return _subscribe("dashboard", name)


def _subscribe(kind: str, name: str) -> Response | tuple[str, int]:
    form = request.form
    frequency = form.get("frequency", "")
    day = form.get("weekday", "") if frequency == "weekly" else form.get("day", "")
    try:
        with ui_session() as session:
            schedule = store.form_schedule(frequency, day, form.get("time", ""))
            store.subscribe(session, kind, name, schedule, form.get("period", ""), form.get("owner", ""))
    except store.SubscriptionNotFound:
        abort(404)
    except store.BadSubscription as exc:
        return render_page("error.html", None, status=400, message=str(exc)), 400
    flash(t("subscriptions.added", schedule=schedule_text(schedule, language())), "info")
    return redirect(url_for("subscriptions.mine"))


def mine() -> str:
    """The user's subscriptions."""
    lang, fmt = language(), formatter()
    config = get_trellis().config
    with ui_session() as session:
        found = store.mine(session)
    items = [
        SubscriptionView(
            s.id,
            title_of(config, s.target_kind, s.target, lang),
            url_for(PAGES.get(s.target_kind, "reports.show"), name=s.target, **query_of(s.filters)),
            schedule_text(s.schedule, lang),
            filters_text(s.filters, lang),
            fmt.moment(s.next_run_at),
            fmt.moment(s.last_sent_at) if s.last_sent_at else "",
            reason_text(s.last_reason, lang) if s.last_status != "sent" else "",
            s.rule,
            url_for("subscriptions.unsubscribe", subscription_id=s.id),
        )
        for s in found
    ]
    return render_page("subscriptions.html", None, items=items)


def unsubscribe(subscription_id: int) -> Response:
    """End one of the user's subscriptions (404 when it is not theirs)."""
    with ui_session() as session:
        if not store.unsubscribe(session, subscription_id):
            abort(404)
    flash(t("subscriptions.removed"), "info")
    return redirect(url_for("subscriptions.mine"))


def leave(token: str) -> Response | str:
    """The unsubscribe link of an e-mail: what it ends and a button (GET), the end (POST)."""
    crm = get_trellis()
    found = store.by_token(crm, token)
    if found is None:
        return render_page("unsubscribe.html", None, title=None, schedule=None, done=False)
    lang = language()
    title = title_of(crm.config, found.target_kind, found.target, lang)
    schedule = schedule_text(found.schedule, lang)
    if request.method == "POST":
        store.unsubscribe_token(crm, token)
        return render_page("unsubscribe.html", None, title=title, schedule=schedule, done=True)
    return render_page("unsubscribe.html", None, title=title, schedule=schedule, done=False)


ROUTES = (
    ("/reports/<name>/subscribe", subscribe, ["POST"]),
    ("/dashboards/<name>/subscribe", subscribe_dashboard, ["POST"]),
    ("/subscriptions", mine, ["GET"]),
    ("/subscriptions/<int:subscription_id>/unsubscribe", unsubscribe, ["POST"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The subscription routes (the unsubscribe link needs no login)."""
    blueprint = Blueprint("subscriptions", __name__)

    @blueprint.before_request
    def _login_except_the_link() -> Response | None:
        return None if request.endpoint == "subscriptions.leave" else _require_login()

    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    blueprint.add_url_rule("/subscriptions/unsubscribe/<token>", "leave", leave, methods=["GET", "POST"])
    return blueprint
