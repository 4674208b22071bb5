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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import simpleeval

from engine.metadata.names import full_name, split_name

#: Names an expression may use besides fields and functions.
CONSTANTS: frozenset[str] = frozenset({"None", "True", "False"})


class ExpressionSyntaxError(ValueError):
    """The text is not a valid expression; ``offset`` is the column within it (0-based)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class ExpressionEvalError(ValueError):
    """Evaluating an expression failed (wrong types, missing values, limits)."""


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


def _functions(clock: Clock) -> dict[str, Callable[..., Any]]:
    def days_since(value: Any) -> int | None:
        moment = _as_datetime(value, clock)
        return None if moment is None else (clock.now_utc - moment).days

    def hours_since(value: Any) -> float | None:
        moment = _as_datetime(value, clock)
        return None if moment is None else (clock.now_utc - moment).total_seconds() / 3600

    def days_between(start: Any, end: Any) -> int | None:
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
        "today": clock.today,
        "now": lambda: clock.now_utc,
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


#: Names of the documented functions.
FUNCTIONS: frozenset[str] = frozenset(_functions(Clock(dt.datetime.now(dt.UTC), ZoneInfo("UTC"))))

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
        evaluator = simpleeval.EvalWithCompoundTypes(
            names=dict(values), functions=_functions(clock)
        )
        evaluator.names.update({"None": None, "True": True, "False": False})
        try:
            return evaluator.eval(self.source, previously_parsed=self.tree)
        except simpleeval.NameNotDefined as exc:
            raise ExpressionEvalError(f"unknown name in {self.source!r}: {exc}") from exc
        except (
            TypeError,
            ValueError,
            ArithmeticError,
            KeyError,
            IndexError,
            simpleeval.InvalidExpression,
        ) as exc:
            raise ExpressionEvalError(f"cannot evaluate {self.source!r}: {exc}") from exc


def parse_expression(source: str) -> Expression:
    """Parse ``source`` once; raises ExpressionSyntaxError for text that is not an expression."""
    text = source.strip()
    try:
        tree = simpleeval.SimpleEval.parse(text)
    except SyntaxError as exc:
        raise ExpressionSyntaxError(exc.msg or "invalid syntax", max((exc.offset or 1) - 1, 0)) from None
    names: set[str] = set()
    calls: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            node.value = Decimal(repr(node.value))  # exact decimal arithmetic with currency values
        if isinstance(node, _FORBIDDEN_NODES):
            kind = {ast.Attribute: "attribute access (a.b)"}.get(type(node), type(node).__name__)
            raise ExpressionSyntaxError(f"{kind} is not allowed in expressions", node.col_offset)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExpressionSyntaxError("only documented functions can be called", node.col_offset)
            calls.add(node.func.id)
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionSyntaxError(f"names starting with __ are not allowed in expressions: {node.id}", node.col_offset)
        elif isinstance(node, ast.Name) and node.id not in CONSTANTS:
            names.add(node.id)
    names -= calls
    return Expression(source=text, tree=tree, names=frozenset(names), calls=frozenset(calls))
