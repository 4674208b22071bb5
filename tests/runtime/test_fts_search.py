"""Search through SQLite's FTS5 trigram index (``engine.runtime.fulltext``, issue 18 §6).

A search finds exactly what the LIKE conditions alone find — English in any ASCII case,
Chinese, phone numbers however typed, LIKE's special characters, never a hidden or encrypted
field, and a two-character Chinese text by LIKE alone — whether the index only narrows the rows
or decides alone (``fulltext.decides``: not for a text with ``k``/``s``, whose lookalikes the
Kelvin sign and the long s FTS5 folds and LIKE does not, nor for one with non-ASCII letters). The same
expectations run on PostgreSQL (its trigram index). On SQLite the index is also proved to
follow every write channel (FTS5's ``integrity-check`` compares it with the table), and
``trellis plan``/``apply`` to create, rebuild and drop it with the config.
"""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from engine import Trellis
from engine.cli import main
from engine.runtime import fulltext
from engine.runtime.tables import search_fields
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, phone_region: CN}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
      note: {type: textarea}
      margin_note: {type: text}
      id_number: {type: text, encrypted: true}
      employees: {type: integer}
roles:
  rep:
    objects:
      account: {read: all, edit: all, create: true, delete: all}
    hidden: [account.margin_note]
"""
ROWS = [
    {"name": "华为技术有限公司", "phone": "+86 138 0013 8000", "note": "Globex partner"},
    {"name": "Globex Ltd", "note": "É café"},
    {"name": "小米科技", "note": "华为的对手", "margin_note": "globex secret", "id_number": "110101199003077777"},
    {"name": "Straße GmbH", "phone": "010 6552 1234", "note": 'says "hi" at 100% _under_ score'},
    {"name": "ACME Widgets", "note": "acme and GLOBEX merge talks"},
    {"name": "\u212aelvin Instruments", "note": "ma\u017fter plan"},  # the Kelvin sign, the long s
    {"name": "Kelvin Labs", "note": "ＡＣＭＥ fullwidth"},
]
#: search text → the names found as the system (all fields) and as the rep (margin_note hidden).
EXPECTED = {
    "globex": (
        {"华为技术有限公司", "Globex Ltd", "小米科技", "ACME Widgets"},
        {"华为技术有限公司", "Globex Ltd", "ACME Widgets"},
    ),
    "GLOBEX LT": ({"Globex Ltd"}, {"Globex Ltd"}),
    "华为技": ({"华为技术有限公司"}, {"华为技术有限公司"}),
    "华为": ({"华为技术有限公司", "小米科技"}, {"华为技术有限公司", "小米科技"}),  # two characters: LIKE alone
    "138 0013 8000": ({"华为技术有限公司"}, {"华为技术有限公司"}),
    "6552 1234": ({"Straße GmbH"}, {"Straße GmbH"}),
    "É C": ({"Globex Ltd"}, {"Globex Ltd"}),
    "straße": ({"Straße GmbH"}, {"Straße GmbH"}),
    '"hi"': ({"Straße GmbH"}, {"Straße GmbH"}),
    "100% _under_": ({"Straße GmbH"}, {"Straße GmbH"}),
    "0% _": ({"Straße GmbH"}, {"Straße GmbH"}),
    "secret": ({"小米科技"}, set()),  # margin_note is hidden from the rep
    "1101011990": (set(), set()),  # id_number is encrypted: never searched
    "gLoBeX": (
        {"华为技术有限公司", "Globex Ltd", "小米科技", "ACME Widgets"},
        {"华为技术有限公司", "Globex Ltd", "ACME Widgets"},
    ),
    "elvin": ({"\u212aelvin Instruments", "Kelvin Labs"}, {"\u212aelvin Instruments", "Kelvin Labs"}),
    "ACME": ({"ACME Widgets"}, {"ACME Widgets"}),  # not the fullwidth ＡＣＭＥ
    "技术有": ({"华为技术有限公司"}, {"华为技术有限公司"}),
}
#: SQLite's LIKE folds ASCII letters only (PostgreSQL's ILIKE folds every letter): what the
#: index folds and LIKE does not must not be found on SQLite — the LIKE decides these.
SQLITE_EXPECTED = {
    "KELVIN": {"Kelvin Labs"},  # FTS5 folds the Kelvin sign to k
    "master": set(),  # and the long s to s
    "ma\u017fter": {"\u212aelvin Instruments"},
    "ａｃｍｅ": set(),  # and Ａ to ａ
    "é c": set(),  # and É to é
}
#: The texts whose index MATCH decides alone (``fulltext.decides``); the others keep the LIKE.
DECIDED = {
    "globex",
    "GLOBEX LT",
    "华为技",
    "138 0013 8000",
    "6552 1234",
    '"hi"',
    "100% _under_",
    "0% _",
    "1101011990",
    "gLoBeX",
    "elvin",
    "ACME",
    "技术有",
}


@pytest.fixture
def crm(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
    with crm.session() as s:
        s.create_many("account", ROWS)
    yield crm
    crm.close()


def sqlite(crm: Trellis) -> bool:
    return crm.engine.dialect.name == "sqlite"


def index_of(crm: Trellis) -> str:
    obj = crm.config.objects["account"]
    return fulltext.index_name(crm.schema.table("account"), [f.name for f in search_fields(obj)])


def assert_index_matches_table(crm: Trellis) -> None:
    """FTS5's integrity check with rank 1 compares the index with every row of its table."""
    if sqlite(crm):
        with crm.engine.begin() as conn:
            index = index_of(crm)
            conn.exec_driver_sql(f'INSERT INTO "{index}" ("{index}", rank) VALUES (\'integrity-check\', 1)')


def found(crm: Trellis, user: str | None, text: str) -> set[str]:
    """Names found by ``text``; on SQLite, also checked against the same search without the index."""
    with crm.session(user) as s:
        query = s.query("account").search(text)
        names = {r["name"] for r in query.all()}
        assert query.page(1, 2).total == len(names)
        if sqlite(crm):
            assert bool(query.indexed) == (len(text) >= fulltext.MIN_CHARS and fulltext.supported()), text
            if query.indexed and (text in EXPECTED or text in SQLITE_EXPECTED):
                assert bool(query.matched) == (text in DECIDED), text
                assert (" LIKE " in str(query.statement())) == (text not in DECIDED), text
            assert {r["name"] for r in query.without_index().all()} == names, text
    return names


def test_fts_search_finds_exactly_what_like_finds(crm):
    for text, (everyone, rep) in EXPECTED.items():
        assert found(crm, None, text) == everyone, text
        assert found(crm, "rita", text) == rep, text
    if sqlite(crm):
        for text, names in SQLITE_EXPECTED.items():
            assert found(crm, None, text) == names == found(crm, "rita", text), text
    assert_index_matches_table(crm)


def test_fts_index_follows_every_write_channel(crm, tmp_path, db_url, write_config):
    if not sqlite(crm):
        pytest.skip("the FTS5 index is SQLite's")
    with crm.session("rita") as s:
        new = s.create("account", {"name": "Initech", "note": "TPS reports"})
        s.update("account", 1, {"note": "Umbrella partner"})
        s.update_many("account", [(2, {"name": "Globex Holdings"}), (5, {"employees": 40})])
        s.delete("account", new.id)
    with crm.session() as s:
        s.merge("account", 2, [5])  # the survivor through update; the merged record archived
    csv = tmp_path / "accounts.csv"
    csv.write_text("name,note\nHooli,middle-out compression\n", encoding="utf-8")
    imported = CliRunner().invoke(main, ["import", str(write_config(CONFIG)), "account", str(csv), "--db", db_url])
    assert imported.exit_code == 0, imported.output
    with crm.engine.begin() as conn:  # raw SQL too: the triggers, not Python, keep the index
        conn.exec_driver_sql("UPDATE obj_account SET name = 'Stark Industries' WHERE name = 'Straße GmbH'")
    assert_index_matches_table(crm)
    assert found(crm, None, "umbrella") == {"华为技术有限公司"}
    assert found(crm, None, "globex") == {"Globex Holdings", "小米科技"}
    assert found(crm, None, "tps report") == set()
    assert found(crm, None, "middle-out") == {"Hooli"}
    assert found(crm, None, "stark ind") == {"Stark Industries"}
    assert found(crm, None, "straße") == set()


def test_fts_plan_shows_the_index_and_apply_builds_rebuilds_and_drops_it(crm, write_config, db_url, caplog):
    if not sqlite(crm):
        pytest.skip("the FTS5 index is SQLite's")
    before = index_of(crm)
    with crm.engine.begin() as conn:  # as a database applied before the index existed
        for statement in fulltext.drop_statements(before):
            conn.exec_driver_sql(statement)
    config = write_config(CONFIG)
    planned = CliRunner().invoke(main, ["plan", str(config), "--db", db_url])
    assert planned.exit_code == 0, planned.output
    assert (
        f"add search index {before} on obj_account (name, phone, note, margin_note; FTS5 trigram), "
        "filled from its 7 records in the transaction"
    ) in planned.output
    assert CliRunner().invoke(main, ["apply", str(config), "--db", db_url]).exit_code == 0
    assert found(crm, None, "globex lt") == {"Globex Ltd"}
    assert_index_matches_table(crm)

    # A retyped column rebuilds the table, which drops its triggers: apply makes them again
    # and rebuilds the index (no step: the index is the same), so later writes keep it right.
    retyped = CONFIG.replace("employees: {type: integer}", "employees: {type: decimal}")
    crm2 = Trellis.open(write_config(retyped, "retyped.yaml"), db_url)
    assert crm2.plan().search_indexes == ()
    with caplog.at_level(logging.INFO, logger="engine.runtime.migrate.fulltext"):
        crm2.apply()
    assert "were gone; rebuilding it" in caplog.text
    with crm2.session() as s:
        s.update("account", 4, {"name": "Straße AG"})
    assert_index_matches_table(crm2)
    assert found(crm2, None, "straße ag") == {"Straße AG"}
    crm2.close()

    # A new searchable field: a new index instead of the old one.
    changed = retyped.replace("employees: {type: decimal}", "employees: {type: decimal}\n      city: {type: text}")
    crm3 = Trellis.open(write_config(changed, "changed.yaml"), db_url)
    after = index_of(crm3)
    plan = crm3.plan()
    assert [s.kind for s in plan.search_indexes] == ["drop_search_index", "add_search_index"]
    assert f"drop search index {before} of obj_account" in str(plan)
    crm3.apply()
    with crm3.session() as s:
        s.update("account", 4, {"city": "Berlin"})
    assert_index_matches_table(crm3)
    assert found(crm3, None, "berlin") == {"Straße AG"}
    with crm3.engine.connect() as conn:
        names = {n for (n,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'fts%'")}
    assert after in names and not any(n.startswith(before) for n in names)
    assert crm3.plan().empty
    crm3.close()

    # No searchable field left: the index and its shadow tables go.
    bare = CONFIG.split("    fields:")[0] + "    fields:\n      employees: {type: integer}\n"
    bare = bare.replace('title: "{name}"', 'title: "{employees}"')
    crm4 = Trellis.open(write_config(bare, "bare.yaml"), db_url)
    crm4.apply(allow_data_loss=True)
    with crm4.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'fts%'").all() == []
    crm4.close()


def test_fts_without_fts5_apply_logs_why_and_search_reads_the_table(write_config, db_url, monkeypatch, caplog):
    if not db_url.startswith("sqlite"):
        pytest.skip("the FTS5 index is SQLite's")
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setattr(fulltext, "supported", lambda: False)  # as on SQLite older than 3.34
    crm = Trellis.open(write_config(CONFIG), db_url)
    try:
        with caplog.at_level(logging.WARNING, logger="engine.runtime.migrate.fulltext"):
            assert crm.apply().search_indexes == ()
        assert "no FTS5 with the trigram tokenizer" in caplog.text
        with crm.session() as s:
            s.create_many("account", ROWS)
        assert found(crm, None, "globex lt") == {"Globex Ltd"}
    finally:
        crm.close()


def test_fts_a_search_matching_many_pages_without_the_index_and_counts_with_it(crm, monkeypatch):
    from engine.runtime.records import query as query_module

    with crm.session() as s:
        sparse = s.query("account").search("globex").order_by("-created_at").page(1, 2)
    monkeypatch.setattr(query_module, "DENSE_MATCHES", 1)  # as when thousands of records match
    with crm.session() as s:
        dense = s.query("account").search("globex").order_by("-created_at").page(1, 2)
    assert [r["id"] for r in dense.items] == [r["id"] for r in sparse.items] and len(dense.items) == 2
    assert (dense.total, dense.total_exact, dense.more) == (sparse.total, True, True) == (4, True, True)
