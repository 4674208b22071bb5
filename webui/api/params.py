"""Reading API requests: JSON bodies, paging numbers and record versions.

Only HTTP is decided here (is the body JSON, is a parameter a number, which
version did the client send); what the values mean — filters, fields, scopes —
is for the engine's query layer and record service to judge. A record list's
parameters are the engine's one spec, ``engine.runtime.records.listparams``, which the
web list, board and CSV export read too.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from webui.api.errors import ApiError, said
from webui.api.serialize import parse_json

#: Largest request body the API reads (1 MiB).
MAX_BODY_BYTES = 1024 * 1024
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


def whole_number(args: MultiDict[str, str], name: str, default: int, highest: int | None = None) -> int:
    """The query parameter ``name`` as a whole number from 1 (to ``highest``); ``default`` when
    absent or empty; 400 ``bad_query`` naming the parameter otherwise."""
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not text.isdigit() or len(text) > 9 or int(text) < 1 or (highest is not None and int(text) > highest):
        limit = f" to {highest}" if highest is not None else ""
        raise _bad_query(name, f"{name} must be a whole number from 1{limit}, not {raw[:40]!r}.")
    return int(text)


def allow_duplicate(args: MultiDict[str, str]) -> bool:
    """``?allow_duplicate=true``: write although a ``warn`` duplicate rule matches (issue 14);
    ``true``/``1`` or ``false``/``0``, else 400 ``bad_query``."""
    raw = (args.get("allow_duplicate") or "").strip().lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise _bad_query("allow_duplicate", f"allow_duplicate must be true or false, not {raw[:40]!r}.")


def choices(args: MultiDict[str, str], name: str, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    """The query parameter ``name`` as comma-separated values of ``allowed`` (e.g.
    ``?type=activity,event``); None when absent or empty; 400 ``bad_query`` naming the
    parameter otherwise."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    values = tuple(v.strip() for v in raw.split(","))
    if not set(values) <= set(allowed):
        raise _bad_query(name, f"{name} must be one or more of {', '.join(allowed)}, not {raw[:40]!r}.")
    return values


def _bad_query(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_query", message, {name: [{"code": "invalid", "message": message}]})


def json_body(max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object; 415 when it is not JSON, 413 when larger than ``max_bytes``,
    400 when it is malformed or not an object."""
    if not request.is_json:
        given = request.mimetype or "no Content-Type"
        raise ApiError(415, "unsupported_media_type", said("api.not_json", given=given))
    too_large = ApiError(413, "too_large", said("api.body_too_large", size=max_bytes // 1024))
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    data = request.get_data(cache=False)
    if len(data) > max_bytes:
        raise too_large
    try:
        body = parse_json(data)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", said("api.malformed_json", problem=exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", said("api.body_not_object", kind=_json_kind(body)))
    return body


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


#: Returned by ``expected_version`` for ``If-Match: *``: change whatever version is stored.
ANY_VERSION = None


def expected_version(body: dict[str, Any] | None, required: bool) -> int | None:
    """The version the client last saw, from ``version`` in the body or ``If-Match``.

    Removes ``version`` from ``body``. ``If-Match: *`` means "whatever version"
    (``ANY_VERSION``). When ``required`` and neither is given: 428.
    """
    from_body = _body_version(body.pop("version")) if body is not None and "version" in body else None
    from_header = _header_version(request.headers.get("If-Match"))
    if from_body is not None and from_header not in (None, "*") and from_body != from_header:
        raise ApiError(400, "bad_request", said("api.versions_differ", body=from_body, header=from_header))
    if from_body is not None:
        return from_body
    if from_header == "*":
        return ANY_VERSION
    if from_header is not None:
        return from_header
    if required:
        raise ApiError(
            428,
            "precondition_required",
            said("api.version_required"),
            {"version": [{"code": "required", "message": said("api.version_required.field")}]},
        )
    return ANY_VERSION


def _body_version(raw: Any) -> int:
    """``version`` of a body as a whole number from 1; 400 otherwise."""
    version = body_version(raw)
    if version is None:
        message = "version is the record's version number from your last GET (a whole number from 1)."
        raise ApiError(400, "bad_request", message, {"version": [{"code": "invalid", "message": message}]})
    return version


def body_version(raw: Any) -> int | None:
    """``raw`` (a JSON number or digits) as a record version, a whole number from 1; None when it is not one."""
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 18:
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        return None
    return raw


def _header_version(raw: str | None) -> int | str | None:
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if raw == "*":
        return "*"
    match = _ETAG.match(raw)
    if match is None or int(match.group(1)) < 1:
        raise ApiError(400, "bad_request", said("api.bad_if_match", got=repr(raw[:40])))
    return int(match.group(1))
