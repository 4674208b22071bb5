"""Compiling ``approvals:`` (S18, S21, S33) into ``ApprovalRule`` values.

Checks, each with its code: the object exists (T-E030), the trigger's fields
exist (T-E032), ``stage_skip`` is only used on objects with a pipeline (T-E090),
a rule names its approver in exactly one way (T-E091), a role or user approver
names a declared role (T-E080-style, T-E092), ``applies_to`` is only given to
``change`` rules (T-E094), and rule names are unique (T-E060).
A pipeline's ``skip.approval`` shorthand becomes a ``stage_skip`` rule named
``<object>_stage_skip``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.model import ApprovalRule, ApprovalStep, Approver, Label, ObjectDef

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

TRIGGERS = ("stage_skip", "delete")
#: The writes a ``change`` rule may guard (``applies_to``).
WRITES = ("create", "update")

#: The label of an approval step the config does not name.
APPROVAL = {"en": "Approval", "zh": "审批"}


def compile_approvals(
    compiler: Compiler, specs: list, objects: dict[str, ObjectDef], role_names: set[str], objects_spec: dict
) -> tuple[ApprovalRule, ...]:
    """Every approval rule: those declared under ``approvals`` and the pipelines' ``skip.approval``."""
    rules: list[ApprovalRule] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        path: tuple = ("approvals", index)
        name = spec.get("name")
        if name in seen:
            compiler.issue(
                "T-E060",
                path,
                Words(
                    f"approval `{name}` is declared twice (also approvals[{seen[name]}])",
                    f"审批 `{name}` 声明了两次（另见 approvals[{seen[name]}]）",
                ),
                Words("rename one of them", "请将其中一个改名"),
            )
        seen[name] = index
        rule = _compile_rule(compiler, spec, path, objects, role_names)
        if rule is not None:
            rules.append(rule)
    for object_name, obj in objects.items():
        skip_spec = ((objects_spec.get(object_name) or {}).get("pipeline") or {}).get("skip") or {}
        if obj.pipeline is None or "approval" not in skip_spec:
            continue
        path = ("objects", object_name, "pipeline", "skip", "approval")
        name = f"{object_name}_stage_skip"
        if name in seen:
            compiler.issue(
                "T-E060",
                path,
                Words(
                    f"approval `{name}` is declared under `approvals` too", f"审批 `{name}` 在 `approvals` 下也声明了"
                ),
                Words("keep one of them", "请只保留其中一个"),
            )
            continue
        approver = _approver(compiler, skip_spec["approval"], path, role_names)
        if approver is not None:
            rules.append(
                ApprovalRule(
                    name=name,
                    object=object_name,
                    trigger="stage_skip",
                    label=Label.of(
                        None,
                        {
                            "en": f"Skipping {obj.pipeline.label.get('en').lower()} stages",
                            "zh": f"跳过{obj.pipeline.label.get('zh')}阶段",
                        },
                    ),
                    steps=(ApprovalStep(approver=approver, label=Label.of(None, APPROVAL)),),
                )
            )
    return tuple(rules)


def _compile_rule(
    compiler: Compiler, spec: dict, path: tuple, objects: dict[str, ObjectDef], role_names: set[str]
) -> ApprovalRule | None:
    object_name = spec.get("object")
    if not isinstance(object_name, str) or object_name not in objects:  # the schema allows no `object`
        compiler.issue(
            "T-E030",
            (*path, "object"),
            Words(f"unknown object `{object_name}`", f"未知对象 `{object_name}`"),
            did_you_mean(object_name, objects)
            or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
        )
        return None
    obj = objects[object_name]
    trigger_spec = spec.get("on")
    trigger: str
    fields: tuple[str, ...] = ()
    if isinstance(trigger_spec, dict):
        trigger = "change"
        fields = tuple(trigger_spec.get("change") or ())
        for f_index, name in enumerate(fields):
            if name not in obj.fields:
                compiler.issue(
                    "T-E032",
                    (*path, "on", "change", f_index),
                    Words(f"unknown field `{name}` of {object_name}", f"{object_name} 没有字段 `{name}`"),
                    did_you_mean(name, obj.fields) or Words("list fields of the object", "请列出该对象的字段"),
                )
    else:
        trigger = str(trigger_spec)  # the schema requires `on`: one of its names here
        if trigger == "stage_skip" and obj.pipeline is None:
            compiler.issue(
                "T-E090",
                (*path, "on"),
                Words(
                    f"`stage_skip` needs a pipeline, and {object_name} has none",
                    f"`stage_skip` 需要销售管道，而 {object_name} 没有",
                ),
                Words(
                    "add a `pipeline:` to the object or use `on: {change: [fields]}`",
                    "请给该对象加上 `pipeline:`，或改用 `on: {change: [fields]}`",
                ),
            )
    applies_to = _applies_to(compiler, spec, path, trigger)
    names = set(obj.fields)
    when = compiler.expression(spec["when"], (*path, "when"), names) if spec.get("when") else None
    steps = _steps(compiler, spec, path, role_names)
    if steps is None:
        return None
    return ApprovalRule(
        name=spec["name"],
        object=object_name,
        label=Label.of(spec.get("label"), spec["name"].replace("_", " ").capitalize()),
        trigger=trigger,
        steps=steps,
        fields=fields,
        when=when,
        self_approval=bool(spec.get("self_approval", False)),
        separate_steps=bool(spec.get("separate_steps", True)),
        applies_to=applies_to,
    )


def _applies_to(compiler: Compiler, spec: dict, path: tuple, trigger: str | None) -> tuple[str, ...]:
    """The writes a ``change`` rule guards (default both); other triggers name their write already."""
    given = spec.get("applies_to")
    if given is None:
        return WRITES
    if trigger != "change":
        compiler.issue(
            "T-E094",
            (*path, "applies_to"),
            Words(
                f"`applies_to` is for `on: {{change: [fields]}}` rules, and this rule is on `{trigger}`",
                f"`applies_to` 只用于 `on: {{change: [fields]}}` 规则，而此规则是 `{trigger}`",
            ),
            Words("remove `applies_to`, or guard field changes", "请删除 `applies_to`，或改为审批字段变更"),
        )
        return WRITES
    chosen = (given,) if isinstance(given, str) else tuple(given)
    return tuple(w for w in WRITES if w in chosen)


def _steps(compiler: Compiler, spec: dict, path: tuple, role_names: set[str]) -> tuple[ApprovalStep, ...] | None:
    if ("approver" in spec) == ("steps" in spec):
        compiler.issue(
            "T-E091",
            path,
            Words(
                "an approval names its approver either with `approver:` (one step) "
                "or with `steps:` (several), not both and not neither",
                "审批须用 `approver:`（一步）或 `steps:`（多步）二者之一指定审批人，不能都写，也不能都不写",
            ),
            Words(
                "e.g. `approver: manager` or `steps: [{approver: manager}, {approver: {role: executive}}]`",
                "例如 `approver: manager` 或 `steps: [{approver: manager}, {approver: {role: executive}}]`",
            ),
        )
        return None
    if "approver" in spec:
        approver = _approver(compiler, spec["approver"], (*path, "approver"), role_names)
        return (ApprovalStep(approver, Label.of(None, APPROVAL)),) if approver else None
    steps = []
    for index, step in enumerate(spec.get("steps") or []):
        approver = _approver(compiler, step.get("approver"), (*path, "steps", index, "approver"), role_names)
        if approver is not None:
            default = {"en": f"Step {index + 1}", "zh": f"第 {index + 1} 步"}
            steps.append(ApprovalStep(approver, Label.of(step.get("label"), default)))
    return tuple(steps) or None


def _approver(compiler: Compiler, spec, path: tuple, role_names: set[str]) -> Approver | None:
    if spec == "manager":
        return Approver("manager")
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, value),) = spec.items()
        if kind == "manager":
            return Approver("manager", levels=int(value))
        if kind == "role":
            if value not in role_names:
                compiler.issue(
                    "T-E092",
                    (*path, "role"),
                    Words(f"unknown role `{value}`", f"未知角色 `{value}`"),
                    did_you_mean(value, role_names)
                    or Words("name a role declared under `roles`", "请指定在 `roles` 下声明的角色"),
                )
                return None
            return Approver("role", name=value)
        if kind == "user":
            return Approver("user", name=str(value))
    compiler.issue(
        "T-E091",
        path,
        Words(
            "an approver is `manager`, `{manager: N}`, `{role: NAME}` or `{user: USERNAME}`",
            "审批人可写 `manager`、`{manager: N}`、`{role: NAME}` 或 `{user: USERNAME}`",
        ),
        Words("e.g. `approver: {role: sales_manager}`", "例如 `approver: {role: sales_manager}`"),
    )
    return None
