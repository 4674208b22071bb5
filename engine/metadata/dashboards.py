"""Compiling ``dashboards:`` (issue 15 §4) into ``Dashboard`` values.

A dashboard is a grid of widgets (12 columns; a widget spans ``width`` of them or ``small``,
``medium``, ``large``), the home page of the users holding one of its ``roles`` (``default:
true``: of everyone else), with ``filters`` (``period``, ``team``, ``owner``, each offered with an
optional default) that narrow every report on it. A widget is a report (``report: NAME``,
optionally drawn as another ``chart``), a KPI (``kpi: NAME``: the report's main figure against the
previous period) or a built-in (``widget: KIND``); each kind is one ``WidgetKind`` in
``WIDGET_KINDS`` (``kinds.Kinds``), whose runtime half is
``engine.runtime.dashboards.widgets.RUNNERS``.

Checks, each with its code: T-E190 a widget names an unknown report, T-E191 an unknown role,
T-E192 an unknown widget kind (or a widget naming none or two of ``report``, ``kpi``,
``widget``), T-E193 two default dashboards, T-E194 a role with two home dashboards, T-E195 a
width that is neither 1–12 nor small/medium/large, T-E196 a filter that is not ``period``,
``team`` or ``owner``, or a default it cannot take, T-E197 a widget key its kind does not take
(``chart`` on a built-in, ``object`` on a KPI…) or an ``object`` that does not fit it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import SectionChecker, Words, did_you_mean
from engine.metadata.filters import PERIODS
from engine.metadata.kinds import Kinds
from engine.metadata.model import Dashboard, DashboardFilters, DashboardWidget, Label, ObjectDef, Report

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: Columns of a dashboard's grid.
GRID = 12
#: Widths by name, in columns.
WIDTHS = {"small": 3, "medium": 6, "large": 12}
#: The filters a dashboard may offer; ``owner`` takes ``me`` or ``team`` as its default.
FILTERS = ("period", "team", "owner")
OWNER_DEFAULTS = ("me", "team")
#: Keys every widget takes, whatever its kind.
COMMON_KEYS = ("width", "title")
#: The keys that name a widget's kind: a report, a KPI, or a built-in (``widget: my_tasks``).
KIND_KEYS = ("report", "kpi", "widget")


@dataclass(frozen=True)
class WidgetKind:
    """A widget kind: whether it shows a report (``report`` or ``kpi``), the keys it takes beyond
    ``width`` and ``title`` (``options``), its default width, and whether its ``object`` must
    have a pipeline."""

    name: str
    shows_report: bool
    options: tuple[str, ...]
    width: int
    needs_pipeline: bool = False


#: The widget kinds, by name.
WIDGET_KINDS: Kinds[WidgetKind] = Kinds("widget")
WIDGET_KINDS.register(WidgetKind("report", True, ("chart",), WIDTHS["medium"]))
WIDGET_KINDS.register(WidgetKind("kpi", True, (), WIDTHS["small"]))
WIDGET_KINDS.register(WidgetKind("my_tasks", False, ("limit",), WIDTHS["medium"]))
WIDGET_KINDS.register(WidgetKind("approvals", False, ("limit",), WIDTHS["medium"]))
WIDGET_KINDS.register(WidgetKind("my_pipeline", False, ("object",), WIDTHS["medium"], needs_pipeline=True))
WIDGET_KINDS.register(WidgetKind("recent_records", False, ("object", "limit"), WIDTHS["medium"]))
WIDGET_KINDS.register(WidgetKind("notifications", False, ("limit",), WIDTHS["medium"]))


def builtin_kinds() -> tuple[str, ...]:
    """The built-in widget kinds (those written ``widget: KIND``)."""
    return tuple(k.name for k in WIDGET_KINDS if not k.shows_report)


def compile_dashboards(
    compiler: Compiler,
    specs: Mapping[str, Any],
    reports: Mapping[str, Report],
    objects: Mapping[str, ObjectDef],
    roles: set[str],
    declared_reports: set[str],
) -> dict[str, Dashboard]:
    """Every entry of ``dashboards:`` that checks, by name, in declaration order; then T-E193
    and T-E194 across them. ``declared_reports`` are the names under ``reports:`` (a report that
    failed its own checks is not unknown here)."""
    out: dict[str, Dashboard] = {}
    for name, spec in specs.items():
        checker = _Checker(compiler, ("dashboards", name), reports, objects, declared_reports)
        dashboard = checker.dashboard(name, spec, roles)
        if dashboard is not None:
            out[name] = dashboard
    _check_homes(compiler, specs)
    return out


def _check_homes(compiler: Compiler, specs: Mapping[str, Any]) -> None:
    """T-E193: one default dashboard at most; T-E194: a role is the home of one dashboard."""
    default = None
    homes: dict[str, str] = {}
    for name, spec in specs.items():
        if spec.get("default") is True:
            if default is not None:
                compiler.issue(
                    "T-E193",
                    ("dashboards", name, "default"),
                    Words(
                        f"`{default}` is the default dashboard already; there is one default",
                        f"`{default}` 已是默认仪表板；默认仪表板只能有一个",
                    ),
                    Words(
                        f"remove `default: true` from `{name}` or from `{default}`",
                        f"从 `{name}` 或 `{default}` 中删除 `default: true`",
                    ),
                )
            else:
                default = name
        for index, role in enumerate(spec.get("roles") or []):
            if role in homes and homes[role] != name:
                compiler.issue(
                    "T-E194",
                    ("dashboards", name, "roles", index),
                    Words(
                        f"`{role}` is the home of dashboard `{homes[role]}` already; a role lands on one home dashboard",
                        f"`{role}` 已以仪表板 `{homes[role]}` 为首页；一个角色只能有一个首页仪表板",
                    ),
                    Words(
                        f"remove `{role}` from the `roles` of `{name}` or of `{homes[role]}`",
                        f"从 `{name}` 或 `{homes[role]}` 的 `roles` 中删除 `{role}`",
                    ),
                )
            homes.setdefault(role, name)


class _Checker(SectionChecker):
    """Checks one dashboard, reporting every issue at once."""

    c: Compiler

    def __init__(
        self,
        compiler: Compiler,
        path: tuple,
        reports: Mapping[str, Report],
        objects: Mapping[str, ObjectDef],
        declared: set[str],
    ) -> None:
        super().__init__(compiler, path)
        self.reports, self.objects, self.declared = reports, objects, declared

    def dashboard(self, name: str, spec: Mapping[str, Any], roles: set[str]) -> Dashboard | None:
        for index, role in enumerate(spec.get("roles") or []):
            if role not in roles:
                self.issue(
                    "T-E191",
                    ("roles", index),
                    Words(f"unknown role `{role}`", f"未知角色 `{role}`"),
                    did_you_mean(role, roles)
                    or Words("name a role declared under `roles`", "请指定在 `roles` 下声明的角色"),
                )
        compiled = [self.widget(w, ("widgets", index)) for index, w in enumerate(spec.get("widgets") or [])]
        widgets = tuple(w for w in compiled if w is not None)
        dashboard = Dashboard(
            name=name,
            label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
            description=Label.of(spec["description"]) if spec.get("description") else None,
            widgets=widgets,
            roles=tuple(spec.get("roles") or ()),
            default=spec.get("default") is True,
            filters=self.filters(spec.get("filters")),
        )
        return dashboard if self.ok else None

    # --- filters ---------------------------------------------------------------------------------
    def filters(self, spec: Any) -> DashboardFilters:
        if spec is None:
            return DashboardFilters()
        given = {name: True for name in spec} if isinstance(spec, list) else dict(spec)
        offered: list[str] = []
        defaults: dict[str, str | None] = {"period": None, "owner": None}
        for key, value in given.items():
            where = ("filters", key) if isinstance(spec, Mapping) else ("filters", list(spec).index(key))
            if key not in FILTERS:
                self.issue(
                    "T-E196",
                    where,
                    Words(f"a dashboard offers no filter `{key}`", f"仪表板没有筛选条件 `{key}`"),
                    did_you_mean(key, FILTERS) or Words(f"use {', '.join(FILTERS)}", f"请使用 {', '.join(FILTERS)}"),
                )
                continue
            if value is False or value is None:
                continue
            offered.append(key)
            if value is True:
                continue
            allowed = PERIODS if key == "period" else OWNER_DEFAULTS if key == "owner" else ()
            if str(value) not in allowed:
                wants = (
                    Words(f"one of: {', '.join(allowed)}", f"其中之一：{', '.join(allowed)}")
                    if allowed
                    else Words("`true` (a team is chosen on the page)", "`true`（团队在页面上选择）")
                )
                self.issue(
                    "T-E196",
                    where,
                    Words(
                        f"`{key}: {value}` is no default of the {key} filter",
                        f"`{key}: {value}` 不是 {key} 筛选条件的默认值",
                    ),
                    did_you_mean(str(value), allowed)
                    or Words(
                        "write `true` to offer it without a default, or ", "写 `true` 提供该筛选条件但不设默认值，或写"
                    )
                    + wants,
                )
                continue
            defaults[key] = str(value)
        return DashboardFilters(tuple(f for f in FILTERS if f in offered), defaults["period"], defaults["owner"])

    # --- widgets ---------------------------------------------------------------------------------
    def widget(self, spec: Mapping[str, Any], where: tuple) -> DashboardWidget | None:
        named = [k for k in KIND_KEYS if k in spec]
        if len(named) != 1:
            self.issue(
                "T-E192",
                where,
                Words(
                    f"a widget names one of `report`, `kpi` or `widget`, not {' and '.join(f'`{k}`' for k in named) or 'none'}",
                    f"部件只能指定 `report`、`kpi` 或 `widget` 之一，而此处是 {' 和 '.join(f'`{k}`' for k in named)}"
                    if named
                    else "部件需指定 `report`、`kpi` 或 `widget` 之一，此处一个也没有",
                ),
                Words(
                    "e.g. `{report: pipeline_by_stage}`, `{kpi: won_this_month}` or `{widget: my_tasks}`",
                    "例如 `{report: pipeline_by_stage}`、`{kpi: won_this_month}` 或 `{widget: my_tasks}`",
                ),
            )
            return None
        key = named[0]
        kind_name = str(spec[key]) if key == "widget" else key
        kind = WIDGET_KINDS.get(kind_name)
        if kind is None or (key == "widget" and kind.shows_report):
            builtins = builtin_kinds()
            self.issue(
                "T-E192",
                (*where, "widget"),
                Words(f"unknown widget kind `{kind_name}`", f"未知的部件类型 `{kind_name}`"),
                did_you_mean(kind_name, builtins)
                or Words(
                    f"use one of: {', '.join(builtins)}; a report is `report: NAME`, a key figure `kpi: NAME`",
                    f"请使用其中之一：{', '.join(builtins)}；报表写 `report: NAME`，关键指标写 `kpi: NAME`",
                ),
            )
            return None
        ok = self.options(kind, spec, where)
        report = self.report(str(spec[key]), (*where, key)) if kind.shows_report else None
        width = self.width(spec.get("width"), kind, where)
        obj = self.object(kind, spec.get("object"), where)
        if not ok or (kind.shows_report and report is None) or width is None or (kind.needs_pipeline and obj is None):
            return None
        return DashboardWidget(
            kind=kind.name,
            width=width,
            report=report,
            chart=spec.get("chart"),
            title=Label.of(spec["title"]) if spec.get("title") else None,
            object=obj,
            limit=spec.get("limit"),
        )

    def options(self, kind: WidgetKind, spec: Mapping[str, Any], where: tuple) -> bool:
        """T-E197 for every key the kind does not take."""
        ok = True
        taken = (*KIND_KEYS, *COMMON_KEYS, *kind.options)
        for key in spec:
            if key not in taken:
                takes = ", ".join(f"`{k}`" for k in (*COMMON_KEYS, *kind.options))
                self.issue(
                    "T-E197",
                    (*where, key),
                    Words(f"a {kind.name} widget takes no `{key}`", f"{kind.name} 部件不接受 `{key}`"),
                    Words(f"it takes {takes}", f"它接受 {takes}"),
                )
                ok = False
        return ok

    def report(self, name: str, where: tuple) -> str | None:
        if name in self.reports:
            return name
        if name not in self.declared:
            self.issue(
                "T-E190",
                where,
                Words(f"unknown report `{name}`", f"未知报表 `{name}`"),
                did_you_mean(name, self.declared)
                or Words("name a report declared under `reports`", "请指定在 `reports` 下声明的报表"),
            )
        return None

    def width(self, spec: Any, kind: WidgetKind, where: tuple) -> int | None:
        if spec is None:
            return kind.width
        if isinstance(spec, str) and spec in WIDTHS:
            return WIDTHS[spec]
        if isinstance(spec, int) and not isinstance(spec, bool) and 1 <= spec <= GRID:
            return spec
        self.issue(
            "T-E195",
            (*where, "width"),
            Words(
                f"`width: {spec}` is neither a number of columns from 1 to {GRID} nor small, medium or large",
                f"`width: {spec}` 既不是 1 到 {GRID} 的列数，也不是 small、medium 或 large",
            ),
            did_you_mean(str(spec), WIDTHS)
            or Words(
                f"e.g. `width: 4` or `width: medium` (small {WIDTHS['small']}, medium {WIDTHS['medium']}, large {GRID})",
                f"例如 `width: 4` 或 `width: medium`（small {WIDTHS['small']}，medium {WIDTHS['medium']}，large {GRID}）",
            ),
        )
        return None

    def object(self, kind: WidgetKind, name: Any, where: tuple) -> str | None:
        """The object a built-in reads: T-E197 for an unknown one, or one without a pipeline
        where the kind needs one (default: the first object with a pipeline)."""
        with_pipeline = [n for n, o in self.objects.items() if o.pipeline is not None]
        if name is None:
            if not kind.needs_pipeline:
                return None
            if not with_pipeline:
                self.issue(
                    "T-E197",
                    where,
                    Words(
                        f"a {kind.name} widget counts records by pipeline stage; no object declares `pipeline:`",
                        f"{kind.name} 部件按销售管道阶段统计记录；没有对象声明 `pipeline:`",
                    ),
                    Words("add a pipeline to an object, or remove the widget", "为某个对象加上销售管道，或删除该部件"),
                )
                return None
            return with_pipeline[0]
        if name not in self.objects:
            self.issue(
                "T-E197",
                (*where, "object"),
                Words(f"unknown object `{name}`", f"未知对象 `{name}`"),
                did_you_mean(name, self.objects)
                or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
            )
            return None
        if kind.needs_pipeline and self.objects[name].pipeline is None:
            self.issue(
                "T-E197",
                (*where, "object"),
                Words(
                    f"a {kind.name} widget counts records by pipeline stage; {name} has no pipeline",
                    f"{kind.name} 部件按销售管道阶段统计记录；{name} 没有销售管道",
                ),
                did_you_mean(name, with_pipeline)
                or Words(
                    f"use one of: {', '.join(with_pipeline) or 'none'}",
                    f"请使用其中之一：{', '.join(with_pipeline) or '（无）'}",
                ),
            )
            return None
        return str(name)
