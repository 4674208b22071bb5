"""Which column of an import file goes into which field.

A column matches a field by its key or its label in any configured language, ignoring case,
spaces and punctuation (``公司名称``, ``Company name``, ``company_name`` and ``COMPANY NAME`` are one
name). A map (``--map MAP.yaml``, or the web wizard's choices, as a ``MapSpec``) overrides it::

    columns:
      客户全称: name                       # column → field
      Notes: skip                          # leave the column out
      Account: {field: account, by: credit_code}   # a lookup found by another unique field
      行业: {field: industry, values: {软件: software}}  # a picklist cell that is no option → this option
    constants:
      source: trade_show                   # the same value for every row

Columns that match nothing stop the import, each listed with the field it most resembles
(rapidfuzz), so that nothing is dropped silently. Computed fields, system columns and the error
column of an earlier import's error file are left out with a note.

A file written by ``trellis export --keys`` has a second header row of field keys
(``keys_row``): the columns are then mapped by those keys — exact, whatever the labels — and
named by their labels in messages.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from engine.metadata.model import SYSTEM_COLUMNS as SYSTEM
from engine.metadata.model import Config, FieldDef, Label, ObjectDef, frozen_map
from engine.runtime.imports.problems import ImportProblem, label, say
from engine.runtime.messages import LANGUAGES, MESSAGES
from engine.runtime.security.permissions import Principal
from engine.runtime.workflow.pipeline import REASON_KEY

#: The owner column: ``owner_id`` in the engine, found by these names too (and the message's words).
OWNER = "owner_id"
_OWNER_NAMES = ("owner", "owner_id", "负责人", "所有者", "拥有者")
#: The reason for creating a record past its pipeline's first stage (``pipeline.REASON_KEY``).
REASON = REASON_KEY
#: Columns that are not fields of the object but that the write path takes, read as these types.
EXTRA_FIELDS = {
    OWNER: FieldDef(name=OWNER, type="user", label=Label.of({"en": "Owner", "zh": "负责人"})),
    REASON: FieldDef(name=REASON, type="textarea", label=Label.of({"en": "Stage reason", "zh": "阶段变更原因"})),
}
#: The smallest rapidfuzz score (0–100) for which a field is suggested for an unmatched column.
SUGGESTION_SCORE = 60
#: What ``skip`` is written as in a map.
SKIP = "skip"


def normal(text: str) -> str:
    """A name as compared: NFKC, case-folded, without spaces, punctuation and symbols."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


@dataclass(frozen=True)
class Column:
    """One column of the file and where its cells go (``field`` None: left out)."""

    index: int
    header: str
    field: str | None
    #: For a lookup: the target's field its records are found by (None: the target's title).
    by: str | None = None
    #: For a picklist: cell text (normalised) → the option key it stands for (the map's ``values``).
    values: Mapping[str, str] = dataclasses.field(default_factory=frozen_map)  # ``field`` is a column here


@dataclass(frozen=True)
class MapSpec:
    """A map's choices: column (header or field key) → field / ``skip`` / ``{field, by, values}``, and
    constants."""

    columns: Mapping[str, Any] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> MapSpec:
        """Read a map file (YAML); raises ImportProblem when it cannot be read or has a wrong shape."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ImportProblem("import.map_unreadable", path=path.name, reason=str(exc).splitlines()[0]) from None
        return cls.from_data(data, path.name)

    @classmethod
    def from_data(cls, data: Any, name: str = "map") -> MapSpec:
        """A map from plain data (a YAML document or the wizard's JSON)."""
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) - {"columns", "constants"}:
            raise ImportProblem("import.map_shape", path=name)
        columns, constants = data.get("columns") or {}, data.get("constants") or {}
        if not isinstance(columns, dict) or not isinstance(constants, dict):
            raise ImportProblem("import.map_shape", path=name)
        return cls({str(k): v for k, v in columns.items()}, {str(k): v for k, v in constants.items()})

    def to_data(self) -> dict[str, Any]:
        """The map as plain data (stored with an import job)."""
        return {"columns": dict(self.columns), "constants": dict(self.constants)}


@dataclass(frozen=True)
class ColumnMap:
    """Where every column goes, the constants, and notes on the columns left out."""

    object: str
    columns: tuple[Column, ...]
    constants: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def mapped(self) -> tuple[Column, ...]:
        """The columns that fill a field."""
        return tuple(c for c in self.columns if c.field is not None)

    def fields(self) -> set[str]:
        """Every field the import writes (mapped columns and constants)."""
        return {c.field for c in self.mapped if c.field} | set(self.constants)

    def column_of(self, field_name: str) -> Column | None:
        """The column filling ``field_name``, if one does."""
        return next((c for c in self.mapped if c.field == field_name), None)

    def value_choices(self) -> dict[str, Mapping[str, str]]:
        """Field → (normalised cell text → option key): the map's ``values`` of each column."""
        return {c.field: c.values for c in self.mapped if c.field and c.values}

    def named(self, headers: list[str]) -> ColumnMap:
        """The map with its columns called by ``headers`` (a file's labels, when it was mapped by
        its keys row), so that messages name the column as the user sees it."""
        columns = tuple(replace(c, header=headers[c.index] or c.header) for c in self.columns)
        return replace(self, columns=columns)


def build_map(
    config: Config, obj: ObjectDef, headers: list[str], spec: MapSpec | None, principal: Principal
) -> ColumnMap:
    """Map ``headers`` onto ``obj``'s fields; raises ImportProblem listing every problem at once."""
    spec = spec or MapSpec()
    names = _names(config, obj)
    problems: list[str] = []
    notes: list[str] = []
    given = _given(obj, headers, spec, names, problems)
    columns: list[Column] = []
    taken: dict[str, str] = {}
    for index, header in enumerate(headers):
        if not header:
            continue
        choice = given.get(header)
        if choice == SKIP:
            continue
        if choice is None:
            target, by, values = names.get(normal(header)), None, None
        elif isinstance(choice, _Choice):
            target, by, values = choice.field, choice.by, choice.values
        else:
            target, by, values = choice, None, None
        if target is None and normal(header) in _error_headers():
            continue  # the error column of an earlier import's error file
        if target is None:
            problems.append(_unmatched(header, obj, names))
            continue
        if target in SYSTEM and target != OWNER:
            notes.append(say("import.note_system", column=header))
            continue
        fdef = obj.fields.get(target)
        if fdef is not None and fdef.is_computed:
            notes.append(say("import.note_computed", column=header, field=label(fdef.label)))
            continue
        if target in taken:
            problems.append(say("import.two_columns", field=target, first=taken[target], second=header))
            continue
        taken[target] = header
        problems.extend(_check_target(config, obj, fdef, target, header, by, principal))
        chosen = _check_values(fdef, header, values, problems) if values is not None else {}
        columns.append(Column(index, header, target, by, chosen))
    constants = dict(spec.constants)
    for name in constants:
        if name not in obj.fields and not _extra(obj, name):
            problems.append(say("import.unknown_field", field=name, object=obj.name))
        elif name in taken:
            problems.append(say("import.constant_and_column", field=name, column=taken[name]))
        else:
            problems.extend(_check_target(config, obj, obj.fields.get(name), name, name, None, principal))
    if problems:
        raise ImportProblem(lines=problems)
    if not columns and not constants:
        raise ImportProblem("import.nothing_mapped")
    return ColumnMap(obj.name, tuple(columns), constants, tuple(notes))


def suggestion(config: Config, obj: ObjectDef, header: str, fuzzy: bool = False) -> str | None:
    """The field (or owner / stage reason column) a column called ``header`` goes into by its name;
    ``fuzzy``: the one its name most resembles (rapidfuzz), for "did you mean"."""
    names = _names(config, obj)
    return _resembling(obj, names, header) if fuzzy else names.get(normal(header))


def _resembling(obj: ObjectDef, names: dict[str, str], header: str) -> str | None:
    """The field whose name ``header`` most resembles, if any resembles it enough."""
    from rapidfuzz import fuzz, process  # loaded when a column matches nothing, not by every command

    choices = {name: target for name, target in names.items() if target in obj.fields or _extra(obj, target)}
    found = process.extractOne(normal(header), list(choices), scorer=fuzz.WRatio, score_cutoff=SUGGESTION_SCORE)
    return choices[found[0]] if found is not None else None


def _names(config: Config, obj: ObjectDef) -> dict[str, str]:
    """Every name a column may carry (normalised) → the field it means; keys win over labels."""
    names: dict[str, str] = {}
    for text in _OWNER_NAMES + tuple(MESSAGES["import.owner"].values()):
        names.setdefault(normal(text), OWNER)
    if obj.pipeline is not None:
        for text in EXTRA_FIELDS[REASON].label.texts.values():
            names.setdefault(normal(text), REASON)
        names.setdefault(normal(REASON), REASON)
    for system in SYSTEM:
        names.setdefault(normal(system), system)
    for fdef in obj.fields.values():
        names[normal(fdef.name)] = fdef.name
    for fdef in obj.fields.values():
        for text in fdef.label.texts.values():
            names.setdefault(normal(text), fdef.name)
    return names


def keys_row(obj: ObjectDef, headers: list[str], row: list[str]) -> bool:
    """Whether ``row``, the one after the header, is a row of field keys (``trellis export --keys``):
    under every named column a key of ``obj``'s fields or a system column, one field at least."""
    errors = _error_headers()  # an error file's own column has no key
    named = [index for index, header in enumerate(headers) if header and normal(header) not in errors]
    if not named or len(row) <= named[-1]:
        return False
    keys = [row[index] for index in named]
    known = set(obj.fields) | set(SYSTEM) | set(EXTRA_FIELDS)
    return all(key in known for key in keys) and any(key in obj.fields for key in keys)


def _error_headers() -> set[str]:
    return {normal(MESSAGES["import.error_column"][language]) for language in LANGUAGES}


def _given(
    obj: ObjectDef, headers: list[str], spec: MapSpec, names: dict[str, str], problems: list[str]
) -> dict[str, Any]:
    """The map's choices per header: a field name, ``SKIP`` or ``(field, by)``; a choice keyed by
    a field's key applies to the column that matches that field, and ``{by: …}`` without ``field``
    to the field the column matches by its name."""
    by_header: dict[str, Any] = {}
    normals = {normal(h): h for h in headers if h}
    for key, value in spec.columns.items():
        header = key if key in headers else normals.get(normal(key))
        if header is None and key in obj.fields:
            header = next((h for h in headers if h and normal(h) in (normal(key), *_label_normals(obj, key))), None)
            if header is not None and isinstance(value, dict) and "field" not in value:
                value = {**value, "field": key}
        if header is None:
            problems.append(say("import.map_no_column", column=key))
            continue
        if isinstance(value, dict) and "field" not in value and names.get(normal(header)):
            value = {**value, "field": names[normal(header)]}
        choice = _choice(obj, key, value, problems)
        if choice is not None:
            by_header[header] = choice
    return by_header


def _extra(obj: ObjectDef, name: str) -> bool:
    """Whether ``name`` is a column the write path takes besides the fields (owner, stage reason)."""
    return name == OWNER or (name == REASON and obj.pipeline is not None)


def field_of(obj: ObjectDef, name: str) -> FieldDef:
    """The field (or extra column, read as a field) called ``name``."""
    return obj.fields.get(name) or EXTRA_FIELDS[name]


def _label_normals(obj: ObjectDef, key: str) -> tuple[str, ...]:
    return tuple(normal(t) for t in obj.fields[key].label.texts.values())


@dataclass(frozen=True)
class _Choice:
    """A map's ``{field, by, values}`` for one column."""

    field: str
    by: str | None
    values: Mapping[str, Any] | None


def _choice(obj: ObjectDef, column: str, value: Any, problems: list[str]) -> Any:
    if value is None or value == SKIP or value is False:
        return SKIP
    if isinstance(value, str):
        if value not in obj.fields and not _extra(obj, value):
            problems.append(say("import.unknown_field", field=value, object=obj.name))
            return None
        return value
    if isinstance(value, dict) and set(value) <= {"field", "by", "values"} and set(value) & {"by", "values"}:
        target = value.get("field", column)
        if target not in obj.fields:
            problems.append(say("import.unknown_field", field=target, object=obj.name))
            return None
        values = value.get("values")
        if values is not None and not (isinstance(values, dict) and all(isinstance(v, str) for v in values.values())):
            problems.append(say("import.map_values_shape", column=column))
            return None
        return _Choice(target, str(value["by"]) if "by" in value else None, values)
    problems.append(say("import.map_value", column=column))
    return None


def _check_values(fdef: FieldDef | None, column: str, values: Mapping[Any, str], problems: list[str]) -> dict[str, str]:
    """A column's ``values`` (cell text → option key or label) as normalised text → key; a value
    that is no option of the field (or a field without options) is a problem."""
    if fdef is None or fdef.picklist is None:
        problems.append(say("import.values_not_picklist", column=column))
        return {}
    options: dict[str, str] = {}
    for option in fdef.picklist.walk():
        for text in (option.key, *option.label.texts.values()):
            options.setdefault(normal(text), option.key)
    chosen = {}
    for cell, option_text in values.items():
        key = options.get(normal(str(option_text)))
        if key is None:
            keys = ", ".join(o.key for o in fdef.picklist.walk() if not o.inactive)
            problems.append(
                say("import.value_not_option", column=column, value=str(cell), option=option_text, options=keys)
            )
            continue
        chosen[normal(str(cell))] = key
    return chosen


def _unmatched(header: str, obj: ObjectDef, names: dict[str, str]) -> str:
    target = _resembling(obj, names, header)
    if target is None:
        return say("import.unmatched", column=header)
    shown = label(obj.fields[target].label) if target in obj.fields else target
    return say("import.unmatched_suggest", column=header, field=target, label=shown)


def _check_target(
    config: Config,
    obj: ObjectDef,
    fdef: FieldDef | None,
    target: str,
    column: str,
    by: str | None,
    principal: Principal,
) -> list[str]:
    """Problems with writing ``target`` from ``column``: a type that cannot be imported, a field
    the user may not change, a lookup's ``by`` field that cannot find records."""
    if fdef is None:
        return []
    if not principal.is_system and not principal.can_change(obj.name, target):
        return [say("import.read_only", column=column, field=label(fdef.label))]
    if fdef.type != "lookup":
        return [say("import.by_not_lookup", column=column)] if by else []
    target_obj = config.objects[fdef.target or ""]
    by_field = by or _title_field(target_obj)
    if by_field is None:
        return [say("import.title_not_simple", column=column, object=label(target_obj.label))]
    found = target_obj.fields.get(by_field)
    if by_field != "id" and (found is None or found.encrypted or not principal.can_see(target_obj.name, by_field)):
        return [say("import.bad_by", column=column, field=by_field, object=label(target_obj.label))]
    return []


def _title_field(obj: ObjectDef) -> str | None:
    """The one field an object's title is made of (None when it is made of several)."""
    fields = obj.title_fields()
    return fields[0] if len(fields) == 1 else None


def lookup_field(config: Config, obj: ObjectDef, column: Column) -> str:
    """The field of the lookup's target that ``column``'s cells name a record by."""
    fdef = obj.fields[column.field or ""]
    return finding_field(config.objects[fdef.target or ""], column)


def finding_field(target: ObjectDef, column: Column) -> str:
    """The field of ``target`` that the lookup column ``column`` names its records by."""
    return column.by or _title_field(target) or "id"
