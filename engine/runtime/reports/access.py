"""Which reports a session may open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.metadata.model import Config, Report
from engine.runtime.errors import TrellisError
from engine.runtime.messages import current_language, message

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.security.permissions import Principal


class ReportNotFound(TrellisError):
    """No report of that name, or one the caller may not open (the same answer: a 404)."""

    code = "report_not_found"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(message(self.code, current_language(), name=name))


def may_open(principal: Principal, report: Report) -> bool:
    """Whether ``principal`` may open ``report``: they may read some records of the report's
    object and, when the report names ``roles``, hold one of them (the system may)."""
    if principal.is_system:
        return True
    if principal.grant(report.object).read == "none":
        return False
    return not report.roles or any(role in principal.roles for role in report.roles)


def reports_for(config: Config, principal: Principal) -> list[Report]:
    """The reports of ``config`` that ``principal`` may open, in the config's order (no database)."""
    return [r for r in config.reports.values() if may_open(principal, r)]


def available(session: Session) -> list[Report]:
    """The reports the session may open, in the config's order."""
    return reports_for(session.config, session.principal)


def report_for(session: Session, name: str) -> Report:
    """The report ``name`` if the session may open it; else ``ReportNotFound``."""
    report = session.config.reports.get(name)
    if report is None or not may_open(session.principal, report):
        raise ReportNotFound(name)
    return report
