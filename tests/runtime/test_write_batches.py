"""Many records at once: ``create_many`` and ``update_many`` go through what ``create`` and
``update`` do, with the database checks made set-wise, and a plain create costs few statements.

Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from engine import Conflict, NotFound, Trellis, ValidationFailed
from engine.runtime.jobs import inbox
from engine.runtime.records import unit
from engine.runtime.records.record import Record
from engine.runtime.security import crypto
from engine.runtime.security.permissions import PermissionDenied
from tests.conftest import CONFIGS, fresh_database
from tests.templates import apply_fresh

CONFIG = """
trellis: 1
settings: {timezone: Asia/Shanghai}
objects:
  company:
    title: "{name}"
    fields:
      name: {type: text, required: true}
  person:
    title: "{name}"
    fields:
      name: {type: text, required: true, max_length: 40}
      email: {type: email, unique: true}
      kind: {type: picklist, values: [lead, customer]}
      company: {type: lookup, object: company}
      number: {type: autonumber, format: "P-{0000}"}
      score: {type: integer, default: 0}
      budget: {type: currency}
  item:
    fields:
      name: {type: text, required: true}
      code: {type: text}
      qty: {type: integer, min: 0}
      price: {type: currency}
      kind: {type: picklist, values: [a, b, c]}
      due: {type: date}
      note: {type: textarea}
      flag: {type: boolean}
      email: {type: email}
      url: {type: url}
templates:
  hello:
    subject: "New customer {{ record.name }}"
    body: "Say hello to {{ record.name }} ({{ record.email }})."
automations:
  - name: welcome
    object: person
    on: created
    when: "kind == 'customer'"
    do:
      - {notify: {to: [owner], template: hello, channels: [in_app, email]}}
      - {add: {score: 5}}
approvals:
  - name: big_budget
    object: person
    on: {change: [budget]}
    applies_to: [create, update]
    when: "budget > 1000"
    approver: {user: boss}
roles:
  rep:
    objects:
      company: {read: own, edit: own, create: true}
      person: {read: own, edit: own, create: true}
      item: {read: own, edit: own, create: true}
  viewer:
    objects:
      person: {read: all}
  boss:
    objects: {"*": {read: all, edit: all, create: true}}
"""
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def crm(write_config, db_url):
    crm = Trellis.open(write_config(CONFIG), db_url, clock=lambda: NOW)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("boss", roles=["boss"], email="boss@example.com")
        d.add("rita", roles=["rep"], email="rita@example.com")
        d.add("ivan", roles=["rep"], email="ivan@example.com")
        d.add("vera", roles=["viewer"])
    yield crm
    crm.close()


def rows(crm, table, **where):
    t = crm.schema.table(table) if table in crm.config.objects else crm.schema.system[table]
    with crm.engine.connect() as c:
        statement = sa.select(t).order_by(*t.primary_key.columns)
        for key, value in where.items():
            statement = statement.where(t.c[key] == value)
        return [dict(r) for r in c.execute(statement).mappings()]


@contextmanager
def statements(crm):
    """The SQL statements run inside the block (their texts, in order)."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append(statement)

    sa.event.listen(crm.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(crm.engine, "before_cursor_execute", count)


def without_audit_head(seen: list[str]) -> list[str]:
    """The statements, less those of the audit trail's head row (its lock goes away on another
    branch: then an audit entry is one INSERT)."""
    return [s for s in seen if "sys_audit_head" not in s]


# --- statements ------------------------------------------------------------------------------------
def test_a_plain_create_costs_the_insert_and_the_audit_row(crm):
    """The audit row waits for the transaction's next statement or its commit (``Unit``): one
    INSERT for all the audit rows of the transaction."""
    with statements(crm) as seen, crm.session("rita") as s:
        s.create("item", {"name": "warm-up"})  # the principal's users are read once per transaction
        seen.clear()
        s.create(
            "item",
            {
                "name": "Bolt",
                "code": "B-1",
                "qty": 3,
                "price": "1.50",
                "kind": "b",
                "due": "2026-07-01",
                "note": "zinc",
                "flag": True,
                "email": "a@example.com",
                "url": "https://example.com",
            },
        )
    written = without_audit_head(seen)
    assert len(written) <= 3
    assert [s.split()[2] for s in written] == ["obj_item", "sys_audit"]


def test_an_autonumber_is_the_third_statement(crm):
    with statements(crm) as seen, crm.session("rita") as s:
        seen.clear()  # the session's start
        s.create("person", {"name": "Li", "kind": "lead"})
    assert len(without_audit_head(seen)) == 3


def test_a_batch_writes_each_kind_of_row_with_one_statement(crm):
    def batch(first: int, count: int) -> dict[str, int]:
        people = [
            {"name": f"P{i}", "kind": "customer", "email": f"p{i}@example.com"} for i in range(first, first + count)
        ]
        with statements(crm) as seen, crm.session("rita") as s:
            seen.clear()  # the session's start
            done = s.create_many("person", people)
        assert all(isinstance(r, Record) for r in done)
        kinds: dict[str, int] = {}
        for statement in without_audit_head(seen):
            words = statement.split()
            kind = " ".join(words[:3]) if words[0] in ("INSERT", "UPDATE") else words[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds

    few, many = batch(0, 3), batch(3, 30)
    # Per row: its audit entry (one INSERT each until the audit trail takes a batch) and the
    # UPDATE of the rule's `add` action (an update through the write path, in a savepoint).
    per_row = {"INSERT INTO sys_audit", "UPDATE obj_person SET", "SAVEPOINT", "RELEASE"}
    assert {k: v for k, v in many.items() if k not in per_row} == {k: v for k, v in few.items() if k not in per_row}
    assert many["INSERT INTO obj_person"] == many["INSERT INTO sys_automation_runs"] == 1
    assert many["INSERT INTO sys_notifications"] == many["INSERT INTO sys_outbox"] == 1
    assert many["UPDATE obj_person SET"] == 30
    assert len(rows(crm, "sys_notifications")) == len(rows(crm, "sys_outbox")) == 33


# --- rows collected by a transaction's writes -----------------------------------------------------------
def test_creates_of_one_transaction_write_their_audit_rows_together(crm, monkeypatch):
    """Creates one by one: the audit rows wait and go with one INSERT, at most ``FLUSH_AT`` at a time."""
    monkeypatch.setattr(unit, "FLUSH_AT", 4)
    with statements(crm) as seen, crm.session("rita") as s:
        seen.clear()  # the session's start
        for i in range(10):
            s.create("item", {"name": f"Item {i}"})
    written = [x.split()[2] for x in without_audit_head(seen)]
    assert written.count("obj_item") == 10
    assert written.count("sys_audit") == 3  # after the 4th and the 8th create, and at the commit
    assert len(rows(crm, "sys_audit", object="item")) == 10


def test_a_statement_in_the_transaction_sees_the_rows_its_writes_collected(crm):
    with crm.session("rita") as s:
        ann = s.create("person", {"name": "Ann", "kind": "customer", "email": "ann@example.com"})
        assert inbox.unread_count(s) == 1
        audit = crm.schema.system["sys_audit"]
        count = sa.select(sa.func.count()).where(audit.c.object == "person", audit.c.record_id == ann.id)
        assert s.connection.execute(count).scalar_one() == 2  # the create, and the rule's update


def test_a_savepoint_rolled_back_takes_the_rows_collected_inside_it(crm):
    with crm.session("rita") as s:
        kept = s.create("item", {"name": "kept"})
        with pytest.raises(RuntimeError), s.connection.begin_nested():
            s.create("item", {"name": "gone"})
            raise RuntimeError("undo")
        after = s.create("item", {"name": "after"})
    assert [r["record_id"] for r in rows(crm, "sys_audit", object="item")] == [kept.id, after.id]
    with pytest.raises(RuntimeError), crm.session("rita") as s:
        s.create("item", {"name": "rolled back"})
        raise RuntimeError("undo")
    assert len(rows(crm, "sys_audit", object="item")) == 2
    assert [r["name"] for r in rows(crm, "item")] == ["kept", "after"]


# --- create_many ---------------------------------------------------------------------------------------
@pytest.fixture
def saas_twins(tmp_path, monkeypatch):
    """Two databases with the sample SaaS config and the same two sales reps."""
    monkeypatch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
    twins, urls = [], []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        urls.append(fresh_database(tmp_path / name))
        crm = Trellis.open(CONFIGS / "sample_saas.yaml", next(urls[-1]), clock=lambda: NOW)
        crm.apply()
        with crm.directory() as d:
            d.add_team("east")
            d.add("rep1", roles=["sales_rep"], email="rep1@example.com", team="east")
            d.add("rep2", roles=["sales_rep"], email="rep2@example.com", locale="en")
        twins.append(crm)
    yield twins
    for crm, url in zip(twins, urls, strict=True):
        crm.close()
        next(url, None)


LEADS = [
    {"name": "张伟", "company": "云帆", "intent_level": "high", "phone": "138 0013 8000"},
    {
        "name": "Wei",
        "company": "Acme",
        "intent_level": "low",
        "email": "wei@example.com",
        "source": "free_trial",
        "owner_id": 2,
    },
    {
        "name": "李娜",
        "company": "星辰",
        "intent_level": "medium",
        "phone": "139 0013 9000",
        "region": "east_china",
        "industry": "internet",
    },
    {
        "name": "Ann",
        "company": "Beta",
        "intent_level": "high",
        "email": "ann@example.com",
        "source": "webinar",
        "tags": ["urgent"],
    },
    {"name": "Bo", "company": "Gamma", "intent_level": "low", "email": "bo@example.com", "source": "cold_call"},
    {"name": "Cy", "company": "Delta", "intent_level": "low", "email": "cy@example.com"},
]


def effects(crm) -> dict:
    """What writing the leads left behind (outbox keys and ids apart)."""
    keep = {
        "sys_audit": ("username", "channel", "action", "object", "record_id", "changes"),
        "sys_automation_runs": ("rule", "object", "record_id", "trigger", "status", "error", "depth"),
        "sys_notifications": ("user_id", "title", "body", "object", "record_id", "rule"),
        "sys_outbox": ("kind", "rule", "target", "payload"),
        "sys_assignment_state": ("rule", "pool", "last_user_id", "version"),
    }
    found = {table: [{k: r[k] for k in names} for r in rows(crm, table)] for table, names in keep.items()}
    return {"lead": rows(crm, "lead"), **found}


def test_create_many_does_what_create_does_row_by_row(saas_twins):
    one, two = saas_twins
    one_by_one: list = []
    with one.session() as s:
        for values in LEADS:
            try:
                one_by_one.append(s.create("lead", values))
            except ValidationFailed as exc:
                one_by_one.append(exc)
    with two.session() as s:
        batch = s.create_many("lead", LEADS, on_error="collect")

    def outcome(o):
        return o.errors if isinstance(o, ValidationFailed) else dict(o)

    assert [outcome(o) for o in batch] == [outcome(o) for o in one_by_one]
    assert batch[4].errors["source"][0].code == "inactive_value"  # cold calls are no longer offered
    records = [o for o in batch if isinstance(o, Record)]
    assert [r["owner_id"] for r in records] == [1, 2, 1, 2, 2]  # in turn, by territory; urgent: the least loaded
    assert [r["score"] for r in records] == [60, 70, 60, 50, 60]
    assert effects(two) == effects(one)
    assert len(effects(two)["sys_notifications"]) == 5


def test_collect_returns_each_rows_outcome_and_writes_exactly_the_good_rows(crm):
    with crm.session("rita") as s:
        mine = s.create("company", {"name": "Mine"})
        s.create("person", {"name": "Old", "email": "taken@example.com"})
    with crm.session("ivan") as s:
        theirs = s.create("company", {"name": "Ivan's"})
    with crm.session("rita") as s:
        outcomes = s.create_many(
            "person",
            [
                {"name": "Good 1", "email": "one@example.com", "company": mine.id},
                {"name": "Bad kind", "kind": "alien"},
                {"name": "Twin 1", "email": "twin@example.com"},
                {"name": "Twin 2", "email": "twin@example.com"},
                {"name": "Taken", "email": "taken@example.com"},
                {"name": "No company", "company": 999_999},
                {"name": "Not mine", "company": theirs.id},
                {"name": "Good 2", "kind": "customer"},
            ],
            on_error="collect",
        )
    kinds = [type(o).__name__ if not isinstance(o, Record) else "Record" for o in outcomes]
    assert kinds == [
        "Record",
        "ValidationFailed",
        "Record",
        "ValidationFailed",
        "ValidationFailed",
        "ValidationFailed",
        "ValidationFailed",
        "Record",
    ]
    assert outcomes[1].errors["kind"][0].code == "not_in_picklist"
    assert outcomes[3].errors["email"][0].code == "unique"
    assert outcomes[4].errors["email"][0].code == "unique"
    assert outcomes[5].errors["company"][0].code == "not_found"
    assert outcomes[6].errors["company"][0].code == "not_found"  # outside rita's read scope
    assert [o.index for o in outcomes if isinstance(o, ValidationFailed)] == [1, 3, 4, 5, 6]
    stored = rows(crm, "person")
    assert [r["name"] for r in stored] == ["Old", "Good 1", "Twin 1", "Good 2"]
    assert [r["number"] for r in stored] == ["P-0001", "P-0002", "P-0003", "P-0004"]  # one block, no gaps
    assert [o["number"] for o in outcomes if isinstance(o, Record)] == ["P-0002", "P-0003", "P-0004"]
    assert stored[-1]["score"] == 5  # the good customer's rule ran
    audited = [r["record_id"] for r in rows(crm, "sys_audit", object="person", action="create")]
    assert audited == [r["id"] for r in stored]


def test_stop_raises_the_first_refusal_with_its_index_and_writes_nothing(crm):
    before = len(rows(crm, "sys_audit"))
    with crm.session("rita") as s:
        with pytest.raises(ValidationFailed) as refused:
            s.create_many(
                "person",
                [
                    {"name": "Fine", "kind": "customer"},
                    *({"name": f"Fine {i}"} for i in range(5)),
                    {"name": "x" * 41},
                    {"name": "Also bad", "kind": "alien"},
                ],
                chunk_size=2,
            )
        assert refused.value.index == 6
        assert set(refused.value.errors) == {"name"}
        s.create("person", {"name": "After"})
    assert [r["name"] for r in rows(crm, "person")] == ["After"]
    assert rows(crm, "sys_notifications") == [] and rows(crm, "sys_outbox") == []
    assert len(rows(crm, "sys_audit")) == before + 1
    assert rows(crm, "person")[0]["number"] == "P-0001"  # the numbers taken for the chunks went back too


def test_a_row_needing_approval_becomes_a_pending_request(crm):
    with crm.session("rita") as s:
        done = s.create_many("person", [{"name": "Small", "budget": "500"}, {"name": "Big", "budget": "5000"}])
    assert done[0].id is not None and done[0].pending_approval is None
    assert done[1].get("id") is None and done[1].pending_approval.status == "pending"
    assert [r["name"] for r in rows(crm, "person")] == ["Small"]
    assert json.loads(rows(crm, "sys_approvals")[0]["changes"]) == {"name": "Big", "budget": "5000"}


def test_chunks_keep_memory_flat_and_see_what_earlier_chunks_wrote(crm):
    def many():
        for i in range(7):
            yield {"name": f"P{i}", "email": "same@example.com" if i in (1, 5) else f"p{i}@example.com"}

    with crm.session("rita") as s:
        chunks = list(s.create_chunks("person", many(), on_error="collect", chunk_size=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    refused = [o.index for c in chunks for o in c if isinstance(o, ValidationFailed)]
    assert refused == [5]  # the duplicate of row 1 is in a later chunk: the database check finds it
    assert len(rows(crm, "person")) == 6


def test_a_batch_names_how_it_goes_wrong(crm):
    with crm.session("rita") as s:
        with pytest.raises(ValueError, match="on_error"):
            s.create_many("person", [{"name": "A"}], on_error="ignore")
        with pytest.raises(ValueError, match="chunk_size"):
            s.create_many("person", [{"name": "A"}], chunk_size=50_000)
        with pytest.raises(ValueError, match=r"\(id, values\)"):
            s.update_many("person", [(1,)])
        assert s.create_many("person", []) == []


def test_permissions_hold_for_batches(crm):
    with crm.session("vera") as s, pytest.raises(PermissionDenied):
        s.create_many("person", [{"name": "Nope"}])
    with crm.session("rita") as s:
        outcomes = s.create_many("person", [{"name": "Given away", "owner_id": 999}], on_error="collect")
    assert outcomes[0].errors["owner_id"][0].code == "not_found"
    assert rows(crm, "person") == []


# --- update_many -----------------------------------------------------------------------------------------
def test_update_many_applies_each_change_and_reports_conflicts(crm):
    with crm.session("rita") as s:
        a, b, c = (s.create("person", {"name": n, "email": f"{n}@example.com"}) for n in ("a", "b", "c"))
    with crm.session("ivan") as s:
        d = s.create("person", {"name": "d"})
    with crm.session("rita") as s:
        outcomes = s.update_many(
            "person",
            [
                (a.id, {"name": "a2"}, a.version),
                (b.id, {"name": "b2"}, b.version + 1),  # stale: someone else's version
                (c.id, {"kind": "alien"}),
                (d.id, {"name": "d2"}),  # not rita's
                (a.id, {"kind": "customer"}),  # the same record again: after its first change
            ],
            on_error="collect",
        )
    assert isinstance(outcomes[0], Record) and outcomes[0]["name"] == "a2"
    assert isinstance(outcomes[1], Conflict) and outcomes[1].index == 1
    assert outcomes[2].errors["kind"][0].code == "not_in_picklist"
    assert isinstance(outcomes[3], NotFound)
    assert outcomes[4]["version"] == 3 and outcomes[4]["score"] == 0
    names = {r["id"]: r["name"] for r in rows(crm, "person")}
    assert names == {a.id: "a2", b.id: "b", c.id: "c", d.id: "d"}
    with crm.session("rita") as s, pytest.raises(Conflict):
        s.update_many("person", [(c.id, {"name": "c2"}), (b.id, {"name": "b3"}, 99)])
    assert rows(crm, "person", id=c.id)[0]["name"] == "c"  # stop: nothing of the batch is kept


def test_update_many_lets_a_value_move_between_records_of_one_batch(crm):
    with crm.session("rita") as s:
        a = s.create("person", {"name": "a", "email": "x@example.com"})
        b = s.create("person", {"name": "b"})
        s.update_many("person", [(a.id, {"email": "y@example.com"}), (b.id, {"email": "x@example.com"})])
        with pytest.raises(ValidationFailed) as refused:
            s.update_many("person", [(a.id, {"email": "z@example.com"}), (b.id, {"email": "z@example.com"})])
        assert refused.value.index == 1 and refused.value.errors["email"][0].code == "unique"
    assert {r["name"]: r["email"] for r in rows(crm, "person")} == {"a": "y@example.com", "b": "x@example.com"}


def test_a_batch_through_the_system_equals_what_the_rules_do_per_row(crm):
    with crm.session() as s:
        owner = s.unit.user_named("rita").id
        done = s.create_many("person", [{"name": f"C{i}", "kind": "customer", "owner_id": owner} for i in range(3)])
    assert [r["score"] for r in done] == [5, 5, 5]
    notes = rows(crm, "sys_notifications")
    assert [(n["user_id"], n["title"]) for n in notes] == [(owner, f"New customer C{i}") for i in range(3)]
    runs = rows(crm, "sys_automation_runs")
    assert [(r["rule"], r["record_id"], r["status"]) for r in runs] == [("welcome", r.id, "done") for r in done]
