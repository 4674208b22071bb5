"""Notifications and the outbox, each rendered for the people who read it.

``send`` renders a ``notify`` action's template (Jinja in a sandbox with bounded
work and output, ``engine.metadata.templating``) for each
recipient — the record's owner, the owner's manager, everyone holding a role, a
named user, or the address in an e-mail field — and writes an in-app notification
(``sys_notifications``) and/or an e-mail to the outbox (``sys_outbox``), in the
caller's transaction. ``enqueue`` writes any outside effect (e-mail, webhook) to
the outbox with an idempotency key; the worker delivers it after the commit, so a
rolled-back change sends nothing.

Every message is rendered for its readers (``engine.runtime.records.reader``): the record is
read through the read path as each reader, so a field a reader may not read renders
as ``—``; values are formatted as people read them, in the reader's language, with
the raw values under ``record.raw``. When the rule tells both the owner and their
manager by e-mail, the manager is copied (``Cc``) on the owner's message — when the
manager may read all that message shows; otherwise each gets a message of their own.

``webhook_payload`` is what a ``webhook`` action sends: the fields its rule names, or by
default what an outside reader may read, through the same reader.

Users read their in-app notifications through ``engine.runtime.jobs.inbox``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata import templating
from engine.metadata.model import SYSTEM_COLUMNS, Action, Automation, ObjectDef
from engine.runtime.records import reader
from engine.runtime.records.query import format_title
from engine.runtime.records.reader import Reader, language_of, template_context
from engine.runtime.security.permissions import Principal

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


#: Why an e-mail in the outbox is ``suppressed``.
SUPPRESSED = "not sent: the address does not receive e-mail (unsubscribed, or do not e-mail)"


def render(source: str, context: Mapping[str, Any], autoescape: bool = True) -> str:
    """Render a template source in the bounded sandbox (HTML-escaped unless ``autoescape`` is False,
    for plain-text e-mail bodies and subjects); TemplateLimitError past a limit of
    ``engine.metadata.templating`` (the automation run records it as its error)."""
    return templating.render(source, context, autoescape)


def send(session: Session, rule: Automation, obj: ObjectDef | None, values: Mapping[str, Any], action: Action) -> int:
    """Notify the action's recipients, each message rendered for its readers; returns how many
    notifications and e-mails were written. With no recipient the template is still rendered once
    (and discarded), so that a limit it exceeds for these values fails the run all the same."""
    users, addresses = resolve_recipients(session, obj, values, action)
    people = _people(session, users | _copied(session, values, action, users))
    now = session.clock().now_utc
    render = _Renderer(session, rule, obj, values, action)
    written = 0
    if "in_app" in action.channels and users:
        for user_id in sorted(users):
            title, body = render([people[user_id]])
            session.unit.add(
                "sys_notifications",
                {
                    "user_id": user_id,
                    "title": title[:300],
                    "body": body,
                    "object": obj.name if obj else None,
                    "record_id": values.get("id"),
                    "rule": rule.name,
                    "created_at": now,
                    "read_at": None,
                },
            )
            written += 1
    if "email" in action.channels:
        for to, copied in _emails(session, values, action, users, addresses, people):
            title, body = render([to])
            together = render([to, *copied]) if copied else None
            if copied and together != (title, body):  # the copy may read less: each gets their own
                for person in copied:
                    enqueue(
                        session,
                        "email",
                        rule.name,
                        person.email or "",
                        dict(zip(("subject", "body"), render([person]), strict=True)),
                    )
                    written += 1
                copied = []
            payload: dict[str, Any] = {"subject": title, "body": body}
            if copied:
                payload["cc"] = [person.email for person in copied]
            enqueue(session, "email", rule.name, to.email or "", payload)
            written += 1
    if not written:  # no one to tell: still render once (as for an outside address, nothing kept) so that
        # a template that fails or exceeds a limit for this record fails the run whoever it reaches
        render([_Person(None, language_of(session.config, None))])
    return written


@dataclass(frozen=True)
class _Person:
    """A recipient: a user (with their principal) or an outside address (``principal`` None)."""

    email: str | None
    language: str
    principal: Principal | None = None


def _people(session: Session, user_ids: set[int]) -> dict[int, _Person]:
    """Each user's address, language and principal (what they may read; nothing once they
    expired), from the transaction's users (``engine.runtime.records.unit``)."""
    if not user_ids:
        return {}
    now = session.clock().now_utc
    return {
        row.id: _Person(row.email or None, language_of(session.config, row.locale), session.unit.principal(row.id, now))
        for row in session.unit.users(user_ids).values()
    }


def _copied(session: Session, values: Mapping[str, Any], action: Action, users: set[int]) -> set[int]:
    """The owner's manager when the action tells both the owner and the manager by e-mail:
    the manager is copied on the owner's e-mail instead of getting one of their own."""
    kinds = {r.kind for r in action.recipients}
    owner = values.get("owner_id")
    if "email" not in action.channels or not {"owner", "manager"} <= kinds or owner not in users:
        return set()
    manager = _manager(session, owner)
    return {manager} if manager in users and manager != owner else set()


def _manager(session: Session, user_id: int | None) -> int | None:
    row = session.unit.user(user_id)
    return row.manager_id if row is not None else None


def _emails(
    session: Session,
    values: Mapping[str, Any],
    action: Action,
    users: set[int],
    addresses: set[str],
    people: Mapping[int, _Person],
) -> list[tuple[_Person, list[_Person]]]:
    """The e-mails to write: each addressee with whom it copies, one message per address."""
    copied = _copied(session, values, action, users)
    owner_id = values.get("owner_id")
    owner = people.get(owner_id) if owner_id is not None else None
    cc = [people[m] for m in copied if people[m].email] if owner is not None and owner.email else []
    out: list[tuple[_Person, list[_Person]]] = []
    taken: set[str] = set()
    for user_id in sorted(users):
        person = people[user_id]
        if not person.email or person.email in taken or (cc and user_id in copied):
            continue
        mine = [c for c in cc if c.email not in taken | {person.email}] if person is owner else []
        taken |= {person.email, *(c.email or "" for c in mine)}
        out.append((person, mine))
    language = language_of(session.config, None)
    out.extend((_Person(address, language), []) for address in sorted(addresses) if address not in taken)
    return out


class _Renderer:
    """Subject and body of one action's template for a record, rendered once per set of readers
    (an owner's in-app notification and e-mail read the same)."""

    def __init__(
        self, session: Session, rule: Automation, obj: ObjectDef | None, values: Mapping[str, Any], action: Action
    ) -> None:
        self.args = (session, rule, obj, values, action)
        self.done: dict[tuple[Any, ...], tuple[str, str]] = {}

    def __call__(self, readers: list[_Person]) -> tuple[str, str]:
        key = tuple((p.email, p.language, p.principal.user_id if p.principal else None) for p in readers)
        if key not in self.done:
            self.done[key] = _render(*self.args, readers)
        return self.done[key]


def _render(
    session: Session,
    rule: Automation,
    obj: ObjectDef | None,
    values: Mapping[str, Any],
    action: Action,
    readers: list[_Person],
) -> tuple[str, str]:
    """Subject and body of the action's template for ``readers`` (in the first one's language)."""
    assert action.template is not None, "a notify action names its template"
    template = session.config.templates[action.template]
    language = readers[0].language
    principals = tuple(p.principal for p in readers if p.principal is not None)
    if len(principals) < len(readers):
        principals = ()  # an outside address among the readers: what anyone may read
    subject, body = template.text(language)
    read = [templating.keys_read(text, "record") for text in (subject, body)]
    known = [keys for keys in read if keys is not None]  # None: a template uses `record` as a whole
    fields = frozenset[str]().union(*known) if len(known) == len(read) else None
    context = template_context(
        session,
        obj,
        values,
        Reader(principals, language),
        {"rule": rule.name, "company": session.config.settings.company},
        fields,
    )
    return render(subject, context, autoescape=False).strip(), render(body, context, autoescape=False).strip()


def webhook_payload(
    session: Session, rule: Automation, obj: ObjectDef | None, values: Mapping[str, Any], action: Action
) -> dict[str, Any]:
    """What a ``webhook`` action POSTs: the event, the rule, the object, the moment, the record's
    id and title, and ``record`` — its system columns and the fields the action names in
    ``fields`` (read as the system: named in the config, hidden and encrypted fields too), or
    by default those an outside reader may read (no field any role hides, no encrypted
    field), read through the read path now (``reader.values_for``). Values are stored
    values: picklist keys, lookup and user ids, ISO dates, decimals as text."""
    record: dict[str, Any] = {}
    title = None
    if obj is not None and values.get("id") is not None:
        language = language_of(session.config, None)
        if action.fields:
            seen = reader.values_for(session, Reader.system(language), obj, values)
            wanted = [*(c for c in SYSTEM_COLUMNS if c not in obj.fields), *action.fields]
        else:
            seen = reader.values_for(session, Reader.outside(language), obj, values)
            wanted = list(seen)
        record = {name: seen[name] for name in wanted if name in seen}
        if record:
            title = format_title(obj, {k: v for k, v in record.items() if k in obj.fields or k == "id"})
    return {
        "event": rule.trigger.kind,
        "rule": rule.name,
        "object": obj.name if obj else None,
        "id": record.get("id"),
        "title": title,
        "record": record,
        "at": session.clock().now_utc.isoformat(),
    }


def resolve_recipients(
    session: Session, obj: ObjectDef | None, values: Mapping[str, Any], action: Action
) -> tuple[set[int], set[str]]:
    """Active user ids and plain e-mail addresses the action's recipients stand for (users from
    the transaction's users, ``engine.runtime.records.unit``)."""
    unit = session.unit
    user_ids: set[int] = set()
    addresses: set[str] = set()
    for recipient in action.recipients:
        if recipient.kind == "owner" and values.get("owner_id"):
            user_ids.add(values["owner_id"])
        elif recipient.kind == "manager" and values.get("owner_id"):
            manager = _manager(session, values["owner_id"])
            if manager:
                user_ids.add(manager)
        elif recipient.kind == "role":
            user_ids |= {row.id for row in unit.all_users() if row.active and recipient.name in (row.roles or [])}
        elif recipient.kind == "user":
            assert recipient.name is not None, "a user recipient names the user"
            found = unit.user_named(recipient.name)
            if found is not None:
                user_ids.add(found.id)
        elif recipient.kind == "field" and obj is not None:
            assert recipient.name is not None, "a field recipient names the field"
            value = values.get(recipient.name)
            if value and obj.fields[recipient.name].kind.refers_to_user:
                user_ids.add(value)
            elif value:
                addresses.add(str(value))
    if user_ids:  # only active users are told
        user_ids = {row.id for row in unit.users(user_ids).values() if row.active}
    return user_ids, addresses


def enqueue(
    session: Session,
    kind: str,
    rule: str | None,
    target: str,
    payload: Mapping[str, Any],
    secret_env: str | None = None,
    suppressed: bool = False,
) -> str:
    """Write one outside effect to the outbox (delivered by the worker); returns its idempotency key.
    An e-mail to an address that must not be e-mailed (``campaigns.suppression``: it
    unsubscribed or bounced, or its record says ``do_not_email``) is never sent: the delivery
    asks once per batch it claims and keeps it as ``suppressed``; a caller that asked already
    (for many addresses at once) passes the answer as ``suppressed``."""
    key = uuid.uuid4().hex
    now = session.clock().now_utc
    status, error = "pending", None
    if suppressed:
        status, error = "suppressed", SUPPRESSED
    session.unit.add(
        "sys_outbox",
        {
            "kind": kind,
            "rule": rule,
            "target": target[:2000],
            "payload": json.dumps(payload, default=_json, ensure_ascii=False),
            "secret_env": secret_env,
            "idempotency_key": key,
            "status": status,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": error,
            "created_at": now,
            "sent_at": None,
            "claimed_by": None,
            "lease_until": None,
        },
    )
    return key


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
