"""Passwords are hashed with Argon2id at argon2-cffi's production parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from tests.conftest import PRODUCTION_HASHER

pytestmark = pytest.mark.no_database


def test_production_hashes_with_argon2id_at_default_parameters():
    defaults = PasswordHasher()
    assert PRODUCTION_HASHER.type is Type.ID
    assert PRODUCTION_HASHER.time_cost == defaults.time_cost >= 3
    assert PRODUCTION_HASHER.memory_cost == defaults.memory_cost >= 65536
    assert PRODUCTION_HASHER.hash("Secret-123").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
