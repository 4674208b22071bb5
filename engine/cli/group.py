"""The ``trellis`` command group itself; each ``*_commands`` module registers its commands on it."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="trellis-crm")
def main() -> None:
    """Trellis: a CRM engine configured in YAML."""
