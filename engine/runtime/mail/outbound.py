"""Writing an e-mail from a record (issue 16 §2): to the record's contact, through the outbox.

Who may: a user who may **edit** the record (its object's edit grant, inside their edit scope)
and create the log object's records — writing to a customer is working on the record.
``draft`` is what the form starts with: the To address (the record's own e-mail field, else
that of the first record it links that has one: a deal's contact) and, with a template of
``templates:``, its subject and body rendered as the writer reads the record (what their role
hides shows as ``—``; values formatted as people read them, in the company's language), for
them to read and change before sending. ``send_email`` checks the input
(field by field), puts the message in the outbox (``sys_outbox``: SMTP, retries, dead letters,
delivered by the worker after the commit) with a ``Reply-To`` of ``mail.reply_to`` and logs it on
the record's timeline as an outbound message with its Message-ID, so that the reply, read by
intake, threads onto the same record. It is the one place an e-mail from a record is enqueued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata import fieldtypes, templating
from engine.metadata.model import Config, FieldDef, Label, ObjectDef
from engine.runtime.campaigns.suppression import email_suppressed
from engine.runtime.errors import FieldError, ValidationFailed
from engine.runtime.jobs import notify
from engine.runtime.mail import log
from engine.runtime.mail.log import Target
from engine.runtime.records.reader import Reader, language_of, template_context
from engine.runtime.records.record import Record
from engine.runtime.security.permissions import PermissionDenied, Principal

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: The longest subject and body accepted (characters).
MAX_SUBJECT = 255
MAX_BODY = 100_000


@dataclass(frozen=True)
class Draft:
    """What the e-mail form of a record starts with."""

    to: str
    subject: str
    body: str
    template: str | None = None


@dataclass(frozen=True)
class Sent:
    """An e-mail put in the outbox: its Message-ID and the record logging it."""

    message_id: str
    to: str
    log_id: int | None


def may_email(session: Session, obj: ObjectDef, record: Record) -> bool:
    """Whether the session's user may write an e-mail from ``record``: edit it, create log records."""
    return allowed(session.config, session.principal, obj, record)


def allowed(config: Config, principal: Principal, obj: ObjectDef, record: Mapping[str, Any]) -> bool:
    """``may_email`` for ``principal`` (no database read: the record page asks it as it renders)."""
    settings = config.mail
    if settings is None:
        return False
    log_obj = config.objects[settings.log.object]
    if not any(f.points_to(obj.name) for f in log_obj.fields.values()):
        return False
    return principal.grant(settings.log.object).create and principal.in_scope(obj.name, "edit", record.get("owner_id"))


def _record(session: Session, object_name: str, record_id: Any) -> tuple[ObjectDef, Record]:
    obj = session.object(object_name)
    record = session.get(object_name, record_id)  # NotFound outside the read scope
    if not may_email(session, obj, record):
        if session.config.mail is None:
            log.mail_settings(session)  # MailNotConfigured
        raise PermissionDenied(
            notify_text("mail_not_allowed", f"you may not write e-mails from this {obj.label.get()}", obj)
        )
    return obj, record


def notify_text(code: str, english: str, obj: ObjectDef) -> str:
    from engine.runtime.messages import localized

    return localized(code, english, {"object": obj.label.get()})


def recipient(session: Session, obj: ObjectDef, record: Record) -> str:
    """The record's e-mail address: its own e-mail field, else that of a record it links."""
    for f in obj.fields.values():
        if f.kind.mail_address and record.get(f.name) and session.principal.can_see(obj.name, f.name):
            return str(record.get(f.name))
    for f in obj.fields.values():
        if f.target is None or record.get(f.name) is None:
            continue
        try:
            linked = session.get(f.target, record.get(f.name))
        except Exception:  # noqa: BLE001 - a link the user may not read gives no address
            continue
        target = session.object(f.target)
        for g in target.fields.values():
            if g.kind.mail_address and linked.get(g.name) and session.principal.can_see(target.name, g.name):
                return str(linked.get(g.name))
    return ""


def draft(session: Session, object_name: str, record_id: Any, template: str | None = None) -> Draft:
    """The form's first values (see the module); ``ValidationFailed`` on ``template`` when the
    config has no such template."""
    obj, record = _record(session, object_name, record_id)
    to = recipient(session, obj, record)
    if not template:
        return Draft(to, "", "")
    subject, body = render_template(session, obj, record, template)
    return Draft(to, subject, body, template)


def render_template(session: Session, obj: ObjectDef, record: Record, name: str) -> tuple[str, str]:
    """A template's subject and body for the record, as the session's user reads it."""
    found = session.config.templates.get(name)
    if found is None:
        raise ValidationFailed(
            {"template": [FieldError("unknown_template", f"There is no template {name!r}.", {"name": name})]},
            obj.name,
        )
    language = language_of(session.config, None)
    subject, body = found.text(language)
    context = template_context(
        session, obj, dict(record), Reader((session.principal,), language), {"company": session.config.settings.company}
    )
    try:
        return (
            notify.render(subject, context, autoescape=False).strip(),
            notify.render(body, context, autoescape=False).strip(),
        )
    except templating.TemplateLimitError as exc:
        raise ValidationFailed({"template": [FieldError("template_failed", str(exc), {})]}, obj.name) from None


def send_email(
    session: Session,
    object_name: str,
    record_id: Any,
    to: str,
    subject: str,
    body: str,
    template: str | None = None,
) -> Sent:
    """Check, enqueue and log one e-mail from a record (see the module). With ``template`` and
    no subject or body, the template's fill them. The one place an e-mail from a record is
    enqueued; an address that receives no e-mail (``campaigns.suppression``) is refused on ``to``."""
    obj, record = _record(session, object_name, record_id)
    if template and not (subject.strip() and body.strip()):
        rendered = render_template(session, obj, record, template)
        subject, body = subject.strip() or rendered[0], body.strip() or rendered[1]
    address = _check(session, obj, to, subject, body)
    settings = log.mail_settings(session)
    headers = {"Reply-To": settings.reply_to} if settings.reply_to else {}
    key = notify.enqueue(
        session,
        "email",
        f"email:{obj.name}",
        address,
        {"subject": subject.strip(), "body": body, "headers": headers},
    )
    message_id = f"<{key}@trellis>"  # what delivery writes (engine.runtime.jobs.delivery)
    target = Target(obj.name, record.id)
    logged = log.log_message(session, target, "outbound", subject.strip(), body, message_id, address)
    log.remember(
        session,
        mailbox=None,
        direction="outbound",
        outcome="sent",
        message_id=message_id,
        target=target,
        log_id=logged.log_id,
    )
    return Sent(message_id, address, logged.log_id)


def _check(session: Session, obj: ObjectDef, to: str, subject: str, body: str) -> str:
    """The To address, coerced; ValidationFailed naming every field in error."""
    errors: dict[str, list[FieldError]] = {}
    address = ""
    try:
        address = fieldtypes.coerce_value(TO_FIELD, (to or "").strip(), session.config.settings) or ""
    except fieldtypes.FieldValueError as exc:
        errors["to"] = [FieldError(exc.code, str(exc), exc.params)]
    if not address and "to" not in errors:
        errors["to"] = [FieldError("required", "This is required.")]
    elif address and email_suppressed(session, address):  # said now, not left queued as "suppressed"
        text = f"{address} does not receive e-mail (unsubscribed, or marked do not e-mail)."
        errors["to"] = [FieldError("address_suppressed", text, {"address": address})]
    if not subject.strip():
        errors["subject"] = [FieldError("required", "This is required.")]
    elif len(subject) > MAX_SUBJECT:
        errors["subject"] = [FieldError("too_long", f"At most {MAX_SUBJECT} characters.", {"max": MAX_SUBJECT})]
    if not body.strip():
        errors["body"] = [FieldError("required", "This is required.")]
    elif len(body) > MAX_BODY:
        errors["body"] = [FieldError("too_long", f"At most {MAX_BODY} characters.", {"max": MAX_BODY})]
    if errors:
        raise ValidationFailed(errors, obj.name)
    return address


#: How the To address is read: as an e-mail field reads one.
TO_FIELD = FieldDef("to", "email", Label.of("To"))
