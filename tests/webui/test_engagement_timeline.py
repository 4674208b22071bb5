"""Engagement events on the record's timeline (issue 16 §3), on SQLite and PostgreSQL.

A contact's opens, clicks and received e-mails are entries of its timeline, interleaved
with its activities by time (newest first) on the record page and in ``GET
/api/v1/contact/<id>/timeline`` (``type: event``), paged across both, shown as people read
them (the kind's words, the campaign's name, the link, local time) with a filter by type;
no separate Engagement panel. A rep who cannot read the contact gets a 404.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine import Trellis
from engine.runtime.security.tokens import create_token
from engine.runtime.workflow.engagement import record_event
from tests.conftest import Clock, fresh_database
from tests.templates import apply_fresh
from tests.webui.conftest import PASSWORD, make_app, text

CONFIG = """
trellis: 1
settings: {languages: [en, zh], timezone: Asia/Shanghai}
objects:
  contact:
    label: {en: Contact, zh: 联系人}
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      email: {type: email}
  call:
    label: {en: Follow-up, zh: 跟进记录}
    title: "{topic}"
    activity: {at: at, kind: method, summary: topic}
    fields:
      contact: {type: lookup, object: contact}
      method: {type: picklist, required: true, values: [{key: phone, label: {en: Phone call, zh: 电话}}]}
      at: {type: datetime, required: true}
      topic: {type: text, required: true}
  campaign:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      segment: {type: text}
      template: {type: text}
      rate: {type: text}
      status: {type: picklist, values: [draft, scheduled, sending, sent, cancelled], default: draft}
      start_at: {type: datetime}
roles:
  rep:
    objects:
      contact: {read: own}
      call: {read: all}
      campaign: {read: all}
"""

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
LINK = "https://www.example.com/spring-release"


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    """Zhang (Rita's contact) with two calls and three events, each an hour apart:
    call, opened, call, clicked, e-mail received (oldest first)."""
    folder = tmp_path_factory.mktemp("engagement")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    urls = fresh_database(folder)
    clock = Clock(START)
    crm = Trellis.open(folder / "config.yaml", next(urls), clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"], password=PASSWORD)
        d.add("dora", roles=["rep"], password=PASSWORD)
    rita = crm.principal("rita").user_id
    with crm.session() as s:
        zhang = s.create("contact", {"name": "Zhang", "email": "zhang@acme.example", "owner_id": rita})
        spring = s.create("campaign", {"name": "Spring release"})

    def call(hour: int, topic: str) -> None:
        with crm.session() as s:
            s.create("call", {"contact": zhang.id, "method": "phone", "topic": topic, "at": at(hour)})

    def event(hour: int, kind: str, **data) -> None:
        clock.at(at(hour))
        with crm.session() as s:
            campaign = spring.id if kind.startswith("email_") and kind != "email_received" else None
            record_event(s, kind, "contact", zhang.id, data, campaign_id=campaign)

    call(0, "First call")
    event(1, "email_opened")
    call(2, "Second call")
    event(3, "email_clicked", url=LINK)
    event(4, "email_received", subject="Re: the quote")
    crm.zhang = zhang.id  # type: ignore[attr-defined]
    yield crm
    crm.close()
    next(urls, None)


def at(hour: int) -> dt.datetime:
    return START + dt.timedelta(hours=hour)


@pytest.fixture(scope="module")
def app(crm):
    return make_app(crm)


@pytest.fixture(scope="module")
def tokens(crm):
    return {name: create_token(crm, name)[0] for name in ("rita", "dora")}


def timeline_panel(page: str) -> str:
    start = page.index('id="timeline"')
    return page[start : page.index("</section>", start)]


def timeline_json(client, tokens, user: str, contact: int, query: str = ""):
    response = client.get(
        f"/api/v1/contact/{contact}/timeline{query}", headers={"Authorization": f"Bearer {tokens[user]}"}
    )
    assert b"Traceback" not in response.data
    return response


def test_the_record_page_interleaves_events_with_activities_newest_first(login, crm):
    rita = login("rita")
    page = text(rita.get(f"/o/contact/{crm.zhang}"))
    panel = timeline_panel(page)
    lines = ["E-mail received", "Clicked a link", "Second call", "Opened an e-mail", "First call"]
    places = [panel.index(line) for line in lines]
    assert places == sorted(places), panel
    clicked = panel[panel.index("Clicked a link") : panel.index("Second call")]
    assert "Spring release" in clicked and LINK in clicked and "2026-03-02 12:00" in clicked  # local time
    assert "Re: the quote" in panel and 'class="entry entry-event' in panel
    assert f'href="/o/contact/{crm.zhang}?timeline_type=event#timeline">Engagement</a>' in panel
    assert ">Activities</a>" in panel and ">Tasks</a>" not in panel  # no task object attaches to a contact
    assert 'id="engagement-h"' not in page  # no second display of the same events
    only = text(rita.get(f"/o/contact/{crm.zhang}?timeline_type=event"))
    only = timeline_panel(only)
    assert "Clicked a link" in only and "First call" not in only and 'aria-current="true">Engagement' in only


def test_the_api_pages_across_activities_and_events(app, crm, tokens):
    client = app.test_client()
    seen = []
    for page in (1, 2, 3):
        body = timeline_json(client, tokens, "rita", crm.zhang, f"?per_page=2&page={page}").json
        assert body["meta"] == {"page": page, "per_page": 2, "total": 5, "pages": 3}
        seen += body["data"]
    assert [(e["type"], e["kind"]) for e in seen] == [
        ("event", "email_received"),
        ("event", "email_clicked"),
        ("activity", "phone"),
        ("event", "email_opened"),
        ("activity", "phone"),
    ]
    assert [e["at"][:16] for e in seen] == [at(h).isoformat()[:16] for h in (4, 3, 2, 1, 0)]
    clicked = seen[1]
    assert clicked["event"]["data"] == {"url": LINK} and clicked["event"]["campaign"]["name"] == "Spring release"
    assert clicked["record"] is None and seen[2]["record"]["topic"] == "Second call"
    events = timeline_json(client, tokens, "rita", crm.zhang, "?type=event").json
    assert [e["kind"] for e in events["data"]] == ["email_received", "email_clicked", "email_opened"]
    bad = timeline_json(client, tokens, "rita", crm.zhang, "?type=visits")
    assert (
        bad.status_code == 400 and "type must be one or more of activity, task, event" in bad.json["error"]["message"]
    )


def test_a_rep_who_cannot_read_the_contact_gets_nothing(login, app, crm, tokens):
    response = timeline_json(app.test_client(), tokens, "dora", crm.zhang)
    assert response.status_code == 404 and "data" not in response.json
    page = login("dora").get(f"/o/contact/{crm.zhang}")
    assert page.status_code == 404 and "Clicked a link" not in text(page)
