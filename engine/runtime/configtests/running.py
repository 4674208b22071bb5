"""Running a suite: a sandbox applied once, then each case on a fresh copy — given, then each
step and its expectations — into a ``CaseResult`` that says, for a failure, which step, what was
expected and what happened, in the reader's words."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from engine.metadata import Config
from engine.runtime.configtests.case import CaseFailed, CaseRun, GivenRefused, MovableClock, Outcome, Ref
from engine.runtime.configtests.expectations import EXPECTATIONS, describe_error, error_matches
from engine.runtime.configtests.given import DEFAULT_AT, set_up
from engine.runtime.configtests.model import Case, Given, Step, Suite
from engine.runtime.configtests.sandbox import Sandbox
from engine.runtime.configtests.steps import STEPS
from engine.runtime.configtests.words import say
from engine.runtime.errors import TrellisError
from engine.runtime.messages import speaking
from engine.runtime.security import crypto


@dataclass(frozen=True)
class CaseResult:
    """How one case went: ``where`` (the step that failed, in words), ``expected`` and ``actual``
    are set for a failure."""

    case: Case
    passed: bool
    seconds: float
    where: str = ""
    expected: str = ""
    actual: str = ""


def run_suite(
    config: Config, suite: Suite, db_url: str | None = None, report: Callable[[CaseResult], None] | None = None
) -> list[CaseResult]:
    """Run every case of ``suite`` against a throw-away database of ``config`` (SQLite, or a new
    schema of the PostgreSQL database ``db_url``); ``report`` hears of each result as it comes."""
    results = []
    with _throwaway_key(), Sandbox(config, db_url) as box:
        bases: dict[str, _Base | None] = {}
        for case in suite.cases:
            start = time.perf_counter()
            if case.shares_start and case.file not in bases:
                bases[case.file] = _shared_start(config, box, case)
            base = bases.get(case.file) if case.shares_start else None
            clock = MovableClock(_start_moment(config, case))
            crm = box.open(clock, base.name if base else None)
            try:
                run = CaseRun(crm, clock, case.language, box.work_folder)
                if base:
                    run.users = dict(base.users)
                    run.aliases = {alias: replace(ref) for alias, ref in base.aliases.items()}
                result = _run_case(run, case, start, case.own if base else case.given)
            finally:
                box.close(crm)
            results.append(result)
            if report:
                report(result)
    return results


@dataclass(frozen=True)
class _Base:
    """A test file's shared ``given`` set up once: the kept database, its users and aliases."""

    name: str
    users: dict[str, int]
    aliases: dict[str, Ref]


def _shared_start(config: Config, box: Sandbox, case: Case) -> _Base | None:
    """The file's ``given`` of ``case`` set up once and kept; None when it fails (each case then
    sets it up itself and reports the failure)."""
    clock = MovableClock(_start_moment(config, case))
    crm = box.open(clock)
    run = CaseRun(crm, clock, case.language, box.work_folder)
    try:
        with speaking(case.language):
            set_up(run, case.shared)
    except Exception:  # noqa: BLE001 - each case sets it up again and reports the failure
        box.close(crm)
        return None
    return _Base(box.keep(crm), run.users, run.aliases)


def _start_moment(config: Config, case: Case) -> dt.datetime:
    local = dt.datetime.fromisoformat((case.given.at or DEFAULT_AT).replace(" ", "T"))
    return local.replace(tzinfo=local.tzinfo or ZoneInfo(config.settings.timezone)).astimezone(dt.UTC)


def _run_case(run: CaseRun, case: Case, start: float, given: Given) -> CaseResult:
    with speaking(case.language):
        try:
            set_up(run, given)
        except Exception as error:  # noqa: BLE001 - a refusal (or an engine failure) fails the case, not the run
            where = say(
                "given", case.language, where=error.location if isinstance(error, GivenRefused) else case.location
            )
            return CaseResult(
                case,
                False,
                time.perf_counter() - start,
                where,
                say("success", case.language),
                _failure(error, case.language),
            )
        for step in case.steps:
            try:
                _run_step(run, step)
            except Exception as failed:  # noqa: BLE001 - an engine failure fails the case, not the run
                text = STEPS[step.kind].describe(step, case.language)
                where = say("step", case.language, number=step.number, text=text, where=step.location)
                expected, actual = (
                    (failed.expected, failed.actual)
                    if isinstance(failed, CaseFailed)
                    else (say("success", case.language), _failure(failed, case.language))
                )
                return CaseResult(case, False, time.perf_counter() - start, where, expected, actual)
    return CaseResult(case, True, time.perf_counter() - start)


def _failure(error: Exception, language: str) -> str:
    """A refusal in the user's words; any other failure named as the engine's."""
    if isinstance(error, GivenRefused):
        error = error.error
    if isinstance(error, TrellisError):
        return describe_error(error, language)
    return say("crashed", language, error=f"{type(error).__name__}: {error}")


def _run_step(run: CaseRun, step: Step) -> None:
    run.mark()
    outcome: Outcome = STEPS[step.kind](run, step)
    wanted = step.expect.get("error")
    language = run.language
    if wanted is None and outcome.error is not None:
        raise CaseFailed(say("success", language), describe_error(outcome.error, language))
    if wanted is not None:
        expected = wanted if isinstance(wanted, list) else [wanted]
        words = "; ".join(_wanted_error(e, language) for e in expected)
        if outcome.error is None:
            raise CaseFailed(words, say("success", language))
        if not all(error_matches(outcome.error, e) for e in expected):
            raise CaseFailed(words, describe_error(outcome.error, language))
    ref = run.aliases[step.expect["record"]] if "record" in step.expect else outcome.ref
    for key, value in step.expect.items():
        if key in EXPECTATIONS:
            EXPECTATIONS[key].check(run, outcome, ref, value)


def _wanted_error(wanted: dict, language: str) -> str:
    text = say(
        "error" if "field" in wanted else "error_record",
        language,
        code=wanted["code"],
        field=wanted.get("field"),
        message="",
    )
    return text.rstrip(": ：") + (f": …{wanted['message']}…" if "message" in wanted else "")


@contextmanager
def _throwaway_key() -> Iterator[None]:
    """A key for encrypted fields when none is configured: the database is thrown away anyway."""
    if os.environ.get("TRELLIS_SECRET_KEY") or os.environ.get("TRELLIS_SECRET_KEY_FILE"):
        yield
        return
    os.environ["TRELLIS_SECRET_KEY"] = crypto.generate_key()
    try:
        yield
    finally:
        os.environ.pop("TRELLIS_SECRET_KEY", None)
