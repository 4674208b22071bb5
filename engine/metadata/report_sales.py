"""The sales report kinds ``forecast`` and ``conversion`` (issue 15 §1, S22, S43): their checks
and the parts of a ``Report`` only they have.

A **forecast** sums the ``amount`` of an object with a pipeline by the stages' forecast
categories (``Stage.forecast_category``) over the records whose ``close_date`` lies in the
period (the report's ``period_field``), per owner within their team (the default) or per one
other level, with optional quotas (``ReportQuota``). A **conversion** counts the records of a
conversion's source (leads), those converted and what they became (the targets the conversion
links back, and the ``amount`` of one of them), per one level.

Checks: T-E184 a forecast of an object without a pipeline, without a date ``close_date`` or a
number ``amount``, with more than one level or with keys it does not take; T-E186 a quota that
cannot be read; T-E187 a conversion report whose object no conversion converts, an unknown
``conversion``, a bad ``amount`` or keys it does not take. (T-E185, a stage's ``forecast`` on a
won or lost stage, is the pipeline compiler's.)
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.filters import PERIOD_TYPES
from engine.metadata.model import Conversion, ObjectDef, ReportMeasure, ReportQuota, frozen_map

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: The forecast categories of an open stage (``forecast:``), most certain first.
CATEGORIES = ("commit", "best_case", "pipeline", "omitted")
#: The categories each forecast figure sums (best case includes commit, pipeline both).
FIGURE_CATEGORIES = {
    "pipeline": ("commit", "best_case", "pipeline"),
    "best_case": ("commit", "best_case"),
    "commit": ("commit",),
    "won": ("won",),
}
#: How long a quota's ``per`` lasts, in months.
QUOTA_MONTHS = {"month": 1, "quarter": 3, "year": 12}
#: Keys a forecast does not take (its figures and its period are its own).
FORECAST_REFUSES = ("measures", "sort", "limit", "from_stage", "period_field")
#: Keys a conversion report does not take.
CONVERSION_REFUSES = ("measures", "sort", "limit", "from_stage", "period_field")
#: The kinds of field ``_field`` asks for, in Chinese.
_KIND_ZH = {"date": "日期", "number": "数字", "user": "用户"}


def foreign_keys(kind: str, spec: Mapping[str, Any]) -> list[str]:
    """The keys of ``spec`` that belong to the sales kinds when it is of another ``kind``."""
    mine = {"forecast": ("close_date", "amount", "quota"), "conversion": ("amount", "conversion")}.get(kind, ())
    return [k for k in ("close_date", "amount", "quota", "conversion") if k in spec and k not in mine]


def forecast_measures(amount: str, quota: bool) -> tuple[ReportMeasure, ...]:
    """A forecast's figures: sums of ``amount`` by category, the weighted pipeline, won, the
    quota and its attainment (with a quota), and the open records counted."""
    out = [
        ReportMeasure("sum", field=amount, key="pipeline"),
        ReportMeasure("weighted", field=amount, key="weighted"),
        ReportMeasure("sum", field=amount, key="best_case"),
        ReportMeasure("sum", field=amount, key="commit"),
        ReportMeasure("sum", field=amount, key="won"),
    ]
    if quota:
        out += [ReportMeasure("sum", field=amount, key="quota"), ReportMeasure("rate", key="attainment")]
    return (*out, ReportMeasure("count", key="open_count"))


def check_forecast(
    compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef, objects: Mapping[str, ObjectDef]
) -> dict[str, Any]:
    """T-E184/T-E186: a forecast's own keys; the ``Report`` fields they give."""
    if obj.pipeline is None:
        compiler.issue(
            "T-E184",
            (*path, "kind"),
            Words(
                f"a forecast sums open deals by their stages' forecast categories; {obj.name} has no pipeline",
                f"预测报表按阶段的预测类别汇总未关闭的商机；{obj.name} 没有销售管道",
            ),
            Words("name an object that declares `pipeline:`", "请指定声明了 `pipeline:` 的对象"),
        )
    _refuse(
        compiler,
        path,
        spec,
        FORECAST_REFUSES,
        "T-E184",
        Words("a forecast computes its own figures over `close_date`", "预测报表按 `close_date` 自行计算数据"),
    )
    _one_level(compiler, path, spec, "T-E184")
    close = _field(compiler, path, spec, obj, "close_date", "T-E184", lambda f: f.value_type in PERIOD_TYPES, "date")
    amount = _field(compiler, path, spec, obj, "amount", "T-E184", _summable, "number")
    quota = None
    if spec.get("quota") is not None:
        group_by = spec.get("group_by") or ["owner"]
        group_by = [group_by] if isinstance(group_by, str) else group_by
        if group_by not in (["owner"], ["owner_id"]):
            compiler.issue(
                "T-E186",
                (*path, "quota"),
                Words(
                    "a quota belongs to owners and teams: the forecast must be grouped by owner",
                    "配额属于负责人和团队：预测报表必须按负责人分组",
                ),
                Words(
                    "remove `group_by` (owners in their teams), or remove `quota`",
                    "删除 `group_by`（按团队内的负责人），或删除 `quota`",
                ),
            )
        quota = _quota(compiler, (*path, "quota"), spec["quota"], objects)
    return {
        "period_field": close or "close_date",
        "amount": amount,
        "quota": quota,
        "measures": forecast_measures(amount or "amount", quota is not None),
    }


def _quota(compiler: Compiler, path: tuple, spec: Mapping[str, Any], objects: Mapping[str, ObjectDef]) -> ReportQuota:
    """The quota: amounts per user and team, or the records of an object."""
    if spec.get("object"):
        if spec.get("users") or spec.get("teams") or spec.get("per"):
            compiler.issue(
                "T-E186",
                path,
                Words(
                    "a quota comes from the config (`per`, `users`, `teams`) or from an object, not both",
                    "配额来自配置（`per`、`users`、`teams`）或来自一个对象，不能两者都有",
                ),
                Words(
                    "keep `object`, `user`, `amount`, `date`, or the amounts",
                    "保留 `object`、`user`、`amount`、`date`，或只保留金额",
                ),
            )
        obj = objects.get(spec["object"])
        if obj is None:
            compiler.issue(
                "T-E186",
                (*path, "object"),
                Words(f"unknown object `{spec['object']}`", f"未知对象 `{spec['object']}`"),
                did_you_mean(spec["object"], objects)
                or Words("name an object holding the quotas", "请指定保存配额的对象"),
            )
            return ReportQuota()
        user = _field(compiler, path, spec, obj, "user", "T-E186", lambda f: f.kind.refers_to_user, "user")
        amount = _field(compiler, path, spec, obj, "amount", "T-E186", _summable, "number")
        date = _field(compiler, path, spec, obj, "date", "T-E186", lambda f: f.value_type in PERIOD_TYPES, "date")
        return ReportQuota(object=obj.name, user=user, amount=amount, date=date)
    per = spec.get("per", "month")
    if not spec.get("users") and not spec.get("teams"):
        compiler.issue(
            "T-E186",
            path,
            Words(
                "a quota names the amounts of `users` or `teams`, or the `object` holding them",
                "配额需给出 `users` 或 `teams` 的金额，或保存金额的 `object`",
            ),
            Words(
                "e.g. `quota: {per: quarter, users: {alice: 300000}}`",
                "例如 `quota: {per: quarter, users: {alice: 300000}}`",
            ),
        )
    amounts = {part: _amounts(compiler, (*path, part), spec.get(part) or {}) for part in ("users", "teams")}
    return ReportQuota(per=per, users=frozen_map(amounts["users"]), teams=frozen_map(amounts["teams"]))


def _amounts(compiler: Compiler, path: tuple, spec: Mapping[str, Any]) -> dict[str, Decimal]:
    out = {}
    for name, value in spec.items():
        try:
            amount = Decimal(str(value)) if not isinstance(value, bool) else Decimal(-1)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0:
            compiler.issue(
                "T-E186",
                (*path, name),
                Words(f"`{name}: {value}` is not an amount", f"`{name}: {value}` 不是金额"),
                Words("e.g. `alice: 300000`", "例如 `alice: 300000`"),
            )
            continue
        out[str(name)] = amount
    return out


def check_conversion(
    compiler: Compiler,
    path: tuple,
    spec: Mapping[str, Any],
    obj: ObjectDef,
    objects: Mapping[str, ObjectDef],
    conversions: Mapping[str, Conversion],
) -> dict[str, Any]:
    """T-E187: a conversion report's own keys; the ``Report`` fields they give."""
    _refuse(
        compiler,
        path,
        spec,
        CONVERSION_REFUSES,
        "T-E187",
        Words("a conversion report computes its own figures", "转换报表自行计算数据"),
    )
    _one_level(compiler, path, spec, "T-E187")
    found = [c for c in conversions.values() if c.source == obj.name]
    name = spec.get("conversion")
    conversion: Conversion | None = None
    if name is not None:
        conversion = conversions.get(name)
        if conversion is None or conversion.source != obj.name:
            what = Words(f"unknown conversion `{name}`", f"未知的转换 `{name}`")
            if conversion is not None:
                what = Words(
                    f"`{name}` converts {conversion.source}, not {obj.name}",
                    f"`{name}` 转换的是 {conversion.source}，而不是 {obj.name}",
                )
            compiler.issue(
                "T-E187",
                (*path, "conversion"),
                what,
                did_you_mean(name, [c.name for c in found]) or _conversions_hint(found, obj),
            )
            conversion = None
    elif len(found) == 1:
        conversion = found[0]
    else:
        compiler.issue(
            "T-E187",
            (*path, "conversion" if found else "object"),
            Words(f"{len(found)} conversions convert {obj.name}", f"有 {len(found)} 个转换都转换 {obj.name}")
            if found
            else Words(f"no conversion converts {obj.name}", f"没有转换会转换 {obj.name}"),
            _conversions_hint(found, obj),
        )
    amount = spec.get("amount")
    if conversion is not None and amount is not None:
        amount = _target_amount(compiler, (*path, "amount"), str(amount), conversion, objects)
    return {"conversion": conversion.name if conversion else None, "amount": amount}


def _target_amount(
    compiler: Compiler, path: tuple, amount: str, conversion: Conversion, objects: Mapping[str, ObjectDef]
) -> str | None:
    """``target.field``: a number field of a target the conversion links back."""
    target_name, _, field_name = amount.partition(".")
    target = conversion.target(target_name)
    linked = [t for t in conversion.links if conversion.target(t) is not None]
    if target is None or target_name not in conversion.links:
        compiler.issue(
            "T-E187",
            path,
            Words(
                f"`{target_name}` is not a target `{conversion.name}` links back to the record it converts",
                f"`{target_name}` 不是 `{conversion.name}` 回链到被转换记录的目标",
            ),
            did_you_mean(target_name, linked)
            or Words(
                f"write `target.field` with a target of: {', '.join(linked) or '-'}",
                f"请写 `target.field`，目标取其中之一：{', '.join(linked) or '-'}",
            ),
        )
        return None
    obj = objects[target.object]
    f = obj.fields.get(field_name)
    if f is None or not _summable(f):
        numbers = [n for n, d in obj.fields.items() if _summable(d)]
        compiler.issue(
            "T-E187",
            path,
            Words(
                f"{obj.name} has no number field `{field_name}` to sum",
                f"{obj.name} 没有可求和的数字字段 `{field_name}`",
            ),
            did_you_mean(field_name, numbers)
            or (Words(f"e.g. `{target_name}.{numbers[0]}`", f"例如 `{target_name}.{numbers[0]}`") if numbers else None),
        )
        return None
    return f"{target_name}.{field_name}"


def _conversions_hint(found: list[Conversion], obj: ObjectDef) -> Words:
    if found:
        names = ", ".join(c.name for c in found)
        return Words(f"name one with `conversion:`: {names}", f"请用 `conversion:` 指定其中一个：{names}")
    return Words(
        f"declare a conversion `from: {obj.name}` under `conversions`, or report on its source object",
        f"请在 `conversions` 下声明 `from: {obj.name}` 的转换，或对其源对象做报表",
    )


# --- shared checks --------------------------------------------------------------------------------------
def _refuse(compiler: Compiler, path: tuple, spec: Mapping[str, Any], keys: tuple, code: str, why: Words) -> None:
    for key in (k for k in keys if spec.get(k) is not None):
        compiler.issue(
            code,
            (*path, key),
            why + Words(f": it takes no `{key}`", f"，不接受 `{key}`"),
            Words(f"remove `{key}`", f"删除 `{key}`"),
        )


def _one_level(compiler: Compiler, path: tuple, spec: Mapping[str, Any], code: str) -> None:
    group_by = spec.get("group_by") or []
    if not isinstance(group_by, str) and len(group_by) > 1:
        compiler.issue(
            code,
            (*path, "group_by"),
            Words("this report kind groups by one level", "这类报表只能按一级分组"),
            Words("keep one, e.g. `owner`", "只保留一个，例如 `owner`"),
        )


def _summable(f: Any) -> bool:
    return "sum" in f.value_kind.aggregates and not f.encrypted


def _field(
    compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef, key: str, code: str, fits: Any, what: str
) -> str | None:
    """The field ``spec[key]`` of ``obj`` if it is a ``what`` field (``fits``), else an issue."""
    name = spec.get(key)
    candidates = [n for n, f in obj.fields.items() if fits(f)]
    if name is None:
        example = candidates[0] if candidates else key
        compiler.issue(
            code,
            (*path, key),
            Words(f"name the {what} field `{key}`", f"请用 `{key}` 指定{_KIND_ZH[what]}字段"),
            Words(f"e.g. `{key}: {example}`", f"例如 `{key}: {example}`"),
        )
        return None
    if name == "owner_id" and what == "user":  # the system column
        return name
    f = obj.fields.get(name)
    if f is None or not fits(f):
        problem = (
            Words(f"{obj.name} has no field `{name}`", f"{obj.name} 没有字段 `{name}`")
            if f is None
            else Words(f"`{name}` is a {f.value_type} field", f"`{name}` 是 {f.value_type} 字段")
        )
        compiler.issue(
            code,
            (*path, key),
            problem + Words(f": `{key}` names a {what} field", f"：`{key}` 应指定{_KIND_ZH[what]}字段"),
            did_you_mean(name, candidates)
            or (Words(f"e.g. `{key}: {candidates[0]}`", f"例如 `{key}: {candidates[0]}`") if candidates else None),
        )
        return None
    return str(name)
