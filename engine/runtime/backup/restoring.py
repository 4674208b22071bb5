"""``restore_backup``: a backup folder into an empty database, then verified.

In order: the manifest's checksums (a changed, missing or added file refuses the backup
before anything is written), the target (same database kind, empty), the database, the
stored files, then the checks — rows per table as the manifest counted them, the audit chain
intact and ending at the manifest's head (``audit.verify`` with that head as its reference),
the latest config version the manifest's. The first failing check is raised. Last, the files of
the import jobs that were not finished go into ``imports/`` of the upload folder and their jobs
are pointed at them there, so that ``trellis worker`` (or ``trellis import --resume``) carries
them on from their last committed batch.
"""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa

from engine.metadata import load_config_text
from engine.runtime.backup.dumps import DUMPS
from engine.runtime.backup.making import CONFIG, FILES, IMPORTS
from engine.runtime.backup.manifest import BackupRefused, Manifest, check_checksums
from engine.runtime.security import audit
from engine.runtime.tables import build_schema


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did and verified."""

    manifest: Manifest
    tables: int
    rows: int
    files: int
    audit_rows: int
    config_version: int | None
    #: Import jobs not finished whose files were put back (``imports/`` of the upload folder).
    imports: int = 0


def restore_backup(folder: Path, engine: sa.Engine, files_to: Path) -> RestoreReport:
    """Restore the backup in ``folder`` into ``engine``'s empty database and its stored files into
    ``files_to``; verify it. Raises ``BackupRefused`` naming the first failing check."""
    manifest = Manifest.read(folder)
    check_checksums(folder, manifest)
    dump = DUMPS.get(manifest.database)
    if dump is None or engine.dialect.name != manifest.database:
        raise BackupRefused("wrong_kind", made=manifest.database, target=engine.dialect.name)
    with engine.connect() as connection:
        present = dump.tables(connection)
    if present:
        raise BackupRefused("target_not_empty", count=len(present), example=present[0])
    dump.restore(folder / dump.filename, engine, manifest.schema)
    copied = _copy_files(folder / FILES, files_to)
    report = _verify(folder, engine, manifest, copied)
    jobs = _restore_import_files(
        folder / IMPORTS, files_to / IMPORTS, manifest.extra.get("import_uploads") or {}, engine
    )
    return replace(report, imports=jobs)


def _restore_import_files(source: Path, target: Path, files: dict[str, str], engine: sa.Engine) -> int:
    """Put the files of unfinished imports into ``target`` and point their jobs at them; how many jobs."""
    if not files:
        return 0
    target.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(files.values())):
        there = target / name
        if there.exists() and not filecmp.cmp(source / name, there, shallow=False):
            raise BackupRefused("file_differs", name=name, folder=target)
        if not there.exists():
            shutil.copy2(source / name, there)
    with engine.begin() as connection:
        for job_id, name in sorted(files.items()):
            connection.execute(
                sa.text("UPDATE sys_import_jobs SET file_path = :path WHERE id = :id"),
                {"path": str((target / name).resolve()), "id": int(job_id)},
            )
    return len(files)


def _copy_files(source: Path, target: Path) -> int:
    """Copy the backup's stored files into ``target``; a different file of the same key refuses."""
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for path in sorted(source.iterdir()) if source.is_dir() else []:
        there = target / path.name
        if there.exists():
            if not filecmp.cmp(path, there, shallow=False):
                raise BackupRefused("file_differs", name=path.name, folder=target)
            continue
        shutil.copy2(path, there)
        copied += 1
    return copied


def _verify(folder: Path, engine: sa.Engine, manifest: Manifest, copied: int) -> RestoreReport:
    dump = DUMPS[manifest.database]
    schema = build_schema(load_config_text((folder / CONFIG).read_text(encoding="utf-8"), name=CONFIG))
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            tables = dump.tables(connection)
            for name, expected in sorted(manifest.tables.items()):
                if name not in tables:
                    raise BackupRefused("table_missing", table=name)
                quoted = connection.dialect.identifier_preparer.quote(name)
                found = connection.exec_driver_sql(f"SELECT count(*) FROM {quoted}").scalar()
                if found != expected:
                    raise BackupRefused("rows_differ", table=name, found=found, expected=expected)
            head = manifest.audit.get("head_hash")
            reference = audit.Reference(head_hash=head, count=manifest.audit.get("sealed"))
            chain = audit.verify(connection, schema, reference)
            if not chain.ok or chain.head_hash != head:
                raise BackupRefused("audit_broken", reason=chain.reason or f"head {chain.head_hash}")
            version = connection.exec_driver_sql(
                "SELECT id, content_hash FROM sys_config_versions ORDER BY id DESC LIMIT 1"
            ).first()
    expected_version = manifest.config.get("version")
    if (version[0] if version else None) != expected_version or (
        version is not None and version[1] != manifest.config.get("content_hash")
    ):
        raise BackupRefused("config_differs", found=version[0] if version else None, expected=expected_version)
    return RestoreReport(
        manifest=manifest,
        tables=len(manifest.tables),
        rows=sum(manifest.tables.values()),
        files=copied,
        audit_rows=chain.checked,
        config_version=expected_version,
    )
