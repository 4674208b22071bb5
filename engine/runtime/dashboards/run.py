"""Running a dashboard: its filters, then every widget as the viewer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.model import Dashboard
from engine.runtime import reports
from engine.runtime.dashboards.access import dashboard_for
from engine.runtime.dashboards.widgets import RUNNERS, WidgetResult

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class DashboardResult:
    """A dashboard run for one viewer: its title and description in their language, the
    filters applied (``filters``: ``period``, ``owner``, ``team`` as given, empty for none;
    ``overrides``: the same, parsed) and the widgets they may see, in the grid's order."""

    dashboard: Dashboard
    title: str
    description: str
    filters: Mapping[str, str]
    overrides: reports.Overrides
    widgets: tuple[WidgetResult, ...]

    @property
    def name(self) -> str:
        """The dashboard's name in the config."""
        return self.dashboard.name


def filters_for(dashboard: Dashboard, asked: Mapping[str, str | None]) -> dict[str, str]:
    """The filters of a run: for each filter the dashboard offers, the value asked (``None``:
    not asked, so the dashboard's default; empty: none), as request parameters; a filter it does
    not offer is not applied."""
    defaults = {"period": dashboard.filters.period, "owner": dashboard.filters.owner, "team": None}
    out = {}
    for name in dashboard.filters.offered:
        value = asked.get(name)
        out[name] = (defaults[name] or "") if value is None else value
    return out


def run_dashboard(
    session: Session, name: str, asked: Mapping[str, str | None] | None = None, language: str = "en"
) -> DashboardResult:
    """Run the dashboard ``name`` as the session's principal for a reader of ``language``, with
    the filters ``asked`` (``filters_for``) applied to every report widget. ``DashboardNotFound``
    when they may not open it, a ``QueryError`` for a bad filter value."""
    dashboard = dashboard_for(session, name)
    filters = filters_for(dashboard, asked or {})
    overrides = reports.Overrides.parse(filters.get("period"), filters.get("owner"), filters.get("team"))
    found = (RUNNERS[w.kind].run(session, w, overrides, language) for w in dashboard.widgets)
    return DashboardResult(
        dashboard=dashboard,
        title=dashboard.label.get(language),
        description=dashboard.description.get(language) if dashboard.description else "",
        filters=filters,
        overrides=overrides,
        widgets=tuple(w for w in found if w is not None),
    )


def team_choices(session: Session) -> list[tuple[int, str]]:
    """The teams a team filter offers: ``(id, label)`` by name (the label, else the name)."""
    teams = session.schema.system["sys_teams"]
    rows = session.connection.execute(sa.select(teams.c.id, teams.c.name, teams.c.label).order_by(teams.c.name))
    return [(row.id, row.label or row.name) for row in rows]
