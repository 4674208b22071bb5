"""Pipelines at write time: stage gates, allowed transitions, skips and stage history.

The write path (``engine.runtime.records.session``) calls ``check_move`` for every create
and update of an object with a pipeline, after formulas and before anything is
written. It works on plain values, so the same gate holds in every channel —
form, board, REST API, import, automation — with the same error:

- **Gates** (S17): while a record is in a stage, the ``requires`` of that stage
  and of every main-line stage before it must be filled, plus the fields of any
  ``requires_when`` entry whose condition holds. Entering a stage checks them
  all; a change that stays in the stage only refuses emptying one of them (or
  making a ``requires_when`` apply without its fields), so a gate added later
  does not block unrelated edits of older records.
- **Transitions**: forward one stage (or to a stage the current one lists in
  ``next``), back to any earlier stage unless ``back: false``, into a lost
  stage from anywhere, from one closed (won/lost) stage to another; reopening —
  from a closed stage back to an open one — follows ``reopen``.
- **Skips** (S18): further forward needs the skip permission and a reason.
- **Pipeline switches**: a change of the field that chooses the pipeline (``by``)
  enters the new pipeline at its first stage (``entry_stage`` when no stage is
  given); a stage further on in the same write is a skip, out of a won or lost
  stage a reopening, and the new stage's gate applies.

A refused move raises ``GateBlocked`` (missing fields only) or
``ValidationFailed``; a missing permission raises ``PermissionDenied``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Clock, ExpressionEvalError
from engine.metadata.model import REASON_KEY, ObjectDef, Pipeline, Stage
from engine.runtime.errors import GateBlocked as GateBlocked  # raised by the write path for a refused move
from engine.runtime.messages import current_language, localized
from engine.runtime.records.stages import Feature
from engine.runtime.records.validation import Errors, expression_names, is_empty
from engine.runtime.security.permissions import PermissionDenied, Principal

if TYPE_CHECKING:
    from engine.runtime.records.stages import Write
    from engine.runtime.records.unit import Unit
    from engine.runtime.records.writes import Draft

#: The longest reason for a stage move (the write-only ``REASON_KEY`` value) taken.
MAX_REASON = 2000


@dataclass(frozen=True)
class StageMove:
    """A checked change of stage, to be written to the stage history."""

    from_stage: str | None
    to_stage: str
    reason: str | None
    skipped: int = 0


def check_move(
    obj: ObjectDef,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    changed: set[str],
    principal: Principal,
    reason: str | None,
    clock: Clock,
    errors: Errors,
) -> StageMove | None:
    """Check the gate and the transition of one write; problems go to ``errors``.

    ``before`` is None for a create; ``changed`` names the fields the write gives.
    Returns the move when the stage changes (or on create), else None. Raises
    ``PermissionDenied`` for a skip or reopening the principal may not make.
    """
    if obj.pipeline is None:
        return None
    pipeline = obj.pipeline.for_values(after)
    old = before.get(pipeline.field) if before is not None else None
    new = after.get(pipeline.field)
    if new is None or not any(s.key == new for s in obj.pipeline.all_stages()):
        return None  # an empty or unknown stage is the field check's business
    stage = pipeline.stage(new)
    if stage is None:
        errors.add(
            pipeline.field,
            "not_in_pipeline",
            f"{_stage_label(obj, new)} is not a stage of the {pipeline.label.get()} pipeline; choose one of "
            f"{', '.join(s.label.get() for s in pipeline.stages)}.",
        )
        return None
    switched = before is not None and obj.pipeline.for_values(before).key != pipeline.key
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        errors.add(REASON_KEY, "too_long", f"Keep the reason under {MAX_REASON} characters.")
    moves = before is None or switched or old != new
    if switched:
        # Another pipeline: the record enters it at its first stage, as a new record would;
        # going further in the same write is a skip (permission, reason, approval), and
        # leaving a won or lost stage this way is a reopening.
        left = obj.pipeline.for_values(before).stage(old) if old is not None and before is not None else None
        if left is not None and left.is_closed and not stage.is_closed:
            _check_reopen(obj, pipeline, left, principal, reason, errors)
        skipped = _check_transition(obj, pipeline, None, stage, True, principal, reason, errors)
    elif moves:
        skipped = _check_transition(obj, pipeline, old, stage, before is None, principal, reason, errors)
    if moves:
        _check_gate(obj, pipeline, stage, after, None, clock, errors)
    else:
        # Staying in the stage: refuse emptying a field it needs, and a change that makes
        # a ``requires_when`` apply without filling its fields.
        kept = set(required_fields(obj, stage.key, before or {}, clock))  # not moving: before is a stored record
        newly = set(required_fields(obj, stage.key, after, clock)) - kept
        _check_gate(obj, pipeline, stage, after, changed | newly, clock, errors)
    if not moves:
        return None
    return StageMove(from_stage=old, to_stage=new, reason=reason, skipped=skipped)


def required_fields(obj: ObjectDef, stage_key: str, values: Mapping[str, Any], clock: Clock) -> list[str]:
    """The fields that must be filled while a record with ``values`` is in ``stage_key``."""
    if obj.pipeline is None:
        return []
    pipeline = obj.pipeline.for_values(values)
    names = expression_names(obj, values)
    required: list[str] = []
    for stage in pipeline.gate(stage_key):
        for name in stage.requires:
            if name not in required:
                required.append(name)
        for conditional in stage.requires_when:
            try:
                holds = conditional.when.evaluate(names, clock)
            except ExpressionEvalError:
                holds = False  # a condition over empty inputs does not apply
            if holds:
                required.extend(n for n in conditional.fields if n not in required)
    return required


def missing_fields(obj: ObjectDef, stage_key: str, values: Mapping[str, Any], clock: Clock) -> list[str]:
    """The fields ``stage_key`` needs that are empty in ``values`` (for a path bar or a move dialog)."""
    return [name for name in required_fields(obj, stage_key, values, clock) if is_empty(values.get(name))]


def _check_gate(
    obj: ObjectDef,
    pipeline: Pipeline,
    stage: Stage,
    values: Mapping[str, Any],
    only: set[str] | None,
    clock: Clock,
    errors: Errors,
) -> None:
    for name in missing_fields(obj, stage.key, values, clock):
        if only is not None and name not in only:
            continue  # staying in the stage: only emptying a required field is refused
        if name in errors:
            continue
        label = obj.fields[name].label.get()
        if only is None:
            message = f"{label} is required to enter the stage {stage.label.get()}."
        else:
            message = f"{label} is required while in the stage {stage.label.get()}."
        errors.add(name, "required_for_stage", message)


def _check_transition(
    obj: ObjectDef,
    pipeline: Pipeline,
    old: str | None,
    new: Stage,
    creating: bool,
    principal: Principal,
    reason: str | None,
    errors: Errors,
) -> int:
    """Whether moving from ``old`` to ``new`` is allowed; returns how many stages it skips."""
    field = pipeline.field
    current = pipeline.stage(old) if old is not None else None
    if creating:
        # A new record starts at its pipeline's first stage (the field's default for the object's
        # own pipeline); created further on, it skipped there.
        own = obj.pipeline is not None and pipeline.key == obj.pipeline.key
        default = obj.fields[field].default if own else None
        current = pipeline.stage(default) if isinstance(default, str) else pipeline.stages[0]
        if current is None or current.key == new.key:
            return 0
    if current is None:
        return 0  # a retired stage: any way out is allowed
    if current.is_closed and not creating:
        if not new.is_closed:  # reopening; from one closed stage to another (completed → returned) is not
            _check_reopen(obj, pipeline, current, principal, reason, errors)
        return 0
    if new.outcome == "lost":
        return 0
    old_position, new_position = pipeline.position(current.key), pipeline.position(new.key)
    if old_position is None or new_position is None:
        return 0
    if new_position < old_position:
        if not pipeline.back and not creating:
            errors.add(
                field,
                "transition_not_allowed",
                f"{obj.label.get()} records cannot move back from {current.label.get()} to {new.label.get()}.",
            )
        return 0
    allowed_next = current.next or tuple(s.key for s in pipeline.main_line[old_position + 1 : old_position + 2])
    if new.key in allowed_next:
        return 0
    skipped = max(new_position - old_position - 1, 1)
    if creating and principal.is_system:
        return 0  # imports and automation may create records at any stage
    if not pipeline.skip.allowed:
        errors.add(
            field,
            "transition_not_allowed",
            f"{new.label.get()} cannot be reached from {current.label.get()}; "
            f"move to {_labels(pipeline, allowed_next)} first.",
        )
        return skipped
    if not principal.has(pipeline.skip.permission):
        language = current_language()
        raise PermissionDenied(
            localized(
                "pipeline.skip_denied",
                f"moving from {current.label.get()} to {new.label.get()} skips {skipped} stage"
                f"{'s' if skipped != 1 else ''}, which needs the {pipeline.skip.permission} permission",
                {
                    "source": current.label.get(language),
                    "target": new.label.get(language),
                    "count": skipped,
                    "permission": pipeline.skip.permission,
                },
            )
        )
    if pipeline.skip.reason_required and reason is None and not principal.is_system:
        errors.add(
            REASON_KEY,
            "reason_required",
            f"Give a reason for skipping from {current.label.get()} to {new.label.get()}.",
        )
    return skipped


def _check_reopen(
    obj: ObjectDef, pipeline: Pipeline, current: Stage, principal: Principal, reason: str | None, errors: Errors
) -> None:
    closed = "won" if current.outcome == "won" else "lost"
    if pipeline.reopen == "never":
        errors.add(
            pipeline.field,
            "stage_closed",
            f"This {obj.label.get()} is {closed} ({current.label.get()}); it cannot change stage any more.",
        )
    elif pipeline.reopen == "permission" and not principal.has("reopen"):
        raise PermissionDenied(
            localized(
                f"pipeline.reopen_denied_{closed}",
                f"reopening a {closed} {obj.label.get()} needs the reopen permission",
                {"object": obj.label.get(current_language())},
            )
        )


def record_move(
    unit: Unit,
    obj: ObjectDef,
    record_id: int,
    move: StageMove,
    principal: Principal,
    channel: str,
    now: dt.datetime,
    entered_before: dt.datetime | None,
) -> None:
    """Append one row to the stage history (S19: time in the previous stage), written with the
    write call's other rows (``engine.runtime.records.unit``)."""
    seconds = None
    if entered_before is not None and move.from_stage is not None:
        seconds = max(int((now - _aware(entered_before)).total_seconds()), 0)
    unit.add(
        "sys_stage_history",
        {
            "object": obj.name,
            "record_id": record_id,
            "from_stage": move.from_stage,
            "to_stage": move.to_stage,
            "user_id": principal.user_id,
            "channel": channel,
            "at": now,
            "reason": move.reason,
            "seconds_in_previous": seconds,
            "skipped": move.skipped,
        },
    )


def stage_history(
    connection: sa.Connection, history: sa.Table, object_name: str, record_id: int
) -> list[dict[str, Any]]:
    """The stage changes of one record, oldest first."""
    statement = (
        sa.select(history)
        .where(history.c.object == object_name, history.c.record_id == record_id)
        .order_by(history.c.id)
    )
    return [dict(row) for row in connection.execute(statement).mappings()]


def entry_stage(obj: ObjectDef, before: Mapping[str, Any], after: Mapping[str, Any], given: set[str]) -> str | None:
    """The stage an update moves a record to when it switches pipelines (its ``by`` field
    changes) without naming a stage: the first stage of the new pipeline (the stage field's
    default for the object's own pipeline). None when no pipeline switch happens or a stage is given."""
    if obj.pipeline is None or obj.pipeline.field in given:
        return None
    chosen = obj.pipeline.for_values(after)
    if chosen.key == obj.pipeline.for_values(before).key or not chosen.stages:
        return None
    default = obj.fields[obj.pipeline.field].default if chosen.key == obj.pipeline.key else None
    return default if isinstance(default, str) and chosen.stage(default) is not None else chosen.stages[0].key


def initial_stage(obj: ObjectDef, values: Mapping[str, Any], given: set[str]) -> str | None:
    """The stage a new record starts in when none is given: the first stage of the pipeline its
    values choose (the stage field's default for the object's own pipeline)."""
    if obj.pipeline is None or obj.pipeline.field in given:
        return None
    chosen = obj.pipeline.for_values(values)
    if chosen.key == obj.pipeline.key:
        return None
    return chosen.stages[0].key if chosen.stages else None


def _stage_label(obj: ObjectDef, key: str) -> str:
    stage = next((s for s in obj.pipeline.all_stages() if s.key == key), None) if obj.pipeline else None
    return stage.label.get() if stage else key


def _labels(pipeline: Pipeline, keys: tuple[str, ...]) -> str:
    labels = [stage.label.get() for stage in map(pipeline.stage, keys) if stage is not None]
    return " or ".join(labels) or "another stage"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- the write path's hooks (engine.runtime.records.stages) ---------------------------------------
def _enter(write: Write, draft: Draft) -> None:
    """Stage ``prepare``: a new record's first stage, or the first stage of the pipeline an update
    switches to, when the write names none."""
    obj = write.obj
    if draft.current is None:
        stage = initial_stage(obj, draft.data, draft.given)
    else:
        stage = entry_stage(obj, draft.current, draft.data, draft.given)
    if stage is not None and obj.pipeline is not None:
        draft.data[obj.pipeline.field] = stage


def _check(write: Write, draft: Draft) -> None:
    """Stage ``validate``: the gate and the transition of a create or update (``check_move``)."""
    if write.action != "delete":
        principal = write.session.principal
        draft.move = check_move(
            write.obj, draft.current, draft.data, draft.given, principal, draft.reason, write.clock, draft.errors
        )


def _history(write: Write, draft: Draft) -> None:
    """Stage ``after``: the stage history row of a move."""
    if draft.move is None or draft.record is None:
        return
    session = write.session
    entered_before = draft.current.get("stage_entered_at") if draft.current is not None else None
    record_move(
        session.unit,
        write.obj,
        draft.record["id"],
        draft.move,
        session.principal,
        session.channel,
        session.clock().now_utc,
        entered_before,
    )


#: Stage gates, transitions and the stage history.
FEATURE = Feature("pipeline", {"prepare": _enter, "validate": _check, "after": _history})
