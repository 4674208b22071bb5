"""Retention approval in the config (issue 18 §4): ``settings.retention_approval`` for every
object with a retention, ``objects.<o>.retention.approval`` overriding it (``false``: none),
named as approval steps name their approver; every error code T-E273…T-E277 with its path,
message and hint, in English and in Chinese. Pure Python: no database."""

from __future__ import annotations

import pytest

from engine.metadata import load_config_text
from engine.metadata.configdiff import diff_configs, say_changes
from engine.metadata.errors import ConfigError
from engine.metadata.model import Approver

pytestmark = pytest.mark.no_database

ROLES = """
roles:
  compliance: {permissions: [approve], objects: {lead: {read: all}, note: {read: all}}}
  clerk: {objects: {lead: {read: all}}}
  outsider: {permissions: [approve]}
"""


def config(settings: str, retention: str = "{years: 2, action: purge}") -> str:
    return f"""
trellis: 1
settings: {settings}
{ROLES}
objects:
  lead:
    retention: {retention}
    fields:
      name: {{type: text}}
  note:
    fields:
      text: {{type: text}}
"""


def issues(text: str) -> list[tuple[str, str, str, str | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    return [(i.code, i.path, i.message, i.hint, i.shown("zh")) for i in caught.value.issues]


def test_retapprove_company_approval_object_override_and_none():
    compiled = load_config_text(
        config("{retention_years: 5, retention_approval: {role: compliance}}", "{years: 2, approval: {user: ada}}")
    )
    assert compiled.objects["lead"].retention.approver == Approver("user", name="ada")
    assert compiled.objects["note"].retention.approver == Approver("role", name="compliance")
    mine = load_config_text(config("{retention_years: 5, retention_approval: {role: compliance}}", "{approval: false}"))
    assert mine.objects["lead"].retention.approver is None and mine.objects["lead"].retention.years == 5
    # approval with retention_automatic false is fine: the operator's `run --yes` files the request
    plain = load_config_text(config("{retention_automatic: false}", "{years: 2, approval: {role: compliance}}"))
    assert plain.objects["lead"].retention.approver == Approver("role", name="compliance")


def test_retapprove_T_E273_unknown_role():
    [(code, path, message, hint, zh)] = issues(config("{}", "{years: 2, approval: {role: complance}}"))
    assert (code, path, message, hint) == (
        "T-E273",
        "objects.lead.retention.approval.role",
        "unknown role `complance`",
        "did you mean `compliance`?",
    )
    assert "未知角色 `complance`" in zh


def test_retapprove_T_E274_manager_has_nobody_to_manage():
    [(code, path, message, hint, zh)] = issues(
        config("{retention_years: 3, retention_approval: manager}", "{years: 2}")
    )
    assert (code, path) == ("T-E274", "settings.retention_approval")
    assert message == "retention is run by the system, so there is no requester whose manager could approve it"
    assert hint == "name who approves: `{role: NAME}` (anyone holding the role) or `{user: USERNAME}`"
    assert "保留策略由系统执行" in zh


def test_retapprove_T_E275_role_without_approve():
    [(code, path, message, hint, zh)] = issues(config("{}", "{years: 2, approval: {role: clerk}}"))
    assert (code, path) == ("T-E275", "objects.lead.retention.approval.role")
    assert message == "role `clerk` lacks the `approve` permission: nobody could approve the retention of lead"
    assert hint == "add `approve` to the permissions of `clerk`, or name another approver"
    assert "没有 `approve` 权限" in zh


def test_retapprove_T_E276_role_that_cannot_read_the_records():
    [(code, path, message, hint, zh)] = issues(config("{}", "{years: 2, approval: {role: outsider}}"))
    assert (code, path) == ("T-E276", "objects.lead.retention.approval.role")
    assert message == "role `outsider` cannot read any lead record, so it would approve records it never sees"
    assert hint == "give `outsider` `read: all` on lead, or name another approver"
    assert "无法读取任何 lead 记录" in zh


def test_retapprove_T_E277_approval_while_records_are_kept_for_ever():
    [(code, path, message, hint, zh)] = issues(config("{retention_approval: {role: compliance}}", "false"))
    assert (code, path) == ("T-E277", "settings.retention_approval")
    assert message == (
        "settings.retention_approval is set, but no object's records ever expire: nothing would be approved"
    )
    assert hint.startswith("set `retention_years: N` under settings")
    assert "没有任何对象的记录会过期" in zh


def test_retapprove_trellis_diff_says_who_approves_in_both_languages():
    before = load_config_text(config("{}", "{years: 2, action: purge}"))
    after = load_config_text(config("{}", "{years: 2, action: purge, approval: {role: compliance}}"))
    [en] = say_changes(before, after, diff_configs(before, after), "en")
    assert en.lines == (
        "Records of “Lead” are now purged 2 years after `updated_at`, with their timeline entries and files, "
        "once Compliance approves (before: purged 2 years after `updated_at`, with their timeline entries and files).",
    )
    [zh] = say_changes(before, after, diff_configs(before, after), "zh")
    assert "（须经Compliance批准）（原为：" in zh.lines[0]
