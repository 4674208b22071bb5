"""Fixtures for running the sample configs end to end: the config as shipped, its demo
users, a clock the test moves, and ``trellis worker --once --at`` run as an operator
runs it (the CLI, with e-mail going to a real SMTP server on loopback).

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime.demo import data as demo
from engine.runtime.security import crypto
from tests.conftest import CONFIGS, Clock
from tests.receivers import Mailbox, smtp_server
from tests.templates import apply_fresh

ZONE = ZoneInfo("Asia/Shanghai")  # the samples' time zone
#: Monday 1 June 2026, 09:00 in Shanghai: when each test's story starts.
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=ZONE).astimezone(dt.UTC)
_RULE_LINE = re.compile(r"^  rule (\S+): fired (\d+), skipped (\d+), failed (\d+)", re.M)


@dataclass
class Pass:
    """What one ``trellis worker --once --at`` printed, read back: fired/skipped/failed per rule."""

    output: str
    rules: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def fired(self, rule: str) -> int:
        return self.rules.get(rule, (0, 0, 0))[0]


@dataclass
class Sample:
    """A sample config applied to a fresh database, with its demo users."""

    name: str
    crm: Trellis
    clock: Clock
    db_url: str
    mailbox: Mailbox
    env: dict[str, str]

    def worker(self, at: dt.datetime) -> Pass:
        """``trellis worker CONFIG --once --at AT``; the test's clock moves to ``at`` too."""
        self.clock.at(at)
        result = CliRunner().invoke(
            main,
            ["worker", str(CONFIGS / f"{self.name}.yaml"), "--db", self.db_url, "--once", "--at", at.isoformat()],
            env=self.env,
        )
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        rules = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in _RULE_LINE.finditer(result.output)}
        assert all(failed == 0 for _, _, failed in rules.values()), result.output
        return Pass(result.output, rules)

    def user_ids(self) -> dict[str, int]:
        with self.crm.directory() as d:
            return {u.username: u.id for u in d.list()}

    def username(self, user_id: int | None) -> str | None:
        return {v: k for k, v in self.user_ids().items()}.get(user_id)

    def notifications(self, rule: str) -> list[tuple[str, str]]:
        """(user name, title) of the in-app notifications ``rule`` sent, in order."""
        names = {v: k for k, v in self.user_ids().items()}
        return [(names[r["user_id"]], r["title"]) for r in self.rows("sys_notifications", rule=rule)]

    def mails(self, subject_part: str = "") -> list[tuple[str, str]]:
        """(recipient, subject) of the e-mails the SMTP server received, sorted."""
        return sorted((m["To"], m["Subject"]) for m in self.mailbox.messages if subject_part in m["Subject"])

    def rows(self, table: str, **where) -> list[dict]:
        t = self.crm.schema.system[table]
        statement = sa.select(t).order_by(t.c.id)
        for key, value in where.items():
            statement = statement.where(t.c[key] == value)
        with self.crm.engine.connect() as c:
            return [dict(r) for r in c.execute(statement).mappings()]

    def records(self, object_name: str, **filters) -> list:
        """The records of ``object_name`` (archived ones too) matching ``filters``, by id."""
        with self.crm.session() as s:
            return list(s.query(object_name).filter(**filters).include_archived().order_by("id"))


@pytest.fixture
def sample(db_url, monkeypatch) -> Iterator:
    """``sample("sample_saas")``: the shipped config on a fresh database at START, its demo
    users, an SMTP server on loopback for the worker."""
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    opened: list[Trellis] = []
    with smtp_server() as (smtp_url, mailbox):

        def open_sample(name: str, **env: str) -> Sample:
            clock = Clock(START)
            crm = Trellis.open(CONFIGS / f"{name}.yaml", db_url, clock=clock)
            apply_fresh(crm)
            demo.load_demo_users(crm)
            opened.append(crm)
            return Sample(
                name,
                crm,
                clock,
                db_url,
                mailbox,
                {"TRELLIS_SMTP_URL": smtp_url, "TRELLIS_MAIL_FROM": "crm@example.com", **env},
            )

        yield open_sample
    for crm in opened:
        crm.close()
