"""Retention (S1, S40; issue 18 §4): records kept past their object's retention are archived or
purged, after a dry-run report.

A record is past retention when its ``from`` moment (``Retention.from_field``: ``updated_at`` by
default — a record's last change; ``last_activity_at``, ``created_at``, ``stage_entered_at`` or a
date field; a record whose ``from`` is empty counts from ``updated_at``) lies more than ``years``
before now (a date field: before that date in the company time zone).

- ``report``: per object, how many records would go and a few examples; writes nothing.
- ``run``: archives (``Session.archive``: hidden, kept, audited) or purges them. A purge is the
  write path's delete in purge mode (``Session.purge``): the record and its timeline entries
  (activity and task records pointing at it, purged likewise) go through the delete's stages —
  ``deleted`` automation rules and their webhooks fire and see ``purge`` (the policy); no
  approval holds it — and stage ``gone`` removes its stored files (after the commit) and its
  ``sys_*`` rows, the history an ordinary delete keeps included (approvals, automation runs,
  mail threads, campaign recipients; ``engine.runtime.records.remains``). A record other
  records' lookups still point at is kept and counted (``kept``): nothing is deleted behind a
  lookup. Each purged record leaves one audit entry ``purge`` saying which policy removed it,
  with no values. Its earlier audit rows stay: the audit chain hashes them (``audit.verify``), so changing
  or deleting them would break it, and they are the evidence of what was done to the record.

Approval (``Retention.approver``: ``retention.approval`` or ``settings.retention_approval``): a
run archives or purges nothing of such an object by itself; it files a retention request holding
the records due, and once an approver approves it the following runs carry out exactly those
still due and unchanged (``engine.runtime.retention_requests``). ``report`` is the same either way.

Who runs it: ``trellis retention run CONFIG --yes`` (``--dry-run``: the report only), or the
worker on every pass when ``settings.retention_automatic`` is true (``work``, a bounded batch
per object per pass).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import ObjectDef, Retention
from engine.runtime import retention_requests as requests
from engine.runtime.messages import current_language
from engine.runtime.records import remains, writes

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

#: The channel of retention's writes in the audit trail.
CHANNEL = "retention"
#: Records one object loses per run (the worker's pass; the CLI loops until none are left).
BATCH = 500


@dataclass(frozen=True)
class Due:
    """What retention would do to one object: how many records, and a few of them (id, title, moment)."""

    object: str
    policy: Retention
    cutoff: dt.datetime
    count: int
    examples: tuple[tuple[int, str, Any], ...]


@dataclass(frozen=True)
class Outcome:
    """What ``run`` did to one object: records archived or purged, timeline entries purged with
    them, and records kept because other records point at them; or the request it filed or waits for."""

    object: str
    action: str
    done: int
    timeline: int = 0
    kept: int = 0
    #: The retention request (an object whose policy needs approval): ``action`` ``requested``
    #: (filed now, ``done`` records held), ``waiting`` (pending, ``done`` held), ``rejected`` (the
    #: last request, rejected, stands: the due records are the same), or the archive
    #: or purge of the approved request — ``finished`` when none of its records is left.
    request: int | None = None
    approver: str = ""
    finished: bool = False


def cutoff(now: dt.datetime, years: int) -> dt.datetime:
    """``now`` moved back ``years`` years (29 February to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def purge_reason(policy: Retention, now: dt.datetime) -> dict[str, Any]:
    """What a purge under ``policy`` at ``now`` tells the ``deleted`` rules and webhooks as
    ``purge`` (``Session.purge``'s reason): the years, the ``from`` moment and the cutoff date."""
    return {"years": policy.years, "from": policy.from_field, "before": cutoff(now, policy.years).date().isoformat()}


def policies(crm: Runtime) -> list[ObjectDef]:
    """The objects whose records are not kept for ever."""
    return [obj for obj in crm.config.objects.values() if obj.retention is not None]


def _past(session: Session, obj: ObjectDef, policy: Retention, before: dt.datetime) -> sa.ColumnElement[bool]:
    """The records of ``obj`` past ``policy`` at ``before`` (the moment ``years`` ago)."""
    table = session.schema.table(obj.name)
    column = table.c[policy.from_field]
    field = obj.fields.get(policy.from_field)
    bound: Any = before
    if field is not None and field.kind.storage == "date":
        bound = before.astimezone(session.clock().timezone).date()
    condition = column < bound
    if policy.from_field != "updated_at":
        condition = sa.or_(condition, sa.and_(column.is_(None), table.c.updated_at < before))
    if policy.action == "archive":
        condition = sa.and_(condition, table.c.archived_at.is_(None))
    return condition


def report(crm: Runtime, now: dt.datetime | None = None, examples: int = 5) -> list[Due]:
    """Per object with a retention, the records past it now: count and ``examples``. Writes nothing."""
    now = now or crm.clock_now().now_utc
    found = []
    with crm.session(channel=CHANNEL) as session:
        for obj in policies(crm):
            assert obj.retention is not None
            before = cutoff(now, obj.retention.years)
            table = session.schema.table(obj.name)
            condition = _past(session, obj, obj.retention, before)
            count = session.connection.execute(sa.select(sa.func.count()).where(condition)).scalar() or 0
            rows = session.connection.execute(
                sa.select(table.c.id, table.c[obj.retention.from_field])
                .where(condition)
                .order_by(table.c.id)
                .limit(examples)
            ).all()
            titles = session.titles(obj.name, [r[0] for r in rows]) if rows else {}
            shown = tuple((r[0], titles.get(r[0], f"#{r[0]}"), r[1]) for r in rows)
            found.append(Due(obj.name, obj.retention, before, count, shown))
    return found


def run(
    crm: Runtime, now: dt.datetime | None = None, upload_dir: Path | None = None, batch: int = BATCH
) -> list[Outcome]:
    """Archive or purge up to ``batch`` records per object past retention now, each object in one
    transaction; the stored files of purged records are removed after it commits, from the
    runtime's folder (``remains.folder``) and from ``upload_dir`` when given. An object whose
    policy needs approval (``Retention.approver``) goes through its request instead
    (``engine.runtime.retention_requests``): filed, waiting, or carried out once approved."""
    now = now or crm.clock_now().now_utc
    outcomes = []
    with crm.session(channel=CHANNEL) as session:  # an object no longer purged leaves no request open
        requests.withdraw_unheld(session, {obj.name for obj in policies(crm)})
    for obj in policies(crm):
        assert obj.retention is not None
        policy, before = obj.retention, cutoff(now, obj.retention.years)
        outcome: Outcome | None
        with crm.session(channel=CHANNEL) as session:
            if policy.approver is None:
                requests.withdraw(session, obj.name)  # one filed while the policy needed approval
                outcome, keys = _carry_out(
                    session, obj, policy, now, batch, functools.partial(_due_ids, session, obj, before)
                )
            else:
                outcome, keys = _held(session, obj, policy, now, batch)
        if keys and upload_dir is not None:  # the session removed them from the runtime's folder
            remains.remove_files(crm, keys, upload_dir)
        if outcome is not None and (outcome.done or outcome.kept or outcome.request is not None):
            outcomes.append(outcome)
    return outcomes


def _carry_out(
    session: Session,
    obj: ObjectDef,
    policy: Retention,
    now: dt.datetime,
    batch: int,
    due: Callable[[int, int], list[int]],
    reason: dict[str, Any] | None = None,
) -> tuple[Outcome, list[str]]:
    """Archive or purge up to ``batch`` of the records ``due(limit, after)`` gives; the outcome
    and the stored files to remove after the commit."""
    if policy.action == "archive":
        ids = due(batch, 0)
        for record_id in ids:
            session.archive(obj.name, record_id)
        return Outcome(obj.name, "archive", len(ids)), []
    purge, purged, kept, after = Purge(session, reason or purge_reason(policy, now)), 0, 0, 0
    while purged < batch:  # past the records kept (pointed at), which stay due
        ids = due(batch - purged, after)
        if not ids:
            break
        done = len(purge.records(obj, ids))
        purged, kept, after = purged + done, kept + len(ids) - done, ids[-1]
    return Outcome(obj.name, "purge", purged, purge.timeline, kept), purge.keys


def _held(
    session: Session, obj: ObjectDef, policy: Retention, now: dt.datetime, batch: int
) -> tuple[Outcome | None, list[str]]:
    """An object whose retention needs approval: file a request for its due records, say that
    one waits, or carry out the approved one (its records still due and unchanged)."""
    before = cutoff(now, policy.years)
    current = requests.open_request(session, obj.name)
    if current is not None:  # what was asked for and approved: to archive, or to purge
        policy = replace(policy, action=current.action)
    condition = _past(session, obj, policy, before)
    if current is None:
        filed, standing = requests.file(session, obj, policy, before, condition)
        if filed is not None:
            return Outcome(obj.name, "requested", filed.count, request=filed.id, approver=_who(session, filed)), []
        if standing is not None and standing.status == requests.REJECTED:
            return Outcome(
                obj.name, "rejected", standing.count, request=standing.id, approver=_who(session, standing)
            ), []
        return None, []
    if current.status == requests.PENDING:
        return Outcome(obj.name, "waiting", current.count, request=current.id, approver=_who(session, current)), []
    reason = {**purge_reason(policy, now), "request": current.id}
    outcome, keys = _carry_out(
        session,
        obj,
        policy,
        now,
        batch,
        lambda n, a: requests.approved_due(session, current, obj, condition, n, a),
        reason,
    )
    finished = outcome.done < batch
    if finished:
        requests.finish(session, current, obj, condition, outcome.done)
    else:
        requests.progress(session, current, outcome.done)
    return replace(outcome, request=current.id, approver=_who(session, current), finished=finished), keys


def _who(session: Session, current: requests.RetentionRequest) -> str:
    return requests.approver_text(session, current, current_language())


def _due_ids(session: Session, obj: ObjectDef, before: dt.datetime, limit: int, after: int = 0) -> list[int]:
    """Up to ``limit`` ids of ``obj``'s records past its retention at ``before``, above ``after``, in order."""
    assert obj.retention is not None
    table = session.schema.table(obj.name)
    condition = sa.and_(_past(session, obj, obj.retention, before), table.c.id > after)
    return list(
        session.connection.execute(sa.select(table.c.id).where(condition).order_by(table.c.id).limit(limit)).scalars()
    )


def work(crm: Runtime, at: dt.datetime, upload_dir: Path | None = None) -> list[Outcome]:
    """The worker's pass: ``run`` when ``settings.retention_automatic`` is true; else nothing
    (a request still waiting, or one rejected, is left out of what the pass reports)."""
    if not crm.config.settings.retention_automatic or not policies(crm):
        return []
    return [o for o in run(crm, at, upload_dir) if o.action not in ("waiting", "rejected")]  # said once


class Purge:
    """Deleting records past retention with their timeline entries through the write path's
    delete in purge mode (``Session.purge``: its stages run, ``deleted`` rules see ``purge``,
    what the records leave behind goes, one ``purge`` audit entry each naming ``reason``, the
    policy) — in the caller's session. ``keys``: the stored files to remove after the commit."""

    def __init__(self, session: Session, reason: dict[str, Any]) -> None:
        self.session = session
        self.reason = reason
        self.keys: list[str] = []
        self.timeline = 0

    def records(self, obj: ObjectDef, ids: list[int]) -> list[int]:
        """Purge the records ``ids`` of ``obj`` but those other records point at (timeline entries
        aside: they go with them); the ids purged."""
        timeline = list(self._timeline_lookups(obj))
        skip = {(other.name, name) for other, name in timeline}
        ids = [i for i in ids if i not in writes.referenced(self.session, obj, ids, skip)]
        if not ids:
            return []
        for entry, field in timeline:
            table = self.session.schema.table(entry.name)
            children = list(
                self.session.connection.execute(sa.select(table.c.id).where(table.c[field].in_(ids))).scalars()
            )
            self.timeline += len(self.records(entry, children))
        gone = self.session.unit.files_gone
        before = len(gone)
        purged = self.session.purge(obj.name, ids, self.reason)  # an entry kept keeps its record
        self.keys += gone[before:]
        return purged

    def _timeline_lookups(self, obj: ObjectDef) -> Iterable[tuple[ObjectDef, str]]:
        """(object, lookup) of the timeline entries (activities, tasks) attached to ``obj``'s records."""
        for other in self.session.config.objects.values():
            entry = other.activity or other.task
            for name in entry.on if entry is not None else ():
                if other.fields[name].points_to(obj.name):
                    yield other, name
