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
(``automation:<rule>`` in the audit trail). The events are shown on the record's timeline
(``events_of``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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

#: Events shown per record on its timeline.
TIMELINE_EVENTS = 50


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
        raise NotFound(f"no {object_name} {record_id}")
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


def events_of(session: Session, object_name: str, record_id: int, limit: int = TIMELINE_EVENTS) -> list[EngagementEvent]:
    """The record's latest events, newest first, with their campaigns' names, for its timeline.
    The caller has read the record (its page); a campaign's name is shown only when the
    caller may read that campaign."""
    events = session.schema.system["sys_engagement_events"]
    rows = session.connection.execute(
        sa.select(events)
        .where(events.c.object == object_name, events.c.record_id == record_id)
        .order_by(events.c.at.desc(), events.c.id.desc())
        .limit(limit)
    ).all()
    names: dict[int, str] = {}
    ids = sorted({r.campaign_id for r in rows if r.campaign_id is not None})
    if ids and CAMPAIGN_OBJECT in session.config.objects:
        for record in session.query(CAMPAIGN_OBJECT).include_archived().filter(id__in=ids).all():
            names[record["id"]] = str(record.get("name") or record["id"])
    return [
        EngagementEvent(r.id, r.kind, r.at, r.campaign_id, names.get(r.campaign_id or 0), dict(r.data or {}))
        for r in rows
    ]
