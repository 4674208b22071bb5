"""Realistic sample data for any config, written through the one write path.

The generator reads the config: it fills every field by its type (and, for
well-known field names such as ``name``, ``email`` or ``birthday``, with
plausible Chinese and English values), picks valid picklist values (children
that belong to their parent in dependent picklists), points lookups at records
it created before, and lets the write path validate everything. A value a rule
refuses is dropped and the record retried, so the data respects every rule.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata.model import FieldDef, ObjectDef
from engine.runtime.errors import ValidationFailed

if TYPE_CHECKING:
    from engine.runtime.records import Session
    from engine.trellis import Trellis

COMPANIES = [
    "华东精密机械有限公司", "Northwind Analytics", "云帆软件科技", "Blue Harbor Retail", "深圳启明电子",
    "Contoso Manufacturing", "杭州青禾电商", "Fabrikam Logistics", "北京博远教育科技", "Tailspin Health",
    "成都天府金融服务", "Litware Gaming", "苏州恒通汽车零部件", "Adatum Insurance", "广州星辰零售连锁",
    "Proseware Systems", "上海锦程物流", "Wide World Importers", "南京云图数据", "Lucerne Publishing",
]
SURNAMES_ZH = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"]
GIVEN_ZH = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰", "婷", "强", "晓明", "丽华"]
FIRST_EN = ["Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sophia", "Mason"]
LAST_EN = ["Smith", "Chen", "Garcia", "Müller", "Johnson", "Tanaka", "Brown", "Wang", "Davis", "Martin"]
TITLES = ["采购经理", "IT Director", "总经理", "CFO", "运营总监", "Head of Sales", "技术负责人", "Office Manager"]
SENTENCES = [
    "客户希望在下季度上线，预算已初步批准。",
    "Needs a CRM integration with their ERP; decision expected next month.",
    "对方关注数据安全和本地化部署。",
    "Asked for a demo for the regional sales team.",
    "竞争对手报价低 10%，但服务响应慢。",
    "Follow up with the procurement department about the contract terms.",
]
STREETS = ["浦东新区张江路 88 号", "海淀区中关村大街 1 号", "1 Harbour Road", "天河区珠江新城华夏路 10 号", "221B Baker Street"]
TAGS = ["high value", "potential", "churn risk", "VIP", "重点客户"]


def load_demo_data(crm: Trellis, per_object: int = 20, seed: int = 7) -> dict[str, int]:
    """Create up to ``per_object`` records per object (fewer if some exist); returns counts."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    created: dict[str, list[int]] = {}
    with crm.session(user=None) as session:
        for obj in _dependency_order(crm.config.objects):
            existing = [r.id for r in session.query(obj.name).all()]
            created[obj.name] = existing
            made = 0
            for index in range(len(existing), per_object):
                record_id = _create_one(session, obj, index, rng, created)
                if record_id is not None:
                    created[obj.name].append(record_id)
                    made += 1
            counts[obj.name] = made
    return counts


def _dependency_order(objects: Any) -> list[ObjectDef]:
    ordered: list[ObjectDef] = []
    pending = dict(objects)
    while pending:
        ready = [o for o in pending.values()
                 if all(f.target not in pending or f.target == o.name for f in o.fields.values() if f.type == "lookup")]
        for obj in ready or list(pending.values())[:1]:
            ordered.append(obj)
            del pending[obj.name]
    return ordered


def _create_one(session: Session, obj: ObjectDef, index: int, rng: random.Random,
                created: dict[str, list[int]]) -> int | None:
    """Create one sample record; a value a rule refuses is dropped, then the record is
    retried with every field filled (rules such as "phone or e-mail" need that)."""
    for fill_all in (False, True):
        values: dict[str, Any] = {}
        for field in obj.fields.values():
            value = sample_value(obj, field, index, rng, values, created, session, fill_all)
            if value is not None:
                values[field.name] = value
        for _attempt in range(4):
            try:
                return session.create(obj.name, values).id
            except ValidationFailed as exc:
                droppable = [f for f in exc.errors if f in values and not obj.fields[f].required]
                if not droppable:
                    break
                for name in droppable:
                    values.pop(name)
    return None


def sample_value(obj: ObjectDef, field: FieldDef, index: int, rng: random.Random, values: dict[str, Any],
                 created: dict[str, list[int]], session: Session, fill_all: bool = False) -> Any:
    """A plausible value for ``field`` (None to leave it empty)."""
    if field.is_computed or field.type == "user":
        return None
    if not field.required and not fill_all and rng.random() < 0.1:
        return None
    generator = _BY_TYPE.get(field.type)
    if generator is None:
        return None
    return generator(obj, field, index, rng, values, created, session)


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    if index % 2 == 0:
        return rng.choice(SURNAMES_ZH), rng.choice(GIVEN_ZH)
    return rng.choice(LAST_EN), rng.choice(FIRST_EN)


def _text(obj, field, index, rng, values, created, session) -> str:
    name = field.name
    if name in ("first_name", "given_name"):
        return _person(rng, index)[1]
    if name in ("last_name", "surname", "family_name"):
        return _person(rng, index)[0]
    if name in ("company", "company_name", "account_name") or (name == "name" and obj.name in ("account", "customer", "company", "member")):
        return COMPANIES[index % len(COMPANIES)] + ("" if index < len(COMPANIES) else f" {index // len(COMPANIES) + 1}")
    if name == "name" and obj.name in ("contact", "lead", "person"):
        last, first = _person(rng, index)
        return f"{last}{first}" if index % 2 == 0 else f"{first} {last}"
    if name in ("title", "job_title", "position"):
        return rng.choice(TITLES)
    if "address" in name or "street" in name:
        return rng.choice(STREETS)
    if name == "id_number":
        return f"3101{rng.randint(10, 99)}19{rng.randint(70, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}{rng.randint(100, 999)}{rng.choice('0123456789X')}"
    text = f"{field.label.get('en')} {index + 1}"
    if field.pattern:
        return None
    return text[: field.max_length or 255]


def _textarea(obj, field, index, rng, values, created, session) -> str:
    return rng.choice(SENTENCES)


def _number(obj, field, index, rng, values, created, session) -> Any:
    low = field.min if field.min is not None else 0
    high = field.max if field.max is not None else {"integer": 500, "percent": 30}.get(field.type, 500_000)
    if field.type == "integer":
        return rng.randint(int(low) if low >= 0 else 0, max(int(high), int(low)))
    raw = rng.uniform(max(float(low), 0.0), float(high))
    return Decimal(str(round(raw, 2)))


def _boolean(obj, field, index, rng, values, created, session) -> bool:
    return rng.random() < 0.5


def _date(obj, field, index, rng, values, created, session) -> dt.date:
    today = session.clock().today()
    if "birth" in field.name:
        return dt.date(rng.randint(1965, 2000), rng.randint(1, 12), rng.randint(1, 28))
    if "close" in field.name or "end" in field.name or "due" in field.name or "expir" in field.name:
        return today + dt.timedelta(days=rng.randint(7, 180))
    return today - dt.timedelta(days=rng.randint(0, 365))


def _datetime(obj, field, index, rng, values, created, session) -> dt.datetime:
    return session.clock().now_utc - dt.timedelta(hours=rng.randint(1, 24 * 90))


def _email(obj, field, index, rng, values, created, session) -> str:
    return f"{obj.name}.{field.name}.{index + 1}@example.com".replace("_", "")


def _phone(obj, field, index, rng, values, created, session) -> str:
    return f"+86 1{rng.choice('3589')}{rng.randint(0, 9)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def _url(obj, field, index, rng, values, created, session) -> str:
    return f"https://www.example-{obj.name}-{index + 1}.com"


def _picklist(obj, field, index, rng, values, created, session) -> str | None:
    if field.picklist is None:
        return None
    if obj.pipeline and field.name == obj.pipeline.field:
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
            options = [v.key for v in field.picklist.walk() if not v.inactive and (not v.parents or parent_value in v.parents)]
        return rng.choice(options) if options else None
    options = [v.key for v in field.picklist.values if not v.inactive]
    return rng.choice(options) if options else None


def _multi(obj, field, index, rng, values, created, session) -> list[str] | None:
    if field.picklist is None:
        return rng.sample(TAGS, rng.randint(1, 2))
    options = [v.key for v in field.picklist.walk() if not v.inactive]
    return rng.sample(options, min(len(options), rng.randint(1, 2))) if options else None


def _lookup(obj, field, index, rng, values, created, session) -> int | None:
    targets = created.get(field.target) or []
    return rng.choice(targets) if targets else None


def _file(obj, field, index, rng, values, created, session) -> dict:
    return {"key": f"demo/{obj.name}/{field.name}-{index + 1}.pdf", "name": f"{field.name}-{index + 1}.pdf"}


def _json(obj, field, index, rng, values, created, session) -> dict:
    return {"source": "demo", "index": index + 1}


_BY_TYPE = {
    "text": _text, "textarea": _textarea, "integer": _number, "decimal": _number, "currency": _number,
    "percent": _number, "boolean": _boolean, "date": _date, "datetime": _datetime, "email": _email,
    "phone": _phone, "url": _url, "picklist": _picklist, "multipicklist": _multi, "tags": _multi,
    "lookup": _lookup, "file": _file, "json": _json,
}
