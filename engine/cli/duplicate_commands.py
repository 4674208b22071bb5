"""``trellis duplicates reindex CONFIG [OBJECT]``: rebuild the blocking keys of duplicate rules;
``trellis duplicates find CONFIG OBJECT [--rule R]``: look for duplicates among existing records.

The write path keeps the keys of every record it writes (``engine.runtime.records.duplicates``);
records written before a rule was added or changed have none, so a check would not find them.
This command rebuilds the keys of one object (or of every object with rules) in one transaction,
a page of records at a time. Exit 0 after reindexing, 1 for an unknown object or a database
that cannot be used.

``find`` runs the duplicate finder (``engine.runtime.records.finder``) over OBJECT's records by
each of its rules (or the one ``--rule`` names), stores the groups it finds in place of the
previous run's and prints what it found. Exit 0 after a run, 1 for an unknown object, an object
without duplicate rules, an unknown rule or a database that cannot be used.
"""

from __future__ import annotations

import click

from engine.cli.common import CONFIG_ARG, DB_OPTION, config_first, echo, user_errors
from engine.cli.group import main
from engine.runtime.records.finder.scan import MAX_BLOCK


@main.group()
def duplicates() -> None:
    """Duplicate rules: rebuild their matching keys, find duplicates among existing records."""


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


@duplicates.command()
@config_first(("object_name", "OBJECT", str))
@click.option("--rule", "rule", default=None, help="Run this duplicate rule only (default: every rule of OBJECT).")
@click.option(
    "--max-block",
    type=click.IntRange(min=2),
    default=MAX_BLOCK,
    show_default=True,
    help="Skip a matching key shared by more records than this (a word such as 有限 or co).",
)
@DB_OPTION
@user_errors
def find(config: str, object_name: str, rule: str | None, max_block: int, db_url: str | None) -> None:
    """Find likely duplicates among OBJECT's records and store them in groups for the web's
    duplicates page (the previous run's groups of the same rules are replaced)."""
    from engine.runtime.records.finder.finding import find as run
    from engine.trellis import Trellis

    crm = Trellis.open(config, db_url)
    try:
        crm.check_database()
        found = run(crm, object_name, rule, max_block)
    finally:
        crm.close()
    for name, (groups, skipped) in found.per_rule.items():
        echo(
            f"{object_name} · {name}: {groups} group{'s' if groups != 1 else ''}, {skipped} oversized key{'s' if skipped != 1 else ''} skipped"
        )
    echo(
        f"{found.groups} group{'s' if found.groups != 1 else ''} of likely duplicates ({found.duplicates} records) "
        f"among {found.records} {object_name} records; {found.pairs} pairs compared in {found.seconds:.1f} s."
    )
    if found.skipped_blocks:
        echo(
            f"{found.skipped_blocks} matching key{'s' if found.skipped_blocks != 1 else ''} shared by more than "
            f"{max_block} records {'were' if found.skipped_blocks != 1 else 'was'} skipped (raise --max-block to compare them)."
        )
