"""Reading a list's query string (``engine.runtime.records.listparams.parse``) without a database:
what each parameter becomes, the problems (with codes) of what cannot be read, the query
string written back, and ``owner=team`` as the ``team`` scope. The records each list gets
are tested through all four channels in ``tests/webui/test_list_params.py``.
"""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from engine.runtime.messages import LANGUAGES, MESSAGES
from engine.runtime.records import listparams
from engine.runtime.records.listparams import BadListParams, ListParams, parse
from engine.runtime.records.query import MAX_PER_PAGE
from engine.runtime.security.permissions import Principal

pytestmark = pytest.mark.no_database


def test_every_parameter_is_read():
    params = parse(
        {
            "q": " acme ",
            "sort": "-amount, name",
            "page": "2",
            "per_page": "20",
            "owner": " team ",
            "stage": "quote",
            "amount__gte": "1000",
        }
    )
    assert params.search == "acme" and params.sort == ("-amount", "name") and params.sort_text == "-amount,name"
    assert (params.page, params.per_page, params.owner) == (2, 20, "team")
    assert dict(params.filters) == {"stage": "quote", "amount__gte": "1000"}
    assert params.problems == {}


def test_empty_values_are_no_parameter():
    params = parse({"q": "", "owner": " ", "stage": "", "page": "", "per_page": "", "sort": ""})
    assert params == ListParams()
    assert (params.page, params.per_page) == (1, None)


def test_the_query_string_written_back_reads_the_same():
    params = parse(MultiDict([("q", "a"), ("sort", "-name"), ("page", "3"), ("owner", "7"), ("stage", "won")]))
    assert params.args() == {"q": "a", "sort": "-name", "page": 3, "owner": "7", "stage": "won"}
    assert parse({k: str(v) for k, v in params.args().items()}) == params
    assert params.args(page=None, stage="lost") == {"q": "a", "sort": "-name", "owner": "7", "stage": "lost"}


@pytest.mark.parametrize(
    ("args", "parameter", "code"),
    [
        ([("owner", "someone")], "owner", "bad_owner"),
        ([("owner", "-3")], "owner", "bad_owner"),
        ([("owner", "9" * 40)], "owner", "bad_owner"),
        ([("owner", "me"), ("owner_id__in", "1,2")], "owner", "owner_conflict"),
        ([("page", "0")], "page", "bad_page"),
        ([("page", "abc")], "page", "bad_page"),
        ([("page", "1" * 10)], "page", "bad_page"),
        ([("per_page", str(MAX_PER_PAGE + 1))], "per_page", "bad_per_page"),
        ([("stage", "a"), ("stage", "b")], "stage", "repeated_parameter"),
        ([("na\x00me", "x")], "name", "nul_character"),
        ([("q", "a\x00")], "q", "nul_character"),
        ([("q", "x" * 201)], "q", "search_too_long"),
    ],
)
def test_what_cannot_be_read_is_a_problem_with_a_code_and_left_out(args, parameter, code):
    params = parse(MultiDict(args))
    assert [e.code for e in params.problems[parameter]] == [code]
    assert params.problems[parameter][0].params["parameter"] == parameter
    assert parameter not in params.filters and params.owner == "" and params.page == 1 and params.search == ""


def test_the_problems_are_raised_all_at_once():
    error = BadListParams(parse(MultiDict([("page", "x"), ("owner", "y")])).problems)
    assert set(error.errors) == {"page", "owner"} and error.code == "bad_query"
    assert str(error) == "page must be a whole number from 1, not 'x'; owner is me, team or a user id, not 'y'"


def test_every_problem_code_reads_in_every_language():
    codes = {
        "bad_owner",
        "owner_conflict",
        "bad_page",
        "bad_per_page",
        "repeated_parameter",
        "nul_character",
        "search_too_long",
        "bad_filter",
        "bad_search",
        "bad_sort",
    }
    assert all(set(MESSAGES[code]) == set(LANGUAGES) for code in codes)


def test_owner_team_is_the_team_scope_with_the_user():
    member = Principal(
        user_id=2, username="alice", team_id=1, team_member_ids=frozenset({1, 2, 3}), subtree_ids=frozenset({2, 9})
    )
    loner = Principal(user_id=5, username="zoe", subtree_ids=frozenset({5, 6}))
    team = ListParams(owner="team")
    assert team.owner_filter(member) == {"owner_id__in": [1, 2, 3]}  # never the subtree
    assert team.owner_filter(loner) == {"owner_id__in": [5]}
    assert sorted(team.owner_filter(member)["owner_id__in"]) == sorted(member.owners("team"))
    assert ListParams(owner="me").owner_filter(member) == {"owner_id": 2}
    assert ListParams(owner="9").owner_filter(member) == {"owner_id": "9"}
    assert ListParams().owner_filter(member) == {}
    assert listparams.OWNER_SHORTCUTS == ("me", "team")
