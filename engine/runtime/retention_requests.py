"""Retention requests (issue 18 §4): the records a retention run would archive or purge, held
for approval when the object's policy names an approver (``Retention.approver``:
``retention.approval`` or ``settings.retention_approval``).

A run (``engine.runtime.retention.run``: ``trellis retention run --yes`` or the worker with
``settings.retention_automatic``) does not touch such an object's records. Instead ``file``
stores one request per object holding exactly the records due as of the report — their ids and
versions in ``sys_retention_items``, the policy and its ``before`` date in
``sys_retention_requests`` — and tells the approvers (an in-app notification each: the bell),
unless a request of that object is open (pending or approved; a unique ``open_object`` keeps
two workers from filing two) or the last one was rejected, or done, with the same set of due
records (``fingerprint``/``settled``): a rejection holds until the set changes.

``decide`` is the approver's answer (the ``approve`` permission, the step's role or user, a
reason to reject), audited on the object with who, when, how many and the reason — an audit
row of no record, which no purge removes. An approved request is carried out by the following
runs (``approved_due``): exactly its records that are still due and unchanged (same version)
go, a batch per run; a record changed since, or no longer due, stays. ``finish`` closes it with
its counts (done, kept because other records point at them, left because they changed).

The approver sees a request through ``waiting`` / ``examples``: the count, the policy, and a few
of its records read through the one read path as the approver — what they may not read never
reaches them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import Approver, ObjectDef, Retention
from engine.runtime.database import row_by_id
from engine.runtime.errors import RECORD_ERRORS, FieldError, ValidationFailed
from engine.runtime.messages import current_language, localized, message
from engine.runtime.records.query import format_title
from engine.runtime.records.reader import language_of
from engine.runtime.security.permissions import PermissionDenied

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

PENDING, APPROVED, REJECTED, DONE, WITHDRAWN = "pending", "approved", "rejected", "done", "withdrawn"
OPEN = (PENDING, APPROVED)
#: How many of a request's records the approver is shown (those they may read).
EXAMPLES = 5
#: The records of a request an approver's examples are looked for among: pages of ids, read as the viewer.
EXAMPLE_POOL, EXAMPLE_PAGES = 200, 10
#: The ``rule`` of the notifications telling approvers of a request (no automation rule has a colon).
NOTIFY_RULE = "trellis:retention"


@dataclass(frozen=True)
class RetentionRequest:
    """The records of one object a retention run holds for approval, and what became of them."""

    id: int
    object: str
    action: str
    years: int
    from_field: str
    before: dt.datetime
    count: int
    status: str
    approver_role: str | None
    approver_user_id: int | None
    approver_name: str
    requested_at: dt.datetime
    decided_by: int | None = None
    decided_by_name: str | None = None
    decided_at: dt.datetime | None = None
    comment: str | None = None
    done_at: dt.datetime | None = None
    done: int = 0
    kept: int = 0
    changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        iso = lambda v: v.isoformat() if v is not None else None  # noqa: E731
        return {
            "id": self.id,
            "object": self.object,
            "action": self.action,
            "policy": {"years": self.years, "from": self.from_field, "before": self.before.date().isoformat()},
            "count": self.count,
            "status": self.status,
            "approver": self.approver_name,
            "requested_at": iso(self.requested_at),
            "decided_by": self.decided_by_name,
            "decided_at": iso(self.decided_at),
            "comment": self.comment,
            "done_at": iso(self.done_at),
            "done": self.done,
            "kept": self.kept,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class Example:
    """One record of a request as its viewer may read it: id and title."""

    id: int
    title: str


# --- filing ------------------------------------------------------------------------------------
def fingerprint(ids: Iterable[int]) -> str:
    """The SHA-256 of the ids, in order: equal for equal sets of due records."""
    digest = hashlib.sha256()
    for record_id in ids:
        digest.update(b"%d," % record_id)
    return digest.hexdigest()


def due_fingerprint(session: Session, obj: ObjectDef, condition: sa.ColumnElement[bool]) -> tuple[str, int]:
    """The fingerprint and number of ``obj``'s records matching ``condition`` (read as a stream)."""
    table = session.schema.table(obj.name)
    result = session.connection.execute(
        sa.select(table.c.id).where(condition).order_by(table.c.id).execution_options(yield_per=10_000)
    )
    count = 0

    def ids() -> Iterable[int]:
        nonlocal count
        for record_id in result.scalars():
            count += 1
            yield record_id

    return fingerprint(ids()), count


def open_request(session: Session, object_name: str) -> RetentionRequest | None:
    """The pending or approved request of ``object_name`` (locked on PostgreSQL), or None."""
    requests = _requests(session)
    statement = sa.select(requests).where(requests.c.open_object == object_name)
    if session.connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = session.connection.execute(statement).mappings().first()
    return _request(row) if row is not None else None


def file(
    session: Session, obj: ObjectDef, policy: Retention, before: dt.datetime, condition: sa.ColumnElement[bool]
) -> tuple[RetentionRequest | None, RetentionRequest | None]:
    """File a request holding ``obj``'s records due now (``condition``) and tell its approvers:
    (the request, None). Nothing is filed when none is due, when a request of the object is open,
    or when the last one closed with this very set of due records — rejected, or carried out
    with exactly these kept (pointed at): then (None, that request)."""
    assert policy.approver is not None
    print_, count = due_fingerprint(session, obj, condition)
    if not count or open_request(session, obj.name) is not None:
        return None, None
    requests = _requests(session)
    last = (
        session.connection.execute(
            sa.select(requests).where(requests.c.object == obj.name).order_by(requests.c.id.desc()).limit(1)
        )
        .mappings()
        .first()
    )
    if last is not None and last["settled"] == print_:
        return None, _request(last)
    role, user_id, name = _approver(session, policy.approver)
    now = session.clock().now_utc
    values = {
        "object": obj.name,
        "open_object": obj.name,
        "action": policy.action,
        "years": policy.years,
        "from_field": policy.from_field,
        "before": before,
        "count": 0,
        "fingerprint": print_,
        "status": PENDING,
        "approver_role": role,
        "approver_user_id": user_id,
        "approver_name": name,
        "requested_at": now,
    }
    try:
        with session.unit.savepoint():
            request_id = session.connection.execute(
                sa.insert(requests).values(**values).returning(requests.c.id)
            ).scalar_one()
    except sa.exc.IntegrityError:  # another process filed one at the same moment
        return None, None
    items, table = session.schema.system["sys_retention_items"], session.schema.table(obj.name)
    session.connection.execute(
        sa.insert(items).from_select(
            ["request_id", "record_id", "version"],
            sa.select(sa.literal(request_id, type_=items.c.request_id.type), table.c.id, table.c.version).where(
                condition
            ),
        )
    )
    held = session.connection.execute(
        sa.select(sa.func.count()).select_from(items).where(items.c.request_id == request_id)
    ).scalar_one()
    session.connection.execute(sa.update(requests).where(requests.c.id == request_id).values(count=held))
    _log(session, obj.name, "retention.request", request_id, {"records": held, "action": policy.action})
    _notify(session, obj, policy, request_id, held, role, user_id)
    return get(session, request_id), None


def _approver(session: Session, approver: Approver) -> tuple[str | None, int | None, str]:
    """(role, user id, name) of the approver: a named user is found by user name; one without an
    active account yet still names the request, and decides it once their account exists."""
    if approver.kind == "role":
        return approver.name, None, f"role {approver.name}"
    row = session.unit.user_named(approver.name or "")
    return None, (row.id if row is not None and row.active else None), approver.name or ""


def _notify(
    session: Session, obj: ObjectDef, policy: Retention, request_id: int, count: int, role: str | None, user: int | None
) -> None:
    """One in-app notification per approver (the bell), in their language."""
    now = session.clock().now_utc
    for row in session.unit.all_users():
        if not row.active or not (row.id == user or (role is not None and role in (row.roles or []))):
            continue
        language = language_of(session.config, row.locale)
        params = {"object": obj.plural_label.get(language), "count": count, "id": request_id, "years": policy.years}
        session.unit.add(
            "sys_notifications",
            {
                "user_id": row.id,
                "title": message(f"retention.notify_{policy.action}", language, **params)[:300],
                "body": message("retention.notify_body", language, **params),
                "object": obj.name,
                "record_id": None,
                "rule": NOTIFY_RULE,
                "created_at": now,
                "read_at": None,
            },
        )


# --- deciding ----------------------------------------------------------------------------------
def decide(session: Session, request_id: Any, decision: str, comment: str | None = None) -> RetentionRequest:
    """Approve or reject a pending request as the session's principal (audited)."""
    if decision not in ("approve", "reject"):
        raise ValidationFailed({"decision": [FieldError("invalid", "Decide with approve or reject.")]}, "retention")
    current = _fetch(session, request_id, lock=True)
    if current.status != PENDING:
        raise ValidationFailed(
            {RECORD_ERRORS: [FieldError("already_decided", "This request was decided already.")]}, "retention"
        )
    principal = session.principal
    if not principal.is_system and not may_decide(session, current):
        raise PermissionDenied.said(
            "retention.not_approver",
            f"retention request {current.id} is for {current.approver_name} to decide",
            id=current.id,
            approver=approver_text(session, current, current_language()),
        )
    comment = (comment or "").strip() or None
    if decision == "reject" and comment is None:
        said = localized("retention.say_why", "Say why you reject the request.")
        raise ValidationFailed({"comment": [FieldError("required", said, translated=True)]}, "retention")
    requests, now = _requests(session), session.clock().now_utc
    status = APPROVED if decision == "approve" else REJECTED
    values: dict[str, Any] = {
        "status": status,
        "decided_by": principal.user_id,
        "decided_by_name": principal.username,
        "decided_at": now,
        "comment": comment,
    }
    if status == REJECTED:  # nothing goes, and no new request until the due records change
        values.update(open_object=None, settled=_fingerprint_of(session, current.id))
    session.connection.execute(sa.update(requests).where(requests.c.id == current.id).values(**values))
    changes: dict[str, Any] = {"records": current.count, "action": current.action}
    if comment:
        changes["comment"] = comment
    _log(session, current.object, f"retention.{status}", current.id, changes)
    return get(session, current.id)


def may_decide(session: Session, current: RetentionRequest) -> bool:
    """Whether the session's principal decides ``current`` now: it is pending, and theirs."""
    return current.status == PENDING and is_approver(session, current)


def is_approver(session: Session, current: RetentionRequest) -> bool:
    """Whether ``current`` is the session's principal's to decide: the ``approve`` permission,
    read on the object, and the approver (the role's holder or the named user)."""
    principal = session.principal
    if not principal.has("approve"):
        return False
    if current.object not in session.config.objects or principal.grant(current.object).read == "none":
        return False
    if current.approver_user_id is not None:
        return current.approver_user_id == principal.user_id
    if current.approver_role is not None:
        return current.approver_role in principal.roles
    return principal.username == current.approver_name  # a named user whose account came later


def _fingerprint_of(session: Session, request_id: int) -> str:
    items = session.schema.system["sys_retention_items"]
    return fingerprint(
        session.connection.execute(
            sa.select(items.c.record_id).where(items.c.request_id == request_id).order_by(items.c.record_id)
        ).scalars()
    )


def withdraw(session: Session, object_name: str) -> RetentionRequest | None:
    """Close the open request of an object whose policy no longer needs approval (the config
    changed): nothing of it is carried out; the run goes on under the new policy. Audited."""
    current = open_request(session, object_name)
    if current is None:
        return None
    requests = _requests(session)
    session.connection.execute(
        sa.update(requests)
        .where(requests.c.id == current.id)
        .values(status=WITHDRAWN, open_object=None, done_at=session.clock().now_utc)
    )
    _log(session, object_name, "retention.withdrawn", current.id, {"records": current.count})
    return get(session, current.id)


def withdraw_unheld(session: Session, kept: set[str]) -> list[RetentionRequest]:
    """Withdraw the open requests of objects outside ``kept`` (the objects that still have a
    retention policy): an object the config removed, or whose records it now keeps for ever
    (``retention: false``), leaves nothing waiting on the approvers. Audited like ``withdraw``."""
    requests = _requests(session)
    names = session.connection.execute(
        sa.select(requests.c.open_object).where(requests.c.open_object.is_not(None))
    ).scalars()
    return [found for name in sorted(set(names) - kept) if (found := withdraw(session, name)) is not None]


# --- carrying it out ---------------------------------------------------------------------------
def approved_due(
    session: Session,
    current: RetentionRequest,
    obj: ObjectDef,
    condition: sa.ColumnElement[bool],
    limit: int | None,
    after: int = 0,
) -> list[int]:
    """Up to ``limit`` (None: all) ids above ``after`` of ``current``'s records that are still due
    (``condition``) and unchanged since the request (same version), in order."""
    items, table = session.schema.system["sys_retention_items"], session.schema.table(obj.name)
    statement = (
        sa.select(table.c.id)
        .join(items, sa.and_(items.c.record_id == table.c.id, items.c.version == table.c.version))
        .where(items.c.request_id == current.id, condition, table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    )
    return list(session.connection.execute(statement).scalars())


def progress(session: Session, current: RetentionRequest, done: int) -> None:
    """Count ``done`` more records of an approved request carried out."""
    requests = _requests(session)
    session.connection.execute(
        sa.update(requests).where(requests.c.id == current.id).values(done=requests.c.done + done)
    )


def finish(
    session: Session, current: RetentionRequest, obj: ObjectDef, condition: sa.ColumnElement[bool], done: int
) -> RetentionRequest:
    """Close an approved request once no record of it is left to carry out: ``done`` more
    carried out now; those still due and unchanged are kept (other records point at them), the
    rest left because they changed or are no longer due. Until the object's due records are
    other than those kept, no new request is filed (``settled``)."""
    requests, now = _requests(session), session.clock().now_utc
    still = approved_due(session, current, obj, condition, None)
    kept, settled = len(still), fingerprint(still)
    total = current.done + done
    changed = max(current.count - total - kept, 0)
    session.connection.execute(
        sa.update(requests)
        .where(requests.c.id == current.id)
        .values(status=DONE, open_object=None, done=total, kept=kept, changed=changed, done_at=now, settled=settled)
    )
    _log(session, current.object, "retention.done", current.id, {"done": total, "kept": kept, "changed": changed})
    return get(session, current.id)


# --- reading -----------------------------------------------------------------------------------
def approver_text(session: Session, current: RetentionRequest, language: str) -> str:
    """Who decides ``current``, as people read it: the role's label, or the user name."""
    role = session.config.roles.get(current.approver_role or "")
    return role.label.get(language) if role is not None else current.approver_name


def get(session: Session, request_id: Any) -> RetentionRequest:
    """One request (NotFound when there is none)."""
    return _fetch(session, request_id)


def waiting(session: Session, limit: int = 100) -> list[RetentionRequest]:
    """The pending requests the session's principal decides, oldest first."""
    return [r for r in _of_approver(session, limit, pending=True) if may_decide(session, r)]


def for_approver(session: Session, limit: int = 100) -> list[RetentionRequest]:
    """The requests the session's principal is the approver of (pending or decided), newest
    first, of objects they may read."""
    return [r for r in _of_approver(session, limit) if is_approver(session, r)]


def _of_approver(session: Session, limit: int, pending: bool = False) -> list[RetentionRequest]:
    principal = session.principal
    if not principal.has("approve"):
        return []
    requests = _requests(session)
    mine = sa.or_(
        requests.c.approver_user_id == principal.user_id,
        requests.c.approver_role.in_(sorted(principal.roles)),
        sa.and_(
            requests.c.approver_user_id.is_(None),
            requests.c.approver_role.is_(None),
            requests.c.approver_name == principal.username,
        ),
    )
    statement = sa.select(requests).where(mine)
    if pending:
        statement = statement.where(requests.c.status == PENDING).order_by(requests.c.id)
    else:
        statement = statement.order_by(requests.c.id.desc())
    return [_request(row) for row in session.connection.execute(statement.limit(limit)).mappings()]


def waiting_count(session: Session, limit: int = 100) -> int:
    """How many requests wait for the session's principal."""
    return len(waiting(session, limit))


def recent(session: Session, limit: int = 100) -> list[RetentionRequest]:
    """The open requests, and per object the last closed one, newest first (``trellis retention report``)."""
    requests = _requests(session)
    last = (
        sa.select(sa.func.max(requests.c.id))
        .where(requests.c.status.not_in(OPEN))
        .group_by(requests.c.object)
        .scalar_subquery()
    )
    rows = session.connection.execute(
        sa.select(requests)
        .where(sa.or_(requests.c.status.in_(OPEN), requests.c.id.in_(last)))
        .order_by(requests.c.id.desc())
        .limit(limit)
    ).mappings()
    return [_request(row) for row in rows]


def examples(session: Session, current: RetentionRequest, limit: int = EXAMPLES) -> list[Example]:
    """Up to ``limit`` of the request's records as the session's principal may read them (the one
    read path: their scope and hidden fields apply; records gone or out of reach are left out)."""
    obj = session.config.objects.get(current.object)
    if obj is None or session.principal.grant(obj.name).read == "none":
        return []
    items, after = session.schema.system["sys_retention_items"], 0
    found: list[Example] = []
    for _ in range(EXAMPLE_PAGES):  # the first records the viewer may read, a page of ids at a time
        ids = list(
            session.connection.execute(
                sa.select(items.c.record_id)
                .where(items.c.request_id == current.id, items.c.record_id > after)
                .order_by(items.c.record_id)
                .limit(EXAMPLE_POOL)
            ).scalars()
        )
        if not ids:
            break
        records = session.query(obj.name).include_archived().filter(id__in=ids).order_by("id").all()
        found += [Example(record.id, format_title(obj, record)) for record in records[: limit - len(found)]]
        if len(found) >= limit:
            break
        after = ids[-1]
    return found


def _fetch(session: Session, request_id: Any, lock: bool = False) -> RetentionRequest:
    return _request(row_by_id(session.connection, _requests(session), request_id, "retention request", lock))


def _request(row: sa.RowMapping) -> RetentionRequest:
    names = RetentionRequest.__dataclass_fields__
    return RetentionRequest(**{key: row[key] for key in names})


def _requests(session: Session) -> sa.Table:
    return session.schema.system["sys_retention_requests"]


def _log(session: Session, object_name: str, action: str, request_id: int, changes: dict[str, Any]) -> None:
    """An audit entry on the object, of no record: no purge removes it."""
    entry = {"request": [None, request_id], **{key: [None, value] for key, value in changes.items()}}
    session.unit.log_change(
        session.principal, session.channel, action, object_name, None, entry, session.clock().now_utc
    )
