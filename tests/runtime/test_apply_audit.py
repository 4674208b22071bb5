"""Stored values an apply rewrites are audited: one row per record, channel ``apply``, by the
system (issue 12 §4) — picklist values mapped or cleared, defaults filled in, values emptied
for a type or an encryption change — and the hash chain stays intact.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.security import audit, crypto

BEFORE = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
      source: {type: picklist, values: [web, fax, fair]}
      regions: {type: multipicklist, values: [east, west, north]}
      size: {type: text}
      secret: {type: text}
"""
AFTER = """
trellis: 1
objects:
  lead:
    fields:
      name: {type: text, required: true}
      source: {type: picklist, values: [web, fair], migrate_values: {fax: web}}
      regions: {type: multipicklist, values: [east, west], migrate_values: {north: east}}
      size: {type: integer}
      secret: {type: text, encrypted: true}
      tier: {type: picklist, values: [gold, silver], required: true, default: silver}
"""


@pytest.fixture
def crm(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    crm = Trellis.open(write_config(BEFORE, "before.yaml"), db_url)
    crm.apply()
    with crm.session() as s:
        for name, source, regions, size, secret in [
            ("a", "fax", ["north", "west"], "big", "x1"),
            ("b", "web", ["east"], None, None),
            ("c", "fax", ["north", "east"], "small", "x3"),
        ]:
            s.create("lead", {"name": name, "source": source, "regions": regions, "size": size, "secret": secret})
    crm.close()
    after = Trellis.open(write_config(AFTER, "after.yaml"), db_url)
    yield after
    after.close()


def rows(crm: Trellis) -> list[dict]:
    table = crm.schema.system["sys_audit"]
    with crm.engine.connect() as conn:
        found = conn.execute(sa.select(table).where(table.c.channel == "apply").order_by(table.c.id)).mappings()
        return [{**row, "changes": json.loads(row["changes"])} for row in found]


def test_every_record_a_data_fix_rewrites_gets_an_audit_row(crm):
    result = crm.apply(allow_data_loss=True)
    assert {s.kind for s in result.data_fixes} >= {"map_values", "fill_default", "clear_values"}

    logged = rows(crm)
    assert {(r["username"], r["channel"], r["action"], r["object"]) for r in logged} == {
        ("system", "apply", "update", "lead")
    }
    changes = {(r["record_id"], field): pair for r in logged for field, pair in r["changes"].items()}
    assert changes == {
        (1, "source"): ["fax", "web"],
        (3, "source"): ["fax", "web"],
        (1, "regions"): [["north", "west"], ["east", "west"]],
        (3, "regions"): [["north", "east"], ["east"]],
        (1, "size"): ["big", None],
        (3, "size"): ["small", None],
        (1, "secret"): [audit.ENCRYPTED, None],
        (3, "secret"): [audit.ENCRYPTED, None],
        (1, "tier"): [None, "silver"],
        (2, "tier"): [None, "silver"],
        (3, "tier"): [None, "silver"],
    }
    with crm.engine.connect() as conn:
        assert audit.verify(conn, crm.schema).ok


def test_a_refused_apply_writes_no_audit_row(crm):
    with pytest.raises(Exception, match="not applied"):
        crm.apply()  # size and secret hold values: refused without allow_data_loss
    with crm.engine.connect() as conn:
        table = crm.schema.system["sys_audit"]
        assert conn.execute(sa.select(sa.func.count()).where(table.c.channel == "apply")).scalar() == 0


def test_a_picklist_rename_shows_in_the_record_history_and_the_chain_verifies(crm):
    crm.apply(allow_data_loss=True)
    url = crm.engine.url.render_as_string(hide_password=False)
    config = str(crm.config.source_path)

    shown = CliRunner().invoke(main, ["audit", "show", config, "lead", "1", "--db", url])
    assert shown.exit_code == 0, shown.output
    assert "system via apply  update" in shown.output
    assert "    source: fax → web" in shown.output
    assert "    tier: (empty) → silver" in shown.output

    verified = CliRunner().invoke(main, ["audit", "verify", config, "--db", url])
    assert verified.exit_code == 0, verified.output
    assert "Audit trail intact" in verified.output
