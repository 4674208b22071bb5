"""Ending web sessions on the server (issue 11).

A web session is a signed cookie: the server keeps no list of them, so a copy
of the cookie would work until it expires. To end sessions anyway, each user
has a *session generation* (``sys_users.session_generation``, NULL counts as
0). A session remembers the generation it started in, and every request
compares it with the user's current one (``webui.ui.auth.load_user``); raising
the generation ends every session the user has, on every device:

- logging out and "sign out everywhere" (web UI, ``trellis user signout``);
- a password change (one's own, or by an admin), disabling the account, a
  change of roles (``Directory.edit``) and a lockout after failed logins
  (``engine.runtime.security.auth``).

Raising it is an SQL expression (``bump``), so it can join the UPDATE a change
makes anyway, in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.runtime.security import audit
from engine.runtime.security.permissions import SYSTEM, Principal, UnknownUser

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: The column of ``sys_users`` holding the generation.
COLUMN = "session_generation"


def bump(users: sa.Table) -> sa.ColumnElement[int]:
    """The SQL value of the next generation: ``coalesce(session_generation, 0) + 1``."""
    return sa.func.coalesce(users.c[COLUMN], 0) + 1


def current(crm: Runtime, user_id: int) -> int | None:
    """The user's generation now (0 when never raised), or None for an unknown user."""
    users = crm.schema.system["sys_users"]
    with crm.engine.connect() as connection:
        row = connection.execute(sa.select(users.c[COLUMN]).where(users.c.id == user_id)).first()
    return None if row is None else row[0] or 0


def end_all(
    crm: Runtime,
    username: str,
    *,
    actor: Principal = SYSTEM,
    channel: str = "cli",
    reason: str = "signed out everywhere",
    **log: Any,
) -> int:
    """End every web session of ``username`` in a transaction of its own; see ``end_sessions``."""
    with crm.engine.connect() as connection, connection.begin():
        return end_sessions(crm, connection, username, actor=actor, channel=channel, reason=reason, **log)


def end_sessions(
    crm: Runtime,
    connection: sa.Connection,
    username: str,
    *,
    actor: Principal = SYSTEM,
    channel: str = "cli",
    reason: str = "signed out everywhere",
    **log: Any,
) -> int:
    """End every web session of ``username`` (raise the generation); returns the new one.

    Writes a ``sessions_ended`` row to the login log (``reason`` as its detail; ``log``
    may give ``ip`` and ``user_agent``) and, unless it is a plain logout, an audit row
    (``user.signout``). Raises UnknownUser.
    """
    users = crm.schema.system["sys_users"]
    now = crm.clock_now().now_utc
    row = connection.execute(
        sa.update(users)
        .where(users.c.username == username)
        .values({COLUMN: bump(users)})
        .returning(users.c.id, users.c[COLUMN])
    ).first()
    if row is None:
        raise UnknownUser.named(username)
    audit.log_login(connection, crm.schema, username, row.id, "sessions_ended", now, detail=reason, **log)
    if reason != "logout":
        audit.log_change(
            connection,
            crm.schema,
            actor,
            channel,
            "user.signout",
            "sys_user",
            row.id,
            {"sessions": ["open", "ended"]},
            now,
        )
    return row[1]
