"""Compiling ``assignment:`` (S11, S29) into ``AssignmentRule`` values.

An assignment rule deals the records of one object out to the members of a
pool (users holding a role — optionally within a team —, a team, or named
users): in turn (``round_robin``) or to the member with the fewest open
records (``least_loaded``). Territory ``rules`` pick another pool for records
meeting a condition; ``capacity`` skips members holding ``max_open`` open
records; ``fallback`` names who takes what nobody can; ``urgent_tag`` sends
tagged records to the least loaded member; ``on: created`` assigns new records
automatically (``when`` narrows which). The runtime side is
``engine.runtime.workflow.assignment``.

Checks, each with its code: T-E130 an unknown object, T-E131 a ``field`` that
is neither ``owner_id`` nor a ``user`` field, T-E132 a malformed pool or an
unknown role, T-E133 no pool at all, T-E134 an ``urgent_tag`` on a field that
is not tags/multipicklist or with a tag its picklist lacks, T-E135 two
automatic rules writing the same field, T-E139 an ``open_when`` the database
cannot count, T-E140 a ``team: {from: PATH}`` that is not a text or picklist field
of the record or of a record one of its lookups points at, T-E141 a ``skip_when`` on a rule without
``on: created`` (it only concerns new records) (it is translated to SQL: comparisons of a field with constants,
``in``/``not in``, ``is None``, ``and``/``or``/``not``); expressions as
everywhere (T-E040…T-E042).
"""

from __future__ import annotations

import ast
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Text, Words, did_you_mean
from engine.metadata.model import (
    SYSTEM_COLUMNS,
    AssignmentPool,
    AssignmentRule,
    Condition,
    Label,
    ObjectDef,
    Territory,
)

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

_OPERATORS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_MIRRORED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def compile_assignment(
    compiler: Compiler, specs: dict, objects: dict[str, ObjectDef], roles: set[str]
) -> dict[str, AssignmentRule]:
    """Every rule of ``assignment:``, by name; one automatic rule per object and field (T-E135)."""
    rules: dict[str, AssignmentRule] = {}
    automatic: dict[tuple[str, str], str] = {}
    for name, spec in specs.items():
        rule = _compile_rule(compiler, name, spec, objects, roles)
        if rule is None:
            continue
        rules[name] = rule
        if rule.on == "created":
            other = automatic.setdefault((rule.object, rule.field), name)
            if other != name:
                compiler.issue(
                    "T-E135",
                    ("assignment", name, "on"),
                    Words(
                        f"`{other}` already assigns new {rule.object} records to `{rule.field}` automatically",
                        f"`{other}` 已经自动把新的 {rule.object} 记录分配到 `{rule.field}`",
                    ),
                    Words(
                        "keep `on: created` on one of them; run the other with an `assign` automation action",
                        "只在其中一个上保留 `on: created`；另一个用自动化动作 `assign` 运行",
                    ),
                )
    return rules


def _compile_rule(
    c: Compiler, name: str, spec: dict, objects: dict[str, ObjectDef], roles: set[str]
) -> AssignmentRule | None:
    path = ("assignment", name)
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
    field = spec.get("field", "owner_id")
    if field != "owner_id" and (field not in obj.fields or not obj.fields[field].kind.refers_to_user):
        kind = (
            Words(f"a {obj.fields[field].type} field", f"是 {obj.fields[field].type} 类型的字段")
            if field in obj.fields
            else Words("not a field of the object", "不是该对象的字段")
        )
        c.issue(
            "T-E131",
            (*path, "field"),
            Words(
                f"`{field}` is {kind.en}: an assignment writes a user",
                f"`{field}` {kind.zh}：分配写入的是用户",
            ),
            did_you_mean(field, [f for f, d in obj.fields.items() if d.kind.refers_to_user])
            or Words("use owner_id (the default) or a field of type user", "请使用 owner_id（默认）或 user 类型的字段"),
        )
        return None
    names = set(obj.fields)
    pool = _pool(c, spec["pool"], (*path, "pool"), roles, obj, objects) if "pool" in spec else None
    territories = []
    for index, entry in enumerate(spec.get("rules") or []):
        where = (*path, "rules", index)
        when = c.expression(entry["when"], (*where, "when"), names)
        entry_pool = _pool(c, entry["pool"], (*where, "pool"), roles, obj, objects)
        if when is not None and entry_pool is not None:
            territories.append(Territory(when=when, pool=entry_pool, name=entry.get("name")))
    if "pool" not in spec and not spec.get("rules"):
        c.issue(
            "T-E133",
            path,
            Words(f"the assignment `{name}` names nobody to assign to", f"分配 `{name}` 没有指定可分配给谁"),
            Words(
                "add `pool: {role: sales_rep}` (or a team, or users) and/or territory `rules`",
                "请加上 `pool: {role: sales_rep}`（或团队、用户），和/或区域 `rules`",
            ),
        )
    capacity = spec.get("capacity") or {}
    open_when = open_filter = None
    if capacity.get("open_when"):
        open_when = c.expression(capacity["open_when"], (*path, "capacity", "open_when"), names)
        if open_when is not None:
            open_filter = _countable(c, open_when, obj, (*path, "capacity", "open_when"))
    if spec.get("skip_when") and spec.get("on") != "created":
        c.issue(
            "T-E141",
            (*path, "skip_when"),
            Words(
                f"`skip_when: {spec['skip_when']}` only concerns new records, "
                f"but the assignment `{name}` does not run on create",
                f"`skip_when: {spec['skip_when']}` 只针对新记录，但分配 `{name}` 不在创建时运行",
            ),
            Words("add `on: created`, or remove `skip_when`", "请加上 `on: created`，或删除 `skip_when`"),
        )
    urgent = spec.get("urgent_tag") or {}
    if urgent:
        _check_urgent(c, obj, urgent, (*path, "urgent_tag"))
    return AssignmentRule(
        name=name,
        object=obj.name,
        label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
        field=field,
        strategy=spec.get("strategy", "round_robin"),
        pool=pool,
        territories=tuple(territories),
        max_open=capacity.get("max_open"),
        open_when=open_when,
        open_filter=open_filter,
        fallback=(spec.get("fallback") or {}).get("user"),
        on=spec.get("on"),
        when=c.expression(spec["when"], (*path, "when"), names) if spec.get("when") else None,
        skip_when=spec.get("skip_when"),
        urgent_field=urgent.get("field"),
        urgent_tag=urgent.get("tag"),
    )


def _pool(
    c: Compiler, spec: dict, path: tuple, roles: set[str], obj: ObjectDef, objects: dict[str, ObjectDef]
) -> AssignmentPool | None:
    """``{role}``, ``{team}``, ``{role, team}`` (the role's holders in the team) or ``{users}`` (T-E132);
    ``team`` may be ``{from: PATH}`` (T-E140)."""
    if spec.get("users") and ("role" in spec or "team" in spec):
        c.issue(
            "T-E132",
            path,
            Words(
                "a pool names users, or a role and/or a team — not both",
                "分配池要么指定用户，要么指定角色和/或团队，不能两者都写",
            ),
            Words(
                "e.g. `{role: sales_rep}`, `{team: east_it}`, `{role: sales_rep, team: east}` or `{users: [alice, bob]}`",
                "例如 `{role: sales_rep}`、`{team: east_it}`、`{role: sales_rep, team: east}` 或 `{users: [alice, bob]}`",
            ),
        )
        return None
    if not spec.get("users") and "role" not in spec and "team" not in spec:
        c.issue(
            "T-E132",
            path,
            Words("a pool names a role, a team or users", "分配池需指定角色、团队或用户"),
            Words("e.g. `{role: sales_rep}`", "例如 `{role: sales_rep}`"),
        )
        return None
    role = spec.get("role")
    if role is not None and role not in roles:
        c.issue(
            "T-E132",
            (*path, "role"),
            Words(f"unknown role `{role}`", f"未知角色 `{role}`"),
            did_you_mean(role, roles)
            or Words(
                f"known roles: {', '.join(sorted(roles)) or 'none declared'}",
                f"已声明的角色：{', '.join(sorted(roles)) or '无'}",
            ),
        )
        return None
    team = spec.get("team")
    team_from: tuple[str, ...] = ()
    if isinstance(team, dict):
        team_from = _team_path(c, team["from"], (*path, "team", "from"), obj, objects)
        if not team_from:
            return None
        team = None
    return AssignmentPool(
        role=role, team=team, users=tuple(dict.fromkeys(spec.get("users") or ())), team_from=team_from
    )


#: Field types whose value can name a team (``team: {from: …}``).
TEAM_NAME_TYPES = frozenset({"text", "picklist"})


def _team_path(c: Compiler, source: str, path: tuple, obj: ObjectDef, objects: dict[str, ObjectDef]) -> tuple[str, ...]:
    """``FIELD`` or ``LOOKUP.FIELD`` naming a text/picklist field that holds a team name; () after T-E140."""
    parts = tuple(source.split("."))
    hint = Words(
        "e.g. `team: {from: campus.team}` (a lookup, then a text or picklist field of its object) or `{from: team}`",
        "例如 `team: {from: campus.team}`（先是查找字段，再是其对象的文本或选项列表字段），或 `{from: team}`",
    )
    if len(parts) > 2:
        c.issue(
            "T-E140",
            path,
            Words(f"`{source}` goes through more than one lookup", f"`{source}` 经过了不止一个查找字段"),
            hint,
        )
        return ()
    first = obj.fields.get(parts[0])
    if first is None:
        c.issue(
            "T-E140",
            path,
            Words(f"`{parts[0]}` is not a field of {obj.name}", f"`{parts[0]}` 不是 {obj.name} 的字段"),
            did_you_mean(parts[0], obj.fields) or hint,
        )
        return ()
    holder, name = obj, parts[0]
    if len(parts) == 2:
        if first.target not in objects:
            c.issue(
                "T-E140",
                path,
                Words(
                    f"`{parts[0]}` is of type {first.type}, not a lookup: `{source}` cannot follow it",
                    f"`{parts[0]}` 是 {first.type} 类型，不是查找字段：`{source}` 无法经由它",
                ),
                did_you_mean(parts[0], [f for f, d in obj.fields.items() if d.target is not None]) or hint,
            )
            return ()
        holder, name = objects[first.target], parts[1]
    field = holder.fields.get(name)
    if field is None:
        c.issue(
            "T-E140",
            path,
            Words(f"`{name}` is not a field of {holder.name}", f"`{name}` 不是 {holder.name} 的字段"),
            did_you_mean(name, holder.fields) or hint,
        )
        return ()
    if field.value_type not in TEAM_NAME_TYPES or field.encrypted:
        kind = (
            Words("encrypted", "是加密字段")
            if field.encrypted
            else Words(f"of type {field.value_type}", f"是 {field.value_type} 类型的字段")
        )
        c.issue(
            "T-E140",
            path,
            Words(
                f"`{holder.name}.{name}` is {kind.en}: a team is named by a text or picklist field",
                f"`{holder.name}.{name}` {kind.zh}：团队名须来自文本或选项列表字段",
            ),
            hint,
        )
        return ()
    return parts


def _check_urgent(c: Compiler, obj: ObjectDef, spec: dict, path: tuple) -> None:
    field = obj.fields.get(spec["field"])
    if field is None or not field.kind.list_valued:
        c.issue(
            "T-E134",
            (*path, "field"),
            Words(
                f"`{spec['field']}` is not a tags or multipicklist field of {obj.name}",
                f"`{spec['field']}` 不是 {obj.name} 的标签或多选选项列表字段",
            ),
            did_you_mean(spec["field"], [f for f, d in obj.fields.items() if d.kind.list_valued])
            or Words("name a tags or multipicklist field", "请指定标签或多选选项列表字段"),
        )
        return
    if field.picklist is not None and field.picklist.find(spec["tag"]) is None:
        c.issue(
            "T-E134",
            (*path, "tag"),
            Words(
                f"`{spec['tag']}` is not a value of {obj.name}.{field.name}",
                f"`{spec['tag']}` 不是 {obj.name}.{field.name} 的值",
            ),
            did_you_mean(spec["tag"], field.picklist.keys())
            or Words("name one of the field's values", "请指定该字段的某个值"),
        )


# --- open_when → a condition the database evaluates ----------------------------------------
class _NotCountable(ValueError):
    """What the database cannot evaluate: ``reason`` (the expression part, in backticks)."""

    def __init__(self, reason: Text) -> None:
        super().__init__(str(reason))
        self.reason = reason


def _countable(c: Compiler, expression: Any, obj: ObjectDef, path: tuple) -> Condition | None:
    """``open_when`` as a ``Condition`` (T-E139 when the database cannot evaluate it)."""
    try:
        return _condition(expression.tree, obj)
    except _NotCountable as exc:
        c.issue(
            "T-E139",
            path,
            Words(
                "open records are counted in the database, which cannot evaluate ",
                "未结记录在数据库中计数，而数据库无法计算 ",
            )
            + exc.reason,
            Words(
                "compare fields with constants: `status not in ('won', 'lost')`, `closed == False`, "
                "`amount > 0 and stage != 'lost'`",
                "请用字段与常量比较：`status not in ('won', 'lost')`、`closed == False`、"
                "`amount > 0 and stage != 'lost'`",
            ),
        )
        return None


def _condition(node: ast.AST, obj: ObjectDef) -> Condition:
    if isinstance(node, ast.Expr | ast.Expression):
        return _condition(node.value if isinstance(node, ast.Expr) else node.body, obj)
    if isinstance(node, ast.BoolOp):
        return Condition(
            "and" if isinstance(node.op, ast.And) else "or", tuple(_condition(v, obj) for v in node.values)
        )
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Condition("not", (_condition(node.operand, obj),))
    if isinstance(node, ast.Name):
        return Condition("true", field=_field(node, obj))
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return _comparison(node.left, node.ops[0], node.comparators[0], obj)
    raise _NotCountable(f"`{ast.unparse(node)}`")


def _comparison(left: ast.expr, op: ast.cmpop, right: ast.expr, obj: ObjectDef) -> Condition:
    text = f"`{ast.unparse(ast.Compare(left=left, ops=[op], comparators=[right]))}`"
    if isinstance(op, ast.In | ast.NotIn):
        if not isinstance(right, ast.Tuple | ast.List | ast.Set):
            raise _NotCountable(text)
        values = tuple(_constant(item, text) for item in right.elts)
        return Condition("in" if isinstance(op, ast.In) else "not_in", field=_field(left, obj, text), values=values)
    if isinstance(op, ast.Is | ast.IsNot):
        if _constant(right, text) is not None:
            raise _NotCountable(text)
        return Condition("is_none" if isinstance(op, ast.Is) else "not_none", field=_field(left, obj, text))
    name = _OPERATORS.get(type(op))
    if name is None:
        raise _NotCountable(text)
    if not isinstance(left, ast.Name):  # a constant on the left: mirror the comparison
        left, right, name = right, left, _MIRRORED[name]
    value = _constant(right, text)
    field = _field(left, obj, text)
    if value is None and name in ("eq", "ne"):
        return Condition("is_none" if name == "eq" else "not_none", field=field)
    if value is None:
        raise _NotCountable(text)
    return Condition(name, field=field, values=(value,))


def _field(node: ast.AST, obj: ObjectDef, text: str | None = None) -> str:
    if not isinstance(node, ast.Name):
        raise _NotCountable(text or f"`{ast.unparse(node)}`")
    name = node.id
    definition = obj.fields.get(name)
    if definition is None and name not in SYSTEM_COLUMNS:
        raise _NotCountable(text or f"`{name}`")  # T-E041 reports unknown names
    if definition is not None and (not definition.value_kind.orderable or definition.encrypted):
        shown = text or f"`{name}`"
        raise _NotCountable(
            Words(
                f"{shown} ({name} is {'encrypted' if definition.encrypted else definition.type})",
                f"{shown}（{name} {'是加密字段' if definition.encrypted else f'是 {definition.type} 类型'}）",
            )
        )
    return name


def _constant(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | Decimal | bool | type(None)):
        return node.value
    if isinstance(node, ast.Name) and node.id in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[node.id]
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float | Decimal)
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    raise _NotCountable(text)
