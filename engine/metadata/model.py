"""The typed, immutable model of a Trellis config.

The loader and checker turn YAML into these frozen dataclasses; nothing else in
Trellis sees the raw YAML. Mappings are exposed read-only (``MappingProxyType``)
so that a compiled config can be shared between threads and requests.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.metadata import fieldtypes
from engine.metadata.expressions import Expression
from engine.metadata.fieldparts import (
    AutonumberPart,
    ChoicePart,
    FieldPart,
    FormulaPart,
    JsonPart,
    LookupPart,
    NoPart,
    NumberPart,
    TextPart,
)
from engine.metadata.schedules import Schedule

if TYPE_CHECKING:
    from engine.metadata.errors import ConfigIssue
    from engine.metadata.fieldtypes import FieldType

#: The part of fields whose kind has no attributes of its own.
NO_PART = NoPart()

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
    "last_activity_at",
)
#: The write-only value that carries the reason for a stage move (a skip, a reopening): taken out
#: of the values of a write to a pipeline object, never stored as a field.
REASON_KEY = "stage_reason"


def frozen_map(data: Mapping | None = None) -> Mapping:
    """Return a read-only view of ``data`` (a fresh empty mapping when None)."""
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Label:
    """A display text in one or more languages (S49)."""

    texts: Mapping[str, str]

    @classmethod
    def of(cls, value: str | Mapping[str, str] | None, fallback: str | Mapping[str, str] = "") -> Label:
        """Build a label from a config value: a plain string or ``{en: …, zh: …}``; ``fallback``
        (a text, or one per language) when the config gives none."""
        if value is None:
            return cls(frozen_map({"": fallback} if isinstance(fallback, str) else fallback))
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
    #: Seconds a web session lasts after its login (``session_lifetime``, default 12h).
    session_lifetime: int = 12 * 3600
    #: Seconds without a request after which a web session ends (``session_idle_timeout``, default 30m).
    session_idle_timeout: int = 30 * 60


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
    #: The worker applies retention (archive and purge) unattended (``engine.runtime.retention``).
    retention_automatic: bool = False
    phone_region: str | None = None
    #: Days a merge can be undone (``engine.runtime.records.merge``).
    merge_undo_days: int = 30
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
        return self._walked

    def keys(self) -> frozenset[str]:
        """All keys at every level."""
        return self._keys

    def find(self, key: str) -> PicklistValue | None:
        """The value with ``key`` at any level, or None."""
        try:
            return self._by_key.get(key)
        except TypeError:  # not a key at all (a list, a mapping)
            return None

    # Worked out once per picklist (every write coerces and checks its values against them).
    @functools.cached_property
    def _walked(self) -> tuple[PicklistValue, ...]:
        out: list[PicklistValue] = []

        def visit(values: tuple[PicklistValue, ...]) -> None:
            for value in values:
                out.append(value)
                visit(value.children)

        visit(self.values)
        return tuple(out)

    @functools.cached_property
    def _keys(self) -> frozenset[str]:
        return frozenset(v.key for v in self._walked)

    @functools.cached_property
    def _by_key(self) -> dict[str, PicklistValue]:
        found: dict[str, PicklistValue] = {}
        for value in self._walked:
            found.setdefault(value.key, value)
        return found


@dataclass(frozen=True)
class FieldDef:
    """A field of an object: what every field has, and its kind's ``part``.

    ``type`` names an entry of the field type registry (``kind``), which says which
    part the field carries (``engine.metadata.fieldparts``): a lookup's ``target`` is
    in a ``LookupPart``, a number's bounds in a ``NumberPart``, and so on. The
    read-only shortcuts below (``max_length``, ``picklist``, ``target``…) read the
    part for code that handles fields of any kind; they are None for kinds without
    the attribute.
    """

    name: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    default_expression: Expression | None = None
    renamed_from: str | None = None
    encrypted: bool = False
    #: Which value survives a merge (``merge: {keep: …}``): newest, oldest, longest, sum; None: the survivor's.
    merge_keep: str | None = None
    part: FieldPart = NO_PART

    # The write path asks these for every value: looked up once per field.
    @functools.cached_property
    def kind(self) -> FieldType:
        """The field type registry's entry for ``type``."""
        return fieldtypes.REGISTRY[self.type]

    @functools.cached_property
    def value_kind(self) -> FieldType:
        """The registry entry whose storage and coercion apply (a formula's result type)."""
        return fieldtypes.REGISTRY[self.value_type]

    @property
    def value_type(self) -> str:
        """The type whose storage and coercion apply: a formula's result type, else ``type``."""
        return self.part.result if isinstance(self.part, FormulaPart) else self.type

    @property
    def is_computed(self) -> bool:
        """Formula and autonumber values are computed by Trellis, never given."""
        return self.part.computed

    def points_to(self, object_name: str) -> bool:
        """Whether this is a lookup to records of ``object_name``."""
        return isinstance(self.part, LookupPart) and self.part.target == object_name

    # --- shortcuts to the part, for code that reads fields of every kind ---------------------
    @property
    def max_length(self) -> int | None:
        """The length limit of text and JSON kinds."""
        return self.part.max_length if isinstance(self.part, (TextPart, JsonPart)) else None

    @property
    def pattern(self) -> str | None:
        """The pattern of text kinds."""
        return self.part.pattern if isinstance(self.part, TextPart) else None

    @property
    def pattern_message(self) -> Label | None:
        """The message shown when a text kind's pattern does not match."""
        return self.part.pattern_message if isinstance(self.part, TextPart) else None

    @property
    def min(self) -> float | None:
        """The lower bound of numbers."""
        return self.part.min if isinstance(self.part, NumberPart) else None

    @property
    def max(self) -> float | None:
        """The upper bound of numbers."""
        return self.part.max if isinstance(self.part, NumberPart) else None

    @property
    def scale(self) -> int | None:
        """Digits after the decimal point of numbers and formulas (None: the default)."""
        return self.part.scale if isinstance(self.part, (NumberPart, FormulaPart)) else None

    @property
    def picklist(self) -> Picklist | None:
        """The picklist of choice kinds."""
        return self.part.picklist if isinstance(self.part, ChoicePart) else None

    @property
    def depends_on(self) -> str | None:
        """The parent field of a dependent picklist."""
        return self.part.depends_on if isinstance(self.part, ChoicePart) else None

    @property
    def migrate_values(self) -> Mapping[str, str]:
        """Old picklist values mapped to new ones at ``apply``."""
        return self.part.migrate_values if isinstance(self.part, ChoicePart) else frozen_map()

    @property
    def target(self) -> str | None:
        """The object a lookup points at (None for other kinds, and for a lookup missing its ``object:``)."""
        return (self.part.target or None) if isinstance(self.part, LookupPart) else None

    @property
    def expression(self) -> Expression | None:
        """A formula's expression."""
        return self.part.expression if isinstance(self.part, FormulaPart) else None

    @property
    def result(self) -> str | None:
        """A formula's result type."""
        return self.part.result if isinstance(self.part, FormulaPart) else None

    @property
    def format(self) -> str | None:
        """An autonumber's format."""
        return self.part.format if isinstance(self.part, AutonumberPart) else None

    @property
    def start(self) -> int:
        """An autonumber's first number (1 for other kinds)."""
        return self.part.start if isinstance(self.part, AutonumberPart) else 1


@dataclass(frozen=True)
class ConditionalRequirement:
    """Fields a stage requires only while ``when`` holds (``requires_when``)."""

    when: Expression
    fields: tuple[str, ...]
    message: Label | None = None


@dataclass(frozen=True)
class Stage:
    """A pipeline stage with its win probability, outcome and gate."""

    key: str
    label: Label
    probability: float | None = None
    outcome: str = "open"
    requires: tuple[str, ...] = ()
    color: str | None = None
    requires_when: tuple[ConditionalRequirement, ...] = ()
    #: Stages a record may move forward to from here; empty: the next stage of the main line.
    next: tuple[str, ...] = ()
    #: The forecast category declared for an open stage (``forecast:``); None: derived.
    forecast: str | None = None

    @property
    def is_closed(self) -> bool:
        """Whether the stage closes the record (won or lost)."""
        return self.outcome in ("won", "lost")

    @property
    def forecast_category(self) -> str:
        """Where a forecast counts a record in this stage: ``won`` or ``lost`` for a closed
        stage; for an open one its declared ``forecast`` (``commit``, ``best_case``,
        ``pipeline``, ``omitted``), else by its probability: 70 % or more ``commit``, 50 % or
        more ``best_case``, otherwise (or without one) ``pipeline``."""
        if self.is_closed:
            return self.outcome
        if self.forecast is not None:
            return self.forecast
        chance = self.probability or 0
        return "commit" if chance >= 70 else "best_case" if chance >= 50 else "pipeline"


@dataclass(frozen=True)
class PipelineVariant:
    """Another pipeline of the same object, used when the ``by`` field holds one of ``when``."""

    key: str
    label: Label
    when: tuple[str, ...]
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class SkipRule:
    """How a record may move more than one stage forward (S18)."""

    allowed: bool = True
    permission: str = "skip_stage"
    reason_required: bool = True


@dataclass(frozen=True)
class Pipeline:
    """Ordered stages stored in ``field`` (a picklist of the stage keys).

    The *main line* is every stage whose outcome is not ``lost``, in order: a
    record normally moves along it one stage at a time. Lost stages sit beside
    it and may be entered from anywhere.
    """

    field: str
    label: Label
    stages: tuple[Stage, ...]
    back: bool = True
    reopen: str = "anyone"
    skip: SkipRule = SkipRule()
    #: The field whose value chooses among ``variants`` (``by``); None: one pipeline.
    by: str | None = None
    #: Other pipelines of the same object (``pipelines``), each used for some values of ``by``.
    variants: tuple[PipelineVariant, ...] = ()
    #: This pipeline's name: ``default`` for the object's own stages, else the variant's key.
    key: str = "default"

    def stage(self, key: str | None) -> Stage | None:
        """The stage with ``key``, or None."""
        return next((s for s in self.stages if s.key == key), None)

    def for_values(self, values: Mapping[str, Any]) -> Pipeline:
        """The pipeline a record with ``values`` moves through: the variant whose ``when``
        holds the value of ``by``, else this (default) one."""
        if self.by is None:
            return self
        chosen = values.get(self.by)
        for variant in self.variants:
            if chosen in variant.when:
                return self.variant(variant.key)
        return self

    def variant(self, key: str) -> Pipeline:
        """The pipeline called ``key`` (``default`` or a variant's key) as a ``Pipeline``."""
        if key == self.key or not self.variants:
            return self
        found = next(v for v in self.variants if v.key == key)
        return Pipeline(
            field=self.field,
            label=found.label,
            stages=found.stages,
            back=self.back,
            reopen=self.reopen,
            skip=self.skip,
            by=self.by,
            key=found.key,
        )

    def all_pipelines(self) -> tuple[Pipeline, ...]:
        """The default pipeline and every variant (for boards and reports)."""
        return (self, *(self.variant(v.key) for v in self.variants))

    def all_stages(self) -> tuple[Stage, ...]:
        """Every stage of every pipeline, each key once (the values of the stage field)."""
        seen: dict[str, Stage] = {}
        for stage in (*self.stages, *(s for v in self.variants for s in v.stages)):
            seen.setdefault(stage.key, stage)
        return tuple(seen.values())

    @property
    def main_line(self) -> tuple[Stage, ...]:
        """The stages a record moves through in order (all but the lost ones)."""
        return tuple(s for s in self.stages if s.outcome != "lost")

    def position(self, key: str | None) -> int | None:
        """Index of ``key`` on the main line; None for lost stages and unknown keys."""
        return next((i for i, s in enumerate(self.main_line) if s.key == key), None)

    def gate(self, key: str) -> tuple[Stage, ...]:
        """The stages whose ``requires`` hold while a record is in stage ``key``: on the
        main line every stage up to and including it (gates are cumulative), for a
        lost stage only itself."""
        position = self.position(key)
        if position is None:
            stage = self.stage(key)
            return (stage,) if stage else ()
        return self.main_line[: position + 1]


@dataclass(frozen=True)
class Approver:
    """Who decides one approval step: the requester's ``manager`` (``levels`` up),
    anyone with a ``role``, or one named ``user``."""

    kind: str
    levels: int = 1
    name: str | None = None

    def describe(self) -> str:
        """A short English description (``manager``, ``2 levels up``, ``role sales_manager``)."""
        if self.kind == "manager":
            return "the requester's manager" if self.levels == 1 else f"the requester's manager {self.levels} levels up"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class ApprovalStep:
    """One step of an approval: who decides it."""

    approver: Approver
    label: Label


@dataclass(frozen=True)
class ApprovalRule:
    """A change that needs approval before it is applied (S18, S21, S33).

    ``trigger`` is ``stage_skip`` (a move past pipeline stages), ``delete`` or
    ``change`` (of one of ``fields``, on the writes ``applies_to`` names: a create
    that fills one of them, an update that changes one); ``when`` narrows it to
    changes whose result meets a condition.
    """

    name: str
    object: str
    label: Label
    trigger: str
    steps: tuple[ApprovalStep, ...]
    fields: tuple[str, ...] = ()
    when: Expression | None = None
    self_approval: bool = False
    #: Whether whoever decided one step of a request is refused its later steps.
    separate_steps: bool = True
    #: For ``change`` rules: the writes it guards (``create``, ``update``).
    applies_to: tuple[str, ...] = ("create", "update")


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
class ActivityDef:
    """The records of this object are timeline entries (``activity:``, S25): calls, visits,
    meetings… attached through ``on`` (lookups to ``timeline: true`` objects)."""

    at: str
    on: tuple[str, ...] = ()
    kind: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class TaskDef:
    """The records of this object are tasks (``task:``, S25): due, assigned, open or done,
    attached through ``on`` (lookups to ``timeline: true`` objects)."""

    due: str
    assignee: str
    status: str
    done: tuple[str, ...] = ()
    on: tuple[str, ...] = ()
    remind: str | None = None
    subject: str | None = None


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
    #: Activities and tasks attach to its records; it has ``last_activity_at`` (S25).
    timeline: bool = False
    #: Its records are timeline entries of the records they point at (``activity:``).
    activity: ActivityDef | None = None
    #: Its records are tasks (``task:``).
    task: TaskDef | None = None
    #: Duplicate rules (``duplicates:``, issue 14): what makes two records likely the same.
    duplicates: tuple[DuplicateRule, ...] = ()
    #: How long its records are kept (``retention:`` or ``settings.retention_years``); None: for ever.
    retention: Retention | None = None

    @property
    def table_name(self) -> str:
        """Name of the database table holding this object's records."""
        return f"obj_{self.name}"

    # The write path asks these for every row: worked out once per object.
    @functools.cached_property
    def lookups(self) -> tuple[FieldDef, ...]:
        """The lookup fields."""
        return tuple(f for f in self.fields.values() if isinstance(f.part, LookupPart))

    @functools.cached_property
    def uniques(self) -> tuple[FieldDef, ...]:
        """The fields whose values are unique."""
        return tuple(f for f in self.fields.values() if f.unique)

    @functools.cached_property
    def files(self) -> tuple[FieldDef, ...]:
        """The file fields."""
        return tuple(f for f in self.fields.values() if f.kind.stores_file)

    @functools.cached_property
    def encrypted(self) -> tuple[str, ...]:
        """The names of the fields stored encrypted."""
        return tuple(f.name for f in self.fields.values() if f.encrypted)

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
    "skip_stage",
    "approve",
    "manage_users",
    "view_audit",
    "manage_config",
    "assign",
    "reopen",
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
    #: May merge duplicates (config key ``merge``; ``merge`` is the method below).
    merge_: bool = False

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
            merge_=self.merge_ or other.merge_,
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
class FieldMapping:
    """How a conversion gives one field of a target its value (``targets.<t>.fields``).

    ``kind`` is ``field`` (copy the source field ``source``), ``expression`` (evaluate
    ``expression`` over the source record), ``target`` (the id of the earlier target
    ``source``, written ``"@account"``) or ``constant`` (``value``, already coerced)."""

    field: str
    kind: str
    source: str | None = None
    expression: Expression | None = None
    value: Any = None


@dataclass(frozen=True)
class ConversionTarget:
    """One record a conversion creates (or links to, when ``match`` finds one)."""

    name: str
    object: str
    label: Label
    fields: tuple[FieldMapping, ...] = ()
    match: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class Conversion:
    """A declared conversion of a record into others (S12: lead → account, contact, opportunity)."""

    name: str
    label: Label
    source: str
    targets: tuple[ConversionTarget, ...]
    when: Expression | None = None
    message: Label | None = None
    mark: Mapping[str, Any] = field(default_factory=frozen_map)
    links: Mapping[str, str] = field(default_factory=frozen_map)
    description: str | None = None

    def target(self, name: str) -> ConversionTarget | None:
        """The target called ``name``, or None."""
        return next((t for t in self.targets if t.name == name), None)


@dataclass(frozen=True)
class Trigger:
    """When an automation rule fires (``on:``).

    ``kind`` names its kind (``engine.metadata.automation_triggers.TRIGGERS``): ``created``,
    ``updated``, ``deleted``, ``changed`` (one of
    ``fields``, optionally ``to`` a value), ``stage_entered`` / ``stage_left`` (one of
    ``stages``, or any), ``approval`` (``decision`` approved/rejected), ``schedule``
    (``offset`` after — or, negative, before — the date in ``from_field``, once per
    value of that field; ``yearly`` for anniversaries) and ``cron`` (``cron``).
    """

    kind: str
    fields: tuple[str, ...] = ()
    to: Any = None
    has_to: bool = False
    stages: tuple[str, ...] = ()
    decision: str | None = None
    offset_seconds: int = 0
    from_field: str | None = None
    yearly: bool = False
    window_seconds: int | None = None
    cron: str | None = None
    #: ``event``: the engagement event kind (``engine.metadata.campaigns.EVENT_KINDS``).
    event: str | None = None


@dataclass(frozen=True)
class Recipient:
    """Who a notification goes to: ``owner``, ``manager`` (of the owner), a ``role``, a
    ``user`` or the e-mail address in a ``field`` of the record."""

    kind: str
    name: str | None = None


@dataclass(frozen=True)
class Action:
    """One step of an automation rule (``do:``); ``kind`` says which keys apply.

    - ``set``: ``values`` field → Expression or literal;
    - ``add_tags`` / ``remove_tags``: ``tags`` on the tags/multipicklist ``field``;
    - ``add``: ``amount`` to the number ``field`` (a score);
    - ``create``: a record of ``object`` with ``values`` (expressions see the triggering record);
    - ``notify``: ``template`` to ``recipients`` over ``channels`` (in_app, email);
    - ``webhook``: POST to ``url`` (or the URL in the environment variable ``url_env``), signed
      with the secret in the environment variable ``secret_env``; the payload carries ``fields``
      (empty: the fields no role hides that are not encrypted);
    - ``assign``: the assignment rule ``rule``; ``convert``: the conversion ``rule``; ``archive``.
    """

    kind: str
    values: Mapping[str, Any] = field(default_factory=frozen_map)
    field: str | None = None
    tags: tuple[str, ...] = ()
    amount: Any = None
    object: str | None = None
    recipients: tuple[Recipient, ...] = ()
    template: str | None = None
    channels: tuple[str, ...] = ("in_app",)
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    rule: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def webhook_target(self) -> str:
        """Where a webhook goes, as the outbox keeps it: the URL, or ``${VAR}`` when the worker
        reads it from the environment variable ``VAR`` at delivery (kept out of config and database)."""
        return self.url if self.url else f"${{{self.url_env}}}"


@dataclass(frozen=True)
class Automation:
    """A rule: on ``trigger``, for records of ``object`` meeting ``when``, run ``actions``."""

    name: str
    object: str | None
    label: Label
    trigger: Trigger
    actions: tuple[Action, ...]
    when: Expression | None = None
    blocking: bool = False


@dataclass(frozen=True)
class MessageTemplate:
    """A notification template (``templates:``): Jinja source, rendered sandboxed.

    ``subject`` and ``body`` are the default texts; ``languages`` holds the variants
    written for one language (``{zh: {subject: …, body: …}}``)."""

    name: str
    subject: str
    body: str
    languages: Mapping[str, tuple[str, str]] = field(default_factory=frozen_map)

    def text(self, language: str) -> tuple[str, str]:
        """Subject and body for a reader of ``language``: its variant, else the default."""
        return self.languages.get(language.split("_")[0], (self.subject, self.body))


@dataclass(frozen=True)
class Condition:
    """A condition the database can evaluate (an assignment's ``capacity.open_when``):
    ``and``/``or``/``not`` over ``parts``, or ``field`` compared by ``op`` (eq, ne, lt, le,
    gt, ge, in, not_in, is_none, not_none, true) with ``values``."""

    op: str
    parts: tuple[Condition, ...] = ()
    field: str | None = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class AssignmentPool:
    """Who an assignment deals records to: users holding ``role`` (within ``team`` when both
    are given), the members of ``team``, or the named ``users`` in order.

    ``team_from`` (``team: {from: campus.team}``) names the team per record instead: the
    path of a field of the record, or of a looked-up record, holding the team's name; the
    runtime resolves it into a pool with ``team`` set, which keeps its own rotation.
    """

    role: str | None = None
    team: str | None = None
    users: tuple[str, ...] = ()
    team_from: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """A stable name of the pool (the round-robin state is kept per rule and pool)."""
        if self.users:
            return "users:" + ",".join(self.users)
        team = self.team or (f"from {'.'.join(self.team_from)}" if self.team_from else None)
        return ";".join(f"{k}:{v}" for k, v in (("role", self.role), ("team", team)) if v)


@dataclass(frozen=True)
class Territory:
    """A territory of an assignment (``rules``): records meeting ``when`` go to ``pool``."""

    when: Expression
    pool: AssignmentPool
    name: str | None = None


@dataclass(frozen=True)
class AssignmentRule:
    """An assignment rule (``assignment:``, S11/S29): who gets a record, written to ``field``.

    The first territory whose ``when`` holds picks the pool (else ``pool``); members who
    are inactive, away or hold ``max_open`` open records are skipped; ``strategy`` is
    ``round_robin`` or ``least_loaded``; ``fallback`` (a user name) takes what nobody can.
    """

    name: str
    object: str
    label: Label
    field: str = "owner_id"
    strategy: str = "round_robin"
    pool: AssignmentPool | None = None
    territories: tuple[Territory, ...] = ()
    max_open: int | None = None
    open_when: Expression | None = None
    open_filter: Condition | None = None
    fallback: str | None = None
    on: str | None = None
    when: Expression | None = None
    skip_when: str | None = None
    urgent_field: str | None = None
    urgent_tag: str | None = None


@dataclass(frozen=True)
class MatchCriterion:
    """One criterion of a duplicate rule: ``field`` compared by ``method``
    (``engine.metadata.matching.METHODS``) at ``threshold`` (None: equal forms)."""

    field: str
    method: str
    threshold: float | None = None


@dataclass(frozen=True)
class Retention:
    """How long an object's records are kept (``objects.<o>.retention``, else
    ``settings.retention_years``): past ``years`` after their ``from`` moment (a system date
    column or a date field; ``updated_at`` when unset) they are archived or purged — once
    ``approver`` approved them, when the policy names one."""

    years: int
    action: str = "archive"
    from_field: str = "updated_at"
    #: Who approves each run's records before they go (``retention.approval``, else
    #: ``settings.retention_approval``: ``{role: NAME}`` or ``{user: USERNAME}``); None: no approval.
    approver: Approver | None = None


@dataclass(frozen=True)
class DuplicateRule:
    """``objects.<o>.duplicates[]``: records whose criteria match (``any``: one is enough; else all)
    are likely duplicates; ``action`` ``warn`` (the writer may save anyway) or ``block``;
    ``reveal`` what a writer learns of a candidate outside their read scope (``owner`` or ``nothing``)."""

    name: str
    object: str
    match: tuple[MatchCriterion, ...]
    any: bool = False
    action: str = "warn"
    reveal: str = "owner"


@dataclass(frozen=True)
class ScoreRule:
    """Points a record earns while ``when`` holds (``scoring.<name>.rules``)."""

    when: Expression
    points: int
    name: str | None = None


@dataclass(frozen=True)
class Scoring:
    """A score kept by rules (``scoring:``, S10/S15): the integer ``field`` holds the points of
    the rules that hold plus any points given or added (``recompute``: on_change, on_create)."""

    name: str
    object: str
    field: str
    rules: tuple[ScoreRule, ...]
    recompute: str = "on_change"


@dataclass(frozen=True)
class ReportGroup:
    """One level of a report's ``group_by``: a field, and for a date or datetime field the
    ``bucket`` (day, week, month, quarter, year) its values are counted in."""

    field: str
    bucket: str | None = None

    @property
    def key(self) -> str:
        """The group's name in results and sorts: ``source``, ``created_at:month``."""
        return f"{self.field}:{self.bucket}" if self.bucket else self.field


@dataclass(frozen=True)
class ReportMeasure:
    """One figure of a report per group: ``kind`` (count, sum, avg, min, max, rate, weighted)
    of ``field``; a ``rate`` counts the share of records that are true in ``field`` or match
    ``where`` (list filters, ``field__op: value``)."""

    kind: str
    field: str | None = None
    where: Mapping[str, str] = dataclasses.field(default_factory=frozen_map)
    label: Label | None = None
    #: The measure's name in results, sorts and the API (``count``, ``sum_amount``, ``rate_converted``).
    key: str = "count"


@dataclass(frozen=True)
class ReportQuota:
    """A ``forecast`` report's quotas: amounts ``per`` month, quarter or year for named
    ``users`` and ``teams`` (as ``trellis user add``/``team add`` name them); or read from the
    records of ``object``: ``user`` the user field, ``amount`` the amount, ``date`` the date
    field of the period a record's quota is for."""

    per: str = "month"
    users: Mapping[str, Decimal] = field(default_factory=frozen_map)
    teams: Mapping[str, Decimal] = field(default_factory=frozen_map)
    object: str | None = None
    user: str | None = None
    amount: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Report:
    """A report declared in ``reports:`` (issue 15): records of ``object`` matching ``filter``,
    grouped by up to two levels, with measures, sorted and cut to ``limit``; ``kind`` names the
    report kind that computes it (``grouped``), ``chart`` how it is drawn, ``roles`` who may open
    it (empty: whoever may read the object)."""

    name: str
    object: str
    label: Label
    group_by: tuple[ReportGroup, ...]
    measures: tuple[ReportMeasure, ...]
    kind: str = "grouped"
    description: Label | None = None
    filter: Mapping[str, str] = field(default_factory=frozen_map)
    #: The group or measure key sorted by, and whether descending; None: by the groups.
    sort: tuple[str, bool] | None = None
    limit: int | None = None
    chart: str = "table"
    roles: tuple[str, ...] = ()
    #: The date field a period override (``run(period=…)``) narrows.
    period_field: str = "created_at"
    #: A ``completeness`` report's fields that make a record complete (S41), and its target
    #: share of complete records (0..1; None: no target, S6).
    fields: tuple[str, ...] = ()
    target: Decimal | None = None
    #: A ``completeness`` report grouped by the owner's team (``group_by: team``).
    per_team: bool = False
    #: A ``cycle_time`` report's starting stage (None: from creation).
    from_stage: str | None = None
    #: A ``forecast`` report's amount field; a ``conversion`` report's ``target.field`` (the
    #: amount of the records a conversion created, e.g. ``opportunity.amount``).
    amount: str | None = None
    #: A ``forecast`` report's quotas (None: none).
    quota: ReportQuota | None = None
    #: A ``conversion`` report's conversion (``conversions:``).
    conversion: str | None = None
    #: Whether a rise of the key figure is good news (``better: higher``) or bad (``lower``).
    higher_is_better: bool = True


@dataclass(frozen=True)
class SubscriptionFilters:
    """What a subscription narrows its report to (``engine.runtime.reports.Overrides``):
    ``period`` a relative range, ``owner`` ``me`` or ``team``, ``team`` a team's name."""

    period: str | None = None
    owner: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Subscription:
    """A rule of ``subscriptions:`` (issue 15 §4, S45): every active user holding one of
    ``roles`` gets ``target`` (a report now; ``target_kind`` names the kind of target,
    ``engine.metadata.subscriptions.TARGETS``) by e-mail on ``schedule``, rendered for them."""

    name: str
    target_kind: str
    target: str
    schedule: Schedule
    roles: tuple[str, ...]
    label: Label | None = None
    filters: SubscriptionFilters = field(default_factory=SubscriptionFilters)


@dataclass(frozen=True)
class Segment:
    """A saved filter of ``segments:`` (issue 16 §3, S30): the records of ``object`` matching
    ``filter`` (list parameters, as a report's), read as the campaign's sender; ``email`` is the
    field holding each record's address."""

    name: str
    object: str
    filter: Mapping[str, str]
    email: str
    label: Label | None = None


@dataclass(frozen=True)
class DashboardWidget:
    """One block of a dashboard's grid (``dashboards.<name>.widgets[i]``): ``kind`` names its
    widget kind (``report``, ``kpi`` or a built-in: ``my_tasks``, ``approvals``,
    ``my_pipeline``, ``recent_records``, ``notifications``); ``report`` the report a ``report``
    or ``kpi`` widget shows, ``chart`` how (None: the report's own ``chart:``); ``width`` the
    columns it spans in a grid of 12; ``object`` and ``limit`` what a built-in reads."""

    kind: str
    width: int
    report: str | None = None
    chart: str | None = None
    title: Label | None = None
    object: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class DashboardFilters:
    """The filters a dashboard offers (``period``, ``team``, ``owner``: ``offered``) and their
    defaults (None: as each report says)."""

    offered: tuple[str, ...] = ()
    period: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Dashboard:
    """A dashboard declared in ``dashboards:`` (issue 15 §4): a grid of widgets, the home page
    of the users holding one of ``roles`` (``default``: of everyone else), with the filters it
    offers applied to every report widget."""

    name: str
    label: Label
    widgets: tuple[DashboardWidget, ...]
    roles: tuple[str, ...] = ()
    default: bool = False
    filters: DashboardFilters = field(default_factory=DashboardFilters)
    description: Label | None = None


@dataclass(frozen=True)
class WebFormSpam:
    """A web form's abuse defences (``forms.<name>.spam``): the least time a person takes to
    fill it in, the hidden decoy input, the optional self-hosted ``challenge``, the largest
    submission and the rate limits (``limits``' notation) per IP address and for the form."""

    min_seconds: int = 3
    honeypot: str = "website_url"
    challenge: str = "none"
    max_bytes: int = 16384
    rate_limit: str = "5 per minute;30 per hour"
    form_rate_limit: str = "120 per minute"


@dataclass(frozen=True)
class WebForm:
    """A public web form (``forms:``, issue 16 §1, S14) served at ``/f/<name>``: the visitor
    fills in ``fields`` of ``object``; ``values`` are fixed, ``capture`` maps what the visit
    tells (``utm_source``, ``referrer``…) to fields, ``campaign_field`` takes ``campaign_value``;
    written as ``user`` (None: the system, named ``web_form:<name>`` in the audit) on channel ``web_form``. A submission matching
    a duplicate rule ``on_duplicate``: ``update``s the record, ``link``s a new one to it through
    ``link_field``, or ``create``s one anyway."""

    name: str
    object: str
    label: Label
    fields: tuple[str, ...]
    required: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=frozen_map)
    capture: Mapping[str, str] = field(default_factory=frozen_map)
    campaign_field: str | None = None
    campaign_value: Any = None
    user: str | None = None
    intro: Label | None = None
    thank_you: Label | None = None
    redirect: str | None = None
    origins: tuple[str, ...] = ()
    on_duplicate: str = "update"
    link_field: str | None = None
    spam: WebFormSpam = field(default_factory=WebFormSpam)

    @property
    def acting_name(self) -> str:
        """Who the audit says wrote a submission written by the system: ``web_form:<name>``."""
        return f"web_form:{self.name}"


@dataclass(frozen=True)
class MailLog:
    """How a message in or out is logged (``mail.log``, S27): a record of ``object`` (an
    ``activity:`` object) with these fields filled; None where the config names none."""

    object: str
    body: str
    subject: str | None = None
    direction: str | None = None
    message_id: str | None = None
    sender: str | None = None
    attachments: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class MailSender:
    """An object whose records send mail (``mail.senders``): its e-mail field, and the boolean
    field a bounce sets."""

    object: str
    email: str
    bounced: str | None = None


@dataclass(frozen=True)
class MailCreate:
    """The record a message from an unknown sender becomes (``unknown_sender``)."""

    object: str
    name: str | None = None
    email: str | None = None
    subject: str | None = None
    body: str | None = None
    values: Mapping[str, Any] = field(default_factory=frozen_map)
    domain: str | None = None


@dataclass(frozen=True)
class ImapServer:
    """Where a mailbox is read: TLS always (``tls`` or ``starttls``), the credentials in the
    environment variables named (read at fetch time, never stored in the config)."""

    host: str
    username_env: str
    password_env: str
    port: int = 993
    security: str = "tls"
    tls_verify: bool = True
    ca_file: str | None = None
    folder: str = "INBOX"


@dataclass(frozen=True)
class Mailbox:
    """One mailbox of ``mail.mailboxes``: its address, its IMAP server (None: it receives through
    ``trellis mail serve`` only), what an unknown sender's message becomes (None: ignored)."""

    name: str
    address: str
    imap: ImapServer | None
    unknown_sender: MailCreate | None = None


@dataclass(frozen=True)
class MailSettings:
    """The ``mail:`` section (issue 16 §2)."""

    log: MailLog
    senders: tuple[MailSender, ...] = ()
    mailboxes: Mapping[str, Mailbox] = field(default_factory=frozen_map)
    reply_to: str | None = None
    max_attachment_size: int = 20 * 1024 * 1024


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
    #: Approval rules (``approvals:``), in declaration order.
    approvals: tuple[ApprovalRule, ...] = ()
    #: Declared conversions (``conversions:``, S12), by name.
    conversions: Mapping[str, Conversion] = field(default_factory=frozen_map)
    #: Automation rules (``automations:``), in declaration order.
    automations: tuple[Automation, ...] = ()
    #: Notification templates (``templates:``), by name.
    templates: Mapping[str, MessageTemplate] = field(default_factory=frozen_map)
    #: Settings of the automation engine (``automation_settings``): the loop guard depth.
    automation_depth: int = 5
    #: Assignment rules (``assignment:``, S11/S29), by name.
    assignment: Mapping[str, AssignmentRule] = field(default_factory=frozen_map)
    #: Scores kept by rules (``scoring:``, S10/S15), by name.
    scoring: Mapping[str, Scoring] = field(default_factory=frozen_map)
    #: Reports (``reports:``, issue 15), by name, in declaration order.
    reports: Mapping[str, Report] = field(default_factory=frozen_map)
    #: E-mail subscriptions by rule (``subscriptions:``, issue 15 §4), by name.
    subscriptions: Mapping[str, Subscription] = field(default_factory=frozen_map)
    #: Dashboards (``dashboards:``, issue 15 §4), by name, in declaration order.
    dashboards: Mapping[str, Dashboard] = field(default_factory=frozen_map)
    #: Public web forms (``forms:``, issue 16 §1), by name.
    forms: Mapping[str, WebForm] = field(default_factory=frozen_map)
    #: Campaign segments (``segments:``, issue 16 §3), by name.
    segments: Mapping[str, Segment] = field(default_factory=frozen_map)
    #: Mail intake and e-mail from a record (``mail:``, issue 16 §2); None without the section.
    mail: MailSettings | None = None
    #: Warnings found when the config was checked (``ConfigIssue`` with severity ``warning``, T-W…).
    warnings: tuple[ConfigIssue, ...] = ()

    def object(self, name: str) -> ObjectDef:
        """The object called ``name``; raises KeyError with the known names."""
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(f"unknown object {name!r}; known: {', '.join(sorted(self.objects))}") from None

    def approval_rules(self, object_name: str, trigger: str | None = None) -> tuple[ApprovalRule, ...]:
        """The approval rules of ``object_name`` (of one ``trigger`` kind when given)."""
        return tuple(r for r in self.approvals if r.object == object_name and (trigger is None or r.trigger == trigger))

    def automations_for(self, object_name: str, *kinds: str) -> tuple[Automation, ...]:
        """The automation rules of ``object_name`` whose trigger is one of ``kinds``."""
        return tuple(a for a in self.automations if a.object == object_name and a.trigger.kind in kinds)

    def approval_rule(self, name: str) -> ApprovalRule | None:
        """The approval rule called ``name``, or None (e.g. removed from the config since)."""
        return next((r for r in self.approvals if r.name == name), None)
