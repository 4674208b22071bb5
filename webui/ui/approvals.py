"""Approvals in the web UI (S18, S21, S33): the inbox page, deciding, withdrawing, the
banner on record pages, the navigation link and the "sent for approval" message.

HTTP and view models only: who may decide, the record scope, applying an approved
change through the write path and the locks are ``engine.runtime.workflow.approvals``.

- ``inbox`` (``/approvals``): the requests waiting for the user (for users with the
  ``approve`` permission) with Approve / Reject forms — one comment box, required to
  reject —, the retention requests the user decides (``retention_review``), and the
  user's own requests with their status, the approvers' comments and a Withdraw button
  while pending;
- ``decide`` / ``withdraw`` (POST): one decision, then back to ``next`` (a local
  path: the record page when decided from its banner) or the inbox;
- ``approval_banner`` (a template global): the pending requests on one record,
  with the decide form when the viewer decides the current step;
- ``approvals_nav`` (template context): the navigation link with the number of
  requests waiting for the user (retention requests included), for users with
  ``approve`` or with requests;
- ``pending_text`` / ``saved_message``: "Sent for approval to X; nothing changed yet",
  for the edit form, delete and stage moves.

Changes are shown as "label: old → new", formatted like the record page; fields
hidden from the viewer are left out (only counted), and the current values come
from the one read path, so a record outside the viewer's scope shows no values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from engine.metadata.fieldtypes import FieldValueError, coerce_value
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime import retention_requests
from engine.runtime.errors import NotFound, ValidationFailed
from engine.runtime.records.query import format_title
from engine.runtime.records.record import Record
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import PermissionDenied
from engine.runtime.workflow import approvals
from engine.runtime.workflow.approvals import ApprovalRequest, Step
from webui.i18n import Formatter
from webui.state import get_trellis
from webui.ui import context, retention_review
from webui.ui.context import formatter, local_path, t, ui_session
from webui.ui.display import collect_references, format_value, user_names
from webui.ui.listing import system_column

#: Most requests one list of the inbox page shows.
PAGE_LIMIT = 100


# --- messages ----------------------------------------------------------------------------------------
def approver_text(session: Session, step: Step | None, fmt: Formatter) -> str:
    """Who decides ``step``: a user's display name, or a role's label."""
    if step is None:
        return ""
    if step.approver_role:
        role = session.config.roles.get(step.approver_role)
        return role.label.get(fmt.lang) if role is not None else step.approver_role
    if step.approver_user_id is not None:
        return user_names(session, [step.approver_user_id]).get(step.approver_user_id, step.approver_name)
    return step.approver_name


def pending_text(session: Session, pending: ApprovalRequest, fmt: Formatter) -> str:
    """ "Sent for approval to X; nothing changed yet." """
    return fmt.t("approvals.sent", approver=approver_text(session, pending.current_step, fmt))


def saved_message(session: Session, saved: Record, fmt: Formatter) -> str:
    """The message after saving a form: "Saved.", or the pending text when the change waits."""
    pending = getattr(saved, "pending_approval", None)
    return pending_text(session, pending, fmt) if pending is not None else fmt.t("record.saved")


# --- view models --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChangeView:
    """One pending change: "label: old → new" (``old`` empty: no value, or unknown when
    the viewer may not read the record any more)."""

    label: str
    old: str
    new: str
    old_known: bool = True


@dataclass(frozen=True)
class RequestView:
    """One approval request as the inbox and the banner show it."""

    id: int
    title: str
    url: str | None
    object_label: str
    deleting: bool
    changes: list[ChangeView]
    hidden_changes: int
    reason: str | None
    requested: str
    status: str
    status_text: str
    step_text: str
    decisions: list[str]
    result: str | None
    can_decide: bool
    can_withdraw: bool
    decide_url: str
    withdraw_url: str
    comment: str = ""
    comment_error: str | None = None
    #: A new record waiting for approval (it does not exist yet).
    creating: bool = False


def may_decide(session: Session, pending: ApprovalRequest) -> bool:
    """Whether the viewer decides the current step (the engine checks again when deciding)."""
    step, principal = pending.current_step, session.principal
    if step is None or not principal.has("approve"):
        return False
    mine = (
        step.approver_user_id == principal.user_id
        if step.approver_user_id is not None
        else step.approver_role in principal.roles
    )
    return mine and approvals.duty_conflict(session, pending) is None


def request_views(
    session: Session,
    requests: list[ApprovalRequest],
    fmt: Formatter,
    errors: Mapping[int, tuple[str, str]] | None = None,
) -> list[RequestView]:
    """The view models of ``requests``; ``errors`` maps a request id to (comment typed, error)."""
    errors = errors or {}
    current = _current_records(session, requests)
    names = user_names(session, [s.decided_by for r in requests for s in r.steps])
    out = []
    for pending in requests:
        obj = session.config.objects.get(pending.object)
        record = current.get((pending.object, pending.record_id))
        changes, hidden = _changes(session, obj, record, pending, fmt) if obj is not None else ([], 0)
        creating = pending.action == "create" and pending.record_id == approvals.NEW_RECORD
        if obj is not None and (record is not None or creating):
            title = format_title(obj, record if record is not None else pending.changes)
        else:
            title = f"#{pending.record_id}"
        url = (
            url_for("records.show", object_name=pending.object, record_id=pending.record_id)
            if record is not None
            else None
        )
        step = pending.current_step
        step_text = (
            fmt.t(
                "approvals.step",
                index=step.index + 1,
                total=len(pending.steps),
                label=step.label,
                approver=approver_text(session, step, fmt),
            )
            if step is not None
            else ""
        )
        decisions = []
        for s in pending.steps:
            if s.decision is None:
                continue
            line = fmt.t(
                "approvals.decided",
                step=s.label,
                decision=fmt.t(f"approvals.decision.{s.decision}"),
                user=names.get(s.decided_by, s.approver_name),
            )
            decisions.append(line + (" — " + fmt.t("approvals.said", comment=s.comment) if s.comment else ""))
        typed, error = errors.get(pending.id, ("", None))
        out.append(
            RequestView(
                id=pending.id,
                title=title,
                url=url,
                object_label=obj.label.get(fmt.lang) if obj is not None else pending.object,
                deleting=pending.action == "delete",
                changes=changes,
                hidden_changes=hidden,
                reason=pending.reason,
                requested=fmt.t(
                    "approvals.requested", user=pending.requested_by_name, when=fmt.moment(pending.requested_at)
                ),
                status=pending.status,
                status_text=fmt.t(f"approvals.status.{pending.status}"),
                step_text=step_text,
                decisions=decisions,
                result=pending.result,
                can_decide=pending.status == approvals.PENDING and may_decide(session, pending),
                can_withdraw=pending.status == approvals.PENDING and pending.requested_by == session.user,
                decide_url=url_for("pipeline.decide", approval_id=pending.id),
                withdraw_url=url_for("pipeline.withdraw", approval_id=pending.id),
                comment=typed,
                comment_error=error,
                creating=creating,
            )
        )
    return out


def _current_records(session: Session, requests: Iterable[ApprovalRequest]) -> dict[tuple[str, int], Record]:
    """The records the requests are about, as the viewer may read them (one query per object)."""
    wanted: dict[str, set[int]] = {}
    for pending in requests:
        if pending.object in session.config.objects and session.principal.grant(pending.object).read != "none":
            wanted.setdefault(pending.object, set()).add(pending.record_id)
    found: dict[tuple[str, int], Record] = {}
    for object_name, ids in wanted.items():
        for record in session.query(object_name).include_archived().filter(id__in=sorted(ids)).all():
            found[(object_name, record.id)] = record
    return found


def _changes(
    session: Session, obj: ObjectDef, record: Record | None, pending: ApprovalRequest, fmt: Formatter
) -> tuple[list[ChangeView], int]:
    """The visible changes of a request, formatted, and how many hidden ones it has."""
    if pending.action == "delete":
        return [], 0
    principal, settings = session.principal, session.config.settings
    shown: list[FieldDef] = []
    new_values: dict[str, Any] = {}
    hidden = pending.hidden_changes  # left out by the engine already
    for name, raw in pending.changes.items():
        f = obj.fields.get(name) or (system_column("owner_id") if name == "owner_id" else None)
        if f is None:
            continue
        if name != "owner_id" and not principal.can_see(obj.name, name):
            hidden += 1
            continue
        try:
            new_values[name] = coerce_value(f, raw, settings) if not f.kind.refers_to_user else _as_int(raw)
        except FieldValueError:
            new_values[name] = raw
        if record is not None and name in record and record[name] == new_values[name]:
            continue  # a form sends every field: show what changes
        shown.append(f)
    old_values = dict(record) if record is not None else {}
    refs = collect_references(session, obj, [old_values, new_values], shown)
    changes = [
        ChangeView(
            f.label.get(fmt.lang) if f.name != "owner_id" else fmt.t("record.owner"),
            _text(old_values.get(f.name), f, fmt, refs),
            _text(new_values.get(f.name), f, fmt, refs),
            record is not None,
        )
        for f in shown
    ]
    return changes, hidden


def _as_int(raw: Any) -> Any:
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 18 else raw


def _text(value: Any, f: FieldDef, fmt: Formatter, refs) -> str:
    try:
        return format_value(value, f, fmt, refs)
    except (TypeError, ValueError, AttributeError):
        return str(value)


# --- the record page's banner -------------------------------------------------------------------------
def approval_banner(obj: ObjectDef, record: Record) -> list[RequestView]:
    """The pending requests on ``record`` (empty when there are none)."""
    fmt = formatter()
    with ui_session() as session:
        pending = approvals.pending_for_record(session, obj.name, record.id)
        return request_views(session, pending, fmt) if pending else []


# --- the inbox page -----------------------------------------------------------------------------------
def inbox(
    errors: Mapping[int, tuple[str, str]] | None = None,
    status: int = 200,
    retention_errors: Mapping[int, tuple[str, str]] | None = None,
) -> tuple[str, int]:
    """Requests waiting for the user, the retention requests they decide, and the user's own requests."""
    fmt = formatter()
    with ui_session() as session:
        approver = session.principal.has("approve")
        waiting = request_views(session, approvals.inbox(session, PAGE_LIMIT), fmt, errors) if approver else []
        retention = retention_review.views(session, fmt, retention_errors)
        mine = request_views(session, approvals.requested_by_me(session, PAGE_LIMIT), fmt)
    page = render_template(
        "approvals.html", obj=None, approver=approver, waiting=waiting, retention=retention, mine=mine
    )
    return page, status


def show_inbox() -> tuple[str, int]:
    """``GET /approvals``."""
    return inbox()


def decide(approval_id: int) -> Response | tuple[str, int]:
    """Approve or reject the current step; a rejection without a comment comes back with the error."""
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")
    back = local_path(request.form.get("next"))
    if decision not in ("approve", "reject"):
        abort(400)
    try:
        with ui_session() as session:
            decided = approvals.decide(session, approval_id, decision, comment)
    except ValidationFailed as exc:
        message = " ".join(e.message for problems in exc.errors.values() for e in problems)
        if "comment" in exc.errors and back is None:
            return inbox({approval_id: (comment, message)}, 422)
        flash(message, "error")
        return redirect(back or url_for("pipeline.inbox"))
    except PermissionDenied as exc:
        flash(t("approvals.denied", message=str(exc)), "error")
        return redirect(back or url_for("pipeline.inbox"))
    if decided.status == approvals.FAILED:
        flash(t("approvals.failed", result=decided.result or ""), "error")
    elif decided.status == approvals.PENDING:
        flash(t("approvals.next_step"), "info")
    else:
        flash(t(f"approvals.{decided.status}"), "info")
    return redirect(back or url_for("pipeline.inbox"))


def withdraw(approval_id: int) -> Response:
    """The requester withdraws a pending request."""
    back = local_path(request.form.get("next"))
    try:
        with ui_session() as session:
            approvals.cancel(session, approval_id)
    except ValidationFailed as exc:
        for message in (e.message for problems in exc.errors.values() for e in problems):
            flash(message, "error")
        return redirect(back or url_for("pipeline.inbox"))
    except PermissionDenied as exc:
        flash(t("approvals.denied", message=str(exc)), "error")
        return redirect(back or url_for("pipeline.inbox"))
    flash(t("approvals.withdrawn"), "info")
    return redirect(back or url_for("pipeline.inbox"))


# --- the navigation link --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApprovalsLink:
    """The navigation link: ``count`` requests wait for the user (``label`` says so in words)."""

    url: str
    count: int
    active: bool
    label: str = ""


def approvals_nav() -> dict[str, Any]:
    """``approvals_nav`` for base.html: the link, with the number of requests waiting for the
    user (retention requests included), when the config has approvals or a retention policy
    with an approver, and the user may approve or has made requests."""
    config = get_trellis().config
    held = any(o.retention is not None and o.retention.approver is not None for o in config.objects.values())
    if not current_user.is_authenticated or not (config.approvals or held):
        return {"approvals_nav": None}
    if "approvals_nav" not in g:
        principal = context._principal()
        link = None
        if principal is not None:
            with ui_session(read=True) as session:  # as the login check's principal; replica-aware
                count = approvals.waiting_count(session, PAGE_LIMIT) if config.approvals else 0
                count += retention_requests.waiting_count(session, PAGE_LIMIT) if held else 0
                if count or principal.has("approve") or approvals.requested_by_me(session, 1):
                    link = ApprovalsLink(
                        url_for("pipeline.inbox"),
                        count,
                        request.endpoint == "pipeline.inbox",
                        t("approvals.badge", count=count),
                    )
        g.approvals_nav = link
    return {"approvals_nav": g.approvals_nav}


def decide_retention(request_id: int) -> Response | tuple[str, int]:
    """Approve or reject a retention request; a rejection without a reason comes back with the error."""
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")
    if decision not in ("approve", "reject"):
        abort(400)
    try:
        with ui_session() as session:
            decided = retention_requests.decide(session, request_id, decision, comment)
    except ValidationFailed as exc:
        message = " ".join(e.message for problems in exc.errors.values() for e in problems)
        if "comment" in exc.errors:
            return inbox(retention_errors={request_id: (comment, message)}, status=422)
        flash(message, "error")
        return redirect(url_for("pipeline.inbox"))
    except NotFound:
        abort(404)
    except PermissionDenied as exc:
        flash(t("approvals.denied", message=str(exc)), "error")
        return redirect(url_for("pipeline.inbox"))
    flash(t(f"retention_review.{decided.status}_{decided.action}", count=decided.count), "info")
    return redirect(url_for("pipeline.inbox"))


ROUTES = (
    ("/approvals", "inbox", show_inbox, ["GET"]),
    ("/approvals/<int:approval_id>/decide", "decide", decide, ["POST"]),
    ("/approvals/<int:approval_id>/withdraw", "withdraw", withdraw, ["POST"]),
    ("/approvals/retention/<int:request_id>/decide", "retention_decide", decide_retention, ["POST"]),
)
