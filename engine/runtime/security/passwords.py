"""Password hashing (Argon2id via argon2-cffi) and the password policy (S37)."""

from __future__ import annotations

import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine.metadata.model import SecuritySettings

_HASHER = PasswordHasher()

_CLASSES = (
    ("lower-case letters", set(string.ascii_lowercase)),
    ("upper-case letters", set(string.ascii_uppercase)),
    ("digits", set(string.digits)),
)


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the Argon2 hasher (tests use cheap parameters); returns the previous one.

    Production never calls this: every process hashes with argon2-cffi's defaults.
    """
    global _HASHER
    previous, _HASHER = _HASHER, hasher
    return previous


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salted; safe to store)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for accounts without a password)."""
    if not stored_hash:
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(stored_hash)


def password_problems(password: str, username: str, policy: SecuritySettings) -> list[str]:
    """Why ``password`` breaks the policy (empty when it is acceptable)."""
    problems = []
    if len(password) < policy.password_min_length:
        problems.append(f"use at least {policy.password_min_length} characters")
    kinds = sum(1 for _, chars in _CLASSES if chars & set(password))
    kinds += any(not c.isalnum() for c in password)
    if kinds < policy.password_classes:
        problems.append(
            f"mix at least {policy.password_classes} of: lower-case letters, upper-case letters, digits, symbols"
        )
    if username and username.lower() in password.lower():
        problems.append("do not include the user name")
    return problems
