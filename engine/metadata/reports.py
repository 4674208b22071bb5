"""Compiling ``reports:`` (issue 15) into ``Report`` values.

A report counts the records of one object that match its ``filter`` (the list's filter
language, with relative date ranges: ``engine.metadata.filters``), grouped by up to two
levels (``group_by``: a field, or a date field by ``day``/``week``/``month``/``quarter``/
``year``), with ``measures`` (``MEASURES``: count, sum, avg, min, max, rate, weighted),
sorted and cut to ``limit``. Its ``kind`` (``REPORT_KINDS``, default ``grouped``) is the
report kind that computes it at run time (``engine.runtime.reports``); a new kind (a funnel
from the stage history, a forecast) is one more entry there and here.

Checks, each with its code: T-E170 an unknown object, T-E171 an unknown field, T-E172 a
field that cannot be grouped or more than two levels, T-E173 a date bucket on a field that
holds no dates, T-E174 a measure that does not fit its field, T-E175 a filter that cannot be
read, T-E176 a sort by neither a group nor a measure, T-E177 an unknown role, T-E178 an
unknown report kind, T-E179 a ``funnel`` or ``cycle_time`` on an object without a
pipeline, with keys its kind does not take (their figures are fixed: ``FUNNEL_MEASURES``,
``CYCLE_MEASURES``; a cycle time groups by one level) or a ``from_stage`` that is no stage,
T-E183 a ``completeness`` report without ``fields`` or with a ``target`` that is not a share;
``forecast`` and ``conversion`` (``report_sales``) check their own keys (T-E184…T-E187), and
their keys on another kind are refused here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata import report_sales
from engine.metadata.errors import SectionChecker, Text, Words, did_you_mean
from engine.metadata.fieldtypes import FieldValueError, coerce_value, filter_field
from engine.metadata.filters import OPERATORS, PERIOD_TYPES, PERIODS, SYSTEM_TYPES, split_key
from engine.metadata.kinds import Kinds
from engine.metadata.model import (
    Conversion,
    FieldDef,
    Label,
    ObjectDef,
    Report,
    ReportGroup,
    ReportMeasure,
    frozen_map,
)

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: Date buckets a date or datetime field is grouped by (in the company time zone).
BUCKETS = ("day", "week", "month", "quarter", "year")
#: How a report may be drawn (the renderer reads ``Report.chart``).
CHARTS = ("bar", "stacked_bar", "line", "funnel", "donut", "kpi", "table")
#: Most levels of ``group_by``.
MAX_LEVELS = 2
#: Largest ``limit``.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class MeasureKind:
    """A measure kind: whether it names a field, which fields it ``fits``, and ``wants``
    (the fields it fits, said for an error message)."""

    name: str
    needs_field: bool
    fits: Callable[[FieldDef], bool]
    wants: Words


#: What the measure kinds apply to, said in an error message.
_NUMBERS = Words("number fields", "数字字段")
_NUMBERS_AND_DATES = Words("number and date fields", "数字和日期字段")


def _aggregate(kind: str) -> MeasureKind:
    wants = _NUMBERS if kind in ("sum", "avg") else _NUMBERS_AND_DATES
    return MeasureKind(kind, True, lambda f: kind in f.value_kind.aggregates, wants)


#: The measure kinds, by name.
MEASURES: Kinds[MeasureKind] = Kinds("measure")
MEASURES.register(MeasureKind("count", False, lambda f: True, Words("any field", "任意字段")))
for _kind in ("sum", "avg", "min", "max"):
    MEASURES.register(_aggregate(_kind))
MEASURES.register(MeasureKind("rate", True, lambda f: f.value_type == "boolean", Words("boolean fields", "布尔字段")))
MEASURES.register(MeasureKind("weighted", True, lambda f: "sum" in f.value_kind.aggregates, _NUMBERS))


@dataclass(frozen=True)
class ReportKind:
    """A report kind: how its config is checked beyond what every report has."""

    name: str
    #: ``(compiler, path, spec, object)`` → more issues of this kind (none for ``grouped``).
    check: Callable[[Compiler, tuple, Mapping[str, Any], ObjectDef], None]
    #: The figures the kind computes itself (empty: the report's ``measures``).
    measures: tuple[ReportMeasure, ...] = ()
    #: Most levels of ``group_by`` it takes.
    levels: int = MAX_LEVELS
    #: ``(compiler, path, spec, object, objects, conversions)`` → the ``Report`` fields only this
    #: kind has (its checks included); None: none.
    extend: Callable[..., dict[str, Any]] | None = None
    #: The measure keys its chart draws (empty: every measure in the unit of the first); a
    #: forecast's six sums in one chart would hide each other.
    charted: tuple[str, ...] = ()


#: The report kinds, by name (``kind:``, default ``grouped``).
REPORT_KINDS: Kinds[ReportKind] = Kinds("report")

#: A funnel's figures per stage: records that entered it, the share of the previous stage's
#: entries, the median days spent in it, how many were lost from it and their lost reasons.
FUNNEL_MEASURES = (
    ReportMeasure("count", key="entered"),
    ReportMeasure("rate", key="conversion"),
    ReportMeasure("median_days", key="median_days"),
    ReportMeasure("count", key="lost"),
    ReportMeasure("lost_reasons", key="lost_reasons"),
)


#: A cycle time's figures per group: records closed in the period, median and average days.
CYCLE_MEASURES = (
    ReportMeasure("count", key="closed"),
    ReportMeasure("median_days", key="median_days"),
    ReportMeasure("avg_days", key="avg_days"),
)


def _check_funnel(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef) -> None:
    """T-E179: a funnel reads the stage history of an object with a pipeline and computes its
    own figures per stage."""
    _needs_pipeline(
        compiler,
        path,
        obj,
        Words("a funnel counts moves between pipeline stages", "漏斗报表统计记录在销售管道各阶段之间的推进"),
    )
    for key in ("group_by", "measures", "from_stage"):
        if spec.get(key):
            compiler.issue(
                "T-E179",
                (*path, key),
                Words(
                    f"a funnel computes its own figures per stage (entered, conversion, median days, lost); it takes no `{key}`",
                    f"漏斗报表按阶段自行计算数据（进入数、转化率、停留天数中位数、流失数），不接受 `{key}`",
                ),
                Words(f"remove `{key}`; narrow the records with `filter`", f"删除 `{key}`；用 `filter` 筛选记录"),
            )


def _check_cycle_time(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef) -> None:
    """T-E179: a cycle time measures days to a closed stage of an object with a pipeline, from
    creation or from ``from_stage``, grouped by at most one level."""
    _needs_pipeline(
        compiler,
        path,
        obj,
        Words(
            "a cycle time measures the days until a won or lost stage", "周期时长报表计算到达赢单或输单阶段所用的天数"
        ),
    )
    if spec.get("measures"):
        compiler.issue(
            "T-E179",
            (*path, "measures"),
            Words(
                "a cycle time computes its own figures (closed, median days, average days); it takes no `measures`",
                "周期时长报表自行计算数据（关闭数、天数中位数、平均天数），不接受 `measures`",
            ),
            Words("remove `measures`", "删除 `measures`"),
        )
    group_by = spec.get("group_by") or []
    if not isinstance(group_by, str) and len(group_by) > 1:
        compiler.issue(
            "T-E179",
            (*path, "group_by"),
            Words("a cycle time groups by one level", "周期时长报表只能按一级分组"),
            Words("keep one field, e.g. `[owner_id]`", "只保留一个字段，例如 `[owner_id]`"),
        )
    start = spec.get("from_stage")
    if start is not None and obj.pipeline is not None:
        stages = [s.key for s in obj.pipeline.all_stages() if not s.is_closed]
        if start not in stages:
            compiler.issue(
                "T-E179",
                (*path, "from_stage"),
                Words(
                    f"`{start}` is not an open stage of {obj.name}'s pipeline",
                    f"`{start}` 不是 {obj.name} 销售管道中未关闭的阶段",
                ),
                did_you_mean(start, stages) or _one_of(stages),
            )


def _needs_pipeline(compiler: Compiler, path: tuple, obj: ObjectDef, what: Words) -> None:
    if obj.pipeline is None:
        compiler.issue(
            "T-E179",
            (*path, "kind"),
            what + Words(f"; {obj.name} has no pipeline", f"；{obj.name} 没有销售管道"),
            Words(
                "name an object that declares `pipeline:`, or use `kind: grouped`",
                "请指定声明了 `pipeline:` 的对象，或改用 `kind: grouped`",
            ),
        )


def _check_grouped(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef) -> None:
    """T-E179: ``from_stage`` belongs to a cycle time."""
    if spec.get("from_stage"):
        compiler.issue(
            "T-E179",
            (*path, "from_stage"),
            Words("`from_stage` is a key of `kind: cycle_time`", "`from_stage` 是 `kind: cycle_time` 的键"),
            Words("remove `from_stage`", "删除 `from_stage`"),
        )


def _check_completeness(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef) -> None:
    """T-E183: a ``completeness`` report names the fields that make a record complete (S41) and
    computes its own figures."""
    if not spec.get("fields"):
        compiler.issue(
            "T-E183",
            (*path, "fields"),
            Words(
                "a completeness report names the fields that make a record complete",
                "完整度报表需列出构成一条完整记录的字段",
            ),
            Words("e.g. `fields: [industry, phone]`", "例如 `fields: [industry, phone]`"),
        )
    for key in (k for k in ("measures", "sort", "limit") if k in spec):
        compiler.issue(
            "T-E183",
            (*path, key),
            Words(
                f"a completeness report computes its own figures: `{key}` does not apply",
                f"完整度报表自行计算数据：`{key}` 不适用",
            ),
            Words(f"remove `{key}`", f"删除 `{key}`"),
        )


REPORT_KINDS.register(ReportKind("grouped", _check_grouped))
REPORT_KINDS.register(ReportKind("funnel", _check_funnel, FUNNEL_MEASURES, levels=0))
REPORT_KINDS.register(ReportKind("cycle_time", _check_cycle_time, CYCLE_MEASURES, levels=1))
REPORT_KINDS.register(ReportKind("completeness", _check_completeness))


def _no_check(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef) -> None:
    """Kinds whose checks are all in ``extend``."""


def _forecast(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef, objects: Any, _: Any) -> dict:
    return report_sales.check_forecast(compiler, path, spec, obj, objects)


REPORT_KINDS.register(ReportKind("forecast", _no_check, levels=1, extend=_forecast, charted=("commit", "won", "quota")))
REPORT_KINDS.register(ReportKind("conversion", _no_check, levels=1, extend=report_sales.check_conversion))


def report_field(obj: ObjectDef, name: str) -> FieldDef | None:
    """The field ``name`` of ``obj``, a system column (``created_at``, ``owner_id``) as a field
    of its type; None when there is neither."""
    if name in obj.fields:
        return obj.fields[name]
    if name in SYSTEM_TYPES:
        return FieldDef(name=name, type=SYSTEM_TYPES[name], label=Label.of(None, name))
    return None


def compile_reports(
    compiler: Compiler,
    specs: Mapping[str, Any],
    objects: Mapping[str, ObjectDef],
    roles: set[str],
    conversions: Mapping[str, Conversion] | None = None,
) -> dict[str, Report]:
    """Every entry of ``reports:`` that checks, by name, in declaration order."""
    out: dict[str, Report] = {}
    for name, spec in specs.items():
        checker = _Checker(compiler, ("reports", name), objects, conversions or {})
        report = checker.report(name, spec, roles)
        if report is not None:
            out[name] = report
    return out


class _Checker(SectionChecker):
    """Checks one report, reporting every issue at once."""

    c: Compiler

    def __init__(
        self, compiler: Compiler, path: tuple, objects: Mapping[str, ObjectDef], conversions: Mapping[str, Conversion]
    ) -> None:
        super().__init__(compiler, path)
        self.objects, self.conversions = objects, conversions

    def report(self, name: str, spec: Mapping[str, Any], roles: set[str]) -> Report | None:
        obj = self.objects.get(spec["object"])
        if obj is None:
            self.issue(
                "T-E170",
                ("object",),
                Words(f"unknown object `{spec['object']}`", f"未知对象 `{spec['object']}`"),
                did_you_mean(spec["object"], self.objects)
                or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
            )
            return None
        kind = spec.get("kind", "grouped")
        if kind not in REPORT_KINDS:
            self.issue(
                "T-E178",
                ("kind",),
                Words(f"unknown report kind `{kind}`", f"未知的报表类型 `{kind}`"),
                did_you_mean(kind, REPORT_KINDS.names()) or _one_of(REPORT_KINDS.names()),
            )
        if kind != "completeness" and ("fields" in spec or "target" in spec):
            self.issue(
                "T-E183",
                ("fields" if "fields" in spec else "target",),
                Words(
                    f"`fields` and `target` belong to a completeness report, not a {kind} one",
                    f"`fields` 和 `target` 属于完整度报表，不属于 {kind} 报表",
                ),
                Words("add `kind: completeness`, or remove them", "加上 `kind: completeness`，或删除它们"),
            )
        for key in report_sales.foreign_keys(kind, spec):
            code = "T-E187" if key == "conversion" else "T-E184"
            owner = (
                Words("a conversion report", "转换报表")
                if key == "conversion"
                else Words("a forecast or a conversion report", "预测报表或转换报表")
            )
            if key in ("close_date", "quota"):
                owner = Words("a forecast", "预测报表")
            self.issue(
                code,
                (key,),
                Words(
                    f"`{key}` belongs to {owner.en}, not a {kind} one", f"`{key}` 属于{owner.zh}，不属于 {kind} 报表"
                ),
                Words(f"set `kind:`, or remove `{key}`", f"设置 `kind:`，或删除 `{key}`"),
            )
        fixed = REPORT_KINDS[kind].measures if kind in REPORT_KINDS else ()
        levels = REPORT_KINDS[kind].levels if kind in REPORT_KINDS else MAX_LEVELS
        owned = kind in ("completeness", "forecast", "conversion")
        specs = spec.get("group_by") or (["owner_id"] if owned else [])
        specs = [specs] if isinstance(specs, str) else specs
        per_team = kind == "completeness" and specs == ["team"] and "team" not in obj.fields
        specs = ["owner_id"] if per_team else ["owner_id" if g == "owner" else g for g in specs]
        groups = self.groups(obj, specs if levels == MAX_LEVELS else specs[:levels]) if levels else ()
        fields = tuple(n for index, n in enumerate(spec.get("fields") or []) if self.field(obj, n, ("fields", index)))
        measures = fixed or self.measures(obj, spec.get("measures") or ["count"])
        filters = self.filters(obj, spec.get("filter") or {}, ("filter",))
        for index, role in enumerate(spec.get("roles") or []):
            if role not in roles:
                self.issue(
                    "T-E177",
                    ("roles", index),
                    Words(f"unknown role `{role}`", f"未知角色 `{role}`"),
                    did_you_mean(role, roles)
                    or Words("name a role declared under `roles`", "请指定在 `roles` 下声明的角色"),
                )
        report = Report(
            name=name,
            object=obj.name,
            label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
            description=Label.of(spec["description"]) if spec.get("description") else None,
            kind=kind,
            group_by=groups,
            measures=measures,
            filter=frozen_map(filters),
            sort=self.sort(spec.get("sort"), groups, measures),
            limit=spec.get("limit"),
            chart=spec.get("chart", "table"),
            roles=tuple(spec.get("roles") or ()),
            period_field=self.period_field(obj, spec, groups, filters),
            fields=fields,
            target=self.target(spec.get("target")),
            per_team=per_team,
            from_stage=spec.get("from_stage"),
            higher_is_better=spec.get("better", "higher") == "higher",
        )
        if kind in REPORT_KINDS:
            issues = len(self.c.issues)
            REPORT_KINDS[kind].check(self.c, self.path, spec, obj)
            extend = REPORT_KINDS[kind].extend
            if extend is not None:
                report = replace(report, **extend(self.c, self.path, spec, obj, self.objects, self.conversions))
            self.ok = self.ok and len(self.c.issues) == issues
        return report if self.ok else None

    # --- group_by --------------------------------------------------------------------------------
    def groups(self, obj: ObjectDef, specs: list) -> tuple[ReportGroup, ...]:
        if len(specs) > MAX_LEVELS:
            self.issue(
                "T-E172",
                ("group_by",),
                Words(
                    f"a report groups by at most {MAX_LEVELS} levels, not {len(specs)}",
                    f"报表最多按 {MAX_LEVELS} 级分组，不能按 {len(specs)} 级",
                ),
                Words(
                    "keep two levels (rows and columns of a matrix); filter for the rest",
                    "保留两级（矩阵的行与列），其余用筛选条件",
                ),
            )
        out = []
        for index, spec in enumerate(specs[:MAX_LEVELS]):
            group = ReportGroup(spec) if isinstance(spec, str) else ReportGroup(spec["field"], spec.get("by"))
            where = ("group_by", index)
            f = self.field(obj, group.field, where if isinstance(spec, str) else (*where, "field"))
            if f is None:
                continue
            if not f.value_kind.orderable or f.encrypted:
                what = (
                    Words("is stored encrypted", "加密存储")
                    if f.encrypted
                    else Words(
                        f"is a {f.type} field (it holds lists or documents)", f"是 {f.type} 字段（保存列表或文档）"
                    )
                )
                self.issue(
                    "T-E172",
                    where,
                    Words(
                        f"`{f.name}` {what.en}: a report cannot group by it", f"`{f.name}` {what.zh}，报表不能按它分组"
                    ),
                    None,
                )
                continue
            if group.bucket is not None and f.value_type not in PERIOD_TYPES:
                self.issue(
                    "T-E173",
                    (*where, "by"),
                    Words(
                        f"`{f.name}` is a {f.value_type} field: only date and datetime fields are grouped by `{group.bucket}`",
                        f"`{f.name}` 是 {f.value_type} 字段：只有日期和日期时间字段才能按 `{group.bucket}` 分组",
                    ),
                    Words(
                        f"remove `by`, or group by a date field ({', '.join(_dates(obj)) or 'created_at'})",
                        f"删除 `by`，或按日期字段分组（{', '.join(_dates(obj)) or 'created_at'}）",
                    ),
                )
                continue
            out.append(group)
        return tuple(out)

    # --- measures --------------------------------------------------------------------------------
    def measures(self, obj: ObjectDef, specs: list) -> tuple[ReportMeasure, ...]:
        out: list[ReportMeasure] = []
        for index, spec in enumerate(specs):
            measure = self.measure(obj, spec, ("measures", index))
            if measure is not None:
                taken = {m.key for m in out}
                key, number = measure.key, 2
                while key in taken:
                    key, number = f"{measure.key}_{number}", number + 1
                out.append(replace(measure, key=key))
        return tuple(out)

    def measure(self, obj: ObjectDef, spec: Any, where: tuple) -> ReportMeasure | None:
        if isinstance(spec, str):
            spec = {spec: None}
        kinds = [k for k in spec if k != "label"]
        if len(kinds) != 1 or kinds[0] not in MEASURES:
            self.issue(
                "T-E174",
                where,
                Words(
                    f"a measure names one kind, not {', '.join(kinds) or 'none'}",
                    f"一个度量只指定一种类型，而此处是 {', '.join(kinds)}"
                    if kinds
                    else "一个度量需指定一种类型，此处一种也没有",
                ),
                Words(
                    f"use one of: {', '.join(MEASURES.names())} (e.g. `{{sum: amount}}`)",
                    f"请使用其中之一：{', '.join(MEASURES.names())}（例如 `{{sum: amount}}`）",
                ),
            )
            return None
        kind = MEASURES[kinds[0]]
        label = Label.of(spec["label"]) if spec.get("label") else None
        value = spec[kind.name]
        if not kind.needs_field:
            return ReportMeasure(kind.name, label=label, key=kind.name)
        if kind.name == "rate" and isinstance(value, Mapping):
            where_filters = self.filters(obj, value, (*where, "rate"))
            first = split_key(next(iter(value), "rate"))[0]
            return ReportMeasure("rate", where=frozen_map(where_filters), label=label, key=f"rate_{first}")
        if not isinstance(value, str):
            self.issue(
                "T-E174",
                (*where, kind.name),
                Words(f"`{kind.name}` names a field", f"`{kind.name}` 需指定一个字段"),
                Words(f"e.g. `{{{kind.name}: amount}}`", f"例如 `{{{kind.name}: amount}}`"),
            )
            return None
        f = self.field(obj, value, (*where, kind.name))
        if f is None:
            return None
        if not kind.fits(f) or f.encrypted:
            fitting = [n for n, d in obj.fields.items() if kind.fits(d) and not d.encrypted]
            self.issue(
                "T-E174",
                (*where, kind.name),
                Words(
                    f"`{kind.name}` applies to {kind.wants.en}; `{f.name}` is a {f.value_type} field",
                    f"`{kind.name}` 适用于{kind.wants.zh}；`{f.name}` 是 {f.value_type} 字段",
                ),
                did_you_mean(f.name, fitting)
                or (Words(f"e.g. `{fitting[0]}`", f"例如 `{fitting[0]}`") if fitting else None),
            )
            return None
        if kind.name == "weighted" and not _probabilities(obj):
            self.issue(
                "T-E174",
                (*where, kind.name),
                Words(
                    f"`weighted` multiplies by the stage probability; {obj.name} has no pipeline stage with a probability",
                    f"`weighted` 按阶段的赢单概率加权；{obj.name} 的销售管道没有设置了概率的阶段",
                ),
                Words(
                    "add `probability:` (0–100) to the stages of the object's pipeline",
                    "为该对象销售管道的阶段加上 `probability:`（0–100）",
                ),
            )
            return None
        return ReportMeasure(kind.name, field=f.name, label=label, key=f"{kind.name}_{f.name}")

    # --- filter, sort, period -----------------------------------------------------------------------
    def filters(self, obj: ObjectDef, spec: Mapping[str, Any], where: tuple) -> dict[str, str]:
        out = {}
        for key, value in spec.items():
            name, op = split_key(key)
            f = self.field(obj, name, (*where, key))
            if f is None:
                continue
            if op not in OPERATORS:
                self.issue(
                    "T-E175",
                    (*where, key),
                    Words(f"unknown operator `{op}` in `{key}`", f"`{key}` 中的运算符 `{op}` 未知"),
                    did_you_mean(op, OPERATORS) or _one_of(OPERATORS),
                )
                continue
            text = _text(value)
            problem = self.value_problem(f, op, text)
            if problem is not None:
                self.issue("T-E175", (*where, key), value_message(key, text, problem[0]), problem[1])
                continue
            out[key] = text
        return out

    def value_problem(self, f: FieldDef, op: str, text: str) -> tuple[Words, Text] | None:
        """Why ``text`` cannot be compared with ``f`` by ``op`` (message, hint), or None."""
        if op == "isnull":
            if text in ("true", "false"):
                return None
            return (
                Words("isnull takes true or false", "isnull 只接受 true 或 false"),
                Words("e.g. `close_date__isnull: true`", "例如 `close_date__isnull: true`"),
            )
        if text in PERIODS:
            if f.value_type in PERIOD_TYPES and op == "eq":
                return None
            return (
                Words(
                    f"a relative range compares a date or datetime field with `eq`; `{f.name}` is a {f.value_type} field",
                    f"相对时间范围只能用 `eq` 比较日期或日期时间字段；`{f.name}` 是 {f.value_type} 字段",
                ),
                Words(f"e.g. `created_at: {text}`", f"例如 `created_at: {text}`"),
            )
        if op in ("contains", "startswith"):
            return None
        items = text.split(",") if op in ("in", "not_in") else [text]
        for item in items:
            try:
                coerce_value(filter_field(f), item, self.c.settings)
            except FieldValueError as exc:
                periods = ", ".join(PERIODS)
                hint = (
                    Words(f"relative ranges: {periods}", f"相对时间范围：{periods}")
                    if f.value_type in PERIOD_TYPES
                    else _values_hint(f)
                )
                return exc.words(), hint
        return None

    def sort(self, spec: str | None, groups: tuple[ReportGroup, ...], measures: tuple) -> tuple[str, bool] | None:
        if not spec:
            return None
        key = spec.lstrip("-+")
        known = [g.key for g in groups] + [m.key for m in measures]
        if key not in known:
            self.issue(
                "T-E176",
                ("sort",),
                Words(
                    f"`{key}` is neither a group nor a measure of the report",
                    f"`{key}` 既不是该报表的分组，也不是它的度量",
                ),
                did_you_mean(key, known)
                or Words(f"sort by one of: {', '.join(known)}", f"请按其中之一排序：{', '.join(known)}"),
            )
            return None
        return key, spec.startswith("-")

    def period_field(self, obj: ObjectDef, spec: Mapping, groups: tuple[ReportGroup, ...], filters: dict) -> str:
        declared = spec.get("period_field")
        if declared:
            f = self.field(obj, declared, ("period_field",))
            if f is not None and f.value_type not in PERIOD_TYPES:
                self.issue(
                    "T-E173",
                    ("period_field",),
                    Words(
                        f"`{f.name}` is a {f.value_type} field: a period narrows a date or datetime field",
                        f"`{f.name}` 是 {f.value_type} 字段：时间段只能筛选日期或日期时间字段",
                    ),
                    Words(
                        f"name a date field ({', '.join(_dates(obj)) or 'created_at'})",
                        f"请指定日期字段（{', '.join(_dates(obj)) or 'created_at'}）",
                    ),
                )
            return str(declared)
        dated = [g.field for g in groups if g.bucket] + [split_key(k)[0] for k, v in filters.items() if v in PERIODS]
        return dated[0] if dated else "created_at"

    def target(self, spec: Any) -> Decimal | None:
        """The ``target`` share (``85%`` or 85) as a fraction 0..1; None without one."""
        if spec is None:
            return None
        text = str(spec).strip().removesuffix("%").strip()
        try:
            share = Decimal(text)
        except ArithmeticError:
            share = Decimal(-1)
        if not share.is_finite() or not 0 <= share <= 100 or isinstance(spec, bool):
            self.issue(
                "T-E183",
                ("target",),
                Words(f"`target: {spec}` is not a share of records", f"`target: {spec}` 不是记录的占比"),
                Words("e.g. `target: 85%`", "例如 `target: 85%`"),
            )
            return None
        return share / 100

    def field(self, obj: ObjectDef, name: str, where: tuple) -> FieldDef | None:
        f = report_field(obj, name)
        if f is None:
            self.issue(
                "T-E171",
                where,
                Words(f"{obj.name} has no field `{name}`", f"{obj.name} 没有字段 `{name}`"),
                did_you_mean(name, [*obj.fields, *SYSTEM_TYPES])
                or Words(f"name a field of {obj.name}", f"请指定 {obj.name} 的字段"),
            )
        return f


def value_message(key: str, text: str, problem: Words) -> Words:
    """``\\`key: text\\`: problem``, the message of a filter value its field cannot take."""
    return Words(f"`{key}: {text}`: ", f"`{key}: {text}`：") + problem


def _one_of(names: Iterable[str]) -> Words:
    """The hint listing what may be written instead."""
    listed = ", ".join(names)
    return Words(f"use one of: {listed}", f"请使用其中之一：{listed}")


def _text(value: Any) -> str:
    """A filter value as the list's query string writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return "" if value is None else str(value)


def _dates(obj: ObjectDef) -> list[str]:
    return [n for n, f in obj.fields.items() if f.value_type in PERIOD_TYPES]


def _values_hint(f: FieldDef) -> Words:
    if f.picklist is not None:
        return _one_of(v.key for v in f.picklist.walk()[:8])
    return Words(f"give a value a {f.value_type} field holds", f"请给出 {f.value_type} 字段能保存的值")


def _probabilities(obj: ObjectDef) -> bool:
    """Whether the object's pipeline declares a probability on some stage."""
    return obj.pipeline is not None and any(s.probability is not None for s in obj.pipeline.all_stages())
