"""Sending campaigns (``trellis worker``): each due recipient's e-mail written to the outbox once.

``send_campaigns(crm, at)`` takes the recipients whose time has come (``due_at <= at``, status
``queued``; ``engine.runtime.campaigns.starting`` gave each its time from the campaign's rate),
``BATCH`` at a time, each batch in one transaction in the system context:

1. **claim** — ``UPDATE … SET status = 'sending' WHERE id IN (…) AND status = 'queued'
   RETURNING …``; on PostgreSQL the ids are picked ``FOR UPDATE SKIP LOCKED``, so a second
   worker takes other rows, never the same; SQLite has one writer at a time;
2. **render** — the campaign's template for the recipient as an outside reader (no hidden or
   encrypted field), in the record's ``language`` when it has one the config offers, else the
   company's; its links replaced by signed click URLs, an unsubscribe link and the open pixel
   added (``tracking``), with ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 8058);
3. **enqueue** — into the outbox (``notify.enqueue``, which refuses suppressed addresses),
   and the row marked ``sent`` with the outbox key, in the same transaction.

A worker without ``TRELLIS_BASE_URL`` or a secret key claims nothing (the e-mails could not
carry their links) and logs why; the recipients wait. A campaign whose status was set to ``cancelled`` sends nothing more: its rows still due become
``cancelled``. A worker that dies mid-batch leaves nothing: the transaction rolls back and the rows are
``queued`` again, so each recipient reaches the outbox exactly once; the outbox then delivers
with its retries and dead letters. A campaign whose rows are all done is marked ``sent``
(through the write path, channel ``campaign``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata import templating
from engine.metadata.campaigns import CAMPAIGN_OBJECT
from engine.runtime.campaigns import tracking
from engine.runtime.campaigns.suppression import suppressed
from engine.runtime.jobs.notify import enqueue
from engine.runtime.messages import message
from engine.runtime.records.reader import Reader, language_of, template_context
from engine.runtime.subscriptions.sending import base_url

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.worker")

#: Recipients claimed per transaction.
BATCH = 200


@dataclass
class CampaignReport:
    """What one ``send_campaigns`` did: e-mails written to the outbox, rows that failed to render,
    campaigns finished."""

    sent: int = 0
    failed: int = 0
    finished: list[int] = field(default_factory=list)


def send_campaigns(crm: Runtime, at: dt.datetime, batch: int = BATCH) -> CampaignReport:
    """Write the e-mails of every recipient due at ``at`` to the outbox (see the module)."""
    report = CampaignReport()
    table = crm.schema.system["sys_campaign_recipients"]
    if CAMPAIGN_OBJECT not in crm.config.objects:
        return report
    base = base_url()
    try:
        key = tracking.tracking_key(crm.keys)
    except tracking.TrackingKeyMissing as exc:
        key, missing = None, str(exc)
    else:
        missing = "set TRELLIS_BASE_URL for the worker: campaign e-mails link back to Trellis"
    campaigns: set[int] = set()
    while True:
        with crm.session(None, channel="campaign") as session:
            if base is None or key is None:  # nothing is claimed: the recipients wait for a worker set up
                if _any_due(session, table, at):
                    log.error("campaign e-mails wait: %s", missing)
                return report
            rows = _claim(session, table, at, batch)
            if not rows:
                break
            campaigns.update(row["campaign_id"] for row in rows)
            _send_batch(session, table, rows, base, key, at, report)
        if len(rows) < batch:
            break
    if campaigns:
        _finish(crm, table, campaigns, report)
    return report


def _any_due(session: Session, table: sa.Table, at: dt.datetime) -> bool:
    due = sa.select(table.c.id).where(table.c.status == "queued", table.c.due_at <= at).limit(1)
    return session.connection.execute(due).first() is not None


def _claim(session: Session, table: sa.Table, at: dt.datetime, batch: int) -> list[dict[str, Any]]:
    ids = (
        sa.select(table.c.id)
        .where(table.c.status == "queued", table.c.due_at <= at)
        .order_by(table.c.due_at, table.c.id)
        .limit(batch)
    )
    if session.connection.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    statement = (
        sa.update(table)
        .where(table.c.id.in_(ids.scalar_subquery()), table.c.status == "queued")
        .values(status="sending")
        .returning(*table.c)
    )
    rows = [dict(r) for r in session.connection.execute(statement).mappings()]
    return sorted(rows, key=lambda r: (r["due_at"], r["id"]))


def _send_batch(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    base: str,
    key: bytes,
    at: dt.datetime,
    report: CampaignReport,
) -> None:
    """Render and enqueue each claimed row's e-mail; record every row's outcome in one statement."""
    blocked = suppressed(session, [row["email"] for row in rows])  # unsubscribed since the start
    campaigns: dict[int, Any] = {}
    outcomes: list[dict[str, Any]] = []
    for row in rows:
        outcome = {"row_id": row["id"], "status": "suppressed", "sent_at": None, "outbox_key": None}
        outcome.update(links=None, error=None)
        if _campaign(session, row["campaign_id"], campaigns).get("status") == "cancelled":
            outcome.update(status="cancelled")
        elif row["email"].lower() not in blocked:
            try:
                mail, links = compose(session, row, base, key, campaigns)
            except Exception as exc:  # noqa: BLE001 - one recipient that cannot be rendered must not stop the others
                log.warning("campaign %s: recipient %s failed to render: %s", row["campaign_id"], row["id"], exc)
                outcome.update(status="failed", error=str(exc)[:2000])
                report.failed += 1
            else:
                sent = enqueue(session, "email", f"campaign:{row['campaign_id']}", row["email"], mail, suppressed=False)
                outcome.update(status="sent", sent_at=at, outbox_key=sent, links=list(links))
                report.sent += 1
        outcomes.append(outcome)
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(
            status=sa.bindparam("status"),
            sent_at=sa.bindparam("sent_at"),
            outbox_key=sa.bindparam("outbox_key"),
            links=sa.bindparam("links", type_=table.c.links.type),
            error=sa.bindparam("error"),
        )
    )
    session.connection.execute(statement.execution_options(synchronize_session=False), outcomes)


def compose(
    session: Session, row: dict[str, Any], base: str, key: bytes, campaigns: dict[int, Any] | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The outbox payload of one recipient's e-mail and the links it tracks (``campaigns``: the
    campaign rows read so far, by id)."""
    campaign = _campaign(session, row["campaign_id"], {} if campaigns is None else campaigns)
    template = session.config.templates[campaign["template"]]
    obj = session.config.objects[row["object"]]
    language = _language(session, obj.name, row["record_id"])
    subject_source, body_source = template.text(language)
    extra = {"company": session.config.settings.company, "campaign": campaign.get("name")}
    context = template_context(session, obj, {"id": row["record_id"]}, Reader.outside(language), extra)
    subject = templating.render(subject_source, context, autoescape=False).strip()
    body = templating.render(body_source, context, autoescape=False).strip()
    tracked = tracking.track_links(body, base, key, row["id"])
    leave = tracking.url(base, key, row["id"], "unsubscribe")
    pixel = tracking.url(base, key, row["id"], "open")
    footer = message("campaign.footer", language, company=session.config.settings.company)
    text = f"{tracked.text}\n\n--\n{footer} {leave}\n"
    payload = {
        "subject": subject,
        "body": text,
        "html": tracking.html_body(tracked.text, footer, leave, pixel),
        "headers": {"List-Unsubscribe": f"<{leave}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    }
    return payload, tracked.links


def _campaign(session: Session, campaign_id: int, campaigns: dict[int, Any]) -> Any:
    """The campaign's row, read once per batch."""
    if campaign_id not in campaigns:
        table = session.schema.table(CAMPAIGN_OBJECT)
        campaigns[campaign_id] = (
            session.connection.execute(sa.select(table).where(table.c.id == campaign_id)).mappings().one()
        )
    return campaigns[campaign_id]


def _language(session: Session, object_name: str, record_id: int) -> str:
    """The record's ``language`` field when it has one the config offers, else the company's."""
    chosen = None
    if "language" in session.config.objects[object_name].fields:
        table = session.schema.table(object_name)
        chosen = session.connection.execute(sa.select(table.c.language).where(table.c.id == record_id)).scalar()
    return language_of(session.config, str(chosen) if chosen else None)


def _finish(crm: Runtime, table: sa.Table, campaign_ids: set[int], report: CampaignReport) -> None:
    """Mark ``sent`` the campaigns with no recipient left to send, ``sending`` the scheduled ones
    that began."""
    with crm.session(None, channel="campaign") as session:
        open_ = set(
            session.connection.execute(
                sa.select(table.c.campaign_id)
                .where(table.c.campaign_id.in_(sorted(campaign_ids)), table.c.status.in_(("queued", "sending")))
                .distinct()
            ).scalars()
        )
        for campaign_id in sorted(campaign_ids):
            record = session.query(CAMPAIGN_OBJECT).filter(id=campaign_id).first()
            if record is None or record.get("status") not in ("sending", "scheduled"):
                continue
            if campaign_id not in open_:
                session.update(CAMPAIGN_OBJECT, campaign_id, {"status": "sent"})
                report.finished.append(campaign_id)
            elif record.get("status") == "scheduled":
                session.update(CAMPAIGN_OBJECT, campaign_id, {"status": "sending"})
