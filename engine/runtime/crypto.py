"""Encryption at rest for sensitive fields and TOTP secrets (S38).

Values are encrypted with Fernet (AES-128-CBC with an HMAC-SHA256, from the
``cryptography`` package). The key comes from ``TRELLIS_SECRET_KEY`` (a
Fernet key, or any passphrase of 16+ characters, stretched with SHA-256) or
from the file named by ``TRELLIS_SECRET_KEY_FILE``. Generate one with
``trellis secret generate``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from engine.runtime.errors import TrellisError


class SecretKeyMissing(TrellisError):
    """Encryption is needed but no key is configured."""

    code = "secret_key_missing"

    def __init__(self, reason: str) -> None:
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


def cipher(reason: str = "this config has encrypted fields") -> Fernet:
    """The configured cipher; raises SecretKeyMissing with ``reason`` when no key is set."""
    key = configured_key()
    if not key:
        raise SecretKeyMissing(reason)
    return _fernet(key)


def encrypt(value: Any) -> str | None:
    """Encrypt a JSON-serialisable value (None stays None)."""
    if value is None:
        return None
    return cipher().encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def decrypt(token: str | None) -> Any:
    """Decrypt what ``encrypt`` produced."""
    if token is None:
        return None
    try:
        return json.loads(cipher().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionFailed(
            "a stored value cannot be decrypted with the configured TRELLIS_SECRET_KEY (was the key changed?)"
        ) from None
