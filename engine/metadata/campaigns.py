"""Campaigns in the config (issue 16 §3, S30): ``segments:``, the ``campaign`` object, event kinds.

```yaml
segments:
  east_contacts:
    label: {en: East China contacts, zh: 华东联系人}
    object: contact
    filter: {region: east_china, email__isnull: false}
```

A segment is a saved filter over one object in the list's filter language (the same keys
as a report's ``filter``: ``field__op: value``, relative date ranges). A campaign names a
segment; it is read when the campaign starts, through ``Query`` as the campaign's sender,
so a rep's campaign reaches only the records the rep may read. ``email`` names the field
holding the address (default: the object's first e-mail field).

The campaigns themselves are records of the object ``campaign`` (``CAMPAIGN_OBJECT``),
which needs the fields of ``CAMPAIGN_FIELDS`` (``configs/templates/crm_base.yaml`` has it).

Engagement events (``EVENT_KINDS``) are what the tracking records and what an automation
rule ``on: {event: email_clicked}`` listens to.

Codes: T-E230 a segment's unknown object; T-E231 a segment's filter naming an unknown field;
T-E232 a segment's filter with an unknown operator or a value the field cannot take; T-E233 a
segment whose object has no e-mail field, or an ``email`` that is not one; T-E234 an ``event``
trigger naming an unknown event kind; T-E235 a ``campaign`` object lacking a field campaigns
need, or with one of the wrong type, or whose ``segment`` / ``template`` picklist offers a value
naming no segment / template.

A campaign's ``segment`` and ``template`` are picklists whose value keys are names of
``segments:`` and ``templates:`` (a marketing user picks "Contacts with an e-mail" in their
language; the compiler refuses a value that names nothing), or — for configs written before —
text fields holding such a name, checked only when the campaign starts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.filters import OPERATORS, SYSTEM_TYPES, split_key
from engine.metadata.model import FieldDef, Label, ObjectDef, Segment, frozen_map

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: The object whose records are campaigns.
CAMPAIGN_OBJECT = "campaign"
#: The fields a campaign needs, and the field types each may have (the first is the one to declare).
CAMPAIGN_FIELDS: dict[str, tuple[str, ...]] = {
    "segment": ("picklist", "text"),
    "template": ("picklist", "text"),
    "rate": ("text",),
    "status": ("picklist",),
    "start_at": ("datetime",),
}
#: The statuses of a campaign, in order (the values of its ``status`` picklist).
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "sent", "cancelled")

#: The kinds of engagement event (``sys_engagement_events.kind``; ``on: {event: KIND}``).
EVENT_KINDS = (
    "email_opened",
    "email_clicked",
    "email_unsubscribed",
    "email_bounced",
    "email_received",
    "form_submitted",
    "page_visited",
    "custom",
)

_RATE = re.compile(r"^\s*(\d{1,7})\s*/\s*(second|minute|hour|day)\s*$")
_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: Any) -> float | None:
    """Messages per second in a rate such as ``600/hour`` (``N/second|minute|hour|day``, N ≥ 1);
    None when it does not parse."""
    match = _RATE.match(str(text)) if isinstance(text, str) else None
    if not match or int(match.group(1)) < 1:
        return None
    return int(match.group(1)) / _UNIT[match.group(2)]


def email_fields(obj: ObjectDef) -> list[str]:
    """The object's single-address e-mail fields, in config order."""
    return [f.name for f in obj.fields.values() if f.kind.mail_address and not f.kind.list_valued]


def compile_segments(compiler: Compiler, specs: Mapping[str, Any], objects: Mapping[str, ObjectDef]) -> dict:
    """Every entry of ``segments:`` that checks, by name (each problem reported with its code)."""
    from engine.metadata.reports import _Checker as FilterChecker
    from engine.metadata.reports import value_message

    out: dict[str, Segment] = {}
    for name, spec in specs.items():
        path = ("segments", name)
        obj = objects.get(spec["object"])
        if obj is None:
            compiler.issue(
                "T-E230",
                (*path, "object"),
                Words(f"unknown object `{spec['object']}`", f"未知对象 `{spec['object']}`"),
                did_you_mean(spec["object"], objects)
                or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
            )
            continue
        ok = True
        values = FilterChecker(compiler, path, objects, {})
        filters: dict[str, str] = {}
        for key, value in (spec.get("filter") or {}).items():
            where = (*path, "filter", key)
            field, op = split_key(key)
            if field not in obj.fields and field not in SYSTEM_TYPES:
                compiler.issue(
                    "T-E231",
                    where,
                    Words(f"{obj.name} has no field `{field}`", f"{obj.name} 没有字段 `{field}`"),
                    did_you_mean(field, [*obj.fields, *SYSTEM_TYPES])
                    or Words(f"name a field of {obj.name}", f"请指定 {obj.name} 的字段"),
                )
                ok = False
                continue
            if op not in OPERATORS:
                compiler.issue(
                    "T-E232",
                    where,
                    Words(f"unknown operator `{op}` in `{key}`", f"`{key}` 中的运算符 `{op}` 未知"),
                    did_you_mean(op, OPERATORS) or _one_of(OPERATORS),
                )
                ok = False
                continue
            text = _text(value)
            f = obj.fields.get(field) or FieldDef(name=field, type=SYSTEM_TYPES[field], label=Label.of(None, field))
            problem = values.value_problem(f, op, text)
            if problem is not None:
                compiler.issue("T-E232", where, value_message(key, text, problem[0]), problem[1])
                ok = False
                continue
            filters[key] = text
        email = _email_field(compiler, path, spec, obj)
        if ok and email is not None:
            out[name] = Segment(
                name=name,
                object=obj.name,
                filter=frozen_map(filters),
                email=email,
                label=Label.of(spec.get("label"), name.replace("_", " ").capitalize()),
            )
    return out


def _email_field(compiler: Compiler, path: tuple, spec: Mapping[str, Any], obj: ObjectDef) -> str | None:
    known = email_fields(obj)
    declared = spec.get("email")
    if declared is None and known:
        return known[0]
    if declared in known:
        return str(declared)
    if declared is None:
        compiler.issue(
            "T-E233",
            (*path, "object"),
            Words(
                f"{obj.name} has no e-mail field to send a campaign to",
                f"{obj.name} 没有可用于发送营销活动的电子邮件字段",
            ),
            Words(
                "segment an object with an `email` field (contact, lead)",
                "请对带 `email` 字段的对象（contact、lead）建客群",
            ),
        )
    else:
        compiler.issue(
            "T-E233",
            (*path, "email"),
            Words(f"`{declared}` is not an e-mail field of {obj.name}", f"`{declared}` 不是 {obj.name} 的电子邮件字段"),
            did_you_mean(declared, known) or _name_one_of(known),
        )
    return None


def check_campaign_object(
    compiler: Compiler, objects: Mapping[str, ObjectDef], names: Mapping[str, Collection[str]]
) -> None:
    """T-E235: the ``campaign`` object, when declared, has the fields campaigns need, and its
    ``segment`` / ``template`` picklists offer only names of ``names["segment"]`` / ``names["template"]``."""
    obj = objects.get(CAMPAIGN_OBJECT)
    if obj is None:
        return
    for name, wanted in CAMPAIGN_FIELDS.items():
        f = obj.fields.get(name)
        if f is None or f.type not in wanted:
            compiler.issue(
                "T-E235",
                ("objects", CAMPAIGN_OBJECT, "fields", *((name,) if f is not None else ())),
                Words(
                    f"a campaign needs a {' or '.join(wanted)} field `{name}`"
                    + (f", not {_a(f.type)} field" if f else ""),
                    f"营销活动需要 {' 或 '.join(wanted)} 类型的字段 `{name}`"
                    + (f"，而不是 {f.type} 字段" if f else ""),
                ),
                Words(
                    f"declare `{name}: {{type: {wanted[0]}}}` (see configs/templates/crm_base.yaml)",
                    f"请声明 `{name}: {{type: {wanted[0]}}}`（见 configs/templates/crm_base.yaml）",
                ),
            )
    status = obj.fields.get("status")
    picklist = status.picklist if status is not None and status.type == "picklist" else None
    if picklist is not None and not set(CAMPAIGN_STATUSES) <= picklist.keys():
        missing = sorted(set(CAMPAIGN_STATUSES) - picklist.keys())
        compiler.issue(
            "T-E235",
            ("objects", CAMPAIGN_OBJECT, "fields", "status"),
            Words(
                f"a campaign's status needs the values {', '.join(CAMPAIGN_STATUSES)}; {', '.join(missing)} missing",
                f"营销活动的 status 需要这些值：{', '.join(CAMPAIGN_STATUSES)}；缺少 {', '.join(missing)}",
            ),
            Words("add the missing values to the picklist", "请把缺少的值加到选项列表中"),
        )
    for name, known in names.items():
        _check_choices(compiler, obj.fields.get(name), name, known)


def _check_choices(compiler: Compiler, f: FieldDef | None, kind: str, known: Collection[str]) -> None:
    """Each value of the ``segment`` (``template``) picklist names a segment (template)."""
    if f is None or f.type != "picklist" or f.picklist is None:
        return
    spec = compiler.tree["objects"][CAMPAIGN_OBJECT]["fields"][f.name]
    shared = spec.get("picklist") if isinstance(spec.get("picklist"), str) else None
    where = ("picklists", shared) if shared else ("objects", CAMPAIGN_OBJECT, "fields", f.name)
    tree = (compiler.tree.get("picklists") or {}).get(shared) or {} if shared else spec
    section = "segments" if kind == "segment" else "templates"
    kind_zh = "客群" if kind == "segment" else "模板"
    for key, path in _value_paths(tree.get("values") or [], (*where, "values")):
        if key not in known:
            compiler.issue(
                "T-E235",
                path,
                Words(
                    f"the campaign's {kind} `{key}` names no {kind} of `{section}:`",
                    f"营销活动的{kind_zh} `{key}` 不是 `{section}:` 中的任何{kind_zh}",
                ),
                did_you_mean(key, known) or _name_one_of(sorted(known)),
            )


def _value_paths(values: list, path: tuple) -> list[tuple[str, tuple]]:
    """(key, path) of each picklist value, children included, as written."""
    out: list[tuple[str, tuple]] = []
    for i, value in enumerate(values):
        spec: Mapping[str, Any] = {"key": value} if isinstance(value, str) else value
        out.append((str(spec["key"]), (*path, i)))
        out.extend(_value_paths(spec.get("children") or [], (*path, i, "children")))
    return out


def _one_of(names: Collection[str]) -> Words:
    return Words(f"use one of: {', '.join(names)}", f"请使用其中之一：{', '.join(names)}")


def _name_one_of(names: Collection[str]) -> Words:
    listed = ", ".join(names)
    return Words(f"name one of: {listed or '(none)'}", f"请指定其中之一：{listed or '（无）'}")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return "" if value is None else str(value)
