"""The one expression language of Trellis (defaults, formulas, rules, conditions).

Expressions are Python-like and evaluated by simpleeval: no imports, no
attribute access, no dunders, bounded powers and string sizes. Each expression
is parsed once when the config is loaded; evaluating it walks the parsed tree.

Documented functions (see docs/config-reference.md#expressions):
today, now, days_since, hours_since, days_between, add_days, year, month,
coalesce, len, lower, upper, trim, contains, round, min, max, abs.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import simpleeval

from engine.metadata.errors import Words
from engine.metadata.names import full_name, split_name

#: Names an expression may use besides fields and functions.
CONSTANTS: frozenset[str] = frozenset({"None", "True", "False"})


class ExpressionSyntaxError(ValueError):
    """The text is not a valid expression; ``offset`` is the column within it (0-based).

    The message is English; ``zh`` says the same in Chinese (Python's own parser messages, such
    as "invalid syntax", stay as Python writes them)."""

    def __init__(self, message: str, offset: int = 0, zh: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.zh = zh or message


class ExpressionEvalError(ValueError):
    """Evaluating an expression failed (wrong types, missing values, limits)."""


class ExpressionLimitError(ExpressionEvalError):
    """Evaluating would exceed a limit: a number too large, text or a list too long.

    The message is English; ``zh`` says the same in Chinese (the config checker shows it, T-E044)."""

    def __init__(self, message: str, zh: str = "") -> None:
        super().__init__(message)
        self.zh = zh or message


#: Longest text or list an expression may build (simpleeval's limit, for ``"ab" * n``).
MAX_STRING_LENGTH: int = simpleeval.MAX_STRING_LENGTH
#: Most decimal digits a power may produce: CRM numbers are far smaller, and
#: ``9 ** 3999999`` (3.8 million digits) would cost seconds of CPU on every write.
MAX_POWER_DIGITS = 100


def power_digits(base: Any, exponent: Any) -> float:
    """About how many digits ``base ** exponent`` has (0 when either is not a number or is
    zero), computed without computing the power."""
    if not (
        isinstance(base, (int, float, Decimal)) and isinstance(exponent, (int, float, Decimal)) and base and exponent
    ):
        return 0.0
    try:
        # abs() of int | float | Decimal is typed `object` (typeshed's SupportsAbs joins the three);
        # each of them is a number log10 accepts, big ints exactly (float() would overflow).
        return abs(float(exponent)) * abs(math.log10(abs(base)))  # type: ignore[arg-type]
    except (OverflowError, ValueError):
        return math.inf


def _power(base: Any, exponent: Any) -> Any:
    """``base ** exponent``, refused before computing when the result would be huge."""
    if power_digits(base, exponent) > MAX_POWER_DIGITS:
        power = f"{_short(base)} ** {_short(exponent)}"
        raise ExpressionLimitError(
            f"{power} would have more than {MAX_POWER_DIGITS} digits", f"{power} 的结果会超过 {MAX_POWER_DIGITS} 位"
        )
    return base**exponent


def _short(value: Any) -> str:
    text = str(value) if not isinstance(value, int) or value.bit_length() < 256 else "a huge number"
    return text if len(text) <= 20 else text[:17] + "…"


#: simpleeval's operators with powers bounded by digits (simpleeval bounds only the operands).
OPERATORS = {**simpleeval.DEFAULT_OPERATORS, ast.Pow: _power}


@dataclass(frozen=True)
class Clock:
    """Current time and the company time zone, given to ``today()`` and ``now()``."""

    now_utc: dt.datetime
    timezone: ZoneInfo

    def today(self) -> dt.date:
        """The date in the company time zone."""
        return self.now_utc.astimezone(self.timezone).date()


def _as_datetime(value: Any, clock: Clock) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=clock.timezone)
    raise ExpressionEvalError(f"expected a date or datetime, got {value!r}")


def _functions(current: Callable[[], Clock]) -> dict[str, Callable[..., Any]]:
    """The documented functions, reading the time from ``current()`` when they are called."""

    def days_since(value: Any) -> int | None:
        clock = current()
        moment = _as_datetime(value, clock)
        return None if moment is None else (clock.now_utc - moment).days

    def hours_since(value: Any) -> float | None:
        clock = current()
        moment = _as_datetime(value, clock)
        return None if moment is None else (clock.now_utc - moment).total_seconds() / 3600

    def days_between(start: Any, end: Any) -> int | None:
        clock = current()
        a, b = _as_datetime(start, clock), _as_datetime(end, clock)
        return None if a is None or b is None else (b - a).days

    def add_days(value: Any, days: int) -> Any:
        return None if value is None else value + dt.timedelta(days=days)

    def coalesce(*values: Any) -> Any:
        return next((v for v in values if v is not None and v != ""), None)

    def contains(container: Any, item: Any) -> bool:
        return container is not None and item in container

    def _round(value: Any, digits: int = 0) -> Any:
        if value is None:
            return None
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)
        return int(rounded) if digits == 0 and not isinstance(value, Decimal) else rounded

    return {
        "today": lambda: current().today(),
        "now": lambda: current().now_utc,
        "days_since": days_since,
        "hours_since": hours_since,
        "days_between": days_between,
        "add_days": add_days,
        "year": lambda d: None if d is None else d.year,
        "month": lambda d: None if d is None else d.month,
        "coalesce": coalesce,
        "len": lambda v: 0 if v is None else len(v),
        "lower": lambda s: None if s is None else str(s).lower(),
        "upper": lambda s: None if s is None else str(s).upper(),
        "trim": lambda s: None if s is None else str(s).strip(),
        "contains": contains,
        "round": _round,
        "min": min,
        "max": max,
        "abs": abs,
        "family_name": lambda n: split_name(n)[0],
        "given_name": lambda n: split_name(n)[1],
        "full_name": lambda given, family: full_name(given, family) or None,
    }


_EPOCH = Clock(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), ZoneInfo("UTC"))

#: Names of the documented functions.
FUNCTIONS: frozenset[str] = frozenset(_functions(lambda: _EPOCH))

_FORBIDDEN_NODES = (ast.Attribute, ast.Lambda, ast.NamedExpr, ast.Starred, ast.JoinedStr)


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source, syntax tree and the names it uses."""

    source: str
    tree: ast.AST = field(repr=False, compare=False)
    names: frozenset[str]
    calls: frozenset[str]

    def evaluate(self, values: Mapping[str, Any], clock: Clock) -> Any:
        """Evaluate against ``values`` (field name → value); raises ExpressionEvalError."""
        return _evaluate(self.source, self.tree, values, clock)


#: Each thread's evaluator, and the clock its functions read while it evaluates: setting an
#: evaluator up costs more than most expressions do, and a write evaluates dozens.
_EVALUATOR = threading.local()


def _evaluator() -> simpleeval.EvalWithCompoundTypes:
    evaluator = getattr(_EVALUATOR, "evaluator", None)
    if evaluator is None:
        evaluator = _EVALUATOR.evaluator = simpleeval.EvalWithCompoundTypes(
            names={}, functions=_functions(lambda: _EVALUATOR.clock), operators=OPERATORS
        )
    return evaluator


def _run(source: str, tree: ast.AST, values: Mapping[str, Any], clock: Clock) -> Any:
    evaluator = _evaluator()
    if getattr(_EVALUATOR, "busy", False):  # an evaluation inside one (none today): its own evaluator
        evaluator = simpleeval.EvalWithCompoundTypes(functions=_functions(lambda: clock), operators=OPERATORS)
        evaluator.names = {**values, "None": None, "True": True, "False": False}
        return evaluator.eval(source, previously_parsed=tree)
    _EVALUATOR.clock, _EVALUATOR.busy = clock, True
    evaluator.names = {**values, "None": None, "True": True, "False": False}
    try:  # (a comprehension's own names are taken back by simpleeval, also when it fails)
        return evaluator.eval(source, previously_parsed=tree)
    finally:
        evaluator.names, _EVALUATOR.busy = {}, False


def _evaluate(source: str, tree: ast.AST, values: Mapping[str, Any], clock: Clock) -> Any:
    try:
        return _run(source, tree, values, clock)
    except simpleeval.NameNotDefined as exc:
        raise ExpressionEvalError(f"unknown name in {source!r}: {exc}") from exc
    except simpleeval.IterableTooLong as exc:
        raise ExpressionLimitError(
            f"text or a list would be longer than {MAX_STRING_LENGTH:,} items",
            f"文本或列表会超过 {MAX_STRING_LENGTH:,} 项",
        ) from exc
    except simpleeval.NumberTooHigh as exc:
        raise ExpressionLimitError(f"a number would be too large ({exc})", f"数字会过大（{exc}）") from exc
    except ExpressionLimitError:
        raise
    except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, simpleeval.InvalidExpression) as exc:
        raise ExpressionEvalError(f"cannot evaluate {source!r}: {exc}") from exc


def constant_limit_error(expr: Expression) -> Words | None:
    """Why a part of ``expr`` that uses no field (``9**9**9``) exceeds a limit, or None.

    Such a part has the same value on every write, so the config checker refuses it
    instead of letting each create pay for it."""
    pending = [expr.tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare)) and _is_constant(node):
            try:
                _evaluate(expr.source, ast.Expr(value=node), {}, _EPOCH)
            except ExpressionLimitError as exc:
                return Words(str(exc), exc.zh)
            except ExpressionEvalError:
                pass  # wrong types and the like: the runtime reports them on the field
            continue
        pending.extend(ast.iter_child_nodes(node))
    return None


def _is_constant(node: ast.AST) -> bool:
    return not any(isinstance(n, (ast.Name, ast.Call, ast.comprehension)) for n in ast.walk(node))


#: Levels an expression's syntax tree may have (``a + b + …`` is one level per operator):
#: evaluating recurses once per level, so a deeper tree could exhaust Python's stack.
MAX_DEPTH = 100


def _depth(tree: ast.AST) -> int:
    """How many levels ``tree`` has (counted without recursion)."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        todo.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


#: Python's commonest syntax messages (by how they start) in Chinese; others are shown as Python writes them.
_PYTHON_ZH = (
    ("invalid syntax", "语法错误"),
    ("unterminated string literal", "字符串缺少结尾的引号"),
    ("unmatched ", "括号不配对"),
    ("unexpected EOF", "表达式不完整"),
    ("invalid decimal literal", "无效的数字"),
)


def _python_zh(message: str) -> str:
    """Python's syntax ``message`` in Chinese, keeping what it names (``'(' was never closed``)."""
    if message.endswith(" was never closed"):
        return f"{message.removesuffix(' was never closed')} 没有闭合"
    return next((f"{zh}（{message}）" for start, zh in _PYTHON_ZH if message.startswith(start)), message)


def _too_deep() -> ExpressionSyntaxError:
    return ExpressionSyntaxError(
        f"the expression is nested more than {MAX_DEPTH} levels deep", 0, f"表达式的嵌套超过了 {MAX_DEPTH} 层"
    )


def parse_expression(source: str) -> Expression:
    """Parse ``source`` once; raises ExpressionSyntaxError for text that is not an expression."""
    text = source.strip()
    try:
        tree = simpleeval.SimpleEval.parse(text)
    except SyntaxError as exc:
        message = exc.msg or "invalid syntax"
        raise ExpressionSyntaxError(message, max((exc.offset or 1) - 1, 0), _python_zh(message)) from None
    except (RecursionError, MemoryError):  # `1 + 1 + …` twenty thousand times: Python's parser gives up
        raise _too_deep() from None
    if _depth(tree) > MAX_DEPTH:
        raise _too_deep()
    names: set[str] = set()
    calls: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            # Exact decimal arithmetic with currency values. typeshed types Constant.value as the
            # literal kinds the parser makes; simpleeval returns whatever object sits there.
            node.value = Decimal(repr(node.value))  # type: ignore[assignment]
        if isinstance(node, _FORBIDDEN_NODES):
            kind = "attribute access (a.b)" if isinstance(node, ast.Attribute) else type(node).__name__
            kind_zh = "属性访问（a.b）" if isinstance(node, ast.Attribute) else type(node).__name__
            raise ExpressionSyntaxError(
                f"{kind} is not allowed in expressions", node.col_offset, f"表达式中不允许使用{kind_zh}"
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExpressionSyntaxError(
                    "only documented functions can be called", node.col_offset, "只能调用文档中列出的函数"
                )
            calls.add(node.func.id)
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionSyntaxError(
                f"names starting with __ are not allowed in expressions: {node.id}",
                node.col_offset,
                f"表达式中不允许使用以 __ 开头的名称：{node.id}",
            )
        elif isinstance(node, ast.Name) and node.id not in CONSTANTS:
            names.add(node.id)
    names -= calls
    return Expression(source=text, tree=tree, names=frozenset(names), calls=frozenset(calls))
