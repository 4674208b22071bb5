"""The ``dashboard`` subscription target: a dashboard by e-mail, rendered for its recipient.

A dashboard runs as the recipient (``engine.runtime.dashboards.run_dashboard``) with the
subscription's filters as the dashboard's filters (those it does not offer are not applied;
one not given keeps the dashboard's default). Each widget becomes one table of the e-mail: a
report widget its groups and total, a key figure its value against the previous period, a
built-in widget its lines (a task and its due date, an approval and who asked). Widgets the
recipient may not see are left out, as on the page; a refused one says why.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import TYPE_CHECKING

from engine.metadata.model import Config
from engine.runtime import dashboards
from engine.runtime.dashboards.widgets import Item, WidgetResult
from engine.runtime.messages import message
from engine.runtime.records.present import date_text, moment_text
from engine.runtime.subscriptions.targets import RENDERERS, Section, Table, Target, Unavailable, report_table

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.reports import Overrides
    from engine.runtime.security.permissions import Principal


def _title(config: Config, name: str, language: str) -> str | None:
    dashboard = config.dashboards.get(name)
    return dashboard.label.get(language) if dashboard is not None else None


def _may_open(config: Config, principal: Principal, name: str) -> bool:
    dashboard = config.dashboards.get(name)
    return dashboard is not None and dashboards.may_open(principal, dashboard)


def _render(session: Session, name: str, overrides: Overrides, language: str) -> Section:
    """The dashboard as ``session``'s principal sees it (``Unavailable`` when they may not open it)."""
    asked = {"period": overrides.period, "owner": overrides.owner}
    if overrides.team is not None:
        asked["team"] = str(overrides.team)
    try:
        result = dashboards.run_dashboard(session, name, {k: v for k, v in asked.items() if v}, language)
    except dashboards.DashboardNotFound:
        raise Unavailable("not_allowed") from None
    tables = tuple(t for t in (_widget_table(session, w, language) for w in result.widgets) if t is not None)
    query = {k: v for k, v in result.filters.items() if v}
    path = f"/dashboards/{urllib.parse.quote(name)}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    period = result.filters.get("period")
    span = message(f"period.{period}", language) if period else None
    notes = tuple(f"{w.title}: {w.refused}" for w in result.widgets if w.refused)
    return Section(result.title, span, notes, tables, path, open_text="subscription.open_dashboard")


def _widget_table(session: Session, widget: WidgetResult, language: str) -> Table | None:
    """One widget as a table of texts (None for a refused one: the notes say why)."""
    if widget.refused:
        return None
    if widget.report is not None and widget.kind == "kpi":
        return _kpi_table(widget, language)
    if widget.report is not None:
        table = report_table(widget.report, language)
        return Table(widget.title, table.headings, table.rows, table.total, table.labels)
    rows = tuple((item.title, item.detail, _when(session, item)) for item in widget.items)
    if not rows:
        rows = ((message("subscription.dashboard.nothing", language), "", ""),)
    headings = tuple(message(f"subscription.dashboard.{k}", language) for k in ("item", "detail", "when"))
    return Table(widget.title, headings, rows, None, labels=3)


def _kpi_table(widget: WidgetResult, language: str) -> Table:
    """A key figure: its main measure's total now and in the previous period."""
    assert widget.report is not None
    measure = widget.report.measures[0] if widget.report.measures else None
    now = widget.report.total.figure(measure.key) if measure else None
    before = widget.previous.total.figure(measure.key) if widget.previous is not None and measure else None
    headings: tuple[str, ...] = (
        message("subscription.dashboard.figure", language),
        message("subscription.dashboard.now", language),
    )
    row: tuple[str, ...] = (measure.label if measure else "", now.text if now and now.value is not None else "—")
    if widget.previous is not None:
        headings += (message("subscription.dashboard.before", language),)
        row += (before.text if before and before.value is not None else "—",)
    return Table(widget.title, headings, (row,), None, labels=1)


def _when(session: Session, item: Item) -> str:
    settings = session.config.settings
    if isinstance(item.when, dt.datetime):
        return moment_text(item.when, settings)
    if isinstance(item.when, dt.date):
        return date_text(item.when, settings)
    return ""


RENDERERS.register(Target("dashboard", _title, _may_open, _render))
