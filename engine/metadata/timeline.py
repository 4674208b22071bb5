"""The timeline keys of an object (S25): ``timeline``, ``activity`` and ``task``.

``compile_activity`` and ``compile_task`` read one object's block against its
compiled fields (unknown fields T-E111, wrong types T-E112, ``done`` values
T-E114). ``link_timelines`` runs once every object is compiled: it resolves
each ``on`` list (default: every lookup to an object with ``timeline: true``,
else T-E113), reports ``timeline: true`` objects no activity points at (T-E110)
and objects that are both activities and tasks (T-E115).

Pure Python like the rest of ``engine.metadata``; the runtime side is
``engine/runtime/workflow/timeline.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.fieldtypes import FieldType
from engine.metadata.model import ActivityDef, FieldDef, ObjectDef, TaskDef

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler


def _text_line(kind: FieldType) -> bool:
    """Values that read as a line of text (a summary or a subject): text kinds, picklists, autonumbers."""
    return kind.text_match


def _moment(kind: FieldType) -> bool:
    """A date or a date-time."""
    return kind.temporal


def _one_choice(kind: FieldType) -> bool:
    """One value of a picklist."""
    return kind.from_picklist and not kind.list_valued


def _choice_or_flag(kind: FieldType) -> bool:
    """One value of a picklist, or yes/no."""
    return _one_choice(kind) or kind.storage == "boolean"


def _user(kind: FieldType) -> bool:
    """A user."""
    return kind.refers_to_user


def _datetime(kind: FieldType) -> bool:
    """A date-time (a reminder has a time of day)."""
    return kind.storage == "datetime"


#: What each key accepts: (which field types, what to say in the message).
Accepts = tuple[Callable[[FieldType], bool], Words]
_TEXT_LINE = Words("a text or textarea field", "文本或多行文本字段")
ACTIVITY_KEYS: Mapping[str, Accepts] = {
    "at": (_moment, Words("a datetime or date field", "日期时间或日期字段")),
    "kind": (_one_choice, Words("a picklist field", "选项列表字段")),
    "summary": (_text_line, _TEXT_LINE),
}
TASK_KEYS: Mapping[str, Accepts] = {
    "due": (_moment, Words("a date or datetime field", "日期或日期时间字段")),
    "assignee": (_user, Words("owner_id or a user field", " owner_id 或用户字段")),
    "status": (_choice_or_flag, Words("a picklist or boolean field", "选项列表或布尔字段")),
    "remind": (_datetime, Words("a datetime field", "日期时间字段")),
    "subject": (_text_line, _TEXT_LINE),
}


def compile_activity(
    compiler: Compiler, spec: Mapping[str, Any] | None, fields: Mapping[str, FieldDef], path: tuple
) -> ActivityDef | None:
    """The ``activity`` block of one object (its ``on`` is resolved by ``link_timelines``)."""
    if spec is None:
        return None
    path = (*path, "activity")
    ok = all([_check_key(compiler, spec, key, kinds, fields, path) for key, kinds in ACTIVITY_KEYS.items()])
    _check_on(compiler, spec, fields, path)
    if not ok:
        return None
    return ActivityDef(
        at=spec["at"], on=tuple(spec.get("on") or ()), kind=spec.get("kind"), summary=spec.get("summary")
    )


def compile_task(
    compiler: Compiler, spec: Mapping[str, Any] | None, fields: Mapping[str, FieldDef], path: tuple
) -> TaskDef | None:
    """The ``task`` block of one object (its ``on`` is resolved by ``link_timelines``)."""
    if spec is None:
        return None
    path = (*path, "task")
    ok = all([_check_key(compiler, spec, key, kinds, fields, path) for key, kinds in TASK_KEYS.items()])
    _check_on(compiler, spec, fields, path)
    if not ok:
        return None
    done = tuple(spec.get("done") or ())
    if not _check_done(compiler, fields[spec["status"]], done, path):
        return None
    return TaskDef(
        due=spec["due"],
        assignee=spec["assignee"],
        status=spec["status"],
        done=done,
        on=tuple(spec.get("on") or ()),
        remind=spec.get("remind"),
        subject=spec.get("subject"),
    )


def _check_key(
    compiler: Compiler,
    spec: Mapping[str, Any],
    key: str,
    kinds: Accepts,
    fields: Mapping[str, FieldDef],
    path: tuple,
) -> bool:
    name = spec.get(key)
    if name is None or (key == "assignee" and name == "owner_id"):
        return True
    accepts, wanted = kinds
    field = fields.get(name)
    if field is None:
        compiler.issue(
            "T-E111",
            (*path, key),
            Words(f"unknown field `{name}`", f"未知字段 `{name}`"),
            did_you_mean(name, fields) or _name_hint(wanted),
        )
        return False
    if not accepts(field.value_kind):
        compiler.issue(
            "T-E112",
            (*path, key),
            Words(
                f"`{name}` is {_a(field.value_type)} {field.value_type} field; `{key}` needs {wanted.en}",
                f"`{name}` 是 {field.value_type} 字段；`{key}` 需要{wanted.zh}",
            ),
            _name_hint(wanted),
        )
        return False
    return True


def _check_on(compiler: Compiler, spec: Mapping[str, Any], fields: Mapping[str, FieldDef], path: tuple) -> None:
    lookups = [f.name for f in fields.values() if f.target is not None]
    for index, name in enumerate(spec.get("on") or ()):
        field = fields.get(name)
        if field is None:
            compiler.issue(
                "T-E111",
                (*path, "on", index),
                Words(f"unknown field `{name}`", f"未知字段 `{name}`"),
                did_you_mean(name, lookups) or _LOOKUPS_HINT,
            )
        elif field.target is None:
            compiler.issue(
                "T-E112",
                (*path, "on", index),
                Words(
                    f"`{name}` is {_a(field.type)} {field.type} field; `on` lists lookup fields",
                    f"`{name}` 是 {field.type} 字段；`on` 只列查找字段",
                ),
                _LOOKUPS_HINT,
            )


def _check_done(compiler: Compiler, status: FieldDef, done: tuple[str, ...], path: tuple) -> bool:
    if status.picklist is None:  # a boolean (TASK_KEYS)
        if done:
            compiler.issue(
                "T-E114",
                (*path, "done"),
                Words(
                    f"`{status.name}` is a boolean field: a task is done when it is true",
                    f"`{status.name}` 是布尔字段：值为 true 时任务即完成",
                ),
                Words("remove `done:`", "删除 `done:`"),
                key=True,
            )
            return False
        return True
    if not done:
        compiler.issue(
            "T-E114",
            path,
            Words(
                f"say which values of `{status.name}` close a task", f"请说明 `{status.name}` 的哪些值表示任务已关闭"
            ),
            Words("add e.g. `done: [done, cancelled]`", "例如加上 `done: [done, cancelled]`"),
        )
        return False
    keys = status.picklist.keys() if status.picklist else frozenset()
    for index, value in enumerate(done):
        if value not in keys:
            compiler.issue(
                "T-E114",
                (*path, "done", index),
                Words(f"`{value}` is not a value of `{status.name}`", f"`{value}` 不是 `{status.name}` 的值"),
                did_you_mean(value, keys)
                or Words(f"values: {', '.join(sorted(keys))}", f"可用的值：{', '.join(sorted(keys))}"),
            )
            return False
    return True


def link_timelines(compiler: Compiler, objects: dict[str, ObjectDef], specs: Mapping[str, Any]) -> dict[str, ObjectDef]:
    """Resolve each activity's and task's ``on`` and check the objects against each other."""
    timelines = {name for name, obj in objects.items() if obj.timeline}
    linked = dict(objects)
    # An activity block with a mistake (already reported) still attaches through its lookups.
    attached = {
        f.target
        for name, obj in objects.items()
        if "activity" in (specs.get(name) or {}) and obj.activity is None
        for f in obj.fields.values()
        if f.target is not None
    }
    for name, obj in objects.items():
        path = ("objects", name)
        if obj.activity is not None and obj.task is not None:
            compiler.issue(
                "T-E115",
                (*path, "task"),
                Words(
                    f"`{name}` is already an activity; an object is an activity or a task, not both",
                    f"`{name}` 已是活动；一个对象只能是活动或任务，不能两者都是",
                ),
                Words("keep `activity:` or `task:`", "只保留 `activity:` 或 `task:` 之一"),
                key=True,
            )
        if obj.activity is not None:
            on = _resolve_on(compiler, obj, obj.activity.on, timelines, (*path, "activity"))
            valid = len(on) == len(obj.activity.on) or not obj.activity.on  # else reported already
            attached |= {f.target for f in obj.fields.values() if f.target is not None and (f.name in on or not valid)}
            linked[name] = replace(linked[name], activity=replace(obj.activity, on=on))
        if obj.task is not None:
            on = _resolve_on(compiler, obj, obj.task.on, timelines, (*path, "task"))
            linked[name] = replace(linked[name], task=replace(obj.task, on=on))
    for name in sorted(timelines - attached):
        compiler.issue(
            "T-E110",
            ("objects", name, "timeline"),
            Words(
                f"`{name}` has `timeline: true` but no activity object points at it",
                f"`{name}` 设置了 `timeline: true`，但没有活动对象指向它",
            ),
            Words(
                "give an object with `activity:` a lookup to it (e.g. interaction.account), or remove `timeline:`",
                "为带 `activity:` 的对象加上指向它的查找字段（例如 interaction.account），或删除 `timeline:`",
            ),
        )
    return linked


def _resolve_on(
    compiler: Compiler, obj: ObjectDef, declared: tuple[str, ...], timelines: set[str], path: tuple
) -> tuple[str, ...]:
    lookups = [f for f in obj.fields.values() if f.target is not None]
    if not declared:
        on = tuple(f.name for f in lookups if f.target in timelines)
        if not on:
            compiler.issue(
                "T-E113",
                path,
                Words(
                    f"`{obj.name}` has no lookup to an object with `timeline: true`",
                    f"`{obj.name}` 没有指向 `timeline: true` 对象的查找字段",
                ),
                Words(
                    "add a lookup to such an object, or `timeline: true` to the object a lookup points at",
                    "加上指向这类对象的查找字段，或为某个查找字段所指的对象加上 `timeline: true`",
                ),
                key=True,
            )
        return on
    found: list[str] = []
    for index, name in enumerate(declared):
        field = obj.fields.get(name)
        if field is None or field.target is None:
            continue  # reported by _check_on
        if field.target not in timelines:
            compiler.issue(
                "T-E113",
                (*path, "on", index),
                Words(
                    f"`{name}` points at `{field.target}`, which has no `timeline: true`",
                    f"`{name}` 指向 `{field.target}`，而它没有 `timeline: true`",
                ),
                Words(f"add `timeline: true` to `{field.target}`", f"为 `{field.target}` 加上 `timeline: true`"),
            )
            continue
        found.append(name)
    return tuple(found)


#: The hint of an ``on`` entry that is no lookup.
_LOOKUPS_HINT = Words("name lookup fields of this object", "请指定该对象的查找字段")


def _name_hint(wanted: Words) -> Words:
    return Words(f"name {wanted.en} of this object", f"请指定该对象的{wanted.zh}")


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
