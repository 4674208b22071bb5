"""Reports (issue 15): the reports of the config, computed in SQL under the viewer's permissions.

- ``access``: which reports a session may open (``available``, ``report_for``: the read grant
  on the object and, when the report names ``roles``, one of them; any other is ``ReportNotFound``);
- ``result``: what a run returns (``ReportResult``: groups with labels and raw keys, figures
  formatted and raw, totals, the list filter of every cell, the measures left out);
- ``kinds``: one runner per report kind (``RUNNERS``; ``grouped`` in ``grouped``, ``funnel`` in
  ``funnel``: figures per stage from the stage history, ``cycle_time`` in ``cycle_time``: days
  to won or lost), the runtime half of
  ``engine.metadata.reports.REPORT_KINDS``;
- ``labels``: group keys as people read them (picklist labels in their order, users' names,
  lookup titles read as the viewer, yes/no, date buckets);
- ``drill``: the list filter that reproduces a figure (the drill-down);
- ``export``: a result as CSV or Excel, with the export writers of ``engine.runtime.exports``.

``run(session, name, period=…, owner=…, team=…)`` runs a report as the session's principal:
every query goes through ``Query`` (scope, filters, hidden fields), so a report counts exactly
the records its viewer may read.
"""

from __future__ import annotations

from engine.runtime.reports.access import ReportNotFound, available, report_for
from engine.runtime.reports.kinds import Overrides, run
from engine.runtime.reports.result import ReportRefused, ReportResult

__all__ = ["Overrides", "ReportNotFound", "ReportRefused", "ReportResult", "available", "report_for", "run"]
