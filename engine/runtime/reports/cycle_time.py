"""The ``cycle_time`` report kind: days from creation (or from ``from_stage``) to a closed stage.

A record counts when it moved to a won or lost stage of its pipeline in the period (the
relative range the report's filter, or the page's Period, puts on ``period_field``: for a
cycle time it narrows *when the record closed*, from ``sys_stage_history.at``); its last such
move in the period is its close. It starts at its creation, or with ``from_stage`` at its first
entry into that stage before the close (a record that never entered it does not count). Per
group of the optional one level (labelled and ordered as a ``grouped`` report's) and in total:
``closed`` records, ``median_days`` and ``avg_days`` (to one decimal). Records are the
viewer's: the history is joined with the ids of ``Query.statement()``, group values and
creation moments are read through the same statement; a group or filter on a hidden field
refuses the report. Figures link to the records they were computed from (the list of the
records that moved to a closed stage in the period, ``engine.runtime.records.moves``, in the
figure's group); from a ``from_stage`` no list filter can leave out the records that never
entered it, so those figures carry no link (a note says so).
"""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.filters import PERIODS, split_key
from engine.metadata.model import Report
from engine.runtime import periods
from engine.runtime.messages import current_language, message
from engine.runtime.records import listparams
from engine.runtime.records.present import ValueFormatter
from engine.runtime.reports import drill
from engine.runtime.reports.grouped import refuse_hidden
from engine.runtime.reports.labels import Labeller, field_label
from engine.runtime.reports.result import Column, Figure, Key, ReportRefused, ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.query import Query
    from engine.runtime.records.session import Session
    from engine.runtime.reports.kinds import Overrides

#: Seconds in a day.
DAY = 86400


def run_cycle_time(session: Session, report: Report, overrides: Overrides, language: str) -> ReportResult:
    """Run a ``cycle_time`` report as the session's principal (see the module)."""
    obj = session.object(report.object)
    pipeline = obj.pipeline
    assert pipeline is not None  # T-E179
    params = overrides.params(session, report)
    period = params.get(report.period_field) if params.get(report.period_field) in PERIODS else None
    refuse_hidden(session, obj, report, params)
    if not session.principal.can_see(obj.name, pipeline.field):
        raise ReportRefused([field_label(obj, pipeline.field, current_language())])
    records = {k: v for k, v in params.items() if split_key(k)[0] != report.period_field}
    query = listparams.parse(records).apply(session.query(obj.name))
    closed = {s.key for s in pipeline.all_stages() if s.is_closed}
    group = report.group_by[0] if report.group_by else None
    days: dict[Any, list[float]] = {}
    for value, start, end in _cycles(session, query, closed, period, report.from_stage, group.key if group else None):
        seconds = (_aware(end) - _aware(start)).total_seconds()
        days.setdefault(value, []).append(max(seconds, 0) / DAY)
    formatter = ValueFormatter(session.config.settings, language)
    rows: list[Row] = []
    closes = None
    if report.from_stage is None:
        closes = {**records, "moved_to": ",".join(sorted(closed))}
        if period:
            closes["moved_during"] = period
    if group is not None:
        labeller = Labeller(session, obj, group, language)
        labeller.read(days)
        for raw in sorted(days, key=labeller.order):
            where = drill.merged(closes, drill.level_filter(group, raw)) if closes is not None else None
            rows.append(Row((Key(raw, labeller.label(raw)),), _figures(days[raw], formatter, where)))
    everything = [d for stays in days.values() for d in stays]
    notes = (message("report.cycle.no_drill", language),) if closes is None else ()
    return ReportResult(
        report=report,
        title=report.label.get(language),
        description=report.description.get(language) if report.description else "",
        levels=tuple(Column(g.key, field_label(obj, g.field, language)) for g in report.group_by),
        measures=tuple(Column(m.key, message(f"report.cycle.{m.key}", language), m.kind) for m in report.measures),
        rows=tuple(rows),
        total=Row((), _figures(everything, formatter, closes)),
        params=params,
        notes=notes,
        language=language,
    )


def _cycles(
    session: Session, query: Query, closed: set[str], period: str | None, from_stage: str | None, group: str | None
) -> list[Any]:
    """One row per viewer's record closed in the period: its group value, when its cycle began
    (its creation, or its first entry into ``from_stage`` before the close; a record that never
    entered it is left out) and its last close in the period — one statement, joined in the
    database with the viewer's query."""
    history, table = session.schema.system["sys_stage_history"], query.table
    closes = sa.select(history.c.record_id, sa.func.max(history.c.at).label("at")).where(
        history.c.object == query.obj.name, history.c.to_stage.in_(sorted(closed))
    )
    if period is not None:
        clock = session.clock()
        first, last = periods.period_range(period, clock.today())
        closes = closes.where(
            history.c.at >= periods.local_midnight(first, clock.timezone),
            history.c.at < periods.local_midnight(last, clock.timezone),
        )
    ends = closes.group_by(history.c.record_id).subquery("ends")
    value = table.c[group] if group is not None else sa.null()
    statement = query.statement().order_by(None).join(ends, ends.c.record_id == table.c.id)
    if from_stage is None:
        statement = statement.with_only_columns(value, table.c.created_at, ends.c.at)
    else:
        entered = (
            sa.select(history.c.record_id, sa.func.min(history.c.at).label("at"))
            .join(ends, ends.c.record_id == history.c.record_id)
            .where(history.c.object == query.obj.name, history.c.to_stage == from_stage, history.c.at <= ends.c.at)
            .group_by(history.c.record_id)
            .subquery("starts")
        )
        statement = statement.join(entered, entered.c.record_id == table.c.id).with_only_columns(
            value, entered.c.at, ends.c.at
        )
    return list(session.connection.execute(statement))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _figures(days: list[float], fmt: ValueFormatter, where: dict[str, str] | None) -> tuple[Figure, ...]:
    """Closed, median and average days of one group; each links to its records (``where``)."""
    count = Figure("closed", len(days), fmt.number(len(days)), where)
    if not days:
        return count, Figure("median_days", None, "", None), Figure("avg_days", None, "", None)
    median = Decimal(str(statistics.median(days))).quantize(Decimal("0.1"))
    average = Decimal(str(statistics.fmean(days))).quantize(Decimal("0.1"))
    return (
        count,
        Figure("median_days", median, fmt.number(median, 1), where),
        Figure("avg_days", average, fmt.number(average, 1), where),
    )
