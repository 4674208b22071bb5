"""Setting a case up: the clock, the users (teams made as needed, managers after everyone
exists) and the records, each written by the system through the write path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from engine.runtime.configtests.case import CaseRun, GivenRefused, Ref
from engine.runtime.configtests.model import Given
from engine.runtime.errors import TrellisError

#: The moment a case starts at when neither its file nor the case says ``at:``.
DEFAULT_AT = "2026-06-01 09:00"


def set_up(run: CaseRun, given: Given) -> None:
    """Bring the database to what ``given`` describes (the clock moves to its ``at`` when it has one)."""
    if given.at:
        run.clock.now = run.moment(given.at)
    _users(run, given)
    for record in given.records:
        values = values_for(run, record.object, record.values)
        if record.owner is not None:
            values["owner_id"] = run.users[record.owner]
        try:
            with run.crm.session(None, channel="python") as session, session.duplicates_allowed():
                created = session.create(record.object, values)
        except TrellisError as error:
            raise GivenRefused(error, record.location) from None
        if record.alias:
            run.aliases[record.alias] = Ref(record.object, created.id if created.get("id") else None)


def _users(run: CaseRun, given: Given) -> None:
    if not given.users:
        return
    with run.crm.directory(None, channel="python") as directory:
        teams = {t.name for t in directory.list_teams()}
        for user in given.users:
            if user.team and user.team not in teams:
                directory.add_team(user.team)
                teams.add(user.team)
            attributes: dict[str, Any] = {"team": user.team, "email": user.email, "display_name": user.display_name}
            added = directory.add(user.username, roles=list(user.roles), **{k: v for k, v in attributes.items() if v})
            run.users[user.username] = added.id
        for user in given.users:
            if user.manager:
                directory.edit(user.username, manager=user.manager)


def values_for(run: CaseRun, object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as the write path takes them: ``"@alias"`` → the record's id, a user name in a
    user field (``owner_id`` too) → the user's id; the rest as written."""
    obj = run.crm.config.objects[object_name]
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = obj.fields.get(name)
        if isinstance(value, str) and value.startswith("@") and value[1:] in run.aliases:
            value = run.aliases[value[1:]].id
        elif isinstance(value, str) and (
            name in ("owner_id", "created_by") or (f is not None and f.kind.refers_to_user)
        ):
            value = run.users.get(value, value)
        elif isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=run.zone)
        out[name] = value
    return out
