"""Paging and search on large tables, on SQLite and PostgreSQL.

A page counts its total only up to a limit (``Page.total_exact``), a deep page
selects its ids first (the deferred join), search on PostgreSQL is served by a
trigram index, and the list order by an index — all without changing what a
user gets back, and without ``plan`` seeing the indexes as a change after
``apply``. The limits are made tiny here instead of inserting 10,000 rows.
"""

from __future__ import annotations

import logging
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.migrate import search as search_module
from engine.runtime.records import query as query_module
from engine.runtime.records.query import Page
from tests.templates import apply_fresh

ON_POSTGRESQL = bool(os.environ.get("TRELLIS_TEST_DATABASE_URL"))
postgresql_only = pytest.mark.skipif(not ON_POSTGRESQL, reason="the search index is PostgreSQL's (pg_trgm)")

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY}
objects:
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      email: {type: email}
      note: {type: textarea}
      code: {type: text}
      amount: {type: currency}
roles:
  rep:
    objects:
      contact: {read: all, edit: all, create: true}
    hidden: [contact.note]
"""

#: (name, email, note, code) of the records the search tests look through.
RECORDS = [
    ("Café Crème", None, None, None),
    ("CAFÉ NOIR", None, None, None),
    ("Globex pilot", "ops@globex.example", None, None),
    ("Initech", "Buyer@Initech.example", "a GLOBEX referral", None),
    ("50% off deal", None, None, "500"),
    ("Deal 500", None, None, "x%y"),
    ("under_score", None, None, None),
    ("underXscore", None, None, None),
    ("back\\slash", None, None, None),
    ("云帆软件科技", None, "北京分公司", None),
    ("Acme", "ltd@acme.example", None, None),
]
TERMS = [
    "café",
    "CAFÉ",
    "crème",
    "globex",
    "GLOBEX",
    "initech.example",
    "50%",
    "%",
    "0%",
    "x%y",
    "_",
    "under_",
    "r_s",
    "\\",
    "back\\s",
    "云帆",
    "北京",
    "acme ltd",
    "ltd@",
    "e n",
    "zzz",
    "a\x1fb",
]


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
    yield crm
    crm.close()


@pytest.fixture
def searchable(crm):
    with crm.session() as s:
        for name, email, note, code in RECORDS:
            s.create("contact", {"name": name, "email": email, "note": note, "code": code})
    return crm


def add_contacts(crm, count: int, start: int = 0) -> None:
    with crm.session() as s:
        for i in range(start, start + count):
            s.create("contact", {"name": f"Contact {i:03d}", "amount": None if i % 3 == 0 else str(i * 10)})


def names(records) -> list[str]:
    return [r["name"] for r in records]


# --- the capped count ---------------------------------------------------------------------------------
def test_a_small_list_counts_exactly_as_before(crm):
    add_contacts(crm, 7)
    with crm.session() as s:
        page = s.query("contact").page(2, 3)
    assert (len(page), page.total, page.pages, page.total_exact, page.has_next) == (3, 7, 3, True, True)
    with crm.session() as s:
        last = s.query("contact").page(3, 3)
    assert (len(last), last.total, last.total_exact, last.has_next) == (1, 7, True, False)


def test_past_the_count_limit_the_total_says_more_than(crm):
    add_contacts(crm, 7)
    with crm.session() as s:
        page = s.query("contact").page(1, 2, count_limit=5)
    assert (len(page), page.total, page.total_exact, page.has_next) == (2, 5, False, True)
    assert page.pages == 3  # at least: more than 5 records are at least 3 pages of 2


def test_the_default_count_limit_can_be_changed(crm, monkeypatch):
    add_contacts(crm, 7)
    monkeypatch.setattr(query_module, "COUNT_LIMIT", 4)
    with crm.session() as s:
        capped = s.query("contact").page(1, 2)
        exact = s.query("contact").page(1, 2, count_limit=7)
    assert (capped.total, capped.total_exact) == (4, False)
    assert (exact.total, exact.total_exact, exact.pages) == (7, True, 4)


def test_the_last_page_knows_the_exact_total_even_past_the_limit(crm):
    add_contacts(crm, 7)
    with crm.session() as s:
        page = s.query("contact").page(4, 2, count_limit=3)
    assert (names(page), page.total, page.total_exact, page.pages, page.has_next) == (
        ["Contact 006"],
        7,
        True,
        4,
        False,
    )


def test_a_page_past_the_end_is_empty_and_claims_no_more_pages(crm):
    add_contacts(crm, 7)
    with crm.session() as s:
        page = s.query("contact").page(10, 2, count_limit=3)
    assert (len(page), page.total, page.total_exact, page.has_next) == (0, 3, False, False)
    assert page.pages == 2
    with crm.session() as s:
        empty = s.query("contact").filter(name="nobody").page(1, 2, count_limit=3)
    assert (empty.total, empty.total_exact, empty.pages, empty.has_next) == (0, True, 1, False)


def test_count_with_a_limit_stops_after_one_more(crm):
    add_contacts(crm, 7)
    with crm.session() as s:
        assert [s.query("contact").count(limit) for limit in (None, 3, 6, 7, 50)] == [7, 4, 7, 7, 7]


def test_page_keeps_its_old_constructor():
    page = Page(items=[], total=120, page=2, per_page=50)
    assert (page.total_exact, page.pages, page.has_next) == (True, 3, True)


# --- deep pages: the deferred join ----------------------------------------------------------------------
@pytest.mark.parametrize("order", [(), ("-created_at",), ("name",), ("-amount",), ("amount", "-name")])
def test_deep_pages_hold_the_same_records_in_the_same_order(crm, monkeypatch, order):
    add_contacts(crm, 23)
    with crm.session() as s:
        expected = [r.id for r in s.query("contact").order_by(*order).all()]
    monkeypatch.setattr(query_module, "DEFERRED_JOIN_OFFSET", 0)
    with crm.session() as s:
        query = s.query("contact").order_by(*order)
        pages = [query.page(number, 5) for number in range(1, 6)]
    assert [r.id for page in pages for r in page] == expected
    assert [p.total for p in pages] == [23] * 5 and not pages[-1].has_next


def test_a_deep_page_selects_no_hidden_field(crm, monkeypatch):
    with crm.session() as s:
        s.create("contact", {"name": "Hidden note", "note": "secret"})
        s.create("contact", {"name": "Other"})
    monkeypatch.setattr(query_module, "DEFERRED_JOIN_OFFSET", 0)
    with crm.session("rita") as s:
        [record] = s.query("contact").order_by("name").page(1, 1).items
    assert record["name"] == "Hidden note" and "note" not in record


def test_the_list_order_skips_nulls_last_only_where_no_value_is_empty(crm):
    with crm.session() as s:
        created = str(s.query("contact").order_by("-created_at").statement().compile(s.connection))
        amount = str(s.query("contact").order_by("-amount").statement().compile(s.connection))
    assert "created_at DESC, obj_contact.id ASC" in created and "NULLS LAST" not in created
    assert "amount DESC NULLS LAST" in amount


# --- search -------------------------------------------------------------------------------------------
def reference_search(crm, text: str, user: str | None = None) -> list[str]:
    """What search found before the search index: ILIKE on each visible text field, OR-ed."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with crm.session(user) as s:
        table = crm.schema.table("contact")
        columns = [table.c[n] for n in ("name", "email", "note", "code") if s.principal.can_see("contact", n)]
        statement = (
            sa.select(table.c.name)
            .where(sa.or_(*(c.ilike(pattern, escape="\\") for c in columns)))
            .order_by(table.c.id)
        )
        return list(s.connection.execute(statement).scalars())


@pytest.mark.parametrize("user", [None, "rita"])
def test_search_finds_what_ilike_on_each_field_finds(searchable, user):
    for term in TERMS:
        with searchable.session(user) as s:
            found = names(s.query("contact").search(term).all())
        assert found == reference_search(searchable, term, user), term


def test_search_ignores_case_and_takes_percent_and_underscore_literally(searchable):
    def find(term: str) -> list[str]:
        with searchable.session() as s:
            return names(s.query("contact").search(term).all())

    assert find("GLOBEX") == ["Globex pilot", "Initech"]  # in a name, an e-mail and a note
    assert find("café") == (["Café Crème", "CAFÉ NOIR"] if ON_POSTGRESQL else ["Café Crème"])  # SQLite: ASCII only
    assert find("50%") == ["50% off deal"]
    assert find("%") == ["50% off deal", "Deal 500"]
    assert find("_") == ["under_score"]
    assert find("\\") == ["back\\slash"]
    assert find("北京") == ["云帆软件科技"]
    assert find("acme ltd") == []  # the words are in two different fields


def test_search_skips_fields_hidden_from_the_user(searchable):
    with searchable.session("rita") as s:
        assert names(s.query("contact").search("referral").all()) == []
        assert names(s.query("contact").search("globex").all()) == ["Globex pilot"]
    with searchable.session() as s:
        assert names(s.query("contact").search("referral").all()) == ["Initech"]


def test_search_with_a_count_limit_and_a_deep_page(searchable, monkeypatch):
    add_contacts(searchable, 9)
    monkeypatch.setattr(query_module, "DEFERRED_JOIN_OFFSET", 0)
    with searchable.session() as s:
        page = s.query("contact").search("contact 00").order_by("-name").page(2, 3, count_limit=4)
    assert (names(page), page.total, page.total_exact) == (["Contact 005", "Contact 004", "Contact 003"], 4, False)


# --- the indexes -----------------------------------------------------------------------------------------
def explain(crm, statement: sa.Select, *disabled: str) -> str:
    """The query plan; on PostgreSQL with the ``disabled`` plan kinds (``seqscan``…) discouraged,
    as on a large table, where reading all of a few rows would not be the cheapest plan."""
    with crm.engine.connect() as conn:
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            for kind in disabled:
                conn.exec_driver_sql(f"SET LOCAL enable_{kind} = off")
            return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
        return "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_the_default_list_order_reads_the_list_index(searchable):
    with searchable.session() as s:
        statement = s.query("contact").order_by("-created_at").statement().limit(25)
        own = s.query("contact").filter(owner_id=1).order_by("-created_at").statement().limit(25)
    assert "ix_obj_contact_recent" in explain(searchable, statement, "seqscan")
    assert "ix_obj_contact_owner_recent" in explain(searchable, own, "seqscan", "bitmapscan")


def test_search_reads_the_trigram_index(searchable):
    with searchable.session() as s:
        statement = s.query("contact").include_archived().search("globex").statement()
    plan = explain(searchable, statement, "seqscan", "indexscan")
    if ON_POSTGRESQL:
        assert "Bitmap Index Scan on ix_obj_contact_search_" in plan, plan
    else:  # engine.runtime.fulltext
        assert "SCAN fts_obj_contact_" in plan and "VIRTUAL TABLE" in plan, plan


def test_plan_after_apply_is_empty_and_follows_field_changes(crm, write_config, db_url):
    assert crm.plan().empty
    with_phone = CONFIG.replace(
        "      amount: {type: currency}\n", "      amount: {type: currency}\n      phone: {type: phone}\n"
    )
    changed = Trellis.open(write_config(with_phone, "v2.yaml"), db_url)
    try:
        planned = changed.plan()
        rebuilds = [s.kind for s in planned.search_indexes]
        assert rebuilds == ["drop_search_index", "add_search_index"]  # pg_trgm, or SQLite's FTS5
        assert [s.kind for s in planned.steps] == ["add_column"]
        changed.apply()
        assert changed.plan().empty
    finally:
        changed.close()


def test_trellis_plan_after_apply_prints_no_changes(write_config, db_url):
    config = write_config(CONFIG)
    applied = CliRunner().invoke(main, ["apply", str(config), "--db", db_url])
    assert applied.exit_code == 0, applied.output
    planned = CliRunner().invoke(main, ["plan", str(config), "--db", db_url])
    assert planned.exit_code == 0, planned.output
    assert "No changes: the database matches the config." in planned.output


@postgresql_only
def test_without_pg_trgm_apply_logs_why_and_search_still_works(db_url, write_config, monkeypatch, caplog):
    monkeypatch.setattr(search_module, "EXTENSION", "trellis_no_such_extension")
    crm = Trellis.open(write_config(CONFIG), db_url)
    try:
        with caplog.at_level(logging.WARNING, logger=search_module.__name__):
            applied = crm.apply()
        assert applied.search_indexes == ()
        assert "Search indexes are not created" in caplog.text and "CREATE EXTENSION" in caplog.text
        assert crm.plan().empty
        with crm.session() as s:
            s.create("contact", {"name": "Globex pilot"})
            s.create("contact", {"name": "Initech", "note": "globex"})
            assert names(s.query("contact").search("GLOBEX").all()) == ["Globex pilot", "Initech"]
    finally:
        crm.close()
