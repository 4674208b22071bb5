"""One writer per export file format (a registry, ``WRITERS``): a header, rows of cells, close.

- ``csv``: UTF-8 with a BOM (so that Excel reads Chinese right), comma-separated, text cells
  (``Cells.text``);
- ``xlsx``: an Excel workbook written with openpyxl's write-only mode (rows stream to a
  temporary file: memory stays flat), typed cells with number formats (``Cells.typed``), the
  header row(s) bold and frozen, column widths from the headers and the field types.
"""

from __future__ import annotations

import csv
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from engine.metadata.model import ObjectDef
from engine.runtime.exports.cells import Cells, neutralise
from engine.runtime.exports.columns import Column

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font


class ExportWriter(ABC):
    """Writes one export file to ``out`` (a binary file) in the reader's ``language``."""

    #: The file name's extension and the HTTP content type.
    extension: str = ""
    content_type: str = ""

    def __init__(self, out: BinaryIO, obj: ObjectDef, columns: list[Column], language: str) -> None:
        self.out, self.obj, self.columns, self.language = out, obj, columns, language

    @abstractmethod
    def header(self, keys: bool) -> None:
        """The header row of labels; with ``keys``, a second row of the field keys."""

    @abstractmethod
    def rows(self, records: Iterable[Mapping[str, Any]], cells: Cells) -> None:
        """One row per record."""

    @abstractmethod
    def close(self) -> None:
        """Finish the file (``out`` stays open)."""


class CsvWriter(ExportWriter):
    """CSV as Excel opens it: UTF-8 with a BOM, values as people read them."""

    extension, content_type = "csv", "text/csv"

    def __init__(self, out: BinaryIO, obj: ObjectDef, columns: list[Column], language: str) -> None:
        super().__init__(out, obj, columns, language)
        self.text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.text)

    def header(self, keys: bool) -> None:
        self.writer.writerow([neutralise(c.label(self.language)) for c in self.columns])
        if keys:
            self.writer.writerow([c.key for c in self.columns])

    def rows(self, records: Iterable[Mapping[str, Any]], cells: Cells) -> None:
        self.writer.writerows([cells.text(record, c) for c in self.columns] for record in records)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


#: Characters an Excel file cannot hold (XML 1.0 forbids them): dropped from text cells.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: The most characters an Excel cell holds.
EXCEL_CELL_LIMIT = 32_767
#: Column widths (in characters) by field type; others get ``_WIDTH``.
_WIDTHS = {"date": 12, "datetime": 17, "integer": 10, "currency": 16, "decimal": 14, "percent": 10, "textarea": 40}
_WIDTH, _MAX_WIDTH = 18, 60


class XlsxWriter(ExportWriter):
    """An Excel workbook of one sheet, streamed (openpyxl write-only)."""

    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def __init__(self, out: BinaryIO, obj: ObjectDef, columns: list[Column], language: str) -> None:
        from openpyxl import Workbook  # here, not at the top: a CSV export does not pay for loading it

        super().__init__(out, obj, columns, language)
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(_sheet_title(obj.plural_label.get(language)))

    def header(self, keys: bool) -> None:
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        for index, column in enumerate(self.columns, start=1):
            self.sheet.column_dimensions[get_column_letter(index)].width = _width(column, self.language)
        self.sheet.freeze_panes = "A3" if keys else "A2"
        bold = Font(bold=True)
        self.sheet.append([self._text(c.label(self.language), bold) for c in self.columns])
        if keys:
            self.sheet.append([self._text(c.key, Font(italic=True, color="808080")) for c in self.columns])

    def rows(self, records: Iterable[Mapping[str, Any]], cells: Cells) -> None:
        from openpyxl.cell import WriteOnlyCell

        for record in records:
            row: list[Any] = []
            for column in self.columns:
                typed = cells.typed(record, column)
                value = typed.value
                if isinstance(value, str):
                    plain = not value.startswith("=") and len(value) <= EXCEL_CELL_LIMIT and not _ILLEGAL.search(value)
                    row.append(value if plain else self._text(value))  # a plain value needs no cell object
                elif typed.number_format:
                    cell = WriteOnlyCell(self.sheet, value=value)
                    cell.number_format = typed.number_format
                    row.append(cell)
                else:
                    row.append(value)
            self.sheet.append(row)

    def _text(self, text: str, font: Font | None = None) -> WriteOnlyCell:
        """A text cell: never a formula, without the characters Excel cannot hold."""
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(self.sheet, value=_ILLEGAL.sub("", text)[:EXCEL_CELL_LIMIT])
        cell.data_type = "s"  # openpyxl would make "=…" a formula
        if font is not None:
            cell.font = font
        return cell

    def close(self) -> None:
        self.book.save(self.out)


def _sheet_title(label: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of ``[]:*?/\\``."""
    return re.sub(r"[\[\]:*?/\\]", " ", label).strip()[:31] or "Export"


def _width(column: Column, language: str) -> float:
    """A column's width: enough for its header (a CJK character counts twice) and its type."""
    label = column.label(language)
    header = sum(2 if ord(ch) > 0x2E80 else 1 for ch in label) + 2
    kind = column.field.value_type if column.field.type == "formula" else column.field.type
    return min(max(header, _WIDTHS.get(kind, _WIDTH)), _MAX_WIDTH)


#: The export formats: name → writer.
WRITERS: Mapping[str, type[ExportWriter]] = {"csv": CsvWriter, "xlsx": XlsxWriter}
