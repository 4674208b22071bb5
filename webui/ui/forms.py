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
hidden input named like the field; an uploaded file is stored under
``TRELLIS_UPLOAD_DIR`` with a random key and becomes ``{key, name, size,
content_type}``. Everything else is judged by the engine.
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

import sqlalchemy as sa
from flask import current_app, url_for
from werkzeug.datastructures import FileStorage, MultiDict

from engine.metadata.fieldtypes import REGISTRY, decimal_scale
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.errors import RECORD_ERRORS, FieldError
from engine.runtime.records import Session
from webui.api.meta import visible_fields
from webui.i18n import Formatter
from webui.ui.display import SectionView, collect_references, format_value, sections

#: The HTML input type of widgets rendered as a plain ``<input>``.
INPUT_TYPES: Mapping[str, str] = {
    "text": "text", "email": "email", "tel": "tel", "url": "url", "number": "number", "money": "number",
    "percent": "number", "date": "date", "datetime": "datetime-local", "tags": "text",
}
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


def editable(session: Session, obj: ObjectDef, f: FieldDef) -> bool:
    """Whether the user may give ``f`` a value (not computed, hidden or read-only)."""
    return not f.is_computed and session.principal.can_change(obj.name, f.name)


def widget_of(f: FieldDef) -> str:
    """The widget name of the field type (``REGISTRY[type].widget``)."""
    return REGISTRY[f.type].widget


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
    """The form state of a stored record (editable fields only)."""
    return {f.name: form_text(f, record.get(f.name), fmt) for f in visible_fields(obj, session.principal)
            if editable(session, obj, f)}


def default_state(session: Session, obj: ObjectDef, fmt: Formatter) -> FormState:
    """The state of a new form: the config's fixed defaults (expression defaults, such as
    ``=today()``, are computed by the engine when the record is saved without a value)."""
    return {f.name: form_text(f, f.default, fmt) for f in visible_fields(obj, session.principal)
            if editable(session, obj, f) and f.default is not None}


def without_empty(values: dict[str, Any]) -> dict[str, Any]:
    """A new record's values without the empty ones, so that the engine applies defaults."""
    return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class ParsedForm:
    """A POST read: the values for the engine, the state to show again, and input errors."""

    values: dict[str, Any]
    state: FormState
    errors: dict[str, list[FieldError]]


def parse_form(session: Session, obj: ObjectDef, form: MultiDict[str, str], files: MultiDict[str, FileStorage],
               fmt: Formatter, current: Mapping[str, Any] | None = None) -> ParsedForm:
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
                state[f.name] = values[f.name] = store_upload(upload)
            elif form.get(f"{f.name}__clear"):
                state[f.name], values[f.name] = None, None
        elif widget == "json":
            text = form.get(f.name, "")
            state[f.name] = text
            try:
                values[f.name] = json.loads(text) if text.strip() else None
            except ValueError as exc:
                errors[f.name] = [FieldError("invalid_json", fmt.t("form.invalid_json", message=str(exc)))]
        else:
            text = form.get(f.name, "")
            state[f.name] = text
            values[f.name] = text if text.strip() else None
    return ParsedForm(values, state, errors)


# --- uploads ------------------------------------------------------------------------------------------------
def upload_dir() -> Path:
    """The folder uploads are stored in (``TRELLIS_UPLOAD_DIR``), created when missing."""
    folder = Path(current_app.config["TRELLIS_UPLOAD_DIR"]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(upload: FileStorage) -> dict[str, Any]:
    """Save an uploaded file under a random key; the field's value describing it."""
    key = secrets.token_urlsafe(24)
    path = upload_dir() / key
    upload.save(path)
    name = (upload.filename or key).replace("\\", "/").rsplit("/", 1)[-1][:255] or key
    return {"key": key, "name": name, "size": path.stat().st_size,
            "content_type": (upload.mimetype or "application/octet-stream")[:100]}


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
    elif any(o.depends_on == f.name and o.picklist is not None and o.picklist.name == picklist.name
             for o in obj.fields.values()):
        pairs = [(value, ()) for value in picklist.values]
    else:
        pairs = [(value, value.parents) for value in picklist.walk()]
    return [Option(v.key, v.label.get(lang), v.key in chosen, " ".join(parents))
            for v, parents in pairs if not v.inactive or v.key in chosen]


def _user_options(session: Session, chosen: set[str], fmt: Formatter) -> list[Option]:
    users = session.schema.system["sys_users"]
    rows = session.connection.execute(
        sa.select(users.c.id, users.c.username, users.c.display_name).where(users.c.active.is_(True))
        .order_by(users.c.username))
    return [Option(str(r.id), r.display_name or r.username, str(r.id) in chosen) for r in rows]


def _number_attributes(f: FieldDef) -> dict[str, str | None]:
    step = "1" if f.type == "integer" else str(Decimal(1).scaleb(-decimal_scale(f)))
    return {"step": step, "minimum": _plain(f.min), "maximum": _plain(f.max)}


def _plain(number: float | None) -> str | None:
    return None if number is None else format(Decimal(str(number)), "f")


def build_field(session: Session, obj: ObjectDef, f: FieldDef, state: FormState, errors: list[str],
                fmt: Formatter) -> FormField:
    """The widget of one editable field, holding ``state``'s value."""
    lang, widget, raw = fmt.lang, widget_of(f), state.get(f.name)
    common: dict[str, Any] = {"name": f.name, "label": f.label.get(lang), "widget": widget, "required": f.required,
                              "errors": errors, "help": f.help.get(lang) if f.help else None,
                              "input_type": INPUT_TYPES.get(widget, "text")}
    if widget == "checkbox":
        return FormField(**common, checked=bool(raw))
    if widget in ("select", "multiselect"):
        chosen = set(raw) if isinstance(raw, list) else {raw} if raw else set()
        return FormField(**common, options=_options(obj, f, chosen, lang), parent=f.depends_on)
    if widget == "user":
        return FormField(**common, options=_user_options(session, {raw} if raw else set(), fmt))
    if widget in ("number", "money", "percent"):
        return FormField(**common, value=raw or "", **_number_attributes(f))
    if widget == "lookup":
        title = ""
        if raw and str(raw).isdigit() and f.target:
            title = session.titles(f.target, [int(raw)]).get(int(raw), f"#{raw}")
        return FormField(**common, value=str(raw or ""), lookup_title=title,
                         lookup_url=url_for("records.lookup", object_name=f.target) if f.target else None)
    if widget == "file":
        name = raw.get("name") or raw.get("key") if isinstance(raw, dict) else None
        return FormField(**common, file_name=name)
    return FormField(**common, value=raw if isinstance(raw, str) else "" if raw is None else str(raw))


def form_view(session: Session, obj: ObjectDef, state: FormState, errors: Mapping[str, list[FieldError]],
              fmt: Formatter, record: Mapping[str, Any] | None = None, version: int | None = None) -> FormView:
    """The view model of a create form (``record`` None) or an edit form."""
    lang = fmt.lang
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
    record_errors = [e.message for e in errors.get(RECORD_ERRORS, [])]
    record_errors += [f"{name}: {e.message}" for name, problems in errors.items()
                      if name not in placed and name != RECORD_ERRORS for e in problems]
    label = obj.label.get(lang)
    if record is None:
        action = url_for("records.create", object_name=obj.name)
        cancel = url_for("records.list_records", object_name=obj.name)
        heading = fmt.t("form.new", object=label)
    else:
        action = url_for("records.edit", object_name=obj.name, record_id=record["id"])
        cancel = url_for("records.show", object_name=obj.name, record_id=record["id"])
        heading = fmt.t("form.edit", object=label)
    return FormView(obj, heading, shown, record_errors, action, cancel, version,
                    any(x.widget == "file" for x in shown), record["id"] if record is not None else None,
                    sections(obj, shown, fmt) if obj.sections else [])
