"""Duplicate rules in the write path (issue 14 §1–2): the blocking keys and the check.

The feature keeps ``sys_dup_keys`` (object, rule, key, record id) in step with every written
record (stage ``write``; a delete's go at ``gone``, ``engine.runtime.records.remains``), so that finding a new row's
candidates is a limited primary-key range read per key (one statement per 200 keys of a
chunk, every rule's together), never a scan. At stage ``check`` each
valid row's candidates are read (their ids from the keys, their values from the object table)
and scored by the rule's criteria (``engine.metadata.matching.METHODS``); each row is compared
with the earlier rows of its chunk too (the same keys, in memory), so that a batch holding the
same company twice warns or blocks on the second row (a ``Candidate`` with ``row``: the earlier
row's index among the caller's rows). Rows of earlier chunks are records by then: their keys were
written at stage ``write``.

A key shared by more than ``COMMON_KEY`` records (a common word, a Chinese pair such as 软件)
tells none of them apart: each key's records are read up to that many, and a criterion's too
common keys are left out while it has rarer ones; the records sharing the most keys are scored
first, at most ``MAX_CANDIDATES`` per row. A match of a
``block`` rule refuses the row (``DuplicateBlocked``, a ``ValidationFailed`` with field errors);
of a ``warn`` rule, unless the call allows duplicates (``Session.create(…, allow_duplicate=True)``),
it is a ``PossibleDuplicate`` the caller may override. Automation's own writes (nobody to ask)
are not warned; block rules hold for them too.

Permissions: criteria on fields the writer may not read are left out (a rule needing all its
criteria then does not run for them), and a candidate outside the writer's read scope is shown
only by its owner (``reveal: owner``) or not at all (``reveal: nothing``: it does not count).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.matching import METHODS, rule_match
from engine.metadata.model import DuplicateRule, ObjectDef
from engine.runtime.database import KEEPS_ROWS, bulk_insert
from engine.runtime.errors import FieldError, TrellisError, ValidationFailed
from engine.runtime.messages import current_language, localized
from engine.runtime.records import writes
from engine.runtime.records.query import format_title
from engine.runtime.records.stages import Feature, Write

if TYPE_CHECKING:
    from engine.runtime.records.session import Session
    from engine.runtime.records.writes import Draft

TABLE = "sys_dup_keys"
#: The most candidates one rule scores for one row (those sharing the most keys with it first).
MAX_CANDIDATES = 200
#: A key shared by more records than this is too common to find candidates by, while the row's
#: value has rarer keys (each key's records are read up to ``COMMON_KEY + 1``).
COMMON_KEY = 200
#: Keys looked up per statement (PostgreSQL: the arrays of one ``LATERAL`` read; SQLite: one
#: ``UNION ALL`` of a limited read per key, and it takes at most 500 selects in one statement).
_KEYS_PER_STATEMENT = 200
#: How many keys SQLite's statements of ``_key_records`` take (a chunk's last one is filled up
#: with keys no record has), so that a few shapes are compiled, whatever the chunk.
_STATEMENT_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, _KEYS_PER_STATEMENT)
#: Records read by id per statement (SQLite takes at most 32,766 parameters).
_IDS_PER_STATEMENT = 10_000
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
    #: The record (None: outside the writer's read scope, only ``owner`` is told; or an earlier row).
    record_id: int | None
    title: str | None
    owner_id: int | None
    owner: str | None
    score: float
    matches: tuple[Match, ...] = ()
    #: An earlier row of the same call (its index among the caller's rows, from 0), not yet a record.
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The candidate as the API returns it (``row``: only for an earlier row of the same request)."""
        out = {
            "rule": self.rule,
            "action": self.action,
            "id": self.record_id,
            "title": self.title,
            "owner": self.owner,
            "score": round(self.score, 3),
            "matched": [{"field": m.field, "label": m.label, "score": round(m.score, 3)} for m in self.matches],
        }
        return out if self.row is None else {**out, "row": self.row}


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


def reindex(session: Session, object_name: str, page: int = 5000) -> int:
    """Rebuild the keys of every record of ``object_name`` (``trellis duplicates reindex``): after a
    rule is added or changed, for the records written before. Returns the records indexed. The
    records are read a page at a time by id; their keys go in with one ``COPY`` per page on
    PostgreSQL (``database.bulk_insert``)."""
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
        bulk_insert(connection, keys, [k for row in batch for k in record_keys(obj, row)])
        count += len(batch)
        last = batch[-1]["id"]


# --- the check --------------------------------------------------------------------------------------------------
#: A row's blocking keys per criterion (its index in the rule), as stored (``<criterion>:<key>``).
RowKeys = dict[int, set[str]]


def _check(write: Write, drafts: list[Draft]) -> None:
    """Stage ``check``: each valid row's candidates — stored records and earlier rows of the chunk —
    scored; block and warn rules act on them."""
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
    forms: dict[tuple[str, Any], str] = {}
    runs: list[tuple[DuplicateRule, list[tuple[int, Any]], dict[int, RowKeys]]] = []
    for rule in obj.duplicates:
        if rule.action == "warn" and not warn:
            continue
        criteria = [(i, c) for i, c in enumerate(rule.match) if c.field not in hidden]
        if not criteria or (not rule.any and len(criteria) < len(rule.match)):
            continue
        runs.append((rule, criteria, {d.index: _row_keys(criteria, d.data) for d in drafts}))
    wanted = {
        (r.name, k) for r, _, keys in runs for row in keys.values() for found_keys in row.values() for k in found_keys
    }
    looked = _key_records(session, obj, wanted)  # every rule's keys in one go
    for rule, criteria, keys in runs:
        holders = {key: records for (name, key), records in looked.items() if name == rule.name}
        for index, candidates in _rule_candidates(
            session, obj, rule, criteria, drafts, hidden, keys, holders, forms
        ).items():
            found.setdefault(index, []).extend(candidates)
    _compare_rows(session, obj, runs, drafts, hidden, forms, found)
    return {index: sorted(candidates, key=lambda c: -c.score) for index, candidates in found.items()}


def _touches(obj: ObjectDef, draft: Draft) -> bool:
    """A create is checked; an update when it changes a field a rule compares."""
    return draft.current is None or bool(_watched(obj) & set(draft.check))


def _row_keys(criteria: list[tuple[int, Any]], data: Mapping[str, Any]) -> RowKeys:
    """A row's keys per criterion, as ``sys_dup_keys`` holds them."""
    out: RowKeys = {}
    for index, criterion in criteria:
        found = {f"{index}:{key}" for key in METHODS[criterion.method].keys(data.get(criterion.field))}
        if found:
            out[index] = found
    return out


#: The records (or earlier rows) holding each key; None for a key too common to read them by.
Holders = Mapping[str, Sequence[int] | None]


def _chosen(keys: RowKeys, holders: Holders) -> list[int]:
    """What one row is compared with (records, or earlier rows): per criterion, those holding its keys
    that are not too common (``COMMON_KEY``; all its keys when none is rarer), those sharing the most
    keys first, at most ``MAX_CANDIDATES``."""
    shared: Counter[int] = Counter()
    for criterion_keys in keys.values():
        rare = [k for k in criterion_keys if not _too_common(holders.get(k, ()))]
        for key in sorted(rare or criterion_keys):
            shared.update(holders.get(key) or ())
    return [holder for holder, _ in shared.most_common(MAX_CANDIDATES)]


def _too_common(records: Sequence[int] | None) -> bool:
    """A key whose records were not read (None), or more than ``COMMON_KEY`` of them (a key no
    record holds is the rarest of all)."""
    return records is None or len(records) > COMMON_KEY


def _key_records(
    session: Session, obj: ObjectDef, wanted: Iterable[tuple[str, str]], *, common: bool = False
) -> dict[tuple[str, str], list[int] | None]:
    """The records holding each ``(rule, key)``, each one primary-key range read of at most
    ``COMMON_KEY + 1`` entries, ``_KEYS_PER_STATEMENT`` keys per statement. A key holding more is
    too common: None (only its count comes back), unless ``common``: then its first ``COMMON_KEY + 1``."""
    table, connection = session.schema.system[TABLE], session.connection
    ordered = sorted(wanted)
    found: dict[tuple[str, str], list[int] | None] = {}
    for start in range(0, len(ordered), _KEYS_PER_STATEMENT):
        part = ordered[start : start + _KEYS_PER_STATEMENT]
        rows: Iterable[Any]
        if connection.dialect.name == "postgresql":
            rows = _keys_lateral(connection, table, obj.name, part, common)
        else:  # SQLite, in the process, hands over a common key's entries faster than it counts them
            size = next(size for size in _STATEMENT_SIZES if size >= len(part))
            sql, order, values = _keys_sql(connection.dialect, table, size)
            params: dict[str, Any] = {**values, "object": obj.name}
            for i in range(size):  # the places beyond the keys ask for a key no record has ("")
                params[f"rule{i}"], params[f"key{i}"] = part[i] if i < len(part) else ("", "")
            args = tuple(params[name] for name in order) if order is not None else params
            rows = connection.exec_driver_sql(sql, args, _KEEPS)
        for rule, key, record_id, count in rows:
            if count > COMMON_KEY and not common:
                found[(rule, key)] = None
            else:
                found.setdefault((rule, key), []).append(record_id)  # type: ignore[union-attr]
    if not common:
        for pair, records in found.items():
            if records is not None and len(records) > COMMON_KEY:
                found[pair] = None
    return found


def _keys_lateral(
    connection: sa.Connection, table: sa.Table, object_name: str, pairs: list[tuple[str, str]], common: bool
) -> list[Any]:
    """PostgreSQL: every key's first ``COMMON_KEY + 1`` records in one statement: the keys as arrays,
    a ``LATERAL`` limited primary-key range read per key, counted by the server, a too common key's
    first entry only (unless ``common``). Run through psycopg with ``prepare=False``: a prepared
    statement's generic plan, made while the key table was still empty (a new CRM's first import),
    would scan the whole table for each key for as long as the connection lives."""
    statement = _LATERAL.format(table=connection.dialect.identifier_preparer.format_table(table))
    params = {
        "object": object_name,
        "rules": [rule for rule, _ in pairs],
        "keys": [key for _, key in pairs],
        "limit": COMMON_KEY + 1,
        "most": COMMON_KEY + 1 if common else COMMON_KEY,
    }
    raw = connection.connection.driver_connection
    assert raw is not None, "the connection is open"
    with raw.cursor() as cursor:  # in the connection's transaction; nothing collected needs writing first
        cursor.execute(statement, params, prepare=False)
        return list(cursor.fetchall())


_LATERAL = """
SELECT wanted.rule, wanted.key, found.record_id, found.n
FROM unnest(CAST(%(rules)s AS VARCHAR[]), CAST(%(keys)s AS VARCHAR[])) AS wanted(rule, key)
CROSS JOIN LATERAL (
    SELECT held.record_id, count(*) OVER () AS n, row_number() OVER () AS place
    FROM (
        SELECT record_id FROM {table}
        WHERE object = %(object)s AND rule = wanted.rule AND key = wanted.key
        LIMIT %(limit)s
    ) AS held
) AS found
WHERE found.n <= %(most)s OR found.place = 1
"""


@functools.lru_cache(maxsize=64)
def _keys_sql(dialect: sa.Dialect, table: sa.Table, count: int) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """SQLite: ``_keys_statement`` compiled once per shape: its SQL, the order of its parameters
    (None when they go by name) and the values it holds itself (the limit). A check runs it as it
    is, without building and hashing a statement of up to 200 reads again each time."""
    compiled = _keys_statement(table, count).compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return compiled.string, order, dict(compiled.params)


def _keys_statement(table: sa.Table, count: int) -> sa.Select[Any] | sa.CompoundSelect:
    """The read of ``count`` keys' records (``_key_records`` on SQLite): a ``UNION ALL`` of one
    limited primary-key range read per key (counted by the caller; ``n`` is 0)."""
    selects = []
    for i in range(count):
        read = (
            sa.select(table.c.rule, table.c.key, table.c.record_id)
            .where(
                table.c.object == sa.bindparam("object"),
                table.c.rule == sa.bindparam(f"rule{i}"),
                table.c.key == sa.bindparam(f"key{i}"),
            )
            .limit(COMMON_KEY + 1)
            .subquery()
        )
        selects.append(sa.select(read.c.rule, read.c.key, read.c.record_id, sa.literal(0).label("n")))
    return selects[0] if count == 1 else sa.union_all(*selects)


def _rule_candidates(
    session: Session,
    obj: ObjectDef,
    rule: DuplicateRule,
    criteria: list[tuple[int, Any]],
    drafts: list[Draft],
    hidden: frozenset[str],
    keys: Mapping[int, RowKeys],
    holders: dict[str, list[int] | None],
    forms: dict[tuple[str, Any], str],
) -> dict[int, list[Candidate]]:
    """One rule over the chunk's stored candidates: the records holding the keys (``_key_records``;
    ``holders``), the chosen ones read by id and scored."""
    only_common = {
        key
        for row in keys.values()
        for found in row.values()
        if all(holders.get(k, ()) is None for k in found)
        for key in found
    }
    if only_common:  # a value of nothing but common keys: those sharing most of them are scored
        common = _key_records(session, obj, [(rule.name, key) for key in only_common], common=True)
        holders.update((key, records) for (_, key), records in common.items())
    pairs = {draft.index: _chosen(keys[draft.index], holders) for draft in drafts}
    ids = sorted({i for found in pairs.values() for i in found})
    if not ids:
        return {}
    table = session.schema.table(obj.name)
    fields = sorted({c.field for _, c in criteria} | set(obj.title_fields()) - hidden)
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        part = ids[start : start + _IDS_PER_STATEMENT]
        statement = (
            sa.select(table.c.id, table.c.owner_id, *(table.c[f] for f in fields))
            .where(table.c.id.in_(part), table.c.archived_at.is_(None))
            .execution_options(**_KEEPS)
        )
        rows.update((row["id"], row) for row in session.connection.execute(statement).mappings())
    owners = session.unit.users(row["owner_id"] for row in rows.values())
    out: dict[int, list[Candidate]] = {}
    for draft in drafts:
        for record_id in sorted(pairs.get(draft.index, ())):
            row = rows.get(record_id)
            if row is None or record_id == draft.record_id:
                continue
            candidate = _scored(session, obj, rule, criteria, draft.data, row, owners, forms)
            if candidate is not None:
                out.setdefault(draft.index, []).append(candidate)
    return out


def _compare_rows(
    session: Session,
    obj: ObjectDef,
    runs: list[tuple[DuplicateRule, list[tuple[int, Any]], dict[int, RowKeys]]],
    drafts: list[Draft],
    hidden: frozenset[str],
    forms: dict[tuple[str, Any], str],
    found: dict[int, list[Candidate]],
) -> None:
    """Each row against the earlier rows of the chunk that pass the check (a refused row duplicates
    nothing written), by the same keys in memory (``_chosen``); a match joins ``found`` as a
    ``Candidate`` with ``row``, shown as the writer wrote it."""
    holders: dict[str, dict[str, list[int]]] = {rule.name: {} for rule, _, _ in runs}
    earlier: dict[int, Draft] = {}
    owners = session.unit.users(d.data.get("owner_id") for d in drafts)
    for draft in drafts:
        for rule, criteria, keys in runs:
            for index in _chosen(keys[draft.index], holders[rule.name]):
                other = earlier[index]
                scored = _matches(obj, rule, criteria, draft.data, other.data, forms)
                if scored is None or (draft.record_id is not None and other.record_id == draft.record_id):
                    continue
                owner_id = other.data.get("owner_id")
                owner = owners.get(owner_id) if owner_id is not None else None
                name = (owner.display_name or owner.username) if owner is not None else None
                title = (
                    format_title(obj, {k: v for k, v in other.data.items() if k not in hidden}) if obj.title else None
                )
                candidate = Candidate(rule.name, rule.action, other.record_id, title, owner_id, name, *scored)
                found.setdefault(draft.index, []).append(replace(candidate, row=index))
        if found.get(draft.index):
            continue
        earlier[draft.index] = draft
        for rule, _, keys in runs:
            for row_keys in keys[draft.index].values():
                for key in row_keys:
                    holders[rule.name].setdefault(key, []).append(draft.index)


def _similarity(method_name: str, a: Any, b: Any, forms: dict[tuple[str, Any], str]) -> float:
    """``Method.compare`` with each value normalised once per check (a row meets many candidates)."""
    if a is None or b is None or a == "" or b == "":
        return 0.0
    method = METHODS[method_name]
    first, second = (forms.get((method_name, v)) for v in (a, b))
    if first is None:
        first = forms[(method_name, a)] = method.normalise(a)
    if second is None:
        second = forms[(method_name, b)] = method.normalise(b)
    return method.score(first, second) if first and second else 0.0


def _matches(
    obj: ObjectDef,
    rule: DuplicateRule,
    criteria: list[tuple[int, Any]],
    data: Mapping[str, Any],
    row: Mapping[str, Any] | sa.RowMapping,
    forms: dict[tuple[str, Any], str],
) -> tuple[float, tuple[Match, ...]] | None:
    """The score and the matching criteria when the rule matches (``any``: one; else all):
    ``matching.rule_match``, which the finder asks too."""
    found = rule_match(
        rule,
        [c for _, c in criteria],
        lambda c: _similarity(c.method, data.get(c.field), row.get(c.field), forms),
    )
    if found is None:
        return None
    score, matched = found
    language = current_language()
    return score, tuple(
        Match(c.field, obj.fields[c.field].label.get(language), s, row.get(c.field)) for c, s in matched
    )


def _scored(
    session: Session,
    obj: ObjectDef,
    rule: DuplicateRule,
    criteria: list[tuple[int, Any]],
    data: Mapping[str, Any],
    row: Mapping[str, Any] | sa.RowMapping,
    owners: Mapping[int, Any],
    forms: dict[tuple[str, Any], str] | None = None,
) -> Candidate | None:
    """The candidate if the rule's criteria match (``any``: one; else all), as the writer may see it
    (``forms``: the values normalised so far, kept across calls)."""
    scored = _matches(obj, rule, criteria, data, row, forms if forms is not None else {})
    if scored is None:
        return None
    score, matches = scored
    owner = owners.get(row["owner_id"])
    owner_name = (owner.display_name or owner.username) if owner is not None else None
    if session.principal.in_scope(obj.name, "read", row["owner_id"]):
        title = format_title(obj, row) if obj.title else f"{obj.label.get()} {row['id']}"
        return Candidate(rule.name, rule.action, row["id"], title, row["owner_id"], owner_name, score, matches)
    if rule.reveal == "nothing":
        return None
    return Candidate(rule.name, rule.action, None, None, row["owner_id"], owner_name, score)


def _errors(obj: ObjectDef, candidates: Iterable[Candidate]) -> dict[str, list[FieldError]]:
    """Field errors of a blocked row: each matched field (record-level for an unreadable candidate)."""
    errors: dict[str, list[FieldError]] = {}
    for candidate in candidates:
        if candidate.row is not None:
            for match in candidate.matches:
                label = obj.fields[match.field].label
                error = row_error(candidate.row, label.get("en"), label.get(current_language()))
                if error not in errors.get(match.field, []):
                    errors.setdefault(match.field, []).append(error)
            continue
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


def row_error(index: int, label_en: str, label: str) -> FieldError:
    """The field error of a row blocked as a duplicate of an earlier row of its batch (``index``
    among the caller's rows, from 0; the text counts from 1, as people do)."""
    text = f"Row {index + 1} of this batch already has this {label_en}."
    return FieldError("duplicate_row", text, {"row": index + 1, "index": index, "label": label, "label_en": label_en})


def renumber(error: TrellisError, positions: Sequence[int]) -> None:
    """Make a duplicate's earlier-row candidates name the rows as the caller counts them: the row at
    index ``i`` of the write call is ``positions[i]`` of the caller's (a bulk request's item index)."""
    candidates = getattr(error, "candidates", None)
    if not candidates or all(c.row is None for c in candidates):
        return
    error.candidates = [c if c.row is None else replace(c, row=positions[c.row]) for c in candidates]  # type: ignore[attr-defined]
    if isinstance(error, DuplicateBlocked):
        for problems in error.errors.values():
            for i, problem in enumerate(problems):
                if problem.code == "duplicate_row":
                    params = problem.params
                    index = positions[int(str(params["index"]))]
                    problems[i] = row_error(index, str(params["label_en"]), str(params["label"]))


FEATURE = Feature("duplicates", {"check": _check, "write": _write_keys})
