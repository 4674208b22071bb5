"""Values formatted for people, and the view model of a record page.

``format_value`` is a registry by field type (``FORMATTERS``): one entry per
type, with Babel doing numbers, money and dates for the page's language.
Lookup titles (``Session.titles``) and user names are fetched once per page
into ``References``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import url_for

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.records.query import format_title
from engine.runtime.records.reader import user_names
from engine.runtime.records.record import Record
from engine.runtime.records.session import Session
from engine.runtime.security import audit
from engine.runtime.workflow import converted
from webui.api.meta import visible_fields
from webui.i18n import Formatter


@dataclass(frozen=True)
class References:
    """Titles of the records lookups point at, and the names of users, for one page."""

    titles: Mapping[tuple[str, int], str] = field(default_factory=dict)
    users: Mapping[int, str] = field(default_factory=dict)


def collect_references(
    session: Session, obj: ObjectDef, records: Iterable[Mapping[str, Any]], fields: Iterable[FieldDef]
) -> References:
    """Fetch, once, the titles and user names ``records`` refer to through ``fields`` and owners."""
    records = list(records)
    titles: dict[tuple[str, int], str] = {}
    user_ids: set[int] = {r.get("owner_id") for r in records if r.get("owner_id")}
    for f in fields:
        if not f.target and not f.kind.refers_to_user:  # nothing to look up: skip reading its values
            continue
        values = [value for value in (r.get(f.name) for r in records) if value is not None]
        if f.target and values:
            titles.update({(f.target, i): text for i, text in session.titles(f.target, values).items()})
        elif f.kind.refers_to_user:
            user_ids.update(values)
    return References(titles, user_names(session, user_ids))


@dataclass(frozen=True)
class Cell:
    """A formatted value, with a link when it points somewhere."""

    text: str
    url: str | None = None


Format = Callable[[Any, FieldDef, Formatter, References], str]


def _plain(value: Any, f: FieldDef, fmt: Formatter, refs: References) -> str:
    return str(value)


def _decimal(value: Any, f: FieldDef, fmt: Formatter, refs: References) -> str:
    return fmt.number(value, decimal_scale(f))


def _picklist(value: Any, f: FieldDef, fmt: Formatter, refs: References) -> str:
    option = f.picklist.find(value) if f.picklist else None
    return option.label.get(fmt.lang) if option else str(value)


#: The web page's formatting per field type (a formula formats as its result type).
FORMATTERS: dict[str, Format] = {
    **dict.fromkeys(("text", "textarea", "email", "url", "autonumber"), _plain),
    "integer": lambda v, f, fmt, r: fmt.number(v),
    "decimal": _decimal,
    "currency": lambda v, f, fmt, r: fmt.money(v),
    "percent": lambda v, f, fmt, r: _decimal(v, f, fmt, r) + "%",
    "boolean": lambda v, f, fmt, r: fmt.t("yes") if v else fmt.t("no"),
    "date": lambda v, f, fmt, r: fmt.date(v),
    "datetime": lambda v, f, fmt, r: fmt.moment(v),
    "phone": lambda v, f, fmt, r: f.value_kind.format(v, f),
    "picklist": _picklist,
    "multipicklist": lambda v, f, fmt, r: ", ".join(_picklist(item, f, fmt, r) for item in v),
    "tags": lambda v, f, fmt, r: ", ".join(str(item) for item in v),
    "lookup": lambda v, f, fmt, r: r.titles.get((f.target or "", v), f"#{v}"),
    "user": lambda v, f, fmt, r: r.users.get(v, f"#{v}"),
    "file": lambda v, f, fmt, r: str(v.get("name") or v.get("key")) if isinstance(v, dict) else str(v),
    "json": lambda v, f, fmt, r: json.dumps(v, ensure_ascii=False),
}


def formatter_of(f: FieldDef, formatters: Mapping[str, Format] = FORMATTERS) -> Format:
    """The entry of ``formatters`` that writes values of ``f`` (by its value type; text otherwise)."""
    return formatters.get(f.value_type, _plain)


def format_value(
    value: Any, f: FieldDef, fmt: Formatter, refs: References, formatters: Mapping[str, Format] = FORMATTERS
) -> str:
    """``value`` of field ``f`` as text for people (empty for no value), by ``formatters``
    (the page's ``FORMATTERS``)."""
    if value is None or value == []:
        return ""
    return formatters.get(f.value_type, _plain)(value, f, fmt, refs)


def value_text(
    record: Mapping[str, Any],
    f: FieldDef,
    obj: ObjectDef,
    fmt: Formatter,
    refs: References,
    formatters: Mapping[str, Format] = FORMATTERS,
) -> str:
    """One field of a record as text for people; the stage with the label of the record's
    own pipeline (a renewal's ``contract_signed`` is "Renewed")."""
    value = record.get(f.name)
    text = format_value(value, f, fmt, refs, formatters)
    if obj.pipeline is not None and f.name == obj.pipeline.field and obj.pipeline.variants and value is not None:
        stage = obj.pipeline.for_values(record).stage(value)
        text = stage.label.get(fmt.lang) if stage is not None else text
    return text


def cell(record: Mapping[str, Any], f: FieldDef, obj: ObjectDef, fmt: Formatter, refs: References) -> Cell:
    """One field of a record for display (``value_text``), linked when it is a lookup or a file."""
    value = record.get(f.name)
    text = value_text(record, f, obj, fmt, refs)
    url = None
    if value is not None and f.target and (f.target, value) in refs.titles:
        url = url_for("records.show", object_name=f.target, record_id=value)
    elif value and f.kind.stores_file:
        url = url_for("records.download", object_name=obj.name, record_id=record["id"], field_name=f.name)
    return Cell(text, url)


# --- the record page ---------------------------------------------------------------------
@dataclass(frozen=True)
class DisplayItem:
    """One row of the record's definition list."""

    name: str
    label: str
    cell: Cell
    help: str | None = None


@dataclass(frozen=True)
class RelatedList:
    """Records of another object whose lookup points at this record."""

    label: str
    items: list[Cell]
    total: int
    list_url: str


@dataclass(frozen=True)
class HistoryRow:
    """One audit entry with its changes formatted."""

    when: str
    who: str
    action: str
    changes: list[tuple[str, str, str]]


@dataclass(frozen=True)
class SectionView:
    """One group of fields on the record page or the form (``layout.sections``);
    ``items`` are DisplayItems or FormFields. ``key`` makes the heading's id."""

    key: str
    label: str
    columns: int
    items: list[Any]


def sections(obj: ObjectDef, items: list[Any], fmt: Formatter) -> list[SectionView]:
    """``items`` (anything with a ``name``) grouped by the object's layout, in its order;
    items named in no section go into a last "Other" section. Without a layout: one
    "Details" section. Sections left empty (every field hidden) are dropped."""
    if not obj.sections:
        return [SectionView("details", fmt.t("record.details"), 0, list(items))]
    by_name = {item.name: item for item in items}
    out: list[SectionView] = []
    placed: set[str] = set()
    for index, section in enumerate(obj.sections, start=1):
        placed.update(section.fields)
        chosen = [by_name[name] for name in section.fields if name in by_name]
        if chosen:
            out.append(SectionView(f"section-{index}", section.label.get(fmt.lang), section.columns, chosen))
    rest = [item for item in items if item.name not in placed]
    if rest:
        out.append(SectionView("section-other", fmt.t("record.other"), 1, rest))
    return out


@dataclass(frozen=True)
class RecordView:
    """Everything ``record.html`` shows (see the template for where); ``sections`` group ``items``."""

    obj: ObjectDef
    record: Record
    title: str
    object_label: str
    items: list[DisplayItem]
    system: list[DisplayItem]
    related: list[RelatedList]
    history: list[HistoryRow] | None
    can_edit: bool
    can_delete: bool
    sections: list[SectionView] = field(default_factory=list)
    #: Why the record cannot be edited although the user may edit others (it was converted).
    read_only_note: str = ""


RELATED_LIMIT = 10


def may(session: Session, obj: ObjectDef, action: str, record: Mapping[str, Any]) -> bool:
    """Whether the user's grant puts ``record`` inside the scope of ``action`` (edit/delete);
    the engine decides again on the write."""
    principal = session.principal
    if action == "edit" and converted.converted_by(session.config, obj.name, record) is not None:
        return False  # a converted record is read-only (engine.runtime.workflow.converted)
    return getattr(principal.grant(obj.name), action) != "none" and principal.in_scope(
        obj.name, action, record.get("owner_id")
    )


def record_view(session: Session, obj: ObjectDef, record: Record, fmt: Formatter) -> RecordView:
    """The view model of a record page."""
    fields = visible_fields(obj, session.principal)
    refs = collect_references(session, obj, [record], fields)
    lang = fmt.lang
    items = [
        DisplayItem(f.name, f.label.get(lang), cell(record, f, obj, fmt, refs), f.help.get(lang) if f.help else None)
        for f in fields
    ]
    system = [
        DisplayItem("owner_id", fmt.t("record.owner"), Cell(refs.users.get(record.get("owner_id"), ""))),
        DisplayItem("created_at", fmt.t("record.created"), Cell(fmt.moment(record["created_at"]))),
        DisplayItem("updated_at", fmt.t("record.updated"), Cell(fmt.moment(record["updated_at"]))),
    ]
    history = audit_rows(session, obj, record.id, fmt) if session.principal.has("view_audit") else None
    return RecordView(
        obj,
        record,
        format_title(obj, record),
        obj.label.get(lang),
        items,
        system,
        related_lists(session, obj, record.id, fmt),
        history,
        may(session, obj, "edit", record),
        may(session, obj, "delete", record),
        sections(obj, items, fmt),
        _read_only_note(session, obj, record, fmt),
    )


def _read_only_note(session: Session, obj: ObjectDef, record: Record, fmt: Formatter) -> str:
    conversion = converted.converted_by(session.config, obj.name, record)
    if conversion is None:
        return ""
    return fmt.t(
        "record.converted_read_only", object=obj.label.get(fmt.lang), conversion=conversion.label.get(fmt.lang)
    )


def related_lists(session: Session, obj: ObjectDef, record_id: int, fmt: Formatter) -> list[RelatedList]:
    """For each lookup elsewhere that points at ``obj``: the first records (in the user's scope)."""
    principal, lists = session.principal, []
    for other in session.config.objects.values():
        if principal.grant(other.name).read == "none":
            continue
        for f in other.fields.values():
            if not f.points_to(obj.name) or not principal.can_see(other.name, f.name):
                continue
            page = session.query(other.name).filter(**{f.name: record_id}).page(1, RELATED_LIMIT)
            items = [
                Cell(format_title(other, r), url_for("records.show", object_name=other.name, record_id=r.id))
                for r in page.items
            ]
            label = f"{other.plural_label.get(fmt.lang)} ({f.label.get(fmt.lang)})"
            list_url = url_for("records.list_records", object_name=other.name, **{f.name: record_id})
            lists.append(RelatedList(label, items, page.total, list_url))
    return lists


def audit_rows(session: Session, obj: ObjectDef, record_id: int, fmt: Formatter) -> list[HistoryRow]:
    """The record's audit trail, newest first, masked for the viewer by the engine."""
    entries = audit.history(session.connection, session.schema, obj.name, record_id, session.principal)
    rows = []
    for entry in reversed(entries):
        changes = []
        for name, pair in entry.changes.items():
            f = obj.fields.get(name)
            label = f.label.get(fmt.lang) if f else name
            old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            changes.append((label, _audit_text(old), _audit_text(new)))
        action = fmt.t(f"history.{entry.action}") if entry.action in ("create", "update", "delete") else entry.action
        rows.append(HistoryRow(fmt.moment(entry.at), entry.username, action, changes))
    return rows


def _audit_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def latest_editor(session: Session, object_name: str, record_id: int) -> str | None:
    """Who wrote the record last, from its audit trail (None when unknown)."""
    entries = audit.history(session.connection, session.schema, object_name, record_id, session.principal)
    return entries[-1].username if entries else None
