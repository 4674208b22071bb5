"""One runner per report kind (the runtime half of ``engine.metadata.reports.REPORT_KINDS``),
the overrides a dashboard or a request gives a run, and ``run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.filters import PERIODS, split_key
from engine.metadata.kinds import Kinds
from engine.metadata.model import Report
from engine.runtime.errors import QueryError
from engine.runtime.messages import current_language, message
from engine.runtime.reports.access import report_for
from engine.runtime.reports.result import ReportResult

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class Overrides:
    """What a run narrows beyond the report's filter (a dashboard's or a request's filters):
    ``period`` a relative range of the report's ``period_field`` (replacing the report's filter
    on that field); ``owner`` as a list's ``owner`` parameter (``me``, ``team`` or a user id);
    ``team`` a team id (records owned by its members). They narrow the viewer's scope, never
    widen it."""

    period: str | None = None
    owner: str | None = None
    team: int | None = None

    @classmethod
    def parse(cls, period: str | None = None, owner: str | None = None, team: str | None = None) -> Overrides:
        """Overrides from request parameters (empty is absent); a bad one is a ``QueryError``."""
        language = current_language()
        if period and period not in PERIODS:
            raise QueryError(message("report_bad_period", language, periods=", ".join(PERIODS), value=period[:40]))
        if owner and not (owner in ("me", "team") or (owner.isdigit() and len(owner) < 19)):
            raise QueryError(message("bad_owner", language, value=owner[:40]))
        if team and not (team.isdigit() and len(team) < 19):
            raise QueryError(message("report_bad_team", language, value=team[:40]))
        return cls(period or None, owner or None, int(team) if team else None)

    def params(self, session: Session, report: Report) -> dict[str, str]:
        """The report's filter with these overrides, as list parameters."""
        params = dict(report.filter)
        if self.period:
            params = {k: v for k, v in params.items() if split_key(k)[0] != report.period_field}
            params[report.period_field] = self.period
        if self.owner or self.team is not None:
            params = {k: v for k, v in params.items() if split_key(k)[0] != "owner_id"}
        if self.owner:
            params["owner"] = self.owner
        if self.team is not None:
            members = _team_members(session, self.team)
            if members:
                params["owner_id__in"] = ",".join(str(i) for i in members)
            else:  # a team without members (or none of that id) owns no record
                params["id__isnull"] = "true"
        return params


def _team_members(session: Session, team_id: int) -> list[int]:
    users = session.schema.system["sys_users"]
    rows = session.connection.execute(sa.select(users.c.id).where(users.c.team_id == team_id).order_by(users.c.id))
    return [row.id for row in rows]


@dataclass(frozen=True)
class ReportRunner:
    """How one report kind runs: ``(session, report, overrides, language)`` → the result."""

    name: str
    run: Callable[[Session, Report, Overrides, str], ReportResult]


#: The runners, by report kind.
RUNNERS: Kinds[ReportRunner] = Kinds("report runner")


def run(session: Session, name: str, overrides: Overrides | None = None, language: str = "en") -> ReportResult:
    """Run the report ``name`` as the session's principal for a reader of ``language``.
    ``ReportNotFound`` when they may not open it, ``ReportRefused`` when it reads a field
    hidden from them, a ``QueryError`` for a bad override."""
    report = report_for(session, name)
    return RUNNERS[report.kind].run(session, report, overrides or Overrides(), language)


from engine.runtime.reports import (  # noqa: E402  (the runners of the kinds)
    completeness,
    conversion,
    cycle_time,
    forecast,
    funnel,
    grouped,
)

RUNNERS.register(ReportRunner("grouped", grouped.run_grouped))
RUNNERS.register(ReportRunner("funnel", funnel.run_funnel))
RUNNERS.register(ReportRunner("cycle_time", cycle_time.run_cycle_time))
RUNNERS.register(ReportRunner("completeness", completeness.run_completeness))
RUNNERS.register(ReportRunner("forecast", forecast.run_forecast))
RUNNERS.register(ReportRunner("conversion", conversion.run_conversion))
