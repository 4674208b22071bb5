"""Engagement events (issue 16 §3, S15, S30): what a person did with the company's e-mails,
forms and website, kept per record and handed to automation.

``record_event(session, kind, object_name, record_id, data, campaign_id=, recipient_id=)`` is
the one way an event is recorded — the tracking of campaign e-mails (opens, clicks,
unsubscribes), ``POST /api/v1/events`` (visits, custom events), and any channel added later
(web forms: ``form_submitted``; mail intake: ``email_received``, ``email_bounced``). It writes a
``sys_engagement_events`` row in the caller's transaction and runs the automation rules of the
record's object listening ``on: {event: <kind>}``; their ``when`` reads the event as
``event['kind']``, ``event['campaign']`` (the campaign's id), ``event['campaign_name']``,
``event['url']``, ``event['count']`` (how many events of this kind the record has had, this one
included) and the other keys of ``data``. The rules act through the write path as usual
(``automation:<rule>`` in the audit trail). The events are entries of the record's timeline
(``timeline.timeline`` reads them with ``event_times`` and ``events_by_id``), except a received
e-mail the mail log also logged as an activity (``LOGGED_AS`` in its data: shown once, as that
activity); a record without a timeline shows its latest ones (``events_of``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.campaigns import CAMPAIGN_OBJECT, EVENT_KINDS
from engine.runtime.errors import NotFound
from engine.runtime.workflow import automation
from engine.runtime.workflow.rulecontext import fresh_row
from engine.runtime.workflow.triggers import Event, listening

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Events shown per record in the panel of a record without a timeline.
TIMELINE_EVENTS = 50
#: The ``data`` key of an event that is also a record of the mail log (a received e-mail logged
#: as an activity): its id. The timeline shows that activity, not the event a second time.
LOGGED_AS = "log_id"


class UnknownEventKind(ValueError):
    """``record_event`` was given a kind that is not one of ``EVENT_KINDS``."""


@dataclass(frozen=True)
class EngagementEvent:
    """One stored event: its kind, when, the campaign (id and name) and its data."""

    id: int
    kind: str
    at: dt.datetime
    campaign_id: int | None
    campaign_name: str | None
    data: Mapping[str, Any]


def record_event(
    session: Session,
    kind: str,
    object_name: str,
    record_id: int,
    data: Mapping[str, Any] | None = None,
    *,
    campaign_id: int | None = None,
    recipient_id: int | None = None,
) -> int:
    """Record that the person of record ``object_name``/``record_id`` did ``kind`` (one of
    ``EVENT_KINDS``) and run the rules listening for it; returns the event's id. Raises
    ``UnknownEventKind``, or ``NotFound`` when there is no such record."""
    if kind not in EVENT_KINDS:
        raise UnknownEventKind(f"unknown engagement event {kind!r}; one of {', '.join(EVENT_KINDS)}")
    obj = session.config.objects.get(object_name)
    row = fresh_row(session, obj, record_id) if obj is not None else {}
    if obj is None or not row:
        raise NotFound(object_name, record_id)
    events = session.schema.system["sys_engagement_events"]
    stored = dict(data or {})
    event_id = session.connection.execute(
        sa.insert(events)
        .values(
            kind=kind,
            object=object_name,
            record_id=record_id,
            campaign_id=campaign_id,
            recipient_id=recipient_id,
            data=stored,
            at=session.clock().now_utc,
        )
        .returning(events.c.id)
    ).scalar_one()
    rules = session.config.automations_for(object_name, *listening("engagement"))
    if rules:
        count = session.connection.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.object == object_name, events.c.record_id == record_id, events.c.kind == kind)
        ).scalar_one()
        seen = {
            **stored,
            "kind": kind,
            "campaign": campaign_id,
            "campaign_name": _campaign_name(session, campaign_id),
            "count": count,
        }
        event = Event("engagement", after=row, kind=kind, data=seen)
        for rule in rules:
            if automation.matches(rule, event):
                automation.run_rule(session, rule, obj, row, None, trigger=event.label, extra={"event": seen})
    return int(event_id)


def _campaign_name(session: Session, campaign_id: int | None) -> str | None:
    if campaign_id is None or CAMPAIGN_OBJECT not in session.schema.objects:
        return None
    table = session.schema.table(CAMPAIGN_OBJECT)
    name = table.c.get("name")
    if name is None:
        return None
    return session.connection.execute(sa.select(name).where(table.c.id == campaign_id)).scalar()


def events_of(
    session: Session, object_name: str, record_id: int, limit: int = TIMELINE_EVENTS
) -> list[EngagementEvent]:
    """The record's latest events, newest first, with their campaigns' names (the panel of a
    record without a timeline). The caller has read the record (its page); a campaign's name is
    shown only when the caller may read that campaign."""
    events = session.schema.system["sys_engagement_events"]
    rows = session.connection.execute(
        sa.select(events)
        .where(events.c.object == object_name, events.c.record_id == record_id)
        .order_by(events.c.at.desc(), events.c.id.desc())
        .limit(limit)
    ).all()
    return _events(session, rows)


def event_times(
    session: Session, object_name: str, record_id: int, newest: int
) -> tuple[int, list[tuple[int, dt.datetime]]]:
    """How many events the record's timeline shows, and (id, when) of the ``newest`` of them (its
    sort keys: a page of the timeline needs no older ones) — all but a received e-mail also
    logged as an activity (``LOGGED_AS``)."""
    events = session.schema.system["sys_engagement_events"]
    shown = sa.and_(
        events.c.object == object_name,
        events.c.record_id == record_id,
        sa.or_(events.c.kind != "email_received", events.c.data[LOGGED_AS].as_string().is_(None)),
    )
    total = session.connection.execute(sa.select(sa.func.count()).select_from(events).where(shown)).scalar_one()
    rows = session.connection.execute(
        sa.select(events.c.id, events.c.at).where(shown).order_by(events.c.at.desc(), events.c.id.desc()).limit(newest)
    )
    return int(total), [(row.id, row.at) for row in rows]


def events_by_id(session: Session, object_name: str, record_id: int, ids: list[int]) -> dict[int, EngagementEvent]:
    """The events ``ids`` of the record (a page of its timeline), by id, with their campaigns'
    names as ``events_of`` gives them."""
    if not ids:
        return {}
    events = session.schema.system["sys_engagement_events"]
    rows = session.connection.execute(
        sa.select(events).where(events.c.object == object_name, events.c.record_id == record_id, events.c.id.in_(ids))
    ).all()
    return {e.id: e for e in _events(session, rows)}


def _events(session: Session, rows: Sequence[sa.Row[Any]]) -> list[EngagementEvent]:
    """Stored rows as events; a campaign's name only when the caller may read that campaign."""
    names: dict[int, str] = {}
    ids = sorted({r.campaign_id for r in rows if r.campaign_id is not None})
    if ids and CAMPAIGN_OBJECT in session.config.objects:
        for record in session.query(CAMPAIGN_OBJECT).include_archived().filter(id__in=ids).all():
            names[record["id"]] = str(record.get("name") or record["id"])
    return [
        EngagementEvent(r.id, r.kind, r.at, r.campaign_id, names.get(r.campaign_id or 0), dict(r.data or {}))
        for r in rows
    ]


# --- events reported from outside (POST /api/v1/events) -----------------------------------------
#: The kinds the company's website (or another system) may report; the others are Trellis's own.
REPORTED_KINDS = ("page_visited", "form_submitted", "custom")
#: Keys and length of a reported event's ``data``.
MAX_DATA_KEYS = 50
MAX_DATA_TEXT = 500


def report_event(session: Session, payload: Mapping[str, Any]) -> tuple[str, int, int]:
    """Record an event reported by an outside system as the caller (an API token's user):
    ``{"event": "page_visited", "object": "lead", "id": 12 | "email": "…", "data": {…}}``. The
    person is found through ``Query`` as the caller (by id, or the most recently changed record
    whose e-mail field holds the address), so a caller records events only for records it may
    read. Returns (object, record id, event id); every problem at once as ``ValidationFailed``
    keyed by the payload's keys."""
    from engine.metadata.campaigns import email_fields
    from engine.runtime.errors import FieldError, ValidationFailed

    problems: dict[str, list[FieldError]] = {}

    def refuse(name: str, code: str, text: str, **params: Any) -> None:
        problems.setdefault(name, []).append(FieldError(code, text, params))

    kind = payload.get("event")
    if kind not in REPORTED_KINDS:
        known = ", ".join(REPORTED_KINDS)
        refuse("event", "event_unknown_kind", f"Unknown event {kind!r}; one of: {known}.", kind=kind, known=known)
    objects = [o for o in session.config.objects.values() if email_fields(o)]
    obj = session.config.objects.get(str(payload.get("object") or ""))
    if obj is None or obj not in objects:
        known = ", ".join(o.name for o in objects)
        refuse("object", "event_bad_object", f"Events are recorded for: {known}.", known=known)
    data = payload.get("data", {})
    if not _plain_data(data):
        refuse("data", "event_bad_data", "data is an object of at most 50 keys with short values.")
    record_id = payload.get("id")
    email = payload.get("email")
    if record_id is None and not email:
        refuse("id", "event_no_record", "Name the person by id or e-mail.")
    if problems or obj is None:
        raise ValidationFailed(problems, "event")
    if record_id is not None:
        found = _by_id(session, obj.name, record_id)
        key = "id"
    else:
        found = _by_email(session, obj.name, email_fields(obj), str(email))
        key = "email"
    if found is None:
        label = obj.label.get()
        refuse(key, "event_record_not_found", f"There is no {label} with this {key}.", object=label, key=key)
        raise ValidationFailed(problems, "event")
    event_id = record_event(session, str(kind), obj.name, found, dict(data or {}))
    return obj.name, found, event_id


def _plain_data(data: Any) -> bool:
    if not isinstance(data, dict) or len(data) > MAX_DATA_KEYS:
        return False
    return all(
        isinstance(k, str)
        and len(k) <= 100
        and (v is None or isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= MAX_DATA_TEXT))
        for k, v in data.items()
    )


def _by_id(session: Session, object_name: str, record_id: Any) -> int | None:
    if isinstance(record_id, bool) or not isinstance(record_id, int | str) or not str(record_id).isdigit():
        return None
    found = session.query(object_name).filter(id=int(record_id)).first()
    return found["id"] if found is not None else None


def _by_email(session: Session, object_name: str, fields: list[str], email: str) -> int | None:
    address = email.strip()
    if not address or len(address) > 254:
        return None
    visible = [f for f in fields if session.principal.can_see(object_name, f)]
    if not visible:
        return None
    conditions = {f"{name}__eq": address for name in visible}
    found = session.query(object_name).any_of(**conditions).order_by("-updated_at").first()
    return found["id"] if found is not None else None
