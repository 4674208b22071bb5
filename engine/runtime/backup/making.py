"""``make_backup``: a consistent backup of a Trellis database into a new folder.

The audit trail is sealed first, so that the head the manifest keeps covers every change.
Then, in one moment of the database (``Dump.take``): the dump, the rows per table, the audit
head, the applied config versions, the stored files' keys and the files of the import jobs not
finished (``pending``, ``running``: uploads the web and the API queued, files ``trellis import``
was reading); the files themselves are copied afterwards (a file is written before the record or
job that refers to it, and never changed): stored files into ``files/``, the imports' into
``imports/`` (their job ids in the manifest's ``extra.import_uploads``, their checksums with every
other file's), so that ``restore`` puts them back and the jobs resume. The current config's text
goes beside them as ``config.yaml``.
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
#: Folder of the files of unfinished import jobs inside a backup (and under the upload folder).
IMPORTS = "imports"
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
            uploads = _import_files(connection)
            source_schema = _schema_name(connection)
        (to / VERSIONS).write_text(json.dumps(versions, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (to / CONFIG).write_text(config.source_text, encoding="utf-8")
        copied = _copy_files(upload_dir, to / FILES, keys)
        imports = _copy_import_files(uploads, to / IMPORTS)
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
            extra={
                "stored_files": copied,
                "stored_files_missing": len(keys) - copied,
                "import_uploads": imports,
                "import_uploads_missing": len(uploads) - len(imports),
            },
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


def _import_files(connection: sa.Connection) -> dict[int, str]:
    """Job id → file path of every import job not finished that has its file still."""
    rows = connection.exec_driver_sql(
        "SELECT id, file_path FROM sys_import_jobs WHERE status IN ('pending', 'running') AND file_path <> '' "
        "ORDER BY id"
    )
    return {int(job_id): str(path) for job_id, path in rows}


def _copy_import_files(paths: dict[int, str], target: Path) -> dict[str, str]:
    """Copy the files of unfinished imports (each once: a dry run and its real run share one)
    into ``target``; job id (as text, a JSON key) → the file's name there, for those found."""
    target.mkdir()
    copied: dict[str, str] = {}
    for job_id, text in paths.items():
        path = Path(text)
        if not path.is_file():
            continue
        if not (target / path.name).exists():
            shutil.copy2(path, target / path.name)
        copied[str(job_id)] = path.name
    return copied


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
