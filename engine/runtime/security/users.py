"""Users and teams: data in ``sys_users`` / ``sys_teams``, managed by admins.

Every change (``Directory``) is checked (unknown roles, teams and managers, taken
user names, the password policy), reported field by field as ``ValidationFailed``,
needs the ``manage_users`` permission unless the system makes it, and is written
to the audit trail in the same transaction.

Everyone else reads the directory through the functions below (the web layer runs
no SQL of its own): users' names to show (``user_names``), the active users a picker
offers (``count_active``, ``active_people``, ``find_active``), and what a request
needs of the logged-in user (``login_user``, ``user_locale``). Names are no secret
inside the company; nothing else about a user is handed out here.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.runtime.database import read_only
from engine.runtime.errors import NotFound, ValidationFailed
from engine.runtime.jobs import inbox
from engine.runtime.records.validation import Errors
from engine.runtime.security import audit, sessions
from engine.runtime.security.auth import totp_active
from engine.runtime.security.passwords import hash_password, password_problems
from engine.runtime.security.permissions import SYSTEM, PermissionDenied, Principal, UserGraph, principal_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from engine.runtime.context import Runtime, SharedRead
    from engine.runtime.records.session import Session

#: User attributes an admin may set (besides the password).
EDITABLE = (
    "display_name",
    "email",
    "roles",
    "team",
    "manager",
    "active",
    "expires_at",
    "locale",
    "timezone",
    "away_until",
)


@dataclass(frozen=True)
class User:
    """A user as shown to admins (never the password hash or TOTP secret)."""

    id: int
    username: str
    display_name: str | None
    email: str | None
    roles: tuple[str, ...]
    team: str | None
    manager: str | None
    active: bool
    expires_at: dt.datetime | None
    locale: str | None
    timezone: str | None
    totp_enabled: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    #: Away until then (assignment rules skip the user); None: not away.
    away_until: dt.datetime | None = None


@dataclass(frozen=True)
class Team:
    """A team of users (the ``team`` record scope)."""

    id: int
    name: str
    label: str | None
    members: int


@dataclass(frozen=True)
class Person:
    """A user as pickers and messages show them: the id, the user name and the name shown
    (the display name, else the user name)."""

    id: int
    username: str
    name: str


@dataclass(frozen=True)
class LoginUser:
    """What a web request needs of its logged-in user: whether they may act, their language,
    and the session generation their sessions must still be in (``engine.runtime.security.sessions``)."""

    id: int
    username: str
    locale: str | None
    active: bool
    expires_at: dt.datetime | None
    session_generation: int
    #: What the user may do, read with the row when they may act (else None).
    principal: Principal | None = field(default=None, compare=False)
    #: How many unread notifications the user has (the header's bell), read with the row in the
    #: request's shared read (``login_user(shared=…)``); None when not read.
    unread: int | None = field(default=None, compare=False)

    def may_act(self, now: dt.datetime) -> bool:
        """Active and not expired at ``now``."""
        return self.active and (self.expires_at is None or self.expires_at > now)


#: Longest text ``active_people`` searches for (longer is cut).
MAX_SEARCH = 100


def _shown_name(users: sa.Table) -> sa.ColumnElement[str]:
    """The name a user is shown by: the display name, else the user name."""
    return sa.func.coalesce(sa.func.nullif(users.c.display_name, ""), users.c.username)


def _active(session: Session, among: Iterable[int] | None) -> tuple[sa.Table, sa.Select]:
    users = session.schema.system["sys_users"]
    statement = sa.select(users.c.id, users.c.username, _shown_name(users).label("name")).where(
        users.c.active.is_(True)
    )
    if among is not None:
        statement = statement.where(users.c.id.in_(sorted(among)))
    return users, statement


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names (else user names) of users, by id; a name is no secret inside the company.
    Read once per transaction (``Session.unit``)."""
    return {row.id: row.display_name or row.username for row in session.unit.users(ids).values()}


def count_active(session: Session, among: Iterable[int] | None = None) -> int:
    """How many active users there are (among the ids ``among``, when given)."""
    _, statement = _active(session, among)
    return session.connection.execute(sa.select(sa.func.count()).select_from(statement.subquery())).scalar_one()


def active_people(
    session: Session, text: str = "", among: Iterable[int] | None = None, limit: int | None = None
) -> list[Person]:
    """Active users (among ``among``) by name; with ``text``, those whose display name or user
    name contains it (case-insensitive, at most ``MAX_SEARCH`` characters taken)."""
    users, statement = _active(session, among)
    text = text.strip()[:MAX_SEARCH]
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            sa.or_(
                sa.func.lower(users.c.username).like(pattern, escape="\\"),
                sa.func.lower(users.c.display_name).like(pattern, escape="\\"),
            )
        )
    statement = statement.order_by(sa.func.lower(_shown_name(users)), users.c.id)
    if limit is not None:
        statement = statement.limit(limit)
    return [Person(row.id, row.username, row.name) for row in session.connection.execute(statement)]


def find_active(session: Session, text: str, among: Iterable[int] | None = None) -> Person | None:
    """The active user (among ``among``) ``text`` names: their user name, or a display name no
    other such user has (case-insensitive); None when there is none or the name is ambiguous."""
    users, statement = _active(session, among)
    wanted = text.strip().lower()
    if not wanted:
        return None
    row = session.connection.execute(statement.where(sa.func.lower(users.c.username) == wanted)).first()
    if row is None:
        rows = session.connection.execute(statement.where(sa.func.lower(users.c.display_name) == wanted).limit(2)).all()
        row = rows[0] if len(rows) == 1 else None
    return Person(row.id, row.username, row.name) if row is not None else None


def login_user(crm: Runtime, user_id: int, shared: SharedRead | None = None) -> LoginUser | None:
    """The user a web session belongs to (any state; the caller judges ``may_act`` and the
    session generation), or None for an unknown id. One read-only transaction (no write lock on
    SQLite) reads the user's row and, when they may act now, the team graph: the ``principal``
    the request acts as, so that its unit of work does not read the user again. ``shared``: the
    request's read (``Runtime.shared_read``) to read them in, left open for the page, which then
    knows the user's row too (``SharedRead.users``), and the user's unread notifications are
    counted in the same statement (``LoginUser.unread``: the page only reads, so the count holds
    for its header)."""
    if shared is not None:
        return _login_user(crm, user_id, shared.open(), shared.users, unread=True)
    with read_only(crm.engine) as connection:
        return _login_user(crm, user_id, connection, {}, unread=False)


def _login_user(
    crm: Runtime, user_id: int, connection: sa.Connection, seen: dict[int, Any], *, unread: bool
) -> LoginUser | None:
    users = crm.schema.system["sys_users"]
    notifications = crm.schema.system["sys_notifications"] if unread else None
    rows = connection.execute(_user_and_graph(users, notifications), {"user_id": user_id}).all()
    found_row = next((r for r in rows if r.id == user_id), None)
    if found_row is None:
        return None
    seen[found_row.id] = found_row
    row = found_row._mapping
    found = LoginUser(
        row["id"],
        row["username"],
        row["locale"],
        bool(row["active"]),
        row["expires_at"],
        row[sessions.COLUMN] or 0,
        unread=row[UNREAD] if unread else None,
    )
    if found.may_act(crm.clock_now().now_utc):
        graph = UserGraph.of((r.id, r.team_id, r.manager_id) for r in rows)
        found = replace(found, principal=principal_of(crm.config, row, graph))
    return found


#: The label of the unread notifications' count in the login check's statement.
UNREAD = "_unread"


@functools.lru_cache(maxsize=64)
def _user_and_graph(users: sa.Table, notifications: sa.Table | None) -> sa.Select:
    """Every user's id, team and manager — the team graph — and the whole row of the user
    ``user_id`` (the other users' other columns are NULL): what every web request's login check
    reads, in one round trip instead of two; with ``notifications``, also that user's unread
    notifications (``UNREAD``: an uncorrelated subquery, counted once). Built once per table."""
    mine = users.c.id == sa.bindparam("user_id")
    graph = (users.c.id, users.c.team_id, users.c.manager_id)
    rest = [sa.case((mine, column), else_=sa.null()).label(column.name) for column in users.c if column not in graph]
    if notifications is not None:
        rest.append(inbox.unread_count_statement(notifications).scalar_subquery().label(UNREAD))
    return sa.select(*graph, *rest)


def user_locale(crm: Runtime, username: str) -> str | None:
    """The locale of the user called ``username`` (None: not set, or no such user)."""
    users = crm.schema.system["sys_users"]
    with read_only(crm.engine) as connection:
        return connection.execute(sa.select(users.c.locale).where(users.c.username == username)).scalar()


class Directory:
    """User and team management on one connection, as one principal."""

    def __init__(
        self, crm: Runtime, connection: sa.Connection, actor: Principal = SYSTEM, channel: str = "cli"
    ) -> None:
        self.crm, self.connection, self.actor, self.channel = crm, connection, actor, channel
        self.users = crm.schema.system["sys_users"]
        self.teams = crm.schema.system["sys_teams"]

    # --- reading -------------------------------------------------------------
    def get(self, username: str) -> User:
        """The user called ``username``; raises NotFound."""
        row = self._row(username)
        return self._user(row)

    def list(self) -> list[User]:
        """Every user, by user name."""
        rows = self.connection.execute(sa.select(self.users).order_by(self.users.c.username)).mappings()
        return [self._user(row) for row in rows]

    def list_teams(self) -> builtins.list[Team]:
        """Every team with its member count, by name."""
        members = (
            sa.select(sa.func.count())
            .where(self.users.c.team_id == self.teams.c.id)
            .correlate(self.teams)
            .scalar_subquery()
        )
        rows = self.connection.execute(sa.select(self.teams, members.label("members")).order_by(self.teams.c.name))
        return [Team(r.id, r.name, r.label, r.members) for r in rows]

    # --- changing --------------------------------------------------------------
    def add_team(self, name: str, label: str | None = None) -> Team:
        """Create a team; the name must be new."""
        self._require_manage()
        name = (name or "").strip()
        errors = Errors()
        if not name:
            errors.add("name", "required", "A team needs a name.")
        elif self._team_id(name) is not None:
            errors.add("name", "unique", f"There is already a team {name!r}.")
        if errors:
            raise ValidationFailed(dict(errors), "team")
        team_id = self.connection.execute(
            sa.insert(self.teams).values(name=name, label=label, created_at=self._now()).returning(self.teams.c.id)
        ).scalar_one()
        self._audit("team.add", team_id, {"name": [None, name], "label": [None, label]}, "sys_team")
        return Team(team_id, name, label, 0)

    def add(
        self,
        username: str,
        *,
        roles: builtins.list[str] | tuple[str, ...],
        password: str | None = None,
        **attributes: Any,
    ) -> User:
        """Create a user; every problem is reported at once, field by field."""
        self._require_manage()
        username = (username or "").strip()
        errors = Errors()
        if not username:
            errors.add("username", "required", "A user needs a user name.")
        elif self._find(username) is not None:
            errors.add("username", "unique", f"The user name {username!r} is taken.")
        values = self._values({"roles": list(roles), **attributes}, errors, username)
        if password is not None:
            self._password(username, password, values, errors)
        if errors:
            raise ValidationFailed(dict(errors), "user")
        now = self._now()
        row = {
            "username": username,
            "active": True,
            "failed_logins": 0,
            "created_at": now,
            "updated_at": now,
            "display_name": None,
            "email": None,
            "team_id": None,
            "manager_id": None,
            "expires_at": None,
            "locale": None,
            "timezone": None,
            **values,
        }
        user_id = self.connection.execute(sa.insert(self.users).values(row).returning(self.users.c.id)).scalar_one()
        self._audit("user.add", user_id, {k: [None, _shown(k, v)] for k, v in row.items() if k in _AUDITED})
        return self.get(username)

    def edit(self, username: str, password: str | None = None, **attributes: Any) -> User:
        """Change a user's attributes (see EDITABLE) and/or password.

        A new password, new roles or disabling the account end the user's web sessions
        (``engine.runtime.security.sessions``)."""
        self._require_manage()
        current = self._row(username)
        errors = Errors()
        values = self._values(attributes, errors, username, current["id"])
        if password is not None:
            self._password(username, password, values, errors)
        if errors:
            raise ValidationFailed(dict(errors), "user")
        changes = {
            k: [_shown(k, current[k]), _shown(k, v)] for k, v in values.items() if k in _AUDITED and current[k] != v
        }
        if password is not None or "roles" in changes or changes.get("active") == [True, False]:
            values[sessions.COLUMN] = sessions.bump(self.users)  # end their web sessions everywhere
        if values:
            values["updated_at"] = self._now()
            self.connection.execute(sa.update(self.users).where(self.users.c.id == current["id"]).values(values))
        if changes or password is not None:
            self._audit("user.edit", current["id"], changes | ({"password": ["•••", "•••"]} if password else {}))
        return self.get(username)

    def disable(self, username: str) -> User:
        """Stop a user from logging in or acting (their web sessions end); their records stay theirs."""
        return self.edit(username, active=False)

    def sign_out(self, username: str) -> None:
        """End every web session of ``username`` on every device (``engine.runtime.security.sessions``)."""
        self._require_manage()
        self._row(username)
        sessions.end_sessions(self.crm, self.connection, username, actor=self.actor, channel=self.channel)

    # --- helpers -----------------------------------------------------------------
    def _values(self, attributes: dict[str, Any], errors: Errors, username: str, user_id: int | None = None) -> dict:
        unknown = set(attributes) - set(EDITABLE)
        for name in sorted(unknown):
            errors.add(name, "unknown_field", f"Users have no attribute {name!r}.")
        values: dict[str, Any] = {}
        if "roles" in attributes:
            roles = list(dict.fromkeys(attributes["roles"] or []))
            missing = [r for r in roles if r not in self.crm.config.roles]
            if missing:
                known = ", ".join(self.crm.config.roles) or "none (declare `roles:` in the config)"
                errors.add("roles", "unknown_role", f"Unknown role {', '.join(missing)}; roles: {known}.")
            values["roles"] = roles
        if "team" in attributes:
            team = attributes["team"]
            values["team_id"] = None if team in (None, "") else self._team_id(team)
            if team not in (None, "") and values["team_id"] is None:
                errors.add("team", "not_found", f"There is no team {team!r}; create it with `trellis team add`.")
        if "manager" in attributes:
            self._manager(attributes["manager"], username, user_id, values, errors)
        for name in ("display_name", "email", "locale", "timezone"):
            if name in attributes:
                values[name] = (str(attributes[name]).strip() or None) if attributes[name] is not None else None
        if "active" in attributes:
            values["active"] = bool(attributes["active"])
            if values["active"]:
                values.update(failed_logins=0, locked_until=None)
        if "expires_at" in attributes:
            values["expires_at"] = _moment(
                attributes["expires_at"], errors, ZoneInfo(self.crm.config.settings.timezone)
            )
        if "away_until" in attributes:
            values["away_until"] = _moment(
                attributes["away_until"], errors, ZoneInfo(self.crm.config.settings.timezone), "away_until"
            )
        return values

    def _manager(self, manager: str | None, username: str, user_id: int | None, values: dict, errors: Errors) -> None:
        if manager in (None, ""):
            values["manager_id"] = None
            return
        row = self._find(manager)
        if row is None:
            errors.add("manager", "not_found", f"There is no user {manager!r}.")
        elif manager == username or (user_id is not None and self._reports_to(row["id"], user_id)):
            errors.add("manager", "cycle", f"{manager!r} cannot manage {username!r}: that would make a cycle.")
        else:
            values["manager_id"] = row["id"]

    def _reports_to(self, user_id: int | None, boss_id: int) -> bool:
        """Whether ``user_id`` is ``boss_id`` or below them."""
        seen = set()
        while user_id is not None and user_id not in seen:
            if user_id == boss_id:
                return True
            seen.add(user_id)
            user_id = self.connection.execute(
                sa.select(self.users.c.manager_id).where(self.users.c.id == user_id)
            ).scalar()
        return False

    def _password(self, username: str, password: str, values: dict, errors: Errors) -> None:
        problems = password_problems(password, username, self.crm.config.settings.security)
        if problems:
            errors.add("password", "weak_password", "The password is too weak: " + "; ".join(problems) + ".")
        else:
            values.update(password_hash=hash_password(password), password_changed_at=self._now())

    def _require_manage(self) -> None:
        if not self.actor.has("manage_users"):
            raise PermissionDenied.said("users.needs_permission", "managing users needs the manage_users permission")

    def _find(self, username: str) -> Any:
        return (
            self.connection.execute(sa.select(self.users).where(self.users.c.username == username)).mappings().first()
        )

    def _row(self, username: str) -> Any:
        row = self._find(username)
        if row is None:
            raise NotFound("user", username)
        return row

    def _team_id(self, name: str) -> int | None:
        return self.connection.execute(sa.select(self.teams.c.id).where(self.teams.c.name == name)).scalar()

    def _user(self, row: Any) -> User:
        team = self.connection.execute(sa.select(self.teams.c.name).where(self.teams.c.id == row["team_id"])).scalar()
        manager = self.connection.execute(
            sa.select(self.users.c.username).where(self.users.c.id == row["manager_id"])
        ).scalar()
        return User(
            row["id"],
            row["username"],
            row["display_name"],
            row["email"],
            tuple(row["roles"] or ()),
            team,
            manager,
            bool(row["active"]),
            row["expires_at"],
            row["locale"],
            row["timezone"],
            totp_active(row["totp_secret"]),
            row["locked_until"],
            row["last_login_at"],
            row["away_until"],
        )

    def _now(self) -> dt.datetime:
        return self.crm.clock_now().now_utc

    def _audit(self, action: str, record_id: int, changes: dict, object_name: str = "sys_user") -> None:
        audit.log_change(
            self.connection,
            self.crm.schema,
            self.actor,
            self.channel,
            action,
            object_name,
            record_id,
            changes,
            self._now(),
        )


_AUDITED = (
    "username",
    "display_name",
    "email",
    "roles",
    "team_id",
    "manager_id",
    "active",
    "expires_at",
    "locale",
    "timezone",
    "away_until",
)


def _shown(name: str, value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _moment(value: Any, errors: Errors, zone: dt.tzinfo = dt.UTC, name: str = "expires_at") -> dt.datetime | None:
    """A moment (expiry, away until); a date or a time without zone is read in the company time zone."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=zone)
    try:
        moment = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        errors.add(name, "invalid", f"{value!r} is not a date (use YYYY-MM-DD or an ISO date and time).")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
