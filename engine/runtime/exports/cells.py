"""Values as export cells: text as people read it (CSV), or typed cells (Excel).

Both read the read path's formatting, ``records.present.ValueFormatter``: picklist labels in
the reader's language, lookup titles and user names (``References``, fetched per page by
``references``), dates in ``settings.date_format``, moments in the company time zone, file
names. A number stays a number a spreadsheet computes on: plain digits in a CSV file (no
thousands separator, no currency sign: ``1234567.50``), a numeric cell in Excel with a number
format that shows it as people read it (``¥1,234,567.50``). Text a spreadsheet would run as a
formula is neutralised in CSV (a leading ``'``, OWASP "CSV injection"); in Excel it is a text
cell, never a formula.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_symbol

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.exports.columns import Column
from engine.runtime.records.present import ValueFormatter, babel_locale

#: What a spreadsheet reads as the start of a formula; LF and CR too, for safety.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
#: Excel's number format of each ``settings.date_format``.
EXCEL_DATES = {
    "YYYY-MM-DD": "yyyy-mm-dd",
    "DD/MM/YYYY": "dd/mm/yyyy",
    "MM/DD/YYYY": "mm/dd/yyyy",
    "DD.MM.YYYY": "dd.mm.yyyy",
}


def neutralise(text: str) -> str:
    """``text`` with a single quote in front when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class Typed:
    """An Excel cell: a value (text, number, date) and the number format that shows it."""

    value: Any
    number_format: str | None = None


#: How a typed cell is made, per field type: ``(cells, value, field) → Typed``; a type not here is text.
TypedCell = Callable[["Cells", Any, FieldDef], Typed]


@dataclass(frozen=True)
class Cells:
    """The cells of one object's records for one reader (``formatter``: language, settings, refs)."""

    obj: ObjectDef
    formatter: ValueFormatter

    def text(self, record: Mapping[str, Any], column: Column) -> str:
        """The value of ``column`` as text for a CSV file (empty for no value)."""
        f = _value_field(column.field)
        value = record.get(f.name)
        if value is None or value == []:
            return ""
        if f.kind.numeric:  # a number a spreadsheet computes on
            return format(value, "f") if isinstance(value, Decimal) else str(value)
        if f.kind.list_valued:  # items neutralised one by one
            return ", ".join(neutralise(self.formatter.text([item], f)) for item in value)
        return neutralise(self._people(record, f, value))

    def typed(self, record: Mapping[str, Any], column: Column) -> Typed:
        """The value of ``column`` as an Excel cell (None for no value)."""
        f = _value_field(column.field)
        value = record.get(f.name)
        if value is None or value == []:
            return Typed(None)
        if column.system and f.type == "integer":
            return Typed(value, "0")  # an id reads without a thousands separator
        make = TYPED.get(f.type)
        return make(self, value, f) if make is not None else Typed(self._people(record, f, value))

    def _people(self, record: Mapping[str, Any], f: FieldDef, value: Any) -> str:
        """The value as people read it; the stage with the label of the record's own pipeline
        (a renewal's ``contract_signed`` is "Renewed")."""
        pipeline = self.obj.pipeline
        if pipeline is not None and f.name == pipeline.field and pipeline.variants:
            stage = pipeline.for_values(record).stage(value)
            if stage is not None:
                return stage.label.get(self.formatter.language)
        return self.formatter.text(value, f)

    def local(self, moment: dt.datetime) -> dt.datetime:
        """A moment in the company time zone, without the zone (Excel has none)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(self.zone).replace(tzinfo=None)

    @cached_property
    def zone(self) -> ZoneInfo:
        """The company time zone."""
        return ZoneInfo(self.formatter.settings.timezone)

    @cached_property
    def date_format(self) -> str:
        """Excel's number format of the company's dates."""
        return EXCEL_DATES.get(self.formatter.settings.date_format, "yyyy-mm-dd")

    @cached_property
    def money_prefix(self) -> str:
        """The company currency's symbol in the reader's language (``¥``, ``CN¥``, ``$``), quoted
        for a number format."""
        settings = self.formatter.settings
        symbol = get_currency_symbol(settings.currency, locale=babel_locale(self.formatter.language, settings))
        return _quoted(symbol)


def _value_field(f: FieldDef) -> FieldDef:
    """A formula field as a field of its result's type."""
    return replace(f, type=f.value_type) if f.type == "formula" else f


def _digits(f: FieldDef) -> str:
    scale = decimal_scale(f)
    return "#,##0" + ("." + "0" * scale if scale else "")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "") + '"'


TYPED: Mapping[str, TypedCell] = {
    "integer": lambda cells, v, f: Typed(v, "#,##0"),
    "decimal": lambda cells, v, f: Typed(v, _digits(f)),
    "currency": lambda cells, v, f: Typed(v, cells.money_prefix + _digits(f)),
    "percent": lambda cells, v, f: Typed(v, _digits(f) + _quoted("%")),
    "date": lambda cells, v, f: Typed(v, cells.date_format),
    "datetime": lambda cells, v, f: Typed(cells.local(v), cells.date_format + " hh:mm"),
}
