"""The cases of a test file, typed: what ``loading`` reads and ``running`` runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.metadata.errors import Location


@dataclass(frozen=True)
class UserSpec:
    """A user a case starts with: roles, team, manager (by user name), e-mail."""

    username: str
    roles: tuple[str, ...]
    team: str | None = None
    manager: str | None = None
    email: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class RecordSpec:
    """A record a case starts with, written by the system through the write path."""

    object: str
    values: Mapping[str, Any]
    alias: str | None = None
    owner: str | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Given:
    """What a case starts from: the time (company time zone), users and records."""

    at: str | None = None
    users: tuple[UserSpec, ...] = ()
    records: tuple[RecordSpec, ...] = ()

    def then(self, other: Given) -> Given:
        """This (a file's ``given``) followed by ``other`` (a case's): its time wins, users and records add up."""
        return Given(other.at or self.at, self.users + other.users, self.records + other.records)


@dataclass(frozen=True)
class Step:
    """One ``when:`` step: its kind (a ``steps.STEPS`` name), parameters and expectations."""

    number: int
    kind: str
    params: Mapping[str, Any]
    expect: Mapping[str, Any] = field(default_factory=dict)
    location: Location | None = None


@dataclass(frozen=True)
class Case:
    """One named case: where it is written, what it starts from, its steps."""

    name: str
    file: str
    location: Location | None
    #: The file's ``given`` (shared by its cases) and the case's own.
    shared: Given
    own: Given
    steps: tuple[Step, ...]
    language: str = "en"

    @property
    def given(self) -> Given:
        """Everything the case starts from: the file's ``given``, then its own."""
        return self.shared.then(self.own)

    @property
    def shares_start(self) -> bool:
        """Whether the case starts where its file's ``given`` leaves off (at the same time), so
        that the file's users and records can be set up once for all such cases."""
        return self.own.at is None or self.own.at == self.shared.at

    @property
    def id(self) -> str:
        """``file::name``, as JUnit and ``-k`` see it."""
        return f"{self.file}::{self.name}"


@dataclass(frozen=True)
class Suite:
    """Every case of the test files of one run, in file order."""

    files: tuple[str, ...]
    cases: tuple[Case, ...]

    def selected(self, keyword: str | None) -> Suite:
        """The cases whose name (or file) contains ``keyword``, case-insensitively; all without one."""
        if not keyword:
            return self
        word = keyword.lower()
        return Suite(self.files, tuple(c for c in self.cases if word in c.id.lower()))
