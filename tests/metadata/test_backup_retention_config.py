"""Retention in the config (S1, issue 18 §4): ``settings.retention_years`` as every object's default,
``objects.<o>.retention`` overriding it or ``false``; every error code T-E270…T-E272 with its
path, message and hint. Pure Python: no database."""

from __future__ import annotations

import pytest

from engine.metadata import load_config_text
from engine.metadata.configdiff import diff_configs, say_changes
from engine.metadata.errors import ConfigError
from engine.metadata.model import Retention

pytestmark = pytest.mark.no_database


def config(settings: str, retention: str) -> str:
    return f"""
trellis: 1
settings: {settings}
objects:
  lead:
    retention: {retention}
    fields:
      name: {{type: text}}
      closed_on: {{type: date}}
  note:
    fields:
      text: {{type: text}}
"""


def issues(text: str) -> list[tuple[str, str, str, str | None]]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    return [(i.code, i.path, i.message, i.hint) for i in caught.value.issues]


def test_backup_retention_defaults_overrides_and_for_ever():
    compiled = load_config_text(
        config("{retention_years: 10, retention_automatic: true}", "{years: 2, action: purge, from: closed_on}")
    )
    assert compiled.objects["lead"].retention == Retention(2, "purge", "closed_on")
    assert compiled.objects["note"].retention == Retention(10, "archive", "updated_at")
    assert compiled.settings.retention_automatic is True
    kept = load_config_text(config("{retention_years: 10}", "false"))
    assert kept.objects["lead"].retention is None and kept.settings.retention_automatic is False
    assert load_config_text(config("{}", "{years: 1}")).objects["note"].retention is None


def test_backup_retention_error_codes():
    assert issues(config("{}", "{action: purge}")) == [
        (
            "T-E270",
            "objects.lead.retention",
            "the retention of lead says no `years`, and settings.retention_years is not set",
            "add `years: N` here, or `retention_years: N` under settings:",
        )
    ]
    [(code, path, text, hint)] = issues(config("{}", "{years: 2, from: last_activty_at}"))
    assert (code, path) == ("T-E271", "objects.lead.retention.from")
    assert text == "`last_activty_at` is neither a field of lead nor a system date column"
    assert hint is not None and "last_activity_at" in hint
    assert issues(config("{}", "{years: 2, from: name}")) == [
        (
            "T-E272",
            "objects.lead.retention.from",
            "retention counts from a moment; `name` is a text field",
            "name a date or datetime field, or one of: updated_at, created_at, last_activity_at, stage_entered_at",
        )
    ]
    [(code, path, _, _)] = issues(config("{}", "{years: 2, action: delete}"))
    assert code.startswith("T-E") and path.startswith("objects.lead.retention")


def test_backup_retention_change_is_said_in_trellis_diff():
    old = load_config_text(config("{retention_years: 10}", "false"))
    new = load_config_text(config("{retention_years: 10}", "{years: 2, action: purge, from: closed_on}"))
    [group] = say_changes(old, new, diff_configs(old, new), "en")
    assert group.lines == (
        "Records of “Lead” are now purged 2 years after `closed_on`, with their timeline entries and files "
        "(before: kept for ever).",
    )
