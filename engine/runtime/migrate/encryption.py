"""The encryption pass of the planner: fields whose ``encrypted`` flag changed.

Stored values are either ciphertext or clear text; flipping the flag on a field
that holds values would make them unreadable (or leave clear text where the
config promises encryption). Such a change is refused with the count, or, with
``allow_data_loss``, the values are emptied before the column changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.runtime.migrate.counting import _count, _plural, _table
from engine.runtime.migrate.execute import REWRITE
from engine.runtime.migrate.fixlog import _filled_rows, _log_fixes
from engine.runtime.migrate.model import Step

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner


def _check_encryption(planner: _Planner, new_tables: set[str]) -> None:
    """Refuse (or empty) stored values of fields whose ``encrypted`` flag changed."""
    for obj in planner.config.objects.values():
        if obj.table_name in new_tables:
            continue
        live = planner.live_columns(obj.table_name)
        for fdef in obj.fields.values():
            old = planner.old_field(obj, fdef)
            if old is None or old.encrypted == fdef.encrypted or fdef.name not in live:
                continue
            values = _count(planner.conn, obj.table_name, lambda c: c.is_not(None), fdef.name)
            if values:
                _refuse_or_clear(planner, obj.table_name, fdef.name, fdef.encrypted, values)


def _refuse_or_clear(planner: _Planner, table: str, name: str, encrypting: bool, values: int) -> None:
    who = f"{table[4:]}.{name}"
    change = "turns on encryption for" if encrypting else "turns off encryption for"
    if not planner.allow_data_loss:
        planner.refuse(
            "encryption_changed",
            table[4:],
            name,
            values,
            f"the config {change} `{who}`, which holds {_plural(values, 'value')}; stored values "
            "cannot be converted yet: add a new field and copy them, or pass --allow-data-loss "
            "to empty them",
            overridable=True,
        )
        return
    clause, schema = _table(table, name), planner.schema

    def run(conn: sa.Connection) -> None:  # the values are masked in the audit: the field is sensitive
        rows = _filled_rows(conn, table, name, lambda c: c.is_not(None))
        conn.execute(sa.update(clause).values({name: None}))
        _log_fixes(conn, schema, table, name, ((i, value, None) for i, value in rows), masked=True)

    planner.add(
        REWRITE,
        table,
        Step(
            "clear_values", table, name, f"empty {table}.{name}: encryption changed ({_plural(values, 'value')} lost)"
        ),
        fix=True,
        sql=run,
    )
