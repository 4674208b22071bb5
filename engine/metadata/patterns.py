"""Regular expressions of config ``pattern:`` keys, matched in linear time.

A ``pattern`` is written by a config author and run against every value a user
types, so a backtracking engine would let one pattern such as ``^(a+)+$`` cost
seconds of CPU per request. Patterns are therefore compiled with RE2 (Google's
linear-time engine, ``google-re2``): no backreferences, no lookaround, and
``\\w``/``\\d``/``\\b`` are ASCII-only (``\\p{L}`` matches any letter).
"""

from __future__ import annotations

import re
from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own copy of every compile error to stderr

#: Features RE2 refuses, recognised in its message, with a hint for the config author.
_UNSUPPORTED_HINTS = (
    ("invalid perl operator: (?<", "lookbehind `(?<=…)`/`(?<!…)` is not supported; match the text itself instead"),
    (
        "invalid perl operator: (?=",
        "lookahead `(?=…)` is not supported; write the alternatives out or use several fields",
    ),
    ("invalid perl operator: (?!", "negative lookahead `(?!…)` is not supported; describe what is allowed instead"),
    ("invalid escape sequence: \\Z", "use `$` (patterns match the whole value anyway) instead of `\\Z`"),
    (
        "invalid escape sequence: \\",
        "backreferences (`\\1`) are not supported; patterns run on RE2, a linear-time engine",
    ),
)


class PatternError(ValueError):
    """A pattern that cannot be used; ``hint`` tells the config author what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled RE2 form of ``pattern``; raises PatternError for syntax RE2 does not accept."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = next(
            (h for marker, h in _UNSUPPORTED_HINTS if detail.startswith(marker)),
            "patterns run on RE2, a linear-time engine: no backreferences or lookaround",
        )
        raise PatternError(detail, hint) from None


def check_pattern(pattern: str) -> None:
    """Raise ``re.error`` for a malformed pattern, PatternError for one RE2 cannot run."""
    try:
        compile_pattern(pattern)
    except PatternError:
        re.compile(pattern)  # malformed for Python too: its message names the problem best
        raise


def full_match(pattern: str, value: str) -> bool:
    """Whether the whole of ``value`` matches ``pattern``, in time linear in ``len(value)``."""
    return compile_pattern(pattern).fullmatch(value) is not None
