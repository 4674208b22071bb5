"""The ``trellis`` command.

Every command that needs them takes the config as its first argument and the
database as ``--db URL``, defaulting to ``TRELLIS_CONFIG`` and
``TRELLIS_DATABASE_URL`` (database default ``sqlite:///trellis.db``). Exit
status 0 on success, 1 on a user error with a message, never a traceback for a
user error. Each group of commands lives in its own module and registers
itself on ``main`` (``engine.cli.group``).
"""

from __future__ import annotations

from engine.cli import (  # noqa: F401  (each module registers its commands on ``main``)
    audit_commands,
    automation_commands,
    backup_commands,
    config_commands,
    duplicate_commands,
    explain_commands,
    export_commands,
    form_commands,
    handover_commands,
    import_commands,
    mail_commands,
    retention_commands,
    serve_commands,
    test_commands,
    token_commands,
    user_commands,
    worker_commands,
)
from engine.cli.group import main

__all__ = ["main"]
