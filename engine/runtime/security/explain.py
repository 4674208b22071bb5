"""Why a user can (or cannot) read, edit or delete one record (``trellis explain access``, issue 17 §2).

The verdicts come from the rules the read and write paths use, not from a second copy of
them: the user's ``Principal`` (``permissions.principal_of``, the function ``load_principal``
builds every session's principal with) says which scope level each action has and whether
the record's owner is inside it (``Principal.owners`` / ``in_scope``: the Python twin of the
SQL ``Principal.scope`` that ``Query`` adds); whether the account may act is
``permissions.unavailable``; the fields a pending approval locks are what the write path's
``approvals.check_locks`` refuses; a converted record is ``converted.converted_by``. This
module only adds the *why*: the roles giving each level and the chain that puts the owner
inside or outside it (the owner's team, the managers between the user and the owner).

``explain_access`` explains one user, ``who_can`` every active user who may read the record.
Sentences are the catalogue's (``engine.runtime.messages``, ``explain.*``) in the language
asked for; names are people's display names and labels, never keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.model import ObjectDef
from engine.runtime.errors import RECORD_ERRORS, NotFound
from engine.runtime.messages import current_language, localized, message
from engine.runtime.records.query import format_title
from engine.runtime.records.validation import Errors
from engine.runtime.records.writes import record_id_of
from engine.runtime.security.permissions import (
    SYSTEM,
    PermissionDenied,
    Principal,
    UnknownUser,
    UserGraph,
    UserRow,
    principal_of,
    unavailable,
)
from engine.runtime.workflow.approvals import check_locks, pending_locks
from engine.runtime.workflow.converted import converted_by

if TYPE_CHECKING:
    from engine.runtime.records.session import Session

#: The actions explained, in the order they are told.
ACTIONS = ("read", "edit", "delete")
#: Most records ``Explainer.load`` reads in one query.
LOAD_CHUNK = 1000
#: The permission that lets a person ask why someone else can see a record.
PERMISSION = "manage_config"


@dataclass(frozen=True)
class Reason:
    """One sentence of an explanation: a catalogue code and its parameters (already in words)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self, language: str) -> str:
        """The sentence in ``language``."""
        return message(self.code, language, **self.params)


@dataclass(frozen=True)
class Right:
    """One action on the record: whether the user's scope covers it, at which level, from
    which roles, and why."""

    action: str
    allowed: bool
    level: str
    roles: tuple[str, ...]
    reason: Reason


@dataclass(frozen=True)
class AccessExplanation:
    """Everything that decides what one user may do with one record."""

    object: str
    record_id: int
    title: str
    user_id: int
    username: str
    user_name: str
    active: bool
    roles: tuple[str, ...]
    head: Reason
    rights: Mapping[str, Right]
    hidden: tuple[str, ...]
    read_only: tuple[str, ...]
    notes: tuple[Reason, ...]
    locked_fields: tuple[str, ...] = ()
    delete_locked: bool = False
    converted: bool = False

    def can(self, action: str) -> bool:
        """Whether the user may ``action`` the record now: an active account whose scope of
        ``action`` covers it, and of read too (nobody changes what they cannot see) — the write
        path's rule. A converted or locked record may still refuse a change: see ``notes``."""
        covered = self.rights[action].allowed and self.rights["read"].allowed
        return self.active and covered

    def sentences(self, language: str) -> list[str]:
        """The explanation in plain sentences."""
        first = [n.text(language) for n in self.notes if n.code == "explain.inactive"]  # "were it active:"
        rights = [r.reason.text(language) for r in self.rights.values()]
        rest = [n.text(language) for n in self.notes if n.code != "explain.inactive"]
        return [self.head.text(language), *first, *rights, *rest]

    def to_dict(self, language: str) -> dict[str, Any]:
        """A JSON-ready view (``--json``)."""
        return {
            "object": self.object,
            "record_id": self.record_id,
            "title": self.title,
            "user": self.username,
            "active": self.active,
            "roles": list(self.roles),
            "can": {a: self.can(a) for a in ACTIONS},
            "rights": {
                a: {"in_scope": r.allowed, "scope": r.level, "roles": list(r.roles), "why": r.reason.text(language)}
                for a, r in self.rights.items()
            },
            "hidden_fields": list(self.hidden),
            "read_only_fields": list(self.read_only),
            "locked_fields": list(self.locked_fields),
            "delete_locked": self.delete_locked,
            "converted": self.converted,
            "sentences": self.sentences(language),
        }


@dataclass(frozen=True)
class Reader:
    """One user who may read the record (``who_can``), with what else they may do and why."""

    user_id: int
    username: str
    name: str
    can_edit: bool
    can_delete: bool
    reason: Reason


@dataclass(frozen=True)
class _World:
    """What explanations read once per session: the users, their teams and managers."""

    graph: UserGraph
    rows: Mapping[int, UserRow]
    names: Mapping[int, str]
    teams: Mapping[int, str]
    language: str

    @classmethod
    def read(cls, session: Session, language: str) -> _World:
        """Every user (one query), the teams (one) and the user graph (one)."""
        users = session.schema.system["sys_users"]
        teams = session.schema.system["sys_teams"]
        rows = {row["id"]: row for row in session.connection.execute(sa.select(users).order_by(users.c.id)).mappings()}
        return cls(
            UserGraph.read(session.connection, users),
            rows,
            {i: row["display_name"] or row["username"] for i, row in rows.items()},
            {
                row.id: row.label or row.name
                for row in session.connection.execute(sa.select(teams.c.id, teams.c.name, teams.c.label))
            },
            language,
        )


@dataclass(frozen=True)
class _Target:
    """The record explained, as stored."""

    obj: ObjectDef
    record: Mapping[str, Any]
    title: str
    #: The pending approval requests on the record (``approvals.pending_locks``).
    pending: tuple[Any, ...] = ()


# --- entry points ---------------------------------------------------------------------------------------
def require(session: Session) -> None:
    """Refuse callers who may not ask why others can see records (``manage_config``)."""
    if not session.principal.has(PERMISSION):
        raise PermissionDenied(
            localized(
                "explain.denied",
                f"explaining access needs the {PERMISSION} permission",
                {"permission": PERMISSION},
            )
        )


def explain_access(
    session: Session, object_name: str, record_id: Any, user: str | int, language: str = "en"
) -> AccessExplanation:
    """Why ``user`` may or may not read, edit and delete the record (``Explainer.access``)."""
    return Explainer(session, language).access(object_name, record_id, user)


def who_can(session: Session, object_name: str, record_id: Any, language: str = "en") -> tuple[str, list[Reader], int]:
    """Every active user who may read the record, with why (``Explainer.who``)."""
    return Explainer(session, language).who(object_name, record_id)


class Explainer:
    """Explains records to one caller (``manage_config``, or the system) in one session. The users
    are read once, so that many explanations (``--who``, a whole permission matrix) cost a query
    or two each."""

    def __init__(self, session: Session, language: str = "en") -> None:
        require(session)
        self.session = session
        self.language = language
        self._world: _World | None = None
        self._targets: dict[tuple[str, int], _Target] = {}
        self._principals: dict[int, Principal] = {}

    @property
    def world(self) -> _World:
        """The users, read on first use."""
        if self._world is None:
            self._world = _World.read(self.session, self.language)
        return self._world

    def access(self, object_name: str, record_id: Any, user: str | int) -> AccessExplanation:
        """Why ``user`` (a username or id) may or may not read, edit and delete the record. Raises
        UnknownObject, NotFound (also outside the caller's own read scope) and UnknownUser."""
        target = self._target(object_name, record_id)
        by_id = isinstance(user, int) and not isinstance(user, bool)
        row = next((r for r in self.world.rows.values() if r["id" if by_id else "username"] == user), None)
        if row is None:
            raise UnknownUser.named(user)
        return _explain(self.session, self.world, target, row, self._principal(row))

    def who(self, object_name: str, record_id: Any) -> tuple[str, list[Reader], int]:
        """The record's title, every active user who may read it (with edit, delete and the
        reason) by name, and how many accounts were left out as disabled or expired."""
        target, world, session = self._target(object_name, record_id), self.world, self.session
        now = session.clock().now_utc
        owner = target.record.get("owner_id")
        readers, inactive = [], 0
        for row in world.rows.values():
            if unavailable(row, now) is not None:
                inactive += 1
                continue
            principal = self._principal(row)
            if not principal.in_scope(target.obj.name, "read", owner):
                continue
            readers.append(
                Reader(
                    row["id"],
                    row["username"],
                    world.names[row["id"]],
                    principal.in_scope(target.obj.name, "edit", owner),
                    principal.in_scope(target.obj.name, "delete", owner),
                    _right(session, world, target, principal, "read").reason,
                )
            )
        readers.sort(key=lambda r: (r.name.lower(), r.user_id))
        return target.title, readers, inactive

    def load(self, object_name: str, record_ids: list[Any]) -> None:
        """Read the records ``record_ids`` (those the caller may read) and their pending approvals
        in two queries, for the explanations that follow."""
        session = self.session
        obj = session.object(object_name)
        ids = sorted({record_id_of(obj.name, i) for i in record_ids})
        if not ids:
            return
        for start in range(0, len(ids), LOAD_CHUNK):
            self._load(obj, ids[start : start + LOAD_CHUNK])

    def _load(self, obj: ObjectDef, ids: list[int]) -> None:
        session = self.session
        readable = set(ids)
        if not session.principal.is_system:
            readable = {r.id for r in session.query(obj.name).include_archived().filter(id__in=ids).all()}
        system = session.acting(SYSTEM, session.channel)
        found = [dict(r) for r in system.query(obj.name).include_archived().filter(id__in=ids).all()]
        pending = pending_locks(session, obj.name, [r["id"] for r in found])
        for record in found:
            if record["id"] in readable:
                key = (obj.name, record["id"])
                self._targets[key] = _Target(obj, record, format_title(obj, record), tuple(pending[record["id"]]))

    def _target(self, object_name: str, record_id: Any) -> _Target:
        obj = self.session.object(object_name)
        key = (obj.name, record_id_of(obj.name, record_id))
        if key not in self._targets:
            self.load(obj.name, [key[1]])
        if key not in self._targets:
            # no such record, or outside the caller's own read scope
            raise NotFound(obj.name, record_id, obj.label.get(current_language()))
        return self._targets[key]

    def _principal(self, row: UserRow) -> Principal:
        """The principal of a user row, built once (``permissions.principal_of``)."""
        if row["id"] not in self._principals:
            self._principals[row["id"]] = principal_of(self.session.config, row, self.world.graph)
        return self._principals[row["id"]]


# --- the parts --------------------------------------------------------------------------------------------
def _explain(session: Session, world: _World, target: _Target, row: UserRow, principal: Principal) -> AccessExplanation:
    config, obj, language = session.config, target.obj, world.language
    name = world.names.get(row["id"], row["username"])
    notes: list[Reason] = []
    problem = unavailable(row, session.clock().now_utc)
    if problem is not None:
        notes.append(Reason("explain.inactive", {"user": name}))
    rights = {action: _right(session, world, target, principal, action) for action in ACTIONS}
    if not rights["read"].allowed and (rights["edit"].allowed or rights["delete"].allowed):
        notes.append(Reason("explain.needs_read", {"user": name}))
    names = [f.name for f in obj.fields.values()]
    hidden = tuple(n for n in names if not principal.can_see(obj.name, n))
    read_only = tuple(n for n in names if not principal.can_change(obj.name, n) and n not in hidden)
    if hidden:
        notes.append(Reason("explain.hidden", {"user": name, "fields": _fields(obj, hidden, language)}))
    if read_only:
        notes.append(Reason("explain.read_only", {"user": name, "fields": _fields(obj, read_only, language)}))
    locked, delete_locked = _locks(session, target)
    if locked:
        notes.append(Reason("explain.locked", {"fields": _fields(obj, locked, language)}))
    if delete_locked:
        notes.append(Reason("explain.delete_locked", {}))
    conversion = converted_by(config, obj.name, target.record)
    if conversion is not None:
        notes.append(Reason("explain.converted", {"conversion": conversion.label.get(language)}))
    if target.record.get("archived_at") is not None:
        notes.append(Reason("explain.archived", {}))
    role_names = ", ".join(config.roles[r].label.get(language) for r in principal.roles)
    return AccessExplanation(
        obj.name,
        target.record["id"],
        target.title,
        row["id"],
        row["username"],
        name,
        problem is None,
        principal.roles,
        Reason("explain.roles" if principal.roles else "explain.no_roles", {"user": name, "roles": role_names}),
        rights,
        hidden,
        read_only,
        tuple(notes),
        locked,
        delete_locked,
        conversion is not None,
    )


def _right(session: Session, world: _World, target: _Target, principal: Principal, action: str) -> Right:
    """One action: the verdict is ``Principal.in_scope`` (the rule of the read and write paths);
    the reason names the roles and the chain that make it so."""
    obj, language = target.obj, world.language
    level = getattr(principal.grant(obj.name), action)
    roles = tuple(r for r in principal.roles if getattr(session.config.roles[r].grant(obj.name), action) == level)
    owner = target.record.get("owner_id")
    allowed = principal.in_scope(obj.name, action, owner)
    params: dict[str, Any] = {
        "user": world.names.get(principal.user_id or 0, principal.username),
        "verb": message(f"explain.verb.{action}", language),
        "object": obj.label.get(language),
        "level": message(f"explain.level.{level}", language),
        "roles": ", ".join(session.config.roles[r].label.get(language) for r in roles),
        "owner": world.names.get(owner, str(owner)) if owner is not None else "",
    }
    if level == "none":
        code = "explain.none"
    elif level == "all":
        code = "explain.all"
    elif owner is None:
        code = "explain.no_owner"
    elif owner == principal.user_id:
        code = "explain.owner_self"
    elif level == "own":
        code = "explain.own_no"
    elif level == "team":
        code = _team(world, principal, owner, allowed, params)
    else:
        code = _subtree(world, principal, owner, allowed, params)
    return Right(action, allowed, level, roles, Reason(f"{code}.{'yes' if allowed else 'no'}", params))


def _team(world: _World, principal: Principal, owner: int, allowed: bool, params: dict[str, Any]) -> str:
    """The team scope: the owner's team beside the user's."""
    params["team"] = world.teams.get(principal.team_id or 0, "")
    owner_team = world.rows[owner]["team_id"] if owner in world.rows else None
    params["owner_team"] = world.teams.get(owner_team or 0, "")
    if allowed or owner_team is not None and principal.team_id is not None:
        return "explain.team"
    return "explain.team_none" if principal.team_id is None else "explain.team_owner_none"


def _subtree(world: _World, principal: Principal, owner: int, allowed: bool, params: dict[str, Any]) -> str:
    """The subtree scope: the managers from the user down to the owner, or the owner's managers."""
    names = world.names
    if allowed:
        chain = world.graph.chain(owner, principal.user_id or 0) or [principal.user_id or 0, owner]
    else:
        chain = [owner]
        while (manager := world.graph.managers.get(chain[-1])) is not None and manager not in chain:
            chain.append(manager)
        chain.reverse()
    params["chain"] = " → ".join(names.get(i, str(i)) for i in chain)
    return "explain.subtree"


def _locks(session: Session, target: _Target) -> tuple[tuple[str, ...], bool]:
    """The fields pending approvals lock, and whether a delete waits: what ``check_locks``
    refuses in the write path, asked for every field and for a delete."""
    errors, obj = Errors(), target.obj
    check_locks(session, obj, target.record["id"], set(obj.fields), "delete", errors, list(target.pending))
    fields = tuple(n for n in obj.fields if n in errors)
    return fields, RECORD_ERRORS in errors


def _fields(obj: ObjectDef, names: tuple[str, ...], language: str) -> str:
    return ", ".join(obj.fields[n].label.get(language) for n in names)
