"""E-mail from a record (issue 16 §2): a rep writes to a deal's contact from the deal's page (the
form, To prefilled, a template's text for the deal) and through the API; the worker's outbox
delivery hands it to a real SMTP server; the customer's reply, read from a real IMAP server,
threads onto the same deal. Who may not write gets no link and a 403; bad input is a 422 per field.

One dovecot for the module; SQLite, and PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import re
from email.mime.text import MIMEText

import pytest

from engine.runtime.campaigns.suppression import suppress
from engine.runtime.jobs import worker
from engine.runtime.jobs.delivery import SmtpSettings
from engine.runtime.mail.imap import fetch
from engine.runtime.security.tokens import create_token
from tests.imap_server import MAIL_CONFIG, PASSWORD, dovecot
from tests.receivers import smtp_server
from tests.webui.conftest import post, text


@pytest.fixture(scope="module")
def imap():
    with dovecot(("sales@acme.test",)) as server:
        yield server


@pytest.fixture
def crm(open_crm, imap, monkeypatch):
    monkeypatch.setenv("T_SALES_USER", "sales@acme.test")
    monkeypatch.setenv("T_SALES_PASSWORD", PASSWORD)
    imap.empty("sales@acme.test")
    config = MAIL_CONFIG.replace("PORT", str(imap.port)).replace("CA_FILE", imap.ca_file)
    return open_crm(config, {"rita": {"roles": ["rep"], "email": "rita@acme.test"}, "vic": {"roles": ["viewer"]}})


@pytest.fixture
def deal(crm):
    with crm.session() as s:
        account = s.create("account", {"name": "Acme"})
        zhang = s.create("contact", {"name": "张伟", "account": account.id, "email": "zhang@acme.example"})
    with crm.session("rita") as s:
        return s.create("opportunity", {"name": "20 seats", "account": account.id, "contact": zhang.id})


def deliver(crm):
    """Run the worker's pass (outbox delivery) against a real SMTP server; what it received."""
    with smtp_server() as (url, box):
        report = worker.run_once(crm, mail=False, smtp=SmtpSettings.parse(url, "crm@acme.test"))
    assert report.delivery.sent >= 1, report.delivery.errors
    return box.messages


def reply_to(imap, crm, sent, body, by_worker=False):
    reply = MIMEText(body, "plain", "utf-8")
    reply["From"] = "Zhang Wei <zhang@acme.example>"
    reply["To"] = sent["Reply-To"]
    reply["Subject"] = "Re: " + sent["Subject"]
    reply["In-Reply-To"] = sent["Message-ID"]
    reply["References"] = sent["Message-ID"]
    imap.append("sales@acme.test", reply.as_bytes())
    [report] = worker.run_once(crm, smtp=None).mail if by_worker else fetch(crm)  # a worker pass reads the mailboxes
    assert report.outcomes["logged"] == 1, report


def logged(crm, deal):
    with crm.session() as s:
        return s.query("interaction").filter(opportunity=deal.id).order_by("id").all()


def test_a_rep_writes_from_the_deal_page_and_the_reply_threads_onto_the_deal(login, crm, deal, imap):
    client = login("rita")
    page = text(client.get(f"/o/opportunity/{deal.id}"))
    assert f'href="/o/opportunity/{deal.id}/email"' in page
    form = text(client.get(f"/o/opportunity/{deal.id}/email?template=quote_follow_up"))
    assert 'value="zhang@acme.example"' in form  # the deal's contact
    assert 'value="Your quote: 20 seats"' in form and "about 20 seats for Acme: the quote" in form
    response = post(
        client,
        f"/o/opportunity/{deal.id}/email",
        {"to": "zhang@acme.example", "subject": "Your quote: 20 seats", "body": "Dear Mr Zhang, here it is."},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/o/opportunity/{deal.id}#timeline")
    shown = text(client.get(response.headers["Location"]))  # the config speaks Chinese first
    assert "发给 zhang@acme.example 的邮件已排队发送。" in shown and "Your quote: 20 seats</a>" in shown
    [sent] = deliver(crm)
    assert sent["To"] == "zhang@acme.example" and sent["Subject"] == "Your quote: 20 seats"
    assert sent["Reply-To"] == "sales@acme.test" and "here it is" in sent.get_content()
    [out] = logged(crm, deal)
    assert out["direction"] == "outbound" and out["message_id"] == sent["Message-ID"]
    assert out["contact"] == deal["contact"] and out["account"] == deal["account"]

    reply_to(imap, crm, sent, "Thanks, we accept.")
    out, back = logged(crm, deal)
    assert back["direction"] == "inbound" and back["content"] == "Thanks, we accept."
    assert back["opportunity"] == deal.id and back["contact"] == deal["contact"]


def test_the_form_says_what_is_wrong_per_field(login, crm, deal):
    client = login("rita")
    response = post(client, f"/o/opportunity/{deal.id}/email", {"to": "not an address", "subject": "", "body": "x"})
    assert response.status_code == 422
    page = text(response)
    assert 'id="err-to"' in page and 'id="err-subject"' in page and 'id="err-body"' not in page
    # An address that unsubscribed is refused now, on its field, instead of queued and kept back.
    with crm.session() as s:
        suppress(s, "gone@acme.example", "unsubscribed")
    response = post(
        client, f"/o/opportunity/{deal.id}/email", {"to": "gone@acme.example", "subject": "Hi", "body": "x"}
    )
    assert response.status_code == 422
    assert re.search(r'id="err-to"[^>]*>[^<]*(unsubscribed|退订)', text(response))
    assert logged(crm, deal) == []


def test_the_api_sends_from_a_deal(client, crm, deal, imap):
    token = create_token(crm, "rita", "t")[0]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/opportunity/{deal.id}/emails"
    bad = client.post(url, json={"to": "nobody", "subject": "Hi"}, headers=headers)
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"to", "body"}
    response = client.post(url, json={"subject": "Quote", "body": "Attached."}, headers=headers)
    assert response.status_code == 202, response.json
    assert response.json["to"] == "zhang@acme.example"  # the deal's contact
    [sent] = deliver(crm)
    assert sent["Message-ID"] == response.json["message_id"]
    reply_to(imap, crm, sent, "Received.", by_worker=True)
    assert [r["direction"] for r in logged(crm, deal)] == ["outbound", "inbound"]
    document = client.get("/api/v1/openapi.json", headers=headers).json
    assert "post" in document["paths"]["/api/v1/opportunity/{id}/emails"]


def test_who_may_not_edit_the_deal_may_not_write_from_it(login, client, crm, deal):
    assert "/email" not in text(login("vic").get(f"/o/opportunity/{deal.id}"))
    token = create_token(crm, "vic", "t")[0]
    response = client.post(
        f"/api/v1/opportunity/{deal.id}/emails",
        json={"subject": "Hi", "body": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
