"""The automation dry run on the explain page speaks as people read (issue 18's known limits,
item 7): picklist labels, lookup titles, user names and dates in ``settings.date_format``, in the
admin's language — where ``trellis automation simulate`` keeps the config's keys and raw values."""

from __future__ import annotations

import html
import re

import pytest

from engine.runtime.workflow.simulate import simulate_record
from tests.webui.conftest import client_for, text

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, company: Acme, date_format: DD/MM/YYYY, languages: [en, zh]}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      rating: {type: integer, label: {en: Rating, zh: 评级}}
  deal:
    label: {en: Deal, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      priority:
        type: picklist
        label: {en: Priority, zh: 优先级}
        values: [{key: low, label: {en: Low, zh: 低}}, {key: high, label: {en: High, zh: 高}}]
        default: low
      account: {type: lookup, object: account, label: {en: Account, zh: 客户}}
      reviewer: {type: user, label: {en: Reviewer, zh: 审核人}}
      follow_up: {type: date, label: {en: Follow-up, zh: 跟进日期}}
automations:
  - name: escalate
    label: {en: Escalate, zh: 升级}
    object: deal
    on: updated
    do:
      - {set: {priority: high, follow_up: "2026-07-01", reviewer: "=owner_id"}}
      - {update: {record: account, set: {rating: 5}}}
  - name: hot
    label: {en: Hot deal, zh: 热门商机}
    object: deal
    on: {changed: [priority]}
    to: high
    do: [{set: {reviewer: "=owner_id"}}]
  - name: remind
    label: {en: Remind, zh: 提醒}
    object: deal
    on: {schedule: {before: 2d, from: follow_up, window: 7d}}
    do: [{set: {priority: high}}]
  - name: gone
    label: {en: Gone, zh: 已删除}
    object: deal
    on: deleted
    do: [{update: {record: account, set: {rating: 0}}}]
roles:
  admin:
    objects: {"*": {read: all, edit: all, create: true}}
    permissions: [manage_config]
"""
USERS = {
    "adam": {"roles": ["admin"], "display_name": "Adam Smith"},
    "zoe": {"roles": ["admin"], "display_name": "Zoe Wang", "locale": "zh_CN"},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS)


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", text(response)))


def test_oplimits_explain_dry_run_shows_labels_titles_names_and_local_dates(crm, app):
    with crm.session("adam") as s:
        account = s.create("account", {"name": "Globex 环球"}).id
        deal = s.create("deal", {"name": "Renewal", "account": account}).id

    en = _page(client_for(app, "adam"), f"/admin/explain/deal/{deal}")
    assert "set Priority: Low → High, Follow-up: — → 01/07/2026, Reviewer: — → Adam Smith" in en
    assert "update Account “Globex 环球” (Account): Rating: — → 5" in en
    assert "(empty)" not in en and "2026-07-01" not in en and '"high"' not in en

    zh = _page(client_for(app, "zoe"), f"/admin/explain/deal/{deal}")
    assert "设置 优先级: 低 → 高, 跟进日期: — → 01/07/2026, 审核人: — → Adam Smith" in zh
    assert "更新客户“Globex 环球”（客户）：评级: — → 5" in zh

    raw = simulate_record(crm, "deal", deal)  # trellis automation simulate: the config's own words
    rule = raw.rules[0]
    assert rule.actions[0].text.startswith('set priority: "low" → "high", follow_up: (empty) → "2026-07-01"')
    assert rule.actions[1].text == f"update account #{account} (account): rating: (empty) → 5"


def test_oplimits2_explain_page_words_each_trigger_in_the_admins_language(crm, app):
    with crm.session("adam") as s:
        deal = s.create("deal", {"name": "Renewal"}).id

    en = _page(client_for(app, "adam"), f"/admin/explain/deal/{deal}")
    assert "<strong>Escalate</strong>: fires — when a record is updated" in en
    assert "<strong>Hot deal</strong>: fires only if the update makes that change — when Priority changes to High" in en
    assert "<strong>Remind</strong>: does not fire — 2 days before Follow-up (only within 7 days)" in en
    assert "<strong>Gone</strong>: does not fire — when a record is deleted" in en

    zh = _page(client_for(app, "zoe"), f"/admin/explain/deal/{deal}")
    assert " — 记录更新时" in zh and " — 优先级变更为高时" in zh
    assert " — 跟进日期之前2天（仅在7天内）" in zh and " — 记录删除时" in zh
    assert "changes to" not in zh and "before follow_up" not in zh and "on delete" not in zh

    # trellis automation simulate keeps the config's own words
    raw = {r.rule.name: r.trigger for r in simulate_record(crm, "deal", deal).rules}
    assert raw == {
        "escalate": "on update",
        "hot": 'when priority changes to "high"',
        "remind": "2d before follow_up (window 7d)",
        "gone": "on delete",
    }
