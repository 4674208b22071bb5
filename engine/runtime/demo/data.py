"""Demo users and realistic sample data for any config, written through the one write path.

``load_demo_users`` creates teams and one or more users per role of the sample
configs (S31) in a manager hierarchy, all with the documented password
``DEMO_PASSWORD`` — for local use only (docs/demo.md). Users whose roles the
config does not declare are skipped; existing users are kept as they are.

``load_demo_data`` reads the config: it fills every field by its type (and, for
well-known field names such as ``name``, ``email`` or ``birthday``, with
plausible Chinese and English values), picks valid picklist values (children
that belong to their parent in dependent picklists), points lookups at records
it created before (preferably records of the same owner), and lets the write
path validate everything. A value a rule refuses is dropped and the record
retried, so the data respects every rule. Records are owned in turn by the demo
users who work with that object (reps, managers, service agents), so that the
record scopes of the roles show.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.metadata.campaigns import CAMPAIGN_OBJECT
from engine.metadata.model import NO_GRANT, Config, FieldDef, ObjectDef, ObjectGrant
from engine.runtime.demo import converting, journey
from engine.runtime.demo.people import person_name, person_parts
from engine.runtime.demo.story import Story, creation_moment, place_in_time, refine
from engine.runtime.errors import ValidationFailed
from engine.runtime.security import crypto

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session

#: The password of every demo user. FOR LOCAL USE ONLY: it is published in docs/demo.md.
DEMO_PASSWORD = "demo-Passw0rd!"
#: Name of the file ``trellis demo`` keeps a generated secret key in (see ``ensure_secret_key``).
KEY_FILE_NAME = ".trellis-secret-key"


@dataclass(frozen=True)
class DemoTeam:
    """A team of the demo company."""

    name: str
    label: str


@dataclass(frozen=True)
class DemoUser:
    """A demo user: roles of the sample configs, team and manager (by user name)."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    team: str | None
    manager: str | None


DEMO_TEAMS: tuple[DemoTeam, ...] = (
    DemoTeam("hq", "Head office 总部"),
    DemoTeam("east", "Sales East China 华东销售"),
    DemoTeam("south", "Sales South China 华南销售"),
    DemoTeam("service", "Customer service 客服中心"),
    DemoTeam("after_sales", "After-sales engineers 售后工程师"),
)

#: The demo users, managers before the people who report to them.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("emma", "Emma Liu 刘艾玛", ("executive",), "hq", None),
    DemoUser("mike", "Mike Wang 王明", ("sales_manager",), "east", "emma"),
    DemoUser("alice", "Alice Zhang 张爱丽", ("sales_rep",), "east", "mike"),
    DemoUser("bob", "Bob Li 李波", ("sales_rep",), "east", "mike"),
    DemoUser("sara", "Sara Chen 陈莎", ("sales_manager",), "south", "emma"),
    DemoUser("carol", "Carol Huang 黄卡罗", ("sales_rep",), "south", "sara"),
    DemoUser("dave", "Dave Zhou 周大卫", ("sales_rep",), "south", "sara"),
    DemoUser("sam", "Sam Wu 吴山", ("service_agent",), "service", "emma"),
    DemoUser("tina", "Tina Xu 徐婷", ("service_agent",), "service", "sam"),
    DemoUser("kevin", "Kevin Ma 马凯文", ("service_agent",), "after_sales", "sam"),
    DemoUser("fiona", "Fiona Sun 孙菲", ("finance",), "hq", "emma"),
    DemoUser("adam", "Adam Zhao 赵亚当", ("admin",), "hq", None),
)


@dataclass(frozen=True)
class DemoLogin:
    """A demo user as reported by ``trellis demo``: created now, or kept from an earlier run."""

    username: str
    display_name: str | None
    roles: tuple[str, ...]
    team: str | None
    manager: str | None
    created: bool


@dataclass(frozen=True)
class SecretKeyNotice:
    """What ``ensure_secret_key`` did: generated a key file, or reused one."""

    path: Path
    generated: bool


COMPANIES = [
    "华东精密机械有限公司",
    "Northwind Analytics",
    "云帆软件科技",
    "Blue Harbor Retail",
    "深圳启明电子",
    "Contoso Manufacturing",
    "杭州青禾电商",
    "Fabrikam Logistics",
    "北京博远教育科技",
    "Tailspin Health",
    "成都天府金融服务",
    "Litware Gaming",
    "苏州恒通汽车零部件",
    "Adatum Insurance",
    "广州星辰零售连锁",
    "Proseware Systems",
    "上海锦程物流",
    "Wide World Importers",
    "南京云图数据",
    "Lucerne Publishing",
]
TITLES = ["采购经理", "IT Director", "总经理", "CFO", "运营总监", "Head of Sales", "技术负责人", "Office Manager"]
SENTENCES = [
    "客户希望在下季度上线，预算已初步批准。",
    "Needs a CRM integration with their ERP; decision expected next month.",
    "对方关注数据安全和本地化部署。",
    "Asked for a demo for the regional sales team.",
    "竞争对手报价低 10%，但服务响应慢。",
    "Follow up with the procurement department about the contract terms.",
]
STREETS = [
    "浦东新区张江路 88 号",
    "海淀区中关村大街 1 号",
    "1 Harbour Road",
    "天河区珠江新城华夏路 10 号",
    "221B Baker Street",
]
TAGS = ["high value", "potential", "churn risk", "VIP", "重点客户"]
TASK_SUBJECTS = [
    "回访客户确认需求",
    "Send the quote",
    "准备方案演示",
    "Call back about the contract terms",
    "发送产品资料",
    "Schedule an on-site visit",
    "跟进付款进度",
    "Confirm the delivery date",
]


def ensure_secret_key(
    config: Config, db_url: str, directory: str | os.PathLike[str] | None = None
) -> SecretKeyNotice | None:
    """Make the demo work out of the box when the config encrypts fields but no key is set.

    Nothing happens when ``TRELLIS_SECRET_KEY`` or ``TRELLIS_SECRET_KEY_FILE`` is set or no
    field is encrypted. Otherwise the key file ``.trellis-secret-key`` next to the SQLite
    database (else in ``directory`` or the current directory) is reused, or created with a
    new key (readable by its owner only), and ``TRELLIS_SECRET_KEY_FILE`` is set for this
    process. The caller tells the user how to reuse it.
    """
    if os.environ.get("TRELLIS_SECRET_KEY") or os.environ.get("TRELLIS_SECRET_KEY_FILE"):
        return None
    if not any(f.encrypted for o in config.objects.values() for f in o.fields.values()):
        return None
    path = (_database_folder(db_url) or Path(directory or os.getcwd())).resolve() / KEY_FILE_NAME
    generated = not path.exists()
    if generated:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(crypto.generate_key() + "\n")
    os.environ["TRELLIS_SECRET_KEY_FILE"] = str(path)
    return SecretKeyNotice(path, generated)


def _database_folder(db_url: str) -> Path | None:
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve().parent


def load_demo_users(crm: Runtime, password: str = DEMO_PASSWORD) -> list[DemoLogin]:
    """Create the demo teams and users whose roles the config declares (idempotent:
    existing teams and users are kept unchanged); returns every demo user present."""
    wanted = [u for u in DEMO_USERS if all(r in crm.config.roles for r in u.roles)]
    logins: list[DemoLogin] = []
    with crm.directory() as directory:
        teams = {t.name for t in directory.list_teams()}
        existing = {u.username: u for u in directory.list()}
        for team in DEMO_TEAMS:
            if team.name not in teams and any(u.team == team.name for u in wanted):
                directory.add_team(team.name, team.label)
        for demo in wanted:
            user = existing.get(demo.username)
            created = user is None
            if user is None:
                user = directory.add(
                    demo.username,
                    roles=list(demo.roles),
                    password=password,
                    display_name=demo.display_name,
                    team=demo.team,
                    manager=demo.manager if demo.manager in existing else None,
                    email=f"{demo.username}@example.com",
                )
                existing[demo.username] = user
            logins.append(DemoLogin(user.username, user.display_name, user.roles, user.team, user.manager, created))
    return logins


def load_demo_data(crm: Runtime, per_object: int = 20, seed: int = 7) -> dict[str, int]:
    """Create up to ``per_object`` records per object (fewer if some exist); returns counts.

    Records are owned in turn by the demo users who work with each object (see
    ``demo_owners``); without demo users they have no owner.
    """
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    created: dict[str, dict[int, int | None]] = {}
    fresh: dict[str, dict[int, int | None]] = {}  # created by this call: some are converted
    owners = demo_owners(crm)
    with crm.session(user=None) as session:
        story = Story(session, rng, session.clock().now_utc)
        for obj in _dependency_order(crm.config.objects):
            existing = {r.id: r["owner_id"] for r in session.query(obj.name).all()}
            created[obj.name] = existing
            made = 0
            candidates: list[int | None] = [*owners.get(obj.name, [])] or [None]
            for index in range(len(existing), per_object):
                owner = candidates[index % len(candidates)]
                record_id = create_sample_record(session, obj, index, rng, created, {"owner_id": owner}, story)
                if record_id is not None:
                    created[obj.name][record_id] = owner
                    fresh.setdefault(obj.name, {})[record_id] = owner
                    made += 1
            counts[obj.name] = made
        converting.convert_some(story, fresh, lambda name, field: _form_value(session, name, field, rng, created))
    return counts


def _form_value(
    session: Session, object_name: str, field_name: str, rng: random.Random, created: dict[str, dict[int, int | None]]
) -> Any:
    """A value a person would type for ``field_name`` of a new ``object_name`` record."""
    obj = session.config.objects.get(object_name)
    field = obj.fields.get(field_name) if obj is not None else None
    if obj is None or field is None:
        return None
    return sample_value(obj, field, rng.randint(0, 999), rng, {}, created, session, True)


def demo_owners(crm: Runtime) -> dict[str, list[int]]:
    """Per object, the ids of the demo users who own its sample records: those whose
    roles may create it and read a narrower scope than ``all`` (the people working
    the records, not those overseeing them), in the order of ``DEMO_USERS``."""
    users = crm.schema.system["sys_users"]
    names = [u.username for u in DEMO_USERS]
    with crm.engine.connect() as connection:
        rows = connection.execute(
            sa.select(users.c.id, users.c.username, users.c.roles).where(users.c.username.in_(names))
        ).all()
    by_name = {row.username: row for row in rows}
    owners: dict[str, list[int]] = {}
    for obj in crm.config.objects:
        for name in names:
            row = by_name.get(name)
            if row is None:
                continue
            grant = _grant(crm.config, row.roles or [], obj)
            if grant.create and grant.read in ("own", "team", "subtree"):
                owners.setdefault(obj, []).append(row.id)
    return owners


def _grant(config: Config, roles: list[str], object_name: str) -> ObjectGrant:
    grant = NO_GRANT
    for name in roles:
        if name in config.roles:
            grant = grant.merge(config.roles[name].grant(object_name))
    return grant


def _dependency_order(objects: Any) -> list[ObjectDef]:
    ordered: list[ObjectDef] = []
    pending = dict(objects)
    while pending:
        ready = [
            o
            for o in pending.values()
            if all(f.target not in pending or f.target == o.name for f in o.fields.values() if f.target is not None)
        ]
        for obj in ready or list(pending.values())[:1]:
            ordered.append(obj)
            del pending[obj.name]
    return ordered


def create_sample_record(
    session: Session,
    obj: ObjectDef,
    index: int,
    rng: random.Random,
    created: Mapping[str, Mapping[int, int | None]],
    fixed: Mapping[str, Any] | None = None,
    story: Story | None = None,
) -> int | None:
    """Create one sample record and return its id (None if no valid record could be made).

    ``created`` maps each object to its records' ids and owners (lookups point at
    them, preferably at records of the same owner); ``fixed`` values (e.g.
    ``owner_id``, a lookup) are always used and never dropped. A generated value a
    rule refuses is dropped, then the record is retried with every field filled
    (rules such as "phone or e-mail" need that). With a ``story``
    (``engine.runtime.demo.story``) the values are made consistent and the record is
    created at a moment in the past, after the records it points to."""
    fixed = dict(fixed or {})
    for fill_all in (False, True):
        values: dict[str, Any] = {"owner_id": fixed.get("owner_id")}
        for field in obj.fields.values():
            if field.name in fixed:
                values[field.name] = fixed[field.name]
                continue
            value = sample_value(obj, field, index, rng, values, created, session, fill_all)
            if value is not None:
                values[field.name] = value
        values.update(fixed)
        if obj.pipeline and obj.pipeline.variants and obj.pipeline.field not in fixed:
            # a stage of the pipeline the record's values choose (e.g. by product line)
            values[obj.pipeline.field] = rng.choice([s.key for s in obj.pipeline.for_values(values).stages])
        moment = None
        if story is not None:
            story.fixed = frozenset(fixed)
            refine(story, obj, values, index)
            values.update(fixed)
            moment = creation_moment(story, obj, values)
            place_in_time(story, obj, values, moment)
        values = {
            name: value for name, value in values.items() if value is not None or name == "owner_id" or name in fixed
        }  # emptied by a refiner: left out
        if values["owner_id"] is None and "owner_id" not in fixed:  # a fixed "no owner" stays: no assignment
            del values["owner_id"]
        for _attempt in range(4):
            trip = journey.plan(obj, values, rng) if story is not None and moment is not None else None
            try:
                session.backdate = moment
                if trip is not None:
                    record_id, trip = journey.create_at_start(session, obj, trip)
                else:
                    record_id = session.create(obj.name, values, allow_duplicate=True).id  # no one to warn
                if story is not None and moment is not None:
                    story.born[(obj.name, record_id)] = moment
                    if trip is not None and record_id is not None:
                        end = journey.closing_moment(values, story.now, rng)
                        journey.walk(session, obj, record_id, trip, moment, end, rng)
                return record_id
            except ValidationFailed as exc:
                droppable = [
                    f
                    for f in exc.errors
                    if f in values and f in obj.fields and not obj.fields[f].required and f not in fixed
                ]
                if not droppable:
                    break
                for name in droppable:
                    values.pop(name)
            finally:
                session.backdate = None
    return None


def sample_value(
    obj: ObjectDef,
    field: FieldDef,
    index: int,
    rng: random.Random,
    values: dict[str, Any],
    created: Mapping[str, Mapping[int, int | None]],
    session: Session,
    fill_all: bool = False,
) -> Any:
    """A plausible value for ``field`` (None to leave it empty)."""
    if field.is_computed or field.kind.refers_to_user:
        return None
    if any(c.source == obj.name and field.name in c.links.values() for c in session.config.conversions.values()):
        return None  # what a record was converted into is set by converting it (S12), not made up
    if any(f.object == obj.name and field.name in f.capture.values() for f in session.config.forms.values()):
        return _visit(obj, field, index, session)  # a web form's attribution: only on some records
    if not field.required and not fill_all and rng.random() < 0.1:
        return None
    if obj.name == CAMPAIGN_OBJECT and field.name in ("name", "segment", "template"):
        return _campaign_choice(field, index, session)  # before the type's generator: no random draw
    generator = _BY_TYPE.get(field.type)
    if generator is None:
        return None
    return generator(obj, field, index, rng, values, created, session)


#: Where the sample web visitors came from: (utm_source, utm_medium, utm_campaign, referrer).
VISITS = (
    ("baidu", "cpc", "2026_spring_search", "https://www.baidu.com/"),
    ("wechat", "social", "2026_spring_webinar", "https://mp.weixin.qq.com/"),
    ("newsletter", "email", "2026_03_newsletter", None),
    ("google", "cpc", "2026_spring_search", "https://www.google.com/"),
)


def _visit(obj: ObjectDef, field: FieldDef, index: int, session: Session) -> str | None:
    """What a web form captured into ``field`` for every third sample record (the others came
    another way); no random draw, so the rest of the sample data stays as it was."""
    if index % 3:
        return None
    captures = {
        target: what
        for form in session.config.forms.values()
        if form.object == obj.name
        for what, target in form.capture.items()
    }
    visit = dict(
        zip(("utm_source", "utm_medium", "utm_campaign", "referrer"), VISITS[index // 3 % len(VISITS)], strict=True)
    )
    return visit.get(captures.get(field.name, ""))


#: Names of the sample campaigns (S30); the samples' web forms credit their leads to the first.
CAMPAIGN_NAMES = (
    "2026 Spring webinar",
    "2026 春季新品发布",
    "March newsletter",
    "双十一会员回馈",
    "Customer success stories",
)


def _campaign_choice(field: FieldDef, index: int, session: Session) -> str | None:
    """A sample campaign's name, segment and template: names the config knows (the keys of a
    ``segment`` / ``template`` picklist, or for a text field the config's own names), so that a
    sample campaign can be started as it is. No random draw, so the rest of the sample data
    stays as it was."""
    config = session.config
    if field.name == "name":
        repeat = index // len(CAMPAIGN_NAMES)
        return CAMPAIGN_NAMES[index % len(CAMPAIGN_NAMES)] + (f" ({repeat + 1})" if repeat else "")
    if field.picklist is not None:
        options = sorted(v.key for v in field.picklist.walk() if not v.inactive)
        return options[index % len(options)] if options else None
    if field.name == "segment" and config.segments:
        return sorted(config.segments)[index % len(config.segments)]
    if field.name == "template" and config.templates:
        mailings = sorted(name for name in config.templates if "news" in name) or sorted(config.templates)
        return mailings[index % len(mailings)]
    return None


def _text(obj, field, index, rng, values, created, session) -> str | None:
    name = field.name
    if name in ("first_name", "given_name"):
        return person_parts(rng, index)[1]
    if name in ("last_name", "surname", "family_name"):
        return person_parts(rng, index)[0]
    if name in ("company", "company_name", "account_name") or (
        name == "name" and obj.name in ("account", "customer", "company", "member")
    ):
        return COMPANIES[index % len(COMPANIES)] + ("" if index < len(COMPANIES) else f" {index // len(COMPANIES) + 1}")
    if name == "name" and obj.name in ("contact", "lead", "person"):
        return person_name(rng, index)
    if name in ("title", "job_title", "position"):
        return rng.choice(TITLES)
    if "address" in name or "street" in name:
        return rng.choice(STREETS)
    if obj.task is not None and name == obj.task.subject:
        return TASK_SUBJECTS[index % len(TASK_SUBJECTS)]
    if name == "id_number":
        return f"3101{rng.randint(10, 99)}19{rng.randint(70, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}{rng.randint(100, 999)}{rng.choice('0123456789X')}"
    text = f"{field.label.get('en')} {index + 1}"
    if field.pattern:
        return None
    return text[: field.max_length or 255]


def _textarea(obj, field, index, rng, values, created, session) -> str:
    if "address" in field.name or "street" in field.name:
        return rng.choice(STREETS)
    return rng.choice(SENTENCES)


def _number(obj, field, index, rng, values, created, session) -> Any:
    low = field.min if field.min is not None else 0
    high = field.max if field.max is not None else {"integer": 500, "percent": 30}.get(field.type, 500_000)
    if field.kind.storage == "integer":
        return rng.randint(int(low) if low >= 0 else 0, max(int(high), int(low)))
    raw = rng.uniform(max(float(low), 0.0), float(high))
    return Decimal(str(round(raw, 2)))


def _boolean(obj, field, index, rng, values, created, session) -> bool:
    return rng.random() < 0.5


def _date(obj, field, index, rng, values, created, session) -> dt.date:
    today = session.clock().today()
    if "birth" in field.name:
        return dt.date(rng.randint(1965, 2000), rng.randint(1, 12), rng.randint(1, 28))
    if obj.task is not None and field.name == obj.task.due:  # some overdue, some today, most ahead (S25)
        return today + dt.timedelta(days=rng.choice((-5, -2, -1, 0, 0, 1, 3, 7, 14, 30)))
    if "close" in field.name or "end" in field.name or "due" in field.name or "expir" in field.name:
        return today + dt.timedelta(days=rng.randint(7, 180))
    return today - dt.timedelta(days=rng.randint(0, 365))


def _datetime(obj, field, index, rng, values, created, session) -> dt.datetime:
    if obj.task is not None and field.name == obj.task.remind:  # reminders around now (S25)
        return session.clock().now_utc + dt.timedelta(hours=rng.randint(-48, 120))
    return session.clock().now_utc - dt.timedelta(hours=rng.randint(1, 24 * 90))


def _email(obj, field, index, rng, values, created, session) -> str:
    return f"{obj.name}.{field.name}.{index + 1}@example.com".replace("_", "")


def _phone(obj, field, index, rng, values, created, session) -> str:
    prefix = f"1{rng.choice('3589')}{rng.randint(0, 9)}"
    prefix = {"154": "155", "194": "195"}.get(prefix, prefix)  # no mobile numbers start with these
    return f"+86 {prefix} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def _url(obj, field, index, rng, values, created, session) -> str:
    return f"https://www.example-{obj.name}-{index + 1}.com"


def _picklist(obj, field, index, rng, values, created, session) -> str | None:
    if field.picklist is None:
        return None
    if obj.pipeline and field.name == obj.pipeline.field:
        if obj.pipeline.variants:
            return None  # chosen once the other values are known (create_sample_record)
        return rng.choice([s.key for s in obj.pipeline.stages])
    if field.depends_on:
        parent_value = values.get(field.depends_on)
        parent_field = obj.fields[field.depends_on]
        if parent_value is None:
            return None
        if parent_field.picklist and parent_field.picklist.name == field.picklist.name:
            parent = field.picklist.find(parent_value)
            options = [c.key for c in parent.children if not c.inactive] if parent else []
        else:
            options = [
                v.key for v in field.picklist.walk() if not v.inactive and (not v.parents or parent_value in v.parents)
            ]
        return rng.choice(options) if options else None
    marked = {
        v
        for c in session.config.conversions.values()
        if c.source == obj.name
        for name, v in c.mark.items()
        if name == field.name
    }  # "converted" comes from converting
    options = [v.key for v in field.picklist.values if not v.inactive and v.key not in marked]
    return rng.choice(options) if options else None


def _multi(obj, field, index, rng, values, created, session) -> list[str] | None:
    if field.picklist is None:
        return rng.sample(TAGS, rng.randint(1, 2))
    options = [v.key for v in field.picklist.walk() if not v.inactive]
    return rng.sample(options, min(len(options), rng.randint(1, 2))) if options else None


def _lookup(obj, field, index, rng, values, created, session) -> int | None:
    targets = created.get(field.target) or {}
    owner = values.get("owner_id")
    same_owner = [i for i, o in targets.items() if owner is not None and o == owner]
    choices = same_owner or list(targets)
    return rng.choice(choices) if choices else None


def _file(obj, field, index, rng, values, created, session) -> dict:
    return {"key": f"demo/{obj.name}/{field.name}-{index + 1}.pdf", "name": f"{field.name}-{index + 1}.pdf"}


def _json(obj, field, index, rng, values, created, session) -> dict:
    return {"source": "demo", "index": index + 1}


_BY_TYPE = {
    "text": _text,
    "textarea": _textarea,
    "integer": _number,
    "decimal": _number,
    "currency": _number,
    "percent": _number,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "email": _email,
    "phone": _phone,
    "url": _url,
    "picklist": _picklist,
    "multipicklist": _multi,
    "tags": _multi,
    "lookup": _lookup,
    "file": _file,
    "json": _json,
}
