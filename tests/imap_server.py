"""A real IMAP server for the mail tests: Debian's dovecot, started as an instance of its own in a
temporary folder (its own dovecot.conf: 127.0.0.1 on a free port, IMAPS only with a self-signed
certificate made by ``openssl req``, passwd-file users, maildir in the folder), and stopped after.

Without dovecot the tests skip, saying so — unless ``TRELLIS_REQUIRE_IMAP=1`` (CI), which fails
them. Messages are delivered by IMAP APPEND, as a mail server's delivery would leave them.
"""

from __future__ import annotations

import getpass
import grp
import imaplib
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.receivers import free_port

DOVECOT = "/usr/sbin/dovecot"

#: The config of the mail tests (``PORT`` and ``CA_FILE`` replaced by the server's): a contact at
#: an account, leads, deals, and follow-ups logging each message in or out.
MAIL_CONFIG = """
trellis: 1
settings: {languages: [zh, en], timezone: Asia/Shanghai}
picklists:
  source: {values: [web, email]}
objects:
  account:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
  contact:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, required: true}
      email: {type: email}
      email_bounced: {type: boolean, default: false}
  lead:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      company: {type: text, required: true}
      email: {type: email}
      email_bounced: {type: boolean, default: false}
      source: {type: picklist, picklist: source, required: true}
  opportunity:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account, required: true}
      contact: {type: lookup, object: contact}
  interaction:
    title: "{subject}"
    activity: {at: at, kind: method, summary: subject}
    fields:
      account: {type: lookup, object: account}
      contact: {type: lookup, object: contact}
      lead: {type: lookup, object: lead}
      opportunity: {type: lookup, object: opportunity}
      method: {type: picklist, required: true, values: [call, email]}
      at: {type: datetime, required: true, default: "=now()"}
      subject: {type: text, max_length: 255}
      content: {type: textarea, required: true}
      direction: {type: picklist, values: [inbound, outbound]}
      message_id: {type: text, max_length: 255}
      address: {type: email}
      attachment: {type: file}
templates:
  quote_follow_up:
    subject: "Your quote: {{ record.name }}"
    body: "Dear customer, about {{ record.name }} for {{ record.account }}: the quote is attached."
  new_lead: {subject: "New lead {{ record.name }}", body: "From {{ record.email }}."}
automations:
  - {name: new_lead_notice, object: lead, on: created, do: [{notify: {to: [owner], template: new_lead, channels: [in_app]}}]}
assignment:
  new_leads: {object: lead, on: created, when: "owner_id is None", strategy: round_robin, pool: {role: rep}}
roles:
  rep:
    objects:
      account: {read: all}
      contact: {read: all}
      opportunity: {read: all, edit: own, create: true}
      interaction: {read: all, edit: own, create: true}
      lead: {read: own, edit: own}
  viewer:
    objects:
      account: {read: all}
      contact: {read: all}
      opportunity: {read: all}
      interaction: {read: all}
mail:
  reply_to: sales@acme.test
  log:
    object: interaction
    subject: subject
    body: content
    direction: direction
    message_id: message_id
    sender: address
    attachments: [attachment]
    set: {method: email}
  senders:
    - {object: contact, email: email, bounced: email_bounced}
    - {object: lead, email: email, bounced: email_bounced}
  mailboxes:
    sales:
      address: sales@acme.test
      imap: {host: 127.0.0.1, port: PORT, ca_file: CA_FILE, username_env: T_SALES_USER, password_env: T_SALES_PASSWORD}
      unknown_sender: {create: lead, name: name, email: email, domain: company, set: {source: email}}
"""

PASSWORD = "imap-test-secret"


@dataclass(frozen=True)
class ImapServer:
    """A running dovecot: where it listens, the CA file its certificate verifies with, its users."""

    host: str
    port: int
    ca_file: str
    folder: Path

    def append(self, user: str, raw: bytes) -> None:
        """Deliver ``raw`` into ``user``'s INBOX."""
        with self.login(user) as connection:
            status, data = connection.append("INBOX", None, None, raw)
            assert status == "OK", data

    def empty(self, user: str) -> None:
        """Delete every message of ``user``'s INBOX."""
        with self.login(user) as connection:
            _, data = connection.select("INBOX")
            if int(data[0] or 0):
                connection.store("1:*", "+FLAGS", "\\Deleted")
                connection.expunge()

    @contextmanager
    def login(self, user: str) -> Iterator[imaplib.IMAP4_SSL]:
        context = ssl.create_default_context(cafile=self.ca_file)
        connection = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=30)
        connection.login(user, PASSWORD)
        try:
            yield connection
        finally:
            connection.logout()


def _users() -> tuple[str, str, str]:
    """Who dovecot's login, internal and mail processes run as: the current user, or — run as
    root, which dovecot refuses for them — Debian's ``dovenull`` and ``dovecot`` users."""
    if os.getuid() != 0:
        me = getpass.getuser()
        return me, me, me
    return "dovenull", "dovecot", "dovecot"


@contextmanager
def dovecot(users: tuple[str, ...]) -> Iterator[ImapServer]:
    """Start dovecot with ``users`` (password ``PASSWORD``); yields the server, stops it after."""
    if not Path(DOVECOT).exists() or not shutil.which("openssl"):
        if os.environ.get("TRELLIS_REQUIRE_IMAP") == "1":
            pytest.fail(f"TRELLIS_REQUIRE_IMAP=1 but {DOVECOT} or openssl is missing (apt-get install dovecot-imapd)")
        pytest.skip(f"dovecot is not installed ({DOVECOT}; apt-get install dovecot-imapd)")
    folder = Path(tempfile.mkdtemp(prefix="trellis-imap-"))
    login_user, internal_user, mail_user = _users()
    try:
        yield _start(folder, users, login_user, internal_user, mail_user)
    finally:
        pid_file = folder / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not pid_file.exists():
                    break
                time.sleep(0.05)
        shutil.rmtree(folder, ignore_errors=True)


def _start(folder: Path, users: tuple[str, ...], login_user: str, internal_user: str, mail_user: str) -> ImapServer:
    folder.chmod(0o755)  # dovecot's own users read the certificate and write the maildirs
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (folder / "passwd").write_text("".join(f"{user}:{{PLAIN}}{PASSWORD}\n" for user in users))
    mail = folder / "mail"
    mail.mkdir()
    group = grp.getgrgid(int(subprocess.run(["id", "-g", mail_user], capture_output=True, text=True).stdout)).gr_name
    shutil.chown(mail, mail_user, group)
    port = free_port()
    (folder / "dovecot.conf").write_text(
        f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
instance_name = trellis-test-{folder.name}
listen = 127.0.0.1
protocols = imap
ssl = required
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
default_internal_user = {internal_user}
default_login_user = {login_user}
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={group} home={mail}/%u
}}
mail_location = maildir:{mail}/%u/Maildir
first_valid_uid = 1
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    # The daemon keeps what it inherits open: no pipes to wait on, its errors in a file.
    with open(folder / "start.log", "wb") as errors:
        subprocess.run([DOVECOT, "-c", str(folder / "dovecot.conf")], check=True, stdout=errors, stderr=errors)
    server = ImapServer("127.0.0.1", port, str(folder / "cert.pem"), folder)
    for _ in range(100):  # until it answers a login
        try:
            with server.login(users[0]):
                return server
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.05)
    log = (folder / "dovecot.log").read_text() if (folder / "dovecot.log").exists() else ""
    raise RuntimeError(f"dovecot did not start:\n{log}")
