"""Compiling ``forms:`` (issue 16 §1, S14): public web forms that write records (web-to-lead).

```yaml
forms:
  contact_us:
    object: lead
    label: {en: Contact us, zh: 联系我们}
    fields: [name, company, email, phone, description]
    required: [email]
    values: {source: website_signup, intent_level: medium}
    capture: {utm_source: utm_source, utm_campaign: utm_campaign, referrer: referrer}
    campaign: {field: campaign, value: "2026 Spring webinar"}
    origins: [https://www.example.com]
    on_duplicate: update
```

Checks, each with its code: T-E210 an unknown object; T-E211 an unknown field, or one Trellis
computes; T-E212 a shown field a public form cannot show (a lookup, a user, a file…), shown
twice, or required without being shown; T-E213 a fixed or campaign value that does not fit its
field; T-E214 a field the object requires that the form neither shows, fixes nor defaults (no
submission could be saved); T-E215 a capture or campaign field of a type it cannot hold;
T-E216 an origin that is not ``scheme://host[:port]`` or a redirect that is not an http(s)
address; T-E217 ``on_duplicate: link`` without a ``link_field`` lookup to the same object (or a
``link_field`` without it); T-E218 a rate limit that cannot be read; T-E219 a honeypot named
like an input of the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.metadata.errors import SectionChecker, Words, did_you_mean
from engine.metadata.fieldtypes import FieldValueError, coerce_value
from engine.metadata.model import Label, ObjectDef, WebForm, WebFormSpam, frozen_map

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: What a form can capture of the visit, each into a text field (``capture:``).
CAPTURES = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "landing_page")
#: The widgets a public form shows (``FieldType.widget``); lookups, users, files, JSON and
#: computed fields need a logged-in user or are Trellis's to fill, and a date-time would need
#: the visitor's time zone.
PUBLIC_WIDGETS = frozenset(
    {"text", "textarea", "email", "tel", "url", "number", "money", "percent", "date", "checkbox"}
    | {"select", "multiselect", "tags"}
)
#: Inputs every form page has besides its fields (a honeypot may not take these names).
FORM_INPUTS = frozenset({"_token", "_answer", "lang"})
#: One part of a rate limit in the ``limits`` library's notation: ``5 per minute``, ``100/hour``.
RATE = re.compile(r"^\s*[1-9][0-9]*\s*(?:/|per)\s*(?:[1-9][0-9]*\s+)?(?:second|minute|hour|day|month|year)s?\s*$")


def parse_rate(text: str) -> bool:
    """Whether ``text`` is a rate limit ``limits`` reads (parts joined by ``;``)."""
    parts = [p for p in re.split(r"[;,]", text) if p.strip()]
    return bool(parts) and all(RATE.match(p) for p in parts)


def compile_forms(compiler: Compiler, specs: Mapping[str, Any], objects: Mapping[str, ObjectDef]) -> dict[str, WebForm]:
    """Every entry of ``forms:`` that checks, by name."""
    out: dict[str, WebForm] = {}
    for name, spec in specs.items():
        found = _Checker(compiler, ("forms", name)).form(name, spec, objects)
        if found is not None:
            out[name] = found
    return out


class _Checker(SectionChecker):
    """Checks one form, reporting every issue at once."""

    c: Compiler

    def form(self, name: str, spec: Mapping[str, Any], objects: Mapping[str, ObjectDef]) -> WebForm | None:
        obj = objects.get(spec["object"])
        if obj is None:
            self.issue(
                "T-E210",
                ("object",),
                Words(f"unknown object `{spec['object']}`", f"未知对象 `{spec['object']}`"),
                did_you_mean(spec["object"], objects)
                or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
            )
            return None
        fields = tuple(spec.get("fields") or ())
        self.shown(obj, fields)
        required = tuple(spec.get("required") or ())
        for index, field_name in enumerate(required):
            if self.known(obj, field_name, ("required", index)) and field_name not in fields:
                self.issue(
                    "T-E212",
                    ("required", index),
                    Words(
                        f"`{field_name}` is required but the form does not show it",
                        f"`{field_name}` 为必填，但表单没有显示它",
                    ),
                    Words("add it to `fields`", "把它加到 `fields` 中"),
                )
        values = dict(spec.get("values") or {})
        for field_name, value in values.items():
            self.fits(obj, field_name, value, ("values", field_name))
        capture = dict(spec.get("capture") or {})
        for what, field_name in capture.items():
            self.captures(obj, field_name, ("capture", what))
        campaign = spec.get("campaign")
        if campaign is not None:
            self.campaign(obj, campaign)
        self.complete(obj, fields, values, capture, campaign)
        self.addresses(spec)
        self.duplicates(obj, spec)
        spam = self.spam(spec.get("spam") or {}, fields)
        if not self.ok:
            return None
        return WebForm(
            name=name,
            object=obj.name,
            label=Label.of(spec.get("label"), obj.label.get()),
            fields=fields,
            required=required,
            values=frozen_map(values),
            capture=frozen_map(capture),
            campaign_field=campaign["field"] if campaign else None,
            campaign_value=campaign["value"] if campaign else None,
            user=spec.get("user"),
            intro=Label.of(spec["intro"]) if spec.get("intro") else None,
            thank_you=Label.of(spec["thank_you"]) if spec.get("thank_you") else None,
            redirect=spec.get("redirect"),
            origins=tuple(o.rstrip("/") for o in spec.get("origins") or ()),
            on_duplicate=spec.get("on_duplicate", "update"),
            link_field=spec.get("link_field"),
            spam=spam,
        )

    def known(self, obj: ObjectDef, field_name: str, where: tuple) -> bool:
        """T-E211: a field of the object that a writer gives (not a formula, not an autonumber)."""
        f = obj.fields.get(field_name)
        if f is None:
            self.issue(
                "T-E211",
                where,
                Words(f"`{obj.name}` has no field `{field_name}`", f"`{obj.name}` 没有字段 `{field_name}`"),
                did_you_mean(field_name, obj.fields)
                or Words(f"name a field of `{obj.name}`", f"请指定 `{obj.name}` 的字段"),
            )
            return False
        if f.is_computed:
            self.issue(
                "T-E211",
                where,
                Words(f"`{field_name}` is computed by Trellis", f"`{field_name}` 由 Trellis 计算"),
                Words("a form cannot give it; leave it out", "表单不能填写它，请去掉"),
            )
            return False
        return True

    def shown(self, obj: ObjectDef, fields: tuple[str, ...]) -> None:
        """T-E212: each shown field once, of a type a public form can show."""
        seen: set[str] = set()
        for index, field_name in enumerate(fields):
            if not self.known(obj, field_name, ("fields", index)):
                continue
            if field_name in seen:
                self.issue(
                    "T-E212",
                    ("fields", index),
                    Words(f"`{field_name}` is shown twice", f"`{field_name}` 显示了两次"),
                    Words("list each field once", "每个字段只列一次"),
                )
            seen.add(field_name)
            f = obj.fields[field_name]
            if f.kind.widget not in PUBLIC_WIDGETS:
                self.issue(
                    "T-E212",
                    ("fields", index),
                    Words(
                        f"a public form cannot show `{field_name}`, a {f.type} field",
                        f"公开表单不能显示 {f.type} 字段 `{field_name}`",
                    ),
                    Words(
                        "show text, number, date, yes/no and picklist fields; fix other values with `values`",
                        "请显示文本、数字、日期、是/否和选项列表字段；其他值用 `values` 固定",
                    ),
                )

    def fits(self, obj: ObjectDef, field_name: str, value: Any, where: tuple) -> None:
        """T-E213: a fixed value the field accepts."""
        if not self.known(obj, field_name, where):
            return
        try:
            coerce_value(obj.fields[field_name], value, self.c.settings)
        except (FieldValueError, ValueError, TypeError) as exc:
            why = exc.words() if isinstance(exc, FieldValueError) else Words(str(exc), str(exc))
            self.issue(
                "T-E213",
                where,
                Words(f"{value!r} does not fit `{field_name}`: ", f"{value!r} 不适合 `{field_name}`：") + why,
                _fit_hint(obj, field_name),
            )

    def captures(self, obj: ObjectDef, field_name: str, where: tuple) -> None:
        """T-E215: what the visit tells is text."""
        if self.known(obj, field_name, where) and not obj.fields[field_name].kind.textual:
            self.issue(
                "T-E215",
                where,
                Words(
                    f"`{field_name}` is a {obj.fields[field_name].type} field; a captured value is text",
                    f"`{field_name}` 是 {obj.fields[field_name].type} 字段；采集到的值是文本",
                ),
                Words("capture into a text, textarea or url field", "请采集到 text、textarea 或 url 字段"),
            )

    def campaign(self, obj: ObjectDef, spec: Mapping[str, Any]) -> None:
        """T-E215/T-E213: a lookup (the value is a record's title), a text or a picklist field."""
        where, field_name = ("campaign", "field"), spec["field"]
        if not self.known(obj, field_name, where):
            return
        f = obj.fields[field_name]
        if f.kind.refers_to_record:
            if not isinstance(spec["value"], str):
                self.issue(
                    "T-E213",
                    ("campaign", "value"),
                    Words("a lookup's campaign is the title of a record", "查找字段的营销活动值是一条记录的标题"),
                    None,
                )
            return
        if not (f.kind.textual or f.kind.from_picklist):
            self.issue(
                "T-E215",
                where,
                Words(
                    f"`{field_name}` is a {f.type} field; a campaign is written into a lookup, text or picklist field",
                    f"`{field_name}` 是 {f.type} 字段；营销活动只能写入查找字段、文本字段或选项列表字段",
                ),
                Words(
                    "name a lookup to the campaign object, or a text or picklist field",
                    "请指定指向营销活动对象的查找字段，或文本、选项列表字段",
                ),
            )
            return
        self.fits(obj, field_name, spec["value"], ("campaign", "value"))

    def complete(
        self, obj: ObjectDef, fields: tuple[str, ...], values: dict, capture: dict, campaign: Mapping | None
    ) -> None:
        """T-E214: every field the object requires is shown, fixed or defaulted."""
        given = set(fields) | set(values) | ({campaign["field"]} if campaign else set())
        for f in obj.fields.values():
            defaulted = f.default is not None or f.default_expression is not None
            staged = obj.pipeline is not None and f.name == obj.pipeline.field
            if f.required and not f.is_computed and f.name not in given and not defaulted and not staged:
                self.issue(
                    "T-E214",
                    ("fields",),
                    Words(
                        f"`{obj.name}` requires `{f.name}`, which the form neither shows nor fixes",
                        f"`{obj.name}` 要求填写 `{f.name}`，但表单既没有显示它，也没有固定它的值",
                    ),
                    Words(
                        f"add `{f.name}` to `fields`, or give it under `values`",
                        f"把 `{f.name}` 加到 `fields`，或在 `values` 下给出它的值",
                    ),
                )

    def addresses(self, spec: Mapping[str, Any]) -> None:
        """T-E216: origins are ``scheme://host[:port]``; a redirect is an http(s) address."""
        for index, origin in enumerate(spec.get("origins") or ()):
            parts = urlsplit(origin.rstrip("/"))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
                self.issue(
                    "T-E216",
                    ("origins", index),
                    Words(f"`{origin}` is not an origin", f"`{origin}` 不是来源地址（origin）"),
                    Words(
                        "write the scheme and host (and port) only, e.g. https://www.example.com",
                        "只写协议和主机（及端口），例如 https://www.example.com",
                    ),
                )
        redirect = spec.get("redirect")
        if redirect is not None:
            parts = urlsplit(redirect)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                self.issue(
                    "T-E216",
                    ("redirect",),
                    Words(f"`{redirect}` is not an http(s) address", f"`{redirect}` 不是 http(s) 地址"),
                    Words("e.g. https://www.example.com/thanks", "例如 https://www.example.com/thanks"),
                )

    def duplicates(self, obj: ObjectDef, spec: Mapping[str, Any]) -> None:
        """T-E217: ``link`` names a lookup to the same object, and only ``link`` does."""
        action, link = spec.get("on_duplicate", "update"), spec.get("link_field")
        if action == "link" and link is None:
            self.issue(
                "T-E217",
                ("on_duplicate",),
                Words("`on_duplicate: link` needs a `link_field`", "`on_duplicate: link` 需要 `link_field`"),
                _link_hint(obj),
            )
        elif link is not None and action != "link":
            self.issue(
                "T-E217",
                ("link_field",),
                Words(
                    "`link_field` is only read with `on_duplicate: link`",
                    "只有 `on_duplicate: link` 时才读取 `link_field`",
                ),
                None,
            )
        elif link is not None and self.known(obj, link, ("link_field",)) and not obj.fields[link].points_to(obj.name):
            self.issue(
                "T-E217",
                ("link_field",),
                Words(f"`{link}` is not a lookup to `{obj.name}`", f"`{link}` 不是指向 `{obj.name}` 的查找字段"),
                _link_hint(obj),
            )

    def spam(self, spec: Mapping[str, Any], fields: tuple[str, ...]) -> WebFormSpam:
        """T-E218 rate limits, T-E219 the honeypot's name."""
        defaults = WebFormSpam()
        for key in ("rate_limit", "form_rate_limit"):
            if key in spec and not parse_rate(spec[key]):
                self.issue(
                    "T-E218",
                    ("spam", key),
                    Words(f"`{spec[key]}` is not a rate limit", f"`{spec[key]}` 不是频率限制"),
                    Words(
                        "write `5 per minute`, or several joined by `;`: `5 per minute;30 per hour`",
                        "请写 `5 per minute`，或用 `;` 连接多个：`5 per minute;30 per hour`",
                    ),
                )
        honeypot = spec.get("honeypot", defaults.honeypot)
        if honeypot in fields or honeypot in FORM_INPUTS:
            self.issue(
                "T-E219",
                ("spam", "honeypot"),
                Words(
                    f"the honeypot `{honeypot}` is named like an input of the form",
                    f"蜜罐字段 `{honeypot}` 与表单的某个输入项同名",
                ),
                Words("choose a name no field has, e.g. website_url", "请选一个没有字段使用的名字，例如 website_url"),
            )
        return WebFormSpam(
            min_seconds=spec.get("min_seconds", defaults.min_seconds),
            honeypot=honeypot,
            challenge=spec.get("challenge", defaults.challenge),
            max_bytes=spec.get("max_bytes", defaults.max_bytes),
            rate_limit=spec.get("rate_limit", defaults.rate_limit),
            form_rate_limit=spec.get("form_rate_limit", defaults.form_rate_limit),
        )


def _fit_hint(obj: ObjectDef, field_name: str) -> Words | None:
    picklist = obj.fields[field_name].picklist
    if picklist is None:
        return None
    keys = ", ".join(v.key for v in picklist.walk())
    return Words("use one of: " + keys, "请使用其中之一：" + keys)


def _link_hint(obj: ObjectDef) -> Words:
    return Words(
        f"name a lookup of `{obj.name}` to `{obj.name}`", f"请指定 `{obj.name}` 上指向 `{obj.name}` 的查找字段"
    )
