"""Numbers on a chart: axis scales at round steps, and values written for the reader's locale.

``nice_scale`` puts an axis on steps of 1, 2 or 5 × 10ⁿ that include zero. ``Numbers`` writes a
chart's values in full (``1,234,567``, ``¥1,234.00``, ``12.5%``; the data table, tooltips) and
compactly (``1.2M`` / ``123.5万``, ``CN¥12K`` / ``¥1.2万``; axis ticks and labels on the drawing),
with Babel for the locale of ``webui.i18n.Formatter`` — the same formatting as the rest of the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from babel.numbers import format_compact_currency, format_compact_decimal, format_currency

from webui.charts.model import Number, ValueFormat
from webui.i18n import Formatter

#: Steps an axis may take, times a power of ten.
NICE_STEPS = (1, 2, 5, 10)
#: Shown where a value is missing.
MISSING = "—"


@dataclass(frozen=True)
class Scale:
    """An axis from ``low`` to ``high`` (both multiples of ``step``; zero inside)."""

    low: Decimal
    high: Decimal
    step: Decimal

    @property
    def ticks(self) -> list[Decimal]:
        """The values at the axis' ticks, from ``low`` to ``high``."""
        count = int((self.high - self.low) / self.step)
        return [self.low + self.step * i for i in range(count + 1)]

    def fraction(self, value: Number) -> float:
        """Where ``value`` lies between ``low`` (0.0) and ``high`` (1.0)."""
        return float((Decimal(value) - self.low) / (self.high - self.low))

    @property
    def decimals(self) -> int:
        """Digits after the point that the ticks need (0 for steps of 1 and more)."""
        exponent = self.step.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0


def nice_scale(values: list[Number], ticks: int = 5) -> Scale:
    """The axis of ``values`` with zero and at most about ``ticks`` steps of 1, 2 or 5 × 10ⁿ;
    ``0…1`` when every value is zero (or there is none)."""
    low = min([Decimal(0), *(Decimal(v) for v in values)])
    high = max([Decimal(0), *(Decimal(v) for v in values)])
    if low == high:
        return Scale(Decimal(0), Decimal(1), Decimal(1))
    raw = (high - low) / ticks
    power = Decimal(1).scaleb(raw.adjusted())
    step = next(power * m for m in NICE_STEPS if power * m >= raw)
    low = (low / step).to_integral_value(ROUND_FLOOR) * step
    high = (high / step).to_integral_value(ROUND_CEILING) * step
    return Scale(low, high, step)


@dataclass(frozen=True)
class Numbers:
    """A chart's values written for one reader (``fmt``: language, locale, company currency)."""

    fmt: Formatter
    spec: ValueFormat

    @property
    def currency(self) -> str:
        """The currency of money values."""
        return self.spec.currency or self.fmt.currency

    def full(self, value: Number | None) -> str:
        """``value`` in full, as the data table and the tooltips show it (``—`` when missing)."""
        if value is None:
            return MISSING
        if self.spec.style == "money":
            return format_currency(value, self.currency, locale=self.fmt.locale)
        if self.spec.style == "percent":
            return self.fmt.number(value, self.spec.scale) + "%"
        return self.fmt.number(value, self.spec.scale)

    def compact(self, value: Number | None, decimals: int = 1) -> str:
        """``value`` short: thousands and millions (万 and 亿 in Chinese) abbreviated, at most
        ``decimals`` digits after the point (``—`` when missing)."""
        if value is None:
            return MISSING
        if self.spec.style == "percent":
            return self.fmt.number(_rounded(value, decimals)) + "%"
        number = _rounded(value, decimals) if abs(Decimal(value)) < 1000 else value
        if self.spec.style == "money":
            return format_compact_currency(number, self.currency, locale=self.fmt.locale, fraction_digits=decimals)
        return format_compact_decimal(number, locale=self.fmt.locale, fraction_digits=decimals)

    def tick(self, value: Decimal, scale: Scale) -> str:
        """An axis tick: compact, with the digits the scale's step needs."""
        return self.compact(value, max(1, scale.decimals) if abs(value) >= 1000 else scale.decimals)

    def share(self, part: Number, whole: Number) -> str:
        """``part`` as a percentage of ``whole`` with one digit after the point (``—`` for a zero whole)."""
        if not whole:
            return MISSING
        return self.fmt.number(_rounded(Decimal(part) * 100 / Decimal(whole), 1), 1) + "%"

    def signed(self, text: str, value: Number) -> str:
        """``text`` (a formatted ``value``) with a plus sign when ``value`` is above zero."""
        return f"+{text}" if value > 0 else text


def _rounded(value: Number, decimals: int) -> Decimal:
    """``value`` rounded to ``decimals`` digits after the point, trailing zeros dropped."""
    rounded = round(Decimal(value), decimals)
    return rounded.normalize() if rounded == rounded.to_integral_value() else rounded
