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

from engine.metadata.errors import SectionChecker, did_you_mean
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
    config section whose names it takes (``reports``)."""

    name: str
    section: str


#: The kinds of subscription target, by the key that names one.
TARGETS: Kinds[TargetKind] = Kinds("subscription target")
TARGETS.register(TargetKind("report", "reports"))
TARGETS.register(TargetKind("dashboard", "dashboards"))


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
                    f"unknown role `{role}`",
                    did_you_mean(role, roles) or "name a role declared under `roles`",
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
        """T-E200: exactly one target key, naming something its section declares."""
        named = [kind for kind in TARGETS if kind.name in spec]
        if len(named) != 1:
            keys = " or ".join(f"`{k}`" for k in TARGETS.names())
            self.issue(
                "T-E200",
                (),
                f"a subscription sends one thing: name it with {keys}"
                + (f", not {len(named)} of them" if named else ""),
                "e.g. `report: deals_by_stage`",
            )
            return None
        kind = named[0]
        value = spec[kind.name]
        known = sections.get(kind.section) or {}
        if value not in known:
            self.issue(
                "T-E200",
                (kind.name,),
                f"unknown {kind.name} `{value}`",
                did_you_mean(value, known) or f"name one declared under `{kind.section}`",
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
                f"`{period}` is not a relative period",
                did_you_mean(period, PERIODS) or f"use one of: {', '.join(PERIODS)}",
            )
        if owner is not None and owner not in OWNERS:
            self.issue(
                "T-E203",
                ("filters", "owner"),
                f"`{owner}` is not an owner a subscription narrows to",
                "use `me` (the recipient's records) or `team` (their team's)",
            )
        return SubscriptionFilters(period, owner, spec.get("team"))
