"""The Merge action of record pages, the side-by-side page and "Undo merge" (issue 14 §4).

HTTP and view models only: who may merge, which fields may be chosen, the default of each,
the re-pointing and the undo are the engine's (``engine.runtime.records.merging``).

- ``merge_actions`` (a template global, shown by ``_merge_button.html`` on the record page):
  the Merge link for a user with the ``merge`` grant who may edit the record, and the Undo form
  while the record's latest merge can still be undone.
- ``merge_page`` (GET) without ``with``: pick the other record(s) by type-ahead (the lookup
  widget on ``records.lookup``); with ``with`` (repeatable): the records side by side, one row
  per field the user may choose, a radio per record, the defaults preselected, values shown as
  people read them. POST merges (``fields.<name>`` = the record id chosen, ``version.<id>``)
  and goes to the survivor's page; problems come back on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, flash, g, redirect, request, url_for

from engine.runtime.errors import Conflict, FieldError, ValidationFailed
from engine.runtime.records.merging import merge as merging
from engine.runtime.records.query import format_title
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import PermissionDenied
from webui.ui import display
from webui.ui.context import formatter, t, ui_session
from webui.ui.views import _require_login, readable, render_page


# --- the record page's actions ---------------------------------------------------------------------
@dataclass(frozen=True)
class MergeActions:
    """What ``_merge_button.html`` shows: the Merge link, and the Undo form with its deadline."""

    merge_url: str | None
    undo_url: str | None
    undo_until: str
    merged_into: display.Cell | None = None


def merge_actions(view: display.RecordView) -> MergeActions:
    """The record page's Merge link and Undo form, for those who may use them, and the record an
    archived record was merged into."""
    principal = g.get("principal")
    if principal is None:
        return MergeActions(None, None, "")
    if view.record.get("archived_at") is not None:
        with ui_session() as session:
            survivor = merging.merged_into(session, view.obj.name, view.record)
            title = format_title(view.obj, session.get(view.obj.name, survivor)) if survivor else ""
        url = url_for("records.show", object_name=view.obj.name, record_id=survivor) if survivor else None
        return MergeActions(None, None, "", display.Cell(title, url) if survivor else None)
    if not principal.grant(view.obj.name).merge_ or not view.can_edit:
        return MergeActions(None, None, "")
    ids = {"object_name": view.obj.name, "record_id": view.record.id}
    with ui_session() as session:
        info = merging.undoable(session, view.obj.name, view.record.id)
    until = formatter().moment(info.undo_until) if info is not None else ""
    return MergeActions(
        url_for("merging.merge_page", **ids), url_for("merging.unmerge", **ids) if info else None, until
    )


# --- the side-by-side page ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """One radio: a record's value of a field."""

    record_id: int
    text: str
    checked: bool


@dataclass(frozen=True)
class Row:
    """One field: its label, a choice per record, its problems."""

    name: str
    label: str
    choices: list[Choice]
    errors: list[str]


@dataclass(frozen=True)
class Column:
    """One record: its title, link, version and whether it survives."""

    record_id: int
    title: str
    url: str
    version: int
    survivor: bool


@dataclass(frozen=True)
class MergeView:
    """Everything ``merge.html`` shows; ``columns`` is empty on the picking step."""

    heading: str
    record_title: str
    cancel_url: str
    action_url: str
    lookup_url: str
    columns: list[Column]
    rows: list[Row]
    errors: list[str]


def merge_view(
    session: Session,
    object_name: str,
    record_id: int,
    others: Sequence[int],
    chosen: Mapping[str, int],
    errors: Mapping[str, list[FieldError]],
) -> MergeView:
    """The page: the picking step, or the records side by side."""
    obj = readable(session, object_name)
    fmt, lang = formatter(), formatter().lang
    survivor = session.get(obj.name, record_id)
    title = format_title(obj, survivor)
    common = {
        "heading": t("merge.heading", object=obj.label.get(lang), title=title),
        "record_title": title,
        "cancel_url": url_for("records.show", object_name=obj.name, record_id=record_id),
        "action_url": url_for("merging.merge_page", object_name=obj.name, record_id=record_id),
        "lookup_url": url_for("records.lookup", object_name=obj.name),
    }
    if not others:
        return MergeView(**common, columns=[], rows=[], errors=_messages(errors))
    plan = merging.plan(session, obj.name, record_id, others)
    refs = display.collect_references(session, obj, plan.records, plan.fields)
    columns = [
        Column(
            r.id,
            format_title(obj, r),
            url_for("records.show", object_name=obj.name, record_id=r.id),
            r.version,
            i == 0,
        )
        for i, r in enumerate(plan.records)
    ]
    rows = []
    for f in plan.fields:
        default = chosen.get(f.name, plan.defaults.get(f.name))
        texts = [display.format_value(r.get(f.name), f, fmt, refs) for r in plan.records]
        if len(set(texts)) == 1 and f.name not in errors:
            continue  # the same everywhere: nothing to choose
        choices = [Choice(r.id, text, r.id == default) for r, text in zip(plan.records, texts, strict=True)]
        if default is None:  # a sum of several: shown as the sum
            choices = [Choice(0, display.format_value(plan.values[f.name], f, fmt, refs), True)]
        rows.append(Row(f.name, f.label.get(lang), choices, [e.message for e in errors.get(f.name, [])]))
    shown = {r.name for r in rows}
    rest = {k: v for k, v in errors.items() if k not in shown}
    return MergeView(**common, columns=columns, rows=rows, errors=_messages(rest))


def merge_page(object_name: str, record_id: int) -> Response | str | tuple[str, int]:
    """GET: pick the other record(s), then the records side by side. POST: merge."""
    others = _ids(request.values.getlist("with"))
    if request.method == "GET":
        return _render(object_name, record_id, others, {}, {})
    chosen = {k[len("fields.") :]: v for k, v in request.form.items() if k.startswith("fields.") and v.isdigit()}
    choices = {name: int(value) for name, value in chosen.items() if int(value) > 0}
    versions = {k[len("version.") :]: v for k, v in request.form.items() if k.startswith("version.")}
    try:
        with ui_session() as session:
            readable(session, object_name)
            result = session.merge(object_name, record_id, others, choices=choices, versions=versions)
    except ValidationFailed as exc:
        return _render(object_name, record_id, others, choices, exc.errors, 422)
    except (Conflict, PermissionDenied) as exc:
        flash(t("merge.conflict") if isinstance(exc, Conflict) else str(exc), "error")
        return redirect(url_for("records.show", object_name=object_name, record_id=record_id))
    flash(t("merge.done", count=len(result.merge.merged_ids)), "info")
    return redirect(url_for("records.show", object_name=object_name, record_id=record_id))


def unmerge(object_name: str, record_id: int) -> Response:
    """Undo the record's latest merge, then back to its page."""
    try:
        with ui_session() as session:
            readable(session, object_name)
            session.unmerge(object_name, record_id)
        flash(t("merge.undone"), "info")
    except ValidationFailed as exc:
        for message in _messages(exc.errors):
            flash(message, "error")
    return redirect(url_for("records.show", object_name=object_name, record_id=record_id))


def _render(
    object_name: str,
    record_id: int,
    others: list[int],
    chosen: Mapping[str, int],
    errors: Mapping[str, list[FieldError]],
    status: int = 200,
) -> tuple[str, int]:
    try:
        with ui_session() as session:
            view = merge_view(session, object_name, record_id, others, chosen, errors)
            obj = session.object(object_name)
    except ValidationFailed as exc:  # the records cannot be merged at all: say why on the picking step
        with ui_session() as session:
            view = merge_view(session, object_name, record_id, [], {}, exc.errors)
            obj = session.object(object_name)
        status = 422
    return render_page("merge.html", obj, view=view), status


def _ids(raw: Sequence[str]) -> list[int]:
    return [int(v) for v in raw if v.strip().isdigit()]


def _messages(errors: Mapping[str, list[FieldError]]) -> list[str]:
    return [e.message for problems in errors.values() for e in problems]


def create_blueprint(app: Flask) -> Blueprint:
    """The merge routes; makes ``merge_actions`` available to templates."""
    app.jinja_env.globals["merge_actions"] = merge_actions
    blueprint = Blueprint("merging", __name__)
    blueprint.before_request(_require_login)
    blueprint.add_url_rule("/o/<object_name>/<int:record_id>/merge", "merge_page", merge_page, methods=["GET", "POST"])
    blueprint.add_url_rule("/o/<object_name>/<int:record_id>/unmerge", "unmerge", unmerge, methods=["POST"])
    return blueprint
