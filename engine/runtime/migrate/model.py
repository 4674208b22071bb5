"""The public types of a migration: steps, refusals, plans, versions and errors."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from engine.runtime.errors import TrellisError
from engine.runtime.messages import localized, message


@dataclass(frozen=True)
class Step:
    """One change to the database, printable as one line of a plan."""

    kind: str
    table: str
    column: str | None
    description: str

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Refusal:
    """A change that would lose or break data; ``count`` rows or values are concerned.

    ``overridable`` refusals are lifted by ``allow_data_loss`` (the data is then
    dropped); the others need the data or the config to change first.
    """

    code: str
    object: str
    field: str | None
    count: int
    message: str
    overridable: bool = False

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Plan:
    """What an apply changes (``steps``), rewrites (``data_fixes``) and refuses, the search
    indexes it builds or drops to follow the config (``search_indexes``, PostgreSQL), and for a
    rollback what it cannot bring back (``not_restored``)."""

    steps: tuple[Step, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    data_fixes: tuple[Step, ...] = ()
    search_indexes: tuple[Step, ...] = ()
    #: A rollback's data that does not come back: fields and objects re-created empty, and the
    #: values later versions dropped or rewrote (``migrate.rollback``).
    not_restored: tuple[str, ...] = ()
    #: What went wrong after an apply committed: search indexes not built (``migrate.search``).
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the database already matches the config and nothing is refused."""
        return not (self.steps or self.refusals or self.data_fixes or self.search_indexes)

    def __str__(self) -> str:
        if self.empty:
            return "No changes: the database matches the config."
        lines: list[str] = []
        for title, items in (
            ("Changes", self.steps),
            ("Data fixes", self.data_fixes),
            ("Search indexes", self.search_indexes),
            ("Refused", self.refusals),
            ("Not restored (dropped data cannot come back)", self.not_restored),
            ("Warnings", self.warnings),
        ):
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        return "\n".join(lines)


@dataclass(frozen=True)
class VersionInfo:
    """One applied config version (a row of ``sys_config_versions``)."""

    id: int
    content_hash: str
    source_path: str
    applied_at: dt.datetime
    applied_by: str | None
    summary: str | None


class MigrationRefused(TrellisError):
    """An apply was refused; ``refusals`` says why, with counts, and ``plan`` holds the rest."""

    def __init__(self, refusals: Sequence[Refusal], plan: Plan | None = None) -> None:
        self.refusals = list(refusals)
        self.plan = plan
        lines = "\n".join(f"  - {r.message}" for r in self.refusals)
        super().__init__(f"the config was not applied; nothing was changed:\n{lines}")


class MigrationFailed(TrellisError):
    """The database rejected a step of an apply; everything was rolled back."""


class DatabaseOutOfDate(TrellisError):
    """The database was not brought to the config being served: ``trellis apply`` it first.

    ``version`` and ``applied_at`` describe the latest applied config version (both None when
    the database has no Trellis tables yet); ``same_config`` is True when that version holds
    this very config, applied by an earlier version of Trellis whose schema differs.
    ``str()`` is the sentence in the engine's current language; ``text(language)`` in another.
    """

    code = "database_out_of_date"

    def __init__(
        self,
        config_path: str,
        version: int | None = None,
        applied_at: dt.datetime | None = None,
        same_config: bool = False,
    ) -> None:
        self.config_path, self.version, self.applied_at = config_path, version, applied_at
        self.reason = "empty" if version is None else "trellis" if same_config else "config"
        self.params = {
            "config": shlex.quote(config_path),
            "version": version,
            "day": f"{applied_at:%Y-%m-%d}" if applied_at is not None else "",
        }
        super().__init__(localized(self.key, message(self.key, "en", **self.params), self.params))

    @property
    def key(self) -> str:
        """The sentence's code in ``engine.runtime.messages``."""
        return f"database.{self.reason}"

    def text(self, language: str) -> str:
        """The sentence in ``language``."""
        return message(self.key, language, **self.params)


class UnknownVersion(KeyError):
    """No stored config version has this id."""

    def __init__(self, version_id: int, known: Sequence[int]) -> None:
        listed = ", ".join(str(i) for i in known) or "none yet"
        self.message = f"there is no config version {version_id}; known versions: {listed}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message
