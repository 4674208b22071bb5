"""Drop what the semantic checks report about parts the schema already refused.

When the JSON Schema finds problems the compiler still runs (``Compiler.tolerant``), so
that one bad type does not hide an unknown field in a formula elsewhere. What it then
says about a refused part is a second report of the same problem: an issue inside the
*unit* of a schema issue (a field, a stage list, a rule, a report, a role…), or one naming
a refused field or a part the compiler had to skip (a field whose type is unknown is then
missing from its object, and a report on it would say "lead has no field `score`").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.metadata.errors import ConfigIssue

#: Sections whose entries are objects: a problem in one field is the field's, not the object's.
_DEEP = {"objects": {"fields", "rules", "pipeline", "layout", "list", "activity", "task", "duplicates"}}
_PART = re.compile(r"\[\d+\]|[^.\[\]]+")


def split_path(path: str) -> tuple[str, ...]:
    """``objects.lead.rules[0].when`` → ``('objects', 'lead', 'rules', '[0]', 'when')``."""
    return tuple(_PART.findall(path))


def unit(path: str) -> tuple[str, ...]:
    """The part of the config a problem at ``path`` spoils: a field, a rule, an entry of a section."""
    parts = split_path(path)
    if len(parts) >= 3 and parts[2] in _DEEP.get(parts[0], ()):
        return parts[: 4 if parts[2] in ("fields", "rules") else 3]
    return parts[:2]


def _under(parts: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    return parts[: len(prefix)] == prefix


def without_cascades(
    found: Iterable[ConfigIssue], reported: list[ConfigIssue], skipped: Iterable[str] = ()
) -> list[ConfigIssue]:
    """The issues of ``found`` that are neither inside a unit of an issue in ``reported`` nor
    name (in backticks) a field the schema refused or a part the compiler ``skipped``."""
    units = {unit(issue.path) for issue in reported if issue.path}
    names = {u[3] for u in units if len(u) == 4 and u[2] == "fields"} | set(skipped)
    places = {(issue.location, issue.code) for issue in reported}
    kept = []
    for issue in found:
        parts = split_path(issue.path)
        if (issue.location, issue.code) in places or any(_under(parts, u) for u in units if u):
            continue
        if any(f"`{name}`" in issue.message for name in names):
            continue
        kept.append(issue)
    return kept
