"""Commands for editors and hand-over (issue 17 §4): schema, docs, diff; and the overlay part of ``plan``."""

from __future__ import annotations

import json
import os

import click

from engine.cli.common import CONFIG_ARG, echo, secho, user_errors
from engine.cli.group import main
from engine.metadata import ConfigError, load_config
from engine.metadata.compiler import language_schema
from engine.metadata.configdiff import Change, diff_configs, say_changes, summary
from engine.metadata.dictionary import LANGUAGES, RENDERERS, build_dictionary, default_language
from engine.metadata.dictionary.words import Speaker
from engine.metadata.loader import load_raw
from engine.metadata.model import Config

LANG_OPTION = click.option(
    "--lang",
    "language",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Language of the text (default: the config's first language).",
)
OUTPUT_OPTION = click.option(
    "--output", "-o", "output", type=click.Path(dir_okay=False, writable=True), default=None, help="Write to FILE."
)


def _write(text: str, output: str | None, what: str) -> None:
    """``text`` to stdout, or to the file ``output`` (saying so)."""
    if output is None:
        echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {what} to {output}: {exc.strerror}") from None
    secho(f"Wrote {what} to {output}.", fg="green")


@main.command()
@OUTPUT_OPTION
def schema(output: str | None) -> None:
    """Print the config language's JSON Schema (for editors: point the YAML extension at it)."""
    _write(json.dumps(language_schema(), indent=2, ensure_ascii=False) + "\n", output, "the JSON Schema")


@main.command()
@CONFIG_ARG
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="md", show_default=True)
@LANG_OPTION
@OUTPUT_OPTION
@user_errors
def docs(config: str, fmt: str, language: str | None, output: str | None) -> None:
    """Write CONFIG's data dictionary for the customer: objects, fields, picklists, stages and
    gates, roles, approvals, assignment, automation rules and reports, in one language."""
    compiled = load_config(config)
    document = build_dictionary(compiled, language or default_language(compiled))
    _write(RENDERERS[fmt](document), output, "the data dictionary")


@main.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@LANG_OPTION
@user_errors
def diff(old: str, new: str, language: str | None) -> None:
    """Explain what changes from config OLD to config NEW in business terms, one line per change,
    grouped by object (exit 0 whether or not anything changed)."""
    before, after = load_config(old), load_config(new)
    speaking = language or default_language(after)
    changes = diff_configs(before, after)
    echo(f"{old} → {new}:")
    _print_changes(before, after, changes, speaking)
    if not changes:
        echo(Speaker(after, speaking)("diff.none"))


def _print_changes(old: Config, new: Config, changes: list[Change], language: str) -> None:
    for group in say_changes(old, new, changes, language):
        echo(f"  {group.title}")
        for line in group.lines:
            echo(f"    - {line}")


def print_overlay(config: str, compiled: Config) -> None:
    """For ``plan`` on an overlay (a config with ``extends:``): what comes from its template and
    what the overlay changes, through the diff of the template compiled alone and the overlay."""
    files = load_raw(config).files
    if len(files) < 2:
        return
    template = files[1]
    name = os.path.basename(template)
    try:
        alone = load_config(template)
    except ConfigError as exc:
        count = len(exc.issues)
        echo(f"Template {name} does not compile alone ({count} error{'s' if count != 1 else ''}), so what this")
        echo(f"overlay changes cannot be told apart from it; `trellis validate {template}` says why.")
        return
    language = "en"
    echo(f"From template {name}: {summary(alone, language)}.")
    changes = diff_configs(alone, compiled)
    if not changes:
        echo("This overlay changes nothing of the template.")
        return
    echo(f"This overlay ({len(changes)} changes):")
    _print_changes(alone, compiled, changes, language)
