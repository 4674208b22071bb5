"""Log lines as JSON, one object per line (``TRELLIS_LOG_FORMAT=json``), for the web and the worker.

``configure_from_environment`` puts a ``JsonFormatter`` on the ``trellis`` loggers (and the web
app's, ``webui``) when the setting asks for it. A line has ``time`` (UTC), ``level``, ``logger``,
``message``, the fields a caller passes as ``extra={"trellis": {…}}`` (the web's request line) and
those of every provider in ``CONTEXT`` (the web adds the current request's id).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping

#: Fields added to every line while they apply (``webui.monitoring`` adds the request id).
CONTEXT: list[Callable[[], Mapping[str, object]]] = []
#: The loggers a JSON handler is put on: the engine's and the web app's (``app.logger``).
LOGGERS = ("trellis", "webui")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the line's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for provider in CONTEXT:
            entry.update(provider())
        fields = getattr(record, "trellis", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_wanted() -> bool:
    """Whether ``TRELLIS_LOG_FORMAT`` asks for JSON lines."""
    return os.environ.get("TRELLIS_LOG_FORMAT", "").strip().lower() == "json"


def configure_from_environment() -> None:
    """With ``TRELLIS_LOG_FORMAT=json``: the ``LOGGERS`` write JSON lines (level info and up) to
    stderr, once per process however often it is called."""
    if not json_wanted():
        return
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
            continue
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
