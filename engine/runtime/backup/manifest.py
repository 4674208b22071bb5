"""The manifest of a backup folder (``manifest.json``) and the checksums it keeps."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.runtime.errors import TrellisError
from engine.runtime.messages import current_language, message

#: The version of the folder's layout; ``restore`` refuses others.
FORMAT = 1
MANIFEST = "manifest.json"


class BackupRefused(TrellisError):
    """A backup or restore that cannot go ahead, said in the reader's language."""

    code = "backup_refused"

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(message(f"backup.{key}", current_language(), **params))
        self.key = key


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: its kind, when and by which Trellis it was made, the sha256 of every
    file (path relative to the folder), the rows per table, the audit head and the config version."""

    trellis: str
    database: str
    created_at: str
    files: dict[str, str]
    tables: dict[str, int]
    audit: dict[str, Any]
    config: dict[str, Any]
    schema: str | None = None
    format: int = FORMAT
    encryption: str = "encrypted fields are stored encrypted; the key (TRELLIS_SECRET_KEY) is not in this backup"
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        """Write ``manifest.json`` into ``folder``."""
        text = json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)
        (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the backup in ``folder``; ``BackupRefused`` when it is missing or unreadable."""
        path = folder / MANIFEST
        if not path.is_file():
            raise BackupRefused("no_manifest", folder=folder)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise BackupRefused("bad_format", folder=folder, found=data.get("format"), expected=FORMAT)
            known = set(cls.__dataclass_fields__)
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError, AttributeError):
            raise BackupRefused("bad_manifest", folder=folder) from None


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """Path (relative, with ``/``) → sha256 of every file under ``folder`` but the manifest."""
    return {
        path.relative_to(folder).as_posix(): sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def check_checksums(folder: Path, manifest: Manifest) -> None:
    """Refuse a backup whose files are not exactly those the manifest lists, with those bytes."""
    found = checksums(folder)
    for name, expected in sorted(manifest.files.items()):
        if name not in found:
            raise BackupRefused("file_missing", name=name)
        if found[name] != expected:
            raise BackupRefused("checksum", name=name)
    extra = sorted(set(found) - set(manifest.files))
    if extra:
        raise BackupRefused("file_unknown", name=extra[0])
