"""Merging duplicates and undoing the merge (issue 14 §4), on SQLite and PostgreSQL.

A merge re-points every kind of relation to the survivor — lookups of other objects, activities
(and ``last_activity_at``), approvals, notifications, files, stage history, automation run keys —
takes the chosen and ``merge: {keep: …}`` values, archives and audits the merged record; an
un-merge puts all of it back. Refusals: a gate, no grant, a stale version, a hidden field, a
pending approval, an expired undo.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from engine import Conflict, Trellis, ValidationFailed
from engine.runtime.errors import GateBlocked
from engine.runtime.records import files
from engine.runtime.records.merging.merge import merged_into
from engine.runtime.security.permissions import PermissionDenied
from tests.conftest import Clock
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai, merge_undo_days: 30}
objects:
  account:
    title: "{name}"
    timeline: true
    fields:
      name: {type: text, required: true}
      email: {type: email, unique: true}
      visits: {type: integer, merge: {keep: sum}}
      notes: {type: textarea, merge: {keep: longest}}
      logo: {type: file}
      needs: {type: text}
      secret: {type: text}
    pipeline:
      stages:
        - {key: prospect}
        - {key: qualified, requires: [needs]}
  contact:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account}
  call:
    title: "{topic}"
    activity: {at: at, summary: topic}
    fields:
      account: {type: lookup, object: account}
      at: {type: datetime, required: true}
      topic: {type: text, required: true}
roles:
  rep:
    objects:
      account: {read: all, edit: all, delete: all, create: true, merge: true}
      contact: {read: all, edit: all, create: true}
      call: {read: all, edit: all, create: true}
    hidden: [account.secret]
  viewer:
    objects:
      account: {read: all, edit: all, delete: all, create: true}
"""

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def crm(write_config, db_url, clock):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
        d.add("vic", roles=["viewer"])
    yield crm
    crm.close()


@pytest.fixture
def pair(crm, clock):
    """Two duplicates of one company: 云帆软件 (the survivor) and Yunfan Software, which has the history."""
    with crm.session() as s:
        a = s.create(
            "account", {"name": "云帆软件", "email": "info@yunfan.cn", "visits": 2, "notes": "短", "secret": "a"}
        )
    clock.now += dt.timedelta(hours=1)
    with crm.session("rita") as s:
        files.register(s, "account", "logo", "uploads/yunfan.png")
        b = s.create(
            "account",
            {"name": "Yunfan Software", "email": "sales@yunfan.cn", "visits": 3, "logo": "uploads/yunfan.png"},
        )
        b = s.update("account", b.id, {"needs": "CRM for 200 seats", "stage": "qualified"})
        s.create("contact", {"name": "王芳", "account": b.id})
        s.create("call", {"account": b.id, "at": START, "topic": "Demo"})
        s.update("account", b.id, {"notes": "Met at the Shanghai trade show"})
    with crm.session() as s:
        conn, system = s.connection, crm.schema.system
        conn.execute(
            sa.insert(system["sys_notifications"]).values(
                user_id=1, title="Call back", body="", object="account", record_id=b.id, created_at=START
            )
        )
        conn.execute(
            sa.insert(system["sys_approvals"]).values(
                rules="discount",
                object="account",
                record_id=b.id,
                action="update",
                changes="{}",
                status="approved",
                step=1,
                requested_by_name="rita",
                requested_at=START,
            )
        )
        conn.execute(
            sa.insert(system["sys_engagement_events"]).values(
                kind="email_clicked", object="account", record_id=b.id, data={"url": "https://x.example"}, at=START
            )
        )
        conn.execute(
            sa.insert(system["sys_automation_runs"]).values(
                rule="follow_up",
                object="account",
                record_id=b.id,
                trigger="schedule",
                status="done",
                run_key=f"follow_up|{b.id}|2026-03-02",
                depth=0,
                at=START,
            )
        )
    return a.id, b.id


def rows(crm, table: str, column: str = "record_id") -> list:
    t = crm.schema.system[table]
    with crm.engine.connect() as conn:
        return sorted(conn.execute(sa.select(t.c[column]).where(t.c.object == "account")).scalars())


def stored(crm, object_name: str, record_id: int) -> dict:
    table = crm.schema.table(object_name)
    with crm.engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one())


def audit(crm, record_id: int) -> list[tuple[str, dict]]:
    log = crm.schema.system["sys_audit"]
    with crm.engine.connect() as conn:
        found = conn.execute(
            sa.select(log.c.action, log.c.changes).where(log.c.object == "account", log.c.record_id == record_id)
        )
        return [(action, json.loads(changes)) for action, changes in found]


def test_merge_repoints_every_relation_and_unmerge_puts_it_back(crm, pair, clock):
    a, b = pair
    before_a, before_b = stored(crm, "account", a), stored(crm, "account", b)
    contact_version = stored(crm, "contact", 1)["version"]

    with crm.session("rita") as s:
        result = s.merge(
            "account", a, [b], choices={"email": b}, versions={a: before_a["version"], b: before_b["version"]}
        )

    survivor = stored(crm, "account", a)
    assert result.survivor["email"] == survivor["email"] == "sales@yunfan.cn"  # chosen
    assert survivor["visits"] == 5  # keep: sum
    assert survivor["notes"] == "Met at the Shanghai trade show"  # keep: longest
    assert survivor["logo"]["key"] == "uploads/yunfan.png"  # the survivor had none
    assert survivor["needs"] == "CRM for 200 seats"  # the first non-empty
    assert (survivor["name"], survivor["stage"], survivor["secret"]) == ("云帆软件", "prospect", "a")  # the survivor's
    assert survivor["last_activity_at"] == before_b["last_activity_at"]
    assert stored(crm, "contact", 1)["account"] == stored(crm, "call", 1)["account"] == a
    assert stored(crm, "contact", 1)["version"] == contact_version + 1
    for table in ("sys_notifications", "sys_approvals", "sys_stage_history", "sys_files", "sys_engagement_events"):
        assert set(rows(crm, table)) == {a}, table
    assert rows(crm, "sys_automation_runs", "run_key") == [f"follow_up|{a}|2026-03-02"]
    merged = stored(crm, "account", b)
    assert merged["archived_at"] is not None and merged["email"] is None  # gave its unique value up
    (entry,) = [changes for action, changes in audit(crm, a) if action == "merge"]
    assert entry["merged"][str(b)]["name"] == "Yunfan Software" and entry["merged"][str(b)]["visits"] == 3
    assert ("merged", {"merged_into": [None, a], "archived_at": [None, START.replace(hour=2).isoformat()]}) in audit(
        crm, b
    )
    assert result.merge.undo_until == START + dt.timedelta(days=30, hours=1)
    with crm.session("rita") as s:
        assert merged_into(s, "account", s.get("account", b)) == a
        assert merged_into(s, "account", s.get("account", a)) is None

    clock.now += dt.timedelta(days=29)
    with crm.session("rita") as s:
        s.unmerge("account", a)

    after_a, after_b = stored(crm, "account", a), stored(crm, "account", b)
    for name in ("email", "visits", "notes", "logo", "needs", "stage", "last_activity_at"):
        assert after_a[name] == before_a[name], name
        assert after_b[name] == before_b[name], name
    assert after_b["archived_at"] is None
    assert stored(crm, "contact", 1)["account"] == stored(crm, "call", 1)["account"] == b
    assert rows(crm, "sys_notifications") == rows(crm, "sys_approvals") == rows(crm, "sys_engagement_events") == [b]
    assert rows(crm, "sys_automation_runs", "run_key") == [f"follow_up|{b}|2026-03-02"]
    assert b in rows(crm, "sys_stage_history") and rows(crm, "sys_files") == [b]
    with crm.session("rita") as s, pytest.raises(ValidationFailed) as error:
        s.unmerge("account", a)
    assert error.value.errors["merge"][0].code == "no_merge_to_undo"


def test_refused_merges_say_why(crm, pair, clock):
    a, b = pair
    with crm.session("rita") as s, pytest.raises(GateBlocked) as gate:
        s.merge("account", a, [b], choices={"stage": b, "needs": a})
    assert gate.value.missing == ["needs"]
    with crm.session("vic") as s, pytest.raises(PermissionDenied, match="merge permission"):
        s.merge("account", a, [b])
    with crm.session("rita") as s, pytest.raises(Conflict):
        s.merge("account", a, [b], versions={b: 1})
    with crm.session("rita") as s, pytest.raises(ValidationFailed) as hidden:
        s.merge("account", a, [b], choices={"secret": b})
    assert hidden.value.errors["secret"][0].code == "unknown_field"
    with crm.session("rita") as s, pytest.raises(ValidationFailed) as self_merge:
        s.merge("account", a, [a])
    assert self_merge.value.errors["merge"][0].code == "merge_twice"
    assert stored(crm, "account", b)["archived_at"] is None  # nothing was written
    approvals = crm.schema.system["sys_approvals"]
    with crm.engine.begin() as conn:
        conn.execute(sa.update(approvals).where(approvals.c.record_id == b).values(status="pending"))
    with crm.session("rita") as s, pytest.raises(ValidationFailed) as waiting:
        s.merge("account", a, [b])
    assert waiting.value.errors["merge"][0].code == "merge_pending_approval"
    with crm.engine.begin() as conn:
        conn.execute(sa.update(approvals).where(approvals.c.record_id == b).values(status="approved"))

    with crm.session("rita") as s:
        s.merge("account", a, [b])
    with crm.session() as s:
        s.delete("account", b)
    with crm.session("rita") as s, pytest.raises(ValidationFailed) as gone:
        s.unmerge("account", a)
    assert gone.value.errors["merge"][0].code == "merge_record_gone"
    with crm.session("rita") as s:
        c = s.create("account", {"name": "云帆"})
        s.merge("account", a, [c.id])
    clock.now += dt.timedelta(days=31)
    with crm.session("rita") as s, pytest.raises(ValidationFailed) as expired:
        s.unmerge("account", a)
    assert expired.value.errors["merge"][0].code == "merge_undo_expired"
