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

from engine.metadata.errors import Words

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own copy of every compile error to stderr

#: Features RE2 refuses, recognised in its message, with a hint for the config author.
_UNSUPPORTED_HINTS = (
    (
        "invalid perl operator: (?<",
        Words(
            "lookbehind `(?<=…)`/`(?<!…)` is not supported; match the text itself instead",
            "不支持后行断言 `(?<=…)`/`(?<!…)`；请直接匹配文本本身",
        ),
    ),
    (
        "invalid perl operator: (?=",
        Words(
            "lookahead `(?=…)` is not supported; write the alternatives out or use several fields",
            "不支持先行断言 `(?=…)`；请把各种可能写出来，或使用多个字段",
        ),
    ),
    (
        "invalid perl operator: (?!",
        Words(
            "negative lookahead `(?!…)` is not supported; describe what is allowed instead",
            "不支持否定先行断言 `(?!…)`；请改为描述允许的内容",
        ),
    ),
    (
        "invalid escape sequence: \\Z",
        Words(
            "use `$` (patterns match the whole value anyway) instead of `\\Z`",
            "请用 `$`（模式本来就匹配整个值）代替 `\\Z`",
        ),
    ),
    (
        "invalid escape sequence: \\",
        Words(
            "backreferences (`\\1`) are not supported; patterns run on RE2, a linear-time engine",
            "不支持反向引用（`\\1`）；模式由线性时间引擎 RE2 执行",
        ),
    ),
)
#: The hint of any other pattern RE2 refuses.
_RE2_HINT = Words(
    "patterns run on RE2, a linear-time engine: no backreferences or lookaround",
    "模式由线性时间引擎 RE2 执行：不支持反向引用和断言（lookaround）",
)


class PatternError(ValueError):
    """A pattern that cannot be used; ``hint`` tells the config author what to do."""

    def __init__(self, message: str, hint: Words) -> None:
        super().__init__(message)
        self.hint = hint


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled RE2 form of ``pattern``; raises PatternError for syntax RE2 does not accept."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = next((h for marker, h in _UNSUPPORTED_HINTS if detail.startswith(marker)), _RE2_HINT)
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
