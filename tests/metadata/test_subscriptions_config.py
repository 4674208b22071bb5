"""E-mail subscriptions in the config (issue 15 §4, S45): schedules read once and their next
times (in a zone without DST, across the week and month boundaries, and across a DST change),
what a rule compiles into, and every error code T-E200…T-E203 with its path, message and hint.
Pure Python: no database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.metadata.model import SubscriptionFilters
from engine.metadata.schedules import Schedule, ScheduleError, parse_schedule

pytestmark = pytest.mark.no_database

SHANGHAI = ZoneInfo("Asia/Shanghai")  # no DST
UTC = dt.UTC


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"weekly": "monday 08:00"}, "weekly: monday 08:00"),
        ({"weekly": "Fri 7:05"}, "weekly: friday 07:05"),
        ({"daily": "08:00"}, "daily: 08:00"),
        ({"monthly": "1 08:00"}, "monthly: 1 08:00"),
        ("monthly: 31 23:59", "monthly: 31 23:59"),
    ],
)
def test_schedules_are_read_once_into_one_stored_form(spec, text):
    assert parse_schedule(spec).text == text
    assert parse_schedule(text) == parse_schedule(spec)


def test_the_next_time_in_the_company_zone_across_the_week_and_month_boundaries():
    weekly = parse_schedule({"weekly": "monday 08:00"})
    # Wednesday 22 April 2026 10:00 in Shanghai → Monday 27 April 08:00 local = 00:00 UTC
    assert weekly.next_after(local(2026, 4, 22, 10, 0), SHANGHAI) == dt.datetime(2026, 4, 27, 0, 0, tzinfo=UTC)
    # Sunday 23:30 local is still the week before; the Monday after is the next day
    assert weekly.next_after(local(2026, 5, 3, 23, 30), SHANGHAI) == local(2026, 5, 4, 8, 0)
    # at the due time itself the next one is a week later (strictly after)
    assert weekly.next_after(local(2026, 5, 4, 8, 0), SHANGHAI) == local(2026, 5, 11, 8, 0)
    # Monday 07:59 local is Sunday 23:59 UTC: the local calendar counts, not UTC's
    assert weekly.next_after(local(2026, 5, 4, 7, 59), SHANGHAI) == local(2026, 5, 4, 8, 0)
    daily = parse_schedule({"daily": "08:00"})
    assert daily.next_after(local(2026, 12, 31, 9, 0), SHANGHAI) == local(2027, 1, 1, 8, 0)
    monthly = parse_schedule({"monthly": "31 08:00"})
    assert monthly.next_after(local(2026, 4, 2), SHANGHAI) == local(2026, 4, 30, 8, 0)  # the last day of April
    assert monthly.next_after(local(2026, 4, 30, 9), SHANGHAI) == local(2026, 5, 31, 8, 0)
    assert parse_schedule({"monthly": "1 00:00"}).next_after(local(2026, 2, 1), SHANGHAI) == local(2026, 3, 1)


def test_a_time_a_dst_change_skips_runs_after_the_gap():
    new_york = ZoneInfo("America/New_York")
    daily = Schedule("daily", 2, 30)
    # 8 March 2026: 02:00 EST jumps to 03:00 EDT; 02:30 runs at 03:30 EDT (07:30 UTC)
    assert daily.next_after(dt.datetime(2026, 3, 8, 5, tzinfo=UTC), new_york) == dt.datetime(
        2026, 3, 8, 7, 30, tzinfo=UTC
    )
    assert daily.next_after(dt.datetime(2026, 3, 8, 8, tzinfo=UTC), new_york) == dt.datetime(
        2026, 3, 9, 6, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("spec", "message", "hint"),
    [
        ({"weekly": "moonday 08:00"}, "`moonday` is not a day of the week", "monday, tuesday"),
        ({"weekly": "monday"}, "does not say when", "weekly: monday 08:00"),
        ({"daily": "8am"}, "`8am` is not a time of day", "24-hour clock"),
        ({"monthly": "32 08:00"}, "`32` is not a day of the month", "1 to 31"),
        ({"hourly": "08:00"}, "`hourly` is not a frequency", "daily, weekly, monthly"),
        ({}, "a schedule is one of", "weekly"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong_and_how_to_write_it(spec, message, hint):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(spec)
    assert message in caught.value.message and hint in caught.value.hint


BASE = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text, required: true}
roles:
  rep: {objects: {deal: {read: own}}}
  sales_manager: {objects: {deal: {read: subtree}}}
reports:
  by_owner: {object: deal, group_by: [owner_id]}
subscriptions:
"""


def test_a_rule_compiles_into_the_model(write_config):
    config = load_config(
        write_config(
            BASE
            + """
  weekly_pipeline:
    report: by_owner
    label: {en: Weekly pipeline, zh: 每周商机}
    schedule: {weekly: "monday 08:00"}
    roles: [sales_manager]
    filters: {period: this_month, owner: team, team: east}
"""
        )
    )
    rule = config.subscriptions["weekly_pipeline"]
    assert (rule.target_kind, rule.target, rule.roles) == ("report", "by_owner", ("sales_manager",))
    assert rule.schedule == Schedule("weekly", 8, 0, 0) and rule.label.get("zh") == "每周商机"
    assert rule.filters == SubscriptionFilters("this_month", "team", "east")


@pytest.mark.parametrize(
    ("entry", "code", "path", "message", "hint"),
    [
        (
            "{report: by_ownr, schedule: {daily: '08:00'}, roles: [rep]}",
            "T-E200",
            "subscriptions.s.report",
            "unknown report `by_ownr`",
            "did you mean `by_owner`?",
        ),
        (
            "{schedule: {daily: '08:00'}, roles: [rep]}",
            "T-E200",
            "subscriptions.s",
            "name it with `report` or `dashboard`",
            "report:",
        ),
        (
            "{report: by_owner, dashboard: home, schedule: {daily: '08:00'}, roles: [rep]}",
            "T-E200",
            "subscriptions.s",
            "not 2 of them",
            "report:",
        ),
        (
            "{dashboard: hom, schedule: {daily: '08:00'}, roles: [rep]}",
            "T-E200",
            "subscriptions.s.dashboard",
            "unknown dashboard `hom`",
            "name one declared under `dashboards`",
        ),
        (
            "{report: by_owner, schedule: {weekly: 'someday 08:00'}, roles: [rep]}",
            "T-E201",
            "subscriptions.s.schedule",
            "`someday` is not a day of the week",
            "monday",
        ),
        (
            "{report: by_owner, schedule: {daily: '08:00'}, roles: [sales_manger]}",
            "T-E202",
            "subscriptions.s.roles[0]",
            "unknown role `sales_manger`",
            "did you mean `sales_manager`?",
        ),
        (
            "{report: by_owner, schedule: {daily: '08:00'}, roles: [rep], filters: {period: this_weak}}",
            "T-E203",
            "subscriptions.s.filters.period",
            "`this_weak` is not a relative period",
            "did you mean `this_week`?",
        ),
        (
            "{report: by_owner, schedule: {daily: '08:00'}, roles: [rep], filters: {owner: everyone}}",
            "T-E203",
            "subscriptions.s.filters.owner",
            "`everyone` is not an owner",
            "`me`",
        ),
    ],
)
def test_each_error_has_its_code_path_message_and_hint(write_config, entry, code, path, message, hint):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(BASE + f"  s: {entry}\n"))
    (issue,) = [i for i in caught.value.issues if i.code == code]
    assert issue.path == path and message in issue.message and hint in (issue.hint or ""), issue
    assert issue.location.line > 0


def test_the_schema_refuses_unknown_keys_and_a_schedule_of_two_frequencies(write_config):
    with pytest.raises(ConfigError) as caught:
        load_config(
            write_config(
                BASE
                + "  s: {report: by_owner, schedule: {daily: '08:00', weekly: 'monday 08:00'}, roles: [rep], to: me}\n"
            )
        )
    found = {(i.code, i.path) for i in caught.value.issues}
    assert found == {("T-E011", "subscriptions.s.schedule"), ("T-E010", "subscriptions.s.to")}
