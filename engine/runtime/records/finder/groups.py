"""The finder's groups as one user may see them, and "not a duplicate".

Stored groups are the object's; what a user sees of them is decided here, each time:

- only holders of the ``merge`` grant see them (``finding.check_may_find``);
- archived records (merged, or archived since) leave their groups: a group whose records were
  merged is gone;
- a criterion on a field the user may not read does not join records for them (a rule needing
  all its criteria joins nothing then), as in the write path's check;
- a record outside their read scope is shown by its owner only (``reveal: owner``) or not at all
  (``reveal: nothing``); its title, values and id never;
- what is left of a stored group is regrouped (it may split); a group is shown when it still has
  two records, one of which the user may read.

Titles are read through ``Query`` as the user; the scope and archive state of the members with
one read of their owners.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import DuplicateRule, ObjectDef
from engine.runtime.records.finder import runs, store
from engine.runtime.records.finder.finding import check_may_find
from engine.runtime.records.finder.scan import Pair, components
from engine.runtime.records.query import format_title

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: The orders of the groups: by score or by size, best (largest) first or last.
ORDERS = ("-score", "score", "-size", "size")


@dataclass(frozen=True)
class Member:
    """One record of a group as the user may know it (``record_id`` None: outside their scope)."""

    record_id: int | None
    title: str | None
    owner: str | None
    score: float
    #: The fields it matched another member by (those the user may read).
    matched: tuple[str, ...]


@dataclass(frozen=True)
class GroupView:
    """A group as the user sees it: the stored group's id, its rule, score and members."""

    id: int
    rule: DuplicateRule
    score: float
    members: tuple[Member, ...]

    @property
    def readable(self) -> list[int]:
        """The ids of the members the user may read, in order."""
        return [m.record_id for m in self.members if m.record_id is not None]


@dataclass(frozen=True)
class GroupPage:
    """A page of groups, how many there are in all, and the object's latest run."""

    items: list[GroupView]
    total: int
    page: int
    has_next: bool
    run: runs.Run | None


@dataclass(frozen=True)
class _Seen:
    """A group regrouped for the user, before its titles are read."""

    id: int
    rule: DuplicateRule
    members: dict[int, float]
    matched: dict[int, set[str]]

    @property
    def score(self) -> float:
        return min(self.members.values())


def page(
    session: Session, object_name: str, rule: str | None = None, order: str = "-score", number: int = 1, size: int = 50
) -> GroupPage:
    """A page of the object's groups (of ``rule``, or all) in ``order``, as the session's user sees them."""
    obj = session.object(object_name)
    check_may_find(session, obj)
    seen = [g for g in _seen(session, obj) if rule is None or g.rule.name == rule]
    key = order.lstrip("-") if order in ORDERS else "score"
    descending = order.startswith("-") or order not in ORDERS
    seen.sort(key=lambda g: -g.id if descending else g.id)
    seen.sort(key=(lambda g: g.score) if key == "score" else (lambda g: len(g.members)), reverse=descending)
    number = max(number, 1)
    shown = seen[(number - 1) * size : number * size]
    latest = runs.latest(session.connection, session.schema, obj.name)
    return GroupPage(_views(session, obj, shown), len(seen), number, len(seen) > number * size, latest)


def dismiss(session: Session, object_name: str, group_id: int, record_id: int, whole: bool) -> int:
    """ "Not a duplicate": ``record_id`` (a member the user may read) leaves the group — its pairs with
    the other members the user sees are dismissed — or, with ``whole``, no two of the records are
    duplicates. Remembered, so no later run proposes those pairs; the group is regrouped. The
    number of pairs dismissed; LookupError when the user sees no such group with that record."""
    obj = session.object(object_name)
    check_may_find(session, obj)
    found = next((g for g in _seen(session, obj, [group_id]) if record_id in g.members), None)
    owner = _owners(session, obj, [record_id]).get(record_id, (None, None))[0]
    if found is None or not session.principal.in_scope(obj.name, "read", owner):
        raise LookupError(group_id)
    ids = sorted(found.members)
    if whole:
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    else:
        pairs = [(record_id, other) for other in ids if other != record_id]
    stored = store.stored_groups(session.connection, session.schema, obj.name, [group_id])
    now = session.clock().now_utc
    return store.dismiss(session.connection, session.schema, obj.name, stored[0], pairs, session.principal.user_id, now)


# --- what the user sees -----------------------------------------------------------------------------------
def _seen(session: Session, obj: ObjectDef, ids: Iterable[int] | None = None) -> list[_Seen]:
    """The stored groups regrouped as the user sees them (see the module docstring)."""
    stored = store.stored_groups(session.connection, session.schema, obj.name, ids)
    rules = {r.name: r for r in obj.duplicates}
    members = {m for g in stored for p in g.pairs for m in (p.first, p.second)}
    owners = _owners(session, obj, members)
    hidden = session._unreadable(obj)
    principal = session.principal
    out = []
    for found in stored:
        rule = rules.get(found.rule)
        if rule is None:
            continue  # the rule was removed from the config since
        usable = {c.field for c in rule.match} - hidden
        if not rule.any and len(usable) < len({c.field for c in rule.match}):
            continue
        pairs = []
        for pair in found.pairs:
            if not all(_present(owners, m, rule, principal, obj) for m in (pair.first, pair.second)):
                continue
            scores = {f: s for f, s in pair.matched.items() if f in usable}
            if not scores:
                continue
            score = max(scores.values()) if rule.any else pair.score
            pairs.append(Pair(pair.first, pair.second, score, scores))
        for part in components(pairs):
            if not any(principal.in_scope(obj.name, "read", owners[m][0]) for m in part.members):
                continue
            matched: dict[int, set[str]] = {}
            for pair in part.pairs:
                for m in (pair.first, pair.second):
                    matched.setdefault(m, set()).update(pair.matched)
            out.append(_Seen(found.id, rule, dict(part.members), matched))
    return out


def _present(
    owners: Mapping[int, tuple[Any, Any]], record_id: int, rule: DuplicateRule, principal: Any, obj: ObjectDef
) -> bool:
    """Whether the record counts for the user: it exists, is not archived, and is in their read
    scope or its rule reveals its owner."""
    found = owners.get(record_id)
    if found is None or found[1] is not None:
        return False
    return rule.reveal != "nothing" or principal.in_scope(obj.name, "read", found[0])


def _owners(session: Session, obj: ObjectDef, ids: Iterable[int]) -> dict[int, tuple[Any, Any]]:
    """Each record's owner id and archive time (records that no longer exist are left out)."""
    table = session.schema.table(obj.name)
    wanted = sorted(set(ids))
    out: dict[int, tuple[Any, Any]] = {}
    for start in range(0, len(wanted), 1000):
        rows = session.connection.execute(
            sa.select(table.c.id, table.c.owner_id, table.c.archived_at).where(
                table.c.id.in_(wanted[start : start + 1000])
            )
        )
        out.update({row.id: (row.owner_id, row.archived_at) for row in rows})
    return out


def _views(session: Session, obj: ObjectDef, seen: Sequence[_Seen]) -> list[GroupView]:
    """The groups with their members' titles (read through ``Query`` as the user) and owners."""
    ids = sorted({m for g in seen for m in g.members})
    records = {r.id: r for r in session.query(obj.name).filter(id__in=ids).all()} if ids else {}
    owners = _owners(session, obj, ids)
    users = session.unit.users(owner for owner, _ in owners.values())
    views = []
    for found in seen:
        members = []
        for record_id, score in sorted(found.members.items(), key=lambda item: (-item[1], item[0])):
            owner = users.get(owners[record_id][0])
            name = (owner.display_name or owner.username) if owner is not None else None
            record = records.get(record_id)
            if record is None:
                members.append(Member(None, None, name, score, ()))
                continue
            title = format_title(obj, record) if obj.title else f"{obj.label.get()} {record_id}"
            members.append(Member(record_id, title, name, score, tuple(sorted(found.matched.get(record_id, ())))))
        views.append(GroupView(found.id, found.rule, found.score, tuple(members)))
    return views
