"""The duplicates page over HTTP (issue 14 §3), on SQLite and PostgreSQL: the list page links it
for holders of the merge grant, "Find duplicates" queues a run that the worker runs ("running…"
then the result), groups show their records as the viewer may read them (another owner's record
by its owner only) in Chinese and English, "Merge" opens the side-by-side page with the group's
records, "Not a duplicate" is remembered, and a user without the grant gets 403."""

from __future__ import annotations

import re

import pytest

from engine.runtime.jobs import worker
from engine.runtime.records.finder import finding
from tests.runtime.test_dup_finder import CONFIG
from tests.webui.conftest import client_for, post, text


@pytest.fixture
def crm(open_crm):
    return open_crm(
        CONFIG,
        {
            "rita": {"roles": ["rep"], "display_name": "Rita Chen", "locale": "zh_CN"},
            "sam": {"roles": ["rep"], "display_name": "Sam Li"},
            "bo": {"roles": ["boss"]},
            "vic": {"roles": ["viewer"]},
        },
    )


@pytest.fixture
def records(crm):
    with crm.session() as s:
        users = {u: s.unit.user(crm.principal(u).user_id) for u in ("rita", "sam")}
        rita, sam = users["rita"].id, users["sam"].id
        made = {
            "a": s.create("account", {"name": "上海云帆软件科技有限公司", "owner_id": rita}),
            "b": s.create("account", {"name": "云帆软件(上海)有限公司", "owner_id": sam}, allow_duplicate=True),
            "c": s.create("account", {"name": "Northwind Traders Inc.", "owner_id": rita}),
            "d": s.create("account", {"name": "Northwind Traders, Ltd", "owner_id": rita}, allow_duplicate=True),
        }
    return {k: v.id for k, v in made.items()}


def test_find_queue_run_show_merge_and_dismiss(crm, login, records):
    client = login("bo")
    assert 'href="/o/account/duplicates"' in text(client.get("/o/account"))
    page = text(client.get("/o/account/duplicates"))
    assert "Nobody has looked for duplicates here yet." in page

    queued = post(client, "/o/account/duplicates/find", {}, form_url="/o/account/duplicates")
    assert queued.status_code == 302
    page = text(client.get("/o/account/duplicates"))
    assert "Waiting for the worker" in page and 'http-equiv="refresh"' in page
    assert worker.run_once(crm).finder_runs == 1

    page = text(client.get("/o/account/duplicates"))
    assert "http-equiv" not in page and "2 groups" in page and "Last search" in page
    assert "上海云帆软件科技有限公司" in page and "云帆软件(上海)有限公司" in page and "Northwind Traders, Ltd" in page
    a, b, c, d = (records[k] for k in "abcd")
    assert f"/o/account/{a}/merge?with={b}" in page.replace("&amp;", "&")

    section = next(part for part in page.split('class="panel duplicate-group"') if f'href="/o/account/{c}"' in part)
    action = re.search(r'action="(/o/account/duplicates/\d+/dismiss)"', section).group(1)
    dismissed = post(client, action, {"record": c, "whole": "1"}, form_url="/o/account/duplicates")
    assert dismissed.status_code == 302
    page = text(client.get("/o/account/duplicates"))
    assert "1 group" in page and "Northwind" not in page

    merged = post(client, f"/o/account/{a}/merge", {"with": b}, form_url=f"/o/account/{a}/merge?with={b}")
    assert merged.status_code == 302
    page = text(client.get("/o/account/duplicates"))
    assert "0 groups" in page and "云帆软件(上海)" not in page


def test_a_rep_sees_another_owners_record_by_its_owner_only_in_chinese(crm, app, records):
    finding.find(crm, "account")
    client = client_for(app, "rita")
    page = text(client.get("/o/account/duplicates"))
    assert "疑似重复的" in page and "上海云帆软件科技有限公司" in page
    assert "云帆软件(上海)" not in page and "您无权查看的记录（负责人：Sam Li）" in page
    assert f"/o/account/{records['a']}/merge" not in page  # one readable record: nothing to merge
    assert f"/o/account/{records['c']}/merge?with={records['d']}" in page  # both hers
    assert f"/o/account/{records['b']}" not in page

    viewer = client_for(app, "vic")
    assert 'href="/o/account/duplicates"' not in text(viewer.get("/o/account"))
    assert viewer.get("/o/account/duplicates").status_code == 403
    refused = post(viewer, "/o/account/duplicates/find", {}, form_url="/o/account")
    assert refused.status_code == 403
