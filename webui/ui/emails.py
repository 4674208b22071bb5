"""The "E-mail" action of record pages (issue 16 §2): a form to write to the record's contact.

HTTP and view models only: who may, the To address, the templates' text, the outbox and the
timeline entry are the engine's (``engine.runtime.mail.outbound``).

- ``email_action`` (a template global, shown on the record page): the link, for a user who may
  write e-mails from the record.
- ``email_page``: GET the form (To prefilled; ``?template=NAME`` fills subject and body from a
  template of the config, rendered for the record); POST sends, then back to the record's
  timeline; problems come back on the form, per field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, flash, g, redirect, request, url_for

from engine.runtime.errors import FieldError, ValidationFailed
from engine.runtime.mail import outbound
from engine.runtime.records.query import format_title
from webui.state import get_trellis
from webui.ui import display
from webui.ui.context import t, ui_session
from webui.ui.views import _require_login, readable, render_page


@dataclass(frozen=True)
class EmailForm:
    """What ``email.html`` shows."""

    record_title: str
    record_url: str
    action_url: str
    to: str
    subject: str
    body: str
    template: str | None
    templates: tuple[str, ...]
    errors: Mapping[str, list[str]] = field(default_factory=dict)


def email_action(view: display.RecordView) -> str | None:
    """The record page's "E-mail" link, for those who may write e-mails from the record."""
    principal = g.get("principal")
    if principal is None or not view.can_edit:
        return None
    if not outbound.allowed(get_trellis().config, principal, view.obj, view.record):
        return None
    return url_for("emails.email_page", object_name=view.obj.name, record_id=view.record.id)


def email_page(object_name: str, record_id: int) -> Response | tuple[str, int]:
    """GET: the form. POST: send, then the record's timeline."""
    if request.method == "GET":
        with ui_session() as session:
            readable(session, object_name)
            draft = outbound.draft(session, object_name, record_id, request.args.get("template") or None)
        return _render(object_name, record_id, draft.to, draft.subject, draft.body, draft.template, {})
    form = request.form
    to, subject, body = form.get("to", ""), form.get("subject", ""), form.get("body", "")
    try:
        with ui_session() as session:
            readable(session, object_name)
            sent = outbound.send_email(session, object_name, record_id, to, subject, body)
    except ValidationFailed as exc:
        return _render(object_name, record_id, to, subject, body, form.get("template") or None, exc.errors, 422)
    flash(t("email.sent", to=sent.to), "info")
    return redirect(url_for("records.show", object_name=object_name, record_id=record_id) + "#timeline")


def _render(
    object_name: str,
    record_id: int,
    to: str,
    subject: str,
    body: str,
    template: str | None,
    errors: Mapping[str, list[FieldError]],
    status: int = 200,
) -> tuple[str, int]:
    with ui_session() as session:
        obj = readable(session, object_name)
        record = session.get(object_name, record_id)
        view = EmailForm(
            record_title=format_title(obj, record),
            record_url=url_for("records.show", object_name=object_name, record_id=record_id),
            action_url=url_for("emails.email_page", object_name=object_name, record_id=record_id),
            to=to,
            subject=subject,
            body=body,
            template=template,
            templates=tuple(session.config.templates),
            errors={name: [e.message for e in problems] for name, problems in errors.items()},
        )
    return render_page("email.html", obj, view=view), status


def create_blueprint(app: Flask) -> Blueprint:
    """The e-mail route; makes ``email_action`` available to templates."""
    app.jinja_env.globals["email_action"] = email_action
    blueprint = Blueprint("emails", __name__)
    blueprint.before_request(_require_login)
    blueprint.add_url_rule("/o/<object_name>/<int:record_id>/email", "email_page", email_page, methods=["GET", "POST"])
    return blueprint
