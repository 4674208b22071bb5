"""The automation admin page (``/admin/automation``): rule runs, the outbox, and Retry.

Only for users holding ``manage_config``; the engine (``engine.runtime.jobs.admin``)
checks it, so everyone else gets 403. HTTP and view models only:

- ``show``: two sections, each filtered by a GET form and paged (``runs_page``,
  ``outbox_page``): the runs of automation rules, latest first, by rule and status —
  failed ones highlighted with their error, the record linked when the admin may
  read it; and the outbox — pending, being sent, waiting for a retry, dead and sent
  messages with attempts, last error and next attempt (e-mails waiting because no
  SMTP server is configured are pending with that error), with how many wait per
  status;
- ``retry`` (POST, CSRF): puts a dead or retry-waiting message back to pending,
  due now (``admin.retry_message``), then back to the page as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, request, url_for

from engine.runtime.jobs import admin, inbox
from engine.runtime.jobs.admin import AdminPage, Message, Run
from webui.i18n import Formatter
from webui.ui.context import formatter, local_path, t, ui_session
from webui.ui.notifications import page_number
from webui.ui.views import _require_login, render_page

PER_PAGE = 50


@dataclass(frozen=True)
class RunView:
    """One run as the page shows it."""

    at: str
    iso: str
    rule: str
    rule_label: str
    record: str
    url: str | None
    trigger: str
    status: str
    status_text: str
    error: str
    failed: bool


@dataclass(frozen=True)
class MessageView:
    """One outbox message as the page shows it."""

    id: int
    created: str
    kind: str
    rule: str
    target: str
    summary: str
    status: str
    status_text: str
    attempts: int
    next_attempt: str
    last_error: str
    retry_url: str | None


@dataclass(frozen=True)
class Section:
    """A filtered, paged list: its rows and the links to the pages around it."""

    items: list[Any]
    page: int
    newer_url: str | None
    older_url: str | None


def show() -> str:
    """The runs and the outbox, filtered and paged by the query string."""
    fmt = formatter()
    args = request.args
    rule = args.get("rule") or None
    status = args.get("status") if args.get("status") in admin.RUN_STATUSES else None
    outbox_status = args.get("outbox_status") if args.get("outbox_status") in admin.OUTBOX_STATUSES else None
    kind = args.get("kind") if args.get("kind") in admin.OUTBOX_KINDS else None
    with ui_session() as session:
        runs = admin.recent_runs(session, rule, status, page_number(args.get("runs_page")), PER_PAGE)
        messages = admin.outbox(session, outbox_status, kind, page_number(args.get("outbox_page")), PER_PAGE)
        counts = admin.outbox_counts(session)
        links = inbox.readable_records(session, ((r.object, r.record_id) for r in runs.items))
        rules = session.config.automations
    labels = {r.name: r.label.get(fmt.lang) for r in rules}
    return render_page(
        "automation_admin.html",
        None,
        runs=_section(runs, [_run_view(r, labels, links, fmt) for r in runs.items], "runs_page", "runs"),
        outbox=_section(messages, [_message_view(m, fmt) for m in messages.items], "outbox_page", "outbox"),
        counts=[(s, t(f"automation_admin.status.{s}"), n) for s, n in counts.items()],
        rules=sorted(labels.items()),
        rule=rule or "",
        status=status or "",
        outbox_status=outbox_status or "",
        kind=kind or "",
        run_statuses=[(s, t(f"automation_admin.run.{s}")) for s in admin.RUN_STATUSES],
        outbox_statuses=[(s, t(f"automation_admin.status.{s}")) for s in admin.OUTBOX_STATUSES],
        kinds=[(k, t(f"automation_admin.kind.{k}")) for k in admin.OUTBOX_KINDS],
        here=request.full_path.rstrip("?"),
    )


def _section(found: AdminPage, items: list[Any], param: str, anchor: str) -> Section:
    def link(page: int) -> str:
        args = {k: v for k, v in request.args.items() if k != param and v}
        if page > 1:
            args[param] = str(page)
        return url_for("automation_admin.show", **args) + f"#{anchor}"

    return Section(
        items,
        found.page,
        link(found.page - 1) if found.page > 1 else None,
        link(found.page + 1) if found.has_next else None,
    )


def _run_view(run: Run, labels: dict[str, str], links: set[tuple[str, int]], fmt: Formatter) -> RunView:
    record = f"{run.object} {run.record_id}" if run.object and run.record_id is not None else (run.object or "")
    url = (
        url_for("records.show", object_name=run.object, record_id=run.record_id)
        if run.object and (run.object, run.record_id) in links
        else None
    )
    return RunView(
        _moment(run.at, fmt),
        run.at.isoformat() if run.at else "",
        run.rule,
        labels.get(run.rule, run.rule),
        record,
        url,
        run.trigger,
        run.status,
        t(f"automation_admin.run.{run.status}") if run.status in admin.RUN_STATUSES else run.status,
        run.error or "",
        run.status == "failed",
    )


def _message_view(message: Message, fmt: Formatter) -> MessageView:
    status = message.status
    waiting = status in ("pending", "retry") and message.next_attempt_at is not None
    return MessageView(
        message.id,
        _moment(message.created_at, fmt),
        t(f"automation_admin.kind.{message.kind}") if message.kind in admin.OUTBOX_KINDS else message.kind,
        message.rule or "",
        message.target,
        message.summary,
        status,
        t(f"automation_admin.status.{status}") if status in admin.OUTBOX_STATUSES else status,
        message.attempts,
        _moment(message.next_attempt_at, fmt) if waiting else "",
        message.last_error or "",
        url_for("automation_admin.retry", message_id=message.id) if message.retryable else None,
    )


def _moment(value: dt.datetime | None, fmt: Formatter) -> str:
    return fmt.moment(value) if value is not None else ""


def retry(message_id: int) -> Response:
    """Send a dead (or retry-waiting) message again on the worker's next pass."""
    try:
        with ui_session() as session:
            admin.retry_message(session, message_id)
        flash(t("automation_admin.retried", id=message_id), "info")
    except admin.NotRetryable:
        flash(t("automation_admin.not_retryable", id=message_id), "error")
    return redirect(local_path(request.form.get("next")) or url_for("automation_admin.show"))


ROUTES = (
    ("/admin/automation", show, ["GET"]),
    ("/admin/automation/outbox/<int:message_id>/retry", retry, ["POST"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The automation admin routes."""
    blueprint = Blueprint("automation_admin", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint
