"""A visitor's submission of a web form through the one write path.

``submit(crm, form, submission)`` opens one transaction as the form's ``user`` (else the system
acting as ``web_form:<form>``, as automation rules act as ``automation:<rule>``) on channel
``web_form`` (``CHANNEL``), so that the audit names the form, the
assignment rules and automations of a new record run at once (stage ``after``), and a refusal
(``ValidationFailed``, field by field, in the current language) writes nothing.

Values: the visitor's inputs for the form's ``fields`` only (empty ones left out, anything else
ignored), then the fixed ``values``, the visit's ``capture``\\ s (cut to the field's length) and
the ``campaign``: a lookup's value names the title of a record of its target object, found through
``Query`` as the writer (none found: left empty). A form's ``required`` field left empty is a
``required`` field error, with the engine's own.

Duplicates (``objects.<o>.duplicates``): a submission matching a rule ``on_duplicate``
``update``\\ s the first matched record with the visitor's inputs, ``link``\\ s a new record to it
(``link_field``), or ``create``\\ s one anyway (a ``block`` rule still refuses). A match the writer
may not read is created anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.metadata.model import ObjectDef, WebForm
from engine.runtime.errors import FieldError, ValidationFailed
from engine.runtime.messages import localized
from engine.runtime.records.duplicates import Candidate, DuplicateBlocked, PossibleDuplicate
from engine.runtime.records.query import format_title
from engine.runtime.records.record import Record
from engine.runtime.security.permissions import Principal
from engine.runtime.workflow.engagement import record_event

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.webforms")

#: The write path's channel of web form submissions (the audit's ``channel``).
CHANNEL = "web_form"

#: Longest input kept of one field (a longer one is cut: the field's own limit refuses it first).
MAX_INPUT = 10_000


@dataclass(frozen=True)
class Submission:
    """What a visitor sent: ``inputs`` by field (text, or a list for multiple choices),
    ``captured`` by what the visit told (``utm_source``, ``referrer``…), their ``ip``."""

    inputs: Mapping[str, Any]
    captured: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None


@dataclass(frozen=True)
class Accepted:
    """A submission written: the record, and ``how``: ``created``, ``updated`` (a returning
    visitor's record) or ``linked`` (a new record pointing at theirs)."""

    form: str
    object: str
    record_id: int | None
    how: str


def submit(crm: Runtime, form: WebForm, submission: Submission) -> Accepted:
    """Write ``submission`` of ``form`` (see the module docstring); raises ``ValidationFailed``."""
    with crm.session(user=form.user, channel=CHANNEL) as session:
        return write(as_form(session, form), form, submission)


def as_form(session: Session, form: WebForm) -> Session:
    """The session a submission is written in: the form's user's, or the system's acting under
    the form's name (what the audit trail shows)."""
    if form.user is not None:
        return session
    return session.acting(Principal(user_id=None, username=form.acting_name[:100]), CHANNEL)


def write(session: Session, form: WebForm, submission: Submission) -> Accepted:
    """``submit`` in the caller's session (an admin's "accept anyway" runs it as the form's user)."""
    obj = session.object(form.object)
    inputs = visitor_values(form, submission.inputs)
    missing = {
        name: [FieldError("required", localized("required", "This is required."))]
        for name in form.required
        if name not in inputs
    }
    if missing:
        raise ValidationFailed(missing, obj.name)
    values = {**inputs, **dict(form.values), **captured_values(obj, form, submission.captured)}
    if form.campaign_field is not None:
        campaign = campaign_value(session, obj, form)
        if campaign is not None:
            values[form.campaign_field] = campaign
    try:
        record = session.create(obj.name, values)
        return accepted(session, form, record, "created", submission)
    except (PossibleDuplicate, DuplicateBlocked) as exc:
        match = next((c for c in exc.candidates if c.record_id is not None and c.row is None), None)
        return on_duplicate(session, form, obj, values, inputs, match, submission, exc)


def on_duplicate(
    session: Session,
    form: WebForm,
    obj: ObjectDef,
    values: dict[str, Any],
    inputs: dict[str, Any],
    match: Candidate | None,
    submission: Submission,
    exc: Exception,
) -> Accepted:
    """A submission matching a duplicate rule: update, link or create as the form says."""
    if match is not None and match.record_id is not None and form.on_duplicate == "update":
        record = session.update(obj.name, match.record_id, inputs, allow_duplicate=True)
        return accepted(session, form, record, "updated", submission)
    if match is not None and form.on_duplicate == "link" and form.link_field:
        record = session.create(obj.name, {**values, form.link_field: match.record_id}, allow_duplicate=True)
        return accepted(session, form, record, "linked", submission)
    if isinstance(exc, DuplicateBlocked):
        raise exc
    record = session.create(obj.name, values, allow_duplicate=True)
    return accepted(session, form, record, "created", submission)


def accepted(session: Session, form: WebForm, record: Record, how: str, submission: Submission) -> Accepted:
    """The one place a submission succeeds, in its transaction: what follows a written
    submission joins here (the engagement event ``form_submitted`` on the record's timeline)."""
    log.info("web form %s %s %s #%s", form.name, how, form.object, record.id)
    data = {"form": form.name, "how": how, **{k: v for k, v in submission.captured.items() if v}}
    record_event(session, "form_submitted", form.object, record.id, data)
    return Accepted(form.name, form.object, record.id, how)


def visitor_values(form: WebForm, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The visitor's inputs of the form's fields, empty ones left out, long ones cut."""
    out: dict[str, Any] = {}
    for name in form.fields:
        value = inputs.get(name)
        if isinstance(value, list):
            value = [str(v)[:MAX_INPUT] for v in value if str(v).strip()]
        elif isinstance(value, str):
            value = value.strip()[:MAX_INPUT]
        if value not in (None, "", []):
            out[name] = value
    return out


def captured_values(obj: ObjectDef, form: WebForm, captured: Mapping[str, str]) -> dict[str, str]:
    """What the visit told, into the fields ``capture`` names, cut to each field's length."""
    out = {}
    for what, name in form.capture.items():
        text = str(captured.get(what) or "").strip()
        if text:
            limit = obj.fields[name].max_length or obj.fields[name].kind.string_length or MAX_INPUT
            out[name] = text[:limit]
    return out


def campaign_value(session: Session, obj: ObjectDef, form: WebForm) -> Any:
    """The campaign's value: a lookup's is the id of the record titled ``campaign_value``."""
    f = obj.fields[form.campaign_field or ""]
    if f.target is None:
        return form.campaign_value
    target = session.object(f.target)
    title = str(form.campaign_value)
    for record in session.query(target.name).search(title).page(1, 50):
        if format_title(target, record) == title:
            return record.id
    log.warning("web form %s: no %s titled %r for its campaign", form.name, target.name, title)
    return None
