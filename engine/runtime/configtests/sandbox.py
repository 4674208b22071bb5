"""The throw-away database of a run: the config applied once, then a fresh copy per case
(or of a database ``keep`` kept: a test file's shared users and records, set up once).

SQLite (the default): the config is applied to a file in a temporary folder, and each case
gets a copy of that file (a file copy is far cheaper than applying again). PostgreSQL
(``--db URL``): a new schema in that database, applied once; between cases every table is
emptied and given back the rows ``apply`` wrote; the schema is dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from engine.metadata import Config
from engine.runtime.context import Runtime
from engine.runtime.database import create_engine

#: The start of the name of a run's PostgreSQL schema.
SCHEMA_PREFIX = "trellis_ctest_"


class Sandbox:
    """``with Sandbox(config, db_url) as box: crm = box.open(clock) … box.close(crm)``."""

    def __init__(self, config: Config, db_url: str | None = None) -> None:
        if db_url and not db_url.startswith("postgresql"):
            raise ValueError("--db takes a PostgreSQL URL; without it each run uses a throw-away SQLite file")
        self.config = config
        self.db_url = db_url
        self.folder = Path(tempfile.mkdtemp(prefix="trellis-test-"))
        self._template = self.folder / "applied.db"
        self._schema_name = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:10]}"
        self._engine: sa.Engine | None = None
        self._rows: list[tuple[sa.Table, list[dict]]] = []
        #: What ``keep`` kept: SQLite files, PostgreSQL snapshots (table → rows), by name.
        self._bases: dict[str, Path] = {}
        self._snapshots: dict[str, list[tuple[sa.Table, list[dict]]]] = {}
        self._cases = 0

    def __enter__(self) -> Sandbox:
        try:
            self._prepare()
        except BaseException:
            self._drop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._drop()

    # --- once per run --------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self.db_url is None:
            crm = Runtime(self.config, create_engine(f"sqlite:///{self._template}"))
            crm.apply(applied_by="trellis test")
            crm.close()
            return
        admin = sa.create_engine(self.db_url)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{self._schema_name}"')
        admin.dispose()
        separator = "&" if "?" in self.db_url else "?"
        url = f"{self.db_url}{separator}options={quote(f'-csearch_path={self._schema_name}')}"
        self._engine = create_engine(url)
        crm = Runtime(self.config, self._engine)
        crm.apply(applied_by="trellis test")
        self._rows = self._snapshot(crm)

    def _drop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            admin = sa.create_engine(str(self.db_url))
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self._schema_name}" CASCADE')
            admin.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- once per case -------------------------------------------------------------------------------------
    def open(self, clock: Callable[[], dt.datetime], base: str | None = None) -> Runtime:
        """A runtime with ``clock`` on a database just as ``apply`` left it, or as it was when
        ``keep`` returned ``base``."""
        self._cases += 1
        if self._engine is None:
            copy = self.folder / f"case{self._cases}.db"
            shutil.copyfile(self._bases[base] if base else self._template, copy)
            crm = Runtime(self.config, _throwaway_sqlite(copy), clock)
        else:
            self._reset(self._snapshots[base] if base else self._rows)
            crm = Runtime(self.config, self._engine, clock)
        crm.check_database()
        return crm

    def keep(self, crm: Runtime) -> str:
        """Keep the database of ``crm`` as it is now, for ``open(…, base=…)``; returns the base's
        name. ``crm`` is closed."""
        name = f"base{len(self._bases) + len(self._snapshots) + 1}"
        if self._engine is None:
            crm.close()
            self._bases[name] = Path(str(crm.engine.url.database))
        else:
            self._snapshots[name] = self._snapshot(crm)
        return name

    def close(self, crm: Runtime) -> None:
        """Done with a case's runtime (its SQLite copy is removed)."""
        if self._engine is None:
            crm.close()
            url = crm.engine.url.database
            for suffix in ("", "-wal", "-shm"):
                Path(f"{url}{suffix}").unlink(missing_ok=True)

    def _snapshot(self, crm: Runtime) -> list[tuple[sa.Table, list[dict]]]:
        with crm.engine.connect() as connection:
            return [
                (table, [dict(r) for r in connection.execute(sa.select(table)).mappings()])
                for table in crm.schema.metadata.sorted_tables
            ]

    def _reset(self, snapshot: list[tuple[sa.Table, list[dict]]]) -> None:
        assert self._engine is not None
        with self._engine.begin() as connection:
            for table, _ in reversed(snapshot):
                connection.execute(sa.delete(table))
            for table, rows in snapshot:
                if rows:
                    connection.execute(sa.insert(table), rows)

    @property
    def work_folder(self) -> Path:
        """A folder for the files a case writes (import files)."""
        return self.folder


def _throwaway_sqlite(path: Path) -> sa.Engine:
    """An engine on a case's copy that does not wait for the disk at each commit (the file is
    thrown away after the case: durability across a power cut does not matter)."""
    engine = create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _no_disk_waits(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    return engine
