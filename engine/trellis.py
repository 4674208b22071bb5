"""The ``Trellis`` facade: a compiled config bound to a database."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.metadata import Config, load_config
from engine.metadata.expressions import Clock
from engine.runtime import crypto, migrate
from engine.runtime.database import create_engine
from engine.runtime.permissions import SYSTEM, Principal, load_principal
from engine.runtime.records import Session, utc_now
from engine.runtime.tables import Schema, build_schema
from engine.runtime.users import Directory


class Trellis:
    """A compiled config bound to a database: plan, apply, and open sessions."""

    def __init__(self, config: Config, engine: sa.Engine, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.config = config
        self.engine = engine
        self.schema: Schema = build_schema(config)
        self._clock = clock or utc_now
        self._zone = ZoneInfo(config.settings.timezone)
        if any(f.encrypted for o in config.objects.values() for f in o.fields.values()):
            crypto.cipher()  # fail now, with a clear message, when the key is missing

    @classmethod
    def open(cls, config_path: str | os.PathLike[str], db_url: str | None = None,
             clock: Callable[[], dt.datetime] | None = None) -> Trellis:
        """Load and check the config (raises ConfigError listing every error) and connect."""
        return cls(load_config(config_path), create_engine(db_url), clock)

    def clock_now(self) -> Clock:
        """The current moment (UTC) and the company time zone."""
        return Clock(self._clock().astimezone(dt.UTC), self._zone)

    def plan(self, allow_data_loss: bool = False) -> migrate.Plan:
        """What ``apply`` would change in the database, and what it would refuse."""
        return migrate.plan(self.engine, self.config, allow_data_loss=allow_data_loss)

    def apply(self, allow_data_loss: bool = False, applied_by: str | None = None) -> migrate.Plan:
        """Bring the database to this config; raises MigrationRefused with reasons."""
        return migrate.apply(self.engine, self.config, allow_data_loss=allow_data_loss, applied_by=applied_by)

    @contextmanager
    def session(self, user: str | int | None = None, channel: str = "python") -> Iterator[Session]:
        """One transaction as ``user`` (a username or id; None = the system context):
        commit on success, roll back on any exception. ``channel`` (web, api, import,
        automation, cli, python) is recorded in the audit trail."""
        with self.engine.connect() as connection, connection.begin():
            yield Session(self, connection, self._principal(connection, user), channel)

    @contextmanager
    def directory(self, user: str | int | None = None, channel: str = "cli") -> Iterator[Directory]:
        """Manage users and teams in one transaction, as ``user`` (None = the system)."""
        with self.engine.connect() as connection, connection.begin():
            yield Directory(self, connection, self._principal(connection, user), channel)

    def principal(self, user: str | int | None) -> Principal:
        """Who ``user`` is and what they may do (refuses unknown, disabled and expired users)."""
        with self.engine.connect() as connection:
            return self._principal(connection, user)

    def _principal(self, connection: sa.Connection, user: str | int | None) -> Principal:
        if user is None:
            return SYSTEM
        return load_principal(connection, self.config, user, self.clock_now().now_utc, self.schema.system["sys_users"])

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
