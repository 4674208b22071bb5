"""The ``completeness`` report kind (S41, S6): how many of the viewer's records have the report's
``fields`` filled, per group (the owner by default; a field; or the owner's team: the owners'
groups added up, drilled down by ``owner_id__in`` of its owners) and in total.

One GROUP BY over the list's records (``Query.grouped`` with conditional counts: per field the
records where it is filled, and those where every field is), so the figures follow the viewer's
scope like every list. Figures per group, in this order (the chart draws the rates):
``complete`` (the share with every field filled), ``filled_<field>`` (each field's fill rate),
``count`` (records), ``incomplete`` (records with some field empty: its drill-down is the list
with ``any_empty``) and ``target`` (met or not met, in words). A field hidden from the viewer is
left out and named in the notes; when every field is hidden, the report is refused.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.metadata.model import Label, ObjectDef, Report, ReportMeasure
from engine.runtime.messages import message
from engine.runtime.records import listparams
from engine.runtime.records.present import ValueFormatter
from engine.runtime.records.query import Group
from engine.runtime.reports import drill, teams
from engine.runtime.reports.grouped import refuse_hidden, total_of
from engine.runtime.reports.labels import Labeller, field_label
from engine.runtime.reports.result import Column, Figure, Key, ReportRefused, ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.reports.kinds import Overrides

#: The keys of the figures that are not a field's fill rate.
COMPLETE, COUNT, INCOMPLETE, TARGET = "complete", "count", "incomplete", "target"


def run_completeness(session: Session, report: Report, overrides: Overrides, language: str) -> ReportResult:
    """Run a ``completeness`` report as the session's principal (see the module)."""
    obj = session.object(report.object)
    principal = session.principal
    fields = [n for n in report.fields if n not in obj.fields or principal.can_see(obj.name, n)]
    hidden = [n for n in report.fields if n not in fields]
    if not fields:
        raise ReportRefused([field_label(obj, n, language) for n in hidden])
    params = overrides.params(session, report)
    refuse_hidden(session, obj, report, params)
    shown = replace(report, fields=tuple(fields), measures=_measures(obj, report, fields, language))
    shares: dict[str, dict[str, str]] = {COMPLETE: _filled(fields)}
    shares.update({f"filled_{n}": _filled([n]) for n in fields})
    query = listparams.parse(params).apply(session.query(obj.name))
    keys = [g.key for g in report.group_by]
    groups = query.grouped(*keys, shares=shares) if keys else []
    total = total_of(groups) if keys else query.grouped(shares=shares)[0]
    formatter = ValueFormatter(session.config.settings, language)
    if report.per_team:
        rows = [
            Row(k, _figures(shown, g, level, formatter, language))
            for k, g, level in _teams(session, groups, params, language)
        ]
    else:
        rows = _rows(session, obj, shown, groups, params, formatter, language)
    notes: tuple[str, ...] = ()
    if hidden:
        labels = ", ".join(field_label(obj, n, language) for n in hidden)
        notes = (message("report.fields_left_out", language, fields=labels),)
    return ReportResult(
        report=shown,
        title=report.label.get(language),
        description=report.description.get(language) if report.description else "",
        levels=(Column("team", message("report.team", language)),)
        if report.per_team
        else tuple(Column(g.key, field_label(obj, g.field, language)) for g in report.group_by),
        measures=tuple(Column(m.key, m.label.get(language) if m.label else m.key, m.kind) for m in shown.measures),
        rows=tuple(rows),
        total=Row((), _figures(shown, total, params, formatter, language)),
        params=params,
        left_out=tuple(f"filled_{n}" for n in hidden),
        notes=notes,
        language=language,
    )


def _rows(
    session: Session,
    obj: ObjectDef,
    report: Report,
    groups: list[Group],
    params: dict[str, str],
    formatter: ValueFormatter,
    language: str,
) -> list[Row]:
    """One row per group of the report's levels, labelled and in the levels' order."""
    keys = [g.key for g in report.group_by]
    labellers = [Labeller(session, obj, g, language) for g in report.group_by]
    for key, labeller in zip(keys, labellers, strict=True):
        labeller.read(g.values[key] for g in groups)
    rows = []
    for group in groups:
        raws = [group.values[k] for k in keys]
        level = drill.merged(params, *(drill.level_filter(g, r) for g, r in zip(report.group_by, raws, strict=True)))
        keyed = tuple(Key(r, lab.label(r)) for r, lab in zip(raws, labellers, strict=True))
        rows.append(Row(keyed, _figures(report, group, level, formatter, language)))
    rows.sort(key=lambda row: tuple(lab.order(k.raw) for lab, k in zip(labellers, row.keys, strict=True)))
    return rows


def _teams(
    session: Session, groups: list[Group], params: dict[str, str], language: str
) -> list[tuple[tuple[Key, ...], Group, dict[str, str]]]:
    """The owners' groups added up per team of the owner (teams by name, owners without a team
    last): each team's key, its group and the list filter of its records (its owners)."""
    found = teams.owners(session, (g.values["owner_id"] for g in groups if g.values["owner_id"] is not None))
    team_of = {user_id: (owner.team_id, owner.team_label) for user_id, owner in found.items()}
    members: dict[int | None, list[Group]] = {}
    names: dict[int | None, str] = {}
    out: list[tuple[tuple[Key, ...], Group, dict[str, str]]] = []
    for group in groups:
        if group.values["owner_id"] is None:  # records without an owner: a row of their own
            where = drill.merged(params, {"owner_id__isnull": "true"})
            out.append(((Key(None, message("report.empty", language)),), group, where))
            continue
        team_id, name = team_of.get(group.values["owner_id"], (None, None))
        members.setdefault(team_id, []).append(group)
        names[team_id] = name or message("report.no_team", language)
    teams_out: list[tuple[tuple[Key, ...], Group, dict[str, str]]] = []
    for team_id in sorted(members, key=lambda t: (t is None, names[t].casefold())):
        ids = ",".join(str(i) for i in sorted(g.values["owner_id"] for g in members[team_id]))
        where = drill.merged(params, {"owner_id__in": ids})
        teams_out.append(((Key(team_id, names[team_id]),), total_of(members[team_id]), where))
    return teams_out + out


def _filled(fields: list[str]) -> dict[str, str]:
    """The list filter of the records where every one of ``fields`` is filled."""
    return {f"{n}__isnull": "false" for n in fields}


def _label(key: str, **params: str) -> Label:
    """A figure's heading in both languages."""
    return Label({language: message(key, language, **params) for language in ("en", "zh")})


def _measures(obj: ObjectDef, report: Report, fields: list[str], language: str) -> tuple[ReportMeasure, ...]:
    """The figures shown, as measures (their keys, headings and the rates' conditions)."""
    target = _percent(report.target) if report.target is not None else ""
    measures = [ReportMeasure("rate", where=_filled(fields), label=_label("report.complete"), key=COMPLETE)]
    measures += [
        ReportMeasure(
            "rate",
            where=_filled([n]),
            label=Label(
                {lang: message("report.filled", lang, field=field_label(obj, n, lang)) for lang in ("en", "zh")}
            ),
            key=f"filled_{n}",
        )
        for n in fields
    ]
    measures += [
        ReportMeasure("count", label=_label("report.records"), key=COUNT),
        ReportMeasure("incomplete", label=_label("report.incomplete"), key=INCOMPLETE),
    ]
    if report.target is not None:
        measures.append(ReportMeasure("target", label=_label("report.target", target=target), key=TARGET))
    return tuple(measures)


def _percent(share: Decimal) -> str:
    """A share 0..1 as a percentage without needless places (``85%``, ``87.5%``)."""
    return f"{(share * 100).normalize():f}%"


def _figures(
    report: Report, group: Group, level: dict[str, str], fmt: ValueFormatter, language: str
) -> tuple[Figure, ...]:
    """The figures of one group (or the total), each with the list filter of its records."""
    count = group.count
    complete = group.shares.get(COMPLETE, 0)

    def rate(hits: int) -> Decimal | None:
        return (Decimal(hits) / count).quantize(Decimal("0.0001")) if count else None

    def percent(value: Decimal | None) -> str:
        return "" if value is None else fmt.number(value * 100, 1) + "%"

    out: list[Figure] = []
    for m in report.measures:
        if m.kind == "rate":
            value = rate(group.shares.get(m.key, 0))
            out.append(Figure(m.key, value, percent(value), drill.merged(level, m.where)))
        elif m.key == COUNT:
            out.append(Figure(COUNT, count, fmt.number(count), level))
        elif m.key == INCOMPLETE:
            where = {**level, "any_empty": ",".join(report.fields)}
            out.append(Figure(INCOMPLETE, count - complete, fmt.number(count - complete), where))
        elif m.key == TARGET and report.target is not None:
            share = rate(complete)
            met = None if share is None else share >= report.target
            text = "" if met is None else message("report.target_met" if met else "report.target_missed", language)
            out.append(Figure(TARGET, met, text, level))
    return tuple(out)
