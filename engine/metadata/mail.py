"""Compiling ``mail:`` (issue 16 §2, S27): how a message in or out is logged, where a sender is
looked up, and the mailboxes ``trellis mail fetch`` reads.

```yaml
mail:
  log:                       # each message becomes one record of an activity object
    object: interaction
    subject: subject
    body: content
    direction: direction     # picklist with `inbound` and `outbound`
    message_id: message_id
    attachments: [attachment]
    set: {method: email}
  senders:
    - {object: contact, email: email, bounced: email_bounced}
    - {object: lead, email: email, bounced: email_bounced}
  mailboxes:
    sales:
      address: sales@example.com
      imap: {host: imap.example.com, username_env: SALES_MAIL_USER, password_env: SALES_MAIL_PASSWORD}
      unknown_sender: {create: lead, name: name, email: email, set: {source: email}}
```

Checks, each with its code: T-E220 an unknown object or field; T-E221 a field of the wrong type
(or a ``direction`` picklist without ``inbound``/``outbound``); T-E222 a log object that is no
``activity:`` or cannot link a sender's records (no lookup to them); T-E223 a ``set`` value the
field does not take; T-E224 a created record whose required fields nothing fills; T-E225 two
mailboxes with one address; T-E226 ``ca_file`` with ``tls_verify: false``. The credentials'
environment variables are read at fetch time only: a config compiles without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.metadata import fieldtypes
from engine.metadata.errors import SectionChecker, Words, did_you_mean
from engine.metadata.model import (
    FieldDef,
    ImapServer,
    Mailbox,
    MailCreate,
    MailLog,
    MailSender,
    MailSettings,
    ObjectDef,
    frozen_map,
)

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: The values a ``direction`` picklist must offer.
DIRECTIONS = ("inbound", "outbound")


def _text(f: FieldDef) -> bool:
    return f.kind.text_match and f.picklist is None and not f.is_computed


def _email(f: FieldDef) -> bool:
    return f.kind.mail_address


def _file(f: FieldDef) -> bool:
    return f.kind.stores_file


def _flag(f: FieldDef) -> bool:
    return f.kind.storage == "boolean"


def _choice(f: FieldDef) -> bool:
    return f.picklist is not None and not f.kind.list_valued


#: What each field key takes: (which fields, what to say).
Wants = tuple[Callable[[FieldDef], bool], Words]
TEXT: Wants = (_text, Words("a text or textarea field", "文本或多行文本字段"))
EMAIL: Wants = (_email, Words("an email field", "电子邮件字段"))
FILE: Wants = (_file, Words("a file field", "文件字段"))
FLAG: Wants = (_flag, Words("a boolean field", "布尔字段"))
CHOICE: Wants = (_choice, Words("a picklist field", "选项列表字段"))


def compile_mail(
    compiler: Compiler, spec: Mapping[str, Any] | None, objects: Mapping[str, ObjectDef]
) -> MailSettings | None:
    """The ``mail:`` section, or None without one (or when it does not check)."""
    if not spec:
        return None
    return _Checker(compiler, objects).settings(spec)


class _Checker(SectionChecker):
    """Checks the section, reporting every issue at once."""

    c: Compiler

    def __init__(self, compiler: Compiler, objects: Mapping[str, ObjectDef]) -> None:
        super().__init__(compiler, ("mail",))
        self.objects = objects

    # --- the section ------------------------------------------------------------------------------
    def settings(self, spec: Mapping[str, Any]) -> MailSettings | None:
        log = self.log(spec["log"])
        senders = tuple(
            found
            for index, item in enumerate(spec.get("senders") or [])
            if (found := self.sender(item, ("senders", index))) is not None
        )
        if log is not None:
            self.links(log, senders)
        mailboxes = self.mailboxes(spec.get("mailboxes") or {})
        if not self.ok or log is None:
            return None
        return MailSettings(
            log=log,
            senders=senders,
            mailboxes=frozen_map(mailboxes),
            reply_to=spec.get("reply_to"),
            max_attachment_size=spec.get("max_attachment_size", MailSettings.max_attachment_size),
        )

    def object(self, name: str, path: tuple) -> ObjectDef | None:
        obj = self.objects.get(name)
        if obj is None:
            self.issue(
                "T-E220",
                path,
                Words(f"unknown object `{name}`", f"未知对象 `{name}`"),
                did_you_mean(name, self.objects)
                or Words("name an object declared under `objects`", "请指定在 `objects` 下声明的对象"),
            )
        return obj

    def field(self, obj: ObjectDef, name: str | None, path: tuple, wants: Wants) -> str | None:
        """T-E220 an unknown field, T-E221 one of the wrong type."""
        if name is None:
            return None
        f = obj.fields.get(name)
        if f is None:
            self.issue("T-E220", path, _no_field(obj, name), did_you_mean(name, obj.fields))
            return None
        if not wants[0](f):
            fitting = [n for n, d in obj.fields.items() if wants[0](d)]
            self.issue(
                "T-E221",
                path,
                Words(
                    f"`{obj.name}.{name}` is a {f.type} field; this takes {wants[1].en}",
                    f"`{obj.name}.{name}` 是 {f.type} 字段；此处需要{wants[1].zh}",
                ),
                did_you_mean(name, fitting)
                or (Words(f"e.g. `{fitting[0]}`", f"例如 `{fitting[0]}`") if fitting else None),
            )
            return None
        return name

    def values(self, obj: ObjectDef, spec: Mapping[str, Any], path: tuple) -> dict[str, Any]:
        """T-E220 / T-E223: ``set`` values, each coerced by its field's type."""
        out: dict[str, Any] = {}
        for name, value in spec.items():
            f = obj.fields.get(name)
            if f is None:
                self.issue("T-E220", (*path, name), _no_field(obj, name), did_you_mean(name, obj.fields))
                continue
            try:
                if f.is_computed:
                    raise fieldtypes.FieldValueError(
                        "computed", "a computed field is never given", zh="计算字段从不由外部给出"
                    )
                out[name] = fieldtypes.coerce_value(f, value, self.c.settings)
            except fieldtypes.FieldValueError as exc:
                self.issue(
                    "T-E223",
                    (*path, name),
                    Words(f"`{obj.name}.{name}` cannot take {value!r}: ", f"`{obj.name}.{name}` 不能取值 {value!r}：")
                    + exc.words(),
                )
        return out

    # --- log ------------------------------------------------------------------------------------
    def log(self, spec: Mapping[str, Any]) -> MailLog | None:
        obj = self.object(spec["object"], ("log", "object"))
        if obj is None:
            return None
        if obj.activity is None:
            self.issue(
                "T-E222",
                ("log", "object"),
                Words(
                    f"`{obj.name}` is not a timeline activity: logged messages would show on no timeline",
                    f"`{obj.name}` 不是时间线活动：记录下来的邮件不会出现在任何时间线上",
                ),
                Words(
                    f"add `activity: {{at: …}}` to `{obj.name}`, or log to an object that has one",
                    f"为 `{obj.name}` 加上 `activity: {{at: …}}`，或改为记录到已设置活动的对象",
                ),
            )
        fields = {
            key: self.field(obj, spec.get(key), ("log", key), wants)
            for key, wants in (("subject", TEXT), ("body", TEXT), ("message_id", TEXT), ("sender", EMAIL))
        }
        direction = self.field(obj, spec.get("direction"), ("log", "direction"), CHOICE)
        if direction is not None:
            picklist = obj.fields[direction].picklist
            offered = picklist.keys() if picklist is not None else frozenset()
            missing = [d for d in DIRECTIONS if d not in offered]
            if missing:
                self.issue(
                    "T-E221",
                    ("log", "direction"),
                    Words(
                        f"`{obj.name}.{direction}` has no value {', '.join(f'`{m}`' for m in missing)}",
                        f"`{obj.name}.{direction}` 没有值 {'、'.join(f'`{m}`' for m in missing)}",
                    ),
                    Words(
                        "give its picklist the values `inbound` and `outbound`",
                        "请为它的选项列表加上值 `inbound` 和 `outbound`",
                    ),
                )
        attachments = tuple(
            name
            for index, item in enumerate(spec.get("attachments") or [])
            if (name := self.field(obj, item, ("log", "attachments", index), FILE)) is not None
        )
        values = self.values(obj, spec.get("set") or {}, ("log", "set"))
        if fields["body"] is None:
            return None
        return MailLog(
            object=obj.name,
            body=fields["body"],
            subject=fields["subject"],
            direction=direction,
            message_id=fields["message_id"],
            sender=fields["sender"],
            attachments=attachments,
            values=frozen_map(values),
        )

    # --- senders --------------------------------------------------------------------------------
    def sender(self, spec: Mapping[str, Any], path: tuple) -> MailSender | None:
        obj = self.object(spec["object"], (*path, "object"))
        if obj is None:
            return None
        email = self.field(obj, spec["email"], (*path, "email"), EMAIL)
        bounced = self.field(obj, spec.get("bounced"), (*path, "bounced"), FLAG)
        return MailSender(obj.name, email, bounced) if email is not None else None

    def links(self, log: MailLog, senders: tuple[MailSender, ...]) -> None:
        """T-E222: the log object has a lookup to each sender object (the message's record)."""
        obj = self.objects[log.object]
        for index, sender in enumerate(senders):
            if not any(f.points_to(sender.object) for f in obj.fields.values()):
                self.issue(
                    "T-E222",
                    ("senders", index, "object"),
                    Words(
                        f"`{log.object}` has no lookup to `{sender.object}`: its messages could not be linked",
                        f"`{log.object}` 没有指向 `{sender.object}` 的查找字段：其邮件无法关联",
                    ),
                    Words(
                        f"add a lookup field to `{sender.object}` on `{log.object}`",
                        f"在 `{log.object}` 上加一个指向 `{sender.object}` 的查找字段",
                    ),
                )

    # --- mailboxes ------------------------------------------------------------------------------
    def mailboxes(self, specs: Mapping[str, Any]) -> dict[str, Mailbox]:
        out: dict[str, Mailbox] = {}
        seen: dict[str, str] = {}
        for name, spec in specs.items():
            path = ("mailboxes", name)
            address = str(spec["address"]).strip().lower()
            if address in seen:
                self.issue(
                    "T-E225",
                    (*path, "address"),
                    Words(
                        f"`{address}` is also mailbox `{seen[address]}`'s address",
                        f"`{address}` 也是邮箱 `{seen[address]}` 的地址",
                    ),
                    Words(
                        "give each mailbox its own address, or remove one of them",
                        "请为每个邮箱使用不同的地址，或删除其中一个",
                    ),
                )
            seen.setdefault(address, name)
            imap = self.imap(spec["imap"], (*path, "imap")) if spec.get("imap") else None
            unknown = spec.get("unknown_sender", "ignore")
            create = None if unknown == "ignore" else self.create(unknown, (*path, "unknown_sender"))
            out[name] = Mailbox(name, address, imap, create)
        return out

    def imap(self, spec: Mapping[str, Any], path: tuple) -> ImapServer:
        security = spec.get("security", "tls")
        verify = spec.get("tls_verify", True)
        if spec.get("ca_file") and not verify:
            self.issue(
                "T-E226",
                (*path, "ca_file"),
                Words(
                    "`ca_file` is read only to verify the certificate, and `tls_verify: false` verifies nothing",
                    "`ca_file` 只用于验证证书，而 `tls_verify: false` 什么都不验证",
                ),
                Words(
                    "keep `ca_file` and remove `tls_verify: false` (a self-signed server is verified with its CA file)",
                    "保留 `ca_file` 并删除 `tls_verify: false`（自签名的服务器用它的 CA 文件验证）",
                ),
            )
        return ImapServer(
            host=spec["host"],
            username_env=spec["username_env"],
            password_env=spec["password_env"],
            port=spec.get("port", 993 if security == "tls" else 143),
            security=security,
            tls_verify=verify,
            ca_file=spec.get("ca_file"),
            folder=spec.get("folder", "INBOX"),
        )

    def create(self, spec: Mapping[str, Any], path: tuple) -> MailCreate | None:
        obj = self.object(spec["create"], (*path, "create"))
        if obj is None:
            return None
        name = self.field(obj, spec.get("name"), (*path, "name"), TEXT)
        email = self.field(obj, spec.get("email"), (*path, "email"), EMAIL)
        domain = self.field(obj, spec.get("domain"), (*path, "domain"), TEXT)
        subject = self.field(obj, spec.get("subject"), (*path, "subject"), TEXT)
        body = self.field(obj, spec.get("body"), (*path, "body"), TEXT)
        values = self.values(obj, spec.get("set") or {}, (*path, "set"))
        filled = {name, email, domain, subject, body, *values}
        unfilled = [
            f.name
            for f in obj.fields.values()
            if f.required and f.name not in filled and f.default is None and f.default_expression is None
        ]
        if unfilled:
            self.issue(
                "T-E224",
                (*path, "create"),
                Words(
                    f"nothing fills the required field(s) {', '.join(f'`{n}`' for n in unfilled)} of `{obj.name}`",
                    f"没有任何设置会填写 `{obj.name}` 的必填字段 {'、'.join(f'`{n}`' for n in unfilled)}",
                ),
                Words(
                    "map them (`name`, `email`, `domain`, `subject`, `body`) or give them a value under `set`",
                    "请映射它们（`name`、`email`、`domain`、`subject`、`body`），或在 `set` 下给出值",
                ),
            )
        return MailCreate(obj.name, name, email, subject, body, frozen_map(values), domain)


def _no_field(obj: ObjectDef, name: str) -> Words:
    return Words(f"`{obj.name}` has no field `{name}`", f"`{obj.name}` 没有字段 `{name}`")
