"""JSON errors of the REST API, as DESIGN.md fixes them:
``{"error": {"code", "message", "fields": {name: [{code, message}]}}}``.

Each engine error class maps to one HTTP status (``STATUS``, a registry: a new
error class is one entry); HTTP errors (404 for an unknown URL, 405, 413, 429…)
get the same body. Under ``/api/`` nothing answers with HTML or a stack trace:
an unexpected exception is logged and answered with 500 ``internal``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from engine.runtime.dashboards.access import DashboardNotFound
from engine.runtime.errors import (
    Conflict,
    NotFound,
    QueryError,
    TrellisError,
    UnknownObject,
    ValidationFailed,
)
from engine.runtime.imports.problems import ImportProblem
from engine.runtime.messages import current_language, set_language
from engine.runtime.records.duplicates import PossibleDuplicate
from engine.runtime.records.listparams import BadListParams
from engine.runtime.records.search import BadSearch
from engine.runtime.reports.access import ReportNotFound
from engine.runtime.security.permissions import AccountUnavailable, PermissionDenied, UnknownUser
from engine.runtime.security.tokens import TokenRefused
from engine.runtime.workflow.conversion import ConversionDuplicates
from webui.api.language import asked_language
from webui.i18n import translate

#: HTTP status of each engine error (the most specific class wins).
STATUS: Mapping[type[TrellisError], int] = {
    QueryError: 400,
    TokenRefused: 401,
    AccountUnavailable: 401,
    UnknownUser: 401,
    PermissionDenied: 403,
    NotFound: 404,
    ReportNotFound: 404,
    DashboardNotFound: 404,
    UnknownObject: 404,
    Conflict: 409,
    PossibleDuplicate: 409,
    ConversionDuplicates: 409,
    ValidationFailed: 422,
    ImportProblem: 422,
    BadSearch: 422,
}

#: Error codes of HTTP errors that do not come from the engine.
HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    428: "precondition_required",
    429: "rate_limited",
}

#: Where the API lives; errors under this path are answered in JSON.
API_PREFIX = "/api/"
#: Where ``app.extensions`` keeps the API's rate limiter.
LIMITER_KEY = "trellis_api_limiter"
#: The challenge sent with every 401 (RFC 6750).
REALM = 'Bearer realm="trellis"'


class ApiError(Exception):
    """An error the HTTP layer itself finds (bad JSON, missing version…), answered as JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, list[dict[str, str]]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """The JSON error body with ``status`` (and ``extra`` members, e.g. a duplicate's ``candidates``,
    and the request's ``request_id``); a 401 also carries ``WWW-Authenticate``."""
    body = {"code": code, "message": message, "fields": dict(fields or {}), **(extra or {})}
    if g.get("request_id"):  # webui.monitoring: the id of this request, also in X-Request-ID
        body["request_id"] = g.request_id
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401 and "WWW-Authenticate" not in (headers or {}):
        response.headers["WWW-Authenticate"] = REALM
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.fields, error.headers)


def status_of(error: TrellisError) -> int:
    """The HTTP status of an engine error (``STATUS``; 400 for one it does not name)."""
    return next((STATUS[cls] for cls in type(error).__mro__ if cls in STATUS), 400)


def error_json(error: TrellisError) -> dict[str, Any]:
    """The ``error`` member of the body answering an engine error: ``{code, message, fields}``,
    in the caller's language (field problems keyed by field, ``_record`` for the record)."""
    fields: dict[str, list[dict[str, str]]] = {}
    message = str(error)
    if isinstance(error, (ValidationFailed, BadListParams)):
        fields = {
            name: [{"code": e.code, "message": e.message} for e in problems] for name, problems in error.errors.items()
        }
    if isinstance(error, ValidationFailed):
        count = sum(len(problems) for problems in error.errors.values())
        language = current_language()
        message = translate("error.not_saved", language, object=_called(error.object_name, language), count=count)
    body = {"code": error.code, "message": _sentence(message), "fields": fields}
    candidates = getattr(error, "candidates", None)
    if candidates is not None:  # a duplicate rule matched (engine.runtime.records.duplicates)
        body["candidates"] = [c.as_dict() for c in candidates]
    return body


def _called(object_name: str, language: str) -> str:
    """What people call ``object_name`` (its label in ``language``), else the name itself."""
    trellis = current_app.extensions.get("trellis")
    obj = trellis.config.objects.get(object_name) if trellis is not None and object_name else None
    return obj.label.get(language) if obj is not None else object_name or "record"


def _engine_error(error: TrellisError) -> Response:
    status = status_of(error)
    body = error_json(error)
    headers = {"WWW-Authenticate": f'{REALM}, error="invalid_token"'} if status == 401 else None
    extra = {"candidates": body["candidates"]} if "candidates" in body else None
    return error_response(status, body["code"], body["message"], body["fields"], headers, extra)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status, (error.name or "error").lower().replace(" ", "_"))
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    message = error.description or error.name
    if status == 404:
        message = said("api.no_route", path=request.path)
    elif status == 405:
        message = said("api.method", method=request.method, path=request.path, allowed=headers.get("Allow", "none"))
    return error_response(status, code, message, None, headers)


def _rate_limited(error: RateLimitExceeded) -> Response:
    retry = 1
    limiter = current_app.extensions.get(LIMITER_KEY)
    current = limiter.current_limit if limiter is not None else None
    if current is not None:
        retry = max(1, int(current.reset_at - time.time()))
    message = said("api.rate_limited", limit=error.description, count=retry)
    return error_response(429, "rate_limited", message, None, {"Retry-After": str(retry)})


def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("Unexpected error in %s %s", request.method, request.path)
    return error_response(500, "internal", said("api.internal"))


def _routing_error(error: HTTPException) -> Response | HTTPException:
    """Unknown URLs and methods under the API prefix (no blueprint matched) get JSON too."""
    if request.path.startswith(API_PREFIX):
        set_language(asked_language())
        return _http_error(error)
    return error


def said(key: str, **values: object) -> str:
    """The HTTP layer's text ``key`` (``webui.i18n.TEXTS``) in the language of the request."""
    return translate(key, current_language(), **values)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text.endswith((".", "!", "?", "。", "！", "？")):
        return text
    return text + ("。" if "\u3400" <= text[-1] <= "\u9fff" or text[-1] in "）」" else ".")


def register(app: Flask, blueprint: Blueprint) -> None:
    """Install the handlers: on the blueprint for its routes, on the app for unmatched API URLs.

    The app-level handlers answer only under ``/api/`` and pass every other
    error on unchanged; a more specific app-wide 404/405 handler added later
    must do the same for ``/api/`` paths (see ``_routing_error``).
    """
    blueprint.register_error_handler(ApiError, _api_error)
    blueprint.register_error_handler(TrellisError, _engine_error)
    blueprint.register_error_handler(RateLimitExceeded, _rate_limited)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(Exception, _unexpected)
    app.register_error_handler(HTTPException, _routing_error)
