"""Create/edit forms: a widget per field type, and form input → engine values.

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

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app, url_for
from werkzeug.datastructures import FileStorage, MultiDict

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.model import FieldDef, ObjectDef, Stage
from engine.runtime.errors import RECORD_ERRORS, FieldError
from engine.runtime.records import files as stored_files
from engine.runtime.records.session import Session
from engine.runtime.workflow import converted
from engine.runtime.workflow.pipeline import REASON_KEY
from webui.api.meta import visible_fields
from webui.i18n import Formatter, has_text
from webui.ui import userpicker
from webui.ui.display import SectionView, collect_references, format_value, sections, user_names

#: The HTML input type of widgets rendered as a plain ``<input>``.
INPUT_TYPES: Mapping[str, str] = {
    "text": "text",
    "email": "email",
    "tel": "tel",
    "url": "url",
    "number": "number",
    "money": "number",
    "percent": "number",
    "date": "date",
    "datetime": "datetime-local",
    "tags": "text",
}
#: The form name of the Owner control (the record's system column).
OWNER = "owner_id"
#: Stored file keys: random, URL-safe, so they can never name a path outside the upload folder.
FILE_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

FormState = dict[str, Any]


@dataclass(frozen=True)
class Option:
    """One choice of a select; ``parents`` (space-separated) drive dependent picklists."""

    key: str
    label: str
    selected: bool = False
    parents: str = ""


@dataclass(frozen=True)
class FormField:
    """One field of a form; ``widget`` picks the macro in ``_widgets.html``."""

    name: str
    label: str
    widget: str
    required: bool = False
    value: str = ""
    checked: bool = False
    options: list[Option] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    help: str | None = None
    input_type: str = "text"
    step: str | None = None
    minimum: str | None = None
    maximum: str | None = None
    parent: str | None = None
    lookup_url: str | None = None
    lookup_title: str = ""
    file_name: str | None = None
    file_url: str | None = None
    display: str = ""
    #: A select offers "(none)" (not the Owner control: a record keeps an owner).
    none_option: bool = True


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
    """A stored value as its input holds it."""
    widget = widget_of(f)
    if widget == "checkbox":
        return bool(value)
    if value is None:
        return [] if widget == "multiselect" else ""
    if widget == "multiselect":
        return list(value)
    if widget == "tags":
        return ", ".join(value)
    if widget == "datetime":
        return fmt.local_input(value)
    if widget == "json":
        return json.dumps(value, ensure_ascii=False, indent=2)
    if widget == "file":
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


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
    for f in visible_fields(obj, session.principal):
        if not editable(session, obj, f):
            continue
        widget = widget_of(f)
        if widget == "checkbox":
            state[f.name] = values[f.name] = f.name in form
        elif widget == "multiselect":
            chosen = [item for item in form.getlist(f.name) if item]
            state[f.name], values[f.name] = chosen, chosen or None
        elif widget == "file":
            upload = files.get(f.name)
            state[f.name] = (current or {}).get(f.name)
            if upload is not None and upload.filename:
                if not clean_text(upload.filename) or not clean_text(upload.mimetype or ""):
                    errors[f.name] = [FieldError("invalid_file_name", fmt.t("form.file_bad_name"), translated=True)]
                    continue
                state[f.name] = values[f.name] = store_upload(upload)
                stored_files.register(session, obj.name, f.name, values[f.name]["key"])
            elif form.get(f"{f.name}__clear"):
                state[f.name], values[f.name] = None, None
        elif widget == "user":
            shown, values[f.name], problems = read_user(session, f.name, form, fmt)
            state.update(shown)
            if problems:
                errors[f.name] = problems
        elif widget == "json":
            text = form.get(f.name, "")
            state[f.name] = text
            try:
                values[f.name] = json.loads(text) if text.strip() else None
            except ValueError as exc:
                errors[f.name] = [
                    FieldError("invalid_json", fmt.t("form.invalid_json", message=str(exc)), translated=True)
                ]
        else:
            text = form.get(f.name, "")
            state[f.name] = text
            values[f.name] = text if text.strip() else None
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


def read_user(
    session: Session, name: str, form: MultiDict[str, str], fmt: Formatter
) -> tuple[FormState, str | None, list[FieldError]]:
    """A user input: the state to show again, the id (text) for the engine, input errors.

    A select (or a bare ``name`` in the POST) gives the id. The type-ahead gives the
    hidden id and the typed name: the id while the name is still its user's, else the
    user the name resolves to (``userpicker.resolve``: typed without JavaScript, or
    not picked from the suggestions)."""
    chosen = form.get(name, "").strip()
    typed = form.get(f"{name}__name")
    if typed is None:
        return {name: chosen}, chosen or None, []
    typed = typed.strip()
    if not typed:
        return {name: "", f"{name}__name": ""}, None, []
    if chosen.isdigit() and len(chosen) < 18 and user_names(session, [int(chosen)]).get(int(chosen)) == typed:
        return {name: chosen, f"{name}__name": typed}, chosen, []
    found = userpicker.resolve(session, typed)
    if found is None:
        return (
            {name: "", f"{name}__name": typed},
            None,
            [FieldError("unknown_user", fmt.t("form.unknown_user", name=typed))],
        )
    return {name: str(found), f"{name}__name": typed}, str(found), []


# --- uploads ------------------------------------------------------------------------------------------------
def upload_dir() -> Path:
    """The folder uploads are stored in (``TRELLIS_UPLOAD_DIR``), created when missing."""
    folder = Path(current_app.config["TRELLIS_UPLOAD_DIR"]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


#: Control characters (CR, LF, NUL, …): never part of a file's name or content type, which go into headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A content type as a download may send it (``type/subtype`` and parameters, printable ASCII).
CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}(;[\x20-\x7e]*)?$")


def clean_text(text: str) -> bool:
    """Whether ``text`` (an uploaded file's name or content type) has no control characters."""
    return _CONTROL.search(text) is None


def download_headers(value: Mapping[str, Any], fallback: str) -> tuple[str, str]:
    """The name and content type a download sends for a stored file value: control characters
    (a value stored before they were refused, or through the API) are dropped, and a content
    type that is not ``type/subtype`` becomes ``application/octet-stream``."""
    name = _CONTROL.sub("", str(value.get("name") or "")).strip() or fallback
    content_type = _CONTROL.sub("", str(value.get("content_type") or ""))
    return name, content_type if CONTENT_TYPE.match(content_type) else "application/octet-stream"


def store_upload(upload: FileStorage) -> dict[str, Any]:
    """Save an uploaded file under a random key; the field's value describing it."""
    key = secrets.token_urlsafe(24)
    path = upload_dir() / key
    upload.save(path)
    name = (upload.filename or key).replace("\\", "/").rsplit("/", 1)[-1][:255] or key
    return {
        "key": key,
        "name": name,
        "size": path.stat().st_size,
        "content_type": (upload.mimetype or "application/octet-stream")[:100],
    }


def stored_file(value: Any) -> Path | None:
    """The path of a stored file value, or None when it is not one of ours."""
    if not isinstance(value, dict) or not FILE_KEY.match(str(value.get("key", ""))):
        return None
    path = upload_dir() / value["key"]
    return path if path.is_file() else None


# --- the view model ---------------------------------------------------------------------------------------------
def _options(obj: ObjectDef, f: FieldDef, chosen: set[str], lang: str) -> list[Option]:
    """A picklist's choices. A field that depends on a field with the *same* (hierarchical)
    picklist offers the children of each value, tagged with it; that parent field offers
    the top level only. Otherwise every value, tagged with its ``parents``."""
    picklist = f.picklist
    if picklist is None:
        return []
    parent = obj.fields.get(f.depends_on) if f.depends_on else None
    if parent is not None and parent.picklist is not None and parent.picklist.name == picklist.name:
        pairs = [(child, (value.key,)) for value in picklist.walk() for child in value.children]
    elif any(
        o.depends_on == f.name and o.picklist is not None and o.picklist.name == picklist.name
        for o in obj.fields.values()
    ):
        pairs = [(value, ()) for value in picklist.values]
    else:
        pairs = [(value, value.parents) for value in picklist.walk()]
    return [
        Option(v.key, v.label.get(lang), v.key in chosen, " ".join(parents))
        for v, parents in pairs
        if not v.inactive or v.key in chosen
    ]


def _stage_options(obj: ObjectDef, state: FormState, chosen: set[str], lang: str) -> list[Option]:
    """The stage select: the stages of the pipeline the record's values choose (a renewal's
    stages for a renewal), with that pipeline's labels; a chosen stage of another pipeline
    stays selectable so that the form shows what is stored (the engine refuses a save in it)."""
    assert obj.pipeline is not None
    pipe = obj.pipeline.for_values(state)
    options = [Option(s.key, s.label.get(lang), s.key in chosen) for s in pipe.stages]
    known = {s.key for s in pipe.stages}
    others = {s.key: s for s in obj.pipeline.all_stages()}
    options += [Option(key, others[key].label.get(lang), True) for key in sorted(chosen - known) if key in others]
    return options


def user_field(
    session: Session,
    common: dict[str, Any],
    state: FormState,
    among: frozenset[int] | None = None,
    lookup_url: str | None = None,
) -> FormField:
    """A user widget holding ``state``'s user: a select of the active users in ``among``
    when they are few (the chosen one kept even if disabled since), else the type-ahead
    on ``lookup_url`` (see ``webui.ui.userpicker``)."""
    name = common["name"]
    raw = str(state.get(name) or "")
    chosen = int(raw) if raw.isdigit() and len(raw) < 18 else None
    if userpicker.count(session, among) <= userpicker.select_max():
        options = [Option(str(u.id), u.name, u.id == chosen) for u in userpicker.choices(session, among)]
        if chosen is not None and not any(o.selected for o in options):
            options.append(Option(raw, user_names(session, [chosen]).get(chosen, f"#{raw}"), True))
        return FormField(**common, options=options)
    typed = state.get(f"{name}__name")
    if typed is None:
        typed = user_names(session, [chosen]).get(chosen, f"#{raw}") if chosen is not None else ""
    return FormField(
        **common,
        value=raw if chosen is not None else "",
        lookup_title=typed,
        lookup_url=lookup_url or url_for("auth.users_lookup"),
    )


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


def _number_attributes(f: FieldDef) -> dict[str, str | None]:
    step = "1" if f.kind.storage == "integer" else str(Decimal(1).scaleb(-decimal_scale(f)))
    return {"step": step, "minimum": _plain(f.min), "maximum": _plain(f.max)}


def _plain(number: float | None) -> str | None:
    return None if number is None else format(Decimal(str(number)), "f")


def build_field(
    session: Session, obj: ObjectDef, f: FieldDef, state: FormState, errors: list[str], fmt: Formatter
) -> FormField:
    """The widget of one editable field, holding ``state``'s value."""
    lang, widget, raw = fmt.lang, widget_of(f), state.get(f.name)
    common: dict[str, Any] = {
        "name": f.name,
        "label": f.label.get(lang),
        "widget": widget,
        "required": f.required,
        "errors": errors,
        "help": f.help.get(lang) if f.help else None,
        "input_type": INPUT_TYPES.get(widget, "text"),
    }
    if widget == "checkbox":
        return FormField(**common, checked=bool(raw))
    if widget in ("select", "multiselect"):
        chosen = set(raw) if isinstance(raw, list) else {raw} if raw else set()
        if obj.pipeline is not None and f.name == obj.pipeline.field and obj.pipeline.variants:
            return FormField(**common, options=_stage_options(obj, state, chosen, lang))
        by_conversion = converted.mark_values(session.config, obj.name).get(f.name, set())  # not chosen by hand
        options = [o for o in _options(obj, f, chosen, lang) if o.selected or o.key not in by_conversion]
        return FormField(**common, options=options, parent=f.depends_on)
    if widget == "user":
        return user_field(session, common, state)
    if widget in ("number", "money", "percent"):
        return FormField(**common, value=raw or "", **_number_attributes(f))
    if widget == "lookup":
        title = ""
        if raw and str(raw).isdigit() and f.target:
            title = session.titles(f.target, [int(raw)]).get(int(raw), f"#{raw}")
        return FormField(
            **common,
            value=str(raw or ""),
            lookup_title=title,
            lookup_url=url_for("records.lookup", object_name=f.target) if f.target else None,
        )
    if widget == "file":
        name = raw.get("name") or raw.get("key") if isinstance(raw, dict) else None
        return FormField(**common, file_name=name)
    return FormField(**common, value=raw if isinstance(raw, str) else "" if raw is None else str(raw))


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
