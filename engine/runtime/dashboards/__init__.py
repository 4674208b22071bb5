"""Dashboards (issue 15 §4): the dashboards of the config, run as their viewer.

- ``access``: which dashboards a principal may open (``available``, ``dashboard_for``: any other
  is ``DashboardNotFound``) and which one is their home (``home_for``: the first whose ``roles``
  hold one of theirs, else the default one, else none);
- ``widgets``: what a widget shows (``WidgetResult``: a report's result, a KPI's and the period
  before, a built-in's items and counts, or why a report is refused) and one runner per widget
  kind (``RUNNERS``, the runtime half of ``engine.metadata.dashboards.WIDGET_KINDS``);
- ``run``: the dashboard's filters (``filters_for``: the request's, else the dashboard's defaults,
  only those it offers) and ``run_dashboard``: every widget as the viewer, the filters applied to
  every report (``engine.runtime.reports.Overrides``); a widget whose report the viewer may not
  open is left out, one that reads a field hidden from them says so, without a figure.

Every read goes through the read path (``Query``, ``reports.run``, the task list, the approvals
inbox, the notifications inbox) as the session's principal.
"""

from __future__ import annotations

from engine.runtime.dashboards.access import DashboardNotFound, available, dashboard_for, home_for, may_open
from engine.runtime.dashboards.run import DashboardResult, filters_for, run_dashboard
from engine.runtime.dashboards.widgets import Item, WidgetResult

__all__ = [
    "DashboardNotFound",
    "DashboardResult",
    "Item",
    "WidgetResult",
    "available",
    "dashboard_for",
    "filters_for",
    "home_for",
    "may_open",
    "run_dashboard",
]
