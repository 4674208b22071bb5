"""What a load balancer asks: is this process ready to serve (``/readyz``)?

Readiness is a registry of named checks (``CHECKS``), each a function of the ``Runtime``
answering a ``Check`` (passed or not, and a short sentence for the operator — never a
secret, a URL or record data). The built-in ones:

- ``database``: the database answers ``SELECT 1``;
- ``config_version``: the database is at the config this process serves (``Runtime.check_database``;
  the web app looks again every few seconds, so a process whose config another process's
  ``trellis apply`` replaced turns unready with its 503s until it is restarted — see "Upgrading"
  in docs/operations.md);
- ``worker``: a ``trellis worker`` finished a pass within ``TRELLIS_READY_WORKER_MAX_AGE``
  seconds (default 300; ``0`` leaves the check out). Each worker process writes its last pass
  time to ``sys_worker_heartbeats`` under ``hostname:pid`` (``beat``).

- ``replica``: with a read replica (``engine.runtime.replica``), where reads go and how far the
  replica is behind; it always passes, since a replica that lags or is down sends the reads to
  the primary instead of stopping the process.

Another part joins with ``register(name, check)``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime import migrate, replica
from engine.runtime.database import read_only, upsert

if TYPE_CHECKING:
    from engine.runtime.context import Runtime

log = logging.getLogger("trellis.health")

#: Seconds since a worker's last pass past which ``/readyz`` says no worker runs.
DEFAULT_WORKER_MAX_AGE = 300
#: Heartbeats older than this many seconds are removed by the next worker's beat.
FORGET_AFTER = 7 * 24 * 3600


@dataclass(frozen=True)
class Check:
    """One check's answer: its name, whether it passed, and a sentence for the operator."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        """The check as ``/readyz`` shows it."""
        return {"ok": self.ok, "detail": self.detail}


#: A readiness check: the runtime in, its answer out (``None``: not applicable here, left out).
ReadinessCheck = Callable[["Runtime"], "Check | None"]

#: The readiness checks by name, in the order they run.
CHECKS: dict[str, ReadinessCheck] = {}


def register(name: str, check: ReadinessCheck) -> None:
    """Add (or replace) the readiness check ``name``."""
    CHECKS[name] = check


def readiness(crm: Runtime) -> list[Check]:
    """Every registered check's answer; a check that raises fails with the exception's kind."""
    answers = []
    for name, check in CHECKS.items():
        try:
            answer = check(crm)
        except Exception as exc:  # noqa: BLE001 - a broken check must say so, not break the probe
            log.warning("readiness check %s failed: %s", name, exc)
            answer = Check(name, False, f"the check failed: {type(exc).__name__}")
        if answer is not None:
            answers.append(answer)
    return answers


def _database(crm: Runtime) -> Check:
    try:
        with read_only(crm.engine) as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        return Check("database", False, f"the database cannot be reached ({type(exc.orig).__name__})")
    return Check("database", True, "the database answers")


def _config_version(crm: Runtime) -> Check:
    try:
        crm.check_database()  # as the web app's requests do (a query at most every few seconds)
    except migrate.DatabaseOutOfDate:  # its sentence names the config's path: not for anonymous callers
        return Check(
            "config_version", False, "the database is not at the config served: run `trellis plan`, `trellis apply`"
        )
    except sa.exc.DBAPIError:
        return Check("config_version", False, "not checked: the database cannot be reached")
    return Check("config_version", True, "the database is at the config served")


def worker_max_age() -> int:
    """``TRELLIS_READY_WORKER_MAX_AGE`` in seconds (default 300; 0 turns the check off)."""
    raw = os.environ.get("TRELLIS_READY_WORKER_MAX_AGE", "").strip()
    try:
        return max(int(raw), 0) if raw else DEFAULT_WORKER_MAX_AGE
    except ValueError:
        log.warning("TRELLIS_READY_WORKER_MAX_AGE=%r is not a whole number of seconds; using %s", raw, 300)
        return DEFAULT_WORKER_MAX_AGE


def _worker(crm: Runtime) -> Check | None:
    max_age = worker_max_age()
    if not max_age:
        return None
    last = last_pass(crm)
    if last is None:
        return Check("worker", False, "no worker has finished a pass (start `trellis worker`)")
    age = (wall_clock() - last).total_seconds()
    if age > max_age:
        return Check("worker", False, f"the last worker pass was {int(age)} s ago (more than {max_age} s)")
    return Check("worker", True, f"the last worker pass was {max(int(age), 0)} s ago")


def _replica(crm: Runtime) -> Check | None:
    words = replica.sentence(crm)
    return None if words is None else Check("replica", True, words)


register("database", _database)
register("config_version", _config_version)
register("worker", _worker)
register("replica", _replica)


# --- the worker's heartbeat ---------------------------------------------------------------------------
def worker_name() -> str:
    """This process as its heartbeat names it: ``hostname:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def wall_clock() -> dt.datetime:
    """The real time (UTC): heartbeats are about when a process lived, not the time a worker runs
    for (``trellis worker --at``) or a test's clock."""
    return dt.datetime.now(dt.UTC)


def beat(crm: Runtime, at: dt.datetime | None = None) -> None:
    """Record that this worker process finished a pass at ``at`` (default now, ``wall_clock``), and
    forget the heartbeats of processes silent for a week."""
    at = at or wall_clock()
    table = crm.schema.system["sys_worker_heartbeats"]
    with crm.engine.begin() as connection:
        statement = upsert(connection.dialect.name, table).values(worker=worker_name(), last_pass_at=at)
        connection.execute(statement.on_conflict_do_update(index_elements=["worker"], set_={"last_pass_at": at}))
        connection.execute(sa.delete(table).where(table.c.last_pass_at < at - dt.timedelta(seconds=FORGET_AFTER)))


def last_pass(crm: Runtime) -> dt.datetime | None:
    """When any worker last finished a pass (None: never)."""
    table = crm.schema.system["sys_worker_heartbeats"]
    with read_only(crm.engine) as connection:
        query = sa.select(table.c.last_pass_at).order_by(table.c.last_pass_at.desc()).limit(1)
        return connection.execute(query).scalar()
