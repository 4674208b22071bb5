"""What an automation rule sees, shared by running it and by its dry run.

The names its expressions read (``names``), a configured value evaluated (``evaluate``),
the record as it is stored now and decrypted (``fresh_row``), the values a ``create``
action writes (``linked_values``), an expression's result as the write path takes it
(``plain``) and a value as a dry run prints it (``show``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.expressions import Clock, Expression
from engine.metadata.model import SYSTEM_COLUMNS, ObjectDef
from engine.runtime.records.query import row_to_record
from engine.runtime.records.validation import expression_names

if TYPE_CHECKING:
    from engine.runtime.records.session import Session


def names(obj: ObjectDef | None, values: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a rule's expressions see: the record's fields and system columns, and ``old``."""
    out = expression_names(obj, values) if obj is not None else {**dict.fromkeys(SYSTEM_COLUMNS), **values}
    out["old"] = dict(old) if old is not None else {}
    return out


def evaluate(value: Any, context: Mapping[str, Any], clock: Clock) -> Any:
    """A configured value: an expression evaluated in ``context``, or the literal."""
    if isinstance(value, Expression):
        return value.evaluate(context, clock)
    return value


def plain(value: Any) -> Any:
    """An expression's result as the write path takes it (floats as exact decimals)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def fresh_row(session: Session, obj: ObjectDef, record_id: int, lock: bool = False) -> dict[str, Any]:
    """The record as it is stored now, decrypted (rules see plain values); empty when it is gone.
    ``lock`` takes FOR NO KEY UPDATE on PostgreSQL: it does not wait for the KEY SHARE lock that
    inserting a row which refers to this one takes (two orders of one member would deadlock
    otherwise). A record this write call wrote is known already (and locked by its write)."""
    remembered = session.unit.remembered(obj.name, record_id)
    if remembered is not None:
        return dict(remembered)
    table = session.schema.table(obj.name)
    statement = sa.select(table).where(table.c.id == record_id)
    if lock:
        statement = statement.with_for_update(key_share=True)
    row = session.connection.execute(statement).mappings().first()
    return dict(row_to_record(obj, row, session.crm.keys)) if row is not None else {}


def linked_values(
    target: ObjectDef, obj: ObjectDef | None, values: Mapping[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """What a ``create`` action writes: ``data``, plus a link to the triggering record (the new
    record's first lookup to its object not given), the records the triggering record points
    at through lookups of the same name and object (a deal's task gets the deal's account and
    contact), and the same owner (unless given)."""
    if obj is None or values.get("id") is None:
        return data
    link = next(
        (f.name for f in target.fields.values() if f.type == "lookup" and f.target == obj.name and f.name not in data),
        None,
    )
    if link is not None:
        data[link] = values["id"]
    for f in target.fields.values():
        same = obj.fields.get(f.name)
        if (
            f.type == "lookup"
            and f.name not in data
            and same is not None
            and same.type == "lookup"
            and same.target == f.target
            and values.get(f.name) is not None
        ):
            data[f.name] = values[f.name]
    if "owner_id" not in data and values.get("owner_id") is not None:
        data["owner_id"] = values["owner_id"]
    return data


def show(value: Any) -> str:
    """A value as a dry run prints it: JSON-like, dates as ISO, empty as (empty)."""
    if value is None:
        return "(empty)"
    return json.dumps(value, ensure_ascii=False, default=_text)


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
