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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.runtime.errors import TrellisError, ValidationFailed
from engine.runtime.workflow import conversion as converting

if TYPE_CHECKING:
    from engine.runtime.demo.story import Story

#: The share of the convertible sample records that are converted.
SHARE = 0.5
#: ``(object, field)`` → a sample value: what a person types into the conversion form for a
#: field the conversion does not fill (a contact's decision role).
Filler = Callable[[str, str], Any]


def convert_some(story: Story, made: dict[str, dict[int, int | None]], fill: Filler) -> dict[str, int]:
    """Convert about ``SHARE`` of the convertible records of ``made`` (object → ids created
    now), at least one when any is convertible, giving what the form asks with ``fill``; returns
    how many each conversion converted."""
    session, rng = story.session, story.rng
    counts: dict[str, int] = {}
    for name, conversion in session.config.conversions.items():
        skipped: list[int] = []
        for record_id in sorted(made.get(conversion.source, {})):
            source = session.get(conversion.source, record_id)
            if source is None or not converting.available(session.config, session.principal, source, session.clock()):
                continue
            if name not in (
                c.name for c in converting.available(session.config, session.principal, source, session.clock())
            ):
                continue
            if rng.random() >= SHARE:
                skipped.append(record_id)
                continue
            if _convert_in_story(story, conversion.source, name, record_id, fill):
                counts[name] = counts.get(name, 0) + 1
        if not counts.get(name) and skipped and _convert_in_story(story, conversion.source, name, skipped[0], fill):
            counts[name] = 1  # the story has one
    return counts


def _convert_in_story(story: Story, source: str, name: str, record_id: int, fill: Filler) -> bool:
    """Convert one record at a moment of the story: some days after it was created."""
    session, rng = story.session, story.rng
    born = story.born.get((source, record_id), story.now - dt.timedelta(days=30))
    latest = story.now - dt.timedelta(hours=2)
    moment = min(born + dt.timedelta(days=rng.randint(1, 21), hours=rng.randint(0, 8)), latest)
    session.backdate = max(moment, born)
    try:
        return _convert(session, name, record_id, fill)
    finally:
        session.backdate = None


def _convert(session: Any, name: str, record_id: int, fill: Filler) -> bool:
    """Convert one record, filling the fields the write path asks for (``target.field``
    errors) as a person would in the form; False when it stays unconverted."""
    conversion = session.config.conversions[name]
    targets = {t.name: t.object for t in conversion.targets}
    given: dict[str, dict[str, Any]] = {}
    for _attempt in range(3):
        try:
            with session.connection.begin_nested():
                converting.convert(session, name, record_id, overrides=given, allow_duplicate=True)
            return True
        except ValidationFailed as exc:
            missing = [key.split(".", 1) for key in exc.errors if "." in key and key.split(".", 1)[0] in targets]
            if not missing:
                return False
            for target, field in missing:
                value = fill(targets[target], field)
                if value is None:
                    return False
                given.setdefault(target, {})[field] = value
        except TrellisError:
            return False
    return False
