"""The likely duplicates a form shows when a duplicate rule matches (issue 14 §2): view models only.

The engine found the candidates and decided what the user may learn of each
(``engine.runtime.records.duplicates``): a record they may read comes with its title (linked),
owner, the fields that matched and the score; one they may not, with its owner only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask import url_for

from engine.metadata.model import ObjectDef
from engine.runtime.records.duplicates import Candidate
from webui.i18n import Formatter


@dataclass(frozen=True)
class DuplicateItem:
    """One likely duplicate as the form lists it."""

    title: str
    url: str | None
    owner: str
    matched: str
    score: str


@dataclass(frozen=True)
class DuplicatesView:
    """The form's list of likely duplicates, and whether "Save anyway" is offered (``warn``)."""

    items: list[DuplicateItem]
    save_anyway: bool


def duplicates_view(obj: ObjectDef, candidates: Sequence[Candidate], fmt: Formatter) -> DuplicatesView:
    """The candidates in the reader's language; "Save anyway" unless a ``block`` rule matched."""
    items = []
    for c in candidates:
        owner = c.owner or fmt.t("duplicates.no_owner")
        if c.record_id is None:
            items.append(DuplicateItem(fmt.t("duplicates.hidden", owner=owner), None, owner, "", ""))
            continue
        labels = ", ".join(obj.fields[m.field].label.get(fmt.lang) for m in c.matches)
        url = url_for("records.show", object_name=obj.name, record_id=c.record_id)
        items.append(DuplicateItem(c.title or str(c.record_id), url, owner, labels, f"{round(c.score * 100)}%"))
    return DuplicatesView(items, save_anyway=all(c.action == "warn" for c in candidates))
