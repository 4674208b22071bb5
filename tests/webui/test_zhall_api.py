"""Refusals read in Chinese when the reader speaks it, and in the same English as ever otherwise.

Through the REST API with ``Accept-Language: zh``: a refused token (before the user is known),
a missing record named by its label, an unknown filter field, a delete refused because other
records still point at the record (their labels listed), a permission missing, a bad body and an
unknown route. Through the CLI: ``trellis explain stage --lang zh`` of a missing record.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.runtime.security.tokens import create_token

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  account:
    label: {en: Account, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
  lead:
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, label: {en: Account, zh: 所属客户}}
    pipeline:
      stages: [new, won]
roles:
  boss:
    objects:
      "*": {read: all, edit: all, delete: all, create: true}
  viewer:
    objects:
      "*": {read: all}
"""

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"boss": {"roles": ["boss"]}, "vic": {"roles": ["viewer"]}}, passwords=False)


@pytest.fixture
def api(client, crm):
    tokens = {name: create_token(crm, name, "test")[0] for name in ("boss", "vic")}

    def call(user, method, url, headers=None, **kwargs):
        sent = {**(headers or {}), **({"Authorization": f"Bearer {tokens[user]}"} if user else {})}
        response = client.open(url, method=method, headers=sent, **kwargs)
        assert response.mimetype == "application/json", response.data
        return response.status_code, response.get_json()["error"] if response.status_code >= 400 else None

    return call


def test_api_refusals_speak_chinese_and_keep_their_codes(api):
    status, error = api(None, "GET", "/api/v1/lead", headers={**ZH, "Authorization": "Bearer trl_nope"})
    assert status == 401
    assert error["message"] == "未知的 API 令牌；请检查是否完整复制，或创建新令牌。"
    status, error = api(None, "GET", "/api/v1/lead", headers=ZH)
    assert (status, error["code"]) == (401, "unauthorized")
    assert error["message"].startswith("此 API 需要令牌")

    status, error = api("boss", "GET", "/api/v1/lead/424242", headers=ZH)
    assert (status, error["code"], error["message"]) == (404, "not_found", "没有找到线索 424242。")
    status, english = api("boss", "GET", "/api/v1/lead/424242")
    assert english["message"] == "Lead 424242 not found."

    status, error = api("boss", "GET", "/api/v1/lead?sort=nope", headers=ZH)
    assert (status, error["code"]) == (400, "bad_query") and error["message"].startswith("无法这样排序"), error

    assert api("boss", "POST", "/api/v1/account", json={"name": "Acme"})[0] == 201
    assert api("boss", "POST", "/api/v1/lead", json={"name": "Deal", "account": 1})[0] == 201
    status, error = api("boss", "DELETE", "/api/v1/account/1", headers=ZH)
    assert (status, error["code"], error["message"]) == (422, "validation_failed", "客户 未保存：1 个问题。"), error
    problem = error["fields"]["_record"][0]
    assert (problem["code"], problem["message"]) == (
        "in_use",
        "仍有记录引用此记录：线索.所属客户（1 条）；请先修改或删除它们。",
    )
    _, english = api("boss", "DELETE", "/api/v1/account/1")
    assert (
        english["fields"]["_record"][0]["message"]
        == "Still referred to by 1 Lead.Account; change or delete those first."
    )

    status, error = api("vic", "POST", "/api/v1/lead", headers=ZH, json={"name": "X"})
    assert (status, error["code"], error["message"]) == (403, "forbidden", "您无权创建线索记录。")
    status, error = api("boss", "POST", "/api/v1/lead", headers=ZH, data="[1]", content_type="application/json")
    assert (status, error["message"]) == (400, "请求体必须是由字段值组成的 JSON 对象，而不是 JSON array。")
    status, error = api("boss", "GET", "/api/v1/nowhere/at/all", headers=ZH)
    assert status == 404 and error["message"].startswith("没有 API 路径 /api/v1/nowhere/at/all")


def test_cli_explain_stage_refuses_in_chinese(crm, db_url):
    args = ["explain", "stage", str(crm.config.source_path), "lead", "99", "won", "--db", db_url]
    chinese = CliRunner().invoke(main, [*args, "--lang", "zh"])
    assert chinese.exit_code == 1 and "没有找到线索 99。" in chinese.output, chinese.output
    english = CliRunner().invoke(main, [*args, "--lang", "en"])
    assert english.exit_code == 1 and "lead 99 not found" in english.output, english.output
    ghost = CliRunner().invoke(main, [*args, "--lang", "zh", "--as", "ghost"])
    assert "没有用户 ghost。" in ghost.output, ghost.output
