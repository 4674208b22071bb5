"""The form widgets: one ``Widget`` per widget name a field type gives (``FieldType.widget``).

A widget knows what its input holds for a stored value (``text``; ``empty`` for none), how
it reads a POST (``read``: the state to show again, the value for the engine, input errors)
and how it is shown (``build``: the ``FormField`` that ``_widgets.html`` renders). The form
(``webui.ui.forms``) asks ``WIDGETS`` and never compares widget names; a widget without an
entry reads and shows as plain text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import url_for
from werkzeug.datastructures import FileStorage, MultiDict

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.errors import FieldError
from engine.runtime.records import files as stored_files
from engine.runtime.records.session import Session
from engine.runtime.workflow import converted
from webui.i18n import Formatter
from webui.ui import userpicker
from webui.ui.display import user_names
from webui.ui.uploads import clean_text, store_upload

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


# --- reading a POST --------------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    """What a widget reads: the POST, and the record's current values when it is an edit."""

    session: Session
    obj: ObjectDef
    form: MultiDict[str, str]
    files: MultiDict[str, FileStorage]
    fmt: Formatter
    current: Mapping[str, Any] | None = None


#: A ``Read`` without a value: the field is left out of the values for the engine.
NO_VALUE = object()


@dataclass(frozen=True)
class Read:
    """One field read from a POST: the state to show again, its value, input errors."""

    state: FormState
    value: Any = NO_VALUE
    errors: list[FieldError] = field(default_factory=list)


def _read_text(post: Post, f: FieldDef) -> Read:
    text = post.form.get(f.name, "")
    return Read({f.name: text}, text if text.strip() else None)


def _read_checkbox(post: Post, f: FieldDef) -> Read:
    checked = f.name in post.form
    return Read({f.name: checked}, checked)


def _read_multiselect(post: Post, f: FieldDef) -> Read:
    chosen = [item for item in post.form.getlist(f.name) if item]
    return Read({f.name: chosen}, chosen or None)


def _read_file(post: Post, f: FieldDef) -> Read:
    upload = post.files.get(f.name)
    kept = {f.name: (post.current or {}).get(f.name)}
    if upload is not None and upload.filename:
        if not clean_text(upload.filename) or not clean_text(upload.mimetype or ""):
            return Read(
                kept, errors=[FieldError("invalid_file_name", post.fmt.t("form.file_bad_name"), translated=True)]
            )
        stored = store_upload(upload)
        stored_files.register(post.session, post.obj.name, f.name, stored["key"])
        return Read({f.name: stored}, stored)
    if post.form.get(f"{f.name}__clear"):
        return Read({f.name: None}, None)
    return Read(kept)


def _read_user(post: Post, f: FieldDef) -> Read:
    shown, value, problems = read_user(post.session, f.name, post.form, post.fmt)
    return Read(shown, value, problems)


def _read_json(post: Post, f: FieldDef) -> Read:
    text = post.form.get(f.name, "")
    try:
        return Read({f.name: text}, json.loads(text) if text.strip() else None)
    except ValueError as exc:
        error = FieldError("invalid_json", post.fmt.t("form.invalid_json", message=str(exc)), translated=True)
        return Read({f.name: text}, errors=[error])


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


# --- showing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """What a widget is built from: the field, its input's state and the ``FormField`` basics."""

    session: Session
    obj: ObjectDef
    f: FieldDef
    state: FormState
    common: dict[str, Any]
    lang: str

    @property
    def raw(self) -> Any:
        """What the field's input holds."""
        return self.state.get(self.f.name)


def _build_text(shown: Shown) -> FormField:
    raw = shown.raw
    return FormField(**shown.common, value=raw if isinstance(raw, str) else "" if raw is None else str(raw))


def _build_checkbox(shown: Shown) -> FormField:
    return FormField(**shown.common, checked=bool(shown.raw))


def _build_select(shown: Shown) -> FormField:
    obj, f, raw = shown.obj, shown.f, shown.raw
    chosen = set(raw) if isinstance(raw, list) else {raw} if raw else set()
    if obj.pipeline is not None and f.name == obj.pipeline.field and obj.pipeline.variants:
        return FormField(**shown.common, options=stage_options(obj, shown.state, chosen, shown.lang))
    by_conversion = converted.mark_values(shown.session.config, obj.name).get(f.name, set())  # not chosen by hand
    options = [o for o in picklist_options(obj, f, chosen, shown.lang) if o.selected or o.key not in by_conversion]
    return FormField(**shown.common, options=options, parent=f.depends_on)


def _build_user(shown: Shown) -> FormField:
    return user_field(shown.session, shown.common, shown.state)


def _build_number(shown: Shown) -> FormField:
    return FormField(**shown.common, value=shown.raw or "", **_number_attributes(shown.f))


def _build_lookup(shown: Shown) -> FormField:
    f, raw, title = shown.f, shown.raw, ""
    if raw and str(raw).isdigit() and f.target:
        title = shown.session.titles(f.target, [int(raw)]).get(int(raw), f"#{raw}")
    return FormField(
        **shown.common,
        value=str(raw or ""),
        lookup_title=title,
        lookup_url=url_for("records.lookup", object_name=f.target) if f.target else None,
    )


def _build_file(shown: Shown) -> FormField:
    raw = shown.raw
    name = raw.get("name") or raw.get("key") if isinstance(raw, dict) else None
    return FormField(**shown.common, file_name=name)


def picklist_options(obj: ObjectDef, f: FieldDef, chosen: set[str], lang: str) -> list[Option]:
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


def stage_options(obj: ObjectDef, state: FormState, chosen: set[str], lang: str) -> list[Option]:
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


def _number_attributes(f: FieldDef) -> dict[str, str | None]:
    step = "1" if f.kind.storage == "integer" else str(Decimal(1).scaleb(-decimal_scale(f)))
    return {"step": step, "minimum": _plain(f.min), "maximum": _plain(f.max)}


def _plain(number: float | None) -> str | None:
    return None if number is None else format(Decimal(str(number)), "f")


# --- the registry ----------------------------------------------------------------------------
def _input_text(value: Any, fmt: Formatter) -> Any:
    """A stored value as a plain input holds it."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Widget:
    """How a form shows and reads one widget."""

    #: A stored value (never None) → what the input holds.
    text: Callable[[Any, Formatter], Any] = _input_text
    #: What the input holds for no value.
    empty: Callable[[], Any] = str
    read: Callable[[Post, FieldDef], Read] = _read_text
    build: Callable[[Shown], FormField] = _build_text


PLAIN = Widget()
_NUMBER = Widget(build=_build_number)
#: Every widget the field types name (``FieldType.widget``), by name.
WIDGETS: Mapping[str, Widget] = {
    **dict.fromkeys(("text", "textarea", "email", "tel", "url", "date", "readonly"), PLAIN),
    **dict.fromkeys(("number", "money", "percent"), _NUMBER),
    "checkbox": Widget(text=lambda v, fmt: bool(v), empty=bool, read=_read_checkbox, build=_build_checkbox),
    "select": Widget(build=_build_select),
    "multiselect": Widget(text=lambda v, fmt: list(v), empty=list, read=_read_multiselect, build=_build_select),
    "tags": Widget(text=lambda v, fmt: ", ".join(v)),
    "datetime": Widget(text=lambda v, fmt: fmt.local_input(v)),
    "json": Widget(text=lambda v, fmt: json.dumps(v, ensure_ascii=False, indent=2), read=_read_json),
    "file": Widget(text=lambda v, fmt: v, read=_read_file, build=_build_file),
    "user": Widget(read=_read_user, build=_build_user),
    "lookup": Widget(build=_build_lookup),
}


def widget(f: FieldDef) -> Widget:
    """The widget of ``f``'s type."""
    return WIDGETS.get(f.kind.widget, PLAIN)
