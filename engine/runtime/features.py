"""The features of the one write path, in the order their hooks run at each stage.

Each feature is one ``engine.runtime.records.stages.Feature`` object kept with its module, naming
the stages it joins. This list is the only place that names them for the write path; the order
matters where two features join one stage: at ``validate`` the pipeline finds the stage move that
approvals look at, and at ``after`` the timeline and the stage history come before assignment,
which comes before automation (rules see the owner assignment chose).
"""

from __future__ import annotations

from engine.runtime.records import duplicates, files, remains
from engine.runtime.records.stages import Feature, WriteStages
from engine.runtime.security import audit
from engine.runtime.workflow import approvals, assignment, automation, converted, pipeline, scoring, timeline

#: The built-in features, in order.
FEATURES: tuple[Feature, ...] = (
    converted.FEATURE,
    timeline.FEATURE,
    pipeline.FEATURE,
    scoring.FEATURE,
    approvals.FEATURE,
    files.FEATURE,
    duplicates.FEATURE,
    remains.FEATURE,
    audit.FEATURE,
    assignment.FEATURE,
    automation.FEATURE,
)


def write_stages() -> WriteStages:
    """A registry of the built-in features (each ``Runtime`` has its own: ``Runtime.stages``)."""
    return WriteStages(FEATURES)
