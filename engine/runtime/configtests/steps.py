"""The step kinds of ``when:``, one object each in ``STEPS``: what it says in words (``describe``)
and what it does (``run``), always through the engine's own runtime — the write path, approvals,
conversions, the worker's sweep and the import runner. A refusal the engine raises is kept in the
``Outcome`` for the expectations to judge; it is not a crash."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.runtime.configtests.case import CaseFailed, CaseRun, Outcome, Ref
from engine.runtime.configtests.given import values_for
from engine.runtime.configtests.model import Step
from engine.runtime.configtests.words import say
from engine.runtime.errors import TrellisError
from engine.runtime.imports import runner as imports
from engine.runtime.jobs.worker import sweep
from engine.runtime.workflow import approvals
from engine.runtime.workflow.approvals import ApprovalRequest


class StepKind:
    """One kind of step. Subclasses set ``name`` and implement ``run``."""

    name: ClassVar[str] = ""

    def describe(self, step: Step, language: str) -> str:
        """The step in words (``move deal to stage quote as alice``)."""
        p = step.params
        by = say("as_user", language, user=p["by"]) if p.get("by") else ""
        alias = f" `{p['as']}`" if isinstance(p.get("as"), str) else ""
        return say(
            f"step.{self.name}",
            language,
            object=p.get("object", ""),
            record=f"`{p.get('record', '')}`",
            stage=p.get("to", ""),
            at=p.get("at", ""),
            rows=len(p.get("rows") or []) or max(len(str(p.get("csv", "")).strip().splitlines()) - 1, 0),
            alias=alias,
            by=by,
        )

    def run(self, run: CaseRun, step: Step) -> Outcome:
        """Do the step; a refusal of the engine is returned in ``Outcome.error``."""
        raise NotImplementedError

    def __call__(self, run: CaseRun, step: Step) -> Outcome:
        try:
            return self.run(run, step)
        except CaseFailed:
            raise
        except TrellisError as error:
            ref = run.aliases.get(step.params["record"]) if "record" in step.params else None
            return Outcome(ref=ref, error=error)


def _held(ref: Ref, request: ApprovalRequest | None) -> Outcome:
    if request is None:
        return Outcome(ref=ref)
    ref.approval = request.id
    return Outcome(ref=ref, approval=request.status)


class Create(StepKind):
    name = "create"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        p = step.params
        with run.crm.session(p.get("by"), channel="python") as session:
            record = session.create(
                p["object"],
                values_for(run, p["object"], p.get("values") or {}),
                p.get("reason"),
                allow_duplicate=bool(p.get("allow_duplicate")),
            )
        ref = Ref(p["object"], record.get("id"))
        if p.get("as"):
            run.aliases[p["as"]] = ref
        return _held(ref, record.pending_approval)


class Update(StepKind):
    name = "update"

    def values(self, run: CaseRun, step: Step, ref: Ref) -> dict[str, Any]:
        return values_for(run, ref.object, step.params.get("values") or {})

    def run(self, run: CaseRun, step: Step) -> Outcome:
        p = step.params
        ref = run.ref(p["record"])
        with run.crm.session(p.get("by"), channel="python") as session:
            record = session.update(ref.object, ref.id, self.values(run, step, ref), reason=p.get("reason"))
        return _held(ref, record.pending_approval)


class Move(Update):
    name = "move"

    def values(self, run: CaseRun, step: Step, ref: Ref) -> dict[str, Any]:
        pipeline = run.crm.config.objects[ref.object].pipeline
        assert pipeline is not None  # the loader checked the stage
        return {**super().values(run, step, ref), pipeline.field: step.params["to"]}


class Delete(StepKind):
    name = "delete"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        p = step.params
        ref = run.ref(p["record"])
        with run.crm.session(p.get("by"), channel="python") as session:
            request = session.delete(ref.object, ref.id)
        return _held(ref, request)


class Approve(StepKind):
    name = "approve"
    decision = "approve"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        p = step.params
        ref = run.ref(p["record"])
        request_id = ref.approval
        if request_id is None and ref.id is not None:
            with run.crm.session(None) as session:
                pending = approvals.pending_for_record(session, ref.object, ref.id)
            request_id = pending[0].id if pending else None
        if request_id is None:
            raise CaseFailed(
                say("step." + self.name, run.language, record=p["record"], by=""),
                say("no_pending", run.language, record=p["record"]),
            )
        with run.crm.session(p.get("by"), channel="python") as session:
            decided = approvals.decide(session, request_id, self.decision, p.get("comment"))
        if ref.id is None and decided.record_id:  # an approved create names its new record
            ref.id = decided.record_id
        return Outcome(ref=ref, approval=decided.status)


class Reject(Approve):
    name = "reject"
    decision = "reject"


class Convert(StepKind):
    name = "convert"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        p = step.params
        ref = run.ref(p["record"])
        config = run.crm.config
        name = p.get("conversion") or next(c.name for c in config.conversions.values() if c.source == ref.object)
        conversion = config.conversions[name]
        overrides = {
            target: values_for(run, conversion.target(target).object, values)  # type: ignore[union-attr]
            for target, values in (p.get("values") or {}).items()
            if conversion.target(target) is not None
        }
        with run.crm.session(p.get("by"), channel="python") as session:
            result = session.convert(name, ref.id, skip=tuple(p.get("skip") or ()), overrides=overrides)
        for target, alias in (p.get("as") or {}).items():
            made = result[target]
            run.aliases[alias] = Ref(made.object, made.record.id if made.record is not None else None)
        return Outcome(ref=ref)


class Clock(StepKind):
    name = "clock"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        run.clock.now = run.moment(step.params["at"])
        return Outcome()


class Worker(StepKind):
    """The worker's timed rules at a moment (the outbox is not delivered: a case checks what is queued)."""

    name = "worker"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        at = run.moment(step.params["at"])
        run.clock.now = at
        report = sweep(run.crm, at)
        for rule, counts in report.rules.items():
            if counts.error or counts.failed:
                raise CaseFailed(
                    say("expect.fired", run.language, rule=rule, count=counts.fired + counts.failed),
                    counts.error or f"{counts.failed} failed",
                )
        return Outcome(fired={rule: counts.fired for rule, counts in report.rules.items()})


class Import(StepKind):
    """Rows (or a CSV text) through the import runner, as ``trellis import`` writes them."""

    name = "import"

    def run(self, run: CaseRun, step: Step) -> Outcome:
        p = step.params
        path = run.folder / f"import_{id(step)}_{step.number}.csv"
        if "csv" in p:
            path.write_text(str(p["csv"]), encoding="utf-8")
        else:
            _write_rows(path, p["rows"])
        options = imports.ImportOptions(on_duplicate=p.get("on_duplicate"), match=p.get("match"), language=run.language)
        try:
            job = imports.start(run.crm, p["object"], path, options, user=p.get("by"))
            job = imports.run(run.crm, job.id)
            failed = imports.failures(run.crm, job.id)
        finally:
            path.unlink(missing_ok=True)
        counts = {k: getattr(job, k) for k in ("created", "updated", "skipped", "held", "failed")}
        return Outcome(imported=counts, failures=[(f.row, f.error) for f in failed])


def _write_rows(path: Any, rows: list[Mapping[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])


#: Every step kind by name.
STEPS: dict[str, StepKind] = {
    kind.name: kind
    for kind in (Create(), Update(), Move(), Delete(), Approve(), Reject(), Convert(), Clock(), Worker(), Import())
}
