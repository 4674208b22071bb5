"""Error pages of the web UI (HTML), leaving the REST API's JSON errors alone.

Engine errors raised in a UI route map to statuses here (``STATUS``, a
registry); HTTP errors outside ``/api/`` get the same page; those under it go
to the API's own handler, as ``webui.api.errors.register`` asks.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.runtime.errors import NotFound, QueryError, TrellisError, UnknownObject
from engine.runtime.imports import ImportProblem
from engine.runtime.records.duplicates import PossibleDuplicate
from engine.runtime.security.permissions import AccountUnavailable, PermissionDenied, UnknownUser
from webui.api.errors import API_PREFIX, _routing_error
from webui.i18n import TEXTS
from webui.ui.context import t

#: HTTP status of engine errors in UI routes (the most specific class wins).
STATUS: Mapping[type[TrellisError], int] = {
    QueryError: 400,
    PermissionDenied: 403,
    NotFound: 404,
    UnknownObject: 404,
    AccountUnavailable: 403,
    UnknownUser: 403,
    ImportProblem: 422,
    PossibleDuplicate: 409,
}
#: Engine errors whose message is for the user of the page (the others get the status's words).
SHOWN = (QueryError, PermissionDenied, ImportProblem, PossibleDuplicate)


def error_page(status: int, message: str | None = None) -> tuple[str, int]:
    """The error page with ``status`` and a message for people."""
    key = f"error.{status}"
    text = message or t(key if key in TEXTS else "error.500" if status >= 500 else "error.400")
    return render_template("error.html", obj=None, status=status, message=text), status


def _engine_error(error: TrellisError):
    status = next((STATUS[cls] for cls in type(error).__mro__ if cls in STATUS), 400)
    message = str(error) if isinstance(error, SHOWN) else None
    return error_page(status, message)


def _http_error(error: HTTPException):
    if request.path.startswith(API_PREFIX):
        return _routing_error(error)
    if isinstance(error, CSRFError):
        return error_page(400, t("error.400"))
    return error_page(error.code or 500)


def _unexpected(error: Exception):
    if request.path.startswith(API_PREFIX):
        raise error
    current_app.logger.exception("Unexpected error in %s %s", request.method, request.path)
    return error_page(500)


def register(blueprint: Blueprint) -> None:
    """Engine errors in the blueprint's routes become error pages."""
    blueprint.register_error_handler(TrellisError, _engine_error)


def init_app(app: Flask) -> None:
    """Install the handlers of HTTP errors on the app (also for unmatched URLs)."""
    app.register_error_handler(HTTPException, _http_error)
    if not app.testing:
        app.register_error_handler(Exception, _unexpected)
