"""Every registered field type has every one of its parts, in every layer.

A field type is one ``FieldType`` in ``engine.metadata.fieldtypes.REGISTRY``; the layers
that cannot live in the metadata package key their parts by it: the SQL side
(``engine.runtime.fieldsql.SQL``), formatting for people (``records/present.py``, the web
page's ``display.FORMATTERS``, the CSV export's cells), the form widget (``webui.ui.widgets``
and its markup), demo data. A type
added to the registry without one of these fails here, with the part it lacks.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.metadata import fieldparts, load_config
from engine.metadata.fieldtypes import REGISTRY, FieldType
from engine.metadata.model import FieldDef, Label
from engine.runtime import fieldsql
from engine.runtime.demo import data as demo
from engine.runtime.exports import cells
from engine.runtime.records import present
from webui.ui import display, widgets

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parent.parent
#: Config keys of the parts, by the attribute they fill (``object:`` fills a lookup's ``target``).
CONFIG_KEY = {"target": "object"}
KINDS = sorted(REGISTRY.values(), key=lambda t: t.name)
PARTS = [p for p in vars(fieldparts).values() if isinstance(p, type) and issubclass(p, fieldparts.NoPart)]


def _widgets_the_form_renders() -> set[str]:
    """Widgets with a macro branch in ``_widgets.html`` or a plain ``<input>`` type."""
    template = (ROOT / "webui" / "templates" / "_widgets.html").read_text(encoding="utf-8")
    named = set(re.findall(r"f\.widget (?:==|in) \(?'([a-z_]+)'(?:, '([a-z_]+)')*(?:, '([a-z_]+)')?", template))
    return {name for group in named for name in group if name} | set(widgets.INPUT_TYPES)


def _sample(kind: FieldType) -> FieldDef:
    """A field of ``kind`` with its part's defaults (a lookup to ``account``)."""
    part = kind.part(target="account") if kind.part is fieldparts.LookupPart else kind.part()
    return FieldDef(name="sample", type=kind.name, label=Label.of("Sample"), part=part)


@pytest.mark.parametrize("kind", KINDS, ids=lambda t: t.name)
def test_each_type_has_its_metadata_parts(kind: FieldType) -> None:
    assert REGISTRY[kind.name] is kind
    for name in ("coerce", "check", "format", "schema"):
        assert callable(getattr(kind, name)), f"{kind.name} has no {name}"
    assert issubclass(kind.part, fieldparts.NoPart), f"{kind.name}: part {kind.part!r} is not a field part"
    assert kind.family, f"{kind.name} has no conversion family"
    given = set(kind.keys)
    of_parts = {CONFIG_KEY.get(k, k) for p in PARTS for k in p.KEYS}
    own = {CONFIG_KEY.get(k, k) for k in kind.part.KEYS}
    assert given & of_parts <= own, f"{kind.name} accepts {sorted(given & of_parts - own)} its part does not hold"
    assert set(kind.needs) <= given, f"{kind.name} needs keys it does not accept: {kind.needs}"
    schema = kind.schema(_sample(kind))
    assert isinstance(schema, dict), f"{kind.name}: schema() gives no JSON Schema"


@pytest.mark.parametrize("kind", KINDS, ids=lambda t: t.name)
def test_each_type_has_its_sql_parts(kind: FieldType) -> None:
    sql = fieldsql.SQL.get(kind)
    assert sql is not None, f"{kind.name} has no entry in engine.runtime.fieldsql.SQL"
    if kind.storage != "computed":
        assert kind.storage in fieldsql.STORAGE, f"{kind.name}: no SQL type for storage {kind.storage!r}"
        assert fieldsql.column_type(_sample(kind)) is not None


@pytest.mark.parametrize("kind", [k for k in KINDS if k.storage != "computed"], ids=lambda t: t.name)
def test_each_stored_type_has_its_people_parts(kind: FieldType) -> None:
    """Formulas format as their result type; every other type in each formatting table."""
    assert kind.name in display.FORMATTERS, f"{kind.name} has no formatter in webui/ui/display.py"
    if kind.numeric or kind.temporal:  # spreadsheets compute on them: a typed Excel cell
        assert kind.name in cells.TYPED, f"{kind.name} has no typed Excel cell in engine/runtime/exports/cells.py"
    assert kind.name in present._FORMATS, f"{kind.name} has no formatter in engine/runtime/records/present.py"
    assert kind.widget in widgets.WIDGETS, f"{kind.name}: no widget {kind.widget!r} in webui/ui/widgets.py"
    assert kind.widget in _widgets_the_form_renders(), f"{kind.name}: _widgets.html cannot show {kind.widget!r}"
    if not (kind.computed or kind.refers_to_user):  # demo data never makes up users or computed values
        assert kind.name in demo._BY_TYPE, f"{kind.name} has no demo value generator (engine/runtime/demo/data.py)"


def test_a_type_lacking_a_part_is_caught() -> None:
    """The checks above are real: a copy of a type under a new name has no SQL or web parts."""
    stranger = dataclasses.replace(REGISTRY["text"], name="stranger")
    assert fieldsql.SQL.get(stranger) is None
    assert stranger.name not in display.FORMATTERS


def test_a_field_carries_the_part_its_type_names() -> None:
    """A compiled config's fields hold the part their type declares (mypy sees what each kind has)."""
    config = load_config(ROOT / "configs" / "sample_saas.yaml")
    for obj in config.objects.values():
        for f in obj.fields.values():
            assert type(f.part) is f.kind.part, f"{obj.name}.{f.name}: {type(f.part).__name__}, not {f.kind.part}"
