"""The config half of each automation action kind: how an entry of ``do:`` is written and checked.

One object per kind, registered once in ``ACTIONS``; the rule compiler
(``engine.metadata.automation``) finds an action's kind there and asks it to compile
the value into an ``Action``. Running it and telling what it would do is the kind's
runtime half (``engine.runtime.workflow.actions``), registered under the same name.
Codes: T-E124 a malformed action, T-E125 an action on a field of the wrong type,
T-E123 an unknown template, T-E127 an unknown assignment rule or conversion,
T-E030/T-E032 an unknown object or field, T-E092 an unknown role.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine.metadata.errors import Words, did_you_mean
from engine.metadata.kinds import Kinds, placeholder
from engine.metadata.model import SYSTEM_COLUMNS, Action, Recipient, frozen_map

if TYPE_CHECKING:
    from engine.metadata.automation import RuleCompiler

CHANNELS = ("in_app", "email")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ActionSpec:
    """One action kind as the config language knows it.

    ``needs_record``: the action works on the triggering record, so a cron rule without
    ``object:`` may not use it.
    """

    name: str = ""
    needs_record: bool = True

    @placeholder
    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        """The ``Action`` that ``value`` describes (expressions may read ``names``), or None after
        reporting why not."""
        raise NotImplementedError


class Set(ActionSpec):
    """``{set: {field: value}}``: change fields of the record (values may be ``=expressions``)."""

    name = "set"

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(value, dict) or not value:
            rc.issue(
                "T-E124",
                where,
                Words("`set` maps fields to values", "`set` 把字段映射到值"),
                Words("e.g. `{set: {status: contacted}}`", "例如 `{set: {status: contacted}}`"),
            )
            return None
        return Action("set", values=frozen_map(rc.values(rc.record_object(), value, where, names)))


class Tags(ActionSpec):
    """``{add_tags | remove_tags: {field, tags}}`` on a tags or multipicklist field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(value, dict) or "field" not in value or not value.get("tags"):
            rc.issue(
                "T-E124",
                where,
                Words(f"`{self.name}` needs `field` and `tags`", f"`{self.name}` 需要 `field` 和 `tags`"),
                Words(
                    "e.g. `{add_tags: {field: tags, tags: [churn_risk]}}`",
                    "例如 `{add_tags: {field: tags, tags: [churn_risk]}}`",
                ),
            )
            return None
        if rc.field_kind(value["field"]) not in ("tags", "multipicklist"):
            rc.issue(
                "T-E125",
                (*where, "field"),
                Words(
                    f"`{value['field']}` is not a tags or multipicklist field",
                    f"`{value['field']}` 不是标签或多选选项列表字段",
                ),
            )
            return None
        return Action(self.name, field=value["field"], tags=tuple(str(t) for t in value["tags"]))


class Add(ActionSpec):
    """``{add: {number_field: amount}}``: add to a number (a score)."""

    name = "add"

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(value, dict) or len(value) != 1:
            rc.issue(
                "T-E124",
                where,
                Words("`add` names one number field and an amount", "`add` 需指定一个数字字段和一个数量"),
                Words("e.g. `{add: {score: 10}}`", "例如 `{add: {score: 10}}`"),
            )
            return None
        ((name, amount),) = value.items()
        if rc.field_kind(name) not in ("integer", "decimal", "currency", "percent"):
            rc.issue("T-E125", (*where, name), Words(f"`{name}` is not a number field", f"`{name}` 不是数字字段"))
            return None
        if not isinstance(amount, int | float) or isinstance(amount, bool):
            rc.issue("T-E124", (*where, name), Words(f"{amount!r} is not a number", f"{amount!r} 不是数字"))
            return None
        return Action("add", field=name, amount=amount)


class Update(ActionSpec):
    """``{update: {record: LOOKUP, set: {field: value}}}``: change the record a lookup of the
    rule's record points at; expressions also see that record's values as ``target['f']``."""

    name = "update"

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        example = Words(
            'e.g. `{update: {record: account, set: {last_purchase_at: "=ordered_at"}}}`',
            '例如 `{update: {record: account, set: {last_purchase_at: "=ordered_at"}}}`',
        )
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("record"), str)
            or not isinstance(value.get("set"), dict)
            or not value["set"]
        ):
            rc.issue(
                "T-E124",
                where,
                Words(
                    "`update` needs `record` (a lookup field) and `set`",
                    "`update` 需要 `record`（一个查找字段）和 `set`",
                ),
                example,
            )
            return None
        obj = rc.record_object()
        field = obj.fields.get(value["record"])
        if field is None or field.type != "lookup" or field.target not in rc.objects:
            rc.issue(
                "T-E125",
                (*where, "record"),
                Words(
                    f"`{value['record']}` is not a lookup field of {obj.name}",
                    f"`{value['record']}` 不是 {obj.name} 的查找字段",
                ),
                Words("name the lookup that points at the record to change", "请指定指向要修改记录的查找字段"),
            )
            return None
        target = rc.objects[field.target]
        values = rc.values(target, value["set"], (*where, "set"), {*names, "target"}, target)
        return Action("update", field=field.name, object=target.name, values=frozen_map(values))


class Create(ActionSpec):
    """``{create: {object, fields}}``: a new record, linked to the triggering one."""

    name = "create"
    needs_record = False

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(value, dict) or "object" not in value:
            rc.issue(
                "T-E124",
                where,
                Words("`create` needs `object` and `fields`", "`create` 需要 `object` 和 `fields`"),
                Words(
                    "e.g. `{create: {object: task, fields: {subject: Call back}}}`",
                    "例如 `{create: {object: task, fields: {subject: Call back}}}`",
                ),
            )
            return None
        target = rc.objects.get(value["object"])
        if target is None:
            rc.issue(
                "T-E030",
                (*where, "object"),
                Words(f"unknown object `{value['object']}`", f"未知对象 `{value['object']}`"),
            )
            return None
        return Action(
            "create",
            object=target.name,
            values=frozen_map(rc.values(target, value.get("fields") or {}, (*where, "fields"), names)),
        )


class Notify(ActionSpec):
    """``{notify: {to: [recipients], template, channels}}``."""

    name = "notify"
    needs_record = False

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        if not isinstance(value, dict) or "template" not in value or not value.get("to"):
            rc.issue(
                "T-E124",
                where,
                Words("`notify` needs `to` and `template`", "`notify` 需要 `to` 和 `template`"),
                Words(
                    "e.g. `{notify: {to: [owner], template: lead_overdue}}`",
                    "例如 `{notify: {to: [owner], template: lead_overdue}}`",
                ),
            )
            return None
        if value["template"] not in rc.templates:
            rc.issue(
                "T-E123",
                (*where, "template"),
                Words(f"unknown template `{value['template']}`", f"未知模板 `{value['template']}`"),
                Words(
                    f"declare it under `templates:`; known: {', '.join(sorted(rc.templates)) or 'none'}",
                    f"请在 `templates:` 下声明它；已有：{', '.join(sorted(rc.templates)) or '无'}",
                ),
            )
        not_lists = [key for key in ("to", "channels") if key in value and not isinstance(value[key], list)]
        for key, example in (("to", "[owner]"), ("channels", "[in_app, email]")):
            if key in not_lists:
                rc.issue(
                    "T-E124",
                    (*where, key),
                    Words(
                        f"`notify.{key}` is a list, not {value[key]!r}",
                        f"`notify.{key}` 应是列表，而不是 {value[key]!r}",
                    ),
                    Words(f"write it in brackets, e.g. `{key}: {example}`", f"请写在方括号中，例如 `{key}: {example}`"),
                )
        if not_lists:
            return None
        recipients = []
        for i, entry in enumerate(value["to"]):
            recipient = self.recipient(rc, entry, (*where, "to", i))
            if recipient is not None:
                recipients.append(recipient)
        channels = tuple(value.get("channels") or ("in_app",))
        for channel in channels:
            if channel not in CHANNELS:
                rc.issue(
                    "T-E124",
                    (*where, "channels"),
                    Words(f"unknown channel `{channel}`", f"未知渠道 `{channel}`"),
                    Words(f"one of {', '.join(CHANNELS)}", f"请写其中之一：{', '.join(CHANNELS)}"),
                )
        return Action("notify", recipients=tuple(recipients), template=value["template"], channels=channels)

    @staticmethod
    def recipient(rc: RuleCompiler, entry: Any, where: tuple) -> Recipient | None:
        """One entry of ``to``: owner, manager, ``{role}``, ``{user}`` or ``{field}``."""
        if entry in ("owner", "manager"):
            if rc.obj is None:
                rc.issue(
                    "T-E124",
                    where,
                    Words(
                        f"`{entry}` needs a record; name a role or a user in a cron rule",
                        f"`{entry}` 需要一条记录；在 cron 规则中请指定角色或用户",
                    ),
                )
                return None
            return Recipient(entry)
        if isinstance(entry, dict) and len(entry) == 1:
            ((kind, name),) = entry.items()
            if kind == "role" and name not in rc.roles:
                rc.issue(
                    "T-E092",
                    (*where, "role"),
                    Words(f"unknown role `{name}`", f"未知角色 `{name}`"),
                )
                return None
            if kind == "field" and rc.field_kind(name) not in ("email", "user"):
                rc.issue(
                    "T-E125",
                    (*where, "field"),
                    Words(f"`{name}` is not an email or user field", f"`{name}` 不是电子邮件或用户字段"),
                )
                return None
            if kind in ("role", "user", "field"):
                return Recipient(kind, str(name))
        rc.issue(
            "T-E124",
            where,
            Words(f"unknown recipient {entry!r}", f"未知收件人 {entry!r}"),
            Words(
                "owner, manager, {role: NAME}, {user: USERNAME} or {field: EMAIL_FIELD}",
                "可写 owner、manager、{role: NAME}、{user: USERNAME} 或 {field: EMAIL_FIELD}",
            ),
        )
        return None


class Webhook(ActionSpec):
    """``{webhook: {url: URL | url_env: VAR, secret_env: VAR | unsigned: true, fields: [..]}}``:
    exactly one of ``url`` and ``url_env``; signed with ``secret_env``, unsigned only when the
    config says ``unsigned: true`` (T-E240)."""

    name = "webhook"
    needs_record = False

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        example = Words(
            "e.g. `{webhook: {url: https://erp.example.com/hooks/crm, secret_env: ERP_HOOK_SECRET}}`, or "
            "`url_env: ERP_HOOK_URL` to read the URL from the worker's environment",
            "例如 `{webhook: {url: https://erp.example.com/hooks/crm, secret_env: ERP_HOOK_SECRET}}`，"
            "或用 `url_env: ERP_HOOK_URL` 从 worker 的环境变量读取 URL",
        )
        if not isinstance(value, dict) or ("url" in value) == ("url_env" in value):
            rc.issue(
                "T-E124",
                where,
                Words(
                    "`webhook` needs an http(s) `url` or a `url_env`, not both",
                    "`webhook` 需要一个 http(s) 的 `url` 或一个 `url_env`，不能两者都写",
                ),
                example,
            )
            return None
        url, url_env, secret_env = value.get("url"), value.get("url_env"), value.get("secret_env")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            rc.issue(
                "T-E124", (*where, "url"), Words(f"{url!r} is not an http(s) URL", f"{url!r} 不是 http(s) URL"), example
            )
            return None
        for key, name in (("url_env", url_env), ("secret_env", secret_env)):
            if name is not None and not (isinstance(name, str) and _ENV_NAME.match(name)):
                rc.issue(
                    "T-E124",
                    (*where, key),
                    Words(f"{name!r} is not the name of an environment variable", f"{name!r} 不是环境变量名"),
                    Words("letters, digits and _, e.g. ERP_HOOK_URL", "由字母、数字和 _ 组成，例如 ERP_HOOK_URL"),
                )
                return None
        unsigned = value.get("unsigned") is True
        if secret_env is None and not unsigned:
            rc.issue(
                "T-E240",
                where,
                Words(
                    "a webhook without `secret_env` would be sent unsigned: the receiver cannot tell it from a forgery",
                    "没有 `secret_env` 的 webhook 将不带签名发送：接收方无法把它与伪造的请求区分开",
                ),
                Words(
                    "add `secret_env: ERP_HOOK_SECRET` (the worker signs with it), or `unsigned: true` if the receiver "
                    "really checks nothing",
                    "请加上 `secret_env: ERP_HOOK_SECRET`（worker 用它签名）；若接收方确实不做任何校验，"
                    "可写 `unsigned: true`",
                ),
            )
            return None
        if secret_env is not None and unsigned:
            rc.issue(
                "T-E240",
                (*where, "unsigned"),
                Words(
                    "`unsigned: true` and a `secret_env`: the webhook cannot be both",
                    "同时写了 `unsigned: true` 和 `secret_env`：webhook 不能既不签名又签名",
                ),
                Words("remove `unsigned`, or remove `secret_env`", "请删除 `unsigned`，或删除 `secret_env`"),
            )
            return None
        fields = self.payload_fields(rc, value.get("fields"), (*where, "fields"))
        return Action("webhook", url=url, url_env=url_env, secret_env=secret_env, fields=fields)

    @staticmethod
    def payload_fields(rc: RuleCompiler, names: Any, where: tuple) -> tuple[str, ...]:
        """A webhook's ``fields``: names of fields of the rule's object (T-E032 unknown; T-E124
        without an object, or not a list of names)."""
        if names is None:
            return ()
        obj = rc.obj
        if obj is None or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            rc.issue(
                "T-E124",
                where,
                Words("`fields` lists fields of the rule's object", "`fields` 应列出规则所属对象的字段"),
                Words(
                    "e.g. `fields: [name, stage, amount]`, in a rule with an `object`",
                    "例如 `fields: [name, stage, amount]`，且规则须有 `object`",
                ),
            )
            return ()
        for i, name in enumerate(names):
            if name not in obj.fields and name not in SYSTEM_COLUMNS:
                rc.issue(
                    "T-E032",
                    (*where, i),
                    Words(f"unknown field `{name}` of {obj.name}", f"{obj.name} 没有字段 `{name}`"),
                    did_you_mean(name, obj.fields)
                    or Words("name a field of the rule's object", "请指定规则所属对象的字段"),
                )
        return tuple(dict.fromkeys(n for n in names if n in obj.fields or n in SYSTEM_COLUMNS))


class RuleReference(ActionSpec):
    """``{assign: RULE}`` (an assignment rule) / ``{convert: CONVERSION}``."""

    def __init__(self, name: str, what: Words, known: str) -> None:
        self.name, self.what, self.known = name, what, known

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        known = getattr(rc, self.known)
        if value not in known:
            rc.issue(
                "T-E127",
                where,
                Words(f"unknown {self.what.en} `{value}`", f"未知{self.what.zh} `{value}`"),
                Words(
                    f"known: {', '.join(sorted(known)) or 'none declared'}",
                    f"已声明：{', '.join(sorted(known)) or '无'}",
                ),
            )
            return None
        return Action(self.name, rule=value)


class Archive(ActionSpec):
    """``{archive: true}``: archive the record."""

    name = "archive"

    def compile(self, rc: RuleCompiler, value: Any, where: tuple, names: set[str]) -> Action | None:
        if value is not True:
            rc.issue("T-E124", where, Words("write `{archive: true}`", "请写 `{archive: true}`"))
            return None
        return Action("archive")


#: Every action kind of the config language, by name.
ACTIONS: Kinds[ActionSpec] = Kinds("action")
for _spec in (
    Set(),
    Tags("add_tags"),
    Tags("remove_tags"),
    Add(),
    Update(),
    Create(),
    Notify(),
    Webhook(),
    RuleReference("assign", Words("assignment rule", "分配规则"), "assignment_rules"),
    RuleReference("convert", Words("conversion", "转换"), "conversions"),
    Archive(),
):
    ACTIONS.register(_spec)
