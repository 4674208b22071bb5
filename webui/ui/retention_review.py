"""Retention requests on the approvals page (issue 18 §4): what a retention run holds for the
approver, and their decision.

HTTP and view models only: who decides, what a request holds, carrying it out and the audit
are ``engine.runtime.retention_requests``.

- ``views``: the requests the user decides — pending ones with the report (how many records,
  to archive or to purge, the policy, a few of the records as the user may read them: the one
  read path, so what they may not read never reaches them) and the Approve / Reject form (a
  reason required to reject), then the ones already decided with the outcome.

The decision itself (POST ``/approvals/retention/<id>/decide``) is ``approvals.decide_retention``,
beside the page it returns to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import url_for

from engine.runtime import retention_requests
from engine.runtime.records.session import Session
from engine.runtime.retention_requests import RetentionRequest
from webui.i18n import Formatter
from webui.ui.listing import system_column

#: Most retention requests the approvals page shows (waiting, and decided).
PAGE_LIMIT = 50


@dataclass(frozen=True)
class Example:
    """One record of a request the viewer may read: its title and page."""

    title: str
    url: str


@dataclass(frozen=True)
class RetentionView:
    """One retention request as the approvals page shows it."""

    id: int
    heading: str
    policy: str
    requested: str
    status: str
    status_text: str
    outcome: str
    examples: list[Example] = field(default_factory=list)
    can_decide: bool = False
    decide_url: str = ""
    comment: str = ""
    comment_error: str | None = None


def views(session: Session, fmt: Formatter, errors: Mapping[int, tuple[str, str]] | None = None) -> list[RetentionView]:
    """The requests the user decides: waiting ones first (with the report and the form), then
    those decided lately."""
    if not session.principal.has("approve"):
        return []
    errors = errors or {}
    found = retention_requests.for_approver(session, PAGE_LIMIT)
    found.sort(key=lambda r: (r.status != retention_requests.PENDING, -r.id))
    return [_view(session, current, fmt, errors.get(current.id, ("", None))) for current in found]


def _view(session: Session, current: RetentionRequest, fmt: Formatter, error: tuple[str, str | None]) -> RetentionView:
    obj = session.config.objects.get(current.object)
    objects = obj.plural_label.get(fmt.lang) if obj is not None else current.object
    moment = obj.fields.get(current.from_field) if obj is not None else None
    moment_label = (moment or system_column(current.from_field)).label.get(fmt.lang)
    pending = current.status == retention_requests.PENDING
    examples = []
    if pending:
        examples = [
            Example(e.title, url_for("records.show", object_name=current.object, record_id=e.id))
            for e in retention_requests.examples(session, current)
        ]
    decided = current.decided_by_name or ""
    outcome = {
        retention_requests.APPROVED: fmt.t("retention_review.outcome_approved", user=decided),
        retention_requests.REJECTED: fmt.t("retention_review.outcome_rejected", user=decided, comment=current.comment),
        retention_requests.DONE: fmt.t(
            "retention_review.outcome_done",
            user=decided,
            done=fmt.number(current.done),
            kept=fmt.number(current.kept),
            changed=fmt.number(current.changed),
        ),
    }.get(current.status, "")
    typed, problem = error
    return RetentionView(
        id=current.id,
        heading=fmt.t(f"retention_review.heading_{current.action}", count=fmt.number(current.count), objects=objects),
        policy=fmt.t(
            "retention_review.policy",
            years=current.years,
            moment=moment_label,
            before=fmt.date(current.before.astimezone(fmt.zone).date()),
        )
        + (" " + fmt.t("retention_review.purge_note") if current.action == "purge" else ""),
        requested=fmt.t(
            "retention_review.requested",
            when=fmt.moment(current.requested_at),
            approver=retention_requests.approver_text(session, current, fmt.lang),
        ),
        status=current.status,
        status_text=fmt.t(f"retention_review.status.{current.status}"),
        outcome=outcome,
        examples=examples,
        can_decide=pending and retention_requests.may_decide(session, current),
        decide_url=url_for("pipeline.retention_decide", request_id=current.id),
        comment=typed,
        comment_error=problem,
    )
