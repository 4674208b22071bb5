"""``trellis duplicates reindex CONFIG [OBJECT]``: rebuild the blocking keys of duplicate rules.

The write path keeps the keys of every record it writes (``engine.runtime.records.duplicates``);
records written before a rule was added or changed have none, so a check would not find them.
This command rebuilds the keys of one object (or of every object with rules) in one transaction,
a page of records at a time. Exit 0 after reindexing, 1 for an unknown object or a database
that cannot be used.
"""

from __future__ import annotations

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, echo, user_errors
from engine.cli.group import main


@main.group()
def duplicates() -> None:
    """Duplicate rules: rebuild their matching keys."""


@duplicates.command()
@CONFIG_ARG
@click.argument("object_name", metavar="[OBJECT]", required=False)
@DB_OPTION
@user_errors
def reindex(config: str, object_name: str | None, db_url: str | None) -> None:
    """Rebuild the matching keys of OBJECT's records (default: every object with duplicate rules)."""
    from engine.runtime.records.duplicates import reindex as rebuild
    from engine.trellis import Trellis

    crm = Trellis.open(config, db_url)
    try:
        crm.check_database()
        with crm.session() as session:
            names = [object_name] if object_name else [n for n, o in crm.config.objects.items() if o.duplicates]
            for name in names:
                count = rebuild(session, name)
                rules = len(session.object(name).duplicates)
                echo(f"{name}: {count} records indexed for {rules} duplicate rule{'s' if rules != 1 else ''}")
            if not names:
                echo("No object of this config declares duplicate rules.")
    finally:
        crm.close()
