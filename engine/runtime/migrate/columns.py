"""Column changes on existing tables: the data checks and actions behind each Alembic column op.

Added columns start nullable and become NOT NULL only once every row holds a
value (a static default is backfilled, or the change is refused with a count).
On PostgreSQL a required column whose static default fills the existing rows is
added with that default and NOT NULL at once (``_add_filled``): a catalogue
change, where the backfill rewrote every row while writers waited.
Dropped columns and incompatible type changes that would lose values are
refused unless ``allow_data_loss``; a shorter string column is refused while
longer values exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.operations import ops as alembic_ops

from engine.metadata.model import FieldDef
from engine.runtime.migrate.compare import _compatible, _kind, _resolve, _sql_type
from engine.runtime.migrate.counting import _count, _empty, _filled, _plural, _table
from engine.runtime.migrate.execute import ADD, AHEAD, ALTER, BACKFILL, RETYPE, REWRITE, SETTLE, UNCONSTRAIN, _Action
from engine.runtime.migrate.fixlog import FillAudit, _filled_rows, _log_filled, _log_fixes
from engine.runtime.migrate.model import Step
from engine.runtime.security import audit
from engine.runtime.workflow import timeline

if TYPE_CHECKING:
    from engine.runtime.migrate.planner import _Planner

# --- added and dropped columns -----------------------------------------------------------


def _add_column(planner: _Planner, table: str, column: sa.Column) -> None:
    """Add ``column`` as nullable; a required column is then filled or refused (``_require``)."""
    name, sql_type = column.name, _sql_type(column.type, planner.dialect)
    plain = sa.Column(name, column.type, nullable=True, comment=column.comment)
    note = planner.notes.get((table, name))
    text = f"add column {table}.{name} ({sql_type})" + (f"; {note}" if note else "")
    if not column.nullable and _add_filled(planner, table, column, Step("add_column", table, name, text)):
        return
    planner.add(ADD, table, Step("add_column", table, name, text), batch=lambda b: b.add_column(plain))
    if name == timeline.COLUMN and table.startswith("obj_"):
        _fill_last_activity(planner, table)
    if (table, name) == ("sys_audit", "seal_seq"):
        _number_legacy_audit_rows(planner)
    if not column.nullable:
        _require(planner, table, column, _count(planner.conn, table), "would be empty")


def _add_filled(planner: _Planner, table: str, column: sa.Column, step: Step) -> bool:
    """PostgreSQL, a required ``column`` whose static default fills the rows ``table`` has: plan
    ``ADD COLUMN … DEFAULT <value> NOT NULL`` then ``DROP DEFAULT``. Since PostgreSQL 11 that is a
    catalogue change — no row is rewritten or read while the table is locked — and the write path
    stays the only source of defaults. The steps, and the audit rows of the filled records, are
    those of the usual add-fill-require path; False (nothing planned) where that path applies."""
    name, fdef = column.name, planner.field(table, column.name)
    if planner.dialect.name != "postgresql" or fdef is None or fdef.encrypted or fdef.default_expression is not None:
        return False
    default = fdef.default
    literal = _literal(planner.dialect, column, default) if default is not None else None
    rows = _count(planner.conn, table) if literal is not None else 0
    if literal is None or not rows:
        return False
    filled = sa.Column(name, column.type, nullable=False, server_default=sa.text(literal), comment=column.comment)
    planner.add(ADD, table, step, batch=lambda b: b.add_column(filled))
    drop_default = _Action(
        ADD,
        table,
        (),
        batch=lambda b: b.alter_column(name, server_default=None, existing_type=column.type, existing_nullable=False),
        order=1,
    )
    planner.actions.append(drop_default)
    planner.fills[(table, name)] = rows
    text = f"set {table}.{name} to {default!r} where empty ({_plural(rows, 'record')})"
    if not table.startswith("obj_"):  # audit rows are the records' (fixlog)
        planner.add(AHEAD, table, Step("fill_default", table, name, text), fix=True)
    else:  # the filled records' audit rows: written before the table is locked, then caught up
        fill = FillAudit(planner.schema, table, name, default)
        planner.add(AHEAD, table, Step("fill_default", table, name, text), sql=fill.ahead, fix=True)
        planner.actions.append(_Action(SETTLE, table, (), sql=fill.settle, fix=True))
        planner.actions.append(_Action(BACKFILL, table, (), sql=fill.catch_up, fix=True))
    # Already NOT NULL: the step is listed as on the usual path, nothing is left to run.
    planner.add(ALTER, table, Step("alter_column", table, name, f"make {table}.{name} required (NOT NULL)"), order=2)
    return True


def _literal(dialect: sa.Dialect, column: sa.Column, value: Any) -> str | None:
    """``value`` as an SQL literal of ``column``'s type, or None when the type cannot render one."""
    try:
        return str(sa.literal(value, column.type).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    except (sa.exc.SQLAlchemyError, NotImplementedError, TypeError, ValueError):
        return None


def _fill_last_activity(planner: _Planner, table: str) -> None:
    """``timeline: true`` added to an object: set ``last_activity_at`` from the activities it already has."""
    config, schema, target = planner.config, planner.schema, table[4:]

    def run(conn: sa.Connection) -> None:
        timeline.backfill(conn, config, schema, target)

    text = f"set {table}.{timeline.COLUMN} from the latest activity of each record"
    planner.add(BACKFILL, table, Step("fill_last_activity", table, timeline.COLUMN, text), sql=run, fix=True)


def _number_legacy_audit_rows(planner: _Planner) -> None:
    """An audit trail chained by an older Trellis (hash written with each row, in id order):
    number its rows in that order and record them in the head (``audit.number_legacy_rows``),
    so that the old chain still verifies and the sealer continues it."""
    table, schema = "sys_audit", planner.schema
    rows = _count(planner.conn, table)
    if not rows:
        return

    def run(conn: sa.Connection) -> None:
        audit.number_legacy_rows(conn, schema)

    text = f"number the {_plural(rows, 'audit row')} chained so far in id order ({table}.seal_seq)"
    planner.add(BACKFILL, table, Step("number_audit_rows", table, "seal_seq", text), sql=run, fix=True)


def _require(planner: _Planner, table: str, column: sa.Column, empty: int, how: str = "is empty") -> None:
    """Make ``column`` NOT NULL: backfill ``empty`` rows with the static default, or refuse."""
    name = column.name
    fdef = planner.field(table, name)
    if empty:
        default = fdef.default if fdef is not None and fdef.default_expression is None else None
        if default is None:
            who = f"{table[4:]}.{name}" if fdef else f"{table}.{name}"
            planner.refuse(
                "nulls_in_required",
                table[4:] if fdef else table,
                name,
                empty,
                f"`{who}` {how} in {_plural(empty, 'record')}; give the field a default or fill them first",
            )
            return
        _backfill(planner, table, column, default, empty)
    planner.add(
        ALTER,
        table,
        Step("alter_column", table, name, f"make {table}.{name} required (NOT NULL)"),
        batch=lambda b: b.alter_column(name, nullable=False, existing_type=column.type),
        order=2,
    )


def _backfill(planner: _Planner, table: str, column: sa.Column, default: Any, empty: int) -> None:
    name, kind = column.name, _kind(column.type, planner.dialect)
    schema = planner.schema
    target = schema.metadata.tables[table]
    planner.fills[(table, name)] = empty
    fdef = planner.field(table, name)

    def run(conn: sa.Connection) -> None:
        _log_filled(conn, schema, table, name, lambda c: _empty(c, kind), default, bool(fdef and fdef.encrypted))
        conn.execute(sa.update(target).where(_empty(target.c[name], kind)).values({name: default}))

    text = f"set {table}.{name} to {default!r} where empty ({_plural(empty, 'record')})"
    planner.add(BACKFILL, table, Step("fill_default", table, name, text), sql=run, fix=True)


def _drop_column(planner: _Planner, table: str, name: str) -> None:
    """Drop ``table.name``; refused while it holds values, unless ``allow_data_loss``."""
    kind = _kind(planner.live_columns(table)[name]["type"], planner.dialect)
    values = _count(planner.conn, table, lambda c: _filled(c, kind), name)
    if values and not planner.allow_data_loss and name != timeline.COLUMN:  # derived: nothing is lost
        planner.refuse(
            "drops_values",
            table[4:],
            name,
            values,
            f"`{table[4:]}.{name}` holds {_plural(values, 'value')}; pass --allow-data-loss to drop it",
            overridable=True,
        )
        return
    lost = f" ({_plural(values, 'value')} lost)" if values else ""
    planner.add(
        ALTER,
        table,
        Step("drop_column", table, name, f"drop column {table}.{name}{lost}"),
        batch=lambda b: b.drop_column(name),
        order=9,
    )


# --- altered columns ---------------------------------------------------------------------


def _alter_column(planner: _Planner, table: str, op: alembic_ops.AlterColumnOp) -> None:
    """Plan one altered column: its type, whether it may be empty, and its comment."""
    name = op.column_name
    column = planner.schema.metadata.tables[table].c[name]
    replaced = op.modify_type is not None and _change_type(planner, table, column, op)
    if replaced and not column.nullable:
        _require(planner, table, column, _count(planner.conn, table))
    elif op.modify_nullable is False:
        live = planner.live_columns(table)[name]
        empty = _count(planner.conn, table, lambda c: _empty(c, _kind(live["type"], planner.dialect)), name)
        _require(planner, table, column, empty)
    elif op.modify_nullable is True and not replaced:
        planner.add(
            ALTER,
            table,
            Step("alter_column", table, name, f"make {table}.{name} optional (NULL allowed)"),
            batch=lambda b: b.alter_column(name, nullable=True, existing_type=column.type),
            order=2,
        )
    if op.modify_comment is not False:
        comment = op.modify_comment
        planner.add(
            ALTER,
            table,
            Step("comment", table, name, f"set the comment of {table}.{name} to {comment!r}"),
            batch=lambda b: b.alter_column(
                name, comment=comment, existing_type=column.type, existing_nullable=column.nullable
            ),
            order=3,
        )


def _change_type(planner: _Planner, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp) -> bool:
    """Check and plan a column type change: convert in place, or refuse / drop the values.

    Returns True when its values are dropped (allow_data_loss on an incompatible change).
    """
    name, dialect = column.name, planner.dialect
    old_kind, new_kind = _kind(_existing_type(op), dialect), _kind(column.type, dialect)
    values = _count(planner.conn, table, lambda c: _filled(c, old_kind), name)
    compatible = _compatible(old_kind, new_kind)
    if values and not compatible:
        return _incompatible(planner, table, column, op, values)
    if new_kind == "string" and not _fits(planner, table, column, op, old_kind):
        return False
    _retype(planner, table, column, op, compatible, nullable=bool(op.existing_nullable))
    return False


def _fits(planner: _Planner, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp, old_kind: str) -> bool:
    """Refuse a shorter string column while longer values exist (not overridable)."""
    limit = getattr(column.type, "length", None)
    old_length = getattr(_resolve(_existing_type(op), planner.dialect), "length", None)
    if limit is None or (old_kind == "string" and old_length is not None and old_length <= limit):
        return True
    too_long = _count(planner.conn, table, lambda c: sa.func.length(sa.cast(c, sa.Text)) > limit, column.name)
    if too_long:
        who = f"{table[4:]}.{column.name}"
        planner.refuse(
            "values_too_long",
            table[4:],
            column.name,
            too_long,
            f"{_plural(too_long, 'value')} of `{who}` {'is' if too_long == 1 else 'are'} longer than "
            f"{limit} characters; shorten them or keep max_length at least as long",
        )
    return not too_long


def _incompatible(planner: _Planner, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp, values: int) -> bool:
    """Refuse an incompatible type change, or (allow_data_loss) empty the column and change its type.

    Emptying in place (rather than dropping and re-adding the column) keeps the
    column's indexes and constraints in step with Alembic's plan. Returns True
    when the values are dropped.
    """
    name, obj = column.name, table[4:]
    fdef = planner.field(table, name)
    old = _old_type_name(planner, table, fdef) or _sql_type(_existing_type(op), planner.dialect)
    new = fdef.type if fdef else _sql_type(column.type, planner.dialect)
    if not planner.allow_data_loss:
        planner.refuse(
            "incompatible_type",
            obj,
            name,
            values,
            f"`{obj}.{name}` changes from {old} to {new} and holds {_plural(values, 'value')}; "
            f"pass --allow-data-loss to drop them",
            overridable=True,
        )
        return False
    if not op.existing_nullable:
        planner.add(
            UNCONSTRAIN,
            table,
            Step("alter_column", table, name, f"let {table}.{name} be empty for the type change"),
            batch=lambda b: b.alter_column(name, nullable=True, existing_type=op.existing_type),
        )
    clause, schema, kind = _table(table, name), planner.schema, _kind(_existing_type(op), planner.dialect)
    owner = planner.object(table)
    previous = planner.old_field(owner, fdef) if fdef and owner else None
    masked = bool(fdef and fdef.encrypted or previous and previous.encrypted)

    def run(conn: sa.Connection) -> None:
        rows = _filled_rows(conn, table, name, lambda c: _filled(c, kind))
        conn.execute(sa.update(clause).values({name: None}))
        _log_fixes(conn, schema, table, name, ((i, value, None) for i, value in rows), masked)

    planner.add(
        REWRITE,
        table,
        Step(
            "clear_values", table, name, f"empty {table}.{name} for the type change ({_plural(values, 'value')} lost)"
        ),
        fix=True,
        sql=run,
    )
    _retype(planner, table, column, op, compatible=False, nullable=True)
    return True


def _retype(
    planner: _Planner, table: str, column: sa.Column, op: alembic_ops.AlterColumnOp, compatible: bool, nullable: bool
) -> None:
    """Change the column's type in place (converting values when ``compatible``, else from NULLs)."""
    name, dialect = column.name, planner.dialect
    old_sql, new_sql = _sql_type(_existing_type(op), dialect), _sql_type(column.type, dialect)
    quoted = dialect.identifier_preparer.quote(name)
    options: dict[str, Any] = (
        {"postgresql_using": f"{quoted if compatible else 'NULL'}::{new_sql}"} if dialect.name == "postgresql" else {}
    )
    planner.add(
        RETYPE,
        table,
        Step("alter_type", table, name, f"change the type of {table}.{name} from {old_sql} to {new_sql}"),
        batch=lambda b: b.alter_column(
            name, type_=column.type, existing_type=op.existing_type, existing_nullable=nullable, **options
        ),
        reflect=[sa.Column(name, column.type, nullable=nullable)],
    )


def _existing_type(op: alembic_ops.AlterColumnOp) -> sa.types.TypeEngine[Any]:
    """The live column's type, which Alembic's comparison always gives with a type change."""
    assert op.existing_type is not None, "a type change knows the type it changes from"
    return op.existing_type


def _old_type_name(planner: _Planner, table: str, fdef: FieldDef | None) -> str | None:
    obj = planner.object(table)
    old = planner.old_field(obj, fdef) if obj and fdef else None
    return old.type if old else None
