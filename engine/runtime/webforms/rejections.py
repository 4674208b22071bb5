"""Spam kept for review (``sys_form_rejections``): a web form's refused submissions with their
reason, time, address and values — never dropped silently.

``reject`` records one (its own transaction: the visitor's request writes nothing else);
``listing`` and ``accept`` are for users holding ``manage_config`` (``PermissionDenied``
otherwise): the page of rejections, newest first, and "accept anyway", which writes the
submission through ``submit.write`` as the form's user on its channel (the same duplicates,
assignment and automation as a visitor's) and marks the row accepted with the record and the
admin — in one transaction, so a submission the write path refuses stays rejected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.runtime.errors import NotFound, TrellisError
from engine.runtime.messages import localized
from engine.runtime.security.permissions import PermissionDenied
from engine.runtime.webforms.submit import CHANNEL, Accepted, Submission, as_form, write

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

TABLE = "sys_form_rejections"
#: Why a submission was refused; each a message ``webform.reason.<code>``.
REASONS = ("honeypot", "too_fast", "bad_token", "challenge", "rate_limited", "too_large", "origin")
#: The permission reviewing spam needs.
PERMISSION = "manage_config"
#: The largest text kept of one value (the request's size limit bounds the rest).
MAX_KEPT = 2000


class AlreadyDecided(TrellisError):
    """The rejection was accepted already."""

    code = "already_decided"


@dataclass(frozen=True)
class Rejection:
    """One refused submission as an admin reviews it."""

    id: int
    form: str
    reason: str
    ip: str | None
    submitted: dict[str, Any]
    captured: dict[str, str]
    received_at: dt.datetime
    status: str
    record_id: int | None


def reject(
    crm: Runtime, form: str, reason: str, submitted: dict[str, Any], captured: dict[str, str], ip: str | None
) -> int:
    """Record a refused submission of ``form`` (``reason`` one of ``REASONS``); its id."""
    kept = {k: _kept(v) for k, v in list(submitted.items())[:100]}
    with crm.engine.begin() as connection:
        table = crm.schema.system[TABLE]
        row = connection.execute(
            table.insert().returning(table.c.id),
            {
                "form": form[:100],
                "reason": reason,
                "ip": (ip or "")[:64] or None,
                "submitted": kept,
                "captured": {k: _kept(v) for k, v in captured.items()},
                "received_at": crm.clock_now().now_utc,
                "status": "rejected",
            },
        )
        return int(row.scalar_one())


def _kept(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v)[:MAX_KEPT] for v in value[:50]]
    return str(value)[:MAX_KEPT]


def require(session: Session) -> None:
    """Refuse callers without ``manage_config``."""
    if not session.principal.has(PERMISSION):
        raise PermissionDenied(localized("forbidden.manage_config", "This needs the manage_config permission."))


def listing(
    session: Session, status: str = "rejected", page: int = 1, per_page: int = 50
) -> tuple[list[Rejection], bool]:
    """One page of rejections with ``status``, newest first, and whether older ones follow."""
    require(session)
    table = session.schema.system[TABLE]
    rows = session.connection.execute(
        sa.select(table)
        .where(table.c.status == status)
        .order_by(table.c.received_at.desc(), table.c.id.desc())
        .limit(per_page + 1)
        .offset((max(page, 1) - 1) * per_page)
    ).mappings()
    found = [_rejection(r) for r in rows]
    return found[:per_page], len(found) > per_page


def _rejection(row: Any) -> Rejection:
    return Rejection(
        row["id"],
        row["form"],
        row["reason"],
        row["ip"],
        dict(row["submitted"] or {}),
        dict(row["captured"] or {}),
        row["received_at"],
        row["status"],
        row["record_id"],
    )


def accept(crm: Runtime, admin: str | int, rejection_id: int) -> Accepted:
    """Write a rejected submission anyway (see the module docstring); raises ``NotFound`` for
    an unknown row or a form no longer in the config, ``AlreadyDecided``, ``ValidationFailed``."""
    with crm.session(user=admin, channel="web") as admin_session:
        require(admin_session)
        admin_id = admin_session.principal.user_id
    table = crm.schema.system[TABLE]
    with crm.engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.id == rejection_id)).mappings().first()
    if row is None:
        raise NotFound(TABLE, rejection_id)
    found = _rejection(row)
    form = crm.config.forms.get(found.form)
    if form is None:
        raise NotFound("form", found.form)
    if found.status != "rejected":
        raise AlreadyDecided(localized("webform.already_accepted", "This submission was accepted already."))
    with crm.session(user=form.user, channel=CHANNEL) as session:
        done = write(as_form(session, form), form, Submission(found.submitted, found.captured, found.ip))
        claimed = session.connection.execute(
            table.update()
            .where(table.c.id == rejection_id, table.c.status == "rejected")
            .values(
                status="accepted",
                record_id=done.record_id,
                decided_by=admin_id,
                decided_at=crm.clock_now().now_utc,
            )
        )
        if claimed.rowcount != 1:  # accepted meanwhile by another admin: this write is rolled back
            raise AlreadyDecided(localized("webform.already_accepted", "This submission was accepted already."))
    return done
