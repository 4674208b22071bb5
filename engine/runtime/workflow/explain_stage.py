"""What moving one record to a stage needs now (``trellis explain stage``, issue 17 §2).

The verdict is the write path's own: ``explain_stage`` runs the move — ``Session.update`` of
the stage field, as the user asked about (or the system) — in a transaction that is always
rolled back (``simulate.dry_session``'s way), so the gates, transitions, skip rules, validation
rules, approval locks and approval rules that would refuse or hold the real move are exactly
the ones reported, with the real move's messages. Beside the verdict it lists the stage's gate
as the pipeline reads it (``pipeline.required_fields``: the ``requires`` of the stage and the
main-line stages before it, and the ``requires_when`` entries whose condition holds for the
record), each field filled or missing, and the transition in words (forward, back, a skip,
a reopening, into a lost stage).

Nothing is written: no field, stage history, audit entry, approval request or automation run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import REASON_KEY, ObjectDef, Pipeline, Stage
from engine.runtime.errors import NotFound, TrellisError, ValidationFailed
from engine.runtime.messages import message, speaking
from engine.runtime.records.query import format_title
from engine.runtime.records.session import Session
from engine.runtime.records.validation import expression_names, is_empty
from engine.runtime.records.writes import record_id_of
from engine.runtime.security.permissions import SYSTEM, PermissionDenied, load_principal
from engine.runtime.security.users import user_names
from engine.runtime.workflow.pipeline import required_fields

if TYPE_CHECKING:
    from engine.runtime.context import Runtime


class NoSuchStage(TrellisError):
    """The object has no pipeline, or no stage of that key."""

    code = "unknown_stage"


@dataclass(frozen=True)
class GateField:
    """One field the stage needs: its label, whether the record leaves it empty, and the
    condition (``requires_when``) that makes it needed, if any."""

    name: str
    label: str
    missing: bool
    when: str | None = None


@dataclass(frozen=True)
class Problem:
    """One refusal of the dry-run move: the field (``_record`` for the record), code and message."""

    field: str
    label: str
    code: str
    message: str


@dataclass(frozen=True)
class StageExplanation:
    """What moving ``record_id`` to ``stage`` needs, told from a dry run of the real move."""

    object: str
    record_id: int
    title: str
    stage: str
    stage_label: str
    current: str | None
    current_label: str
    acting: str
    transition: str
    gate: tuple[GateField, ...]
    conditions: tuple[str, ...]
    problems: tuple[Problem, ...]
    denied: str | None
    #: The approval rules the move would start (names), and their labels.
    approvals: tuple[str, ...]
    approval_labels: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the move would go through now (held for approval counts: it is accepted)."""
        return not self.problems and self.denied is None

    @property
    def missing(self) -> tuple[str, ...]:
        """The gate fields the record leaves empty."""
        return tuple(f.name for f in self.gate if f.missing)

    def sentences(self, language: str) -> list[str]:
        """The explanation in plain sentences."""
        say = lambda code, **p: message(f"explain_stage.{code}", language, **p)  # noqa: E731
        lines = [say(self.transition, current=self.current_label, stage=self.stage_label)]
        if self.gate:
            parts = [
                f"{f.label}{' (' + say('when', condition=f.when) + ')' if f.when else ''}: "
                f"{say('missing' if f.missing else 'filled')}"
                for f in self.gate
            ]
            lines.append(say("gate", stage=self.stage_label, fields="; ".join(parts)))
        else:
            lines.append(say("no_gate", stage=self.stage_label))
        lines += [say("condition_off", condition=c) for c in self.conditions]
        if self.denied:
            lines.append(say("denied", reason=self.denied))
        lines += [say("problem", field=p.label, message=p.message) for p in self.problems]
        if self.approvals:
            lines.append(say("approval", rules=", ".join(self.approval_labels)))
        lines.append(say("ok" if self.ok else "blocked", acting=self.acting))
        return lines

    def to_dict(self, language: str) -> dict[str, Any]:
        """A JSON-ready view (``--json``)."""
        return {
            "object": self.object,
            "record_id": self.record_id,
            "title": self.title,
            "stage": self.stage,
            "from_stage": self.current,
            "as": self.acting,
            "ok": self.ok,
            "transition": self.transition,
            "gate": [{"field": f.name, "missing": f.missing, "when": f.when} for f in self.gate],
            "missing": list(self.missing),
            "problems": [{"field": p.field, "code": p.code, "message": p.message} for p in self.problems],
            "denied": self.denied,
            "approvals": list(self.approvals),
            "sentences": self.sentences(language),
        }


def explain_stage(
    crm: Runtime,
    object_name: str,
    record_id: Any,
    stage: str,
    user: str | int | None = None,
    reason: str | None = None,
    language: str = "en",
) -> StageExplanation:
    """What moving the record to ``stage`` as ``user`` (None: the system) needs now. Raises
    UnknownObject, NotFound (also outside the user's read scope), NoSuchStage, UnknownUser
    and AccountUnavailable, in ``language``."""
    with speaking(language), _dry(crm, user) as session:
        obj = session.object(object_name)
        pipeline = obj.pipeline
        if pipeline is None:
            raise NoSuchStage(message("explain_stage.no_pipeline", language, object=obj.label.get(language)))
        if not any(s.key == stage for s in pipeline.all_stages()):
            known = ", ".join(s.key for s in pipeline.all_stages())
            raise NoSuchStage(
                message("explain_stage.no_stage", language, object=obj.label.get(language), stage=stage, known=known)
            )
        wanted = record_id_of(obj.name, record_id)
        found = session.query(obj.name).include_archived().filter(id=wanted).first()
        if found is None:
            raise NotFound(obj.name, record_id, obj.label.get(language))
        stored = session.acting(SYSTEM, session.channel).get(obj.name, wanted)
        values = dict(stored)
        after = {**values, pipeline.field: stage}
        chosen = pipeline.for_values(after)
        target = chosen.stage(stage) or next(s for s in pipeline.all_stages() if s.key == stage)
        current_key = values.get(pipeline.field)
        current = next((s for s in pipeline.all_stages() if s.key == current_key), None)
        gate, conditions = _gate(session, obj, chosen, stage, after, language)
        problems, denied, approvals = _dry_move(session, obj, wanted, pipeline.field, stage, reason, language)
        rules = [session.config.approval_rule(name) for name in approvals]
        labels = tuple(r.label.get(language) if r else n for r, n in zip(rules, approvals, strict=True))
        return StageExplanation(
            obj.name,
            wanted,
            format_title(obj, values),
            stage,
            target.label.get(language),
            current_key,
            current.label.get(language) if current else "—",
            _acting(session, language),
            _transition(chosen, current, target),
            gate,
            conditions,
            problems,
            denied,
            approvals,
            labels,
        )


@contextmanager
def _dry(crm: Runtime, user: str | int | None) -> Iterator[Session]:
    """A session as ``user`` in a transaction that is always rolled back."""
    crm.check_database()
    with crm.engine.connect() as connection:
        transaction = connection.begin()
        try:
            principal = (
                SYSTEM
                if user is None
                else load_principal(
                    connection, crm.config, user, crm.clock_now().now_utc, crm.schema.system["sys_users"]
                )
            )
            yield Session(crm, connection, principal, "explain")
        finally:
            transaction.rollback()


def _gate(
    session: Session, obj: ObjectDef, pipeline: Pipeline, stage: str, after: Mapping[str, Any], language: str
) -> tuple[tuple[GateField, ...], tuple[str, ...]]:
    """The fields the stage needs for this record (``required_fields``, the gate the write path
    checks), each with the ``requires_when`` condition that brought it in; and the conditions
    that do not hold now (their fields are not needed)."""
    clock = session.clock()
    needed = required_fields(obj, stage, after, clock)
    names = expression_names(obj, after)
    why: dict[str, str] = {}
    off: list[str] = []
    for gated in pipeline.gate(stage):
        for conditional in gated.requires_when:
            try:
                holds = bool(conditional.when.evaluate(names, clock))
            except ExpressionEvalError:
                holds = False
            if holds:
                for name in conditional.fields:
                    if name not in gated.requires:
                        why.setdefault(name, conditional.when.source)
            else:
                off.append(conditional.when.source)
    fields = tuple(GateField(n, obj.fields[n].label.get(language), is_empty(after.get(n)), why.get(n)) for n in needed)
    return fields, tuple(off)


def _dry_move(
    session: Session, obj: ObjectDef, record_id: int, field: str, stage: str, reason: str | None, language: str
) -> tuple[tuple[Problem, ...], str | None, tuple[str, ...]]:
    """Run the real move (``Session.update``) in the rolled-back transaction: its refusals, a
    permission it lacks, and the approval rules it would start."""
    try:
        with speaking(language):
            record = session.update(obj.name, record_id, {field: stage}, reason=reason)
    except ValidationFailed as exc:
        with speaking(language):
            problems = tuple(
                Problem(name, _label(obj, name, language), p.code, p.message)
                for name, found in exc.errors.items()
                for p in found
            )
        return problems, None, ()
    except PermissionDenied as exc:
        return (), str(exc), ()
    pending = record.pending_approval
    return (), None, tuple(pending.rules) if pending is not None else ()


def _acting(session: Session, language: str) -> str:
    """Who moves: the user's display name, or the system."""
    user_id = session.principal.user_id
    if user_id is None:
        return message("explain_stage.system", language)
    return user_names(session, [user_id]).get(user_id, session.principal.username)


def _label(obj: ObjectDef, name: str, language: str) -> str:
    if name in obj.fields:
        return obj.fields[name].label.get(language)
    return message("explain_stage.record" if name != REASON_KEY else "explain_stage.reason", language)


def _transition(pipeline: Pipeline, current: Stage | None, target: Stage) -> str:
    """How the move goes, as a catalogue code: ``same``, ``lost``, ``reopen``, ``back``, ``next``
    or ``skip`` (the write path decides whether it is allowed)."""
    if current is None:
        return "from_none"
    if current.key == target.key:
        return "same"
    if current.is_closed and not target.is_closed:
        return "reopen"
    if target.outcome == "lost":
        return "lost"
    old, new = pipeline.position(current.key), pipeline.position(target.key)
    if old is None or new is None:
        return "other"
    if new < old:
        return "back"
    allowed = current.next or tuple(s.key for s in pipeline.main_line[old + 1 : old + 2])
    return "next" if target.key in allowed else "skip"
