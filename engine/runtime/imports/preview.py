"""A first look at an import file, for a person mapping its columns (the web wizard).

``preview(crm, object_name, path, options, user)`` reads the header and the first
``PREVIEW_ROWS`` rows and says, per column: up to ``SAMPLES`` sample values, the field it goes
into (the map's choice, else the field its name matches: pre-selected), the fields the user may
choose from (those they may write and an import can fill) and, for a picklist column, the cell
values of those rows that match no option (up to ``MAX_UNMATCHED``), each with the option the map
chose for it, so that the user picks one. Nothing is written; the ``import`` grant is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.metadata.model import SYSTEM_COLUMNS, Config, FieldDef, ObjectDef
from engine.runtime.imports.cells import CellContext, blank, convert_cell, fillable
from engine.runtime.imports.mapping import (
    EXTRA_FIELDS,
    OWNER,
    REASON,
    SKIP,
    MapSpec,
    field_of,
    normal,
    suggestion,
)
from engine.runtime.imports.problems import ImportProblem, label, say
from engine.runtime.imports.reading import open_source
from engine.runtime.security.permissions import PermissionDenied, Principal

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.imports.runner import ImportOptions

#: Rows read for the sample values and the picklist values that match no option.
PREVIEW_ROWS = 2000
#: Sample values shown per column.
SAMPLES = 5
#: Distinct unmatched picklist values listed per column (the rest are counted).
MAX_UNMATCHED = 100
#: Field types whose cells are matched against options.
PICKLIST_TYPES = ("picklist", "multipicklist", "tags")


@dataclass(frozen=True)
class FieldChoice:
    """A field a column may go into: its key and its label in the current language."""

    name: str
    label: str


@dataclass(frozen=True)
class Option:
    """One option of a picklist: its key and its label (``inactive`` ones are not offered)."""

    key: str
    label: str


@dataclass(frozen=True)
class UnmatchedValue:
    """A cell value of a picklist column that is no option, and the option chosen for it (or None)."""

    value: str
    rows: int
    chosen: str | None


@dataclass(frozen=True)
class ColumnPreview:
    """One column of the file as the wizard shows it."""

    index: int
    header: str
    samples: tuple[str, ...]
    #: The field the column goes into: the map's choice, else the one its name matches; None: none
    #: matches (the user must choose); ``skip``: left out.
    field: str | None
    #: Whether ``field`` comes from the column's name rather than a choice.
    suggested: bool
    #: The field the name most resembles when none matches ("did you mean").
    resembles: FieldChoice | None
    #: Why a column is left out whatever is chosen (a computed field, a system column), or None.
    note: str | None
    #: The options of ``field`` when it is a picklist, and its values that match none.
    options: tuple[Option, ...] = ()
    unmatched: tuple[UnmatchedValue, ...] = ()
    #: Distinct unmatched values beyond ``MAX_UNMATCHED``.
    more_unmatched: int = 0
    #: For a lookup: the fields of its target a cell may name a record by (the title's first, when
    #: the title is one field; then the unique ones), and the one chosen (None: the first).
    lookup_by: tuple[FieldChoice, ...] = ()
    by: str | None = None


@dataclass(frozen=True)
class Preview:
    """What the wizard shows before the dry run."""

    object: str
    file_name: str
    kind: str
    #: How the file was read (``CSV, GB18030 (GBK), delimiter ','`` / ``xlsx, sheet 'Deals'``).
    described: str
    encoding: str | None
    sheet: str | None
    sheets: tuple[str, ...]
    columns: tuple[ColumnPreview, ...]
    #: Every field a column may go into (the same for every column).
    candidates: tuple[FieldChoice, ...]
    #: Data rows read (at most ``PREVIEW_ROWS``).
    rows_read: int


def preview(
    crm: Runtime, object_name: str, path: str | Path, options: ImportOptions, user: str | int | None = None
) -> Preview:
    """A first look at ``path`` for ``user`` (see the module docstring); raises ImportProblem (an
    unreadable file, an unknown sheet or object) or PermissionDenied (no ``import`` grant)."""
    principal = crm.principal(user)
    obj = crm.config.objects.get(object_name)
    if obj is None:
        raise ImportProblem("import.unknown_object", object=object_name, known=", ".join(sorted(crm.config.objects)))
    if not principal.grant(obj.name).import_:
        raise PermissionDenied(say("import.denied", object=label(obj.plural_label)))
    spec = options.spec or MapSpec()
    path = Path(path)
    source = open_source(path, options.sheet)
    try:
        rows = [cells for _, cells in islice(source.rows(), PREVIEW_ROWS)]
    finally:
        source.close()
    context = CellContext(crm.config.settings)
    candidates = tuple(FieldChoice(f.name, label(f.label)) for f in importable_fields(crm.config, obj, principal))
    columns = tuple(
        _column(crm.config, obj, principal, index, header, rows, spec, context)
        for index, header in enumerate(source.headers)
        if header
    )
    return Preview(
        obj.name,
        path.name,
        source.kind,
        source.described,
        source.encoding,
        source.sheet,
        source.sheets,
        columns,
        candidates,
        len(rows),
    )


def importable_fields(config: Config, obj: ObjectDef, principal: Principal) -> list[FieldDef]:
    """The fields a column may fill for ``principal``: not computed, not files, writable by them;
    the owner and (on an object with a pipeline) the stage reason too."""
    fields = [
        f
        for f in obj.fields.values()
        if not f.is_computed
        and fillable(f)
        and (principal.is_system or principal.can_change(obj.name, f.name))
    ]
    fields.append(EXTRA_FIELDS[OWNER])
    if obj.pipeline is not None:
        fields.append(EXTRA_FIELDS[REASON])
    return fields


def _column(
    config: Config,
    obj: ObjectDef,
    principal: Principal,
    index: int,
    header: str,
    rows: list[list[Any]],
    spec: MapSpec,
    context: CellContext,
) -> ColumnPreview:
    cells = [row[index] for row in rows if index < len(row) and not blank(row[index])]
    samples = tuple(dict.fromkeys(_shown(c) for c in cells))[:SAMPLES]
    choice = spec.columns.get(header)
    chosen_values: Mapping[str, Any] = {}
    by = None
    if isinstance(choice, dict):
        chosen_values = choice.get("values") or {}
        by = choice.get("by")
        choice = choice.get("field")
    matched = suggestion(config, obj, header)
    target = choice if isinstance(choice, str) else matched
    note = None
    if matched is not None and choice is None and (matched in SYSTEM_COLUMNS and matched != OWNER):
        target, note = SKIP, "system"
    elif target is not None and target in obj.fields and obj.fields[target].is_computed:
        target, note = SKIP, "computed"
    resembles = None
    if matched is None and choice is None:
        near = suggestion(config, obj, header, fuzzy=True)
        if near is not None:
            resembles = FieldChoice(near, label(field_of(obj, near).label))
    fdef = obj.fields.get(target or "")
    if fdef is not None and fdef.type == "lookup":
        finders = _finders(config, fdef, principal)
        return ColumnPreview(index, header, samples, target, choice is None, resembles, note, lookup_by=finders, by=by)
    if fdef is None or fdef.picklist is None or fdef.value_type not in PICKLIST_TYPES:
        return ColumnPreview(index, header, samples, target, choice is None, resembles, note)
    options = tuple(Option(o.key, label(o.label)) for o in fdef.picklist.walk() if not o.inactive)
    unmatched, more = _unmatched(fdef, cells, chosen_values, context)
    return ColumnPreview(index, header, samples, target, choice is None, resembles, note, options, unmatched, more)


def _finders(config: Config, fdef: FieldDef, principal: Principal) -> tuple[FieldChoice, ...]:
    """The fields of a lookup's target its cells may name a record by: the title's one field, then
    the unique fields the user may see (not encrypted ones: they cannot be searched)."""
    target = config.objects[fdef.target or ""]
    title = target.title_fields()
    names = [*(title if len(title) == 1 else ()), *(f.name for f in target.uniques)]
    return tuple(
        FieldChoice(name, label(target.fields[name].label))
        for name in dict.fromkeys(names)
        if name in target.fields
        and not target.fields[name].encrypted
        and (principal.is_system or principal.can_see(target.name, name))
    )


def _shown(cell: Any) -> str:
    """A cell as text for a sample (dates as ISO dates, whole numbers without ``.0``)."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if hasattr(cell, "isoformat"):
        return str(cell.isoformat()).replace("T00:00:00", "").replace("T", " ")
    return str(cell).strip()[:200]


def _unmatched(
    fdef: FieldDef, cells: list[Any], chosen: Mapping[str, Any], context: CellContext
) -> tuple[tuple[UnmatchedValue, ...], int]:
    """The distinct cell values (items of a multipicklist) that are no option, with how many rows
    hold each and the option chosen for it."""
    keys = context.choices(fdef)
    chosen_by_normal = {normal(str(k)): v for k, v in chosen.items() if isinstance(v, str)}
    found: dict[str, int] = {}
    for cell in cells:
        converted = convert_cell(cell, fdef, context)
        items = converted if isinstance(converted, list) else [converted]
        for item in dict.fromkeys(str(i) for i in items if i is not None):
            if normal(item) not in keys:
                found[item] = found.get(item, 0) + 1
    listed = [
        UnmatchedValue(value, count, chosen_by_normal.get(normal(value)) or None)
        for value, count in list(found.items())[:MAX_UNMATCHED]
    ]
    return tuple(listed), max(0, len(found) - MAX_UNMATCHED)
