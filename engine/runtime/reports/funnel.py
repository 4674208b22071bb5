"""The ``funnel`` report kind: how records moved through the pipeline, from the stage history.

For each stage of the main line of the object's own pipeline (in order; lost stages are
drop-off, not steps; another pipeline's stages, chosen by ``by``, are not steps either):
``entered`` the records that entered it in the period, ``conversion`` that count as a share of
the previous stage's, ``median_days`` the median days a stay begun in the period lasted (stays
not yet ended do not count), ``lost`` the records that moved from it to a lost stage in the
period and ``lost_reasons`` their lost reasons (the picklist a lost stage requires) as
"label count" pairs. The total row: records that entered any stage, the share of those that
entered the first stage which reached the last one, and every record lost.

The period is the relative range the report's filter (or the page's Period override) puts on
its ``period_field``; for a funnel it narrows *when the moves happened* (``sys_stage_history.at``
in the company time zone), whatever that field is. The rest of the filter narrows the records.
Records are the viewer's: the history is joined with the ids of ``Query.statement()`` (scope,
filters, archived rule), and lost reasons are read through the same statement. A funnel whose
stage field is hidden from the viewer is refused; a hidden lost-reason field leaves the
reasons out, with a note. Each count links to its records: the list filtered by the same
move (``moved_to``, ``moved_from``, ``moved_during``: ``engine.runtime.records.moves``) and the
report's other filters; shares and days are not counts of records and carry no link.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from engine.metadata.filters import PERIODS, split_key
from engine.metadata.model import ObjectDef, Pipeline, Report, ReportGroup, Stage
from engine.runtime import periods
from engine.runtime.messages import current_language, message
from engine.runtime.records import listparams
from engine.runtime.records.present import ValueFormatter
from engine.runtime.reports.grouped import refuse_hidden
from engine.runtime.reports.labels import Labeller, field_label
from engine.runtime.reports.result import Column, Figure, Key, ReportRefused, ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.query import Query
    from engine.runtime.records.session import Session
    from engine.runtime.reports.kinds import Overrides

#: Seconds in a day (stays are measured in days, to one decimal).
DAY = 86400


def run_funnel(session: Session, report: Report, overrides: Overrides, language: str) -> ReportResult:
    """Run a ``funnel`` report as the session's principal (see the module)."""
    obj = session.object(report.object)
    pipeline = obj.pipeline
    assert pipeline is not None  # T-E179
    params = overrides.params(session, report)
    period = _period(params, report.period_field)
    refuse_hidden(session, obj, report, params)
    if not session.principal.can_see(obj.name, pipeline.field):
        raise ReportRefused([field_label(obj, pipeline.field, current_language())])
    records = {k: v for k, v in params.items() if split_key(k)[0] != report.period_field}
    query = listparams.parse(records).apply(session.query(obj.name))
    moves = _moves(session, query, period)
    stages = list(pipeline.main_line)
    lost_keys = {s.key for s in pipeline.all_stages() if s.outcome == "lost"}
    flow = _Flow(moves, {s.key for s in stages}, lost_keys)
    reason_field = _reason_field(session, obj, pipeline)
    reasons = _reasons(session, query, obj, reason_field, flow.lost_ids(), language) if reason_field else {}
    formatter = ValueFormatter(session.config.settings, language)
    shown = reason_field is not None
    rows, previous = [], None
    during = {"moved_during": period} if period else {}
    lost_to = ",".join(sorted(lost_keys))
    for stage in stages:
        entered = len(flow.entered[stage.key])
        figures = [
            _count("entered", entered, formatter, {**records, "moved_to": stage.key, **during}),
            _rate("conversion", entered, previous, formatter),
            _days(flow.stays[stage.key], formatter),
            _count(
                "lost",
                len(flow.lost[stage.key]),
                formatter,
                {**records, "moved_from": stage.key, "moved_to": lost_to, **during},
            ),
        ]
        if shown:
            figures.append(_reasons_figure(flow.lost[stage.key], reasons))
        rows.append(Row((Key(stage.key, stage.label.get(language)),), tuple(figures)))
        previous = entered
    first, last = (len(flow.entered[stages[0].key]), len(flow.entered[stages[-1].key])) if stages else (0, 0)
    every_stage = ",".join(s.key for s in pipeline.all_stages())
    totals = [
        _count(
            "entered", len(flow.records), formatter, {**records, "moved_to": _steps_and(stages, lost_keys), **during}
        ),
        _rate("conversion", last, first, formatter),
        _days([], formatter),
        _count(
            "lost",
            len(flow.lost_ids()),
            formatter,
            {**records, "moved_from": every_stage, "moved_to": lost_to, **during},
        ),
    ]
    if shown:
        totals.append(_reasons_figure(flow.lost_ids(), reasons))
    notes = _notes(session, obj, pipeline, reason_field, language)
    return ReportResult(
        report=report,
        title=report.label.get(language),
        description=report.description.get(language) if report.description else "",
        levels=(Column(pipeline.field, field_label(obj, pipeline.field, language)),),
        measures=tuple(
            Column(m.key, message(f"report.funnel.{m.key}", language), m.kind)
            for m in report.measures
            if m.key != "lost_reasons" or shown
        ),
        rows=tuple(rows),
        total=Row((), tuple(totals)),
        params=params,
        notes=notes,
        language=language,
    )


def _period(params: dict[str, str], period_field: str) -> str | None:
    """The relative range the parameters put on ``period_field``, if any."""
    value = params.get(period_field)
    return value if value in PERIODS else None


# --- the history ------------------------------------------------------------------------------------
#: The columns of a move as ``_moves`` returns it.
RECORD, FROM, TO, SECONDS = range(4)


def _moves(session: Session, query: Query, period: str | None) -> Sequence[Any]:
    """The stage-history moves of the viewer's records in the period: ``(record_id, from_stage,
    to_stage, seconds)``, where ``seconds`` is how long the record stayed in ``to_stage`` (until
    its next move, which may come after the period; None while it lasts).

    One statement, from the period's moves rather than the records' whole histories: the
    ``(object, at, …)`` index holds every column read, so the period's moves come from the index
    alone, and those of records outside the viewer's query (``record_id IN`` its ids: scope,
    filters, archived rule) are dropped. A move's next move is the record's next one within the
    period (``LEAD``) or, after its last one there, the record's first move after the period (an
    ``(object, record_id, at)`` index lookup, skipped when no move lies after the period): no other
    move can come in between."""
    history = session.schema.system["sys_stage_history"]
    ids = query.statement().order_by(None).with_only_columns(query.table.c.id)
    following: sa.ColumnElement[Any] = sa.func.lead(history.c.at).over(
        partition_by=history.c.record_id, order_by=(history.c.at, history.c.id)
    )
    where = [*_in_period(session, history, query.obj.name, period), history.c.record_id.in_(ids)]
    if period is not None:
        end, later = _bounds(session, period)[1], history.alias("later")
        first_after = (
            sa.select(sa.func.min(later.c.at))
            .where(later.c.object == query.obj.name, later.c.record_id == history.c.record_id, later.c.at >= end)
            .scalar_subquery()
        )
        # Looked up only when some move of the object lies after the period (evaluated once): never
        # for a period that ends in the future, such as this quarter.
        any_after = sa.exists().where(later.c.object == query.obj.name, later.c.at >= end)
        following = sa.func.coalesce(following, sa.case((any_after, first_after)))
    moves = sa.select(
        history.c.record_id, history.c.from_stage, history.c.to_stage, history.c.at, following.label("next_at")
    ).where(*where)
    every = moves.subquery()
    seconds = _seconds_between(session.connection.dialect.name, every.c.at, every.c.next_at)
    statement = sa.select(every.c.record_id, every.c.from_stage, every.c.to_stage, seconds)
    return session.connection.execute(statement).all()


def _in_period(session: Session, history: sa.Table, name: str, period: str | None) -> list[sa.ColumnElement[bool]]:
    """The conditions on ``sys_stage_history`` of the moves of object ``name`` in the period."""
    where = [history.c.object == name]
    if period is not None:
        start, end = _bounds(session, period)
        where += [history.c.at >= start, history.c.at < end]
    return where


def _seconds_between(dialect: str, start: Any, end: Any) -> sa.ColumnElement[Any]:
    """``end - start`` in seconds, computed by the database (None when ``end`` is)."""
    if dialect == "postgresql":  # a float, as on SQLite (``numeric`` would cost a Decimal a row to read)
        return sa.cast(sa.func.extract("epoch", end - start), sa.Float)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * DAY


def _bounds(session: Session, period: str) -> tuple[dt.datetime, dt.datetime]:
    clock = session.clock()
    start, end = periods.period_range(period, clock.today())
    return periods.local_midnight(start, clock.timezone), periods.local_midnight(end, clock.timezone)


class _Flow:
    """Who entered which stage in the period, how long their stays lasted, who was lost from where."""

    def __init__(self, moves: Sequence[Any], steps: set[str], lost: set[str]) -> None:
        self.entered: dict[str, set[int]] = defaultdict(set)
        self.stays: dict[str, list[float]] = defaultdict(list)
        self.lost: dict[str, set[int]] = defaultdict(set)
        self.records: set[int] = set()
        for move in moves:
            record, to = move[RECORD], move[TO]
            if to in steps:
                self.records.add(record)
                self.entered[to].add(record)
                if move[SECONDS] is not None:
                    self.stays[to].append(max(float(move[SECONDS]), 0) / DAY)
            elif to in lost:
                self.records.add(record)
                if move[FROM] is not None:
                    self.lost[move[FROM]].add(record)

    def lost_ids(self) -> set[int]:
        """Every record lost in the period."""
        return set().union(*self.lost.values()) if self.lost else set()


# --- lost reasons -----------------------------------------------------------------------------------
def _reason_field(session: Session, obj: ObjectDef, pipeline: Pipeline) -> str | None:
    """The lost-reason field: the first picklist a lost stage requires, if the viewer sees it."""
    field = _declared_reason(obj, pipeline)
    return field if field is not None and session.principal.can_see(obj.name, field) else None


def _declared_reason(obj: ObjectDef, pipeline: Pipeline) -> str | None:
    lost: list[Stage] = [s for s in pipeline.all_stages() if s.outcome == "lost"]
    for stage in lost:
        for name in stage.requires:
            if name in obj.fields and obj.fields[name].picklist is not None:
                return name
    return None


def _reasons(
    session: Session, query: Query, obj: ObjectDef, field: str, ids: set[int], language: str
) -> dict[int, str]:
    """The lost reason of each record in ``ids``, labelled, read through the viewer's query."""
    if not ids:
        return {}
    table = query.table
    statement = query.statement().order_by(None).with_only_columns(table.c.id, table.c[field])
    rows = session.connection.execute(statement.where(_among(table.c.id, ids, session.connection.dialect.name)))
    by_id = {row[0]: row[1] for row in rows}
    labeller = Labeller(session, obj, ReportGroup(field), language)
    raws = set(by_id.values())
    labeller.read(raws)
    labels = {raw: labeller.label(raw) for raw in raws}
    return {record_id: labels[raw] for record_id, raw in by_id.items()}


def _among(column: sa.ColumnElement[Any], ids: set[int], dialect: str) -> sa.ColumnElement[bool]:
    """``column IN ids``: on PostgreSQL ``= ANY`` of one array parameter (tens of thousands of ids
    would otherwise be as many parameters to compile and send)."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam("funnel_lost_ids", sorted(ids), type_=postgresql.ARRAY(sa.BigInteger())))
    return column.in_(sorted(ids))


def _notes(session: Session, obj: ObjectDef, pipeline: Pipeline, shown: str | None, language: str) -> tuple[str, ...]:
    notes = []
    declared = _declared_reason(obj, pipeline)
    if declared is not None and shown is None:
        notes.append(message("report.left_out", language, measures=message("report.funnel.lost_reasons", language)))
    return tuple(notes)


# --- figures ------------------------------------------------------------------------------------------
def _count(key: str, value: int, fmt: ValueFormatter, where: dict[str, str]) -> Figure:
    return Figure(key, value, fmt.number(value), where)


def _steps_and(stages: list[Stage], lost: set[str]) -> str:
    """The stages whose entry a funnel counts: its steps and the lost stages."""
    return ",".join([*(s.key for s in stages), *sorted(lost)])


def _rate(key: str, part: int, whole: int | None, fmt: ValueFormatter) -> Figure:
    if not whole:
        return Figure(key, None, "", None)
    value = (Decimal(part) / whole).quantize(Decimal("0.0001"))
    return Figure(key, value, fmt.number(value * 100, 1) + "%", None)


def _days(stays: list[float], fmt: ValueFormatter) -> Figure:
    if not stays:
        return Figure("median_days", None, "", None)
    value = Decimal(str(statistics.median(stays))).quantize(Decimal("0.1"))
    return Figure("median_days", value, fmt.number(value, 1), None)


def _reasons_figure(lost: set[int], reasons: dict[int, str]) -> Figure:
    """``Price 2 · Timing 1``, most frequent first (no value without a record lost)."""
    if not lost:
        return Figure("lost_reasons", None, "", None)
    counts = Counter(reasons.get(record_id, "") for record_id in lost)
    text = " · ".join(f"{label} {count}" for label, count in sorted(counts.items(), key=lambda i: (-i[1], i[0])))
    return Figure("lost_reasons", text, text, None)
