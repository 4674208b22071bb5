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
    ends = _closes(session, query, closed, period)
    starts = _starts(session, query, report.from_stage, ends)
    group = report.group_by[0] if report.group_by else None
    values = _values(session, query, group.key if group else None, set(starts))
    days: dict[Any, list[float]] = {}
    for record_id, start in starts.items():
        seconds = (_aware(ends[record_id]) - _aware(start)).total_seconds()
        days.setdefault(values.get(record_id), []).append(max(seconds, 0) / DAY)
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


def _ids(query: Query) -> sa.Select:
    return query.statement().order_by(None).with_only_columns(query.table.c.id)


def _closes(session: Session, query: Query, closed: set[str], period: str | None) -> dict[int, dt.datetime]:
    """Each of the viewer's records closed in the period, with the moment of its last close there."""
    history = session.schema.system["sys_stage_history"]
    at = sa.func.max(history.c.at)
    statement = sa.select(history.c.record_id, at.label("at")).where(
        history.c.object == query.obj.name, history.c.to_stage.in_(sorted(closed)), history.c.record_id.in_(_ids(query))
    )
    if period is not None:
        clock = session.clock()
        start, end = periods.period_range(period, clock.today())
        statement = statement.where(
            history.c.at >= periods.local_midnight(start, clock.timezone),
            history.c.at < periods.local_midnight(end, clock.timezone),
        )
    return {row.record_id: row.at for row in session.connection.execute(statement.group_by(history.c.record_id))}


def _starts(
    session: Session, query: Query, from_stage: str | None, ends: dict[int, dt.datetime]
) -> dict[int, dt.datetime]:
    """When each closed record's cycle began: its creation, or its first entry into ``from_stage``
    before its close (records that never entered it are left out)."""
    if not ends:
        return {}
    ids = sorted(ends)
    if from_stage is None:
        table = query.table
        statement = query.statement().order_by(None).with_only_columns(table.c.id, table.c.created_at)
        rows = session.connection.execute(statement.where(table.c.id.in_(ids)))
        return {row[0]: row[1] for row in rows}
    history = session.schema.system["sys_stage_history"]
    statement = (
        sa.select(history.c.record_id, history.c.at)
        .where(history.c.object == query.obj.name, history.c.to_stage == from_stage, history.c.record_id.in_(ids))
        .order_by(history.c.record_id, history.c.at)
    )
    starts: dict[int, dt.datetime] = {}
    for row in session.connection.execute(statement):
        if row.record_id not in starts and _aware(row.at) <= _aware(ends[row.record_id]):
            starts[row.record_id] = row.at
    return starts


def _values(session: Session, query: Query, key: str | None, ids: set[int]) -> dict[int, Any]:
    """Each record's value of the group field, read through the viewer's query."""
    if key is None or not ids:
        return {}
    table = query.table
    statement = query.statement().order_by(None).with_only_columns(table.c.id, table.c[key])
    return {row[0]: row[1] for row in session.connection.execute(statement.where(table.c.id.in_(sorted(ids))))}


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
