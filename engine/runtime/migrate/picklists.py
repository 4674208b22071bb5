"""The picklist pass of the planner: stored values that left their picklist.

For each picklist field whose keys may have shrunk, count the records still
holding a removed value, then map it (``migrate_values``), clear it
(``allow_data_loss``, optional fields only) or refuse with the count.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.fieldtypes import field_type
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.migrate.compare import _kind
from engine.runtime.migrate.counting import _count, _like_key, _plural, _table
from engine.runtime.migrate.execute import REWRITE, SqlRun
from engine.runtime.migrate.fixlog import _filled_rows, _log_fixes
from engine.runtime.migrate.model import Step
from engine.runtime.tables import Schema

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner


def _check_picklists(planner: _Planner, new_tables: set[str]) -> None:
    """Check the stored values of every picklist field in the existing tables."""
    for obj in planner.config.objects.values():
        if obj.table_name in new_tables:
            continue
        live = planner.live_columns(obj.table_name)
        for fdef in obj.fields.values():
            if fdef.picklist is None or fdef.name not in live or not _values_may_be_gone(planner, obj, fdef):
                continue
            storage = field_type(fdef).storage
            kind = _kind(live[fdef.name]["type"], planner.dialect)
            if storage == "string" and kind == "string":
                _check_values(planner, obj, fdef, _single_values_out(planner, obj, fdef))
            elif storage == "json" and kind == "json":
                _check_values(planner, obj, fdef, _list_values_out(planner, obj, fdef))


def _values_may_be_gone(planner: _Planner, obj: ObjectDef, fdef: FieldDef) -> bool:
    """Whether stored values may have left the picklist (skips the scan when keys only grew)."""
    assert fdef.picklist is not None, "the picklist pass looks at picklist fields"
    old = planner.old_field(obj, fdef)
    if old is None or old.picklist is None or fdef.migrate_values:
        return True
    return bool(old.picklist.keys() - fdef.picklist.keys())


def _single_values_out(planner: _Planner, obj: ObjectDef, fdef: FieldDef) -> dict[str, int]:
    """Stored values of a picklist field that its picklist no longer has, with their counts."""
    assert fdef.picklist is not None, "the picklist pass looks at picklist fields"
    clause = _table(obj.table_name, fdef.name)
    column = clause.c[fdef.name]
    query = (
        sa.select(column, sa.func.count())
        .select_from(clause)
        .where(column.isnot(None), column.notin_(sorted(fdef.picklist.keys())))
        .group_by(column)
    )
    return {str(value): int(n) for value, n in planner.conn.execute(query)}


def _list_values_out(planner: _Planner, obj: ObjectDef, fdef: FieldDef) -> dict[str, int]:
    """Removed keys (old picklist, migrate_values) still inside stored lists, with record counts."""
    assert fdef.picklist is not None, "the picklist pass looks at picklist fields"
    keys = fdef.picklist.keys()
    old = planner.old_field(obj, fdef)
    candidates = (set(old.picklist.keys()) if old and old.picklist else set()) | set(fdef.migrate_values)
    counts = {
        key: _count(planner.conn, obj.table_name, partial(_like_key, key=key), fdef.name)
        for key in sorted(candidates - keys)
    }
    return {key: n for key, n in counts.items() if n}


def _check_values(planner: _Planner, obj: ObjectDef, fdef: FieldDef, used: dict[str, int]) -> None:
    """Map, clear (allow_data_loss) or refuse each removed value still in use."""
    table = obj.table_name
    for value, count in used.items():
        target = fdef.migrate_values.get(value)
        if target is None and (fdef.required or not planner.allow_data_loss):
            planner.refuse(
                "picklist_value_in_use",
                obj.name,
                fdef.name,
                count,
                f"`{obj.name}.{fdef.name}` value `{value}` is used by {_plural(count, 'record')}; "
                f"{_mapping_hint(value, fdef)}",
                overridable=not fdef.required,
            )
            continue
        if target is None:
            text = f"clear value {value!r} of {table}.{fdef.name} ({_plural(count, 'record')}, data loss)"
            planner.add(
                REWRITE,
                table,
                Step("clear_values", table, fdef.name, text),
                fix=True,
                sql=_rewriter(planner, obj, fdef, {value: None}),
            )
        else:
            text = f"rewrite {table}.{fdef.name} value {value!r} → {target!r} ({_plural(count, 'record')})"
            planner.add(
                REWRITE,
                table,
                Step("map_values", table, fdef.name, text),
                fix=True,
                sql=_rewriter(planner, obj, fdef, {value: target}),
            )


def _rewriter(planner: _Planner, obj: ObjectDef, fdef: FieldDef, mapping: dict[str, str | None]) -> SqlRun:
    """The data fix replacing stored values per ``mapping`` (None clears them), audited per record."""
    schema = planner.schema
    table = schema.metadata.tables[obj.table_name]
    if field_type(fdef).storage == "json":
        return lambda conn: _rewrite_lists(conn, schema, table, fdef.name, mapping)
    clause = _table(obj.table_name, fdef.name)
    column = clause.c[fdef.name]

    def run(conn: sa.Connection) -> None:
        for old, new in mapping.items():
            rows = _filled_rows(conn, obj.table_name, fdef.name, lambda c, old=old: c == old)
            conn.execute(sa.update(clause).where(column == old).values({fdef.name: new}))
            _log_fixes(conn, schema, obj.table_name, fdef.name, ((i, old, new) for i, _ in rows), fdef.encrypted)

    return run


def _mapping_hint(value: str, fdef: FieldDef) -> str:
    """How to keep records holding a removed picklist ``value``."""
    options = fdef.picklist.walk() if fdef.picklist else ()
    example = f"{{{value}: {options[0].key if options else '…'}}}"
    if fdef.required:
        return f"map it with migrate_values: {example}; the field is required, so its values cannot be cleared"
    return f"map it with migrate_values: {example} or allow data loss"


def _rewrite_lists(
    conn: sa.Connection, schema: Schema, table: sa.Table, name: str, mapping: dict[str, str | None]
) -> None:
    """Replace keys inside JSON lists (multipicklist, tags); an emptied list becomes NULL."""
    column = table.c[name]
    rows = conn.execute(
        sa.select(table.c.id, column).where(sa.or_(*(_like_key(column, k) for k in mapping))).order_by(table.c.id)
    ).all()
    changes = []
    for record_id, values in rows:
        mapped = (mapping.get(v, v) if v in mapping else v for v in values or [])
        kept = list(dict.fromkeys(v for v in mapped if v is not None))
        conn.execute(sa.update(table).where(table.c.id == record_id).values({name: kept or sa.null()}))
        if kept != values:
            changes.append((record_id, values, kept or None))
    _log_fixes(conn, schema, table.name, name, changes)
