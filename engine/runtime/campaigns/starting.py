"""Starting a campaign: its segment read as the sender, one queued row per recipient.

``start_campaign(session, campaign_id)`` runs as the person who starts it (the web button,
``POST /api/v1/campaign/<id>/start``): the campaign is read through ``Query`` as them (a
campaign outside their scope is not found) and its status is changed through the write path
(their edit grant applies; the audit trail shows who started it). The segment's records are
read through ``Query`` as them too, so a campaign reaches only the records its sender may
read, and only when they may see the e-mail field.

Each address is queued once (the first record holding it; ``sys_campaign_recipients`` is
unique per campaign and record, so a campaign cannot be queued twice), and each gets its time
— the start (``start_at``, or now) plus its place divided by the rate — so the worker sends at
the configured rate whatever its pass interval. Addresses that must not be e-mailed are kept
as ``suppressed`` and never sent to. Everything is one transaction: a refusal queues nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.campaigns import CAMPAIGN_OBJECT, parse_rate
from engine.runtime.campaigns.suppression import suppressed
from engine.runtime.campaigns.tracking import tracking_key
from engine.runtime.errors import FieldError, NotFound, ValidationFailed
from engine.runtime.records import listparams
from engine.runtime.subscriptions.sending import base_url

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: Recipients inserted per statement.
CHUNK = 1000


@dataclass(frozen=True)
class Started:
    """What starting a campaign queued: recipients, suppressed addresses, the first and last send times."""

    campaign_id: int
    status: str
    queued: int
    suppressed: int
    first_at: dt.datetime
    last_at: dt.datetime


def _refuse(key: str, code: str, text: str, **params: Any) -> ValidationFailed:
    return ValidationFailed({key: [FieldError(code, text, params)]}, CAMPAIGN_OBJECT)


def start_campaign(session: Session, campaign_id: Any) -> Started:
    """Queue the campaign's recipients and mark it sending (or scheduled, for a later start);
    raises ``ValidationFailed`` naming the field at fault, ``NotFound`` outside the caller's scope."""
    if CAMPAIGN_OBJECT not in session.config.objects:
        raise NotFound(CAMPAIGN_OBJECT, campaign_id)
    campaign = session.get(CAMPAIGN_OBJECT, campaign_id)
    if campaign.get("status") != "draft":
        raise _refuse(
            "status",
            "campaign_not_draft",
            f"Only a draft campaign can be started; this one is {campaign.get('status')}.",
            status=campaign.get("status"),
        )
    table = session.schema.system["sys_campaign_recipients"]
    if session.connection.execute(sa.select(table.c.id).where(table.c.campaign_id == campaign["id"]).limit(1)).first():
        raise _refuse(
            "status",
            "campaign_started_before",
            "This campaign was started before; each campaign is sent once. Create a new campaign to send again.",
        )
    segment = session.config.segments.get(str(campaign.get("segment") or ""))
    if segment is None:
        known = ", ".join(session.config.segments) or "—"
        raise _refuse(
            "segment",
            "campaign_unknown_segment",
            f"There is no segment {campaign.get('segment')!r}; the config's segments are: {known}.",
            name=campaign.get("segment"),
            known=known,
        )
    if str(campaign.get("template") or "") not in session.config.templates:
        known = ", ".join(session.config.templates) or "—"
        raise _refuse(
            "template",
            "campaign_unknown_template",
            f"There is no template {campaign.get('template')!r}; the config's templates are: {known}.",
            name=campaign.get("template"),
            known=known,
        )
    rate = parse_rate(campaign.get("rate"))
    if rate is None:
        raise _refuse(
            "rate", "campaign_bad_rate", "Write the send rate as a number per second, minute, hour or day: 600/hour."
        )
    if base_url() is None:
        raise _refuse(
            "_record",
            "campaign_no_base_url",
            "Campaign e-mails link back to Trellis: set TRELLIS_BASE_URL (https://crm.example.com) for the web server and the worker.",
        )
    tracking_key(session.crm.keys)  # refuses now, not at the first e-mail, when there is no key
    if not session.principal.can_see(segment.object, segment.email):
        raise _refuse(
            "segment",
            "campaign_email_hidden",
            f"The segment's e-mail field {segment.email} is hidden from you.",
            field=segment.email,
        )
    people = _recipients(session, segment.object, segment.filter, segment.email)
    if not people:
        raise _refuse(
            "segment", "campaign_empty_segment", "The segment has no record with an e-mail address that you may read."
        )
    blocked = suppressed(session, [address for _, address in people])
    now = session.clock().now_utc
    start_at = campaign.get("start_at")
    start = max(now, start_at) if isinstance(start_at, dt.datetime) else now
    rows, place = [], 0
    for record_id, address in people:
        stopped = address.lower() in blocked
        rows.append(
            {
                "campaign_id": campaign["id"],
                "object": segment.object,
                "record_id": record_id,
                "email": address[:254],
                "status": "suppressed" if stopped else "queued",
                "due_at": start + dt.timedelta(seconds=place / rate),
                "sent_at": None,
                "outbox_key": None,
                "links": None,
                "error": None,
            }
        )
        place += 0 if stopped else 1
    for begin in range(0, len(rows), CHUNK):
        session.connection.execute(sa.insert(table), rows[begin : begin + CHUNK])
    status = "scheduled" if start > now else "sending"
    session.update(CAMPAIGN_OBJECT, campaign["id"], {"status": status}, version=campaign["version"])
    last = start + dt.timedelta(seconds=max(place - 1, 0) / rate)
    return Started(campaign["id"], status, place, len(rows) - place, start, last)


def _recipients(session: Session, object_name: str, filters: Any, email: str) -> list[tuple[int, str]]:
    """(record id, address) of the segment's records the caller may read, one per address."""
    query = listparams.parse(dict(filters)).apply(session.query(object_name)).filter(**{f"{email}__isnull": False})
    table = session.schema.table(object_name)
    statement = query.statement().with_only_columns(table.c.id, table.c[email])
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for record_id, address in session.connection.execute(statement):
        key = str(address).strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append((int(record_id), str(address).strip()))
    return out
