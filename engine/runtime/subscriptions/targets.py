"""What a subscription sends, rendered for its recipient: one ``Target`` per target kind (the
runtime half of ``engine.metadata.subscriptions.TARGETS``), registered in ``RENDERERS``.

A target renders as a ``Section``: a title, the period it covers, notes, one or more tables of
figures already formatted for the reader (an e-mail holds tables, not SVG) and the path of its
page in the web UI. ``report`` runs the report through ``engine.runtime.reports.run`` as the
session's principal, so the figures are exactly those its recipient would see on the page.
``dashboard`` (registered by ``dashboard_target``, which the package imports) runs a dashboard
as the recipient, a table per widget.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.metadata.filters import PERIODS
from engine.metadata.kinds import Kinds
from engine.metadata.model import Config
from engine.runtime import periods, reports
from engine.runtime.messages import message
from engine.runtime.records.present import date_text
from engine.runtime.reports.access import may_open
from engine.runtime.reports.result import ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.security.permissions import Principal


@dataclass(frozen=True)
class Table:
    """One table of figures: ``headings``, ``rows`` of texts and the ``total`` row (or None)."""

    caption: str
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None = None
    #: How many leading columns name the group (the rest are figures, aligned right).
    labels: int = 1


@dataclass(frozen=True)
class Section:
    """A target rendered for one reader."""

    title: str
    period: str | None
    notes: tuple[str, ...]
    tables: tuple[Table, ...]
    #: The page in the web UI, from its root: ``/reports/by_source?period=this_month``.
    path: str
    #: The message key of the link to that page ("Open the report in Trellis").
    open_text: str = "subscription.open"


@dataclass(frozen=True)
class Target:
    """A target kind at run time: its ``title`` in a language (None when the config no longer
    has it), whether a principal ``may_open`` it, and ``render`` (raises ``Unavailable``)."""

    name: str
    title: Callable[[Config, str, str], str | None]
    may_open: Callable[[Config, Principal, str], bool]
    render: Callable[[Session, str, reports.Overrides, str], Section]


class Unavailable(Exception):
    """The target cannot be sent to this reader: ``reason`` is a reason code
    (``engine.runtime.subscriptions.REASONS``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: The target kinds at run time, by name.
RENDERERS: Kinds[Target] = Kinds("subscription target")


# --- report ---------------------------------------------------------------------------------------
def _report_title(config: Config, name: str, language: str) -> str | None:
    report = config.reports.get(name)
    return report.label.get(language) if report is not None else None


def _report_may_open(config: Config, principal: Principal, name: str) -> bool:
    report = config.reports.get(name)
    return report is not None and may_open(principal, report)


def _render_report(session: Session, name: str, overrides: reports.Overrides, language: str) -> Section:
    """The report as ``session``'s principal sees it (``Unavailable`` when they may not open it,
    or it reads a field hidden from them)."""
    try:
        result = reports.run(session, name, overrides, language)
    except reports.ReportNotFound:
        raise Unavailable("not_allowed") from None
    except reports.ReportRefused:
        raise Unavailable("refused") from None
    query = {k: str(v) for k, v in (("period", overrides.period), ("owner", overrides.owner)) if v}
    if overrides.team is not None:
        query["team"] = str(overrides.team)
    path = f"/reports/{urllib.parse.quote(name)}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    return Section(
        result.title, _period(session, result, language), result.notes, (report_table(result, language),), path
    )


def report_table(result: ReportResult, language: str) -> Table:
    """The report's groups (every level a column) and figures, then its total."""
    headings = (*(c.label for c in result.levels), *(c.label for c in result.measures))
    rows = tuple((*(k.label for k in row.keys), *(_text(row, m.key) for m in result.measures)) for row in result.rows)
    levels = len(result.levels)
    total_label = (message("subscription.total", language), *[""] * (levels - 1)) if levels else ()
    total = (*total_label, *(_text(result.total, m.key) for m in result.measures))
    return Table(result.title, headings, rows, total, labels=levels)


def _text(row: Row, measure: str) -> str:
    figure = row.figure(measure)
    return "—" if figure is None or figure.value is None else figure.text


def _period(session: Session, result: ReportResult, language: str) -> str | None:
    """The relative period the report covers, as people read it: ``This month (2026-04-01 –
    2026-04-30)``; None when its filter names none."""
    name = result.params.get(result.report.period_field)
    if name not in PERIODS:
        return None
    settings = session.config.settings
    start, end = periods.period_range(name, session.clock().today())
    last = end - dt.timedelta(days=1)
    span = (
        date_text(start, settings) if last == start else f"{date_text(start, settings)} – {date_text(last, settings)}"
    )
    return f"{message(f'period.{name}', language)} ({span})"


RENDERERS.register(Target("report", _report_title, _report_may_open, _render_report))


def title_of(config: Config, kind: str, name: str, language: str) -> str:
    """The title of a target as people read it (its name when the config no longer has it)."""
    target = RENDERERS.get(kind)
    found = target.title(config, name, language) if target is not None else None
    return found or name


def query_of(filters: Mapping[str, object]) -> dict[str, str]:
    """Stored filters as request parameters (empty ones left out)."""
    return {k: str(v) for k, v in filters.items() if v not in (None, "")}
