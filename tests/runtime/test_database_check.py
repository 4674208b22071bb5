"""A database not brought to the config is refused with a sentence (issue 12 §4).

``Trellis`` checks once, at the first session (or ``check_database``), that the latest
applied config version has the opened config's schema fingerprint; otherwise it raises
``DatabaseOutOfDate`` saying what to run. Changes that leave the database alone (labels,
help texts, the order of fields, list columns) pass; ``plan`` and ``apply`` work on any database.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine import DatabaseOutOfDate, Trellis
from engine.runtime.messages import speaking

CONFIG = """
trellis: 1
objects:
  lead:
    label: Lead
    fields:
      name: {type: text, required: true, label: Name}
      source: {type: picklist, values: [web, fair]}
      note: {type: textarea}
"""
#: The same schema: labels, a help text, the fields' order and the list's columns changed.
RELABELLED = """
trellis: 1
objects:
  lead:
    label: {en: Prospect, zh: 潜在客户}
    fields:
      note: {type: textarea, help: Anything worth knowing}
      name: {type: text, required: true, label: {en: Full name, zh: 姓名}}
      source: {type: picklist, values: [web, fair]}
    list: {columns: [name, source]}
"""
WITH_PHONE = CONFIG + "      phone: {type: phone}\n"
MORE_SOURCES = CONFIG.replace("[web, fair]", "[web, fair, referral]")


@pytest.fixture
def applied(write_config, db_url):
    """The database with CONFIG applied (config version 1)."""
    crm = Trellis.open(write_config(CONFIG), db_url)
    crm.apply()
    crm.close()
    return db_url


def opened(write_config, db_url, text, name="served.yaml"):
    return Trellis.open(write_config(text, name), db_url)


def test_an_empty_database_is_refused_until_apply(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url)
    with pytest.raises(DatabaseOutOfDate) as stale, crm.session():
        pass
    assert str(stale.value).startswith("This database has no Trellis tables yet: run `trellis apply ")
    assert stale.value.code == "database_out_of_date" and stale.value.version is None
    for use in (crm.check_database, lambda: crm.principal("alice"), crm.directory().__enter__):
        with pytest.raises(DatabaseOutOfDate):
            use()

    assert not crm.plan().empty  # plan and apply need no check
    crm.apply()
    with crm.session() as s:
        assert s.create("lead", {"name": "Ada"})["name"] == "Ada"
    crm.close()


def test_the_same_config_opens_on_its_database(write_config, applied):
    crm = opened(write_config, applied, CONFIG)
    crm.check_database()
    assert crm.database_current
    crm.close()


def test_a_change_that_needs_no_migration_opens_without_apply(write_config, applied):
    crm = opened(write_config, applied, RELABELLED)
    with crm.session() as s:
        s.create("lead", {"name": "Ada", "source": "web"})
    crm.close()


@pytest.mark.parametrize("changed", [WITH_PHONE, MORE_SOURCES], ids=["new field", "picklist keys"])
def test_a_config_needing_an_apply_is_refused_with_its_version(write_config, applied, changed):
    crm = opened(write_config, applied, changed)
    with pytest.raises(DatabaseOutOfDate) as stale, crm.session():
        pass
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    path = str(crm.config.source_path)
    assert str(stale.value) == (
        f"The database is at config version 1 from {today}; this config differs: "
        f"run `trellis plan {path}` to see the changes, then `trellis apply {path}`."
    )
    assert (stale.value.version, stale.value.reason) == (1, "config")

    crm.apply()
    with crm.session() as s:
        s.create("lead", {"name": "Ada"})
    crm.close()


def test_the_sentence_speaks_the_engine_language(write_config, applied):
    crm = opened(write_config, applied, WITH_PHONE)
    with speaking("zh"), pytest.raises(DatabaseOutOfDate) as stale:
        crm.check_database()
    assert str(stale.value).startswith("数据库处于 ") and "配置版本 1" in str(stale.value)
    assert stale.value.text("en").startswith("The database is at config version 1 from ")
    crm.close()


def test_a_database_applied_before_fingerprints_needs_an_apply(write_config, applied):
    """An earlier Trellis recorded no fingerprint: the same config is refused until it is
    applied again, which records a version with one (and so heals)."""
    engine = sa.create_engine(applied)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sys_config_versions SET schema_hash = NULL"))
    crm = opened(write_config, applied, CONFIG)
    with pytest.raises(DatabaseOutOfDate) as stale:
        crm.check_database()
    assert stale.value.reason == "trellis"
    assert "set up by an earlier version of Trellis: run `trellis apply " in str(stale.value)

    crm.apply()  # nothing to change in the schema, but the version is recorded with its fingerprint
    crm.close()
    crm = opened(write_config, applied, CONFIG)
    crm.check_database()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sys_config_versions")).scalar() == 2
    crm.close()
    engine.dispose()


def test_a_versions_table_without_the_fingerprint_column_is_out_of_date(write_config, applied):
    engine = sa.create_engine(applied)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sys_config_versions DROP COLUMN schema_hash"))
    crm = opened(write_config, applied, CONFIG)
    with pytest.raises(DatabaseOutOfDate, match="earlier version of Trellis"):
        crm.check_database()
    crm.apply()  # adds the column back
    crm.close()
    crm = opened(write_config, applied, CONFIG)
    crm.check_database()
    crm.close()
    engine.dispose()


def test_the_check_is_made_once(write_config, applied):
    crm = opened(write_config, applied, CONFIG)
    statements = []
    sa.event.listen(crm.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    checks = []
    for _ in range(3):
        with crm.session():
            pass
        checks.append(sum("sys_config_versions" in s for s in statements))
    assert checks[0] > 0 and checks[0] == checks[1] == checks[2]
    crm.close()
