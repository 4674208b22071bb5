"""What one running case holds: its runtime and clock, its users, the records it named, and what
the latest step did (``Outcome``), for the steps and the expectations to share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.runtime.context import Runtime
from engine.runtime.errors import TrellisError


class CaseFailed(Exception):
    """A case stops: ``expected`` and ``actual`` say why, in the reader's words."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"{expected} / {actual}")
        self.expected, self.actual = expected, actual


class GivenRefused(Exception):
    """A record of ``given`` was refused by the write path: ``error`` says why, ``location`` where it is written."""

    def __init__(self, error: TrellisError, location: Any) -> None:
        super().__init__(str(error))
        self.error, self.location = error, location


class MovableClock:
    """The case's clock: a fixed moment that ``given.at``, ``clock`` and ``worker`` steps move."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Ref:
    """A record a case named (``as:``): its object and id; ``approval`` the request last made on it
    (a held create has no id until approved)."""

    object: str
    id: int | None
    approval: int | None = None


@dataclass
class Outcome:
    """What a step did: the record it wrote or decided on, the refusal it met, the approval
    request's status, the import's counts and failed rows, the worker's fired rules."""

    ref: Ref | None = None
    error: TrellisError | None = None
    approval: str | None = None
    imported: Mapping[str, Any] = field(default_factory=dict)
    failures: list[tuple[int, str]] = field(default_factory=list)
    fired: Mapping[str, int] = field(default_factory=dict)


@dataclass
class CaseRun:
    """A case under way."""

    crm: Runtime
    clock: MovableClock
    language: str
    folder: Path
    users: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, Ref] = field(default_factory=dict)
    #: The highest ids of ``sys_notifications`` and ``sys_outbox`` before the current step.
    marks: dict[str, int] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        """The company time zone."""
        return ZoneInfo(self.crm.config.settings.timezone)

    def moment(self, text: str) -> dt.datetime:
        """``2026-03-02 09:00`` in the company time zone, as UTC."""
        local = dt.datetime.fromisoformat(str(text).replace(" ", "T"))
        if local.tzinfo is None:
            local = local.replace(tzinfo=self.zone)
        return local.astimezone(dt.UTC)

    def username(self, user_id: int | None) -> str:
        """The name of user ``user_id`` as the test file calls them."""
        for name, known in self.users.items():
            if known == user_id:
                return name
        return "—" if user_id is None else f"#{user_id}"

    def ref(self, alias: str) -> Ref:
        """The record named ``alias``."""
        return self.aliases[alias]

    def mark(self) -> None:
        """Remember where notifications and the outbox stand, before a step."""
        with self.crm.engine.connect() as connection:
            for name in ("sys_notifications", "sys_outbox"):
                table = self.crm.schema.system[name]
                self.marks[name] = connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0

    def since_mark(self, name: str) -> list[Mapping[str, Any]]:
        """The rows of ``name`` (``sys_notifications`` or ``sys_outbox``) written since ``mark``."""
        table = self.crm.schema.system[name]
        statement = sa.select(table).where(table.c.id > self.marks.get(name, 0)).order_by(table.c.id)
        with self.crm.engine.connect() as connection:
            return [dict(r) for r in connection.execute(statement).mappings()]
