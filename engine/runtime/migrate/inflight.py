"""Waiting, without a lock, for the writers in flight on some PostgreSQL tables to finish.

``CREATE INDEX CONCURRENTLY`` waits so for the transactions that might still write rows it did
not see; ``fixlog.FillAudit.settle`` does the same before it reads which records an apply's
audit rows missed. A writer holds ``ROW EXCLUSIVE`` on a table from its first ``INSERT``,
``UPDATE`` or ``DELETE`` of it until its transaction ends, and takes a new row's id from the
table's sequence while it holds it: once every transaction that held the lock at some moment
has ended, no record with an id handed out before that moment is still uncommitted. Waiting takes
no lock (``pg_locks`` is read every ``POLL`` seconds), so writers that begin meanwhile go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: Seconds between two looks at ``pg_locks``.
POLL = 0.02

_HOLDERS = sa.text(
    "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation' AND granted"
    " AND mode = 'RowExclusiveLock' AND relation = ANY(CAST(:tables AS regclass[]))"
    " AND pid IS DISTINCT FROM pg_backend_pid()"
).bindparams(sa.bindparam("tables", type_=postgresql.ARRAY(sa.Text())))
_RUNNING = sa.text("SELECT count(*) FROM pg_locks WHERE virtualtransaction = ANY(:holders)").bindparams(
    sa.bindparam("holders", type_=postgresql.ARRAY(sa.Text()))
)


def wait_for_writers(conn: sa.Connection, tables: Sequence[str], limit: float) -> bool:
    """Wait until every other transaction writing one of ``tables`` now has ended; False when some
    still run after ``limit`` seconds (a writer kept its transaction open)."""
    holders = list(conn.execute(_HOLDERS, {"tables": list(tables)}).scalars())
    deadline = time.monotonic() + limit
    while holders and conn.execute(_RUNNING, {"holders": holders}).scalar_one():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True
