"""Choosing a user: the Owner control of a form and ``type: user`` fields.

One widget, two renderings, decided per form field by how many users it may
offer (``among``, below):

- up to ``TRELLIS_USER_SELECT_MAX`` (app setting, default ``SELECT_MAX_USERS``)
  active users: a plain ``<select>`` — works without JavaScript;
- more: a type-ahead. A text input named ``<field>__name`` holds the user's
  display name and a hidden input named ``<field>`` their id; ``trellis.js``
  fills both from ``GET /users/lookup?q=…`` (``lookup``: login required, active
  users whose display name or user name contains ``q``, at most
  ``SEARCH_LIMIT``, only ``{id, name}``). Without JavaScript the user types a
  user name (or a display name only one user has) and the server resolves it
  (``resolve``).

Who may be offered as a record's owner is the write path's own rule
(``Principal.may_give_to``): anyone for a role with ``reassign`` on the object or
``edit: all``; otherwise the owners inside the user's edit scope (their team,
their subtree) and themselves. The engine still judges every write: a forged
owner is refused there, and that error is shown beside the control.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Response, current_app, jsonify, request
from flask_login import current_user

from engine.runtime.records.session import Session
from engine.runtime.security import users
from engine.runtime.security.permissions import Principal
from webui.ui.context import ui_session

#: Most users a type-ahead answer lists.
SEARCH_LIMIT = 20
#: Most users offered in a plain <select>; with more the type-ahead is used.
SELECT_MAX_USERS = 30
#: Longest search text taken (longer is cut).
MAX_QUERY = 100


@dataclass(frozen=True)
class UserChoice:
    """A user as a picker shows them: the id and the display name (else the user name)."""

    id: int
    name: str


# --- who may be chosen --------------------------------------------------------------------------
def may_choose_owner(principal: Principal, object_name: str) -> bool:
    """Whether the form shows an Owner control: the user may give records to someone else."""
    among = principal.may_give_to(object_name)
    return among is None or bool(among - {principal.user_id})


def select_max() -> int:
    """Up to how many users a plain <select> is used (``TRELLIS_USER_SELECT_MAX``)."""
    return int(current_app.config.get("TRELLIS_USER_SELECT_MAX", SELECT_MAX_USERS))


# --- the directory (engine.runtime.security.users) -------------------------------------------------------------
def count(session: Session, among: Iterable[int] | None = None) -> int:
    """How many active users may be chosen."""
    return users.count_active(session, among)


def choices(
    session: Session, among: Iterable[int] | None = None, limit: int | None = None, text: str = ""
) -> list[UserChoice]:
    """Active users (in ``among``), by name; with ``text``, those whose display name or
    user name contains it (case-insensitive)."""
    return [UserChoice(p.id, p.name) for p in users.active_people(session, text[:MAX_QUERY], among, limit)]


def resolve(session: Session, text: str, among: Iterable[int] | None = None) -> int | None:
    """The active user (in ``among``) typed as ``text``: their user name, or a display name
    no other such user has; None when there is no such user or the name is ambiguous."""
    found = users.find_active(session, text, among)
    return found.id if found is not None else None


# --- the JSON endpoint ----------------------------------------------------------------------------------------
def users_lookup() -> Response | tuple[Response, int]:
    """Type-ahead: ``[{id, name}]`` of up to ``SEARCH_LIMIT`` active users matching ``q``.

    With ``owner_of=<object>`` only the users the caller may give its records to (404
    for an object they may not read). Login required (401 otherwise, as JSON)."""
    if not current_user.is_authenticated:
        return jsonify({"error": "login required"}), 401
    with ui_session() as session:
        among = None
        object_name = request.args.get("owner_of")
        if object_name:
            if object_name not in session.config.objects or session.principal.grant(object_name).read == "none":
                return jsonify({"error": "not found"}), 404
            among = session.principal.may_give_to(object_name)
        found = choices(session, among, SEARCH_LIMIT, request.args.get("q", ""))
    response = jsonify([{"id": user.id, "name": user.name} for user in found])
    response.headers["Cache-Control"] = "no-store"
    return response


#: The routes (registered on the ``auth`` blueprint, which serves the account pages).
ROUTES = (("/users/lookup", users_lookup, ["GET"]),)
