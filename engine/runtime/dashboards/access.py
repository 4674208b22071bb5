"""Which dashboards a principal may open, and which one is their home page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.metadata.model import Config, Dashboard
from engine.runtime.errors import TrellisError
from engine.runtime.messages import current_language, message

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.security.permissions import Principal


class DashboardNotFound(TrellisError):
    """No dashboard of that name, or one the caller may not open (the same answer: a 404)."""

    code = "dashboard_not_found"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(message(self.code, current_language(), name=name[:80]))


def may_open(principal: Principal, dashboard: Dashboard) -> bool:
    """Whether ``principal`` may open ``dashboard``: it names no ``roles``, names one of theirs,
    or is the default (everyone's). Each widget still shows only what they may read."""
    if principal.is_system or dashboard.default or not dashboard.roles:
        return True
    return any(role in principal.roles for role in dashboard.roles)


def dashboards_for(config: Config, principal: Principal) -> list[Dashboard]:
    """The dashboards of ``config`` that ``principal`` may open, in the config's order (no database)."""
    return [d for d in config.dashboards.values() if may_open(principal, d)]


def home_for(config: Config, principal: Principal) -> Dashboard | None:
    """The principal's home dashboard: the first whose ``roles`` hold one of theirs, else the
    default one, else None (no database)."""
    for dashboard in config.dashboards.values():
        if any(role in principal.roles for role in dashboard.roles):
            return dashboard
    return next((d for d in config.dashboards.values() if d.default), None)


def available(session: Session) -> list[Dashboard]:
    """The dashboards the session may open, in the config's order."""
    return dashboards_for(session.config, session.principal)


def dashboard_for(session: Session, name: str) -> Dashboard:
    """The dashboard ``name`` if the session may open it; else ``DashboardNotFound``."""
    dashboard = session.config.dashboards.get(name)
    if dashboard is None or not may_open(session.principal, dashboard):
        raise DashboardNotFound(name)
    return dashboard
