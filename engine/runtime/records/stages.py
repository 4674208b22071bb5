"""The named stages of the one write path, and the registry of the features that join them.

Every write (``engine.runtime.records.writes``) takes its rows through ``STAGES`` in this order;
the core does its own steps between them (coercion, defaults, formulas, field checks, lookups
and unique values, the INSERT or UPDATE) and, at each stage, calls the hooks the features
registered there. A feature is one ``Feature`` object naming the stages it joins; the runtime's
``WriteStages`` holds them in an explicit order (``engine.runtime.features`` lists the built-in
ones) and runs a stage's hooks in that order. Adding a feature, or a channel that needs one,
touches its own module and that list — never the write path.

A row hook is ``hook(write, draft)``: ``write`` is the chunk being written (``Write``: session,
object, action, clock and what features keep for the chunk) and ``draft`` one row on its way
(``engine.runtime.records.writes.Draft``: the given values, the row as it stands, its errors, its
stage move, its approval rules, the record written). A chunk hook is ``hook(write, drafts)``. A
hook adds problems to ``draft.errors`` or raises a ``TrellisError`` that refuses the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.runtime import metrics

if TYPE_CHECKING:
    from engine.metadata.expressions import Clock
    from engine.metadata.model import ObjectDef
    from engine.runtime.records.session import Session
    from engine.runtime.records.writes import Draft

ROW, CHUNK = "row", "chunk"


@dataclass(frozen=True)
class Stage:
    """A named point of the write path: run once per row or once per chunk."""

    name: str
    per: str
    when: str


#: The stages in the order a write passes them (``docs/architecture.md``, "The one write path").
STAGES: tuple[Stage, ...] = (
    Stage("read", CHUNK, "update, delete: the chunk's stored records are read and locked"),
    Stage("input", ROW, "create, update: the given values are coerced; refuse what the writer may not set"),
    Stage("prepare", ROW, "create: defaults applied; update: merged with the stored record; before formulas"),
    Stage("compute", ROW, "create, update: formulas computed, before the field checks"),
    Stage("validate", ROW, "the field checks ran: what else refuses the row (gates, transitions, locks)"),
    Stage("check", CHUNK, "create, update: set-wise database checks of the chunk's valid rows"),
    Stage("approve", ROW, "a valid row: the approval rules that hold it (draft.rules)"),
    Stage("hold", ROW, "a held row becomes a pending request (draft.pending); nothing of it is written"),
    Stage("write", ROW, "create, update: the row is written (draft.record, draft.written)"),
    Stage("gone", CHUNK, "delete: the chunk's rows are deleted; what they leave behind goes with them"),
    Stage("audit", ROW, "the audit entry of the written row"),
    Stage("after", ROW, "what follows a written row (draft.record may be replaced by the row as stored)"),
)
STAGE_NAMES: frozenset[str] = frozenset(s.name for s in STAGES)

#: ``hook(write, draft)`` at a row stage, ``hook(write, drafts)`` at a chunk stage.
Hook = Callable[..., None]


class UnknownStage(ValueError):
    """A feature names a stage the write path does not have."""


@dataclass(frozen=True)
class Feature:
    """One feature of the write path: its name and its hook at each stage it joins."""

    name: str
    hooks: Mapping[str, Hook]


@dataclass
class Write:
    """One chunk of one write call, as the hooks see it."""

    session: Session
    obj: ObjectDef
    #: ``create``, ``update`` or ``delete``.
    action: str
    #: The chunk's time (``Session.clock``), read once when the chunk starts.
    clock: Clock
    #: What a feature keeps for the chunk (for example what a ``read`` hook found), by the feature's name.
    notes: dict[str, Any] = field(default_factory=dict)
    #: A delete in purge mode (``Session.purge``): the retention policy it deletes under (years,
    #: from, before); None for every other write. Approvals neither lock nor hold a purge, its
    #: audit entry holds no values, and automation sees it (``purge`` in ``when`` and webhooks).
    purge: Mapping[str, Any] | None = None


class WriteStages:
    """The features of the write path in their order, and the runner of each stage's hooks."""

    def __init__(self, features: Iterable[Feature] = ()) -> None:
        self._features: list[Feature] = []
        self._hooks: dict[str, tuple[Hook, ...]] = {}
        for feature in features:
            self.register(feature)

    @property
    def features(self) -> tuple[Feature, ...]:
        """The registered features, in the order their hooks run."""
        return tuple(self._features)

    def register(self, feature: Feature, *, before: str | None = None) -> None:
        """Add ``feature`` after the others (or just before the feature named ``before``).
        Raises ``UnknownStage`` when it names a stage the write path does not have, and
        ``ValueError`` for a second feature of the same name or an unknown ``before``."""
        unknown = sorted(set(feature.hooks) - STAGE_NAMES)
        if unknown:
            raise UnknownStage(
                f"feature {feature.name!r} joins unknown stage(s) {', '.join(map(repr, unknown))}; "
                f"the write path's stages are {', '.join(s.name for s in STAGES)}"
            )
        names = [f.name for f in self._features]
        if feature.name in names:
            raise ValueError(f"a feature named {feature.name!r} is registered already")
        if before is not None and before not in names:
            raise ValueError(f"no feature named {before!r} to register {feature.name!r} before; have {names}")
        self._features.insert(names.index(before) if before is not None else len(names), feature)
        self._hooks = {s.name: tuple(f.hooks[s.name] for f in self._features if s.name in f.hooks) for s in STAGES}

    def hooks(self, stage: str) -> tuple[Hook, ...]:
        """The hooks of ``stage`` in order (KeyError for a stage that does not exist)."""
        return self._hooks[stage] if self._hooks else _empty(stage)

    def run(self, stage: str, write: Write, draft: Draft) -> None:
        """Run the hooks of a row stage for one row (timed: ``metrics.WRITE_STAGE_SECONDS``)."""
        hooks = self.hooks(stage)
        if hooks:
            started = time.perf_counter()
            for hook in hooks:
                hook(write, draft)
            metrics.observe_stage(stage, time.perf_counter() - started)

    def run_chunk(self, stage: str, write: Write, drafts: list[Draft]) -> None:
        """Run the hooks of a chunk stage for the chunk's rows (those still on their way)."""
        hooks = self.hooks(stage)
        if hooks:
            waiting = [d for d in drafts if d.outcome is None]
            if waiting:
                started = time.perf_counter()
                for hook in hooks:
                    hook(write, waiting)
                metrics.observe_stage(stage, time.perf_counter() - started)


def _empty(stage: str) -> tuple[Hook, ...]:
    if stage not in STAGE_NAMES:
        raise KeyError(stage)
    return ()
