"""What a dashboard widget shows, and one runner per widget kind (``RUNNERS``: the runtime half
of ``engine.metadata.dashboards.WIDGET_KINDS``).

- ``report``: the report run with the dashboard's filters (``reports.run``);
- ``kpi``: the same, and the run over the period before (this quarter → last quarter) when the
  report's period is a relative range that has one: the web draws the change;
- ``my_tasks``: the viewer's open tasks (``workflow.timeline.my_tasks``), counted by overdue,
  today, upcoming and without a date, the first ``limit`` listed;
- ``approvals``: the requests waiting for the viewer's decision (``workflow.approvals.inbox``),
  each titled by its record as the viewer may read it;
- ``my_pipeline``: the viewer's open records of an object with a pipeline, by stage: a
  ``grouped`` report made here (count, and the sum of the object's first money field), so its
  figures drill down like any report's;
- ``recent_records``: the records most recently changed among those the viewer may read (of
  ``object``, or of every object they may read), one query per object;
- ``notifications``: the viewer's newest notifications and how many are unread, each linked to
  its record only while the viewer may read it.

The built-ins are the viewer's own: the dashboard's filters narrow the report and KPI widgets.
A runner returns None for a widget the viewer may not see at all (a report they may not open,
an object they may not read): the dashboard leaves it out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.metadata.filters import PREVIOUS_PERIODS
from engine.metadata.kinds import Kinds
from engine.metadata.model import DashboardWidget, Label, ObjectDef, Report, ReportGroup, ReportMeasure
from engine.runtime import reports
from engine.runtime.jobs import inbox
from engine.runtime.messages import message
from engine.runtime.records.query import format_title
from engine.runtime.reports.grouped import run_grouped
from engine.runtime.workflow import approvals, timeline

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Items a built-in lists without a ``limit``.
DEFAULT_LIMIT = 5
#: Most approval requests counted for the badge of the approvals widget.
APPROVALS_COUNTED = 200


@dataclass(frozen=True)
class Item:
    """One line of a built-in widget: a title, the record it is about (None: no link, or one the
    viewer may not read), a detail (the object, who asked), when (raw: a due date, a moment), and
    a ``flag`` (``overdue``, ``today``, ``upcoming``, ``no_date``, ``unread``)."""

    title: str
    object: str | None
    record_id: int | None
    detail: str = ""
    when: dt.datetime | dt.date | None = None
    flag: str = ""


@dataclass(frozen=True)
class WidgetResult:
    """A widget run for one viewer: its ``title``; ``report`` (a report, KPI or pipeline widget's
    result) and ``previous`` (a KPI's previous period); a built-in's ``items`` and ``counts``
    (``overdue``, ``waiting``, ``unread``…); ``refused``: why a report cannot be shown (a field
    hidden from the viewer), with no figure."""

    widget: DashboardWidget
    title: str
    report: reports.ReportResult | None = None
    previous: reports.ReportResult | None = None
    items: tuple[Item, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    refused: str | None = None

    @property
    def kind(self) -> str:
        """The widget's kind (``report``, ``kpi``, ``my_tasks``…)."""
        return self.widget.kind

    @property
    def chart(self) -> str:
        """How a report widget is drawn: the widget's ``chart``, a KPI's ``kpi``, else the report's."""
        if self.widget.kind == "kpi":
            return "kpi"
        if self.widget.chart:
            return self.widget.chart
        return self.report.report.chart if self.report is not None else "table"


@dataclass(frozen=True)
class WidgetRunner:
    """How one widget kind runs: ``(session, widget, overrides, language)`` → its result, or None
    when the viewer may not see it."""

    name: str
    run: Callable[[Session, DashboardWidget, reports.Overrides, str], WidgetResult | None]


#: The runners, by widget kind.
RUNNERS: Kinds[WidgetRunner] = Kinds("widget runner")


def title(widget: DashboardWidget, language: str, fallback: Label | None = None) -> str:
    """The widget's own title, else its report's label, else its kind's name in ``language``."""
    if widget.title is not None:
        return widget.title.get(language)
    if fallback is not None:
        return fallback.get(language)
    return message(f"dashboard.widget.{widget.kind}", language)


# --- reports ---------------------------------------------------------------------------------------
def _report(
    session: Session, widget: DashboardWidget, overrides: reports.Overrides, language: str
) -> WidgetResult | None:
    name = widget.report or ""
    try:
        report = reports.report_for(session, name)
    except reports.ReportNotFound:
        return None
    heading = title(widget, language, report.label)
    try:
        result = reports.run(session, name, overrides, language)
    except reports.ReportRefused as exc:
        return WidgetResult(widget, heading, refused=str(exc))
    previous = previous_run(session, result, overrides) if widget.kind == "kpi" else None
    return WidgetResult(widget, heading, report=result, previous=previous)


def previous_run(
    session: Session, result: reports.ReportResult, overrides: reports.Overrides
) -> reports.ReportResult | None:
    """The same report over the period before ``result``'s (the same owner and team) when its
    period is a relative range that has one; else None."""
    report = result.report
    period = PREVIOUS_PERIODS.get(result.params.get(report.period_field, ""))
    if period is None:
        return None
    before = reports.Overrides(period, overrides.owner, overrides.team)
    return reports.run(session, report.name, before, result.language)


# --- built-ins -------------------------------------------------------------------------------------
def _my_tasks(session: Session, widget: DashboardWidget, _: reports.Overrides, language: str) -> WidgetResult | None:
    if not any(session.principal.grant(o.name).read != "none" for o in timeline.task_objects(session.config)):
        return None
    found = timeline.my_tasks(session)
    counts = {group: sum(1 for t in found if t.group == group) for group in timeline.TASK_GROUPS}
    items = tuple(
        Item(format_title(t.object, t.record), t.object.name, t.record.id, t.object.label.get(language), t.due, t.group)
        for t in found[: widget.limit or DEFAULT_LIMIT]
    )
    return WidgetResult(widget, title(widget, language), items=items, counts=counts)


def _approvals(session: Session, widget: DashboardWidget, _: reports.Overrides, language: str) -> WidgetResult | None:
    if not session.principal.has("approve"):
        return None
    waiting = approvals.inbox(session, APPROVALS_COUNTED)
    shown = waiting[: widget.limit or DEFAULT_LIMIT]
    records = _records(session, [(r.object, r.record_id) for r in shown])
    items = []
    for pending in shown:
        obj = session.config.objects.get(pending.object)
        record = records.get((pending.object, pending.record_id))
        if obj is not None and record is not None:
            name, link = format_title(obj, record), pending.record_id
        elif obj is not None and pending.record_id == approvals.NEW_RECORD:
            name, link = format_title(obj, pending.changes), None
        else:
            name, link = f"#{pending.record_id}", None
        label = obj.label.get(language) if obj is not None else pending.object
        items.append(Item(name, pending.object if link else None, link, label, pending.requested_at))
    return WidgetResult(widget, title(widget, language), items=tuple(items), counts={"waiting": len(waiting)})


def _records(session: Session, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """The records of ``wanted`` the viewer may read, through the read path (one query per object)."""
    ids: dict[str, set[int]] = {}
    for object_name, record_id in wanted:
        if object_name in session.config.objects and session.principal.grant(object_name).read != "none":
            ids.setdefault(object_name, set()).add(record_id)
    found: dict[tuple[str, int], Any] = {}
    for object_name, some in ids.items():
        for record in session.query(object_name).include_archived().filter(id__in=sorted(some)).all():
            found[(object_name, record.id)] = record
    return found


def pipeline_report(obj: ObjectDef) -> Report:
    """The report behind ``my_pipeline``: the viewer's open records of ``obj`` by stage, counted,
    with the sum of the object's first money field."""
    assert obj.pipeline is not None, "a my_pipeline widget's object has a pipeline (T-E197)"
    pipeline = obj.pipeline
    closed = [s.key for s in pipeline.all_stages() if s.is_closed]
    money = next((f.name for f in obj.fields.values() if f.value_kind.money and not f.encrypted), None)
    measures = [ReportMeasure("count")]
    if money is not None:
        measures.append(ReportMeasure("sum", field=money, key=f"sum_{money}"))
    filters = {"owner": "me"} | ({f"{pipeline.field}__not_in": ",".join(closed)} if closed else {})
    return Report(
        name="my_pipeline",
        object=obj.name,
        label=Label.of({lang: message("dashboard.widget.my_pipeline", lang) for lang in ("en", "zh")}),
        group_by=(ReportGroup(pipeline.field),),
        measures=tuple(measures),
        filter=filters,
        chart="bar",
    )


def _my_pipeline(session: Session, widget: DashboardWidget, _: reports.Overrides, language: str) -> WidgetResult | None:
    obj = session.object(widget.object or "")
    if session.principal.grant(obj.name).read == "none" or session.user is None:
        return None
    report = pipeline_report(obj)
    heading = title(widget, language)
    try:
        result = run_grouped(session, report, reports.Overrides(), language)
    except reports.ReportRefused as exc:
        return WidgetResult(widget, heading, refused=str(exc))
    return WidgetResult(widget, heading, report=result)


def _recent_records(
    session: Session, widget: DashboardWidget, _: reports.Overrides, language: str
) -> WidgetResult | None:
    names = [widget.object] if widget.object else list(session.config.objects)
    readable = [session.config.objects[n] for n in names if session.principal.grant(n).read != "none"]
    if not readable:
        return None
    limit = widget.limit or DEFAULT_LIMIT
    found: list[Item] = []
    for obj in readable:
        for record in session.query(obj.name).order_by("-updated_at").page(1, limit).items:
            found.append(
                Item(format_title(obj, record), obj.name, record.id, obj.label.get(language), record["updated_at"])
            )
    found.sort(key=lambda item: _moment(item.when), reverse=True)
    return WidgetResult(widget, title(widget, language), items=tuple(found[:limit]))


def _moment(when: Any) -> dt.datetime:
    """A stored moment comparable with the others (SQLite gives naive UTC)."""
    if not isinstance(when, dt.datetime):
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _notifications(
    session: Session, widget: DashboardWidget, _: reports.Overrides, language: str
) -> WidgetResult | None:
    if session.user is None:
        return None
    found = inbox.page(session, False, 1, widget.limit or DEFAULT_LIMIT)
    links = inbox.readable(session, found.items)
    items = tuple(
        Item(
            n.title,
            n.object if (n.object, n.record_id) in links else None,
            n.record_id if (n.object, n.record_id) in links else None,
            n.body,
            n.created_at,
            "unread" if n.read_at is None else "",
        )
        for n in found.items
    )
    return WidgetResult(widget, title(widget, language), items=items, counts={"unread": inbox.unread_count(session)})


RUNNERS.register(WidgetRunner("report", _report))
RUNNERS.register(WidgetRunner("kpi", _report))
RUNNERS.register(WidgetRunner("my_tasks", _my_tasks))
RUNNERS.register(WidgetRunner("approvals", _approvals))
RUNNERS.register(WidgetRunner("my_pipeline", _my_pipeline))
RUNNERS.register(WidgetRunner("recent_records", _recent_records))
RUNNERS.register(WidgetRunner("notifications", _notifications))
