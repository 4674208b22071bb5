"""What an open, a click and an unsubscribe of a campaign e-mail do (the web's ``/t/…`` pages).

Each takes the token of the URL, verifies it (``tracking.read_token``) and finds its recipient
row; a token that does not verify, or names no recipient (or no link), gives None — the web
answers 404 and nothing is written or logged. Otherwise, in one transaction in the system
context (channel ``tracking``), the event is recorded for the recipient's record with its
campaign (``engine.runtime.workflow.engagement.record_event``: the automation rules listening
run), and:

- ``track_open``: ``email_opened`` (each time; the results count people once);
- ``track_click``: ``email_clicked`` with the link's URL, which it returns — the link at that
  place in that recipient's e-mail, as stored when it was written;
- ``unsubscribe``: the address joins the suppression list, the record's ``do_not_email`` is
  set through the write path (when the object has that field and the record accepts the
  change), ``email_unsubscribed`` is recorded the first time. Asking again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.runtime.campaigns import tracking
from engine.runtime.campaigns.suppression import DO_NOT_EMAIL, suppress
from engine.runtime.errors import TrellisError
from engine.runtime.workflow.engagement import record_event

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.campaigns")


@dataclass(frozen=True)
class Unsubscribed:
    """The outcome of an unsubscribe: the company's name and whether it was new."""

    company: str
    new: bool


def _recipient(session: Session, token: tracking.Token | None) -> dict[str, Any] | None:
    if token is None:
        return None
    table = session.schema.system["sys_campaign_recipients"]
    row = session.connection.execute(sa.select(table).where(table.c.id == token.recipient_id)).mappings().first()
    if row is None or row["object"] not in session.config.objects:
        return None
    return dict(row)


def _token(crm: Runtime, text: str, purpose: str) -> tracking.Token | None:
    try:
        key = tracking.tracking_key(crm.keys)
    except tracking.TrackingKeyMissing:
        return None
    return tracking.read_token(key, text, purpose)


def track_open(crm: Runtime, text: str) -> bool:
    """Record an open of the e-mail the token belongs to; False for a bad token."""
    token = _token(crm, text, "open")
    if token is None:
        return False
    with crm.session(None, channel="tracking") as session:
        row = _recipient(session, token)
        if row is None:
            return False
        _event(session, "email_opened", row, {})
    return True


def track_click(crm: Runtime, text: str) -> str | None:
    """The URL the clicked link leads to (after recording the click); None for a bad token."""
    token = _token(crm, text, "click")
    if token is None:
        return None
    with crm.session(None, channel="tracking") as session:
        row = _recipient(session, token)
        links = (row or {}).get("links") or []
        if row is None or not 0 <= token.link < len(links):
            return None
        target = str(links[token.link])
        _event(session, "email_clicked", row, {"url": target, "link": token.link})
    return target


def unsubscribe_valid(crm: Runtime, text: str) -> str | None:
    """The company's name when the unsubscribe token is genuine (the page asking to confirm)."""
    token = _token(crm, text, "unsubscribe")
    if token is None:
        return None
    with crm.session(None, channel="tracking") as session:
        return crm.config.settings.company if _recipient(session, token) is not None else None


def unsubscribe(crm: Runtime, text: str) -> Unsubscribed | None:
    """Unsubscribe the recipient of the token (see the module); None for a bad token."""
    token = _token(crm, text, "unsubscribe")
    if token is None:
        return None
    with crm.session(None, channel="tracking") as session:
        row = _recipient(session, token)
        if row is None:
            return None
        events = session.schema.system["sys_engagement_events"]
        before = session.connection.execute(
            sa.select(events.c.id).where(events.c.recipient_id == row["id"], events.c.kind == "email_unsubscribed")
        ).first()
        suppress(session, row["email"], "unsubscribed")
        _mark_record(session, row)
        if before is None:
            _event(session, "email_unsubscribed", row, {})
    return Unsubscribed(crm.config.settings.company, before is None)


def _mark_record(session: Session, row: dict[str, Any]) -> None:
    obj = session.config.objects[row["object"]]
    flag = obj.fields.get(DO_NOT_EMAIL)
    if flag is None or flag.type != "boolean":
        return
    try:
        with session.connection.begin_nested():
            session.update(obj.name, row["record_id"], {DO_NOT_EMAIL: True})
    except TrellisError as exc:  # the address is suppressed all the same
        log.info("unsubscribe: %s %s not marked %s: %s", obj.name, row["record_id"], DO_NOT_EMAIL, exc)


def _event(session: Session, kind: str, row: dict[str, Any], data: dict[str, Any]) -> None:
    record_event(
        session, kind, row["object"], row["record_id"], data, campaign_id=row["campaign_id"], recipient_id=row["id"]
    )
