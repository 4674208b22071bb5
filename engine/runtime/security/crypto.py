"""Encryption at rest for sensitive fields and TOTP secrets (S38).

Values are encrypted with Fernet (AES-128-CBC with an HMAC-SHA256, from the
``cryptography`` package). The key comes from ``TRELLIS_SECRET_KEY`` (a
Fernet key, or any passphrase of 16+ characters, stretched with SHA-256) or
from the file named by ``TRELLIS_SECRET_KEY_FILE``. Generate one with
``trellis secret generate``.

The key is read once, when ``Trellis`` opens (``Keys.load``, kept as
``Trellis.keys``); every encryption and decryption uses that ``Keys``, so a
change to the environment takes effect when Trellis is opened again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any, overload

from cryptography.fernet import Fernet, InvalidToken

from engine.runtime.errors import TrellisError


class SecretKeyMissing(TrellisError):
    """Encryption is needed but no key is configured."""

    code = "secret_key_missing"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"{reason}: set TRELLIS_SECRET_KEY (or TRELLIS_SECRET_KEY_FILE) to the key that encrypts "
            "sensitive fields; create one with `trellis secret generate` and keep it safe — data "
            "encrypted with a lost key cannot be read"
        )


class DecryptionFailed(TrellisError):
    """A stored value cannot be decrypted with the configured key."""

    code = "decryption_failed"


def generate_key() -> str:
    """A new random key for TRELLIS_SECRET_KEY."""
    return Fernet.generate_key().decode()


def configured_key() -> str | None:
    """The configured key text (TRELLIS_SECRET_KEY, else the file TRELLIS_SECRET_KEY_FILE), or None."""
    key = os.environ.get("TRELLIS_SECRET_KEY")
    if key:
        return key.strip()
    path = os.environ.get("TRELLIS_SECRET_KEY_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise SecretKeyMissing(f"cannot read TRELLIS_SECRET_KEY_FILE {path} ({exc.strerror})") from None
    return None


@cache
def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:
        if len(key) < 16:
            raise SecretKeyMissing("TRELLIS_SECRET_KEY is too short (use 16+ characters or a generated key)") from None
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


@dataclass(frozen=True)
class Keys:
    """The encryption key as configured when Trellis opened (``load``): ``text`` is the key
    (None when none is set), ``problem`` why a configured key cannot be used (an unreadable
    key file, a passphrase too short), raised when the key is needed."""

    text: str | None = field(repr=False)  # never in a log line or a traceback's locals
    problem: str | None = None

    @classmethod
    def load(cls) -> Keys:
        """Read TRELLIS_SECRET_KEY (or the file TRELLIS_SECRET_KEY_FILE) now; never raises."""
        try:
            text = configured_key()
            if text:
                _fernet(text)  # a passphrase too short is refused here, reported when needed
        except SecretKeyMissing as problem:
            return cls(None, problem.reason)
        return cls(text or None)

    def cipher(self, reason: str = "this config has encrypted fields") -> Fernet:
        """The cipher; raises SecretKeyMissing (with ``reason`` when no key is set)."""
        if self.problem is not None:
            raise SecretKeyMissing(self.problem)
        if not self.text:
            raise SecretKeyMissing(reason)
        return _fernet(self.text)

    @overload
    def encrypt(self, value: None) -> None: ...
    @overload
    def encrypt(self, value: Any) -> str: ...
    def encrypt(self, value: Any) -> str | None:
        """Encrypt a JSON-serialisable value (None stays None)."""
        if value is None:
            return None
        return self.cipher().encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()

    def decrypt(self, token: str | None) -> Any:
        """Decrypt what ``encrypt`` produced."""
        if token is None:
            return None
        try:
            return json.loads(self.cipher().decrypt(token.encode()))
        except InvalidToken:
            raise DecryptionFailed(
                "a stored value cannot be decrypted with the configured TRELLIS_SECRET_KEY (was the key changed?)"
            ) from None
