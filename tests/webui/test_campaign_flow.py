"""Campaigns (issue 16 §3, S30, S15), on SQLite and PostgreSQL, through what people and mail
programs see: the SMTP receiver's mailbox, the tracking links over HTTP, the API's answers.

One sample config (configs/sample_saas.yaml: the `campaign` object, `segments:`, the S15 rules)
and one database for the module. Mia (sales manager) owns 1,001 contacts with an address (one
marked do_not_email) and Rita (rep) three: Mia's campaign to `contacts_with_email` reaches
Mia's 1,000, each once, at 100/second (the worker's passes at +0 s, +4.5 s and +10 s send
1, 450 and 549), also when two workers run at once and one dies mid-batch.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

import pytest
import sqlalchemy as sa

from engine import Trellis
from engine.runtime.campaigns import sending
from engine.runtime.jobs import worker
from engine.runtime.jobs.delivery import SmtpSettings
from engine.runtime.security.tokens import create_token
from tests.conftest import CONFIGS, Clock, fresh_database, run_in_threads
from tests.receivers import smtp_server
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, client_for, make_app, text

#: The SaaS sample, and a segment of one contact (who unsubscribes after the campaign started).
CONFIG = """
extends: {sample}
segments:
  one_contact:
    object: contact
    filter: {{first_name: N7}}
objects:
  campaign:
    fields:
      segment:
        values: [{{key: one_contact, label: {{en: One contact, zh: 单个联系人}}}}]
"""
BASE = "http://crm.example.test"
START = dt.datetime(2026, 5, 4, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai
CLICK = re.compile(re.escape(BASE) + r"/t/c/([A-Za-z0-9_-]+)")
PIXEL = re.compile(re.escape(BASE) + r"/t/o/([A-Za-z0-9_-]+)")
LEAVE = re.compile(re.escape(BASE) + r"/t/u/([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def env():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRELLIS_BASE_URL", BASE)
        patch.setenv("TRELLIS_SECRET_KEY", "campaign-test-secret-key-0123456789abcdef")
        yield patch


@pytest.fixture(scope="module")
def crm(tmp_path_factory, env):
    folder = tmp_path_factory.mktemp("campaigns")
    urls = fresh_database(folder)
    clock = Clock(START)
    (folder / "config.yaml").write_text(CONFIG.format(sample=CONFIGS / "sample_saas.yaml"), encoding="utf-8")
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("mia", roles=["sales_manager"], password=PASSWORD)
        d.add("rita", roles=["sales_rep"], password=PASSWORD)
    with crm.session("mia") as s:
        account = s.create("account", {"name": "Acme"})["id"]
        people = [_contact(account, f"p{i}@example.com", f"N{i}") for i in range(1000)]
        s.create_many("contact", [*people, {**_contact(account, "quiet@example.com", "Quiet"), "do_not_email": True}])
    with crm.session("rita") as s:
        mine = s.create("account", {"name": "Rita Ltd"})["id"]
        s.create_many("contact", [_contact(mine, f"rita{i}@example.com", f"R{i}") for i in range(3)])
    crm.test_clock = clock  # type: ignore[attr-defined]
    yield crm
    crm.close()
    next(urls, None)


def _contact(account: int, email: str, first: str) -> dict:
    return {"last_name": "Li", "first_name": first, "account": account, "email": email, "decision_role": "user"}


@pytest.fixture(scope="module")
def mail():
    with smtp_server() as (url, box):
        yield SmtpSettings.parse(url, "news@example.com"), box


@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


def run(crm, mail, moment: dt.datetime) -> worker.PassReport:
    crm.test_clock.at(moment)
    return worker.run_once(crm, moment, imports=False, smtp=mail[0])


def campaign(crm, user: str, segment: str, rate: str, **values) -> int:
    with crm.session(user) as s:
        return s.create(
            "campaign",
            {"name": f"{segment} {rate}", "segment": segment, "template": "product_news", "rate": rate, **values},
        )["id"]


def api(app, user: str, scopes=None):
    secret, _ = create_token(app.extensions["trellis"], user, scopes=scopes)
    return {"Authorization": f"Bearer {secret}"}


def test_campaign_reaches_each_contact_once_at_its_rate(crm, mail, app, monkeypatch):
    box = mail[1]
    first = len(box.raw)
    cid = campaign(crm, "mia", "contacts_with_email", "100/second")
    answer = app.test_client().post(f"/api/v1/campaign/{cid}/start", headers=api(app, "mia"))
    assert answer.status_code == 200, text(answer)
    assert answer.json["queued"] == 1000 and answer.json["suppressed"] == 0  # "quiet" is outside the segment

    # a worker dying mid-batch leaves nothing half-done: its recipients wait for the next one
    calls = []

    def dies(*args, **kwargs):
        if len(calls) == 5:
            raise SystemExit("killed")
        calls.append(1)
        return real(*args, **kwargs)

    real = sending.enqueue
    monkeypatch.setattr(sending, "enqueue", dies)
    with pytest.raises(SystemExit):
        sending.send_campaigns(crm, START + dt.timedelta(seconds=4.5))
    monkeypatch.undo()

    assert run(crm, mail, START).campaigns.sent == 1
    crm.test_clock.at(START + dt.timedelta(seconds=4.5))
    reports: list = []
    errors = run_in_threads(lambda _: reports.append(sending.send_campaigns(crm, crm.test_clock.now)), 2)
    assert not errors and sum(r.sent for r in reports) == 450  # two workers, each recipient once
    assert run(crm, mail, START + dt.timedelta(seconds=4.5)).delivery.sent == 450
    assert run(crm, mail, START + dt.timedelta(seconds=10)).campaigns.sent == 549
    assert run(crm, mail, START + dt.timedelta(seconds=60)).campaigns.sent == 0

    addresses = [to for envelope in box.envelopes[first:] for to in envelope]
    assert len(addresses) == 1000 and len(set(addresses)) == 1000
    assert not {a for a in addresses if a.startswith(("rita", "quiet"))}  # Rita's and do-not-email
    message = message_to(box, "p0@example.com")
    leave = LEAVE.search(message["List-Unsubscribe"]).group(0)
    assert message["List-Unsubscribe"].strip() == f"<{leave}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = message.get_body(("plain",)).get_content()
    assert "N0 Li" in plain and "p0@example.com" not in CLICK.search(plain).group(0)
    assert PIXEL.search(message.get_body(("html",)).get_content())

    # sent at the rate: the outbox's send times by pass follow the recipients' places
    with crm.engine.connect() as c:
        table = crm.schema.system["sys_campaign_recipients"]
        due = c.execute(sa.select(table.c.due_at).where(table.c.campaign_id == cid).order_by(table.c.due_at)).scalars()
        due = list(due)
    assert due[-1] - due[0] == dt.timedelta(seconds=9.99)
    with crm.session("mia") as s:  # back to draft by hand: it is still sent only once
        s.update("campaign", cid, {"status": "draft"})
    again = app.test_client().post(f"/api/v1/campaign/{cid}/start", headers=api(app, "mia"))
    assert again.status_code == 422 and again.json["error"]["fields"]["status"][0]["code"] == "campaign_started_before"
    with crm.session("mia") as s:
        s.update("campaign", cid, {"status": "sent"})
    results = app.test_client().get(f"/api/v1/campaign/{cid}/results", headers=api(app, "mia")).json
    assert results["status"] == "sent"
    assert results["figures"]["sent"] == 1000 and results["figures"]["delivered"] == 1000


def test_clicks_score_the_lead_and_forged_tokens_404(crm, mail, app):
    with crm.session("mia") as s:
        lead = s.create(
            "lead",
            {
                "name": "王芳",
                "company": "星辰科技",
                "source": "website_signup",
                "intent_level": "high",
                "email": "wang@example.com",
            },
        )
    cid = campaign(crm, "mia", "open_leads", "600/hour")
    mia = client_for(app, "mia")
    page = mia.get(f"/o/campaign/{cid}")
    assert "Start campaign" in text(page) or "启动活动" in text(page)
    response = mia.post(f"/o/campaign/{cid}/start", data={"csrf_token": _csrf(page)})
    assert response.status_code == 302
    run(crm, mail, START + dt.timedelta(minutes=5))
    message = message_to(mail[1], "wang@example.com")
    plain = message.get_body(("plain",)).get_content()
    click, pixel = CLICK.search(plain).group(1), PIXEL.search(message.get_body(("html",)).get_content()).group(1)
    web = app.test_client()

    assert web.get(f"/t/o/{pixel}").headers["Content-Type"] == "image/gif"
    for _ in range(3):
        answer = web.get(f"/t/c/{click}")
        assert answer.status_code == 302 and answer.headers["Location"] == "https://www.example.com/new-release"
    with crm.session("mia") as s:
        after = s.get("lead", lead["id"])
        tasks = s.query("task").filter(subject__contains="王芳").all()
    assert after["campaign_clicks"] == 3 and "engaged" in after["tags"]
    assert (lead["score"], after["score"], len(tasks)) == (60, 80, 1)

    forged = click[:-2] + ("AA" if click[-2:] != "AA" else "BB")
    for url in (f"/t/c/{forged}", f"/t/c/{pixel}", f"/t/o/{click}", "/t/u/nonsense", f"/t/c/{click}x"):
        assert web.get(url).status_code == 404
    figures = web.get(f"/api/v1/campaign/{cid}/results", headers=api(app, "mia")).json["figures"]
    assert (figures["opened"], figures["clicked"], figures["leads"]) == (1, 1, 0)
    page = text(mia.get(f"/o/lead/{lead['id']}"))
    assert page.count("https://www.example.com/new-release") >= 3  # the clicks, on the timeline


def test_unsubscribed_contact_gets_nothing_more(crm, mail, app):
    box = mail[1]
    later = dt.datetime(2026, 5, 7, 1, 0, tzinfo=dt.UTC)
    web = app.test_client()
    queued_before = campaign(crm, "mia", "one_contact", "1/minute", start_at=later)
    assert web.post(f"/api/v1/campaign/{queued_before}/start", headers=api(app, "mia")).json["status"] == "scheduled"

    leave = LEAVE.search(message_to(box, "p7@example.com")["List-Unsubscribe"]).group(1)
    assert '<form method="post">' in text(web.get(f"/t/u/{leave}"))  # a GET only asks
    with crm.session("mia") as s:
        assert s.query("contact").filter(email="p7@example.com").first()["do_not_email"] is False
    answer = web.post(f"/t/u/{leave}", data={"List-Unsubscribe": "One-Click"})  # RFC 8058
    assert answer.status_code == 200
    with crm.session("mia") as s:
        person = s.query("contact").filter(email="p7@example.com").first()
        assert person["do_not_email"] is True
        s.update("contact", person["id"], {"birthday": dt.date(1990, 5, 6)})

    cid = campaign(crm, "mia", "contacts_with_email", "1000/second", start_at=later)
    assert web.post(f"/api/v1/campaign/{cid}/start", headers=api(app, "mia")).json["queued"] == 999  # not p7
    with crm.session("mia") as s:  # and cancelled before its time: nothing of it goes out
        s.update("campaign", cid, {"status": "cancelled"})
    before = len(box.envelopes)
    run(crm, mail, dt.datetime(2026, 5, 6, 1, 0, tzinfo=dt.UTC))  # p7's birthday: the greeting rule fires
    run(crm, mail, later)  # the campaign queued before the unsubscribe
    assert "p7@example.com" not in {to for envelope in box.envelopes[before:] for to in envelope}
    outbox = crm.schema.system["sys_outbox"]
    with crm.engine.connect() as c:
        greeting = c.execute(sa.select(outbox.c.status).where(outbox.c.rule == "birthday_greeting")).scalars().all()
    assert greeting == ["suppressed"]
    figures = web.get(f"/api/v1/campaign/{queued_before}/results", headers=api(app, "mia")).json["figures"]
    assert (figures["suppressed"], figures["sent"]) == (1, 0)
    assert len(box.envelopes) == before


def test_events_api_needs_its_scope(crm, app):
    web = app.test_client()
    website = api(app, "mia", scopes=["events"])
    body = {"event": "page_visited", "object": "lead", "email": "wang@example.com", "data": {"url": "/pricing"}}
    answer = web.post("/api/v1/events", json=body, headers=website)
    assert answer.status_code == 201 and answer.json["object"] == "lead"
    bad = web.post("/api/v1/events", json={"event": "clicked", "object": "deal"}, headers=website)
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"event", "object", "id"}
    missing = web.post("/api/v1/events", json={**body, "email": "nobody@example.com"}, headers=website)
    assert (
        missing.status_code == 422 and missing.json["error"]["fields"]["email"][0]["code"] == "event_record_not_found"
    )
    assert web.get("/api/v1/lead", headers=website).status_code == 403  # an events token reads nothing
    assert web.post("/api/v1/events", json=body, headers=api(app, "mia")).status_code == 403
    document = web.get("/api/v1/openapi.json", headers=api(app, "mia")).json
    assert "/api/v1/events" in document["paths"] and "/api/v1/campaign/{id}/start" in document["paths"]


def test_segment_and_template_are_chosen_by_their_names(app):
    """The new-campaign form offers the segments and templates by name, in the reader's language;
    a name that is none of them is refused on its field when saved."""
    page = text(client_for(app, "mia").get("/o/campaign/new", headers={"Accept-Language": "zh-CN"}))
    segments = re.search(r'<select[^>]*name="segment".*?</select>', page, re.S)
    assert segments and re.findall(r'<option value="(\w+)">([^<]+)</option>', segments.group(0)) == [
        ("contacts_with_email", "有邮箱的联系人"),
        ("open_leads", "未转化线索"),
        ("one_contact", "单个联系人"),
    ]
    assert '<option value="product_news">新品发布</option>' in page
    typo = {"name": "Typo", "segment": "open_lead", "template": "product_news", "rate": "1/hour"}
    refused = app.test_client().post("/api/v1/campaign", json=typo, headers=api(app, "mia"))
    assert refused.status_code == 422 and list(refused.json["error"]["fields"]) == ["segment"], refused.json


def message_to(box, address: str) -> email.message.EmailMessage:
    """The first message to ``address``, parsed (the others are not)."""
    place = next(i for i, envelope in enumerate(box.envelopes) if address in envelope)
    return email.message_from_bytes(box.raw[place], policy=email.policy.default)


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text(page)).group(1)
