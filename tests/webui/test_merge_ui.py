"""The merge pages without a browser (issue 14 §4), on SQLite and PostgreSQL: the side-by-side page
leaves out hidden fields, a merge refused by a stage gate comes back naming the missing field,
and a record page offers Merge only to a role with the grant."""

from __future__ import annotations

import pytest

from tests.runtime.test_merge import CONFIG
from tests.webui.conftest import make_app, post, text


@pytest.fixture
def crm(open_crm):
    return open_crm(CONFIG, {"rita": {"roles": ["rep"]}, "vic": {"roles": ["viewer"]}})


@pytest.fixture
def app(crm):
    return make_app(crm)


@pytest.fixture
def pair(crm):
    with crm.session() as s:
        a = s.create("account", {"name": "云帆软件", "secret": "only admins", "visits": 2})
        b = s.create("account", {"name": "Yunfan", "needs": "200 seats", "stage": "qualified", "visits": 3})
    return a.id, b.id


def test_side_by_side_and_a_gate_refusal(login, pair):
    a, b = pair
    client = login("rita")
    assert f'href="/o/account/{a}/merge"' in text(client.get(f"/o/account/{a}"))
    page = text(client.get(f"/o/account/{a}/merge?with={b}"))
    assert 'name="fields.stage"' in page and "5 <span" in page.replace("\n", "")  # visits added up: 5
    assert "secret" not in page and "only admins" not in page  # a hidden field is neither shown nor chosen

    refused = post(
        client,
        f"/o/account/{a}/merge",
        {"with": b, "fields.stage": b, "fields.needs": a},
        form_url=f"/o/account/{a}/merge?with={b}",
    )
    assert refused.status_code == 422
    row = text(refused).split('id="row-needs"')[1].split("</tr>")[0]
    assert 'role="alert"' in row  # the gate's missing field, beside it


def test_no_merge_without_the_grant(login, pair):
    a, b = pair
    client = login("vic")
    assert "/merge" not in text(client.get(f"/o/account/{a}"))
    assert client.get(f"/o/account/{a}/merge?with={b}").status_code == 403
