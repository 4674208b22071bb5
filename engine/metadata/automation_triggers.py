"""The config half of each automation trigger kind: how ``on:`` is written and checked.

One object per kind, registered once in ``TRIGGERS``; the rule compiler
(``engine.metadata.automation``) finds a rule's kind there and asks it to compile the
value. What a kind does at run time (match a write, sweep what is due, say what a dry
run would do) is its runtime half, ``engine.runtime.workflow.triggers``, registered
under the same name. Codes: T-E120 an unknown or malformed trigger, T-E121 a
schedule's ``from`` that is not a date or datetime field, T-E122 a duration that does
not parse, T-E126 a cron expression that does not parse, T-E032 an unknown field or stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.kinds import Kinds, placeholder
from engine.metadata.model import Trigger

if TYPE_CHECKING:
    from engine.metadata.automation import RuleCompiler

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: Any) -> int | None:
    """Seconds in a duration such as ``24h``, ``5d``, ``2w``, ``30m``; None when it does not parse."""
    match = _DURATION.match(str(text)) if isinstance(text, str | int) else None
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class TriggerSpec:
    """One trigger kind as the config language knows it.

    ``bare`` kinds are written as a word (``on: created``), the others as a mapping of
    their name to a value (``on: {changed: [stage]}``) whose JSON Schema is ``schema``.
    ``needs_object``: a rule of the kind must name an object; ``sees_old``: its
    expressions may read ``old['field']`` (the values before an update).
    """

    name: str = ""
    bare: bool = False
    needs_object: bool = True
    sees_old: bool = False
    schema: Mapping[str, Any] | None = None
    #: Names its expressions may read besides the record's fields (``event`` for ``on: {event: …}``).
    names: frozenset[str] = frozenset()

    @placeholder
    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        """The trigger ``value`` (None for a bare kind) describes, or None after reporting why not."""
        raise NotImplementedError

    def indexed_fields(self, trigger: Trigger) -> tuple[str, ...]:
        """Fields of the rule's object that the worker reads by range for this trigger (to be indexed)."""
        return ()


class OnWrite(TriggerSpec):
    """``created``, ``updated``, ``deleted``: every write of that sort. A ``deleted`` rule's
    expressions read ``purge``: None for an ordinary delete, the retention policy (``years``,
    ``from``, ``before``) when retention purged the record."""

    bare = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.sees_old = name == "updated"
        if name == "deleted":  # a retention purge or an ordinary delete (None)
            self.names = frozenset({"purge"})

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        return Trigger(kind=self.name)


class Changed(TriggerSpec):
    """``{changed: [fields]}`` (and the rule's ``to:``): an update changing one of the fields."""

    name = "changed"
    sees_old = True

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        fields = value if isinstance(value, list) else [value]
        rc.check_fields(fields, where)
        return Trigger(kind="changed", fields=tuple(fields), to=rc.spec.get("to"), has_to="to" in rc.spec)


class StageChange(TriggerSpec):
    """``{stage_entered: stages}`` / ``{stage_left: stages}``: a move of the pipeline's stage."""

    sees_old = True

    def __init__(self, name: str) -> None:
        self.name = name

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        pipeline = rc.obj.pipeline if rc.obj else None
        if pipeline is None:
            rc.issue(
                "T-E120",
                where,
                Words(f"`{self.name}` needs an object with a pipeline", f"`{self.name}` 需要一个有销售管道的对象"),
                Words("add a `pipeline:` or use `changed`", "请加上 `pipeline:`，或改用 `changed`"),
            )
            return None
        stages = [] if value in (None, "any") else (value if isinstance(value, list) else [value])
        known = {s.key for s in pipeline.all_stages()}
        for i, stage in enumerate(stages):
            if stage not in known:
                rc.issue(
                    "T-E032",
                    (*where, i),
                    Words(f"unknown stage `{stage}`", f"未知阶段 `{stage}`"),
                    Words("name a stage of the pipeline", "请指定销售管道中的阶段"),
                )
        return Trigger(kind=self.name, stages=tuple(stages))


class Approval(TriggerSpec):
    """``{approval: approved | rejected | decided}``: a decision on a pending approval."""

    name = "approval"

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        if value not in ("approved", "rejected", "decided"):
            rc.issue(
                "T-E120",
                where,
                Words(
                    f"`approval` is approved, rejected or decided, not {value!r}",
                    f"`approval` 只能是 approved、rejected 或 decided，不能是 {value!r}",
                ),
            )
            return None
        return Trigger(kind="approval", decision=value)


class Schedule(TriggerSpec):
    """``{schedule: {after | before: DURATION, from: DATE_FIELD, yearly, window}}``."""

    name = "schedule"

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        spec = value if isinstance(value, dict) else {}
        if ("after" in spec) == ("before" in spec) or "from" not in spec:
            rc.issue(
                "T-E120",
                where,
                Words(
                    "a schedule needs `from:` (a date field) and either `after:` or `before:`",
                    "计划需要 `from:`（一个日期字段），以及 `after:` 或 `before:` 二者之一",
                ),
                Words(
                    "e.g. `{schedule: {after: 24h, from: created_at}}`",
                    "例如 `{schedule: {after: 24h, from: created_at}}`",
                ),
            )
            return None
        key = "after" if "after" in spec else "before"
        seconds = parse_duration(spec[key])
        if seconds is None:
            rc.issue(
                "T-E122",
                (*where, key),
                Words(f"{spec[key]!r} is not a duration", f"{spec[key]!r} 不是时长"),
                Words("a number and m, h, d or w: 30m, 24h, 5d, 2w", "数字加 m、h、d 或 w：30m、24h、5d、2w"),
            )
            return None
        window = None
        if "window" in spec:
            window = parse_duration(spec["window"])
            if window is None:
                rc.issue(
                    "T-E122",
                    (*where, "window"),
                    Words(f"{spec['window']!r} is not a duration", f"{spec['window']!r} 不是时长"),
                    Words("e.g. 7d", "例如 7d"),
                )
        source = spec["from"]
        kind = rc.field_kind(source)
        if kind is None:
            rc.issue(
                "T-E032",
                (*where, "from"),
                Words(f"unknown field `{source}`", f"未知字段 `{source}`"),
                Words("name a date or datetime field", "请指定日期或日期时间字段"),
            )
            return None
        if kind not in ("date", "datetime"):
            rc.issue(
                "T-E121",
                (*where, "from"),
                Words(
                    f"`{source}` is {kind}, not a date or datetime", f"`{source}` 是 {kind} 类型，不是日期或日期时间"
                ),
                Words("schedules count from a date or datetime field", "计划从日期或日期时间字段起算"),
            )
            return None
        return Trigger(
            kind="schedule",
            offset_seconds=seconds if key == "after" else -seconds,
            from_field=source,
            yearly=bool(spec.get("yearly", False)),
            window_seconds=window,
        )

    def indexed_fields(self, trigger: Trigger) -> tuple[str, ...]:
        """The ``from`` field, and ``updated_at`` without a ``window`` (the sweep's checkpoint
        reads the records written since); none for yearly rules (matched by month and day)."""
        if trigger.yearly or trigger.from_field is None:
            return ()
        return (trigger.from_field, *(("updated_at",) if trigger.window_seconds is None else ()))


class Cron(TriggerSpec):
    """``{cron: "MIN HOUR DAY MONTH WEEKDAY"}``: at the times of a cron expression (no object needed)."""

    name = "cron"
    needs_object = False

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        try:
            from croniter import croniter

            valid = isinstance(value, str) and croniter.is_valid(value)
        except ImportError:  # pragma: no cover - croniter is a declared dependency
            valid = isinstance(value, str)
        if not valid:
            rc.issue(
                "T-E126",
                where,
                Words(f"{value!r} is not a cron expression", f"{value!r} 不是 cron 表达式"),
                Words(
                    'five fields: minute hour day month weekday, e.g. "0 9 * * 1" (Mondays 09:00)',
                    '五个字段：分 时 日 月 星期，例如 "0 9 * * 1"（每周一 09:00）',
                ),
            )
            return None
        return Trigger(kind="cron", cron=value)


#: Every trigger kind of the config language, by name.
class OnEvent(TriggerSpec):
    """``{event: email_clicked}``: an engagement event of the record (issue 16 §3: an open, a
    click, an unsubscribe, a bounce, a form submission, a visit the website reported). Its
    expressions read the event as ``event['campaign']``, ``event['url']``, ``event['count']``
    (how many events of this kind the record has had, this one included). T-E234: an unknown kind."""

    name = "event"
    schema = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
    names = frozenset({"event"})

    def compile(self, rc: RuleCompiler, value: Any, where: tuple) -> Trigger | None:
        from engine.metadata.campaigns import EVENT_KINDS

        if value not in EVENT_KINDS:
            rc.issue(
                "T-E234",
                where,
                Words(f"unknown event kind {value!r}", f"未知事件类型 {value!r}"),
                did_you_mean(value, EVENT_KINDS)
                or Words(f"one of: {', '.join(EVENT_KINDS)}", f"请写其中之一：{', '.join(EVENT_KINDS)}"),
            )
            return None
        return Trigger(kind="event", event=str(value))


TRIGGERS: Kinds[TriggerSpec] = Kinds("trigger")
for _spec in (
    OnWrite("created"),
    OnWrite("updated"),
    OnWrite("deleted"),
    Changed(),
    StageChange("stage_entered"),
    StageChange("stage_left"),
    Approval(),
    Schedule(),
    Cron(),
    OnEvent(),
):
    TRIGGERS.register(_spec)


def bare_names() -> tuple[str, ...]:
    """The kinds written as a word (``on: created``)."""
    return tuple(k.name for k in TRIGGERS if k.bare)


def mapped_names() -> tuple[str, ...]:
    """The kinds written as a mapping (``on: {changed: stage}``)."""
    return tuple(k.name for k in TRIGGERS if not k.bare)
