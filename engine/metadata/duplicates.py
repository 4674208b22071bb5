"""Compiling ``objects.<o>.duplicates`` (issue 14) into ``DuplicateRule`` values.

Checks, each with its code: T-E160 a criterion names an unknown field, T-E161 an unknown
matching method, T-E162 a method that does not fit the field's type (``Method.fits``), T-E163 a
threshold outside 0..1, T-E164 a threshold on a method that matches equal forms only, T-E165 an
encrypted field (its blocking keys would be stored in clear); two rules of one name are T-E060.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.matching import METHODS
from engine.metadata.model import DuplicateRule, MatchCriterion, ObjectDef

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler


def compile_duplicates(c: Compiler, objects: dict[str, ObjectDef], specs: Mapping[str, Any]) -> dict[str, ObjectDef]:
    """The objects with the duplicate rules their specs declare (each problem reported on ``c``)."""
    out = dict(objects)
    for name, obj in objects.items():
        rules = []
        seen: set[str] = set()
        for index, spec in enumerate((specs.get(name) or {}).get("duplicates") or []):
            path = ("objects", name, "duplicates", index)
            if spec["name"] in seen:
                c.issue(
                    "T-E060",
                    (*path, "name"),
                    Words(
                        f"a duplicate rule `{spec['name']}` is declared twice",
                        f"查重规则 `{spec['name']}` 声明了两次",
                    ),
                    Words("rename one", "请重命名其中一个"),
                )
                continue
            seen.add(spec["name"])
            match = [_criterion(c, obj, entry, (*path, "match", i)) for i, entry in enumerate(spec["match"])]
            if all(m is not None for m in match):
                rules.append(
                    DuplicateRule(
                        name=spec["name"],
                        object=name,
                        match=tuple(m for m in match if m is not None),
                        any=bool(spec.get("any", False)),
                        action=spec.get("action", "warn"),
                        reveal=spec.get("reveal", "owner"),
                    )
                )
        if rules:
            out[name] = replace(obj, duplicates=tuple(rules))
    return out


def _criterion(c: Compiler, obj: ObjectDef, spec: dict, path: tuple) -> MatchCriterion | None:
    field = obj.fields.get(spec["field"])
    if field is None:
        c.issue(
            "T-E160",
            (*path, "field"),
            Words(f"`{spec['field']}` is not a field of {obj.name}", f"`{spec['field']}` 不是 {obj.name} 的字段"),
            did_you_mean(spec["field"], obj.fields)
            or Words(f"name one of: {', '.join(obj.fields)}", f"请指定其中之一：{', '.join(obj.fields)}"),
        )
        return None
    method = METHODS.get(spec["method"])
    if method is None:
        c.issue(
            "T-E161",
            (*path, "method"),
            Words(f"unknown matching method `{spec['method']}`", f"未知的匹配方法 `{spec['method']}`"),
            did_you_mean(spec["method"], METHODS.names())
            or Words(f"use one of: {', '.join(METHODS.names())}", f"请使用其中之一：{', '.join(METHODS.names())}"),
        )
        return None
    if not method.fits(field):
        fitting = [m.name for m in METHODS if m.fits(field)]
        c.issue(
            "T-E162",
            (*path, "method"),
            Words(
                f"method `{method.name}` compares {method.fits_words.en}; `{field.name}` is a {field.type} field",
                f"方法 `{method.name}` 比较的是{method.fits_words.zh}；`{field.name}` 是 {field.type} 字段",
            ),
            Words(f"use one of: {', '.join(fitting)}", f"请使用其中之一：{', '.join(fitting)}")
            if fitting
            else Words("match on another field", "请用另一个字段来匹配"),
        )
        return None
    if field.encrypted:
        c.issue(
            "T-E165",
            (*path, "field"),
            Words(
                f"`{field.name}` is encrypted: its matching keys would be stored in clear",
                f"`{field.name}` 是加密字段：它的匹配键会以明文存储",
            ),
            Words("match on a field that is not encrypted", "请用未加密的字段来匹配"),
        )
        return None
    threshold = spec.get("threshold")
    if threshold is not None:
        if method.default_threshold is None:
            c.issue(
                "T-E164",
                (*path, "threshold"),
                Words(
                    f"method `{method.name}` matches equal forms only and takes no threshold",
                    f"方法 `{method.name}` 只匹配相同的形式，不接受阈值",
                ),
                Words(
                    "remove `threshold`, or use a fuzzy method (person_name, company_name, fuzzy)",
                    "请删除 `threshold`，或使用模糊匹配方法（person_name、company_name、fuzzy）",
                ),
            )
            return None
        if not 0 <= threshold <= 1:
            c.issue(
                "T-E163",
                (*path, "threshold"),
                Words(f"threshold {threshold} is outside 0..1", f"阈值 {threshold} 不在 0..1 范围内"),
                Words(
                    f"write a similarity from 0 to 1, e.g. {method.default_threshold}",
                    f"请写 0 到 1 之间的相似度，例如 {method.default_threshold}",
                ),
            )
            return None
    return MatchCriterion(field=field.name, method=method.name, threshold=threshold)
