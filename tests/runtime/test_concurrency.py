"""Concurrent writers: autonumbers stay unique and gap-free, unique values stay unique.

Several threads, each with its own connection and transaction, write at once —
as several web workers or ``trellis`` processes would.
"""

from __future__ import annotations

import pytest

from engine import Trellis, ValidationFailed
from tests.conftest import run_in_threads
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
objects:
  ticket:
    fields:
      number: {type: autonumber, format: "TK-{000000}"}
      subject: {type: text, required: true}
      code: {type: text, unique: true}
"""
THREADS = 4
PER_THREAD = 15


@pytest.fixture
def crm(db_url, write_config):
    crm = Trellis.open(write_config(CONFIG), db_url)
    apply_fresh(crm)
    yield crm
    crm.close()


def test_concurrent_creates_get_distinct_consecutive_autonumbers(crm):
    def work(index: int) -> None:
        for n in range(PER_THREAD):
            with crm.session() as s:
                s.create("ticket", {"subject": f"thread {index} ticket {n}"})

    assert run_in_threads(work, THREADS) == []
    with crm.session() as s:
        numbers = sorted(r["number"] for r in s.query("ticket").all())
    assert numbers == [f"TK-{n:06d}" for n in range(1, THREADS * PER_THREAD + 1)]


def test_concurrent_writers_of_one_unique_value_leave_one_record_and_field_errors(crm):
    outcomes: list[str] = []

    def work(index: int) -> None:
        try:
            with crm.session() as s:
                s.create("ticket", {"subject": f"thread {index}", "code": "SAME"})
            outcomes.append("created")
        except ValidationFailed as exc:
            outcomes.append(exc.errors["code"][0].code)

    assert run_in_threads(work, THREADS) == []
    assert sorted(outcomes) == ["created"] + ["unique"] * (THREADS - 1)
    with crm.session() as s:
        assert s.query("ticket").filter(code="SAME").count() == 1
