"""Reviewing web form spam (``/admin/forms/rejected``, issue 16 §1): for users holding
``manage_config`` (the engine checks; everyone else gets 403). HTTP and view models only:

- ``show``: the rejected submissions, newest first, paged — when (company time), which form (its
  label), why (in the reader's language), from which address, and what was sent (field labels
  and values as people read them, picklist keys as labels); ``?status=accepted`` lists those
  accepted since, each with its record;
- ``accept`` (POST, CSRF): "Accept anyway" — the submission through the write path as the form's
  user (``engine.runtime.webforms.rejections.accept``); a refusal of the write path is shown as
  the message, and the row stays rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, request, url_for

from engine.metadata.model import ObjectDef
from engine.runtime.errors import ValidationFailed
from engine.runtime.messages import message
from engine.runtime.webforms import rejections
from webui.state import get_trellis
from webui.ui.context import formatter, language, t, ui_session
from webui.ui.notifications import page_number
from webui.ui.views import _require_login, render_page

PER_PAGE = 50


@dataclass(frozen=True)
class RejectionView:
    """One rejected (or accepted) submission as the page shows it."""

    id: int
    at: str
    iso: str
    form: str
    reason: str
    ip: str
    values: list[tuple[str, str]]
    record_url: str | None


def _shown_value(obj: ObjectDef | None, name: str, value: Any, lang: str) -> tuple[str, str]:
    f = obj.fields.get(name) if obj is not None else None
    if f is None:
        return name, str(value)
    values = value if isinstance(value, list) else [value]
    picklist = f.picklist
    if picklist is not None:
        labels = {v.key: v.label.get(lang) for v in picklist.walk()}
        values = [labels.get(str(v), str(v)) for v in values]
    return f.label.get(lang), ", ".join(str(v) for v in values)


def _view(found: rejections.Rejection, lang: str) -> RejectionView:
    config = get_trellis().config
    form = config.forms.get(found.form)
    obj = config.objects.get(form.object) if form is not None else None
    values = [_shown_value(obj, k, v, lang) for k, v in found.submitted.items() if v not in (None, "", [])]
    values += [(t(f"webform.captured.{k}"), v) for k, v in found.captured.items() if v]
    url = (
        url_for("records.show", object_name=obj.name, record_id=found.record_id)
        if obj is not None and found.record_id
        else None
    )
    return RejectionView(
        found.id,
        formatter().moment(found.received_at),
        found.received_at.isoformat(),
        form.label.get(lang) if form is not None else found.form,
        message(f"webform.reason.{found.reason}", lang),
        found.ip or "",
        values,
        url,
    )


def show() -> str:
    """The page of rejected (or accepted) submissions."""
    status = "accepted" if request.args.get("status") == "accepted" else "rejected"
    page = page_number(request.args.get("page"))
    lang = language()
    with ui_session() as session:
        found, more = rejections.listing(session, status, page, PER_PAGE)
    items = [_view(r, lang) for r in found]
    return render_page(
        "webform_rejections.html",
        None,
        items=items,
        status=status,
        page_no=page,
        newer_url=url_for("form_review.show", status=status, page=page - 1) if page > 1 else None,
        older_url=url_for("form_review.show", status=status, page=page + 1) if more else None,
    )


def accept(rejection_id: int) -> Response:
    """Accept anyway: write it through the write path, then back to the list."""
    from flask_login import current_user

    try:
        done = rejections.accept(get_trellis(), current_user.username, rejection_id)
    except ValidationFailed as exc:
        problems = "; ".join(e.message for errs in exc.errors.values() for e in errs)
        flash(t("rejections.refused", problems=problems), "error")
    except rejections.AlreadyDecided as exc:
        flash(str(exc), "error")
    else:
        flash(t("rejections.accepted_" + done.how), "info")
    return redirect(url_for("form_review.show"))


def create_blueprint(app: Flask) -> Blueprint:
    """The spam review routes (login required; the engine checks ``manage_config``)."""
    blueprint = Blueprint("form_review", __name__)
    blueprint.before_request(_require_login)
    blueprint.add_url_rule("/admin/forms/rejected", "show", show, methods=["GET"])
    blueprint.add_url_rule("/admin/forms/rejected/<int:rejection_id>/accept", "accept", accept, methods=["POST"])
    return blueprint
