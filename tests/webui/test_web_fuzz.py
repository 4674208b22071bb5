"""Fuzzing the web UI's forms and list parameters: no hostile input gets a 5xx.

Hostile values (lone surrogates sent as the UTF-8 bytes a broken client would send,
control characters, CR/LF, NUL, long runs) are POSTed to the create and edit forms and
the move endpoint, and put into the list's and board's query strings. ``TESTING``
propagates any exception out of a view, which fails the test as a 5xx would. Bounded
and derandomised like the API fuzzers (``tests/webui/test_api_fuzz.py``), whose config,
fields and strategies it reuses.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.webui.conftest import log_in, make_app, text
from tests.webui.test_api_fuzz import CONFIG, FIELDS, FUZZ_SETTINGS, HOSTILE_TEXT


def encode(pairs) -> str:
    """``pairs`` URL-encoded from their UTF-8 bytes, lone surrogates included (as a broken client sends them)."""
    return "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in pairs
    )


@pytest.fixture
def crm(open_crm):
    crm = open_crm(CONFIG, {"root": {"roles": ["boss"]}})
    with crm.session("root") as s:
        account = s.create("account", {"name": "Acme"})
        s.create("deal", {"name": "Big", "stage": "qualify", "amount": "10", "account": account.id})
    return crm


@pytest.fixture
def app(crm, tmp_path):
    return make_app(crm, WTF_CSRF_ENABLED=False, TRELLIS_UPLOAD_DIR=str(tmp_path / "uploads"))


@pytest.fixture
def client(app):
    client = app.test_client()
    assert log_in(client, "root").status_code == 302
    return client


def test_no_hostile_form_or_move_gets_a_5xx(client):
    fields = st.sampled_from(FIELDS["deal"] + ("owner_id", "owner_id__name", "version", "stage_reason", "next"))
    form = st.lists(st.tuples(fields, HOSTILE_TEXT), max_size=5)
    urls = st.sampled_from(["/o/deal/new", "/o/deal/1/edit", "/o/deal/1/move", "/o/deal/1/delete"])

    @FUZZ_SETTINGS
    @given(url=urls, pairs=form, as_json=st.booleans())
    def fuzz(url, pairs, as_json) -> None:
        if as_json and url.endswith("/move"):
            body = {"stage": "quote", "version": 1, "values": dict(pairs)}
            response = client.post(
                url, data=json.dumps(body), content_type="application/json", headers={"Accept": "application/json"}
            )
        else:
            response = client.post(
                url,
                data=encode([("version", "1"), *pairs]).encode("ascii"),
                content_type="application/x-www-form-urlencoded",
            )
        assert response.status_code < 500, (url, pairs, text(response)[:300])

    fuzz()


def test_no_hostile_list_or_board_parameter_gets_a_5xx(client):
    keys = st.one_of(
        st.sampled_from(FIELDS["deal"] + ("q", "sort", "page", "owner", "name__op", "amount__gte")), HOSTILE_TEXT
    )

    @FUZZ_SETTINGS
    @given(
        path=st.sampled_from(["/o/deal", "/o/deal/board", "/o/deal/lookup", "/o/deal/export.csv"]),
        pairs=st.lists(st.tuples(keys, HOSTILE_TEXT), max_size=4),
    )
    def fuzz(path, pairs) -> None:
        response = client.get(f"{path}?{encode(pairs)}")
        assert response.status_code < 500, (path, pairs, text(response)[:300])

    fuzz()


def test_a_huge_search_or_sort_is_a_friendly_400_page(client):
    response = client.get("/o/deal", query_string={"q": "x" * 100_000})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "The filter was not applied: the search text is at most 200 characters" in text(response)
    response = client.get("/o/deal", query_string={"sort": ",".join(["name"] * 5000)})
    assert response.status_code == 400 and "The filter was not applied" in text(response)
