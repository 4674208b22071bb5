"""Amounts and whole numbers on pages read exactly as Babel writes them, though a list
formats them without Babel's per-call work (``webui.i18n._Shape``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import format_currency, format_decimal

from engine.metadata.model import Settings
from webui.i18n import Formatter

AMOUNTS = [
    "1",
    "-1",
    "0",
    "-0",
    "0.5",
    "-0.01",
    "12.345",
    "1234567.8",
    "-98765432109.99",
    "1E+3",
    "12E+5",
    "NaN",
    "Infinity",
    "0.00",
    "1.500",
]
INTEGERS = [0, 1, -1, 999, 1000, -1000, 1234567, -987654321098765432, 2**63 - 1]


@pytest.mark.parametrize(
    ("locale", "currency"),
    [("en_US", "CNY"), ("zh_Hans_CN", "CNY"), ("de_DE", "EUR"), ("fr_FR", "JPY"), ("en_IN", "INR"), ("ar_EG", "BHD")],
)
def test_amounts_and_numbers_read_as_babel_writes_them(locale, currency):
    fmt = Formatter("en", Locale.parse(locale), currency, None, Settings())  # type: ignore[arg-type]
    for text in AMOUNTS:
        value = Decimal(text)
        assert fmt.money(value) == format_currency(value, currency, locale=fmt.locale), (locale, text)
    for number in INTEGERS:
        assert fmt.number(number) == format_decimal(number, locale=fmt.locale), (locale, number)
