"""The ``Trellis`` facade: a compiled config bound to a database."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

from engine.metadata import load_config
from engine.runtime.context import Runtime
from engine.runtime.database import create_engine


class Trellis(Runtime):
    """A compiled config bound to a database: plan, apply, and open sessions.

    Opening one does not touch the database. The first session (or ``directory``,
    ``principal``) checks once that the database was brought to this config with
    ``apply`` and raises ``DatabaseOutOfDate`` (a sentence saying what to run) when
    not; ``check_database`` makes that check at once, as ``trellis serve`` and
    ``trellis worker`` do before they start. ``plan`` and ``apply`` work on any
    database. Everything but loading the config is the runtime context's
    (``engine.runtime.context.Runtime``).
    """

    @classmethod
    def open(
        cls,
        config_path: str | os.PathLike[str],
        db_url: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        read_url: str | None = None,
    ) -> Trellis:
        """Load and check the config (raises ConfigError listing every error) and connect.
        ``read_url``: a read replica (else ``TRELLIS_READ_DATABASE_URL``; ``engine.runtime.replica``).

        The database is checked at the first session (see the class docstring)."""
        return cls(load_config(config_path), create_engine(db_url), clock, read_url)
