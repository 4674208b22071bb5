"""Mail intake (issue 16 §2, S27) against a real IMAP server (dovecot, IMAPS with a self-signed
certificate verified through ``ca_file``), with ``trellis mail fetch`` as an operator runs it:
a message is logged once on its sender's timeline with its attachment, a reply threads onto it,
an unknown sender becomes a lead, a GBK message reads correctly, a bounce marks the contact, an
automatic reply is left alone; clear errors for a missing credential, never a traceback.

One dovecot for the module; SQLite, and PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import email.utils
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.campaigns.suppression import email_suppressed
from engine.runtime.jobs import inbox
from engine.runtime.workflow.timeline import timeline
from tests.imap_server import MAIL_CONFIG as CONFIG
from tests.imap_server import PASSWORD, dovecot
from tests.templates import apply_fresh

#: A delivery status notification (RFC 3464) as Postfix sends one.
BOUNCE = """From: MAILER-DAEMON@mx.acme.example (Mail Delivery System)
To: sales@acme.test
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: <bounce1@mx.acme.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; zhang@acme.example
Original-Recipient: rfc822;zhang@acme.example
Action: failed
Status: 5.1.1

--B1
Content-Type: text/rfc822-headers

From: sales@acme.test
To: zhang@acme.example
Subject: Quote

--B1--
"""


@pytest.fixture(scope="module")
def imap():
    with dovecot(("sales@acme.test",)) as server:
        yield server


@pytest.fixture
def crm(imap, write_config, db_url, tmp_path, monkeypatch):
    text = CONFIG.replace("PORT", str(imap.port)).replace("CA_FILE", imap.ca_file)
    path = write_config(text)
    monkeypatch.setenv("T_SALES_USER", "sales@acme.test")
    monkeypatch.setenv("T_SALES_PASSWORD", PASSWORD)
    monkeypatch.setenv("TRELLIS_UPLOAD_DIR", str(tmp_path / "uploads"))
    crm = Trellis.open(path, db_url)
    apply_fresh(crm)
    imap.empty("sales@acme.test")  # each test starts with an empty INBOX
    with crm.directory() as d:
        d.add("rita", roles=["rep"], email="rita@acme.test")
    with crm.session() as s:
        account = s.create("account", {"name": "Acme"})
        s.create("contact", {"name": "张伟", "account": account.id, "email": "zhang@acme.example"})
    yield crm
    crm.close()


def fetch(crm, *extra):
    result = CliRunner().invoke(main, ["mail", "fetch", crm.config.source_path, "--db", str(crm.engine.url), *extra])
    assert "Traceback" not in result.output, result.output
    return result


def message(sender, subject, body, **headers):
    msg = MIMEText(body, "plain", "utf-8")
    msg["From"] = sender
    msg["To"] = "sales@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("message_id", email.utils.make_msgid(domain="mail.test"))
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def events_of_kind(crm, kind):
    events = crm.schema.system["sys_engagement_events"]
    with crm.engine.connect() as c:
        rows = c.execute(sa.select(events).where(events.c.kind == kind).order_by(events.c.id)).all()
    return [(r.object, r.record_id, r.data.get("subject")) for r in rows]


def interactions(crm):
    with crm.session() as s:
        return s.query("interaction").order_by("id").all()


def test_a_message_is_logged_once_on_its_senders_timeline_with_its_attachment(crm, imap, tmp_path):
    msg = MIMEMultipart()
    msg["From"] = "Zhang Wei <zhang@acme.example>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Quote request"
    msg["Message-ID"] = "<q1@acme.example>"
    msg.attach(MIMEText("Please send a quote for 20 seats.", "plain", "utf-8"))
    pdf = MIMEApplication(b"%PDF-1.4 quote", "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename="需求.pdf")
    msg.attach(pdf)
    imap.append("sales@acme.test", msg.as_bytes())
    first = fetch(crm)
    second = fetch(crm)
    assert first.exit_code == 0, first.output
    assert "sales: 1 logged" in first.output
    assert second.exit_code == 0 and "sales: no new messages" in second.output
    [logged] = interactions(crm)
    assert logged["subject"] == "Quote request" and logged["direction"] == "inbound"
    assert "20 seats" in logged["content"] and logged["message_id"] == "<q1@acme.example>"
    with crm.session() as s:
        zhang = s.query("contact").first()
        assert logged["contact"] == zhang.id and logged["account"] == zhang["account"]
        entries = timeline(s, "contact", zhang.id).entries
        assert [(e.object, e.record.id, e.summary) for e in entries] == [("interaction", logged.id, "Quote request")]
        assert s.get("contact", zhang.id)["last_activity_at"] is not None  # counts as activity
    attachment = logged["attachment"]
    assert attachment["name"] == "需求.pdf" and attachment["size"] == len(b"%PDF-1.4 quote")
    assert (tmp_path / "uploads" / attachment["key"]).read_bytes() == b"%PDF-1.4 quote"
    files = crm.schema.system["sys_files"]
    with crm.engine.connect() as c:
        row = c.execute(sa.select(files).where(files.c.key == attachment["key"])).one()
    assert (row.object, row.field, row.record_id) == ("interaction", "attachment", logged.id)
    # The message is an engagement event of the contact, for scoring and automation rules.
    assert events_of_kind(crm, "email_received") == [("contact", zhang.id, "Quote request")]


def test_a_reply_threads_onto_the_record_of_its_thread(crm, imap):
    imap.append(
        "sales@acme.test", message("zhang@acme.example", "Quote", "first", message_id="<t1@acme.example>").as_bytes()
    )
    fetch(crm)
    # The reply comes from another address (a colleague's), but names the first message.
    reply = message("li@other.example", "Re: Quote", "the reply", In_Reply_To="<t1@acme.example>")
    imap.append("sales@acme.test", reply.as_bytes())
    result = fetch(crm)
    assert "sales: 1 logged" in result.output, result.output
    first, second = interactions(crm)
    assert second["contact"] == first["contact"] and second["content"] == "the reply"
    with crm.session() as s:
        assert s.query("lead").count() == 0  # threaded, not an unknown sender


def test_an_unknown_sender_becomes_a_lead_and_the_message_is_logged_on_it(crm, imap):
    imap.append("sales@acme.test", message("Wang Fang <wang@newco.example>", "Pricing?", "How much?").as_bytes())
    result = fetch(crm)
    assert "sales: 1 new record" in result.output, result.output
    with crm.session() as s:
        [lead] = s.query("lead").all()
    assert (lead["name"], lead["email"], lead["company"], lead["source"]) == (
        "Wang Fang",
        "wang@newco.example",
        "newco.example",
        "email",
    )
    [logged] = interactions(crm)
    assert logged["lead"] == lead.id and logged["content"] == "How much?"
    # Through the write path: assignment gave the lead to a rep, and automation told her (S13).
    with crm.session("rita") as s:
        assert s.get("lead", lead.id)["owner_id"] == s.user
        assert [n.title for n in inbox.page(s, unread=True).items] == ["New lead Wang Fang"]
    audit = crm.schema.system["sys_audit"]
    with crm.engine.connect() as c:
        rows = c.execute(sa.select(audit.c.channel, audit.c.action).where(audit.c.object == "lead")).all()
    assert ("mail:sales", "create") in rows


def test_a_gbk_message_reads_correctly(crm, imap):
    text = "您好，我们想订购二十台服务器，请报价。镕"  # 镕 is in GBK, not in GB2312
    msg = MIMEText(text.encode("gbk"), "plain", "gbk")
    del msg["Content-Transfer-Encoding"]
    msg.set_payload(text.encode("gbk"))
    msg.replace_header("Content-Type", 'text/plain; charset="gb2312"')  # as many clients label GBK
    msg["Content-Transfer-Encoding"] = "8bit"
    msg["From"] = "zhang@acme.example"
    msg["Subject"] = Header("询价：服务器", "gb2312").encode()
    msg["Message-ID"] = "<gbk1@acme.example>"
    imap.append("sales@acme.test", msg.as_bytes())
    fetch(crm)
    [logged] = interactions(crm)
    assert logged["subject"] == "询价：服务器" and logged["content"] == text


def test_a_bounce_marks_the_contact_and_an_auto_reply_is_left(crm, imap):
    bounce = BOUNCE.replace("\n", "\r\n").encode()
    imap.append("sales@acme.test", bounce)
    away = message("zhang@acme.example", "Out of office", "Back on Monday.", Auto_Submitted="auto-replied")
    imap.append("sales@acme.test", away.as_bytes())
    result = fetch(crm)
    assert "1 bounce" in result.output and "1 automatic reply" in result.output, result.output
    with crm.session() as s:
        zhang = s.query("contact").first()
        assert zhang["email_bounced"] is True
        assert email_suppressed(s, zhang["email"])  # no e-mail of any kind goes there again
    assert interactions(crm) == []
    assert [(o, i) for o, i, _ in events_of_kind(crm, "email_bounced")] == [("contact", zhang.id)]


def test_a_missing_credential_is_a_clear_error(crm, monkeypatch):
    monkeypatch.delenv("T_SALES_PASSWORD")
    result = fetch(crm)
    assert result.exit_code == 1
    assert "mailbox sales: the environment variable T_SALES_PASSWORD (the IMAP password) is not set" in result.output


def test_an_unverifiable_certificate_is_refused(crm, write_config, imap):
    text = crm.config.source_text  # the compiled copy; write the config without the CA file
    assert text
    path = Path(crm.config.source_path)
    path.write_text(path.read_text().replace(f"ca_file: {imap.ca_file}, ", ""))
    result = fetch(crm)
    assert result.exit_code == 1 and "does not verify" in result.output and "ca_file" in result.output
