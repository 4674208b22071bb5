"""Lists of records by how they moved through their pipeline (a funnel's drill-down).

``moved_to=quote`` keeps the records that have a stage-history move into ``quote``;
``moved_from=a,b`` narrows it to moves out of one of those stages, ``moved_during=this_quarter``
to moves in that relative range (the company time zone). The three describe one and the same
move: ``moved_from=quote&moved_to=lost&moved_during=this_month`` lists the records lost from
"quote" this month — what a funnel counts (``engine.runtime.reports.funnel``).

It reads ``sys_stage_history`` for the records of the caller's ``Query`` only (its scope and
filters stay), and only when the caller may see the stage field: the history says which stage
a record was in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.filters import PERIODS
from engine.runtime import periods
from engine.runtime.errors import QueryError
from engine.runtime.messages import current_language, message

if TYPE_CHECKING:
    from engine.runtime.records.query import Query

#: The list parameters of a move (``ListParams.moved``), in the order they are written.
PARAMETERS = ("moved_to", "moved_from", "moved_during")


@dataclass(frozen=True)
class Moved:
    """One move a record made: into one of ``to`` (empty: any stage), out of one of ``from_``
    (empty: from anywhere, its creation included), during the relative range ``during``."""

    to: tuple[str, ...] = ()
    from_: tuple[str, ...] = ()
    during: str = ""

    @classmethod
    def of(cls, values: dict[str, str]) -> Moved | None:
        """The move the list parameters describe; None when they name none."""
        if not any(values.get(name) for name in PARAMETERS):
            return None

        def stages(name: str) -> tuple[str, ...]:
            return tuple(part.strip() for part in values.get(name, "").split(",") if part.strip())

        return cls(stages("moved_to"), stages("moved_from"), values.get("moved_during", ""))

    def args(self) -> dict[str, str]:
        """The list parameters that read back into this move."""
        return {
            "moved_to": ",".join(self.to),
            "moved_from": ",".join(self.from_),
            "moved_during": self.during,
        }


def condition(query: Query, moved: Moved) -> sa.ColumnElement[bool]:
    """``EXISTS`` a stage-history row of the query's record that is this move; a
    ``QueryError`` for an object without a pipeline, a stage field hidden from the caller, an
    unknown stage or period."""
    obj, language = query.obj, current_language()
    pipeline = obj.pipeline
    if pipeline is None:
        raise QueryError(message("moved.no_pipeline", language, object=obj.label.get(language)))
    if not query.session.principal.can_see(obj.name, pipeline.field):
        raise QueryError(message("moved.hidden", language))
    keys = [s.key for s in pipeline.all_stages()]
    for stage in (*moved.to, *moved.from_):
        if stage not in keys:
            raise QueryError(message("moved.bad_stage", language, value=stage[:40], stages=", ".join(keys)))
    if moved.during and moved.during not in PERIODS:
        raise QueryError(message("moved.bad_period", language, periods=", ".join(PERIODS), value=moved.during[:40]))
    history = query.session.schema.system["sys_stage_history"]
    where = [history.c.object == obj.name, history.c.record_id == query.table.c.id]
    where += _in(history.c.to_stage, moved.to) + _in(history.c.from_stage, moved.from_)
    if moved.during:
        clock = query.session.clock()
        start, end = periods.period_range(moved.during, clock.today())
        where += [
            history.c.at >= periods.local_midnight(start, clock.timezone),
            history.c.at < periods.local_midnight(end, clock.timezone),
        ]
    return sa.exists(sa.select(history.c.id).where(*where))


def _in(column: sa.Column, stages: Sequence[str]) -> list[sa.ColumnElement[bool]]:
    return [column.in_(stages)] if stages else []
