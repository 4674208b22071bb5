"""The planner: turn Alembic's operations and the data checks into ordered actions.

``_Planner.run`` is steps 1 to 4 of the pipeline (see the package docstring):
renames (``renames``), the comparison (``compare``), then one check and action
per operation: whole tables here, columns in ``columns``, indexes and
constraints here, and finally the picklist values in use (``picklists``). The
planner holds what they share: the actions, the refusals, notes left by
renames and the rows each default backfill fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.operations import ops as alembic_ops
from sqlalchemy.engine.interfaces import ReflectedColumn

from engine.metadata import Config
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.migrate.autoincrement import _plan_autoincrement
from engine.runtime.migrate.columns import _add_column, _alter_column, _drop_column
from engine.runtime.migrate.compare import _compare, _cycles_allowed, _kind
from engine.runtime.migrate.concurrent import IndexBuild, plan_invalid_indexes, plan_plain_index
from engine.runtime.migrate.counting import _count, _filled, _plural, _table
from engine.runtime.migrate.encryption import _check_encryption
from engine.runtime.migrate.execute import (
    ALTER,
    CREATE,
    DROP_TABLES,
    UNCONSTRAIN,
    BatchRun,
    SqlRun,
    _Action,
)
from engine.runtime.migrate.fulltext import _plan_fulltext
from engine.runtime.migrate.model import Plan, Refusal, Step
from engine.runtime.migrate.picklists import _check_picklists
from engine.runtime.migrate.renames import _rename_columns, _rename_tables
from engine.runtime.migrate.search import _plan_search_indexes
from engine.runtime.migrate.versions import _latest_version
from engine.runtime.tables import Schema


@dataclass
class _Planner:
    """Compares, checks and orders the work of one plan/apply (see the module docstring)."""

    conn: sa.Connection
    config: Config
    schema: Schema
    allow_data_loss: bool
    actions: list[_Action] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    notes: dict[tuple[str, str | None], str] = field(default_factory=dict)
    fills: dict[tuple[str, str], int] = field(default_factory=dict)
    latest_hash: str | None = None
    old_config: Config | None = None
    #: Tables this apply creates; indexes to build after the commit (``concurrent``, ``search``).
    created: set[str] = field(default_factory=set)
    builds: list[IndexBuild] = field(default_factory=list)

    @property
    def dialect(self) -> sa.Dialect:
        return self.conn.dialect

    def run(self) -> Plan:
        """Renames, comparison and data checks; returns the plan (``actions`` holds the work)."""
        self.latest_hash, self.old_config = _latest_version(self.conn)
        _rename_tables(self)
        _rename_columns(self)
        operations = _compare(self.conn, self.schema.metadata)
        new_tables = [op.table_name for op in operations if isinstance(op, alembic_ops.CreateTableOp)]
        self.created = set(new_tables)
        self.create_tables(new_tables)
        self.drop_tables(
            [
                op.table_name
                for op in operations
                if isinstance(op, alembic_ops.DropTableOp) and op.table_name.startswith("obj_")
            ]
        )
        for op in operations:
            if isinstance(op, alembic_ops.ModifyTableOps) and op.table_name not in new_tables:
                self.modify_table(op)
        _check_picklists(self, set(new_tables))
        _check_encryption(self, set(new_tables))
        _plan_autoincrement(self, set(new_tables))
        plan_invalid_indexes(self)
        _plan_search_indexes(self)
        _plan_fulltext(self)
        return self.plan()

    def plan(self) -> Plan:
        ordered = sorted(self.actions, key=lambda a: (a.phase, a.table if a.phase else "", a.order))
        steps = tuple(s for a in ordered if not (a.fix or a.search) for s in a.steps)
        fixes = tuple(s for a in ordered if a.fix for s in a.steps)
        search = tuple(s for a in ordered if a.search for s in a.steps)
        return Plan(steps=steps, refusals=tuple(self.refusals), data_fixes=fixes, search_indexes=search)

    # -- bookkeeping ---------------------------------------------------------------------------

    def add(
        self,
        phase: int,
        table: str,
        step: Step,
        *,
        sql: SqlRun | None = None,
        batch: BatchRun | None = None,
        order: int = 0,
        reflect: Iterable[sa.Column] = (),
        fix: bool = False,
        search: bool = False,
        rebuild: bool = False,
    ) -> None:
        self.actions.append(_Action(phase, table, (step,), sql, batch, order, tuple(reflect), fix, search, rebuild))

    def refuse(
        self, code: str, obj: str, field_name: str | None, count: int, message: str, overridable: bool = False
    ) -> None:
        self.refusals.append(Refusal(code, obj, field_name, count, message, overridable))

    def field(self, table: str, column: str) -> FieldDef | None:
        """The config field stored in ``table.column`` (None for system columns and tables)."""
        obj = self.object(table)
        return obj.fields.get(column) if obj else None

    def object(self, table: str) -> ObjectDef | None:
        return self.config.objects.get(table[4:]) if table.startswith("obj_") else None

    def old_field(self, obj: ObjectDef, fdef: FieldDef) -> FieldDef | None:
        """The same field in the previously applied config (following renames), if known."""
        if self.old_config is None:
            return None
        old_obj = self.old_config.objects.get(obj.name) or self.old_config.objects.get(obj.renamed_from or "")
        if old_obj is None:
            return None
        return old_obj.fields.get(fdef.name) or old_obj.fields.get(fdef.renamed_from or "")

    def live_columns(self, table: str) -> dict[str, ReflectedColumn]:
        return {c["name"]: c for c in sa.inspect(self.conn).get_columns(table)}

    # -- whole tables --------------------------------------------------------------------------------

    def create_tables(self, names: list[str]) -> None:
        if not names:
            return
        with _cycles_allowed():
            tables = [t for t in sa.schema.sort_tables(self.schema.metadata.tables.values()) if t.name in names]
        steps = []
        for table in tables:
            note = self.notes.get((table.name, None))
            text = f"create table {table.name} ({_plural(len(table.columns), 'column')})"
            steps.append(Step("create_table", table.name, None, text + (f"; {note}" if note else "")))
        metadata = self.schema.metadata
        self.actions.append(
            _Action(
                CREATE, "", tuple(steps), sql=lambda conn: metadata.create_all(conn, tables=tables, checkfirst=False)
            )
        )

    def drop_tables(self, names: list[str]) -> None:
        steps = []
        for name in names:
            rows = _count(self.conn, name)
            if rows and not self.allow_data_loss:
                self.refuse(
                    "drops_rows",
                    name[4:],
                    None,
                    rows,
                    f"`{name[4:]}` holds {_plural(rows, 'record')}; pass --allow-data-loss to drop its table",
                    overridable=True,
                )
                continue
            lost = f" ({_plural(rows, 'record')} lost)" if rows else ""
            steps.append(Step("drop_table", name, None, f"drop table {name}{lost}"))
        if steps:
            doomed = [s.table for s in steps]
            self.actions.append(_Action(DROP_TABLES, "", tuple(steps), sql=lambda conn: _drop_tables(conn, doomed)))

    # -- one existing table ------------------------------------------------------------------------------

    def modify_table(self, container: alembic_ops.ModifyTableOps) -> None:
        columns = [
            op
            for op in container.ops
            if isinstance(op, (alembic_ops.AddColumnOp, alembic_ops.DropColumnOp, alembic_ops.AlterColumnOp))
        ]
        for op in columns + [op for op in container.ops if op not in columns]:
            self.modify(container.table_name, op)

    def modify(self, table: str, op: alembic_ops.MigrateOperation) -> None:
        """Dispatch one Alembic operation on an existing table to its check and action."""
        system = not table.startswith("obj_")
        if isinstance(op, alembic_ops.AddColumnOp):
            _add_column(self, table, op.column)
        elif isinstance(op, alembic_ops.AlterColumnOp):
            _alter_column(self, table, op)
        elif system and isinstance(
            op, (alembic_ops.DropColumnOp, alembic_ops.DropIndexOp, alembic_ops.DropConstraintOp)
        ):
            return  # other parts of Trellis may add to sys_* tables; they only grow here
        elif isinstance(op, alembic_ops.DropColumnOp):
            _drop_column(self, table, op.column_name)
        elif isinstance(op, (alembic_ops.CreateIndexOp, alembic_ops.CreateUniqueConstraintOp)):
            self.add_index(table, op)
        else:
            self.generic(table, op)

    # -- indexes and constraints -----------------------------------------------------------------------------

    def add_index(self, table: str, op: alembic_ops.CreateIndexOp | alembic_ops.CreateUniqueConstraintOp) -> None:
        unique = isinstance(op, alembic_ops.CreateUniqueConstraintOp) or bool(getattr(op, "unique", False))
        columns = [c if isinstance(c, str) else getattr(c, "name", str(c)) for c in op.columns]
        if unique and table.startswith("obj_") and len(columns) == 1 and not self.distinct(table, columns[0]):
            return
        if isinstance(op, alembic_ops.CreateIndexOp):
            _, text, order = _describe(table, op)
            if plan_plain_index(self, table, op, text, order):  # PostgreSQL: after the commit, concurrently
                return
        self.generic(table, op)

    def distinct(self, table: str, name: str) -> bool:
        """Refuse making ``table.name`` unique while records share a value (not overridable)."""
        obj, filled_alike = table[4:], self.fills.get((table, name), 0)
        if filled_alike > 1:
            self.refuse(
                "duplicates",
                obj,
                name,
                filled_alike,
                f"`{obj}.{name}` cannot be unique: its default would fill {_plural(filled_alike, 'record')} "
                f"with the same value; fill them with distinct values first",
            )
            return False
        live = self.live_columns(table)
        if name not in live:
            return True
        clause = _table(table, name)
        column = clause.c[name]
        groups = (
            sa.select(sa.func.count().label("n"))
            .select_from(clause)
            .where(_filled(column, _kind(live[name]["type"], self.dialect)))
            .group_by(column)
            .having(sa.func.count() > 1)
            .subquery()
        )
        shared, records = self.conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(groups.c.n), 0))
        ).one()
        if shared:
            self.refuse(
                "duplicates",
                obj,
                name,
                int(records),
                f"`{obj}.{name}` cannot be unique: {_plural(int(records), 'record')} share "
                f"{_plural(int(shared), 'value')} with another record; make them distinct first",
            )
            return False
        return True

    def generic(self, table: str, op: alembic_ops.MigrateOperation) -> None:
        """Indexes, constraints, foreign keys and comments: run Alembic's op in the batch."""
        kind, text, order = _describe(table, op)
        phase = UNCONSTRAIN if isinstance(op, (alembic_ops.DropIndexOp, alembic_ops.DropConstraintOp)) else ALTER
        self.add(phase, table, Step(kind, table, None, text), batch=lambda b: b.invoke(op), order=order)


# --- helpers used by actions -----------------------------------------------------------------------


def _drop_tables(conn: sa.Connection, names: list[str]) -> None:
    """Drop the named tables, those holding foreign keys first (cycles handled by SQLAlchemy)."""
    metadata = sa.MetaData()
    metadata.reflect(conn, only=names)
    with _cycles_allowed():
        metadata.drop_all(conn, tables=[metadata.tables[n] for n in names], checkfirst=False)


def _describe(table: str, op: alembic_ops.MigrateOperation) -> tuple[str, str, int]:
    """Step kind, printable line and order within the table's batch for an index/constraint/comment op."""
    if isinstance(op, alembic_ops.CreateIndexOp):
        columns = ", ".join(str(getattr(c, "name", c)) for c in op.columns)
        what = "unique index" if op.unique else "index"
        return "add_index", f"add {what} {op.index_name} on {table} ({columns})", 6
    if isinstance(op, alembic_ops.DropIndexOp):
        return "drop_index", f"drop index {op.index_name} of {table}", 1
    if isinstance(op, alembic_ops.CreateUniqueConstraintOp):
        return "add_unique", f"add unique constraint {op.constraint_name} on {table} ({', '.join(op.columns)})", 7
    if isinstance(op, alembic_ops.CreateForeignKeyOp):
        return (
            "add_foreign_key",
            f"add foreign key {table}({', '.join(op.local_cols)}) → {op.referent_table}({', '.join(op.remote_cols)})",
            8,
        )
    if isinstance(op, alembic_ops.DropConstraintOp):
        what = {"foreignkey": "foreign key", "unique": "unique constraint"}.get(op.constraint_type or "", "constraint")
        return f"drop_{op.constraint_type or 'constraint'}", f"drop {what} {op.constraint_name} of {table}", 0
    if isinstance(op, (alembic_ops.CreateTableCommentOp, alembic_ops.DropTableCommentOp)):
        return "comment", f"set the comment of {table} to {getattr(op, 'comment', None)!r}", 3
    return "alter_table", f"{type(op).__name__} on {table}", 5
