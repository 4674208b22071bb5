"""The timeline keys of the config language (S25): ``timeline``, ``activity``, ``task``.

One test per error code T-E110…T-E115 (code, ``file:line:column``, path, hint), and
the model a valid config compiles into.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.metadata import ConfigError, load_config
from engine.metadata.model import SYSTEM_COLUMNS
from tests.conftest import CONFIGS

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
objects:
  account:
    timeline: true
    fields:
      name: {type: text, required: true}
  call:
    activity: {at: at, kind: method, summary: notes}
    fields:
      account: {type: lookup, object: account}
      other: {type: lookup, object: call}
      at: {type: datetime, required: true}
      method: {type: picklist, values: [phone, visit]}
      notes: {type: textarea}
      done: {type: boolean}
  todo:
    task: {due: due, assignee: owner_id, status: status, done: [done], remind: remind_at, subject: subject}
    fields:
      subject: {type: text, required: true}
      due: {type: date}
      remind_at: {type: datetime}
      status: {type: picklist, values: [open, done]}
      account: {type: lookup, object: account}
      helper: {type: user}
"""


@pytest.fixture
def config_file(write_config):
    def write(text: str) -> Path:
        return write_config(textwrap.dedent(text).lstrip("\n"))

    return write


def only_issue(path: Path):
    with pytest.raises(ConfigError) as info:
        load_config(path)
    issues = info.value.issues
    assert len(issues) == 1, "expected one issue, got:\n" + "\n".join(map(str, issues))
    return issues[0]


def variant(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


def check(issue, code: str, line: int, path: str, hint: str | None = None) -> None:
    assert issue.code == code, str(issue)
    assert issue.location.line == line, str(issue)
    assert issue.path == path, str(issue)
    if hint is not None:
        assert issue.hint and hint in issue.hint, str(issue)


# --- the model ---------------------------------------------------------------------------------
def test_a_valid_config_compiles_into_the_model(config_file):
    config = load_config(config_file(BASE))
    account, call, todo = (config.objects[n] for n in ("account", "call", "todo"))
    assert account.timeline and not call.timeline
    assert call.activity.at == "at" and call.activity.kind == "method" and call.activity.summary == "notes"
    assert call.activity.on == ("account",)  # default: the lookups to timeline objects (not `other`)
    assert todo.task.due == "due" and todo.task.assignee == "owner_id" and todo.task.done == ("done",)
    assert todo.task.on == ("account",) and todo.task.remind == "remind_at" and todo.task.subject == "subject"
    assert "last_activity_at" in SYSTEM_COLUMNS


def test_last_activity_at_is_reserved_and_usable_in_expressions(config_file):
    config = load_config(
        config_file(
            BASE.replace(
                "      name: {type: text, required: true}\n",
                "      name: {type: text, required: true}\n"
                '      dormant: {type: formula, expression: "days_since(last_activity_at) > 90", result: boolean}\n',
                1,
            )
        )
    )
    assert "last_activity_at" in config.objects["account"].fields["dormant"].expression.names
    issue = only_issue(
        config_file(
            BASE.replace(
                "      name: {type: text, required: true}\n",
                "      name: {type: text, required: true}\n      last_activity_at: {type: datetime}\n",
                1,
            )
        )
    )
    assert issue.code == "T-E021"


def test_a_boolean_status_needs_no_done_values_and_a_user_field_may_be_the_assignee(config_file):
    text = variant(
        "task: {due: due, assignee: owner_id, status: status, done: [done], remind: remind_at, subject: subject}",
        "task: {due: due, assignee: helper, status: closed}",
    )
    text = text.replace("      helper: {type: user}\n", "      helper: {type: user}\n      closed: {type: boolean}\n")
    todo = load_config(config_file(text)).objects["todo"]
    assert todo.task.status == "closed" and todo.task.done == () and todo.task.assignee == "helper"


def test_explicit_on_lists_the_lookups(config_file):
    call = load_config(
        config_file(variant("activity: {at: at, kind: method, summary: notes}", "activity: {at: at, on: [account]}"))
    ).objects["call"]
    assert call.activity.on == ("account",) and call.activity.kind is None


def test_the_samples_have_timelines_activities_and_tasks():
    for name in ("sample_saas", "sample_retail"):
        config = load_config(CONFIGS / f"{name}.yaml")
        assert {o.name for o in config.objects.values() if o.timeline} == {"account", "contact", "lead", "opportunity"}
        interaction = config.objects["interaction"]
        assert interaction.activity.at == "occurred_at" and interaction.activity.kind == "method"
        assert set(interaction.activity.on) == {"account", "contact", "lead", "opportunity"}
        task = config.objects["task"].task
        assert (task.due, task.assignee, task.status, task.remind) == ("due_date", "owner_id", "status", "reminder_at")
        assert set(task.done) == {"done", "cancelled"}
        # S25: each follow-up records method, content and next step.
        assert all(interaction.fields[f].required for f in ("method", "content", "next_step"))


# --- T-E110…T-E115 ----------------------------------------------------------------------------------
def test_E110_a_timeline_no_activity_points_at(config_file):
    text = variant("objects:\n", "objects:\n  lonely:\n    timeline: true\n    fields:\n      name: {type: text}\n")
    issue = only_issue(config_file(text))
    check(issue, "T-E110", 4, "objects.lonely.timeline", "activity")


def test_E111_an_activity_or_task_key_names_an_unknown_field(config_file):
    issue = only_issue(config_file(variant("activity: {at: at,", "activity: {at: when,")))
    check(issue, "T-E111", 8, "objects.call.activity.at")
    issue = only_issue(config_file(variant("remind: remind_at,", "remind: remind_on,")))
    check(issue, "T-E111", 17, "objects.todo.task.remind", "did you mean `remind_at`?")
    issue = only_issue(
        config_file(variant("activity: {at: at, kind: method, summary: notes}", "activity: {at: at, on: [acount]}"))
    )
    check(issue, "T-E111", 8, "objects.call.activity.on[0]", "did you mean `account`?")


def test_E112_an_activity_or_task_key_names_a_field_of_the_wrong_type(config_file):
    issue = only_issue(config_file(variant("activity: {at: at,", "activity: {at: notes,")))
    check(issue, "T-E112", 8, "objects.call.activity.at", "datetime or date")
    assert "textarea" in issue.message
    issue = only_issue(config_file(variant("assignee: owner_id,", "assignee: subject,")))
    check(issue, "T-E112", 17, "objects.todo.task.assignee", "owner_id or a user field")
    issue = only_issue(config_file(variant("summary: notes}", "summary: notes, on: [at]}")))
    check(issue, "T-E112", 8, "objects.call.activity.on[0]", "lookup")


def test_E113_an_on_lookup_points_at_an_object_without_a_timeline(config_file):
    issue = only_issue(config_file(variant("summary: notes}", "summary: notes, on: [account, other]}")))
    check(issue, "T-E113", 8, "objects.call.activity.on[1]", "timeline: true")
    text = variant("      account: {type: lookup, object: account}\n      helper", "      helper")
    issue = only_issue(config_file(text))
    check(issue, "T-E113", 17, "objects.todo.task")


def test_E114_done_values_do_not_fit_the_status_field(config_file):
    issue = only_issue(config_file(variant("done: [done]", "done: [closed]")))
    check(issue, "T-E114", 17, "objects.todo.task.done[0]", "values: done, open")
    issue = only_issue(config_file(variant("status: status, done: [done],", "status: status,")))
    check(issue, "T-E114", 17, "objects.todo.task", "done:")
    issue = only_issue(
        config_file(
            variant(
                "task: {due: due, assignee: owner_id, status: status,",
                "task: {due: due, assignee: owner_id, status: flag,",
            ).replace("      helper: {type: user}\n", "      helper: {type: user}\n      flag: {type: boolean}\n")
        )
    )
    check(issue, "T-E114", 17, "objects.todo.task.done", "remove")


def test_E115_an_object_is_both_an_activity_and_a_task(config_file):
    issue = only_issue(
        config_file(
            variant(
                "    activity: {at: at, kind: method, summary: notes}\n",
                "    activity: {at: at, kind: method, summary: notes}\n"
                "    task: {due: at, assignee: owner_id, status: done}\n",
            )
        )
    )
    check(issue, "T-E115", 9, "objects.call.task", "keep `activity:` or `task:`")


def test_schema_errors_for_missing_task_keys(config_file):
    issue = only_issue(config_file(variant("task: {due: due, assignee: owner_id,", "task: {assignee: owner_id,")))
    assert issue.code == "T-E012" and "due" in issue.message
