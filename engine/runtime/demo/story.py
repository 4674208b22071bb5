"""Make sample records tell one consistent story (``engine.runtime.demo.data``; docs/demo.md).

``engine.runtime.demo.data`` fills every field by its type; the refiners here then make
records of well-known shapes consistent with each other and with time, for any
config that has those shapes (the samples do):

- **customers**: an individual customer (``customer_type`` individual / member) is
  a person — a person's name, no employees, revenue, credit code or website;
- **deals** (a pipeline object with an ``account`` lookup, e.g. opportunity): the
  name says who buys what and how much ("云帆软件 – CRM 套件 200 席"), the seats and
  the price per seat are round and plausible (the amount formula then multiplies
  them), the discount stays modest, the budget covers the amount, the primary
  contact works at the account, a lost reason (and competitor) only on lost deals,
  closed deals closed in the past and open ones closing ahead;
- **activities and tasks**: about one thing — a lead, or an account with one of its
  contacts and maybe one of its deals (the account is the deal's own);
- **tickets**: a resolution, resolution time and satisfaction only on resolved or
  closed tickets; the first response after the ticket came in, the resolution after it;
- **time**: every record is created at a moment in the past (``Session.backdate``)
  after the records it points to; an activity happened when it was logged.

``SHAPES`` is the registry: (does this object have the shape?, refine its values).
Each refiner gets a ``Story`` and the values about to be written, and changes them
in place. Everything is drawn from the loader's seeded ``random.Random``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.metadata.model import ObjectDef
from engine.runtime.demo.people import person_name

if TYPE_CHECKING:
    from engine.runtime.records.record import Record
    from engine.runtime.records.session import Session

#: Customer types that are people, not companies.
PERSON_TYPES = frozenset({"individual", "member"})
#: Fields a person has no value for.
COMPANY_ONLY = ("employees", "annual_revenue", "credit_code", "website", "industry", "sub_industry")
#: Round prices per seat (or unit) and year.
PRICES = (299, 480, 600, 980, 1200, 1800, 2400, 3600)
#: Seats / units of a deal.
QUANTITIES = (10, 20, 30, 50, 80, 100, 150, 200, 300)
#: Discounts (percent) a rep gives without a long story.
DISCOUNTS = (0, 0, 0, 5, 10, 15)
#: Head counts of companies.
HEADCOUNTS = (12, 35, 80, 150, 300, 800, 2000, 5000)
#: How far back the oldest sample records were created.
HISTORY = dt.timedelta(days=240)


@dataclass
class Story:
    """What the refiners know: the session, the random source, the real now, and when
    each created record came to be (``born``: (object, id) → creation time)."""

    session: Session
    rng: random.Random
    now: dt.datetime
    born: dict[tuple[str, int], dt.datetime] = field(default_factory=dict)
    #: The values of the record being made that the caller fixed (never changed by a refiner).
    fixed: frozenset[str] = frozenset()

    def record(self, object_name: str, record_id: Any) -> Record | None:
        """A created record, read through the read path (as the system)."""
        if record_id is None or object_name not in self.session.config.objects:
            return None
        return self.session.get(object_name, record_id)

    def ids(self, object_name: str, **filters: Any) -> list[int]:
        """The ids of created records of ``object_name`` matching ``filters``."""
        if object_name not in self.session.config.objects:
            return []
        return [r.id for r in self.session.query(object_name).filter(**filters).page(1, 500).items]


Values = MutableMapping[str, Any]


def _has(obj: ObjectDef, *names: str) -> bool:
    return all(n in obj.fields for n in names)


def _lookup_to(obj: ObjectDef, name: str, target: str) -> bool:
    f = obj.fields.get(name)
    return f is not None and f.points_to(target)


# --- customers --------------------------------------------------------------------------------------------
def is_customer(obj: ObjectDef) -> bool:
    """An object with a ``customer_type`` picklist and a ``name`` (account)."""
    return _has(obj, "customer_type", "name")


def refine_customer(story: Story, obj: ObjectDef, values: Values, index: int) -> None:
    """Individuals are people: a person's name, none of a company's figures; companies have
    round head counts and revenue. Where people are the default customer type (a retail
    member), most customers are people."""
    rng = story.rng
    default = obj.fields["customer_type"].default
    if default in PERSON_TYPES and "customer_type" not in story.fixed and rng.random() < 0.7:
        values["customer_type"] = default
    if values.get("customer_type") not in PERSON_TYPES:
        if "employees" in obj.fields:
            values["employees"] = rng.choice(HEADCOUNTS)
            if "annual_revenue" in obj.fields:
                values["annual_revenue"] = Decimal(values["employees"] * rng.choice((15, 30, 60)) * 10_000)
        return
    values["name"] = person_name(story.rng, index)
    for name in COMPANY_ONLY:
        if name in obj.fields and not obj.fields[name].required:
            values[name] = None


# --- deals ---------------------------------------------------------------------------------------------------
def is_deal(obj: ObjectDef) -> bool:
    """A pipeline object with a ``name`` and an ``account`` lookup (opportunity)."""
    return obj.pipeline is not None and _has(obj, "name") and _lookup_to(obj, "account", "account")


def refine_deal(story: Story, obj: ObjectDef, values: Values, index: int) -> None:
    """Name, seats × price, discount, budget, contact, lost reason and dates that agree."""
    assert obj.pipeline is not None, "a deal has a pipeline (is_deal)"
    rng = story.rng
    if "quantity" in obj.fields:
        values["quantity"] = rng.choice(QUANTITIES)
    if "unit_price" in obj.fields:
        values["unit_price"] = Decimal(rng.choice(PRICES))
    if "discount" in obj.fields:
        values["discount"] = Decimal(rng.choice(DISCOUNTS))
        values.pop("discount_reason", None)
    gross = (values.get("unit_price") or 0) * (values.get("quantity") or 0)
    if "budget" in obj.fields and gross:
        values["budget"] = Decimal(int(gross * Decimal("1.2") / 1000 + 1) * 1000)
    account = story.record("account", values.get("account"))
    values["name"] = deal_name(obj, values, account)[: obj.fields["name"].max_length or 200]
    if _lookup_to(obj, "contact", "contact") and account is not None:
        contacts = (
            story.ids("contact", account=account.id)
            if _lookup_to(story.session.object("contact"), "account", "account")
            else []
        )
        values["contact"] = rng.choice(contacts) if contacts else None
    stage = obj.pipeline.for_values(values).stage(values.get(obj.pipeline.field) or "")
    lost = stage is not None and stage.outcome == "lost"
    if "lost_reason" in obj.fields:
        if lost:
            reasons = (
                [v.key for v in obj.fields["lost_reason"].picklist.values if not v.inactive]
                if obj.fields["lost_reason"].picklist
                else []
            )
            values["lost_reason"] = rng.choice(reasons) if reasons else None
        else:
            values["lost_reason"] = None
    if "competitor" in obj.fields:
        against = values.get("lost_reason") == "competitor"
        values["competitor"] = rng.choice(COMPETITORS) if against else None
        for name in ("competitor_strengths", "competitor_weaknesses"):
            if name in obj.fields and not against:
                values[name] = None
    if "close_date" in obj.fields:
        today = story.now.date()
        closed = stage is not None and stage.is_closed
        values["close_date"] = (
            today - dt.timedelta(days=rng.randint(1, 20)) if closed else today + dt.timedelta(days=rng.randint(10, 120))
        )


COMPETITORS = ("销售易", "纷享销客", "Salesforce", "HubSpot", "Zoho CRM")


def deal_name(obj: ObjectDef, values: Mapping[str, Any], account: Mapping[str, Any] | None) -> str:
    """ "<account> – <product> <quantity> <unit>", e.g. "云帆软件 – CRM 套件 200 席"."""
    buyer = str(account.get("name")) if account is not None and account.get("name") else "—"
    product = _label(obj, "product_line", values) or _label(obj, "subscription_plan", values)
    quantity = values.get("quantity")
    unit_label = obj.fields["quantity"].label.get("zh") if "quantity" in obj.fields else ""
    unit = "席" if "席" in unit_label else "件"
    what = product or ("年度订阅" if unit == "席" else "团购")
    return f"{buyer} – {what} {quantity} {unit}" if quantity else f"{buyer} – {what}"


def _label(obj: ObjectDef, name: str, values: Mapping[str, Any]) -> str | None:
    f = obj.fields.get(name)
    if f is None or f.picklist is None or values.get(name) is None:
        return None
    value = f.picklist.find(values[name])
    return value.label.get("zh") if value is not None else None


# --- activities and tasks -------------------------------------------------------------------------------------
def is_about_records(obj: ObjectDef) -> bool:
    """A follow-up or task: ``activity:``/``task:`` objects pointing at accounts or leads."""
    return (obj.activity is not None or obj.task is not None) and (
        _lookup_to(obj, "account", "account") or _lookup_to(obj, "lead", "lead")
    )


def refine_about(story: Story, obj: ObjectDef, values: Values, index: int) -> None:
    """About a lead, or about an account with one of its contacts and maybe one of its deals."""
    rng = story.rng
    deal = (
        story.record("opportunity", values.get("opportunity"))
        if _lookup_to(obj, "opportunity", "opportunity")
        else None
    )
    if deal is not None and deal.get("account") is not None:
        values["account"] = deal["account"]
        values["lead"] = None
    elif values.get("lead") is not None and (values.get("account") is None or rng.random() < 0.3):
        for name in ("account", "contact", "opportunity"):
            values[name] = None
        return
    else:
        values["opportunity"] = None
        values["lead"] = None
    if _lookup_to(obj, "contact", "contact") and values.get("account") is not None:
        contact = story.record("contact", deal.get("contact")) if deal is not None else None
        contacts = [contact.id] if contact is not None else story.ids("contact", account=values["account"])
        values["contact"] = rng.choice(contacts) if contacts else None
    elif "contact" in obj.fields:
        values["contact"] = None
    if "lead" in obj.fields and values.get("account") is not None:
        values["lead"] = None


# --- tickets ------------------------------------------------------------------------------------------------
def is_ticket(obj: ObjectDef) -> bool:
    """A pipeline object with a ``resolution`` (ticket)."""
    return obj.pipeline is not None and "resolution" in obj.fields


def refine_ticket(story: Story, obj: ObjectDef, values: Values, index: int) -> None:
    """A resolution (its time, the satisfaction) only once resolved; the contact is the account's."""
    assert obj.pipeline is not None, "a ticket has a pipeline (is_ticket)"
    stage = obj.pipeline.for_values(values).stage(values.get(obj.pipeline.field) or "")
    resolved = stage is not None and stage.outcome == "won"
    if not resolved:
        for name in ("resolution", "resolved_at", "satisfaction"):
            if name in obj.fields:
                values[name] = None
    elif "resolution" in obj.fields and not values.get("resolution"):
        values["resolution"] = story.rng.choice(RESOLUTIONS)
    if _lookup_to(obj, "contact", "contact") and values.get("account") is not None:
        contacts = story.ids("contact", account=values["account"])
        values["contact"] = story.rng.choice(contacts) if contacts else None


RESOLUTIONS = (
    "已为客户更换新品并确认可正常使用。",
    "Refund issued; the customer confirmed receipt.",
    "远程协助完成配置，问题已解决。",
    "Explained the billing; the customer is satisfied.",
)


#: The registry: (has the shape?, refine the values).
SHAPES: tuple[tuple[Callable[[ObjectDef], bool], Callable[[Story, ObjectDef, Values, int], None]], ...] = (
    (is_customer, refine_customer),
    (is_deal, refine_deal),
    (is_about_records, refine_about),
    (is_ticket, refine_ticket),
)


def refine(story: Story, obj: ObjectDef, values: Values, index: int) -> None:
    """Apply every refiner whose shape ``obj`` has."""
    for applies, refiner in SHAPES:
        if applies(obj):
            refiner(story, obj, values, index)


# --- time -----------------------------------------------------------------------------------------------------
def creation_moment(story: Story, obj: ObjectDef, values: Mapping[str, Any]) -> dt.datetime:
    """When the record came to be: after every record it points to, before now."""
    earliest = story.now - HISTORY
    for f in obj.fields.values():
        if f.target is not None and values.get(f.name) is not None:
            earliest = max(earliest, story.born.get((f.target, values[f.name]), earliest))
    latest = story.now - dt.timedelta(hours=6)
    if earliest >= latest:
        return latest
    span = (latest - earliest).total_seconds()
    return earliest + dt.timedelta(seconds=int(span * story.rng.uniform(0.05, 0.6)))


def place_in_time(story: Story, obj: ObjectDef, values: Values, moment: dt.datetime) -> None:
    """Date-times of the record that agree with its creation at ``moment``: an activity
    happened then; a ticket's first response and resolution follow it; other past
    date-times lie before it."""
    rng = story.rng
    for f in obj.fields.values():
        if f.kind.storage != "datetime" or values.get(f.name) is None:
            continue
        if obj.task is not None and f.name == obj.task.remind:
            continue
        if values[f.name] > moment:
            values[f.name] = moment - dt.timedelta(hours=rng.randint(1, 24 * 30))
    if obj.activity is not None and obj.activity.at in obj.fields:
        values[obj.activity.at] = moment
    if "first_response_at" in obj.fields:
        first = moment + dt.timedelta(minutes=rng.randint(10, 300))
        values["first_response_at"] = first if first < story.now else None
        if values.get("resolved_at") is not None or values.get("resolution"):
            resolved = (first + dt.timedelta(hours=rng.randint(1, 72))) if first < story.now else None
            values["resolved_at"] = min(resolved, story.now) if resolved else None
