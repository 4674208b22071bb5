"""Who must not be e-mailed (issue 16 §3): the one check every e-mail passes.

An address is suppressed when it is in ``sys_suppressions`` (it unsubscribed through a
campaign's link, or a channel suppressed it) or when a record holding it in an e-mail field has
``do_not_email`` set (a boolean field of that name, ``DO_NOT_EMAIL``). ``email_suppressed`` is
asked by ``engine.runtime.jobs.notify.enqueue`` for every e-mail written to the outbox — a
campaign's, an automation's to a field address, a notification's — so an e-mail to a suppressed
address is kept in the outbox as ``suppressed`` and never sent. ``suppressed`` answers for many
addresses at once (one statement); ``suppress`` adds an address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.campaigns import email_fields
from engine.runtime.database import upsert

if TYPE_CHECKING:
    from engine.metadata.model import Config
    from engine.runtime.records.session import Session
    from engine.runtime.tables import Schema

#: The boolean field that marks a record's addresses as not to be e-mailed.
DO_NOT_EMAIL = "do_not_email"
#: Addresses asked about per statement.
CHUNK = 500


def email_suppressed(session: Session, address: str) -> bool:
    """Whether no e-mail may go to ``address`` (any channel; see the module's description)."""
    return bool(address) and bool(suppressed(session, [address]))


def suppressed(session: Session, addresses: Iterable[str]) -> set[str]:
    """The addresses of ``addresses`` (lower-cased) that no e-mail may go to."""
    return suppressed_among(session.config, session.schema, session.connection, addresses)


def suppressed_among(config: Config, schema: Schema, connection: sa.Connection, addresses: Iterable[str]) -> set[str]:
    """``suppressed`` outside a session: the outbox's delivery asks it once per batch it claims."""
    wanted = sorted({a.strip().lower() for a in addresses if a and a.strip()})
    found: set[str] = set()
    table = schema.system["sys_suppressions"]
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        parts: list[sa.Select] = [sa.select(table.c.address.label("address")).where(table.c.address.in_(chunk))]
        for obj in config.objects.values():
            flag = obj.fields.get(DO_NOT_EMAIL)
            if flag is None or flag.type != "boolean":
                continue
            records = schema.table(obj.name)
            for name in email_fields(obj):
                column = sa.func.lower(records.c[name])
                parts.append(
                    sa.select(column.label("address")).where(column.in_(chunk), records.c[DO_NOT_EMAIL].is_(True))
                )
        statement = sa.union(*parts) if len(parts) > 1 else parts[0]
        found.update(row.address for row in connection.execute(statement))
    return found


def suppress(session: Session, address: str, reason: str) -> None:
    """Add ``address`` to the suppression list (``reason``: unsubscribed, bounced…), once."""
    table = session.schema.system["sys_suppressions"]
    statement = upsert(session.connection.dialect.name, table).values(
        address=address.strip().lower()[:254], reason=reason[:40], at=session.clock().now_utc
    )
    session.connection.execute(statement.on_conflict_do_nothing(index_elements=["address"]))
