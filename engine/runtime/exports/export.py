"""``export_file``: a list of records written as a file, a page at a time (see the package)."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from engine.runtime.errors import TrellisError
from engine.runtime.exports.cells import Cells
from engine.runtime.exports.columns import export_columns
from engine.runtime.exports.references import page_references
from engine.runtime.exports.source import check_grant, export_pages
from engine.runtime.exports.writers import WRITERS
from engine.runtime.records.present import ValueFormatter
from engine.runtime.records.query import Query

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


class UnknownFormat(TrellisError):
    """An export format Trellis does not write."""

    code = "unknown_format"

    def __init__(self, name: str) -> None:
        super().__init__(f"there is no export format {name!r}; the formats are {', '.join(WRITERS)}")


def export_file(
    session: Session,
    object_name: str,
    out: BinaryIO,
    *,
    query: Query | None = None,
    file_format: str = "csv",
    language: str = "en",
    keys: bool = False,
) -> int:
    """Write the records of ``query`` (default: all in the caller's scope) to ``out`` as
    ``file_format`` (``csv`` or ``xlsx``) for a reader of ``language``; returns how many.

    The ``export`` grant is checked first (``PermissionDenied``), hidden fields are never
    columns, and the export is written to the access log. With ``keys`` a second header row
    holds the field keys, so that ``trellis import`` maps every column back unchanged."""
    if file_format not in WRITERS:
        raise UnknownFormat(file_format)
    obj = session.object(object_name)
    check_grant(session, obj.name)
    columns = export_columns(obj, session.principal)
    writer = WRITERS[file_format](out, obj, columns, language)
    writer.header(keys)
    count = 0
    for page in export_pages(session, obj.name, query, detail={"format": file_format}):
        references = page_references(session, page, columns)
        writer.rows(page, Cells(obj, ValueFormatter(session.config.settings, language, references)))
        count += len(page)
    writer.close()
    return count
