"""Notifications and the outbox.

``send`` renders a ``notify`` action's template (Jinja in a sandbox with bounded
work and output, ``engine.metadata.templating``) for each recipient — the record's owner, the owner's manager,
everyone holding a role, a named user, or the address in an e-mail field — and
writes an in-app notification (``sys_notifications``) and/or an e-mail to the
outbox (``sys_outbox``), in the caller's transaction. ``enqueue`` writes any
outside effect (e-mail, webhook) to the outbox with an idempotency key; the
worker delivers it after the commit, so a rolled-back change sends nothing.

Users read their in-app notifications through ``engine.runtime.inbox``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata import templating
from engine.metadata.model import Action, Automation, ObjectDef

if TYPE_CHECKING:
    from engine.runtime.records import Session


def render(source: str, context: Mapping[str, Any], autoescape: bool = True) -> str:
    """Render a template source in the bounded sandbox (HTML-escaped unless ``autoescape`` is False,
    for plain-text e-mail bodies and subjects); TemplateLimitError past a limit of
    ``engine.metadata.templating`` (the automation run records it as its error)."""
    return templating.render(source, context, autoescape)


def send(session: Session, rule: Automation, obj: ObjectDef | None, values: Mapping[str, Any], action: Action) -> int:
    """Notify the action's recipients; returns how many notifications and e-mails were written."""
    template = session.config.templates[action.template]
    users, addresses = resolve_recipients(session, obj, values, action)
    record = dict(values)
    context = {"record": record, "object": obj.label.get() if obj else "", "rule": rule.name,
               "company": session.config.settings.company}
    title = render(template.subject, context, autoescape=False).strip()
    body = render(template.body, context, autoescape=False).strip()
    now = session.clock().now_utc
    written = 0
    if "in_app" in action.channels and users:
        table = session.schema.system["sys_notifications"]
        session.connection.execute(sa.insert(table), [
            {"user_id": user_id, "title": title[:300], "body": body, "object": obj.name if obj else None,
             "record_id": values.get("id"), "rule": rule.name, "created_at": now, "read_at": None}
            for user_id in sorted(users)])
        written += len(users)
    if "email" in action.channels:
        emails = set(addresses) | _emails_of(session, users)
        for address in sorted(emails):
            enqueue(session, "email", rule.name, address, {"subject": title, "body": body})
            written += 1
    return written


def resolve_recipients(session: Session, obj: ObjectDef | None, values: Mapping[str, Any],
                       action: Action) -> tuple[set[int], set[str]]:
    """Active user ids and plain e-mail addresses the action's recipients stand for."""
    users_table = session.schema.system["sys_users"]
    connection = session.connection
    user_ids: set[int] = set()
    addresses: set[str] = set()
    for recipient in action.recipients:
        if recipient.kind == "owner" and values.get("owner_id"):
            user_ids.add(values["owner_id"])
        elif recipient.kind == "manager" and values.get("owner_id"):
            manager = connection.execute(sa.select(users_table.c.manager_id)
                                         .where(users_table.c.id == values["owner_id"])).scalar()
            if manager:
                user_ids.add(manager)
        elif recipient.kind == "role":
            rows = connection.execute(sa.select(users_table.c.id, users_table.c.roles)
                                      .where(users_table.c.active.is_(True))).all()
            user_ids |= {row.id for row in rows if recipient.name in (row.roles or [])}
        elif recipient.kind == "user":
            found = connection.execute(sa.select(users_table.c.id)
                                       .where(users_table.c.username == recipient.name)).scalar()
            if found:
                user_ids.add(found)
        elif recipient.kind == "field" and obj is not None:
            value = values.get(recipient.name)
            if value and obj.fields[recipient.name].type == "user":
                user_ids.add(value)
            elif value:
                addresses.add(str(value))
    if user_ids:  # only active users are told
        active = connection.execute(sa.select(users_table.c.id).where(
            users_table.c.id.in_(sorted(user_ids)), users_table.c.active.is_(True))).scalars()
        user_ids = set(active)
    return user_ids, addresses


def _emails_of(session: Session, user_ids: set[int]) -> set[str]:
    if not user_ids:
        return set()
    users = session.schema.system["sys_users"]
    rows = session.connection.execute(sa.select(users.c.email).where(users.c.id.in_(sorted(user_ids)))).scalars()
    return {email for email in rows if email}


def enqueue(session: Session, kind: str, rule: str | None, target: str, payload: Mapping[str, Any],
            secret_env: str | None = None) -> str:
    """Write one outside effect to the outbox (delivered by the worker); returns its idempotency key."""
    outbox = session.schema.system["sys_outbox"]
    key = uuid.uuid4().hex
    now = session.clock().now_utc
    session.connection.execute(sa.insert(outbox).values(
        kind=kind, rule=rule, target=target[:2000], payload=json.dumps(payload, default=_json, ensure_ascii=False),
        secret_env=secret_env, idempotency_key=key, status="pending", attempts=0, next_attempt_at=now,
        last_error=None, created_at=now, sent_at=None))
    return key


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
