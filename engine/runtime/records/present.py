"""Values as people read them, in one reader's language (no Flask; Babel for numbers and money).

``ValueFormatter`` turns stored values into text: dates in ``settings.date_format``,
moments in the company time zone (``2026-12-04 14:00``), picklist values as their
labels in the reader's language, money with the company currency, phone numbers in
international form. Lookups and users are turned into titles and names by the caller
(``notify`` reads them through the read path as the reader) and handed in as
``References``. The web UI's ``Formatter`` uses ``date_text``/``moment_text`` too, so a
date reads the same on a page and in an e-mail.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal

from engine.metadata.fieldtypes import decimal_scale
from engine.metadata.model import FieldDef, Settings
from engine.runtime.messages import message

#: strftime patterns of ``settings.date_format`` (the four the schema allows).
DATE_PATTERNS = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
}
#: The Babel locale of a language when the company locale is of another language.
DEFAULT_LOCALES = {"en": "en_US", "zh": "zh_Hans_CN"}


def date_text(value: dt.date, settings: Settings) -> str:
    """A calendar date in ``settings.date_format`` (``2026-12-04``)."""
    return value.strftime(DATE_PATTERNS.get(settings.date_format, "%Y-%m-%d"))


def moment_text(value: dt.datetime, settings: Settings) -> str:
    """A moment in the company time zone: the date in ``settings.date_format`` and ``HH:MM``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(ZoneInfo(settings.timezone))
    return f"{date_text(local.date(), settings)} {local:%H:%M}"


def babel_locale(language: str, settings: Settings) -> Locale:
    """The Babel locale of ``language``: the company locale when it is of that language."""
    name = settings.locale if settings.locale.split("_")[0] == language else DEFAULT_LOCALES.get(language, "en_US")
    try:
        return Locale.parse(name)
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALES.get(language, "en_US"))


@dataclass(frozen=True)
class References:
    """Titles of the records lookups point at (``(object, id)`` → title) and users' names."""

    titles: Mapping[tuple[str, int], str] = field(default_factory=dict)
    users: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ValueFormatter:
    """Formats stored values for a reader of ``language``."""

    settings: Settings
    language: str
    refs: References = field(default_factory=References)

    def text(self, value: Any, f: FieldDef) -> str:
        """``value`` of field ``f`` as text for people (empty for no value)."""
        if value is None or value == []:
            return ""
        return _FORMATS.get(f.value_type, _plain)(self, value, f)

    def number(self, value: int | Decimal, scale: int | None = None) -> str:
        """A number with the reader's separators; ``scale`` fixes the digits after the point."""
        pattern = None if scale is None else "#,##0" + ("." + "0" * scale if scale else "")
        return format_decimal(
            value,
            format=pattern,
            locale=babel_locale(self.language, self.settings),
            decimal_quantization=scale is not None,
        )

    def picklist(self, value: Any, f: FieldDef) -> str:
        """The label of a picklist value in the reader's language (the key when it is unknown)."""
        option = f.picklist.find(value) if f.picklist else None
        return option.label.get(self.language) if option else str(value)


Format = Callable[[ValueFormatter, Any, FieldDef], str]


def _plain(fmt: ValueFormatter, value: Any, f: FieldDef) -> str:
    return str(value)


def _phone(fmt: ValueFormatter, value: Any, f: FieldDef) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(value), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return str(value)


def _money(fmt: ValueFormatter, value: Any, f: FieldDef) -> str:
    return format_currency(value, fmt.settings.currency, locale=babel_locale(fmt.language, fmt.settings))


#: Formatting for people per field type (a formula formats as its result type).
_FORMATS: dict[str, Format] = {
    **dict.fromkeys(("text", "textarea", "email", "url", "autonumber"), _plain),
    "integer": lambda fmt, v, f: fmt.number(v),
    "decimal": lambda fmt, v, f: fmt.number(v, decimal_scale(f)),
    "currency": _money,
    "percent": lambda fmt, v, f: fmt.number(v, decimal_scale(f)) + "%",
    "boolean": lambda fmt, v, f: message("value.yes" if v else "value.no", fmt.language),
    "date": lambda fmt, v, f: date_text(v, fmt.settings),
    "datetime": lambda fmt, v, f: moment_text(v, fmt.settings),
    "phone": _phone,
    "picklist": lambda fmt, v, f: fmt.picklist(v, f),
    "multipicklist": lambda fmt, v, f: ", ".join(fmt.picklist(item, f) for item in v),
    "tags": lambda fmt, v, f: ", ".join(str(item) for item in v),
    "lookup": lambda fmt, v, f: fmt.refs.titles.get((f.target or "", v), f"#{v}"),
    "user": lambda fmt, v, f: fmt.refs.users.get(v, f"#{v}"),
    "file": lambda fmt, v, f: str(v.get("name") or v.get("key")) if isinstance(v, dict) else str(v),
    "json": lambda fmt, v, f: json.dumps(v, ensure_ascii=False),
}
