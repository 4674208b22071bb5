"""A list page's rows: each column's cell worked out once per config, the rows written as HTML.

``list.html`` showed each of a page's cells through Jinja — an attribute lookup, a test and an
escape per value, about a third of a rep's list page (docs/benchmarks.md, "A rep's list page,
third pass"). Here each column's formatting is chosen once per config, object, columns and
language (``column_cells``: kept per app beside the config it was made from, so a config of
another version never meets another's labels), and a row is written in Python — the same cells,
links and escaping the template wrote (``Row.html``). ``Row.cells`` stays for a config's own
``list.html`` that lays a row out itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from markupsafe import Markup, escape

from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.records.record import Record
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui.display import Cell, References, formatter_of, value_text

#: A column's text of a record, for people (empty for no value).
Text = Callable[[Mapping[str, Any], Formatter, References], str]
#: Where ``app.extensions`` keeps the columns worked out (``column_cells``).
CACHE = "trellis_list_columns"
#: Most column sets kept per app (objects × languages × the columns roles see); past it, all go.
CACHE_SIZE = 256


def _escaped(text: str) -> str:
    """``markupsafe.escape``'s text for a cell: the same entities, without making a ``Markup`` of
    a text that has none of the characters it replaces (most cells: names, numbers, dates,
    labels, links; five ``in`` tests cost a twentieth of an ``escape``)."""
    if "&" in text or "<" in text or ">" in text or "'" in text or '"' in text:
        return str(escape(text))
    return text


@dataclass(frozen=True)
class ColumnCells:
    """How one list column shows a record: the cell's opening tag (``data-label``, escaped once),
    its text, and whether a cell may be a link (a lookup or a file)."""

    field: FieldDef
    opening: str
    text: Text
    links: bool


@dataclass(frozen=True)
class Row:
    """One record of the list: its page and its cells as the table's HTML (``html``), or one by
    one under their headers (``cells``, made when a template asks)."""

    id: int
    url: str
    html: Markup
    headers: Sequence[Any] = ()
    texts: Sequence[str] = ()
    links: Sequence[str | None] = ()

    @property
    def cells(self) -> list[tuple[Any, Cell]]:
        """``(header, Cell)`` per column."""
        return [(h, Cell(t, u)) for h, t, u in zip(self.headers, self.texts, self.links, strict=True)]


def column_cells(obj: ObjectDef, fields: Sequence[FieldDef], lang: str) -> tuple[ColumnCells, ...]:
    """The columns ``fields`` of ``obj``'s list in ``lang``, worked out once per app and config."""
    key = (obj.name, lang, tuple(f.name for f in fields))
    cache = _cache()
    found = cache.get(key)
    if found is None:
        if len(cache) > CACHE_SIZE:
            config = cache["config"]
            cache.clear()
            cache["config"] = config
        found = cache[key] = tuple(_column(obj, f, lang) for f in fields)
    return found


def _cache() -> dict[Any, Any]:
    """This app's columns, emptied when its Trellis serves another config than they were made from."""
    config = get_trellis().config
    cache: dict[Any, Any] = current_app.extensions.setdefault(CACHE, {})
    if cache.get("config") is not config:
        cache.clear()
        cache["config"] = config
    return cache


def _column(obj: ObjectDef, f: FieldDef, lang: str) -> ColumnCells:
    opening = f'<td data-label="{escape(f.label.get(lang))}">'
    links = bool(f.target) or f.kind.stores_file
    pipeline = obj.pipeline
    if pipeline is not None and f.name == pipeline.field and pipeline.variants:
        # The stage with the label of the record's own pipeline: decided per record.
        def staged(record: Mapping[str, Any], fmt: Formatter, refs: References) -> str:
            return value_text(record, f, obj, fmt, refs)

        return ColumnCells(f, opening, staged, links)
    name = f.name
    if f.value_type == "picklist" and f.picklist is not None:
        labels = {v.key: v.label.get(lang) for v in reversed(f.picklist.walk())}  # the first of a key wins

        def option(record: Mapping[str, Any], fmt: Formatter, refs: References) -> str:
            value = record.get(name)
            if value is None:
                return ""
            found = labels.get(value) if isinstance(value, str) else None
            return found if found is not None else str(value)

        return ColumnCells(f, opening, option, links)
    write = formatter_of(f)

    def text(record: Mapping[str, Any], fmt: Formatter, refs: References) -> str:
        value = record.get(name)
        if value is None or value == []:
            return ""
        return write(value, f, fmt, refs)

    return ColumnCells(f, opening, text, links)


def rows(
    obj: ObjectDef,
    records: Sequence[Record],
    headers: Sequence[Any],
    columns: Sequence[ColumnCells],
    row_url: Callable[[int], str],
    record_url: Callable[[str, int], str],
    fmt: Formatter,
    refs: References,
) -> list[Row]:
    """The list's rows: each record's cells under ``headers`` and their ``<td>``s — the first
    cell links to the record (``#id`` when it is empty), a lookup to the record it names when the
    user may read it (``refs`` holds its title), a file to its download."""
    out = []
    first, rest = (columns[0], columns[1:]) if columns else (None, ())
    for record in records:
        url = row_url(record.id)
        texts, links, html = [], [], []
        if first is None:
            html.append(f'<td><a href="{_escaped(url)}">#{record.id}</a></td>')
        else:
            text = first.text(record, fmt, refs)
            texts.append(text)
            links.append(_link(obj, record, first.field, refs, record_url) if first.links else None)
            html.append(f'{first.opening}<a href="{_escaped(url)}">{_escaped(text or f"#{record.id}")}</a></td>')
        for column in rest:
            text = column.text(record, fmt, refs)
            link = _link(obj, record, column.field, refs, record_url) if column.links else None
            texts.append(text)
            links.append(link)
            if link:
                html.append(f'{column.opening}<a href="{_escaped(link)}">{_escaped(text)}</a></td>')
            else:
                html.append(f"{column.opening}{_escaped(text)}</td>")
        out.append(Row(record.id, url, Markup("".join(html)), headers, texts, links))
    return out


def _link(
    obj: ObjectDef, record: Mapping[str, Any], f: FieldDef, refs: References, record_url: Callable[[str, int], str]
) -> str | None:
    """A cell's link (``display.cell``'s): the record a lookup names, a stored file's download."""
    value = record.get(f.name)
    if value is not None and f.target and (f.target, value) in refs.titles:
        return record_url(f.target, value)
    if value and f.kind.stores_file:
        return url_for("records.download", object_name=obj.name, record_id=record["id"], field_name=f.name)
    return None
