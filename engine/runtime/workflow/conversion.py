"""Converting a record into others, as declared under ``conversions:`` (S12).

``convert`` (``Session.convert``) turns, say, a qualified lead into an account,
a contact and an opportunity in one go:

1. the source is read through the one read path (NotFound outside the caller's
   read scope) and must be inside their edit scope (PermissionDenied);
2. it must not be converted already — a ``links`` field is set, or every
   ``mark`` value holds — and ``when`` must hold (``ConversionRefused``);
3. each target, in declared order, unless the caller skips it (``optional``
   targets only): its values are the mapping evaluated over the source (fields
   the caller may not see are empty to it), ``"@target"`` resolved to the
   record an earlier target created or linked, and the caller's ``overrides``
   on top; empty values are left out, so that the target's defaults apply.
   With ``match``, a record of the target object the caller may *read* whose
   match fields equal those values (the oldest, if several) is linked instead
   of creating one; records outside the caller's read scope are never found, so
   a conversion never links to — nor reveals — a record its user may not see:
   it creates a new one instead. The caller may also ``link`` a target to a record
   of its object they may read (one of its likely duplicates, typically: S12 "match
   a company to an existing account"). Otherwise the target is created through
   ``Session.create`` as the caller: coercion, defaults, formulas, validation,
   stage gates, duplicate rules, the create grant, audit;
4. the source is updated through ``Session.update`` with the ``mark`` values and
   the ``links`` (its version guards against a concurrent conversion).

Duplicate rules of a target object hold as in every channel: ``plan`` lists each
new target's likely duplicates (``TargetPlan.candidates``, found by the write path's
own check, ``duplicates.likely_duplicates``, and told as the caller may know them); a
target that meets a ``warn`` rule is created only when the caller allows it
(``allow_duplicate``: True or the target names), else the conversion stops with
``ConversionDuplicates`` (every such target's candidates) — unless another problem
stopped it too, then ``ConversionFailed`` carries them (``duplicates``). A ``block``
rule leaves linking (or cancelling): the target's create is refused with the matched
fields in error.

Everything runs inside a savepoint of the caller's transaction: any failure
rolls back every record written so far, so a lead is never half converted.
Validation problems of every target are collected and raised together as
``ConversionFailed`` with keys ``<target>.<field>`` (``account.name``,
``contact._record``; the source's own under ``<source object>.<field>``); a
target that refers to a failed one is not blamed for the missing reference.
PermissionDenied, Conflict and NotFound are raised as they come.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Clock, ExpressionEvalError
from engine.metadata.model import SYSTEM_COLUMNS, Config, Conversion, ConversionTarget
from engine.runtime.errors import (
    RECORD_ERRORS,
    Conflict,
    FieldError,
    NotFound,
    QueryError,
    TrellisError,
    UnknownObject,
    ValidationFailed,
)
from engine.runtime.messages import current_language, localized
from engine.runtime.records.duplicates import Candidate, DuplicateBlocked, PossibleDuplicate, likely_duplicates
from engine.runtime.records.reader import language_of
from engine.runtime.records.record import Record
from engine.runtime.security.permissions import PermissionDenied, Principal

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: What happened to a target.
CREATED, LINKED, SKIPPED = "created", "linked", "skipped"
#: Stands for the id of a target not created yet (in a plan).
PENDING = object()


class UnknownConversion(UnknownObject):
    """No conversion of that name (from that object)."""

    code = "unknown_conversion"

    def __init__(self, name: str, known: Collection[str]) -> None:
        self.name = name
        TrellisError.__init__(
            self, f"unknown conversion {name!r}; known conversions: {', '.join(sorted(known)) or 'none'}"
        )


class ConversionRefused(ValidationFailed):
    """The record cannot be converted: already converted, the condition does not hold,
    or ``skip``/``overrides`` name targets that do not exist or may not be skipped."""

    code = "conversion_refused"


class ConversionFailed(ValidationFailed):
    """A target or the source did not validate; ``errors`` are keyed ``<target>.<field>``.
    ``duplicates``: the likely duplicates of targets that met a duplicate rule (target →
    candidates). Nothing was written."""

    def __init__(
        self,
        errors: dict[str, list[FieldError]],
        object_name: str = "",
        duplicates: Mapping[str, tuple[Candidate, ...]] | None = None,
    ) -> None:
        super().__init__(errors, object_name)
        self.duplicates = dict(duplicates or {})


class ConversionDuplicates(TrellisError):
    """Targets met ``warn`` duplicate rules and the caller chose neither to link them nor to
    create them anyway; nothing was written. ``duplicates``: target → its likely duplicates,
    best first, as the caller may know them; ``errors``: a ``possible_duplicate`` problem keyed
    ``<target>._record`` per such target (as ``ConversionFailed`` keys them)."""

    code = "possible_duplicate"

    def __init__(
        self,
        conversion: Conversion,
        duplicates: Mapping[str, tuple[Candidate, ...]],
        errors: dict[str, list[FieldError]],
    ) -> None:
        self.object_name, self.duplicates, self.errors = conversion.source, dict(duplicates), errors
        labels = [t.label for t in conversion.targets if t.name in duplicates]
        english = ", ".join(label.get("en") for label in labels)
        own = "、".join(label.get(current_language()) for label in labels)
        super().__init__(
            localized(
                "conversion.possible_duplicate",
                f"Part of this conversion probably exists already ({english}): for each, link to an existing "
                "record or create a new one anyway",
                {"targets": own},
            )
        )


def create_allowed(candidates: Collection[Candidate]) -> bool:
    """Whether a target with these likely duplicates may be created anyway: only ``warn`` rules matched."""
    return all(c.action == "warn" for c in candidates)


@dataclass(frozen=True)
class ConvertedTarget:
    """What became of one target: ``created``, ``linked`` (an existing record) or ``skipped``."""

    name: str
    object: str
    outcome: str
    record: Record | None = None


@dataclass(frozen=True)
class ConversionResult:
    """The converted source (marked and linked) and each target's outcome, in order."""

    conversion: Conversion
    source: Record
    targets: tuple[ConvertedTarget, ...]

    def __getitem__(self, name: str) -> ConvertedTarget:
        return next(t for t in self.targets if t.name == name)

    def __iter__(self) -> Iterator[ConvertedTarget]:
        return iter(self.targets)


@dataclass(frozen=True)
class TargetPlan:
    """What converting would do with one target, as far as it is known before writing."""

    target: ConversionTarget
    values: Mapping[str, Any]
    #: Fields that receive the id of an earlier target (field → target name).
    references: Mapping[str, str] = field(default_factory=dict)
    #: The existing record that would be linked instead of creating one.
    matched: Record | None = None
    #: A new record's likely duplicates, best first, as the caller may know them (none when ``matched``).
    candidates: tuple[Candidate, ...] = ()

    @property
    def create_allowed(self) -> bool:
        """Whether the new record may be created, its likely duplicates notwithstanding (no ``block`` rule)."""
        return create_allowed(self.candidates)


@dataclass(frozen=True)
class ConversionPlan:
    """A preview of a conversion: the source and, per target, its values or its match."""

    conversion: Conversion
    source: Record
    targets: tuple[TargetPlan, ...]


# --- finding conversions -----------------------------------------------------------------------
def conversion_of(config: Config, name: str, object_name: str | None = None) -> Conversion:
    """The conversion ``name`` (of ``object_name``'s records, when given); raises UnknownConversion."""
    conversion = config.conversions.get(name)
    if conversion is None or (object_name is not None and conversion.source != object_name):
        known = [c.name for c in config.conversions.values() if object_name in (None, c.source)]
        raise UnknownConversion(name, known)
    return conversion


def conversions_from(config: Config, object_name: str) -> list[Conversion]:
    """The conversions whose source is ``object_name``, in declaration order."""
    return [c for c in config.conversions.values() if c.source == object_name]


def refusal(
    conversion: Conversion,
    source: Mapping[str, Any],
    clock: Clock,
    current_user: int | None = None,
    fields: Collection[str] = (),
) -> FieldError | None:
    """Why ``source`` cannot be converted now (already converted, ``when`` false), or None.
    ``fields`` (the source object's) are empty to ``when`` when ``source`` lacks them (hidden)."""
    if any(source.get(name) is not None for name in conversion.links.values()) or (
        conversion.mark and all(source.get(name) == value for name, value in conversion.mark.items())
    ):
        return FieldError(
            "already_converted",
            f"This record was converted already ({conversion.label.get()}); it cannot be converted again.",
        )
    if conversion.when is None:
        return None
    try:
        holds = bool(conversion.when.evaluate(_names(source, current_user, fields), clock))
    except ExpressionEvalError:
        holds = False
    if holds:
        return None
    if conversion.message:
        return FieldError("condition_not_met", conversion.message.get(current_language()), translated=True)
    return FieldError(
        "condition_not_met",
        f"This record does not meet the condition of {conversion.label.get()}: {conversion.when.source}.",
    )


def may_convert(principal: Principal, conversion: Conversion, source: Mapping[str, Any]) -> bool:
    """Whether ``principal`` may try the conversion: the source is in their edit scope and
    each target that cannot be skipped may be created (or, with ``match``, linked)."""
    if not principal.in_scope(conversion.source, "edit", source.get("owner_id")):
        return False
    return all(t.optional or t.match or principal.grant(t.object).create for t in conversion.targets)


def available(config: Config, principal: Principal, source: Record, clock: Clock) -> list[Conversion]:
    """The conversions of ``source`` that apply now and that ``principal`` may try (no database)."""
    return [
        c
        for c in conversions_from(config, source.object)
        if refusal(c, source, clock, principal.user_id, config.objects[c.source].fields) is None
        and may_convert(principal, c, source)
    ]


# --- converting ---------------------------------------------------------------------------------------
def plan(
    session: Session,
    name: str,
    record_id: Any,
    *,
    skip: Collection[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ConversionPlan:
    """What ``convert`` would do (it writes nothing): the values of each target and the
    records ``match`` would link. Refuses like ``convert`` does."""
    conversion, source = _start(session, name, record_id)
    skip, overrides = _choices(conversion, skip, overrides)
    ids: dict[str, Any] = {}
    targets = []
    for target in conversion.targets:
        if target.name in skip:
            ids[target.name] = None
            continue
        values, references = _values(session, conversion, target, source, overrides.get(target.name, {}), ids)
        matched = _match(session, target, values)
        ids[target.name] = matched.id if matched is not None else PENDING
        candidates: tuple[Candidate, ...] = ()
        if matched is None:
            known = {name: value for name, value in values.items() if value is not PENDING}
            candidates = tuple(likely_duplicates(session, target.object, known))
        targets.append(TargetPlan(target, values, references, matched, candidates))
    return ConversionPlan(conversion, source, tuple(targets))


def convert(
    session: Session,
    name: str,
    record_id: Any,
    *,
    skip: Collection[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    version: int | None = None,
    link: Mapping[str, Any] | None = None,
    allow_duplicate: bool | Collection[str] = False,
) -> ConversionResult:
    """Convert the record (see the module docstring); returns what became of each target.

    ``link`` maps targets to the id of an existing record of their object, readable by the
    caller and not archived, to link instead of creating one; ``allow_duplicate`` (True, or
    the target names) creates targets although a ``warn`` duplicate rule matches them."""
    conversion, source = _start(session, name, record_id)
    if version is not None and version != source.version:
        raise Conflict(conversion.source, source.id, version, source.version)
    skip, overrides = _choices(conversion, skip, overrides)
    linked, allowed = _link_choices(session, conversion, link or {}, allow_duplicate, skip, overrides)
    with session.connection.begin_nested():
        outcomes, ids = _convert_targets(session, conversion, source, skip, overrides, linked, allowed)
        changes = {**conversion.mark, **{f: ids[t] for t, f in conversion.links.items() if ids.get(t) is not None}}
        session.converting = True  # only the conversion writes the mark and the links
        try:
            updated = session.update(conversion.source, source.id, changes, version=source.version)
        except ValidationFailed as exc:
            raise ConversionFailed(_prefixed(conversion.source, exc.errors), conversion.source) from None
        finally:
            session.converting = False
        if getattr(updated, "pending_approval", None) is not None:  # a conversion cannot wait for approval
            raise ConversionRefused(
                {
                    RECORD_ERRORS: [
                        FieldError(
                            "approval_required",
                            "Marking this record as converted needs an approval first; nothing was converted.",
                        )
                    ]
                },
                conversion.source,
            )
    return ConversionResult(conversion, updated, tuple(outcomes))


def _start(session: Session, name: str, record_id: Any) -> tuple[Conversion, Record]:
    """The conversion and its source, checked: readable, editable, convertible."""
    conversion = conversion_of(session.config, name)
    obj = session.object(conversion.source)
    source = session.get(obj.name, record_id)
    if not session.principal.in_scope(obj.name, "edit", source.get("owner_id")):
        raise PermissionDenied.said(
            "convert.denied",
            f"you may not change {obj.label.get()} {source.id}, so you may not convert it",
            object=obj.label.get(current_language()),
            id=source.id,
        )
    problem = refusal(conversion, source, session.clock(), session.user, obj.fields)
    if problem is not None:
        raise ConversionRefused({RECORD_ERRORS: [problem]}, obj.name)
    return conversion, source


def _choices(
    conversion: Conversion, skip: Collection[str], overrides: Mapping[str, Mapping[str, Any]] | None
) -> tuple[set[str], dict[str, Mapping[str, Any]]]:
    """Check ``skip`` and ``overrides`` against the declared targets."""
    problems: dict[str, list[FieldError]] = {}
    names = [t.name for t in conversion.targets]
    if isinstance(skip, str):
        skip = [skip]
    for name in skip:
        target = conversion.target(name)
        if target is None:
            problems.setdefault("skip", []).append(
                FieldError(
                    "unknown_target",
                    f"{name!r} is not a target of {conversion.label.get()}; targets: {', '.join(names)}.",
                )
            )
        elif not target.optional:
            problems.setdefault("skip", []).append(
                FieldError("not_optional", f"{target.label.get()} is always created (or linked); it cannot be skipped.")
            )
    overrides = dict(overrides or {})
    for name, values in overrides.items():
        if conversion.target(name) is None:
            problems.setdefault("overrides", []).append(
                FieldError(
                    "unknown_target",
                    f"{name!r} is not a target of {conversion.label.get()}; targets: {', '.join(names)}.",
                )
            )
        elif not isinstance(values, Mapping):
            problems.setdefault(f"overrides.{name}", []).append(
                FieldError("invalid", f"The values for {name} must be a mapping of field names to values.")
            )
    if problems:
        raise ConversionRefused(problems, conversion.source)
    return set(skip), overrides


def _link_choices(
    session: Session,
    conversion: Conversion,
    link: Mapping[str, Any],
    allow_duplicate: bool | Collection[str],
    skip: set[str],
    overrides: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Record], set[str]]:
    """Check ``link`` and ``allow_duplicate``: the records to link (target → record, each one the
    caller may read, of the target's object, not archived) and the targets that may be duplicates."""
    problems: dict[str, list[FieldError]] = {}
    names = [t.name for t in conversion.targets]
    linked: dict[str, Record] = {}
    if not isinstance(link, Mapping):
        problems["link"] = [FieldError("invalid", "link maps target names to the id of the record to link.")]
        link = {}
    for name, record_id in link.items():
        target = conversion.target(name)
        if target is None:
            problems.setdefault("link", []).append(_unknown_target(conversion, name, names))
            continue
        found = _linked_record(session, target, record_id, name in skip, bool(overrides.get(name)))
        if isinstance(found, FieldError):
            problems.setdefault(f"link.{name}", []).append(found)
        else:
            linked[name] = found
    if isinstance(allow_duplicate, bool):
        allowed = set(names) if allow_duplicate else set()
    else:
        allowed = {allow_duplicate} if isinstance(allow_duplicate, str) else set(allow_duplicate)
        for name in sorted(allowed - set(names)):
            problems.setdefault("allow_duplicate", []).append(_unknown_target(conversion, name, names))
    if problems:
        raise ConversionRefused(problems, conversion.source)
    return linked, allowed


def _linked_record(
    session: Session, target: ConversionTarget, record_id: Any, skipped: bool, with_values: bool
) -> Record | FieldError:
    """The record ``link`` names for ``target``, or why it cannot be linked. A record outside the
    caller's read scope is not found, exactly like one that does not exist."""
    label = target.label.get(current_language())
    if skipped:
        return FieldError(
            "skipped_and_linked",
            f"{target.label.get()} cannot be both skipped and linked; choose one.",
            {"target": label},
        )
    if with_values:
        return FieldError(
            "linked_with_values",
            f"{target.label.get()} is linked to an existing record, so its values cannot be given too; "
            "change that record itself, or create a new one.",
            {"target": label},
        )
    obj = session.object(target.object)
    try:
        record = session.get(obj.name, record_id)
    except NotFound:
        shown = str(record_id)[:40]
        return FieldError(
            "link_not_found",
            f"There is no {obj.label.get()} with id {shown} that you may read; nothing was linked.",
            {"object": obj.label.get(current_language()), "id": shown},
        )
    if record.get("archived_at") is not None:
        return FieldError(
            "link_archived",
            f"{obj.label.get()} {record.id} is archived: restore it first, or choose another record.",
            {"object": obj.label.get(current_language()), "id": record.id},
        )
    return record


def _unknown_target(conversion: Conversion, name: Any, names: list[str]) -> FieldError:
    return FieldError(
        "unknown_target",
        f"{str(name)[:40]!r} is not a target of {conversion.label.get()}; targets: {', '.join(names)}.",
    )


def _convert_targets(
    session: Session,
    conversion: Conversion,
    source: Record,
    skip: set[str],
    overrides: Mapping[str, Mapping[str, Any]],
    linked: Mapping[str, Record],
    allowed: set[str],
) -> tuple[list[ConvertedTarget], dict[str, Any]]:
    """Create or link each target in order; raises ConversionFailed with every target's problems
    (ConversionDuplicates when the only ones are targets meeting ``warn`` duplicate rules)."""
    outcomes: list[ConvertedTarget] = []
    ids: dict[str, Any] = {}
    failed: set[str] = set()
    errors: dict[str, list[FieldError]] = {}
    duplicates: dict[str, tuple[Candidate, ...]] = {}
    asking: set[str] = set()  # the targets stopped only by a warn rule: the caller must choose
    for target in conversion.targets:
        if target.name in skip:
            ids[target.name] = None
            outcomes.append(ConvertedTarget(target.name, target.object, SKIPPED))
            continue
        chosen = linked.get(target.name)
        if chosen is not None:
            ids[target.name] = chosen.id
            outcomes.append(ConvertedTarget(target.name, target.object, LINKED, chosen))
            continue
        values, references = _values(session, conversion, target, source, overrides.get(target.name, {}), ids)
        matched = _match(session, target, values)
        if matched is not None:
            ids[target.name] = matched.id
            outcomes.append(ConvertedTarget(target.name, target.object, LINKED, matched))
            continue
        try:
            record = session.create(target.object, values, allow_duplicate=target.name in allowed)
        except ValidationFailed as exc:
            failed.add(target.name)
            ids[target.name] = None
            blamed = {k: v for k, v in exc.errors.items() if references.get(k) not in failed}
            errors.update(_prefixed(target.name, blamed))
            if isinstance(exc, DuplicateBlocked):
                duplicates[target.name] = tuple(exc.candidates)
            continue
        except PossibleDuplicate as exc:  # a warn duplicate rule of the target: the caller chooses
            failed.add(target.name)
            asking.add(target.name)
            ids[target.name] = None
            duplicates[target.name] = tuple(exc.candidates)
            label = target.label.get()
            count = len(exc.candidates)
            error = FieldError(
                "convert_duplicate",
                f"{label} probably exists already ({count} likely duplicate{'s' if count != 1 else ''}): "
                "link to one of them, or create a new one anyway.",
                {"target": target.label.get(current_language()), "count": count},
            )
            errors.update(_prefixed(target.name, {RECORD_ERRORS: [error]}))
            continue
        if record.pending_approval is not None:  # a create waiting for approval cannot be linked now
            failed.add(target.name)
            ids[target.name] = None
            rules = ", ".join(record.pending_approval.rules)
            errors.update(
                _prefixed(
                    target.name,
                    {
                        RECORD_ERRORS: [
                            FieldError(
                                "approval_required",
                                f"Creating this record needs approval ({rules}); convert without "
                                f"the values the approval guards, then change them on the new record.",
                            )
                        ]
                    },
                )
            )
            continue
        ids[target.name] = record.id
        outcomes.append(ConvertedTarget(target.name, target.object, CREATED, record))
    if errors and all(name.split(".", 1)[0] in asking for name in errors):
        raise ConversionDuplicates(conversion, duplicates, errors)
    if errors:
        raise ConversionFailed(errors, conversion.source, duplicates)
    return outcomes, ids


def _values(
    session: Session,
    conversion: Conversion,
    target: ConversionTarget,
    source: Record,
    overrides: Mapping[str, Any],
    ids: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The target's values: the mapping over the source, references resolved, overrides on top,
    empty values left out (so that defaults apply). Unresolved references stay ``PENDING``."""
    clock = session.clock()
    names = _names(source, session.user, session.object(conversion.source).fields)
    names["current_language"] = _language(session)
    values: dict[str, Any] = {}
    references: dict[str, str] = {}
    for mapping in target.fields:
        if mapping.kind == "field":
            assert mapping.source is not None, "a field mapping names its source field"
            value = source.get(mapping.source)
        elif mapping.kind == "target":
            assert mapping.source is not None, "a target mapping names its earlier target"
            value = ids.get(mapping.source)
            references[mapping.field] = mapping.source
        elif mapping.kind == "expression":
            assert mapping.expression is not None, "an expression mapping has its expression"
            try:
                value = mapping.expression.evaluate(names, clock)
            except ExpressionEvalError:
                value = None  # like a formula: an input it cannot work with gives an empty result
        else:
            value = mapping.value
        values[mapping.field] = value
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None and v != "" and v != []}, references


def _match(session: Session, target: ConversionTarget, values: Mapping[str, Any]) -> Record | None:
    """The oldest record the caller may read whose match fields equal ``values``, or None."""
    if not target.match:
        return None
    wanted = {name: values.get(name) for name in target.match}
    if any(value is None or value is PENDING for value in wanted.values()):
        return None
    try:
        return session.query(target.object).filter(**wanted).first()
    except QueryError:  # a match field hidden from the caller: nothing to match with
        return None


def _names(source: Mapping[str, Any], current_user: int | None, fields: Collection[str]) -> dict[str, Any]:
    """What expressions over the source may name: its fields (hidden ones empty), system columns."""
    return {
        **dict.fromkeys(SYSTEM_COLUMNS),
        **dict.fromkeys(fields),
        **dict(source),
        "current_user": current_user,
        "current_language": None,
    }


def _language(session: Session) -> str:
    """The converting user's language (``current_language``): their locale's, when the config
    offers it, else the company's first language."""
    locale = None
    if session.user is not None:
        users = session.schema.system["sys_users"]
        locale = session.connection.execute(sa.select(users.c.locale).where(users.c.id == session.user)).scalar()
    return language_of(session.config, locale)


def _prefixed(prefix: str, errors: Mapping[str, list[FieldError]]) -> dict[str, list[FieldError]]:
    return {f"{prefix}.{name}": list(problems) for name, problems in errors.items()}
