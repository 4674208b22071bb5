"""Sample records of a pipeline reach their stage the way real ones do (``engine.runtime.demo``).

A sample deal in "quote" is not created in "quote": it is created in the first stage and
moved along the main line, one stage at a time, on days spread between its creation and
today (a closed one is closed on its ``close_date``). A lost one leaves the main line at a
random open stage. Each move goes through the write path, so the stage history, the audit
trail, the funnel and the cycle time reports tell the same story as the record.

A field a later stage requires (a quote file, a lost reason) is filled by the move into
that stage, not at creation. A move the write path refuses (a rule, an approval it holds)
ends the journey where the record stands.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.metadata.model import ObjectDef, Pipeline, Stage
from engine.runtime.errors import TrellisError, ValidationFailed

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class Journey:
    """The stages a sample record passes through, what it is created with, and what each
    move adds (``later[i]``: the values the move into ``path[i + 1]`` fills)."""

    path: tuple[Stage, ...]
    created_with: dict[str, Any]
    later: tuple[dict[str, Any], ...] = field(default=())


def plan(obj: ObjectDef, values: Mapping[str, Any], rng: random.Random) -> Journey | None:
    """How a record with ``values`` reaches its stage; None when it starts there (the first
    stage, no pipeline, or a stage off every path)."""
    if obj.pipeline is None:
        return None
    pipeline = obj.pipeline.for_values(values)
    target = pipeline.stage(values.get(pipeline.field))
    path = _path(pipeline, target, rng)
    if len(path) < 2:
        return None
    held: dict[str, Any] = {}
    later: list[dict[str, Any]] = []
    first_gate = {name for stage in pipeline.gate(path[0].key) for name in stage.requires}
    for stage in path[1:]:
        adds = {
            name: values[name]
            for name in stage.requires
            if name not in first_gate and name not in held and values.get(name) is not None
        }
        held.update(adds)
        later.append(adds)
    created_with = {name: value for name, value in values.items() if name not in held}
    created_with[pipeline.field] = path[0].key
    return Journey(path, created_with, tuple(later))


def create_at_start(session: Session, obj: ObjectDef, journey: Journey) -> tuple[Any, Journey]:
    """Create the record in the journey's first stage; returns its id and the journey left.
    A held-back value the write path wants at creation (a rule or a requirement of another
    field) is given at creation instead; any other refusal is raised."""
    while True:
        try:
            return session.create(obj.name, journey.created_with, allow_duplicate=True).id, journey  # no one to warn
        except ValidationFailed as exc:
            wanted = {name for adds in journey.later for name in adds if name in exc.errors}
            if not wanted:
                raise
            journey = Journey(
                journey.path,
                {**journey.created_with, **{n: v for adds in journey.later for n, v in adds.items() if n in wanted}},
                tuple({n: v for n, v in adds.items() if n not in wanted} for adds in journey.later),
            )


def _path(pipeline: Pipeline, target: Stage | None, rng: random.Random) -> tuple[Stage, ...]:
    if target is None:
        return ()
    main = pipeline.main_line
    position = pipeline.position(target.key)
    if position is not None:
        return main[: position + 1]
    open_stages = [s for s in main if not s.is_closed]
    if not open_stages:
        return (target,)
    return (*open_stages[: rng.randint(1, len(open_stages))], target)


def walk(
    session: Session,
    obj: ObjectDef,
    record_id: int,
    journey: Journey,
    start: dt.datetime,
    end: dt.datetime,
    rng: random.Random,
) -> None:
    """Move the record created at ``start`` along ``journey``, on moments between ``start``
    and ``end`` (the last move, when it closes the record, on ``end``)."""
    assert obj.pipeline is not None
    steps = list(zip(journey.path[1:], journey.later, strict=True))
    end = max(end, start + dt.timedelta(hours=len(steps) + 1))
    span = (end - start).total_seconds()
    moments = sorted(start + dt.timedelta(seconds=int(span * rng.uniform(0.05, 0.95))) for _ in steps)
    if steps and steps[-1][0].is_closed:
        moments[-1] = end
    for (stage, adds), moment in zip(steps, moments, strict=True):
        session.backdate = moment
        try:
            moved = session.update(obj.name, record_id, {**adds, obj.pipeline.field: stage.key})
        except TrellisError:
            return
        finally:
            session.backdate = None
        if moved.pending_approval is not None:  # held for a decision: it waits in this stage
            return


def closing_moment(values: Mapping[str, Any], now: dt.datetime, rng: random.Random) -> dt.datetime:
    """When a record reaches its stage: its ``close_date`` (during the working day) when it
    has one in the past, else a few hours before ``now``."""
    close = values.get("close_date")
    if isinstance(close, dt.date) and not isinstance(close, dt.datetime):
        moment = dt.datetime.combine(close, dt.time(rng.randint(1, 9)), tzinfo=dt.UTC)
        if moment < now:
            return moment
    return now - dt.timedelta(hours=rng.randint(1, 5))
