"""Pipelines in the web UI (S17–S19): the stage path of a record page, its stage history,
and moving a record to another stage.

HTTP and view models only. Gates, transitions, skips, reopening, approvals and the
stage history are the engine's (``engine.runtime.workflow.pipeline``, ``engine.runtime.workflow.approvals``):
every move is ``Session.update(object, id, {stage_field: key, …}, version=…, reason=…)``.

- ``stage_path`` (a template global) builds the path bar of ``_stage_path.html``: every
  stage in order (done / current / to do, won and lost styled, probability, the config's
  colours from ``/stages.css``), "in this stage for N days" from ``stage_entered_at``, and
  the fields the next stage still needs. Each stage is a small POST form (no JavaScript
  needed); ``static/board.js`` sends it with fetch and opens the move dialog when needed.
- ``stage_history`` (a template global): from → to, who, when, reason, time in the
  previous stage (``pipeline.stage_history``).
- ``move`` (``POST /o/<object>/<id>/move``): one endpoint for the record page, the
  board's drag and drop and its "Move to…" control. Form fields (or a JSON body
  ``{stage, version, stage_reason, next, values: {field: value}}`` with the CSRF token in
  the ``X-CSRFToken`` header): ``stage``, ``version``, ``stage_reason``, ``next`` (a local
  path to go back to) and the inputs of the fields the stage needs, named as in the edit
  form (only those are taken). A request that accepts JSON gets JSON: 200 with the record,
  202 with the approval request, 422 with the missing fields (``missing``, their errors in
  ``fields``, their widgets in ``form_html`` and as metadata in ``widgets``, other problems
  in ``messages``), 403, 404 and 409 with ``error.message``. Otherwise the answer is a
  redirect with a flash message, or — when the stage needs something — ``move.html``, the
  page asking for it. ``GET`` shows that page for ``?stage=``. A reopening (from a won
  or lost stage back to an open one) asks for a reason first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from babel.dates import format_timedelta
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.datastructures import FileStorage, MultiDict

from engine.metadata.model import ObjectDef, Pipeline, Stage
from engine.runtime.errors import RECORD_ERRORS, Conflict, FieldError, NotFound, ValidationFailed
from engine.runtime.records.query import format_title
from engine.runtime.records.record import Record
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import PermissionDenied
from engine.runtime.workflow import approvals, pipeline
from webui.api.serialize import has_surrogate, record_json
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui import approvals as approval_pages
from webui.ui import board, context, display, forms
from webui.ui.board import COLOR, percent, stage_classes
from webui.ui.context import formatter, local_path, t, ui_session
from webui.ui.views import (
    CONFIRM_LOST,
    VersionMissing,
    _require_login,
    _save,
    readable,
    render_page,
    required_version,
)

REASON = pipeline.REASON_KEY


# --- what a move looks like ------------------------------------------------------------------------------
def move_kind(pipe: Pipeline, current: str | None, target: Stage) -> str:
    """How a move looks to people: ``current``, ``forward``, ``skip``, ``back``, ``lost``,
    ``reopen`` or ``closed`` (from one closed stage to another). A hint for labels and for
    asking a reason; whether the move is allowed is the engine's decision."""
    here = pipe.stage(current) if current is not None else None
    if here is None:
        return "forward"
    if here.key == target.key:
        return "current"
    if here.is_closed:
        return "closed" if target.is_closed else "reopen"
    if target.outcome == "lost":
        return "lost"
    old, new = pipe.position(here.key), pipe.position(target.key)
    if old is None or new is None:
        return "forward"
    if new < old:
        return "back"
    allowed = here.next or tuple(s.key for s in pipe.main_line[old + 1 : old + 2])
    return "forward" if target.key in allowed else "skip"


def visible_missing(session: Session, obj: ObjectDef, stage_key: str, values: Any) -> tuple[list[str], bool]:
    """The fields ``stage_key`` needs that are empty in ``values``: the names the viewer may
    see, and whether some the viewer may not see are among them."""
    missing = pipeline.missing_fields(obj, stage_key, values, session.clock())
    seen = [n for n in missing if session.principal.can_see(obj.name, n)]
    return seen, len(seen) < len(missing)


def field_labels(obj: ObjectDef, names: list[str], fmt: Formatter) -> list[str]:
    return [obj.fields[n].label.get(fmt.lang) for n in names if n in obj.fields]


def may_move(session: Session, obj: ObjectDef, record: Record) -> bool:
    """Whether the viewer may change the record's stage at all (the engine decides each move)."""
    assert obj.pipeline is not None
    return display.may(session, obj, "edit", record) and forms.editable(session, obj, obj.fields[obj.pipeline.field])


# --- the stage path ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageChip:
    """One stage of the path bar."""

    key: str
    label: str
    state: str  # done / current / todo / side (a lost stage that is not the current one)
    outcome: str
    css: str
    probability: str
    kind: str
    needs: str  # "needs Budget, Quote" (empty when nothing is missing)
    description: str  # for screen readers and the tooltip


@dataclass(frozen=True)
class StagePath:
    """Everything ``_stage_path.html`` shows."""

    label: str
    chips: list[StageChip]
    current: StageChip | None
    days: str
    probability: str
    next_text: str
    next_ready: bool
    can_move: bool
    locked: bool
    move_url: str
    record_url: str
    board_url: str
    version: int
    stylesheet: str


def stage_path(obj: ObjectDef, record: Record) -> StagePath | None:
    """The path bar of ``record`` (None for objects without a pipeline or a hidden stage field):
    the stages of the record's own pipeline (``Pipeline.for_values``: a renewal's, say)."""
    if obj.pipeline is None or obj.pipeline.field not in record:
        return None
    pipe = obj.pipeline.for_values(record)
    fmt = formatter()
    with ui_session() as session:
        current_key = record.get(pipe.field)
        current = pipe.stage(current_key) if current_key is not None else None
        position = pipe.position(current_key)
        chips = []
        for stage in pipe.stages:
            if current is not None and stage.key == current.key:
                state = "current"
            elif stage.outcome == "lost":
                state = "side"
            elif position is not None and (pipe.position(stage.key) or 0) < position:
                state = "done"
            else:
                state = "todo"
            missing, hidden = visible_missing(session, obj, stage.key, record)
            needs = ", ".join(field_labels(obj, missing, fmt) + ([fmt.t("stage.hidden_needs")] if hidden else []))
            kind = move_kind(pipe, current_key, stage)
            label = stage.label.get(fmt.lang)
            description = fmt.t("stage.is_current" if state == "current" else "stage.move_to", stage=label)
            if needs and state != "current":
                description += " — " + fmt.t("stage.needs", fields=needs)
            chips.append(
                StageChip(
                    stage.key,
                    label,
                    state,
                    stage.outcome,
                    stage_classes(obj, stage, pipe),
                    percent(stage, fmt),
                    kind,
                    needs if state != "current" else "",
                    description,
                )
            )
        next_stage = _next_stage(pipe, current)
        next_text, ready = "", False
        if next_stage is not None:
            missing, hidden = visible_missing(session, obj, next_stage.key, record)
            names = field_labels(obj, missing, fmt) + ([fmt.t("stage.hidden_needs")] if hidden else [])
            label = next_stage.label.get(fmt.lang)
            ready = not names
            next_text = (
                fmt.t("stage.next_needs", stage=label, fields=", ".join(names))
                if names
                else fmt.t("stage.next_ready", stage=label)
            )
        can_move = may_move(session, obj, record)
        locked = bool(can_move and _locked(session, obj, record))
        days = _days(record.get("stage_entered_at"), session.clock().now_utc, fmt)
    chosen = next((c for c in chips if c.state == "current"), None)
    return StagePath(
        label=pipe.label.get(fmt.lang),
        chips=chips,
        current=chosen,
        days=days,
        probability=(
            fmt.t("stage.probability", value=fmt.number(round(current.probability)))
            if current is not None and current.probability is not None
            else ""
        ),
        next_text=next_text,
        next_ready=ready,
        can_move=can_move and not locked,
        locked=locked,
        move_url=url_for("pipeline.move", object_name=obj.name, record_id=record.id),
        record_url=url_for("records.show", object_name=obj.name, record_id=record.id),
        board_url=url_for("pipeline.board", object_name=obj.name, **board.pipeline_arg(obj, pipe)),
        version=record.version,
        stylesheet=url_for("pipeline.stage_colors"),
    )


def _next_stage(pipe: Pipeline, current: Stage | None) -> Stage | None:
    """The stage a record moves to next: the first of ``next``, else the next on the main line."""
    if current is None:
        return pipe.main_line[0] if pipe.main_line else None
    if current.is_closed:
        return None
    if current.next:
        return pipe.stage(current.next[0])
    position = pipe.position(current.key)
    if position is None or position + 1 >= len(pipe.main_line):
        return None
    return pipe.main_line[position + 1]


def _locked(session: Session, obj: ObjectDef, record: Record) -> bool:
    """Whether a pending request locks the stage (``approvals.check_locks``)."""
    for pending in approvals.pending_for_record(session, obj.name, record.id):
        if obj.pipeline.field in pending.changes:
            return True
        for name in pending.rules:
            rule = session.config.approval_rule(name)
            if rule is not None and rule.trigger == "stage_skip":
                return True
    return False


def _days(entered: dt.datetime | None, now: dt.datetime, fmt: Formatter) -> str:
    if entered is None:
        return ""
    if entered.tzinfo is None:
        entered = entered.replace(tzinfo=dt.UTC)
    days = max((now - entered).days, 0)
    if days == 0:
        return fmt.t("stage.today")
    return fmt.plural("stage.days", days)


# --- the stage history ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryEntry:
    """One stage change."""

    change: str
    who: str
    when: str
    iso: str
    reason: str
    duration: str
    skipped: str


def stage_history(obj: ObjectDef, record: Record) -> list[HistoryEntry] | None:
    """The stage changes of ``record``, newest first (None without a visible pipeline), with
    the stage labels of the record's pipeline (other pipelines' labels for stages it left)."""
    if obj.pipeline is None or obj.pipeline.field not in record:
        return None
    pipe = obj.pipeline.for_values(record)
    others = {s.key: s for s in obj.pipeline.all_stages()}
    fmt = formatter()
    with ui_session() as session:
        rows = pipeline.stage_history(
            session.connection, session.schema.system["sys_stage_history"], obj.name, record.id
        )
        names = display.user_names(session, [row["user_id"] for row in rows])

    def label(key: str | None) -> str:
        stage = (pipe.stage(key) or others.get(key)) if key is not None else None
        return stage.label.get(fmt.lang) if stage is not None else (key or "")

    entries = []
    for row in reversed(rows):
        change = (
            f"{label(row['from_stage'])} → {label(row['to_stage'])}"
            if row["from_stage"] is not None
            else fmt.t("stage.history_created", stage=label(row["to_stage"]))
        )
        seconds = row["seconds_in_previous"]
        duration = format_timedelta(dt.timedelta(seconds=seconds), locale=fmt.locale) if seconds is not None else ""
        entries.append(
            HistoryEntry(
                change,
                names.get(row["user_id"], "") if row["user_id"] is not None else "",
                fmt.moment(row["at"]),
                row["at"].isoformat(),
                row["reason"] or "",
                duration,
                fmt.plural("stage.history_skipped", row["skipped"]) if row["skipped"] else "",
            )
        )
    return entries


# --- moving ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoveForm:
    """What a move still needs: the dialog of board.js and the page ``move.html``."""

    title: str
    dialog_title: str
    stage: str
    stage_label: str
    action_url: str
    version: int
    next: str
    fields: list[forms.FormField]
    messages: list[str]
    missing: list[str]
    record_url: str
    edit_url: str | None
    multipart: bool
    move_url: str
    errors: dict[str, list[FieldError]] = field(default_factory=dict)
    #: A move to a lost stage: asks to confirm it (and for what the stage requires, e.g. the lost reason).
    lost: bool = False


class _ReasonWanted(Exception):
    """A reopening asks for a reason before it is sent to the engine."""


class _LostConfirmWanted(Exception):
    """A move to a lost stage is confirmed (``confirm_lost``) before it is sent to the engine."""


def movable(session: Session, object_name: str, record_id: int) -> tuple[ObjectDef, Record]:
    """The object and record, when the viewer may read both and see the stage; else 404."""
    obj = readable(session, object_name)
    if obj.pipeline is None or not session.principal.can_see(obj.name, obj.pipeline.field):
        abort(404)
    return obj, session.get(obj.name, record_id)


def wants_json() -> bool:
    """Whether the caller (board.js, a script) wants a JSON answer."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json"


def move_input() -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """The move's inputs as form fields (a JSON body is turned into them)."""
    if not request.is_json:
        return request.form, request.files
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("values", {}), dict) or has_surrogate(body):
        abort(400)
    data: MultiDict[str, str] = MultiDict()
    for key in ("stage", "version", "next", REASON, "flash"):
        if body.get(key) is not None:
            data.add(key, str(body[key]))
    for name, value in (body.get("values") or {}).items():
        if isinstance(value, list):
            for item in value:
                data.add(name, str(item))
        elif value is True:
            data.add(name, "1")
        elif value is not False:
            data.add(name, "" if value is None else str(value))
    return data, MultiDict()


def move(object_name: str, record_id: int) -> Any:
    """Move a record to another stage (see the module docstring for the answers)."""
    if request.method == "GET":
        with ui_session() as session:
            obj, record = movable(session, object_name, record_id)
            if obj.pipeline.for_values(record).stage(request.args.get("stage", "")) is None:
                abort(404)
        return _move_page(object_name, record_id, request.args.get("stage", ""), request.args, None, {}, False)
    data, files = move_input()
    stage_key = data.get("stage", "").strip()
    fmt = formatter()
    parsed = None
    try:
        with ui_session() as session:
            obj, record = movable(session, object_name, record_id)
            version = required_version(session, obj.name, record.id, data.get("version"))
            pipe = obj.pipeline.for_values(record)
            target = pipe.stage(stage_key)
            if target is None:
                raise ValidationFailed(
                    {pipe.field: [FieldError("invalid", fmt.t("move.unknown_stage", stage=stage_key))]}, obj.name
                )
            kind = move_kind(pipe, record.get(pipe.field), target)
            if kind == "reopen" and REASON not in data:
                raise _ReasonWanted()
            if kind == "lost" and not data.get(CONFIRM_LOST):
                raise _LostConfirmWanted()
            parsed = forms.parse_form(session, obj, data, files, fmt, record)
            given = _given(session, obj, record, target, data, files, parsed)
            values = {name: parsed.values[name] for name in given if name in parsed.values}
            values[obj.pipeline.field] = target.key
            problems = {name: parsed.errors[name] for name in given if name in parsed.errors}
            reason = data.get(REASON) if data.get(REASON, "").strip() else None
            saved = _save(
                forms.ParsedForm(values, parsed.state, problems),
                lambda v: session.update(obj.name, record.id, v, version=version, reason=reason),
            )
            label = target.label.get(fmt.lang)
            pending = saved.pending_approval
            message = (
                approval_pages.pending_text(session, pending, fmt) if pending else fmt.t("move.moved", stage=label)
            )
            title = format_title(obj, saved)
    except ValidationFailed as exc:
        return _move_page(object_name, record_id, stage_key, data, parsed, exc.errors, False, status=422)
    except _ReasonWanted:
        return _move_page(object_name, record_id, stage_key, data, parsed, {}, True, status=422)
    except _LostConfirmWanted:
        return _move_page(object_name, record_id, stage_key, data, parsed, {}, False, status=422)
    except PermissionDenied as exc:
        return _refused(object_name, record_id, data, 403, "forbidden", t("move.denied", message=str(exc)))
    except VersionMissing:
        return _refused(object_name, record_id, data, 409, "conflict", t("form.version_missing"))
    except Conflict:
        return _refused(object_name, record_id, data, 409, "conflict", t("move.conflict"))
    except NotFound:
        if wants_json():
            return jsonify({"error": {"code": "not_found", "message": t("error.404")}}), 404
        raise
    back = local_path(data.get("next"))
    target_url = back or url_for("records.show", object_name=object_name, record_id=record_id)
    if not wants_json() or data.get("flash"):
        flash(message, "info")
    if not wants_json():
        return redirect(target_url)
    body = {
        "record": record_json(saved),
        "message": message,
        "stage": stage_key,
        "title": title,
        "redirect": target_url,
    }
    if pending is not None:
        return jsonify({**body, "approval": pending.to_dict()}), 202
    return jsonify(body), 200


def _given(
    session: Session,
    obj: ObjectDef,
    record: Record,
    target: Stage,
    data: MultiDict[str, str],
    files: MultiDict[str, FileStorage],
    parsed: forms.ParsedForm,
) -> set[str]:
    """The fields a move takes from its inputs: those sent that the stage needs (a move is
    not an edit: other inputs are ignored)."""
    sent = {
        name
        for name in obj.fields
        if name in data
        or f"{name}__name" in data
        or f"{name}__clear" in data
        or (files.get(name) is not None and files[name].filename)
    }
    sent = {
        name
        for name in sent
        if forms.editable(session, obj, obj.fields[name]) and session.principal.can_see(obj.name, name)
    }
    probe = {**record, **{name: parsed.values.get(name) for name in sent}}
    return sent & set(pipeline.required_fields(obj, target.key, probe, session.clock()))


def _refused(object_name: str, record_id: int, data: MultiDict[str, str], status: int, code: str, message: str) -> Any:
    if wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    flash(message, "error")
    back = local_path(data.get("next"))
    return redirect(back or url_for("records.show", object_name=object_name, record_id=record_id))


def move_form(
    session: Session,
    obj: ObjectDef,
    record: Record,
    stage_key: str,
    data: Any,
    parsed: forms.ParsedForm | None,
    problems: dict[str, list[FieldError]],
    reason_wanted: bool,
    fmt: Formatter,
) -> MoveForm:
    """The fields a move to ``stage_key`` asks for: the empty ones it needs, those with an
    error, and the reason for a skip or reopening; other problems as messages."""
    pipe = obj.pipeline.for_values(record)
    target = pipe.stage(stage_key)
    state = forms.record_state(session, obj, record, fmt)
    if parsed is not None:
        state.update(parsed.state)
    asked: list[str] = []
    missing: list[str] = []
    needed: set[str] = set()
    if target is not None:
        missing, _ = visible_missing(session, obj, target.key, record)
        needed = set(pipeline.required_fields(obj, target.key, record, session.clock()))
    kind = move_kind(pipe, record.get(pipe.field), target) if target is not None else "current"
    lost = kind == "lost" and target is not None
    # Closing as lost asks for what the lost stage requires (the lost reason) even when it is filled in.
    own = set(target.requires) if lost else set()
    if target is not None:
        asked = [
            name
            for name in obj.fields
            if forms.editable(session, obj, obj.fields[name])
            and session.principal.can_see(obj.name, name)
            and (name in missing or name in own or (name in problems and name in needed))
        ]
    widgets = [
        replace(
            forms.build_field(session, obj, obj.fields[name], state, [e.message for e in problems.get(name, [])], fmt),
            required=name in needed,
        )
        for name in asked
    ]
    if target is not None and (reason_wanted or REASON in problems or kind in ("skip", "reopen")):
        state.setdefault(REASON, data.get(REASON, ""))
        widgets.append(forms.stage_reason_field(state, [e.message for e in problems.get(REASON, [])], fmt))
    placed = {w.name for w in widgets}
    messages = [e.message for name, ps in problems.items() if name not in placed for e in ps]
    others = any(name not in placed and name not in (RECORD_ERRORS, pipe.field) for name in problems)
    label = target.label.get(fmt.lang) if target is not None else stage_key
    title = format_title(obj, record)
    next_url = local_path(data.get("next")) or ""
    move_url = url_for("pipeline.move", object_name=obj.name, record_id=record.id)
    return MoveForm(
        title=fmt.t("move.title", title=title, stage=label),
        dialog_title=fmt.t("move.lost_title" if lost else "move.dialog_title", stage=label),
        stage=stage_key,
        stage_label=label,
        action_url=move_url,
        version=record.version,
        next=next_url,
        fields=widgets,
        messages=messages,
        missing=[n for n in asked if n in missing],
        record_url=url_for("records.show", object_name=obj.name, record_id=record.id),
        edit_url=url_for("records.edit", object_name=obj.name, record_id=record.id) if others else None,
        multipart=any(w.widget == "file" for w in widgets),
        move_url=url_for(
            "pipeline.move",
            object_name=obj.name,
            record_id=record.id,
            stage=stage_key,
            **({"next": next_url} if next_url else {}),
        ),
        errors={n: ps for n, ps in problems.items() if n in placed or n in (RECORD_ERRORS, pipe.field)},
        lost=lost,
    )


def _move_page(
    object_name: str,
    record_id: int,
    stage_key: str,
    data: Any,
    parsed: forms.ParsedForm | None,
    problems: dict[str, list[FieldError]],
    reason_wanted: bool,
    status: int = 200,
) -> Any:
    """The move form: JSON for board.js (422), else the page ``move.html``."""
    fmt = formatter()
    with ui_session() as session:
        obj, record = movable(session, object_name, record_id)
        form = move_form(session, obj, record, stage_key, data, parsed, problems, reason_wanted, fmt)
    if request.method == "POST" and wants_json():
        code = (
            "required_for_stage"
            if form.missing and all(p.code == "required_for_stage" for ps in problems.values() for p in ps)
            else "invalid"
        )
        return jsonify(
            {
                "error": {
                    "code": code if problems else "confirm_lost" if form.lost else "reason_wanted",
                    "message": " ".join(form.messages) or t("move.refused"),
                },
                "stage": form.stage,
                "stage_label": form.stage_label,
                "title": form.dialog_title,
                "missing": form.missing,
                "messages": form.messages,
                "edit_url": form.edit_url,
                "move_url": form.move_url,
                "fields": {
                    name: [{"code": p.code, "message": p.message} for p in ps] for name, ps in form.errors.items()
                },
                "widgets": [
                    {"name": w.name, "label": w.label, "widget": w.widget, "required": w.required} for w in form.fields
                ],
                "form_html": render_template("_move_fields.html", form=form),
            }
        ), status
    if request.method == "POST" and status == 422 and problems:
        flash(t("move.refused"), "error")
    return render_page("move.html", obj, form=form), status


# --- stage colours, links, registration --------------------------------------------------------------
def stage_colors() -> Response:
    """``/stages.css``: the config's stage colours as CSS classes (no inline styles: the CSP forbids them)."""
    rules = []
    for obj in get_trellis().config.objects.values():
        for pipe in obj.pipeline.all_pipelines() if obj.pipeline else ():
            for stage in pipe.stages:
                if stage.color and COLOR.match(stage.color):
                    rules.append(f".{board.stage_class(obj, stage, pipe)} {{ --stage-color: {stage.color}; }}")
    response = Response("\n".join(rules) + "\n", mimetype="text/css")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def board_link(obj: ObjectDef | None, params: Any = None) -> str | None:
    """The URL of ``obj``'s board (with the list's filters), when it has a pipeline whose
    stage the user may see; else None."""
    principal = context._principal()
    if obj is None or obj.pipeline is None or principal is None or not principal.can_see(obj.name, obj.pipeline.field):
        return None
    args = params.args(page=None, sort=None) if params is not None else {}
    return url_for("pipeline.board", object_name=obj.name, **args)


ROUTES = (
    ("/o/<object_name>/<int:record_id>/move", "move", move, ["GET", "POST"]),
    ("/o/<object_name>/board", "board", board.show_board, ["GET"]),
    ("/stages.css", "stage_colors", stage_colors, ["GET"]),
    *approval_pages.ROUTES,
)


def create_blueprint(app: Flask) -> Blueprint:
    """The routes of pipelines, the board and approvals; also gives templates ``stage_path``,
    ``stage_history``, ``approval_banner``, ``board_link`` and ``approvals_nav``."""
    app.jinja_env.globals.update(
        stage_path=stage_path,
        stage_history=stage_history,
        approval_banner=approval_pages.approval_banner,
        board_link=board_link,
    )
    app.context_processor(approval_pages.approvals_nav)
    blueprint = Blueprint("pipeline", __name__)
    blueprint.before_request(_require_login)
    for rule, endpoint, view, methods in ROUTES:
        blueprint.add_url_rule(rule, endpoint, view, methods=methods)
    return blueprint
