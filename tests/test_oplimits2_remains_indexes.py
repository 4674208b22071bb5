"""The ``sys_*`` rows a delete's stage ``gone`` (``records/remains.py``) and a merge
(``merging/moves.py``) find by record are read through an index, not a scan of the table (issue
18's known limits): ``trellis plan`` shows the indexes, ``apply`` creates them, and a database
applied before they existed gets them on its next apply."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.runtime.records.remains import _delete_dismissed, _delete_rows

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
"""
#: The indexes added, by table: what a record's rows are found by.
ADDED = {
    "sys_notifications": ("ix_sys_notifications_object_record", ["object", "record_id"]),
    "sys_campaign_recipients": ("ix_sys_campaign_recipients_object_record", ["object", "record_id", "status"]),
    "sys_automation_runs": ("ix_sys_automation_runs_object_record", ["object", "record_id"]),
    "sys_dup_dismissed": ("ix_sys_dup_dismissed_object_second", ["object", "second_id"]),
}


#: Rows of other records in each table.
OTHERS = 2000


def others(count: int) -> dict[str, list[dict[str, object]]]:
    """``count`` rows per table, naming records of ``lead`` other than 1 and 2."""
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    ids = range(3, 3 + count)
    return {
        "sys_notifications": [
            {"user_id": 1, "title": "t", "body": "b", "object": "lead", "record_id": i, "created_at": at} for i in ids
        ],
        "sys_campaign_recipients": [
            {
                "campaign_id": 1,
                "object": "lead",
                "record_id": i,
                "email": f"{i}@example.com",
                "status": "queued",
                "due_at": at,
            }
            for i in ids
        ],
        "sys_automation_runs": [
            {"rule": "r", "object": "lead", "record_id": i, "trigger": "update", "status": "done", "depth": 1, "at": at}
            for i in ids
        ],
        "sys_dup_dismissed": [
            {"object": "lead", "first_id": 1000 + i, "second_id": i, "dismissed_at": at} for i in ids
        ],
    }


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def indexes(engine: sa.Engine, table: str) -> dict[str, list[str]]:
    return {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes(table)}


def plan_of(connection: sa.Connection, statement: sa.Executable, params: dict[str, object]) -> str:
    """The database's plan for ``statement`` run with ``params`` (PostgreSQL told to avoid scans,
    which it prefers on tables this small)."""
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def explain(conn, cursor, sql, parameters, context, executemany):  # noqa: ANN001, ANN202
        return ("EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN ") + sql, parameters

    sa.event.listen(connection, "before_cursor_execute", explain, retval=True)
    try:
        rows = connection.execute(statement, params).all()
    finally:
        sa.event.remove(connection, "before_cursor_execute", explain)
    return "\n".join(str(r[-1]) for r in rows)


def test_oplimits2_record_rows_are_indexed_and_an_older_database_gets_the_indexes(write_config, db_url):
    path = write_config(CONFIG)
    assert run("apply", path, "--db", db_url).exit_code == 0
    engine = sa.create_engine(db_url)
    try:
        for table, (name, columns) in ADDED.items():
            assert indexes(engine, table)[name] == columns, table

        # What the stage ``gone`` runs reads each table through its index, beside many rows of other
        # records (every campaign e-mail queued: the status index would read them all).
        system = sa.MetaData()
        tables = {name: sa.Table(name, system, autoload_with=engine) for name in ADDED}
        with engine.begin() as connection:
            for name, rows in others(OTHERS).items():
                connection.execute(sa.insert(tables[name]), rows)
            for name in ADDED:  # the statistics a database in use has
                connection.exec_driver_sql(f"ANALYZE {name}")
        ids = {"object": "lead", "ids": [1, 2]}
        statements = {
            "sys_notifications": _delete_rows(tables["sys_notifications"], None),
            "sys_campaign_recipients": _delete_rows(tables["sys_campaign_recipients"], "queued"),
            "sys_automation_runs": _delete_rows(tables["sys_automation_runs"], None),
            "sys_dup_dismissed": _delete_dismissed(tables["sys_dup_dismissed"], "second_id"),
        }
        with engine.begin() as connection:
            for table, statement in statements.items():
                plan = plan_of(connection, statement, ids)
                assert ADDED[table][0] in plan, (table, plan)

        # A database applied before these indexes existed.
        with engine.begin() as connection:
            for name, _ in ADDED.values():
                connection.exec_driver_sql(f"DROP INDEX {name}")
    finally:
        engine.dispose()
    older = run("plan", path, "--db", db_url)
    for table, (name, columns) in ADDED.items():
        assert f"add index {name} on {table} ({', '.join(columns)})" in older.output, older.output
    assert run("apply", path, "--db", db_url).exit_code == 0
    engine = sa.create_engine(db_url)
    try:
        for table, (name, columns) in ADDED.items():
            assert indexes(engine, table)[name] == columns, table
    finally:
        engine.dispose()
    assert "No changes" in run("plan", path, "--db", db_url).output
