"""``trellis mail serve`` (issue 16 §2): the built-in SMTP receiver takes a message for a mailbox
in like a fetch — filed on the sender's timeline —, refuses recipients that are no mailbox, and
a message sent twice (a retry) is logged once. SQLite, and PostgreSQL when
TRELLIS_TEST_DATABASE_URL is set."""

from __future__ import annotations

import smtplib
from email.mime.text import MIMEText

import pytest

from engine import Trellis
from engine.runtime.mail.smtp import receiver
from tests.imap_server import MAIL_CONFIG
from tests.receivers import free_port
from tests.templates import apply_fresh

#: The tests' config with a mailbox that has no IMAP server: it receives through `mail serve`.
CONFIG = MAIL_CONFIG.split("  mailboxes:")[0] + "  mailboxes:\n    sales: {address: sales@acme.test}\n"


@pytest.fixture
def served(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    with crm.session() as s:
        account = s.create("account", {"name": "Acme"})
        s.create("contact", {"name": "Zhang", "account": account.id, "email": "zhang@acme.example"})
    port = free_port()
    controller = receiver(crm, "127.0.0.1", port)
    yield crm, port
    controller.stop()
    crm.close()


def test_a_message_for_a_mailbox_is_logged_once_and_others_are_refused(served):
    crm, port = served
    msg = MIMEText("Please call me back.", "plain", "utf-8")
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = (
        "zhang@acme.example",
        "sales@acme.test",
        "Call back",
        "<serve1@acme.example>",
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(msg)
        client.send_message(msg)  # a retry after a lost answer
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(msg, to_addrs=["nobody@acme.test"])
    assert refused.value.recipients["nobody@acme.test"][0] == 550
    with crm.session() as s:
        [logged] = s.query("interaction").all()
        zhang = s.query("contact").first()
    assert logged["contact"] == zhang.id and logged["content"] == "Please call me back."
