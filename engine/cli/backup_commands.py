"""``trellis backup`` and ``trellis restore`` (S38; ``engine.runtime.backup``).

- ``backup CONFIG --to DIR``: the database (pg_dump / SQLite's backup API), the applied config
  versions, the current config's text, the stored files and a ``manifest.json`` with checksums,
  rows per table and the audit head, into a new folder;
- ``restore DIR --db URL``: checks the checksums, restores into an empty database and the
  files into ``--files``, then verifies rows, the audit chain and the config version.

Neither needs TRELLIS_SECRET_KEY: encrypted values are copied as they are stored.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, secho, user_errors
from engine.cli.group import main
from engine.metadata import load_config
from engine.runtime import backup as backups
from engine.runtime.database import create_engine
from engine.runtime.messages import current_language, message
from engine.runtime.records.files import upload_folder

FILES_OPTION = click.option(
    "--files",
    "files_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder of stored files (default: $TRELLIS_UPLOAD_DIR or ./uploads).",
)


def _upload_dir(given: Path | None) -> Path:
    return given.resolve() if given else upload_folder()


@main.command()
@CONFIG_ARG
@click.option("--to", "to", required=True, type=click.Path(path_type=Path), help="A new or empty folder.")
@DB_OPTION
@FILES_OPTION
@user_errors
def backup(config: str, to: Path, db_url: str | None, files_dir: Path | None) -> None:
    """Write a consistent backup of the database, its config versions and stored files into a new folder."""
    compiled = load_config(config)
    engine = create_engine(db_url)
    upload_dir = _upload_dir(files_dir)
    try:
        report = backups.make_backup(compiled, engine, to, upload_dir)
    finally:
        engine.dispose()
    m, language = report.manifest, current_language()
    secho(
        message(
            "backup.done",
            language,
            folder=to,
            kind=m.database,
            tables=len(m.tables),
            rows=sum(m.tables.values()),
            files=m.extra.get("stored_files", 0),
            head=m.audit.get("head_hash"),
            sealed=m.audit.get("sealed"),
            version=m.config.get("version"),
        ),
        fg="green",
    )
    if m.extra.get("import_uploads"):
        echo(message("backup.import_uploads", language, count=len(m.extra["import_uploads"])))
    if m.extra.get("import_uploads_missing"):
        echo(message("backup.import_uploads_missing", language, count=m.extra["import_uploads_missing"]))
    if m.extra.get("stored_files_missing"):
        echo(message("backup.files_missing", language, count=m.extra["stored_files_missing"], folder=upload_dir))
    echo(message("backup.key_note", language))


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@DB_OPTION
@FILES_OPTION
@user_errors
def restore(folder: Path, db_url: str | None, files_dir: Path | None) -> None:
    """Restore a backup folder into an EMPTY database (--db) and verify it: checksums, rows, audit, config."""
    engine = create_engine(db_url)
    files_to = _upload_dir(files_dir)
    try:
        report = backups.restore_backup(folder, engine, files_to)
    finally:
        engine.dispose()
    secho(
        message(
            "restore.done",
            current_language(),
            folder=folder,
            tables=report.tables,
            rows=report.rows,
            files=report.files,
            files_to=files_to,
            audit=report.audit_rows,
            version=report.config_version,
        ),
        fg="green",
    )
    if report.imports:
        echo(message("restore.import_uploads", current_language(), count=report.imports, folder=files_to / "imports"))
