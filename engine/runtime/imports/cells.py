"""Cells as a person means them, per field type: one ``CellType`` per type in ``CELL_TYPES``.

A cell is text (CSV) or a typed value (xlsx: numbers, dates, booleans). Each cell type turns it
into what the write path accepts — the write path then coerces, normalises and checks it as it
does a form's value, so an import accepts at least what a form does:

- numbers with thousands separators, currency signs and words (``¥1,234.50``, ``1 234 元``,
  ``(300)`` for −300), full-width digits; percent fields with ``%``, and an Excel cell formatted
  as a percentage (``reading.Percent``, holding 0.15 for 15 %) as the 15 it shows;
- dates in the settings' ``date_format`` and the common forms (``2026-12-01``, ``2026/12/1``,
  ``2026.12.1``, ``2026年12月1日``, ``20261201``, Excel serial numbers and date cells);
  date-times as a date plus ``HH:MM[:SS]``, or ISO 8601;
- booleans in Chinese and English (是/否, 对/错, 有/无, √/×, yes/no, true/false, y/n, 1/0);
- picklist values by key or label in any language, ignoring case, spaces and punctuation; a
  stage also by its label in another pipeline of the object (a renewal's ``Renewed``);
  multipicklists and tags split on ``,`` ``;`` ``、`` (and their full-width forms) and ``|``;
- lookups by the target's title or another field (``Ref``, resolved a batch at a time by
  ``engine.runtime.imports.resolve``); users by user name, e-mail or display name;
- text that ``trellis export`` neutralised for a spreadsheet (``'=…``, ``'+86…``: a ``'`` before
  what would start a formula) without that ``'``, so that an exported file imports unchanged;
- files are uploaded on the record: a non-empty cell of a file field is a row error.

A cell that cannot be read raises ``FieldValueError`` with a stable code. Adding a field type
means adding its ``CellType`` here (the field-type registry of ``engine.metadata.fieldtypes``
may take these over as one more facet of a type).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.metadata.fieldtypes import FieldValueError
from engine.metadata.model import FieldDef, ObjectDef, Settings
from engine.runtime.exports.cells import FORMULA_START
from engine.runtime.imports.mapping import normal
from engine.runtime.imports.reading import Percent

#: Excel's day 0 (serial numbers count days from here; 1900's leap-year bug included).
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
#: Serial numbers read as dates in a CSV cell of a date field: 1954-10-14 … 2173-10-14.
EXCEL_SERIALS = (20000, 100000)
#: Distinct picklist cell texts whose key is remembered, per field (bounds the memory of a run).
CHOICE_MEMORY = 10_000


@dataclass(frozen=True)
class Ref:
    """A lookup cell: the text naming a record, resolved to its id a batch at a time."""

    text: str


@dataclass
class CellContext:
    """What converting cells needs besides the cell: the settings and the users by every name."""

    settings: Settings
    #: User name / e-mail / display name (normalised) → the ids of the users called so.
    users: Mapping[str, frozenset[int]] = field(default_factory=dict)
    #: Field → (normalised cell text → option key): the values a map chose for cells that are no option.
    chosen: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Names a picklist field's values have besides their own (``stage_names``): field → name → key.
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    _picklists: dict[str, dict[str, str]] = field(default_factory=dict)
    _chosen: dict[str, dict[str, str]] = field(default_factory=dict)

    def choose(self, fdef: FieldDef, text: str) -> str:
        """The key a picklist cell's text names (the text itself when it names none). A file
        repeats a few values in every row: the answers for up to ``CHOICE_MEMORY`` texts per field
        are kept, so that most cells cost a dictionary look-up instead of normalising the text."""
        chosen = self._chosen.setdefault(fdef.name, {})
        key = chosen.get(text)
        if key is None:
            key = self.choices(fdef).get(normal(text), text)
            if len(chosen) < CHOICE_MEMORY:
                chosen[text] = key
        return key

    def choices(self, fdef: FieldDef) -> dict[str, str]:
        """A picklist field's keys and labels (normalised) → key, and the map's chosen values."""
        found = self._picklists.get(fdef.name)
        if found is None:
            found = {}
            if fdef.picklist is not None:
                for option in fdef.picklist.walk():
                    for text in (option.key, *option.label.texts.values()):
                        found.setdefault(normal(text), option.key)
            found.update(self.chosen.get(fdef.name, {}))
            for name, key in self.aliases.get(fdef.name, {}).items():
                found.setdefault(name, key)
            self._picklists[fdef.name] = found
        return found


def stage_names(obj: ObjectDef) -> dict[str, dict[str, str]]:
    """The labels of ``obj``'s stages in every pipeline (normalised) → stage key, for its stage
    field: an export writes a renewal's ``contract_signed`` as that pipeline's "Renewed"."""
    pipeline = obj.pipeline
    if pipeline is None:
        return {}
    names: dict[str, str] = {}
    for stages in (pipeline.stages, *(variant.stages for variant in pipeline.variants)):
        for stage in stages:
            for text in stage.label.texts.values():
                names.setdefault(normal(text), stage.key)
    return {pipeline.field: names}


Converter = Callable[[Any, FieldDef, CellContext], Any]


@dataclass(frozen=True)
class CellType:
    """How cells of one field type are read."""

    name: str
    convert: Converter
    #: Whether a column may fill the field (a file is uploaded on the record, never from a cell).
    fillable: bool = True


def blank(cell: Any) -> bool:
    """Whether a cell is empty (None, or only spaces)."""
    return cell is None or (isinstance(cell, str) and not cell.strip())


def fillable(fdef: FieldDef) -> bool:
    """Whether an import's column may fill ``fdef`` (its cell type says)."""
    return CELL_TYPES[fdef.value_type].fillable


def convert_cell(cell: Any, fdef: FieldDef, context: CellContext) -> Any:
    """The value for the write path of one cell of ``fdef`` (None for an empty cell)."""
    if blank(cell):
        return None
    if isinstance(cell, Percent):
        cell = _percent_cell(cell, fdef)
    elif isinstance(cell, str) and cell.startswith("'") and cell[1:2] in FORMULA_START:
        cell = cell[1:]  # neutralised by an export (exports.cells.neutralise)
    return CELL_TYPES[fdef.value_type].convert(cell, fdef, context)


def _percent_cell(cell: Percent, fdef: FieldDef) -> Any:
    """A percentage cell as its field reads it: a percent field the number shown (15 for 0.15), a
    text field the text shown (``15%``), another number field the fraction the cell holds."""
    if fdef.value_kind.suffix == "%":  # a field whose numbers are shown as percentages
        return Decimal(repr(cell.value)) * 100 if isinstance(cell.value, float) else cell.value * 100
    return cell.value if fdef.kind.numeric else cell.shown


# --- text --------------------------------------------------------------------------------------------
def _text(cell: Any, fdef: FieldDef, context: CellContext) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a phone number or a code Excel stored as a number
    if isinstance(cell, dt.datetime):
        return cell.isoformat(sep=" ", timespec="minutes" if not cell.second else "seconds")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell).strip()


# --- numbers -----------------------------------------------------------------------------------------
_CURRENCY = re.compile(r"(?i)[¥$€£₩₹]|\b(?:rmb|cny|usd|eur|hkd|jpy|gbp)\b|元|人民币")
_SEPARATORS = re.compile(r"(?<=\d)[,'\u00a0\u2009\u202f _](?=\d{3})")


def _number(cell: Any, fdef: FieldDef, context: CellContext) -> Any:
    if isinstance(cell, bool):
        raise FieldValueError("invalid", f"{cell} is not a number.")
    if isinstance(cell, int | Decimal):
        return cell
    if isinstance(cell, float):
        return Decimal(repr(cell))
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    negative = text.startswith("(") and text.endswith(")")
    text = _CURRENCY.sub("", text.strip("()")).strip()
    text = _SEPARATORS.sub("", text)
    if fdef.value_type == "percent":
        text = text.removesuffix("%").strip()
    if negative and text and not text.startswith("-"):
        text = "-" + text
    return text


# --- booleans ----------------------------------------------------------------------------------------
_YES = {"是", "对", "真", "有", "√", "✓", "✔", "yes", "y", "true", "t", "1", "x", "on", "checked"}
_NO = {"否", "错", "假", "无", "没有", "×", "✗", "✘", "no", "n", "false", "f", "0", "off", "unchecked"}


def _boolean(cell: Any, fdef: FieldDef, context: CellContext) -> bool:
    if isinstance(cell, bool):
        return cell
    text = unicodedata.normalize("NFKC", str(cell)).strip().casefold()
    if isinstance(cell, int | float) and cell in (0, 1):
        text = str(int(cell))
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise FieldValueError("invalid_boolean", f"{str(cell)[:40]!r} is not yes or no (write 是/否 or yes/no).")


# --- dates -------------------------------------------------------------------------------------------
_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DMY = re.compile(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME = re.compile(r"(\d{1,2})\s*[:：时]\s*(\d{1,2})\s*分?(?:\s*[:：]?\s*(\d{1,2}(?:\.\d+)?)\s*秒?)?")


def _date_part(text: str, settings: Settings) -> tuple[dt.date | None, str]:
    """The date at the start of ``text`` and what follows it."""
    for pattern, order in ((_YMD, "ymd"), (_COMPACT, "ymd"), (_DMY, "dmy")):
        match = pattern.match(text)
        if match is None:
            continue
        a, b, c = (int(g) for g in match.groups())
        if order == "ymd":
            year, month, day = a, b, c
        elif settings.date_format == "MM/DD/YYYY":
            month, day, year = a, b, c
        elif settings.date_format in ("DD/MM/YYYY", "DD.MM.YYYY"):
            day, month, year = a, b, c
        else:
            return None, text  # 01/02/2026 is ambiguous where dates are written YYYY-MM-DD
        try:
            return dt.date(year, month, day), text[match.end() :].strip()
        except ValueError:
            return None, text
    return None, text


def _serial(number: float) -> dt.datetime:
    return EXCEL_EPOCH + dt.timedelta(days=number)


def _date(cell: Any, fdef: FieldDef, context: CellContext) -> dt.date:
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool) and 0 < cell < 2958466:
        return _serial(cell).date()
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    if text.isdigit() and EXCEL_SERIALS[0] <= int(text) < EXCEL_SERIALS[1]:
        return _serial(int(text)).date()
    day, rest = _date_part(text, context.settings)
    if day is not None and (not rest or _TIME.fullmatch(rest) or rest in ("00:00:00", "0:00")):
        return day
    raise FieldValueError(
        "invalid_date", f"{str(cell)[:40]!r} is not a date (write {context.settings.date_format} or 2026年12月1日)."
    )


def _datetime(cell: Any, fdef: FieldDef, context: CellContext) -> dt.datetime:
    if isinstance(cell, dt.datetime):
        return cell
    if isinstance(cell, dt.date):
        return dt.datetime.combine(cell, dt.time())
    if isinstance(cell, int | float) and not isinstance(cell, bool) and 0 < cell < 2958466:
        return _serial(cell).replace(microsecond=0)
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    day, rest = _date_part(text, context.settings)
    if day is not None:
        if not rest:
            return dt.datetime.combine(day, dt.time())
        match = _TIME.fullmatch(rest)
        if match is not None:
            hour, minute, second = int(match[1]), int(match[2]), float(match[3] or 0)
            if hour < 24 and minute < 60 and second < 60:
                return dt.datetime.combine(day, dt.time(hour, minute, int(second)))
    raise FieldValueError(
        "invalid_datetime",
        f"{str(cell)[:40]!r} is not a date and time (write {context.settings.date_format} HH:MM, "
        "or 2026年12月1日 14:30).",
    )


# --- picklists -----------------------------------------------------------------------------------------
_LIST_SEPARATORS = re.compile(r"[,;，；、|\n]")


def _choice(cell: Any, fdef: FieldDef, context: CellContext) -> str:
    text = _text(cell, fdef, context)
    return context.choose(fdef, text) if fdef.picklist is not None else text


def _many(cell: Any, fdef: FieldDef, context: CellContext) -> list[str]:
    if isinstance(cell, list | tuple):
        items = [str(item) for item in cell]
    else:
        items = _LIST_SEPARATORS.split(_text(cell, fdef, context))
    return [_choice(item.strip(), fdef, context) for item in items if item.strip()]


# --- records and users ---------------------------------------------------------------------------------
def _lookup(cell: Any, fdef: FieldDef, context: CellContext) -> Ref:
    return Ref(_text(cell, fdef, context))


def _user(cell: Any, fdef: FieldDef, context: CellContext) -> int:
    text = _text(cell, fdef, context)
    ids = context.users.get(normal(text)) or context.users.get(text.casefold(), frozenset())
    if len(ids) == 1:
        return next(iter(ids))
    if not ids:
        raise FieldValueError("no_such_user", f"There is no user {text[:60]!r} (user name, e-mail or name).")
    raise FieldValueError("ambiguous_user", f"{len(ids)} users are called {text[:60]!r}; write the user name.")


def _as_is(cell: Any, fdef: FieldDef, context: CellContext) -> Any:
    return cell.strip() if isinstance(cell, str) else cell


def _file(cell: Any, fdef: FieldDef, context: CellContext) -> Any:
    raise FieldValueError(
        "file_not_imported", "Files are not imported: upload them on the record, and leave this cell empty."
    )


CELL_TYPES: dict[str, CellType] = {
    t.name: t
    for t in (
        CellType("text", _text),
        CellType("textarea", _text),
        CellType("email", _text),
        CellType("phone", _text),
        CellType("url", _text),
        CellType("integer", _number),
        CellType("decimal", _number),
        CellType("currency", _number),
        CellType("percent", _number),
        CellType("boolean", _boolean),
        CellType("date", _date),
        CellType("datetime", _datetime),
        CellType("picklist", _choice),
        CellType("multipicklist", _many),
        CellType("tags", _many),
        CellType("lookup", _lookup),
        CellType("user", _user),
        CellType("json", _as_is),
        CellType("autonumber", _text),
        CellType("file", _file, fillable=False),
    )
}
