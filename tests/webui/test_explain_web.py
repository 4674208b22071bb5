"""The "Why can … see this?" admin page ``/admin/explain/<object>/<id>``, on SQLite and PostgreSQL.

Admins (``manage_config``) get the link on a record page and the page: the chosen user's
read / edit / delete with the reasons (the team, the manager chain), hidden fields, everyone who
may read the record, what moving it to a stage would need (a dry run), and what automation would
do — in English and in Chinese. Everyone else gets no link and 403; an unknown record 404.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.webui.conftest import client_for, text

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, company: Acme}
objects:
  deal:
    label: {en: Deal, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      margin: {type: integer, label: {en: Margin, zh: 毛利}}
      signed_by: {type: text, label: {en: Signed by, zh: 签约人}}
      stage: {type: picklist, default: lead}
    pipeline:
      stages:
        - {key: lead, label: {en: Lead, zh: 线索}}
        - {key: proposal, label: {en: Proposal, zh: 方案}}
        - {key: won, label: {en: Won, zh: 赢单}, outcome: won, requires: [signed_by]}
automations:
  - name: welcome
    label: {en: Welcome the deal, zh: 欢迎}
    object: deal
    on: created
    do: [{set: {margin: 1}}]
roles:
  rep:
    label: {en: Sales rep, zh: 销售代表}
    objects: {deal: {read: own, edit: own, create: true}}
    hidden: [deal.margin]
  manager:
    label: {en: Sales manager, zh: 销售经理}
    objects: {deal: {read: subtree, edit: subtree, delete: team}}
  admin:
    label: {en: Administrator, zh: 管理员}
    objects: {deal: {read: all, edit: all, delete: all}}
    permissions: [manage_config, skip_stage]
"""

USERS = {
    "adam": {"roles": ["admin"], "display_name": "Adam"},
    "zoe": {"roles": ["admin"], "display_name": "Zoe", "locale": "zh_CN"},
    "mike": {"roles": ["manager"], "team": "east", "display_name": "Mike"},
    "sara": {"roles": ["manager"], "team": "east", "manager": "mike", "display_name": "Sara"},
    "alice": {"roles": ["rep"], "team": "east", "manager": "sara", "display_name": "Alice"},
    "carl": {"roles": ["rep"], "team": "west", "display_name": "Carl"},
}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, USERS, teams=["east", "west"])


def _page(client, url: str) -> tuple[int, str]:
    response = client.get(url)
    return response.status_code, html.unescape(re.sub(r"\s+", " ", text(response)))


def test_admins_see_who_can_see_a_record_and_why(crm, app):
    with crm.session("alice") as s:
        deal = s.create("deal", {"name": "Acme renewal"}).id
    with crm.directory() as d:
        ids = {u.username: u.id for u in d.list()}
    url = f"/admin/explain/deal/{deal}"
    adam, alice = client_for(app, "adam"), client_for(app, "alice")

    status, record = _page(adam, f"/o/deal/{deal}")
    assert status == 200 and f'href="{url}"' in record
    status, record = _page(alice, f"/o/deal/{deal}")
    assert status == 200 and url not in record
    assert alice.get(url).status_code == 403

    status, page = _page(adam, f"{url}?user={ids['mike']}")
    assert status == 200
    assert (
        "Can read: its owner Alice reports to Mike: Mike → Sara → Alice (Sales manager, scope: own and reports' records)"
        in page
    )
    assert "Can delete: its owner Alice is in Mike's team east" in page
    who = dict(re.findall(r'<tr data-user="(\w+)"><td><a [^>]*>[^<]*</a></td><td>(\w+)</td>', page))
    assert who == {"adam": "yes", "zoe": "yes", "mike": "yes", "sara": "yes", "alice": "yes"}  # not carl

    status, page = _page(adam, f"{url}?user={ids['carl']}&stage=won")
    assert 'data-action="read">Read: <strong>no</strong>' in page
    assert "Cannot read: Alice owns it, not Carl" in page
    assert "Hidden from Carl (never shown, never searched): Margin." in page
    assert "Carl cannot read this record, so they cannot move it either." in page
    assert "Welcome the deal" in page  # what automation would do

    status, page = _page(adam, f"{url}?stage=won")  # no user chosen: moved as the system
    assert "Won needs: Signed by: missing." in page and "Signed by is required to enter the stage Won." in page
    assert "As the system, the move would be refused now." in page

    status, page = _page(adam, f"{url}?user__name=nobody")
    assert status == 200 and "There is no active user nobody." in page
    assert adam.get("/admin/explain/deal/99999").status_code == 404
    assert adam.get("/admin/explain/nothing/1").status_code == 404

    status, page = _page(client_for(app, "zoe"), f"{url}?user={ids['sara']}&stage=proposal")
    assert "可以查看：负责人 Alice 是 Sara 的下属：Sara → Alice（销售经理，范围：本人及下属）。" in page
    assert "从“线索”到“方案”：下一阶段。" in page and "以 Sara 的身份，现在可以移动。" in page
