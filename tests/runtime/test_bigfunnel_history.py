"""The funnel at scale (issue 18 §6): it reads the period's moves from an index of their own and
finds each stay's end with an index lookup, with the same figures as before at the period's
edges; ``trellis plan`` and ``apply`` add those two indexes to a database made before them.

The funnel's moves, April 2026 (``this_month``; the company is in UTC, the report runs 04-22):

    deal  owner  moves
    A1    ann    new 03-25 09:00 → qualify 04-05 09:00 → quote 05-01 00:00 (the period's end)
    A2    ann    new 04-10 09:00 → qualify 04-10 09:00 (the same instant) → lost 04-12 09:00 (price)
    A3    ann    new 04-03 09:00, archived
    B1    bob    new 04-04 09:00 → qualify 04-06 09:00 (still there)

For Ann: new entered by A2 (stayed 0 days), qualify by A1 and A2 (25.6 days: until the move at
the period's end, which is not in it, and 2 days; median 13.8), nothing entered quote, A2 lost
from qualify for Price; A1's stay in new began in March and does not count; A3 is archived. For
Bo, who reads every deal: new 2 (A2 0 days, B1 2 days; median 1.0), qualify 3 (B1's stay lasts).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime import reports
from tests.conftest import Clock, fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: UTC, languages: [en]}
objects:
  deal:
    fields:
      name: {type: text, required: true}
      lost_reason:
        type: picklist
        values:
          - {key: price, label: {en: Price}}
          - {key: timing, label: {en: Timing}}
    pipeline:
      field: stage
      stages:
        - {key: new}
        - {key: qualify}
        - {key: quote}
        - {key: won, outcome: won}
        - {key: lost, outcome: lost, requires: [lost_reason]}
roles:
  rep:
    objects: {deal: {read: own, edit: own, create: true}}
  boss:
    objects: {deal: {read: all}}
reports:
  funnel: {object: deal, kind: funnel, filter: {stage_entered_at: this_month}}
"""

NOW = dt.datetime(2026, 4, 22, 9, 0, tzinfo=dt.UTC)


def _at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=dt.UTC)


#: deal, owner, moves: (when, stage).
MOVES = [
    ("A1", "ann", [(_at(3, 25), "new"), (_at(4, 5), "qualify"), (_at(5, 1, 0), "quote")]),
    ("A2", "ann", [(_at(4, 10), "new"), (_at(4, 10), "qualify"), (_at(4, 12), "lost")]),
    ("A3", "ann", [(_at(4, 3), "new")]),
    ("B1", "bob", [(_at(4, 4), "new"), (_at(4, 6), "qualify")]),
]


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bigfunnel")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(NOW)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("ann", roles=["rep"], password="Pass-word-123")
        d.add("bob", roles=["rep"], password="Pass-word-123")
        d.add("bo", roles=["boss"], password="Pass-word-123")
    for name, owner, moves in MOVES:
        (first, stage), *later = moves
        clock.at(first)
        with crm.session() as s:
            record_id = s.create("deal", {"name": name, "owner_id": crm.principal(owner).user_id, "stage": stage}).id
        for when, stage in later:
            clock.at(when)
            with crm.session() as s:
                s.update("deal", record_id, {"stage": stage, **({"lost_reason": "price"} if stage == "lost" else {})})
        if name == "A3":
            with crm.session() as s:
                s.archive("deal", record_id)
    clock.at(NOW)
    yield crm
    crm.close()
    next(urls, None)


def figures(crm: Trellis, user: str) -> tuple[list[tuple], tuple]:
    """(stage, entered, conversion, median days, lost, lost reasons) per stage, and the total."""
    with crm.session(user) as s:
        result = reports.run(s, "funnel")
    rows = [(row.keys[0].raw, *(f.value for f in row.figures)) for row in result.rows]
    return rows, tuple(f.value for f in result.total.figures)


def test_bigfunnel_stays_end_at_the_next_move_past_the_period_and_at_the_same_instant(crm):
    rows, total = figures(crm, "ann")
    assert rows == [
        ("new", 1, None, Decimal("0.0"), 0, None),
        ("qualify", 2, Decimal("2.0000"), Decimal("13.8"), 1, "Price 1"),
        ("quote", 0, Decimal("0.0000"), None, 0, None),
        ("won", 0, None, None, 0, None),
    ]
    assert total == (2, Decimal("0.0000"), None, 1, "Price 1")
    rows, total = figures(crm, "bo")
    assert [row[:4] for row in rows[:2]] == [
        ("new", 2, None, Decimal("1.0")),
        ("qualify", 3, Decimal("1.5000"), Decimal("13.8")),
    ]
    assert total == (3, Decimal("0.0000"), None, 1, "Price 1")


# --- the indexes on a database made before them -----------------------------------------------------
MINIMAL = """
trellis: 1
objects:
  deal:
    fields:
      name: {type: text, required: true}
    pipeline:
      stages:
        - {key: new}
        - {key: won, outcome: won}
"""


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def history_indexes(db_url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(db_url)
    try:
        return {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("sys_stage_history")}
    finally:
        engine.dispose()


def test_bigfunnel_an_older_database_gets_the_history_indexes_on_its_next_apply(write_config, db_url):
    path = write_config(MINIMAL)
    assert run("apply", path, "--db", db_url).exit_code == 0
    found = history_indexes(db_url)
    assert found["ix_sys_stage_history_object_at_moves"] == [
        "object",
        "at",
        "record_id",
        "id",
        "to_stage",
        "from_stage",
    ]
    assert found["ix_sys_stage_history_object_record_at"] == ["object", "record_id", "at"]

    # A database applied before them had (object, record_id) and (object, at); an operator built
    # one of the new ones by hand ahead of the upgrade (docs/operations.md).
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        for name in found:
            if name.startswith("ix_"):
                connection.exec_driver_sql(f"DROP INDEX {name}")
        connection.exec_driver_sql(
            "CREATE INDEX ix_sys_stage_history_object_record ON sys_stage_history (object, record_id)"
        )
        connection.exec_driver_sql("CREATE INDEX ix_sys_stage_history_object_at ON sys_stage_history (object, at)")
        connection.exec_driver_sql(
            "CREATE INDEX ix_sys_stage_history_object_record_at ON sys_stage_history (object, record_id, at)"
        )
    engine.dispose()
    older = run("plan", path, "--db", db_url).output
    assert "add index ix_sys_stage_history_object_at_moves on sys_stage_history" in older, older
    assert "ix_sys_stage_history_object_record_at" not in older and "drop index" not in older, older
    assert run("apply", path, "--db", db_url).exit_code == 0
    after = history_indexes(db_url)
    assert {"ix_sys_stage_history_object_at_moves", "ix_sys_stage_history_object_at"} <= set(after)
    assert "No changes" in run("plan", path, "--db", db_url).output
