"""Records and values as JSON.

- decimals (decimal, currency, percent, formula results) → strings, exactly as
  stored (``"1234.50"``), never floats;
- dates → ``YYYY-MM-DD``; date-times → ISO 8601 in UTC with ``Z``;
- lists (tags, multipicklists), file references and JSON values as they are.

Request bodies are parsed so that a JSON number keeps the exact text it was
sent with (``1234.10`` stays ``1234.10`` in a decimal field instead of passing
through a binary float).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.runtime.records.record import Record


def json_value(value: Any) -> Any:
    """One stored value in its JSON form."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    return value


def record_json(record: Record) -> dict[str, Any]:
    """A record (system columns and the fields the caller may see) as a JSON object."""
    return {name: json_value(value) for name, value in record.items()}


class JsonNumber(float):
    """A JSON number with a fraction or exponent that remembers the text it was written as.

    It is a float (so JSON fields and arithmetic work as usual), but ``str()``
    gives the original text, which is what decimal fields are coerced from.
    """

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(data: bytes) -> Any:
    """Parse a request body; raises ValueError (or RecursionError) for anything that is not JSON,
    and for text holding a lone UTF-16 surrogate (``"\\ud800"``: valid JSON, but no character)."""
    body = json.loads(data.decode("utf-8"), parse_float=JsonNumber, parse_constant=_refuse_constant)
    if has_surrogate(body):
        raise ValueError("it holds a lone UTF-16 surrogate escape (such as \\ud800), which is not a character")
    return body


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds, in any key or string, a lone surrogate (which no
    database nor UTF-8 answer can carry)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
