"""The typed, immutable model of a Trellis config.

The loader and checker turn YAML into these frozen dataclasses; nothing else in
Trellis sees the raw YAML. Mappings are exposed read-only (``MappingProxyType``)
so that a compiled config can be shared between threads and requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.metadata.expressions import Expression

#: Columns every object table has; config fields may not use these names.
SYSTEM_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "owner_id",
    "version",
    "archived_at",
    "stage_entered_at",
)


def frozen_map(data: Mapping | None = None) -> Mapping:
    """Return a read-only view of ``data`` (a fresh empty mapping when None)."""
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Label:
    """A display text in one or more languages (S49)."""

    texts: Mapping[str, str]

    @classmethod
    def of(cls, value: str | Mapping[str, str] | None, fallback: str = "") -> Label:
        """Build a label from a config value: a plain string or ``{en: …, zh: …}``."""
        if value is None:
            return cls(frozen_map({"": fallback}))
        if isinstance(value, str):
            return cls(frozen_map({"": value}))
        return cls(frozen_map(value))

    def get(self, language: str = "en") -> str:
        """The text for ``language`` (``zh`` also matches ``zh_CN``), else the first one."""
        for key in (language, language.split("_")[0], "", "en"):
            if key in self.texts:
                return self.texts[key]
        return next(iter(self.texts.values()))

    def __str__(self) -> str:
        return self.get("en")


@dataclass(frozen=True)
class SecuritySettings:
    """Account security settings (S36–S38)."""

    lockout_attempts: int = 5
    lockout_minutes: int = 15
    password_min_length: int = 10
    password_classes: int = 2
    ip_allowlist: tuple[str, ...] = ()
    require_totp: bool = False
    reconfirm_minutes: int = 5


@dataclass(frozen=True)
class Settings:
    """Company settings (S1)."""

    company: str = "Trellis"
    logo: str | None = None
    timezone: str = "UTC"
    currency: str = "USD"
    locale: str = "en_US"
    languages: tuple[str, ...] = ("en",)
    date_format: str = "YYYY-MM-DD"
    retention_years: int | None = None
    phone_region: str | None = None
    security: SecuritySettings = field(default_factory=SecuritySettings)


@dataclass(frozen=True)
class PicklistValue:
    """One allowed value of a picklist; ``children`` make a hierarchy."""

    key: str
    label: Label
    children: tuple[PicklistValue, ...] = ()
    parents: tuple[str, ...] = ()
    color: str | None = None
    inactive: bool = False


@dataclass(frozen=True)
class Picklist:
    """A named list of values (shared, or inline on one field)."""

    name: str
    label: Label
    values: tuple[PicklistValue, ...]

    def walk(self) -> tuple[PicklistValue, ...]:
        """Every value at every level, parents before their children."""
        out: list[PicklistValue] = []

        def visit(values: tuple[PicklistValue, ...]) -> None:
            for value in values:
                out.append(value)
                visit(value.children)

        visit(self.values)
        return tuple(out)

    def keys(self) -> frozenset[str]:
        """All keys at every level."""
        return frozenset(v.key for v in self.walk())

    def find(self, key: str) -> PicklistValue | None:
        """The value with ``key`` at any level, or None."""
        return next((v for v in self.walk() if v.key == key), None)


@dataclass(frozen=True)
class FieldDef:
    """A field of an object. ``type`` names an entry of the field type registry."""

    name: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    default_expression: Expression | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    scale: int | None = None
    pattern: str | None = None
    pattern_message: Label | None = None
    picklist: Picklist | None = None
    depends_on: str | None = None
    target: str | None = None
    expression: Expression | None = None
    result: str | None = None
    format: str | None = None
    start: int = 1
    renamed_from: str | None = None
    migrate_values: Mapping[str, str] = field(default_factory=frozen_map)
    encrypted: bool = False

    @property
    def value_type(self) -> str:
        """The type whose storage and coercion apply: a formula's result type, else ``type``."""
        if self.type == "formula":
            return self.result or "decimal"
        return self.type

    @property
    def is_computed(self) -> bool:
        """Formula and autonumber values are computed by Trellis, never given."""
        return self.type in ("formula", "autonumber")


@dataclass(frozen=True)
class Stage:
    """A pipeline stage with its win probability and outcome."""

    key: str
    label: Label
    probability: float | None = None
    outcome: str = "open"
    requires: tuple[str, ...] = ()
    color: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """Ordered stages stored in ``field`` (a picklist of the stage keys)."""

    field: str
    label: Label
    stages: tuple[Stage, ...]

    def stage(self, key: str) -> Stage | None:
        """The stage with ``key``, or None."""
        return next((s for s in self.stages if s.key == key), None)


@dataclass(frozen=True)
class ValidationRule:
    """A record-level rule: when ``when`` holds, ``assertion`` must hold."""

    name: str
    assertion: Expression
    message: Label
    when: Expression | None = None
    field: str | None = None


@dataclass(frozen=True)
class Section:
    """A group of fields on the record page and the edit form (``layout.sections``)."""

    label: Label
    fields: tuple[str, ...]
    columns: int = 1


@dataclass(frozen=True)
class ObjectDef:
    """An object (record type) and everything declared about it."""

    name: str
    label: Label
    plural_label: Label
    fields: Mapping[str, FieldDef]
    title: str | None = None
    description: str | None = None
    pipeline: Pipeline | None = None
    rules: tuple[ValidationRule, ...] = ()
    renamed_from: str | None = None
    formula_order: tuple[str, ...] = ()
    audit_reads: bool = False
    #: The list page's columns (fields or system columns); empty: the first visible fields.
    list_columns: tuple[str, ...] = ()
    #: The record page's sections (``layout.sections``); empty: one section with every field.
    sections: tuple[Section, ...] = ()

    @property
    def table_name(self) -> str:
        """Name of the database table holding this object's records."""
        return f"obj_{self.name}"

    def title_fields(self) -> tuple[str, ...]:
        """Fields named by the title template, in order."""
        import string

        if not self.title:
            return ()
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.title) if f)


#: Record scopes from narrowest to widest.
ACCESS_LEVELS: tuple[str, ...] = ("none", "own", "team", "subtree", "all")
#: Named permissions a role may hold.
PERMISSIONS: tuple[str, ...] = (
    "skip_stage", "approve", "manage_users", "view_audit", "manage_config", "assign", "bulk_edit",
)


def widest(*levels: str) -> str:
    """The most permissive of ``levels`` (``none`` when there are none)."""
    return max(levels, key=ACCESS_LEVELS.index, default="none")


@dataclass(frozen=True)
class ObjectGrant:
    """What a role may do with one object's records."""

    read: str = "none"
    edit: str = "none"
    delete: str = "none"
    create: bool = False
    export: bool = False
    import_: bool = False
    reassign: bool = False

    def merge(self, other: ObjectGrant) -> ObjectGrant:
        """The most permissive combination of two grants (a user with several roles)."""
        return ObjectGrant(
            read=widest(self.read, other.read),
            edit=widest(self.edit, other.edit),
            delete=widest(self.delete, other.delete),
            create=self.create or other.create,
            export=self.export or other.export,
            import_=self.import_ or other.import_,
            reassign=self.reassign or other.reassign,
        )


NO_GRANT = ObjectGrant()


@dataclass(frozen=True)
class Role:
    """A role with inheritance already resolved: a grant for every object."""

    name: str
    label: Label
    grants: Mapping[str, ObjectGrant]
    permissions: frozenset[str] = frozenset()
    hidden: frozenset[tuple[str, str]] = frozenset()
    read_only: frozenset[tuple[str, str]] = frozenset()
    lookup_titles: bool = False
    require_totp: bool = False
    ip_allowlist: tuple[str, ...] = ()
    description: str | None = None

    def grant(self, object_name: str) -> ObjectGrant:
        """The grant for ``object_name`` (no access when none is declared)."""
        return self.grants.get(object_name, NO_GRANT)


@dataclass(frozen=True)
class Config:
    """A whole, checked Trellis config: the result of ``load_config``."""

    settings: Settings
    picklists: Mapping[str, Picklist]
    objects: Mapping[str, ObjectDef]
    roles: Mapping[str, Role]
    source_path: str
    source_text: str
    content_hash: str

    def object(self, name: str) -> ObjectDef:
        """The object called ``name``; raises KeyError with the known names."""
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(f"unknown object {name!r}; known: {', '.join(sorted(self.objects))}") from None
