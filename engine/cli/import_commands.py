"""``trellis import CONFIG OBJECT FILE``: CSV and Excel files into records, through the write path.

Exit status 0 when every row was imported (or skipped as a duplicate), 1 when the import could
not run or some rows failed (each listed as ``row N: column: reason``; ``--errors OUT.csv``
writes them all to fix and import again), 130 when interrupted (``--resume JOB`` continues).
On a terminal a progress bar shows rows, rate and time left; otherwise one summary line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from engine.cli.common import DB_OPTION, config_first, echo, secho, user_errors
from engine.cli.group import main
from engine.runtime import imports
from engine.runtime.imports import ImportOptions, ImportProblem, MapSpec, Progress
from engine.runtime.imports.problems import label, say
from engine.runtime.imports.reading import open_source
from engine.runtime.messages import LANGUAGES, speaking
from engine.trellis import Trellis

#: Failed rows printed after an import; the rest go to ``--errors``.
SHOWN_ERRORS = 20


@main.command("import")
@config_first(("object_name", "OBJECT", str), ("path", "FILE", str))
@click.option("--map", "map_path", type=click.Path(dir_okay=False), help="YAML map: column → field, skip, constants.")
@click.option("--dry-run", is_flag=True, help="Run everything, then roll back: the same errors, nothing changed.")
@click.option(
    "--on-duplicate", type=click.Choice(["skip", "update", "error"]), help="What to do with a row matching a record."
)
@click.option(
    "--match", "match", metavar="FIELD", help="The field rows match existing records by (default: a unique one)."
)
@click.option(
    "--as", "as_user", metavar="USER", help="Import as this user (their grants and scopes); default: the system."
)
@click.option("--batch", type=int, help="Rows per committed batch (default 1000; with --resume, from here on).")
@click.option("--resume", type=int, metavar="JOB", help="Continue import job JOB where it stopped.")
@click.option(
    "--errors", "errors_path", type=click.Path(dir_okay=False), help="Write the failed rows to this CSV file."
)
@click.option("--sheet", metavar="NAME", help="The sheet of an .xlsx file (default: the first).")
@click.option("--no-automation", is_flag=True, help="Administrators: run no automation rules (recorded in the audit).")
@click.option("--language", type=click.Choice(LANGUAGES), default="en", show_default=True, help="Language of messages.")
@DB_OPTION
@user_errors
def import_command(
    config: str,
    object_name: str,
    path: str,
    map_path: str | None,
    dry_run: bool,
    on_duplicate: str | None,
    match: str | None,
    as_user: str | None,
    batch: int | None,
    resume: int | None,
    errors_path: str | None,
    sheet: str | None,
    no_automation: bool,
    language: str,
    db_url: str | None,
) -> None:
    """Import FILE (CSV or .xlsx) into OBJECT's records, every row through the write path."""
    with speaking(language), _crm(config, db_url) as crm:
        if resume is not None:
            job = imports.status(crm, resume)
            if job.object != object_name:
                raise ImportProblem("import.resume_other", job=job.id, object=job.object, file=job.file_name)
        else:
            options = ImportOptions(
                sheet=sheet,
                spec=MapSpec.load(map_path) if map_path else None,
                on_duplicate=on_duplicate,
                match=match,
                batch=batch or 1000,
                automation=not no_automation,
            )
            job = imports.start(crm, object_name, path, options, as_user, dry_run=dry_run)
        _describe(Path(path), job.options.get("sheet"))
        if not job.dry_run:
            echo(say("import.job", job=job.id), err=True)
        try:
            with _progress(sys.stderr.isatty()) as report:
                job = imports.run(crm, job.id, path, progress=report, batch=batch if resume else None)
        except KeyboardInterrupt:
            secho(say("import.interrupted", job=job.id), fg="yellow", err=True)
            sys.exit(130)
        _report(crm, job, errors_path)
        if job.failed:
            sys.exit(1)


@contextmanager
def _crm(config: str, db_url: str | None) -> Iterator[Trellis]:
    crm = Trellis.open(config, db_url)
    try:
        crm.check_database()
        yield crm
    finally:
        crm.close()


def _describe(path: Path, sheet: str | None) -> None:
    """Say how the file is read (the encoding detected, the delimiter, the sheet)."""
    source = open_source(path, sheet)
    source.close()
    echo(say("import.read_as", file=path.name, how=source.described), err=True)


def _report(crm: Trellis, job: imports.Job, errors_path: str | None) -> None:
    """The summary line, the first failed rows, and the error file."""
    obj = crm.config.objects[job.object]
    counts = {
        "object": label(obj.plural_label),
        "rows": f"{job.rows_done:,}",
        "created": f"{job.created:,}",
        "updated": f"{job.updated:,}",
        "skipped": f"{job.skipped:,}",
        "held": f"{job.held:,}",
        "failed": f"{job.failed:,}",
    }
    for failure in imports.failures(crm, job.id, limit=SHOWN_ERRORS):
        echo(say("import.row_error", row=f"{failure.row:,}", error=failure.error), err=True)
    if job.failed > SHOWN_ERRORS:
        echo(say("import.more_errors", count=f"{job.failed - SHOWN_ERRORS:,}"), err=True)
    if errors_path:
        written = imports.write_error_file(crm, job.id, errors_path)
        echo(say("import.errors_written", count=written, path=errors_path), err=True)
    line = say("import.dry_summary" if job.dry_run else "import.summary", **counts)
    secho(line, fg="red" if job.failed else "green")


@contextmanager
def _progress(terminal: bool) -> Iterator[Callable[[Progress], None]]:
    """A progress callback: a bar with rows, rate and time left on a terminal, silence elsewhere."""
    if not terminal:
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    started = time.monotonic()
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]} rows · {task.fields[rate]}/s"),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("import", total=1000, rows="0", rate="0")

        def report(progress: Progress) -> None:
            rate = progress.rows / max(time.monotonic() - started, 1e-6)
            completed = 1000 * progress.fraction if progress.fraction is not None else None
            bar.update(task, completed=completed, rows=f"{progress.rows:,}", rate=f"{rate:,.0f}")

        yield report
