"""``TRELLIS_DB_STATEMENT_TIMEOUT`` on PostgreSQL: a request's statement that runs longer is
cancelled by the server; ``apply`` (an index build on a large table) is not bound by it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import engine.runtime.migrate as migrate
from engine import Trellis

CONFIG = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text}
"""


def test_the_statement_timeout_cancels_long_statements_but_not_apply(write_config, db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no statement timeout")
    monkeypatch.setenv("TRELLIS_DB_STATEMENT_TIMEOUT", "100")
    crm = Trellis.open(write_config(CONFIG), db_url)
    slow_step = migrate._execute

    def slow(conn, actions):  # noqa: ANN001 - an apply whose DDL takes 0.3 s
        conn.exec_driver_sql("SELECT pg_sleep(0.3)")
        slow_step(conn, actions)

    monkeypatch.setattr(migrate, "_execute", slow)
    try:
        crm.apply()
        with crm.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "100ms"
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                connection.exec_driver_sql("SELECT pg_sleep(0.3)")
    finally:
        crm.close()
