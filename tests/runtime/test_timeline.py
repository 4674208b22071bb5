"""The activity timeline and tasks (S25), on SQLite and PostgreSQL.

``last_activity_at`` follows every create, update and delete of an activity —
as the system: no version bump, no audit row on the record — and holds under
concurrent writers; the timeline is newest first, paged, inside the reader's
scope and without hidden fields; tasks are listed per assignee and marked done
through the write path; adding ``timeline: true`` to an object with history
migrates with its values filled in.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa

from engine import NotFound, QueryError, Trellis, ValidationFailed
from engine.runtime.workflow import timeline
from tests.conftest import Clock, run_in_threads
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  account:
    timeline: true
    title: "{name}"
    fields:
      name: {type: text, required: true}
      dormant: {type: boolean}
    rules:
      - name: dormant_means_quiet
        when: "dormant == True"
        assert: "last_activity_at is None or days_since(last_activity_at) > 90"
        field: dormant
  contact:
    timeline: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, object: account}
  call:
    title: "{topic}"
    activity: {at: at, kind: method, summary: topic}
    fields:
      account: {type: lookup, object: account}
      contact: {type: lookup, object: contact}
      at: {type: datetime, required: true, default: "=now()"}
      method: {type: picklist, values: [phone, visit]}
      topic: {type: text, required: true}
      secret: {type: text}
  todo:
    title: "{subject}"
    task: {due: due, assignee: owner_id, status: status, done: [done], remind: remind_at, subject: subject}
    fields:
      subject: {type: text, required: true}
      due: {type: date}
      remind_at: {type: datetime}
      status: {type: picklist, values: [open, done], default: open}
      account: {type: lookup, object: account}
roles:
  rep:
    objects:
      account: {read: all}
      contact: {read: all}
      call: {read: own, edit: own, delete: own, create: true}
      todo: {read: own, edit: own, create: true}
    hidden: [call.secret]
  manager:
    objects:
      "*": {read: team, edit: team, delete: team, create: true, reassign: true}
"""

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def crm(db_url, write_config, clock):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=clock)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add_team("east")
        d.add("alice", roles=["rep"], team="east")
        d.add("bob", roles=["rep"], team="east")
        d.add("mia", roles=["manager"], team="east")
    yield crm
    crm.close()


@pytest.fixture
def acme(crm):
    with crm.session() as s:
        return s.create("account", {"name": "Acme"})


def at(days: float) -> dt.datetime:
    return START - dt.timedelta(days=days)


def log_call(crm, user, account, when, **more):
    with crm.session(user) as s:
        return s.create("call", {"account": account, "at": when, "topic": more.pop("topic", "call"), **more})


def stored(crm, object_name: str, record_id: int) -> dict:
    table = crm.schema.table(object_name)
    with crm.engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one())


def audit_rows(crm, object_name: str, record_id: int) -> int:
    log = crm.schema.system["sys_audit"]
    with crm.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(log).where(log.c.object == object_name, log.c.record_id == record_id)
        ).scalar_one()


# --- last_activity_at -------------------------------------------------------------------------------
def test_a_new_activity_sets_last_activity_at_as_the_system(crm, acme):
    assert stored(crm, "account", acme.id)["last_activity_at"] is None
    log_call(crm, "alice", acme.id, at(3))
    row = stored(crm, "account", acme.id)
    assert row["last_activity_at"] == at(3)
    assert (row["version"], row["updated_at"]) == (acme.version, acme["updated_at"])  # not an edit of the account
    assert audit_rows(crm, "account", acme.id) == 1  # only its creation
    log_call(crm, "bob", acme.id, at(10))  # an older call logged later does not move it back
    assert stored(crm, "account", acme.id)["last_activity_at"] == at(3)
    log_call(crm, "bob", acme.id, at(1))
    assert stored(crm, "account", acme.id)["last_activity_at"] == at(1)


def test_every_record_the_activity_points_at_is_touched(crm, acme):
    with crm.session() as s:
        contact = s.create("contact", {"name": "Zhang", "account": acme.id})
    log_call(crm, "alice", acme.id, at(2), contact=contact.id)
    assert stored(crm, "contact", contact.id)["last_activity_at"] == at(2)
    assert stored(crm, "account", acme.id)["last_activity_at"] == at(2)


def test_update_and_delete_recompute_from_the_remaining_activities(crm, acme):
    with crm.session() as s:
        other = s.create("account", {"name": "Globex"})
    old = log_call(crm, "alice", acme.id, at(5))
    new = log_call(crm, "alice", acme.id, at(1))
    with crm.session("alice") as s:
        s.update("call", new.id, {"at": at(7)})  # moved back: the other call is now the latest
    assert stored(crm, "account", acme.id)["last_activity_at"] == at(5)
    with crm.session("alice") as s:
        s.update("call", old.id, {"account": other.id})  # moved to another account
    assert stored(crm, "account", acme.id)["last_activity_at"] == at(7)
    assert stored(crm, "account", other.id)["last_activity_at"] == at(5)
    with crm.session("alice") as s:
        s.update("call", new.id, {"topic": "renamed"})  # neither time nor account: nothing to do
        s.delete("call", old.id)
    assert stored(crm, "account", other.id)["last_activity_at"] is None
    with crm.session("alice") as s:
        s.delete("call", new.id)
    assert stored(crm, "account", acme.id)["last_activity_at"] is None
    assert stored(crm, "account", acme.id)["version"] == 1


def test_a_refused_write_leaves_last_activity_at_alone(crm, acme):
    log_call(crm, "alice", acme.id, at(4))
    with pytest.raises(ValidationFailed), crm.session("alice") as s:
        s.create("call", {"account": acme.id, "at": at(0)})  # no topic: refused, rolled back
    assert stored(crm, "account", acme.id)["last_activity_at"] == at(4)


def test_last_activity_at_in_expressions_filters_and_sorting(crm, acme, clock):
    with crm.session() as s:
        quiet = s.create("account", {"name": "Quiet"})
    log_call(crm, "alice", acme.id, at(2))
    with crm.session() as s:
        assert [r.id for r in s.query("account").order_by("-last_activity_at")] == [acme.id, quiet.id]
        assert [r.id for r in s.query("account").filter(last_activity_at__gte=at(3).isoformat())] == [acme.id]
        assert [r.id for r in s.query("account").filter(last_activity_at__isnull=True)] == [quiet.id]
        assert s.get("account", acme.id)["last_activity_at"] == at(2)
        s.update("account", quiet.id, {"dormant": True})  # no activity: the rule holds
        with pytest.raises(ValidationFailed) as refused:
            s.update("account", acme.id, {"dormant": True})  # 2 days ago is not > 90
        assert "dormant" in refused.value.errors
    clock.now = START + dt.timedelta(days=100)
    with crm.session() as s:
        assert s.update("account", acme.id, {"dormant": True})["dormant"] is True


def test_concurrent_activities_for_one_account_keep_the_latest(crm, acme):
    rng = random.Random(5)
    times = [[at(rng.uniform(0, 60)) for _ in range(5)] for _ in range(4)]

    def work(index: int) -> None:
        for when in times[index]:
            log_call(crm, "alice", acme.id, when)

    assert run_in_threads(work, 4) == []
    assert stored(crm, "account", acme.id)["last_activity_at"] == max(t for batch in times for t in batch)


def test_concurrent_creates_and_deletes_leave_the_true_maximum(crm, acme):
    doomed = [log_call(crm, "alice", acme.id, at(0.5 + i / 10)) for i in range(4)]

    def work(index: int) -> None:
        if index % 2:
            with crm.session("alice") as s:
                s.delete("call", doomed[index].id)
                s.delete("call", doomed[index - 1].id)
        else:
            for n in range(3):
                log_call(crm, "bob", acme.id, at(2 + index + n))

    assert run_in_threads(work, 4) == []
    with crm.session() as s:
        latest = max(r["at"] for r in s.query("call").filter(account=acme.id))
    assert stored(crm, "account", acme.id)["last_activity_at"] == latest


# --- the timeline -----------------------------------------------------------------------------------------
def test_the_timeline_is_newest_first_with_activities_and_tasks(crm, acme):
    log_call(crm, "alice", acme.id, at(3), topic="first call", method="phone")
    log_call(crm, "alice", acme.id, at(1), topic="visit", method="visit")
    with crm.session("alice") as s:
        s.create("todo", {"subject": "send quote", "due": (START + dt.timedelta(days=2)).date(), "account": acme.id})
        found = timeline.timeline(s, "account", acme.id)
    assert [(e.type, e.summary) for e in found.entries] == [
        ("task", "send quote"),
        ("activity", "visit"),
        ("activity", "first call"),
    ]
    assert found.entries[1].kind == "visit" and found.entries[1].at == at(1)
    assert found.entries[0].done is False and found.entries[1].done is None
    assert (found.total, found.pages) == (3, 1)


def test_the_timeline_pages(crm, acme):
    for day in range(5):
        log_call(crm, "alice", acme.id, at(day), topic=f"call {day}")
    with crm.session("alice") as s:
        pages = [timeline.timeline(s, "account", acme.id, page, 2) for page in (1, 2, 3)]
    assert [[e.summary for e in p.entries] for p in pages] == [["call 0", "call 1"], ["call 2", "call 3"], ["call 4"]]
    assert {(p.total, p.pages) for p in pages} == {(5, 3)}


def test_the_timeline_shows_only_what_the_reader_may_read(crm, acme):
    alice = log_call(crm, "alice", acme.id, at(1), topic="alice's call")["owner_id"]
    log_call(crm, None, acme.id, at(1.5), topic="alice's secret call", secret="s3cret", owner_id=alice)
    log_call(crm, "bob", acme.id, at(2), topic="bob's call")
    with crm.session("alice") as s:
        mine = timeline.timeline(s, "account", acme.id)
    assert [e.summary for e in mine.entries] == ["alice's call", "alice's secret call"] and mine.total == 2
    assert not [e for e in mine.entries if "secret" in e.record]
    with crm.session() as s:
        s.update("account", acme.id, {"owner_id": alice})  # inside the manager's team scope
    with crm.session("mia") as s:  # the manager reads the team's calls, the hidden field too
        team = timeline.timeline(s, "account", acme.id)
    assert [e.summary for e in team.entries] == ["alice's call", "alice's secret call", "bob's call"]
    assert team.entries[1].record["secret"] == "s3cret"


def test_a_record_outside_the_scope_has_no_timeline(crm, acme):
    with crm.session("mia") as s:
        theirs = s.create("contact", {"name": "Li"})
    with crm.session() as s:
        outside = s.create("contact", {"name": "Wang"})
        with pytest.raises(NotFound):
            timeline.timeline(s, "account", 999)
        with pytest.raises(QueryError):
            timeline.timeline(s, "call", 1)
    with crm.session("mia") as s:
        assert timeline.timeline(s, "contact", theirs.id).total == 0
        with pytest.raises(NotFound):
            timeline.timeline(s, "contact", outside.id)  # no owner: outside a team scope


# --- tasks ------------------------------------------------------------------------------------------------
def test_my_tasks_groups_the_open_tasks_of_the_assignee(crm, acme, clock):
    today = clock().astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    with crm.session("alice") as s:
        late = s.create("todo", {"subject": "late", "due": today - dt.timedelta(days=2), "account": acme.id})
        s.create("todo", {"subject": "now", "due": today, "remind_at": START - dt.timedelta(hours=1)})
        s.create("todo", {"subject": "soon", "due": today + dt.timedelta(days=3)})
        s.create("todo", {"subject": "whenever"})
        s.create("todo", {"subject": "finished", "due": today, "status": "done"})
    with crm.session("bob") as s:
        s.create("todo", {"subject": "bob's", "due": today})
    with crm.session("mia") as s:
        given = s.create("todo", {"subject": "assigned by mia", "due": today, "owner_id": late["owner_id"]})
    with crm.session("alice") as s:
        items = timeline.my_tasks(s)
        assert [(i.group, i.record["subject"], i.reminder_due) for i in items] == [
            ("overdue", "late", False),
            ("today", "now", True),
            ("today", "assigned by mia", False),
            ("upcoming", "soon", False),
            ("no_date", "whenever", False),
        ]
        done = timeline.complete_task(s, "todo", late.id, version=late.version)
        assert done["status"] == "done"
        timeline.complete_task(s, "todo", given.id)
        assert [i.record["subject"] for i in timeline.my_tasks(s)] == ["now", "soon", "whenever"]
        with pytest.raises(QueryError):
            timeline.complete_task(s, "call", 1)
    with crm.session() as s:
        assert timeline.my_tasks(s) == []  # the system has no tasks


# --- schema changes -----------------------------------------------------------------------------------------
BEFORE = """
trellis: 1
objects:
  account:
    fields:
      name: {type: text, required: true}
  call:
    fields:
      account: {type: lookup, object: account}
      at: {type: datetime, required: true}
"""
AFTER = BEFORE.replace("  account:\n", "  account:\n    timeline: true\n").replace(
    "  call:\n", "  call:\n    activity: {at: at}\n"
)


def test_adding_a_timeline_migrates_and_fills_last_activity_at(db_url, write_config):
    crm = Trellis.open(write_config(BEFORE, "before.yaml"), db_url)
    crm.apply()
    with crm.session() as s:
        busy, quiet = s.create("account", {"name": "Busy"}), s.create("account", {"name": "Quiet"})
        for days in (9, 2, 5):
            s.create("call", {"account": busy.id, "at": at(days)})
    crm.close()

    crm = Trellis.open(write_config(AFTER, "after.yaml"), db_url)
    plan = crm.plan()
    assert not plan.refusals
    assert any(s.kind == "add_column" and s.column == "last_activity_at" for s in plan.steps)
    assert [s.kind for s in plan.data_fixes] == ["fill_last_activity"]
    crm.apply()
    with crm.session() as s:
        assert s.get("account", busy.id)["last_activity_at"] == at(2)
        assert s.get("account", quiet.id)["last_activity_at"] is None
        s.create("call", {"account": quiet.id, "at": at(1)})
        assert s.get("account", quiet.id)["last_activity_at"] == at(1)
    assert not crm.plan().steps
    crm.close()

    # Taking the timeline away drops the derived column without --allow-data-loss.
    crm = Trellis.open(write_config(BEFORE, "before.yaml"), db_url)
    plan = crm.plan()
    assert not plan.refusals and any(s.kind == "drop_column" and s.column == "last_activity_at" for s in plan.steps)
    crm.apply()
    with crm.session() as s:
        assert "last_activity_at" not in s.get("account", busy.id)
    crm.close()
