"""One ``Dump`` per database kind (``DUMPS``): how a database is copied into a backup, in one
consistent moment, and restored from it.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies the live file page by
  page under a read lock; the copy is what the manifest counts.
- PostgreSQL: a REPEATABLE READ transaction exports its snapshot (``pg_export_snapshot``),
  ``pg_dump --format=custom --snapshot`` dumps the Trellis schema (the URL's ``search_path``)
  in that snapshot and the manifest counts in it too. ``pg_restore`` turns the dump back into
  SQL, which ``psql`` runs in one transaction; a dump restored into a schema of another name
  has its schema name replaced in its statements (never in the rows of its COPY blocks).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from engine.runtime import fulltext
from engine.runtime.backup.manifest import BackupRefused
from engine.runtime.replica import MARKS_TABLE


class Dump:
    """How one database kind is dumped and restored."""

    kind: str = ""
    #: The dump's file name inside the backup folder.
    filename: str = ""

    @contextmanager
    def take(self, engine: sa.Engine, path: Path) -> Iterator[sa.Connection]:
        """Write the dump to ``path`` and yield a connection that sees exactly what was dumped."""
        raise NotImplementedError
        yield  # pragma: no cover

    def restore(self, path: Path, engine: sa.Engine, schema: str | None) -> None:
        """Restore the dump at ``path`` (made from ``schema``, on PostgreSQL) into ``engine``'s empty database."""
        raise NotImplementedError

    def tables(self, connection: sa.Connection) -> list[str]:
        """The tables of the database (of its schema, on PostgreSQL), sorted; without the read
        replica's marks, positions in this server's WAL that mean nothing anywhere else."""
        return sorted(name for name in sa.inspect(connection).get_table_names() if name != MARKS_TABLE)


class SqliteDump(Dump):
    """SQLite: the online backup API, into a file."""

    kind = "sqlite"
    filename = "database.sqlite"

    @contextmanager
    def take(self, engine: sa.Engine, path: Path) -> Iterator[sa.Connection]:
        source = sqlite3.connect(_sqlite_path(engine))
        target = sqlite3.connect(path)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            target.close()
            source.close()
        copy = sa.create_engine(f"sqlite:///{path}")
        try:
            with copy.connect() as connection:
                yield connection
        finally:
            copy.dispose()

    def tables(self, connection: sa.Connection) -> list[str]:
        """The tables, without the search indexes and their FTS5 shadow tables: derived data that
        the copy holds as it is (``engine.runtime.fulltext``), not counted row by row."""
        return [name for name in super().tables(connection) if not fulltext.is_index_table(name)]

    def restore(self, path: Path, engine: sa.Engine, schema: str | None) -> None:
        engine.dispose()
        source = sqlite3.connect(path)
        target = sqlite3.connect(_sqlite_path(engine))
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
            source.close()


class PostgresDump(Dump):
    """PostgreSQL: ``pg_dump --format=custom`` of the Trellis schema in one exported snapshot."""

    kind = "postgresql"
    filename = "database.dump"

    @contextmanager
    def take(self, engine: sa.Engine, path: Path) -> Iterator[sa.Connection]:
        pg_dump = _tool("pg_dump")
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
                schema = current_schema(connection)
                url, env = libpq(engine.url)
                _run(
                    [pg_dump, "--format=custom", f"--schema={schema}", f"--exclude-table={schema}.{MARKS_TABLE}"]
                    + ["--no-owner", "--no-privileges"]
                    + [f"--snapshot={snapshot}", f"--file={path}", url],
                    env,
                )
                yield connection

    def restore(self, path: Path, engine: sa.Engine, schema: str | None) -> None:
        script = _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)], {})
        with engine.connect() as connection:
            target = current_schema(connection)
        if schema and schema != target:
            listing = _run([_tool("pg_restore"), "--list", str(path)], {})
            script = retarget(script, schema, target, dumped_names(listing, schema))
        url, env = libpq(engine.url)
        _run([_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", url], env, script)


def current_schema(connection: sa.Connection) -> str:
    """The schema Trellis's tables live in on PostgreSQL (the first of the ``search_path``)."""
    return str(connection.exec_driver_sql("SELECT current_schema()").scalar())


def libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as libpq reads it, and the password apart (for
    ``PGPASSWORD``, so that it never shows in a process list)."""
    env = {"PGPASSWORD": url.password} if url.password else {}
    plain = sa.engine.URL.create(
        "postgresql", username=url.username, host=url.host, port=url.port, database=url.database, query=url.query
    )
    return plain.render_as_string(hide_password=False), env


def dumped_names(listing: str, schema: str) -> set[str]:
    """The names of the objects (tables, sequences, indexes…) of ``schema`` in a dump's table of
    contents (``pg_restore --list``): a line reads ``id; oid oid TYPE… SCHEMA NAME OWNER``."""
    names = set()
    for line in listing.splitlines():
        words = line.split()
        if line.startswith(";") or schema not in words[3:]:
            continue
        at = words.index(schema, 3)
        if at + 1 < len(words):
            names.add(words[at + 1])
    return names


def retarget(script: str, source: str, target: str, names: set[str] | None = None) -> str:
    """``pg_restore``'s SQL for schema ``source`` made to restore into ``target``: ``source.name``
    becomes ``target.name`` in statements, never in COPY data; only for the dump's own ``names``
    when given (so that an extension's ``public.gin_trgm_ops`` stays when the source is
    ``public``). Its ``CREATE SCHEMA`` is left out: ``target`` exists."""
    pattern = re.compile(rf'(?<![\w"])(?:{re.escape(source)}|"{re.escape(source)}")\.(\w+)')

    def qualify(match: re.Match[str]) -> str:
        found = match.group(1)
        return f'"{target}".{found}' if names is None or found in names else match.group(0)

    lines, copying = [], False
    for line in script.splitlines(keepends=True):
        if copying:
            copying = line.rstrip("\n") != "\\."
        elif line.startswith("CREATE SCHEMA "):
            continue
        else:
            copying = line.startswith("COPY ") and line.rstrip().endswith("FROM stdin;")
            line = pattern.sub(qualify, line)
        lines.append(line)
    return "".join(lines)


def _sqlite_path(engine: sa.Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupRefused("sqlite_memory")
    return database


def _tool(name: str) -> str:
    """The path of a PostgreSQL client program, or ``BackupRefused`` saying how to get it."""
    found = shutil.which(name)
    if found is None:
        raise BackupRefused("no_tool", tool=name)
    return found


def _run(command: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Run a PostgreSQL client program; its output, or ``BackupRefused`` with its error."""
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, env={**os.environ, **env}, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupRefused("tool_failed", tool=Path(command[0]).name, detail=detail[0] if detail else "")
    return result.stdout


#: The dump of each database kind, by SQLAlchemy dialect name.
DUMPS: dict[str, Dump] = {d.kind: d for d in (SqliteDump(), PostgresDump())}


def dump_for(engine: sa.Engine) -> Dump:
    """The ``Dump`` of ``engine``'s database kind."""
    dump = DUMPS.get(engine.dialect.name)
    if dump is None:
        raise BackupRefused("unsupported", kind=engine.dialect.name)
    return dump
