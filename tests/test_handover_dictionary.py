"""`trellis docs`: the data dictionary a consultant hands over (S2), in Markdown and HTML, in zh and en."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.metadata import load_config_text
from engine.metadata.automation_actions import ACTIONS
from engine.metadata.automation_triggers import TRIGGERS
from engine.metadata.dictionary import RENDERERS, build_dictionary
from engine.metadata.dictionary.sentences import ACTION_WORDS, TRIGGER_WORDS
from engine.metadata.dictionary.words import LANGUAGES, WORDS
from engine.metadata.fieldtypes import REGISTRY
from tests.conftest import CONFIGS

pytestmark = pytest.mark.no_database


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


#: What a reader must find in each sample's dictionary: a picklist value's label, a stage gate
#: (the stage's row with the fields it requires) and an automation rule said as a sentence.
EXPECTED = {
    ("sample_saas.yaml", "zh"): (
        "| `cloud_services` | — 云计算服务 | — Cloud services |",
        "| 报价谈判 | `quote` | 60% | 进行中 | 报价单、客户预算、产品线 |",
        "商机进入“签约成交”阶段时，新建任务、将记录发送至 `${FINANCE_WEBHOOK_URL}`（Webhook）。",
    ),
    ("sample_saas.yaml", "en"): (
        "| `cloud_services` | — 云计算服务 | — Cloud services |",
        "| Quote negotiation | `quote` | 60 % | open | Quote, Customer budget, Product line |",
        "When a deal is moved to “Contract signed”, create a task, send the record to `${FINANCE_WEBHOOK_URL}`",
    ),
    ("sample_retail.yaml", "zh"): (
        "| `gold` | 金卡会员 | Gold |",
        "| 报价谈判 | `quote` | 60% | 进行中 | 报价单、客户预算 |",
        "工单进入“已解决”阶段时，用模板`satisfaction_survey`通知客户邮箱中的地址（邮件）。",
    ),
    ("sample_retail.yaml", "en"): (
        "| `gold` | 金卡会员 | Gold |",
        "| Quote negotiation | `quote` | 60 % | open | Quote, Customer budget |",
        "When a ticket is moved to “Resolved”, notify the address in Customer e-mail with template "
        "`satisfaction_survey` (by e-mail).",
    ),
}


@pytest.mark.parametrize(("sample", "language"), list(EXPECTED))
def test_the_markdown_dictionary_of_each_sample_in_each_language(sample, language):
    result = run("docs", CONFIGS / sample, "--lang", language)
    assert result.exit_code == 0
    for wanted in EXPECTED[sample, language]:
        assert wanted in result.output
    title, other = ("# 数据字典", "Fields of") if language == "zh" else ("# Data dictionary", "的字段")
    assert result.output.startswith(title) and other not in result.output  # one language throughout


def test_the_html_dictionary_says_the_same_and_writes_a_file(tmp_path):
    target = tmp_path / "dictionary.html"
    result = run("docs", CONFIGS / "sample_saas.yaml", "--format", "html", "--lang", "en", "--output", target)
    assert result.exit_code == 0 and f"Wrote the data dictionary to {target}." in result.output
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<html lang="en">' in page
    assert "<td><code>cloud_services</code></td><td>— 云计算服务</td><td>— Cloud services</td>" in page
    assert "<td>Quote negotiation</td><td><code>quote</code></td><td>60 %</td>" in page
    assert "When a deal is moved to “Contract signed”, create a task" in page
    zh = run("docs", CONFIGS / "sample_retail.yaml", "--format", "html", "--lang", "zh")
    assert '<html lang="zh">' in zh.output and "<td>报价谈判</td>" in zh.output and "<script" not in zh.output


def test_the_default_language_is_the_configs_first():
    assert run("docs", CONFIGS / "sample_saas.yaml").output.startswith("# 数据字典 — ")


HOSTILE = """
trellis: 1
settings: {company: "<b>Acme</b> & Co", languages: [en, zh]}
objects:
  deal:
    label: {en: "Deal <script>alert(1)</script>", zh: 商机}
    fields:
      name: {type: text, label: "Name | *bold* <i>", required: true, unique: true}
      amount: {type: currency, help: {en: "Net of <discount>", zh: 折后金额}}
      kind: {type: picklist, values: [{key: big, label: {en: "Big & <b>bold</b>", zh: 大单}}]}
      stage: {type: picklist}
    pipeline:
      field: stage
      stages:
        - {key: open, probability: 10}
        - key: won
          outcome: won
          probability: 100
          requires: [amount]
          requires_when: [{when: "kind == 'big'", fields: [name]}]
roles:
  clerk:
    label: {en: "Clerk <img src=x>", zh: 文员}
    objects: {deal: {read: team, edit: own, create: true, export: true}}
    hidden: [deal.amount]
    permissions: [approve]
  manager:  # fills the amount the `won` gate requires (the clerk cannot: T-E246)
    objects: {deal: {read: all, edit: all}}
"""


def test_html_escapes_every_configured_text():
    config = load_config_text(HOSTILE)
    page = RENDERERS["html"](build_dictionary(config, "en"))
    for raw in ("<script>", "<b>", "<i>", "<img", "<discount>"):
        assert raw not in page
    assert "Deal &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Co" in page
    assert "<td>Big &amp; &lt;b&gt;bold&lt;/b&gt;</td>" in page
    markdown = RENDERERS["md"](build_dictionary(config, "en"))
    assert "Name \\| \\*bold\\* \\<i\\>" in markdown  # a pipe would end the table cell
    assert "\\<script\\>" in markdown


def test_gates_roles_and_conditional_requirements_are_spelled_out():
    config = load_config_text(HOSTILE)
    text = RENDERERS["md"](build_dictionary(config, "en"))
    assert "| Won | `won` | 100 % | won | Amount | `kind == 'big'` → Name \\| \\*bold\\* \\<i\\> |" in text
    assert "| Deal \\<script\\>alert(1)\\</script\\> | team's | own | — | yes | export |" in text
    assert "Never sees: Deal \\<script\\>alert(1)\\</script\\> · Amount." in text
    assert "May also: decide approvals." in text
    zh = RENDERERS["md"](build_dictionary(config, "zh"))
    assert "| 文员 (`clerk`)" not in zh and "### 文员 (`clerk`)" in zh
    assert "| 商机 | 本团队的 | 本人的 | — | 是 | 导出 |" in zh and "另可：审批。" in zh


def test_every_word_exists_in_every_language():
    missing = [(key, lang) for key, texts in WORDS.items() for lang in LANGUAGES if not texts.get(lang)]
    assert missing == [], f"words without a text: {missing}"


def test_every_registered_kind_has_its_words():
    """A field type, trigger or action kind added to its registry needs its words here too."""
    assert set(TRIGGERS.names()) <= set(TRIGGER_WORDS)
    assert set(ACTIONS.names()) <= set(ACTION_WORDS)
    assert [t for t in REGISTRY if f"type.{t}" not in WORDS] == []


def test_a_broken_config_is_reported_not_documented(write_config):
    result = run("docs", write_config("trellis: 1\nobjects: {deal: {fields: {x: {type: nope}}}}\n"))
    assert result.exit_code == 1 and "T-E" in result.output and "1 error in the config." in result.output


RULES = """
trellis: 1
settings: {languages: [zh, en]}
objects:
  account:
    label: {en: Account, zh: 客户}
    fields:
      name: {type: text, label: {en: Name, zh: 名称}}
      score: {type: integer, label: {en: Score, zh: 评分}}
      tags: {type: tags, label: {en: Tags, zh: 标签}}
      tier: {type: picklist, label: {en: Tier, zh: 等级}, values: [{key: vip, label: {en: VIP, zh: 贵宾}}, basic]}
      renewal: {type: date, label: {en: Renewal, zh: 续约日}}
  contact:
    label: {en: Contact, zh: 联系人}
    fields:
      account: {type: lookup, object: account, label: {en: Account, zh: 客户}}
roles:
  boss: {label: {en: Director, zh: 总监}, objects: {"*": {read: all}}}
approvals:
  - {name: tier, label: {en: Tier change, zh: 等级变更}, object: account, on: {change: [tier]}, approver: {manager: 2}}
templates:
  hello: {subject: "Hi", body: "Hi"}
automations:
  - name: vip
    label: {en: VIP, zh: 贵宾}
    object: account
    on: {changed: tier}
    to: vip
    do: [{set: {score: 100}}, {remove_tags: {field: tags, tags: [cold]}}]
  - name: decided
    label: {en: Decided, zh: 审批}
    object: account
    on: {approval: approved}
    do: [{notify: {to: [{role: boss}], template: hello, channels: [email]}}]
  - name: weekly
    label: {en: Weekly, zh: 每周}
    on: {cron: "0 9 * * 1"}
    do: [{notify: {to: [{user: alice}], template: hello}}]
  - name: renewal
    label: {en: Renewal, zh: 续约}
    object: account
    on: {schedule: {before: 30d, from: renewal, yearly: true}}
    do: [{archive: true}]
  - name: touch
    label: {en: Touch, zh: 触达}
    object: contact
    on: created
    do: [{update: {record: account, set: {score: "=target['score'] + 1"}}}]
"""


@pytest.mark.parametrize(
    ("language", "sentences"),
    [
        (
            "en",
            (
                "When the Tier of an account changes to VIP, set Score to 100, remove the tags `cold` from Tags.",
                "When an approval of an account is approved, notify every Director with template `hello` (by e-mail).",
                "On the schedule `0 9 * * 1`, notify the user alice with template `hello` (in the app).",
                "30 days before the Renewal of an account, every year, archive it.",
                "When a contact is created, on its Account, set Score to `=target['score'] + 1`.",
                "Tier change: changing the Tier of an account needs approval by the requester's manager 2 levels up.",
            ),
        ),
        (
            "zh",
            (
                "客户的等级变为贵宾时，设置评分为100、从标签中移除标签 `cold`。",
                "客户的审批通过时，用模板`hello`通知所有总监（邮件）。",
                "按计划 `0 9 * * 1`，用模板`hello`通知用户 alice（站内）。",
                "每年客户的续约日之前30天，将其归档。",
                "新建联系人时，更新其客户：评分为`=target['score'] + 1`。",
                "等级变更：修改客户的等级需经申请人的第 2 级上级审批。",
            ),
        ),
    ],
)
def test_each_kind_of_trigger_and_action_reads_as_a_sentence(language, sentences):
    text = RENDERERS["md"](build_dictionary(load_config_text(RULES), language))
    for sentence in sentences:
        assert f"- {sentence}" in text


RETENTION = """
trellis: 1
settings: {languages: [zh, en], retention_years: 10}
objects:
  lead:
    label: {en: Lead, zh: 线索}
    retention: {years: 2, action: purge, from: closed_on}
    fields:
      name: {type: text}
      closed_on: {type: date, label: {en: Closed on, zh: 关闭日期}}
  account:
    fields:
      name: {type: text}
  note:
    retention: false
    fields:
      text: {type: text}
roles:
  rep:
    objects: {"*": {read: all}}
"""


def test_each_objects_retention_is_said_in_words(write_config):
    path = write_config(RETENTION)
    en = run("docs", path, "--lang", "en").output
    assert "Retention: records are purged 2 years after “Closed on”, with their timeline entries and files." in en
    assert "Retention: records are archived 10 years after last change." in en  # settings.retention_years
    assert "Retention: records are kept for ever." in en  # retention: false
    zh = run("docs", path, "--lang", "zh").output
    assert "保留期限：记录在“关闭日期”之后 2 年连同时间线记录和文件彻底删除。" in zh
    assert "保留期限：记录在更新时间之后 10 年归档。" in zh and "保留期限：记录永久保留。" in zh
