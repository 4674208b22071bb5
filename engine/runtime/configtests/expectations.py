"""The expectations of ``expect:``, one object each in ``EXPECTATIONS`` (``error`` is judged
first, by ``running``). Each reads what the step left — as the system, or as the user it is
about, through the engine's read path, permissions and reports — and raises ``CaseFailed``
saying what was expected and what is, in the reader's words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from engine.metadata.model import FieldDef
from engine.runtime import reports
from engine.runtime.configtests.case import CaseFailed, CaseRun, Outcome, Ref
from engine.runtime.configtests.given import values_for
from engine.runtime.configtests.words import say
from engine.runtime.errors import NotFound, TrellisError, ValidationFailed
from engine.runtime.records.present import References, ValueFormatter
from engine.runtime.records.record import Record
from engine.runtime.security import users as directory
from engine.runtime.security.permissions import PermissionDenied


class Expectation:
    """One key of ``expect:``. Subclasses set ``key`` and implement ``check``."""

    key: ClassVar[str] = ""
    #: Whether it reads the step's record (``expect.record`` or the record the step wrote).
    needs_record: ClassVar[bool] = False

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        """Raise ``CaseFailed`` unless what the step left matches ``expected``."""
        raise NotImplementedError


def read(run: CaseRun, ref: Ref | None) -> Record | None:
    """The record as the system reads it (archived too), or None when there is none."""
    if ref is None or ref.id is None:
        return None
    with run.crm.session(None) as session:
        return session.query(ref.object).filter(id=ref.id).include_archived().first()


def _record(run: CaseRun, ref: Ref | None) -> tuple[Ref, Record]:
    record = read(run, ref)
    if ref is None or record is None:
        raise CaseFailed(say("exists", run.language), say("no_record" if ref is None else "deleted", run.language))
    return ref, record


def _listed(names: Iterable[Any], language: str) -> str:
    return ", ".join(sorted(map(str, names))) or say("nobody", language)


# --- the record ------------------------------------------------------------------------------------------
class Exists(Expectation):
    key = "exists"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        found = read(run, ref) is not None
        if found != bool(expected):
            words = lambda yes: say("exists" if yes else "deleted", run.language)  # noqa: E731
            raise CaseFailed(words(bool(expected)), words(found))


class Values(Expectation):
    """Raw values as stored: numbers compare as numbers, dates as ``2026-03-02``, moments as
    ``2026-03-02 09:00`` in the company time zone, user fields by user name, lookups by alias."""

    key = "values"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        ref, record = _record(run, ref)
        wanted = values_for(run, ref.object, expected)
        for name, value in wanted.items():
            actual = record.get(name)
            if not same(actual, value, run):
                raise CaseFailed(
                    say("expect.values", run.language, field=name, value=_raw(expected[name])),
                    say("expect.values", run.language, field=name, value=_raw(_named(run, ref.object, name, actual))),
                )


def _named(run: CaseRun, object_name: str, name: str, value: Any) -> Any:
    f = run.crm.config.objects[object_name].fields.get(name)
    if value is not None and (name == "owner_id" or (f is not None and f.kind.refers_to_user)):
        return run.username(value)
    if value is not None and f is not None and f.kind.refers_to_record:
        return next((f"@{a}" for a, r in run.aliases.items() if r.id == value and r.object == f.target), value)
    return value


def _raw(value: Any) -> str:
    return "null" if value is None else str(value)


def same(actual: Any, expected: Any, run: CaseRun) -> bool:
    """Whether a stored value is the one a test file wrote."""
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, (list, tuple)):
        return isinstance(expected, (list, tuple)) and sorted(map(str, actual)) == sorted(map(str, expected))
    if isinstance(actual, dt.datetime):
        local = actual.astimezone(run.zone)
        return str(expected) in (f"{local:%Y-%m-%d %H:%M}", f"{local:%Y-%m-%d %H:%M:%S}", local.isoformat())
    if isinstance(actual, dt.date):
        return str(expected) == actual.isoformat()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual == expected
    if isinstance(actual, (int, float, Decimal)):
        return _number(expected) == _number(actual)
    return actual == expected or str(actual) == str(expected)


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return None


class Shown(Expectation):
    """Values as people read them in the file's language: labels, names, titles, formatted numbers."""

    key = "shown"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        ref, record = _record(run, ref)
        obj = run.crm.config.objects[ref.object]
        for name, text in expected.items():
            f = obj.fields[name]
            shown = formatter(run, f, record.get(name)).text(record.get(name), f)
            if shown != str(text):
                raise CaseFailed(
                    say("expect.values", run.language, field=name, value=text),
                    say("expect.values", run.language, field=name, value=shown or "—"),
                )


def formatter(run: CaseRun, f: FieldDef, value: Any) -> ValueFormatter:
    """A formatter knowing the names and titles ``value`` of ``f`` may need."""
    ids = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)]
    refs = References()
    if ids and f.kind.refers_to_user:
        with run.crm.session(None) as session:
            refs = References(users=directory.user_names(session, ids))
    elif ids and f.kind.refers_to_record and f.target:
        with run.crm.session(None) as session:
            refs = References(titles={(f.target, i): t for i, t in session.titles(f.target, ids).items()})
    return ValueFormatter(run.crm.config.settings, run.language, refs)


class StageIs(Expectation):
    key = "stage"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        ref, record = _record(run, ref)
        pipeline = run.crm.config.objects[ref.object].pipeline
        actual = record.get(pipeline.field) if pipeline else None
        if actual != expected:
            raise CaseFailed(
                say("expect.stage", run.language, stage=_stage_text(pipeline, expected, run.language)),
                say("expect.stage", run.language, stage=_stage_text(pipeline, actual, run.language)),
            )


def _stage_text(pipeline: Any, key: Any, language: str) -> str:
    """``Quote (quote)``: a stage as people read it, with its key; any pipeline of the object."""
    for stages in (pipeline.stages, *(v.stages for v in pipeline.variants)):
        for stage in stages:
            if stage.key == key:
                return f"{stage.label.get(language)} ({key})"
    return str(key)


class OwnerIs(Expectation):
    key = "owner"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        ref, record = _record(run, ref)
        actual = record.get("owner_id")
        name = None if actual is None else run.username(actual)
        if name != expected:
            raise CaseFailed(
                say("expect.owner", run.language, owner=expected or say("nobody", run.language)),
                say("expect.owner", run.language, owner=name or say("nobody", run.language)),
            )


class ApprovalIs(Expectation):
    key = "approval"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        actual = outcome.approval or "none"
        if actual != expected:
            raise CaseFailed(
                say("expect.approval", run.language, status=expected),
                say("expect.approval", run.language, status=actual),
            )


# --- what it caused --------------------------------------------------------------------------------------
class Notified(Expectation):
    """Exactly who was told by this step: in-app notices by user, e-mails by user (or by address
    when no user has it); a list is the in-app notices; ``rule`` narrows to one automation rule."""

    key = "notified"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        wanted = {"in_app": expected} if isinstance(expected, list) else dict(expected)
        rule = str(wanted.pop("rule")) if "rule" in wanted else None
        told = told_by_step(run, rule)
        for channel, names in wanted.items():
            if sorted(set(names)) != sorted(told[channel]):
                label = say(f"channel.{channel}", run.language)
                raise CaseFailed(
                    say("expect.notified", run.language, channel=label, users=_listed(set(names), run.language)),
                    say("expect.notified", run.language, channel=label, users=_listed(told[channel], run.language)),
                )


def told_by_step(run: CaseRun, rule: str | None = None) -> dict[str, set[str]]:
    """Who got an in-app notice and who an e-mail since the step began (by user name or address)."""
    emails: dict[str, str] = {}
    with run.crm.directory(None) as d:
        emails = {u.email.lower(): u.username for u in d.list() if u.email}
    in_app = {run.username(n["user_id"]) for n in run.since_mark("sys_notifications") if rule in (None, n["rule"])}
    mails: set[str] = set()
    for row in run.since_mark("sys_outbox"):
        if row["kind"] == "email" and rule in (None, row["rule"]):
            mails.add(emails.get(str(row["target"]).lower(), str(row["target"])))
    return {"in_app": in_app, "email": mails}


class NotNotified(Expectation):
    key = "not_notified"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        told = told_by_step(run)
        for name in expected:
            for channel in ("in_app", "email"):
                if name in told[channel]:
                    label = say(f"channel.{channel}", run.language)
                    raise CaseFailed(
                        say("expect.not_notified", run.language, user=name),
                        say("expect.notified", run.language, channel=label, users=_listed(told[channel], run.language)),
                    )


class Webhooks(Expectation):
    """Webhooks queued by this step: how many, or the rules that queued them."""

    key = "webhooks"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        rules = [str(r["rule"]) for r in run.since_mark("sys_outbox") if r["kind"] == "webhook"]
        actual: Any = len(rules) if isinstance(expected, int) else sorted(rules)
        wanted = expected if isinstance(expected, int) else sorted(expected)
        if actual != wanted:
            raise CaseFailed(
                say("expect.webhooks", run.language, value=wanted), say("expect.webhooks", run.language, value=actual)
            )


class Fired(Expectation):
    key = "fired"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        for rule, count in expected.items():
            actual = outcome.fired.get(rule, 0)
            if actual != count:
                raise CaseFailed(
                    say("expect.fired", run.language, rule=rule, count=count),
                    say("expect.fired", run.language, rule=rule, count=actual),
                )


class Records(Expectation):
    """How many records of an object match a filter (the list filter language; aliases and user
    names as in ``values``), archived ones too, read as the system."""

    key = "records"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        object_name = expected["object"]
        where = expected.get("where") or {}
        resolved = values_for(run, object_name, {k.split("__")[0]: v for k, v in where.items()})
        conditions = {k: resolved[k.split("__")[0]] for k in where}
        with run.crm.session(None) as session:
            count = session.query(object_name).filter(**conditions).include_archived().count()
        if count != expected["count"]:
            words = ", ".join(f"{k} = {v}" for k, v in where.items()) or "—"
            raise CaseFailed(
                say("expect.records", run.language, count=expected["count"], object=object_name, where=words),
                say("expect.records", run.language, count=count, object=object_name, where=words),
            )


class Imported(Expectation):
    """What an import did: counts (``created``, ``updated``, ``skipped``, ``held``, ``failed``) and
    the failed rows (``row``: the file's row, the header being row 1; ``message``: part of the reason)."""

    key = "imported"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        for name, count in expected.items():
            if name != "failures" and outcome.imported.get(name) != count:
                raise CaseFailed(f"{name} {count}", f"{name} {outcome.imported.get(name)}")
        for failure in expected.get("failures") or ():
            reasons = [reason for row, reason in outcome.failures if row == failure["row"]]
            wanted = f"row {failure['row']}: {failure.get('message', '…')}"
            if not reasons or not any(failure.get("message", "") in r for r in reasons):
                got = "; ".join(f"row {row}: {reason}" for row, reason in outcome.failures) or say(
                    "nothing", run.language
                )
                raise CaseFailed(wanted, got)


# --- who may do what -------------------------------------------------------------------------------------
def _readable(run: CaseRun, ref: Ref, user: str) -> bool:
    try:
        with run.crm.session(user) as session:
            session.get(ref.object, ref.id)
    except (NotFound, PermissionDenied):
        return False
    return True


class AccessBy(Expectation):
    """Whether each user may read (``ReadableBy``) or edit (``EditableBy``) the record: ``wanted``
    True for ``…_by``, False for ``not_…_by``; ``words`` the sentences of yes and no."""

    wanted: ClassVar[bool] = True
    words: ClassVar[tuple[str, str]] = ("", "")

    def may(self, run: CaseRun, ref: Ref, record: Record, user: str) -> bool:
        """Whether ``user`` may do it to ``record``."""
        raise NotImplementedError

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        ref, record = _record(run, ref)
        for user in expected:
            if self.may(run, ref, record, user) != self.wanted:
                yes, no = self.words[:: 1 if self.wanted else -1]
                raise CaseFailed(say(yes, run.language, user=user), say(no, run.language, user=user))


class ReadableBy(AccessBy):
    """The user reads the record through the read path."""

    key = "readable_by"
    words = ("expect.readable", "expect.not_readable")

    def may(self, run: CaseRun, ref: Ref, record: Record, user: str) -> bool:
        return _readable(run, ref, user)


class NotReadableBy(ReadableBy):
    key = "not_readable_by"
    wanted = False


class EditableBy(AccessBy):
    """The record is in the user's read scope and in their edit scope."""

    key = "editable_by"
    words = ("expect.editable", "expect.not_editable")

    def may(self, run: CaseRun, ref: Ref, record: Record, user: str) -> bool:
        return _readable(run, ref, user) and run.crm.principal(user).in_scope(
            ref.object, "edit", record.get("owner_id")
        )


class NotEditableBy(EditableBy):
    key = "not_editable_by"
    wanted = False


class HiddenFrom(Expectation):
    key = "hidden_from"
    hidden = True

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        ref, _ = _record(run, ref)
        object_name = ref.object
        for user, fields in expected.items():
            principal = run.crm.principal(user)
            for name in fields:
                if principal.can_see(object_name, name) == self.hidden:
                    yes, no = ("expect.hidden", "expect.visible")[:: 1 if self.hidden else -1]
                    raise CaseFailed(
                        say(yes, run.language, field=name, user=user), say(no, run.language, field=name, user=user)
                    )


class VisibleTo(HiddenFrom):
    key = "visible_to"
    hidden = False


# --- reports ---------------------------------------------------------------------------------------------
class ReportFigures(Expectation):
    """A report's figures as one user sees them: ``groups`` by the group's label (levels joined with
    `` / ``) or raw key, each measure by its key (``count``, ``sum_amount``…); numbers compare as
    numbers (a rate as a fraction), text with the figure as shown."""

    key = "report"

    def check(self, run: CaseRun, outcome: Outcome, ref: Ref | None, expected: Any) -> None:
        name, user = expected["name"], expected["user"]
        try:
            with run.crm.session(user) as session:
                result = reports.run(session, name, None, run.language)
        except TrellisError as error:
            raise CaseFailed(
                say("expect.report", run.language, report=name, user=user, group="", measure="", value="…"),
                describe_error(error, run.language),
            ) from None
        rows = {_group_name(row.keys, labels=True): row for row in result.rows}
        raws = {_group_name(row.keys, labels=False): row for row in result.rows}
        wanted = [(group, figures) for group, figures in (expected.get("groups") or {}).items()]
        if "total" in expected:
            wanted.append((None, expected["total"]))
        for group, figures in wanted:
            row = result.total if group is None else rows.get(str(group)) or raws.get(str(group))
            shown_group = say("total", run.language) if group is None else str(group)
            for measure, value in figures.items():
                words = say(
                    "expect.report",
                    run.language,
                    report=name,
                    user=user,
                    group=shown_group,
                    measure=measure,
                    value=value,
                )
                if row is None:
                    raise CaseFailed(
                        words, say("expect.no_group", run.language, group=group, groups=", ".join(rows) or "—")
                    )
                figure = row.figure(measure)
                actual = None if figure is None else figure.value
                if figure is None or not _figure_is(figure.value, figure.text, value):
                    raise CaseFailed(
                        words,
                        say(
                            "expect.report",
                            run.language,
                            report=name,
                            user=user,
                            group=shown_group,
                            measure=measure,
                            value=figure.text if figure is not None and figure.text else actual,
                        ),
                    )


def _group_name(keys: Sequence[Any], labels: bool) -> str:
    return " / ".join(str(k.label if labels else k.raw) for k in keys)


def _figure_is(value: Any, text: str, expected: Any) -> bool:
    if isinstance(expected, str):
        return text == expected
    if expected is None or value is None:
        return expected is None and value in (None, 0)
    return _number(value) == _number(expected)


# --- errors --------------------------------------------------------------------------------------------
def describe_error(error: TrellisError, language: str) -> str:
    """A refusal in the reader's words: each field's code and message."""
    if isinstance(error, ValidationFailed):
        return "; ".join(
            say("error", language, code=e.code, field=name, message=e.message)
            if name != "_record"
            else say("error_record", language, code=e.code, message=e.message)
            for name, problems in error.errors.items()
            for e in problems
        )
    return say("error_record", language, code=error.code, message=str(error))


def error_matches(error: TrellisError, wanted: Mapping[str, Any]) -> bool:
    """Whether ``error`` is the refusal ``wanted`` (``code``, optionally ``field`` and part of ``message``)."""
    if isinstance(error, ValidationFailed):
        found = [(name, e.code, e.message) for name, problems in error.errors.items() for e in problems]
        found.append(("", error.code, str(error)))
    else:
        found = [("", error.code, str(error))]
    return any(
        code == wanted["code"]
        and ("field" not in wanted or name == wanted["field"])
        and wanted.get("message", "") in message
        for name, code, message in found
    )


#: Every expectation but ``error`` (and ``record``, which says which record the others read), by key.
EXPECTATIONS: dict[str, Expectation] = {
    e.key: e
    for e in (
        Exists(),
        Values(),
        Shown(),
        StageIs(),
        OwnerIs(),
        ApprovalIs(),
        Notified(),
        NotNotified(),
        Webhooks(),
        Fired(),
        Records(),
        Imported(),
        ReadableBy(),
        NotReadableBy(),
        EditableBy(),
        NotEditableBy(),
        HiddenFrom(),
        VisibleTo(),
        ReportFigures(),
    )
}
