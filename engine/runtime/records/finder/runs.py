"""The finder's runs (``sys_dup_runs``): one row per run, with what it found.

A run of ``trellis duplicates find`` is written when it starts and finished when it ends; a run
started from the web is queued and ``trellis worker`` takes it with a lease, as it takes queued
imports (``claim`` is a conditional update, so two workers never run one; a worker that dies lets
its lease run out and another runs the job again from the start).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.runtime.tables import Schema

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Runs that have not ended.
OPEN = (QUEUED, RUNNING)


@dataclass(frozen=True)
class Run:
    """One run of the finder over an object (``rule`` None: all its rules)."""

    id: int
    object: str
    rule: str | None
    status: str
    queued: bool
    user_id: int | None
    username: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    records: int | None
    pairs: int | None
    groups: int | None
    duplicates: int | None
    skipped_blocks: int | None
    seconds: float | None
    message: str | None

    @property
    def open(self) -> bool:
        """Whether the run is waiting or running."""
        return self.status in OPEN


_FIELDS = [f for f in Run.__dataclass_fields__]


def _run(row: Any) -> Run:
    return Run(**{name: row[name] for name in _FIELDS})


def _table(schema: Schema) -> sa.Table:
    return schema.system["sys_dup_runs"]


def start(
    connection: sa.Connection,
    schema: Schema,
    object_name: str,
    rule: str | None,
    user_id: int | None,
    username: str,
    now: dt.datetime,
    queued: bool,
) -> int:
    """A new run (queued for the worker, or running now); its id."""
    table = _table(schema)
    values = {
        "object": object_name,
        "rule": rule,
        "status": QUEUED if queued else RUNNING,
        "queued": queued,
        "user_id": user_id,
        "username": username[:100],
        "created_at": now,
        "started_at": None if queued else now,
    }
    return int(connection.execute(sa.insert(table).values(**values).returning(table.c.id)).scalar_one())


def get(connection: sa.Connection, schema: Schema, run_id: int) -> Run | None:
    """The run ``run_id``, or None."""
    table = _table(schema)
    row = connection.execute(sa.select(table).where(table.c.id == run_id)).mappings().first()
    return _run(row) if row is not None else None


def latest(connection: sa.Connection, schema: Schema, object_name: str) -> Run | None:
    """The latest run over ``object_name`` (an open one first: the one the page waits for)."""
    table = _table(schema)
    order = [sa.case((table.c.status.in_(OPEN), 0), else_=1), table.c.id.desc()]
    row = connection.execute(sa.select(table).where(table.c.object == object_name).order_by(*order).limit(1))
    found = row.mappings().first()
    return _run(found) if found is not None else None


def claim(connection: sa.Connection, schema: Schema, owner: str, now: dt.datetime, until: dt.datetime) -> int | None:
    """Take the oldest queued run without a live lease for ``owner`` until ``until``; its id or None."""
    table = _table(schema)
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    candidates = connection.execute(
        sa.select(table.c.id)
        .where(table.c.queued.is_(True), table.c.status.in_(OPEN), free)
        .order_by(table.c.id)
        .limit(5)
    ).scalars()
    for run_id in list(candidates):
        taken = connection.execute(
            sa.update(table)
            .where(table.c.id == run_id, table.c.status.in_(OPEN), free)
            .values(lease_owner=owner, lease_until=until, status=RUNNING, started_at=now)
        ).rowcount
        if taken == 1:
            return int(run_id)
    return None


def renew(connection: sa.Connection, schema: Schema, run_id: int, owner: str, until: dt.datetime) -> None:
    """Keep ``owner``'s lease on the run until ``until``."""
    table = _table(schema)
    connection.execute(
        sa.update(table).where(table.c.id == run_id, table.c.lease_owner == owner).values(lease_until=until)
    )


def finish(
    connection: sa.Connection, schema: Schema, run_id: int, status: str, now: dt.datetime, **counts: Any
) -> None:
    """End the run as ``status`` with its counts (``records``, ``groups``…, ``message``)."""
    table = _table(schema)
    connection.execute(
        sa.update(table).where(table.c.id == run_id).values(status=status, finished_at=now, lease_until=None, **counts)
    )
