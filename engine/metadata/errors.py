"""Config errors: every problem found, each with a stable code and a location.

Codes (documented in docs/config-reference.md#error-codes, each with a test):

========  =============================================================
T-E001    the file cannot be read or parsed (YAML/JSON syntax)
T-E002    a file named by ``extends`` does not exist
T-E003    ``extends`` forms a cycle
T-E004    a key appears twice in the same mapping
T-E005    a config or template file is larger than 1 MiB
T-E006    a config or template path is not a regular file (a device, a folder, a pipe)
T-E007    a YAML tag that is not plain data (``!!python/name:…``, ``!!binary``, ``!!set``…)
T-E008    mappings and lists are nested more than 50 levels deep
T-E009    a file holds more than 200,000 values once YAML aliases are expanded
T-E010    unknown key (not in the schema)
T-E011    a value has the wrong type or is not an allowed value
T-E012    a required key is missing
T-E013    a file named by ``extends`` is not a Trellis config (not a mapping)
T-E014    ``extends`` goes more than 20 templates deep
T-E020    a name is not a valid identifier
T-E021    a name is reserved by Trellis
T-E030    a lookup names an unknown object
T-E031    a field names an unknown picklist
T-E032    a reference names an unknown field
T-E033    a dependent picklist's parent is not a picklist field / not related
T-E034    a property does not apply to the field's type
T-E035    a required property of the field's type is missing
T-E040    an expression does not parse
T-E041    an expression names an unknown field
T-E042    an expression calls an unknown function
T-E043    formulas depend on each other in a cycle
T-E044    an expression exceeds a limit whatever the record (``9**9**9``, ``'x' * 10**9``)
T-E050    a default does not fit the field's type
T-E060    a key is declared twice in a list
T-E061    an overlay removes something the template does not declare
T-E070    an invalid regular expression
T-E071    an unknown time zone
T-E072    min is greater than max
T-E073    a migrate_values mapping names a value not in the picklist
T-E074    a pattern uses a feature RE2 (linear time) lacks: backreferences, lookaround
T-E080    a role inherits from an unknown role
T-E081    roles inherit from each other in a cycle
T-E082    an IP allow-list entry is not an IP network
T-E083    an encrypted field cannot be unique or indexed
T-E084    `merge: {keep: sum}` on a field that does not hold numbers
T-E085    `merge: {keep: longest}` on a field that does not hold text
T-E090    an approval on stage skips names an object without a pipeline
T-E091    an approval names no approver, or several ways at once
T-E092    an approver names an unknown role
T-E093    a pipeline's ``when`` names a value its ``by`` field lacks, or one another pipeline claims
T-E094    an approval's ``applies_to`` is given to a rule that is not on ``change``
T-E120    an automation trigger is unknown or malformed
T-E121    a schedule counts from a field that is not a date or datetime
T-E122    a duration does not parse
T-E123    a notify action names an unknown template
T-E124    an automation action is unknown or malformed
T-E125    an automation action works on a field of the wrong type
T-E126    a cron expression does not parse
T-E127    an assign/convert action names an unknown rule or conversion
T-E128    a template does not parse, or a template variant is of a language not in settings.languages
T-E129    a template exceeds a rendering limit whatever the record (``range(10**7)``, a macro)
T-E130    an assignment or scoring rule names an unknown object
T-E131    an assignment's ``field`` is neither ``owner_id`` nor a user field
T-E132    an assignment pool is malformed or names an unknown role
T-E133    an assignment rule has no pool (neither ``pool`` nor territory ``rules``)
T-E134    an ``urgent_tag`` names a field that is not tags/multipicklist, or an unknown tag
T-E135    two automatic (``on: created``) assignment rules write the same field of one object
T-E136    a scoring ``field`` is not an integer field
T-E137    a scoring rule reads the score it computes
T-E138    two scorings compute the same field
T-E139    an ``open_when`` condition cannot be counted in the database
T-E140    an assignment pool's ``team: {from: PATH}`` is not a text/picklist field of the record or of a looked-up record
T-E141    an assignment's ``skip_when`` on a rule that does not run on create (no ``on: created``)
T-E160    a duplicate rule's criterion names an unknown field
T-E161    a duplicate rule's criterion names an unknown matching method
T-E162    a matching method does not fit the field's type
T-E163    a duplicate criterion's threshold is outside 0..1
T-E164    a threshold on a matching method that compares equal forms only
T-E165    a duplicate criterion on an encrypted field
T-E170    a report names an unknown object
T-E171    a report names an unknown field (group, measure, filter)
T-E172    a report groups by a field that cannot be grouped, or by more than two levels
T-E173    a date bucket (or ``period_field``) names a field that holds no dates
T-E174    a report measure does not fit its field (or names no kind, or ``weighted`` without probabilities)
T-E175    a report filter has an unknown operator or a value that does not fit its field
T-E176    a report sorts by neither one of its groups nor one of its measures
T-E177    a report's ``roles`` names an unknown role
T-E178    an unknown report kind
T-E179    a funnel or cycle time without a pipeline, with keys its kind does not take, or an unknown ``from_stage``
T-E183    a ``completeness`` report without ``fields``, or a ``target`` that is not a share (``85%``, 0–100)
T-E200    a subscription names no target, more than one, or an unknown one (``report: NAME``)
T-E201    a subscription's ``schedule`` cannot be read (``weekly: monday 08:00``, ``daily: "08:00"``, ``monthly: 1 08:00``)
T-E202    a subscription's ``roles`` names an unknown role
T-E203    a subscription's ``filters`` has a period that is no relative range, or an owner other than ``me``/``team``
T-E210    a web form names an unknown object
T-E211    a web form names an unknown field, or one Trellis computes
T-E212    a web form shows a field a public form cannot show (lookup, user, file…), shows one twice, or requires one it does not show
T-E213    a web form's fixed or campaign value does not fit its field
T-E214    a field the object requires is neither shown, fixed nor defaulted by the web form
T-E215    a web form captures into a field that is not text, or writes its campaign into a field that is no lookup, text or picklist
T-E216    a web form's origin is not ``scheme://host[:port]``, or its redirect is not an http(s) address
T-E217    ``on_duplicate: link`` without a ``link_field`` lookup to the same object, or a ``link_field`` without it
T-E218    a web form's rate limit cannot be read (``5 per minute;30 per hour``)
T-E219    a web form's honeypot is named like one of its inputs
T-E230    a segment names an unknown object
T-E231    a segment's ``filter`` names an unknown field
T-E232    a segment's ``filter`` has an unknown operator or a value its field cannot take
T-E233    a segment's object has no e-mail field, or its ``email`` is not an e-mail field
T-E234    an ``event`` trigger names an unknown event kind
T-E235    the ``campaign`` object lacks a field campaigns need (or it has the wrong type or status values, or a ``segment`` / ``template`` picklist value naming no segment / template)
T-E220    ``mail:`` names an unknown object or field
T-E221    a ``mail:`` field of the wrong type (or a ``direction`` picklist without ``inbound``/``outbound``)
T-E222    ``mail.log`` is no timeline activity, or has no lookup to a ``senders`` object
T-E223    a ``mail:`` ``set`` value its field does not take
T-E224    ``unknown_sender`` creates a record whose required fields nothing fills
T-E225    two mailboxes with the same address
T-E226    a mailbox's ``ca_file`` with ``tls_verify: false``
T-E270    ``retention`` with no ``years`` while ``settings.retention_years`` is not set
T-E271    ``retention.from`` names neither a field of the object nor a system date column
T-E272    ``retention.from`` names a field that is no date or datetime
T-E273    a retention approval (``retention.approval``, ``settings.retention_approval``) names an unknown role
T-E274    a retention approval names ``manager``: retention is run by the system, with no requester
T-E275    a retention approval's role lacks the ``approve`` permission
T-E276    a retention approval's role cannot read the object's records
T-E277    ``settings.retention_approval`` while no object's records ever expire
T-E184    a ``forecast`` report of an object without a pipeline, without a date ``close_date`` or a number ``amount``, or with keys it does not take; its keys on another kind
T-E185    a stage's ``forecast`` category on a won or lost stage
T-E186    a ``forecast`` report's ``quota`` that cannot be read (amounts, ``per``, its object's fields), or a quota on a report not grouped by owner
T-E187    a ``conversion`` report whose object no conversion converts, an unknown ``conversion``, an ``amount`` that is no number field of a linked target, or keys it does not take; ``conversion`` on another kind
T-E190    a dashboard widget names an unknown report
T-E191    a dashboard's ``roles`` names an unknown role
T-E192    an unknown dashboard widget kind, or a widget naming none or two of ``report``, ``kpi``, ``widget``
T-E193    two dashboards say ``default: true``
T-E194    a role is in the ``roles`` of two dashboards (two home dashboards)
T-E195    a widget ``width`` that is neither 1–12 nor small, medium, large
T-E196    a dashboard filter that is not ``period``, ``team`` or ``owner``, or a default it cannot take
T-E197    a widget key its kind does not take, or an ``object`` that does not fit the widget
T-E100    a conversion names an unknown object
T-E101    a conversion names an unknown field (or one Trellis computes)
T-E102    a conversion's ``@target`` or ``links`` names an undeclared or later target
T-E103    a conversion's link or ``@target`` field is not a lookup to that target's object
T-E104    a conversion's value cannot fit its field (type, picklist values, match)
T-E105    a conversion's expression does not parse or calls an unknown function
T-E110    ``timeline: true`` on an object no activity object points to
T-E111    an ``activity``/``task`` key names an unknown field
T-E112    an ``activity``/``task`` key names a field of the wrong type
T-E113    an ``on`` lookup does not point at a ``timeline: true`` object
T-E114    a task's ``done`` values do not fit its status field
T-E115    one object declares both ``activity`` and ``task``
T-E240    a webhook without ``secret_env`` and without ``unsigned: true`` (or with both)
T-E241    a template reads a field the object of a rule that sends it lacks (``{{ record.amuont }}``)
T-E242    a template uses an unknown filter
T-E243    a template uses ``include``, ``import``, ``from`` or ``extends``
T-E244    an approval's approver role can never decide it (no ``approve``, cannot read the records)
T-E245    a pipeline stage no record can reach from the first stage
T-E246    a stage requires a field every role that edits the object has hidden or read-only
T-E247    a number with more than 4,300 digits
T-E248    a template reads an attribute starting with ``_`` (``''.__class__``)
========  =============================================================

Warnings (``ConfigIssue.severity == "warning"``; ``trellis validate --strict`` makes them errors):

========  =============================================================
T-W001    a shared picklist no field uses
T-W002    a role that grants nothing (no object, no permission) and no role inherits from
========  =============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Location:
    """A place in a config file; line and column are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Words:
    """A config message or hint in every language Trellis speaks: ``Words(en, zh)``.

    The compiler's checks report each problem with one (``issue("T-E031", path, Words(f"…",
    f"…"))``); ``str()`` is the English text, so logs and tests that read ``message`` see English,
    and ``ConfigIssue.shown(language)`` writes the issue in the admin's language."""

    en: str
    zh: str

    def __str__(self) -> str:
        return self.en

    def __add__(self, other: object) -> Words:
        if isinstance(other, Words):
            return Words(self.en + other.en, self.zh + other.zh)
        if isinstance(other, str):
            return Words(self.en + other, self.zh + other)
        return NotImplemented


#: A message as a check gives it: ``Words`` in every language, or (not yet translated) English.
Text = str | Words


def english(text: Text | None) -> str | None:
    """The English of ``text`` (what ``ConfigIssue.message`` and ``hint`` hold)."""
    return None if text is None else str(text)


def chinese(text: Text | None) -> str | None:
    """The Chinese of ``text``, or None where it has none (shown in English then)."""
    return text.zh if isinstance(text, Words) else None


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config: code, where, what, and how to fix it.

    ``message`` and ``hint`` are English; ``message_zh`` and ``hint_zh`` the same in Chinese
    (``ConfigIssue.of`` fills both from ``Words``), shown by ``shown(language)``.
    ``severity`` is ``error`` (the config is refused) or ``warning`` (a ``T-W`` code: the config
    works, but something in it is probably a mistake; ``trellis validate --strict`` refuses it)."""

    code: str
    message: str
    location: Location | None = None
    path: str = ""
    hint: str | None = None
    severity: str = "error"
    message_zh: str | None = None
    hint_zh: str | None = None

    @classmethod
    def of(
        cls,
        code: str,
        message: Text,
        location: Location | None = None,
        path: str = "",
        hint: Text | None = None,
        severity: str = "error",
    ) -> ConfigIssue:
        """The issue ``code`` with ``message`` and ``hint`` given as ``Words`` (or English only)."""
        return cls(code, str(message), location, path, english(hint), severity, chinese(message), chinese(hint))

    def __str__(self) -> str:
        return self.shown("en")

    def shown(self, language: str) -> str:
        """The issue as the CLI prints it, in ``language`` (English where it has no translation)."""
        zh = language == "zh"
        message = (self.message_zh if zh else None) or self.message
        hint = (self.hint_zh if zh else None) or self.hint
        where = f"{self.location}: " if self.location else ""
        path = f" {self.path}:" if self.path else ""
        label = "提示" if zh else "hint"
        hint_line = f"\n    {label}: {hint}" if hint else ""
        return f"{where}{self.code}{path} {message}{hint_line}"


class ConfigError(Exception):
    """A config has one or more problems; ``issues`` lists them all.

    ``languages`` are the config's ``settings.languages`` as far as they could be read (the
    first is the language its errors are shown in, unless ``TRELLIS_LANG`` says another)."""

    def __init__(self, issues: list[ConfigIssue], languages: tuple[str, ...] = ()) -> None:
        ordered = sorted(issues, key=issue_order)
        #: The errors; ``warnings`` holds the warnings found alongside them.
        self.issues = [issue for issue in ordered if issue.severity == "error"]
        self.warnings = [issue for issue in ordered if issue.severity != "error"]
        self.languages = languages
        count = len(self.issues)
        super().__init__(
            f"{count} error{'s' if count != 1 else ''} in the config:\n"
            + "\n".join(str(issue) for issue in self.issues)
        )


def declared_languages(tree: object) -> tuple[str, ...]:
    """``settings.languages`` of a config's parsed tree, as far as it can be read (else ``()``)."""
    settings = tree.get("settings") if isinstance(tree, dict) else None
    languages = settings.get("languages") if isinstance(settings, dict) else None
    if not isinstance(languages, list):
        return ()
    return tuple(str(language) for language in languages if isinstance(language, str))


def issue_order(issue: ConfigIssue) -> tuple[str, int, int]:
    """Issues sort by file, line and column (those without a place first)."""
    return (issue.location.file, issue.location.line, issue.location.column) if issue.location else ("", 0, 0)


def format_path(path: tuple) -> str:
    """``('objects', 'lead', 'rules', 0, 'when')`` → ``objects.lead.rules[0].when``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def did_you_mean(word: object, candidates: Iterable[object]) -> Words | None:
    """A hint naming the closest candidate, if one is close enough."""
    import difflib

    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return Words(f"did you mean `{matches[0]}`?", f"是否想写 `{matches[0]}`？") if matches else None


class IssueSink(Protocol):
    """What collects a config's issues (the compiler)."""

    def issue(self, code: str, path: tuple, message: Text, hint: Text | None = None, key: bool = False) -> None: ...

    def warn(self, code: str, path: tuple, message: Text, hint: Text | None = None, key: bool = False) -> None: ...


class SectionChecker:
    """The base of a section's checker (one report, form, dashboard…): ``issue`` reports a
    problem at a place inside ``path`` through the compiler ``c``, and ``ok`` says whether what
    was checked so far had none, so that a check reports every issue at once and builds its part
    of the model only when ``ok``."""

    def __init__(self, compiler: IssueSink, path: tuple = ()) -> None:
        self.c, self.path, self.ok = compiler, path, True

    def issue(self, code: str, where: tuple, message: Text, hint: Text | None = None) -> None:
        """Report ``message`` (code ``code``, an optional ``hint``) at ``path + where``."""
        self.ok = False
        self.c.issue(code, (*self.path, *where), message, hint)
