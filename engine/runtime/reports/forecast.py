"""The ``forecast`` report kind (S22): the viewer's deals whose expected close date lies in the
period, summed by their stages' forecast categories (``Stage.forecast_category``).

Figures per row: ``pipeline`` (the amount of open deals, stages ``commit``, ``best_case`` and
``pipeline``; ``omitted`` ones not), ``weighted`` (those amounts times their stage
probability), ``best_case`` (``best_case`` and ``commit``), ``commit``, ``won`` (deals in a won
stage: closed-won in the period), with a quota ``quota`` and ``attainment`` (won / quota),
and ``open_count`` (the open deals). One GROUP BY through ``Query.grouped`` (the row's level
and the stage): the viewer's scope, the report's filter and the period apply, so a rep's
forecast is theirs, a manager's their subtree, an executive's the company.

Rows: per owner within their team (the default level), each team closed by a subtotal row,
owners without a team last; or per the one other level the report groups by. The total is
the company's — every deal the viewer may read. Every sum links to the list of its deals
(the report's filter, the row's owner, team members or level value, and ``stage__in`` the
stages of its categories); a quota is no record and no link. A report whose amount, stage or
close date is hidden from the viewer is refused.

Quotas: given ``per`` month, quarter or year for users and teams (a team without its own is
the sum of its members'), multiplied by how many of those the period holds (``this_quarter``
holds 3 months; a period that is not whole months leaves quotas out, with a note); or summed
from the records of a quota object whose date falls in the period, read as the viewer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.filters import PERIODS
from engine.metadata.model import ObjectDef, Pipeline, Report, ReportGroup
from engine.metadata.report_sales import FIGURE_CATEGORIES, QUOTA_MONTHS
from engine.runtime import periods
from engine.runtime.messages import message
from engine.runtime.records import listparams
from engine.runtime.records.present import ValueFormatter
from engine.runtime.reports import drill, teams
from engine.runtime.reports.grouped import refuse_hidden
from engine.runtime.reports.labels import Labeller, field_label
from engine.runtime.reports.result import Column, Figure, Key, ReportRefused, ReportResult, Row

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.reports.kinds import Overrides

#: The figures that are sums of the amount over stages of some categories.
SUMS = ("pipeline", "best_case", "commit", "won")
#: The categories of open deals that count in the pipeline (and its weighted sum and count).
OPEN = FIGURE_CATEGORIES["pipeline"]


@dataclass
class _Sums:
    """One row's figures before formatting."""

    amounts: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys((*SUMS, "weighted"), Decimal(0)))
    open_count: int = 0
    quota: Decimal | None = None

    def add(self, other: _Sums) -> None:
        for key, value in other.amounts.items():
            self.amounts[key] += value
        self.open_count += other.open_count
        if other.quota is not None:
            self.quota = (self.quota or Decimal(0)) + other.quota


def run_forecast(session: Session, report: Report, overrides: Overrides, language: str) -> ReportResult:
    """Run a ``forecast`` report as the session's principal (see the module)."""
    obj = session.object(report.object)
    pipeline = obj.pipeline
    assert pipeline is not None and report.amount is not None  # T-E184
    params = overrides.params(session, report)
    refuse_hidden(session, obj, report, params)
    core = (pipeline.field, report.amount, report.period_field)
    hidden = [n for n in core if n in obj.fields and not session.principal.can_see(obj.name, n)]
    if hidden:
        raise ReportRefused([field_label(obj, n, language) for n in hidden])
    stages = _stages(pipeline)
    query = listparams.parse(params).apply(session.query(obj.name))
    level = report.group_by[0]
    grouped = query.grouped(level.key, pipeline.field, sums=[report.amount], weighted=[report.amount])
    by_value: dict[Any, _Sums] = {}
    for group in grouped:
        sums = by_value.setdefault(group.values[level.key], _Sums())
        category = stages["category"].get(group.values[pipeline.field])
        amount = group.sums.get(report.amount) or Decimal(0)
        for figure in SUMS:
            if category in FIGURE_CATEGORIES[figure]:
                sums.amounts[figure] += Decimal(amount)
        if category in OPEN:
            sums.amounts["weighted"] += Decimal(group.weighted.get(report.amount) or 0)
            sums.open_count += group.count
    notes: list[str] = []
    quotas = _Quotas(session, report, params, notes, language) if report.quota is not None else None
    figures = _Figures(session, obj, report, stages, language)
    if level.field == "owner_id":
        rows = _owner_rows(session, by_value, params, figures, quotas, language)
    else:
        rows = _level_rows(session, obj, level, by_value, params, figures, language)
    total = _Sums()
    for sums in by_value.values():
        total.add(sums)
    if quotas is not None:
        total.quota = quotas.total(rows)
    return ReportResult(
        report=report,
        title=report.label.get(language),
        description=report.description.get(language) if report.description else "",
        levels=(
            (
                Column("team", message("report.team", language)),
                Column("owner_id", field_label(obj, "owner_id", language)),
            )
            if level.field == "owner_id"
            else (Column(level.key, field_label(obj, level.field, language)),)
        ),
        measures=tuple(
            Column(m.key, message(f"report.forecast.{m.key}", language), m.kind) for m in figures.measures()
        ),
        rows=tuple(rows),
        total=Row((), figures.of(total, params)),
        params=params,
        notes=tuple(notes),
        language=language,
        nested=level.field == "owner_id",
    )


def _stages(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Each stage's category, and each figure's stage keys (for its drill-down)."""
    category = {s.key: s.forecast_category for s in pipeline.all_stages()}
    keys = {f: sorted(k for k, c in category.items() if c in FIGURE_CATEGORIES[f]) for f in SUMS}
    return {"category": category, "keys": keys}


class _Figures:
    """Formats a row's sums as figures with their drill-down filters."""

    def __init__(self, session: Session, obj: ObjectDef, report: Report, stages: dict, language: str) -> None:
        self.report, self.stages, self.language = report, stages, language
        self.field = obj.fields[report.amount or ""]
        self.scale = decimal_scale(self.field) if self.field.value_kind.storage == "decimal" else 0
        self.formatter = ValueFormatter(session.config.settings, language)
        self.pipeline_field = obj.pipeline.field if obj.pipeline else "stage"

    def measures(self) -> tuple:
        return self.report.measures

    def money(self, value: Decimal | None, places: int | None = None) -> str:
        if value is None:
            return ""
        return self.formatter.text(value, self.field) if places is None else self.formatter.number(value, places)

    def where(self, base: dict[str, str], figure: str) -> dict[str, str] | None:
        """The list of the deals a figure sums; None when no stage counts in it."""
        keys = self.stages["keys"][figure]
        return drill.merged(base, {f"{self.pipeline_field}__in": ",".join(keys)}) if keys else None

    def of(self, sums: _Sums, base: dict[str, str]) -> tuple[Figure, ...]:
        out: list[Figure] = []
        exact = Decimal(1).scaleb(-self.scale)
        for m in self.report.measures:
            if m.key in SUMS:
                where = self.where(base, m.key)
                value = sums.amounts[m.key].quantize(exact) if where is not None else None
                out.append(Figure(m.key, value, self.money(value), where))
            elif m.key == "weighted":
                value = sums.amounts["weighted"].quantize(Decimal("0.01") if self.scale < 2 else exact)
                where = self.where(base, "pipeline")
                places = 2 if self.field.value_kind.storage == "integer" else None
                out.append(Figure(m.key, value, self.money(value, places), where))
            elif m.key == "quota":
                value = sums.quota.quantize(exact) if sums.quota is not None else None
                out.append(Figure(m.key, value, self.money(value), None))
            elif m.key == "attainment":
                won = sums.amounts["won"]
                value = (won / sums.quota).quantize(Decimal("0.0001")) if sums.quota else None
                text = "" if value is None else self.formatter.number(value * 100, 1) + "%"
                out.append(Figure(m.key, value, text, self.where(base, "won")))
            elif m.key == "open_count":
                where = self.where(base, "pipeline")
                out.append(Figure(m.key, sums.open_count, self.formatter.number(sums.open_count), where))
        return tuple(out)


# --- rows ------------------------------------------------------------------------------------------------
def _owner_rows(
    session: Session,
    by_owner: dict[Any, _Sums],
    params: dict[str, str],
    figures: _Figures,
    quotas: _Quotas | None,
    language: str,
) -> list[Row]:
    """Owners by name within their teams (teams by name, owners without a team last), each team
    closed by its subtotal row; records without an owner last."""
    found = teams.owners(session, (o for o in by_owner if o is not None))
    labeller = Labeller(session, session.object(figures.report.object), ReportGroup("owner_id"), language)
    labeller.read(by_owner)
    members: dict[Any, list[int]] = {}
    for owner in (o for o in by_owner if o is not None):
        members.setdefault(found[owner].team_id if owner in found else None, []).append(owner)

    def team_label(team_id: Any) -> str:
        if team_id is None:
            return message("report.no_team", language)
        first = found[members[team_id][0]]
        return first.team_label or first.team or ""

    rows: list[Row] = []
    for team_id in sorted(members, key=lambda t: (t is None, team_label(t).casefold())):
        team_key = Key(team_id, team_label(team_id))
        subtotal = _Sums()
        owners = sorted(members[team_id], key=lambda o: labeller.label(o).casefold())
        for owner in owners:
            sums = by_owner[owner]
            if quotas is not None:
                sums.quota = quotas.user(owner, found.get(owner))
            subtotal.add(sums)
            where = drill.merged(params, {"owner_id": str(owner)})
            rows.append(Row((team_key, Key(owner, labeller.label(owner))), figures.of(sums, where)))
        if quotas is not None and team_id is not None:
            subtotal.quota = quotas.team(found[owners[0]].team, subtotal.quota)
        ids = ",".join(str(o) for o in sorted(owners))
        label = Key(None, message("report.forecast.subtotal", language, team=team_key.label))
        rows.append(Row((team_key, label), figures.of(subtotal, drill.merged(params, {"owner_id__in": ids})), True))
    if None in by_owner:
        empty = Key(None, message("report.empty", language))
        where = drill.merged(params, {"owner_id__isnull": "true"})
        rows.append(Row((empty, empty), figures.of(by_owner[None], where)))
    return rows


def _level_rows(
    session: Session,
    obj: ObjectDef,
    level: ReportGroup,
    by_value: dict[Any, _Sums],
    params: dict[str, str],
    figures: _Figures,
    language: str,
) -> list[Row]:
    """One row per value of a level other than the owner, in the level's order."""
    labeller = Labeller(session, obj, level, language)
    labeller.read(by_value)
    return [
        Row(
            (Key(raw, labeller.label(raw)),),
            figures.of(by_value[raw], drill.merged(params, drill.level_filter(level, raw))),
        )
        for raw in sorted(by_value, key=labeller.order)
    ]


# --- quotas ---------------------------------------------------------------------------------------------
class _Quotas:
    """The quotas of the report's period: per user and team from the config (times the periods
    the report's holds), or summed from the quota object's records in the period."""

    def __init__(self, session: Session, report: Report, params: dict[str, str], notes: list, language: str) -> None:
        quota = report.quota
        assert quota is not None
        self.quota, self.factor = quota, Decimal(0)
        self.by_user: dict[Any, Decimal] | None = {}
        self.shown, self.teams_shown = True, False
        period = params.get(report.period_field)
        if period not in PERIODS:
            notes.append(message("report.forecast.no_period", language))
            self.shown = False
            return
        start, end = periods.period_range(str(period), session.clock().today())
        if quota.object is not None:
            self.by_user = _from_records(session, report, start, end)
            self.shown = self.by_user is not None
            return
        months = _months(start, end)
        if months is None:
            per = message(f"report.forecast.per.{quota.per}", language)
            notes.append(message("report.forecast.no_quota_period", language, per=per))
            self.shown = False
            return
        self.factor = Decimal(months) / QUOTA_MONTHS[quota.per]
        #: A team's own quota is compared with a viewer who reads more than their own deals.
        self.teams_shown = session.principal.grant(report.object).read != "own"

    def user(self, owner: int, found: teams.Owner | None) -> Decimal | None:
        """The quota of the owner ``owner`` for the period (None without one)."""
        if not self.shown:
            return None
        if self.quota.object is not None:
            return (self.by_user or {}).get(owner)
        amount = self.quota.users.get(found.username) if found is not None else None
        return amount * self.factor if amount is not None else None

    def team(self, name: str | None, members: Decimal | None) -> Decimal | None:
        """A team's quota: its own, else its members' added up."""
        if not self.shown:
            return None
        own = self.quota.teams.get(name) if name is not None and self.teams_shown else None
        return own * self.factor if own is not None else members

    def total(self, rows: Iterable[Row]) -> Decimal | None:
        """The total's quota: the subtotals' and the team-less owners' quotas added up."""
        found = [r.figure("quota") for r in rows if r.subtotal]
        values = [f.value for f in found if f is not None and f.value is not None]
        return sum(values, Decimal(0)) if values and self.shown else None


def _months(start: dt.date, end: dt.date) -> int | None:
    """How many whole months ``[start, end)`` holds; None when it is not whole months."""
    if start.day != 1 or end.day != 1:
        return None
    return (end.year - start.year) * 12 + end.month - start.month


def _from_records(session: Session, report: Report, start: dt.date, end: dt.date) -> dict[Any, Decimal] | None:
    """The quota object's amounts per user whose date falls in ``[start, end)``, read as the
    viewer; None when they may not read its records or a field it reads."""
    quota = report.quota
    assert quota is not None and quota.object and quota.user and quota.amount and quota.date
    principal = session.principal
    if principal.grant(quota.object).read == "none" or not all(
        principal.can_see(quota.object, n) for n in (quota.user, quota.amount, quota.date)
    ):
        return None
    query = session.query(quota.object or "").filter(
        **{f"{quota.date}__gte": start.isoformat(), f"{quota.date}__lt": end.isoformat()}
    )
    return {
        g.values[quota.user]: Decimal(g.sums.get(quota.amount) or 0)
        for g in query.grouped(quota.user, sums=[quota.amount])
    }
