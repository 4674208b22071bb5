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

from engine.metadata.errors import did_you_mean
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
                    f"`{other}` already assigns new {rule.object} records to `{rule.field}` automatically",
                    "keep `on: created` on one of them; run the other with an `assign` automation action",
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
            f"unknown object `{spec['object']}`",
            did_you_mean(spec["object"], objects) or "name an object declared under `objects`",
        )
        return None
    field = spec.get("field", "owner_id")
    if field != "owner_id" and (field not in obj.fields or not obj.fields[field].kind.refers_to_user):
        kind = f"a {obj.fields[field].type} field" if field in obj.fields else "not a field of the object"
        c.issue(
            "T-E131",
            (*path, "field"),
            f"`{field}` is {kind}: an assignment writes a user",
            did_you_mean(field, [f for f, d in obj.fields.items() if d.kind.refers_to_user])
            or "use owner_id (the default) or a field of type user",
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
            f"the assignment `{name}` names nobody to assign to",
            "add `pool: {role: sales_rep}` (or a team, or users) and/or territory `rules`",
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
            f"`skip_when: {spec['skip_when']}` only concerns new records, "
            f"but the assignment `{name}` does not run on create",
            "add `on: created`, or remove `skip_when`",
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
            "a pool names users, or a role and/or a team — not both",
            "e.g. `{role: sales_rep}`, `{team: east_it}`, `{role: sales_rep, team: east}` or `{users: [alice, bob]}`",
        )
        return None
    if not spec.get("users") and "role" not in spec and "team" not in spec:
        c.issue("T-E132", path, "a pool names a role, a team or users", "e.g. `{role: sales_rep}`")
        return None
    role = spec.get("role")
    if role is not None and role not in roles:
        c.issue(
            "T-E132",
            (*path, "role"),
            f"unknown role `{role}`",
            did_you_mean(role, roles) or f"known roles: {', '.join(sorted(roles)) or 'none declared'}",
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
    hint = "e.g. `team: {from: campus.team}` (a lookup, then a text or picklist field of its object) or `{from: team}`"
    if len(parts) > 2:
        c.issue("T-E140", path, f"`{source}` goes through more than one lookup", hint)
        return ()
    first = obj.fields.get(parts[0])
    if first is None:
        c.issue(
            "T-E140", path, f"`{parts[0]}` is not a field of {obj.name}", did_you_mean(parts[0], obj.fields) or hint
        )
        return ()
    holder, name = obj, parts[0]
    if len(parts) == 2:
        if first.target not in objects:
            c.issue(
                "T-E140",
                path,
                f"`{parts[0]}` is of type {first.type}, not a lookup: `{source}` cannot follow it",
                did_you_mean(parts[0], [f for f, d in obj.fields.items() if d.target is not None]) or hint,
            )
            return ()
        holder, name = objects[first.target], parts[1]
    field = holder.fields.get(name)
    if field is None:
        c.issue("T-E140", path, f"`{name}` is not a field of {holder.name}", did_you_mean(name, holder.fields) or hint)
        return ()
    if field.value_type not in TEAM_NAME_TYPES or field.encrypted:
        kind = "encrypted" if field.encrypted else f"of type {field.value_type}"
        c.issue("T-E140", path, f"`{holder.name}.{name}` is {kind}: a team is named by a text or picklist field", hint)
        return ()
    return parts


def _check_urgent(c: Compiler, obj: ObjectDef, spec: dict, path: tuple) -> None:
    field = obj.fields.get(spec["field"])
    if field is None or not field.kind.list_valued:
        c.issue(
            "T-E134",
            (*path, "field"),
            f"`{spec['field']}` is not a tags or multipicklist field of {obj.name}",
            did_you_mean(spec["field"], [f for f, d in obj.fields.items() if d.kind.list_valued])
            or "name a tags or multipicklist field",
        )
        return
    if field.picklist is not None and field.picklist.find(spec["tag"]) is None:
        c.issue(
            "T-E134",
            (*path, "tag"),
            f"`{spec['tag']}` is not a value of {obj.name}.{field.name}",
            did_you_mean(spec["tag"], field.picklist.keys()) or "name one of the field's values",
        )


# --- open_when → a condition the database evaluates ----------------------------------------
class _NotCountable(ValueError):
    pass


def _countable(c: Compiler, expression: Any, obj: ObjectDef, path: tuple) -> Condition | None:
    """``open_when`` as a ``Condition`` (T-E139 when the database cannot evaluate it)."""
    try:
        return _condition(expression.tree, obj)
    except _NotCountable as exc:
        c.issue(
            "T-E139",
            path,
            f"open records are counted in the database, which cannot evaluate {exc}",
            "compare fields with constants: `status not in ('won', 'lost')`, `closed == False`, "
            "`amount > 0 and stage != 'lost'`",
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
        raise _NotCountable(
            f"{text or f'`{name}`'} ({name} is {'encrypted' if definition.encrypted else definition.type})"
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
