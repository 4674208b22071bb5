"""Checkpoints that keep the worker's sweep of a schedule rule without ``window`` small.

Such a rule (``after: 90d, from: last_activity_at``) may fire for any record whose
``from`` value is old enough, however old; a sweep that looked at all of them would
grow with the history. So after each complete sweep the worker records, per rule,
the due bound it swept to and when (``sys_automation_sweeps``). The next sweep looks
only at records whose ``from`` value lies past that bound, or that were written since
(``updated_at``, less ``GRACE`` for clock skew and transactions still open then) — a
record imported with an old date, unarchived or edited fires at once, as before.

Once a day (the first pass of each day in the company time zone), when the rule's
trigger changed, when the worker is run for an earlier time than its last pass, or
when no checkpoint exists, the sweep is full: it catches what no write announces (an
activity logged with an old date moves ``last_activity_at`` without touching the
account's ``updated_at``). Whatever a sweep looks at, each occurrence fires once: the
run keys decide, the checkpoint only narrows the search.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.model import Automation
from engine.runtime.database import upsert

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

#: Most candidate ids of a checkpointed sweep passed as a list (more: as a subquery).
CANDIDATE_LIST = 5000
#: How far before the last sweep a write still counts as "since": clock skew between the
#: machines, and transactions open during that sweep.
GRACE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Checkpoint:
    """Where the last complete sweep of a rule got to."""

    due: dt.datetime
    swept_at: dt.datetime


def signature(rule: Automation) -> str:
    """What the checkpoint depends on: a changed ``from`` or offset makes the next sweep full."""
    return f"{rule.object}|{rule.trigger.from_field}|{rule.trigger.offset_seconds}"


def load(crm: Runtime, rule: Automation, at: dt.datetime, zone: dt.tzinfo) -> Checkpoint | None:
    """The checkpoint the sweep at ``at`` may start from, or None when it must be full."""
    table = crm.schema.system["sys_automation_sweeps"]
    with crm.engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.rule == rule.name)).mappings().first()
    if row is None or row["signature"] != signature(rule) or at < row["swept_at"]:
        return None
    if row["full_at"].astimezone(zone).date() != at.astimezone(zone).date():
        return None  # the day's full sweep
    return Checkpoint(row["due"], row["swept_at"])


def save(crm: Runtime, rule: Automation, due: dt.datetime, at: dt.datetime, full: bool) -> None:
    """Record a complete sweep of ``rule`` at ``at`` up to ``due``."""
    table = crm.schema.system["sys_automation_sweeps"]
    values = {"signature": signature(rule), "due": due, "swept_at": at}
    with crm.engine.begin() as connection:
        statement = upsert(connection.dialect.name, table).values(rule=rule.name, full_at=at, **values)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["rule"], set_={**values, **({"full_at": at} if full else {})}
            )
        )
