"""The ``grouped`` report kind: one GROUP BY over the viewer's records (``Query.grouped``).

The report's records are the list's for the same parameters (``listparams``: filters,
relative ranges, ``owner``), so a figure's drill-down list shows exactly the records it
counts. A field hidden from the viewer is never grouped, filtered or summed: a group, filter
or period on one refuses the report (``ReportRefused``); a measure reading one is left out
and named in ``ReportResult.left_out`` and its notes. Groups are labelled (``labels``),
ordered (picklists as declared, names alphabetically), sorted by the report's ``sort`` and
cut to its ``limit`` (at most ``MAX_GROUPS``); the total covers every matching record: the
groups added up (``_total_of``), or, for a report with an average, a second GROUP BY without keys.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.filters import split_key
from engine.metadata.model import ObjectDef, Report, ReportMeasure
from engine.metadata.reports import report_field
from engine.runtime.messages import current_language, message
from engine.runtime.records import listparams
from engine.runtime.records.present import ValueFormatter
from engine.runtime.records.query import Group
from engine.runtime.reports import drill
from engine.runtime.reports.labels import Labeller, field_label
from engine.runtime.reports.result import Column, Figure, Key, ReportRefused, ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.reports.kinds import Overrides

#: Most groups a report shows (Salesforce's report API stops at 2,000 rows too).
MAX_GROUPS = 2000
#: Measures whose figures add up across groups (a matrix's row and column totals).
ADDITIVE = ("count", "sum", "weighted")


def run_grouped(session: Session, report: Report, overrides: Overrides, language: str) -> ReportResult:
    """Run a ``grouped`` report as the session's principal (see the module)."""
    obj = session.object(report.object)
    params = overrides.params(session, report)
    refuse_hidden(session, obj, report, params)
    measures = tuple(m for m in report.measures if _visible(session, obj, m))
    left_out = tuple(m.key for m in report.measures if m not in measures)
    query = listparams.parse(params).apply(session.query(obj.name))
    keys = [g.key for g in report.group_by]
    asked = _asked(obj, measures)
    groups = query.grouped(*keys, **asked) if keys else []
    total = _total_of(groups) if keys and not asked["avgs"] else query.grouped(**asked)[0]
    formatter = ValueFormatter(session.config.settings, language)
    labellers = [Labeller(session, obj, g, language) for g in report.group_by]
    rows = _sorted(report, _rows(obj, report, measures, groups, labellers, params, formatter))
    limit = min(report.limit or MAX_GROUPS, MAX_GROUPS)
    more = len(rows) > limit
    subtotals = _subtotals(obj, report, rows, params, formatter) if len(keys) == 2 and not more else {}
    notes: tuple[str, ...] = ()
    if left_out:
        labels = ", ".join(_measure_label(obj, m, language) for m in report.measures if m.key in left_out)
        notes = (message("report.left_out", language, measures=labels),)
    return ReportResult(
        report=report,
        title=report.label.get(language),
        description=report.description.get(language) if report.description else "",
        levels=tuple(Column(g.key, field_label(obj, g.field, language)) for g in report.group_by),
        measures=tuple(Column(m.key, _measure_label(obj, m, language), m.kind) for m in measures),
        rows=tuple(rows[:limit]),
        total=Row((), tuple(_figure(obj, m, total, params, formatter) for m in measures)),
        params=params,
        left_out=left_out,
        notes=notes,
        more=more,
        subtotals=subtotals,
        language=language,
        columns=_level_values(rows[:limit], labellers[1], 1) if len(keys) == 2 else (),
    )


def _level_values(rows: list[Row], labeller: Labeller, level: int) -> tuple[Key, ...]:
    """The values of level ``level`` among ``rows``, in the level's order."""
    found = {row.keys[level].raw: row.keys[level] for row in rows}
    return tuple(sorted(found.values(), key=lambda key: labeller.order(key.raw)))


def _rows(
    obj: ObjectDef,
    report: Report,
    measures: tuple[ReportMeasure, ...],
    groups: list[Group],
    labellers: list[Labeller],
    params: dict[str, str],
    formatter: ValueFormatter,
) -> list[Row]:
    """One row per group: its keys labelled, its figures with their drill-down filters, in the
    levels' order (picklists as declared, names alphabetically, no value last)."""
    keys = [g.key for g in report.group_by]
    for key, labeller in zip(keys, labellers, strict=True):
        labeller.read(g.values[key] for g in groups)
    rows = []
    for group in groups:
        raws = [group.values[k] for k in keys]
        level = drill.merged(params, *(drill.level_filter(g, r) for g, r in zip(report.group_by, raws, strict=True)))
        figures = tuple(_figure(obj, m, group, level, formatter) for m in measures)
        rows.append(Row(tuple(Key(r, lab.label(r)) for r, lab in zip(raws, labellers, strict=True)), figures))
    rows.sort(key=lambda row: tuple(lab.order(k.raw) for lab, k in zip(labellers, row.keys, strict=True)))
    return rows


# --- permissions -----------------------------------------------------------------------------------
def refuse_hidden(session: Session, obj: ObjectDef, report: Report, params: dict[str, str]) -> None:
    """``ReportRefused`` naming the hidden fields the report groups or filters by."""
    principal = session.principal
    names = [g.field for g in report.group_by] + [split_key(k)[0] for k in params if k not in listparams.RESERVED]
    hidden = [n for n in dict.fromkeys(names) if n in obj.fields and not principal.can_see(obj.name, n)]
    if hidden:
        raise ReportRefused([obj.fields[n].label.get(current_language()) for n in hidden])


def _reads(obj: ObjectDef, measure: ReportMeasure) -> list[str]:
    """The fields a measure reads."""
    names = [measure.field] if measure.field else []
    names += [split_key(k)[0] for k in measure.where]
    if measure.kind == "weighted" and obj.pipeline is not None:
        names.append(obj.pipeline.field)
    return names


def _visible(session: Session, obj: ObjectDef, measure: ReportMeasure) -> bool:
    return all(n not in obj.fields or session.principal.can_see(obj.name, n) for n in _reads(obj, measure))


# --- figures -----------------------------------------------------------------------------------------
def _asked(obj: ObjectDef, measures: tuple[ReportMeasure, ...]) -> dict[str, Any]:
    """``Query.grouped``'s keyword arguments for ``measures``."""
    asked: dict[str, Any] = {"sums": [], "avgs": [], "mins": [], "maxs": [], "shares": {}, "weighted": []}
    for m in measures:
        if m.kind in ("sum", "avg", "min", "max"):
            asked[m.kind + "s"].append(m.field)
        elif m.kind == "rate":
            asked["shares"][m.key] = m.field if m.field else dict(m.where)
        elif m.kind == "weighted":
            asked["weighted"].append(m.field)
    return asked


def _figure(obj: ObjectDef, m: ReportMeasure, group: Group, params: dict[str, str], fmt: ValueFormatter) -> Figure:
    where = drill.merged(params, drill.measure_filter(m))
    if m.kind == "count":
        return Figure(m.key, group.count, _text(obj, m, group.count, fmt), where)
    if m.kind == "rate":
        hits = group.shares.get(m.key, 0)
        value = (Decimal(hits) / group.count).quantize(Decimal("0.0001")) if group.count else None
        return Figure(m.key, value, _text(obj, m, value, fmt), where)
    field = report_field(obj, m.field or "")
    assert field is not None
    source = {"sum": group.sums, "avg": group.avgs, "min": group.mins, "max": group.maxs, "weighted": group.weighted}
    value = _exact(source[m.kind].get(field.name), field.value_kind.storage, decimal_scale(field), m.kind)
    return Figure(m.key, value, _text(obj, m, value, fmt), where)


def _total_of(groups: list[Group]) -> Group:
    """The total of every group, added up in Python: the groups split the matching records, so
    counts, sums, shares and weighted sums add up and extremes are the groups' extremes (an
    average does not: a report with one runs a second GROUP BY without keys instead)."""

    def combine(values: list[Any], how: Any) -> Any:
        present = [v for v in values if v is not None]
        return how(present) if present else None

    def each(part: str, how: Any) -> dict[str, Any]:
        names = getattr(groups[0], part) if groups else {}
        return {name: combine([getattr(g, part)[name] for g in groups], how) for name in names}

    shares = {name: sum(g.shares[name] for g in groups) for name in (groups[0].shares if groups else {})}
    return Group(
        {},
        sum(g.count for g in groups),
        sums=each("sums", sum),
        mins=each("mins", min),
        maxs=each("maxs", max),
        shares=shares,
        weighted=each("weighted", sum),
    )


def _text(obj: ObjectDef, m: ReportMeasure, value: Any, fmt: ValueFormatter) -> str:
    """A figure's value as the reader reads it: a count as a number, a rate as a percentage,
    the others as their field's values (money as money; an average of integers with 2 places)."""
    if value is None:
        return ""
    if m.kind == "count":
        return fmt.number(value)
    if m.kind == "rate":
        return fmt.number(value * 100, 1) + "%"
    field = report_field(obj, m.field or "")
    assert field is not None
    if m.kind in ("avg", "weighted") and field.value_kind.storage == "integer":
        return fmt.number(value, 2)
    return fmt.text(value, field)


def _subtotals(
    obj: ObjectDef, report: Report, rows: list[Row], params: dict[str, str], fmt: ValueFormatter
) -> dict[tuple[int, Any], Row]:
    """A two-level report's totals per value of each level, for the measures that add up
    (count, sum, weighted: the groups split the records); the others stay empty."""
    out: dict[tuple[int, Any], Row] = {}
    for level, group in enumerate(report.group_by):
        for raw in dict.fromkeys(row.keys[level].raw for row in rows):
            members = [row for row in rows if row.keys[level].raw == raw]
            base = drill.merged(params, drill.level_filter(group, raw))
            figures = []
            for m in (m for m in report.measures if members[0].figure(m.key) is not None):
                values = [f.value for f in (row.figure(m.key) for row in members) if f and f.value is not None]
                value = sum(values) if values and m.kind in ADDITIVE else None
                where = drill.merged(base, drill.measure_filter(m))
                figures.append(Figure(m.key, value, _text(obj, m, value, fmt), where))
            out[(level, raw)] = Row((Key(raw, members[0].keys[level].label),), tuple(figures))
    return out


def _exact(value: Any, storage: str, scale: int, kind: str) -> Any:
    """Decimals at the field's scale on both databases (an average or weighted integer at 2)."""
    if value is None or not isinstance(value, (Decimal, float)):
        return value
    places = 2 if storage == "integer" else scale
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def _sorted(report: Report, rows: list[Row]) -> list[Row]:
    """``rows`` by the report's sort: a measure's value or a level's order; empty last."""
    if report.sort is None:
        return rows
    key, descending = report.sort
    levels = [g.key for g in report.group_by]
    if key in levels:  # the level's own order, maybe reversed; no value stays last
        level = levels.index(key)
        present = [r for r in rows if r.keys[level].raw is not None]
        return (present[::-1] if descending else present) + [r for r in rows if r.keys[level].raw is None]
    present = [r for r in rows if r.figure(key) is not None and r.figure(key).value is not None]  # type: ignore[union-attr]
    empty = [r for r in rows if r not in present]
    present.sort(key=lambda r: r.figure(key).value, reverse=descending)  # type: ignore[union-attr]
    return present + empty


# --- labels ----------------------------------------------------------------------------------------
def _measure_label(obj: ObjectDef, m: ReportMeasure, language: str) -> str:
    if m.label is not None:
        return m.label.get(language)
    if m.kind == "count":
        return message("report.count", language)
    if m.kind == "rate" and m.field is None:
        return message("report.rate_where", language)
    return message(f"report.{m.kind}", language, field=field_label(obj, m.field or "", language))
