"""Duplicate rules in the write path (issue 14 §1–2): the blocking keys and the check.

The feature keeps ``sys_dup_keys`` (object, rule, key, record id) in step with every written
record (stage ``write``; a delete drops them at ``after``), so that finding a new row's
candidates is one indexed ``IN (…)`` per rule and chunk, never a scan. At stage ``check`` each
valid row's candidates are read (their ids from the keys, their values from the object table)
and scored by the rule's criteria (``engine.metadata.matching.METHODS``). A match of a
``block`` rule refuses the row (``DuplicateBlocked``, a ``ValidationFailed`` with field errors);
of a ``warn`` rule, unless the call allows duplicates (``Session.create(…, allow_duplicate=True)``),
it is a ``PossibleDuplicate`` the caller may override. Automation's own writes (nobody to ask)
are not warned; block rules hold for them too.

Permissions: criteria on fields the writer may not read are left out (a rule needing all its
criteria then does not run for them), and a candidate outside the writer's read scope is shown
only by its owner (``reveal: owner``) or not at all (``reveal: nothing``: it does not count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.matching import METHODS, rule_match
from engine.metadata.model import DuplicateRule, ObjectDef
from engine.runtime.database import KEEPS_ROWS
from engine.runtime.errors import FieldError, TrellisError, ValidationFailed
from engine.runtime.messages import current_language, localized
from engine.runtime.records import writes
from engine.runtime.records.query import format_title
from engine.runtime.records.stages import Feature, Write

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.writes import Draft

TABLE = "sys_dup_keys"
#: The most candidates one rule reads for one chunk (the most similar are not guaranteed beyond it).
MAX_CANDIDATES = 200
_KEEPS = {KEEPS_ROWS: True}


@dataclass(frozen=True)
class Match:
    """One criterion that matched: the field, its label and the similarity."""

    field: str
    label: str
    score: float
    #: The candidate's value as stored (None when the writer may not read the record).
    value: Any = None


@dataclass(frozen=True)
class Candidate:
    """A record that a row being written probably duplicates, as the writer may know it."""

    rule: str
    action: str
    #: The record (None: outside the writer's read scope; only ``owner`` is told).
    record_id: int | None
    title: str | None
    owner_id: int | None
    owner: str | None
    score: float
    matches: tuple[Match, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The candidate as the API returns it."""
        return {
            "rule": self.rule,
            "action": self.action,
            "id": self.record_id,
            "title": self.title,
            "owner": self.owner,
            "score": round(self.score, 3),
            "matched": [{"field": m.field, "label": m.label, "score": round(m.score, 3)} for m in self.matches],
        }


class PossibleDuplicate(TrellisError):
    """The row matches a ``warn`` rule: the caller may write it anyway (``allow_duplicate=True``)."""

    code = "possible_duplicate"

    def __init__(self, object_name: str, candidates: list[Candidate], label: str | None = None) -> None:
        self.object_name, self.candidates = object_name, candidates
        count = len(candidates)
        super().__init__(
            localized(
                "possible_duplicate",
                f"This {label or object_name} probably exists already ({count} likely duplicate{'s' if count != 1 else ''}); "
                "open one, or save anyway",
                {"count": count},
            )
        )


class DuplicateBlocked(ValidationFailed):
    """The row matches a ``block`` rule: refused, the matched fields in error."""

    code = "duplicate"

    def __init__(self, errors: dict[str, list[FieldError]], object_name: str, candidates: list[Candidate]) -> None:
        super().__init__(errors, object_name)
        self.candidates = candidates


# --- keys -------------------------------------------------------------------------------------------------------
def record_keys(obj: ObjectDef, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``sys_dup_keys`` rows of a stored record (keys are ``<criterion>:<key>``)."""
    out = []
    for rule in obj.duplicates:
        seen: set[str] = set()
        for index, criterion in enumerate(rule.match):
            for key in METHODS[criterion.method].keys(row.get(criterion.field)):
                text = f"{index}:{key}"
                if text not in seen:
                    seen.add(text)
                    out.append({"object": obj.name, "rule": rule.name, "key": text, "record_id": row["id"]})
    return out


def _watched(obj: ObjectDef) -> frozenset[str]:
    return frozenset(c.field for rule in obj.duplicates for c in rule.match)


def _write_keys(write: Write, draft: Draft) -> None:
    """Stage ``write``: the written record's keys replace its old ones (when a matched field changed)."""
    obj = write.obj
    if not obj.duplicates or draft.record is None:
        return
    if draft.current is not None and not (_watched(obj) & set(draft.written)):
        return
    table = write.session.schema.system[TABLE]
    connection = write.session.connection
    if draft.current is not None:
        connection.execute(sa.delete(table).where(table.c.object == obj.name, table.c.record_id == draft.record["id"]))
    rows = record_keys(obj, draft.record)
    if rows:
        connection.execute(sa.insert(table).execution_options(**_KEEPS), rows)


def _drop_keys(write: Write, draft: Draft) -> None:
    """Stage ``after`` of a delete: the record's keys go with it."""
    if write.action != "delete" or not write.obj.duplicates or draft.current is None:
        return
    table = write.session.schema.system[TABLE]
    write.session.connection.execute(
        sa.delete(table).where(table.c.object == write.obj.name, table.c.record_id == draft.current.id)
    )


def reindex(session: Session, object_name: str, page: int = 1000) -> int:
    """Rebuild the keys of every record of ``object_name`` (``trellis duplicates reindex``): after a
    rule is added or changed, for the records written before. Returns the records indexed."""
    obj = session.object(object_name)
    table, keys = session.schema.table(obj.name), session.schema.system[TABLE]
    connection = session.connection
    connection.execute(sa.delete(keys).where(keys.c.object == obj.name))
    if not obj.duplicates:
        return 0
    columns = [table.c.id, *(table.c[name] for name in sorted(_watched(obj)))]
    count, last = 0, 0
    while True:
        rows = connection.execute(
            sa.select(*columns).where(table.c.id > last).order_by(table.c.id).limit(page)
        ).mappings()
        batch = [dict(r) for r in rows]
        if not batch:
            return count
        found = [k for row in batch for k in record_keys(obj, row)]
        if found:
            connection.execute(sa.insert(keys), found)
        count += len(batch)
        last = batch[-1]["id"]


# --- the check --------------------------------------------------------------------------------------------------
def _check(write: Write, drafts: list[Draft]) -> None:
    """Stage ``check``: each valid row's candidates, scored; block and warn rules act on them."""
    session, obj = write.session, write.obj
    if not obj.duplicates:
        return
    warn = not session.allow_duplicates and session.depth == 0
    checking = [d for d in drafts if not d.errors and _touches(obj, d)]
    if not checking:
        return
    found = _candidates(session, obj, checking, warn)
    for draft in checking:
        candidates = found.get(draft.index, [])
        if not candidates:
            continue
        blocking = [c for c in candidates if c.action == "block"]
        if blocking:
            draft.fail(DuplicateBlocked(_errors(obj, blocking), obj.name, blocking))
        else:
            draft.fail(PossibleDuplicate(obj.name, candidates, obj.label.get("en").lower()))


def likely_duplicates(session: Session, object_name: str, values: Mapping[str, Any]) -> list[Candidate]:
    """The candidates of every rule (``warn`` and ``block``) that creating ``values`` as this
    session's principal would meet, best first, as that principal may know them; writes nothing.
    The values are prepared as the write path prepares a create (``writes.prepared``: coerced,
    defaults, formulas) and searched by the same rules as the check — also when other values are
    still missing or invalid, so that a preview can show them early."""
    obj = session.object(object_name)
    if not obj.duplicates:
        return []
    draft = writes.prepared(session, obj, values)
    return _candidates(session, obj, [draft], warn=True).get(draft.index, [])


def _candidates(session: Session, obj: ObjectDef, drafts: list[Draft], warn: bool) -> dict[int, list[Candidate]]:
    """Each draft's candidates (by its index), best first: the ``block`` rules', and the ``warn``
    rules' too when ``warn``; rules on fields the principal may not read do not run."""
    hidden = session._unreadable(obj)
    found: dict[int, list[Candidate]] = {}
    for rule in obj.duplicates:
        if rule.action == "warn" and not warn:
            continue
        criteria = [(i, c) for i, c in enumerate(rule.match) if c.field not in hidden]
        if not criteria or (not rule.any and len(criteria) < len(rule.match)):
            continue
        for index, candidates in _rule_candidates(session, obj, rule, criteria, drafts, hidden).items():
            found.setdefault(index, []).extend(candidates)
    return {index: sorted(candidates, key=lambda c: -c.score) for index, candidates in found.items()}


def _touches(obj: ObjectDef, draft: Draft) -> bool:
    """A create is checked; an update when it changes a field a rule compares."""
    return draft.current is None or bool(_watched(obj) & set(draft.check))


def _rule_candidates(
    session: Session,
    obj: ObjectDef,
    rule: DuplicateRule,
    criteria: list[tuple[int, Any]],
    drafts: list[Draft],
    hidden: frozenset[str],
) -> dict[int, list[Candidate]]:
    """One rule over the chunk: the keys looked up in one query, the candidates read in one more."""
    wanted: dict[str, set[int]] = {}
    for draft in drafts:
        for index, criterion in criteria:
            for key in METHODS[criterion.method].keys(draft.data.get(criterion.field)):
                wanted.setdefault(f"{index}:{key}", set()).add(draft.index)
    if not wanted:
        return {}
    keys = session.schema.system[TABLE]
    statement = (
        sa.select(keys.c.key, keys.c.record_id)
        .where(keys.c.object == obj.name, keys.c.rule == rule.name, keys.c.key.in_(sorted(wanted)))
        .limit(MAX_CANDIDATES * max(len(drafts), 1))
        .execution_options(**_KEEPS)
    )
    pairs: dict[int, set[int]] = {}
    for key, record_id in session.connection.execute(statement):
        for index in wanted[key]:
            pairs.setdefault(index, set()).add(record_id)
    ids = sorted({i for found in pairs.values() for i in found})
    if not ids:
        return {}
    table = session.schema.table(obj.name)
    fields = sorted({c.field for _, c in criteria} | set(obj.title_fields()) - hidden)
    rows = {
        row["id"]: row
        for row in session.connection.execute(
            sa.select(table.c.id, table.c.owner_id, *(table.c[f] for f in fields))
            .where(table.c.id.in_(ids), table.c.archived_at.is_(None))
            .execution_options(**_KEEPS)
        ).mappings()
    }
    owners = session.unit.users(row["owner_id"] for row in rows.values())
    out: dict[int, list[Candidate]] = {}
    for draft in drafts:
        for record_id in sorted(pairs.get(draft.index, ())):
            row = rows.get(record_id)
            if row is None or record_id == draft.record_id:
                continue
            candidate = _scored(session, obj, rule, criteria, draft.data, row, owners)
            if candidate is not None:
                out.setdefault(draft.index, []).append(candidate)
    return out


def _scored(
    session: Session,
    obj: ObjectDef,
    rule: DuplicateRule,
    criteria: list[tuple[int, Any]],
    data: Mapping[str, Any],
    row: Mapping[str, Any] | sa.RowMapping,
    owners: Mapping[int, Any],
) -> Candidate | None:
    """The candidate if the rule's criteria match (``any``: one; else all), as the writer may see it."""
    found = rule_match(
        rule, [c for _, c in criteria], lambda c: METHODS[c.method].compare(data.get(c.field), row.get(c.field))
    )
    if found is None:
        return None
    score, matched = found
    language = current_language()
    matches = [Match(c.field, obj.fields[c.field].label.get(language), s, row.get(c.field)) for c, s in matched]
    owner = owners.get(row["owner_id"])
    owner_name = (owner.display_name or owner.username) if owner is not None else None
    if session.principal.in_scope(obj.name, "read", row["owner_id"]):
        title = format_title(obj, row) if obj.title else f"{obj.label.get()} {row['id']}"
        return Candidate(rule.name, rule.action, row["id"], title, row["owner_id"], owner_name, score, tuple(matches))
    if rule.reveal == "nothing":
        return None
    return Candidate(rule.name, rule.action, None, None, row["owner_id"], owner_name, score)


def _errors(obj: ObjectDef, candidates: Iterable[Candidate]) -> dict[str, list[FieldError]]:
    """Field errors of a blocked row: each matched field (record-level for an unreadable candidate)."""
    errors: dict[str, list[FieldError]] = {}
    for candidate in candidates:
        if candidate.record_id is None:
            owner = candidate.owner or "?"
            text = f"A matching {obj.label.get()} exists already, owned by {owner}."
            error = FieldError("duplicate_hidden", text, {"owner": owner})
            if error not in errors.get("_record", []):
                errors.setdefault("_record", []).append(error)
            continue
        for match in candidate.matches:
            label = obj.fields[match.field].label
            text = f"{candidate.title} already has this {label.get('en')}."
            error = FieldError("duplicate", text, {"title": candidate.title, "label": label.get(current_language())})
            if error not in errors.get(match.field, []):
                errors.setdefault(match.field, []).append(error)
    return errors


FEATURE = Feature("duplicates", {"check": _check, "write": _write_keys, "after": _drop_keys})
