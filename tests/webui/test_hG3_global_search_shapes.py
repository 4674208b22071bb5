"""Global search's statements are built once per shape and then only bound (issue 18 §6,
``engine.runtime.records.ranking``): what each user sees must stay theirs — on SQLite and
PostgreSQL, a second text of the same shape reuses the statement and finds its own records;
two reps of the same scope shape each see their own records, a manager the team's; a hidden
field is never matched; an object of which the user's scope holds nothing shows nothing; and
the search reads in the login check's transaction, like a list page.
"""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from engine.runtime.records import ranking
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  account:
    label: {en: Account, zh: 客户}
    plural_label: {en: Accounts, zh: 客户}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      secret: {type: text}
  contract:
    label: {en: Contract, zh: 合同}
    plural_label: {en: Contracts, zh: 合同}
    title: "{name}"
    fields:
      name: {type: text, required: true}
roles:
  rep:
    objects:
      account: {read: own, edit: own, create: true}
      contract: {read: own, edit: own, create: true}
    hidden: [account.secret]
  manager:
    objects:
      account: {read: team, edit: team, create: true}
      contract: {read: team, edit: team, create: true}
"""
USERS = {
    "ann": {"roles": ["manager"], "team": "east"},
    "rob": {"roles": ["rep"], "team": "east"},
    "rae": {"roles": ["rep"], "team": "east"},
    "wes": {"roles": ["rep"], "team": "west"},
}


@pytest.fixture
def app(open_crm):
    crm = open_crm(CONFIG, USERS, teams=["east", "west"])
    with crm.directory() as d:
        ids = {user.username: user.id for user in d.list()}
    rows = {
        "rob": ["Globex Rob", "Initech Rob"],
        "rae": ["Globex Rae", "Initech Rae"],
        "wes": ["Globex Wes", "Initech Wes"],
        "ann": ["Globex Ann"],
    }
    with crm.session() as s:
        for owner, names in rows.items():
            for name in names:
                s.create("account", {"name": name, "owner_id": ids[owner]})
        s.create("account", {"name": "Umbrella Rob", "secret": "hush money", "owner_id": ids["rob"]})
        s.create("contract", {"name": "Globex contract", "owner_id": ids["ann"]})
    return make_app(crm)


def found(client, q: str) -> dict[str, list[str]]:
    """The top bar's suggestions for ``q``: object → the titles shown."""
    response = client.get(f"/search/suggest?q={q}")
    assert response.status_code == 200, text(response)
    return {group["object"]: sorted(hit["title"] for hit in group["hits"]) for group in response.get_json()["groups"]}


def test_hG3_a_second_text_reuses_the_statement_and_finds_its_own_records(app, monkeypatch):
    builds: list[str] = []
    real = ranking._best

    def counted(query, *args):
        builds.append(query.obj.name)
        return real(query, *args)

    monkeypatch.setattr(ranking, "_best", counted)
    rob = client_for(app, "rob")
    assert found(rob, "globex") == {"account": ["Globex Rob"]}
    assert builds == ["account", "contract"]  # one statement per object, built once
    assert found(rob, "initech") == {"account": ["Initech Rob"]}
    assert found(rob, "GLOBEX") == {"account": ["Globex Rob"]}
    assert builds == ["account", "contract"]  # other texts of the same shape: bound, not built
    page = html.unescape(text(rob.get("/search?q=initech")))  # the results page: ten per object, same shape
    assert "Initech Rob" in page and "Initech Rae" not in page and "Globex" not in page


def test_hG3_each_user_sees_their_own_scope_and_fields_through_the_same_statements(app):
    rob, rae, ann, wes = (client_for(app, name) for name in ("rob", "rae", "ann", "wes"))
    for _ in range(2):  # alternately, so that one user's bound owners never serve another
        assert found(rob, "globex") == {"account": ["Globex Rob"]}
        assert found(rae, "globex") == {"account": ["Globex Rae"]}
        assert found(wes, "globex") == {"account": ["Globex Wes"]}
        assert found(ann, "globex") == {
            "account": ["Globex Ann", "Globex Rae", "Globex Rob"],
            "contract": ["Globex contract"],
        }
    # the reps' scope holds no contract: the object shows nothing, as for a text nobody holds
    assert "contract" not in found(rob, "contract") and found(ann, "contract") == {"contract": ["Globex contract"]}
    assert found(wes, "umbrella") == {}
    # a hidden field is never matched nor shown: rob owns the record, but may not see its secret
    assert found(rob, "hush") == {} and found(ann, "hush") == {"account": ["Umbrella Rob"]}
    response = rob.get("/search/suggest?q=umbrella")
    assert response.get_json()["groups"][0]["hits"][0]["title"] == "Umbrella Rob" and "hush" not in text(response)
    assert "hush" in text(ann.get("/search?q=hush"))  # the manager sees the field that matched


def test_hG3_the_search_reads_in_the_login_checks_transaction(app):
    engine = app.extensions["trellis"].engine
    rob = client_for(app, "rob")
    checkouts: list[object] = []

    def checkout(*args: object) -> None:
        checkouts.append(args)

    sa.event.listen(engine, "checkout", checkout)
    try:
        page = rob.get("/search?q=globex")
        suggested = rob.get("/search/suggest?q=globex")
    finally:
        sa.event.remove(engine, "checkout", checkout)
    assert page.status_code == 200 and "Globex Rob" in html.unescape(text(page))
    assert suggested.status_code == 200
    assert len(checkouts) == 2  # one connection per request: the login check's read is the search's
    assert rob.get("/search?q=a").status_code == 422 and rob.get("/search").status_code == 200
    assert engine.pool.checkedout() == 0  # a refused text, or none, leaves no read open either
