"""UI text in every language the web UI speaks, and locale-aware formatting.

Labels of objects, fields and picklist values come from the config
(``Label.get(lang)``); the words of the UI itself ("Log in", "Export CSV",
"Stage is Quote and owner is me") come from ``TEXTS`` below, one entry per
string with a text for each of ``LANGUAGES``. ``tests/webui/test_ui.py``
checks that every entry has every language.

Numbers, money and dates are formatted with Babel for the user's locale, and
moments are shown in the company time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from engine.metadata.model import Settings

#: Languages the UI text is written in.
LANGUAGES = ("en", "zh")
#: Each language in its own words, for the language switch.
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
#: The Babel locale used for a language when the company locale is of another language.
DEFAULT_LOCALES = {"en": "en_US", "zh": "zh_Hans_CN"}

TEXTS: dict[str, dict[str, str]] = {
    # --- login ---
    "login.title": {"en": "Log in", "zh": "登录"},
    "login.button": {"en": "Log in", "zh": "登录"},
    "login.username": {"en": "User name", "zh": "用户名"},
    "login.password": {"en": "Password", "zh": "密码"},
    "login.required": {"en": "Enter your user name and password.", "zh": "请输入用户名和密码。"},
    "login.needed": {"en": "Please log in to see this page.", "zh": "请先登录。"},
    "login.enroll": {"en": "Your role requires two-factor login; ask an administrator to set it up for you.",
                     "zh": "您的角色要求两步验证登录，请联系管理员为您设置。"},
    "totp.title": {"en": "Two-factor code", "zh": "两步验证码"},
    "totp.code": {"en": "Code from your authenticator app", "zh": "身份验证器应用中的验证码"},
    "totp.recovery": {"en": "Or a recovery code", "zh": "或恢复码"},
    "totp.button": {"en": "Confirm", "zh": "确认"},
    "totp.expired": {"en": "The login took too long; enter your password again.",
                     "zh": "登录超时，请重新输入密码。"},
    "logout": {"en": "Log out", "zh": "退出"},
    "logged_out": {"en": "You have logged out.", "zh": "您已退出登录。"},
    "language": {"en": "Language", "zh": "语言"},
    "language.switch": {"en": "Switch", "zh": "切换"},
    "skip": {"en": "Skip to content", "zh": "跳到正文"},
    "menu": {"en": "Objects", "zh": "对象"},
    # --- lists ---
    "list.search": {"en": "Search", "zh": "搜索"},
    "list.filter": {"en": "Filter", "zh": "筛选"},
    "list.more_filters": {"en": "More filters", "zh": "更多筛选"},
    "list.clear": {"en": "Clear filters", "zh": "清除筛选"},
    "list.new": {"en": "New", "zh": "新建"},
    "list.export": {"en": "Export CSV", "zh": "导出 CSV"},
    "list.empty": {"en": "No records.", "zh": "没有记录。"},
    "list.count": {"en": "{total} records", "zh": "共 {total} 条记录"},
    "list.page": {"en": "Page {page} of {pages}", "zh": "第 {page} 页，共 {pages} 页"},
    "list.previous": {"en": "Previous", "zh": "上一页"},
    "list.next": {"en": "Next", "zh": "下一页"},
    "list.showing": {"en": "Showing: {sentence}", "zh": "当前筛选：{sentence}"},
    "list.sort_by": {"en": "Sort by {field}", "zh": "按{field}排序"},
    "list.bad_filter": {"en": "The filter was not applied: {message}", "zh": "筛选未生效：{message}"},
    # --- list columns: system columns ---
    "column.id": {"en": "ID", "zh": "编号"},
    "column.created_at": {"en": "Created", "zh": "创建时间"},
    "column.updated_at": {"en": "Updated", "zh": "更新时间"},
    "column.created_by": {"en": "Created by", "zh": "创建人"},
    "column.owner_id": {"en": "Owner", "zh": "负责人"},
    "column.version": {"en": "Version", "zh": "版本"},
    "column.archived_at": {"en": "Archived", "zh": "归档时间"},
    "column.stage_entered_at": {"en": "In stage since", "zh": "进入阶段时间"},
    # --- saved views ---
    "views.title": {"en": "Saved views", "zh": "已保存的视图"},
    "views.name": {"en": "View name", "zh": "视图名称"},
    "views.save": {"en": "Save view", "zh": "保存视图"},
    "views.saved": {"en": "The view was saved.", "zh": "视图已保存。"},
    "views.delete": {"en": "Delete", "zh": "删除"},
    "views.delete_label": {"en": "Delete view {name}", "zh": "删除视图 {name}"},
    "views.deleted": {"en": "The view was deleted.", "zh": "视图已删除。"},
    "views.not_saved": {"en": "The view was not saved: {message}", "zh": "视图未保存：{message}"},
    "views.none": {"en": "No saved views yet.", "zh": "还没有保存的视图。"},
    # --- two-factor enrolment ---
    "twofactor.link": {"en": "Two-factor", "zh": "两步验证"},
    "twofactor.title": {"en": "Set up two-factor login", "zh": "设置两步验证登录"},
    "twofactor.intro": {"en": "Add this account to your authenticator app, then enter the code it shows.",
                        "zh": "请在身份验证器应用中添加此账户，然后输入应用显示的验证码。"},
    "twofactor.required": {"en": "Your role requires two-factor login: set it up now.",
                           "zh": "您的角色要求两步验证登录，请立即设置。"},
    "twofactor.secret": {"en": "Secret key", "zh": "密钥"},
    "twofactor.uri": {"en": "Provisioning URI", "zh": "配置链接"},
    "twofactor.recovery": {"en": "Recovery codes: write them down now, they are shown only once.",
                           "zh": "恢复码：请立即记下，它们只显示这一次。"},
    "twofactor.code": {"en": "Code from your authenticator app", "zh": "身份验证器应用中的验证码"},
    "twofactor.confirm": {"en": "Confirm", "zh": "确认"},
    "twofactor.done": {"en": "Two-factor login is now on.", "zh": "两步验证登录已开启。"},
    "twofactor.active": {"en": "Two-factor login is already on for your account.",
                         "zh": "您的账户已开启两步验证登录。"},
    "twofactor.bad_code": {"en": "The code is not right; try the next one your app shows.",
                           "zh": "验证码不正确，请输入应用显示的下一个验证码。"},
    "twofactor.expired": {"en": "The setup took too long; start again.", "zh": "设置超时，请重新开始。"},
    "filter.any": {"en": "Any", "zh": "全部"},
    "filter.from": {"en": "from", "zh": "从"},
    "filter.to": {"en": "to", "zh": "到"},
    "filter.min": {"en": "min", "zh": "最小"},
    "filter.max": {"en": "max", "zh": "最大"},
    "filter.owner": {"en": "Owner", "zh": "负责人"},
    "filter.owner.me": {"en": "owner is me", "zh": "负责人是我"},
    "filter.owner.team": {"en": "owner is in my team", "zh": "负责人在我的团队"},
    "filter.owner.me_option": {"en": "Me", "zh": "我"},
    "filter.owner.team_option": {"en": "My team", "zh": "我的团队"},
    "filter.eq": {"en": "{field} is {value}", "zh": "{field}为{value}"},
    "filter.ne": {"en": "{field} is not {value}", "zh": "{field}不是{value}"},
    "filter.gte": {"en": "{field} is at least {value}", "zh": "{field}不小于{value}"},
    "filter.lte": {"en": "{field} is at most {value}", "zh": "{field}不大于{value}"},
    "filter.gt": {"en": "{field} is more than {value}", "zh": "{field}大于{value}"},
    "filter.lt": {"en": "{field} is less than {value}", "zh": "{field}小于{value}"},
    "filter.contains": {"en": "{field} contains {value}", "zh": "{field}包含{value}"},
    "filter.other": {"en": "{field} {op} {value}", "zh": "{field} {op} {value}"},
    "filter.search": {"en": "text contains \u201c{value}\u201d", "zh": "文本包含\u201c{value}\u201d"},
    "filter.and": {"en": " and ", "zh": "且"},
    "yes": {"en": "Yes", "zh": "是"},
    "no": {"en": "No", "zh": "否"},
    # --- records ---
    "record.edit": {"en": "Edit", "zh": "编辑"},
    "record.delete": {"en": "Delete", "zh": "删除"},
    "record.delete_confirm": {"en": "Delete this record?", "zh": "确定删除这条记录吗？"},
    "record.deleted": {"en": "The record was deleted.", "zh": "记录已删除。"},
    "record.saved": {"en": "Saved.", "zh": "已保存。"},
    "record.related": {"en": "Related", "zh": "相关记录"},
    "record.related_more": {"en": "Showing {shown} of {total}.", "zh": "显示 {shown} 条，共 {total} 条。"},
    "record.history": {"en": "History", "zh": "修改历史"},
    "record.details": {"en": "Details", "zh": "详细信息"},
    "record.other": {"en": "Other", "zh": "其他"},
    "record.owner": {"en": "Owner", "zh": "负责人"},
    "record.created": {"en": "Created", "zh": "创建时间"},
    "record.updated": {"en": "Updated", "zh": "更新时间"},
    "record.download": {"en": "Download", "zh": "下载"},
    "history.when": {"en": "When", "zh": "时间"},
    "history.who": {"en": "Who", "zh": "操作人"},
    "history.action": {"en": "Action", "zh": "操作"},
    "history.changes": {"en": "Changes", "zh": "变更"},
    "history.create": {"en": "created", "zh": "创建"},
    "history.update": {"en": "changed", "zh": "修改"},
    "history.delete": {"en": "deleted", "zh": "删除"},
    # --- forms ---
    "form.new": {"en": "New {object}", "zh": "新建{object}"},
    "form.edit": {"en": "Edit {object}", "zh": "编辑{object}"},
    "form.save": {"en": "Save", "zh": "保存"},
    "form.cancel": {"en": "Cancel", "zh": "取消"},
    "form.required": {"en": "required", "zh": "必填"},
    "form.required_note": {"en": "Fields marked * are required.", "zh": "标 * 的字段为必填项。"},
    "form.not_saved": {"en": "The record was not saved; see the fields marked below.",
                       "zh": "记录未保存，请查看下方标出的字段。"},
    "form.none": {"en": "(none)", "zh": "（无）"},
    "form.tags_hint": {"en": "Separate tags with commas.", "zh": "多个标签用逗号分隔。"},
    "form.lookup_hint": {"en": "Type to search, then pick a record.", "zh": "输入关键字搜索，然后选择一条记录。"},
    "form.file_current": {"en": "Current file: {name}", "zh": "当前文件：{name}"},
    "form.file_clear": {"en": "Remove the file", "zh": "删除文件"},
    "form.invalid_json": {"en": "Not valid JSON: {message}", "zh": "不是有效的 JSON：{message}"},
    "form.conflict": {"en": "This record was changed by {user} meanwhile (version {version}). "
                            "Reload to see their change.",
                      "zh": "这条记录在此期间已被 {user} 修改（版本 {version}）。请重新加载查看其修改。"},
    "form.conflict_anonymous": {"en": "This record was changed meanwhile (version {version}). "
                                      "Reload to see the change.",
                                "zh": "这条记录在此期间已被修改（版本 {version}）。请重新加载查看修改。"},
    "form.reload": {"en": "Reload", "zh": "重新加载"},
    # --- errors ---
    "error.title": {"en": "Error {status}", "zh": "错误 {status}"},
    "error.400": {"en": "The request could not be handled (for a form: reload the page and try again).",
                  "zh": "无法处理该请求（如果是表单，请刷新页面后重试）。"},
    "error.403": {"en": "You may not do this.", "zh": "您没有执行此操作的权限。"},
    "error.404": {"en": "There is no such page, or you may not see it.", "zh": "页面不存在，或您无权查看。"},
    "error.405": {"en": "This page does not accept this kind of request.", "zh": "该页面不接受此类请求。"},
    "error.413": {"en": "The upload is too large.", "zh": "上传的文件太大。"},
    "error.500": {"en": "Something went wrong on our side; it has been logged.", "zh": "服务器出错，已记录。"},
    "error.back": {"en": "Back to the start page", "zh": "返回首页"},
    "error.no_objects": {"en": "Your roles give you access to no object; ask an administrator.",
                         "zh": "您的角色无权访问任何对象，请联系管理员。"},
}


def translate(key: str, lang: str, **values: object) -> str:
    """The UI text ``key`` in ``lang`` (English when missing), with ``{name}`` filled in."""
    texts = TEXTS.get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text


def choose_language(user_locale: str | None, chosen: str | None, settings: Settings) -> str:
    """The language of the page: the user's locale, else the one chosen in this browser,
    else the company's first language."""
    for candidate in (user_locale, chosen, *settings.languages):
        if candidate:
            base = candidate.replace("-", "_").split("_")[0].lower()
            if base in LANGUAGES:
                return base
    return "en"


@dataclass(frozen=True)
class Formatter:
    """Formats values for one language with Babel, in the company's currency and time zone."""

    lang: str
    locale: Locale
    currency: str
    zone: ZoneInfo

    @classmethod
    def for_language(cls, lang: str, settings: Settings) -> Formatter:
        """The formatter of ``lang``: the company locale when it is of that language."""
        name = settings.locale if settings.locale.split("_")[0] == lang else DEFAULT_LOCALES.get(lang, "en_US")
        try:
            locale = Locale.parse(name)
        except (ValueError, UnknownLocaleError):
            locale = Locale.parse(DEFAULT_LOCALES.get(lang, "en_US"))
        return cls(lang, locale, settings.currency, ZoneInfo(settings.timezone))

    def t(self, key: str, **values: object) -> str:
        """UI text in this formatter's language."""
        return translate(key, self.lang, **values)

    def number(self, value: int | Decimal, scale: int | None = None) -> str:
        """A number with the locale's separators; ``scale`` fixes the digits after the point."""
        pattern = None if scale is None else "#,##0" + ("." + "0" * scale if scale else "")
        return format_decimal(value, format=pattern, locale=self.locale, decimal_quantization=scale is not None)

    def money(self, value: Decimal) -> str:
        """An amount in the company currency."""
        return format_currency(value, self.currency, locale=self.locale)

    def date(self, value: dt.date) -> str:
        """A calendar date."""
        return format_date(value, format="medium", locale=self.locale)

    def moment(self, value: dt.datetime) -> str:
        """A moment, shown in the company time zone."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return format_datetime(value, format="medium", tzinfo=self.zone, locale=self.locale)

    def local_input(self, value: dt.datetime) -> str:
        """A moment as a ``datetime-local`` input value in the company time zone."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")
