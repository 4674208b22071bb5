"""Grouped counts and aggregates on the read path (``Query.grouped``), on SQLite and PostgreSQL.

A board's column totals and the reports build on it: the groups are computed inside the
caller's record scope with the query's filters, a hidden field cannot be grouped by or
summed (it is an unknown field, as in filters), nor can an encrypted one, and sums of
money are exact decimals on both databases.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from engine import Trellis
from engine.runtime.errors import QueryError
from engine.runtime.records.query import MAX_GROUP_KEYS
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY}
objects:
  deal:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      stage: {type: picklist, values: [open, won, lost]}
      region: {type: picklist, values: [north, south]}
      amount: {type: currency}
      seats: {type: integer}
      margin: {type: currency}
      tags: {type: tags}
      closes: {type: date}
      code: {type: text, encrypted: true}
roles:
  rep:
    objects:
      deal: {read: own, edit: own, create: true}
    hidden: [deal.margin]
"""

DEALS = [  # owner, stage, region, amount, seats, margin, closes
    ("rita", "open", "north", "100.10", 3, "10", dt.date(2026, 3, 1)),
    ("rita", "open", "south", "200.20", 5, "20", dt.date(2026, 1, 15)),
    ("rita", "won", "north", "0.30", None, "30", None),
    ("sam", "open", "north", "1000", 7, "40", dt.date(2026, 2, 1)),
    ("sam", None, None, None, 1, "50", None),
]


@pytest.fixture
def crm(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("sam", roles=["rep"])
    for owner, stage, region, amount, seats, margin, closes in DEALS:
        with crm.session(owner) as s:
            deal = s.create(
                "deal",
                {
                    "name": f"{owner} {stage}",
                    "stage": stage,
                    "region": region,
                    "amount": amount,
                    "seats": seats,
                    "closes": closes,
                    "code": "x",
                },
            )
        with crm.session() as s:  # hidden from reps, so not theirs to write
            s.update("deal", deal.id, {"margin": margin})
    yield crm
    crm.close()


def test_groups_count_and_sum_inside_the_callers_scope(crm):
    with crm.session("rita") as s:
        groups = s.query("deal").grouped("stage", sums=["amount", "seats"])
    assert [(g.values, g.count, g.sums) for g in groups] == [
        ({"stage": "open"}, 2, {"amount": Decimal("300.30"), "seats": 8}),
        ({"stage": "won"}, 1, {"amount": Decimal("0.30"), "seats": None}),
    ]
    with crm.session() as s:  # the system reads everything; empty values group last
        groups = s.query("deal").grouped("stage", sums=["amount"])
    assert [(g.key, g.count, g.sums["amount"]) for g in groups] == [
        (("open",), 3, Decimal("1300.30")),
        (("won",), 1, Decimal("0.30")),
        ((None,), 1, None),
    ]


def test_several_fields_and_every_aggregate_with_filters(crm):
    with crm.session() as s:
        groups = (
            s.query("deal")
            .filter(stage="open")
            .grouped("stage", "region", sums=["amount"], avgs=["seats"], mins=["closes", "amount"], maxs=["closes"])
        )
    assert [g.key for g in groups] == [("open", "north"), ("open", "south")]
    north = groups[0]
    assert north.count == 2 and north.sums == {"amount": Decimal("1100.10")}
    assert north.avgs["seats"] == Decimal(5)
    assert north.mins == {"closes": dt.date(2026, 2, 1), "amount": Decimal("100.10")}
    assert north.maxs == {"closes": dt.date(2026, 3, 1)}


def test_hidden_encrypted_and_unsuitable_fields_are_refused(crm):
    with crm.session("rita") as s:
        query = s.query("deal")
        with pytest.raises(QueryError, match="no field 'margin'"):
            query.grouped("margin")
        with pytest.raises(QueryError, match="no field 'margin'"):
            query.grouped("stage", sums=["margin"])
        with pytest.raises(QueryError, match="encrypted"):
            query.grouped("code")
        with pytest.raises(QueryError, match="sum applies to"):
            query.grouped("stage", sums=["name"])
        with pytest.raises(QueryError, match="cannot group by"):
            query.grouped("tags")
        (total,) = query.grouped()  # no field: one group of every record in scope
        assert total.values == {} and total.count == query.count()
        with pytest.raises(QueryError, match=f"at most {MAX_GROUP_KEYS}"):
            query.grouped(*(["stage"] * (MAX_GROUP_KEYS + 1)))
    with crm.session() as s:  # the system may: nothing is hidden from it
        assert sum(g.sums["margin"] for g in s.query("deal").grouped("stage", sums=["margin"])) == 150


def test_system_columns_group_too(crm):
    sam = crm.principal("sam").user_id
    with crm.session() as s:
        groups = s.query("deal").grouped("owner_id", sums=["amount"])
    assert {g.values["owner_id"]: g.count for g in groups}[sam] == 2
