"""PostgreSQL reads without a transaction, for a web request that only reads (issue 18 §6).

A web page that only reads (``reads_only``: a list, a search, a report) runs its login check and
its page's statements on one connection (``context.SharedRead``). On PostgreSQL in READ
COMMITTED, which Trellis uses, every statement of a transaction reads its own snapshot: the
transaction around them adds nothing to what they see, only its ``BEGIN`` and ``COMMIT`` — two
round trips of a page's seven. ``reading`` hands out a connection in autocommit instead, where
each statement is its own transaction.

What a transaction would still give is a way to undo writes, and a read must not write: a
statement that would write (an INSERT, UPDATE or DELETE, or any text that does not start as a
read) is refused before it reaches the server with ``ReadOnlyWrite`` — as SQLite's
``PRAGMA query_only`` and the replica's ``READ ONLY`` transaction refuse it — and so are rows a
unit of work still holds at the end. Rows a read does write (the access log) go through
``Session.primary_writes``, in a short transaction of their own.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from engine.runtime.records import unit
from engine.runtime.replica import ReadOnlyWrite

#: The first words of the statements a read may run (``WITH``: unless a part of it writes).
READS = frozenset({"SELECT", "SHOW", "EXPLAIN", "VALUES", "WITH"})
_WRITING_PART = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|MERGE\s+INTO)\b", re.IGNORECASE)

#: The connections ``reading`` handed out and that are still open.
_reading: weakref.WeakSet[sa.Connection] = weakref.WeakSet()
_guarded: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


@contextmanager
def reading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection of ``engine`` (PostgreSQL) in autocommit that refuses writes
    (``ReadOnlyWrite``); returned to the pool, it is a plain connection again."""
    if engine not in _guarded:
        _guarded.add(engine)
        sa.event.listen(engine, "before_cursor_execute", _refuse_writes)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        _reading.add(connection)
        try:
            yield connection
            unit.flush_units(connection)  # what a commit would write: refused above
        finally:
            _reading.discard(connection)


def _refuse_writes(
    connection: sa.Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if connection not in _reading:
        return
    compiled = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    first = statement.lstrip(" (\n\t").split(None, 1)[:1]
    word = first[0].upper() if first else ""
    if compiled or word not in READS or (word == "WITH" and _WRITING_PART.search(statement)):
        raise ReadOnlyWrite(statement.strip().splitlines()[0][:200])
