"""Assignment rules (S11, S29): round robin, territories, capacity, fallback, availability,
manual assignment, urgent records, least loaded, and concurrent creates dealt out in turn.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections import Counter

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis, ValidationFailed
from tests.conftest import Clock, run_in_threads
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  lead:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      region: {type: picklist, values: [east, west]}
      industry: {type: picklist, values: [internet, retail]}
      status: {type: picklist, values: [new, working, converted, disqualified], default: new}
      tags: {type: tags, values: [urgent, vip]}
      engineer: {type: user}
assignment:
  new_leads:
    object: lead
    strategy: round_robin
    pool: {role: rep}
    rules:
      - {name: east_it, when: "region == 'east' and industry == 'internet'", pool: {team: east_it}}
    capacity: {max_open: MAX_OPEN, open_when: "status not in ('converted', 'disqualified')"}
    fallback: {user: queue}
    on: created
    when: "name != 'manual only'"
    urgent_tag: {field: tags, tag: urgent}
  engineers:
    object: lead
    field: engineer
    strategy: least_loaded
    pool: {users: [erin, dave]}
automations:
  - name: engineer_when_working
    object: lead
    on: {changed: [status]}
    to: working
    do: [{assign: engineers}]
roles:
  rep:
    objects: {lead: {read: own, edit: own, create: true}}
  specialist:
    objects: {lead: {read: own, edit: own, create: true}}
  manager:
    objects: {lead: {read: all, edit: all, create: true, reassign: true}}
    permissions: [assign]
"""

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def open_crm(write_config, db_url, max_open: int = 3, clock=None) -> Trellis:
    crm = Trellis.open(write_config(CONFIG.replace("MAX_OPEN", str(max_open))), db_url, clock=clock or (lambda: NOW))
    apply_fresh(crm)
    with crm.directory() as d:
        d.add_team("east_it")
        for name in ("alice", "bob", "carol"):
            d.add(name, roles=["rep"])
        for name in ("dave", "erin"):
            d.add(name, roles=["specialist"], team="east_it")
        d.add("mgr", roles=["manager"])
        d.add("queue", roles=["manager"])
    return crm


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def crm(write_config, db_url, clock):
    crm = open_crm(write_config, db_url, clock=clock)
    yield crm
    crm.close()


def ids(crm) -> dict[str, int]:
    with crm.directory() as d:
        return {u.username: u.id for u in d.list()}


def names(crm) -> dict[int, str]:
    return {v: k for k, v in ids(crm).items()}


def owners_of(crm, records, field: str = "owner_id") -> list[str | None]:
    by_id = names(crm)
    with crm.session() as s:
        return [by_id.get(s.get(r.object, r.id)[field]) for r in records]


def create(crm, count: int, user=None, **values):
    with crm.session(user) as s:
        return [s.create("lead", {"name": f"lead {i}", **values}) for i in range(count)]


def runs(crm, **where):
    t = crm.schema.system["sys_automation_runs"]
    statement = sa.select(t).order_by(t.c.id)
    for key, value in where.items():
        statement = statement.where(t.c[key] == value)
    with crm.engine.connect() as c:
        return [dict(r) for r in c.execute(statement).mappings()]


def test_new_records_are_dealt_out_round_robin_over_a_role_and_audited_as_the_rule(crm):
    leads = create(crm, 6, region="west")
    assert owners_of(crm, leads) == ["alice", "bob", "carol", "alice", "bob", "carol"]
    assert leads[0]["owner_id"] == ids(crm)["alice"] and leads[0]["version"] == 2  # the create returns the assignment
    audit = crm.schema.system["sys_audit"]
    with crm.engine.connect() as c:
        rows = c.execute(
            sa.select(audit.c.action, audit.c.username, audit.c.channel)
            .where(audit.c.record_id == leads[0].id, audit.c.object == "lead")
            .order_by(audit.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("create", "system", "python"),
        ("update", "assignment:new_leads", "assignment"),
    ]
    state = crm.schema.system["sys_assignment_state"]
    with crm.engine.connect() as c:
        row = c.execute(sa.select(state)).mappings().one()
    assert (row["rule"], row["pool"], row["last_user_id"], row["version"]) == (
        "new_leads",
        "role:rep",
        ids(crm)["carol"],
        6,
    )


def test_a_territory_rule_picks_its_team_with_its_own_rotation(crm):
    east_it = create(crm, 3, region="east", industry="internet")
    others = create(crm, 2, region="east", industry="retail")
    assert owners_of(crm, east_it) == ["dave", "erin", "dave"]
    assert owners_of(crm, others) == ["alice", "bob"]


def test_members_holding_the_open_record_cap_are_skipped_and_closed_records_do_not_count(crm):
    mine = create(crm, 3, user="mgr", owner_id=ids(crm)["alice"])  # by hand: alice is full (3 open)
    assert owners_of(crm, create(crm, 3)) == ["bob", "carol", "bob"]
    with crm.session() as s:
        s.update("lead", mine[0].id, {"status": "converted"})
    assert owners_of(crm, create(crm, 1)) == ["carol"]  # carol's turn: alice is free again, but in turn
    assert owners_of(crm, create(crm, 1)) == ["alice"]


def test_the_fallback_takes_what_nobody_can_and_else_the_reason_is_recorded(crm):
    create(crm, 9)  # three each: everybody is full
    fallback = create(crm, 1)
    assert owners_of(crm, fallback) == ["queue"]
    note = runs(crm, record_id=fallback[0].id)[-1]
    assert note["rule"] == "assignment:new_leads" and note["status"] == "done"
    assert "given to the fallback queue" in note["error"] and "alice holds 3 open records (max 3)" in note["error"]

    with crm.directory() as d:
        d.disable("queue")
    left = create(crm, 1)
    assert owners_of(crm, left) == [None]
    reason = runs(crm, record_id=left[0].id, status="failed")
    assert len(reason) == 1 and reason[0]["rule"] == "assignment:new_leads"
    assert reason[0]["error"].startswith("left unassigned: role rep: nobody can take it (")
    assert "the fallback user queue does not exist or is disabled" in reason[0]["error"]


def test_disabled_and_away_users_are_skipped_until_they_are_back(crm, clock):
    with crm.directory() as d:
        d.disable("bob")
        d.edit("carol", away_until="2026-06-03 09:00")  # company time (Asia/Shanghai)
        assert d.get("carol").away_until == dt.datetime(2026, 6, 3, 1, 0, tzinfo=dt.UTC)
        with pytest.raises(ValidationFailed) as bad:
            d.edit("carol", away_until="next week")
        assert bad.value.errors["away_until"][0].code == "invalid"
    assert owners_of(crm, create(crm, 2)) == ["alice", "alice"]
    clock.now = NOW + dt.timedelta(days=3)
    assert owners_of(crm, create(crm, 1)) == ["carol"]


def test_a_manager_assigning_by_hand_jumps_the_queue_without_moving_the_rotation(crm):
    assert owners_of(crm, create(crm, 1)) == ["alice"]
    by_hand = create(crm, 1, user="mgr", owner_id=ids(crm)["carol"])
    assert owners_of(crm, by_hand) == ["carol"]
    assert owners_of(crm, create(crm, 1, user="mgr")) == ["bob"]  # no owner given: the rule runs, in turn
    assert owners_of(crm, create(crm, 1)) == ["carol"]
    # A rep's new lead goes into the rotation too (a rep cannot choose an owner).
    assert owners_of(crm, create(crm, 1, user="bob")) == ["alice"]
    # The rule's `when` leaves some records alone: they stay with their creator.
    assert owners_of(crm, create(crm, 1, user="bob", name="manual only")) == ["bob"]


def test_urgent_records_go_to_the_least_loaded_member_ignoring_the_rotation(crm):
    create(crm, 1, user="mgr", owner_id=ids(crm)["alice"])
    create(crm, 2, user="mgr", owner_id=ids(crm)["bob"])
    assert owners_of(crm, create(crm, 1, tags=["urgent"])) == ["carol"]  # fewest open (0)
    assert owners_of(crm, create(crm, 1, tags=["vip", "urgent"])) == ["alice"]  # alice 1, carol 1: alice first
    assert owners_of(crm, create(crm, 1)) == ["alice"]  # the rotation did not move


def test_the_assign_action_uses_a_least_loaded_rule_on_a_user_field(crm):
    leads = create(crm, 3)
    with crm.session() as s:
        for lead in leads:
            s.update("lead", lead.id, {"status": "working"})
    assert owners_of(crm, leads, "engineer") == ["erin", "dave", "erin"]
    assert owners_of(crm, leads) == ["alice", "bob", "carol"]  # the owner is another field
    assert [r["status"] for r in runs(crm, rule="engineer_when_working")] == ["done"] * 3


def test_assign_from_python_returns_the_user_and_refuses_unknown_rules(crm):
    from engine.runtime.workflow import assignment

    leads, erin = create(crm, 1), ids(crm)["erin"]
    with crm.session() as s, pytest.raises(assignment.AssignmentError):
        assignment.assign(s, "nothing", "lead", leads[0].id)
    with crm.session() as s:
        assert assignment.assign(s, "engineers", "lead", leads[0].id) == erin
        assert s.get("lead", leads[0].id)["engineer"] == erin


def test_eight_concurrent_creates_are_dealt_out_exactly_in_turn(write_config, db_url):
    crm = open_crm(write_config, db_url, max_open=100)
    try:

        def work(index: int) -> None:
            with crm.session() as s:
                s.create("lead", {"name": f"concurrent {index}"})

        assert run_in_threads(work, 8) == []
        assert_dealt_in_turn(crm, 8)
    finally:
        crm.close()


def assert_dealt_in_turn(crm, total: int) -> None:
    """Each rep got total/3 (±1) leads, and in the order the assignments were made they cycle."""
    audit = crm.schema.system["sys_audit"]
    by_id = names(crm)
    with crm.engine.connect() as c:
        rows = (
            c.execute(sa.select(audit.c.changes).where(audit.c.username == "assignment:new_leads").order_by(audit.c.id))
            .scalars()
            .all()
        )
    import json

    sequence = [by_id[json.loads(r)["owner_id"][1]] for r in rows]
    assert len(sequence) == total
    assert sequence == [("alice", "bob", "carol")[i % 3] for i in range(total)], sequence
    assert Counter(sequence) == Counter(("alice", "bob", "carol")[i % 3] for i in range(total))


def _create_in_process(config_path: str, db_url: str, count: int, barrier) -> None:
    crm = Trellis.open(config_path, db_url)
    barrier.wait()
    for index in range(count):
        with crm.session() as s:
            s.create("lead", {"name": f"process {os.getpid()} lead {index}"})
    crm.close()


@pytest.mark.skipif(not os.environ.get("TRELLIS_TEST_DATABASE_URL"), reason="processes against one PostgreSQL")
def test_two_processes_creating_at_once_are_dealt_out_exactly_in_turn(write_config, db_url):
    crm = open_crm(write_config, db_url, max_open=100)
    try:
        path = str(write_config(CONFIG.replace("MAX_OPEN", "100"), "processes.yaml"))
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(2)
        workers = [context.Process(target=_create_in_process, args=(path, db_url, 4, barrier)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert [w.exitcode for w in workers] == [0, 0]
        assert_dealt_in_turn(crm, 8)
    finally:
        crm.close()


def test_user_edit_away_until_on_the_command_line(write_config, db_url, clock):
    from engine.cli import main

    crm = open_crm(write_config, db_url, clock=clock)
    crm.close()
    path = str(write_config(CONFIG.replace("MAX_OPEN", "3")))
    runner = CliRunner()
    result = runner.invoke(
        main, ["user", "edit", path, "alice", "--away-until", "2030-01-31T18:00:00+00:00", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    crm = Trellis.open(path, db_url)
    with crm.directory() as d:
        assert d.get("alice").away_until == dt.datetime(2030, 1, 31, 18, 0, tzinfo=dt.UTC)
    crm.close()
    listed = runner.invoke(main, ["user", "list", path, "--db", db_url])
    assert "away until 2030-01-31 18:00 UTC" in listed.output, listed.output
    result = runner.invoke(main, ["user", "edit", path, "alice", "--away-until", "", "--db", db_url])
    assert result.exit_code == 0, result.output
    crm = Trellis.open(path, db_url)
    with crm.directory() as d:
        assert d.get("alice").away_until is None
    crm.close()


# --- the sample configs (S10, S11, S29) ------------------------------------------------------------


CAMPUS = """
trellis: 1
objects:
  campus:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      team: {type: text}
  student:
    title: "{name}"
    fields:
      name: {type: text, required: true}
      preferred_campus: {type: lookup, object: campus}
assignment:
  per_campus:
    object: student
    on: created
    pool: {role: consultant, team: {from: preferred_campus.team}}
    fallback: {user: desk}
roles:
  consultant:
    objects: {student: {read: own, edit: own, create: true}, campus: {read: all}}
"""


def test_round_robin_per_campus_takes_the_team_from_the_looked_up_campus(write_config, db_url):
    crm = Trellis.open(write_config(CAMPUS), db_url, clock=lambda: NOW)
    crm.apply()
    try:
        with crm.directory() as d:
            for team in ("north", "south"):
                d.add_team(team)
            for name, team in (("ann", "north"), ("ben", "north"), ("cat", "south"), ("dan", "south")):
                d.add(name, roles=["consultant"], team=team)
            d.add("desk", roles=["consultant"])
        with crm.session() as s:
            north = s.create("campus", {"name": "North", "team": "north"}).id
            south = s.create("campus", {"name": "South", "team": "south"}).id
            nowhere = s.create("campus", {"name": "Closed"}).id
            students = [
                s.create("student", {"name": f"s{i}", "preferred_campus": campus})
                for i, campus in enumerate([north, south, north, south, north])
            ]
            lost = [
                s.create("student", {"name": "no campus"}),
                s.create("student", {"name": "x", "preferred_campus": nowhere}),
            ]
        by_id = names(crm)
        # Each campus's team in its own rotation; no team named: the fallback, with the reason recorded.
        assert [by_id[r["owner_id"]] for r in students] == ["ann", "cat", "ben", "dan", "ann"]
        assert [by_id[r["owner_id"]] for r in lost] == ["desk", "desk"]
        notes = [r["error"] for r in runs(crm, rule="assignment:per_campus")]
        assert (
            "given to the fallback desk: role consultant in team from preferred_campus.team: the record names "
            "no team in preferred_campus.team" in notes
        )
        state = crm.schema.system["sys_assignment_state"]
        with crm.engine.connect() as c:
            pools = sorted(c.execute(sa.select(state.c.pool)).scalars())
        assert pools == ["role:consultant;team:north", "role:consultant;team:south"]
    finally:
        crm.close()


def test_skip_when_created_by_owner_keeps_a_members_own_walk_in(write_config, db_url):
    config = CONFIG.replace("MAX_OPEN", "10").replace(
        "    when: \"name != 'manual only'\"\n", "    skip_when: created_by_owner\n"
    )
    crm = Trellis.open(write_config(config), db_url, clock=lambda: NOW)
    crm.apply()
    try:
        with crm.directory() as d:
            for name in ("alice", "bob", "carol"):
                d.add(name, roles=["rep"])
            d.add("erin", roles=["specialist"])
            d.add("mgr", roles=["manager"])
            d.add("queue", roles=["manager"])
        # A rep's own walk-in stays theirs and does not move the rotation.
        assert owners_of(crm, create(crm, 2, user="bob")) == ["bob", "bob"]
        # Records without a creating pool member go round: the system's, and those of
        # someone outside the pool (a specialist entering a lead for the reps).
        assert owners_of(crm, create(crm, 2)) == ["alice", "bob"]
        assert owners_of(crm, create(crm, 1, user="erin")) == ["carol"]
        assert owners_of(crm, create(crm, 1, user="mgr", owner_id=ids(crm)["carol"])) == ["carol"]  # by hand
        assert owners_of(crm, create(crm, 1)) == ["alice"]
    finally:
        crm.close()
