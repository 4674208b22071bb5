"""Uploaded files of the web forms: stored under ``TRELLIS_UPLOAD_DIR`` with a random key,
and the name and content type a download sends."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import current_app
from werkzeug.datastructures import FileStorage

#: Stored file keys: random, URL-safe, so they can never name a path outside the upload folder.
FILE_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def upload_dir() -> Path:
    """The folder uploads are stored in (``TRELLIS_UPLOAD_DIR``), created when missing."""
    folder = Path(current_app.config["TRELLIS_UPLOAD_DIR"]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


#: Control characters (CR, LF, NUL, …): never part of a file's name or content type, which go into headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A content type as a download may send it (``type/subtype`` and parameters, printable ASCII).
CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}(;[\x20-\x7e]*)?$")


def clean_text(text: str) -> bool:
    """Whether ``text`` (an uploaded file's name or content type) has no control characters."""
    return _CONTROL.search(text) is None


def download_headers(value: Mapping[str, Any], fallback: str) -> tuple[str, str]:
    """The name and content type a download sends for a stored file value: control characters
    (a value stored before they were refused, or through the API) are dropped, and a content
    type that is not ``type/subtype`` becomes ``application/octet-stream``."""
    name = _CONTROL.sub("", str(value.get("name") or "")).strip() or fallback
    content_type = _CONTROL.sub("", str(value.get("content_type") or ""))
    return name, content_type if CONTENT_TYPE.match(content_type) else "application/octet-stream"


def store_upload(upload: FileStorage) -> dict[str, Any]:
    """Save an uploaded file under a random key; the field's value describing it."""
    key = secrets.token_urlsafe(24)
    path = upload_dir() / key
    upload.save(path)
    name = (upload.filename or key).replace("\\", "/").rsplit("/", 1)[-1][:255] or key
    return {
        "key": key,
        "name": name,
        "size": path.stat().st_size,
        "content_type": (upload.mimetype or "application/octet-stream")[:100],
    }


def stored_file(value: Any) -> Path | None:
    """The path of a stored file value, or None when it is not one of ours."""
    if not isinstance(value, dict) or not FILE_KEY.match(str(value.get("key", ""))):
        return None
    path = upload_dir() / value["key"]
    return path if path.is_file() else None


#: The file kinds an import reads, by suffix (``engine.runtime.imports.reading`` says why others are refused).
IMPORT_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
#: The largest import upload, unless ``TRELLIS_MAX_IMPORT_UPLOAD`` (bytes) says otherwise.
DEFAULT_MAX_IMPORT_UPLOAD = 200 * 1024 * 1024


def max_import_upload() -> int:
    """The largest import file accepted (``TRELLIS_MAX_IMPORT_UPLOAD``, bytes; 200 MB by default);
    set as the request's ``max_content_length`` before the upload is read."""
    return int(current_app.config.get("TRELLIS_MAX_IMPORT_UPLOAD") or DEFAULT_MAX_IMPORT_UPLOAD)


def import_suffix(filename: str | None) -> str | None:
    """The suffix of an uploaded import file, lower case, when an import reads it; None for another."""
    suffix = Path((filename or "").replace("\\", "/").rsplit("/", 1)[-1]).suffix.lower()
    return suffix if suffix in IMPORT_SUFFIXES else None


def store_import_upload(upload: FileStorage) -> Path:
    """Save a file uploaded for import under ``imports/`` of the upload folder, with a random name
    that keeps its suffix (the import reads CSV or Excel by it); ``trellis worker`` reads it there,
    so the worker must see the same folder."""
    folder = upload_dir() / "imports"
    folder.mkdir(exist_ok=True)
    suffix = Path(upload.filename or "").suffix.lower()
    path = folder / (secrets.token_urlsafe(24) + (suffix if suffix in IMPORT_SUFFIXES else ".csv"))
    upload.save(path)
    return path
