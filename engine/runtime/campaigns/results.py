"""A campaign's results (S30), as the person reading them may see them.

``campaign_results(session, campaign_id)`` reads the campaign through ``Query`` (outside the
reader's scope it is not found), then counts:

- from its recipient rows and the outbox: ``recipients``, ``queued`` (not yet due),
  ``suppressed`` (do not e-mail / unsubscribed before the start), ``failed`` (did not render),
  ``sent`` (handed to the SMTP server), ``bounced`` (refused for good by the server, or an
  ``email_bounced`` event), ``delivered`` (sent and not bounced);
- from its engagement events, each person once: ``opened``, ``clicked``, ``unsubscribed``;
- through ``Query`` as the reader (only what they may read): ``leads`` — records of every
  object with a lookup to ``campaign`` pointing at it — and ``deals_won`` / ``won_amount`` —
  the records those were converted into (a conversion's ``links``) that stand in a won stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.campaigns import CAMPAIGN_OBJECT
from engine.runtime.records.record import Record

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: The figures in the order the campaign page shows them.
FIGURES = (
    "recipients",
    "queued",
    "suppressed",
    "failed",
    "sent",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "unsubscribed",
    "leads",
    "deals_won",
    "won_amount",
)


@dataclass(frozen=True)
class CampaignResults:
    """A campaign's figures (``FIGURES``), read as one person may see them."""

    campaign: Record
    recipients: int = 0
    queued: int = 0
    suppressed: int = 0
    failed: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    leads: int = 0
    deals_won: int = 0
    won_amount: Decimal | None = None

    def figures(self) -> list[tuple[str, Any]]:
        """(name, value) in the order of ``FIGURES``."""
        return [(name, getattr(self, name)) for name in FIGURES]


def campaign_results(session: Session, campaign_id: Any) -> CampaignResults:
    """The figures of one campaign (see the module); ``NotFound`` outside the reader's scope."""
    campaign = session.get(CAMPAIGN_OBJECT, campaign_id)
    cid = campaign["id"]
    recipients = session.schema.system["sys_campaign_recipients"]
    outbox = session.schema.system["sys_outbox"]
    events = session.schema.system["sys_engagement_events"]
    connection = session.connection
    by_status: dict[str, int] = _counts(
        connection.execute(
            sa.select(recipients.c.status, sa.func.count())
            .where(recipients.c.campaign_id == cid)
            .group_by(recipients.c.status)
        )
    )
    delivery: dict[str, int] = _counts(
        connection.execute(
            sa.select(outbox.c.status, sa.func.count())
            .select_from(recipients.join(outbox, outbox.c.idempotency_key == recipients.c.outbox_key))
            .where(recipients.c.campaign_id == cid)
            .group_by(outbox.c.status)
        )
    )
    people: dict[str, int] = _counts(
        connection.execute(
            sa.select(events.c.kind, sa.func.count(sa.distinct(events.c.recipient_id)))
            .where(events.c.campaign_id == cid)
            .group_by(events.c.kind)
        )
    )
    bounced_events = people.get("email_bounced", 0)
    sent = delivery.get("sent", 0)
    leads, won, amount = _conversions(session, cid)
    return CampaignResults(
        campaign=campaign,
        recipients=sum(by_status.values()),
        queued=by_status.get("queued", 0)
        + by_status.get("sending", 0)
        + delivery.get("pending", 0)
        + delivery.get("retry", 0),
        suppressed=by_status.get("suppressed", 0) + delivery.get("suppressed", 0),
        failed=by_status.get("failed", 0),
        sent=sent,
        delivered=max(sent - bounced_events, 0),
        bounced=delivery.get("dead", 0) + bounced_events,
        opened=people.get("email_opened", 0),
        clicked=people.get("email_clicked", 0),
        unsubscribed=people.get("email_unsubscribed", 0),
        leads=leads,
        deals_won=won,
        won_amount=amount,
    )


def _counts(result: sa.Result[Any]) -> dict[str, int]:
    """A two-column result (key, count) as a mapping."""
    return {str(key): int(count) for key, count in result}


def _conversions(session: Session, campaign_id: int) -> tuple[int, int, Decimal | None]:
    """Leads credited to the campaign, and the won deals they became (as the reader may read)."""
    leads = 0
    won = 0
    amount: Decimal | None = None
    for obj in session.config.objects.values():
        credited = [f.name for f in obj.fields.values() if f.target == CAMPAIGN_OBJECT]
        if not credited or session.principal.grant(obj.name).read == "none" or obj.name == CAMPAIGN_OBJECT:
            continue
        for name in credited:
            query = session.query(obj.name).filter(**{name: campaign_id})
            leads += query.count()
            for conversion in session.config.conversions.values():
                if conversion.source != obj.name:
                    continue
                for target_name, link in conversion.links.items():
                    target = conversion.target(target_name)
                    found = _won(session, query, link, target.object if target else None)
                    if found is not None:
                        won += found[0]
                        amount = found[1] if amount is None else amount + (found[1] or 0)
    return leads, won, amount


def _won(session: Session, sources: Any, link: str, object_name: str | None) -> tuple[int, Decimal | None] | None:
    obj = session.config.objects.get(object_name or "")
    if obj is None or obj.pipeline is None or link not in sources.obj.fields:
        return None
    stages = [s.key for s in obj.pipeline.all_stages() if s.outcome == "won"]
    if not stages or not session.principal.can_see(sources.obj.name, link):
        return None
    ids = sorted({r[link] for r in sources.all() if r.get(link) is not None})
    if not ids:
        return 0, None
    deals = session.query(obj.name).filter(id__in=ids, **{f"{obj.pipeline.field}__in": stages}).all()
    money = (
        "amount"
        if "amount" in obj.fields and obj.fields["amount"].value_type in ("currency", "decimal", "integer")
        else None
    )
    total = sum((Decimal(str(d.get(money) or 0)) for d in deals), Decimal(0)) if money else None
    return len(deals), total
