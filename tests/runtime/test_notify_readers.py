"""Notifications and e-mails as their readers may and do read them (issue 11, items 1–3 and 5).

A rule tells a lead's owner (rita, English), her manager (mei, Chinese, who may read her
team's leads but not the salary) and an auditor (who may not read leads at all) about a
new lead, in the app and by e-mail. Each message is rendered through the read path as its
readers: a hidden or encrypted field a reader may not read renders as "—", never its
value; values read as people read them (date format, company time zone, picklist labels
in the reader's language, lookup titles, users' names, money), raw values under
``record.raw``; the template's Chinese variant goes to the Chinese reader. The owner's
manager is copied on the owner's e-mail — one message, which a real SMTP server delivers
to both — when the manager may read all it shows; otherwise each gets their own.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from engine import Trellis
from engine.metadata import load_config
from engine.metadata.errors import ConfigError
from engine.runtime.jobs import worker
from tests.conftest import Clock
from tests.receivers import smtp_server
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai, currency: CNY, date_format: DD/MM/YYYY}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      salary: {type: currency}
      id_number: {type: text, encrypted: true}
      trial_at: {type: datetime}
      status: {type: picklist, values: [{key: hot, label: {en: Hot, zh: 热门}}, cold]}
      account: {type: lookup, object: account}
      helper: {type: user}
templates:
  alert:
    subject: "New lead {{ record.name }}"
    body: "salary={{ record.salary }} id={{ record.id_number }} trial={{ record.trial_at }}
      raw={{ record.raw.trial_at }} status={{ record.status }} account={{ record.account }}
      helper={{ record.helper }} rawid={{ record.raw.id_number }}"
    languages:
      zh:
        subject: "新线索 {{ record.name }}"
        body: "薪资={{ record.salary }} 证件={{ record.id_number }} 试用={{ record.trial_at }} 状态={{ record.status }}"
automations:
  - name: alert
    object: lead
    on: created
    do: [{notify: {to: [owner, manager, {role: auditor}], template: alert, channels: [in_app, email]}}]
roles:
  rep:
    objects:
      lead: {read: own, edit: own, create: true}
      account: {read: all, edit: all, create: true}
  lead_manager:
    objects:
      lead: {read: team, edit: team}
      account: {read: all}
    hidden: [lead.salary, lead.id_number]
  auditor:
    objects:
      account: {read: all}
"""

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
SECRET_SALARY = "98765"
SECRET_ID = "ID-310-SECRET"


@pytest.fixture
def crm(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(write_config(CONFIG), db_url, clock=Clock(NOW))
    apply_fresh(crm)
    with crm.directory() as d:
        d.add_team("east")
        d.add("mei", roles=["lead_manager"], team="east", email="mei@example.com", locale="zh_CN")
        d.add("rita", roles=["rep"], team="east", manager="mei", email="rita@example.com", display_name="Rita Lopez")
        d.add("audrey", roles=["auditor"], email="audrey@example.com")
    yield crm
    crm.close()


def new_lead(crm: Trellis) -> int:
    rita = crm.principal("rita").user_id
    with crm.session("rita") as s:
        account = s.create("account", {"name": "Acme Ltd"})
        lead = s.create(
            "lead",
            {
                "name": "Wei",
                "salary": SECRET_SALARY,
                "id_number": SECRET_ID,
                "trial_at": "2026-12-04T14:00",
                "status": "hot",
                "account": account.id,
                "helper": rita,
            },
        )
    return lead.id


def rows(crm: Trellis, table: str) -> list[dict]:
    t = crm.schema.system[table]
    with crm.engine.connect() as c:
        return [dict(r) for r in c.execute(sa.select(t).order_by(t.c.id)).mappings()]


def test_each_reader_gets_only_what_they_may_read_formatted_in_their_language(crm):
    new_lead(crm)
    users = {u["id"]: u["username"] for u in rows(crm, "sys_users")}
    notes = {users[n["user_id"]]: n for n in rows(crm, "sys_notifications")}
    assert set(notes) == {"rita", "mei", "audrey"}

    rita = notes["rita"]  # the owner reads everything, in English, formatted
    assert rita["title"] == "New lead Wei"
    assert "salary=CN¥98,765.00" in rita["body"] and f"id={SECRET_ID}" in rita["body"]
    assert "trial=04/12/2026 14:00" in rita["body"]  # date_format, Shanghai time
    assert "raw=2026-12-04 06:00:00" in rita["body"]  # the stored UTC value, on request
    assert "status=Hot" in rita["body"] and "account=Acme Ltd" in rita["body"]
    assert "helper=Rita Lopez" in rita["body"] and f"rawid={SECRET_ID}" in rita["body"]

    mei = notes["mei"]  # the manager: Chinese variant, no hidden or encrypted value
    assert mei["title"] == "新线索 Wei"
    assert mei["body"] == "薪资=— 证件=— 试用=04/12/2026 14:00 状态=热门"

    audrey = notes["audrey"]  # may not read leads at all: no field of the record
    assert audrey["title"] == "New lead —"
    assert "account=—" in audrey["body"] and "status=—" in audrey["body"]
    for note in (mei, audrey):
        assert SECRET_SALARY not in note["title"] + note["body"] and SECRET_ID not in note["title"] + note["body"]
        assert "98,765" not in note["body"]


def test_a_manager_who_may_read_less_gets_an_email_of_their_own(crm):
    new_lead(crm)
    emails = {e["target"]: json.loads(e["payload"]) for e in rows(crm, "sys_outbox") if e["kind"] == "email"}
    assert set(emails) == {"rita@example.com", "mei@example.com", "audrey@example.com"}
    assert all("cc" not in payload for payload in emails.values())
    assert f"id={SECRET_ID}" in emails["rita@example.com"]["body"]  # the owner's, as she reads it
    assert emails["mei@example.com"] == {
        "subject": "新线索 Wei",
        "body": "薪资=— 证件=— 试用=04/12/2026 14:00 状态=热门",
    }
    for target in ("mei@example.com", "audrey@example.com"):
        assert SECRET_ID not in json.dumps(emails[target]) and SECRET_SALARY not in json.dumps(emails[target])


def test_the_manager_is_copied_on_one_email_delivered_to_both(write_config, db_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    crm = Trellis.open(
        write_config(
            CONFIG.replace("hidden: [lead.salary, lead.id_number]", "hidden: []").replace(
                "{role: auditor}", "{user: nobody}"
            )
        ),
        db_url,
        clock=Clock(NOW),
    )
    crm.apply()
    with crm.directory() as d:
        d.add_team("east")
        d.add("mei", roles=["lead_manager"], team="east", email="mei@example.com", locale="zh_CN")
        d.add("rita", roles=["rep"], team="east", manager="mei", email="rita@example.com")
    try:
        new_lead(crm)
        [mail] = [e for e in rows(crm, "sys_outbox") if e["kind"] == "email"]
        payload = json.loads(mail["payload"])  # the manager reads all of it: one message, in rita's language
        assert (mail["target"], payload["cc"], payload["subject"]) == (
            "rita@example.com",
            ["mei@example.com"],
            "New lead Wei",
        )
        with smtp_server() as (url, box):
            monkeypatch.setenv("TRELLIS_SMTP_URL", url)
            monkeypatch.setenv("TRELLIS_MAIL_FROM", "Trellis CRM <crm@example.com>")
            report = worker.run_once(crm, NOW + dt.timedelta(minutes=1))
        assert (report.delivery.sent, report.delivery.dead) == (1, 0)
        [message] = box.messages
        assert (message["To"], message["Cc"]) == ("rita@example.com", "mei@example.com")
        assert sorted(box.envelopes[0]) == ["mei@example.com", "rita@example.com"]
        assert f"id={SECRET_ID}" in message.get_content()
    finally:
        crm.close()


def test_a_template_variant_must_be_in_a_configured_language(write_config):
    bad = CONFIG.replace("      zh:\n        subject:", "      fr:\n        subject:")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(bad))
    assert any(
        i.code == "T-E128" and "`fr` is not one of the languages in settings.languages" in i.message
        for i in caught.value.issues
    )


@pytest.mark.parametrize(
    ("source", "keys"),
    [
        ("{{ record.name }} owes {{ record['amount'] }} ({{ record.raw.amount }})", {"name", "amount", "raw"}),
        ("{{ object }} {{ rule }}", set()),
        ("{% for key, value in record.items() %}{{ value }}{% endfor %}", None),
        ("{{ record[field] }}", None),  # a key computed while rendering: every field is prepared
        ("{{ record | tojson }}", None),
        ("{% set record = {} %}{{ record.name }}", None),
    ],
)
def test_a_message_formats_only_the_fields_its_template_reads(source, keys):
    from engine.metadata.templating import keys_read

    found = keys_read(source, "record")
    assert (set(found) if found is not None else None) == keys
