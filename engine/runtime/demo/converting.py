"""Some sample leads become customers, the way people convert them (``engine.runtime.demo``).

After the sample records exist, about half of the sample records each conversion may convert
(a lead whose status allows it) are converted with ``engine.runtime.workflow.conversion.convert``
— the write path that creates the account, contact and deal, links them and marks the lead — on
a day a little after the lead came in. The conversion report, the lead's "converted to" links
and the new customers' history then tell one story. A conversion the write path refuses (a
rule, a duplicate) is left undone.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from engine.runtime.errors import TrellisError
from engine.runtime.workflow import conversion as converting

if TYPE_CHECKING:
    from engine.runtime.demo.story import Story

#: The share of the convertible sample records that are converted.
SHARE = 0.5


def convert_some(story: Story, made: dict[str, dict[int, int | None]]) -> dict[str, int]:
    """Convert about ``SHARE`` of the convertible records of ``made`` (object → ids created
    now); returns how many each conversion converted."""
    session, rng = story.session, story.rng
    counts: dict[str, int] = {}
    for name, conversion in session.config.conversions.items():
        for record_id in sorted(made.get(conversion.source, {})):
            source = session.get(conversion.source, record_id)
            if source is None or not converting.available(session.config, session.principal, source, session.clock()):
                continue
            if name not in (
                c.name for c in converting.available(session.config, session.principal, source, session.clock())
            ):
                continue
            if rng.random() >= SHARE:
                continue
            born = story.born.get((conversion.source, record_id), story.now - dt.timedelta(days=30))
            latest = story.now - dt.timedelta(hours=2)
            moment = min(born + dt.timedelta(days=rng.randint(1, 21), hours=rng.randint(0, 8)), latest)
            session.backdate = max(moment, born)
            try:
                with session.connection.begin_nested():
                    converting.convert(session, name, record_id, allow_duplicate=True)
                counts[name] = counts.get(name, 0) + 1
            except TrellisError:
                continue
            finally:
                session.backdate = None
    return counts
