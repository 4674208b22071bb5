"""A search's page read in the list's order when its text is common, and a team's global search
read owner by owner (``engine.runtime.records.walk``, issue 18 §6): the same records, in the
same order, for a rep, a manager and an executive, as the search index's read gives — on both
databases (SQLite never walks: FTS5 serves its search; the test proves it unchanged there).

On PostgreSQL the walk's windows are made tiny here so that a few dozen records exercise it,
and the tests check that it did answer (else they would compare the old read with itself).
"""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest

from engine.runtime.records import ranking, walk
from engine.runtime.records import search as search_module
from engine.runtime.security.tokens import create_token
from tests.webui.conftest import client_for, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai, currency: CNY}
objects:
  opportunity:
    label: {en: Opportunity, zh: 商机}
    plural_label: {en: Opportunities, zh: 商机}
    title: "{name}"
    fields:
      name: {type: text, required: true}
      note: {type: text}
roles:
  rep:
    objects:
      opportunity: {read: own, edit: own, create: true}
  manager:
    objects:
      opportunity: {read: team, edit: team, create: true}
  executive:
    objects:
      opportunity: {read: all, edit: all, create: true}
"""
USERS = {
    "ann": {"roles": ["manager"], "team": "east"},
    "rob": {"roles": ["rep"], "team": "east"},
    "rae": {"roles": ["rep"], "team": "east"},
    "wes": {"roles": ["rep"], "team": "west"},
    "ceo": {"roles": ["executive"]},
}
POSTGRES = bool(os.environ.get("TRELLIS_TEST_DATABASE_URL"))


@pytest.fixture
def crm(open_crm, clock):
    """90 opportunities of rob, rae, wes and ann, a second apart (every fifth pair at the same
    moment: the id orders them); "Globex" in a third of the names, "globex" in some notes, "Zyxo"
    in two (the newest and an old one), some of each archived."""
    crm = open_crm(CONFIG, USERS, teams=["east", "west"])
    owners = ["rob", "rae", "wes", "rob", "ann", "rae"]
    start = clock.at(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    with crm.directory() as d:
        ids = {user.username: user.id for user in d.list()}
    with crm.session() as s:
        for n in range(90):
            clock.now = start + dt.timedelta(seconds=n - n % 5 % 2)
            name = f"Globex deal {n}" if n % 3 == 0 else f"Initech deal {n}"
            if n in (7, 89):
                name = f"Zyxo pilot {n}"
            note = "met the GLOBEX buyer" if n % 7 == 0 else None
            record = s.create("opportunity", {"name": name, "note": note, "owner_id": ids[owners[n % 6]]})
            if n % 11 == 0:
                s.archive("opportunity", record.id)
    return crm


@pytest.fixture
def walked(monkeypatch):
    """Tiny windows, and what ``page_rows`` answered: a list of (answered, rows or None)."""
    monkeypatch.setattr(walk, "PROBE_ROWS", 8)
    monkeypatch.setattr(walk, "MOST_ROWS", 40)
    monkeypatch.setattr(walk, "RARE_FOUND", 2)
    monkeypatch.setattr(walk, "COMMON_FOUND", 8)
    answers: list[object] = []
    real = walk.page_rows

    def spy(query, limit, offset):
        rows = real(query, limit, offset)
        answers.append(rows is not None)
        return rows

    monkeypatch.setattr(walk, "page_rows", spy)
    return answers


def expected(crm, user: str, text: str) -> list[int]:
    """Every record ``user`` may read (not archived) whose name or note holds ``text``, newest
    first, computed here from all the records (as the system reads them)."""
    with crm.directory() as d:
        users = {u.username: u for u in d.list()}
    me = users[user]
    if user == "ceo":
        owners = None
    elif user == "ann":
        owners = {u.id for u in users.values() if u.team == me.team}
    else:
        owners = {me.id}
    with crm.session() as s:
        records = s.query("opportunity").all()
    lowered = text.lower()
    found = [
        r
        for r in records
        if (owners is None or r["owner_id"] in owners)
        and any(lowered in (r[f] or "").lower() for f in ("name", "note"))
    ]
    found.sort(key=lambda r: (-r["created_at"].timestamp(), r.id))
    return [r.id for r in found]


def listed(client, text_: str, page: int) -> tuple[list[int], bool]:
    """The record ids the web list shows for the search, in order, and whether it links a next page."""
    response = client.get(f"/o/opportunity?q={text_}&per_page=5&page={page}")
    assert response.status_code == 200, text(response)
    body = text(response)
    if "<table" not in body:  # nothing found
        return [], False
    table = body[body.index("<table") : body.index("</table>")]
    ids = list(dict.fromkeys(int(i) for i in re.findall(r"/o/opportunity/(\d+)", table)))
    return ids, f"page={page + 1}" in body


@pytest.mark.parametrize("user", ["rob", "ann", "ceo"])
def test_bigsearch2_list_search_pages_are_the_readable_matches_newest_first(crm, walked, user, monkeypatch):
    client = client_for(make_app(crm), user)
    for text_ in ("globex", "zyxo", "Initech deal 1"):
        everything = expected(crm, user, text_)
        for page in (1, 2, 3):
            ids, more = listed(client, text_, page)
            assert ids == everything[(page - 1) * 5 : page * 5], (user, text_, page)
            assert more == (len(everything) > page * 5), (user, text_, page)
    assert any(walked) == POSTGRES  # PostgreSQL walked the common text's pages; SQLite never walks
    # The search index's read (no walk) gives the very same pages.
    monkeypatch.setattr(walk, "page_rows", lambda query, limit, offset: None)
    for page in (1, 2):
        assert listed(client, "globex", page)[0] == expected(crm, user, "globex")[(page - 1) * 5 : page * 5]


def test_bigsearch2_a_manager_never_sees_another_teams_or_archived_records(crm, walked):
    client = client_for(make_app(crm), "ann")
    with crm.directory() as d:
        east = {u.id for u in d.list() if u.team == "east"}
    with crm.session() as s:
        owner_of = {r.id: r["owner_id"] for r in s.query("opportunity").include_archived().all()}
        archived = {r.id for r in s.query("opportunity").include_archived().filter(archived_at__isnull=False).all()}
    shown = []
    for page in range(1, 8):
        ids, more = listed(client, "globex", page)
        shown += ids
        if not more:
            break
    assert shown and all(owner_of[i] in east for i in shown)
    assert not archived & set(shown)
    assert shown == expected(crm, "ann", "globex")


def test_bigsearch2_global_search_counts_and_ranks_the_teams_matches(crm, walked, monkeypatch):
    monkeypatch.setattr(search_module, "SEARCH_CAP", 6)
    sources: list[bool] = []
    real = ranking.by_owner

    def spy(*args):
        statement = real(*args)
        sources.append(statement is not None)
        return statement

    monkeypatch.setattr(ranking, "by_owner", spy)
    app = make_app(crm)
    secret, _ = create_token(crm, "ann", "test")
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    readable = set(expected(crm, "ann", ""))

    def found(q: str) -> dict:
        response = client.get(f"/api/v1/search?q={q}&objects=opportunity&per_object=20", headers=headers)
        assert response.status_code == 200, text(response)
        return response.get_json()

    common = found("globex")
    (group,) = common["data"]
    assert common["meta"]["count_capped"] is True and group["total"] == 6
    assert {hit["id"] for hit in group["records"]} <= readable and len(group["records"]) == 6
    assert all("globex" in (hit["record"]["name"] + (hit["record"]["note"] or "")).lower() for hit in group["records"])
    assert any(sources) == POSTGRES  # read owner by owner on PostgreSQL
    rare = found("zyxo")  # fewer than the cap: every match, ranked (a title starting with the text first)
    (group,) = rare["data"]
    assert rare["meta"]["count_capped"] is False
    assert sorted(hit["id"] for hit in group["records"]) == sorted(expected(crm, "ann", "zyxo"))
    monkeypatch.setattr(ranking, "by_owner", lambda *args: None)
    assert found("zyxo") == rare  # the search index's read: the same answer
    unfound = found("globex")
    assert unfound["meta"]["count_capped"] is True and unfound["data"][0]["total"] == 6
