"""Compiling ``scoring:`` (S10, S15) into ``Scoring`` values.

A scoring keeps an integer field of an object in step with rules: each rule
gives its ``points`` while its ``when`` holds (website leads 60, paid ads 40).
The write path (``engine.runtime.workflow.scoring``) adds the points of the rules that
start to hold and takes away those of the rules that stop holding, so points
given by hand or added by the ``add`` automation action (engagement, S15) stay.

Checks, each with its code: T-E130 an unknown object, T-E136 a ``field`` that
is not an integer field, T-E137 a rule that reads the score it computes,
T-E138 two scorings of the same field; expressions as everywhere
(T-E040…T-E042).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.model import ObjectDef, ScoreRule, Scoring

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler


def compile_scoring(compiler: Compiler, specs: dict, objects: dict[str, ObjectDef]) -> dict[str, Scoring]:
    """Every entry of ``scoring:``, by name; each field is kept by one scoring (T-E138)."""
    out: dict[str, Scoring] = {}
    owners: dict[tuple[str, str], str] = {}
    for name, spec in specs.items():
        scoring = _compile(compiler, name, spec, objects)
        if scoring is None:
            continue
        other = owners.setdefault((scoring.object, scoring.field), name)
        if other != name:
            compiler.issue(
                "T-E138",
                ("scoring", name, "field"),
                Words(
                    f"`{other}` already computes {scoring.object}.{scoring.field}",
                    f"`{other}` 已经在计算 {scoring.object}.{scoring.field}",
                ),
                Words("put the rules of both into one scoring", "请把两者的规则合并到一个评分中"),
            )
            continue
        out[name] = scoring
    return out


def _compile(c: Compiler, name: str, spec: dict, objects: dict[str, ObjectDef]) -> Scoring | None:
    path = ("scoring", name)
    obj = objects.get(spec["object"])
    if obj is None:
        c.issue(
            "T-E130",
            (*path, "object"),
            Words(f"unknown object `{spec['object']}`", f"未知对象 `{spec['object']}`"),
            did_you_mean(spec["object"], objects)
            or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
        )
        return None
    field = obj.fields.get(spec["field"])
    if field is None or field.kind.storage != "integer":
        kind = (
            Words(f"a {field.type} field", f"是 {field.type} 类型的字段")
            if field is not None
            else Words("not a field of the object", "不是该对象的字段")
        )
        c.issue(
            "T-E136",
            (*path, "field"),
            Words(
                f"`{spec['field']}` is {kind.en}: a score is an integer field",
                f"`{spec['field']}` {kind.zh}：评分须是整数字段",
            ),
            did_you_mean(spec["field"], [f for f, d in obj.fields.items() if d.kind.storage == "integer"])
            or Words(
                "add e.g. `score: {type: integer, default: 0}` to the object",
                "请给该对象加上字段，例如 `score: {type: integer, default: 0}`",
            ),
        )
        return None
    rules = []
    for index, entry in enumerate(spec["rules"]):
        where = (*path, "rules", index, "when")
        when = c.expression(entry["when"], where, set(obj.fields))
        if when is None:
            continue
        if field.name in when.names:
            c.issue(
                "T-E137",
                where,
                Words(
                    f"the rule reads `{field.name}`, the score it computes",
                    f"该规则读取了它自己计算的评分 `{field.name}`",
                ),
                Words(
                    "score from other fields; to add points on events use an `add` automation action",
                    "请根据其他字段评分；要在事件发生时加分，请用自动化动作 `add`",
                ),
            )
            continue
        rules.append(ScoreRule(when=when, points=entry["points"], name=entry.get("name")))
    return Scoring(
        name=name, object=obj.name, field=field.name, rules=tuple(rules), recompute=spec.get("recompute", "on_change")
    )
