"""THE permission matrix (S31, S32, S34, S35): every role of both sample configs
against every object, on SQLite and on PostgreSQL (TRELLIS_TEST_DATABASE_URL).

Each sample config is applied once to its own database with the demo users
(engine/runtime/demo/data.py: one per role, in teams and a manager hierarchy) plus a
few test users that make the scopes differ — Hank sits in Mike's team but
reports to Sara (team ≠ subtree), Ivan holds two roles (grants merge, hidden
fields intersect), and Dora holds ``director``, a role a small test overlay adds
on top of the sample so that the ``subtree`` scope is exercised too. Every user
owns an "anchor" record (lookups point at anchors) and a "free" record (nothing
points at it, so it may be deleted) of every object; one record has no owner and
one is archived. Values of fields some role hides are unique markers, so that a
leak through search shows.

For every role (and the extra users) and every object the tests prove:

- reads: ``query().all()``, ``count``, ``page``, ``include_archived``, ``get``,
  ``titles`` and ``export`` return exactly the records the role's read scope
  allows, computed here from the role definitions of the config model and the
  users' team and manager — not with the engine's own scope code; ``get``
  outside the scope is NotFound; opening a contact is written to the access log;
- hidden fields never appear in a returned record (query, get, export, and the
  records create and update return), and filtering, sorting or searching on
  them is refused or finds nothing;
- every forbidden write is refused with the right error — PermissionDenied
  (create without the right; update/delete inside the read scope but outside the
  edit/delete scope), NotFound (outside the read scope), ValidationFailed
  ``read_only`` (hidden and read-only fields), ``reassign_not_allowed`` (giving
  a record to an owner outside the edit scope without ``reassign``) — and leaves
  the table, the record, the counters and the audit trail exactly as they were.

Allowed writes run in sessions that are rolled back, so the data set stays the
same for every test. Cases are named ``<config>-<role>-<object>``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import NotFound, PermissionDenied, QueryError, Trellis, ValidationFailed
from engine.metadata import Config, load_config
from engine.metadata.model import SYSTEM_COLUMNS, ObjectDef, ReportMeasure
from engine.runtime import periods, reports
from engine.runtime.database import create_engine
from engine.runtime.demo import data as demo
from engine.runtime.records import listparams
from engine.runtime.security import audit, crypto
from engine.runtime.workflow import converted
from tests.conftest import CONFIGS, fresh_database

CONFIG_NAMES = ("sample_saas", "sample_retail")
LEVELS = ("none", "own", "team", "subtree", "all")
ACTIONS = ("read", "edit", "delete")

#: A role the samples do not have, layered on top of them by this test: the samples'
#: roles use own, team and all; this one covers ``subtree`` (and a manager-like role
#: without ``reassign``).
DIRECTOR_OVERLAY = """
trellis: 1
extends: {base}
roles:
  director:
    label: Sales director (test overlay)
    inherits: sales_manager
    objects:
      "*": {{read: subtree, edit: subtree, delete: subtree, reassign: false}}
"""

#: Users added to the demo users: (username, roles, team, manager, needs the overlay).
EXTRA_USERS = (
    ("dora", ("director",), None, "emma", True),
    ("hank", ("sales_rep",), "east", "dora", False),
    ("ivan", ("sales_rep", "finance"), "south", "sara", False),
)
#: Sara reports to Dora in this data set, so that Dora's subtree holds a whole team and Hank.
REPORTS_TO = {"sara": "dora"}
#: The owner of the archived record of each object.
ARCHIVED_OWNER = "bob"
#: Field types whose values can carry a searchable marker.
MARKABLE = ("text", "textarea")


@dataclass(frozen=True)
class Subject:
    """Who acts in a case: a role's demo user, or one of the extra users."""

    label: str
    username: str | None
    overlay: bool = False

    def __str__(self) -> str:
        return self.label


def _sample_config(name: str) -> Config:
    # The matrix is about scopes: automation rules (tasks created on signing, assignment) would add
    # records the world does not track, so they are left out; tests/runtime/test_automation.py has them.
    return _without_automation(load_config(CONFIGS / f"{name}.yaml"))


def _without_automation(config: Config) -> Config:
    import dataclasses

    return dataclasses.replace(config, automations=())


def _subjects(config: Config) -> list[Subject]:
    subjects = []
    for role in config.roles:
        user = next((u for u in demo.DEMO_USERS if u.roles == (role,)), None)
        subjects.append(Subject(role, user.username if user else None))
    subjects.append(Subject("sales_rep+finance", "ivan"))
    subjects.append(Subject("director-overlay-subtree", "dora", overlay=True))
    return subjects


SAMPLES = {name: _sample_config(name) for name in CONFIG_NAMES}
CASES = [
    pytest.param(name, subject, obj, id=f"{name}-{subject}-{obj}")
    for name, config in SAMPLES.items()
    for subject in _subjects(config)
    for obj in config.objects
]


# --- the expectation, computed from the config model and the users' data --------------


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    roles: tuple[str, ...]
    team_id: int | None
    manager_id: int | None


@dataclass(frozen=True)
class Grant:
    read: str = "none"
    edit: str = "none"
    delete: str = "none"
    create: bool = False
    export: bool = False
    reassign: bool = False


@dataclass(frozen=True)
class Effective:
    """What a user may do: the most permissive grant of their roles per object. A field
    is hidden only if every role of theirs that may read its object hides it (a role
    without read access does not lift another's restriction); it is unchangeable only if
    every such role hides it or makes it read-only."""

    grants: Mapping[str, Grant]
    hidden: frozenset[tuple[str, str]]
    read_only: frozenset[tuple[str, str]]
    lookup_titles: bool

    def visible(self, obj: ObjectDef) -> list[str]:
        return [f for f in obj.fields if (obj.name, f) not in self.hidden]

    def hidden_in(self, obj: ObjectDef) -> list[str]:
        return [f for f in obj.fields if (obj.name, f) in self.hidden]

    def unwritable_in(self, obj: ObjectDef) -> list[str]:
        return [f for f in obj.fields if (obj.name, f) in self.hidden | self.read_only]


def effective(config: Config, roles: tuple[str, ...]) -> Effective:
    declared = [config.roles[name] for name in roles if name in config.roles]
    grants = {}
    for name in config.objects:
        merged = Grant()
        for role in declared:
            g = role.grant(name)
            merged = Grant(
                **{a: max(getattr(merged, a), getattr(g, a), key=LEVELS.index) for a in ACTIONS},
                create=merged.create or g.create,
                export=merged.export or g.export,
                reassign=merged.reassign or g.reassign,
            )
        grants[name] = merged

    def restricted(fields_of) -> frozenset[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for name in config.objects:
            readers = [r for r in declared if r.grant(name).read != "none"]
            if readers:
                out |= set.intersection(*({f for f in fields_of(r) if f[0] == name} for r in readers))
        return frozenset(out)

    hidden = restricted(lambda r: r.hidden)
    return Effective(
        grants, hidden, restricted(lambda r: r.hidden | r.read_only) - hidden, any(r.lookup_titles for r in declared)
    )


def owners_in(level: str, user: UserRow, users: Mapping[str, UserRow]) -> frozenset[int] | None:
    """Owner ids inside a scope level (None: every record, also those without an owner)."""
    if level == "all":
        return None
    if level == "own":
        return frozenset({user.id})
    if level == "team":
        return frozenset(u.id for u in users.values() if user.team_id is not None and u.team_id == user.team_id)
    if level == "subtree":
        found, frontier = {user.id}, {user.id}
        while frontier:
            frontier = {u.id for u in users.values() if u.manager_id in frontier} - found
            found |= frontier
        return frozenset(found)
    assert level == "none", level
    return frozenset()


def inside(level: str, owner: int | None, user: UserRow, users: Mapping[str, UserRow]) -> bool:
    owners = owners_in(level, user, users)
    return owners is None or owner in owners


# --- the data set ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    owner_id: int | None
    kind: str  # anchor, free, archived


@dataclass
class World:
    """One sample config applied to its own database, with users and records."""

    name: str
    crm: Trellis
    overlay: Trellis
    users: dict[str, UserRow] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    snapshot: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    markers: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        return self.crm.config

    def crm_for(self, subject: Subject) -> Trellis:
        return self.overlay if subject.overlay else self.crm

    def user(self, subject: Subject) -> UserRow:
        assert subject.username is not None, (
            f"role {subject.label} of {self.name} has no demo user: add one to DEMO_USERS in engine/runtime/demo/data.py"
        )
        return self.users[subject.username]

    def effective(self, subject: Subject) -> Effective:
        return effective(self.crm_for(subject).config, self.user(subject).roles)

    def scope_ids(self, subject: Subject, obj: str, action: str, archived: bool = True) -> list[int]:
        user, level = self.user(subject), getattr(self.effective(subject).grants[obj], action)
        return [
            r.id
            for r in self.rows[obj]
            if inside(level, r.owner_id, user, self.users) and (archived or r.kind != "archived")
        ]

    def outsiders(self, subject: Subject, obj: str, action: str) -> list[int | None]:
        """One user outside the scope of ``action``, and "no owner" (unless the scope is all)."""
        user, level = self.user(subject), getattr(self.effective(subject).grants[obj], action)
        owners = owners_in(level, user, self.users)
        if owners is None:
            return []
        others = sorted(u.id for u in self.users.values() if u.id not in owners)
        return [*others[:1], None]

    @property
    def ghost(self) -> int:
        """The id of a user who does not exist."""
        return max(u.id for u in self.users.values()) + 1000

    def expected_keys(self, subject: Subject, obj_name: str) -> set[str]:
        obj = self.config.objects[obj_name]
        system = {
            c
            for c in SYSTEM_COLUMNS
            if (c != "stage_entered_at" or obj.pipeline) and (c != "last_activity_at" or obj.timeline)
        }
        return system | set(self.effective(subject).visible(obj))

    def close(self) -> None:
        self.crm.close()


class Rollback(Exception):
    """Raised inside a session to undo allowed writes."""


def _database(tmp_path_factory, name: str) -> Iterator[str]:
    yield from fresh_database(tmp_path_factory.mktemp(name))


def build_world(name: str, url: str, folder: Path) -> World:
    config = SAMPLES[name]
    crm = Trellis(config, create_engine(url))
    crm.apply(applied_by="test")
    overlay_path = folder / "director.yaml"
    overlay_path.write_text(DIRECTOR_OVERLAY.format(base=(CONFIGS / f"{name}.yaml").as_posix()), encoding="utf-8")
    overlay = Trellis(_without_automation(load_config(overlay_path)), crm.engine)
    world = World(name, crm, overlay)

    demo.load_demo_users(crm)
    with overlay.directory() as directory:
        for username, roles, team, manager, _ in EXTRA_USERS:
            directory.add(username, roles=list(roles), team=team, manager=manager, password=demo.DEMO_PASSWORD)
        for username, manager in REPORTS_TO.items():
            directory.edit(username, manager=manager)
    users = crm.schema.system["sys_users"]
    with crm.engine.connect() as conn:
        for row in conn.execute(
            sa.select(users.c.id, users.c.username, users.c.roles, users.c.team_id, users.c.manager_id)
        ):
            world.users[row.username] = UserRow(row.id, row.username, tuple(row.roles), row.team_id, row.manager_id)

    hidden_somewhere = set().union(*(r.hidden for r in overlay.config.roles.values()))
    rng = random.Random(31)
    owners: list[int | None] = [*sorted(u.id for u in world.users.values()), None]
    archived_owner = world.users[ARCHIVED_OWNER].id
    with crm.session() as s:
        for obj in demo._dependency_order(config.objects):
            plan = [(o, "anchor") for o in owners] + [(o, "free") for o in owners] + [(archived_owner, "archived")]
            world.rows[obj.name] = []
            for index, (owner, kind) in enumerate(plan):
                fixed: dict[str, Any] = {"owner_id": owner}
                for f in obj.fields.values():
                    if f.name in converted.link_fields(config, obj.name):
                        continue  # set only by converting; a set link would make the record read-only
                    if f.type == "lookup":
                        targets = {r.owner_id: r.id for r in world.rows[f.target] if r.kind == "anchor"}
                        fixed[f.name] = targets.get(owner, targets[None])
                    elif (obj.name, f.name) in hidden_somewhere:
                        if f.type in MARKABLE and not f.encrypted and not f.pattern:
                            fixed[f.name] = f"secret-{obj.name}-{f.name}-{index:04d}"
                        else:
                            value = demo.sample_value(obj, f, index, rng, {}, {}, s, fill_all=True)
                            if value is not None:
                                fixed[f.name] = value
                record_id = demo.create_sample_record(s, obj, index, rng, {}, fixed)
                assert record_id is not None, f"could not create a sample {obj.name} with {fixed}"
                world.rows[obj.name].append(Row(record_id, owner, kind))
                for f, value in fixed.items():
                    if isinstance(value, str) and value.startswith("secret-"):
                        world.markers.setdefault((obj.name, f), {})[record_id] = value
        for obj in config.objects.values():
            table = crm.schema.table(obj.name)
            archived = [r.id for r in world.rows[obj.name] if r.kind == "archived"]
            s.connection.execute(
                sa.update(table).where(table.c.id.in_(archived)).values(archived_at=crm.clock_now().now_utc)
            )
    with crm.session() as s:
        for obj in config.objects:
            world.snapshot[obj] = {r.id: r.to_dict() for r in s.query(obj).include_archived().all()}
    return world


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> Iterator[Any]:
    """``worlds(name)``: the World of a sample config, built once per module and database."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRELLIS_SECRET_KEY", crypto.generate_key())
        patch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
        built: dict[str, World] = {}
        databases: list[Iterator[str]] = []

        def get(name: str) -> World:
            if name not in built:
                database = _database(tmp_path_factory, name)
                databases.append(database)
                built[name] = build_world(name, next(database), tmp_path_factory.mktemp(f"{name}-overlay"))
            return built[name]

        yield get
        for world in built.values():
            world.close()
        for database in databases:
            next(database, None)


# --- helpers -----------------------------------------------------------------------


def ids(records) -> list[int]:
    return [r.id for r in records]


def codes(failure: ValidationFailed) -> dict[str, list[str]]:
    return {name: [e.code for e in errors] for name, errors in failure.errors.items()}


def footprint(world: World, connection: sa.Connection, obj: str, record_id: int | None = None) -> tuple:
    """Everything a refused write must leave alone: the object's rows and the record,
    the autonumber counters and the audit trail."""
    table = world.crm.schema.table(obj)
    system = world.crm.schema.system
    rows = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    trail = connection.execute(sa.select(sa.func.count()).select_from(system["sys_audit"])).scalar_one()
    counters = tuple(connection.execute(sa.select(system["sys_sequences"]).order_by("name")).all())
    record = None
    if record_id is not None:
        record = connection.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
        record = dict(record) if record is not None else None
    return rows, trail, counters, record


def check_record(world: World, subject: Subject, record, where: str) -> None:
    """The record holds exactly the system columns and the fields the subject may see,
    with the values stored."""
    expected = world.expected_keys(subject, record.object)
    assert set(record) == expected, (
        f"{where}: {record.object} {record.id} has fields {sorted(set(record) - expected)} it must not have "
        f"and lacks {sorted(expected - set(record))}"
    )
    stored = world.snapshot[record.object].get(record.id)
    if stored is not None:
        different = {k for k in record if k not in ("version", "updated_at") and record[k] != stored[k]}
        assert not different, f"{where}: {record.object} {record.id} differs from what is stored in {different}"


def writable_sample(world: World, obj: ObjectDef, name: str) -> Any:
    """A valid value for ``obj.name`` (taken from the stored records)."""
    values = [r[name] for r in world.snapshot[obj.name].values() if r.get(name) is not None]
    assert values, f"no stored value of {obj.name}.{name}"
    return values[0]


def create_values(world: World, subject: Subject, obj: ObjectDef) -> dict[str, Any]:
    """Valid values the subject may give: those of their own anchor record, without
    computed, unique, hidden and read-only fields, lookups pointing at readable records.
    The stage is left to its default: creating a record further on is a skip (tests/runtime/test_pipeline.py)."""
    user, eff = world.user(subject), world.effective(subject)
    anchor = next(r for r in world.rows[obj.name] if r.kind == "anchor" and r.owner_id == user.id)
    stored = world.snapshot[obj.name][anchor.id]
    values = {}
    stage_field = obj.pipeline.field if obj.pipeline else None
    # Fields that rules tie to the stage (a ticket's satisfaction only after resolution) follow it out.
    stage_bound = {
        name
        for rule in obj.rules
        for name in rule.assertion.names | (rule.when.names if rule.when else frozenset())
        if stage_field in rule.assertion.names | (rule.when.names if rule.when else frozenset())
    }
    # Fields an approval guards on create are left out too: such a create waits for approval
    # (tests/webui/test_approval_safeguards.py).
    guarded = {
        name
        for rule in world.config.approval_rules(obj.name)
        if rule.trigger == "change" and "create" in rule.applies_to
        for name in rule.fields
    }
    guarded |= {
        name for g in guarded if obj.fields[g].expression is not None for name in obj.fields[g].expression.names
    }
    for f in obj.fields.values():
        if f.is_computed or f.unique or f.name in eff.unwritable_in(obj) or stored.get(f.name) is None:
            continue
        if f.name in guarded:
            continue
        if f.name == stage_field or (f.name in stage_bound and not f.required):
            continue
        if f.type == "lookup":
            readable = world.scope_ids(subject, f.target, "read", archived=False)
            if stored[f.name] not in readable:
                continue
        values[f.name] = stored[f.name]
    return values


def probe(world: World, subject: Subject, obj: ObjectDef) -> dict[str, Any]:
    """A harmless change the subject may make to any record of ``obj`` (empty if none)."""
    eff = world.effective(subject)
    writable = [
        f
        for f in obj.fields.values()
        if f.name not in eff.unwritable_in(obj) and not f.is_computed and not f.unique and not f.pattern
    ]
    for f in writable:
        if f.type in MARKABLE and not f.encrypted:
            return {f.name: f"matrix probe of {subject}"}
    for f in writable:
        if f.type == "integer" and (f.min or 0) <= 2 <= (f.max or 2):
            return {f.name: 2}
    return {}


def case_world(worlds, name: str, subject: Subject) -> World:
    world = worlds(name)
    world.user(subject)  # a clear failure when a role has no demo user
    return world


# --- reads -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_reads_return_exactly_the_records_in_scope(worlds, name, subject, obj):
    world = case_world(worlds, name, subject)
    crm, eff = world.crm_for(subject), world.effective(subject)
    every = [r.id for r in world.rows[obj]]
    in_scope = world.scope_ids(subject, obj, "read")
    live = world.scope_ids(subject, obj, "read", archived=False)
    log = crm.schema.system["sys_access_log"]
    reads = (
        sa.select(sa.func.count())
        .select_from(log)
        .where(log.c.username == subject.username, log.c.object == obj, log.c.action == "read")
    )
    with crm.engine.connect() as conn:
        logged_before = conn.execute(reads).scalar_one()

    with crm.session(subject.username) as s:
        records = s.query(obj).all()
        assert ids(records) == live
        for record in records:
            check_record(world, subject, record, "query")
        assert s.query(obj).count() == len(live)
        page = s.query(obj).page(1, 500)
        assert (ids(page), page.total) == (live, len(live))
        archived = s.query(obj).include_archived().all()
        assert ids(archived) == in_scope
        for record in archived:
            check_record(world, subject, record, "query(include_archived)")
        for record_id in every:
            if record_id in in_scope:
                record = s.get(obj, record_id)
                assert record.id == record_id
                check_record(world, subject, record, "get")
            else:
                with pytest.raises(NotFound):
                    s.get(obj, record_id)
        with pytest.raises(NotFound):
            s.get(obj, max(every) + 1000)
        titles = s.titles(obj, every)
        assert set(titles) == (set(every) if eff.lookup_titles else set(in_scope))
        secrets = [m for (o, _), by_id in world.markers.items() if o == obj for m in by_id.values()]
        assert not [t for t in titles.values() if any(m in t for m in secrets)]
        if eff.grants[obj].export:
            exported = s.export(obj)
            assert ids(exported) == live
            for record in exported:
                check_record(world, subject, record, "export")
        else:
            with pytest.raises(PermissionDenied):
                s.export(obj)

    with crm.engine.connect() as conn:
        logged = conn.execute(reads).scalar_one() - logged_before
    assert logged == (len(in_scope) if world.config.objects[obj].audit_reads else 0)


#: Ways to use a field in a query; each must be refused for a hidden field.
HIDDEN_FIELD_QUERIES = {
    "filter": lambda query, name, value: query.filter(**{name: value}),
    "filter isnull": lambda query, name, value: query.filter(**{f"{name}__isnull": False}),
    "filter in": lambda query, name, value: query.filter(**{f"{name}__in": [value]}),
    "sort": lambda query, name, value: query.order_by(name),
    "sort descending": lambda query, name, value: query.order_by(f"-{name}"),
}


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_hidden_fields_cannot_be_filtered_sorted_or_searched(worlds, name, subject, obj):
    world = case_world(worlds, name, subject)
    crm, eff = world.crm_for(subject), world.effective(subject)
    definition = world.config.objects[obj]
    live = set(world.scope_ids(subject, obj, "read", archived=False))
    with crm.session(subject.username) as s:
        for hidden in eff.hidden_in(definition):
            value = writable_sample(world, definition, hidden)
            for what, refine in HIDDEN_FIELD_QUERIES.items():
                with pytest.raises(QueryError):
                    refine(s.query(obj), hidden, value).all()
                    pytest.fail(f"{what} on hidden {obj}.{hidden} was accepted")
        for (marked_object, marked_field), by_id in world.markers.items():
            if marked_object != obj:
                continue
            visible = (obj, marked_field) not in eff.hidden
            for record_id, marker in list(by_id.items())[:4]:
                found = ids(s.query(obj).search(marker).all())
                expected = [record_id] if visible and record_id in live else []
                assert found == expected, f"search for the value of {obj}.{marked_field} of record {record_id}"


# --- writes ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_create_is_refused_without_the_right_and_never_gives_records_away(worlds, name, subject, obj):
    world = case_world(worlds, name, subject)
    crm, eff, user = world.crm_for(subject), world.effective(subject), world.user(subject)
    definition = world.config.objects[obj]
    grant = eff.grants[obj]
    values = create_values(world, subject, definition)

    with crm.session(subject.username) as s, s.duplicates_allowed():  # the same values again
        before = footprint(world, s.connection, obj)
        if not grant.create:
            for attempt in (values, {**values, "owner_id": user.id}):
                with pytest.raises(PermissionDenied):
                    s.create(obj, attempt)
                assert footprint(world, s.connection, obj) == before
            return
        for field_name in eff.unwritable_in(definition):
            with pytest.raises(ValidationFailed) as refused:
                s.create(obj, {**values, field_name: writable_sample(world, definition, field_name)})
            assert "read_only" in codes(refused.value).get(field_name, []), codes(refused.value)
            assert footprint(world, s.connection, obj) == before
        if not grant.reassign:
            for owner in world.outsiders(subject, obj, "edit"):
                with pytest.raises(ValidationFailed) as refused:
                    created = s.create(obj, {**values, "owner_id": owner})
                    pytest.fail(f"{subject} gave a new {obj} to owner {owner} outside their edit scope: {created}")
                assert codes(refused.value) == {"owner_id": ["reassign_not_allowed"]}, f"owner {owner}"
                assert footprint(world, s.connection, obj) == before
        with pytest.raises(ValidationFailed) as refused:
            s.create(obj, {**values, "owner_id": world.ghost})
        assert codes(refused.value) == {"owner_id": ["not_found"]}
        assert footprint(world, s.connection, obj) == before

    with pytest.raises(Rollback), crm.session(subject.username) as s, s.duplicates_allowed():
        record = s.create(obj, values)
        assert record["owner_id"] == user.id
        check_record(world, subject, record, "create")
        if grant.reassign:
            for owner in world.outsiders(subject, obj, "edit"):
                given = s.create(obj, {**values, "owner_id": owner})
                assert given["owner_id"] == owner
                check_record(world, subject, given, "create for another owner")
        raise Rollback
    with crm.engine.connect() as conn:
        assert footprint(world, conn, obj) == before


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_update_is_refused_outside_the_edit_scope_and_on_protected_fields(worlds, name, subject, obj):
    world = case_world(worlds, name, subject)
    crm, eff = world.crm_for(subject), world.effective(subject)
    definition = world.config.objects[obj]
    grant = eff.grants[obj]
    readable = set(world.scope_ids(subject, obj, "read"))
    editable = set(world.scope_ids(subject, obj, "edit")) & readable
    change = probe(world, subject, definition)
    targets = [r.id for r in world.rows[obj] if r.kind in ("anchor", "archived")]

    with crm.session(subject.username) as s, s.duplicates_allowed():
        for record_id in targets:
            before = footprint(world, s.connection, obj, record_id)
            if record_id not in readable:
                with pytest.raises(NotFound):
                    s.update(obj, record_id, change)
            elif record_id not in editable:
                with pytest.raises(PermissionDenied):
                    s.update(obj, record_id, change)
            else:
                for field_name in eff.unwritable_in(definition):
                    with pytest.raises(ValidationFailed) as refused:
                        s.update(obj, record_id, {field_name: writable_sample(world, definition, field_name)})
                    assert "read_only" in codes(refused.value).get(field_name, []), codes(refused.value)
                    assert footprint(world, s.connection, obj, record_id) == before
                if not grant.reassign:
                    for owner in world.outsiders(subject, obj, "edit"):
                        with pytest.raises(ValidationFailed) as refused:
                            s.update(obj, record_id, {"owner_id": owner})
                        assert codes(refused.value) == {"owner_id": ["reassign_not_allowed"]}, f"owner {owner}"
                with pytest.raises(ValidationFailed) as refused:
                    s.update(obj, record_id, {"owner_id": world.ghost})
                assert codes(refused.value) == {"owner_id": ["not_found"]}
            assert footprint(world, s.connection, obj, record_id) == before, f"{obj} {record_id}"

    if not editable:
        return
    with crm.engine.connect() as conn:
        before = footprint(world, conn, obj)
    with pytest.raises(Rollback), crm.session(subject.username) as s, s.duplicates_allowed():
        outsiders = world.outsiders(subject, obj, "edit")
        for index, record_id in enumerate(sorted(editable & set(targets))):
            if change:
                changed = s.update(obj, record_id, change)
                assert all(changed[k] == v for k, v in change.items())
                assert set(changed) == world.expected_keys(subject, obj)
            if grant.reassign and outsiders:
                # Given away, the record may leave the read scope: one give-away per record.
                owner = outsiders[index % len(outsiders)]
                given = s.update(obj, record_id, {"owner_id": owner})
                assert given["owner_id"] == owner
                assert set(given) == world.expected_keys(subject, obj)
        raise Rollback
    with crm.engine.connect() as conn:
        assert footprint(world, conn, obj) == before


@pytest.mark.parametrize(("name", "subject", "obj"), CASES)
def test_delete_is_refused_outside_the_delete_scope(worlds, name, subject, obj):
    world = case_world(worlds, name, subject)
    crm = world.crm_for(subject)
    readable = set(world.scope_ids(subject, obj, "read"))
    deletable = set(world.scope_ids(subject, obj, "delete")) & readable
    with crm.session(subject.username) as s:
        for row in world.rows[obj]:
            if row.id in deletable:
                continue
            before = footprint(world, s.connection, obj, row.id)
            with pytest.raises(NotFound if row.id not in readable else PermissionDenied):
                s.delete(obj, row.id)
            assert footprint(world, s.connection, obj, row.id) == before, f"{obj} {row.id}"

    free = sorted(r.id for r in world.rows[obj] if r.kind == "free" and r.id in deletable)
    if not free:
        return
    with crm.engine.connect() as conn:
        before = footprint(world, conn, obj)
    guarded = bool(crm.config.approval_rules(obj, "delete"))  # S33: deleting waits for approval
    with pytest.raises(Rollback), crm.session(subject.username) as s:
        for record_id in free:
            pending = s.delete(obj, record_id)
            if guarded:
                assert pending is not None and pending.status == "pending", f"{obj} {record_id}"
                assert s.get(obj, record_id).id == record_id
                continue
            assert pending is None
            with pytest.raises(NotFound):
                s.get(obj, record_id)
        raise Rollback
    with crm.engine.connect() as conn:
        assert footprint(world, conn, obj) == before


# --- the timeline (S25) -----------------------------------------------------------------

SUBJECT_CASES = [
    pytest.param(name, subject, id=f"{name}-{subject}")
    for name, config in SAMPLES.items()
    for subject in _subjects(config)
]


@pytest.mark.parametrize(("name", "subject"), SUBJECT_CASES)
def test_the_timeline_shows_exactly_the_activities_and_tasks_in_scope(worlds, name, subject):
    """For every record of every timeline object: NotFound outside the read scope; inside it,
    exactly the (unarchived) activities and tasks pointing at it that the subject may read,
    without hidden fields."""
    from engine.runtime.workflow import timeline

    world = case_world(worlds, name, subject)
    crm, eff = world.crm_for(subject), world.effective(subject)
    config = world.config
    for obj in (o.name for o in config.objects.values() if o.timeline):
        readable = set(world.scope_ids(subject, obj, "read"))
        sources = [
            (source, [f for f in lookups if (source.name, f) not in eff.hidden])
            for source, _, lookups in timeline.attached_objects(config, obj)
        ]
        with crm.session(subject.username) as s:
            for row in world.rows[obj]:
                if row.id not in readable:
                    with pytest.raises(NotFound):
                        timeline.timeline(s, obj, row.id)
                    continue
                expected = {
                    (source.name, r)
                    for source, lookups in sources
                    for r in world.scope_ids(subject, source.name, "read", archived=False)
                    if any(world.snapshot[source.name][r][f] == row.id for f in lookups)
                }
                found = timeline.timeline(s, obj, row.id, per_page=100)
                assert {(e.object, e.record.id) for e in found.entries} == expected, f"{obj} {row.id}"
                assert found.total == len(expected)
                for entry in found.entries:
                    check_record(world, subject, entry.record, f"timeline of {obj} {row.id}")


# --- the sample roles are the scenarios' roles ------------------------------------------

#: S31/S34 as a table: read/edit/delete scope and flags (c = create, e = export,
#: r = reassign, i = import) of each role on each template object.
S31 = """
object       sales_rep        sales_manager          executive         finance            service_agent      admin
account      own/own/none:c   team/team/team:cer     all/none/none:e   all/none/none:e    all/none/none:-    all/all/all:ceri
contact      own/own/none:c   team/team/team:cer     all/none/none:e   none/none/none:-   all/none/none:-    all/all/all:ceri
lead         own/own/own:c    team/team/team:cer     all/none/none:e   none/none/none:-   none/none/none:-   all/all/all:ceri
opportunity  own/own/none:c   team/team/team:cer     all/none/none:e   all/none/none:e    none/none/none:-   all/all/all:ceri
interaction  own/own/none:c   team/team/team:cer     all/none/none:e   none/none/none:-   none/none/none:-   all/all/all:ceri
task         own/own/own:c    team/team/team:cer     all/none/none:e   none/none/none:-   own/own/own:c      all/all/all:ceri
ticket       own/none/none:-  team/none/none:-       all/none/none:e   none/none/none:-   team/team/none:c   all/all/all:ceri
"""
#: What each sample changes in that table.
S31_OVERRIDES = {
    "sample_saas": {("service_agent", "interaction"): "team/own/none:c"},
    "sample_retail": {
        ("sales_rep", "sales_order"): "own/own/none:c",
        ("sales_manager", "sales_order"): "team/team/none:cer",
        ("executive", "sales_order"): "all/none/none:e",
        ("finance", "sales_order"): "all/none/none:e",
        ("service_agent", "sales_order"): "all/none/none:-",
        ("admin", "sales_order"): "all/all/all:ceri",
    },
}


# --- reports (issue 15) ------------------------------------------------------------------


def _report_reads(obj: ObjectDef, measure: ReportMeasure) -> set[str]:
    """The fields a report measure reads (a weighted sum reads the stage too)."""
    names = {measure.field, *(key.partition("__")[0] for key in measure.where)} - {None}
    if measure.kind == "weighted" and obj.pipeline is not None:
        names.add(obj.pipeline.field)
    return names  # type: ignore[return-value]


def _moved_in_period(session: Any, obj: ObjectDef, report: Any) -> set[int]:
    """The records a funnel (or a cycle time) may count for anyone: those entering a stage of
    the object's pipeline or a lost one (a closed one) in the report's period, read from the
    stage history directly."""
    assert obj.pipeline is not None
    history = session.schema.system["sys_stage_history"]
    every = obj.pipeline.all_stages()
    if report.kind == "cycle_time":
        stages = [st.key for st in every if st.is_closed]
    else:
        stages = [st.key for st in obj.pipeline.main_line] + [st.key for st in every if st.outcome == "lost"]
    statement = sa.select(history.c.record_id).where(history.c.object == obj.name, history.c.to_stage.in_(stages))
    period = report.filter.get(report.period_field)
    if period is not None:
        clock = session.clock()
        start, end = periods.period_range(period, clock.today())
        statement = statement.where(
            history.c.at >= periods.local_midnight(start, clock.timezone),
            history.c.at < periods.local_midnight(end, clock.timezone),
        )
    return {row.record_id for row in session.connection.execute(statement)}


@pytest.mark.parametrize(("name", "subject"), SUBJECT_CASES)
def test_reports_count_only_records_in_scope_and_never_a_hidden_field(worlds, name, subject):
    """Every report of the sample: not found for whom may not open it (no read grant, not one
    of its roles); else its records are the subject's (its list lies inside their read scope
    and its count is that list's; a funnel or cycle time counts exactly the records in scope that
    moved (closed) in its period), a report grouping or filtering by a hidden field is refused,
    and exactly the measures reading a hidden field are left out."""
    world = case_world(worlds, name, subject)
    crm, eff, user = world.crm_for(subject), world.effective(subject), world.user(subject)
    with crm.session(subject.username) as s:
        for report in crm.config.reports.values():
            obj = crm.config.objects[report.object]
            if eff.grants[obj.name].read == "none" or (report.roles and not set(report.roles) & set(user.roles)):
                with pytest.raises(reports.ReportNotFound):
                    reports.run(s, report.name)
                continue
            hidden = set(eff.hidden_in(obj))
            core = {g.field for g in report.group_by} | {key.partition("__")[0] for key in report.filter}
            if report.kind in ("funnel", "cycle_time", "forecast") and obj.pipeline is not None:
                core.add(obj.pipeline.field)
            if report.kind == "forecast":
                core |= {report.amount, report.period_field}
            if report.kind == "conversion":
                core |= {key.partition("__")[0] for key in crm.config.conversions[report.conversion].mark}
            if hidden & core or (report.fields and set(report.fields) <= hidden):
                with pytest.raises(reports.ReportRefused):
                    reports.run(s, report.name)
                continue
            result = reports.run(s, report.name)
            if report.kind in ("funnel", "cycle_time"):
                moved = _moved_in_period(s, obj, report)
                inside = moved & set(world.scope_ids(subject, obj.name, "read", archived=False))
                figure = result.total.figures[0]  # entered (a funnel), closed (a cycle time)
                assert figure.value == len(inside), report.name
                continue
            in_scope = set(world.scope_ids(subject, obj.name, "read", archived=False))
            if report.kind in ("forecast", "conversion"):  # every count is its list's, inside the scope
                for figure in (f for f in result.total.figures if f.filter is not None and isinstance(f.value, int)):
                    found = ids(listparams.parse(dict(figure.filter)).apply(s.query(obj.name)).all())
                    assert set(found) <= in_scope and figure.value == len(found), (report.name, figure.measure)
                if report.kind == "conversion":
                    conversion = crm.config.conversions[report.conversion]
                    left_out = {
                        f"to_{t}"
                        for t, link in conversion.links.items()
                        if eff.grants[conversion.target(t).object].read == "none" or link in hidden
                    }
                    assert set(result.left_out) == left_out, report.name
                continue
            listed = ids(listparams.parse(dict(result.params)).apply(s.query(obj.name)).all())
            assert set(listed) <= in_scope, report.name
            assert result.total.figure("count").value == len(listed), report.name
            left_out = {m.key for m in report.measures if _report_reads(obj, m) & hidden}
            if report.kind == "completeness":  # a fill rate per field: a hidden field's is left out
                left_out = {f"filled_{n}" for n in report.fields if n in hidden}
            assert set(result.left_out) == left_out, report.name


def s31_table(name: str) -> dict[tuple[str, str], str]:
    lines = [line.split() for line in S31.strip().splitlines()]
    roles = lines[0][1:]
    table = {(role, line[0]): cell for line in lines[1:] for role, cell in zip(roles, line[1:], strict=True)}
    return table | S31_OVERRIDES[name]


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_sample_roles_are_the_roles_of_s31_s32_s34(name):
    config = SAMPLES[name]
    table = s31_table(name)
    assert set(config.roles) == {role for role, _ in table}
    for (role, obj), cell in table.items():
        grant = config.roles[role].grant(obj)
        flags = (
            "".join(
                letter
                for letter, on in (
                    ("c", grant.create),
                    ("e", grant.export),
                    ("r", grant.reassign),
                    ("i", grant.import_),
                )
                if on
            )
            or "-"
        )
        assert f"{grant.read}/{grant.edit}/{grant.delete}:{flags}" == cell, f"{role} on {obj}"
    # S32: the ID-card number is visible to admin and service agents only, stored encrypted;
    # phone numbers are visible to every role.
    sees_id_number = {r.name for r in config.roles.values() if ("contact", "id_number") not in r.hidden}
    assert sees_id_number == {"admin", "service_agent"}
    assert config.objects["contact"].fields["id_number"].encrypted
    phones = {(o.name, f.name) for o in config.objects.values() for f in o.fields.values() if f.type == "phone"}
    assert not [(r.name, p) for r in config.roles.values() for p in phones if p in r.hidden]
    # S31: finance sees money, not the sales conversation.
    finance = config.roles["finance"]
    assert {("opportunity", f) for f in ("amount", "unit_price", "quantity", "budget", "stage")}.isdisjoint(
        finance.hidden
    )
    assert {
        ("opportunity", f) for f in ("needs_analysis", "competitor", "competitor_strengths", "competitor_weaknesses")
    } <= finance.hidden
    # S34: only managers (and above) export contact details.
    assert {r.name for r in config.roles.values() if r.grant("contact").export} == {
        "sales_manager",
        "executive",
        "admin",
    }
    # Named permissions and field rules.
    assert {"approve", "skip_stage", "assign"} <= config.roles["sales_manager"].permissions
    assert {"manage_users", "view_audit", "manage_config", "approve", "skip_stage"} <= config.roles["admin"].permissions
    assert "view_audit" in config.roles["executive"].permissions
    assert config.roles["sales_rep"].read_only == {("lead", "score")}
    assert config.roles["sales_manager"].read_only == frozenset()
    # S35 and S36–S37.
    assert config.objects["contact"].audit_reads
    security = config.settings.security
    assert (security.lockout_attempts, security.lockout_minutes, security.password_min_length) == (5, 15, 10)


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_role_has_a_demo_user(name):
    demo_roles = {role for user in demo.DEMO_USERS for role in user.roles}
    assert set(SAMPLES[name].roles) <= demo_roles


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_after_the_matrix_the_id_numbers_are_encrypted_and_the_audit_chain_holds(worlds, name):
    world = worlds(name)
    table = world.crm.schema.table("contact")
    sealed = audit.seal(world.crm.engine, world.crm.schema)
    with world.crm.engine.connect() as conn:
        stored = [row.id_number for row in conn.execute(sa.select(table.c.id_number))]
        report = audit.verify(conn, world.crm.schema)
        assert report.ok and report.checked == sealed.head_seq > 0 and report.unsealed == 0
    plain = {r["id_number"] for r in world.snapshot["contact"].values()}
    assert stored and not set(stored) & plain
    for obj, rows in world.rows.items():
        with world.crm.session() as s:
            assert ids(s.query(obj).include_archived().all()) == [r.id for r in rows], obj
