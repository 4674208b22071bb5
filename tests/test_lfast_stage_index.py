"""A pipeline's stage field is indexed like the list (issue 18 §6): ``trellis plan`` shows the
index, ``apply`` creates it, a database from before gets it on its next apply, and a list
filtered by a stage reads its page in order from it."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main

CONFIG = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text, required: true}
      region: {type: picklist, values: [east, west], indexed: true}
      tags: {type: multipicklist, values: [a, b], indexed: true}
    pipeline:
      stages:
        - {key: new}
        - {key: won, outcome: won}
        - {key: lost, outcome: lost}
"""


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def indexes(db_url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(db_url)
    try:
        return {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("obj_deal")}
    finally:
        engine.dispose()


def test_the_stage_index_is_planned_applied_and_added_to_an_older_database(write_config, db_url):
    path = write_config(CONFIG)
    assert run("apply", path, "--db", db_url).exit_code == 0
    found = indexes(db_url)
    # the stage, then the list's default order (created_at DESC, id) and archived_at; the same for an
    # indexed picklist; a list-valued one (JSON) keeps its plain index
    assert found["ix_obj_deal_stage_recent"][0] == "stage" and found["ix_obj_deal_stage_recent"][2:] == [
        "id",
        "archived_at",
    ]
    assert found["ix_obj_deal_region_recent"][0] == "region"
    assert "ix_obj_deal_stage" not in found and "ix_obj_deal_tags" in found
    assert "No changes" in run("plan", path, "--db", db_url).output

    # A database applied before this index existed had a plain index on the stage.
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_obj_deal_stage_recent")
        connection.exec_driver_sql("CREATE INDEX ix_obj_deal_stage ON obj_deal (stage)")
    engine.dispose()
    older = run("plan", path, "--db", db_url)
    assert "add index ix_obj_deal_stage_recent on obj_deal" in older.output, older.output
    assert "drop index ix_obj_deal_stage of obj_deal" in older.output, older.output
    assert run("apply", path, "--db", db_url).exit_code == 0
    assert "ix_obj_deal_stage_recent" in indexes(db_url) and "ix_obj_deal_stage" not in indexes(db_url)

    # A stage filter reads its page in the list's order, newest first, from that index.
    crm = Trellis.open(path, db_url)
    try:
        with crm.session() as session:
            for n in range(30):
                session.create("deal", {"name": f"d{n}", "stage": "won" if n % 3 else "new"})
        with crm.read_session() as session:
            page = session.query("deal").filter(stage="won").order_by("-created_at").page(1, 5)
            assert [r["name"] for r in page.items] == ["d29", "d28", "d26", "d25", "d23"]
            assert page.total == 20
    finally:
        crm.close()
