"""Compiling retention (S1, issue 18 §4): ``settings.retention_years`` and
``objects.<o>.retention`` into each object's ``Retention``.

An object's ``retention: {years, action, from}`` overrides the company default
``settings.retention_years`` (which archives, counting from ``updated_at``); ``retention: false``
keeps its records for ever. Checks, each with its code: T-E270 no years (neither ``years`` nor
``settings.retention_years``), T-E271 ``from`` names neither a field of the object nor a system
date column and T-E272 ``from`` names a field that is no date or date-time (encrypted fields are
text, so never one).

Approval (issue 18 §4): ``retention: {…, approval: {role: NAME}}`` per object, else
``settings.retention_approval`` for every object with a retention (``approval: false`` opts an
object out): the approver is named as an approval step's is (``engine.metadata.approvals``),
``{role: NAME}`` or ``{user: USERNAME}``. Checks, once the roles are known
(``check_retention_approvals``): T-E273 an unknown role, T-E274 ``manager`` (retention is run by
the system: there is no requester to be the manager of), T-E275 a role without the ``approve``
permission, T-E276 a role that cannot read the object's records, T-E277
``settings.retention_approval`` while no object's records ever expire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.model import Approver, ObjectDef, Retention, Role

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: The system columns retention may count from: every object table has them.
SYSTEM_MOMENTS = ("updated_at", "created_at", "last_activity_at", "stage_entered_at")


def compile_retention(
    c: Compiler, objects: dict[str, ObjectDef], specs: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, ObjectDef]:
    """The objects with their retention (each problem reported on ``c``)."""
    default = settings.get("retention_years")
    approver = _approver(settings.get("retention_approval"))
    out = dict(objects)
    for name, obj in objects.items():
        spec = (specs.get(name) or {}).get("retention")
        if spec is None and default is not None:
            out[name] = replace(obj, retention=Retention(years=default, approver=approver))
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
        given = spec.get("approval")
        chosen = approver if given is None else _approver(given)
        if _moment_ok(c, obj, moment, (*path, "from")):
            out[name] = replace(obj, retention=Retention(years, spec.get("action", "archive"), moment, chosen))
    return out


def _approver(spec: Any) -> Approver | None:
    """An approval's approver as ``engine.metadata.approvals`` names one (checked by
    ``check_retention_approvals`` once the roles are known); None for none or ``false``."""
    if spec == "manager":
        return Approver("manager")
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((kind, value),) = spec.items()
        if kind == "manager":  # refused by check_retention_approvals (T-E274)
            return Approver("manager", levels=value if isinstance(value, int) else 1)
        if kind in ("role", "user") and isinstance(value, str):
            return Approver(kind, name=value)
    return None


def check_retention_approvals(
    c: Compiler,
    objects: Mapping[str, ObjectDef],
    roles: Mapping[str, Role],
    specs: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> None:
    """T-E273…T-E277: each retention approver can be found, decide and read what it approves."""
    company = settings.get("retention_approval")
    if company is not None and not any(obj.retention is not None for obj in objects.values()):
        c.issue(
            "T-E277",
            ("settings", "retention_approval"),
            Words(
                "settings.retention_approval is set, but no object's records ever expire: nothing would be approved",
                "设置了 settings.retention_approval，但没有任何对象的记录会过期：没有需要审批的内容",
            ),
            Words(
                "set `retention_years: N` under settings (or a `retention:` on an object), or remove the approval",
                "在 settings: 下设置 `retention_years: N`（或在对象上设置 `retention:`），或删除此审批",
            ),
        )
    checked: set[tuple] = set()
    for name, obj in objects.items():
        if obj.retention is None or obj.retention.approver is None:
            continue
        own = isinstance((specs.get(name) or {}).get("retention"), Mapping) and (
            (specs.get(name) or {}).get("retention", {}).get("approval") is not None
        )
        path = ("objects", name, "retention", "approval") if own else ("settings", "retention_approval")
        if _approver_ok(c, obj.retention.approver, roles, path, checked):
            _role_decides(c, obj, roles.get(obj.retention.approver.name or ""), path)


def _approver_ok(c: Compiler, approver: Approver, roles: Mapping[str, Role], path: tuple, checked: set) -> bool:
    """T-E273 (unknown role), T-E274 (``manager``), each reported once per place."""
    first = (path, approver) not in checked
    checked.add((path, approver))
    if approver.kind == "manager":
        if first:
            c.issue(
                "T-E274",
                path,
                Words(
                    "retention is run by the system, so there is no requester whose manager could approve it",
                    "保留策略由系统执行，没有可由其经理审批的申请人",
                ),
                Words(
                    "name who approves: `{role: NAME}` (anyone holding the role) or `{user: USERNAME}`",
                    "请指定审批人：`{role: 角色名}`（持有该角色的任何人）或 `{user: 用户名}`",
                ),
            )
        return False
    if approver.kind == "role" and approver.name not in roles:
        if first:
            c.issue(
                "T-E273",
                (*path, "role"),
                Words(f"unknown role `{approver.name}`", f"未知角色 `{approver.name}`"),
                did_you_mean(approver.name or "", roles)
                or Words("name a role declared under `roles`", "请指定在 `roles` 下声明的角色"),
            )
        return False
    return approver.kind == "role"


def _role_decides(c: Compiler, obj: ObjectDef, role: Role | None, path: tuple) -> None:
    """T-E275 (no ``approve`` permission), T-E276 (no read on the object)."""
    if role is None:
        return
    if "approve" not in role.permissions:
        c.issue(
            "T-E275",
            (*path, "role"),
            Words(
                f"role `{role.name}` lacks the `approve` permission: nobody could approve the retention of {obj.name}",
                f"角色 `{role.name}` 没有 `approve` 权限：没有人能审批 {obj.name} 的保留策略执行",
            ),
            Words(
                f"add `approve` to the permissions of `{role.name}`, or name another approver",
                f"请在 `{role.name}` 的权限中加上 `approve`，或指定其他审批人",
            ),
        )
    elif role.grant(obj.name).read == "none":
        c.issue(
            "T-E276",
            (*path, "role"),
            Words(
                f"role `{role.name}` cannot read any {obj.name} record, so it would approve records it never sees",
                f"角色 `{role.name}` 无法读取任何 {obj.name} 记录，将审批它看不到的记录",
            ),
            Words(
                f"give `{role.name}` `read: all` on {obj.name}, or name another approver",
                f"请授予 `{role.name}` 对 {obj.name} 的 `read: all`，或指定其他审批人",
            ),
        )


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
