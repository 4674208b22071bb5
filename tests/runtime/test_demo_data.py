"""The demo data of both samples looks real (docs/demo.md): invariants over what
``load_demo_data`` writes through the write path, on SQLite and PostgreSQL.

Deal names say who buys what and how much, amounts are seats × price (less the
discount), lost reasons sit on lost deals only, activities happened after the records
they are about were created, tasks and follow-ups of a deal point at the deal's own
account, resolutions only on resolved tickets, individual customers have no head
count or revenue; and the same seed gives the same data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from engine import Trellis
from engine.runtime.demo import data as demo
from engine.runtime.workflow import converted
from engine.runtime.workflow.pipeline import stage_history
from tests.conftest import CONFIGS
from tests.templates import apply_fresh

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
SAMPLES = ["sample_saas.yaml", "sample_retail.yaml"]


@pytest.fixture
def open_demo(db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    opened = []

    def open_(sample: str, records: int, seed: int = 7) -> Trellis:
        crm = Trellis.open(CONFIGS / sample, db_url, clock=lambda: NOW)
        opened.append(crm)
        apply_fresh(crm)
        demo.load_demo_users(crm)
        demo.load_demo_data(crm, per_object=records, seed=seed)
        return crm

    yield open_
    for crm in opened:
        crm.close()


def everything(crm: Trellis, object_name: str) -> list:
    with crm.session() as s:
        return s.query(object_name).page(1, 500).items


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_demo_data_tells_one_consistent_story(open_demo, sample):
    crm = open_demo(sample, 10)
    config = crm.config
    accounts = {r.id: r for r in everything(crm, "account")}
    contacts = {r.id: r for r in everything(crm, "contact")}
    leads = {r.id: r for r in everything(crm, "lead")}
    deals = {r.id: r for r in everything(crm, "opportunity")}
    born = (
        {("account", i): r["created_at"] for i, r in accounts.items()}
        | {("contact", i): r["created_at"] for i, r in contacts.items()}
        | {("lead", i): r["created_at"] for i, r in leads.items()}
        | {("opportunity", i): r["created_at"] for i, r in deals.items()}
    )
    assert len(deals) >= 8 and len(accounts) >= 8
    pipeline = config.objects["opportunity"].pipeline
    from_leads = {lead["converted_opportunity"] for lead in leads.values()}  # named by the conversion
    for deal in deals.values():
        account = accounts[deal["account"]]
        if deal.id in from_leads:
            assert deal["stage"] == pipeline.for_values(deal).stages[0].key, deal["name"]
            continue
        assert deal["name"].startswith(f"{account['name']} – "), deal["name"]
        assert deal["name"].endswith((f" {deal['quantity']} 席", f" {deal['quantity']} 件")), deal["name"]
        discount = deal.get("discount") or Decimal(0)
        assert deal["amount"] == (deal["unit_price"] * deal["quantity"] * (100 - discount) / 100).quantize(
            Decimal("0.01")
        ), deal["name"]
        stage = pipeline.for_values(deal).stage(deal["stage"])
        assert (deal["lost_reason"] is not None) == (stage.outcome == "lost"), (deal["name"], deal["stage"])
        assert deal["competitor"] is None or deal["lost_reason"] == "competitor"
        assert deal["contact"] is None or contacts[deal["contact"]]["account"] == deal["account"]
        assert deal["created_at"] > account["created_at"]
    assert {pipeline.for_values(d).stage(d["stage"]).outcome for d in deals.values()} >= {"open", "lost"}
    moved = 0
    with crm.engine.connect() as connection:
        history = crm.schema.system["sys_stage_history"]
        for deal in deals.values():  # each deal walked to its stage, one stage at a time, in the past
            moves = stage_history(connection, history, "opportunity", deal.id)
            line = pipeline.for_values(deal)
            assert moves[0]["from_stage"] is None and moves[0]["to_stage"] == line.stages[0].key, deal["name"]
            assert moves[-1]["to_stage"] == deal["stage"], deal["name"]
            assert [m["at"] for m in moves] == sorted(m["at"] for m in moves)
            assert moves[0]["at"] == deal["created_at"] and moves[-1]["at"] <= NOW
            assert not any(m["skipped"] for m in moves), deal["name"]
            moved += len(moves) > 1
    assert moved >= len(deals) / 2
    for kind in ("interaction", "task"):
        for item in everything(crm, kind):
            if item["opportunity"] is not None:
                assert item["account"] == deals[item["opportunity"]]["account"], kind
            if item["contact"] is not None and item["account"] is not None:
                assert contacts[item["contact"]]["account"] == item["account"], kind
            for target in ("account", "contact", "lead", "opportunity"):
                if item[target] is not None:
                    assert item["created_at"] >= born[(target, item[target])], (kind, target)
            if kind == "interaction":
                assert item["occurred_at"] >= item["created_at"] and item["occurred_at"] <= NOW
    tickets = everything(crm, "ticket")
    assert any(t["resolution"] for t in tickets)
    for ticket in tickets:
        resolved = ticket["status"] in ("resolved", "closed")
        assert resolved or (ticket["resolution"], ticket["resolved_at"], ticket["satisfaction"]) == (None,) * 3
        if ticket["first_response_at"] is not None:
            assert ticket["first_response_at"] >= ticket["created_at"]
    converted_leads = 0
    for lead in leads.values():  # what a conversion sets is never made up: only conversions set it
        conversion = converted.converted_by(config, "lead", lead)
        if conversion is None:
            continue
        converted_leads += 1
        for target, field in conversion.links.items():
            kind = next(t.object for t in conversion.targets if t.name == target)
            if lead[field] is not None and kind == "opportunity":
                assert deals[lead[field]]["created_at"] > lead["created_at"], lead["name"]
                assert deals[lead[field]]["account"] == lead["converted_account"], lead["name"]
    assert converted_leads >= 1
    people = [a for a in accounts.values() if a["customer_type"] in ("individual", "member")]
    for person in people:
        assert (person["employees"], person["annual_revenue"]) == (None, None), person["name"]
    if sample == "sample_retail.yaml":
        assert len(people) > len(accounts) / 2  # a retailer's customers are mostly members


def test_the_same_seed_gives_the_same_data(open_demo, db_url, tmp_path):
    first = open_demo("sample_saas.yaml", 4)
    names = [(d["name"], d["amount"], d["created_at"]) for d in everything(first, "opportunity")]
    again = Trellis.open(CONFIGS / "sample_saas.yaml", f"sqlite:///{tmp_path / 'again.db'}", clock=lambda: NOW)
    try:
        again.apply()
        demo.load_demo_users(again)
        demo.load_demo_data(again, per_object=4, seed=7)
        assert [(d["name"], d["amount"], d["created_at"]) for d in everything(again, "opportunity")] == names
    finally:
        again.close()
