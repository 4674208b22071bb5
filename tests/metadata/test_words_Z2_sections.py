"""The checks of reports, dashboards, web forms, timelines, mail, campaigns and subscriptions
speak the admin's language: ``trellis validate`` with ``TRELLIS_LANG=zh`` writes each of their
messages and hints in Chinese (a value a field refuses included), and with ``TRELLIS_LANG=en``
the same issues in the English the other tests read."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

pytestmark = pytest.mark.no_database

CJK = re.compile(r"[\u4e00-\u9fff]")
#: An issue line: ``file:line:column: CODE path: message``.
ISSUE = re.compile(r"^.*?:\d+:\d+: (T-[EW]\d{3}) (\S+): (.*)$")
#: The codes of the sections this file covers (timeline, reports, dashboards, subscriptions,
#: forms, mail, campaigns).
SECTIONS = re.compile(r"T-E(11[0-5]|17\d|18[3-7]|19\d|20[0-3]|21\d|22\d|23[0-5])$")

#: Reports, dashboards, a form, a segment, a subscription, the mail log and a timeline, each wrong.
REPORTS_AND_MORE = """\
    trellis: 1
    objects:
      account:
        timeline: true
        fields:
          name: {type: text, required: true}
      contact:
        fields:
          name: {type: text, required: true}
          phone: {type: phone}
      interaction:
        activity: {at: happened_at, summary: subject}
        fields:
          subject: {type: text}
          happened_at: {type: datetime}
          body: {type: textarea}
          direction: {type: picklist, values: [inbound, sideways]}
          contact: {type: lookup, object: contact}
      deal:
        fields:
          name: {type: text, required: true}
          amount: {type: currency}
          seats: {type: integer}
    roles:
      rep: {objects: {deal: {read: own}}}
    reports:
      by_amount:
        object: deal
        group_by: [amout]
        filter: {seats: many}
      funnel:
        object: deal
        kind: funnel
    dashboards:
      home:
        widgets:
          - {report: by_amout}
          - {widget: my_tasks, width: 13}
    forms:
      contact_us:
        object: contact
        fields: [name]
        values: {phone: "12"}
        origins: [https://www.example.com/contact]
    segments:
      everyone:
        object: contact
        filter: {name__like: x}
    subscriptions:
      weekly:
        report: funnel
        schedule: {weekly: "monday 08:00"}
        roles: [rep]
        filters: {owner: boss}
    mail:
      log: {object: interaction, body: body, direction: direction}
      senders:
        - {object: contact, email: name}
    """

#: A task, the campaign object, a forecast's quota, a form's duplicates and spam, two mailboxes.
TASKS_AND_MORE = """\
    trellis: 1
    objects:
      account:
        timeline: true
        fields:
          name: {type: text, required: true}
      interaction:
        activity: {at: happened_at}
        task: {due: happened_at, assignee: owner_id, status: finished, done: [closed]}
        fields:
          happened_at: {type: datetime}
          finished: {type: boolean}
          notes: {type: textarea}
          account: {type: lookup, object: account}
      deal:
        fields:
          name: {type: text, required: true}
          amount: {type: currency}
          closes: {type: date}
        pipeline:
          field: stage
          stages:
            - {key: new, probability: 10}
            - {key: won, probability: 100, outcome: won}
      campaign:
        fields:
          name: {type: text, required: true}
          status: {type: picklist, values: [draft, sent]}
    reports:
      forecast: {object: deal, kind: forecast, close_date: closes, amount: amount, quota: {users: {alice: lots}}}
    forms:
      signup:
        object: deal
        fields: [name]
        on_duplicate: link
        spam: {rate_limit: fast, honeypot: name}
    mail:
      log: {object: interaction, body: notes}
      mailboxes:
        sales:
          address: sales@example.com
          imap: {host: imap.example.com, username_env: U, password_env: P, ca_file: ca.pem, tls_verify: false}
        again:
          address: Sales@example.com
    """

CONFIGS = {"reports_and_more": REPORTS_AND_MORE, "tasks_and_more": TASKS_AND_MORE}

#: Every issue of these sections each config has, by (code, path).
FOUND = {
    "reports_and_more": {
        ("T-E110", "objects.account.timeline"),
        ("T-E113", "objects.interaction.activity"),
        ("T-E171", "reports.by_amount.group_by[0]"),
        ("T-E175", "reports.by_amount.filter.seats"),
        ("T-E179", "reports.funnel.kind"),
        ("T-E190", "dashboards.home.widgets[0].report"),
        ("T-E195", "dashboards.home.widgets[1].width"),
        ("T-E203", "subscriptions.weekly.filters.owner"),
        ("T-E213", "forms.contact_us.values.phone"),
        ("T-E216", "forms.contact_us.origins[0]"),
        ("T-E221", "mail.log.direction"),
        ("T-E221", "mail.senders[0].email"),
        ("T-E232", "segments.everyone.filter.name__like"),
        ("T-E233", "segments.everyone.object"),
    },
    "tasks_and_more": {
        ("T-E114", "objects.interaction.task.done"),
        ("T-E235", "objects.campaign.fields"),
        ("T-E235", "objects.campaign.fields.status"),
        ("T-E186", "reports.forecast.quota.users.alice"),
        ("T-E217", "forms.signup.on_duplicate"),
        ("T-E218", "forms.signup.spam.rate_limit"),
        ("T-E219", "forms.signup.spam.honeypot"),
        ("T-E225", "mail.mailboxes.again.address"),
        ("T-E226", "mail.mailboxes.sales.imap.ca_file"),
    },
}

#: (code, path) → (message, hint) in each language, for a few issues of each section.
SAID = {
    ("T-E171", "reports.by_amount.group_by[0]"): {
        "zh": ("deal 没有字段 `amout`", "是否想写 `amount`？"),
        "en": ("deal has no field `amout`", "did you mean `amount`?"),
    },
    ("T-E175", "reports.by_amount.filter.seats"): {
        "zh": ("`seats: many`：'many' 不是整数。", "请给出 integer 字段能保存的值"),
        "en": ("`seats: many`: 'many' is not a whole number.", "give a value a integer field holds"),
    },
    ("T-E179", "reports.funnel.kind"): {
        "zh": (
            "漏斗报表统计记录在销售管道各阶段之间的推进；deal 没有销售管道",
            "请指定声明了 `pipeline:` 的对象，或改用 `kind: grouped`",
        ),
        "en": (
            "a funnel counts moves between pipeline stages; deal has no pipeline",
            "name an object that declares `pipeline:`, or use `kind: grouped`",
        ),
    },
    ("T-E195", "dashboards.home.widgets[1].width"): {
        "zh": (
            "`width: 13` 既不是 1 到 12 的列数，也不是 small、medium 或 large",
            "例如 `width: 4` 或 `width: medium`（small 3，medium 6，large 12）",
        ),
        "en": (
            "`width: 13` is neither a number of columns from 1 to 12 nor small, medium or large",
            "e.g. `width: 4` or `width: medium` (small 3, medium 6, large 12)",
        ),
    },
    ("T-E203", "subscriptions.weekly.filters.owner"): {
        "zh": ("`boss` 不是订阅可筛选的负责人", "请用 `me`（收件人的记录）或 `team`（其团队的记录）"),
        "en": (
            "`boss` is not an owner a subscription narrows to",
            "use `me` (the recipient's records) or `team` (their team's)",
        ),
    },
    ("T-E213", "forms.contact_us.values.phone"): {
        "zh": ("'12' 不适合 `phone`：'12' 不是电话号码；请写带国家代码的号码（例如 +86 138 0013 8000）。", None),
        "en": (
            "'12' does not fit `phone`: '12' is not a phone number; write it with its country code"
            " (e.g. +86 138 0013 8000).",
            None,
        ),
    },
    ("T-E221", "mail.log.direction"): {
        "zh": ("`interaction.direction` 没有值 `outbound`", "请为它的选项列表加上值 `inbound` 和 `outbound`"),
        "en": (
            "`interaction.direction` has no value `outbound`",
            "give its picklist the values `inbound` and `outbound`",
        ),
    },
    ("T-E232", "segments.everyone.filter.name__like"): {
        "zh": (
            "`name__like` 中的运算符 `like` 未知",
            "请使用其中之一：eq, ne, lt, lte, gt, gte, in, not_in, contains, startswith, isnull",
        ),
        "en": (
            "unknown operator `like` in `name__like`",
            "use one of: eq, ne, lt, lte, gt, gte, in, not_in, contains, startswith, isnull",
        ),
    },
    ("T-E114", "objects.interaction.task.done"): {
        "zh": ("`finished` 是布尔字段：值为 true 时任务即完成", "删除 `done:`"),
        "en": ("`finished` is a boolean field: a task is done when it is true", "remove `done:`"),
    },
    ("T-E186", "reports.forecast.quota.users.alice"): {
        "zh": ("`alice: lots` 不是金额", "例如 `alice: 300000`"),
        "en": ("`alice: lots` is not an amount", "e.g. `alice: 300000`"),
    },
    ("T-E217", "forms.signup.on_duplicate"): {
        "zh": ("`on_duplicate: link` 需要 `link_field`", "请指定 `deal` 上指向 `deal` 的查找字段"),
        "en": ("`on_duplicate: link` needs a `link_field`", "name a lookup of `deal` to `deal`"),
    },
    ("T-E225", "mail.mailboxes.again.address"): {
        "zh": ("`sales@example.com` 也是邮箱 `sales` 的地址", "请为每个邮箱使用不同的地址，或删除其中一个"),
        "en": (
            "`sales@example.com` is also mailbox `sales`'s address",
            "give each mailbox its own address, or remove one of them",
        ),
    },
    ("T-E235", "objects.campaign.fields.status"): {
        "zh": (
            "营销活动的 status 需要这些值：draft, scheduled, sending, sent, cancelled；缺少 cancelled, scheduled, sending",
            "请把缺少的值加到选项列表中",
        ),
        "en": (
            "a campaign's status needs the values draft, scheduled, sending, sent, cancelled;"
            " cancelled, scheduled, sending missing",
            "add the missing values to the picklist",
        ),
    },
}


def _validate(tmp_path: Path, monkeypatch, config: str, language: str) -> dict[tuple[str, str], list]:
    """``trellis validate`` of ``config`` in ``language``: each issue of these sections as
    (code, path) → [[message, hint or None], …] (several issues may share a place)."""
    monkeypatch.setenv("TRELLIS_LANG", language)
    path = tmp_path / "crm.yaml"
    path.write_text(textwrap.dedent(CONFIGS[config]), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    found: dict[tuple[str, str], list] = {}
    label = "    提示: " if language == "zh" else "    hint: "
    current: list | None = None
    for line in result.output.splitlines():
        match = ISSUE.match(line)
        if match:
            current = [match.group(3), None] if SECTIONS.match(match.group(1)) else None
            if current is not None:
                found.setdefault((match.group(1), match.group(2)), []).append(current)
        elif line.startswith(label) and current is not None:
            current[1] = line.removeprefix(label)
    return found


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_validate_writes_these_sections_issues_in_chinese(tmp_path, monkeypatch, config):
    found = _validate(tmp_path, monkeypatch, config, "zh")
    assert set(found) == FOUND[config]
    for (code, where), issues in found.items():
        for message, hint in issues:
            assert CJK.search(message), f"{code} {where}: {message}"
            assert hint is None or CJK.search(hint) or hint.startswith("是否想写"), f"{code} {where}: {hint}"
    for place in FOUND[config] & set(SAID):
        assert SAID[place]["zh"] in [tuple(issue) for issue in found[place]], found[place]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_same_issues_stay_in_english_for_an_english_reader(tmp_path, monkeypatch, config):
    found = _validate(tmp_path, monkeypatch, config, "en")
    assert set(found) == FOUND[config]
    for issues in found.values():
        for message, hint in issues:
            assert not CJK.search(message) and not CJK.search(hint or "")
    for place in FOUND[config] & set(SAID):
        assert SAID[place]["en"] in [tuple(issue) for issue in found[place]], found[place]
