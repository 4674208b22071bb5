"""Check a merged config tree and compile it into the frozen model.

JSON Schema first (shape, types, unknown keys), then semantics: references
resolve, expressions parse and name only known fields and functions, names are
valid and not reserved, defaults fit their types. Every problem is collected;
``ConfigError`` carries them all.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from engine.metadata import automation, fieldtypes, kinds
from engine.metadata import timeline as timeline_keys
from engine.metadata.approvals import compile_approvals
from engine.metadata.campaigns import check_campaign_object, compile_segments
from engine.metadata.cascade import without_cascades
from engine.metadata.consistency import check_consistency
from engine.metadata.conversions import compile_conversions
from engine.metadata.dashboards import compile_dashboards
from engine.metadata.duplicates import compile_duplicates
from engine.metadata.errors import (
    ConfigError,
    ConfigIssue,
    Text,
    Words,
    declared_languages,
    did_you_mean,
    format_path,
)
from engine.metadata.expressions import (
    FUNCTIONS,
    MAX_POWER_DIGITS,
    MAX_STRING_LENGTH,
    Expression,
    ExpressionSyntaxError,
    constant_limit_error,
    parse_expression,
)
from engine.metadata.fieldparts import ChoicePart, FieldPart, FormulaPart, LookupPart
from engine.metadata.forms import compile_forms
from engine.metadata.loader import LDict, RawConfig, locate
from engine.metadata.mail import compile_mail
from engine.metadata.model import (
    NO_GRANT,
    SYSTEM_COLUMNS,
    ConditionalRequirement,
    Config,
    FieldDef,
    Label,
    ObjectDef,
    ObjectGrant,
    Picklist,
    PicklistValue,
    Pipeline,
    PipelineVariant,
    Role,
    Section,
    SecuritySettings,
    Settings,
    SkipRule,
    Stage,
    ValidationRule,
    frozen_map,
)
from engine.metadata.patterns import PatternError, check_pattern
from engine.metadata.reports import compile_reports
from engine.metadata.retention import check_retention_approvals, compile_retention
from engine.metadata.subscriptions import compile_subscriptions, with_targets

#: Object names Trellis keeps for itself (system tables, URLs).
RESERVED_OBJECTS = frozenset(
    {"sys", "meta", "api", "user", "users", "team", "teams", "admin", "static", "approvals", "reports", "search"}
)
#: Field names that would clash with system columns, expression names or keywords.
RESERVED_FIELDS = (
    frozenset(SYSTEM_COLUMNS)
    | FUNCTIONS
    | frozenset(
        {
            "current_user",
            "old",
            "owner",
            "stage_reason",
            "none",
            "true",
            "false",
            "and",
            "or",
            "not",
            "in",
            "is",
            "if",
            "else",
        }
    )
)
#: Extra names expressions in defaults may use.
DEFAULT_NAMES = frozenset({"current_user"})

#: Which properties apply to which field types (properties not listed apply to all).
TYPE_PROPERTIES: dict[str, frozenset[str]] = {
    key: frozenset(t.name for t in fieldtypes.REGISTRY.values() if key in t.keys)
    for key in (
        *("max_length", "pattern", "pattern_message", "min", "max", "scale", "picklist", "values", "depends_on"),
        *("object", "expression", "result", "format", "start", "migrate_values", "unique", "default", "encrypted"),
    )
}

#: What a field must give when its type ``needs`` one of some keys (T-E035): the message (``{type}``
#: is the field's type) and a hint.
NEEDS: dict[tuple[str, ...], tuple[Words, Words]] = {
    ("object",): (
        Words("a lookup field needs `object:` (the object it points to)", "查找字段需要 `object:`（它指向的对象）"),
        Words("add e.g. `object: account`", "请添加，例如 `object: account`"),
    ),
    ("expression",): (
        Words("a formula field needs `expression:`", "公式字段需要 `expression:`"),
        Words("add e.g. `expression: unit_price * quantity`", "请添加，例如 `expression: unit_price * quantity`"),
    ),
    ("picklist", "values"): (
        Words(
            "a {type} field needs `picklist:` (a shared picklist) or `values:`",
            "{type} 字段需要 `picklist:`（共享的选项列表）或 `values:`",
        ),
        Words("add e.g. `values: [price, competitor, other]`", "请添加，例如 `values: [price, competitor, other]`"),
    ),
}


def _filled(words: Words, **values: Any) -> Words:
    """``words`` with its ``{name}`` placeholders filled in, in every language."""
    return Words(words.en.format(**values), words.zh.format(**values))


def _part(kind: fieldtypes.FieldType, spec: dict, **given: Any) -> FieldPart:
    """The kind-specific part of a field (``FieldType.part``) from its spec and what was compiled."""
    values = {
        "max_length": spec.get("max_length"),
        "pattern": spec.get("pattern"),
        "pattern_message": Label.of(spec["pattern_message"]) if spec.get("pattern_message") else None,
        "min": spec.get("min"),
        "max": spec.get("max"),
        "scale": spec.get("scale", kind.default_scale),
        "depends_on": spec.get("depends_on"),
        "migrate_values": frozen_map(spec.get("migrate_values")),
        "result": spec.get("result", "decimal"),
        "format": spec.get("format", "{000000}"),
        "start": spec.get("start", 1),
        **given,
    }
    return kind.part(**{key: values[key] for key in kind.part.KEYS if values[key] is not None})


_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_IDENTIFIER = 50


@cache
def json_schema() -> dict:
    """The config language's JSON Schema (engine/metadata/schema.json)."""
    text = resources.files("engine.metadata").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def compile_config(raw: RawConfig) -> Config:
    """Check ``raw`` and return the model; raises ConfigError listing every problem.

    Schema and semantic checks run in one pass: when the schema finds problems the
    compiler still runs, tolerantly (``Compiler.tolerant``), and what it reports about a
    part the schema already reported (or as a consequence of it) is dropped
    (``cascade.without_cascades``), so that a config with N independent errors reports N.
    Warnings (``ConfigIssue.severity``) do not stop the config: they ride on ``Config.warnings``.
    """
    issues = list(raw.issues)
    languages = declared_languages(raw.tree)
    if raw.tree is None:
        raise ConfigError(issues)
    if not isinstance(raw.tree, dict):
        issues.append(
            ConfigIssue.of(
                "T-E011",
                Words(
                    "a config must be a mapping of keys (trellis, settings, objects…)",
                    "配置必须是由键组成的映射（trellis、settings、objects…）",
                ),
                locate(raw.tree, ()),
            )
        )
        raise ConfigError(issues)
    reported = {issue.location for issue in raw.issues}  # e.g. a refused YAML tag: no second error on its value
    issues += [issue for issue in schema_issues(raw.tree) if issue.location not in reported]
    compiler = Compiler(raw, tolerant=bool(issues))
    config: Config | None = None
    try:
        config = compiler.compile()
    except Exception:
        if not compiler.tolerant:
            raise
        # A part of the tree the schema refused broke the compiler: that part is already reported.
    issues += without_cascades(compiler.issues, issues, compiler.skipped) if compiler.tolerant else compiler.issues
    if config is None or any(issue.severity == "error" for issue in issues):
        raise ConfigError(issues, languages)
    return replace(config, warnings=tuple(issues)) if issues else config


def language_schema() -> dict:
    """The JSON Schema of the config language as the validator sees it: schema.json with the
    automation kinds and subscription targets registered now (``trellis schema`` prints it)."""
    return with_targets(automation.with_kinds(json_schema()))


@cache
def _validator(generation: int) -> jsonschema.Draft202012Validator:
    """The validator of the schema with the automation kinds registered in this ``kinds.generation``."""
    return jsonschema.Draft202012Validator(language_schema())


#: The schema's pattern of a duration setting (``session_lifetime``…), read by ``automation.parse_duration``.
DURATION_PATTERN = "^\\s*[1-9][0-9]*\\s*(m|min|h|d|w)\\s*$"


def schema_issues(tree: Any) -> list[ConfigIssue]:
    """JSON Schema violations of ``tree``, as located issues with codes."""
    validator = _validator(kinds.generation())
    issues: list[ConfigIssue] = []
    for error in validator.iter_errors(tree):
        issues.extend(_schema_issue(tree, error))
    return issues


def _schema_issue(tree: Any, error: jsonschema.ValidationError) -> list[ConfigIssue]:
    path = tuple(error.absolute_path)
    if error.validator == "oneOf" and error.context:
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        return _schema_issue(tree, deepest)
    # A `false` subschema is a bool, not a mapping: it has no keys to read.
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known] if isinstance(error.instance, Mapping) else []
        return [
            ConfigIssue.of(
                "T-E010",
                Words(f"unknown key `{key}`", f"未知的键 `{key}`"),
                locate(tree, (*path, key), key=True),
                format_path((*path, key)),
                did_you_mean(key, known)
                or Words(f"allowed here: {', '.join(known)}", f"此处允许的键：{', '.join(known)}"),
            )
            for key in extra
        ]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [
            ConfigIssue.of(
                "T-E012",
                Words(f"missing required key `{missing}`", f"缺少必需的键 `{missing}`"),
                locate(tree, path),
                format_path(path),
                Words(f"add `{missing}:` here", f"请在此处添加 `{missing}:`"),
            )
        ]
    if "propertyNames" in error.schema_path:
        return [
            ConfigIssue.of(
                "T-E020",
                Words(f"`{error.instance}` is not a valid name", f"`{error.instance}` 不是有效的名称"),
                locate(tree, (*path, error.instance), key=True),
                format_path((*path, error.instance)),
                SNAKE_CASE,
            )
        ]
    if error.validator == "pattern" and schema.get("pattern") == _IDENTIFIER.pattern:
        return [
            ConfigIssue.of(
                "T-E020",
                Words(f"{error.instance!r} is not a valid name", f"{error.instance!r} 不是有效的名称"),
                locate(tree, path),
                format_path(path),
                SNAKE_CASE,
            )
        ]
    if error.validator == "pattern" and schema.get("pattern") == DURATION_PATTERN:
        return [
            ConfigIssue.of(
                "T-E011",
                Words(f"{error.instance!r} is not a duration", f"{error.instance!r} 不是有效的时长"),
                locate(tree, path),
                format_path(path),
                Words(
                    "write a whole number above 0 and a unit (m, h, d or w), e.g. 30m, 12h, 1d",
                    "请写一个大于 0 的整数和单位（m、h、d 或 w），例如 30m、12h、1d",
                ),
            )
        ]
    hint: Words | None = None
    if error.validator == "enum" and isinstance(error.validator_value, list):
        allowed = ", ".join(map(str, error.validator_value))
        hint = did_you_mean(error.instance, error.validator_value) or Words(
            f"allowed: {allowed}", f"允许的值：{allowed}"
        )
    return [ConfigIssue.of("T-E011", shortened(schema_words(error)), locate(tree, path), format_path(path), hint)]


#: The hint of a name that is not lower_snake_case (T-E020).
SNAKE_CASE = Words(
    "use lower_snake_case: a letter, then letters, digits or _",
    "请使用 lower_snake_case：以字母开头，其后是字母、数字或 _",
)

#: JSON Schema's type names, with the words a Chinese admin knows them by.
_TYPES_ZH = {
    "string": "文本",
    "integer": "整数",
    "number": "数字",
    "boolean": "true 或 false",
    "object": "键值映射",
    "array": "列表",
    "null": "空值",
}

#: The Chinese of each JSON Schema validator's message: ``{instance}`` is the value refused (as
#: jsonschema shows it), ``{value}`` what the schema asks (the allowed values, the minimum…).
_SCHEMA_ZH = {
    "enum": "{instance} 不是允许的值 {value!r} 之一",
    "const": "此处应为 {value!r}",
    "minimum": "{instance} 小于最小值 {value!r}",
    "maximum": "{instance} 大于最大值 {value!r}",
    "exclusiveMinimum": "{instance} 小于或等于最小值 {value!r}",
    "exclusiveMaximum": "{instance} 大于或等于最大值 {value!r}",
    "multipleOf": "{instance} 不是 {value!r} 的倍数",
    "minLength": "{instance} 太短",
    "maxLength": "{instance} 太长",
    "minItems": "{instance} 的项数太少",
    "maxItems": "{instance} 的项数太多",
    "minProperties": "{instance} 的键数量不够",
    "maxProperties": "{instance} 的键太多",
    "uniqueItems": "{instance} 含有重复的元素",
    "pattern": "{instance} 不符合格式 {value!r}",
    "oneOf": "{instance} 不符合此处允许的任何一种写法",
    "anyOf": "{instance} 不符合此处允许的任何一种写法",
    "not": "{instance} 不应符合 {value!r}",
}


def schema_words(error: jsonschema.ValidationError) -> Words:
    """What JSON Schema says of ``error``: its own message (English) and the same in Chinese,
    written per validator kind with the same values (the instance, the allowed values…)."""
    instance, value, kind, english = repr(error.instance), error.validator_value, error.validator, error.message
    zh = _SCHEMA_ZH.get(str(kind), "").format(instance=instance, value=value)
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        names = "、".join(_TYPES_ZH.get(str(t), str(t)) for t in types)
        shown = ", ".join(repr(t) for t in types)
        zh = (
            f"{instance} 不是 {shown} 类型（{names}）"
            if len(types) == 1
            else f"{instance} 不是 {shown} 中的任何类型（{names}）"
        )
    elif kind in ("minLength", "minItems", "minProperties") and value == 1:  # "should be non-empty"
        zh = f"{instance} 不能为空"
    elif kind in ("maxLength", "maxItems", "maxProperties") and value == 0:  # "is expected to be empty"
        zh = f"{instance} 应为空"
    elif kind in ("oneOf", "anyOf") and "is valid under each of" in english:
        zh = f"{instance} 同时符合多种写法，无法确定是哪一种"
    elif kind == "required":
        missing = english.split("'")[1] if "'" in english else english
        zh = f"缺少必需的键 {missing!r}"
    elif kind is None and english.startswith("False schema"):
        zh = f"此处不允许 {instance}"
    return Words(english, zh or f"不符合配置的格式：{english}")


def shortened(message: Words, ellipsis: str = "...") -> Words:
    """``message`` cut to under 200 characters in each language (a value in it may be long)."""
    return Words(*(text if len(text) < 200 else text[:197] + ellipsis for text in (message.en, message.zh)))


def canonical_json(tree: Any) -> str:
    """The merged config as canonical JSON (self-contained: no extends)."""
    return json.dumps(tree, sort_keys=True, ensure_ascii=False, default=str)


class Compiler:
    """Walks the merged tree once, building the model and collecting issues.

    The section compilers (approvals, automation, conversions, …) are handed it to report
    issues, parse expressions and read the settings."""

    def __init__(self, raw: RawConfig, tolerant: bool = False) -> None:
        self.raw = raw
        self.tree: LDict = raw.tree
        self.issues: list[ConfigIssue] = []
        self.settings = Settings()
        #: The schema found problems: a part that breaks the compiler is skipped (``guarded``).
        self.tolerant = tolerant
        #: Names of parts skipped that way (an object, a field, a role): no "unknown" about them.
        self.skipped: set[str] = set()

    def guarded(self, default: Any, compile_part: Callable[..., Any], *args: Any) -> Any:
        """``compile_part(*args)``; when ``tolerant``, ``default`` if it raises — a part of the tree
        the schema refused (a string where a mapping belongs…), already reported."""
        if not self.tolerant:
            return compile_part(*args)
        try:
            return compile_part(*args)
        except Exception:  # noqa: BLE001 - only under schema errors, which name the cause
            return default

    # --- reporting ---------------------------------------------------------
    def issue(self, code: str, path: tuple, message: Text, hint: Text | None = None, key: bool = False) -> None:
        self.issues.append(ConfigIssue.of(code, message, locate(self.tree, path, key=key), format_path(path), hint))

    def warn(self, code: str, path: tuple, message: Text, hint: Text | None = None, key: bool = False) -> None:
        """Report a warning: shown by ``trellis validate``, an error only with ``--strict``."""
        self.issues.append(
            ConfigIssue.of(code, message, locate(self.tree, path, key=key), format_path(path), hint, severity="warning")
        )

    # --- top level ---------------------------------------------------------
    def compile(self) -> Config:
        g = self.guarded
        self.settings = g(Settings(), self.compile_settings, self.tree.get("settings") or {})
        picklists = {}
        for name, spec in (self.tree.get("picklists") or {}).items():
            picklist = g(
                None, self.compile_picklist, name, spec.get("values") or [], spec.get("label"), ("picklists", name)
            )
            if picklist is not None:
                picklists[name] = picklist
            else:
                self.skipped.add(name)
        objects_spec = self.tree.get("objects") or {}
        objects = {}
        for name, spec in objects_spec.items():
            path = ("objects", name)
            if name in RESERVED_OBJECTS:
                self.issue(
                    "T-E021",
                    path,
                    Words(
                        f"`{name}` is reserved by Trellis and cannot name an object",
                        f"`{name}` 是 Trellis 的保留名称，不能用作对象名",
                    ),
                    Words("choose another name", "请换一个名称"),
                    key=True,
                )
            self.check_length(name, path)
            obj = g(None, self.compile_object, name, spec, picklists, objects_spec)
            if obj is not None:
                objects[name] = obj
            else:
                self.skipped.add(name)
        objects = g(objects, timeline_keys.link_timelines, self, objects, objects_spec)
        objects = g(objects, compile_duplicates, self, objects, objects_spec)
        objects = g(objects, compile_retention, self, objects, objects_spec, self.tree.get("settings") or {})
        roles = g({}, self.compile_roles, self.tree.get("roles") or {}, objects)
        g(None, check_retention_approvals, self, objects, roles, objects_spec, self.tree.get("settings") or {})
        approvals = g((), compile_approvals, self, self.tree.get("approvals") or [], objects, set(roles), objects_spec)
        conversions = g({}, compile_conversions, self, self.tree.get("conversions") or {}, objects)
        settings_spec = self.tree.get("settings") or {}
        languages = g(
            ("en",),
            lambda: tuple(settings_spec.get("languages") or [str(settings_spec.get("locale", "en_US")).split("_")[0]]),
        )
        templates = g({}, automation.compile_templates, self, self.tree.get("templates") or {}, languages)
        assignment, scoring = g(({}, {}), self.compile_assignment_and_scoring, objects, set(roles))
        reports_spec = self.tree.get("reports") or {}
        reports = g({}, compile_reports, self, reports_spec, objects, set(roles), conversions)
        dashboards = g(
            {},
            compile_dashboards,
            self,
            self.tree.get("dashboards") or {},
            reports,
            objects,
            set(roles),
            set(reports_spec),
        )
        automations = g(
            (),
            automation.compile_automations,
            self,
            self.tree.get("automations") or [],
            objects,
            templates,
            set(assignment),
            set(conversions),
            set(roles),
        )
        subscriptions = g(
            {},
            compile_subscriptions,
            self,
            self.tree.get("subscriptions") or {},
            {"reports": reports, "dashboards": dashboards},
            set(roles),
        )
        forms = g({}, compile_forms, self, self.tree.get("forms") or {}, objects)
        segments = g({}, self.compile_campaigns, objects)
        mail = g(None, compile_mail, self, self.tree.get("mail"), objects)
        g(None, check_consistency, self, self.tree, objects, roles, approvals, picklists, automations, templates)
        canonical = canonical_json(self.tree)
        return Config(
            settings=self.settings,
            picklists=frozen_map(picklists),
            objects=frozen_map(objects),
            roles=frozen_map(roles),
            source_path=self.raw.path,
            source_text=canonical,
            content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
            approvals=approvals,
            conversions=frozen_map(conversions),
            automations=automations,
            templates=frozen_map(templates),
            automation_depth=(self.tree.get("settings") or {}).get("automation_depth", 5),
            assignment=frozen_map(assignment),
            scoring=frozen_map(scoring),
            reports=frozen_map(reports),
            subscriptions=frozen_map(subscriptions),
            dashboards=frozen_map(dashboards),
            forms=frozen_map(forms),
            segments=frozen_map(segments),
            mail=mail,
        )

    def compile_campaigns(self, objects: dict[str, ObjectDef]) -> dict:
        """``segments:`` and the ``campaign`` object (engine/metadata/campaigns.py)."""
        names = {"segment": list(self.tree.get("segments") or {}), "template": list(self.tree.get("templates") or {})}
        check_campaign_object(self, objects, names)
        return compile_segments(self, self.tree.get("segments") or {}, objects)

    def compile_assignment_and_scoring(self, objects: dict[str, ObjectDef], roles: set[str]) -> tuple[dict, dict]:
        """``assignment:`` (engine/metadata/assignment.py) and ``scoring:`` (engine/metadata/scoring.py)."""
        from engine.metadata.assignment import compile_assignment
        from engine.metadata.scoring import compile_scoring

        return (
            compile_assignment(self, self.tree.get("assignment") or {}, objects, roles),
            compile_scoring(self, self.tree.get("scoring") or {}, objects),
        )

    def check_length(self, name: str, path: tuple) -> None:
        if len(name) > MAX_IDENTIFIER:
            self.issue(
                "T-E020",
                path,
                Words(
                    f"`{name}` is longer than {MAX_IDENTIFIER} characters", f"`{name}` 超过了 {MAX_IDENTIFIER} 个字符"
                ),
                Words("use a shorter name", "请使用更短的名称"),
                key=True,
            )

    def compile_settings(self, spec: dict) -> Settings:
        timezone = spec.get("timezone", "UTC")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.issue(
                "T-E071",
                ("settings", "timezone"),
                Words(f"unknown time zone `{timezone}`", f"未知的时区 `{timezone}`"),
                Words(
                    "use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC",
                    "请使用 IANA 时区名，例如 Asia/Shanghai、Europe/Berlin 或 UTC",
                ),
            )
            timezone = "UTC"
        languages = tuple(spec.get("languages") or [spec.get("locale", "en_US").split("_")[0]])
        return Settings(
            company=spec.get("company", "Trellis"),
            logo=spec.get("logo"),
            timezone=timezone,
            currency=spec.get("currency", "USD"),
            locale=spec.get("locale", "en_US"),
            languages=languages,
            date_format=spec.get("date_format", "YYYY-MM-DD"),
            retention_years=spec.get("retention_years"),
            retention_automatic=bool(spec.get("retention_automatic", False)),
            merge_undo_days=spec.get("merge_undo_days", 30),
            phone_region=spec.get("phone_region"),
            security=self.compile_security(spec.get("security") or {}),
        )

    def compile_security(self, spec: dict) -> SecuritySettings:
        self.check_networks(spec.get("ip_allowlist") or [], ("settings", "security", "ip_allowlist"))
        defaults = SecuritySettings()
        return SecuritySettings(
            lockout_attempts=spec.get("lockout_attempts", defaults.lockout_attempts),
            lockout_minutes=spec.get("lockout_minutes", defaults.lockout_minutes),
            password_min_length=spec.get("password_min_length", defaults.password_min_length),
            password_classes=spec.get("password_classes", defaults.password_classes),
            ip_allowlist=tuple(spec.get("ip_allowlist") or ()),
            require_totp=bool(spec.get("require_totp", False)),
            reconfirm_minutes=spec.get("reconfirm_minutes", defaults.reconfirm_minutes),
            session_lifetime=automation.parse_duration(spec.get("session_lifetime")) or defaults.session_lifetime,
            session_idle_timeout=(
                automation.parse_duration(spec.get("session_idle_timeout")) or defaults.session_idle_timeout
            ),
        )

    def check_networks(self, networks: list, path: tuple) -> None:
        for index, network in enumerate(networks):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                self.issue(
                    "T-E082",
                    (*path, index),
                    Words(f"`{network}` is not an IP network", f"`{network}` 不是 IP 网络"),
                    Words(
                        "write an address or a CIDR block, e.g. 10.0.0.0/8 or 203.0.113.7",
                        "请写一个地址或 CIDR 网段，例如 10.0.0.0/8 或 203.0.113.7",
                    ),
                )

    def compile_roles(self, specs: dict, objects: dict[str, ObjectDef]) -> dict[str, Role]:
        return _RoleCompiler(self, specs, objects).compile()

    # --- picklists ---------------------------------------------------------
    def compile_picklist(self, name: str, values: list, label: Any, path: tuple) -> Picklist:
        seen: dict[str, tuple] = {}
        compiled = tuple(self.compile_value(v, (*path, "values", i), seen) for i, v in enumerate(values))
        return Picklist(name=name, label=Label.of(label, name), values=compiled)

    def compile_value(self, spec: Any, path: tuple, seen: dict[str, tuple]) -> PicklistValue:
        if isinstance(spec, str):
            spec = {"key": spec}
        key = spec["key"]
        if key in seen:
            self.issue(
                "T-E060",
                path,
                Words(
                    f"picklist value `{key}` is declared twice (also at {format_path(seen[key])})",
                    f"选项列表的值 `{key}` 声明了两次（另一处在 {format_path(seen[key])}）",
                ),
                KEEP_ONE,
            )
        seen[key] = path
        children = tuple(
            self.compile_value(c, (*path, "children", i), seen) for i, c in enumerate(spec.get("children") or [])
        )
        return PicklistValue(
            key=key,
            label=Label.of(spec.get("label"), key.replace("_", " ").capitalize()),
            children=children,
            parents=tuple(spec.get("parents") or ()),
            color=spec.get("color"),
            inactive=bool(spec.get("inactive", False)),
        )

    # --- objects -----------------------------------------------------------
    def compile_object(self, name: str, spec: dict, picklists: dict[str, Picklist], objects_spec: dict) -> ObjectDef:
        path = ("objects", name)
        fields_spec = dict(spec.get("fields") or {})
        pipeline_spec = spec.get("pipeline")
        stage_field = (pipeline_spec or {}).get("field", "stage") if pipeline_spec is not None else None
        known_fields = set(fields_spec) | ({stage_field} if stage_field else set())
        fields: dict[str, FieldDef] = {}
        for fname, fspec in fields_spec.items():
            fpath = (*path, "fields", fname)
            if fname in RESERVED_FIELDS:
                self.issue(
                    "T-E021",
                    fpath,
                    Words(
                        f"`{fname}` is reserved by Trellis and cannot name a field",
                        f"`{fname}` 是 Trellis 的保留名称，不能用作字段名",
                    ),
                    Words(
                        "system columns, function names and keywords are reserved; choose another name",
                        "系统列名、函数名和关键字都是保留名称；请换一个名称",
                    ),
                    key=True,
                )
            self.check_length(fname, fpath)
            if fname == stage_field or not isinstance(fspec, dict):
                continue  # a field that is no mapping: the schema says so
            if "type" not in fspec:
                self.issue(
                    "T-E012",
                    fpath,
                    Words("missing required key `type`", "缺少必需的键 `type`"),
                    Words(
                        f"add `type:` — one of {', '.join(fieldtypes.REGISTRY)}",
                        f"请添加 `type:`，取值之一：{', '.join(fieldtypes.REGISTRY)}",
                    ),
                )
                continue
            field = self.guarded(None, self.compile_field, fname, fspec, fpath, picklists, objects_spec, known_fields)
            if field is not None:
                fields[fname] = field
            else:
                self.skipped.add(fname)
        pipeline = None
        if pipeline_spec is not None:
            pipeline, stage_def = self.compile_pipeline(
                pipeline_spec, fields_spec.get(stage_field), (*path, "pipeline"), path, known_fields, fields
            )
            fields = {stage_def.name: stage_def, **fields}
        self.check_dependents(fields, path)
        formula_order = self.formula_order(fields, path)
        rules = tuple(self.compile_rules(spec.get("rules") or [], (*path, "rules"), known_fields))
        self.check_title(spec.get("title"), (*path, "title"), known_fields)
        list_columns = self.check_list_columns(
            (spec.get("list") or {}).get("columns") or [], (*path, "list", "columns"), known_fields
        )
        sections = self.compile_sections(
            (spec.get("layout") or {}).get("sections") or [], (*path, "layout", "sections"), known_fields
        )
        return ObjectDef(
            name=name,
            label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
            plural_label=Label.of(spec.get("plural_label") or spec.get("label"), name.replace("_", " ").capitalize()),
            fields=frozen_map(fields),
            title=spec.get("title"),
            description=spec.get("description"),
            pipeline=pipeline,
            rules=rules,
            renamed_from=spec.get("renamed_from"),
            formula_order=formula_order,
            audit_reads=bool((spec.get("audit") or {}).get("reads", False)),
            list_columns=list_columns,
            sections=sections,
            timeline=bool(spec.get("timeline", False)),
            activity=timeline_keys.compile_activity(self, spec.get("activity"), fields, path),
            task=timeline_keys.compile_task(self, spec.get("task"), fields, path),
        )

    def compile_field(
        self,
        name: str,
        spec: dict,
        path: tuple,
        picklists: dict[str, Picklist],
        objects_spec: dict,
        known_fields: set[str],
    ) -> FieldDef:
        ftype = spec["type"]
        for prop, types in TYPE_PROPERTIES.items():
            if prop in spec and ftype not in types:
                self.issue(
                    "T-E034",
                    (*path, prop),
                    Words(
                        f"`{prop}` does not apply to {_article(ftype)} {ftype} field",
                        f"`{prop}` 不适用于 {ftype} 字段",
                    ),
                    Words(
                        f"`{prop}` applies to: {', '.join(sorted(types))}",
                        f"`{prop}` 适用于：{', '.join(sorted(types))}",
                    ),
                    key=True,
                )
        kind = fieldtypes.REGISTRY[ftype]
        picklist = self.field_picklist(name, spec, path, picklists)
        target = spec.get("object")
        if kind.needs and not any(key in spec for key in kind.needs):
            message, hint = NEEDS[kind.needs]
            self.issue("T-E035", path, _filled(message, type=ftype), hint)
        if target is not None and kind.part is LookupPart and target not in objects_spec:
            self.issue(
                "T-E030",
                (*path, "object"),
                Words(f"unknown object `{target}`", f"未知的对象 `{target}`"),
                did_you_mean(target, objects_spec)
                or Words(f"known objects: {', '.join(objects_spec)}", f"已有的对象：{', '.join(objects_spec)}"),
            )
        expression = None
        if kind.part is FormulaPart and "expression" in spec:
            expression = self.expression(spec["expression"], (*path, "expression"), known_fields - {name})
        if spec.get("pattern"):
            try:
                check_pattern(spec["pattern"])
            except re.error as exc:
                self.issue(
                    "T-E070",
                    (*path, "pattern"),
                    Words(f"invalid regular expression: {exc}", f"无效的正则表达式：{exc}"),
                    Words("check brackets and escapes", "请检查括号和转义字符"),
                )
            except PatternError as exc:
                self.issue(
                    "T-E074",
                    (*path, "pattern"),
                    Words(
                        f"pattern uses a feature the linear-time regex engine lacks: {exc}",
                        f"该模式用到了线性时间正则引擎不支持的功能：{exc}",
                    ),
                    exc.hint,
                )
        if spec.get("min") is not None and spec.get("max") is not None and spec["min"] > spec["max"]:
            self.issue(
                "T-E072",
                (*path, "min"),
                Words(
                    f"min ({spec['min']}) is greater than max ({spec['max']})",
                    f"min（{spec['min']}）大于 max（{spec['max']}）",
                ),
                Words("swap them", "请交换两者"),
            )
        field = FieldDef(
            name=name,
            type=ftype,
            label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
            help=Label.of(spec["help"]) if spec.get("help") else None,
            required=bool(spec.get("required", False)),
            unique=bool(spec.get("unique", False)),
            indexed=bool(spec.get("indexed", False)),
            renamed_from=spec.get("renamed_from"),
            part=_part(kind, spec, picklist=picklist, target=target, expression=expression),
            encrypted=bool(spec.get("encrypted", False)),
            merge_keep=(spec.get("merge") or {}).get("keep"),
        )
        self.check_merge_keep(field, path)
        if field.encrypted:
            for prop in ("unique", "indexed"):
                if spec.get(prop):
                    self.issue(
                        "T-E083",
                        (*path, prop),
                        Words(f"an encrypted field cannot be `{prop}`", f"加密字段不能设为 `{prop}`"),
                        Words(
                            "encrypted values differ each time they are stored, so the database cannot compare them",
                            "加密后的值每次存储都不同，数据库无法比较它们",
                        ),
                    )
        self.check_migrate_values(field, spec, path)
        return self.with_default(field, spec, path, known_fields)

    def check_merge_keep(self, field: FieldDef, path: tuple) -> None:
        """``merge: {keep: sum}`` adds numbers up (T-E084); ``longest`` compares texts (T-E085)."""
        keep = field.merge_keep
        if keep == "sum" and field.value_kind.storage not in ("integer", "decimal"):
            self.issue(
                "T-E084",
                (*path, "merge", "keep"),
                Words(
                    f"`keep: sum` adds numbers up, and {field.name} is a {field.type} field",
                    f"`keep: sum` 会把数字相加，而 {field.name} 是 {field.type} 字段",
                ),
                Words(
                    "use `keep: newest`, `oldest` or `longest`, or leave `merge:` out to keep the survivor's value",
                    "请使用 `keep: newest`、`oldest` 或 `longest`，或去掉 `merge:` 以保留合并后保留记录的值",
                ),
            )
        if keep == "longest" and not field.value_kind.text_match:
            self.issue(
                "T-E085",
                (*path, "merge", "keep"),
                Words(
                    f"`keep: longest` compares texts, and {field.name} is a {field.type} field",
                    f"`keep: longest` 比较的是文本，而 {field.name} 是 {field.type} 字段",
                ),
                Words("use `keep: newest` or `oldest`", "请使用 `keep: newest` 或 `oldest`")
                + (
                    Words(" or `sum`", " 或 `sum`")
                    if field.value_kind.storage in ("integer", "decimal")
                    else Words("", "")
                ),
            )

    def field_picklist(self, name: str, spec: dict, path: tuple, picklists: dict[str, Picklist]) -> Picklist | None:
        if "picklist" in spec and "values" in spec:
            self.issue(
                "T-E034",
                (*path, "values"),
                Words(
                    "give either `picklist:` or `values:`, not both", "`picklist:` 和 `values:` 只能写一个，不能同时写"
                ),
                Words("keep one", "请保留其中一个"),
                key=True,
            )
        if "values" in spec:
            return self.compile_picklist(f"{path[1]}.{name}", spec["values"], None, path)
        if "picklist" in spec:
            found = picklists.get(spec["picklist"])
            if found is None:
                self.issue(
                    "T-E031",
                    (*path, "picklist"),
                    Words(f"unknown picklist `{spec['picklist']}`", f"未知的选项列表 `{spec['picklist']}`"),
                    did_you_mean(spec["picklist"], picklists)
                    or Words(
                        f"known picklists: {', '.join(picklists) or 'none'}",
                        f"已有的选项列表：{', '.join(picklists) or '无'}",
                    ),
                )
            return found
        return None

    def check_migrate_values(self, field: FieldDef, spec: dict, path: tuple) -> None:
        if not field.migrate_values or field.picklist is None:
            return
        keys = field.picklist.keys()
        for old, new in field.migrate_values.items():
            if new not in keys:
                self.issue(
                    "T-E073",
                    (*path, "migrate_values", old),
                    Words(f"`{new}` is not a value of this field's picklist", f"`{new}` 不是该字段选项列表中的值"),
                    did_you_mean(new, keys) or Words("map old values to values that exist", "请把旧值映射到已存在的值"),
                )

    def with_default(self, field: FieldDef, spec: dict, path: tuple, known_fields: set[str]) -> FieldDef:
        if "default" not in spec or spec["default"] is None or field.is_computed:
            return field  # a computed field's default is reported once, as T-E034
        default = spec["default"]
        dpath = (*path, "default")
        if isinstance(default, str) and default.startswith("="):
            expr = self.expression(default[1:], dpath, (known_fields | DEFAULT_NAMES) - {field.name})
            return replace(field, default_expression=expr)
        settings = self.settings
        try:
            value = fieldtypes.coerce_value(field, default, settings)
        except fieldtypes.FieldValueError as exc:
            self.issue(
                "T-E050",
                dpath,
                Words(
                    f"default {default!r} does not fit a {field.type} field: {exc.message}",
                    f"默认值 {default!r} 不适合 {field.type} 字段：{exc.words().zh}",
                ),
                Words(
                    "give a value of the field's type, or an expression starting with '='",
                    "请给出该字段类型的值，或以 '=' 开头的表达式",
                ),
            )
            return field
        return replace(field, default=value)

    def check_dependents(self, fields: dict[str, FieldDef], path: tuple) -> None:
        for field in fields.values():
            if not field.depends_on:
                continue
            dpath = (*path, "fields", field.name, "depends_on")
            parent = fields.get(field.depends_on)
            if parent is None:
                self.issue(
                    "T-E032",
                    dpath,
                    Words(f"unknown field `{field.depends_on}`", f"未知的字段 `{field.depends_on}`"),
                    did_you_mean(field.depends_on, fields),
                )
            elif parent.picklist is None or parent.kind.list_valued:  # a picklist
                self.issue(
                    "T-E033",
                    dpath,
                    Words(
                        f"`{field.depends_on}` is a {parent.type} field; a dependent picklist needs a picklist parent",
                        f"`{field.depends_on}` 是 {parent.type} 字段；依赖的选项列表需要一个选项列表字段作为上级",
                    ),
                    Words("point depends_on at a picklist field", "请让 depends_on 指向一个选项列表字段"),
                )
            elif parent.name == field.name:
                self.issue(
                    "T-E033",
                    dpath,
                    Words("a field cannot depend on itself", "字段不能依赖自身"),
                    Words("point depends_on at another picklist field", "请让 depends_on 指向另一个选项列表字段"),
                )
            elif field.picklist is not None and field.picklist.name != parent.picklist.name:
                self.check_parents(field, parent, path)

    def check_parents(self, field: FieldDef, parent: FieldDef, object_path: tuple) -> None:
        """Each value's ``parents`` must name values of the parent field's picklist."""
        picklist, parent_picklist = field.picklist, parent.picklist
        if picklist is None or parent_picklist is None:  # check_dependents calls it for two picklists
            return
        parent_keys = parent_picklist.keys()
        shared = "." not in picklist.name
        base = ("picklists", picklist.name) if shared else (*object_path, "fields", field.name)

        def visit(values: tuple[PicklistValue, ...], path: tuple) -> None:
            for index, value in enumerate(values):
                vpath = (*path, "values" if path == base else "children", index)
                for p, key in enumerate(value.parents):
                    if key not in parent_keys:
                        self.issue(
                            "T-E033",
                            (*vpath, "parents", p),
                            Words(
                                f"`{key}` is not a value of `{parent.name}`, the field `{field.name}` depends on",
                                f"`{key}` 不是 `{parent.name}`（字段 `{field.name}` 所依赖的字段）的值",
                            ),
                            did_you_mean(key, parent_keys)
                            or Words(
                                f"values of {parent.name}: {', '.join(sorted(parent_keys))}",
                                f"{parent.name} 的值：{', '.join(sorted(parent_keys))}",
                            ),
                        )
                visit(value.children, vpath)

        visit(picklist.values, base)

    # --- pipelines ---------------------------------------------------------
    def compile_stages(
        self, specs: list | None, path: tuple, known_fields: set[str]
    ) -> tuple[list[Stage], dict[str, int]]:
        """One pipeline's stages (``path`` is the pipeline's); keys unique (T-E060), fields known (T-E032)."""
        seen: dict[str, int] = {}
        stages = []
        for index, stage_spec in enumerate(specs or []):
            if isinstance(stage_spec, str):
                stage_spec = {"key": stage_spec}
            spath = (*path, "stages", index)
            key = stage_spec["key"]
            if key in seen:
                self.issue(
                    "T-E060",
                    spath,
                    Words(
                        f"stage `{key}` is declared twice (also stages[{seen[key]}])",
                        f"阶段 `{key}` 声明了两次（另一处是 stages[{seen[key]}]）",
                    ),
                    KEEP_ONE,
                )
            seen[key] = index
            for r, required in enumerate(stage_spec.get("requires") or []):
                if required not in known_fields:
                    self.issue(
                        "T-E032",
                        (*spath, "requires", r),
                        Words(f"unknown field `{required}`", f"未知的字段 `{required}`"),
                        did_you_mean(required, known_fields) or LIST_FIELDS,
                    )
            stages.append(
                Stage(
                    key=key,
                    label=Label.of(stage_spec.get("label"), key.replace("_", " ").capitalize()),
                    probability=stage_spec.get("probability"),
                    outcome=stage_spec.get("outcome", "open"),
                    requires=tuple(stage_spec.get("requires") or ()),
                    color=stage_spec.get("color"),
                    requires_when=tuple(
                        self.compile_conditional_requirements(
                            stage_spec.get("requires_when") or [], (*spath, "requires_when"), known_fields
                        )
                    ),
                    next=tuple(stage_spec.get("next") or ()),
                    forecast=stage_spec.get("forecast"),
                )
            )
            if stage_spec.get("forecast") and stage_spec.get("outcome", "open") != "open":
                self.issue(
                    "T-E185",
                    (*spath, "forecast"),
                    Words(
                        f"stage `{key}` closes the record ({stage_spec['outcome']}): a forecast counts it as "
                        f"{stage_spec['outcome']}, not as `{stage_spec['forecast']}`",
                        f"阶段 `{key}` 会关闭记录（{stage_spec['outcome']}）：预测把它计为 "
                        f"{stage_spec['outcome']}，而不是 `{stage_spec['forecast']}`",
                    ),
                    Words("remove `forecast` from won and lost stages", "请从赢单和输单阶段中删除 `forecast`"),
                )
        if not stages:
            self.issue(
                "T-E012",
                (*path, "stages"),
                Words("a pipeline needs at least one stage", "销售管道至少需要一个阶段"),
                Words("add `stages: [...]`", "请添加 `stages: [...]`"),
            )
        for index, stage in enumerate(stages):
            for n, target in enumerate(stage.next):
                if target not in seen:
                    self.issue(
                        "T-E032",
                        (*path, "stages", index, "next", n),
                        Words(f"unknown stage `{target}`", f"未知的阶段 `{target}`"),
                        did_you_mean(target, seen)
                        or Words("list stage keys of this pipeline", "请列出此销售管道中阶段的键"),
                    )
        return stages, seen

    def compile_variants(
        self, spec: dict, path: tuple, known_fields: set[str], fields: dict[str, FieldDef]
    ) -> tuple[PipelineVariant, ...]:
        """``pipelines`` (chosen by the field ``by``): each variant's values of ``by`` (T-E093) and stages."""
        by, variants_spec = spec.get("by"), spec.get("pipelines") or {}
        if by is None:
            if variants_spec:
                self.issue(
                    "T-E012",
                    (*path, "pipelines"),
                    Words(
                        "`pipelines` needs `by:` (the field that chooses one)",
                        "`pipelines` 需要 `by:`（用来选择销售管道的字段）",
                    ),
                    Words("add e.g. `by: product_line`", "请添加，例如 `by: product_line`"),
                )
            return ()
        by_field = fields.get(by)
        if by_field is None:
            self.issue(
                "T-E032",
                (*path, "by"),
                Words(f"unknown field `{by}`", f"未知的字段 `{by}`"),
                did_you_mean(by, known_fields)
                or Words("name a picklist field of this object", "请指定此对象的一个选项列表字段"),
            )
            return ()
        if by_field.picklist is None or by_field.kind.list_valued:  # a picklist
            self.issue(
                "T-E034",
                (*path, "by"),
                Words(
                    f"`by` must name a picklist field, and `{by}` is {by_field.type}",
                    f"`by` 必须指定选项列表字段，而 `{by}` 是 {by_field.type}",
                ),
                Words(
                    "choose pipelines by a picklist such as a product line",
                    "请用选项列表（例如产品线）来选择销售管道",
                ),
            )
            return ()
        claimed: dict[str, str] = {}
        variants = []
        for key, vspec in variants_spec.items():
            vpath = (*path, "pipelines", key)
            for w_index, value in enumerate(vspec.get("when") or []):
                if by_field.picklist.find(value) is None:
                    self.issue(
                        "T-E093",
                        (*vpath, "when", w_index),
                        Words(f"`{value}` is not a value of `{by}`", f"`{value}` 不是 `{by}` 的值"),
                        did_you_mean(value, [v.key for v in by_field.picklist.walk()])
                        or Words("list values of the picklist", "请列出该选项列表中的值"),
                    )
                elif value in claimed:
                    self.issue(
                        "T-E093",
                        (*vpath, "when", w_index),
                        Words(
                            f"`{value}` already chooses the pipeline `{claimed[value]}`",
                            f"`{value}` 已经选择了销售管道 `{claimed[value]}`",
                        ),
                        Words("keep it in one pipeline", "请只在一个销售管道中保留它"),
                    )
                claimed.setdefault(value, key)
            stages, _ = self.compile_stages(vspec.get("stages"), vpath, known_fields)
            variants.append(
                PipelineVariant(
                    key=key,
                    label=Label.of(vspec.get("label"), key.replace("_", " ").capitalize()),
                    when=tuple(vspec.get("when") or ()),
                    stages=tuple(stages),
                )
            )
        return tuple(variants)

    def compile_pipeline(
        self,
        spec: dict,
        field_spec: dict | None,
        path: tuple,
        object_path: tuple,
        known_fields: set[str],
        fields: dict[str, FieldDef] | None = None,
    ) -> tuple[Pipeline, FieldDef]:
        field_name = spec.get("field", "stage")
        stages, seen = self.compile_stages(spec.get("stages"), path, known_fields)
        variants = self.compile_variants(spec, path, known_fields, fields or {})
        all_stages: dict[str, Stage] = {s.key: s for s in stages}
        for variant in variants:
            for stage in variant.stages:
                all_stages.setdefault(stage.key, stage)
                seen.setdefault(stage.key, -1)
        picklist = Picklist(
            name=f"{object_path[1]}.{field_name}",
            label=Label.of(spec.get("label"), {"en": "Stage", "zh": "阶段"}),
            values=tuple(PicklistValue(s.key, s.label, color=s.color) for s in all_stages.values()),
        )
        field_spec = field_spec or {}
        fpath = (*object_path, "fields", field_name)
        if field_spec.get("type", "picklist") != "picklist":
            self.issue(
                "T-E034",
                (*fpath, "type"),
                Words(
                    f"the pipeline field `{field_name}` must be a picklist",
                    f"销售管道字段 `{field_name}` 必须是选项列表",
                ),
                Words(
                    "remove `type:` or set it to picklist; its values are the stages",
                    "请删除 `type:` 或将其设为 picklist；它的值就是各阶段",
                ),
            )
        if "values" in field_spec or "picklist" in field_spec:
            self.issue(
                "T-E034",
                fpath,
                Words(
                    f"the values of `{field_name}` are the pipeline's stages",
                    f"`{field_name}` 的值就是销售管道的各阶段",
                ),
                Words("remove `values:`/`picklist:` from the field", "请从该字段中删除 `values:`/`picklist:`"),
            )
        stage_field = FieldDef(
            name=field_name,
            type="picklist",
            label=Label.of(field_spec.get("label") or spec.get("label"), {"en": "Stage", "zh": "阶段"}),
            required=True,
            indexed=True,
            default=field_spec.get("default", stages[0].key if stages else None),
            part=ChoicePart(picklist=picklist),
        )
        if stage_field.default is not None and stage_field.default not in seen:
            self.issue(
                "T-E050",
                (*fpath, "default"),
                Words(
                    f"default stage `{stage_field.default}` is not a stage",
                    f"默认阶段 `{stage_field.default}` 不是一个阶段",
                ),
                did_you_mean(stage_field.default, seen),
            )
        skip_spec = spec.get("skip") or {}
        skip = SkipRule(
            allowed=skip_spec.get("allowed", True),
            permission=skip_spec.get("permission", "skip_stage"),
            reason_required=skip_spec.get("reason", "required") == "required",
        )
        pipeline = Pipeline(
            field=field_name,
            label=Label.of(spec.get("label"), {"en": "Pipeline", "zh": "流程"}),
            stages=tuple(stages),
            back=spec.get("back", True),
            reopen=spec.get("reopen", "anyone"),
            skip=skip,
            by=spec.get("by") if variants else None,
            variants=variants,
        )
        return pipeline, stage_field

    def compile_conditional_requirements(self, specs: list, path: tuple, known_fields: set[str]):
        """``requires_when`` entries: a condition (T-E040/T-E041) and the fields it requires (T-E032)."""
        for index, spec in enumerate(specs):
            rpath = (*path, index)
            for f_index, name in enumerate(spec.get("fields") or []):
                if name not in known_fields:
                    self.issue(
                        "T-E032",
                        (*rpath, "fields", f_index),
                        Words(f"unknown field `{name}`", f"未知的字段 `{name}`"),
                        did_you_mean(name, known_fields) or LIST_FIELDS,
                    )
            when = self.expression(spec.get("when"), (*rpath, "when"), known_fields)
            if when is not None:
                message = Label.of(spec["message"], "") if spec.get("message") else None
                yield ConditionalRequirement(when=when, fields=tuple(spec.get("fields") or ()), message=message)

    # --- rules, titles and expressions --------------------------------------
    def compile_rules(self, specs: list, path: tuple, known_fields: set[str]):
        seen: dict[str, int] = {}
        for index, spec in enumerate(specs):
            rpath = (*path, index)
            name = spec["name"]
            if name in seen:
                self.issue(
                    "T-E060",
                    rpath,
                    Words(
                        f"rule `{name}` is declared twice (also rules[{seen[name]}])",
                        f"规则 `{name}` 声明了两次（另一处是 rules[{seen[name]}]）",
                    ),
                    Words("rename one of them", "请重命名其中一个"),
                )
            seen[name] = index
            if "assert" not in spec:
                self.issue(
                    "T-E012",
                    rpath,
                    Words(
                        "a rule needs `assert:` (the condition that must hold)", "规则需要 `assert:`（必须成立的条件）"
                    ),
                    Words("add e.g. `assert: amount > 0`", "请添加，例如 `assert: amount > 0`"),
                )
                continue
            if spec.get("field") and spec["field"] not in known_fields:
                self.issue(
                    "T-E032",
                    (*rpath, "field"),
                    Words(f"unknown field `{spec['field']}`", f"未知的字段 `{spec['field']}`"),
                    did_you_mean(spec["field"], known_fields),
                )
            assertion = self.expression(spec["assert"], (*rpath, "assert"), known_fields)
            when = self.expression(spec["when"], (*rpath, "when"), known_fields) if spec.get("when") else None
            if assertion is None:
                continue
            yield ValidationRule(
                name=name,
                assertion=assertion,
                message=Label.of(
                    spec.get("message"), {"en": f"The rule {name} is not met.", "zh": f"不满足规则 {name}。"}
                ),
                when=when,
                field=spec.get("field"),
            )

    def check_title(self, title: str | None, path: tuple, known_fields: set[str]) -> None:
        if not title:
            return
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(title) if f is not None]
        except ValueError as exc:
            self.issue(
                "T-E011",
                path,
                Words(f"invalid title template: {exc}", f"无效的标题模板：{exc}"),
                Words(
                    'write field names in braces, e.g. "{name} ({city})"',
                    '请把字段名写在花括号中，例如 "{name} ({city})"',
                ),
            )
            return
        for name in names:
            if name not in known_fields and name not in SYSTEM_COLUMNS:
                self.issue(
                    "T-E032",
                    path,
                    Words(f"the title names unknown field `{name}`", f"标题中用到了未知的字段 `{name}`"),
                    did_you_mean(name, known_fields),
                )

    def check_list_columns(self, columns: list, path: tuple, known_fields: set[str]) -> tuple[str, ...]:
        """The list page's columns: each a field of the object or a system column (T-E032)."""
        for index, name in enumerate(columns):
            if name not in known_fields and name not in SYSTEM_COLUMNS:
                self.issue(
                    "T-E032",
                    (*path, index),
                    Words(f"the list names unknown field `{name}`", f"列表中用到了未知的字段 `{name}`"),
                    did_you_mean(name, sorted(known_fields | set(SYSTEM_COLUMNS)))
                    or Words("list fields of this object or system columns", "请列出此对象的字段或系统列"),
                )
        return tuple(columns)

    def compile_sections(self, specs: list, path: tuple, known_fields: set[str]) -> tuple[Section, ...]:
        """The record page's sections: each names fields of the object (T-E032), each field once (T-E060)."""
        sections: list[Section] = []
        seen: dict[str, tuple] = {}
        for index, spec in enumerate(specs):
            if not isinstance(spec, dict):
                continue
            spath = (*path, index)
            names: list[str] = []
            for f_index, fname in enumerate(spec.get("fields") or []):
                fpath = (*spath, "fields", f_index)
                if fname not in known_fields:
                    self.issue(
                        "T-E032",
                        fpath,
                        Words(f"the layout names unknown field `{fname}`", f"布局中用到了未知的字段 `{fname}`"),
                        did_you_mean(fname, sorted(known_fields)) or LIST_FIELDS,
                    )
                    continue
                if fname in seen:
                    self.issue(
                        "T-E060",
                        fpath,
                        Words(
                            f"field `{fname}` is placed twice in the layout (also at {format_path(seen[fname])})",
                            f"字段 `{fname}` 在布局中放了两次（另一处在 {format_path(seen[fname])}）",
                        ),
                        Words("keep it in one section", "请只在一个部分中保留它"),
                    )
                    continue
                seen[fname] = fpath
                names.append(fname)
            sections.append(
                Section(
                    label=Label.of(spec.get("label"), {"en": f"Section {index + 1}", "zh": f"第 {index + 1} 部分"}),
                    fields=tuple(names),
                    columns=spec.get("columns", 1) if spec.get("columns") in (1, 2) else 1,
                )
            )
        return tuple(sections)

    def expression(self, source: Any, path: tuple, names: set[str] | frozenset[str]) -> Expression | None:
        if not isinstance(source, str):
            self.issue(
                "T-E040",
                path,
                Words("an expression must be text", "表达式必须是文本"),
                Words("quote it", "请给它加上引号"),
            )
            return None
        try:
            expr = parse_expression(source)
        except ExpressionSyntaxError as exc:
            self.issue(
                "T-E040",
                path,
                Words(
                    f"expression does not parse: {exc} (at character {exc.offset + 1} of {source!r})",
                    f"表达式无法解析：{exc.zh}（在 {source!r} 的第 {exc.offset + 1} 个字符处）",
                ),
                Words(
                    "write a Python-like expression, e.g. unit_price * quantity",
                    "请写类似 Python 的表达式，例如 unit_price * quantity",
                ),
            )
            return None
        allowed = set(names) | set(SYSTEM_COLUMNS)
        for name in sorted(expr.names - allowed):
            self.issue(
                "T-E041",
                path,
                Words(f"unknown field `{name}` in expression {source!r}", f"表达式 {source!r} 中有未知的字段 `{name}`"),
                did_you_mean(name, allowed)
                or Words(
                    "expressions may name this object's fields and system columns",
                    "表达式中只能使用此对象的字段和系统列",
                ),
            )
        for call in sorted(expr.calls - FUNCTIONS):
            self.issue(
                "T-E042",
                path,
                Words(
                    f"unknown function `{call}()` in expression {source!r}",
                    f"表达式 {source!r} 中有未知的函数 `{call}()`",
                ),
                did_you_mean(call, FUNCTIONS)
                or Words(f"available: {', '.join(sorted(FUNCTIONS))}", f"可用的函数：{', '.join(sorted(FUNCTIONS))}"),
            )
        limit = constant_limit_error(expr)
        if limit:
            self.issue(
                "T-E044",
                path,
                Words(f"expression {source!r} exceeds a limit: {limit}", f"表达式 {source!r} 超出了限制：{limit.zh}"),
                Words(
                    f"powers may have at most {MAX_POWER_DIGITS} digits, text and lists {MAX_STRING_LENGTH:,} items",
                    f"幂运算的结果最多 {MAX_POWER_DIGITS} 位，文本和列表最多 {MAX_STRING_LENGTH:,} 项",
                ),
            )
        return expr

    def formula_order(self, fields: dict[str, FieldDef], path: tuple) -> tuple[str, ...]:
        """Formulas sorted so each comes after the formulas it reads; cycles are reported."""
        formulas = {n: f.expression for n, f in fields.items() if f.expression}
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                cycle = " → ".join([*trail[trail.index(name) :], name])
                self.issue(
                    "T-E043",
                    (*path, "fields", name, "expression"),
                    Words(f"formulas depend on each other in a cycle: {cycle}", f"公式之间循环依赖：{cycle}"),
                    Words(
                        "break the cycle: a formula cannot (indirectly) use itself",
                        "请打破循环：公式不能（直接或间接地）引用自身",
                    ),
                )
                return
            state[name] = "visiting"
            for dep in sorted(formulas[name].names & set(formulas)):
                visit(dep, [*trail, name])
            state[name] = "done"
            order.append(name)

        for name in formulas:
            visit(name, [])
        return tuple(order)


#: Hints several checks give.
KEEP_ONE = Words("keep one of them", "请保留其中一个")
LIST_FIELDS = Words("list fields of this object", "请列出此对象的字段")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _RoleCompiler:
    """Resolves ``inherits`` and ``*`` so that each Role holds a grant per object."""

    def __init__(self, compiler: Compiler, specs: dict, objects: dict[str, ObjectDef]) -> None:
        self.compiler, self.specs, self.objects = compiler, specs, objects
        self.resolved: dict[str, Role | None] = {}

    def compile(self) -> dict[str, Role]:
        for name in self.specs:
            if self.compiler.guarded(None, self.resolve, name, ()) is None:
                self.resolved.setdefault(name, None)
                self.compiler.skipped.add(name)
        return {name: role for name, role in self.resolved.items() if role is not None}

    def resolve(self, name: str, trail: tuple[str, ...]) -> Role | None:
        if name in self.resolved:
            return self.resolved[name]
        if name in trail:
            cycle = " → ".join([*trail[trail.index(name) :], name])
            self.compiler.issue(
                "T-E081",
                ("roles", name, "inherits"),
                Words(f"roles inherit from each other in a cycle: {cycle}", f"角色之间循环继承：{cycle}"),
                Words("a role cannot (indirectly) inherit from itself", "角色不能（直接或间接地）继承自身"),
            )
            return None
        spec = self.specs[name]
        path = ("roles", name)
        parents = self.parents(spec, path, (*trail, name))
        grants = self.grants(spec.get("objects") or {}, parents, path)
        hidden = self.fields(spec, "hidden", path) if "hidden" in spec else _common(p.hidden for p in parents)
        read_only = (
            self.fields(spec, "read_only", path) if "read_only" in spec else _common(p.read_only for p in parents)
        )
        self.compiler.check_networks(spec.get("ip_allowlist") or [], (*path, "ip_allowlist"))
        role = Role(
            name=name,
            label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
            grants=frozen_map(grants),
            permissions=frozenset(spec.get("permissions") or ()).union(*(p.permissions for p in parents)),
            hidden=hidden,
            read_only=read_only,
            lookup_titles=spec.get("lookup_titles", any(p.lookup_titles for p in parents)),
            require_totp=spec.get("require_totp", any(p.require_totp for p in parents)),
            ip_allowlist=tuple(spec["ip_allowlist"]) if "ip_allowlist" in spec else _first_allowlist(parents),
            description=spec.get("description"),
        )
        self.resolved[name] = role
        return role

    def parents(self, spec: dict, path: tuple, trail: tuple[str, ...]) -> list[Role]:
        inherits = spec.get("inherits") or []
        names = [inherits] if isinstance(inherits, str) else list(inherits)
        parents = []
        for index, parent in enumerate(names):
            ppath = (*path, "inherits") if isinstance(inherits, str) else (*path, "inherits", index)
            if parent not in self.specs:
                others = [r for r in self.specs if r != trail[-1]]
                self.compiler.issue(
                    "T-E080",
                    ppath,
                    Words(f"unknown role `{parent}`", f"未知的角色 `{parent}`"),
                    did_you_mean(parent, others)
                    or Words(f"known roles: {', '.join(others)}", f"已有的角色：{', '.join(others)}"),
                )
                continue
            resolved = self.resolve(parent, trail)
            if resolved is not None:
                parents.append(resolved)
        return parents

    def grants(self, spec: dict, parents: list[Role], path: tuple) -> dict[str, ObjectGrant]:
        for object_name in spec:
            if object_name != "*" and object_name not in self.objects:
                self.compiler.issue(
                    "T-E030",
                    (*path, "objects", object_name),
                    Words(f"unknown object `{object_name}`", f"未知的对象 `{object_name}`"),
                    did_you_mean(object_name, self.objects)
                    or Words(f"known objects: {', '.join(self.objects)}", f"已有的对象：{', '.join(self.objects)}"),
                    key=True,
                )
        grants = {}
        for object_name in self.objects:
            inherited = NO_GRANT
            for parent in parents:
                inherited = inherited.merge(parent.grant(object_name))
            own = spec.get(object_name, spec.get("*"))
            grants[object_name] = _override(inherited, own) if own else inherited
        return grants

    def fields(self, spec: dict, key: str, path: tuple) -> frozenset[tuple[str, str]]:
        out = set()
        for index, dotted in enumerate(spec.get(key) or []):
            object_name, field_name = dotted.split(".", 1)
            obj = self.objects.get(object_name)
            if obj is None:
                self.compiler.issue(
                    "T-E030",
                    (*path, key, index),
                    Words(
                        f"unknown object `{object_name}` in `{dotted}`", f"`{dotted}` 中有未知的对象 `{object_name}`"
                    ),
                    did_you_mean(object_name, self.objects),
                )
            elif field_name not in obj.fields:
                self.compiler.issue(
                    "T-E032",
                    (*path, key, index),
                    Words(f"unknown field `{field_name}` in `{dotted}`", f"`{dotted}` 中有未知的字段 `{field_name}`"),
                    did_you_mean(field_name, obj.fields),
                )
            else:
                out.add((object_name, field_name))
        return frozenset(out)


def _override(base: ObjectGrant, spec: dict) -> ObjectGrant:
    """``base`` with the keys ``spec`` gives replaced (``import`` is ``import_`` in Python)."""
    changes = {(key + "_" if key in ("import", "merge") else key): value for key, value in spec.items()}
    return replace(base, **changes)


def _common(sets) -> frozenset:
    """Fields hidden by every parent (a field one parent shows stays visible)."""
    sets = list(sets)
    return frozenset.intersection(*sets) if sets else frozenset()


def _first_allowlist(parents: list[Role]) -> tuple[str, ...]:
    if parents and all(p.ip_allowlist for p in parents):
        return tuple(dict.fromkeys(n for p in parents for n in p.ip_allowlist))
    return ()
