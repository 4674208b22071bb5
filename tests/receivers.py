"""Loopback receivers for the worker's tests: an SMTP server (aiosmtpd) and a webhook
receiver (http.server in a thread) that checks signatures and processes each
idempotency key once, optionally failing some requests."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """What the SMTP server received: messages (parsed when first read: parsing costs ~3 ms of the
    server thread's time per message, which a test of a thousand e-mails reading only their
    envelopes does not need) and their envelope recipients."""

    raw: list[bytes] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    _parsed: list[email.message.EmailMessage] = field(default_factory=list)

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        """The messages received so far, parsed."""
        for content in self.raw[len(self._parsed) :]:
            self._parsed.append(email.message_from_bytes(content, policy=email.policy.default))
        return self._parsed


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        if address in self.box.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        self.box.envelopes.append(list(envelope.rcpt_tos))
        self.box.raw.append(envelope.content)
        return "250 Message accepted"


@contextmanager
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    """An SMTP server on loopback; yields its URL (``smtp://127.0.0.1:PORT``) and the mailbox."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", box
    finally:
        controller.stop()


@dataclass
class Receiver:
    """The webhook receiver's state. ``fail_before`` / ``fail_after`` are the shares of
    requests answered 500 before processing the message, or after (the sender cannot tell
    that it arrived, so it sends it again)."""

    secret: str
    fail_before: float = 0.0
    fail_after: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    seed: int = 6
    seen: Counter = field(default_factory=Counter)
    processed: dict[str, dict] = field(default_factory=dict)
    bad_signatures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def handle(self, headers, body: bytes) -> tuple[int, dict[str, str]]:  # noqa: ANN001
        key = headers.get("Idempotency-Key")
        timestamp = headers.get("X-Trellis-Timestamp", "")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        with self.lock:
            self.seen[key] += 1
            if (
                not hmac.compare_digest(expected, headers.get("X-Trellis-Signature", ""))
                or abs(time.time() - int(timestamp or 0)) > 300
            ):
                self.bad_signatures.append(key)
                return 401, {}
            if self.status is not None:
                return self.status, {"Retry-After": self.retry_after} if self.retry_after else {}
            roll = self.random.random()
            if roll < self.fail_before:
                return 500, {}
            if key not in self.processed:  # each key is processed once, however often it comes
                self.processed[key] = json.loads(body)
            if roll < self.fail_before + self.fail_after:
                return 500, {}
        return 200, {}


@contextmanager
def webhook_receiver(secret: str, **options) -> Iterator[tuple[str, Receiver]]:
    """A threaded HTTP server on loopback; yields its URL and state."""
    state = Receiver(secret, **options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state.delay:
                time.sleep(state.delay)
            status, extra = state.handle(self.headers, body)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/crm", state
    finally:
        server.shutdown()
        server.server_close()
