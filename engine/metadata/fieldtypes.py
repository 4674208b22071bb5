"""The field type registry: one ``FieldType`` object per type, knowing its storage,
coercion, validation, formatting, widget, part, config keys, JSON Schema, filters and
what it is (a list, a document, text, a reference…).

Adding a type means adding one ``FieldType`` to ``REGISTRY`` and its entries in the
tables of the other layers, keyed by the same type (``engine.runtime.fieldsql.SQL``
maps the abstract storage kind — ``string``, ``decimal``… — to a SQLAlchemy type, so
this module stays free of SQLAlchemy); ``tests/test_fieldtype_registry.py`` names any
part a new type lacks. Code elsewhere asks a field's type (``FieldDef.kind``) what it
is instead of comparing type names.

``coerce`` turns input (JSON, form text, CSV cells, Python values) into the
stored Python value and normalises it (trimmed text, E.164 phones, lower-case
e-mail domains). It raises ``FieldValueError`` with a stable code for input it
cannot accept. ``check`` validates an already coerced value against the
field's constraints and returns the errors.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from engine.metadata import fieldschemas as schemas
from engine.metadata.errors import Words
from engine.metadata.fieldparts import (
    AutonumberPart,
    ChoicePart,
    FormulaPart,
    JsonPart,
    LookupPart,
    NoPart,
    NumberPart,
    TextPart,
)
from engine.metadata.patterns import full_match

if TYPE_CHECKING:  # the model reads the registry at run time (FieldDef.kind), so not the other way round
    from engine.metadata.model import FieldDef, Label, Settings

#: Largest absolute integer the database stores (64-bit).
MAX_INTEGER = 2**63 - 1
#: Total significant digits of decimal columns.
DECIMAL_PRECISION = 18
#: Default max_length of short text columns.
DEFAULT_TEXT_LENGTH = 255
#: Integers with more bits than this are refused outright: far beyond any column,
#: and str() of them fails (Python's int max str digits limit).
MAX_INPUT_INT_BITS = 4096


class FieldValueError(ValueError):
    """A value a field cannot accept; ``code`` is stable, ``message`` is for people (English),
    ``params`` fill the code's text in other languages, ``label`` is a configured message
    (in every language the config gives), ``zh`` the same specific message in Chinese (what a
    config error shows: ``words()``)."""

    def __init__(
        self,
        code: str,
        message: str,
        params: Mapping[str, object] | None = None,
        label: Label | None = None,
        zh: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = dict(params or {})
        self.label = label
        self.zh = zh

    def words(self) -> Words:
        """The message in English and Chinese, as a config error embeds it (a configured
        ``pattern_message`` in its Chinese, else as the config wrote it)."""
        if self.label is not None:
            return Words(self.message, self.label.get("zh"))
        return Words(self.message, self.zh or self.message)


Coercer = Callable[[Any, "FieldDef", "Settings"], Any]
Checker = Callable[[Any, "FieldDef"], list[FieldValueError]]
Formatter = Callable[[Any, "FieldDef"], str]
Schema = Callable[["FieldDef"], dict[str, Any]]

#: The aggregates of ``Query.grouped`` and what they apply to.
NUMBER_AGGREGATES = frozenset({"sum", "avg", "min", "max"})
ORDER_AGGREGATES = frozenset({"min", "max"})


@dataclass(frozen=True, eq=False)
class FieldType:
    """Everything Trellis knows about one field type, in one object.

    The runtime's parts (SQL type, filter SQL) live in ``engine.runtime.fieldsql`` and
    the web page's (formatting in the reader's language) in ``webui.ui.display``, each
    keyed by these objects' names; ``tests/metadata/test_fieldtype_registry.py`` fails
    when a registered type lacks one of its parts anywhere.
    """

    #: The name a config writes as ``type:``.
    name: str
    #: The abstract storage kind (``engine.runtime.fieldsql`` maps it to a SQL type).
    storage: str
    #: The form widget (``webui/templates/widgets``).
    widget: str
    #: Input (JSON, form text, CSV cells) → the stored value, normalised; raises ``FieldValueError``.
    coerce: Coercer
    #: The field's constraints on a coerced value → the errors.
    check: Checker
    #: A stored value as plain text (English; the web page formats in the reader's language).
    format: Formatter
    #: The JSON Schema of a value as the API returns it (``/api/v1/openapi.json``).
    schema: Schema
    #: What the field carries beyond the common attributes (``FieldDef.part``).
    part: type[NoPart] = NoPart
    #: The config keys a field of this type may give beyond the common ones (T-E034 for others).
    keys: frozenset[str] = frozenset()
    #: Values of the same family fill each other's fields in a conversion (``text``, ``decimal``…).
    family: str = ""
    #: Config keys of which a field of this type must give one (``object`` of a lookup).
    needs: tuple[str, ...] = ()
    #: Values are keys of the field's picklist; an inactive key is refused as a new value.
    from_picklist: bool = False
    #: The list page's filter control (``select``, ``boolean``, ``date_range``, ``number_range``); None: none.
    filter_widget: str | None = None
    #: The type a filter's value is read as, when not the field's value type (list kinds: one item).
    filter_as: Callable[[FieldDef], str] | None = None
    #: ``Query.grouped`` aggregates that apply.
    aggregates: frozenset[str] = frozenset()
    #: The storage length of a short string when the field sets no ``max_length``.
    string_length: int | None = None
    #: The longest value ``check`` accepts when the field sets no ``max_length``.
    max_chars: int | None = None
    #: Digits after the point when the field sets no ``scale`` (None: ``decimal_scale``'s default).
    default_scale: int | None = None
    #: Money (the board sums it).
    money: bool = False
    #: Written after a number and read past on input (``%`` of percent).
    suffix: str = ""
    numeric: bool = False
    textual: bool = False
    #: Text that may span lines (keeps tab, line feed and carriage return).
    multiline: bool = False
    #: A date or a moment.
    temporal: bool = False
    #: A JSON list of values: filters match any element; not sortable or groupable.
    list_valued: bool = False
    #: A JSON document (a file, JSON): not filterable, sortable or groupable.
    document: bool = False
    #: ``contains`` and ``startswith`` apply (the stored value is text).
    text_match: bool = False
    #: ``Query.search`` looks in it (unless encrypted).
    searchable: bool = False
    #: Other forms in which a search text may appear in a stored value (a phone number typed
    #: ``138 0013 8000`` is stored ``+8613800138000``); None: only the text as typed.
    search_forms: Callable[[str, Settings], tuple[str, ...]] | None = None
    #: The value is the id of a record of the lookup's ``target``.
    refers_to_record: bool = False
    #: The value is the id of a user.
    refers_to_user: bool = False
    #: The value is an e-mail address a notification can go to.
    mail_address: bool = False
    #: The value is a telephone number, stored in E.164 (``phone_region`` for numbers without a country).
    phone_number: bool = False
    #: The value is a stored file (``sys_files``).
    stores_file: bool = False

    @property
    def computed(self) -> bool:
        """Trellis computes the value (formula, autonumber); a writer never gives it."""
        return self.part.computed

    @property
    def orderable(self) -> bool:
        """A list may sort by it and a query group by it (one comparable value per record)."""
        return not (self.list_valued or self.document)


# --- helpers -----------------------------------------------------------------


def _reject_container(value: Any, what: str) -> None:
    if isinstance(value, (list, tuple, dict, set, bytes)):
        kind = type(value).__name__
        raise FieldValueError(
            "invalid", f"Expected {what}, got a {kind}.", zh=f"应为{_WHAT_ZH.get(what, what)}，而不是 {kind}。"
        )
    _reject_huge_int(value)


#: ``_reject_container``'s ``what`` in Chinese.
_WHAT_ZH = {"text": "文本", "a number": "数字", "a whole number": "整数"}


def _shown(value: Any) -> str:
    """A short quote of an input for error messages; never fails, whatever the input."""
    if isinstance(value, (list, tuple, dict, set, bytes)):
        return f"A {type(value).__name__}"
    return repr(str(value)[:40])


def _reject_huge_int(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INPUT_INT_BITS:
        raise FieldValueError("too_large", "The number is too large.", zh="数字太大。")


#: C0 control characters and DEL, refused in text (a single line refuses tab and line breaks too).
_CONTROL = {False: re.compile("[\x00-\x1f\x7f]"), True: re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")}
#: Lone UTF-16 surrogates: not characters; no database encoding can store them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any, field: FieldDef, settings: Settings) -> str | None:
    if value is None:
        return None
    _reject_container(value, "text")
    if isinstance(value, bool):
        raise FieldValueError("invalid", "Expected text, got true/false.", zh="应为文本，而不是 true/false。")
    text = str(value).strip()
    check_characters(text, field.kind.multiline)
    return text or None


def check_characters(text: str, multiline: bool = False) -> None:
    """Refuse lone surrogates and control characters (``multiline`` text keeps tab and line breaks)."""
    if _SURROGATE.search(text):
        raise FieldValueError(
            "invalid_character",
            "The text holds a lone UTF-16 surrogate (U+D800 to U+DFFF), "
            "which is not a character; send the text as valid UTF-8.",
            zh="文本含有孤立的 UTF-16 代理项（U+D800 至 U+DFFF），它不是字符；请以有效的 UTF-8 发送文本。",
        )
    found = _CONTROL[multiline].search(text)
    if found:
        where = "" if multiline else " (this field holds a single line: no tabs or line breaks)"
        where_zh = "" if multiline else "（该字段只有一行：不能含制表符或换行）"
        code = f"U+{ord(found.group()):04X}"
        raise FieldValueError(
            "control_character",
            f"Control character {code} is not allowed{where}.",
            zh=f"不允许控制字符 {code}{where_zh}。",
        )


#: A search text that may be (part of) a phone number: digits with the separators people type.
_PHONE_TEXT = re.compile(r"\+?[0-9(][0-9 ()./-]*")
#: Fewer digits than this are not searched for as a phone number.
MIN_PHONE_SEARCH_DIGITS = 3


def _phone_search_forms(text: str, settings: Settings) -> tuple[str, ...]:
    """How ``text`` (``138 0013 8000``, ``+86 138-0013-8000``, ``(010) 6552 1234``) may appear in
    an E.164 number: its digits (with the ``+`` it starts with), and the national number when
    ``text`` reads as a whole number (a trunk prefix ``0`` is not stored). Other text: none."""
    text = text.strip()
    if not _PHONE_TEXT.fullmatch(text):
        return ()
    digits = re.sub(r"[^0-9]", "", text)
    if len(digits) < MIN_PHONE_SEARCH_DIGITS:
        return ()
    forms = [("+" if text.startswith("+") else "") + digits]
    try:
        number = phonenumbers.parse(text, settings.phone_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        forms.append(str(number.national_number))
    return tuple(dict.fromkeys(f for f in forms if f != text))


def _check_text(value: Any, field: FieldDef) -> list[FieldValueError]:
    errors = []
    limit = field.max_length or field.kind.max_chars
    if limit and len(value) > limit:
        errors.append(
            FieldValueError(
                "too_long",
                f"At most {limit} characters ({len(value)} given).",
                {"max": limit},
                zh=f"最多 {limit} 个字符（实际 {len(value)} 个）。",
            )
        )
    if field.pattern and not full_match(field.pattern, value):
        message = field.pattern_message.get() if field.pattern_message else f"Must match the pattern {field.pattern}."
        errors.append(
            FieldValueError("pattern", message, label=field.pattern_message, zh=f"必须符合模式 {field.pattern}。")
        )
    return errors


def _no_check(value: Any, field: FieldDef) -> list[FieldValueError]:
    return []


def _integer(value: Any, field: FieldDef, settings: Settings) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    _reject_container(value, "a whole number")
    if isinstance(value, bool):
        raise FieldValueError("invalid", "Expected a whole number, got true/false.", zh="应为整数，而不是 true/false。")
    not_whole = f"{_shown(value)} is not a whole number.", f"{_shown(value)} 不是整数。"
    try:
        number = Decimal(str(value).strip().replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise FieldValueError("invalid", not_whole[0], zh=not_whole[1]) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise FieldValueError("invalid", not_whole[0], zh=not_whole[1])
    if number.adjusted() >= len(str(MAX_INTEGER)):
        raise FieldValueError("too_large", "The number is too large to store.", zh="数字太大，无法保存。")
    result = int(number)
    if abs(result) > MAX_INTEGER:
        raise FieldValueError("too_large", "The number is too large to store.", zh="数字太大，无法保存。")
    return result


def _decimal(value: Any, field: FieldDef, settings: Settings) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    _reject_container(value, "a number")
    if isinstance(value, bool):
        raise FieldValueError("invalid", "Expected a number, got true/false.", zh="应为数字，而不是 true/false。")
    text = str(value).strip().replace(",", "").replace("_", "")
    text = text.removesuffix(field.value_kind.suffix).strip() if field.value_kind.suffix else text
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise FieldValueError(
            "invalid", f"{_shown(value)} is not a number.", zh=f"{_shown(value)} 不是数字。"
        ) from None
    if not number.is_finite():
        raise FieldValueError("invalid", "The number must be finite.", zh="数字必须是有限值。")
    scale = decimal_scale(field)
    if number and number.adjusted() >= DECIMAL_PRECISION - scale:
        digits = DECIMAL_PRECISION - scale
        raise FieldValueError(
            "too_large", f"At most {digits} digits before the decimal point.", zh=f"小数点前最多 {digits} 位。"
        )
    return number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def decimal_scale(field: FieldDef) -> int:
    """Digits kept after the decimal point for a decimal-stored field."""
    if field.scale is not None:
        return field.scale
    return 2


def _check_range(value: Any, field: FieldDef) -> list[FieldValueError]:
    errors = []
    if field.min is not None and value < Decimal(str(field.min)):
        errors.append(
            FieldValueError(
                "too_small",
                f"Must be at least {_plain(field.min)}.",
                {"min": _plain(field.min)},
                zh=f"不能小于 {_plain(field.min)}。",
            )
        )
    if field.max is not None and value > Decimal(str(field.max)):
        errors.append(
            FieldValueError(
                "too_large",
                f"Must be at most {_plain(field.max)}.",
                {"max": _plain(field.max)},
                zh=f"不能大于 {_plain(field.max)}。",
            )
        )
    return errors


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


_TRUE = {"true", "yes", "y", "1", "on", "是", "对"}
_FALSE = {"false", "no", "n", "0", "off", "否", "不"}


def _boolean(value: Any, field: FieldDef, settings: Settings) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise FieldValueError(
        "invalid",
        f"{_shown(value)} is not yes/no (use true or false).",
        zh=f"{_shown(value)} 不是是/否（请用 true 或 false）。",
    )


_DATE_FORMATS = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
}


def _date(value: Any, field: FieldDef, settings: Settings) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        raise FieldValueError("invalid", "Expected a date without a time.", zh="应为不带时间的日期。")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%Y-%m-%d", _DATE_FORMATS.get(settings.date_format, "%Y-%m-%d"), "%Y/%m/%d"):
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    raise FieldValueError(
        "invalid",
        f"{_shown(value)} is not a date (use {settings.date_format}).",
        zh=f"{_shown(value)} 不是日期（请用 {settings.date_format}）。",
    )


def _datetime(value: Any, field: FieldDef, settings: Settings) -> dt.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    moment: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        raise FieldValueError(
            "invalid",
            f"{_shown(value)} is not a date and time (use ISO 8601, e.g. 2026-05-01T09:30).",
            zh=f"{_shown(value)} 不是日期时间（请用 ISO 8601，例如 2026-05-01T09:30）。",
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.timezone))
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise FieldValueError(
            "invalid",
            f"{moment.isoformat()} is out of the supported range of dates.",
            zh=f"{moment.isoformat()} 超出了支持的日期范围。",
        ) from None


def _email(value: Any, field: FieldDef, settings: Settings) -> str | None:
    text = _text(value, field, settings)
    if text is None:
        return None
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldValueError(
            "invalid_email", f"Not a valid e-mail address: {exc}", zh=f"不是有效的电子邮件地址：{exc}"
        ) from None
    return f"{result.local_part}@{result.domain.lower()}"


def _phone(value: Any, field: FieldDef, settings: Settings) -> str | None:
    text = _text(value, field, settings)
    if text is None:
        return None
    try:
        number = phonenumbers.parse(text, settings.phone_region)
    except phonenumbers.NumberParseException:
        number = None
    # parse() sets country_code on every number it returns; the check narrows it for what follows.
    if number is None or number.country_code is None or not phonenumbers.is_possible_number(number):
        hint = "" if settings.phone_region else " with its country code (e.g. +86 138 0013 8000)"
        hint_zh = "带国家代码的" if not settings.phone_region else "完整的"
        raise FieldValueError(
            "invalid_phone",
            f"{text[:40]!r} is not a phone number; write it{hint or ' in full'}.",
            zh=f"{text[:40]!r} 不是电话号码；请写{hint_zh}号码" + ("（例如 +86 138 0013 8000）。" if hint else "。"),
        )
    if not phonenumbers.is_valid_number(number):  # possible by length, but no such number in its region
        region = phonenumbers.region_code_for_country_code(number.country_code)
        raise FieldValueError(
            "invalid_phone",
            f"{text[:40]!r} is not a valid phone number in {region} "
            f"(+{number.country_code}); check the digits and the area code.",
            zh=f"{text[:40]!r} 不是 {region}（+{number.country_code}）的有效电话号码，请检查号码和区号。",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _url(value: Any, field: FieldDef, settings: Settings) -> str | None:
    text = _text(value, field, settings)
    if text is None:
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in text:
        raise FieldValueError(
            "invalid_url",
            f"{text[:60]!r} is not a web address (http or https).",
            zh=f"{text[:60]!r} 不是网址（http 或 https）。",
        )
    return text


def _picklist_key(value: Any, field: FieldDef, settings: Settings) -> str | None:
    text = _text(value, field, settings)
    if text is None or field.picklist is None:
        return text
    keys = field.picklist.keys()
    if text in keys:
        return text
    folded = text.casefold()
    for option in field.picklist.walk():
        if option.key.casefold() == folded or any(t.casefold() == folded for t in option.label.texts.values()):
            return option.key
    allowed = ", ".join(sorted(keys))
    raise FieldValueError(
        "not_in_picklist",
        f"{text[:40]!r} is not one of the allowed values: {allowed}.",
        zh=f"{text[:40]!r} 不是允许的值之一：{allowed}。",
    )


def _list_input(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [part for part in re.split(r"[,;，；]", value) if part.strip()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    raise FieldValueError("invalid", "Expected a list of values.", zh="应为值的列表。")


def _multipicklist(value: Any, field: FieldDef, settings: Settings) -> list[str] | None:
    items = _list_input(value)
    if items is None:
        return None
    keys = [_picklist_key(item, field, settings) for item in items]
    unique = list(dict.fromkeys(k for k in keys if k))
    return unique or None


MAX_TAGS = 50
MAX_TAG_LENGTH = 50


def _tags(value: Any, field: FieldDef, settings: Settings) -> list[str] | None:
    items = _list_input(value)
    if items is None:
        return None
    tags = []
    for item in items:
        tag = _picklist_key(item, field, settings) if field.picklist else _text(item, field, settings)
        if tag and tag not in tags:
            tags.append(tag)
    return tags or None


def _check_tags(value: Any, field: FieldDef) -> list[FieldValueError]:
    errors = []
    if len(value) > MAX_TAGS:
        errors.append(
            FieldValueError(
                "too_long",
                f"At most {MAX_TAGS} tags ({len(value)} given).",
                zh=f"最多 {MAX_TAGS} 个标签（实际 {len(value)} 个）。",
            )
        )
    long = [t for t in value if len(t) > MAX_TAG_LENGTH]
    if long:
        errors.append(
            FieldValueError(
                "too_long",
                f"Tags are at most {MAX_TAG_LENGTH} characters: {long[0][:60]!r}.",
                zh=f"标签最多 {MAX_TAG_LENGTH} 个字符：{long[0][:60]!r}。",
            )
        )
    return errors


def _reference(value: Any, field: FieldDef, settings: Settings) -> int | None:
    if isinstance(value, dict) and "id" in value:
        value = value["id"]
    number = _integer(value, field, settings)
    if number is not None and number <= 0:
        raise FieldValueError("invalid", "A record id is a positive whole number.", zh="记录 id 是正整数。")
    return number


def _computed(value: Any, field: FieldDef, settings: Settings) -> Any:
    raise FieldValueError(
        "computed", "This field is computed by Trellis and cannot be set.", zh="该字段由 Trellis 计算，不能填写。"
    )


#: Control characters, never part of a file's key, name or content type (they end up in HTTP headers).
_FILE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _file(value: Any, field: FieldDef, settings: Settings) -> dict | None:
    if isinstance(value, str):
        key = value.strip()
        value = {"key": key, "name": key.rsplit("/", 1)[-1]} if key else None
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("key"), str) and value["key"].strip():
        allowed = {"key", "name", "size", "content_type"}
        extra = set(value) - allowed
        if extra:
            extras = ", ".join(sorted(map(str, extra)))
            raise FieldValueError("invalid", f"Unknown file attributes: {extras}.", zh=f"未知的文件属性：{extras}。")
        size = value.get("size")
        texts_ok = all(isinstance(value.get(k, ""), str) for k in ("name", "content_type"))
        size_ok = size is None or (isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= MAX_INTEGER)
        if (
            not (texts_ok and size_ok)
            or _has_nul(value)
            or any(_FILE_CONTROL.search(value.get(k) or "") for k in ("key", "name", "content_type"))
        ):
            raise FieldValueError(
                "invalid",
                "A file's key, name and content_type are text without control "
                "characters (NUL, CR, LF…) or lone surrogates, and its size a whole number of bytes.",
                zh="文件的 key、name 和 content_type 是不含控制字符（NUL、CR、LF…）和孤立代理项的文本，size 是字节数（整数）。",
            )
        return dict(value)
    raise FieldValueError(
        "invalid",
        "Expected a stored file reference (a key, or {key, name}).",
        zh="应为已存储文件的引用（一个 key，或 {key, name}）。",
    )


def _has_nul(value: Any) -> bool:
    """Whether a JSON-like value holds the NUL character or a lone surrogate, which PostgreSQL's JSONB cannot store."""
    if isinstance(value, str):
        return "\x00" in value or _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _json(value: Any, field: FieldDef, settings: Settings) -> Any:
    try:
        json.dumps(value, allow_nan=False)
        has_nul = _has_nul(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise FieldValueError("invalid", f"Not a JSON value: {exc}.", zh=f"不是 JSON 值：{exc}。") from None
    if has_nul:
        raise FieldValueError(
            "invalid",
            "JSON text cannot contain the NUL character (\\u0000) or a lone surrogate (\\ud800).",
            zh="JSON 文本不能含 NUL 字符（\\u0000）或孤立代理项（\\ud800）。",
        )
    return value


def _check_json(value: Any, field: FieldDef) -> list[FieldValueError]:
    size = len(json.dumps(value))
    limit = field.max_length or 1_000_000
    if size > limit:
        return [
            FieldValueError(
                "too_long",
                f"At most {limit} characters of JSON ({size} given).",
                zh=f"JSON 最多 {limit} 个字符（实际 {size} 个）。",
            )
        ]
    return []


# --- formatting ----------------------------------------------------------------


def _fmt_str(value: Any, field: FieldDef) -> str:
    return "" if value is None else str(value)


def _fmt_bool(value: Any, field: FieldDef) -> str:
    return "" if value is None else ("Yes" if value else "No")


def _fmt_decimal(value: Any, field: FieldDef) -> str:
    if value is None:
        return ""
    text = f"{value:,.{decimal_scale(field)}f}"
    return text + field.value_kind.suffix


def _fmt_list(value: Any, field: FieldDef) -> str:
    return ", ".join(value or [])


def _fmt_picklist(value: Any, field: FieldDef) -> str:
    if value is None:
        return ""
    option = field.picklist.find(value) if field.picklist else None
    return option.label.get() if option else str(value)


def _fmt_phone(value: Any, field: FieldDef) -> str:
    if not value:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(value), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return value


def _fmt_file(value: Any, field: FieldDef) -> str:
    return "" if not value else value.get("name") or value["key"]


def _fmt_json(value: Any, field: FieldDef) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def _fmt_date(value: Any, field: FieldDef) -> str:
    return "" if value is None else value.isoformat()


def _type(name: str, storage: str, widget: str, coerce: Coercer, schema: Schema, **parts: Any) -> FieldType:
    parts.setdefault("check", _no_check)
    parts.setdefault("format", _fmt_str)
    parts.setdefault("family", name)
    return FieldType(name, storage, widget, coerce, schema=schema, **parts)


def _item_type(field: FieldDef) -> str:
    """A list kind's item, as a filter reads it: a picklist key, else text."""
    return "picklist" if field.picklist else "text"


def _as_text(field: FieldDef) -> str:
    """An autonumber, as a filter reads it: text."""
    return "text"


#: Config keys of the kinds' parts, and the keys most types take.
_TEXT_KEYS = frozenset({"max_length", "pattern", "pattern_message"})
_CHOICE_KEYS = frozenset({"picklist", "values"})
_PLAIN = frozenset({"unique", "default"})

_TEXT: dict[str, Any] = {
    "check": _check_text,
    "part": TextPart,
    "family": "text",
    "keys": _TEXT_KEYS | _PLAIN | {"encrypted"},
    "textual": True,
    "text_match": True,
    "searchable": True,
}
_NUMBER: dict[str, Any] = {
    "check": _check_range,
    "part": NumberPart,
    "keys": _PLAIN | {"min", "max", "scale"},
    "numeric": True,
    "filter_widget": "number_range",
    "aggregates": NUMBER_AGGREGATES,
}
_DECIMAL: dict[str, Any] = {**_NUMBER, "format": _fmt_decimal, "family": "decimal"}
_MOMENT: dict[str, Any] = {
    "format": _fmt_date,
    "keys": _PLAIN,
    "temporal": True,
    "filter_widget": "date_range",
    "aggregates": ORDER_AGGREGATES,
}
_LIST: dict[str, Any] = {"part": ChoicePart, "family": "list", "list_valued": True, "filter_as": _item_type}

REGISTRY: dict[str, FieldType] = {
    t.name: t
    for t in (
        _type("text", "string", "text", _text, schemas.text, **_TEXT, string_length=255, max_chars=255),
        _type(
            "textarea",
            "text",
            "textarea",
            _text,
            schemas.text,
            **{**_TEXT, "keys": _TEXT["keys"] - {"unique"}},
            multiline=True,
        ),
        _type(
            "integer", "integer", "number", _integer, schemas.integer, **{**_NUMBER, "keys": _PLAIN | {"min", "max"}}
        ),
        _type("decimal", "decimal", "number", _decimal, schemas.decimal, **_DECIMAL),
        _type("currency", "decimal", "money", _decimal, schemas.decimal, **_DECIMAL, default_scale=2, money=True),
        _type("percent", "decimal", "percent", _decimal, schemas.decimal, **_DECIMAL, suffix="%"),
        _type(
            "boolean",
            "boolean",
            "checkbox",
            _boolean,
            schemas.boolean,
            format=_fmt_bool,
            keys=frozenset({"default"}),
            filter_widget="boolean",
        ),
        _type("date", "date", "date", _date, schemas.date, **_MOMENT),
        _type("datetime", "datetime", "datetime", _datetime, schemas.datetime, **_MOMENT),
        _type("email", "string", "email", _email, schemas.email, **_TEXT, string_length=254, mail_address=True),
        _type(
            "phone",
            "string",
            "tel",
            _phone,
            schemas.text,
            **_TEXT,
            format=_fmt_phone,
            string_length=32,
            phone_number=True,
            search_forms=_phone_search_forms,
        ),
        _type("url", "string", "url", _url, schemas.url, **_TEXT, string_length=2048, max_chars=2048),
        _type(
            "picklist",
            "string",
            "select",
            _picklist_key,
            schemas.picklist,
            format=_fmt_picklist,
            part=ChoicePart,
            family="text",
            keys=_CHOICE_KEYS | _PLAIN | {"depends_on", "migrate_values"},
            needs=("picklist", "values"),
            from_picklist=True,
            text_match=True,
            filter_widget="select",
            string_length=100,
        ),
        _type(
            "multipicklist",
            "json",
            "multiselect",
            _multipicklist,
            schemas.choices,
            **_LIST,
            format=_fmt_list,
            keys=_CHOICE_KEYS | {"default", "migrate_values"},
            needs=("picklist", "values"),
            from_picklist=True,
            filter_widget="select",
        ),
        _type(
            "tags",
            "json",
            "tags",
            _tags,
            schemas.choices,
            **_LIST,
            check=_check_tags,
            format=_fmt_list,
            keys=_CHOICE_KEYS | {"default"},
        ),
        _type(
            "lookup",
            "reference",
            "lookup",
            _reference,
            schemas.reference,
            part=LookupPart,
            keys=_PLAIN | {"object"},
            needs=("object",),
            refers_to_record=True,
        ),
        _type("user", "user", "user", _reference, schemas.reference, keys=_PLAIN, refers_to_user=True),
        _type(
            "formula",
            "computed",
            "readonly",
            _computed,
            schemas.computed,
            part=FormulaPart,
            keys=frozenset({"expression", "result", "scale"}),
            needs=("expression",),
        ),
        _type(
            "autonumber",
            "string",
            "readonly",
            _computed,
            schemas.string,
            part=AutonumberPart,
            family="text",
            keys=frozenset({"format", "start", "unique"}),
            filter_as=_as_text,
            text_match=True,
            searchable=True,
            string_length=64,
        ),
        _type(
            "file",
            "json",
            "file",
            _file,
            schemas.file,
            format=_fmt_file,
            keys=frozenset({"default"}),
            document=True,
            stores_file=True,
        ),
        _type(
            "json",
            "json",
            "json",
            _json,
            schemas.json,
            check=_check_json,
            format=_fmt_json,
            part=JsonPart,
            keys=frozenset({"max_length", "default", "encrypted"}),
            document=True,
        ),
    )
}

#: Storage length of short string types when no max_length is set.
STRING_LENGTHS = {t.name: t.string_length for t in REGISTRY.values() if t.string_length}


def field_type(field: FieldDef) -> FieldType:
    """The registry entry whose coercion and storage apply to ``field`` (formula → result type)."""
    return REGISTRY[field.value_type]


def coerce_value(field: FieldDef, value: Any, settings: Settings) -> Any:
    """Coerce and normalise one input value, then check it; raises FieldValueError."""
    ftype = REGISTRY[field.type]
    _reject_huge_int(value)
    result = ftype.coerce(value, field, settings)
    if result is None:
        return None
    errors = ftype.check(result, field)
    if errors:
        raise errors[0]
    return result


def filter_field(field: FieldDef) -> FieldDef:
    """``field`` as a filter's value is read: a formula as its result, an autonumber as text,
    a list kind as one of its items (``Query`` filters, the list page's filter sentence)."""
    if field.value_type != field.type:
        field = replace(field, type=field.value_type)
    kind = REGISTRY[field.type]
    return field if kind.filter_as is None else replace(field, type=kind.filter_as(field))
