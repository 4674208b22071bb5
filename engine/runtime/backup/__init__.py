"""Backup and restore (S38, issue 18 §4): one folder holding a consistent copy of a Trellis
database, its applied config versions and its stored files, with a manifest of checksums.

- ``manifest.py``: the manifest (``manifest.json``): format, Trellis version, database kind,
  checksums of every file, row counts per table, the audit trail's head, the config version;
- ``dumps.py``: one ``Dump`` per database kind (``DUMPS``): SQLite's online backup API,
  PostgreSQL's ``pg_dump --format=custom`` read in one exported snapshot;
- ``making.py``: ``make_backup`` writes the folder;
- ``restoring.py``: ``restore_backup`` checks the checksums, restores into an empty database,
  copies the files and verifies row counts, the audit chain and the config version.

Encrypted fields stay encrypted: the key (``TRELLIS_SECRET_KEY``) is never written.
"""

from __future__ import annotations

from engine.runtime.backup.making import make_backup
from engine.runtime.backup.manifest import BackupRefused, Manifest
from engine.runtime.backup.restoring import RestoreReport, restore_backup

__all__ = ["BackupRefused", "Manifest", "RestoreReport", "make_backup", "restore_backup"]
