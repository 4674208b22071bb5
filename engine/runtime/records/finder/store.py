"""The finder's system tables: groups with their members and pairs, dismissed pairs, and runs.

``replace_groups`` puts a run's groups of one object and rule in place of the ones before (in the
caller's transaction); ``dismiss`` remembers pairs that are not duplicates and regroups what is
left of their group (a group that held only through a dismissed pair splits or disappears).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.runtime.records.finder.scan import Group, Pair, components
from engine.runtime.tables import Schema


@dataclass(frozen=True)
class StoredGroup:
    """A group as stored: its id, rule, score and pairs."""

    id: int
    rule: str
    score: float
    pairs: tuple[Pair, ...]


def _tables(schema: Schema) -> tuple[sa.Table, sa.Table, sa.Table]:
    system = schema.system
    return system["sys_dup_groups"], system["sys_dup_members"], system["sys_dup_pairs"]


def replace_groups(
    connection: sa.Connection,
    schema: Schema,
    object_name: str,
    rule: str,
    groups: Sequence[Group],
    run_id: int | None,
    now: dt.datetime,
) -> None:
    """Drop the groups of ``object_name`` by ``rule`` and store ``groups`` instead."""
    table, _, _ = _tables(schema)
    old = sa.select(table.c.id).where(table.c.object == object_name, table.c.rule == rule)
    _drop(connection, schema, old)
    insert_groups(connection, schema, object_name, rule, groups, run_id, now)


def insert_groups(
    connection: sa.Connection,
    schema: Schema,
    object_name: str,
    rule: str,
    groups: Sequence[Group],
    run_id: int | None,
    now: dt.datetime,
) -> None:
    """Store ``groups`` (with members and pairs) of ``object_name`` by ``rule``."""
    table, members, pairs = _tables(schema)
    for start in range(0, len(groups), 1000):
        part = groups[start : start + 1000]
        rows = [
            {
                "object": object_name,
                "rule": rule,
                "run_id": run_id,
                "score": g.score,
                "size": len(g.members),
                "found_at": now,
            }
            for g in part
        ]
        ids = connection.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars()
        member_rows: list[dict[str, Any]] = []
        pair_rows: list[dict[str, Any]] = []
        for group_id, group in zip(ids, part, strict=True):
            member_rows += [{"group_id": group_id, "record_id": r, "score": s} for r, s in group.members.items()]
            pair_rows += [
                {
                    "group_id": group_id,
                    "first_id": p.first,
                    "second_id": p.second,
                    "score": p.score,
                    "matched": dict(p.matched),
                }
                for p in group.pairs
            ]
        if member_rows:
            connection.execute(sa.insert(members), member_rows)
        if pair_rows:
            connection.execute(sa.insert(pairs), pair_rows)


def _drop(connection: sa.Connection, schema: Schema, ids: sa.Select[Any]) -> None:
    table, members, pairs = _tables(schema)
    wanted = list(connection.execute(ids).scalars())
    for start in range(0, len(wanted), 1000):
        part = wanted[start : start + 1000]
        connection.execute(sa.delete(pairs).where(pairs.c.group_id.in_(part)))
        connection.execute(sa.delete(members).where(members.c.group_id.in_(part)))
        connection.execute(sa.delete(table).where(table.c.id.in_(part)))


def stored_groups(
    connection: sa.Connection, schema: Schema, object_name: str, ids: Iterable[int] | None = None
) -> list[StoredGroup]:
    """The stored groups of ``object_name`` (or those of ``ids``) with their pairs, best first."""
    table, _, pairs = _tables(schema)
    query = sa.select(table.c.id, table.c.rule, table.c.score).where(table.c.object == object_name)
    if ids is not None:
        query = query.where(table.c.id.in_(list(ids)))
    heads = connection.execute(query.order_by(table.c.score.desc(), table.c.id)).all()
    found: dict[int, list[Pair]] = {row.id: [] for row in heads}
    wanted = list(found)
    for start in range(0, len(wanted), 1000):
        rows = connection.execute(sa.select(pairs).where(pairs.c.group_id.in_(wanted[start : start + 1000]))).mappings()
        for row in rows:
            found[row["group_id"]].append(Pair(row["first_id"], row["second_id"], row["score"], row["matched"] or {}))
    return [StoredGroup(row.id, row.rule, row.score, tuple(found[row.id])) for row in heads]


def dismissed_pairs(connection: sa.Connection, schema: Schema, object_name: str) -> set[tuple[int, int]]:
    """The pairs of ``object_name`` people said are not duplicates (lower id first)."""
    table = schema.system["sys_dup_dismissed"]
    rows = connection.execute(sa.select(table.c.first_id, table.c.second_id).where(table.c.object == object_name))
    return {(a, b) for a, b in rows}


def dismiss(
    connection: sa.Connection,
    schema: Schema,
    object_name: str,
    group: StoredGroup,
    pairs: Iterable[tuple[int, int]],
    user_id: int | None,
    now: dt.datetime,
) -> int:
    """Remember ``pairs`` (of records of ``group``) as not duplicates and regroup what is left of
    ``group``; the number of pairs newly dismissed."""
    table = schema.system["sys_dup_dismissed"]
    wanted = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    known = dismissed_pairs(connection, schema, object_name)
    new = sorted(wanted - known)
    if new:
        connection.execute(
            sa.insert(table),
            [
                {"object": object_name, "first_id": a, "second_id": b, "user_id": user_id, "dismissed_at": now}
                for a, b in new
            ],
        )
    left = [p for p in group.pairs if (p.first, p.second) not in wanted]
    groups_table, _, _ = _tables(schema)
    run_id = connection.execute(sa.select(groups_table.c.run_id).where(groups_table.c.id == group.id)).scalar()
    _drop(connection, schema, sa.select(groups_table.c.id).where(groups_table.c.id == group.id))
    insert_groups(connection, schema, object_name, group.rule, components(left), run_id, now)
    return len(new)
