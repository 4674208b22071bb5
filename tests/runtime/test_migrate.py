"""Safe schema changes: plan, apply, data checks, renames, history and rollback.

Every test runs on a fresh database: SQLite by default, PostgreSQL when
``TRELLIS_TEST_DATABASE_URL`` is set. Rows are inserted with SQLAlchemy Core
straight into the ``obj_*`` tables.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.metadata import Config, load_config
from engine.runtime import migrate
from engine.runtime.database import create_engine
from engine.runtime.migrate import MigrationFailed, MigrationRefused, UnknownVersion
from engine.runtime.tables import build_schema

NOW = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)

LEAD = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
      fax: {type: phone}
"""


@pytest.fixture
def engine(db_url: str):
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def config(write_config):
    """Compile YAML text (dedented) into a Config, each version in its own file."""
    counter = iter(range(1, 1000))

    def make(text: str) -> Config:
        return load_config(write_config(textwrap.dedent(text), f"v{next(counter)}.yaml"))

    return make


def insert(engine: sa.Engine, cfg: Config, obj: str, *rows: dict) -> None:
    """Insert records with their system columns filled in (missing fields are NULL)."""
    table = build_schema(cfg).objects[obj]
    keys = {key for row in rows for key in row}
    system = {"created_at": NOW, "updated_at": NOW, "version": 1}
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [{**system, **dict.fromkeys(keys), **row} for row in rows])


def values(engine: sa.Engine, cfg: Config, obj: str, column: str) -> list:
    """The values of one column, in id order (read with the config's column types)."""
    table = build_schema(cfg).objects[obj]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c[column]).order_by(table.c.id)).scalars())


def columns(engine: sa.Engine, table: str) -> dict[str, dict]:
    with engine.connect() as conn:
        return {c["name"]: c for c in sa.inspect(conn).get_columns(table)}


def tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def snapshot(engine: sa.Engine) -> dict:
    """Every table with its columns, indexes, unique constraints and rows."""
    out = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for name in sorted(inspector.get_table_names()):
            cols = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)]
            indexes = sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name))
            uniques = sorted(u["name"] or "" for u in inspector.get_unique_constraints(name))
            rows = conn.execute(sa.text(f'SELECT * FROM "{name}" ORDER BY 1')).all()
            out[name] = (cols, indexes, uniques, [tuple(r) for r in rows])
    return out


def refused(engine: sa.Engine, cfg: Config, allow_data_loss: bool = False) -> list[migrate.Refusal]:
    """Apply ``cfg`` expecting a refusal; check the database did not move; return the refusals."""
    before = snapshot(engine)
    with pytest.raises(MigrationRefused) as info:
        migrate.apply(engine, cfg, allow_data_loss=allow_data_loss)
    assert snapshot(engine) == before
    assert str(info.value).count("\n") == len(info.value.refusals)
    return info.value.refusals


def assert_settled(engine: sa.Engine, cfg: Config) -> None:
    """A plan right after an apply of the same config has nothing to do."""
    result = migrate.plan(engine, cfg)
    assert result.empty, str(result)


# --- first apply, re-plan, history --------------------------------------------------------


def test_first_apply_creates_tables_and_records_a_version(engine, config):
    cfg = config(LEAD)
    planned = migrate.plan(engine, cfg)
    assert "create table obj_lead (9 columns)" in [s.description for s in planned.steps]
    assert tables(engine) == set()  # plan changes nothing

    applied = migrate.apply(engine, cfg, applied_by="ada")
    assert applied == planned
    assert {"obj_lead", "sys_config_versions"} <= tables(engine)
    assert set(columns(engine, "obj_lead")) >= {"id", "created_at", "version", "name", "fax"}
    [version] = migrate.history(engine)
    assert (version.content_hash, version.source_path, version.applied_by) == (cfg.content_hash, cfg.source_path, "ada")
    assert version.applied_at.tzinfo is not None
    assert "create table obj_lead" in version.summary

    assert_settled(engine, cfg)
    assert migrate.apply(engine, cfg).empty
    assert len(migrate.history(engine)) == 1  # same hash, nothing changed: no new version


def test_every_field_type_settles_after_apply(engine, config):
    cfg = config("""
        trellis: 1
        picklists:
          industry: {values: [{key: manufacturing, children: [automotive]}, internet]}
        objects:
          account:
            fields:
              name: {type: text, required: true, unique: true, max_length: 120}
              notes: {type: textarea}
              employees: {type: integer, indexed: true}
              ratio: {type: decimal, scale: 4}
              revenue: {type: currency}
              share: {type: percent}
              active: {type: boolean, default: true}
              founded: {type: date}
              seen_at: {type: datetime}
              email: {type: email}
              phone: {type: phone}
              site: {type: url}
              industry: {type: picklist, picklist: industry}
              regions: {type: multipicklist, values: [east, west]}
              labels: {type: tags}
              parent: {type: lookup, object: account}
              manager: {type: user}
              score: {type: formula, expression: "employees * 2", result: integer}
              code: {type: autonumber, format: "ACC-{0000}"}
              logo: {type: file}
              extra: {type: json}
              main_deal: {type: lookup, object: deal}
          deal:
            fields:
              account: {type: lookup, object: account, required: true}
              next_deal: {type: lookup, object: deal}
            pipeline:
              stages: [{key: new}, {key: won, outcome: won}]
        """)
    migrate.apply(engine, cfg)
    assert_settled(engine, cfg)


def test_mutually_referring_objects_are_created_and_dropped(engine, config):
    pair = (
        LEAD
        + "      deal: {type: lookup, object: deal}\n  deal:\n    fields:\n      lead: {type: lookup, object: lead}\n"
    )
    migrate.apply(engine, config(pair))
    alone = config("trellis: 1\nobjects:\n  note:\n    fields:\n      body: {type: textarea}\n")
    result = migrate.apply(engine, alone)
    assert sorted(s.description for s in result.steps if s.kind == "drop_table") == [
        "drop table obj_deal",
        "drop table obj_lead",
    ]
    assert not {"obj_lead", "obj_deal"} & tables(engine)
    assert_settled(engine, alone)


def test_tables_trellis_does_not_own_are_left_alone(engine, config):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("INSERT INTO legacy_notes VALUES (1, 'keep me')")
        conn.exec_driver_sql("CREATE TABLE sys_plugin_state (id INTEGER PRIMARY KEY)")
    cfg = config(LEAD)
    migrate.apply(engine, cfg)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE sys_sequences ADD COLUMN note TEXT")
    assert_settled(engine, cfg)  # sys_* tables are only created or extended, never dropped or narrowed
    assert {"legacy_notes", "sys_plugin_state"} <= tables(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT body FROM legacy_notes").scalar() == "keep me"


def test_every_refusal_is_reported_at_once(engine, config):
    v1 = config(LEAD + "      source: {type: picklist, values: [web, phone]}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "a", "fax": "+8613800138000"})
    v2 = config("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text, required: true}
              source: {type: picklist, values: [web, phone], required: true}
        """)
    refusals = refused(engine, v2)
    assert sorted(r.code for r in refusals) == ["drops_values", "nulls_in_required"]
    with pytest.raises(MigrationRefused) as info:
        migrate.apply(engine, v2)
    assert str(info.value) == (
        "the config was not applied; nothing was changed:\n"
        "  - `lead.source` is empty in 1 record; give the field a default or fill them first\n"
        "  - `lead.fax` holds 1 value; pass --allow-data-loss to drop it"
    )
    printed = str(migrate.plan(engine, v2))
    assert "Refused:\n  - `lead.source` is empty in 1 record" in printed


def test_plan_prints_changes_fixes_and_refusals(engine, config):
    assert str(migrate.Plan()) == "No changes: the database matches the config."
    cfg = config(LEAD)
    text = str(migrate.plan(engine, cfg))
    assert text.startswith("Changes:\n  - create table obj_lead")


# --- adding and dropping --------------------------------------------------------------------


def test_add_field_keeps_records(engine, config):
    v1 = config("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text, required: true}
        """)
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "Ada"})
    v2 = config(LEAD)
    result = migrate.apply(engine, v2)
    assert [s.description for s in result.steps] == ["add column obj_lead.fax (VARCHAR(32))"]
    assert values(engine, v2, "lead", "name") == ["Ada"]
    assert values(engine, v2, "lead", "fax") == [None]
    assert len(migrate.history(engine)) == 2
    assert_settled(engine, v2)


def test_dropping_a_field_with_values_is_refused_with_the_count(engine, config):
    v1 = config(LEAD)
    migrate.apply(engine, v1)
    insert(
        engine,
        v1,
        "lead",
        *({"name": f"n{i}", "fax": "+8613800138000"} for i in range(1204)),
        {"name": "no fax", "fax": None},
    )
    v2 = config("""
        trellis: 1
        objects:
          lead:
            fields:
              name: {type: text, required: true}
        """)
    [refusal] = refused(engine, v2)
    assert (refusal.code, refusal.object, refusal.field, refusal.count) == ("drops_values", "lead", "fax", 1204)
    assert refusal.message == "`lead.fax` holds 1,204 values; pass --allow-data-loss to drop it"
    assert refusal.overridable

    result = migrate.apply(engine, v2, allow_data_loss=True)
    assert "drop column obj_lead.fax (1,204 values lost)" in [s.description for s in result.steps]
    assert "fax" not in columns(engine, "obj_lead")
    assert len(values(engine, v2, "lead", "name")) == 1205
    assert_settled(engine, v2)


def test_dropping_an_empty_field_needs_no_permission(engine, config):
    v1 = config(LEAD)
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "Ada"})
    v2 = config(LEAD.replace("      fax: {type: phone}\n", ""))
    assert [s.description for s in migrate.apply(engine, v2).steps] == ["drop column obj_lead.fax"]


def test_dropping_an_object_with_records_is_refused(engine, config):
    v1 = config(LEAD + "  note:\n    fields:\n      body: {type: textarea}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "note", {"body": "a"}, {"body": "b"})
    v2 = config(LEAD)
    [refusal] = refused(engine, v2)
    assert (refusal.code, refusal.object, refusal.field, refusal.count) == ("drops_rows", "note", None, 2)
    assert refusal.message == "`note` holds 2 records; pass --allow-data-loss to drop its table"
    migrate.apply(engine, v2, allow_data_loss=True)
    assert "obj_note" not in tables(engine)
    assert_settled(engine, v2)


# --- required fields ------------------------------------------------------------------------


def test_newly_required_field_is_backfilled_from_its_default(engine, config):
    v1 = config(LEAD + "      source: {type: picklist, values: [web, phone]}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "a", "source": "phone"}, {"name": "b"}, {"name": "c"})
    v2 = config(LEAD + "      source: {type: picklist, values: [web, phone], required: true, default: web}\n")
    result = migrate.apply(engine, v2)
    assert [s.description for s in result.data_fixes] == ["set obj_lead.source to 'web' where empty (2 records)"]
    assert "make obj_lead.source required (NOT NULL)" in [s.description for s in result.steps]
    assert values(engine, v2, "lead", "source") == ["phone", "web", "web"]
    assert columns(engine, "obj_lead")["source"]["nullable"] is False
    assert_settled(engine, v2)


def test_newly_required_field_without_default_is_refused_even_with_data_loss(engine, config):
    v1 = config(LEAD + "      source: {type: picklist, values: [web, phone]}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", *({"name": str(i)} for i in range(37)), {"name": "x", "source": "web"})
    v2 = config(LEAD + "      source: {type: picklist, values: [web, phone], required: true}\n")
    for allow in (False, True):
        [refusal] = refused(engine, v2, allow_data_loss=allow)
        assert (refusal.code, refusal.count, refusal.overridable) == ("nulls_in_required", 37, False)
        assert refusal.message == "`lead.source` is empty in 37 records; give the field a default or fill them first"


def test_new_required_field_on_a_table_with_records(engine, config):
    v1 = config(LEAD)
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "a"}, {"name": "b"})
    [refusal] = refused(engine, config(LEAD + "      rating: {type: integer, required: true}\n"))
    assert refusal.message == "`lead.rating` would be empty in 2 records; give the field a default or fill them first"

    v3 = config(LEAD + "      rating: {type: integer, required: true, default: 3}\n")
    migrate.apply(engine, v3)
    assert values(engine, v3, "lead", "rating") == [3, 3]
    assert_settled(engine, v3)


# --- lengths, types, uniqueness ----------------------------------------------------------------


ACCOUNT = """
trellis: 1
objects:
  account:
    fields:
      name: {{type: text, max_length: {length}}}
"""


def test_shrinking_max_length_below_existing_values_is_refused(engine, config):
    v1 = config(ACCOUNT.format(length=200))
    migrate.apply(engine, v1)
    insert(engine, v1, "account", *({"name": "x" * 150} for _ in range(12)), {"name": "short"})
    for allow in (False, True):
        [refusal] = refused(engine, config(ACCOUNT.format(length=100)), allow_data_loss=allow)
        assert (refusal.code, refusal.count, refusal.overridable) == ("values_too_long", 12, False)
        assert refusal.message.startswith("12 values of `account.name` are longer than 100 characters")

    fits = config(ACCOUNT.format(length=160))
    result = migrate.apply(engine, fits)
    assert result.steps[0].description == "change the type of obj_account.name from VARCHAR(200) to VARCHAR(160)"
    assert values(engine, fits, "account", "name")[-1] == "short"
    assert_settled(engine, fits)


def test_widening_types_keeps_values(engine, config):
    v1 = config("""
        trellis: 1
        objects:
          deal:
            fields:
              title: {type: text, max_length: 50}
              summary: {type: text}
              quantity: {type: integer}
              price: {type: decimal}
              closes: {type: date}
        """)
    migrate.apply(engine, v1)
    insert(
        engine,
        v1,
        "deal",
        {
            "title": "Big one",
            "summary": "long story",
            "quantity": 7,
            "price": Decimal("12.50"),
            "closes": dt.date(2026, 3, 1),
        },
    )
    v2 = config("""
        trellis: 1
        objects:
          deal:
            fields:
              title: {type: text, max_length: 500}
              summary: {type: textarea}
              quantity: {type: currency}
              price: {type: percent, scale: 4}
              closes: {type: datetime}
        """)
    result = migrate.apply(engine, v2)
    assert {s.column for s in result.steps if s.kind == "alter_type"} == {
        "title",
        "summary",
        "quantity",
        "price",
        "closes",
    }
    assert values(engine, v2, "deal", "title") == ["Big one"]
    assert values(engine, v2, "deal", "summary") == ["long story"]
    assert values(engine, v2, "deal", "quantity") == [Decimal("7.00")]
    assert values(engine, v2, "deal", "price") == [Decimal("12.5000")]
    assert values(engine, v2, "deal", "closes")[0].date() == dt.date(2026, 3, 1)
    assert_settled(engine, v2)


def test_incompatible_type_change_is_refused_then_drops_values(engine, config):
    v1 = config("trellis: 1\nobjects:\n  deal:\n    fields:\n      amount: {type: text}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "deal", *({"amount": f"about {i}k"} for i in range(55)), {"amount": None})
    v2 = config("trellis: 1\nobjects:\n  deal:\n    fields:\n      amount: {type: currency}\n")
    [refusal] = refused(engine, v2)
    assert (refusal.code, refusal.count, refusal.overridable) == ("incompatible_type", 55, True)
    assert refusal.message == (
        "`deal.amount` changes from text to currency and holds 55 values; pass --allow-data-loss to drop them"
    )

    result = migrate.apply(engine, v2, allow_data_loss=True)
    assert [s.description for s in result.data_fixes] == ["empty obj_deal.amount for the type change (55 values lost)"]
    assert [s.description for s in result.steps] == [
        "change the type of obj_deal.amount from VARCHAR(255) to NUMERIC(18, 2)"
    ]
    assert values(engine, v2, "deal", "amount") == [None] * 56
    assert_settled(engine, v2)


def test_incompatible_type_change_of_an_indexed_required_field(engine, config):
    v1 = config(LEAD + "  deal:\n    fields:\n      lead: {type: lookup, object: lead, required: true}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "Ada"})
    insert(engine, v1, "deal", {"lead": 1}, {"lead": 1})
    v2 = config(LEAD + "  deal:\n    fields:\n      lead: {type: date, required: true, default: '2026-01-01'}\n")
    [refusal] = refused(engine, v2)
    assert refusal.message == (
        "`deal.lead` changes from lookup to date and holds 2 values; pass --allow-data-loss to drop them"
    )
    result = migrate.apply(engine, v2, allow_data_loss=True)
    assert {"drop_index", "drop_foreignkey", "alter_type"} <= {s.kind for s in result.steps}
    assert "set obj_deal.lead to datetime.date(2026, 1, 1) where empty (2 records)" in [
        s.description for s in result.data_fixes
    ]
    assert values(engine, v2, "deal", "lead") == [dt.date(2026, 1, 1)] * 2
    assert columns(engine, "obj_deal")["lead"]["nullable"] is False
    assert_settled(engine, v2)


def test_lookup_to_text_keeps_the_ids_as_text(engine, config):
    v1 = config(LEAD + "  deal:\n    fields:\n      lead: {type: lookup, object: lead}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "Ada"})
    insert(engine, v1, "deal", {"lead": 1})
    v2 = config(LEAD + "  deal:\n    fields:\n      lead: {type: text}\n")
    migrate.apply(engine, v2)
    assert values(engine, v2, "deal", "lead") == ["1"]
    assert_settled(engine, v2)


def test_making_a_field_unique_with_duplicates_is_refused(engine, config):
    v1 = config(LEAD)
    migrate.apply(engine, v1)
    insert(
        engine,
        v1,
        "lead",
        {"name": "Ada"},
        {"name": "Ada"},
        {"name": "Bob"},
        {"name": "Bob"},
        {"name": "Bob"},
        {"name": "Cy"},
    )
    unique = config(LEAD.replace("required: true}", "required: true, unique: true}"))
    for allow in (False, True):
        [refusal] = refused(engine, unique, allow_data_loss=allow)
        assert (refusal.code, refusal.count) == ("duplicates", 5)
        assert refusal.message.startswith("`lead.name` cannot be unique: 5 records share 2 values")

    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM obj_lead WHERE name IN ('Ada', 'Bob')")
    migrate.apply(engine, unique)
    assert_settled(engine, unique)


# --- picklist values ---------------------------------------------------------------------------


def source(values: str, extra: str = "") -> str:
    """LEAD with a `source` picklist of ``values`` (and more field properties in ``extra``)."""
    return LEAD + f"      source: {{type: picklist, values: [{values}]{extra}}}\n"


def test_removing_a_picklist_value_in_use_is_refused(engine, config):
    v1 = config(source("web, fax, phone"))
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", *({"name": str(i), "source": "fax"} for i in range(9)), {"name": "w", "source": "web"})
    v2 = config(source("web, phone"))
    [refusal] = refused(engine, v2)
    assert (refusal.code, refusal.field, refusal.count) == ("picklist_value_in_use", "source", 9)
    assert refusal.message == (
        "`lead.source` value `fax` is used by 9 records; map it with migrate_values: {fax: web} or allow data loss"
    )

    result = migrate.apply(engine, v2, allow_data_loss=True)
    assert [s.kind for s in result.data_fixes] == ["clear_values"]
    assert values(engine, v2, "lead", "source") == [None] * 9 + ["web"]


def test_migrate_values_rewrites_stored_values(engine, config):
    v1 = config(source("web, fax, phone") + "      channels: {type: multipicklist, values: [web, fax, phone]}\n")
    migrate.apply(engine, v1)
    insert(
        engine,
        v1,
        "lead",
        {"name": "a", "source": "fax", "channels": ["fax", "web"]},
        {"name": "b", "source": "web", "channels": ["fax", "phone"]},
        {"name": "c", "channels": ["web"]},
    )
    v2 = config(
        source("web, phone", ", migrate_values: {fax: phone}")
        + "      channels: {type: multipicklist, values: [web, phone], migrate_values: {fax: phone}}\n"
    )
    result = migrate.apply(engine, v2)
    assert sorted(s.description for s in result.data_fixes) == [
        "rewrite obj_lead.channels value 'fax' → 'phone' (2 records)",
        "rewrite obj_lead.source value 'fax' → 'phone' (1 record)",
    ]
    assert values(engine, v2, "lead", "source") == ["phone", "web", None]
    assert values(engine, v2, "lead", "channels") == [["phone", "web"], ["phone"], ["web"]]
    assert_settled(engine, v2)


def test_removed_value_of_a_required_picklist_cannot_be_cleared(engine, config):
    v1 = config(source("web, fax", ", required: true"))
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "a", "source": "fax"})
    [refusal] = refused(engine, config(source("web", ", required: true")), allow_data_loss=True)
    assert (refusal.code, refusal.count, refusal.overridable) == ("picklist_value_in_use", 1, False)
    assert "the field is required" in refusal.message


def test_removed_multipicklist_value_in_use_is_refused(engine, config):
    v1 = config(LEAD + "      channels: {type: multipicklist, values: [web, fax_line, phone]}\n")
    migrate.apply(engine, v1)
    insert(
        engine,
        v1,
        "lead",
        {"name": "a", "channels": ["fax_line"]},
        {"name": "b", "channels": ["fax_lines"]},
        {"name": "c", "channels": ["faxXline"]},
    )
    v2 = config(LEAD + "      channels: {type: multipicklist, values: [web, phone]}\n")
    [refusal] = refused(engine, v2)
    assert refusal.message.startswith("`lead.channels` value `fax_line` is used by 1 record;")


# --- renames --------------------------------------------------------------------------------------


def test_renamed_field_keeps_its_values(engine, config):
    v1 = config(LEAD.replace("fax:", "tel:"))
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "a", "tel": "+8613800138000"})
    v2 = config(LEAD.replace("{type: phone}", "{type: phone, renamed_from: tel}"))
    planned = migrate.plan(engine, v2)
    assert "tel" in columns(engine, "obj_lead")  # the plan rolled its rename back
    result = migrate.apply(engine, v2)
    assert result == planned
    assert result.steps[0].description == "rename column obj_lead.tel → obj_lead.fax (keeps its values)"
    assert not any(s.kind in ("add_column", "drop_column") for s in result.steps)
    assert values(engine, v2, "lead", "fax") == ["+8613800138000"]
    assert_settled(engine, v2)


def test_renamed_object_keeps_its_records_and_lookups(engine, config):
    v1 = config(LEAD + "  deal:\n    fields:\n      lead: {type: lookup, object: lead}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "Ada", "fax": "+8613800138000"})
    insert(engine, v1, "deal", {"lead": 1})
    v2 = config("""
        trellis: 1
        objects:
          prospect:
            renamed_from: lead
            fields:
              name: {type: text, required: true}
              phone: {type: phone, renamed_from: fax}
          deal:
            fields:
              prospect: {type: lookup, object: prospect, renamed_from: lead}
        """)
    result = migrate.apply(engine, v2)
    assert [s.kind for s in result.steps[:3]] == ["rename_table", "rename_column", "rename_column"]
    assert not any(s.kind in ("create_table", "drop_table") for s in result.steps)
    assert "obj_lead" not in tables(engine)
    assert values(engine, v2, "prospect", "phone") == ["+8613800138000"]
    assert values(engine, v2, "deal", "prospect") == [1]
    assert_settled(engine, v2)
    assert migrate.apply(engine, v2).empty  # renamed_from left in the config is harmless


def test_rename_when_both_columns_exist_is_refused(engine, config):
    v1 = config(LEAD + "      tel: {type: phone}\n")
    migrate.apply(engine, v1)
    [refusal] = refused(engine, config(LEAD.replace("{type: phone}", "{type: phone, renamed_from: tel}")))
    assert refusal.code == "rename_conflict"
    assert "both columns exist" in refusal.message


def test_rename_from_a_missing_column_says_so(engine, config):
    migrate.apply(engine, config(LEAD))
    v2 = config(LEAD + "      mobile: {type: phone, renamed_from: cell}\n")
    [step] = migrate.plan(engine, v2).steps
    assert step.description == (
        "add column obj_lead.mobile (VARCHAR(32)); "
        "renamed_from `cell` found no column obj_lead.cell, so it starts empty"
    )


# --- history and rollback --------------------------------------------------------------------------


def test_history_lists_versions_newest_first_and_loads_them(engine, config):
    v1 = config(LEAD)
    v2 = config(LEAD + "      email: {type: email}\n")
    migrate.apply(engine, v1, applied_by="ada")
    migrate.apply(engine, v2, applied_by="bob")
    newest, oldest = migrate.history(engine)
    assert (newest.applied_by, oldest.applied_by) == ("bob", "ada")
    assert newest.id > oldest.id
    assert newest.summary == "add column obj_lead.email (VARCHAR(254))"
    loaded = migrate.load_version(engine, oldest.id)
    assert loaded.content_hash == v1.content_hash
    assert set(loaded.objects["lead"].fields) == {"name", "fax"}
    with pytest.raises(UnknownVersion, match="there is no config version 99; known versions: 2, 1"):
        migrate.load_version(engine, 99)
    with pytest.raises(KeyError):
        migrate.load_version(engine, 99)


def test_a_changed_config_without_schema_change_is_recorded(engine, config):
    migrate.apply(engine, config(LEAD))
    renamed_company = config("settings: {company: Acme}\n" + LEAD)
    assert migrate.apply(engine, renamed_company).empty
    latest, _ = migrate.history(engine)
    assert (latest.content_hash, latest.summary) == (renamed_company.content_hash, "no schema change")


def test_relabelling_updates_comments_where_the_database_keeps_them(engine, config):
    migrate.apply(engine, config(LEAD))
    relabelled = config(
        LEAD.replace("name: {type: text", "name: {label: Full name, type: text") + "    label: Prospect\n"
    )
    result = migrate.apply(engine, relabelled)
    assert all(s.kind == "comment" for s in result.steps)
    assert_settled(engine, relabelled)


def test_rollback_passes_the_same_checks(engine, config):
    v1 = config(LEAD.replace("      fax: {type: phone}\n", ""))
    v2 = config(LEAD)
    migrate.apply(engine, v1)
    migrate.apply(engine, v2)
    insert(engine, v2, "lead", {"name": "a", "fax": "+8613800138000"})
    first = migrate.history(engine)[-1].id
    before = snapshot(engine)
    with pytest.raises(MigrationRefused) as info:
        migrate.rollback(engine, first)
    assert [r.code for r in info.value.refusals] == ["drops_values"]
    assert snapshot(engine) == before

    result = migrate.rollback(engine, first, allow_data_loss=True, applied_by="ada")
    assert [s.description for s in result.steps] == ["drop column obj_lead.fax (1 value lost)"]
    latest = migrate.history(engine)[0]
    assert (latest.content_hash, latest.applied_by) == (v1.content_hash, "ada")
    assert latest.summary.startswith(f"rollback to version {first}\n")
    assert len(migrate.history(engine)) == 3
    assert_settled(engine, v1)


# --- all or nothing ----------------------------------------------------------------------------------


BIG_CHANGE = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true, max_length: 300}
      rating: {type: integer, required: true, default: 1}
      source: {type: picklist, values: [web, phone], migrate_values: {fax: phone}}
  note:
    fields:
      lead: {type: lookup, object: lead}
"""


def prepared(engine, config) -> Config:
    v1 = config(LEAD + "      source: {type: picklist, values: [web, fax, phone]}\n")
    migrate.apply(engine, v1)
    insert(engine, v1, "lead", {"name": "a", "fax": "+8613800138000", "source": "fax"}, {"name": "b"})
    return config(BIG_CHANGE)


def test_a_failure_after_all_steps_leaves_the_database_unchanged(engine, config, monkeypatch):
    target = prepared(engine, config)
    before = snapshot(engine)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(migrate, "_record_version", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        migrate.apply(engine, target, allow_data_loss=True)
    assert snapshot(engine) == before
    monkeypatch.undo()

    result = migrate.apply(engine, target, allow_data_loss=True)  # the same change goes through afterwards
    kinds = {s.kind for s in result.steps + result.data_fixes}
    assert {"create_table", "add_column", "alter_type", "drop_column", "fill_default", "map_values"} <= kinds
    assert_settled(engine, target)


def test_a_step_the_database_rejects_rolls_everything_back(engine, config):
    prepared(engine, config)
    before = snapshot(engine)
    # `lead.boss` is a new required lookup whose default (999) points at no record.
    broken = config(
        BIG_CHANGE.replace(
            "      name: {type: text",
            "      boss: {type: lookup, object: lead, required: true, default: 999}\n      name: {type: text",
        )
    )
    with pytest.raises(MigrationFailed, match="Nothing was changed|nothing was changed"):
        migrate.apply(engine, broken, allow_data_loss=True)
    assert snapshot(engine) == before
    assert len(migrate.history(engine)) == 1


AUTO = """
trellis: 1
objects:
  account:
    fields:
      name: {type: text, required: true, unique: true}
  lead:
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account}
"""


def test_ids_of_deleted_records_are_never_reused_and_old_sqlite_tables_are_rebuilt(
    engine, db_url, write_config, monkeypatch
):
    from engine import Trellis
    from engine.runtime import tables

    def create_delete_create(crm) -> tuple[int, int]:
        with crm.session() as s:
            first = s.create("lead", {"name": "webhook one"}).id
            s.delete("lead", first)
            return first, s.create("lead", {"name": "webhook two"}).id

    path = write_config(AUTO)
    crm = Trellis.open(path, db_url)
    crm.apply()
    first, second = create_delete_create(crm)
    assert second > first
    crm.close()
    if engine.dialect.name != "sqlite":
        return
    # A database made before AUTOINCREMENT: SQLite hands the deleted id out again.
    old = tmp = db_url.replace(".db", "-old.db")
    monkeypatch.setattr(tables, "never_reuse_ids", lambda metadata: None)
    crm = Trellis.open(path, tmp)
    crm.apply()
    with crm.session() as s:
        acme = s.create("account", {"name": "Acme"}).id
        kept = s.create("lead", {"name": "kept", "account": acme}).id
        gone = s.create("lead", {"name": "gone"}).id
        s.delete("lead", gone)
    crm.close()
    monkeypatch.undo()
    crm = Trellis.open(path, old)
    plan = crm.plan()
    assert "rebuild table obj_lead with AUTOINCREMENT ids (SQLite)" in str(plan)
    assert "continue the ids of obj_lead after the highest one ever used (the audit trail's included)" in str(plan)
    crm.apply()
    assert crm.plan().empty  # nothing lost in the rebuild: indexes, unique and foreign keys are back
    with crm.engine.connect() as conn:
        assert "AUTOINCREMENT" in conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'obj_lead'").scalar()
    with crm.session() as s:
        assert s.get("lead", kept)["account"] == acme
        assert s.create("lead", {"name": "new"}).id == gone + 1  # the deleted one's id stays retired
    first, second = create_delete_create(crm)
    assert second > first
    crm.close()
