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
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from engine.metadata import fieldtypes
from engine.metadata.model import (
    SYSTEM_COLUMNS,
    Action,
    Automation,
    Label,
    MessageTemplate,
    ObjectDef,
    Recipient,
    Trigger,
    frozen_map,
)

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

SIMPLE_TRIGGERS = ("created", "updated", "deleted")
MAPPED_TRIGGERS = ("changed", "stage_entered", "stage_left", "approval", "schedule", "cron")
ACTIONS = (
    "set",
    "add_tags",
    "remove_tags",
    "add",
    "update",
    "create",
    "notify",
    "webhook",
    "assign",
    "convert",
    "archive",
)
CHANNELS = ("in_app", "email")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: Any) -> int | None:
    """Seconds in a duration such as ``24h``, ``5d``, ``2w``, ``30m``; None when it does not parse."""
    match = _DURATION.match(str(text)) if isinstance(text, str | int) else None
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def compile_templates(compiler: Compiler, specs: dict, languages: tuple[str, ...]) -> dict[str, MessageTemplate]:
    """``templates:``: name → subject and body, and per-language variants of them (Jinja,
    checked for syntax, T-E128; for limits any rendering exceeds, T-E129; a variant's language
    must be one of ``settings.languages``, T-E128)."""
    import jinja2

    from engine.metadata import templating

    out = {}
    for name, spec in specs.items():
        path = ("templates", name)
        variants = {lang: (variant or {}) for lang, variant in (spec.get("languages") or {}).items()}
        for where, texts in ((path, spec), *(((*path, "languages", lang), v) for lang, v in variants.items())):
            for key in ("subject", "body"):
                try:
                    problem = templating.limit_problem(texts.get(key) or "")
                except jinja2.TemplateSyntaxError as exc:
                    compiler.issue(
                        "T-E128",
                        (*where, key),
                        f"the template does not parse: {exc.message} (line {exc.lineno})",
                        "write Jinja, e.g. {{ record.name }}",
                    )
                    continue
                if problem:
                    compiler.issue(
                        "T-E129",
                        (*where, key),
                        f"the template exceeds a limit: {problem}",
                        f"loops may run {templating.MAX_RANGE:,} times, "
                        f"text may have {templating.MAX_OUTPUT:,} characters",
                    )
        for lang in variants:
            if lang not in languages:
                compiler.issue(
                    "T-E128",
                    (*path, "languages", lang),
                    f"`{lang}` is not one of the languages in settings.languages",
                    f"write one of: {', '.join(sorted(languages))}",
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
                f"automation `{name}` is declared twice (also automations[{seen[name]}])",
                "rename one of them",
            )
        seen[name] = index
        rule = _RuleCompiler(compiler, spec, path, objects, templates, assignment_rules, conversions, roles).compile()
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


class _RuleCompiler:
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

    def issue(self, code: str, where: tuple, message: str, hint: str | None = None) -> None:
        self.c.issue(code, (*self.path, *where), message, hint)

    def record_object(self) -> ObjectDef:
        """The rule's object, for an action on its record (``action`` refuses those without one)."""
        if self.obj is None:
            raise AssertionError("an action on the record of a rule without `object:`")
        return self.obj

    def compile(self) -> Automation | None:
        from engine.metadata.errors import did_you_mean

        object_name = self.spec.get("object")
        if object_name is not None:
            self.obj = self.objects.get(object_name)
            if self.obj is None:
                self.issue(
                    "T-E030",
                    ("object",),
                    f"unknown object `{object_name}`",
                    did_you_mean(object_name, self.objects) or "name an object declared under `objects`",
                )
                return None
        trigger = self.trigger(self.spec.get("on"))
        if trigger is None:
            return None
        if self.obj is None and trigger.kind != "cron":
            self.issue(
                "T-E012", (), "a rule needs `object:` (only `cron` rules may go without one)", "add e.g. `object: lead`"
            )
            return None
        names = self.names(with_old=trigger.kind in ("updated", "changed", "stage_entered", "stage_left"))
        when = self.expression(self.spec["when"], ("when",), names) if self.spec.get("when") else None
        actions = [self.action(a, ("do", i), names) for i, a in enumerate(self.spec.get("do") or [])]
        if not actions:
            self.issue(
                "T-E012", ("do",), "a rule needs at least one action under `do:`", "e.g. `do: [{archive: true}]`"
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

    # --- triggers -------------------------------------------------------------------------
    def trigger(self, spec: Any) -> Trigger | None:
        if isinstance(spec, str) and spec in SIMPLE_TRIGGERS:
            return Trigger(kind=spec)
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in MAPPED_TRIGGERS:
            self.issue(
                "T-E120",
                ("on",),
                f"unknown trigger {spec!r}",
                f"one of {', '.join(SIMPLE_TRIGGERS)} or a mapping with one of {', '.join(MAPPED_TRIGGERS)}",
            )
            return None
        ((kind, value),) = spec.items()
        where = ("on", kind)
        if kind == "changed":
            fields = value if isinstance(value, list) else [value]
            self.check_fields(fields, where)
            return Trigger(kind="changed", fields=tuple(fields), to=self.spec.get("to"), has_to="to" in self.spec)
        if kind in ("stage_entered", "stage_left"):
            pipeline = self.obj.pipeline if self.obj else None
            if pipeline is None:
                self.issue(
                    "T-E120", where, f"`{kind}` needs an object with a pipeline", "add a `pipeline:` or use `changed`"
                )
                return None
            stages = [] if value in (None, "any") else (value if isinstance(value, list) else [value])
            known = {s.key for s in pipeline.all_stages()}
            for i, stage in enumerate(stages):
                if stage not in known:
                    self.issue("T-E032", (*where, i), f"unknown stage `{stage}`", "name a stage of the pipeline")
            return Trigger(kind=kind, stages=tuple(stages))
        if kind == "approval":
            if value not in ("approved", "rejected", "decided"):
                self.issue("T-E120", where, f"`approval` is approved, rejected or decided, not {value!r}")
                return None
            return Trigger(kind="approval", decision=value)
        if kind == "cron":
            try:
                from croniter import croniter

                valid = isinstance(value, str) and croniter.is_valid(value)
            except ImportError:  # pragma: no cover - croniter is a declared dependency
                valid = isinstance(value, str)
            if not valid:
                self.issue(
                    "T-E126",
                    where,
                    f"{value!r} is not a cron expression",
                    'five fields: minute hour day month weekday, e.g. "0 9 * * 1" (Mondays 09:00)',
                )
                return None
            return Trigger(kind="cron", cron=value)
        return self.schedule(value if isinstance(value, dict) else {}, where)

    def schedule(self, spec: dict, where: tuple) -> Trigger | None:
        if ("after" in spec) == ("before" in spec) or "from" not in spec:
            self.issue(
                "T-E120",
                where,
                "a schedule needs `from:` (a date field) and either `after:` or `before:`",
                "e.g. `{schedule: {after: 24h, from: created_at}}`",
            )
            return None
        key = "after" if "after" in spec else "before"
        seconds = parse_duration(spec[key])
        if seconds is None:
            self.issue(
                "T-E122",
                (*where, key),
                f"{spec[key]!r} is not a duration",
                "a number and m, h, d or w: 30m, 24h, 5d, 2w",
            )
            return None
        window = None
        if "window" in spec:
            window = parse_duration(spec["window"])
            if window is None:
                self.issue("T-E122", (*where, "window"), f"{spec['window']!r} is not a duration", "e.g. 7d")
        source = spec["from"]
        kind = self.field_kind(source)
        if kind is None:
            self.issue("T-E032", (*where, "from"), f"unknown field `{source}`", "name a date or datetime field")
            return None
        if not fieldtypes.REGISTRY[kind].temporal:
            self.issue(
                "T-E121",
                (*where, "from"),
                f"`{source}` is {kind}, not a date or datetime",
                "schedules count from a date or datetime field",
            )
            return None
        return Trigger(
            kind="schedule",
            offset_seconds=seconds if key == "after" else -seconds,
            from_field=source,
            yearly=bool(spec.get("yearly", False)),
            window_seconds=window,
        )

    def field_kind(self, name: str) -> str | None:
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

    # --- actions --------------------------------------------------------------------------
    def action(self, spec: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ACTIONS:
            self.issue(
                "T-E124", where, f"unknown action {spec!r}", f"one of {', '.join(ACTIONS)}, e.g. `{{archive: true}}`"
            )
            return None
        ((kind, value),) = spec.items()
        where = (*where, kind)
        needs_record = kind not in ("notify", "webhook", "create")
        if self.obj is None and needs_record:
            self.issue(
                "T-E124",
                where,
                f"`{kind}` needs a record; a cron rule without `object:` may only notify, "
                "call a webhook or create records",
            )
            return None
        if kind == "set":
            if not isinstance(value, dict) or not value:
                self.issue("T-E124", where, "`set` maps fields to values", "e.g. `{set: {status: contacted}}`")
                return None
            return Action("set", values=frozen_map(self.values(self.record_object(), value, where, names)))
        if kind in ("add_tags", "remove_tags"):
            if not isinstance(value, dict) or "field" not in value or not value.get("tags"):
                self.issue(
                    "T-E124",
                    where,
                    f"`{kind}` needs `field` and `tags`",
                    "e.g. `{add_tags: {field: tags, tags: [churn_risk]}}`",
                )
                return None
            holder = self.field_type(value["field"])
            if holder is None or not holder.list_valued:
                self.issue("T-E125", (*where, "field"), f"`{value['field']}` is not a tags or multipicklist field")
                return None
            return Action(kind, field=value["field"], tags=tuple(str(t) for t in value["tags"]))
        if kind == "add":
            if not isinstance(value, dict) or len(value) != 1:
                self.issue("T-E124", where, "`add` names one number field and an amount", "e.g. `{add: {score: 10}}`")
                return None
            ((name, amount),) = value.items()
            holder = self.field_type(name)
            if holder is None or not holder.numeric:
                self.issue("T-E125", (*where, name), f"`{name}` is not a number field")
                return None
            if not isinstance(amount, int | float) or isinstance(amount, bool):
                self.issue("T-E124", (*where, name), f"{amount!r} is not a number")
                return None
            return Action("add", field=name, amount=amount)
        if kind == "create":
            return self.create(value, where, names)
        if kind == "update":
            return self.update(value, where, names)
        if kind == "notify":
            return self.notify(value, where)
        if kind == "webhook":
            return self.webhook(value, where)
        if kind in ("assign", "convert"):
            known = self.assignment_rules if kind == "assign" else self.conversions
            if value not in known:
                self.issue(
                    "T-E127",
                    where,
                    f"unknown {'assignment rule' if kind == 'assign' else 'conversion'} `{value}`",
                    f"known: {', '.join(sorted(known)) or 'none declared'}",
                )
                return None
            return Action(kind, rule=value)
        if value is not True:
            self.issue("T-E124", where, "write `{archive: true}`")
            return None
        return Action("archive")

    def create(self, value: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(value, dict) or "object" not in value:
            self.issue(
                "T-E124",
                where,
                "`create` needs `object` and `fields`",
                "e.g. `{create: {object: task, fields: {subject: Call back}}}`",
            )
            return None
        target = self.objects.get(value["object"])
        if target is None:
            self.issue("T-E030", (*where, "object"), f"unknown object `{value['object']}`")
            return None
        return Action(
            "create",
            object=target.name,
            values=frozen_map(self.values(target, value.get("fields") or {}, (*where, "fields"), names)),
        )

    def update(self, value: Any, where: tuple, names: set[str]) -> Action | None:
        """``{update: {record: LOOKUP, set: {field: value}}}``: change the record a lookup of the
        rule's record points at; expressions also see that record's values as ``target['f']``."""
        example = 'e.g. `{update: {record: account, set: {last_purchase_at: "=ordered_at"}}}`'
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("record"), str)
            or not isinstance(value.get("set"), dict)
            or not value["set"]
        ):
            self.issue("T-E124", where, "`update` needs `record` (a lookup field) and `set`", example)
            return None
        obj = self.record_object()
        field = obj.fields.get(value["record"])
        if field is None or field.target not in self.objects:
            self.issue(
                "T-E125",
                (*where, "record"),
                f"`{value['record']}` is not a lookup field of {obj.name}",
                "name the lookup that points at the record to change",
            )
            return None
        target = self.objects[field.target]
        values = self.values(target, value["set"], (*where, "set"), {*names, "target"}, target)
        return Action("update", field=field.name, object=target.name, values=frozen_map(values))

    def webhook(self, value: Any, where: tuple) -> Action | None:
        """``{webhook: {url: URL | url_env: VAR, secret_env: VAR, fields: [..]}}``: exactly one of
        ``url`` and ``url_env``."""
        example = (
            "e.g. `{webhook: {url: https://erp.example.com/hooks/crm, secret_env: ERP_HOOK_SECRET}}`, or "
            "`url_env: ERP_HOOK_URL` to read the URL from the worker's environment"
        )
        if not isinstance(value, dict) or ("url" in value) == ("url_env" in value):
            self.issue("T-E124", where, "`webhook` needs an http(s) `url` or a `url_env`, not both", example)
            return None
        url, url_env, secret_env = value.get("url"), value.get("url_env"), value.get("secret_env")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            self.issue("T-E124", (*where, "url"), f"{url!r} is not an http(s) URL", example)
            return None
        for key, name in (("url_env", url_env), ("secret_env", secret_env)):
            if name is not None and not (isinstance(name, str) and _ENV_NAME.match(name)):
                self.issue(
                    "T-E124",
                    (*where, key),
                    f"{name!r} is not the name of an environment variable",
                    "letters, digits and _, e.g. ERP_HOOK_URL",
                )
                return None
        fields = self.payload_fields(value.get("fields"), (*where, "fields"))
        return Action("webhook", url=url, url_env=url_env, secret_env=secret_env, fields=fields)

    def payload_fields(self, names: Any, where: tuple) -> tuple[str, ...]:
        """A webhook's ``fields``: names of fields of the rule's object (T-E032 unknown; T-E124
        without an object, or not a list of names)."""
        from engine.metadata.errors import did_you_mean

        if names is None:
            return ()
        if self.obj is None or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.issue(
                "T-E124",
                where,
                "`fields` lists fields of the rule's object",
                "e.g. `fields: [name, stage, amount]`, in a rule with an `object`",
            )
            return ()
        for i, name in enumerate(names):
            if name not in self.obj.fields and name not in SYSTEM_COLUMNS:
                self.issue(
                    "T-E032",
                    (*where, i),
                    f"unknown field `{name}` of {self.obj.name}",
                    did_you_mean(name, self.obj.fields) or "name a field of the rule's object",
                )
        return tuple(dict.fromkeys(n for n in names if n in self.obj.fields or n in SYSTEM_COLUMNS))

    def notify(self, value: Any, where: tuple) -> Action | None:
        if not isinstance(value, dict) or "template" not in value or not value.get("to"):
            self.issue(
                "T-E124",
                where,
                "`notify` needs `to` and `template`",
                "e.g. `{notify: {to: [owner], template: lead_overdue}}`",
            )
            return None
        if value["template"] not in self.templates:
            self.issue(
                "T-E123",
                (*where, "template"),
                f"unknown template `{value['template']}`",
                f"declare it under `templates:`; known: {', '.join(sorted(self.templates)) or 'none'}",
            )
        recipients = []
        for i, entry in enumerate(value["to"]):
            recipient = self.recipient(entry, (*where, "to", i))
            if recipient is not None:
                recipients.append(recipient)
        channels = tuple(value.get("channels") or ("in_app",))
        for channel in channels:
            if channel not in CHANNELS:
                self.issue(
                    "T-E124", (*where, "channels"), f"unknown channel `{channel}`", f"one of {', '.join(CHANNELS)}"
                )
        return Action("notify", recipients=tuple(recipients), template=value["template"], channels=channels)

    def recipient(self, entry: Any, where: tuple) -> Recipient | None:
        if entry in ("owner", "manager"):
            if self.obj is None:
                self.issue("T-E124", where, f"`{entry}` needs a record; name a role or a user in a cron rule")
                return None
            return Recipient(entry)
        if isinstance(entry, dict) and len(entry) == 1:
            ((kind, name),) = entry.items()
            if kind == "role" and name not in self.roles:
                self.issue("T-E092", (*where, "role"), f"unknown role `{name}`")
                return None
            holder = self.field_type(name) if kind == "field" else None
            if kind == "field" and not (holder is not None and (holder.mail_address or holder.refers_to_user)):
                self.issue("T-E125", (*where, "field"), f"`{name}` is not an email or user field")
                return None
            if kind in ("role", "user", "field"):
                return Recipient(kind, str(name))
        self.issue(
            "T-E124",
            where,
            f"unknown recipient {entry!r}",
            "owner, manager, {role: NAME}, {user: USERNAME} or {field: EMAIL_FIELD}",
        )
        return None

    # --- values and names ---------------------------------------------------------------------
    def names(self, with_old: bool) -> set[str]:
        names = set(self.obj.fields) | set(SYSTEM_COLUMNS) if self.obj else set()
        return names | {"old"} if with_old else names

    def values(
        self, target: ObjectDef, spec: dict, where: tuple, names: set[str], updated: ObjectDef | None = None
    ) -> dict[str, Any]:
        from engine.metadata.errors import did_you_mean

        out: dict[str, Any] = {}
        for name, raw in spec.items():
            if name not in target.fields and name != "owner_id":
                self.issue(
                    "T-E032",
                    (*where, name),
                    f"unknown field `{name}` of {target.name}",
                    did_you_mean(name, target.fields) or "name a field of the object",
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
                        f"unknown field `{node.slice.value!s}` in {mapping}[…]",
                        f"{mapping}['field'] names a field of {obj.name}",
                    )
        return expression

    def check_fields(self, fields: list, where: tuple) -> None:
        from engine.metadata.errors import did_you_mean

        for i, name in enumerate(fields):
            if self.obj is not None and name not in self.obj.fields and name != "owner_id":
                self.issue("T-E032", (*where, i), f"unknown field `{name}`", did_you_mean(name, self.obj.fields))
