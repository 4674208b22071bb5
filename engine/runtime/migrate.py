"""Safe schema changes: bring the database to a config, refusing to lose data silently.

The pipeline, for both ``plan`` and ``apply``, runs on one connection in one
transaction:

1. **Renames.** ``renamed_from`` on an object or a field renames the live table
   or column (``obj_old`` → ``obj_new``) so that the comparison below sees
   the data under its new name. These are cheap catalogue changes; ``plan``
   rolls them back with everything else.
2. **Compare.** Alembic compares the compiled config (``build_schema``) with
   the live database, looking only at the tables Trellis owns (``obj_*``,
   ``sys_*``), and returns typed operations (``AddColumnOp``, ``AlterColumnOp``…).
3. **Data checks**, before any other DDL: each operation that could lose or
   break data counts the rows concerned and either plans a data fix (a default
   for a newly required field, ``migrate_values`` for removed picklist values)
   or adds a ``Refusal`` with the count. Some refusals are lifted by
   ``allow_data_loss``; the others need the data or the config fixed first.
4. **Ordered operations**: renames, new tables (in foreign-key order), added
   columns (always nullable at first), dropped indexes and constraints, value
   rewrites, type changes, default backfills, NOT NULL and new indexes,
   constraints and foreign keys, dropped columns, dropped tables. On SQLite
   every table change goes through Alembic's batch mode, which rebuilds the
   table when SQLite cannot ALTER it.
5. **One transaction**: ``apply`` runs it all, checks foreign keys, records
   the config in ``sys_config_versions`` and commits; any error rolls back the
   whole apply (DDL included, on SQLite and PostgreSQL alike), leaving the
   database exactly as it was. ``plan`` always rolls back. On PostgreSQL an
   advisory lock keeps two applies from interleaving.

Only ``obj_*`` and ``sys_*`` tables are looked at; ``sys_*`` tables are only
ever created or extended here, never dropped or narrowed, since other parts of
Trellis may add to them.

``history``, ``load_version`` and ``rollback`` read and re-apply the stored
config versions; a rollback passes through the same data checks.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import BatchOperations, Operations
from alembic.operations import ops as alembic_ops

from engine.metadata import Config, ConfigError, load_config_text
from engine.metadata.fieldtypes import field_type
from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.database import foreign_key_violations, foreign_keys_deferred
from engine.runtime.errors import TrellisError
from engine.runtime.tables import (
    NAMING_CONVENTION,
    OWNED_PREFIXES,
    Schema,
    build_schema,
    system_tables,
)

__all__ = [
    "MigrationFailed",
    "MigrationRefused",
    "Plan",
    "Refusal",
    "Step",
    "UnknownVersion",
    "VersionInfo",
    "apply",
    "history",
    "load_version",
    "plan",
    "rollback",
]

VERSIONS_TABLE = "sys_config_versions"
#: Key of the PostgreSQL advisory lock held by an apply ("trellis" in ASCII).
APPLY_LOCK = 0x7472656C6C6973
#: SQLite learned ``ALTER TABLE … RENAME COLUMN`` in 3.25.
SQLITE_RENAME_COLUMN = (3, 25, 0)


# --- public types ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One change to the database, printable as one line of a plan."""

    kind: str
    table: str
    column: str | None
    description: str

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Refusal:
    """A change that would lose or break data; ``count`` rows or values are concerned.

    ``overridable`` refusals are lifted by ``allow_data_loss`` (the data is then
    dropped); the others need the data or the config to change first.
    """

    code: str
    object: str
    field: str | None
    count: int
    message: str
    overridable: bool = False

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Plan:
    """What an apply changes (``steps``), rewrites (``data_fixes``) and refuses."""

    steps: tuple[Step, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    data_fixes: tuple[Step, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the database already matches the config and nothing is refused."""
        return not (self.steps or self.refusals or self.data_fixes)

    def __str__(self) -> str:
        if self.empty:
            return "No changes: the database matches the config."
        lines: list[str] = []
        for title, items in (("Changes", self.steps), ("Data fixes", self.data_fixes), ("Refused", self.refusals)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        return "\n".join(lines)


@dataclass(frozen=True)
class VersionInfo:
    """One applied config version (a row of ``sys_config_versions``)."""

    id: int
    content_hash: str
    source_path: str
    applied_at: dt.datetime
    applied_by: str | None
    summary: str | None


class MigrationRefused(TrellisError):
    """An apply was refused; ``refusals`` says why, with counts, and ``plan`` holds the rest."""

    def __init__(self, refusals: Sequence[Refusal], plan: Plan | None = None) -> None:
        self.refusals = list(refusals)
        self.plan = plan
        lines = "\n".join(f"  - {r.message}" for r in self.refusals)
        super().__init__(f"the config was not applied; nothing was changed:\n{lines}")


class MigrationFailed(TrellisError):
    """The database rejected a step of an apply; everything was rolled back."""


class UnknownVersion(KeyError):
    """No stored config version has this id."""

    def __init__(self, version_id: int, known: Sequence[int]) -> None:
        listed = ", ".join(str(i) for i in known) or "none yet"
        self.message = f"there is no config version {version_id}; known versions: {listed}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


# --- entry points --------------------------------------------------------------------


def plan(engine: sa.Engine, config: Config, allow_data_loss: bool = False) -> Plan:
    """What ``apply`` would do to the database now; changes nothing."""
    return _run(engine, config, allow_data_loss, execute=False)


def apply(engine: sa.Engine, config: Config, allow_data_loss: bool = False,
          applied_by: str | None = None) -> Plan:
    """Bring the database to ``config`` in one transaction and record the version.

    Raises ``MigrationRefused`` (nothing changed) when a check refuses, and
    ``MigrationFailed`` (nothing changed) when the database rejects a step.
    """
    return _run(engine, config, allow_data_loss, execute=True, applied_by=applied_by)


def history(engine: sa.Engine) -> list[VersionInfo]:
    """The applied config versions, newest first (empty before the first apply)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSIONS_TABLE):
            return []
        table = _versions_table()
        rows = conn.execute(sa.select(table).order_by(table.c.id.desc())).mappings().all()
    return [VersionInfo(id=r["id"], content_hash=r["content_hash"], source_path=r["source_path"],
                        applied_at=r["applied_at"], applied_by=r["applied_by"], summary=r["summary"])
            for r in rows]


def load_version(engine: sa.Engine, version_id: int) -> Config:
    """The config stored as version ``version_id``; raises ``UnknownVersion``."""
    with engine.connect() as conn:
        text, path = _version_text(conn, version_id)
    return load_config_text(text, name=path)


def rollback(engine: sa.Engine, version_id: int, allow_data_loss: bool = False,
             applied_by: str | None = None) -> Plan:
    """Re-apply version ``version_id``'s config, under the same data checks, as a new version."""
    config = load_version(engine, version_id)
    return _run(engine, config, allow_data_loss, execute=True, applied_by=applied_by,
                note=f"rollback to version {version_id}")


# --- the pipeline -----------------------------------------------------------------------

BatchRun = Callable[[BatchOperations], None]
SqlRun = Callable[[sa.Connection], None]

# Phases, in execution order (0 = renames, run while planning).
RENAME, CREATE, ADD, UNCONSTRAIN, REWRITE, RETYPE, BACKFILL, ALTER, DROP_TABLES = range(9)


@dataclass(frozen=True)
class _Action:
    """Executable work behind one or more steps: SQL on the connection, or batch ops on ``table``.

    An action with neither (a rename) was already run while planning.
    """

    phase: int
    table: str
    steps: tuple[Step, ...]
    sql: SqlRun | None = None
    batch: BatchRun | None = None
    order: int = 0
    reflect: tuple[sa.Column, ...] = ()
    fix: bool = False


def _run(engine: sa.Engine, config: Config, allow_data_loss: bool, execute: bool,
         applied_by: str | None = None, note: str | None = None) -> Plan:
    """Plan (and when ``execute``, apply) ``config`` in one transaction; see the module docstring."""
    schema = build_schema(config)
    with engine.connect() as conn, foreign_keys_deferred(conn):
        transaction = conn.begin()
        try:
            if execute and conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPLY_LOCK})
            planner = _Planner(conn, config, schema, allow_data_loss)
            result = planner.run()
            if execute:
                if result.refusals:
                    raise MigrationRefused(result.refusals, result)
                _execute(conn, planner.actions)
                _check_foreign_keys(conn)
                _record_version(conn, config, result, applied_by, note, planner.latest_hash)
                transaction.commit()
            else:
                transaction.rollback()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    return result


def _execute(conn: sa.Connection, actions: list[_Action]) -> None:
    """Run the actions phase by phase; batch actions on one table share one batch."""
    operations = Operations(_context(conn))
    pending = sorted(actions, key=lambda a: (a.phase, a.batch is None, a.table, a.order))
    index = 0
    while index < len(pending):
        action = pending[index]
        if action.batch is None:
            if action.sql is not None:
                _guarded(action.steps, lambda run=action.sql: run(conn))
            index += 1
            continue
        group = [a for a in pending[index:] if a.phase == action.phase and a.table == action.table and a.batch]
        _run_batch(operations, conn, group)
        index += len(group)


def _run_batch(operations: Operations, conn: sa.Connection, group: list[_Action]) -> None:
    """One Alembic batch for ``group`` (plain ALTERs, or a table rebuild on SQLite)."""
    reflect = [column for action in group for column in action.reflect] if conn.dialect.name == "sqlite" else []
    steps = tuple(step for action in group for step in action.steps)

    def run() -> None:
        with operations.batch_alter_table(group[0].table, recreate="auto", reflect_args=reflect) as batch:
            for action in group:
                action.batch(batch)

    _guarded(steps, run)


def _guarded(steps: Sequence[Step], run: Callable[[], None]) -> None:
    """Run one unit of work; a database error becomes MigrationFailed naming the step."""
    try:
        run()
    except sa.exc.SQLAlchemyError as exc:
        what = "; ".join(s.description for s in steps) or "a change"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise MigrationFailed(f"the database refused `{what}`: {reason}. "
                              "Nothing was changed (the whole apply was rolled back).") from exc


def _check_foreign_keys(conn: sa.Connection) -> None:
    """Refuse to commit when a table rebuild left rows pointing nowhere (SQLite)."""
    broken = foreign_key_violations(conn)
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise MigrationFailed(f"{_plural(len(broken), 'row')} of {tables} would point at missing records; "
                              "nothing was changed (the whole apply was rolled back).")


def _record_version(conn: sa.Connection, config: Config, result: Plan, applied_by: str | None,
                    note: str | None, latest_hash: str | None) -> None:
    """Store the applied config, unless nothing changed and the hash is the latest one."""
    if result.empty and latest_hash == config.content_hash:
        return
    lines = [note] if note else []
    lines += [s.description for s in result.steps + result.data_fixes] or ["no schema change"]
    conn.execute(sa.insert(_versions_table()).values(
        content_hash=config.content_hash, source_path=config.source_path, config_text=config.source_text,
        summary="\n".join(lines), applied_at=dt.datetime.now(dt.UTC), applied_by=applied_by))


# --- comparison --------------------------------------------------------------------------


def _owned(name: str | None) -> bool:
    return bool(name) and name.startswith(OWNED_PREFIXES)


def _include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic hook: look only at the tables Trellis owns."""
    return type_ != "table" or _owned(name)


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic hook: look only at the tables Trellis owns."""
    return type_ != "table" or _owned(name)


def _context(conn: sa.Connection) -> MigrationContext:
    return MigrationContext.configure(conn, opts={
        "compare_type": True,
        "include_name": _include_name,
        "include_object": _include_object,
        "render_as_batch": True,
    })


@contextmanager
def _cycles_allowed() -> Iterator[None]:
    """Silence SQLAlchemy's warning about foreign-key cycles: mutual lookups are normal in a CRM."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Can(not correctly|'t) sort tables", sa.exc.SAWarning)
        yield


def _compare(conn: sa.Connection, metadata: sa.MetaData) -> list[alembic_ops.MigrateOperation]:
    """Alembic's operations turning the live database into ``metadata``."""
    with _cycles_allowed():
        script = produce_migrations(_context(conn), metadata)
    return list(script.upgrade_ops.ops)


# --- types -------------------------------------------------------------------------------

_WIDENINGS = frozenset({("integer", "numeric"), ("date", "datetime"), ("string", "text")})


def _resolve(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> sa.types.TypeEngine:
    """The concrete type on ``dialect``: variants picked, TypeDecorators unwrapped."""
    variant = getattr(type_, "_variant_mapping", {}).get(dialect.name)
    if variant is not None:
        type_ = variant
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.load_dialect_impl(dialect)
    return type_


def _kind(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    """A coarse storage kind: string, text, integer, numeric, boolean, date, datetime, json."""
    type_ = _resolve(type_, dialect)
    for kind, classes in (("json", sa.JSON), ("text", (sa.Text, sa.CLOB)), ("string", sa.String),
                          ("integer", sa.Integer), ("numeric", sa.Numeric), ("boolean", sa.Boolean),
                          ("datetime", sa.DateTime), ("date", sa.Date)):
        if isinstance(type_, classes):
            return kind
    return "other"


def _compatible(old: str, new: str) -> bool:
    """Whether values convert without loss from kind ``old`` to kind ``new``."""
    return old == new or new in ("text", "string") or (old, new) in _WIDENINGS


def _sql_type(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    return type_.compile(dialect=dialect)


# --- counting helpers ----------------------------------------------------------------------


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def _filled(column: Any, kind: str) -> sa.ColumnElement[bool]:
    """``column`` holds a value (JSON ``null`` counts as empty)."""
    if kind == "json":
        return sa.and_(column.isnot(None), sa.cast(column, sa.Text) != "null")
    return column.isnot(None)


def _empty(column: Any, kind: str) -> sa.ColumnElement[bool]:
    return sa.not_(_filled(column, kind)) if kind == "json" else column.is_(None)


def _count(conn: sa.Connection, table: str, where: Callable[[Any], Any] | None = None,
           column: str | None = None) -> int:
    """Rows of ``table`` (matching ``where(column)`` when given)."""
    clause = _table(table, *([column] if column else []))
    query = sa.select(sa.func.count()).select_from(clause)
    if where is not None:
        query = query.where(where(clause.c[column]))
    return int(conn.execute(query).scalar_one())


def _like_key(column: Any, key: str) -> sa.ColumnElement[bool]:
    """A JSON list in ``column`` contains the string ``key`` (keys are identifiers)."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(column, sa.Text).like(f'%"{escaped}"%', escape="\\")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


# --- the planner ------------------------------------------------------------------------------


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

    @property
    def dialect(self) -> sa.Dialect:
        return self.conn.dialect

    def run(self) -> Plan:
        """Renames, comparison and data checks; returns the plan (``actions`` holds the work)."""
        self.latest_hash, self.old_config = _latest_version(self.conn)
        self.rename_tables()
        self.rename_columns()
        operations = _compare(self.conn, self.schema.metadata)
        new_tables = [op.table_name for op in operations if isinstance(op, alembic_ops.CreateTableOp)]
        self.create_tables(new_tables)
        self.drop_tables([op.table_name for op in operations
                          if isinstance(op, alembic_ops.DropTableOp) and op.table_name.startswith("obj_")])
        for op in operations:
            if isinstance(op, alembic_ops.ModifyTableOps) and op.table_name not in new_tables:
                self.modify_table(op)
        self.check_picklists(set(new_tables))
        return self.plan()

    def plan(self) -> Plan:
        ordered = sorted(self.actions, key=lambda a: (a.phase, a.table if a.phase else "", a.order))
        steps = tuple(s for a in ordered if not a.fix for s in a.steps)
        fixes = tuple(s for a in ordered if a.fix for s in a.steps)
        return Plan(steps=steps, refusals=tuple(self.refusals), data_fixes=fixes)

    # -- bookkeeping ---------------------------------------------------------------------------

    def add(self, phase: int, table: str, step: Step, *, sql: SqlRun | None = None,
            batch: BatchRun | None = None, order: int = 0, reflect: Iterable[sa.Column] = (),
            fix: bool = False) -> None:
        self.actions.append(_Action(phase, table, (step,), sql, batch, order, tuple(reflect), fix))

    def refuse(self, code: str, obj: str, field_name: str | None, count: int, message: str,
               overridable: bool = False) -> None:
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

    def live_columns(self, table: str) -> dict[str, dict]:
        return {c["name"]: c for c in sa.inspect(self.conn).get_columns(table)}

    # -- renames (run first, also while planning: the transaction is rolled back) ---------------

    def rename_tables(self) -> None:
        live = set(sa.inspect(self.conn).get_table_names())
        for obj in self.config.objects.values():
            if not obj.renamed_from:
                continue
            old, new = f"obj_{obj.renamed_from}", obj.table_name
            if old in live and new not in live:
                step = Step("rename_table", new, None, f"rename table {old} → {new} (keeps its records)")
                _guarded([step], lambda old=old, new=new: Operations(_context(self.conn)).rename_table(old, new))
                self.actions.append(_Action(RENAME, new, (step,)))
                live = (live - {old}) | {new}
            elif old in live:
                self.refuse("rename_conflict", obj.name, None, _count(self.conn, old),
                            f"`{obj.name}` is renamed from `{obj.renamed_from}`, but both tables {old} and {new} "
                            f"exist; drop one of them or remove `renamed_from`")
            elif new not in live:
                self.notes[(new, None)] = f"renamed_from `{obj.renamed_from}` found no table {old}, so it starts empty"

    def rename_columns(self) -> None:
        live_tables = set(sa.inspect(self.conn).get_table_names())
        for obj in self.config.objects.values():
            renamed = [f for f in obj.fields.values() if f.renamed_from]
            if not renamed or obj.table_name not in live_tables:
                continue
            columns = set(self.live_columns(obj.table_name))
            for fdef in renamed:
                self.rename_column(obj, fdef, columns)

    def rename_column(self, obj: ObjectDef, fdef: FieldDef, columns: set[str]) -> None:
        table, old, new = obj.table_name, fdef.renamed_from or "", fdef.name
        if old in columns and new not in columns:
            step = Step("rename_column", table, new, f"rename column {table}.{old} → {table}.{new} (keeps its values)")
            _guarded([step], lambda: self.execute_column_rename(table, old, new))
            self.actions.append(_Action(RENAME, table, (step,)))
            columns.discard(old)
            columns.add(new)
        elif old in columns:
            self.refuse("rename_conflict", obj.name, new, 0,
                        f"`{obj.name}.{new}` is renamed from `{old}`, but both columns exist in {table}; "
                        f"drop one of them or remove `renamed_from`")
        elif new not in columns:
            self.notes[(table, new)] = f"renamed_from `{old}` found no column {table}.{old}, so it starts empty"

    def execute_column_rename(self, table: str, old: str, new: str) -> None:
        operations = Operations(_context(self.conn))
        if self.dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_RENAME_COLUMN:
            with operations.batch_alter_table(table) as batch:
                batch.alter_column(old, new_column_name=new)
        else:
            operations.alter_column(table, old, new_column_name=new)

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
        self.actions.append(_Action(CREATE, "", tuple(steps),
                                    sql=lambda conn: metadata.create_all(conn, tables=tables, checkfirst=False)))

    def drop_tables(self, names: list[str]) -> None:
        steps = []
        for name in names:
            rows = _count(self.conn, name)
            if rows and not self.allow_data_loss:
                self.refuse("drops_rows", name[4:], None, rows,
                            f"`{name[4:]}` holds {_plural(rows, 'record')}; pass --allow-data-loss to drop its table",
                            overridable=True)
                continue
            lost = f" ({_plural(rows, 'record')} lost)" if rows else ""
            steps.append(Step("drop_table", name, None, f"drop table {name}{lost}"))
        if steps:
            doomed = [s.table for s in steps]
            self.actions.append(_Action(DROP_TABLES, "", tuple(steps), sql=lambda conn: _drop_tables(conn, doomed)))

    # -- one existing table ------------------------------------------------------------------------------

    def modify_table(self, container: alembic_ops.ModifyTableOps) -> None:
        columns = [op for op in container.ops if isinstance(op, (alembic_ops.AddColumnOp, alembic_ops.DropColumnOp,
                                                                   alembic_ops.AlterColumnOp))]
        for op in columns + [op for op in container.ops if op not in columns]:
            self.modify(container.table_name, op)

    def modify(self, table: str, op: alembic_ops.MigrateOperation) -> None:
        """Dispatch one Alembic operation on an existing table to its check and action."""
        system = not table.startswith("obj_")
        if isinstance(op, alembic_ops.AddColumnOp):
            self.add_column(table, op.column)
        elif isinstance(op, alembic_ops.AlterColumnOp):
            self.alter_column(table, op)
        elif system and isinstance(op, (alembic_ops.DropColumnOp, alembic_ops.DropIndexOp,
                                        alembic_ops.DropConstraintOp)):
            return  # other parts of Trellis may add to sys_* tables; they only grow here
        elif isinstance(op, alembic_ops.DropColumnOp):
            self.drop_column(table, op.column_name)
        elif isinstance(op, (alembic_ops.CreateIndexOp, alembic_ops.CreateUniqueConstraintOp)):
            self.add_index(table, op)
        else:
            self.generic(table, op)

    def add_column(self, table: str, column: sa.Column) -> None:
        name, sql_type = column.name, _sql_type(column.type, self.dialect)
        plain = sa.Column(name, column.type, nullable=True, comment=column.comment)
        note = self.notes.get((table, name))
        text = f"add column {table}.{name} ({sql_type})" + (f"; {note}" if note else "")
        self.add(ADD, table, Step("add_column", table, name, text), batch=lambda b: b.add_column(plain))
        if not column.nullable:
            self.require(table, column, _count(self.conn, table), "would be empty")

    def require(self, table: str, column: sa.Column, empty: int, how: str = "is empty") -> None:
        """Make ``column`` NOT NULL: backfill ``empty`` rows with the static default, or refuse."""
        name = column.name
        fdef = self.field(table, name)
        if empty:
            default = fdef.default if fdef is not None and fdef.default_expression is None else None
            if default is None:
                who = f"{table[4:]}.{name}" if fdef else f"{table}.{name}"
                self.refuse("nulls_in_required", table[4:] if fdef else table, name, empty,
                            f"`{who}` {how} in {_plural(empty, 'record')}; give the field a default or fill them first")
                return
            self.backfill(table, column, default, empty)
        self.add(ALTER, table, Step("alter_column", table, name, f"make {table}.{name} required (NOT NULL)"),
                 batch=lambda b: b.alter_column(name, nullable=False, existing_type=column.type), order=2)

    def backfill(self, table: str, column: sa.Column, default: Any, empty: int) -> None:
        name, kind = column.name, _kind(column.type, self.dialect)
        target = self.schema.metadata.tables[table]
        self.fills[(table, name)] = empty

        def run(conn: sa.Connection) -> None:
            conn.execute(sa.update(target).where(_empty(target.c[name], kind)).values({name: default}))

        text = f"set {table}.{name} to {default!r} where empty ({_plural(empty, 'record')})"
        self.add(BACKFILL, table, Step("fill_default", table, name, text), sql=run, fix=True)

    def drop_column(self, table: str, name: str) -> None:
        kind = _kind(self.live_columns(table)[name]["type"], self.dialect)
        values = _count(self.conn, table, lambda c: _filled(c, kind), name)
        if values and not self.allow_data_loss:
            self.refuse("drops_values", table[4:], name, values,
                        f"`{table[4:]}.{name}` holds {_plural(values, 'value')}; pass --allow-data-loss to drop it",
                        overridable=True)
            return
        lost = f" ({_plural(values, 'value')} lost)" if values else ""
        self.add(ALTER, table, Step("drop_column", table, name, f"drop column {table}.{name}{lost}"),
                 batch=lambda b: b.drop_column(name), order=9)

    # -- altered columns -------------------------------------------------------------------------------------

    def alter_column(self, table: str, op: alembic_ops.AlterColumnOp) -> None:
        name = op.column_name
        column = self.schema.metadata.tables[table].c[name]
        replaced = op.modify_type is not None and self.change_type(table, column, op)
        if replaced and not column.nullable:
            self.require(table, column, _count(self.conn, table))
        elif op.modify_nullable is False:
            live = self.live_columns(table)[name]
            empty = _count(self.conn, table, lambda c: _empty(c, _kind(live["type"], self.dialect)), name)
            self.require(table, column, empty)
        elif op.modify_nullable is True and not replaced:
            self.add(ALTER, table, Step("alter_column", table, name, f"make {table}.{name} optional (NULL allowed)"),
                     batch=lambda b: b.alter_column(name, nullable=True, existing_type=column.type), order=2)
        if op.modify_comment is not False:
            comment = op.modify_comment
            self.add(ALTER, table, Step("comment", table, name, f"set the comment of {table}.{name} to {comment!r}"),
                     batch=lambda b: b.alter_column(name, comment=comment, existing_type=column.type,
                                                    existing_nullable=column.nullable), order=3)

    def change_type(self, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp) -> bool:
        """Check and plan a column type change: convert in place, or refuse / drop the values.

        Returns True when its values are dropped (allow_data_loss on an incompatible change).
        """
        name, dialect = column.name, self.dialect
        old_kind, new_kind = _kind(op.existing_type, dialect), _kind(column.type, dialect)
        values = _count(self.conn, table, lambda c: _filled(c, old_kind), name)
        compatible = _compatible(old_kind, new_kind)
        if values and not compatible:
            return self.incompatible(table, column, op, values)
        if new_kind == "string" and not self.fits(table, column, op, old_kind):
            return False
        self.retype(table, column, op, compatible, nullable=bool(op.existing_nullable))
        return False

    def fits(self, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp, old_kind: str) -> bool:
        """Refuse a shorter string column while longer values exist (not overridable)."""
        limit = column.type.length
        old_length = getattr(_resolve(op.existing_type, self.dialect), "length", None)
        if limit is None or (old_kind == "string" and old_length is not None and old_length <= limit):
            return True
        too_long = _count(self.conn, table, lambda c: sa.func.length(sa.cast(c, sa.Text)) > limit, column.name)
        if too_long:
            who = f"{table[4:]}.{column.name}"
            self.refuse("values_too_long", table[4:], column.name, too_long,
                        f"{_plural(too_long, 'value')} of `{who}` {'is' if too_long == 1 else 'are'} longer than "
                        f"{limit} characters; shorten them or keep max_length at least as long")
        return not too_long

    def incompatible(self, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp, values: int) -> bool:
        """Refuse an incompatible type change, or (allow_data_loss) empty the column and change its type.

        Emptying in place (rather than dropping and re-adding the column) keeps the
        column's indexes and constraints in step with Alembic's plan. Returns True
        when the values are dropped.
        """
        name, obj = column.name, table[4:]
        fdef = self.field(table, name)
        old = self.old_type_name(table, fdef) or _sql_type(op.existing_type, self.dialect)
        new = fdef.type if fdef else _sql_type(column.type, self.dialect)
        if not self.allow_data_loss:
            self.refuse("incompatible_type", obj, name, values,
                        f"`{obj}.{name}` changes from {old} to {new} and holds {_plural(values, 'value')}; "
                        f"pass --allow-data-loss to drop them", overridable=True)
            return False
        if not op.existing_nullable:
            self.add(UNCONSTRAIN, table, Step("alter_column", table, name, f"let {table}.{name} be empty for the type change"),
                     batch=lambda b: b.alter_column(name, nullable=True, existing_type=op.existing_type))
        clause = _table(table, name)
        self.add(REWRITE, table, Step("clear_values", table, name, f"empty {table}.{name} for the type change "
                                      f"({_plural(values, 'value')} lost)"), fix=True,
                 sql=lambda conn: conn.execute(sa.update(clause).values({name: None})))
        self.retype(table, column, op, compatible=False, nullable=True)
        return True

    def retype(self, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp, compatible: bool,
               nullable: bool) -> None:
        """Change the column's type in place (converting values when ``compatible``, else from NULLs)."""
        name, dialect = column.name, self.dialect
        old_sql, new_sql = _sql_type(op.existing_type, dialect), _sql_type(column.type, dialect)
        quoted = dialect.identifier_preparer.quote(name)
        options = {"postgresql_using": f"{quoted if compatible else 'NULL'}::{new_sql}"} if dialect.name == "postgresql" else {}
        self.add(RETYPE, table, Step("alter_type", table, name, f"change the type of {table}.{name} from {old_sql} to {new_sql}"),
                 batch=lambda b: b.alter_column(name, type_=column.type, existing_type=op.existing_type,
                                                existing_nullable=nullable, **options),
                 reflect=[sa.Column(name, column.type, nullable=nullable)])

    def old_type_name(self, table: str, fdef: FieldDef | None) -> str | None:
        obj = self.object(table)
        old = self.old_field(obj, fdef) if obj and fdef else None
        return old.type if old else None

    # -- indexes and constraints -----------------------------------------------------------------------------

    def add_index(self, table: str, op: alembic_ops.CreateIndexOp | alembic_ops.CreateUniqueConstraintOp) -> None:
        unique = isinstance(op, alembic_ops.CreateUniqueConstraintOp) or bool(getattr(op, "unique", False))
        columns = [c if isinstance(c, str) else getattr(c, "name", str(c)) for c in op.columns]
        if unique and table.startswith("obj_") and len(columns) == 1 and not self.distinct(table, columns[0]):
            return
        self.generic(table, op)

    def distinct(self, table: str, name: str) -> bool:
        """Refuse making ``table.name`` unique while records share a value (not overridable)."""
        obj, filled_alike = table[4:], self.fills.get((table, name), 0)
        if filled_alike > 1:
            self.refuse("duplicates", obj, name, filled_alike,
                        f"`{obj}.{name}` cannot be unique: its default would fill {_plural(filled_alike, 'record')} "
                        f"with the same value; fill them with distinct values first")
            return False
        live = self.live_columns(table)
        if name not in live:
            return True
        clause = _table(table, name)
        column = clause.c[name]
        groups = (sa.select(sa.func.count().label("n")).select_from(clause)
                  .where(_filled(column, _kind(live[name]["type"], self.dialect)))
                  .group_by(column).having(sa.func.count() > 1).subquery())
        shared, records = self.conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(groups.c.n), 0))).one()
        if shared:
            self.refuse("duplicates", obj, name, int(records),
                        f"`{obj}.{name}` cannot be unique: {_plural(int(records), 'record')} share "
                        f"{_plural(int(shared), 'value')} with another record; make them distinct first")
            return False
        return True

    def generic(self, table: str, op: alembic_ops.MigrateOperation) -> None:
        """Indexes, constraints, foreign keys and comments: run Alembic's op in the batch."""
        kind, text, order = _describe(table, op)
        phase = UNCONSTRAIN if isinstance(op, (alembic_ops.DropIndexOp, alembic_ops.DropConstraintOp)) else ALTER
        self.add(phase, table, Step(kind, table, None, text), batch=lambda b: b.invoke(op), order=order)

    # -- picklist values in use ------------------------------------------------------------------------------

    def check_picklists(self, new_tables: set[str]) -> None:
        for obj in self.config.objects.values():
            if obj.table_name in new_tables:
                continue
            live = self.live_columns(obj.table_name)
            for fdef in obj.fields.values():
                if fdef.picklist is None or fdef.name not in live or not self.values_may_be_gone(obj, fdef):
                    continue
                storage = field_type(fdef).storage
                kind = _kind(live[fdef.name]["type"], self.dialect)
                if storage == "string" and kind == "string":
                    self.check_values(obj, fdef, self.single_values_out(obj, fdef))
                elif storage == "json" and kind == "json":
                    self.check_values(obj, fdef, self.list_values_out(obj, fdef))

    def values_may_be_gone(self, obj: ObjectDef, fdef: FieldDef) -> bool:
        """Whether stored values may have left the picklist (skips the scan when keys only grew)."""
        old = self.old_field(obj, fdef)
        if old is None or old.picklist is None or fdef.migrate_values:
            return True
        return bool(old.picklist.keys() - fdef.picklist.keys())

    def single_values_out(self, obj: ObjectDef, fdef: FieldDef) -> dict[str, int]:
        """Stored values of a picklist field that its picklist no longer has, with their counts."""
        clause = _table(obj.table_name, fdef.name)
        column = clause.c[fdef.name]
        query = (sa.select(column, sa.func.count()).select_from(clause)
                 .where(column.isnot(None), column.notin_(sorted(fdef.picklist.keys()))).group_by(column))
        return {str(value): int(n) for value, n in self.conn.execute(query)}

    def list_values_out(self, obj: ObjectDef, fdef: FieldDef) -> dict[str, int]:
        """Removed keys (old picklist, migrate_values) still inside stored lists, with record counts."""
        keys = fdef.picklist.keys()
        old = self.old_field(obj, fdef)
        candidates = (set(old.picklist.keys()) if old and old.picklist else set()) | set(fdef.migrate_values)
        counts = {key: _count(self.conn, obj.table_name, lambda c, key=key: _like_key(c, key), fdef.name)
                  for key in sorted(candidates - keys)}
        return {key: n for key, n in counts.items() if n}

    def check_values(self, obj: ObjectDef, fdef: FieldDef, used: dict[str, int]) -> None:
        """Map, clear (allow_data_loss) or refuse each removed value still in use."""
        table = obj.table_name
        for value, count in used.items():
            target = fdef.migrate_values.get(value)
            if target is None and (fdef.required or not self.allow_data_loss):
                self.refuse("picklist_value_in_use", obj.name, fdef.name, count,
                            f"`{obj.name}.{fdef.name}` value `{value}` is used by {_plural(count, 'record')}; "
                            f"{_mapping_hint(value, fdef)}", overridable=not fdef.required)
                continue
            if target is None:
                text = f"clear value {value!r} of {table}.{fdef.name} ({_plural(count, 'record')}, data loss)"
                self.add(REWRITE, table, Step("clear_values", table, fdef.name, text), fix=True,
                         sql=self.rewriter(obj, fdef, {value: None}))
            else:
                text = f"rewrite {table}.{fdef.name} value {value!r} → {target!r} ({_plural(count, 'record')})"
                self.add(REWRITE, table, Step("map_values", table, fdef.name, text), fix=True,
                         sql=self.rewriter(obj, fdef, {value: target}))

    def rewriter(self, obj: ObjectDef, fdef: FieldDef, mapping: dict[str, str | None]) -> SqlRun:
        """The data fix replacing stored values per ``mapping`` (None clears them)."""
        table = self.schema.metadata.tables[obj.table_name]
        if field_type(fdef).storage == "json":
            return lambda conn: _rewrite_lists(conn, table, fdef.name, mapping)
        clause = _table(obj.table_name, fdef.name)
        column = clause.c[fdef.name]

        def run(conn: sa.Connection) -> None:
            for old, new in mapping.items():
                conn.execute(sa.update(clause).where(column == old).values({fdef.name: new}))

        return run


# --- helpers used by actions -----------------------------------------------------------------------


def _mapping_hint(value: str, fdef: FieldDef) -> str:
    """How to keep records holding a removed picklist ``value``."""
    options = fdef.picklist.walk() if fdef.picklist else ()
    example = f"{{{value}: {options[0].key if options else '…'}}}"
    if fdef.required:
        return f"map it with migrate_values: {example}; the field is required, so its values cannot be cleared"
    return f"map it with migrate_values: {example} or allow data loss"


def _rewrite_lists(conn: sa.Connection, table: sa.Table, name: str, mapping: dict[str, str | None]) -> None:
    """Replace keys inside JSON lists (multipicklist, tags); an emptied list becomes NULL."""
    column = table.c[name]
    rows = conn.execute(sa.select(table.c.id, column).where(sa.or_(*(_like_key(column, k) for k in mapping)))).all()
    for record_id, values in rows:
        mapped = (mapping.get(v, v) if v in mapping else v for v in values or [])
        kept = list(dict.fromkeys(v for v in mapped if v is not None))
        conn.execute(sa.update(table).where(table.c.id == record_id).values({name: kept or sa.null()}))


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
        return ("add_foreign_key", f"add foreign key {table}({', '.join(op.local_cols)}) → "
                f"{op.referent_table}({', '.join(op.remote_cols)})", 8)
    if isinstance(op, alembic_ops.DropConstraintOp):
        what = {"foreignkey": "foreign key", "unique": "unique constraint"}.get(op.constraint_type or "", "constraint")
        return f"drop_{op.constraint_type or 'constraint'}", f"drop {what} {op.constraint_name} of {table}", 0
    if isinstance(op, (alembic_ops.CreateTableCommentOp, alembic_ops.DropTableCommentOp)):
        return "comment", f"set the comment of {table} to {getattr(op, 'comment', None)!r}", 3
    return "alter_table", f"{type(op).__name__} on {table}", 5


def _versions_table() -> sa.Table:
    """``sys_config_versions`` as this version of Trellis defines it (no config needed)."""
    return system_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))[VERSIONS_TABLE]


def _latest_version(conn: sa.Connection) -> tuple[str | None, Config | None]:
    """Hash and config of the latest applied version (config None when it no longer loads)."""
    if not sa.inspect(conn).has_table(VERSIONS_TABLE):
        return None, None
    table = _versions_table()
    row = conn.execute(sa.select(table.c.content_hash, table.c.config_text, table.c.source_path)
                       .order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return None, None
    try:
        return row.content_hash, load_config_text(row.config_text, name=row.source_path)
    except ConfigError:
        return row.content_hash, None


def _version_text(conn: sa.Connection, version_id: int) -> tuple[str, str]:
    """Config text and source path of one stored version; raises UnknownVersion."""
    if not sa.inspect(conn).has_table(VERSIONS_TABLE):
        raise UnknownVersion(version_id, [])
    table = _versions_table()
    row = conn.execute(sa.select(table.c.config_text, table.c.source_path).where(table.c.id == version_id)).first()
    if row is None:
        known = conn.execute(sa.select(table.c.id).order_by(table.c.id.desc())).scalars().all()
        raise UnknownVersion(version_id, known)
    return row.config_text, row.source_path
