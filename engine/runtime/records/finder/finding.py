"""Running the finder: ``find`` (``trellis duplicates find``), ``queue`` (the web's "Find duplicates")
and ``work`` (``trellis worker`` runs what the web queued).

A run scans each rule of the object (or the one asked for) on one connection
(``scan.scan``), then stores each rule's groups in place of the ones before, in one transaction
(``store.replace_groups``), and records what it did in ``sys_dup_runs``. Who may start one from
the web: a holder of the ``merge`` grant on the object (the groups are there to be merged); the
worker checks that its user still holds it when the run starts.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.errors import did_you_mean
from engine.metadata.model import DuplicateRule, ObjectDef
from engine.runtime.database import read_only
from engine.runtime.errors import TrellisError, UnknownObject
from engine.runtime.imports.queue import worker_name
from engine.runtime.messages import localized
from engine.runtime.records.finder import runs, store
from engine.runtime.records.finder.scan import MAX_BLOCK, scan
from engine.runtime.security.permissions import PermissionDenied

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

log = logging.getLogger("trellis.duplicates")

#: How long a worker holds a run between two chunks before another may take it on.
LEASE = dt.timedelta(seconds=120)


class FinderRefused(TrellisError):
    """The finder cannot run as asked (an object without rules, an unknown rule)."""

    def __init__(self, code: str, english: str, params: dict[str, object]) -> None:
        self.code = code
        super().__init__(localized(code, english, params))


@dataclass
class Found:
    """What a run found, over its rules."""

    run_id: int
    object: str
    rules: list[str]
    records: int = 0
    pairs: int = 0
    groups: int = 0
    duplicates: int = 0
    skipped_blocks: int = 0
    seconds: float = 0.0
    per_rule: dict[str, tuple[int, int]] = field(default_factory=dict)


def rules_of(obj: ObjectDef, rule: str | None) -> list[DuplicateRule]:
    """The rules a run over ``obj`` uses: all of them, or the one named (FinderRefused otherwise)."""
    if not obj.duplicates:
        raise FinderRefused(
            "finder.no_rules",
            f"{obj.name} declares no duplicate rules; add `duplicates:` to it in the config first.",
            {"object": obj.name},
        )
    if rule is None:
        return list(obj.duplicates)
    names = [r.name for r in obj.duplicates]
    if rule not in names:
        hint = did_you_mean(rule, names) or f"use one of: {', '.join(names)}"
        raise FinderRefused(
            "finder.unknown_rule",
            f"{obj.name} has no duplicate rule {rule!r}; {hint}.",
            {"object": obj.name, "rule": rule, "rules": ", ".join(names)},
        )
    return [r for r in obj.duplicates if r.name == rule]


def _object(crm: Runtime, name: str) -> ObjectDef:
    obj = crm.config.objects.get(name)
    if obj is None:
        raise UnknownObject(name, list(crm.config.objects))
    return obj


def find(crm: Runtime, object_name: str, rule: str | None = None, max_block: int = MAX_BLOCK) -> Found:
    """Scan ``object_name`` by its rules (or ``rule``) now, store the groups and record the run."""
    obj = _object(crm, object_name)
    chosen = rules_of(obj, rule)
    with crm.engine.begin() as connection:
        run_id = runs.start(connection, crm.schema, obj.name, rule, None, "system", crm.clock_now().now_utc, False)
    return _run(crm, run_id, obj, chosen, max_block)


def _run(
    crm: Runtime,
    run_id: int,
    obj: ObjectDef,
    rules: list[DuplicateRule],
    max_block: int,
    keep: Callable[[], None] | None = None,
    reader: str | None = None,
) -> Found:
    """Scan and store each rule's groups; the run is finished as done, or failed on an error. The
    scan reads where ``Runtime.read_connection`` says for ``reader`` (who queued the run: on the
    primary until the replica has their last write, the queueing included)."""
    found = Found(run_id, obj.name, [r.name for r in rules])
    began = time.perf_counter()
    try:
        for rule in rules:
            with read_only(crm.engine) as connection:  # the primary: a pair dismissed a moment ago stays so
                dismissed = store.dismissed_pairs(connection, crm.schema, obj.name)
            with crm.read_connection(reader) as connection:  # the replica when one is set; SQLite: beside the lease
                result = scan(connection, crm.schema, obj, rule, dismissed, max_block, keep)
            with crm.engine.begin() as connection:
                now = crm.clock_now().now_utc
                store.replace_groups(connection, crm.schema, obj.name, rule.name, result.groups, run_id, now)
            found.records = max(found.records, result.records)
            found.pairs += result.pairs
            found.groups += len(result.groups)
            found.duplicates += sum(len(g.members) for g in result.groups)
            found.skipped_blocks += result.skipped_blocks
            found.per_rule[rule.name] = (len(result.groups), result.skipped_blocks)
    except BaseException as exc:
        with crm.engine.begin() as connection:
            message = localized("finder.failed", "The search stopped on an error; see the server log.", {})
            runs.finish(connection, crm.schema, run_id, runs.FAILED, crm.clock_now().now_utc, message=message)
        if isinstance(exc, Exception):
            log.exception("duplicate finder run %s over %s failed", run_id, obj.name)
        raise
    found.seconds = time.perf_counter() - began
    with crm.engine.begin() as connection:
        runs.finish(
            connection,
            crm.schema,
            run_id,
            runs.DONE,
            crm.clock_now().now_utc,
            records=found.records,
            pairs=found.pairs,
            groups=found.groups,
            duplicates=found.duplicates,
            skipped_blocks=found.skipped_blocks,
            seconds=round(found.seconds, 3),
        )
    return found


def check_may_find(session: Session, obj: ObjectDef) -> None:
    """The finder's groups are for those who may merge: the ``merge`` grant on the object."""
    if not session.principal.grant(obj.name).merge_:
        raise PermissionDenied(
            localized(
                "finder.no_grant",
                f"You may not look for duplicate {obj.label.get()} records; ask for the merge permission.",
                {"object": obj.label.get()},
            )
        )


def queue(session: Session, object_name: str, rule: str | None = None) -> runs.Run:
    """Queue a run over ``object_name`` for ``trellis worker`` as the session's user (the ``merge``
    grant); an open run of the object is returned instead of a second one."""
    obj = session.object(object_name)
    check_may_find(session, obj)
    rules_of(obj, rule)
    latest = runs.latest(session.connection, session.schema, obj.name)
    if latest is not None and latest.open:
        return latest
    now = session.clock().now_utc
    principal = session.principal
    run_id = runs.start(
        session.connection, session.schema, obj.name, rule, principal.user_id, principal.username, now, True
    )
    found = runs.get(session.connection, session.schema, run_id)
    assert found is not None
    return found


def work(crm: Runtime, seconds: float | None = None, owner: str | None = None) -> int:
    """Run queued runs, each to its end, until none is left or ``seconds`` have passed (None: no
    limit; 0: one run at most); the number run."""
    owner = owner or worker_name()
    deadline = None if seconds is None else time.monotonic() + seconds
    done = 0
    while done == 0 or deadline is None or time.monotonic() < deadline:
        now = crm.clock_now().now_utc
        with crm.engine.begin() as connection:
            run_id = runs.claim(connection, crm.schema, owner, now, now + LEASE)
            run = runs.get(connection, crm.schema, run_id) if run_id is not None else None
        if run is None:
            break
        done += 1
        _run_queued(crm, run, owner)
    return done


def _run_queued(crm: Runtime, run: runs.Run, owner: str) -> None:
    def keep() -> None:
        with crm.engine.begin() as connection:
            runs.renew(connection, crm.schema, run.id, owner, crm.clock_now().now_utc + LEASE)

    try:
        obj = _object(crm, run.object)
        rules = rules_of(obj, run.rule)
        with crm.session(run.user_id) as session:  # the user may have lost the grant since
            check_may_find(session, obj)
    except TrellisError as refused:
        with crm.engine.begin() as connection:
            runs.finish(connection, crm.schema, run.id, runs.FAILED, crm.clock_now().now_utc, message=str(refused))
        return
    try:
        _run(crm, run.id, obj, rules, MAX_BLOCK, keep, reader=run.username)
    except sa.exc.DBAPIError:
        raise  # the database is away: the worker tries again later
    except Exception:  # noqa: BLE001 - recorded as failed by _run; the worker goes on
        return
