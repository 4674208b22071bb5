"""Compiling retention (S1, issue 18 §4): ``settings.retention_years`` and
``objects.<o>.retention`` into each object's ``Retention``.

An object's ``retention: {years, action, from}`` overrides the company default
``settings.retention_years`` (which archives, counting from ``updated_at``); ``retention: false``
keeps its records for ever. Checks, each with its code: T-E270 no years (neither ``years`` nor
``settings.retention_years``), T-E271 ``from`` names neither a field of the object nor a system
date column and T-E272 ``from`` names a field that is no date or date-time (encrypted fields are
text, so never one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.model import ObjectDef, Retention

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: The system columns retention may count from: every object table has them.
SYSTEM_MOMENTS = ("updated_at", "created_at", "last_activity_at", "stage_entered_at")


def compile_retention(
    c: Compiler, objects: dict[str, ObjectDef], specs: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, ObjectDef]:
    """The objects with their retention (each problem reported on ``c``)."""
    default = settings.get("retention_years")
    out = dict(objects)
    for name, obj in objects.items():
        spec = (specs.get(name) or {}).get("retention")
        if spec is None and default is not None:
            out[name] = replace(obj, retention=Retention(years=default))
        if spec is None or spec is False:
            continue
        path = ("objects", name, "retention")
        years = spec.get("years", default)
        if years is None:
            c.issue(
                "T-E270",
                path,
                Words(
                    f"the retention of {name} says no `years`, and settings.retention_years is not set",
                    f"{name} 的保留期限没有写 `years`，settings.retention_years 也未设置",
                ),
                Words(
                    "add `years: N` here, or `retention_years: N` under settings:",
                    "在此处加上 `years: N`，或在 settings: 下加上 `retention_years: N`",
                ),
            )
            continue
        moment = spec.get("from", "updated_at")
        if _moment_ok(c, obj, moment, (*path, "from")):
            out[name] = replace(obj, retention=Retention(years, spec.get("action", "archive"), moment))
    return out


def _moment_ok(c: Compiler, obj: ObjectDef, moment: str, path: tuple) -> bool:
    if moment in SYSTEM_MOMENTS:
        return True
    field = obj.fields.get(moment)
    if field is None:
        known = [*SYSTEM_MOMENTS, *(f.name for f in obj.fields.values() if f.kind.temporal)]
        c.issue(
            "T-E271",
            path,
            Words(
                f"`{moment}` is neither a field of {obj.name} nor a system date column",
                f"`{moment}` 既不是 {obj.name} 的字段，也不是系统日期列",
            ),
            did_you_mean(moment, known)
            or Words(f"use one of: {', '.join(known)}", f"请使用其中之一：{', '.join(known)}"),
        )
        return False
    if not field.kind.temporal or field.kind.list_valued:
        c.issue(
            "T-E272",
            path,
            Words(
                f"retention counts from a moment; `{moment}` is a {field.type} field",
                f"保留期限从某个时刻起算；`{moment}` 是 {field.type} 类型的字段",
            ),
            Words(
                f"name a date or datetime field, or one of: {', '.join(SYSTEM_MOMENTS)}",
                f"请指定日期或日期时间字段，或其中之一：{', '.join(SYSTEM_MOMENTS)}",
            ),
        )
        return False
    return True
