"""Retention with approval (issue 18 §4) as the approver sees it in the web UI: the worker's run
(``settings.retention_automatic``) holds the records due in a request; the approvers get a
notification (the bell) and find it on the approvals page with the report — how many records,
the policy, the examples they may read and none they may not —, approve or reject it (a reason
required to reject), and the next worker pass purges exactly the approved records still due.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from engine.runtime.jobs import worker
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import START, client_for, make_app, post, text

CONFIG = """
trellis: 1
settings:
  timezone: Asia/Shanghai
  languages: [en, zh]
  retention_automatic: true
  retention_approval: {role: compliance}
roles:
  compliance:
    label: {en: Compliance, zh: 合规}
    objects: {lead: {read: team}}
    permissions: [approve]
  rep:
    objects: {lead: {read: own, edit: own, create: true}}
objects:
  lead:
    title: "{name}"
    label: {en: Lead, zh: 线索}
    plural_label: {en: Leads, zh: 线索}
    retention: {years: 2, action: purge, from: ended_on}
    fields:
      name: {type: text, required: true}
      ended_on: {type: date, label: {en: Ended on, zh: 结束日期}}
"""
USERS = {
    "cora": {"roles": ["compliance"], "team": "east"},
    "zhao": {"roles": ["compliance"], "team": "east", "locale": "zh_CN"},
    "eve": {"roles": ["rep"], "team": "east"},
    "wes": {"roles": ["rep"], "team": "west"},
}
LONG_AGO = (START - dt.timedelta(days=5 * 365)).date()


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, USERS, teams=["east", "west"])
    with crm.session(user="eve") as s:
        s.create("lead", {"name": "East, ended long ago", "ended_on": LONG_AGO})
        s.create("lead", {"name": "East, still open"})
    with crm.session(user="wes") as s:
        s.create("lead", {"name": "West, ended long ago", "ended_on": LONG_AGO})
    return crm


@pytest.fixture
def app(crm):
    return make_app(crm)


def names(crm) -> set[str]:
    with crm.engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT name FROM obj_lead")).scalars())


def retention_section(page: str) -> str:
    found = re.search(
        r'<section class="panel approvals-list" aria-labelledby="retention-h">(.*?)</section>', page, re.S
    )
    return found.group(1) if found else ""


def test_retapprove_the_approver_reviews_and_the_worker_purges_what_was_approved(app, crm):
    everything = names(crm)
    first = worker.run_once(crm, START, imports=False, mail=False)
    assert [(o.object, o.action, o.done) for o in first.retention] == [("lead", "requested", 2)]
    assert names(crm) == everything  # nothing goes before it is approved

    cora = client_for(app, "cora")
    home = text(cora.get("/approvals"))
    assert re.search(r'<span class="badge bell-count" aria-hidden="true">1</span>', home)
    assert re.search(r'>Approvals <span class="badge"[^>]*><span class="vh">: </span>1</span>', home)
    bell = text(cora.get("/notifications"))
    assert "Retention: 2 Leads wait for your approval to be purged (request #1)" in bell
    assert 'href="/approvals#retention-h"' in bell
    section = retention_section(home)
    assert "Purge 2 Leads past their retention" in section
    assert "Policy: kept 2 years after Ended on, so those before" in section
    assert "East, ended long ago" in section
    assert "West" not in section  # outside cora's read scope: never shown to her
    assert "Waiting for approval" in section and 'value="approve"' in section
    eve = client_for(app, "eve")
    assert "retention" not in text(eve.get("/approvals")).lower()

    url = "/approvals/retention/1/decide"
    refused = post(cora, url, {"decision": "reject", "comment": " "}, form_url="/approvals")
    assert refused.status_code == 422
    assert "Say why you reject the request." in retention_section(text(refused))
    assert post(eve, url, {"decision": "approve"}, form_url="/approvals").status_code == 302
    assert "retention request 1 is for role compliance to decide" in text(eve.get("/approvals"))

    approved = post(cora, url, {"decision": "approve"}, form_url="/approvals", follow_redirects=True)
    assert approved.status_code == 200
    page = text(approved)
    assert "Approved: the next retention run purges those of the 2 records still due and unchanged." in page
    assert "Approved by cora; the next retention run carries it out." in retention_section(page)

    second = worker.run_once(crm, START, imports=False, mail=False)
    assert [(o.object, o.action, o.done, o.finished) for o in second.retention] == [("lead", "purge", 2, True)]
    assert names(crm) == {"East, still open"}
    done = retention_section(text(cora.get("/approvals")))
    assert "Carried out" in done and "2 done, 0 kept" in done
    with crm.engine.connect() as connection:
        decided = connection.execute(
            sa.text("SELECT username, record_id FROM sys_audit WHERE action = 'retention.approved'")
        ).all()
    assert [tuple(d) for d in decided] == [("cora", None)]
    assert worker.run_once(crm, START, imports=False, mail=False).retention == []


def test_retapprove_the_request_reads_in_chinese(app, crm):
    worker.run_once(crm, START, imports=False, mail=False)
    zhao = client_for(app, "zhao")
    section = retention_section(text(zhao.get("/approvals")))
    assert "彻底删除 2 条已超过保留期限的线索" in section and "自“结束日期”起保留 2 年" in section
    answer = post(zhao, "/approvals/retention/1/decide", {"decision": "reject", "comment": ""}, form_url="/approvals")
    assert answer.status_code == 422 and "请说明拒绝的理由。" in text(answer)
    with crm.engine.connect() as connection:
        title = connection.execute(sa.text("SELECT title FROM sys_notifications WHERE user_id = 2")).scalar()
    assert title == "保留策略：2 条线索等待您批准彻底删除（申请 #1）"


def test_retapprove_the_api_lists_and_decides_as_the_approver(app, crm):
    worker.run_once(crm, START, imports=False, mail=False)
    client = app.test_client()
    bearer = {name: {"Authorization": f"Bearer {create_token(crm, name, 'api')[0]}"} for name in ("zhao", "eve")}
    listed = client.get("/api/v1/retention-requests", headers=bearer["zhao"])
    assert listed.status_code == 200
    [found] = listed.get_json()["data"]
    assert (found["id"], found["action"], found["count"], found["status"], found["can_decide"]) == (
        1,
        "purge",
        2,
        "pending",
        True,
    )
    assert found["policy"]["years"] == 2 and found["policy"]["from"] == "ended_on"
    assert [e["title"] for e in found["examples"]] == ["East, ended long ago"]  # not the west record
    assert client.get("/api/v1/retention-requests", headers=bearer["eve"]).get_json() == {"data": []}
    assert client.get("/api/v1/retention-requests/1", headers=bearer["eve"]).status_code == 404
    assert client.post("/api/v1/retention-requests/1/approve", headers=bearer["eve"]).status_code == 404
    missing = client.post("/api/v1/retention-requests/1/reject", headers=bearer["zhao"], json={})
    assert missing.status_code == 422 and missing.get_json()["error"]["fields"]["comment"][0] == {
        "code": "required",
        "message": "请说明拒绝的理由。",  # zhao's locale
    }
    rejected = client.post(
        "/api/v1/retention-requests/1/reject", headers=bearer["zhao"], json={"comment": "Audit pending"}
    )
    assert rejected.status_code == 200
    assert (rejected.get_json()["status"], rejected.get_json()["decided_by"]) == ("rejected", "zhao")
    again = client.post("/api/v1/retention-requests/1/approve", headers=bearer["zhao"])
    assert again.status_code == 422
    assert worker.run_once(crm, START, imports=False, mail=False).retention == []  # the rejection stands
    assert len(names(crm)) == 3
