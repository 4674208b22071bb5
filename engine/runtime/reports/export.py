"""A report's figures as a CSV or Excel file, written by the export writers
(``engine.runtime.exports.writers``): one column per group level (labels, never keys) and
per measure (numbers a spreadsheet computes on; money, dates and percentages with their
formats), one row per group, then the total. Like a record export it needs the ``export``
grant on the report's object and is written to the access log (S34)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, BinaryIO

from engine.metadata.model import FieldDef, Label, ObjectDef
from engine.metadata.reports import report_field
from engine.runtime.exports.cells import Cells
from engine.runtime.exports.columns import Column
from engine.runtime.exports.export import UnknownFormat
from engine.runtime.exports.source import check_grant
from engine.runtime.exports.writers import WRITERS
from engine.runtime.messages import message
from engine.runtime.records.present import ValueFormatter
from engine.runtime.reports.result import ReportResult, Row
from engine.runtime.security import audit

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


def export_report(session: Session, result: ReportResult, out: BinaryIO, file_format: str = "csv") -> int:
    """Write ``result`` to ``out`` as ``file_format`` (csv, xlsx); returns how many groups."""
    if file_format not in WRITERS:
        raise UnknownFormat(file_format)
    obj = session.object(result.report.object)
    check_grant(session, obj.name)
    columns = _columns(obj, result, session.config.objects)
    sheet = replace(obj, plural_label=Label.of(result.title))
    writer = WRITERS[file_format](out, sheet, columns, result.language)
    writer.header(False)
    formatter = ValueFormatter(session.config.settings, result.language)
    rows = [_cells(result, row) for row in result.rows]
    total = _cells(result, result.total)
    total["l0"] = message("report.total", result.language)
    writer.rows([*rows, total], Cells(sheet, formatter))
    writer.close()
    with session.primary_writes() as connection:
        audit.log_access(
            connection,
            session.schema,
            session.principal,
            session.channel,
            "export",
            obj.name,
            None,
            session.clock().now_utc,
            {"report": result.name, "groups": len(rows), "format": file_format},
        )
    return len(rows)


def _columns(obj: ObjectDef, result: ReportResult, objects: Mapping[str, ObjectDef]) -> list[Column]:
    levels = [Column(FieldDef(f"l{i}", "text", Label.of(c.label))) for i, c in enumerate(result.levels)]
    if not levels:
        levels = [Column(FieldDef("l0", "text", Label.of(message("report.total", result.language))))]
    measures = []
    for index, (m, head) in enumerate(zip(_measures(result), result.measures, strict=True)):
        measures.append(
            Column(replace(_measure_type(obj, m.kind, m.field, objects), name=f"m{index}", label=Label.of(head.label)))
        )
    return levels + measures


def _measures(result: ReportResult) -> list[Any]:
    shown = {c.key for c in result.measures}
    return [m for m in result.report.measures if m.key in shown]


#: The column types of figures a report kind computes without a field (a funnel's).
COMPUTED_TYPES = {"median_days": "decimal", "avg_days": "decimal", "lost_reasons": "text"}


def _measure_type(obj: ObjectDef, kind: str, field_name: str | None, objects: Mapping[str, ObjectDef]) -> FieldDef:
    """The field a measure's column is typed as: counts are integers, rates percentages, the
    others take their field's type (an average of integers a decimal; ``object.field``, a
    conversion's amount of its targets, that object's field); a completeness target is its
    verdict in words."""
    if kind in ("count", "incomplete"):
        return FieldDef("m", "integer", Label.of("m"))
    if kind == "rate":
        return FieldDef("m", "percent", Label.of("m"))
    if kind == "target":
        return FieldDef("m", "text", Label.of("m"))
    if kind in COMPUTED_TYPES:
        return FieldDef("m", COMPUTED_TYPES[kind], Label.of("m"))
    other, _, name = (field_name or "").rpartition(".")
    field = report_field(objects[other], name) if other else report_field(obj, name)
    assert field is not None
    if field.value_type == "integer" and kind in ("avg", "weighted"):
        return FieldDef("m", "decimal", Label.of("m"))
    return field


def _cells(result: ReportResult, row: Row) -> dict[str, Any]:
    cells: dict[str, Any] = {f"l{i}": key.label for i, key in enumerate(row.keys)}
    for index, head in enumerate(result.measures):
        figure = row.figure(head.key)
        value = figure.value if figure is not None else None
        if head.kind == "rate" and value is not None:
            value = (value * 100).quantize(Decimal("0.01"))
        elif head.kind == "target" and figure is not None:
            value = figure.text or None
        cells[f"m{index}"] = value
    return cells
