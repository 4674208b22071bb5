"""Compiling ``subscriptions:`` (issue 15 §4, S45): rules that send a report by e-mail, on a
schedule, to every user of some roles, each copy rendered for its recipient.

```yaml
subscriptions:
  weekly_pipeline:
    report: deals_by_stage
    schedule: {weekly: "monday 08:00"}
    roles: [sales_manager]
    filters: {period: this_month, owner: team}
```

What a subscription sends is its *target*: one key naming a kind of target and its name
(``report: deals_by_stage``). The kinds are ``TARGETS`` (``kinds.Kinds``): a kind says which
section of the compiled config holds its names, so a ``dashboard`` target is one more
registered entry here (and one renderer in ``engine.runtime.subscriptions.targets``).

Checks, each with its code: T-E200 no target, more than one, or an unknown one; T-E201 a
schedule that cannot be read (``engine.metadata.schedules``); T-E202 an unknown role; T-E203
a filter that cannot be applied (a period that is no relative range, an owner other than
``me``/``team``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import SectionChecker, Words, did_you_mean
from engine.metadata.filters import PERIODS
from engine.metadata.kinds import Kinds
from engine.metadata.model import Label, Subscription, SubscriptionFilters
from engine.metadata.schedules import ScheduleError, parse_schedule

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: The owners a subscription's filter may narrow to (``Overrides.owner``).
OWNERS = ("me", "team")


@dataclass(frozen=True)
class TargetKind:
    """A kind of thing a subscription sends: its key in the config (``report``) and the
    config section whose names it takes (``reports``); ``zh`` is what a Chinese error message
    calls it (its key when empty)."""

    name: str
    section: str
    zh: str = ""


#: The kinds of subscription target, by the key that names one.
TARGETS: Kinds[TargetKind] = Kinds("subscription target")
TARGETS.register(TargetKind("report", "reports", "报表"))
TARGETS.register(TargetKind("dashboard", "dashboards", "仪表板"))


def with_targets(schema: dict) -> dict:
    """``schema`` with a key for every registered target kind (schema.json lists ``report``;
    a kind registered since is accepted as a name, checked by ``compile_subscriptions``)."""
    out = copy.deepcopy(schema)
    properties = out["$defs"]["subscription"]["properties"]
    for kind in TARGETS:
        properties.setdefault(kind.name, {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"})
    return out


def compile_subscriptions(
    compiler: Compiler, specs: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]], roles: set[str]
) -> dict[str, Subscription]:
    """Every entry of ``subscriptions:`` that checks, by name. ``sections`` are the compiled
    sections targets are named in (``{"reports": …}``)."""
    out: dict[str, Subscription] = {}
    for name, spec in specs.items():
        found = _Checker(compiler, ("subscriptions", name)).subscription(name, spec, sections, roles)
        if found is not None:
            out[name] = found
    return out


class _Checker(SectionChecker):
    """Checks one subscription, reporting every issue at once."""

    c: Compiler

    def subscription(
        self, name: str, spec: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]], roles: set[str]
    ) -> Subscription | None:
        target = self.target(spec, sections)
        schedule = None
        try:
            schedule = parse_schedule(spec.get("schedule") or {})
        except ScheduleError as exc:
            self.issue("T-E201", ("schedule",), exc.words, exc.hint_words)
        for index, role in enumerate(spec.get("roles") or []):
            if role not in roles:
                self.issue(
                    "T-E202",
                    ("roles", index),
                    Words(f"unknown role `{role}`", f"未知角色 `{role}`"),
                    did_you_mean(role, roles)
                    or Words("name a role declared under `roles`", "请指定在 `roles` 下声明的角色"),
                )
        filters = self.filters(spec.get("filters") or {})
        if not self.ok or target is None or schedule is None:
            return None
        return Subscription(
            name=name,
            target_kind=target[0],
            target=target[1],
            schedule=schedule,
            roles=tuple(spec.get("roles") or ()),
            label=Label.of(spec["label"]) if spec.get("label") else None,
            filters=filters,
        )

    def target(self, spec: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]]) -> tuple[str, str] | None:
        """T-E200: exactly one target key, naming something its section declares (one that
        failed its own checks is reported there, not called unknown here)."""
        named = [kind for kind in TARGETS if kind.name in spec]
        if len(named) != 1:
            keys = " or ".join(f"`{k}`" for k in TARGETS.names())
            keys_zh = " 或 ".join(f"`{k}`" for k in TARGETS.names())
            self.issue(
                "T-E200",
                (),
                Words(
                    f"a subscription sends one thing: name it with {keys}"
                    + (f", not {len(named)} of them" if named else ""),
                    f"一个订阅只发送一样东西：请用 {keys_zh} 之一指定" + (f"，而不是 {len(named)} 个" if named else ""),
                ),
                Words("e.g. `report: deals_by_stage`", "例如 `report: deals_by_stage`"),
            )
            return None
        kind = named[0]
        value = spec[kind.name]
        known = sections.get(kind.section) or {}
        declared = self.c.tree.get(kind.section) or {}
        if value not in known and value in declared:
            return None  # declared, but refused by its own checks (reported there)
        if value not in known:
            self.issue(
                "T-E200",
                (kind.name,),
                Words(f"unknown {kind.name} `{value}`", f"未知的{kind.zh or kind.name} `{value}`"),
                did_you_mean(value, known)
                or Words(
                    f"name one declared under `{kind.section}`",
                    f"请指定在 `{kind.section}` 下声明的{kind.zh or kind.name}",
                ),
            )
            return None
        return kind.name, value

    def filters(self, spec: Mapping[str, Any]) -> SubscriptionFilters:
        """T-E203: a period is a relative range; an owner is ``me`` or ``team``."""
        period, owner = spec.get("period"), spec.get("owner")
        if period is not None and period not in PERIODS:
            self.issue(
                "T-E203",
                ("filters", "period"),
                Words(f"`{period}` is not a relative period", f"`{period}` 不是相对时间段"),
                did_you_mean(period, PERIODS)
                or Words(f"use one of: {', '.join(PERIODS)}", f"请使用其中之一：{', '.join(PERIODS)}"),
            )
        if owner is not None and owner not in OWNERS:
            self.issue(
                "T-E203",
                ("filters", "owner"),
                Words(f"`{owner}` is not an owner a subscription narrows to", f"`{owner}` 不是订阅可筛选的负责人"),
                Words(
                    "use `me` (the recipient's records) or `team` (their team's)",
                    "请用 `me`（收件人的记录）或 `team`（其团队的记录）",
                ),
            )
        return SubscriptionFilters(period, owner, spec.get("team"))
