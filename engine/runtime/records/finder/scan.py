"""Scanning an object's records for duplicates by one rule: blocks → pairs → scores → groups.

Candidate pairs come from the blocking keys the write path keeps (``sys_dup_keys``): two records
are compared only when they share a key of the rule (a criterion's normalised phone, a word or a
pair of Chinese characters of a name…), never all pairs. A key shared by more than ``max_block``
records (a "stop word" such as 有限 or ``co``) is skipped and counted: comparing its records with
each other would cost its size squared and say little. The records are taken ``CHUNK`` ids at a
time: the pairs sharing a key in one self-join of the keys per chunk; each pair is scored
once (the lower id's chunk) from the criteria's normal forms, computed once per record, by the
same judgement as the write path's check (``matching.rule_match``). Matching pairs (minus the
pairs people dismissed) are joined into groups, the connected components.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.metadata.matching import METHODS, rule_match
from engine.metadata.model import DuplicateRule, MatchCriterion, ObjectDef
from engine.runtime.tables import Schema

#: Records whose keys are read and compared together.
CHUNK = 2000
#: Records sharing one key at most for it to be a block; larger blocks are skipped (and counted).
MAX_BLOCK = 100
#: Records read per page while their normal forms are computed.
PAGE = 5000

Forms = dict[int, tuple[str, ...]]


@dataclass(frozen=True)
class Pair:
    """Two records that match by the rule: the lower id first, the score, ``{field: score}``
    of the criteria that matched."""

    first: int
    second: int
    score: float
    matched: Mapping[str, float]


@dataclass(frozen=True)
class Group:
    """Records joined by matching pairs: each member's best score with another member, the group's
    score (its weakest member's best), and the pairs."""

    members: Mapping[int, float]
    pairs: tuple[Pair, ...]

    @property
    def score(self) -> float:
        """How sure the whole group is: the lowest of its members' best scores."""
        return min(self.members.values())


@dataclass
class Scan:
    """What one rule's scan read and found."""

    rule: str
    records: int = 0
    pairs: int = 0
    skipped_blocks: int = 0
    groups: list[Group] = field(default_factory=list)


def scan(
    connection: sa.Connection,
    schema: Schema,
    obj: ObjectDef,
    rule: DuplicateRule,
    dismissed: Iterable[tuple[int, int]] = (),
    max_block: int = MAX_BLOCK,
    progress: Callable[[], None] | None = None,
) -> Scan:
    """Find the groups of ``obj``'s records (not archived) that ``rule`` matches, leaving out the
    ``dismissed`` pairs (lower id first). ``progress`` is called after each chunk."""
    result = Scan(rule.name)
    if connection.dialect.name == "postgresql":
        # Skewed key counts make the planner expect millions of rows per chunk and JIT-compile
        # each chunk's join (20 ms a time) for a few thousand.
        connection.exec_driver_sql("SET LOCAL jit = off")
    forms = normal_forms(connection, schema, obj, rule)
    result.records = len(forms)
    big = large_blocks(connection, schema, obj, rule, max_block)
    result.skipped_blocks = len(big)
    skip = set(dismissed)
    judge = _judge(rule)
    found: list[Pair] = []
    ids = sorted(forms)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for first, second in candidate_pairs(connection, schema, obj, rule, chunk[0], chunk[-1], big):
            other = forms.get(second)
            if other is None or first not in forms or (first, second) in skip:
                continue  # archived or deleted since its keys were written; or not a duplicate
            result.pairs += 1
            pair = judge(first, second, forms[first], other)
            if pair is not None:
                found.append(pair)
        if progress is not None:
            progress()
    result.groups = components(found)
    return result


def normal_forms(connection: sa.Connection, schema: Schema, obj: ObjectDef, rule: DuplicateRule) -> Forms:
    """Each record's (not archived) values of the rule's criteria in their methods' normal forms,
    read a page at a time (empty values become "", which matches nothing)."""
    table = schema.table(obj.name)
    names = sorted({c.field for c in rule.match})
    position = {name: i for i, name in enumerate(names)}
    normalisers = [(position[c.field], METHODS[c.method].normalise) for c in rule.match]
    forms: Forms = {}
    last = 0
    while True:
        rows = connection.execute(
            sa.select(table.c.id, *(table.c[n] for n in names))
            .where(table.c.id > last, table.c.archived_at.is_(None))
            .order_by(table.c.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return forms
        for row in rows:
            forms[row[0]] = tuple(_form(normalise, row[1 + i]) for i, normalise in normalisers)
        last = rows[-1][0]


def _form(normalise: Callable[[Any], str], value: Any) -> str:
    return "" if value is None or value == "" else normalise(value)


def large_blocks(
    connection: sa.Connection, schema: Schema, obj: ObjectDef, rule: DuplicateRule, max_block: int
) -> frozenset[str]:
    """The rule's keys shared by more than ``max_block`` records (one grouped pass over the keys)."""
    keys = schema.system["sys_dup_keys"]
    statement = (
        sa.select(keys.c.key)
        .where(keys.c.object == obj.name, keys.c.rule == rule.name)
        .group_by(keys.c.key)
        .having(sa.func.count() > max_block)
    )
    return frozenset(connection.execute(statement).scalars())


def candidate_pairs(
    connection: sa.Connection,
    schema: Schema,
    obj: ObjectDef,
    rule: DuplicateRule,
    low: int,
    high: int,
    skipped: frozenset[str],
) -> list[tuple[int, int]]:
    """The pairs (lower id first, each once) of records sharing a key of ``rule`` whose lower id
    lies in ``low..high``, the ``skipped`` keys left out: one self-join of the keys on the
    primary key (object, rule, key, record)."""
    keys = schema.system["sys_dup_keys"]
    mine, other = keys.alias("mine"), keys.alias("other")
    statement = (
        sa.select(mine.c.record_id, other.c.record_id)
        .distinct()
        .join(
            other,
            sa.and_(
                other.c.object == mine.c.object,
                other.c.rule == mine.c.rule,
                other.c.key == mine.c.key,
                other.c.record_id > mine.c.record_id,
            ),
        )
        .where(mine.c.object == obj.name, mine.c.rule == rule.name, mine.c.record_id.between(low, high))
    )
    if skipped:
        statement = statement.where(mine.c.key.not_in(sorted(skipped)))
    return [(first, second) for first, second in connection.execute(statement).all()]


def _judge(rule: DuplicateRule) -> Callable[[int, int, tuple[str, ...], tuple[str, ...]], Pair | None]:
    """The rule's judgement of two records from their normal forms (``matching.rule_match``)."""
    names = sorted({c.field for c in rule.match})
    #: Per criterion (by identity: cheaper than hashing the dataclass), its form's place and method.
    where = {id(c): (names.index(c.field), METHODS[c.method].compare_forms) for c in rule.match}

    def judge(first: int, second: int, a: tuple[str, ...], b: tuple[str, ...]) -> Pair | None:
        def similarity(criterion: MatchCriterion) -> float:
            i, compare = where[id(criterion)]
            return compare(a[i], b[i])

        found = rule_match(rule, rule.match, similarity)
        if found is None:
            return None
        score, matched = found
        scores: dict[str, float] = {}
        for criterion, value in matched:
            scores[criterion.field] = max(value, scores.get(criterion.field, 0.0))
        return Pair(first, second, score, scores)

    return judge


def components(pairs: Iterable[Pair]) -> list[Group]:
    """The connected components of the pairs: the groups, each with its members' best scores."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    pairs = list(pairs)
    for pair in pairs:
        a, b = root(pair.first), root(pair.second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    grouped: dict[int, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(root(pair.first), []).append(pair)
    groups = []
    for members_pairs in grouped.values():
        best: dict[int, float] = {}
        for pair in members_pairs:
            for member in (pair.first, pair.second):
                best[member] = max(pair.score, best.get(member, 0.0))
        groups.append(Group(best, tuple(members_pairs)))
    return groups
