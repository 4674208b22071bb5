"""The ``trellis`` command.

Every command that needs them takes the config as its first argument and the
database as ``--db URL``, defaulting to ``TRELLIS_CONFIG`` and
``TRELLIS_DATABASE_URL`` (database default ``sqlite:///trellis.db``). Exit
status 0 on success, 1 on a user error with a message, never a traceback for a
user error. Each group of commands lives in its own module and registers
itself on ``main``.
"""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="trellis-crm")
def main() -> None:
    """Trellis: a CRM engine configured in YAML."""


from engine.cli import audit_commands  # noqa  (registers its commands)
from engine.cli import automation_commands  # noqa: E402,F401  (registers its commands)
from engine.cli import config_commands  # noqa: E402,F401  (registers its commands)
from engine.cli import serve_commands  # noqa: E402,F401  (registers its commands)
from engine.cli import token_commands  # noqa: E402,F401  (registers its commands)
from engine.cli import user_commands  # noqa: E402,F401  (registers its commands)
from engine.cli import worker_commands  # noqa: E402,F401  (registers its commands)
