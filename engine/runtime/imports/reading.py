"""Reading an import file: CSV (any encoding Excel and Chinese Windows write, any delimiter) and
``.xlsx`` (streamed, read-only), one row at a time, so that memory stays flat whatever the size.

``open_source(path, sheet=None)`` returns a ``Source``: the header row, how the file was read
(the encoding detected and the delimiter, or the sheet) and ``rows(skip)``, the data rows as
``(row number, cells)`` — row numbers as a spreadsheet shows them, the header being row 1. A
second header row (the field keys ``trellis export --keys`` writes) is kept as ``second`` and, once
the mapping recognises it (``Source.header_rows = 2``), is not a data row.

An xlsx number shown as a percentage (its number format has a ``%`` that is not quoted text)
holds a fraction — 0.15 for 15 % — and comes as a ``Percent`` cell, so that a percent field gets
what the person sees (15).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from engine.runtime.imports.problems import ImportProblem, say

#: Bytes read to detect a CSV file's encoding and delimiter.
SAMPLE_BYTES = 256 * 1024
#: The delimiters Excel writes (comma, semicolon in many European locales, tab for "Unicode text").
DELIMITERS = ",;\t|"
#: Chinese encodings a detector may name; GB18030 decodes all of them (it is their superset).
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "hz", "ms936", "euc_cn"}
#: Spreadsheet files read as xlsx.
XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: The widest CSV field accepted (csv's default of 128 KiB is too small for long notes).
FIELD_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Percent:
    """An xlsx number formatted as a percentage: ``value`` is the fraction the cell holds (0.15)."""

    value: float | int

    @property
    def shown(self) -> str:
        """The number as the spreadsheet shows it, without its format's decimals (``15%``)."""
        return f"{self.value * 100:.10g}%"


@dataclass
class Source:
    """One import file opened for reading: its header row and how it was read."""

    path: Path
    kind: str
    headers: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    #: Data rows in the sheet as the workbook declares them (xlsx; None when it does not say).
    total: int | None = None
    #: Every sheet of the workbook (xlsx), for a user to pick another.
    sheets: tuple[str, ...] = ()
    #: The row after the header (a keys row, when the mapping recognises one), as text.
    second: list[str] = field(default_factory=list)
    #: Rows before the data: the header, and the keys row when there is one.
    header_rows: int = 1
    _raw: BinaryIO | None = field(default=None, repr=False)
    #: The open workbook (xlsx): opened once, for the header and the rows.
    _book: Any = field(default=None, repr=False)
    _size: int = 0
    _position: int = 0

    def rows(self, skip: int = 0) -> Iterator[tuple[int, list[Any]]]:
        """The data rows after the header as ``(row number, cells)``, leaving out the first
        ``skip`` of them (a resumed import); blank rows included, so that numbers stay true."""
        reader = _csv_rows(self) if self.kind == "csv" else _xlsx_rows(self)
        for number, cells in enumerate(reader, start=self.first_row):
            self._position = number - self.header_rows
            if number - self.first_row < skip:
                continue
            yield number, cells

    @property
    def keys(self) -> list[str] | None:
        """The keys row, when the mapping recognised one (an error file repeats it)."""
        return self.second if self.header_rows == 2 else None

    @property
    def first_row(self) -> int:
        """The number of the first data row (2, or 3 after a keys row)."""
        return self.header_rows + 1

    def fraction(self) -> float | None:
        """How far through the file reading is (0…1), for a progress bar; None when unknown."""
        if self.kind == "xlsx":
            total = (self.total or 0) - (self.header_rows - 1)
            return min(1.0, self._position / total) if total > 0 else None
        if self._raw is None or not self._size:
            return None
        try:
            return min(1.0, self._raw.tell() / self._size)
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """Close the file."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._book is not None:
            self._book.close()
            self._book = None

    @property
    def described(self) -> str:
        """How the file was read, for the user (``CSV, GB18030, delimiter ';'`` / ``xlsx, sheet Leads``)."""
        if self.kind == "csv":
            shown = {"\t": "tab"}.get(self.delimiter or ",", self.delimiter)
            return say("import.read_csv", encoding=display_encoding(self.encoding), delimiter=repr(shown))
        return say("import.read_xlsx", sheet=repr(self.sheet))


def display_encoding(encoding: str | None) -> str:
    """The name people know an encoding by (``UTF-8 with BOM``, ``GB18030``)."""
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gb18030": "GB18030 (GBK)", "utf-16": "UTF-16"}.get(
        encoding or "", encoding or "?"
    )


def file_digest(path: Path) -> tuple[int, str]:
    """The size and SHA-256 of a file: how a resumed import knows it reads the same file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def open_source(path: str | Path, sheet: str | None = None, name: str | None = None) -> Source:
    """Open ``path`` (CSV or xlsx, told by its suffix) and read its header row; raises
    ``ImportProblem`` for a missing, empty or unreadable file, or an unknown sheet, naming the
    file ``name`` (the name its user knows an uploaded file by) or its own."""
    path = Path(path)
    shown = name or path.name
    if not path.is_file():
        raise ImportProblem("import.no_file", path=name or str(path))
    if path.suffix.lower() in XLSX_SUFFIXES:
        return _open_xlsx(path, sheet, shown)
    if path.suffix.lower() == ".xls":
        raise ImportProblem("import.old_excel", path=shown)
    if sheet is not None:
        raise ImportProblem("import.sheet_not_xlsx", path=shown)
    return _open_csv(path, shown)


# --- CSV -----------------------------------------------------------------------------------------------
def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV file from its first bytes: a BOM, else UTF-8 when the bytes are
    UTF-8, else what charset-normalizer finds (GBK and GB2312 read as GB18030)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer  # loaded for a file that is not UTF-8, not by every command

    whole_lines = sample[: sample.rfind(b"\n") + 1]  # a sample cut inside a character reads as no encoding
    best = charset_normalizer.from_bytes(whole_lines or sample).best()
    if best is None:
        raise ImportProblem("import.unknown_encoding")
    name = codecs.lookup(best.encoding).name
    return "gb18030" if name.replace("-", "_") in _GB_FAMILY else name


def _open_csv(path: Path, shown: str) -> Source:
    raw = path.open("rb")
    sample = raw.read(SAMPLE_BYTES)
    if not sample.strip():
        raw.close()
        raise ImportProblem("import.empty_file", path=shown)
    encoding = detect_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
    lines = text.splitlines()[:20]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = next((d for d in DELIMITERS if d in (lines[0] if lines else "")), ",")
    raw.seek(0)
    source = Source(path, "csv", [], encoding=encoding, delimiter=delimiter, _raw=raw, _size=path.stat().st_size)
    try:
        records = _reader(source)
        headers = next(records, None)
        source.second = [cell.strip() for cell in next(records, [])]
        records.close()
    except ImportProblem:
        source.close()
        raise
    if not headers or not any(h.strip() for h in headers):
        source.close()
        raise ImportProblem("import.no_header", path=shown)
    source.headers = [h.strip() for h in headers]
    return source


def _reader(source: Source) -> Generator[list[str], None, None]:
    """Every record of the CSV file, header included (decoding errors become ImportProblem)."""
    assert source._raw is not None
    source._raw.seek(0)
    text = io.TextIOWrapper(source._raw, encoding=source.encoding, newline="", errors="strict")
    csv.field_size_limit(FIELD_LIMIT)
    try:
        yield from csv.reader(text, delimiter=source.delimiter or ",")
    except UnicodeDecodeError:
        raise ImportProblem("import.bad_bytes", encoding=display_encoding(source.encoding)) from None
    except csv.Error as exc:
        raise ImportProblem("import.bad_csv", reason=str(exc)) from None
    finally:
        text.detach()


def _csv_rows(source: Source) -> Iterator[list[Any]]:
    records = _reader(source)
    for _ in range(source.header_rows):
        next(records, None)
    yield from records


# --- xlsx ----------------------------------------------------------------------------------------------
def _dimensions_from_the_head(parser: Any) -> tuple[int, int, int, int] | None:
    """A sheet's declared size (``<dimension ref="A1:P100001">``), looked for only before its rows.

    openpyxl's own ``WorkSheetParser.parse_dimensions`` means to stop at ``<sheetData>`` but
    listens for end tags, so on a sheet that declares no size — what openpyxl's write-only mode
    writes, Trellis's own Excel export among them — it parses every row whenever a workbook is
    opened read-only: 12 s for 100,000 rows, before the first row is read, for each opening."""
    from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG
    from openpyxl.worksheet.dimensions import SheetDimension
    from openpyxl.xml.functions import iterparse

    for _event, element in iterparse(parser.source, events=("start",)):
        if element.tag == DIMENSION_TAG:
            return SheetDimension.from_tree(element).boundaries
        if element.tag == DATA_TAG:
            return None
    return None


def _load_workbook(path: Path) -> Any:
    """``path`` opened read-only (values, not formulas), reading each sheet's size from its head."""
    from openpyxl import load_workbook  # imported when an xlsx file is read: it is large
    from openpyxl.worksheet._reader import WorkSheetParser

    WorkSheetParser.parse_dimensions = _dimensions_from_the_head
    return load_workbook(path, read_only=True, data_only=True)


def _open_xlsx(path: Path, sheet: str | None, shown: str) -> Source:
    try:
        book = _load_workbook(path)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a damaged or foreign file
        raise ImportProblem("import.bad_xlsx", path=shown) from None
    if sheet is None:
        worksheet = book.worksheets[0]
    elif sheet in book.sheetnames:
        worksheet = book[sheet]
    else:
        book.close()
        raise ImportProblem("import.no_sheet", sheet=sheet, sheets=", ".join(book.sheetnames))
    first, second = [*worksheet.iter_rows(values_only=True, max_row=2), None, None][:2]
    total = worksheet.max_row - 1 if worksheet.max_row else None
    if not first or not any(cell not in (None, "") for cell in first):
        book.close()
        raise ImportProblem("import.no_header", path=shown)
    headers = ["" if cell is None else str(cell).strip() for cell in first]
    while headers and not headers[-1]:
        headers.pop()
    keys = ["" if cell is None else str(cell).strip() for cell in second or ()]
    sheets = tuple(book.sheetnames)
    return Source(path, "xlsx", headers, sheet=worksheet.title, total=total, sheets=sheets, second=keys, _book=book)


def _xlsx_rows(source: Source) -> Iterator[list[Any]]:
    """The sheet's rows after the header, from the workbook the source opened (opening one reads all
    its shared strings); a workbook damaged further down is an ImportProblem."""
    if source._book is None:
        source._book = _load_workbook(source.path)
    rows = source._book[source.sheet].iter_rows(min_row=source.first_row)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - openpyxl, zipfile and the XML parser raise many kinds
            raise ImportProblem("import.bad_xlsx", path=source.path.name) from None
        values = [cell.value for cell in row]
        for index, value in enumerate(values):  # only numbers have a format worth reading
            if type(value) in (int, float) and percent_format(row[index].number_format):
                values[index] = Percent(value)
        yield values


@lru_cache(maxsize=256)
def percent_format(number_format: str) -> bool:
    """Whether an Excel number format shows a number as a percentage (×100): a ``%`` outside quoted
    text and not escaped (``0.0%`` is; ``#,##0"%"``, which shows 15 as 15%, is not)."""
    plain = re.sub(r'"[^"]*"|\\.', "", number_format or "")
    return "%" in plain
