"""``trellis export``: the records of an object as a CSV or Excel file people read (issue 13 §4).

``trellis export CONFIG OBJECT [--format csv|xlsx] [--filter NAME=VALUE]… [--as USER] [--keys]
[--lang LANG] [--output FILE]`` writes, through ``engine.runtime.exports.export_file``, every
record the user may read (``--as``; default the system, which reads everything) that the filters
keep — the list parameters of the web list and the API (``stage=quote``, ``amount__gte=1000``,
``q=acme``, ``owner=me``, ``sort=-amount``), in id order unless ``sort`` says otherwise. Headers
are field labels in the user's language (``--lang``; else the user's locale, else the company's
first language); ``--keys`` adds a second header row of field keys, for ``trellis import``.

The file is written beside its target and renamed into place when complete (``-`` writes to
standard output once complete): an export that fails leaves no half file. Exit 0 with a one-line
summary; 1 with the reason for a user without the export grant, an unknown object or user, or a
filter that cannot be applied; 2 for a malformed option.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, cast

import click

from engine.cli.common import DB_OPTION, config_first, echo, reader_language, user_errors
from engine.cli.group import main
from engine.runtime.exports.export import export_file
from engine.runtime.exports.writers import WRITERS
from engine.runtime.messages import LANGUAGES
from engine.runtime.records import listparams
from engine.trellis import Trellis


@main.command("export")
@config_first(("object_name", "OBJECT", str))
@DB_OPTION
@click.option("--format", "file_format", type=click.Choice(list(WRITERS)), default="csv", show_default=True)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="NAME=VALUE",
    help="Keep the records this list parameter keeps (stage=quote, amount__gte=1000, q=acme, owner=me, "
    "sort=-amount); repeat for more.",
)
@click.option("--as", "username", metavar="USER", help="Export as USER: their scope, hidden fields and grant.")
@click.option("--keys", is_flag=True, help="Add a second header row of field keys, so the file re-imports unchanged.")
@click.option("--lang", type=click.Choice(LANGUAGES), help="The language of headers and values.")
@click.option("-o", "--output", metavar="FILE", help="Where to write (default OBJECT.csv / OBJECT.xlsx; - for stdout).")
@user_errors
def export(
    config: str,
    object_name: str,
    db_url: str | None,
    file_format: str,
    filters: tuple[str, ...],
    username: str | None,
    keys: bool,
    lang: str | None,
    output: str | None,
) -> None:
    """Export the records of OBJECT as a CSV or Excel file, as people read them."""
    params = listparams.parse(_filter_args(filters))
    target = output or f"{object_name}.{WRITERS[file_format].extension}"
    folder = Path.cwd() if target == "-" else Path(target).resolve().parent
    if not folder.is_dir():
        raise click.BadParameter(f"there is no folder {str(folder)!r} to write {target!r} in", param_hint="--output")
    crm = Trellis.open(config, db_url)
    try:
        language = lang or reader_language(crm, username)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".trellis-export-", delete=False) as part:
            try:
                with crm.read_session(user=username, channel="cli") as session:
                    query = params.apply(session.query(object_name))
                    count = export_file(
                        session,
                        object_name,
                        cast(BinaryIO, part),
                        query=query,
                        file_format=file_format,
                        language=language,
                        keys=keys,
                    )
                    label = session.object(object_name).plural_label.get(language)
            except BaseException:
                os.unlink(part.name)
                raise
        _deliver(part.name, target)
    finally:
        crm.close()
    where = "standard output" if target == "-" else target
    echo(f"Exported {count:,} {label} to {where}.", err=target == "-")


def _filter_args(filters: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` options as list parameters; a malformed or repeated one is a usage error."""
    args: dict[str, str] = {}
    for text in filters:
        name, sign, value = text.partition("=")
        name = name.strip()
        if not sign or not name:
            raise click.BadParameter(f"{text!r} is not NAME=VALUE (e.g. stage=quote)", param_hint="--filter")
        if name in args:
            raise click.BadParameter(f"{name} is given twice; use {name.split('__')[0]}__in=a,b", param_hint="--filter")
        args[name] = value
    return args


def _deliver(path: str, target: str) -> None:
    """Move the finished file to ``target`` (or copy it to standard output for ``-``)."""
    if target != "-":
        os.replace(path, target)
        return
    try:
        with open(path, "rb") as finished:
            shutil.copyfileobj(finished, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        os.unlink(path)
