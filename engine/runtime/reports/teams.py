"""Owners' user names and teams, for reports that add owners up per team (a forecast's
subtotals) or look them up by name (quotas given per user and team in the config)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


@dataclass(frozen=True)
class Owner:
    """One owner: the user name, and the team (its id, name as ``trellis team add`` gave it, and
    label; None without a team)."""

    username: str
    team_id: int | None
    team: str | None
    team_label: str | None


def owners(session: Session, ids: Iterable[int]) -> dict[int, Owner]:
    """The owners ``ids`` with their user names and teams, in one query (a user name or a team
    is no secret inside the company, as ``user_names`` says)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    users, teams = session.schema.system["sys_users"], session.schema.system["sys_teams"]
    statement = (
        sa.select(users.c.id, users.c.username, users.c.team_id, teams.c.name, teams.c.label)
        .select_from(users.outerjoin(teams, users.c.team_id == teams.c.id))
        .where(users.c.id.in_(wanted))
    )
    return {
        row.id: Owner(row.username, row.team_id, row.name, row.label or row.name)
        for row in session.connection.execute(statement)
    }
