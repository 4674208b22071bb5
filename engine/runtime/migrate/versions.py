"""The applied config versions in ``sys_config_versions``: record, list and load them.

An apply stores the config text it applied, so that ``history`` can list the
versions and ``load_version`` (and so ``rollback``) can load one again. The
planner reads the latest one to know the previous config of each field.

Each version also stores its schema fingerprint (``fingerprint``), which
``check_current`` compares with the config being opened.
"""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa

from engine.metadata import Config, ConfigError, load_config_text
from engine.runtime.database import read_only
from engine.runtime.migrate.fingerprint import schema_fingerprint
from engine.runtime.migrate.model import DatabaseOutOfDate, Plan, UnknownVersion, VersionInfo
from engine.runtime.tables import NAMING_CONVENTION, Schema, system_tables

VERSIONS_TABLE = "sys_config_versions"


def history(engine: sa.Engine) -> list[VersionInfo]:
    """The applied config versions, newest first (empty before the first apply)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSIONS_TABLE):
            return []
        table = _versions_table()
        rows = conn.execute(sa.select(table).order_by(table.c.id.desc())).mappings().all()
    return [
        VersionInfo(
            id=r["id"],
            content_hash=r["content_hash"],
            source_path=r["source_path"],
            applied_at=r["applied_at"],
            applied_by=r["applied_by"],
            summary=r["summary"],
        )
        for r in rows
    ]


def load_version(engine: sa.Engine, version_id: int) -> Config:
    """The config stored as version ``version_id``; raises ``UnknownVersion``."""
    with engine.connect() as conn:
        text, path = _version_text(conn, version_id)
    return load_config_text(text, name=path)


def check_current(engine: sa.Engine, config: Config, schema: Schema) -> None:
    """Raise ``DatabaseOutOfDate`` unless the latest applied version has ``config``'s schema
    fingerprint: one look at the columns of ``sys_config_versions`` and one small query."""
    with engine.connect() as conn:
        try:
            columns = {c["name"] for c in sa.inspect(conn).get_columns(VERSIONS_TABLE)}
        except sa.exc.NoSuchTableError:
            raise DatabaseOutOfDate(config.source_path) from None
        table = _versions_table()
        stored = table.c.schema_hash if "schema_hash" in columns else sa.null().label("schema_hash")
        row = conn.execute(
            sa.select(table.c.id, table.c.content_hash, table.c.applied_at, stored).order_by(table.c.id.desc()).limit(1)
        ).first()
    if row is None:
        raise DatabaseOutOfDate(config.source_path)
    if row.schema_hash != schema_fingerprint(config, schema, engine.dialect):
        raise DatabaseOutOfDate(
            config.source_path, row.id, row.applied_at, same_config=row.content_hash == config.content_hash
        )


def latest_version_id(engine: sa.Engine) -> int | None:
    """The id of the latest applied version (None: none, or no versions table): one small query,
    which a long-running process repeats to notice that another one applied a new config."""
    with read_only(engine) as conn:  # on SQLite: no wait for the write lock
        try:
            return conn.execute(sa.select(sa.func.max(_versions_table().c.id))).scalar()
        except sa.exc.DBAPIError:
            return None


def _record_version(
    conn: sa.Connection,
    config: Config,
    schema: Schema,
    result: Plan,
    applied_by: str | None,
    note: str | None,
    latest_hash: str | None,
) -> None:
    """Store the applied config and its fingerprint, unless nothing changed and both are the latest."""
    table = _versions_table()
    fingerprint = schema_fingerprint(config, schema, conn.dialect)
    latest_fingerprint = conn.execute(sa.select(table.c.schema_hash).order_by(table.c.id.desc()).limit(1)).scalar()
    if result.empty and latest_hash == config.content_hash and latest_fingerprint == fingerprint:
        return
    lines = [note] if note else []
    lines += [s.description for s in result.steps + result.data_fixes] or ["no schema change"]
    conn.execute(
        sa.insert(table).values(
            content_hash=config.content_hash,
            source_path=config.source_path,
            config_text=config.source_text,
            summary="\n".join(lines),
            applied_at=dt.datetime.now(dt.UTC),
            applied_by=applied_by,
            schema_hash=fingerprint,
        )
    )


@functools.cache
def _versions_table() -> sa.Table:
    """``sys_config_versions`` as this version of Trellis defines it (no config needed). Built
    once per process: it is the same for every config, and building the system tables around
    it costs some 30 ms, paid at each ``check_current`` (each ``Trellis`` opened) before."""
    return system_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))[VERSIONS_TABLE]


def _latest_version(conn: sa.Connection) -> tuple[str | None, Config | None]:
    """Hash and config of the latest applied version (config None when it no longer loads)."""
    if not sa.inspect(conn).has_table(VERSIONS_TABLE):
        return None, None
    table = _versions_table()
    row = conn.execute(
        sa.select(table.c.content_hash, table.c.config_text, table.c.source_path).order_by(table.c.id.desc()).limit(1)
    ).first()
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


def _losses_since(conn: sa.Connection, version_id: int) -> list[str]:
    """The lines of later versions' summaries that dropped or rewrote stored values."""
    if not sa.inspect(conn).has_table(VERSIONS_TABLE):
        return []
    table = _versions_table()
    rows = conn.execute(sa.select(table.c.id, table.c.summary).where(table.c.id > version_id).order_by(table.c.id))
    return [
        f"version {row.id}: {line}"
        for row in rows
        for line in (row.summary or "").splitlines()
        if "lost)" in line or "data loss)" in line or line.startswith("rewrite ")
    ]
