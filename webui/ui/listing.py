"""List pages: request parameters → query → page → view model.

The pipeline (cf. Django's ``ChangeList``): ``list_params`` reads the query
string and ``build_query`` goes filters → owner → search → ordering on the
engine's one read path (which adds the user's scope and never selects a hidden
field) — both through ``engine.runtime.records.listparams``, the one list-parameter spec
the board, the REST API and the export (``engine.runtime.exports``) read too, with the web list's defaults
(newest first, ``PER_PAGE`` a page); ``list_view`` turns a page of records into
rows of formatted cells. Filters are data (``ListParams.filters``) that give both
the query and the sentence shown above the list ("Stage is Quote and owner is me").

Query parameters: ``q`` (search), ``sort`` (``-created_at``), ``page``, ``per_page``,
``owner`` (``me`` | ``team`` | a user id) and any ``field`` / ``field__op`` filter;
one that cannot be used is a message above the list (status 400), never ignored.

On a large table the page counts its records only up to
``engine.runtime.records.query.COUNT_LIMIT``: the pager then says "10,000+ records" and
offers no link to the last page, whose number is not known. A search (``q``) is not counted
at all while more matches follow the page: "25+ records", "Page 1", a link to the next page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import url_for
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from engine.metadata.fieldtypes import FieldValueError, coerce_value, filter_field
from engine.metadata.filters import PERIODS
from engine.metadata.model import FieldDef, Label, ObjectDef, Settings, frozen_map
from engine.runtime.records import listparams
from engine.runtime.records.listparams import ListParams
from engine.runtime.records.moves import Moved
from engine.runtime.records.query import Page, Query
from engine.runtime.records.reader import user_names
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import Principal
from webui.api.meta import visible_fields
from webui.i18n import LANGUAGES, TEXTS, Formatter
from webui.ui import list_rows
from webui.ui.context import page_url
from webui.ui.display import References, collect_references, format_value
from webui.ui.list_rows import Row

#: Filter operators whose value is a comma-separated list.
_LIST_OPERATORS = ("in", "not_in")

#: Records a list page shows unless ``per_page`` says otherwise.
PER_PAGE = 25
#: A list's order without ``sort``: the newest records first.
LIST_SORT = ("-created_at",)
#: How many fields a list shows.
LIST_COLUMNS = 6
#: Types stored as JSON: not sortable.


def list_params(args: MultiDict[str, str]) -> ListParams:
    """Read a list's query string (``listparams.parse``: what cannot be read is a problem that
    ``build_query`` raises)."""
    return listparams.parse(args)


def build_query(session: Session, obj: ObjectDef, params: ListParams) -> Query:
    """The list's query: filters → owner → search → ordering, newest first without ``sort``
    (raises ``BadListParams``, a QueryError, naming every bad parameter)."""
    return params.apply(session.query(obj.name), LIST_SORT)


def read_page(session: Session, obj: ObjectDef, params: ListParams) -> Page:
    """The page of the list ``params`` ask for (``PER_PAGE`` records unless ``per_page`` says).

    A search is not counted past its page: the pager says "25+ records" while more follow
    (``Query.page(counting=False)``; every match counted costs seconds on a large table)."""
    query = build_query(session, obj, params)
    return query.page(params.page, params.per_page or PER_PAGE, counting=not params.search)


# --- columns, filters and the sentence --------------------------------------------------------
#: Types of the system columns a list may show (``list: {columns}`` in the config).
SYSTEM_COLUMN_TYPES: Mapping[str, str] = {
    "id": "integer",
    "version": "integer",
    "created_by": "user",
    "owner_id": "user",
    "created_at": "datetime",
    "updated_at": "datetime",
    "archived_at": "datetime",
    "stage_entered_at": "datetime",
    "last_activity_at": "datetime",
}


def system_column(name: str) -> FieldDef:
    """A system column as a field, labelled in every UI language."""
    texts = TEXTS.get(f"column.{name}", {})
    label = Label(frozen_map({lang: texts.get(lang, name) for lang in LANGUAGES}))
    return FieldDef(name=name, type=SYSTEM_COLUMN_TYPES.get(name, "text"), label=label)


def list_fields(obj: ObjectDef, principal: Principal) -> list[FieldDef]:
    """The list's columns: the config's ``list: {columns}`` (without those the user may
    not see), else the first visible fields, title fields first."""
    fields = visible_fields(obj, principal)
    if obj.list_columns:
        by_name = {f.name: f for f in fields}
        columns = []
        for name in obj.list_columns:
            if name in by_name:
                columns.append(by_name[name])
            elif name in SYSTEM_COLUMN_TYPES and name not in obj.fields:
                columns.append(system_column(name))
        return columns
    titles = [f for name in obj.title_fields() for f in fields if f.name == name]
    named = {f.name for f in titles}  # by name: comparing whole fields compares their every part
    rest = [f for f in fields if f.name not in named]
    return (titles + rest)[:LIST_COLUMNS]


@dataclass(frozen=True)
class Column:
    """A column header; ``sort_url`` is None when the column cannot be sorted."""

    name: str
    label: str
    sort_url: str | None
    sorted: str | None  # "ascending" / "descending" / None, for aria-sort


@dataclass(frozen=True)
class FilterWidget:
    """One filter control: ``kind`` is the field type's ``filter_widget`` (a block of list.html)."""

    name: str
    label: str
    kind: str
    options: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    low: str = ""
    high: str = ""

    @property
    def options_html(self) -> Markup:
        """The ``<option>``s of ``options``, ``value``'s selected, as ``_filters.html`` wrote them
        one by one (``options_html``: the same escaping, written once per options and value)."""
        return options_html(tuple(self.options), self.value)


@functools.lru_cache(maxsize=1024)
def options_html(options: tuple[tuple[str, str], ...], value: str) -> Markup:
    """``<option value="key"[ selected]>label</option>`` per option, escaped (a pure function of
    its arguments: a select's options change only with the config and the language)."""
    return Markup(
        "".join(
            f'<option value="{escape(key)}"{" selected" if key == value else ""}>{escape(label)}</option>'
            for key, label in options
        )
    )


def filter_widgets(obj: ObjectDef, principal: Principal, params: ListParams, lang: str) -> list[FilterWidget]:
    """A filter per visible field whose type has a filter kind."""
    widgets = []
    for f in visible_fields(obj, principal):
        kind = f.value_kind.filter_widget
        if kind is None or f.encrypted:
            continue
        options = [(v.key, v.label.get(lang)) for v in f.picklist.walk()] if f.picklist else []
        widgets.append(
            FilterWidget(
                f.name,
                f.label.get(lang),
                kind,
                options,
                params.filters.get(f.name, ""),
                params.filters.get(f"{f.name}__gte", ""),
                params.filters.get(f"{f.name}__lte", ""),
            )
        )
    return widgets


def filter_sentence(obj: ObjectDef, params: ListParams, fmt: Formatter, refs: References, settings: Settings) -> str:
    """The active filter in words: "Stage is Quote and owner is me" (empty without one).

    A lookup filter names the record by its title when ``refs`` holds it
    (``filter_references``), else by ``#id``."""
    parts = []
    for key, raw in params.filters.items():
        name, _, op = key.partition("__")
        f = obj.fields.get(name)
        label = f.label.get(fmt.lang) if f else name
        if op in _LIST_OPERATORS:
            value = ", ".join(_filter_value(f, item.strip(), fmt, refs, settings) for item in raw.split(","))
        else:
            value = _filter_value(f, raw, fmt, refs, settings)
        template = f"filter.{op or 'eq'}"
        if op in ("", "eq", "ne", "gte", "lte", "gt", "lt", "contains"):
            parts.append(fmt.t(template, field=label, value=value))
        else:
            parts.append(fmt.t("filter.other", field=label, op=op, value=value))
    if params.any_empty:
        labels = [obj.fields[n].label.get(fmt.lang) if n in obj.fields else n for n in params.any_empty]
        parts.append(fmt.t("filter.any_empty", fields=fmt.t("filter.or").join(labels)))
    if params.moved is not None:
        parts.append(moved_words(obj, params.moved, fmt))
    if params.owner in listparams.OWNER_SHORTCUTS:
        parts.append(fmt.t(f"filter.owner.{params.owner}"))
    elif params.owner:
        parts.append(fmt.t("filter.owner.user", name=owner_name(params, refs)))
    if params.search:
        parts.append(fmt.t("filter.search", value=params.search))
    sentence = fmt.t("filter.and").join(parts)
    return sentence[:1].upper() + sentence[1:]


def moved_words(obj: ObjectDef, moved: Moved, fmt: Formatter) -> str:
    """A stage move in words: "moved from Quote to Lost this quarter" (stage labels, the period's name)."""
    names = {s.key: s.label.get(fmt.lang) for s in obj.pipeline.all_stages()} if obj.pipeline else {}

    def labels(keys: tuple[str, ...]) -> str:
        return fmt.t("filter.or").join(names.get(k, k) for k in keys)

    words = fmt.t("filter.moved_to", stages=labels(moved.to)) if moved.to else fmt.t("filter.moved")
    if moved.from_:
        words += fmt.t("filter.moved_from", stages=labels(moved.from_))
    if moved.during:
        words += fmt.t("filter.moved_during", period=fmt.t(f"period.{moved.during}").lower())
    return words


def owner_name(params: ListParams, refs: References) -> str:
    """The name of the user ``owner=<id>`` names (``#id`` without one); empty for me/team/none."""
    if not params.owner.isdigit():
        return ""
    return refs.users.get(int(params.owner), f"#{params.owner}")


def filter_references(session: Session, obj: ObjectDef, params: ListParams, refs: References) -> References:
    """``refs`` with the titles of the records the list's lookup filters point at, and the name
    of the user ``owner=<id>`` names.

    Titles come from ``Session.titles``, so a record the user may not see keeps
    its ``#id``; a filter on a field hidden from the user fetches nothing.
    """
    if params.owner.isdigit() and int(params.owner) not in refs.users:
        refs = replace(refs, users={**refs.users, **user_names(session, [int(params.owner)])})
    wanted: dict[str, set[int]] = {}
    settings = session.config.settings
    for key, raw in params.filters.items():
        name, _, op = key.partition("__")
        f = obj.fields.get(name)
        if f is None or not f.target or not session.principal.can_see(obj.name, name):
            continue
        for item in raw.split(",") if op in _LIST_OPERATORS else [raw]:
            try:
                record_id = coerce_value(f, item.strip(), settings)
            except FieldValueError:
                continue
            if record_id is not None and (f.target, record_id) not in refs.titles:
                wanted.setdefault(f.target, set()).add(record_id)
    if not wanted:
        return refs
    titles = dict(refs.titles)
    for target, ids in wanted.items():
        titles.update({(target, i): text for i, text in session.titles(target, sorted(ids)).items()})
    return replace(refs, titles=titles)


def _filter_value(f: FieldDef | None, raw: str, fmt: Formatter, refs: References, settings: Settings) -> str:
    """A filter value as shown in the sentence (picklist labels, formatted numbers and dates, a
    relative date range in words: "this quarter")."""
    if raw in PERIODS:
        return fmt.t(f"period.{raw}").lower()
    if f is None or f.is_computed or f.kind.document:
        return raw
    probe = filter_field(f)
    try:
        value = coerce_value(probe, raw, settings)
    except FieldValueError:
        return raw
    return format_value(value, probe, fmt, refs) or raw


# --- the page ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SavedViewLink:
    """One of the user's saved views: a link to the list with its filters, and its delete form."""

    id: int
    name: str
    url: str
    delete_url: str
    current: bool


@dataclass(frozen=True)
class SaveViewForm:
    """The "Save view" form: the list's query string, the name typed and its error."""

    query: str
    name: str = ""
    error: str | None = None


def query_string(params: ListParams) -> str:
    """The list's query string as a saved view stores it (without the page)."""
    return urlencode(params.args(page=None))


def normalize_query(raw: str) -> str:
    """A query string read and written again like a list's (unknown bits dropped)."""
    return query_string(list_params(MultiDict(parse_qsl(raw.lstrip("?"), keep_blank_values=False))))


def saved_view_links(obj: ObjectDef, views: list[Any], params: ListParams) -> list[SavedViewLink]:
    """Links to the user's saved views (``engine.runtime.records.views.SavedView``)."""
    current = query_string(params)
    return [
        SavedViewLink(
            v.id,
            v.name,
            _list_url(obj) + (f"?{v.query}" if v.query else ""),
            url_for("records.delete_view", object_name=obj.name, view_id=v.id),
            v.query == current,
        )
        for v in views
    ]


@dataclass(frozen=True)
class ListView:
    """Everything ``list.html`` shows."""

    obj: ObjectDef
    label: str
    params: ListParams
    columns: list[Column]
    rows: list[Row]
    page: Page | None
    filters: list[FilterWidget]
    sentence: str
    error: str | None
    can_create: bool
    can_export: bool
    previous_url: str | None
    next_url: str | None
    export_url: str
    clear_url: str
    saved_views: list[SavedViewLink] = field(default_factory=list)
    save_form: SaveViewForm | None = None
    save_url: str = ""
    #: The last page, when the total is exact and this is not it.
    last_url: str | None = None
    #: "1,234 records" / "10,000+ records" and "Page 2 of 50" / "Page 2" (empty without a page).
    count_text: str = ""
    page_text: str = ""
    #: The name of the user ``owner=<id>`` names, for the owner filter's select.
    owner_name: str = ""
    #: The export's other files: Excel, and both formats with a second header row of field keys.
    export_links: list[tuple[str, str]] = field(default_factory=list)
    #: Whether the user may import records of the object (the import wizard's button).
    can_import: bool = False


def _list_url(obj: ObjectDef, **args: Any) -> str:
    return page_url("records.list_records", object_name=obj.name, **args)


def columns_for(obj: ObjectDef, fields: list[FieldDef], params: ListParams, lang: str) -> list[Column]:
    """Headers with their sort links (a second click sorts the other way)."""
    columns = []
    for f in fields:
        sortable = f.kind.orderable and not f.encrypted
        state = "ascending" if params.sort == (f.name,) else "descending" if params.sort == (f"-{f.name}",) else None
        target = f"-{f.name}" if state == "ascending" else f.name
        url = _list_url(obj, **params.args(sort=target, page=None)) if sortable else None
        columns.append(Column(f.name, f.label.get(lang), url, state))
    return columns


#: A record id that stands in for each row's in the one row URL a list builds (``row_urls``).
_ID_STANDIN = 987_654_321_987


def row_urls(object_name: str) -> Callable[[int], str]:
    """The record page URL of each row of a list of ``object_name``: ``url_for`` once, then the id
    put in per row (building 25 URLs through the URL map is a noticeable share of the page)."""
    built = url_for("records.show", object_name=object_name, record_id=_ID_STANDIN)
    before, found, after = built.partition(str(_ID_STANDIN))
    if not found or found in after:
        return lambda record_id: url_for("records.show", object_name=object_name, record_id=record_id)
    return lambda record_id: f"{before}{record_id}{after}"


def record_urls() -> Callable[[str, int], str]:
    """The record page URL of a record of any object (``row_urls`` per object, made when first asked):
    a list's lookup cells."""
    made: dict[str, Callable[[int], str]] = {}

    def url(object_name: str, record_id: int) -> str:
        found = made.get(object_name)
        if found is None:
            found = made[object_name] = row_urls(object_name)
        return found(record_id)

    return url


def list_view(
    session: Session,
    obj: ObjectDef,
    params: ListParams,
    page: Page | None,
    error: str | None,
    fmt: Formatter,
    saved_views: list[SavedViewLink] | None = None,
    save_form: SaveViewForm | None = None,
) -> ListView:
    """The view model of a list page (``page`` is None when the filter was refused)."""
    principal = session.principal
    fields = list_fields(obj, principal)
    records = page.items if page else []
    refs = collect_references(
        session, obj, records, [*visible_fields(obj, principal), *(f for f in fields if f.name in SYSTEM_COLUMN_TYPES)]
    )
    columns = columns_for(obj, fields, params, fmt.lang)
    cells = list_rows.column_cells(obj, fields, fmt.lang)
    rows = list_rows.rows(obj, records, columns, cells, row_urls(obj.name), record_urls(), fmt, refs)
    grant = principal.grant(obj.name)
    previous_url = next_url = last_url = None
    if page and page.page > 1:
        previous_url = _list_url(obj, **params.args(page=page.page - 1))
    if page and page.has_next:
        next_url = _list_url(obj, **params.args(page=page.page + 1))
    if page and page.total_exact and page.page < page.pages:
        last_url = _list_url(obj, **params.args(page=page.pages))
    refs = filter_references(session, obj, params, refs)
    count_text, page_text = pager_texts(page, fmt) if page else ("", "")
    return ListView(
        obj=obj,
        label=obj.plural_label.get(fmt.lang),
        params=params,
        columns=columns,
        rows=rows,
        page=page,
        filters=filter_widgets(obj, principal, params, fmt.lang),
        sentence=filter_sentence(obj, params, fmt, refs, session.config.settings),
        error=error,
        can_create=grant.create,
        can_export=grant.export,
        can_import=grant.import_,
        previous_url=previous_url,
        next_url=next_url,
        export_url=page_url("records.export_csv", object_name=obj.name, **params.args(page=None)),
        export_links=export_links(obj, params, fmt),
        clear_url=_list_url(obj),
        saved_views=saved_views or [],
        save_form=save_form or SaveViewForm(query_string(params)),
        save_url=page_url("records.save_view", object_name=obj.name),
        last_url=last_url,
        count_text=count_text,
        page_text=page_text,
        owner_name=owner_name(params, refs),
    )


def pager_texts(page: Page, fmt: Formatter) -> tuple[str, str]:
    """The pager's "1,234 records" and "Page 2 of 50"; past the count limit "10,000+ records" and
    "Page 2", since the number of pages is not known."""
    if page.total_exact:
        return (
            fmt.plural("list.count", page.total),
            fmt.t("list.page", page=fmt.number(page.page), pages=fmt.number(page.pages)),
        )
    return fmt.t("list.count_more", total=fmt.number(page.total)), fmt.t("list.page_open", page=fmt.number(page.page))


def export_links(obj: ObjectDef, params: ListParams, fmt: Formatter) -> list[tuple[str, str]]:
    """``(text, url)`` of the list's exports besides CSV: Excel, then both formats with the field
    keys under the labels (``_keys=1``), which ``trellis import`` reads back unchanged."""
    args = params.args(page=None)
    return [
        (fmt.t("list.export_xlsx"), page_url("records.export_xlsx", object_name=obj.name, **args)),
        (fmt.t("list.export_csv_keys"), page_url("records.export_csv", object_name=obj.name, _keys=1, **args)),
        (fmt.t("list.export_xlsx_keys"), page_url("records.export_xlsx", object_name=obj.name, _keys=1, **args)),
    ]
