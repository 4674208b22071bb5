"""``trellis test``: run the YAML cases written next to a config (docs/config-reference.md#testing-a-config)
against a throw-away database, and say which pass and which fail — for a failure the step, what was
expected and what happened. Exit 0 when all pass, 1 when one fails, 2 for a bad test file."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from engine.cli.common import CONFIG_ARG, config_language, counted, echo, secho, user_errors
from engine.cli.group import main


@main.command("test")
@CONFIG_ARG
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="A PostgreSQL database to run in (a new schema, dropped afterwards); default: a throw-away SQLite file.",
)
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Also write the results as JUnit XML.")
@click.option("-k", "keyword", metavar="TEXT", help="Run only the cases whose name (or file) contains TEXT.")
@user_errors
def test(config: str, files: tuple[str, ...], db_url: str | None, junit_path: str | None, keyword: str | None) -> None:
    """Run the test cases of CONFIG: FILES, or <config folder>/tests/<config name>/*.yaml."""
    from engine.metadata import load_config
    from engine.runtime.configtests import junit, loading, running
    from engine.runtime.configtests.words import say

    if db_url and not db_url.startswith("postgresql"):
        raise click.BadParameter(
            "give a PostgreSQL URL; without --db the run uses a throw-away SQLite file", param_hint="--db"
        )
    compiled = load_config(config)
    paths = [Path(f) for f in files] or loading.discover(config)
    where = ", ".join(files) if files else str(Path(config).parent / "tests" / Path(config).stem)
    try:
        suite = loading.load_suite(compiled, paths, where)
    except loading.TestFileError as bad:
        shown = config_language(compiled.settings.languages)  # TRELLIS_LANG, else the config's first language
        for issue in bad.issues:
            echo(issue.shown(shown), err=True)
        count = len(bad.issues)
        secho(say(counted("file_errors", count), shown, count=count), fg="red", err=True)
        sys.exit(2)
    selected = suite.selected(keyword)
    language = suite.cases[0].language
    if not selected.cases:
        echo(say("none_selected", language, keyword=keyword))
        sys.exit(1)
    start = time.perf_counter()

    def show(result: running.CaseResult) -> None:
        if result.passed:
            secho(f"{say('pass', result.case.language)} {result.case.name}", fg="green")
            return
        secho(f"{say('fail', result.case.language)} {result.case.name}", fg="red")
        echo(f"    {result.where}")
        echo(f"    {say('expected', result.case.language, text=result.expected)}")
        echo(f"    {say('actual', result.case.language, text=result.actual)}")

    results = running.run_suite(compiled, selected, db_url, report=show)
    failed = sum(not r.passed for r in results)
    summary = say("summary", language, passed=len(results) - failed, failed=failed, seconds=time.perf_counter() - start)
    secho(summary, fg="red" if failed else "green")
    if junit_path:
        Path(junit_path).write_text(junit.junit_xml(results, Path(config).stem), encoding="utf-8")
    if failed:
        sys.exit(1)
