"""The schema fingerprint: what ``apply`` makes the database hold for a config, as one hash.

An apply stores it in ``sys_config_versions.schema_hash``; ``Trellis`` compares
it with the fingerprint of the config it serves (``versions.check_current``)
to refuse a database that was not brought to that config, with a sentence
instead of an SQL error on the first query.

It covers what the planner turns into database changes or data fixes: every
owned table (its columns with their SQL types, NULL-ability and foreign keys,
its indexes and constraints), the keys of each picklist field (a removed key
rewrites stored values), which fields are encrypted and, for PostgreSQL's
search index, which fields are searched. It leaves out what does not change
what the database must hold for Trellis to work: labels and help texts
(``apply`` copies the English label into the column comment, which nothing
reads), the order of fields (on PostgreSQL it orders the search index's
expression: search works, but reads the table until ``apply`` rebuilds the
index), list columns, layouts, roles, validation rules and automation actions.
So a config that only renames a label is served without an apply, while one
that adds a field, changes a type or a picklist's keys, or adds a scheduled
rule (which indexes its date field) is refused until ``trellis apply``.

Tables and columns are compared by name (the order of fields in the config
does not matter) and types as the database's dialect writes them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

from engine.metadata import Config
from engine.runtime.tables import Schema, search_fields


def schema_fingerprint(config: Config, schema: Schema, dialect: sa.Dialect) -> str:
    """The SHA-256 (hex) of the schema-relevant part of ``config`` (see the module docstring)."""
    content = {
        "tables": {table.name: _table(table, dialect) for table in schema.metadata.tables.values()},
        "fields": {
            obj.name: {
                "picklists": {f.name: sorted(f.picklist.keys()) for f in obj.fields.values() if f.picklist is not None},
                "encrypted": sorted(f.name for f in obj.fields.values() if f.encrypted),
                "searched": sorted(f.name for f in search_fields(obj)),
            }
            for obj in config.objects.values()
        },
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _table(table: sa.Table, dialect: sa.Dialect) -> dict[str, Any]:
    columns = {
        column.name: [
            column.type.compile(dialect=dialect),
            column.nullable,
            column.primary_key,
            sorted(f"{fk.target_fullname} {fk.ondelete or ''}" for fk in column.foreign_keys),
            str(column.server_default.arg) if isinstance(column.server_default, sa.DefaultClause) else None,
        ]
        for column in table.columns
    }
    indexes = sorted([[str(e) for e in index.expressions], bool(index.unique)] for index in table.indexes)
    constraints = sorted(
        (
            ["unique", sorted(c.name for c in constraint.columns)]
            if isinstance(constraint, sa.UniqueConstraint)
            else ["check", str(constraint.sqltext)]
        )
        for constraint in table.constraints
        if isinstance(constraint, (sa.UniqueConstraint, sa.CheckConstraint))
    )
    return {"columns": columns, "indexes": indexes, "constraints": constraints}
