"""Who is acting, and what they may see and change (S31–S34).

A ``Principal`` is resolved once per session from ``sys_users`` and the
config's roles: the most permissive combination of the user's roles, the ids
of the owners in their team and in their manager subtree. The query layer asks
it for the SQL condition of a scope; the write path asks whether an owner is
inside a scope and which fields are hidden or read-only.

Scopes (one small rule each, cf. EspoCRM's access-level filters):

- ``own``: the record's owner is the user;
- ``team``: the owner is in the user's team;
- ``subtree``: the owner is the user or anyone below them in the manager hierarchy;
- ``all``: every record; ``none``: no record.

Records without an owner are in scope for ``all`` only.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.metadata.model import NO_GRANT, Config, ObjectGrant, Role
from engine.runtime.errors import TrellisError

#: The grant of the system context (automation, migrations, demo data).
SYSTEM_GRANT = ObjectGrant(
    read="all", edit="all", delete="all", create=True, export=True, import_=True, reassign=True, merge_=True
)


class UnknownUser(TrellisError):
    """No user of that name or id."""

    code = "unknown_user"

    @classmethod
    def named(cls, user: object) -> UnknownUser:
        """``there is no user 'name'``, in the current language."""
        return cls.said("user.no_such", f"there is no user {user!r}", user=user)


class AccountUnavailable(TrellisError):
    """The user exists but may not act now (disabled or expired)."""

    code = "account_unavailable"


class PermissionDenied(TrellisError):
    """The caller may see the record (or object) but not do this to it."""

    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    """The acting user with their effective grants, or the system."""

    user_id: int | None
    username: str
    roles: tuple[str, ...] = ()
    team_id: int | None = None
    team_member_ids: frozenset[int] = frozenset()
    subtree_ids: frozenset[int] = frozenset()
    grants: Mapping[str, ObjectGrant] = field(default_factory=dict)
    permissions: frozenset[str] = frozenset()
    hidden: frozenset[tuple[str, str]] = frozenset()
    read_only: frozenset[tuple[str, str]] = frozenset()
    lookup_titles: bool = False

    @property
    def is_system(self) -> bool:
        """True for the system context (``session(user=None)``)."""
        return self.user_id is None

    def grant(self, object_name: str) -> ObjectGrant:
        """The effective grant on ``object_name``."""
        return SYSTEM_GRANT if self.is_system else self.grants.get(object_name, NO_GRANT)

    def has(self, permission: str) -> bool:
        """Whether the principal holds a named permission (the system holds all)."""
        return self.is_system or permission in self.permissions

    def can_see(self, object_name: str, field_name: str) -> bool:
        """Whether ``object.field`` is visible (not hidden) to the principal."""
        return (object_name, field_name) not in self.hidden

    def can_change(self, object_name: str, field_name: str) -> bool:
        """Whether ``object.field`` may be written (``read_only`` holds hidden ∪ read-only fields)."""
        return (object_name, field_name) not in self.read_only

    def owners(self, level: str) -> frozenset[int] | None:
        """Owner ids inside ``level``; None means every record (``all``)."""
        if level == "all":
            return None
        if level == "own":
            return frozenset({self.user_id}) if self.user_id else frozenset()
        if level == "team":
            own = frozenset({self.user_id}) if self.user_id else frozenset()
            return self.team_member_ids | own  # a user without a team still has their own
        if level == "subtree":
            return self.subtree_ids
        return frozenset()

    def scope(self, object_name: str, action: str, owner_column: sa.ColumnElement) -> sa.ColumnElement[bool] | None:
        """The SQL condition for ``action`` (read/edit/delete) on the object; None = no restriction."""
        owners = self.owners(getattr(self.grant(object_name), action))
        if owners is None:
            return None
        if not owners:
            return sa.false()
        return owner_column.in_(sorted(owners))

    def may_give_to(self, object_name: str) -> frozenset[int] | None:
        """Ids of the users who may be made owner of a record of ``object_name`` by this principal;
        None = anyone (``reassign``, or edit scope ``all``), else the owners inside the edit scope
        and oneself. The write path judges every owner change by it; forms offer only these."""
        grant = self.grant(object_name)
        if grant.reassign:
            return None
        owners = self.owners(grant.edit)
        if owners is None:
            return None
        return owners | ({self.user_id} if self.user_id else frozenset())

    def in_scope(self, object_name: str, action: str, owner_id: int | None) -> bool:
        """Whether a record owned by ``owner_id`` is inside the scope of ``action``."""
        owners = self.owners(getattr(self.grant(object_name), action))
        return owners is None or (owner_id is not None and owner_id in owners)


SYSTEM = Principal(user_id=None, username="system")

#: A ``sys_users`` row, as read.
UserRow = Mapping[str, Any] | sa.RowMapping


def load_principal(
    connection: sa.Connection, config: Config, user: str | int, now: dt.datetime, users: sa.Table
) -> Principal:
    """Resolve ``user`` (username or id) into a Principal; refuses unknown, disabled and expired users."""
    row = user_row(connection, users, user)
    problem = unavailable(row, now)
    if problem is not None:
        raise problem
    return principal_of(config, row, UserGraph.read(connection, users))


def unavailable(row: UserRow, now: dt.datetime) -> AccountUnavailable | None:
    """Why the user of a ``sys_users`` row may not act at ``now`` (disabled, expired), or None."""
    if not row["active"]:
        return AccountUnavailable(f"the account {row['username']!r} is disabled")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return AccountUnavailable(f"the account {row['username']!r} expired on {row['expires_at']:%Y-%m-%d %H:%M} UTC")
    return None


def user_row(connection: sa.Connection, users: sa.Table, user: str | int) -> sa.RowMapping:
    """The ``sys_users`` row of ``user`` (username or id), whatever its state; raises UnknownUser."""
    column = users.c.id if isinstance(user, int) and not isinstance(user, bool) else users.c.username
    row = connection.execute(sa.select(users).where(column == user)).mappings().first()
    if row is None:
        raise UnknownUser.named(user)
    return row


@functools.lru_cache(maxsize=64)
def _graph_statement(users: sa.Table) -> sa.Select:
    """Every user's team and manager, built once per table (every web request's login check reads it)."""
    return sa.select(users.c.id, users.c.team_id, users.c.manager_id)


@dataclass(frozen=True)
class UserGraph:
    """Who is in which team and who reports to whom: what team and subtree scopes read.
    Read in one query; ``principal_of`` takes it so that many principals share one read."""

    teams: Mapping[int, frozenset[int]]
    reports: Mapping[int, tuple[int, ...]]
    managers: Mapping[int, int]

    @classmethod
    def read(cls, connection: sa.Connection, users: sa.Table) -> UserGraph:
        """Every user's team and manager, in one query."""
        return cls.of(connection.execute(_graph_statement(users)))

    @classmethod
    def of(cls, rows: Iterable[Any]) -> UserGraph:
        """The graph of ``rows``: each a user's id, team and manager."""
        teams: dict[int, set[int]] = {}
        reports: dict[int, list[int]] = {}
        managers: dict[int, int] = {}
        for uid, team, manager in rows:
            if team is not None:
                teams.setdefault(team, set()).add(uid)
            if manager is not None:
                reports.setdefault(manager, []).append(uid)
                managers[uid] = manager
        return cls(
            {t: frozenset(ids) for t, ids in teams.items()}, {m: tuple(ids) for m, ids in reports.items()}, managers
        )

    def team_members(self, team_id: int | None) -> frozenset[int]:
        """The users of ``team_id`` (none without a team)."""
        return frozenset() if team_id is None else self.teams.get(team_id, frozenset())

    def subtree(self, user_id: int) -> frozenset[int]:
        """The user and everyone below them in the manager hierarchy (cycles are harmless)."""
        found, pending = {user_id}, [user_id]
        while pending:
            for child in self.reports.get(pending.pop(), ()):
                if child not in found:
                    found.add(child)
                    pending.append(child)
        return frozenset(found)

    def chain(self, user_id: int, top: int) -> list[int] | None:
        """The managers from ``top`` down to ``user_id`` (both included), or None when ``top``
        is not above ``user_id`` (nor them)."""
        path, seen = [user_id], {user_id}
        while path[-1] != top:
            manager = self.managers.get(path[-1])
            if manager is None or manager in seen:
                return None
            path.append(manager)
            seen.add(manager)
        return path[::-1]


def principal_of(config: Config, row: UserRow, graph: UserGraph) -> Principal:
    """The Principal of a ``sys_users`` row (its state not judged): the most permissive combination
    of its roles, its team and its subtree."""
    roles = _role_rights(config, tuple(row["roles"] or ()))
    return Principal(
        user_id=row["id"],
        username=row["username"],
        roles=roles.names,
        team_id=row["team_id"],
        team_member_ids=graph.team_members(row["team_id"]),
        subtree_ids=graph.subtree(row["id"]),
        grants=roles.grants,
        permissions=roles.permissions,
        hidden=roles.hidden,
        read_only=roles.read_only,
        lookup_titles=roles.lookup_titles,
    )


@dataclass(frozen=True)
class RoleRights:
    """What a combination of roles may do under one config: the part of a Principal that depends
    on the config and the role names alone (``_role_rights``)."""

    names: tuple[str, ...]
    grants: Mapping[str, ObjectGrant]
    permissions: frozenset[str]
    hidden: frozenset[tuple[str, str]]
    read_only: frozenset[tuple[str, str]]
    lookup_titles: bool


#: Per config (by identity, while it lives): the ``RoleRights`` of each combination of role names
#: met. The config is immutable, so they never go stale; a user's roles are read with their row on
#: every request and only pick the entry.
_RIGHTS: dict[int, tuple[weakref.ref[Config], dict[tuple[str, ...], RoleRights]]] = {}
#: Most combinations kept per config (then it starts again): users have few distinct ones.
RIGHTS_PER_CONFIG = 256


def _role_rights(config: Config, names: tuple[str, ...]) -> RoleRights:
    entry = _RIGHTS.get(id(config))
    if entry is None or entry[0]() is not config:
        key = id(config)
        entry = (weakref.ref(config, lambda _: _RIGHTS.pop(key, None)), {})
        _RIGHTS[key] = entry
    known = entry[1]
    found = known.get(names)
    if found is None:
        roles = [config.roles[name] for name in names if name in config.roles]
        found = RoleRights(
            names=tuple(r.name for r in roles),
            grants=_merged_grants(config, roles),
            permissions=frozenset().union(*(r.permissions for r in roles)),
            hidden=_restricted(config, roles, lambda r: r.hidden),
            read_only=_restricted(config, roles, lambda r: r.hidden | r.read_only),
            lookup_titles=any(r.lookup_titles for r in roles),
        )
        if len(known) >= RIGHTS_PER_CONFIG:
            known.clear()
        known[names] = found
    return found


def _merged_grants(config: Config, roles: list[Role]) -> dict[str, ObjectGrant]:
    grants = {}
    for name in config.objects:
        grant = NO_GRANT
        for role in roles:
            grant = grant.merge(role.grant(name))
        grants[name] = grant
    return grants


def _restricted(config: Config, roles: list[Role], fields_of) -> frozenset[tuple[str, str]]:
    """Fields restricted for the user: a field stays hidden (or unchangeable) only if every
    role that can read its object restricts it; roles without read access to an object do
    not count, so they cannot lift another role's restriction. Read-only is computed over
    hidden ∪ read_only, so that one role's hidden field is not writable through another's."""
    restricted: set[tuple[str, str]] = set()
    for object_name in config.objects:
        readers = [r for r in roles if r.grant(object_name).read != "none"]
        if not readers:
            continue
        per_role = [{f for f in fields_of(r) if f[0] == object_name} for r in readers]
        restricted |= set.intersection(*per_role)
    return frozenset(restricted)
