"""A database made before retention requests existed (issue 18 §4) gets their tables on its next
``trellis apply``: ``plan`` shows them, ``apply`` creates them, and a retention run on an object
whose policy needs approval then files its request, and archives the record once approved.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set."""

from __future__ import annotations

from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime import retention_requests

CONFIG = """
trellis: 1
roles:
  compliance: {permissions: [approve], objects: {lead: {read: all}}}
objects:
  lead:
    retention: {years: 1, action: archive, from: ended_on, approval: {role: compliance}}
    fields:
      name: {type: text}
      ended_on: {type: date}
"""
TABLES = ("sys_retention_items", "sys_retention_requests")


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_retapprove_an_older_database_gets_the_request_tables_on_apply(write_config, db_url):
    path = write_config(CONFIG)
    assert run("apply", path, "--db", db_url).exit_code == 0
    crm = Trellis.open(path, db_url)
    try:
        with crm.session() as s:
            old = s.create("lead", {"name": "Ended long ago", "ended_on": "2001-01-01"}).id
        with crm.directory() as directory:
            directory.add("cora", roles=["compliance"])
        with crm.engine.begin() as connection:  # as a database applied before this version
            for table in TABLES:
                connection.exec_driver_sql(f"DROP TABLE {table}")
    finally:
        crm.close()
    older = run("plan", path, "--db", db_url)
    for table in TABLES:
        assert f"create table {table}" in older.output, older.output
    assert run("apply", path, "--db", db_url).exit_code == 0
    filed = run("retention", "run", path, "--db", db_url, "--yes")
    assert filed.exit_code == 0, filed.output
    assert "Lead: 1 held for approval by Compliance (request #1); nothing was changed." in filed.output
    crm = Trellis.open(path, db_url)
    try:
        with crm.session(user="cora") as s:
            retention_requests.decide(s, 1, "approve")
        archived = run("retention", "run", path, "--db", db_url, "--yes")
        assert "Lead: 1 archived." in archived.output, archived.output
        assert "Lead: request #1 carried out: 1 archived, 0 kept" in archived.output
        with crm.session() as s:
            assert s.query("lead").include_archived().filter(id=old).first()["archived_at"] is not None
    finally:
        crm.close()
