"""What a webhook carries (issue 12 §4), on SQLite and PostgreSQL.

A webhook goes to an outside system, so by default it carries what an outside reader may
read: the record's system columns, its title and the fields no role hides that are not
encrypted, read now through the read path (``reader.values_for``). A rule that names
``fields`` sends exactly those (hidden and encrypted ones included: the config says so).
Values are machine-readable: picklist keys, ids, ISO dates, decimals as text.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from engine import Trellis
from engine.metadata.model import SYSTEM_COLUMNS
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, currency: CNY}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  deal:
    title: "{name} {code_name}"
    fields:
      name: {type: text, required: true}
      stage: {type: picklist, values: [{key: open, label: {en: Open, zh: 进行中}}, won]}
      amount: {type: currency}
      closes: {type: date}
      account: {type: lookup, object: account}
      margin: {type: currency}
      code_name: {type: text}
      iban: {type: text, encrypted: true}
automations:
  - name: public_hook
    object: deal
    on: created
    do:
      - {set: {stage: won}}
      - {webhook: {url: "https://erp.example.com/public", secret_env: ERP_SECRET}}
  - name: named_hook
    object: deal
    on: created
    do: [{webhook: {url: "https://erp.example.com/named", fields: [name, amount, margin, iban], unsigned: true}}]
  - name: gone_hook
    object: deal
    on: deleted
    do: [{webhook: {url_env: ERP_GONE_URL, unsigned: true}}]
roles:
  rep:
    objects:
      deal: {read: own, edit: own, create: true, delete: own}
      account: {read: all, create: true}
    hidden: [deal.margin, deal.code_name]
"""

SECRET_MARGIN, SECRET_CODE, SECRET_IBAN = "4321.09", "Project Falcon", "DE89370400440532013000"


@pytest.fixture
def crm(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC))
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
    yield crm
    crm.close()


def new_deal(crm: Trellis) -> int:
    rita = crm.principal("rita").user_id
    with crm.session("rita") as s:
        account = s.create("account", {"name": "Acme Ltd"})
    with crm.session() as s:  # hidden fields are not the rep's to write
        deal = s.create(
            "deal",
            {
                "name": "Big deal",
                "stage": "open",
                "amount": "1200.50",
                "closes": "2026-07-01",
                "account": account.id,
                "margin": SECRET_MARGIN,
                "code_name": SECRET_CODE,
                "iban": SECRET_IBAN,
                "owner_id": rita,
            },
        )
    return deal.id


def payloads(crm: Trellis) -> dict[str, dict]:
    outbox = crm.schema.system["sys_outbox"]
    with crm.engine.connect() as c:
        rows = c.execute(sa.select(outbox.c.rule, outbox.c.payload).where(outbox.c.kind == "webhook")).all()
    return {rule: json.loads(payload) for rule, payload in rows}


def system_columns(record: dict) -> set[str]:
    return {name for name in record if name in SYSTEM_COLUMNS}


def test_by_default_a_webhook_carries_what_no_role_hides_and_nothing_encrypted(crm):
    deal_id = new_deal(crm)
    sent = payloads(crm)["public_hook"]
    record = sent["record"]
    assert set(record) - system_columns(record) == {"name", "stage", "amount", "closes", "account"}
    assert record["id"] == sent["id"] == deal_id
    assert (sent["event"], sent["rule"], sent["object"]) == ("created", "public_hook", "deal")
    assert sent["title"] == "Big deal"  # the title's hidden part left out
    # read now, through the read path: the rule's own `set` before it shows
    assert record["stage"] == "won" and record["amount"] == "1200.50" and record["closes"] == "2026-07-01"
    text = json.dumps(sent)
    for secret in (SECRET_MARGIN, SECRET_CODE, SECRET_IBAN):
        assert secret not in text


def test_a_webhook_naming_fields_sends_those_hidden_and_encrypted_ones_included(crm):
    new_deal(crm)
    sent = payloads(crm)["named_hook"]
    record = sent["record"]
    assert set(record) - system_columns(record) == {"name", "amount", "margin", "iban"}
    assert record["iban"] == SECRET_IBAN and record["margin"] == SECRET_MARGIN
    assert "stage" not in record and SECRET_CODE not in json.dumps(sent)
    assert sent["title"] == "Big deal"


def test_a_deleted_records_webhook_carries_its_last_public_values(crm):
    deal_id = new_deal(crm)
    with crm.session("rita") as s:
        s.delete("deal", deal_id)
    sent = payloads(crm)["gone_hook"]
    assert sent["event"] == "deleted" and sent["id"] == deal_id
    assert set(sent["record"]) - system_columns(sent["record"]) == {"name", "stage", "amount", "closes", "account"}
    for secret in (SECRET_MARGIN, SECRET_CODE, SECRET_IBAN):
        assert secret not in json.dumps(sent)
