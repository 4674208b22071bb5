"""The timeline panel of record pages, its quick entry, and the "My tasks" page (S25).

HTTP and view models only: what attaches to a record, the scopes, hidden fields
and the write path are the engine's (``engine.runtime.workflow.timeline``, ``Session``).

- ``timeline_panel`` (a template global) builds the panel that ``_timeline.html``
  shows on the record page of a ``timeline: true`` object: the entries newest
  first (kind, who, when, summary), paged with ``?timeline_page=``, the record's
  engagement events among them (kind, when, campaign, what it adds: a click's link, a
  form's title, a received e-mail's subject), a filter by type (``?timeline_type=``:
  activities, tasks, engagement), and one quick
  entry form per activity and task object the user may create. A quick form shows
  that object's required fields and its ``activity``/``task`` fields; its lookup to
  this record is prefilled (hidden), and so are its lookups to records this record
  points at (a call logged on a contact also lands on the contact's account). Form
  names are prefixed with the object (``interaction.method``) so that two forms on
  one page never share an id.
- ``log`` (POST) creates the entry through the write path; a refused one shows
  the record page again with the errors beside the fields.
- ``my_tasks`` lists the user's open tasks (overdue, today, upcoming, no date);
  ``complete`` marks one done (an ordinary update, with its version).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, redirect, request, url_for
from jinja2 import pass_context
from werkzeug.datastructures import MultiDict

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.errors import RECORD_ERRORS, Conflict, FieldError, ValidationFailed
from engine.runtime.records.query import format_title
from engine.runtime.records.record import Record
from engine.runtime.records.session import Session
from engine.runtime.workflow import timeline
from engine.runtime.workflow.engagement import EngagementEvent
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui import context, display, forms
from webui.ui.campaigns import event_detail
from webui.ui.context import formatter, local_path, t, ui_session
from webui.ui.views import _require_login, conflict_text, readable, render_page, required_version

PER_PAGE = 20


# --- view models -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryView:
    """One line of the timeline."""

    type: str
    kind: str
    when: str
    iso: str
    who: str
    summary: str
    url: str
    status: str = ""
    done: bool = False
    overdue: bool = False
    campaign: str = ""


@dataclass(frozen=True)
class TypeFilter:
    """One choice of the timeline's filter by type (All, Activities, Tasks, Engagement)."""

    label: str
    url: str
    active: bool


@dataclass(frozen=True)
class QuickForm:
    """A quick entry form for one activity or task object."""

    object: str
    heading: str
    action_url: str
    fields: list[forms.FormField]
    hidden: list[tuple[str, str]]
    record_errors: list[str]
    open: bool = False


@dataclass(frozen=True)
class TimelinePanel:
    """Everything ``_timeline.html`` shows."""

    entries: list[EntryView]
    forms: list[QuickForm]
    last_activity: str | None
    page: int
    pages: int
    newer_url: str | None = None
    older_url: str | None = None
    total: int = 0
    notes: list[str] = field(default_factory=list)
    filters: list[TypeFilter] = field(default_factory=list)


# --- the panel ---------------------------------------------------------------------------------------------
@pass_context
def timeline_panel(context: Any, obj: ObjectDef, record: Record) -> TimelinePanel | None:
    """The timeline panel of ``record`` (None when ``obj`` has no timeline)."""
    if not obj.timeline:
        return None
    retry = context.get("timeline_retry")
    fmt = formatter()
    page = _page_number(request.args.get("timeline_page"))
    chosen = request.args.get("timeline_type")
    chosen = chosen if chosen in timeline.ENTRY_TYPES else None
    types = (chosen,) if chosen else None
    with ui_session() as session:
        found = timeline.timeline(session, obj.name, record.id, page, PER_PAGE, types)
        if not found.entries and page > 1:
            found = timeline.timeline(session, obj.name, record.id, 1, PER_PAGE, types)
        entries = entry_views(session, found.entries, fmt)
        attached = timeline.attached_objects(session.config, obj.name)
        quick = [
            quick_form(session, obj, record, source, kind, fmt, retry)
            for source, kind, _ in attached
            if session.principal.grant(source.name).create
        ]
    last = record.get(timeline.COLUMN)
    base = url_for("records.show", object_name=obj.name, record_id=record.id)
    present = {kind for _, kind, _ in attached} | {"event"}  # no "Tasks" where no task attaches
    filters = [
        TypeFilter(fmt.t(f"timeline.filter.{key or 'all'}"), _page_url(base, 1, key), key == chosen)
        for key in (None, *timeline.ENTRY_TYPES)
        if (found.total or chosen) and (key is None or key in present)  # nothing to filter on an empty timeline
    ]
    return TimelinePanel(
        entries,
        quick,
        fmt.moment(last) if last else None,
        found.page,
        found.pages,
        _page_url(base, found.page - 1, chosen) if found.page > 1 else None,
        _page_url(base, found.page + 1, chosen) if found.page < found.pages else None,
        found.total,
        filters=filters,
    )


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1


def _page_url(base: str, page: int, chosen: str | None = None) -> str:
    args = [f"timeline_type={chosen}"] if chosen else []
    args += [f"timeline_page={page}"] if page > 1 else []
    return f"{base}?{'&'.join(args)}#timeline" if args else f"{base}#timeline"


def entry_views(session: Session, entries: list[timeline.TimelineEntry], fmt: Formatter) -> list[EntryView]:
    """The entries formatted for people: kind label, who, when, summary, task status."""
    users = display.user_names(session, [e.record.get("owner_id") for e in entries if e.record is not None])
    today = session.clock().today()
    out = []
    for entry in entries:
        if entry.event is not None:
            out.append(event_view(entry.event, fmt))
            continue
        source = session.config.objects[entry.object]
        spec = source.activity if entry.type == "activity" else source.task
        kind = source.label.get(fmt.lang)
        if entry.type == "activity" and spec.kind and entry.kind is not None:
            kind = display.format_value(entry.kind, source.fields[spec.kind], fmt, display.References())
        summary_field = spec.summary if entry.type == "activity" else spec.subject
        summary = (
            display.format_value(entry.summary, source.fields[summary_field], fmt, display.References())
            if summary_field and entry.summary is not None
            else format_title(source, entry.record)
        )
        status, overdue = "", False
        if entry.type == "task":
            status_field = source.fields[spec.status]
            if spec.status in entry.record and status_field.picklist is not None:
                status = display.format_value(entry.record.get(spec.status), status_field, fmt, display.References())
            elif entry.done:
                status = fmt.t("timeline.done")
            day = entry.at.date() if isinstance(entry.at, dt.datetime) else entry.at
            overdue = entry.done is False and day is not None and day < today
        when = _when(entry.at, fmt)
        out.append(
            EntryView(
                entry.type,
                kind,
                fmt.t("timeline.due", when=when) if entry.type == "task" else when,
                entry.at.isoformat() if entry.at else "",
                users.get(entry.record.get("owner_id"), ""),
                summary,
                url_for("records.show", object_name=entry.object, record_id=entry.record.id),
                status,
                bool(entry.done),
                overdue,
            )
        )
    return out


def event_view(event: EngagementEvent, fmt: Formatter) -> EntryView:
    """An engagement event as a timeline line: its kind, when, its campaign and what it adds."""
    return EntryView(
        "event",
        fmt.t(f"campaigns.event.{event.kind}"),
        fmt.moment(event.at),
        event.at.isoformat(),
        "",
        event_detail(event.data, fmt.lang),
        "",
        campaign=event.campaign_name or "",
    )


def _when(value: Any, fmt: Formatter) -> str:
    if value is None:
        return ""
    return fmt.moment(value) if isinstance(value, dt.datetime) else fmt.date(value)


# --- quick entry ----------------------------------------------------------------------------------------------
def quick_form(
    session: Session,
    obj: ObjectDef,
    record: Record,
    source: ObjectDef,
    kind: str,
    fmt: Formatter,
    retry: tuple[str, forms.FormState, dict[str, list[FieldError]]] | None = None,
) -> QuickForm:
    """The quick entry form of ``source`` on ``record``'s page (with a refused POST's state and errors)."""
    prefix = f"{source.name}."
    fixed = prefilled(session, obj, record, source, kind)
    shown = [
        f
        for f in quick_fields(source, kind)
        if forms.editable(session, source, f) and f.name not in fixed and session.principal.can_see(source.name, f.name)
    ]
    failed = retry is not None and retry[0] == source.name
    state = retry[1] if failed else initial_state(session, source, shown, fmt)
    errors = retry[2] if failed else {}
    widgets = [
        replace(
            forms.build_field(session, source, f, state, [e.message for e in errors.get(f.name, [])], fmt),
            name=prefix + f.name,
        )
        for f in shown
    ]
    placed = {f.name for f in shown}
    record_errors = [e.message for e in errors.get(RECORD_ERRORS, [])]
    record_errors += [
        f"{_label(source, name, fmt)}: {e.message}"
        for name, problems in errors.items()
        if name not in placed and name != RECORD_ERRORS
        for e in problems
    ]
    label = source.label.get(fmt.lang)
    heading = fmt.t("timeline.log" if kind == "activity" else "timeline.add_task", object=label)
    action = url_for("timeline.log", object_name=obj.name, record_id=record.id, source=source.name)
    return QuickForm(
        source.name,
        heading,
        action,
        widgets,
        [(prefix + k, str(v)) for k, v in fixed.items()],
        record_errors,
        open=failed or (kind == "activity" and retry is None),
    )


def _label(obj: ObjectDef, name: str, fmt: Formatter) -> str:
    f = obj.fields.get(name)
    return f.label.get(fmt.lang) if f else name


def quick_fields(source: ObjectDef, kind: str) -> list[FieldDef]:
    """The required fields of ``source`` and its ``activity``/``task`` fields, in field order."""
    spec = source.activity if kind == "activity" else source.task
    named = (
        {spec.at, spec.kind, spec.summary}
        if kind == "activity"
        else {spec.due, spec.subject, spec.remind, spec.assignee}
    )
    return [f for f in source.fields.values() if not f.is_computed and (f.required or f.name in named)]


def prefilled(session: Session, obj: ObjectDef, record: Record, source: ObjectDef, kind: str) -> dict[str, int]:
    """Lookups of ``source`` filled in for the user: the first one pointing at ``record``, and
    those pointing where ``record``'s own lookups point (when the user may read that record)."""
    spec = source.activity if kind == "activity" else source.task
    fixed: dict[str, int] = {}
    for name in spec.on:
        f = source.fields[name]
        if not forms.editable(session, source, f):
            continue
        if f.target == obj.name and obj.name not in {source.fields[n].target for n in fixed}:
            fixed[name] = record.id
            continue
        through = next(
            (
                g.name
                for g in obj.fields.values()
                if g.target is not None and g.target == f.target and record.get(g.name) is not None
            ),
            None,
        )
        if through is not None and session.query(f.target).filter(id=record[through]).count():
            fixed[name] = record[through]
    return fixed


def initial_state(session: Session, source: ObjectDef, shown: list[FieldDef], fmt: Formatter) -> forms.FormState:
    """Static defaults, and expression defaults (``=now()``, ``=today()``) computed now for the form."""
    state = forms.default_state(session, source, fmt)
    clock = session.clock()
    names = {**dict.fromkeys(source.fields), "current_user": session.user}
    for f in shown:
        if f.default_expression is not None and f.kind.temporal:
            with contextlib.suppress(ExpressionEvalError):
                state[f.name] = forms.form_text(f, f.default_expression.evaluate(names, clock), fmt)
    return state


def log(object_name: str, record_id: int, source: str) -> Response | tuple[str, int]:
    """Create an activity or task from the quick entry form of a record page."""
    fmt = formatter()
    prefix = f"{source}."
    form = MultiDict([(k[len(prefix) :], v) for k, v in request.form.items(multi=True) if k.startswith(prefix)])
    parsed = None
    with ui_session() as session:
        obj = readable(session, object_name)
        record = session.get(obj.name, record_id)
        attached = {o.name: kind for o, kind, _ in timeline.attached_objects(session.config, obj.name)}
        if not obj.timeline or source not in attached:
            abort(404)
        target = session.config.objects[source]
        if not session.principal.grant(source).create:
            abort(403)
        shown = {f.name for f in quick_fields(target, attached[source])}
        allowed = shown | set(prefilled(session, obj, record, target, attached[source]))
    try:
        with ui_session() as session:
            parsed = forms.parse_form(session, target, form, MultiDict(), fmt)
            values = {k: v for k, v in parsed.values.items() if k in allowed and v is not None}
            errors = {k: v for k, v in parsed.errors.items() if k in allowed}
            try:
                session.create(source, values)
            except ValidationFailed as exc:
                raise ValidationFailed({**exc.errors, **errors}, source) from None
            if errors:
                raise ValidationFailed(errors, source)
    except ValidationFailed as exc:
        state = parsed.state if parsed else {}
        return _record_page(object_name, record_id, (source, state, exc.errors)), 422
    flash(t("timeline.logged"), "info")
    return redirect(url_for("records.show", object_name=object_name, record_id=record_id) + "#timeline")


def _record_page(object_name: str, record_id: int, retry: tuple[str, forms.FormState, dict]) -> str:
    with ui_session() as session:
        obj = readable(session, object_name)
        view = display.record_view(session, obj, session.get(obj.name, record_id), formatter())
    flash(t("timeline.not_logged"), "error")
    return render_page("record.html", obj, view=view, timeline_retry=retry)


# --- my tasks ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskRow:
    """One open task on the task list."""

    subject: str
    url: str
    due: str
    related: list[display.Cell]
    status: str
    reminder_due: bool
    done_url: str
    version: int


@dataclass(frozen=True)
class TaskGroup:
    key: str
    label: str
    items: list[TaskRow]


def my_tasks() -> str:
    """The user's open tasks: overdue, today, upcoming, without a due date."""
    fmt = formatter()
    with ui_session() as session:
        items = timeline.my_tasks(session)
        rows: dict[str, list[TaskRow]] = {group: [] for group in timeline.TASK_GROUPS}
        for item in items:
            rows[item.group].append(task_row(session, item, fmt))
        new_urls = [
            (o.label.get(fmt.lang), url_for("records.create", object_name=o.name))
            for o in timeline.task_objects(session.config)
            if session.principal.grant(o.name).create
        ]
    groups = [
        TaskGroup(key, fmt.t(f"tasks.{key}"), rows[key])
        for key in timeline.TASK_GROUPS
        if rows[key] or key != "no_date"
    ]
    return render_page("tasks.html", None, groups=groups, new_urls=new_urls)


def task_row(session: Session, item: timeline.TaskItem, fmt: Formatter) -> TaskRow:
    obj, record, task = item.object, item.record, item.object.task
    lookups = [obj.fields[name] for name in task.on if name in record]
    refs = display.collect_references(session, obj, [record], lookups)
    related = [display.cell(record, f, obj, fmt, refs) for f in lookups if record.get(f.name) is not None]
    status_field = obj.fields[task.status]
    status = display.format_value(record.get(task.status), status_field, fmt, refs) if task.status in record else ""
    return TaskRow(
        format_title(obj, record),
        url_for("records.show", object_name=obj.name, record_id=record.id),
        _when(item.due, fmt),
        related,
        status,
        item.reminder_due,
        url_for("timeline.complete", object_name=obj.name, record_id=record.id),
        record.version,
    )


def complete(object_name: str, record_id: int) -> Response:
    """Mark a task done (its status becomes the first ``done`` value); back to where the user was."""
    try:
        with ui_session() as session:
            readable(session, object_name)
            version = required_version(session, object_name, record_id, request.form.get("version"))
            timeline.complete_task(session, object_name, record_id, version)
        flash(t("tasks.marked_done"), "info")
    except ValidationFailed as exc:
        for problems in exc.errors.values():
            for problem in problems:
                flash(problem.message, "error")
    except Conflict as exc:
        flash(conflict_text(exc), "error")
    return redirect(local_path(request.form.get("next")) or url_for("timeline.my_tasks"))


# --- registration --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TasksLink:
    url: str
    active: bool


def _tasks_link() -> dict[str, Any]:
    """``tasks_nav`` for the navigation: the My tasks link when the user may read some task object."""
    from flask_login import current_user

    if not current_user.is_authenticated:
        return {"tasks_nav": None}
    config = get_trellis().config
    principal = context._principal()
    if principal is None or not any(principal.grant(o.name).read != "none" for o in timeline.task_objects(config)):
        return {"tasks_nav": None}
    return {"tasks_nav": TasksLink(url_for("timeline.my_tasks"), request.endpoint == "timeline.my_tasks")}


ROUTES = (
    ("/tasks", my_tasks, ["GET"]),
    ("/tasks/<object_name>/<int:record_id>/done", complete, ["POST"]),
    ("/o/<object_name>/<int:record_id>/timeline/<source>", log, ["POST"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The timeline routes; also gives templates ``timeline_panel`` and ``tasks_nav``."""
    app.jinja_env.globals["timeline_panel"] = timeline_panel
    app.context_processor(_tasks_link)
    blueprint = Blueprint("timeline", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint
