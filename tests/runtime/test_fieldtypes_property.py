"""Property tests: no input, however odd, makes a field type or the write path crash.

Every field type's coercion either returns a value or raises ``FieldValueError``
(which the write path turns into a field error), and ``Session.create`` either
returns a Record or raises ``ValidationFailed``. Any other exception would reach
a user as a server error.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine import Trellis, ValidationFailed
from engine.metadata import Config, load_config
from engine.metadata.fieldtypes import REGISTRY, FieldValueError, coerce_value
from engine.runtime import migrate
from engine.runtime.records.record import Record
from tests.templates import apply_fresh

# Asia/Shanghai (UTC+8, and +08:05:43 before 1901) pushes datetimes near year 1
# out of range when they are converted to UTC: a good place for edge cases.
CONFIG = """
trellis: 1
settings:
  timezone: Asia/Shanghai
  phone_region: CN
objects:
  account:
    fields:
      name: {type: text}
  thing:
    fields:
      text_field: {type: text, max_length: 30, pattern: "[A-Za-z ]+"}
      textarea_field: {type: textarea, max_length: 200}
      integer_field: {type: integer, min: -5, max: 5000}
      decimal_field: {type: decimal, scale: 4, min: 0}
      currency_field: {type: currency}
      percent_field: {type: percent, max: 100}
      boolean_field: {type: boolean}
      date_field: {type: date}
      datetime_field: {type: datetime}
      email_field: {type: email}
      phone_field: {type: phone}
      url_field: {type: url}
      picklist_field:
        type: picklist
        values: [{key: red, label: {en: Red, zh: 红色}}, {key: warm, children: [orange, yellow]}]
      multipicklist_field: {type: multipicklist, values: [one, two, three]}
      tags_field: {type: tags}
      lookup_field: {type: lookup, object: account}
      user_field: {type: user}
      formula_field: {type: formula, expression: integer_field * decimal_field}
      autonumber_field: {type: autonumber, format: "N-{0000}"}
      file_field: {type: file}
      json_field: {type: json}
"""

FIELD_NAMES = [f"{type_name}_field" for type_name in REGISTRY]


@cache
def config() -> Config:
    """The config above, loaded the way Trellis loads any config."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        return load_config(path)


def coerce(field_name: str, value: object) -> object:
    return coerce_value(config().objects["thing"].fields[field_name], value, config().settings)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
)

#: Text shaped like what people type into number, date, URL, phone, e-mail and list fields.
TYPED_TEXT = st.one_of(
    st.from_regex(r"\s*[-+]?[0-9,_.]{0,22}([eE][-+]?[0-9]{1,12})?\s*%?\s*", fullmatch=True),
    st.from_regex(
        r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}([T ][0-9:]{1,8}(Z|[+-][0-9]{2}:?[0-9]{2})?)?", fullmatch=True
    ),
    st.from_regex(r"((https?|ftp)://)?[a-z\[\]:.@/ %]{0,20}", fullmatch=True),
    st.from_regex(r"[+(]?[0-9 ()\-]{0,20}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9.+_-]{0,10}@[a-zA-Z0-9.\-]{0,12}", fullmatch=True),
    st.lists(st.sampled_from(["one", "two", "One", "红色", "", " ", ",", "a"]), max_size=6).map(", ".join),
)

ANY_VALUE = st.one_of(
    SCALARS,
    TYPED_TEXT,
    st.lists(st.one_of(SCALARS, TYPED_TEXT), max_size=5),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=4),
    st.fixed_dictionaries(
        {"key": st.one_of(st.text(), SCALARS)},
        optional={"name": SCALARS, "size": SCALARS, "content_type": SCALARS, "other": SCALARS},
    ),
    st.fixed_dictionaries({"id": st.one_of(SCALARS, TYPED_TEXT)}),
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=8,
    ),
)


def _deeply_nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


#: Inputs that once escaped coercion as exceptions other than FieldValueError.
EDGE_CASES = {
    "integer text with a billion digits": "1e999999999",  # int() of it ran for ever
    "url with a broken IPv6 host": "http://[broken",  # urlsplit raised ValueError
    "naive text before year 1 in UTC": "0001-01-01T00:00",  # astimezone raised OverflowError
    "naive datetime before year 1 in UTC": dt.datetime(1, 1, 1),
    "aware datetime after year 9999 in UTC": dt.datetime(
        9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    ),
    "date of year 1": dt.date(1, 1, 1),
    "integer too long for str()": 10**5000,  # str() raised ValueError
    "JSON nested too deeply": _deeply_nested(100_000),  # json.dumps raised RecursionError
    "file with a non-text attribute name": {"key": "a.pdf", 1: "b"},  # sorted() raised TypeError
    "file with a set as size": {"key": "a.pdf", "size": {1, 2}},  # not storable as JSON
    "text with a NUL character": "a\x00b",  # PostgreSQL cannot store NUL in text or JSONB
    "blank text": "   ",
}


@pytest.mark.parametrize("field_name", FIELD_NAMES)
@settings(max_examples=100, deadline=None)
@given(value=ANY_VALUE)
def test_coercion_returns_a_value_or_a_field_value_error(field_name, value):
    try:
        coerce(field_name, value)
    except FieldValueError as exc:
        assert exc.code and exc.message


@pytest.mark.parametrize("value", list(EDGE_CASES.values()), ids=list(EDGE_CASES))
@pytest.mark.parametrize("field_name", FIELD_NAMES)
def test_coercion_of_edge_cases_returns_a_value_or_a_field_value_error(field_name, value):
    try:
        coerce(field_name, value)
    except FieldValueError as exc:
        assert exc.code and exc.message


def test_the_config_covers_every_field_type():
    assert {f.type for f in config().objects["thing"].fields.values()} == set(REGISTRY)


# --- through the write path and the database ------------------------------------


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url)
    if hasattr(migrate, "apply"):
        apply_fresh(crm)
    else:  # until engine.runtime.migrate lands
        crm.schema.metadata.create_all(crm.engine)
    yield crm
    crm.close()


#: Fields whose values reach the database in different shapes (string, numeric, timestamp, JSON, foreign key).
WRITTEN_FIELDS = [
    "text_field",
    "currency_field",
    "datetime_field",
    "url_field",
    "tags_field",
    "file_field",
    "json_field",
    "lookup_field",
]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(WRITTEN_FIELDS), ANY_VALUE, max_size=4))
@example(values={"json_field": {"note": "NUL \x00 inside"}})
@example(values={"file_field": "uploads/\x00.pdf"})
@example(values={"datetime_field": dt.datetime(1, 1, 1)})
@example(values={"url_field": "http://[broken"})
@example(values={"currency_field": Decimal("99999999999999999")})
@example(values={"lookup_field": 2**63 - 1})
def test_create_returns_a_record_or_validation_failed(crm, values):
    try:
        with crm.session() as s:
            record = s.create("thing", values)
    except ValidationFailed as exc:
        assert exc.errors
    else:
        assert isinstance(record, Record)
