"""Create/edit forms: a widget per field type (``webui.ui.widgets``), and form input → engine values.

``form_view`` builds the typed view model of ``form.html`` from a *form state*
(what the inputs hold: text, a list for multiple selects, a bool for
checkboxes); ``record_state`` makes that state from a stored record, and
``parse_form`` makes it from a POST together with the values the engine is
given. Only fields the user may change are read from a POST: read-only ones
are shown as text and never submitted, hidden ones are absent.

Conversions: an empty input is None; an absent checkbox is False; a multiple
select is a list; tags are comma-separated text (the engine splits them); JSON
is parsed here (a syntax error is a field error); a lookup is the id in the
hidden input named like the field; a user (``type: user`` fields and the Owner
control) is the id chosen in a select or, with the type-ahead, the id in the hidden
input or else the name typed in ``<field>__name`` (see ``webui.ui.userpicker``); an
uploaded file is stored under ``TRELLIS_UPLOAD_DIR`` with a random key, becomes
``{key, name, size, content_type}`` and is registered as the user's upload for that
field (``engine.runtime.records.files``: the first save binds it to the record); a name or
content type with control characters is refused. Everything else is judged by the engine.

The Owner control (``owner_id``) is shown to users who may give records to someone
else (``userpicker.may_choose_owner``); an empty one leaves the owner as it is (the
creator, for a new record). An ``owner_id`` in a POST is always handed to the engine,
which refuses an owner the user may not choose; that error is shown beside the control
(or, for a user without one, beside the owner's name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from werkzeug.datastructures import FileStorage, MultiDict

from engine.metadata.model import FieldDef, ObjectDef, Stage
from engine.runtime.errors import RECORD_ERRORS, FieldError
from engine.runtime.records.session import Session
from engine.runtime.workflow import converted
from engine.runtime.workflow.pipeline import REASON_KEY
from webui.api.meta import visible_fields
from webui.i18n import Formatter, has_text
from webui.ui import userpicker
from webui.ui.display import SectionView, collect_references, format_value, sections, user_names
from webui.ui.duplicates import DuplicatesView
from webui.ui.widgets import (
    INPUT_TYPES,
    NO_VALUE,
    FormField,
    FormState,
    Post,
    Shown,
    read_user,
    user_field,
    widget,
)

#: The form name of the Owner control (the record's system column).
OWNER = "owner_id"


@dataclass(frozen=True)
class SummaryItem:
    """One problem in the error summary at the top of a form; ``anchor`` is the id of the
    field's control (None for problems of the whole record)."""

    message: str
    label: str = ""
    anchor: str | None = None


@dataclass(frozen=True)
class LostStages:
    """The stage select's lost stages, for the form's confirmation (``static/form.js``)."""

    field: str
    keys: str
    asks: str


@dataclass(frozen=True)
class FormView:
    """Everything ``form.html`` shows."""

    obj: ObjectDef
    heading: str
    fields: list[FormField]
    record_errors: list[str]
    action_url: str
    cancel_url: str
    version: int | None
    multipart: bool
    record_id: int | None = None
    #: ``fields`` grouped by the object's layout; empty without one (a flat form).
    sections: list[SectionView] = field(default_factory=list)
    #: The Owner control (or, after a refused owner, the owner's name with the error).
    owner: FormField | None = None
    #: The optional "Reason for the stage change" (``stage_reason``) of a pipeline object.
    stage_reason: FormField | None = None
    #: Every problem, record-level ones first, then the fields' in the order they are shown.
    summary: list[SummaryItem] = field(default_factory=list)
    #: The record moves to a lost stage and the user was asked to confirm: the next save confirms.
    confirm_lost: bool = False
    #: The lost stages of the stage select (None without an editable stage).
    lost_stages: LostStages | None = None
    #: The likely duplicates a duplicate rule found (``webui.ui.duplicates``), with "Save anyway" for ``warn``.
    duplicates: DuplicatesView | None = None


def editable(session: Session, obj: ObjectDef, f: FieldDef) -> bool:
    """Whether the user may give ``f`` a value (not computed, hidden, read-only, or a
    link only a conversion sets)."""
    return (
        not f.is_computed
        and session.principal.can_change(obj.name, f.name)
        and f.name not in converted.link_fields(session.config, obj.name)
    )


def widget_of(f: FieldDef) -> str:
    """The widget name of the field type (``FieldType.widget``)."""
    return f.kind.widget


# --- state from a record / from a POST ---------------------------------------------------------
def form_text(f: FieldDef, value: Any, fmt: Formatter) -> Any:
    """A stored value as its input holds it (``Widget.text``)."""
    shown = widget(f)
    return shown.empty() if value is None else shown.text(value, fmt)


def record_state(session: Session, obj: ObjectDef, record: Mapping[str, Any], fmt: Formatter) -> FormState:
    """The form state of a stored record (editable fields only, and the owner)."""
    state = {
        f.name: form_text(f, record.get(f.name), fmt)
        for f in visible_fields(obj, session.principal)
        if editable(session, obj, f)
    }
    return {**state, OWNER: str(record.get(OWNER) or "")}


def default_state(session: Session, obj: ObjectDef, fmt: Formatter) -> FormState:
    """The state of a new form: the config's fixed defaults (expression defaults, such as
    ``=today()``, are computed by the engine when the record is saved without a value)."""
    state = {
        f.name: form_text(f, f.default, fmt)
        for f in visible_fields(obj, session.principal)
        if editable(session, obj, f) and f.default is not None
    }
    return {**state, OWNER: str(session.user or "")}


def without_empty(values: dict[str, Any]) -> dict[str, Any]:
    """A new record's values without the empty ones, so that the engine applies defaults."""
    return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class ParsedForm:
    """A POST read: the values for the engine, the state to show again, and input errors."""

    values: dict[str, Any]
    state: FormState
    errors: dict[str, list[FieldError]]


def parse_form(
    session: Session,
    obj: ObjectDef,
    form: MultiDict[str, str],
    files: MultiDict[str, FileStorage],
    fmt: Formatter,
    current: Mapping[str, Any] | None = None,
) -> ParsedForm:
    """Read the editable fields from a POST (see the module docstring for the conversions)."""
    values: dict[str, Any] = {}
    state: FormState = {}
    errors: dict[str, list[FieldError]] = {}
    post = Post(session, obj, form, files, fmt, current)
    for f in visible_fields(obj, session.principal):
        if not editable(session, obj, f):
            continue
        read = widget(f).read(post, f)
        state.update(read.state)
        if read.value is not NO_VALUE:
            values[f.name] = read.value
        if read.errors:
            errors[f.name] = read.errors
    if OWNER in form or f"{OWNER}__name" in form:
        shown, owner, problems = read_user(session, OWNER, form, fmt)
        state.update(shown)
        if problems:
            errors[OWNER] = problems
        elif owner is not None:  # empty: the owner stays (the creator, for a new record)
            values[OWNER] = int(owner) if owner.isdigit() and len(owner) < 18 else owner
    if obj.pipeline is not None and REASON_KEY in form:  # write-only: explains a skip or reopening
        state[REASON_KEY] = form.get(REASON_KEY, "")
        values[REASON_KEY] = state[REASON_KEY] if state[REASON_KEY].strip() else None
    return ParsedForm(values, state, errors)


# --- the view model ---------------------------------------------------------------------------------------------
def owner_field(
    session: Session,
    obj: ObjectDef,
    state: FormState,
    errors: list[str],
    fmt: Formatter,
    record: Mapping[str, Any] | None,
) -> FormField | None:
    """The Owner control for users who may give the record to someone else; for others
    nothing, unless the engine refused an owner (a forged POST): then the owner's name
    with the error."""
    label = fmt.t("record.owner")
    if userpicker.may_choose_owner(session.principal, obj.name):
        common = {
            "name": OWNER,
            "label": label,
            "widget": "user",
            "errors": errors,
            "help": fmt.t("form.owner_help"),
            "none_option": False,
        }
        return user_field(
            session,
            common,
            state,
            session.principal.may_give_to(obj.name),
            url_for("auth.users_lookup", owner_of=obj.name),
        )
    if not errors:
        return None
    owner = record.get(OWNER) if record is not None else session.user
    return FormField(
        OWNER, label, "readonly", errors=errors, display=user_names(session, [owner]).get(owner, "") if owner else ""
    )


def build_field(
    session: Session, obj: ObjectDef, f: FieldDef, state: FormState, errors: list[str], fmt: Formatter
) -> FormField:
    """The widget of one editable field, holding ``state``'s value."""
    name = widget_of(f)
    common: dict[str, Any] = {
        "name": f.name,
        "label": f.label.get(fmt.lang),
        "widget": name,
        "required": f.required,
        "errors": errors,
        "help": f.help.get(fmt.lang) if f.help else None,
        "input_type": INPUT_TYPES.get(name, "text"),
    }
    return widget(f).build(Shown(session, obj, f, state, common, fmt.lang))


def error_text(error: FieldError, fmt: Formatter, obj: ObjectDef | None = None, name: str = "") -> str:
    """An engine error as the form shows it, in the page's language: a text the engine wrote
    in that language already (a rule's message, or its neutral message when the rule reads
    fields the user may not read), a missing required field ``name`` in the UI's words, the
    UI text ``form.error.<code>`` where one exists, else the engine's catalogue text."""
    if error.translated:
        return error.message
    if error.code == "required" and obj is not None and name in obj.fields:
        return fmt.t("form.field_required", field=obj.fields[name].label.get(fmt.lang))
    key = f"form.error.{error.code}"
    return fmt.t(key) if has_text(key) else error.message


def form_view(
    session: Session,
    obj: ObjectDef,
    state: FormState,
    errors: Mapping[str, list[FieldError]],
    fmt: Formatter,
    record: Mapping[str, Any] | None = None,
    version: int | None = None,
    confirm_lost: bool = False,
) -> FormView:
    """The view model of a create form (``record`` None) or an edit form."""
    lang = fmt.lang
    errors = {
        name: [FieldError(e.code, error_text(e, fmt, obj, name), translated=True) for e in problems]
        for name, problems in errors.items()
    }
    shown: list[FormField] = []
    placed: set[str] = set()
    fields = visible_fields(obj, session.principal)
    refs = collect_references(session, obj, [record], fields) if record is not None else None
    for f in fields:
        messages = [e.message for e in errors.get(f.name, [])]
        if editable(session, obj, f):
            shown.append(build_field(session, obj, f, state, messages, fmt))
            placed.add(f.name)
        elif record is not None:
            text = format_value(record.get(f.name), f, fmt, refs) if refs else ""
            shown.append(FormField(f.name, f.label.get(lang), "readonly", display=text, errors=messages))
            placed.add(f.name)
    owner = owner_field(session, obj, state, [e.message for e in errors.get(OWNER, [])], fmt, record)
    stage, reason = obj.fields.get(obj.pipeline.field) if obj.pipeline is not None else None, None
    if stage is not None and stage.name in placed and editable(session, obj, stage):
        reason = stage_reason_field(state, [e.message for e in errors.get(REASON_KEY, [])], fmt)
        placed.add(REASON_KEY)
    if owner is not None:
        placed.add(OWNER)
    record_errors = [e.message for e in errors.get(RECORD_ERRORS, [])]
    record_errors += [
        f"{name}: {e.message}"
        for name, problems in errors.items()
        if name not in placed and name != RECORD_ERRORS
        for e in problems
    ]
    label = obj.label.get(lang)
    if record is None:
        action = url_for("records.create", object_name=obj.name)
        cancel = url_for("records.list_records", object_name=obj.name)
        heading = fmt.t("form.new", object=label)
    else:
        action = url_for("records.edit", object_name=obj.name, record_id=record["id"])
        cancel = url_for("records.show", object_name=obj.name, record_id=record["id"])
        heading = fmt.t("form.edit", object=label)
    grouped = sections(obj, shown, fmt) if obj.sections else []
    ordered = [f for section in grouped for f in section.items] if grouped else shown
    summary = [SummaryItem(message) for message in record_errors]
    summary += [
        SummaryItem(message, f.label, f"f-{f.name}")
        for f in [*ordered, *(x for x in (owner, reason) if x is not None)]
        for message in f.errors
    ]
    lost = lost_stages(obj) if stage is not None and stage.name in placed and editable(session, obj, stage) else None
    return FormView(
        obj,
        heading,
        shown,
        record_errors,
        action,
        cancel,
        version,
        any(x.widget == "file" for x in shown),
        record["id"] if record is not None else None,
        grouped,
        owner,
        reason,
        summary,
        confirm_lost,
        lost,
    )


def lost_stages(obj: ObjectDef) -> LostStages | None:
    """The lost stages of ``obj``'s pipelines and the fields they require (the lost reason)."""
    if obj.pipeline is None:
        return None
    lost = [s for s in obj.pipeline.all_stages() if s.outcome == "lost"]
    if not lost:
        return None
    asks = dict.fromkeys(name for s in lost for name in s.requires)
    return LostStages(obj.pipeline.field, " ".join(s.key for s in lost), " ".join(asks))


def lost_move(obj: ObjectDef, record: Mapping[str, Any] | None, values: Mapping[str, Any]) -> Stage | None:
    """The lost stage ``values`` move the record to (from another stage), or None."""
    pipe = obj.pipeline
    if pipe is None or values.get(pipe.field) is None:
        return None
    before = (record or {}).get(pipe.field)
    target = pipe.for_values({**(record or {}), **values}).stage(values[pipe.field])
    if target is None or target.outcome != "lost" or target.key == before:
        return None
    return target


def lost_confirmation(
    obj: ObjectDef, record: Mapping[str, Any] | None, parsed: ParsedForm, confirmed: bool, fmt: Formatter
) -> dict[str, list[FieldError]]:
    """Closing a record as lost asks first: unless ``confirmed``, the question (on the stage
    field). The engine reports what the lost stage still needs (the lost reason) beside it."""
    target = lost_move(obj, record, parsed.values)
    if target is None or confirmed:
        return {}
    label = target.label.get(fmt.lang)
    return {obj.pipeline.field: [FieldError("confirm_lost", fmt.t("form.lost_confirm", stage=label), translated=True)]}


def stage_reason_field(state: FormState, errors: list[str], fmt: Formatter) -> FormField:
    """The "Reason for the stage change" textarea (``stage_reason``): the engine asks for it
    when a move skips stages, and keeps it in the stage history."""
    return FormField(
        REASON_KEY,
        fmt.t("stage.reason"),
        "textarea",
        value=str(state.get(REASON_KEY) or ""),
        errors=errors,
        help=fmt.t("stage.reason_help"),
    )
