"""Checks across sections, run once the model is built: what each part allows on its own
but the whole config makes impossible, or declares for nothing.

- T-E244: an approval's approver role can never read the records it is asked to approve
  (no read on the object, a narrower read than the requesters' write, or ``own`` read
  while the requester may not approve their own request), or lacks the ``approve``
  permission (S33: the request would wait for ever);
- T-E245: a pipeline stage no record can reach from the first stage (``next`` lists with
  skipping not allowed);
- T-E246: a stage requires a field that every role able to edit the object has hidden or
  read-only (nobody can fill it, so nobody can move the record there through the UI or API);
- T-E241: a template reads a field (``{{ record.amuont }}``) the object of a rule that
  sends it with ``notify`` does not have;
- T-W001: a shared picklist no field uses;
- T-W002: a role that grants nothing (no object, no permission) and no role inherits from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.metadata import templating
from engine.metadata.errors import IssueSink, Words, did_you_mean
from engine.metadata.model import (
    ACCESS_LEVELS,
    NO_GRANT,
    SYSTEM_COLUMNS,
    ApprovalRule,
    Automation,
    MessageTemplate,
    ObjectDef,
    Picklist,
    Pipeline,
    Role,
)

#: The grant a requester uses to submit each kind of approval.
_WRITE = {"delete": "delete", "change": "edit", "stage_skip": "edit"}


def check_consistency(
    sink: IssueSink,
    tree: Mapping[str, Any],
    objects: Mapping[str, ObjectDef],
    roles: Mapping[str, Role],
    approvals: tuple[ApprovalRule, ...],
    picklists: Mapping[str, Picklist],
    automations: tuple[Automation, ...] = (),
    templates: Mapping[str, MessageTemplate] | None = None,
) -> None:
    """Every check of this module (the compiler runs it when the parts compiled)."""
    check_template_fields(sink, automations, templates or {}, objects)
    approval_paths = _approval_paths(tree, approvals)
    for rule in approvals:
        check_approval(sink, rule, objects, roles, approval_paths.get(rule.name, ("approvals",)))
    for name, obj in objects.items():
        if obj.pipeline is not None:
            check_reachable(sink, name, obj.pipeline)
            check_gates(sink, obj, roles)
    warn_unused(sink, tree, objects, roles, picklists)


def _approval_paths(tree: Mapping[str, Any], approvals: tuple[ApprovalRule, ...]) -> dict[str, tuple]:
    paths: dict[str, tuple] = {}
    for index, spec in enumerate(tree.get("approvals") or []):
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            paths.setdefault(spec["name"], ("approvals", index))
    for rule in approvals:
        if rule.name not in paths and rule.trigger == "stage_skip":
            paths[rule.name] = ("objects", rule.object, "pipeline", "skip", "approval")
    return paths


def check_approval(
    sink: IssueSink, rule: ApprovalRule, objects: Mapping[str, ObjectDef], roles: Mapping[str, Role], path: tuple
) -> None:
    """T-E244: each role approver of ``rule`` can decide it and read the records it is asked about."""
    obj = objects.get(rule.object)
    if obj is None:
        return
    write = _WRITE.get(rule.trigger, "edit")
    requesters = {
        name: getattr(role.grant(rule.object), write)
        for name, role in roles.items()
        if getattr(role.grant(rule.object), write) != "none"
    }
    widest = max(requesters.values(), key=ACCESS_LEVELS.index, default="none")
    label, label_zh = obj.label.get("en"), _amid_chinese(obj.label.get("zh"))
    for index, step in enumerate(rule.steps):
        role = roles.get(step.approver.name or "") if step.approver.kind == "role" else None
        if role is None:
            continue
        where = (*path, "approver") if len(rule.steps) == 1 and path[0] == "approvals" else path
        where = (*path, "steps", index, "approver") if len(rule.steps) > 1 else where
        read = role.grant(rule.object).read
        hint = Words(
            f"give `{role.name}` `read: {widest}` (or wider) on {rule.object}, or choose an approver who has it",
            f"请给 `{role.name}` 在 {rule.object} 上 `read: {widest}`（或更宽）的权限，或选择有此权限的审批人",
        )
        if "approve" not in role.permissions:
            sink.issue(
                "T-E244",
                where,
                Words(
                    f"approver role `{role.name}` lacks the `approve` permission: nobody can decide the request",
                    f"审批人角色 `{role.name}` 没有 `approve` 权限：没有人能处理该审批请求",
                ),
                Words(
                    f"add `approve` to the permissions of `{role.name}`, or choose another approver",
                    f"请在 `{role.name}` 的权限中加上 `approve`，或选择其他审批人",
                ),
            )
        elif read == "none":
            sink.issue(
                "T-E244",
                where,
                Words(
                    f"approver role `{role.name}` cannot read any {label} record, so it can never decide a request",
                    f"审批人角色 `{role.name}` 无法读取任何{label_zh}记录，因此永远无法处理审批请求",
                ),
                hint,
            )
        elif ACCESS_LEVELS.index(read) < ACCESS_LEVELS.index(widest):
            wider = ", ".join(f"{name} ({scope})" for name, scope in requesters.items() if scope == widest)
            sink.issue(
                "T-E244",
                where,
                Words(
                    f"approver role `{role.name}` reads `{read}` {label} records, and {wider} may submit requests "
                    f"about records it cannot read: they would wait for ever",
                    f"审批人角色 `{role.name}` 只能读取 `{read}` 范围的{label_zh}记录，而 {wider} 可能就它读不到的"
                    f"记录提交审批请求：这些请求将永远等待",
                ),
                hint,
            )
        elif read == "own" and not rule.self_approval:
            sink.issue(
                "T-E244",
                where,
                Words(
                    f"approver role `{role.name}` reads only its own {label} records, and may not approve its own "
                    "requests: a request by someone else is about a record it cannot read",
                    f"审批人角色 `{role.name}` 只能读取自己的{label_zh}记录，又不能审批自己的请求："
                    "别人提交的请求涉及它读不到的记录",
                ),
                Words(
                    f"give `{role.name}` `read: team` or wider on {rule.object}, or choose another approver",
                    f"请给 `{role.name}` 在 {rule.object} 上 `read: team` 或更宽的权限，或选择其他审批人",
                ),
            )


def _amid_chinese(word: str) -> str:
    """``word`` to stand between Chinese words: spaced where it begins or ends in Latin letters
    (``任何 Opportunity 记录``), as it is when it is Chinese (``任何商机记录``)."""
    if not word:
        return word
    return f"{' ' if word[0].isascii() else ''}{word}{' ' if word[-1].isascii() else ''}"


def reachable_stages(pipeline: Pipeline, start: str) -> set[str]:
    """The stages a record can reach from ``start`` by the moves the runtime allows
    (engine/runtime/workflow/pipeline.py): the next stage (or ``next``), every later one when
    skipping is allowed, earlier ones when going ``back`` is, lost ones from any open stage,
    and any stage from a closed one unless ``reopen: never``."""
    main = [s.key for s in pipeline.main_line]
    lost = [s.key for s in pipeline.stages if s.outcome == "lost"]
    seen, todo = {start}, [start]
    while todo:
        stage = pipeline.stage(todo.pop())
        if stage is None:
            continue
        moves: list[str] = []
        if stage.is_closed:
            moves = [s.key for s in pipeline.stages] if pipeline.reopen != "never" else []
        else:
            moves += lost
            position = main.index(stage.key) if stage.key in main else None
            if position is not None:
                moves += list(stage.next) or main[position + 1 : position + 2]
                if pipeline.skip.allowed:
                    moves += main[position + 1 :]
                if pipeline.back:
                    moves += main[:position]
        for key in moves:
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return seen


def check_reachable(sink: IssueSink, object_name: str, pipeline: Pipeline) -> None:
    """T-E245: every stage of each of the object's pipelines is reachable from its first stage."""
    base = ("objects", object_name, "pipeline")
    for variant in (pipeline, *(pipeline.variant(v.key) for v in pipeline.variants)):
        if not variant.stages:
            continue
        reached = reachable_stages(variant, variant.stages[0].key)
        path = base if variant.key == pipeline.key else (*base, "pipelines", variant.key)
        for index, stage in enumerate(variant.stages):
            if stage.key in reached:
                continue
            sink.issue(
                "T-E245",
                (*path, "stages", index),
                Words(
                    f"stage `{stage.key}` cannot be reached from `{variant.stages[0].key}`: no stage's `next` leads "
                    "there and skipping stages is not allowed",
                    f"从 `{variant.stages[0].key}` 无法到达阶段 `{stage.key}`：没有哪个阶段的 `next` 通向它，"
                    "且不允许跳过阶段",
                ),
                Words(
                    f"add `{stage.key}` to the `next` of a stage before it, or allow `skip`",
                    f"请把 `{stage.key}` 加到它之前某个阶段的 `next` 中，或允许 `skip`",
                ),
            )


def check_gates(sink: IssueSink, obj: ObjectDef, roles: Mapping[str, Role]) -> None:
    """T-E246: a field a stage ``requires`` is editable by at least one role that edits the object."""
    assert obj.pipeline is not None
    editors = [role for role in roles.values() if role.grant(obj.name).edit != "none"]
    if not editors:
        return  # nobody edits the object by hand: automation and imports fill it
    for index, stage in enumerate(obj.pipeline.stages):
        for r, name in enumerate(stage.requires):
            field = obj.fields.get(name)
            if field is None or field.is_computed:
                continue
            if all((obj.name, name) in role.hidden or (obj.name, name) in role.read_only for role in editors):
                sink.issue(
                    "T-E246",
                    ("objects", obj.name, "pipeline", "stages", index, "requires", r),
                    Words(
                        f"stage `{stage.key}` requires `{name}`, which every role that edits {obj.name} has hidden "
                        f"or read-only ({', '.join(role.name for role in editors)}): no record can reach the stage",
                        f"阶段 `{stage.key}` 要求填写 `{name}`，但每个能编辑 {obj.name} 的角色"
                        f"（{', '.join(role.name for role in editors)}）都看不到或只能查看它：没有记录能进入该阶段",
                    ),
                    Words(
                        f"let one of those roles edit `{obj.name}.{name}`, or do not require it here",
                        f"请让其中一个角色可以编辑 `{obj.name}.{name}`，或不在此阶段要求它",
                    ),
                )


def warn_unused(
    sink: IssueSink,
    tree: Mapping[str, Any],
    objects: Mapping[str, ObjectDef],
    roles: Mapping[str, Role],
    picklists: Mapping[str, Picklist],
) -> None:
    """T-W001 (a picklist no field uses) and T-W002 (a role that grants nothing)."""
    used = {f.picklist.name for obj in objects.values() for f in obj.fields.values() if f.picklist is not None}
    for name in picklists:
        if name not in used:
            sink.warn(
                "T-W001",
                ("picklists", name),
                Words(f"picklist `{name}` is not used by any field", f"选项列表 `{name}` 没有被任何字段使用"),
                Words(
                    f"use it with `picklist: {name}` on a field, or remove it",
                    f"请在某个字段上用 `picklist: {name}` 使用它，或删除它",
                ),
                key=True,
            )
    role_specs = tree.get("roles") or {}
    inherited = set()
    for spec in role_specs.values():
        parents = spec.get("inherits") if isinstance(spec, Mapping) else None
        inherited |= {parents} if isinstance(parents, str) else set(parents or ())
    for name, role in roles.items():
        if name in inherited or role.permissions or any(g != NO_GRANT for g in role.grants.values()):
            continue
        sink.warn(
            "T-W002",
            ("roles", name),
            Words(
                f"role `{name}` grants nothing: no object and no permission, so a user holding it can do nothing",
                f"角色 `{name}` 没有授予任何权限：没有对象，也没有权限项，拥有它的用户什么也做不了",
            ),
            Words(
                "give it `objects:` or `permissions:`, or remove it",
                "请给它加上 `objects:` 或 `permissions:`，或删除它",
            ),
            key=True,
        )


def check_template_fields(
    sink: IssueSink,
    automations: tuple[Automation, ...],
    templates: Mapping[str, MessageTemplate],
    objects: Mapping[str, ObjectDef],
) -> None:
    """T-E241: the ``record.X`` a template reads are fields of each object a rule sends it for."""
    reported: set[tuple] = set()
    for rule in automations:
        obj = objects.get(rule.object or "")
        if obj is None:
            continue
        known = {*obj.fields, *SYSTEM_COLUMNS, "raw"}
        for action in rule.actions:
            template = templates.get(action.template or "") if action.kind == "notify" else None
            if template is None:
                continue
            texts: list[tuple[tuple[str, ...], str, str]] = [
                (("templates", template.name), template.subject, template.body)
            ]
            texts += [
                (("templates", template.name, "languages", lang), subject, body)
                for lang, (subject, body) in template.languages.items()
            ]
            for where, subject, body in texts:
                for key, source in (("subject", subject), ("body", body)):
                    for name in sorted(_record_keys(source) - known):
                        if (where, key, obj.name, name) in reported:
                            continue
                        reported.add((where, key, obj.name, name))
                        sink.issue(
                            "T-E241",
                            (*where, key),
                            Words(
                                f"`record.{name}`: {obj.name} has no field `{name}` (rule `{rule.name}` sends this "
                                f"template for {obj.name} records)",
                                f"`record.{name}`：{obj.name} 没有字段 `{name}`（规则 `{rule.name}` 为 {obj.name} "
                                "记录发送此模板）",
                            ),
                            did_you_mean(name, obj.fields)
                            or Words(f"name a field of {obj.name}", f"请指定 {obj.name} 的字段"),
                        )


def _record_keys(source: str) -> set[str]:
    """The keys ``source`` reads of ``record`` (none when it does not parse or reads it whole)."""
    try:
        return set(templating.keys_read(source, "record") or ())
    except Exception:  # noqa: BLE001 - a template that does not parse is T-E128 already
        return set()
