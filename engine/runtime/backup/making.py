"""``make_backup``: a consistent backup of a Trellis database into a new folder.

The audit trail is sealed first, so that the head the manifest keeps covers every change.
Then, in one moment of the database (``Dump.take``): the dump, the rows per table, the audit
head, the applied config versions and the stored files' keys; the files themselves are copied
from the upload folder afterwards (a file is written before the record that refers to it, and
never changed). The current config's text goes beside them as ``config.yaml``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.metadata import Config
from engine.runtime.backup.dumps import dump_for
from engine.runtime.backup.manifest import BackupRefused, Manifest, checksums
from engine.runtime.security import audit
from engine.runtime.tables import build_schema

#: Folder of the stored files inside a backup.
FILES = "files"
VERSIONS = "config_versions.json"
CONFIG = "config.yaml"


@dataclass(frozen=True)
class BackupReport:
    """What ``make_backup`` wrote: the manifest and the folder."""

    folder: Path
    manifest: Manifest


def make_backup(config: Config, engine: sa.Engine, to: Path, upload_dir: Path) -> BackupReport:
    """Back up ``engine``'s Trellis database, its config versions and the stored files of
    ``upload_dir`` into the new (or empty) folder ``to``. Raises ``BackupRefused``."""
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise BackupRefused("folder_not_empty", folder=to)
    inspector = sa.inspect(engine)
    if not inspector.has_table("sys_config_versions") or not inspector.has_table("sys_audit"):
        raise BackupRefused("not_a_trellis_database")
    dump = dump_for(engine)
    schema = build_schema(config)
    audit.seal(engine, schema)
    to.mkdir(mode=0o700, parents=True, exist_ok=True)  # the whole database: its owner only
    to.chmod(0o700)
    try:
        with dump.take(engine, to / dump.filename) as connection:
            tables = {name: _count(connection, name) for name in dump.tables(connection)}
            head = _head(connection)
            versions = _versions(connection)
            keys = _file_keys(connection)
            source_schema = _schema_name(connection)
        (to / VERSIONS).write_text(json.dumps(versions, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (to / CONFIG).write_text(config.source_text, encoding="utf-8")
        copied = _copy_files(upload_dir, to / FILES, keys)
        latest = versions[-1] if versions else {}
        manifest = Manifest(
            trellis=_version(),
            database=dump.kind,
            schema=source_schema,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            files=checksums(to),
            tables=tables,
            audit=head,
            config={
                "version": latest.get("id"),
                "content_hash": latest.get("content_hash"),
                "current_content_hash": config.content_hash,
            },
            extra={"stored_files": copied, "stored_files_missing": len(keys) - copied},
        )
        manifest.write(to)
    except BaseException:
        shutil.rmtree(to, ignore_errors=True)
        raise
    return BackupReport(to, manifest)


def _count(connection: sa.Connection, table: str) -> int:
    quoted = connection.dialect.identifier_preparer.quote(table)
    return int(connection.exec_driver_sql(f"SELECT count(*) FROM {quoted}").scalar() or 0)


def _head(connection: sa.Connection) -> dict[str, Any]:
    row = connection.exec_driver_sql("SELECT last_id, last_hash, last_seq FROM sys_audit_head WHERE id = 1").first()
    if row is None:
        return {"head_id": None, "head_hash": audit.GENESIS, "sealed": 0}
    return {"head_id": row[0], "head_hash": row[1], "sealed": row[2] or 0}


def _versions(connection: sa.Connection) -> list[dict[str, Any]]:
    rows = connection.exec_driver_sql(
        "SELECT id, content_hash, source_path, applied_at, applied_by, summary, config_text "
        "FROM sys_config_versions ORDER BY id"
    ).mappings()
    return [{**row, "applied_at": str(row["applied_at"])} for row in rows]


def _file_keys(connection: sa.Connection) -> list[str]:
    return list(connection.exec_driver_sql("SELECT key FROM sys_files ORDER BY key").scalars())


def _schema_name(connection: sa.Connection) -> str | None:
    if connection.dialect.name != "postgresql":
        return None
    return str(connection.exec_driver_sql("SELECT current_schema()").scalar())


def _copy_files(source: Path, target: Path, keys: list[str]) -> int:
    """Copy the stored files named by ``keys`` (those still in the upload folder); how many."""
    target.mkdir()
    copied = 0
    for key in keys:
        path = source / key
        if "/" not in key and "\\" not in key and path.is_file():
            shutil.copy2(path, target / key)
            copied += 1
    return copied


def _version() -> str:
    try:
        return package_metadata.version("trellis-crm")
    except package_metadata.PackageNotFoundError:
        return "unknown"
