"""The ``conversion`` report kind (S43): how many of the viewer's records a conversion converted
(leads into accounts, contacts and deals), per one level (the owner by default; a source, a
campaign, a month).

Figures per group and in total, from one GROUP BY through ``Query.grouped`` (conditional
counts): ``records`` (the report's records: leads created in the period), ``converted`` (those
the conversion marked, ``mark``; without a mark, those linked to its first required target),
``conversion_rate`` (converted / records) and, per target the conversion links back
(``links``), ``to_<target>`` the records linked to one. With ``amount: target.field``, the sum
of that field over the linked records (``amount``) and over those in a won stage
(``won_amount``), read by joining the viewer's leads with the target's ``Query`` as the viewer,
so a deal the viewer may not read adds nothing. Counts link to the list of the leads they
count; amounts are no links (no lead list filters by its deal's amount). A target whose object
the viewer may not read, or whose link field is hidden from them, is left out with a note;
a report grouping, filtering or marking by a hidden field is refused.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.filters import split_key
from engine.metadata.model import Conversion, Label, ObjectDef, Report, ReportGroup, ReportMeasure
from engine.runtime import periods
from engine.runtime.messages import message
from engine.runtime.records import listparams
from engine.runtime.records.present import ValueFormatter
from engine.runtime.records.query import Group
from engine.runtime.reports import drill
from engine.runtime.reports.grouped import refuse_hidden, total_of
from engine.runtime.reports.labels import Labeller, field_label
from engine.runtime.reports.result import Column, Figure, Key, ReportRefused, ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.query import Query
    from engine.runtime.records.session import Session
    from engine.runtime.reports.kinds import Overrides

LANGUAGES = ("en", "zh")


def run_conversion(session: Session, report: Report, overrides: Overrides, language: str) -> ReportResult:
    """Run a ``conversion`` report as the session's principal (see the module)."""
    obj = session.object(report.object)
    conversion = session.config.conversions[report.conversion or ""]
    params = overrides.params(session, report)
    refuse_hidden(session, obj, report, params)
    converted = _converted(conversion)
    hidden = [n for n in dict.fromkeys(split_key(k)[0] for k in converted) if not _sees(session, obj.name, n)]
    if hidden:
        raise ReportRefused([field_label(obj, n, language) for n in hidden])
    targets = {t: link for t, link in conversion.links.items() if conversion.target(t) is not None}
    shown = {
        t: link for t, link in targets.items() if _readable(session, conversion, t) and _sees(session, obj.name, link)
    }
    shares: dict[str, dict[str, str]] = {"converted": converted}
    shares |= {f"to_{t}": {f"{link}__isnull": "false"} for t, link in shown.items()}
    query = listparams.parse(params).apply(session.query(obj.name))
    level = report.group_by[0]
    groups = query.grouped(level.key, shares=shares)
    amount = _Amount.of(session, report, conversion, shown)
    sums = amount.sums(session, query, level) if amount is not None else {}
    measures = _measures(session, obj, conversion, shown, amount)
    shown_report = replace(report, measures=measures)
    formatter = ValueFormatter(session.config.settings, language)
    labeller = Labeller(session, obj, level, language)
    labeller.read(g.values[level.key] for g in groups)
    rows = []
    for group in sorted(groups, key=lambda g: labeller.order(g.values[level.key])):
        raw = group.values[level.key]
        where = drill.merged(params, drill.level_filter(level, raw))
        figures = _figures(measures, group, sums.get(raw), where, shares, amount, formatter)
        rows.append(Row((Key(raw, labeller.label(raw)),), figures))
    zero = Decimal(0)
    total_sums = (sum((s[0] for s in sums.values()), zero), sum((s[1] for s in sums.values()), zero))
    notes = [message("report.conversion.no_drill", language)] if amount is not None else []
    left_out = [t for t in targets if t not in shown]
    if left_out:
        labels = ", ".join(_target_label(session, conversion, t, language) for t in left_out)
        notes.append(message("report.conversion.left_out", language, targets=labels))
    return ReportResult(
        report=shown_report,
        title=report.label.get(language),
        description=report.description.get(language) if report.description else "",
        levels=(Column(level.key, field_label(obj, level.field, language)),),
        measures=tuple(Column(m.key, m.label.get(language) if m.label else m.key, m.kind) for m in measures),
        rows=tuple(rows),
        total=Row((), _figures(measures, total_of(groups), total_sums, params, shares, amount, formatter)),
        params=params,
        left_out=tuple(f"to_{t}" for t in left_out),
        notes=tuple(notes),
        language=language,
    )


def _converted(conversion: Conversion) -> dict[str, str]:
    """The list filter of the converted records: the conversion's mark, else a link to its first
    required target."""
    if conversion.mark:
        return {name: drill.text(value) for name, value in conversion.mark.items()}
    required = [t.name for t in conversion.targets if not t.optional and t.name in conversion.links]
    first = required[0] if required else next(iter(conversion.links))
    return {f"{conversion.links[first]}__isnull": "false"}


def _sees(session: Session, object_name: str, field_name: str) -> bool:
    return session.principal.can_see(object_name, field_name)


def _readable(session: Session, conversion: Conversion, target_name: str) -> bool:
    target = conversion.target(target_name)
    return target is not None and session.principal.grant(target.object).read != "none"


def _target_label(session: Session, conversion: Conversion, target_name: str, language: str) -> str:
    target = conversion.target(target_name)
    assert target is not None
    return session.object(target.object).plural_label.get(language)


def _label(make: Any) -> Label:
    return Label({language: make(language) for language in LANGUAGES})


class _Amount:
    """The ``amount: target.field`` of a report: the target's object, field and won stages."""

    def __init__(self, target: str, link: str, obj: ObjectDef, field: str, won: tuple[str, ...]) -> None:
        self.target, self.link, self.obj, self.field, self.won = target, link, obj, field, won

    @classmethod
    def of(cls, session: Session, report: Report, conversion: Conversion, shown: dict[str, str]) -> _Amount | None:
        """The report's amount, when it has one the viewer may read (its target, link and field)."""
        if report.amount is None:
            return None
        target_name, _, field = report.amount.partition(".")
        target = conversion.target(target_name)
        if target is None or target_name not in shown or not _sees(session, target.object, field):
            return None
        obj = session.object(target.object)
        won: tuple[str, ...] = ()
        if obj.pipeline is not None and _sees(session, obj.name, obj.pipeline.field):
            won = tuple(s.key for s in obj.pipeline.all_stages() if s.outcome == "won")
        return cls(target_name, shown[target_name], obj, field, won)

    def sums(self, session: Session, query: Query, level: ReportGroup) -> dict[Any, tuple[Decimal, Decimal]]:
        """Per value of ``level``: the amount of the linked records the viewer may read, and of
        those won — one GROUP BY joining the viewer's records with the target's query."""
        source = (
            query.statement()
            .order_by(None)
            .with_only_columns(
                query.group_expression(level.key).label("g"), query.table.c[self.link].label("target_id")
            )
            .subquery("source")
        )
        targets = session.query(self.obj.name)
        table = targets.table
        columns = [table.c.id, table.c[self.field].label("amount")]
        if self.won and self.obj.pipeline is not None:
            columns.append(table.c[self.obj.pipeline.field].label("stage"))
        linked = targets.statement().order_by(None).with_only_columns(*columns).subquery("linked")
        won = (
            sa.case((linked.c.stage.in_(self.won), linked.c.amount), else_=None)
            if self.won
            else sa.literal(None, sa.Numeric)
        )
        statement = (
            sa.select(source.c.g, sa.func.sum(linked.c.amount), sa.func.sum(won))
            .select_from(source.join(linked, linked.c.id == source.c.target_id))
            .group_by(source.c.g)
        )
        out = {}
        for raw, amount, won_amount in session.connection.execute(statement):
            key = periods.as_date(raw) if level.bucket else raw
            out[key] = (Decimal(str(amount or 0)), Decimal(str(won_amount or 0)))
        return out


def _measures(
    session: Session, obj: ObjectDef, conversion: Conversion, shown: dict[str, str], amount: _Amount | None
) -> tuple[ReportMeasure, ...]:
    """The figures shown, as measures (keys and headings in both languages)."""
    measures = [
        ReportMeasure("count", label=_label(obj.plural_label.get), key="records"),
        ReportMeasure(
            "count", label=_label(lambda lang: message("report.conversion.converted", lang)), key="converted"
        ),
        ReportMeasure(
            "rate", label=_label(lambda lang: message("report.conversion.rate", lang)), key="conversion_rate"
        ),
    ]
    for target in shown:
        label = _label(lambda lang, t=target: _target_label(session, conversion, t, lang))
        measures.append(ReportMeasure("count", label=label, key=f"to_{target}"))
    if amount is not None:
        field = f"{amount.obj.name}.{amount.field}"

        def heading(lang: str) -> str:
            name = amount.obj.fields[amount.field].label.get(lang)
            return message("report.conversion.amount", lang, field=name, target=amount.obj.plural_label.get(lang))

        measures.append(ReportMeasure("sum", field=field, label=_label(heading), key="amount"))
        if amount.won:
            won = _label(
                lambda lang: message(
                    "report.conversion.won_amount", lang, field=amount.obj.fields[amount.field].label.get(lang)
                )
            )
            measures.append(ReportMeasure("sum", field=field, label=won, key="won_amount"))
    return tuple(measures)


def _figures(
    measures: tuple[ReportMeasure, ...],
    group: Group,
    sums: tuple[Decimal, Decimal] | None,
    where: dict[str, str],
    shares: dict[str, dict[str, str]],
    amount: _Amount | None,
    fmt: ValueFormatter,
) -> tuple[Figure, ...]:
    """One group's (or the total's) figures, each count with the list of the records it counts."""
    out = []
    for m in measures:
        if m.key == "records":
            out.append(Figure(m.key, group.count, fmt.number(group.count), where))
        elif m.key == "conversion_rate":
            hits = group.shares.get("converted", 0)
            value = (Decimal(hits) / group.count).quantize(Decimal("0.0001")) if group.count else None
            text = "" if value is None else fmt.number(value * 100, 1) + "%"
            out.append(Figure(m.key, value, text, drill.merged(where, shares["converted"])))
        elif m.key in ("amount", "won_amount") and amount is not None:
            field = amount.obj.fields[amount.field]
            exact = Decimal(1).scaleb(-decimal_scale(field)) if field.value_kind.storage == "decimal" else Decimal(1)
            value = (sums[0] if m.key == "amount" else sums[1]).quantize(exact) if sums is not None else Decimal(0)
            out.append(Figure(m.key, value, fmt.text(value, field), None))
        else:
            count = group.shares.get(m.key, 0)
            out.append(Figure(m.key, count, fmt.number(count), drill.merged(where, shares[m.key])))
    return tuple(out)
