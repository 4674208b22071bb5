"""Scores kept by rules (``scoring:``, S10, S15): a step of the one write path.

``apply_scores`` runs inside ``Session.create`` and ``Session.update`` after the
formulas and before validation, so the score is validated and stored with the
change that moved it, in the same row version and audit entry — no second
write, no automation loop. A score is the points of the rules that hold plus
whatever else the field holds: points given on create (or by hand, by a role
that may), and points the ``add`` automation action adds for engagement (S15).
So an update does not recompute from zero; it adds the points of the rules
that start to hold and takes away those of the rules that stop holding
(compared with the stored record), keeping the result within the field's
``min``/``max``. ``recompute: on_create`` scores new records only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.metadata.expressions import Clock, ExpressionEvalError
from engine.metadata.model import SYSTEM_COLUMNS, Config, ObjectDef, Scoring
from engine.runtime.records.stages import Feature

if TYPE_CHECKING:
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft


def scorings_for(config: Config, object_name: str) -> tuple[Scoring, ...]:
    """The scorings of ``object_name``, in declaration order."""
    return tuple(s for s in config.scoring.values() if s.object == object_name)


def apply_scores(
    config: Config, obj: ObjectDef, data: dict[str, Any], previous: Mapping[str, Any] | None, clock: Clock
) -> None:
    """Move each score of ``data`` by the points its rules gained or lost since ``previous``
    (the stored record; None on create). Formulas that read a score are recomputed."""
    scorings = [s for s in scorings_for(config, obj.name) if previous is None or s.recompute == "on_change"]
    if not scorings:
        return
    after = _names(obj, data)
    before = _names(obj, previous) if previous is not None else None
    moved = False
    for scoring in scorings:
        delta = points(scoring, after, clock) - (points(scoring, before, clock) if before is not None else 0)
        if not delta:
            continue
        field = obj.fields[scoring.field]
        score = (data.get(scoring.field) or 0) + delta
        if field.min is not None:
            score = max(score, int(field.min))
        if field.max is not None:
            score = min(score, int(field.max))
        data[scoring.field] = score
        moved = True
    formulas = (obj.fields[name].expression for name in obj.formula_order)
    if moved and any(e is not None and e.names & {s.field for s in scorings} for e in formulas):
        from engine.runtime.records.validation import compute_formulas

        compute_formulas(obj, data, clock, config.settings)


def points(scoring: Scoring, names: Mapping[str, Any], clock: Clock) -> int:
    """The points of the rules whose condition holds for ``names`` (a rule that cannot be
    evaluated — e.g. a comparison with an empty value — does not hold)."""
    total = 0
    for rule in scoring.rules:
        try:
            holds = rule.when.evaluate(names, clock)
        except ExpressionEvalError:
            holds = False
        if holds:
            total += rule.points
    return total


def _names(obj: ObjectDef, values: Mapping[str, Any]) -> dict[str, Any]:
    names: dict[str, Any] = dict.fromkeys(SYSTEM_COLUMNS) | dict.fromkeys(obj.fields)
    names.update(values)
    return names


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _score(write: Write, draft: Draft) -> None:
    """Stage ``compute``: move the scores of the row (after the formulas, before the field checks)."""
    apply_scores(write.session.config, write.obj, draft.data, draft.current, write.clock)


#: Scores move with the change that moves them.
FEATURE = Feature("scoring", {"compute": _score})
