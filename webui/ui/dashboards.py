"""Dashboards in the web UI (issue 15 §4): the dashboards page, one dashboard's grid, the
navigation link. After login, ``views.home`` sends each user to their home dashboard.

HTTP and view models only: which dashboards a user may open, their home, the filters and every
widget's figures are ``engine.runtime.dashboards``'.

- ``/dashboards``: the dashboards the user may open (their home first);
- ``/dashboards/<name>``: the grid (12 columns; one column on a narrow screen). The filters bar
  sends ``period``, ``team`` and ``owner`` as GET parameters (those the dashboard offers; absent:
  its defaults) and they narrow every report on it; each report widget draws its chart (or its
  table), every figure linked to the record list it counts, as on the report's page, and links to
  that page with the same filters. A dashboard the user may not open is 404; a bad filter value
  is the page with the message, status 400.

One ``WidgetView`` builder per widget kind (``VIEWS``); a widget is drawn by
``dashboard_widgets/report.html`` (a chart or a table) or ``dashboard_widgets/list.html`` (items).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, Flask, abort, g, request, url_for
from flask_login import current_user

from engine.metadata.filters import PERIODS
from engine.metadata.kinds import Kinds
from engine.runtime import dashboards
from engine.runtime.dashboards.access import dashboards_for
from engine.runtime.dashboards.run import team_choices
from engine.runtime.errors import QueryError
from engine.runtime.records.session import Session
from webui.charts import Chart
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui import context
from webui.ui.context import formatter, language, t, ui_session
from webui.ui.report_charts import drill_url, report_chart
from webui.ui.reports import Cell, TableRow, figure_cell, table_rows
from webui.ui.subscriptions import ScheduleForm, schedule_form
from webui.ui.views import _require_login, render_page


@dataclass(frozen=True)
class ItemView:
    """One line of a built-in widget: its title (a link while the user may read the record),
    a detail, when, and its flag in words."""

    title: str
    url: str | None
    detail: str
    when: str
    flag: str = ""
    flag_key: str = ""


@dataclass(frozen=True)
class WidgetView:
    """One widget of the grid, ready for its template (``dashboard_widgets/<kind>.html``)."""

    kind: str
    title: str
    width: int
    #: The template drawing it: ``dashboard_widgets/<template>.html`` (``report`` or ``list``).
    template: str = "list"
    chart: Chart | None = None
    levels: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    table: list[TableRow] = field(default_factory=list)
    total: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    items: list[ItemView] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
    more_url: str | None = None
    more_label: str = ""
    refused: str | None = None
    empty: str = ""


@dataclass(frozen=True)
class DashboardPage:
    """Everything ``dashboard.html`` shows."""

    name: str
    title: str
    description: str
    offered: tuple[str, ...]
    filters: dict[str, str]
    periods: list[tuple[str, str]]
    teams: list[tuple[int, str]]
    widgets: list[WidgetView]
    #: The "Subscribe by e-mail" form's choices.
    subscribe: ScheduleForm | None = None


@dataclass(frozen=True)
class WidgetViewKind:
    """How one widget kind becomes a ``WidgetView``: ``(session, result, filters, formatter)``."""

    name: str
    build: Callable[[Session, dashboards.WidgetResult, dict[str, str], Formatter], WidgetView]


#: The view builders, by widget kind (the web half of ``engine.metadata.dashboards.WIDGET_KINDS``).
VIEWS: Kinds[WidgetViewKind] = Kinds("widget view")


def _report_view(
    session: Session, result: dashboards.WidgetResult, filters: dict[str, str], fmt: Formatter
) -> WidgetView:
    """A report, KPI or pipeline widget: the chart of its kind (or the table), linked as the
    report's page; the report's page with the same filters."""
    w = result.widget
    configured = w.report is not None
    more = url_for("reports.show", name=w.report, **{k: v for k, v in filters.items() if v}) if configured else None
    more_label = fmt.t("dashboards.open_report") if configured else ""
    if result.report is None:
        return WidgetView(w.kind, result.title, w.width, "report", refused=result.refused)  # its page refuses too
    report = result.report
    kind = result.chart
    drawn = replace(report, report=replace(report.report, chart=kind)) if kind != report.report.chart else report
    obj = session.object(report.report.object)
    chart = report_chart(drawn, obj, session.config.settings.currency, result.previous)
    if result.widget.kind == "my_pipeline":
        total = report.total.figure("count")
        more = drill_url(obj.name, total.filter) if total is not None and total.filter is not None else None
        more_label = fmt.t("dashboards.open_list")
    return WidgetView(
        w.kind,
        result.title,
        w.width,
        "report",
        chart=chart,
        levels=[c.label for c in report.levels],
        measures=[c.label for c in report.measures],
        table=table_rows(report) if chart is None else [],
        total=[figure_cell(report, f) for f in report.total.figures] if chart is None else [],
        notes=list(report.notes),
        more_url=more,
        more_label=more_label,
        empty=fmt.t("reports.no_records") if not report.rows and report.levels else "",
    )


def _when(value: Any, fmt: Formatter) -> str:
    if value is None:
        return ""
    return fmt.moment(value) if hasattr(value, "hour") else fmt.date(value)


def _items(result: dashboards.WidgetResult, fmt: Formatter, flags: str = "") -> list[ItemView]:
    return [
        ItemView(
            i.title,
            url_for("records.show", object_name=i.object, record_id=i.record_id) if i.object and i.record_id else None,
            i.detail,
            _when(i.when, fmt),
            fmt.t(f"{flags}.{i.flag}") if flags and i.flag else "",
            i.flag,
        )
        for i in result.items
    ]


def _tasks_view(session: Session, result: dashboards.WidgetResult, _: dict[str, str], fmt: Formatter) -> WidgetView:
    counts = [fmt.plural(f"dashboards.tasks.{group}", n) for group, n in result.counts.items() if n]
    return WidgetView(
        "my_tasks",
        result.title,
        result.widget.width,
        items=_items(result, fmt, "tasks"),
        counts=counts,
        more_url=url_for("timeline.my_tasks"),
        more_label=fmt.t("dashboards.all_tasks"),
        empty=fmt.t("dashboards.no_tasks"),
    )


def _approvals_view(session: Session, result: dashboards.WidgetResult, _: dict[str, str], fmt: Formatter) -> WidgetView:
    waiting = result.counts.get("waiting", 0)
    return WidgetView(
        "approvals",
        result.title,
        result.widget.width,
        items=_items(result, fmt),
        counts=[fmt.plural("dashboards.waiting", waiting)] if waiting else [],
        more_url=url_for("pipeline.inbox"),
        more_label=fmt.t("dashboards.all_approvals"),
        empty=fmt.t("dashboards.no_approvals"),
    )


def _recent_view(session: Session, result: dashboards.WidgetResult, _: dict[str, str], fmt: Formatter) -> WidgetView:
    return WidgetView(
        "recent_records",
        result.title,
        result.widget.width,
        items=_items(result, fmt),
        empty=fmt.t("dashboards.no_records"),
    )


def _notifications_view(
    session: Session, result: dashboards.WidgetResult, _: dict[str, str], fmt: Formatter
) -> WidgetView:
    unread = result.counts.get("unread", 0)
    return WidgetView(
        "notifications",
        result.title,
        result.widget.width,
        items=_items(result, fmt, "dashboards"),
        counts=[fmt.plural("dashboards.unread_count", unread)] if unread else [],
        more_url=url_for("notifications.show"),
        more_label=fmt.t("dashboards.all_notifications"),
        empty=fmt.t("dashboards.no_notifications"),
    )


for _kind in ("report", "kpi", "my_pipeline"):
    VIEWS.register(WidgetViewKind(_kind, _report_view))
VIEWS.register(WidgetViewKind("my_tasks", _tasks_view))
VIEWS.register(WidgetViewKind("approvals", _approvals_view))
VIEWS.register(WidgetViewKind("recent_records", _recent_view))
VIEWS.register(WidgetViewKind("notifications", _notifications_view))


# --- pages -------------------------------------------------------------------------------------------
def asked() -> dict[str, str | None]:
    """The filters of the request: a parameter absent is None (the dashboard's default)."""
    return {name: request.args.get(name) for name in ("period", "team", "owner")}


def index() -> str:
    """The dashboards the user may open, their home first."""
    lang = language()
    with ui_session() as session:
        found = dashboards.available(session)
        home = dashboards.home_for(session.config, session.principal)
    found.sort(key=lambda d: d is not home)
    links = [
        (
            d.label.get(lang),
            d.description.get(lang) if d.description else "",
            url_for("dashboards.show", name=d.name),
            d is home,
        )
        for d in found
    ]
    return render_page("dashboards.html", None, links=links)


def show(name: str) -> tuple[str, int]:
    """One dashboard for the user (404 when they may not open it; 400 for a bad filter)."""
    fmt = formatter()
    try:
        with ui_session(read=True) as session:
            result = dashboards.run_dashboard(session, name, asked(), fmt.lang)
            offered = result.dashboard.filters.offered
            page = DashboardPage(
                result.name,
                result.title,
                result.description,
                offered,
                dict(result.filters),
                [(p, t(f"period.{p}")) for p in PERIODS],
                team_choices(session) if "team" in offered else [],
                [VIEWS[w.kind].build(session, w, dict(result.filters), fmt) for w in result.widgets],
                schedule_form(),
            )
    except dashboards.DashboardNotFound:
        abort(404)
    except QueryError as exc:
        return render_page("error.html", None, status=400, message=str(exc)), 400
    return render_page("dashboard.html", None, view=page), 200


# --- navigation -----------------------------------------------------------------------------------
def dashboards_nav() -> dict[str, Any]:
    """``dashboards_nav`` for base.html: the Dashboards link, when the user may open one."""
    if not current_user.is_authenticated or not get_trellis().config.dashboards:
        return {"dashboards_nav": None}
    if "dashboards_nav" not in g:
        principal = context._principal()
        link = None
        if principal is not None and dashboards_for(get_trellis().config, principal):  # no database read
            link = {"url": url_for("dashboards.index"), "active": request.blueprint == "dashboards"}
        g.dashboards_nav = link
    return {"dashboards_nav": g.dashboards_nav}


ROUTES = (
    ("/dashboards", index, ["GET"]),
    ("/dashboards/<name>", show, ["GET"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The dashboard routes; also gives templates ``dashboards_nav``."""
    app.context_processor(dashboards_nav)
    blueprint = Blueprint("dashboards", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint
