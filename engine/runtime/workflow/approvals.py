"""Approvals (S18, S21, S33): changes held until the right people agree.

The write path's ``approvals`` feature (stages ``read``, ``validate``, ``approve``, ``hold``;
``engine.runtime.records.stages``) asks ``rules_for_create`` / ``rules_for_update`` /
``rules_for_delete`` which approval rules a valid change triggers (a create waits whole: nothing
is inserted until it is approved, and the request has no record until then). When some do,
nothing is changed: ``request`` stores the pending change (the values as given — those of
``encrypted: true`` fields encrypted with the records' keys — and the stage reason) with one step
per approver, resolved now — the requester's manager (N levels up), a role, a named user — and
the record is *locked* against other changes of the kind under approval (``check_locks``) until
the request is decided.

``decide`` records an approver's decision. When the last step approves, the
pending change is applied through the one write path as the requester,
re-validated (gates, rules, permissions); if it no longer fits, the request
ends ``failed`` with the reason and nothing is changed. A rejection ends the
request with the approver's comment. Deciding needs the ``approve``
permission, read scope over the record and to be the step's approver;
approving one's own request is refused unless the rule allows it, and nobody
decides two steps of one request (``duty_conflict``). Readers get requests
through ``visible``: without the pending values of fields they may not read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import ExpressionEvalError
from engine.metadata.model import ApprovalRule, ObjectDef
from engine.runtime.database import row_by_id
from engine.runtime.errors import RECORD_ERRORS, Conflict, FieldError, NotFound, ValidationFailed
from engine.runtime.jobs.inbox import readable_records
from engine.runtime.records import reader
from engine.runtime.records.stages import Feature
from engine.runtime.records.validation import Errors, expression_names
from engine.runtime.security.permissions import (
    AccountUnavailable,
    PermissionDenied,
    UnknownUser,
    load_principal,
)

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft
    from engine.runtime.workflow.pipeline import StageMove

PENDING, APPROVED, REJECTED, FAILED, CANCELLED = "pending", "approved", "rejected", "failed", "cancelled"
#: The ``record_id`` of a create waiting for approval (the record does not exist yet).
NEW_RECORD = 0


@dataclass(frozen=True)
class Step:
    """One approval step: who decides it and, once decided, how."""

    index: int
    label: str
    approver_user_id: int | None
    approver_role: str | None
    approver_name: str
    decision: str | None = None
    decided_by: int | None = None
    decided_at: dt.datetime | None = None
    comment: str | None = None


@dataclass(frozen=True)
class ApprovalRequest:
    """A pending (or decided) change of one record."""

    id: int
    rules: tuple[str, ...]
    object: str
    record_id: int
    action: str
    changes: Mapping[str, Any]
    reason: str | None
    status: str
    step: int
    requested_by: int | None
    requested_by_name: str
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    comment: str | None
    result: str | None
    steps: tuple[Step, ...] = field(default=())
    #: How many pending values were left out of ``changes`` because the viewer may not read them.
    hidden_changes: int = 0

    @property
    def current_step(self) -> Step | None:
        """The step waiting for a decision, or None once the request is decided."""
        return self.steps[self.step] if self.status == PENDING and self.step < len(self.steps) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for the REST API)."""
        return {
            "id": self.id,
            "rules": list(self.rules),
            "object": self.object,
            "record_id": self.record_id,
            "action": self.action,
            "changes": dict(self.changes),
            "hidden_changes": self.hidden_changes,
            "reason": self.reason,
            "status": self.status,
            "step": self.step,
            "requested_by": self.requested_by_name,
            "requested_at": _iso(self.requested_at),
            "decided_at": _iso(self.decided_at),
            "comment": self.comment,
            "result": self.result,
            "steps": [
                {
                    "label": s.label,
                    "approver": s.approver_name,
                    "decision": s.decision,
                    "decided_at": _iso(s.decided_at),
                    "comment": s.comment,
                }
                for s in self.steps
            ],
        }


# --- which rules a change triggers -------------------------------------------------
def rules_for_update(
    session: Session, obj: ObjectDef, after: Mapping[str, Any], changed: set[str], move: StageMove | None
) -> list[ApprovalRule]:
    """The approval rules a valid update triggers (not those already approved for it).
    The system context (imports, automation) is trusted and needs no approval."""
    if session.principal.is_system:
        return []
    found = []
    for rule in session.config.approval_rules(obj.name):
        if rule.name in session.approved_rules:
            continue
        if rule.trigger == "stage_skip":
            hit = move is not None and move.skipped > 0
        elif rule.trigger == "change":
            hit = "update" in rule.applies_to and bool(changed & set(rule.fields))
        else:
            hit = False
        if hit and _holds(session, obj, rule, after):
            found.append(rule)
    return found


def rules_for_create(session: Session, obj: ObjectDef, values: Mapping[str, Any]) -> list[ApprovalRule]:
    """The ``change`` rules (with ``create`` in ``applies_to``) a valid create triggers: those
    whose fields the new record fills — given, defaulted or computed — and whose ``when`` holds."""
    if session.principal.is_system:
        return []
    return [
        rule
        for rule in session.config.approval_rules(obj.name)
        if rule.trigger == "change"
        and "create" in rule.applies_to
        and rule.name not in session.approved_rules
        and any(values.get(name) not in (None, "", []) for name in rule.fields)
        and _holds(session, obj, rule, values)
    ]


def rules_for_delete(session: Session, obj: ObjectDef, current: Mapping[str, Any]) -> list[ApprovalRule]:
    """The approval rules deleting ``current`` triggers (none for the system context)."""
    if session.principal.is_system:
        return []
    return [
        rule
        for rule in session.config.approval_rules(obj.name, "delete")
        if rule.name not in session.approved_rules and _holds(session, obj, rule, current)
    ]


def _holds(session: Session, obj: ObjectDef, rule: ApprovalRule, values: Mapping[str, Any]) -> bool:
    if rule.when is None:
        return True
    try:
        return bool(rule.when.evaluate(expression_names(obj, values), session.clock()))
    except ExpressionEvalError:
        return False


# --- locks -----------------------------------------------------------------------------
def check_locks(
    session: Session,
    obj: ObjectDef,
    record_id: int,
    changed: set[str],
    action: str,
    errors: Errors,
    pending: list[ApprovalRequest] | None = None,
) -> None:
    """Refuse a change of the kind a pending request on this record is waiting for (``pending``:
    the record's pending requests, when ``pending_locks`` read them already)."""
    if pending is None:
        pending = pending_locks(session, obj.name, [record_id])[record_id]
    for request in pending:
        locked: set[str] = set()
        for name in request.rules:
            rule = session.config.approval_rule(name)
            if rule is None:
                continue
            if rule.trigger == "change":
                locked |= set(rule.fields)
            elif rule.trigger == "stage_skip" and obj.pipeline is not None:
                locked.add(obj.pipeline.field)
        locked |= {k for k in request.changes if k in obj.fields}
        who = request.requested_by_name
        if action == "delete" and request.action == "delete":
            errors.add(
                RECORD_ERRORS,
                "approval_pending",
                f"Deleting this record already waits for approval (request {request.id} by {who}).",
            )
        for name in sorted(changed & locked):
            errors.add(
                name,
                "approval_pending",
                f"{obj.fields[name].label.get()} cannot change while request {request.id} by {who} waits for approval.",
            )


# --- requesting -------------------------------------------------------------------------
def request(
    session: Session,
    obj: ObjectDef,
    record_id: int,
    rules: list[ApprovalRule],
    action: str,
    changes: Mapping[str, Any],
    reason: str | None,
) -> ApprovalRequest:
    """Store a pending change with its approval steps; refuses when no approver can be found.
    A ``create`` has no record yet: ``record_id`` is ``NEW_RECORD`` until it is approved."""
    approvals, steps_table = _tables(session)
    errors = Errors()
    steps: list[dict[str, Any]] = []
    language = session.config.settings.languages[0]  # the step's label is stored as the company reads it
    for rule in rules:
        for step in rule.steps:
            resolved = _resolve(session, step.approver, errors)
            if resolved is not None:
                user_id, role, name = resolved
                steps.append(
                    {
                        "label": f"{rule.label.get(language)}: {step.label.get(language)}",
                        "approver_user_id": user_id,
                        "approver_role": role,
                        "approver_name": name,
                    }
                )
    if errors:
        raise ValidationFailed(dict(errors), obj.name)
    session.unit.created.discard((obj.name, record_id))  # locked by this request from now on
    now = session.clock().now_utc
    approval_id = session.connection.execute(
        sa.insert(approvals)
        .values(
            rules=",".join(r.name for r in rules),
            object=obj.name,
            record_id=record_id,
            action=action,
            changes=json.dumps(_sealed(session, obj, _jsonable(changes)), sort_keys=True),
            reason=reason,
            status=PENDING,
            step=0,
            requested_by=session.user,
            requested_by_name=session.principal.username,
            requested_at=now,
        )
        .returning(approvals.c.id)
    ).scalar_one()
    session.connection.execute(
        sa.insert(steps_table),
        [{"approval_id": approval_id, "step": index, **step} for index, step in enumerate(steps)],
    )
    _audit(
        session,
        obj.name,
        record_id,
        "approval.request",
        {"approval": [None, approval_id], "rules": [None, ",".join(r.name for r in rules)]},
    )
    return get(session, approval_id)


def _resolve(session: Session, approver, errors: Errors) -> tuple[int | None, str | None, str] | None:
    """The approver of a step (users from the transaction's users, ``engine.runtime.records.unit``)."""
    unit = session.unit
    if approver.kind == "manager":
        user_id = session.user
        for _ in range(approver.levels):
            row = unit.user(user_id) if user_id is not None else None
            user_id = row.manager_id if row is not None else None
        manager = unit.user(user_id) if user_id is not None else None
        if user_id is None or manager is None:
            errors.add(
                RECORD_ERRORS,
                "no_approver",
                f"This change needs approval by {approver.describe()}, but you have no manager "
                f"{'that far up ' if approver.levels > 1 else ''}in Trellis; ask an administrator to set one.",
            )
            return None
        return user_id, None, manager.username
    if approver.kind == "role":
        return None, approver.name, f"role {approver.name}"
    row = unit.user_named(approver.name)
    if row is None or not row.active:
        errors.add(
            RECORD_ERRORS,
            "no_approver",
            f"This change needs approval by user {approver.name}, who does not exist or is disabled.",
        )
        return None
    return row.id, None, approver.name


# --- deciding -----------------------------------------------------------------------------
def decide(session: Session, approval_id: Any, decision: str, comment: str | None = None) -> ApprovalRequest:
    """Approve or reject the current step of a request as the session's principal."""
    if decision not in ("approve", "reject"):
        raise ValidationFailed({"decision": [FieldError("invalid", "Decide with approve or reject.")]}, "approval")
    current = _fetch(session, approval_id, lock=True)
    step = current.current_step
    if step is None:
        raise ValidationFailed(
            {RECORD_ERRORS: [FieldError("already_decided", f"Request {current.id} is already {current.status}.")]},
            "approval",
        )
    principal = session.principal
    if not principal.is_system:
        if not principal.has("approve"):
            raise PermissionDenied.said("approval.needs_permission", "deciding approvals needs the approve permission")
        _require_record_scope(session, current)
        if not _is_approver(principal, step):
            raise PermissionDenied.said(
                "approval.not_your_step",
                f"step {step.index + 1} of request {current.id} is for {step.approver_name}",
                step=step.index + 1,
                id=current.id,
                approver=step.approver_name,
            )
        conflict = duty_conflict(session, current)
        if conflict is not None:
            raise PermissionDenied(conflict)
    comment = (comment or "").strip() or None
    if decision == "reject" and comment is None:
        raise ValidationFailed({"comment": [FieldError("required", "Say why you reject the request.")]}, "approval")
    approvals, steps_table = _tables(session)
    now = session.clock().now_utc
    session.connection.execute(
        sa.update(steps_table)
        .where(steps_table.c.approval_id == current.id, steps_table.c.step == step.index)
        .values(
            decision="approved" if decision == "approve" else "rejected",
            decided_by=principal.user_id,
            decided_at=now,
            comment=comment,
        )
    )
    if decision == "reject":
        _finish(session, current, REJECTED, now, comment, None)
    elif step.index + 1 < len(current.steps):
        session.connection.execute(sa.update(approvals).where(approvals.c.id == current.id).values(step=step.index + 1))
        _audit(session, current.object, current.record_id, "approval.step", {"approval": [None, current.id]})
    else:
        failure = _apply(session, current)
        # Fetched again: an approved create now names its new record.
        _finish(
            session,
            _fetch(session, current.id, check_scope=False),
            FAILED if failure else APPROVED,
            now,
            comment,
            failure,
        )
    return visible(session, _fetch(session, current.id, check_scope=False))


def cancel(session: Session, approval_id: Any) -> ApprovalRequest:
    """Withdraw one's own pending request."""
    current = _fetch(session, approval_id, lock=True)
    if current.status != PENDING:
        raise ValidationFailed(
            {RECORD_ERRORS: [FieldError("already_decided", f"Request {current.id} is already {current.status}.")]},
            "approval",
        )
    if not session.principal.is_system and current.requested_by != session.user:
        raise PermissionDenied.said("approval.only_requester", "only the requester may withdraw a request")
    _finish(session, current, CANCELLED, session.clock().now_utc, None, None)
    return get(session, current.id)


def _apply(session: Session, request_: ApprovalRequest) -> str | None:
    """Apply the approved change as the requester; the reason it failed, or None."""
    try:
        if request_.requested_by is None:  # the requester's account is gone
            raise UnknownUser.named(request_.requested_by_name)
        requester = load_principal(
            session.connection,
            session.config,
            request_.requested_by,
            session.clock().now_utc,
            session.schema.system["sys_users"],
        )
    except (UnknownUser, AccountUnavailable) as exc:
        return f"The requester can no longer act: {exc}."
    applying = session.acting(requester, "approval", depth=0, approved_rules=frozenset(request_.rules))
    try:
        with session.unit.savepoint():
            if request_.action == "delete":
                applying.delete(request_.object, request_.record_id)
            elif request_.action == "create":
                created = applying.create(request_.object, dict(request_.changes), reason=request_.reason)
                approvals, _ = _tables(session)
                session.connection.execute(
                    sa.update(approvals).where(approvals.c.id == request_.id).values(record_id=created.id)
                )
            else:
                applying.update(request_.object, request_.record_id, dict(request_.changes), reason=request_.reason)
    except ValidationFailed as exc:
        problems = "; ".join(f"{e.message}" for errs in exc.errors.values() for e in errs)
        return f"The change no longer fits and was not applied: {problems}"
    except (Conflict, NotFound, PermissionDenied) as exc:
        return f"The change was not applied: {exc}."
    return None


def _finish(
    session: Session, request_: ApprovalRequest, status: str, now: dt.datetime, comment: str | None, result: str | None
) -> None:
    approvals, _ = _tables(session)
    session.connection.execute(
        sa.update(approvals)
        .where(approvals.c.id == request_.id)
        .values(status=status, decided_at=now, comment=comment, result=result)
    )
    _audit(
        session,
        request_.object,
        request_.record_id,
        f"approval.{status}",
        {"approval": [None, request_.id], **({"comment": [None, comment]} if comment else {})},
    )
    if status in (APPROVED, REJECTED):
        from engine.runtime.workflow import automation

        automation.after_decision(session, request_.object, request_.record_id, status)


def duty_conflict(session: Session, request_: ApprovalRequest) -> str | None:
    """Separation of duties: why the caller may not decide the current step of ``request_``
    although it is theirs — they made the request (unless every rule allows
    ``self_approval``), or they decided an earlier step of it (unless every rule says
    ``separate_steps: false``) — or None."""
    user_id = session.principal.user_id
    if session.principal.is_system or user_id is None:
        return None
    rules = [session.config.approval_rule(name) for name in request_.rules]
    if request_.requested_by == user_id and not all(r is not None and r.self_approval for r in rules):
        return "you cannot decide your own request; another approver must"
    step = request_.current_step
    separate = not all(r is not None and not r.separate_steps for r in rules)
    if separate and step is not None and any(s.decided_by == user_id for s in request_.steps[: step.index]):
        return f"you decided an earlier step of request {request_.id}; another approver must decide this one"
    return None


def _is_approver(principal, step: Step) -> bool:
    if step.approver_user_id is not None:
        return step.approver_user_id == principal.user_id
    return step.approver_role in principal.roles


def _require_record_scope(session: Session, request_: ApprovalRequest) -> None:
    """NotFound unless the caller's read scope covers the request's record — as it is, or,
    once deleted, as it was: its owner when it was deleted (from the audit trail)."""
    if not session.principal.in_scope(request_.object, "read", _owner_of(session, request_)):
        raise NotFound("approval", request_.id)


def _owner_of(session: Session, request_: ApprovalRequest) -> int | None:
    """The owner of the request's record now, or when it was deleted (None when unknown:
    then only an ``all`` read scope covers it)."""
    if request_.action == "create" and request_.record_id == NEW_RECORD:  # its owner-to-be
        owner = request_.changes.get("owner_id", request_.requested_by)
        return owner if isinstance(owner, int) else None
    table = session.schema.table(request_.object)
    row = session.connection.execute(sa.select(table.c.owner_id).where(table.c.id == request_.record_id)).first()
    if row is not None:
        return row.owner_id
    trail = session.schema.system["sys_audit"]
    logged = session.connection.execute(
        sa.select(trail.c.changes)
        .where(
            trail.c.object == request_.object,
            trail.c.record_id == request_.record_id,
            trail.c.action == "delete",
        )
        .order_by(trail.c.id.desc())
        .limit(1)
    ).scalar()
    try:
        owner = json.loads(logged).get("owner_id", [None])[0] if logged else None
    except (ValueError, AttributeError, IndexError, TypeError):
        return None
    return owner if isinstance(owner, int) else None


# --- reading ----------------------------------------------------------------------------
def get(session: Session, approval_id: Any) -> ApprovalRequest:
    """One request as the caller may see it (``visible``); NotFound when it does not exist or
    its record — or, once deleted, the record as it was — is outside the caller's read scope."""
    return visible(session, _fetch(session, approval_id))


def visible(session: Session, request_: ApprovalRequest) -> ApprovalRequest:
    """``request_`` without the pending values of fields the caller may not read (counted in
    ``hidden_changes``; ``reader.readable_fields``, the rule every channel reads by): what a
    user may not read never reaches them, in any channel."""
    principal = session.principal
    obj = session.config.objects.get(request_.object)
    if principal.is_system:
        return request_
    fields = reader.readable_fields(session.config, (principal,), obj) if obj is not None else frozenset()
    shown = {k: v for k, v in request_.changes.items() if obj is not None and (k == "owner_id" or k in fields)}
    return replace(request_, changes=shown, hidden_changes=len(request_.changes) - len(shown))


def _fetch(session: Session, approval_id: Any, lock: bool = False, check_scope: bool = True) -> ApprovalRequest:
    """One request with every pending value (for deciding and applying), scope checked unless
    ``check_scope`` is false (the request as it stands right after the caller decided it)."""
    approvals, _ = _tables(session)
    found = _load(session, [row_by_id(session.connection, approvals, approval_id, "approval", lock)])[0]
    if check_scope and not session.principal.is_system and found.requested_by != session.user:
        _require_record_scope(session, found)
    return found


def pending_for_record(session: Session, object_name: str, record_id: int) -> list[ApprovalRequest]:
    """Pending requests on one record as the caller may see them (shown on the record page)."""
    return [visible(session, r) for r in _pending(session, object_name, record_id)]


def _pending(session: Session, object_name: str, record_id: int) -> list[ApprovalRequest]:
    """Pending requests on one record with every value (they lock it)."""
    approvals, _ = _tables(session)
    rows = (
        session.connection.execute(
            sa.select(approvals)
            .where(
                approvals.c.object == object_name,
                approvals.c.record_id == record_id,
                approvals.c.status == PENDING,
            )
            .order_by(approvals.c.id)
        )
        .mappings()
        .all()
    )
    return _load(session, rows)


def pending_locks(session: Session, object_name: str, record_ids: list[int]) -> dict[int, list[ApprovalRequest]]:
    """The pending requests on each of ``record_ids`` (one query), for ``check_locks``. A record
    the current write call created has none (``engine.runtime.records.unit``)."""
    found: dict[int, list[ApprovalRequest]] = {i: [] for i in record_ids}
    reading = [i for i in record_ids if (object_name, i) not in session.unit.created]
    if not reading:
        return found
    approvals, _ = _tables(session)
    rows = (
        session.connection.execute(
            sa.select(approvals)
            .where(
                approvals.c.object == object_name,
                approvals.c.record_id.in_(reading),
                approvals.c.status == PENDING,
            )
            .order_by(approvals.c.id)
        )
        .mappings()
        .all()
    )
    for request in _load(session, rows, opened=False):  # the locks need the names, not the values
        found[request.record_id].append(request)
    return found


def for_record(session: Session, object_name: str, record_id: int) -> list[ApprovalRequest]:
    """Every request on one record, newest first."""
    approvals, _ = _tables(session)
    rows = (
        session.connection.execute(
            sa.select(approvals)
            .where(
                approvals.c.object == object_name,
                approvals.c.record_id == record_id,
            )
            .order_by(approvals.c.id.desc())
        )
        .mappings()
        .all()
    )
    return [visible(session, r) for r in _load(session, rows)]


def inbox(session: Session, limit: int = 200) -> list[ApprovalRequest]:
    """Pending requests whose current step the caller may decide, on records the caller may read."""
    if not (session.principal.is_system or session.principal.has("approve")):
        return []
    approvals, _ = _tables(session)
    found = _load(session, session.connection.execute(_waiting(session, approvals).limit(limit)).mappings().all())
    found = [r for r in found if duty_conflict(session, r) is None]
    readable = readable_records(session, [(r.object, r.record_id) for r in found if r.record_id != NEW_RECORD])
    return [
        visible(session, r)
        for r in found
        if (r.object, r.record_id) in readable or (r.record_id == NEW_RECORD and _in_scope(session, r))
    ]


def _in_scope(session: Session, request_: ApprovalRequest) -> bool:
    try:
        _require_record_scope(session, request_)
    except NotFound:
        return False
    return True


def waiting_count(session: Session, limit: int = 200) -> int:
    """How many requests ``inbox`` would list (the navigation badge)."""
    return len(inbox(session, limit))


def _waiting(session: Session, approvals: sa.Table) -> sa.Select:
    """Pending requests whose current step is the caller's (as user, or through a role), oldest first."""
    _, steps_table = _tables(session)
    principal = session.principal
    statement = (
        sa.select(approvals)
        .join(steps_table, sa.and_(steps_table.c.approval_id == approvals.c.id, steps_table.c.step == approvals.c.step))
        .where(approvals.c.status == PENDING)
        .order_by(approvals.c.id)
    )
    if not principal.is_system:
        mine = steps_table.c.approver_user_id == principal.user_id
        if principal.roles:
            mine = sa.or_(mine, steps_table.c.approver_role.in_(principal.roles))
        statement = statement.where(mine)
    return statement


def requested_by_me(session: Session, limit: int = 200) -> list[ApprovalRequest]:
    """The caller's own requests, newest first."""
    approvals, _ = _tables(session)
    rows = (
        session.connection.execute(
            sa.select(approvals)
            .where(approvals.c.requested_by == session.user)
            .order_by(approvals.c.id.desc())
            .limit(limit)
        )
        .mappings()
        .all()
    )
    return [visible(session, r) for r in _load(session, rows)]


def _load(session: Session, rows, opened: bool = True) -> list[ApprovalRequest]:
    """The requests of ``rows`` with their steps; the pending values of encrypted fields decrypted
    unless ``opened`` is false (``_opened``)."""
    if not rows:
        return []
    _, steps_table = _tables(session)
    ids = [row["id"] for row in rows]
    steps: dict[int, list[Step]] = {}
    for s in session.connection.execute(
        sa.select(steps_table)
        .where(steps_table.c.approval_id.in_(ids))
        .order_by(steps_table.c.approval_id, steps_table.c.step)
    ).mappings():
        steps.setdefault(s["approval_id"], []).append(
            Step(
                index=s["step"],
                label=s["label"],
                approver_user_id=s["approver_user_id"],
                approver_role=s["approver_role"],
                approver_name=s["approver_name"],
                decision=s["decision"],
                decided_by=s["decided_by"],
                decided_at=s["decided_at"],
                comment=s["comment"],
            )
        )
    return [
        ApprovalRequest(
            id=row["id"],
            rules=tuple(row["rules"].split(",")),
            object=row["object"],
            record_id=row["record_id"],
            action=row["action"],
            changes=_opened(session, row["object"], json.loads(row["changes"]))
            if opened
            else json.loads(row["changes"]),
            reason=row["reason"],
            status=row["status"],
            step=row["step"],
            requested_by=row["requested_by"],
            requested_by_name=row["requested_by_name"],
            requested_at=row["requested_at"],
            decided_at=row["decided_at"],
            comment=row["comment"],
            result=row["result"],
            steps=tuple(steps.get(row["id"], ())),
        )
        for row in rows
    ]


def _tables(session: Session) -> tuple[sa.Table, sa.Table]:
    system = session.schema.system
    return system["sys_approvals"], system["sys_approval_steps"]


def _audit(session: Session, object_name: str, record_id: int, action: str, changes: dict) -> None:
    session.unit.log_change(
        session.principal, session.channel, action, object_name, record_id or None, changes, session.clock().now_utc
    )


#: The key of the JSON object that stands for an encrypted pending value: ``{"encrypted": <token>}``.
SEALED = "encrypted"


def _sealed(session: Session, obj: ObjectDef, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` as stored in ``sys_approvals``: the values of ``encrypted: true`` fields encrypted
    with the keys the records use (``Runtime.keys``), as ``{"encrypted": <token>}``."""
    names = [name for name in obj.encrypted if changes.get(name) is not None]
    if not names:
        return changes
    keys = session.crm.keys
    return changes | {name: {SEALED: keys.encrypt(changes[name])} for name in names}


def _opened(session: Session, object_name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """What ``_sealed`` stored, with the values of the object's encrypted fields decrypted (readers
    get them through ``visible`` only). A value stored before its field was encrypted stays as it is."""
    obj = session.config.objects.get(object_name)
    if obj is None or not obj.encrypted:
        return changes
    keys = session.crm.keys
    opened = dict(changes)
    for name in obj.encrypted:
        value = changes.get(name)
        if isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str):
            opened[name] = keys.decrypt(value[SEALED])
    return opened


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dt.datetime | dt.date):
            out[key] = value.isoformat()
        elif isinstance(value, int | float | str | bool | list | dict) or value is None:
            out[key] = value
        else:
            out[key] = str(value)  # Decimal and friends: coerced again when applied
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- the write path's hooks (engine.runtime.records.stages) ---------------------------------------
def _read_locks(write: Write, drafts: list[Draft]) -> None:
    """Stage ``read``: the pending requests on the chunk's records, in one query (none for a
    purge: retention is the company's policy, no pending request locks it)."""
    if not write.session.approved_rules and write.purge is None:
        ids = [d.current.id for d in drafts if d.current is not None]
        write.notes["approvals"] = pending_locks(write.session, write.obj.name, ids)


def _check(write: Write, draft: Draft) -> None:
    """Stage ``validate``: a person's create may not skip stages an approval rule guards; an update
    or a delete may not touch what a pending request locks."""
    session, obj = write.session, write.obj
    if draft.current is None:
        if (
            obj.pipeline is not None
            and draft.move is not None
            and draft.move.skipped
            and not session.principal.is_system
            and session.config.approval_rules(obj.name, "stage_skip")
        ):
            draft.errors.add(
                obj.pipeline.field,
                "approval_required",
                "Skipping stages needs approval: create the record at its first stage, then move it.",
            )
    elif not session.approved_rules and write.purge is None:
        locks = write.notes.get("approvals", {}).get(draft.current.id)
        check_locks(session, obj, draft.current.id, set(draft.check), write.action, draft.errors, locks)


def _rules(write: Write, draft: Draft) -> None:
    """Stage ``approve``: the approval rules a valid change triggers."""
    session, obj = write.session, write.obj
    assert draft.rules is not None
    if write.action == "create":
        draft.rules += rules_for_create(session, obj, draft.data)
    elif write.action == "delete":
        assert draft.current is not None
        draft.rules += rules_for_delete(session, obj, draft.current)
    elif draft.check:  # an update that changes nothing has nothing to approve
        draft.rules += rules_for_update(session, obj, draft.data, set(draft.check), draft.move)


def _hold(write: Write, draft: Draft) -> None:
    """Stage ``hold``: the change waits as a pending request (``request``)."""
    record_id = NEW_RECORD if draft.current is None else draft.current.id
    draft.pending = request(
        write.session, write.obj, record_id, draft.rules or [], write.action, draft.values, draft.reason
    )


#: Changes held until the right people agree, and the locks of pending requests.
FEATURE = Feature("approvals", {"read": _read_locks, "validate": _check, "approve": _rules, "hold": _hold})
