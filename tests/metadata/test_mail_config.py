"""``mail:`` in the config (issue 16 §2, S27): what it compiles into, that it needs no credentials
to compile (both samples validate without their environment variables), and every error code
T-E220…T-E226 with its path, message and hint. Pure Python: no database."""

from __future__ import annotations

import pytest

from engine.metadata import load_config
from engine.metadata.errors import ConfigError

pytestmark = pytest.mark.no_database

BASE = """
trellis: 1
picklists:
  source: {values: [web, email]}
objects:
  account:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  contact:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account}
      email: {type: email}
      bounced: {type: boolean}
  lead:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      company: {type: text, required: true}
      email: {type: email}
      source: {type: picklist, picklist: source, required: true}
  task:
    title: "{subject}"
    fields:
      subject: {type: text, required: true}
  interaction:
    title: "{subject}"
    activity: {at: at, summary: subject}
    fields:
      contact: {type: lookup, object: contact}
      lead: {type: lookup, object: lead}
      at: {type: datetime, required: true, default: "=now()"}
      subject: {type: text}
      content: {type: textarea, required: true}
      method: {type: picklist, values: [call, email]}
      direction: {type: picklist, values: [inbound, outbound]}
      file: {type: file}
mail:
"""
LOG = "  log: {object: interaction, body: content, subject: subject, direction: direction, attachments: [file]}\n"
SENDERS = "  senders: [{object: contact, email: email, bounced: bounced}, {object: lead, email: email}]\n"
IMAP = "{host: imap.acme.test, username_env: U, password_env: P}"


def test_a_mail_section_compiles_into_its_model(write_config):
    mailbox = f"  mailboxes:\n    sales: {{address: sales@acme.test, imap: {IMAP}, unknown_sender: {{create: lead, name: name, domain: company, set: {{source: email}}}}}}\n"
    config = load_config(write_config(BASE + LOG + SENDERS + mailbox))
    assert config.mail is not None
    assert config.mail.log.attachments == ("file",) and config.mail.log.direction == "direction"
    assert [(s.object, s.bounced) for s in config.mail.senders] == [("contact", "bounced"), ("lead", None)]
    sales = config.mail.mailboxes["sales"]
    assert (sales.imap.port, sales.imap.security, sales.imap.tls_verify, sales.imap.folder) == (
        993,
        "tls",
        True,
        "INBOX",
    )
    assert sales.unknown_sender is not None and dict(sales.unknown_sender.values) == {"source": "email"}


@pytest.mark.parametrize("sample", ["configs/sample_retail.yaml", "configs/sample_saas.yaml"])
def test_the_samples_compile_without_the_credentials(sample, monkeypatch):
    for name in ("TRELLIS_MAIL_SALES_USER", "TRELLIS_MAIL_SALES_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(sample)
    assert config.mail is not None and "sales" in config.mail.mailboxes


@pytest.mark.parametrize(
    ("section", "code", "path", "message", "hint"),
    [
        ("  log: {object: interactoin, body: content}\n", "T-E220", "mail.log.object", "unknown object", "interaction"),
        (LOG + "  senders: [{object: contact, email: mail}]\n", "T-E220", "mail.senders[0].email", "no field `mail`", "email"),
        ("  log: {object: interaction, body: contact}\n", "T-E221", "mail.log.body", "is a lookup field", None),
        ("  log: {object: interaction, body: content, direction: method}\n", "T-E221", "mail.log.direction", "no value `inbound`, `outbound`", "inbound"),
        (LOG + "  senders: [{object: contact, email: email, bounced: name}]\n", "T-E221", "mail.senders[0].bounced", "a boolean field", None),
        ("  log: {object: task, body: subject}\n", "T-E222", "mail.log.object", "not a timeline activity", "activity"),
        (LOG + "  senders: [{object: account, email: name}]\n", "T-E221", "mail.senders[0].email", "an email field", None),
        ("  log: {object: interaction, body: content, set: {method: fax}}\n", "T-E223", "mail.log.set.method", "cannot take 'fax'", None),
        (LOG + f"  mailboxes:\n    m: {{address: a@b.test, imap: {IMAP}, unknown_sender: {{create: lead, name: name}}}}\n", "T-E224", "mail.mailboxes.m.unknown_sender.create", "`company`, `source`", "domain"),
        (LOG + f"  mailboxes:\n    a: {{address: s@b.test, imap: {IMAP}}}\n    b: {{address: S@b.test, imap: {IMAP}}}\n", "T-E225", "mail.mailboxes.b.address", "also mailbox `a`", None),
        (LOG + "  mailboxes:\n    m: {address: a@b.test, imap: {host: h, username_env: U, password_env: P, ca_file: ca.pem, tls_verify: false}}\n", "T-E226", "mail.mailboxes.m.imap.ca_file", "verifies nothing", "remove `tls_verify: false`"),
    ],
)  # fmt: skip
def test_each_error_has_its_code_path_message_and_hint(write_config, section, code, path, message, hint):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(BASE + section))
    found = [i for i in caught.value.issues if i.code == code]
    assert found, caught.value.issues
    issue = found[0]
    assert issue.path == path and message in issue.message, issue
    assert hint is None or hint in (issue.hint or ""), issue
    assert issue.location.line > 0


def test_a_log_object_without_a_lookup_to_a_sender_is_refused(write_config):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(BASE + LOG + "  senders: [{object: account, email: name}]\n"))
    codes = {(i.code, i.path) for i in caught.value.issues}
    assert ("T-E221", "mail.senders[0].email") in codes  # account.name is no email field
    with pytest.raises(ConfigError) as caught:
        text = BASE.replace(
            "      name: {type: text, required: true}\n  contact:",
            "      name: {type: text, required: true}\n      email: {type: email}\n  contact:",
        )
        load_config(write_config(text + LOG + "  senders: [{object: account, email: email}]\n"))
    (issue,) = caught.value.issues
    assert (issue.code, issue.path) == (
        "T-E222",
        "mail.senders[0].object",
    ) and "no lookup to `account`" in issue.message
