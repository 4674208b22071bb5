"""Compiling ``automations:`` and ``templates:`` into ``Automation`` and ``MessageTemplate`` values.

Every reference is checked when the config loads, each with its code:
T-E030 an unknown object, T-E032 an unknown field, T-E120 an unknown or
malformed trigger, T-E121 a schedule's ``from`` that is not a date or datetime
field, T-E122 a duration that does not parse, T-E123 an unknown template,
T-E124 a malformed action, T-E125 an action on a field of the wrong type,
T-E126 a cron expression that does not parse, T-E127 an unknown assignment
rule or conversion, T-E128 a template that does not parse; expressions as
everywhere (T-E040…T-E042). Values of ``set`` and ``create`` are literals or,
starting with ``=``, expressions over the triggering record; on updates
``old['field']`` is the value before the change.

Each trigger and action kind compiles its own part of a rule (one registered object per
kind: ``automation_triggers.TRIGGERS``, ``automation_actions.ACTIONS``); this module holds
the rule around them — its object, ``when``, the names expressions see — and the checks the
kinds share (``RuleCompiler``), and lets the JSON Schema accept the registered kinds (``with_kinds``).
"""

from __future__ import annotations

import ast
import copy
from typing import TYPE_CHECKING, Any

from engine.metadata import fieldtypes
from engine.metadata.automation_actions import ACTIONS
from engine.metadata.automation_triggers import TRIGGERS, bare_names, mapped_names, parse_duration
from engine.metadata.errors import Text, Words, did_you_mean
from engine.metadata.model import (
    SYSTEM_COLUMNS,
    Action,
    Automation,
    Label,
    MessageTemplate,
    ObjectDef,
    Trigger,
    frozen_map,
)

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

__all__ = ["RuleCompiler", "compile_automations", "compile_templates", "parse_duration", "with_kinds"]


def with_kinds(schema: dict) -> dict:
    """``schema`` (the language's JSON Schema) with the trigger and action kinds registered now:
    schema.json lists the built-in ones for editors; a kind registered since (a plug-in) is
    accepted too, its value checked by its ``schema`` (triggers) and by its ``compile``."""
    out = copy.deepcopy(schema)
    rule = out["$defs"]["automation"]["properties"]
    bare, mapped = rule["on"]["oneOf"]
    bare["enum"] = list(bare_names())
    mapped["properties"] = {
        kind.name: mapped["properties"].get(kind.name, dict(kind.schema or {})) for kind in TRIGGERS if not kind.bare
    }
    rule["do"]["items"]["propertyNames"]["enum"] = list(ACTIONS.names())
    return out


def compile_templates(compiler: Compiler, specs: dict, languages: tuple[str, ...]) -> dict[str, MessageTemplate]:
    """``templates:``: name → subject and body, and per-language variants of them (Jinja,
    checked for syntax, T-E128; for limits any rendering exceeds, T-E129; for unknown filters,
    T-E242, and tags that load other templates, T-E243; a variant's language must be one of
    ``settings.languages``, T-E128). Fields a template reads are checked where a rule uses it
    (``consistency.check_template_fields``, T-E241)."""
    import jinja2

    from engine.metadata import templating

    out = {}
    for name, spec in specs.items():
        path = ("templates", name)
        variants = {lang: (variant or {}) for lang, variant in (spec.get("languages") or {}).items()}
        for where, texts in ((path, spec), *(((*path, "languages", lang), v) for lang, v in variants.items())):
            for key in ("subject", "body"):
                try:
                    static = templating.static_problems(texts.get(key) or "")
                    for code, message, hint in static:
                        compiler.issue(code, (*where, key), message, hint)
                    if static:
                        continue
                    problem = templating.limit_problem(texts.get(key) or "")
                except jinja2.TemplateSyntaxError as exc:
                    compiler.issue(
                        "T-E128",
                        (*where, key),
                        Words(
                            f"the template does not parse: {exc.message} (line {exc.lineno})",
                            f"模板无法解析：{exc.message}（第 {exc.lineno} 行）",
                        ),
                        Words("write Jinja, e.g. {{ record.name }}", "请使用 Jinja 语法，例如 {{ record.name }}"),
                    )
                    continue
                if problem:
                    compiler.issue(
                        "T-E129",
                        (*where, key),
                        Words("the template exceeds a limit: ", "模板超出限制：") + problem,
                        Words(
                            f"loops may run {templating.MAX_RANGE:,} times, "
                            f"text may have {templating.MAX_OUTPUT:,} characters",
                            f"循环最多运行 {templating.MAX_RANGE:,} 次，文本最多 {templating.MAX_OUTPUT:,} 个字符",
                        ),
                    )
        for lang in variants:
            if lang not in languages:
                compiler.issue(
                    "T-E128",
                    (*path, "languages", lang),
                    Words(
                        f"`{lang}` is not one of the languages in settings.languages",
                        f"`{lang}` 不在 settings.languages 所列的语言中",
                    ),
                    Words(
                        f"write one of: {', '.join(sorted(languages))}",
                        f"请写其中之一：{', '.join(sorted(languages))}",
                    ),
                )
        out[name] = MessageTemplate(
            name=name,
            subject=spec.get("subject") or "",
            body=spec.get("body") or "",
            languages=frozen_map({lang: (v.get("subject") or "", v.get("body") or "") for lang, v in variants.items()}),
        )
    return out


def compile_automations(
    compiler: Compiler,
    specs: list,
    objects: dict[str, ObjectDef],
    templates: dict,
    assignment_rules: set[str],
    conversions: set[str],
    roles: set[str],
) -> tuple[Automation, ...]:
    """Every rule of ``automations:``; names are unique (T-E060)."""
    seen: dict[str, int] = {}
    rules = []
    for index, spec in enumerate(specs):
        path = ("automations", index)
        name = spec.get("name")
        if name in seen:
            compiler.issue(
                "T-E060",
                path,
                Words(
                    f"automation `{name}` is declared twice (also automations[{seen[name]}])",
                    f"自动化 `{name}` 声明了两次（另见 automations[{seen[name]}]）",
                ),
                Words("rename one of them", "请将其中一个改名"),
            )
        seen[name] = index
        rule = RuleCompiler(compiler, spec, path, objects, templates, assignment_rules, conversions, roles).compile()
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


class RuleCompiler:
    """Compiles one rule of ``automations:``; the trigger and action kinds (``TRIGGERS``,
    ``ACTIONS``) compile their part of it with the helpers here."""

    def __init__(
        self,
        compiler: Compiler,
        spec: dict,
        path: tuple,
        objects: dict[str, ObjectDef],
        templates: dict,
        assignment_rules: set[str],
        conversions: set[str],
        roles: set[str],
    ) -> None:
        self.c, self.spec, self.path, self.objects = compiler, spec, path, objects
        self.templates, self.assignment_rules, self.conversions, self.roles = (
            templates,
            assignment_rules,
            conversions,
            roles,
        )
        self.obj: ObjectDef | None = None

    def issue(self, code: str, where: tuple, message: Text, hint: Text | None = None) -> None:
        """Report a problem at ``where`` inside the rule."""
        self.c.issue(code, (*self.path, *where), message, hint)

    def record_object(self) -> ObjectDef:
        """The rule's object, for an action on its record (``action`` refuses those without one)."""
        if self.obj is None:
            raise AssertionError("an action on the record of a rule without `object:`")
        return self.obj

    def compile(self) -> Automation | None:
        """The rule, or None when its object or trigger is wrong (reported)."""
        object_name = self.spec.get("object")
        if object_name is not None:
            self.obj = self.objects.get(object_name)
            if self.obj is None:
                self.issue(
                    "T-E030",
                    ("object",),
                    Words(f"unknown object `{object_name}`", f"未知对象 `{object_name}`"),
                    did_you_mean(object_name, self.objects)
                    or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
                )
                return None
        trigger = self.trigger(self.spec.get("on"))
        if trigger is None:
            return None
        kind = TRIGGERS[trigger.kind]
        if self.obj is None and kind.needs_object:
            self.issue(
                "T-E012",
                (),
                Words(
                    "a rule needs `object:` (only `cron` rules may go without one)",
                    "规则需要 `object:`（只有 `cron` 规则可以不写）",
                ),
                Words("add e.g. `object: lead`", "请加上，例如 `object: lead`"),
            )
            return None
        names = self.names(with_old=kind.sees_old) | kind.names
        when = self.expression(self.spec["when"], ("when",), names) if self.spec.get("when") else None
        actions = [self.action(a, ("do", i), names) for i, a in enumerate(self.spec.get("do") or [])]
        if not actions:
            self.issue(
                "T-E012",
                ("do",),
                Words("a rule needs at least one action under `do:`", "规则在 `do:` 下至少需要一个动作"),
                Words("e.g. `do: [{archive: true}]`", "例如 `do: [{archive: true}]`"),
            )
        return Automation(
            name=self.spec["name"],
            object=object_name,
            label=Label.of(self.spec.get("label"), self.spec["name"].replace("_", " ").capitalize()),
            trigger=trigger,
            actions=tuple(a for a in actions if a is not None),
            when=when,
            blocking=bool(self.spec.get("blocking", False)),
        )

    def trigger(self, spec: Any) -> Trigger | None:
        """``on:``, compiled by its kind (T-E120 for an unknown one)."""
        bare, mapped = bare_names(), mapped_names()
        if isinstance(spec, str) and spec in bare:
            return TRIGGERS[spec].compile(self, None, ("on",))
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in mapped:
            self.issue(
                "T-E120",
                ("on",),
                Words(f"unknown trigger {spec!r}", f"未知触发条件 {spec!r}"),
                Words(
                    f"one of {', '.join(bare)} or a mapping with one of {', '.join(mapped)}",
                    f"请写 {', '.join(bare)} 之一，或以 {', '.join(mapped)} 之一为键的映射",
                ),
            )
            return None
        ((kind, value),) = spec.items()
        return TRIGGERS[kind].compile(self, value, ("on", kind))

    def field_kind(self, name: str) -> str | None:
        """The type of the rule object's field ``name`` (a formula's result type; system date-times
        are ``datetime``), None when there is no such field."""
        if self.obj is None:
            return None
        if (
            name in ("created_at", "updated_at", "archived_at")
            or (name == "stage_entered_at" and self.obj.pipeline)
            or (name == "last_activity_at" and self.obj.timeline)
        ):  # only objects with them have these columns
            return "datetime"
        field = self.obj.fields.get(name)
        return None if field is None else field.value_type

    def field_type(self, name: str) -> fieldtypes.FieldType | None:
        """The registry entry of the field ``name`` holds values of (None for an unknown field)."""
        kind = self.field_kind(name)
        return None if kind is None else fieldtypes.REGISTRY[kind]

    def action(self, spec: Any, where: tuple, names: set[str]) -> Action | None:
        """One entry of ``do:``, compiled by its kind (T-E124 for an unknown one, or one that needs
        a record in a rule without an object)."""
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ACTIONS:
            self.issue(
                "T-E124",
                where,
                Words(f"unknown action {spec!r}", f"未知动作 {spec!r}"),
                Words(
                    f"one of {', '.join(ACTIONS.names())}, e.g. `{{archive: true}}`",
                    f"请写 {', '.join(ACTIONS.names())} 之一，例如 `{{archive: true}}`",
                ),
            )
            return None
        ((name, value),) = spec.items()
        kind = ACTIONS[name]
        where = (*where, name)
        if self.obj is None and kind.needs_record:
            self.issue(
                "T-E124",
                where,
                Words(
                    f"`{name}` needs a record; a cron rule without `object:` may only notify, "
                    "call a webhook or create records",
                    f"`{name}` 需要一条记录；没有 `object:` 的 cron 规则只能发送通知、调用 webhook 或创建记录",
                ),
            )
            return None
        return kind.compile(self, value, where, names)

    # --- values and names ---------------------------------------------------------------------
    def names(self, with_old: bool) -> set[str]:
        names = set(self.obj.fields) | set(SYSTEM_COLUMNS) if self.obj else set()
        return names | {"old"} if with_old else names

    def values(
        self, target: ObjectDef, spec: dict, where: tuple, names: set[str], updated: ObjectDef | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, raw in spec.items():
            if name not in target.fields and name != "owner_id":
                self.issue(
                    "T-E032",
                    (*where, name),
                    Words(f"unknown field `{name}` of {target.name}", f"{target.name} 没有字段 `{name}`"),
                    did_you_mean(name, target.fields) or Words("name a field of the object", "请指定该对象的字段"),
                )
                continue
            if isinstance(raw, str) and raw.startswith("="):
                expression = self.expression(raw[1:], (*where, name), names, updated)
                if expression is not None:
                    out[name] = expression
            else:
                out[name] = raw
        return out

    def expression(self, source: str, where: tuple, names: set[str], updated: ObjectDef | None = None):
        """Compile an expression; ``old['f']`` must name a field of the rule's object and
        ``target['f']`` one of the record an ``update`` changes (``updated``)."""
        expression = self.c.expression(source, (*self.path, *where), names)
        if expression is None:
            return None
        for mapping, obj in (("old", self.obj), ("target", updated)):
            if mapping not in expression.names or obj is None:
                continue
            for node in ast.walk(expression.tree):
                if (
                    isinstance(node, ast.Subscript)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == mapping
                    and isinstance(node.slice, ast.Constant)
                    and node.slice.value not in obj.fields
                    and node.slice.value not in SYSTEM_COLUMNS
                ):
                    self.issue(
                        "T-E041",
                        where,
                        Words(
                            f"unknown field `{node.slice.value!s}` in {mapping}[…]",
                            f"{mapping}[…] 中的字段 `{node.slice.value!s}` 未知",
                        ),
                        Words(
                            f"{mapping}['field'] names a field of {obj.name}",
                            f"{mapping}['field'] 应指定 {obj.name} 的字段",
                        ),
                    )
        return expression

    def check_fields(self, fields: list, where: tuple) -> None:
        for i, name in enumerate(fields):
            if self.obj is not None and name not in self.obj.fields and name != "owner_id":
                self.issue(
                    "T-E032",
                    (*where, i),
                    Words(f"unknown field `{name}`", f"未知字段 `{name}`"),
                    did_you_mean(name, self.obj.fields),
                )
