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
import functools
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal, get_currency_precision

from engine.metadata.model import Settings
from engine.runtime.messages import MESSAGES
from engine.runtime.records.present import date_text, moment_text

#: Languages the UI text is written in.
LANGUAGES = ("en", "zh")
#: Each language in its own words, for the language switch.
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
#: The Babel locale used for a language when the company locale is of another language.
DEFAULT_LOCALES = {"en": "en_US", "zh": "zh_Hans_CN"}

TEXTS: dict[str, dict[str, str]] = {
    # --- public web forms (webui.ui.webforms) ---
    "webform.send": {"en": "Send", "zh": "提交"},
    "webform.thanks": {"en": "Thank you! We have received your message.", "zh": "感谢您的提交，我们已收到。"},
    "webform.problems": {"en": "Please correct the marked entries.", "zh": "请修改标出的内容。"},
    "webform.refused": {
        "en": "We could not accept this submission. If you are a person, please send the form again.",
        "zh": "无法接受此次提交。如果您不是机器人，请重新提交表单。",
    },
    "webform.expired": {
        "en": "This form was open too long or could not be read; please send it again.",
        "zh": "表单已打开太久或无法读取，请重新提交。",
    },
    "webform.throttled": {
        "en": "Too many submissions from your network: wait {minutes} min and try again.",
        "zh": "您所在网络的提交次数过多，请 {minutes} 分钟后再试。",
    },
    "webform.too_large": {
        "en": "The submission is too large; please shorten it.",
        "zh": "提交内容过大，请精简后再试。",
    },
    "webform.challenge": {"en": "What is {a} + {b}?", "zh": "{a} 加 {b} 等于几？"},
    "webform.challenge_wrong": {"en": "That is not the right answer.", "zh": "答案不正确。"},
    "webform.honeypot": {"en": "Leave this empty", "zh": "此项请留空"},
    "webform.required_note": {"en": "* required", "zh": "* 为必填项"},
    "webform.captured.utm_source": {"en": "UTM source", "zh": "来源渠道（UTM）"},
    "webform.captured.utm_medium": {"en": "UTM medium", "zh": "媒介（UTM）"},
    "webform.captured.utm_campaign": {"en": "UTM campaign", "zh": "推广活动（UTM）"},
    "webform.captured.utm_term": {"en": "UTM term", "zh": "关键词（UTM）"},
    "webform.captured.utm_content": {"en": "UTM content", "zh": "内容（UTM）"},
    "webform.captured.referrer": {"en": "Referrer", "zh": "来源页面"},
    "webform.captured.landing_page": {"en": "Landing page", "zh": "落地页"},
    # --- web form spam review (webui.ui.form_review) ---
    "rejections.title": {"en": "Rejected form submissions", "zh": "被拒绝的表单提交"},
    "rejections.intro": {
        "en": "Web form submissions refused as spam, with why. Accept one anyway to write it as the form would have.",
        "zh": "被判定为垃圾信息的网页表单提交及原因。可选择“仍然接受”，按表单的方式写入。",
    },
    "rejections.rejected": {"en": "Rejected", "zh": "已拒绝"},
    "rejections.accepted": {"en": "Accepted anyway", "zh": "已接受"},
    "rejections.at": {"en": "Received", "zh": "接收时间"},
    "rejections.form": {"en": "Form", "zh": "表单"},
    "rejections.reason": {"en": "Reason", "zh": "原因"},
    "rejections.ip": {"en": "IP address", "zh": "IP 地址"},
    "rejections.values": {"en": "Submitted", "zh": "提交内容"},
    "rejections.actions": {"en": "Actions", "zh": "操作"},
    "rejections.accept": {"en": "Accept anyway", "zh": "仍然接受"},
    "rejections.record": {"en": "Open the record", "zh": "打开记录"},
    "rejections.none": {"en": "No submissions here.", "zh": "暂无提交。"},
    "rejections.pages": {"en": "Pages of submissions", "zh": "提交分页"},
    "rejections.refused": {
        "en": "Not accepted: the record is not valid ({problems}).",
        "zh": "未能接受：记录无效（{problems}）。",
    },
    "rejections.accepted_created": {"en": "Accepted: the record was created.", "zh": "已接受：记录已创建。"},
    "rejections.accepted_updated": {
        "en": "Accepted: the visitor's existing record was updated.",
        "zh": "已接受：已更新访客已有的记录。",
    },
    "rejections.accepted_linked": {
        "en": "Accepted: a new record was linked to the visitor's existing one.",
        "zh": "已接受：新记录已关联到访客已有的记录。",
    },
    # --- login ---
    "login.title": {"en": "Log in", "zh": "登录"},
    "login.button": {"en": "Log in", "zh": "登录"},
    "login.username": {"en": "User name", "zh": "用户名"},
    "login.password": {"en": "Password", "zh": "密码"},
    "login.required": {"en": "Enter your user name and password.", "zh": "请输入用户名和密码。"},
    "login.needed": {"en": "Please log in to see this page.", "zh": "请先登录。"},
    "login.throttled": {
        "en": "Too many failed logins from your network: wait {minutes} min and try again.",
        "zh": "您所在网络的登录失败次数过多，请 {minutes} 分钟后再试。",
    },
    "login.enroll": {
        "en": "Your role requires two-factor login; ask an administrator to set it up for you.",
        "zh": "您的角色要求两步验证登录，请联系管理员为您设置。",
    },
    "totp.title": {"en": "Two-factor code", "zh": "两步验证码"},
    "totp.code": {"en": "Code from your authenticator app", "zh": "身份验证器应用中的验证码"},
    "totp.recovery": {"en": "Or a recovery code", "zh": "或恢复码"},
    "totp.button": {"en": "Confirm", "zh": "确认"},
    "totp.expired": {"en": "The login took too long; enter your password again.", "zh": "登录超时，请重新输入密码。"},
    "logout": {"en": "Log out", "zh": "退出"},
    "logged_out": {"en": "You have logged out.", "zh": "您已退出登录。"},
    "reconfirm.title": {"en": "Confirm it is you", "zh": "确认您的身份"},
    "reconfirm.intro": {
        "en": "This is a sensitive operation: confirm again. The confirmation covers such "
        "operations for {minutes} minutes.",
        "zh": "这是敏感操作，请再次确认身份。确认后 {minutes} 分钟内的此类操作无需再次确认。",
    },
    "reconfirm.button": {"en": "Confirm", "zh": "确认"},
    "reconfirm.cancel": {"en": "Cancel", "zh": "取消"},
    "reconfirm.required": {"en": "Enter it to go on.", "zh": "请输入后继续。"},
    "reconfirm.wrong_password": {
        "en": "The password is wrong. Repeated mistakes lock the account.",
        "zh": "密码错误。多次错误将锁定账户。",
    },
    "reconfirm.wrong_code": {
        "en": "The code is wrong. Repeated mistakes lock the account.",
        "zh": "验证码错误。多次错误将锁定账户。",
    },
    "session.expired": {
        "en": "Your session has ended (too long or idle for too long): please log in again.",
        "zh": "您的会话已结束（时间过长或长时间未操作），请重新登录。",
    },
    "account.title": {"en": "Your account", "zh": "您的账户"},
    "account.user": {"en": "Logged in as", "zh": "当前登录用户"},
    "account.sessions": {"en": "Sessions", "zh": "会话"},
    "account.sessions_help": {
        "en": "Signing out everywhere ends every session of your account, on every device "
        "and browser, this one included.",
        "zh": "在所有设备上退出将结束您账户在所有设备和浏览器上的全部会话，包括当前会话。",
    },
    "account.sign_out_everywhere": {"en": "Sign out everywhere", "zh": "在所有设备上退出"},
    "account.signed_out_everywhere": {
        "en": "Every session of your account has ended.",
        "zh": "您账户的所有会话均已结束。",
    },
    "language": {"en": "Language", "zh": "语言"},
    "language.switch": {"en": "Switch", "zh": "切换"},
    "skip": {"en": "Skip to content", "zh": "跳到正文"},
    "menu": {"en": "Objects", "zh": "对象"},
    "nav.menu": {"en": "Menu", "zh": "菜单"},
    "nav.account": {"en": "Account", "zh": "账户"},
    "home": {"en": "Home", "zh": "首页"},
    # --- global search (webui.ui.search) ---
    "search.label": {"en": "Search all records", "zh": "搜索全部记录"},
    "search.placeholder": {"en": "Search", "zh": "搜索"},
    "search.shortcut": {"en": "Search all records (press /)", "zh": "搜索全部记录（按 / 键）"},
    "search.button": {"en": "Search", "zh": "搜索"},
    "search.title": {"en": "Search", "zh": "搜索"},
    "search.results_for": {"en": "Results for “{text}”", "zh": "“{text}”的搜索结果"},
    "search.hint": {
        "en": "Type a name, number, phone number or e-mail address to search every object you may read.",
        "zh": "输入名称、编号、电话或邮箱，即可搜索您有权查看的所有对象。",
    },
    "search.summary": {
        "en": "{count} records match “{text}” in {objects} objects.",
        "zh": "在 {objects} 个对象中找到 {count} 条匹配“{text}”的记录。",
    },
    "search.summary_one": {
        "en": "{count} record matches “{text}”.",
        "zh": "找到 {count} 条匹配“{text}”的记录。",
    },
    "search.summary_more": {
        "en": "More than {count} records match “{text}” in {objects} objects.",
        "zh": "在 {objects} 个对象中找到超过 {count} 条匹配“{text}”的记录。",
    },
    "search.count_more": {"en": "{count}+", "zh": "{count}+"},
    "search.show_all_more": {"en": "Show all matches in the {object} list", "zh": "在{object}列表中查看全部匹配记录"},
    "search.none": {"en": "No records match “{text}”.", "zh": "没有匹配“{text}”的记录。"},
    "search.show_all": {"en": "Show all {count} in the {object} list", "zh": "在{object}列表中查看全部 {count} 条"},
    "search.show_all_one": {"en": "Show it in the {object} list", "zh": "在{object}列表中查看"},
    "search.all_results": {"en": "All results for “{text}”", "zh": "查看“{text}”的全部结果"},
    "search.group_count": {"en": "{count} found", "zh": "找到 {count} 条"},
    "search.suggestions": {"en": "Suggestions", "zh": "搜索建议"},
    # --- lists ---
    "list.search": {"en": "Search", "zh": "搜索"},
    "list.filter": {"en": "Filter", "zh": "筛选"},
    "list.more_filters": {"en": "More filters", "zh": "更多筛选"},
    "list.filters": {"en": "Filters", "zh": "筛选条件"},
    "list.clear": {"en": "Clear filters", "zh": "清除筛选"},
    "list.new": {"en": "New", "zh": "新建"},
    "list.export": {"en": "Export CSV", "zh": "导出 CSV"},
    "list.export_xlsx": {"en": "Export Excel", "zh": "导出 Excel"},
    "list.export_more": {"en": "For re-import", "zh": "用于重新导入"},
    "list.export_csv_keys": {"en": "CSV with field keys", "zh": "CSV（含字段键）"},
    "list.export_xlsx_keys": {"en": "Excel with field keys", "zh": "Excel（含字段键）"},
    "list.export_keys_hint": {
        "en": "A second header row holds the field keys, so that the file imports back unchanged.",
        "zh": "第二行表头为字段键，文件可原样重新导入。",
    },
    "list.empty": {"en": "No records.", "zh": "没有记录。"},
    "list.count": {"en": "{count} records", "zh": "共 {count} 条记录"},
    "list.count_one": {"en": "{count} record", "zh": "共 {count} 条记录"},
    "list.count_more": {"en": "{total}+ records", "zh": "超过 {total} 条记录"},
    "list.page": {"en": "Page {page} of {pages}", "zh": "第 {page} 页，共 {pages} 页"},
    "list.page_open": {"en": "Page {page}", "zh": "第 {page} 页"},
    "list.previous": {"en": "Previous", "zh": "上一页"},
    "list.next": {"en": "Next", "zh": "下一页"},
    "list.last": {"en": "Last", "zh": "末页"},
    "list.showing": {"en": "Showing: {sentence}", "zh": "当前筛选：{sentence}"},
    "list.sort_by": {"en": "Sort by {field}", "zh": "按{field}排序"},
    "list.bad_filter": {"en": "The filter was not applied: {message}", "zh": "筛选未生效：{message}"},
    # --- list columns: system columns (the engine's words, which exports use too) ---
    **{code: texts for code, texts in MESSAGES.items() if code.startswith(("column.", "period.", "weekday."))},
    # --- timeline and tasks (S25) ---
    "timeline.title": {"en": "Timeline", "zh": "跟进时间线"},
    "timeline.empty": {"en": "Nothing logged yet.", "zh": "还没有跟进记录。"},
    "timeline.last_activity": {"en": "Last activity: {when}", "zh": "最近跟进：{when}"},
    "timeline.no_activity": {"en": "No activity yet.", "zh": "尚无跟进。"},
    "timeline.log": {"en": "Log a {object}", "zh": "记录{object}"},
    "timeline.add_task": {"en": "Add a {object}", "zh": "添加{object}"},
    "timeline.logged": {"en": "Logged on the timeline.", "zh": "已记录到时间线。"},
    "timeline.not_logged": {"en": "Not saved; see the fields marked below.", "zh": "未保存，请查看下方标出的字段。"},
    "timeline.older": {"en": "Older entries", "zh": "更早的记录"},
    "timeline.newer": {"en": "Newer entries", "zh": "较新的记录"},
    "timeline.by": {"en": "by {user}", "zh": "{user}"},
    "timeline.due": {"en": "due {when}", "zh": "截止 {when}"},
    "timeline.done": {"en": "done", "zh": "已完成"},
    "timeline.overdue": {"en": "overdue", "zh": "已逾期"},
    "timeline.filter": {"en": "Show", "zh": "显示"},
    "timeline.filter.all": {"en": "All", "zh": "全部"},
    "timeline.filter.activity": {"en": "Activities", "zh": "跟进"},
    "timeline.filter.task": {"en": "Tasks", "zh": "任务"},
    "timeline.filter.event": {"en": "Engagement", "zh": "互动"},
    "tasks.nav": {"en": "My tasks", "zh": "我的任务"},
    "tasks.title": {"en": "My tasks", "zh": "我的任务"},
    "tasks.intro": {"en": "Your open tasks, by due date.", "zh": "您未完成的任务，按截止日期排列。"},
    "tasks.overdue": {"en": "Overdue", "zh": "已逾期"},
    "tasks.today": {"en": "Today", "zh": "今天"},
    "tasks.upcoming": {"en": "Upcoming", "zh": "即将到期"},
    "tasks.no_date": {"en": "No due date", "zh": "无截止日期"},
    "tasks.none": {"en": "No tasks here.", "zh": "这里没有任务。"},
    "tasks.subject": {"en": "Task", "zh": "任务"},
    "tasks.due": {"en": "Due", "zh": "截止"},
    "tasks.related": {"en": "About", "zh": "关联"},
    "tasks.status": {"en": "Status", "zh": "状态"},
    "tasks.actions": {"en": "Actions", "zh": "操作"},
    "tasks.reminder": {"en": "Reminder due", "zh": "提醒时间已到"},
    "tasks.mark_done": {"en": "Mark done", "zh": "标记完成"},
    "tasks.mark_done_label": {"en": "Mark “{subject}” done", "zh": "将“{subject}”标记为完成"},
    "tasks.marked_done": {"en": "The task is done.", "zh": "任务已完成。"},
    "tasks.new": {"en": "New task", "zh": "新建任务"},
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
    "twofactor.intro": {
        "en": "Add this account to your authenticator app, then enter the code it shows.",
        "zh": "请在身份验证器应用中添加此账户，然后输入应用显示的验证码。",
    },
    "twofactor.required": {
        "en": "Your role requires two-factor login: set it up now.",
        "zh": "您的角色要求两步验证登录，请立即设置。",
    },
    "twofactor.qr": {"en": "QR code for your authenticator app", "zh": "身份验证器应用的二维码"},
    "twofactor.qr_caption": {
        "en": "Scan this code with your authenticator app, or type the secret key below.",
        "zh": "用身份验证器应用扫描此二维码，或手动输入下面的密钥。",
    },
    "twofactor.secret": {"en": "Secret key", "zh": "密钥"},
    "twofactor.uri": {"en": "Provisioning URI", "zh": "配置链接"},
    "twofactor.recovery": {
        "en": "Recovery codes: write them down now, they are shown only once.",
        "zh": "恢复码：请立即记下，它们只显示这一次。",
    },
    "twofactor.start_intro": {
        "en": "After your password, two-factor login asks for a code from an authenticator app on your phone.",
        "zh": "两步验证登录在输入密码后还需要手机上身份验证器应用中的验证码。",
    },
    "twofactor.start": {"en": "Start setup", "zh": "开始设置"},
    "twofactor.pending": {
        "en": "A setup was started: enter the code your app shows, or start again for a new key.",
        "zh": "设置已开始：请输入应用显示的验证码，或重新开始以获取新密钥。",
    },
    "twofactor.restart": {"en": "Start again", "zh": "重新开始"},
    "twofactor.code": {"en": "Code from your authenticator app", "zh": "身份验证器应用中的验证码"},
    "twofactor.confirm": {"en": "Confirm", "zh": "确认"},
    "twofactor.done": {"en": "Two-factor login is now on.", "zh": "两步验证登录已开启。"},
    "twofactor.active": {
        "en": "Two-factor login is already on for your account.",
        "zh": "您的账户已开启两步验证登录。",
    },
    "twofactor.bad_code": {
        "en": "The code is not right; try the next one your app shows.",
        "zh": "验证码不正确，请输入应用显示的下一个验证码。",
    },
    "twofactor.expired": {"en": "The setup took too long; start again.", "zh": "设置超时，请重新开始。"},
    "filter.any": {"en": "Any", "zh": "全部"},
    "filter.from": {"en": "from", "zh": "从"},
    "filter.to": {"en": "to", "zh": "到"},
    "filter.min": {"en": "min", "zh": "最小"},
    "filter.max": {"en": "max", "zh": "最大"},
    "filter.owner": {"en": "Owner", "zh": "负责人"},
    "filter.owner.me": {"en": "owner is me", "zh": "负责人是我"},
    "filter.owner.team": {"en": "owner is in my team", "zh": "负责人在我的团队"},
    "filter.owner.user": {"en": "owner is {name}", "zh": "负责人是{name}"},
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
    "filter.any_empty": {"en": "{fields} is empty", "zh": "{fields}为空"},
    "filter.or": {"en": " or ", "zh": "或"},
    "filter.moved": {"en": "changed stage", "zh": "变更过阶段"},
    "filter.moved_to": {"en": "moved to {stages}", "zh": "进入过{stages}阶段"},
    "filter.moved_from": {"en": " from {stages}", "zh": "（从{stages}）"},
    "filter.moved_during": {"en": " {period}", "zh": "（{period}）"},
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
    "record.converted_read_only": {
        "en": "This {object} was converted ({conversion}); it can no longer be changed.",
        "zh": "该{object}已转化（{conversion}），不能再修改。",
    },
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
    "duplicates.heading": {"en": "This record may exist already", "zh": "该记录可能已存在"},
    "duplicates.warn": {
        "en": "Open one of these records, or save yours anyway.",
        "zh": "请打开下列已有记录之一，或仍然保存。",
    },
    "duplicates.block": {
        "en": "A matching record exists; this one cannot be saved.",
        "zh": "已存在匹配的记录，不能保存。",
    },
    "duplicates.record": {"en": "Record", "zh": "记录"},
    "duplicates.owner": {"en": "Owner", "zh": "负责人"},
    "duplicates.matched": {"en": "Matched on", "zh": "匹配字段"},
    "duplicates.score": {"en": "Similarity", "zh": "相似度"},
    "duplicates.hidden": {
        "en": "A record you cannot open (owned by {owner})",
        "zh": "您无权查看的记录（负责人：{owner}）",
    },
    "duplicates.no_owner": {"en": "nobody", "zh": "无"},
    "duplicates.save_anyway": {"en": "Save anyway", "zh": "仍然保存"},
    # --- the duplicates page (the finder) ---
    "finder.button": {"en": "Duplicates", "zh": "重复记录"},
    "finder.title": {"en": "Likely duplicates: {object}", "zh": "疑似重复的{object}"},
    "finder.find": {"en": "Find duplicates", "zh": "查找重复"},
    "finder.count": {"en": "{count} groups", "en_one": "{count} group", "zh": "共 {count} 组"},
    "finder.size": {"en": "{count} records", "en_one": "{count} record", "zh": "{count} 条记录"},
    "finder.group": {"en": "{score} alike · {size}", "zh": "相似度 {score} · {size}"},
    "finder.rule": {"en": "Rule", "zh": "规则"},
    "finder.all_rules": {"en": "All rules", "zh": "全部规则"},
    "finder.sort": {"en": "Order", "zh": "排序"},
    "finder.sort.-score": {"en": "Most alike first", "zh": "相似度从高到低"},
    "finder.sort.score": {"en": "Least alike first", "zh": "相似度从低到高"},
    "finder.sort.-size": {"en": "Largest groups first", "zh": "记录多的组在前"},
    "finder.sort.size": {"en": "Smallest groups first", "zh": "记录少的组在前"},
    "finder.actions": {"en": "Actions", "zh": "操作"},
    "finder.merge": {"en": "Merge…", "zh": "合并…"},
    "finder.not_duplicate": {"en": "Not a duplicate", "zh": "不是重复"},
    "finder.not_duplicate_of": {
        "en": "{title} is not a duplicate of the others",
        "zh": "“{title}”与其他记录不重复",
    },
    "finder.not_duplicates": {"en": "None of these are duplicates", "zh": "这些都不是重复记录"},
    "finder.none": {
        "en": "No likely duplicates left. Find duplicates again after new records came in.",
        "zh": "没有剩余的疑似重复记录。有新记录后可再次查找。",
    },
    "finder.never": {"en": "Nobody has looked for duplicates here yet.", "zh": "尚未在此查找过重复记录。"},
    "finder.never_hint": {
        "en": "Click “Find duplicates”: the worker compares the records and lists the likely duplicates here.",
        "zh": "点击“查找重复”：后台任务会比较这些记录，并在此列出疑似重复的记录。",
    },
    "finder.run.queued": {
        "en": "Waiting for the worker to look for duplicates (started by {who})…",
        "zh": "等待后台任务查找重复记录（由 {who} 发起）…",
    },
    "finder.run.running": {
        "en": "Looking for duplicates (started by {who})…",
        "zh": "正在查找重复记录（由 {who} 发起）…",
    },
    "finder.run.failed": {
        "en": "The last search ({when}) failed: {message}",
        "zh": "上次查找（{when}）失败：{message}",
    },
    "finder.run.done": {
        "en": "Last search {when}, started by {who}: {groups} groups ({duplicates} records) among {records} records, in {seconds} s.",
        "zh": "上次查找于 {when}，由 {who} 发起：在 {records} 条记录中找到 {groups} 组（{duplicates} 条记录），用时 {seconds} 秒。",
    },
    "finder.run.skipped": {
        "en": "{count} matching keys shared by too many records were skipped.",
        "en_one": "{count} matching key shared by too many records was skipped.",
        "zh": "已跳过 {count} 个被过多记录共用的匹配键。",
    },
    "finder.run.cli": {"en": "the command line", "zh": "命令行"},
    "finder.refreshing": {"en": "This page refreshes every {seconds} seconds.", "zh": "本页每 {seconds} 秒刷新一次。"},
    "finder.queued": {
        "en": "The search is queued; this page shows its result once the worker has run it.",
        "zh": "查找已排队；后台任务运行后，本页将显示结果。",
    },
    "finder.already_running": {
        "en": "A search of these records is already waiting or running.",
        "zh": "已有针对这些记录的查找在排队或运行中。",
    },
    "finder.dismissed": {
        "en": "Noted: this record is not a duplicate of the others; they will not be proposed together again.",
        "zh": "已记录：该记录与其他记录不重复，以后不会再一起提示。",
    },
    "finder.dismissed_group": {
        "en": "Noted: these records are not duplicates; they will not be proposed again.",
        "zh": "已记录：这些记录互不重复，以后不会再提示。",
    },
    "finder.gone": {
        "en": "This group has changed since you opened the page; look at it again.",
        "zh": "打开页面后该组已有变化，请重新查看。",
    },
    "finder.pages": {"en": "Pages of groups", "zh": "分组分页"},
    "finder.better": {"en": "Previous groups", "zh": "上一页"},
    "finder.more": {"en": "More groups", "zh": "下一页"},
    "form.cancel": {"en": "Cancel", "zh": "取消"},
    "form.required": {"en": "required", "zh": "必填"},
    "form.field_required": {"en": "{field} is required.", "zh": "请填写{field}。"},
    "form.required_note": {"en": "Fields marked * are required.", "zh": "标 * 的字段为必填项。"},
    "form.not_saved": {
        "en": "The record was not saved; see the fields marked below.",
        "zh": "记录未保存，请查看下方标出的字段。",
    },
    "form.summary": {"en": "The record was not saved. Fix these problems:", "zh": "记录未保存，请修正以下问题："},
    "form.lost_confirm": {
        "en": "This closes the record as lost ({stage}). Give the reason, then save again to confirm.",
        "zh": "此操作将以输单（“{stage}”）关闭此记录。请填写原因，然后再次保存以确认。",
    },
    "form.lost_ask": {
        "en": "Close this record as {stage}? You will be asked for the reason.",
        "zh": "确定将此记录关闭为“{stage}”吗？接下来请填写原因。",
    },
    "form.none": {"en": "(none)", "zh": "（无）"},
    "form.tags_hint": {"en": "Separate tags with commas.", "zh": "多个标签用逗号分隔。"},
    "form.lookup_hint": {"en": "Type to search, then pick a record.", "zh": "输入关键字搜索，然后选择一条记录。"},
    "form.user_hint": {
        "en": "Type a name, then pick a user (without suggestions: type their user name).",
        "zh": "输入姓名后选择用户（没有提示时请输入用户名）。",
    },
    "form.unknown_user": {
        "en": "There is no active user called “{name}”; type a user name or pick a suggestion.",
        "zh": "没有名为“{name}”的在职用户；请输入用户名或从提示中选择。",
    },
    "form.owner_help": {"en": "The user responsible for this record.", "zh": "负责此记录的用户。"},
    "form.file_current": {"en": "Current file: {name}", "zh": "当前文件：{name}"},
    "form.file_clear": {"en": "Remove the file", "zh": "删除文件"},
    "form.file_bad_name": {
        "en": "The file's name or type contains control characters (such as line breaks); "
        "rename the file and upload it again.",
        "zh": "文件名或文件类型包含控制字符（如换行符），请重命名文件后重新上传。",
    },
    "form.invalid_json": {"en": "Not valid JSON: {message}", "zh": "不是有效的 JSON：{message}"},
    # Field errors shown by their engine code (webui.ui.forms.error_text); other codes show the engine's message.
    "form.error.control_character": {
        "en": "Control characters are not allowed here (in a single-line field: no tabs or line breaks).",
        "zh": "此处不允许使用控制字符（单行字段中也不能有制表符或换行）。",
    },
    "form.error.invalid_character": {
        "en": "The text holds an invalid character (a lone UTF-16 surrogate); paste it again as plain text.",
        "zh": "文本包含无效字符（孤立的 UTF-16 代理项），请以纯文本重新粘贴。",
    },
    "form.error.expression_limit": {
        "en": "This value could not be computed: a number or a text would be too large.",
        "zh": "无法计算此值：数字或文本过大。",
    },
    "form.conflict": {
        "en": "This record was changed by {user} meanwhile (version {version}). Reload to see their change.",
        "zh": "这条记录在此期间已被 {user} 修改（版本 {version}）。请重新加载查看其修改。",
    },
    "form.conflict_anonymous": {
        "en": "This record was changed meanwhile (version {version}). Reload to see the change.",
        "zh": "这条记录在此期间已被修改（版本 {version}）。请重新加载查看修改。",
    },
    "form.version_missing": {
        "en": "Not saved: the change did not say which version of the record it started "
        "from, and someone else may have changed it. Reload and apply your change again.",
        "zh": "未保存：此次修改未注明基于记录的哪个版本，记录可能已被他人修改。请重新加载后再修改。",
    },
    "form.reload": {"en": "Reload", "zh": "重新加载"},
    # --- merging duplicates (webui.ui.merging, issue 14) ---
    "email.button": {"en": "E-mail", "zh": "发邮件"},
    "email.heading": {"en": "Write an e-mail", "zh": "写邮件"},
    "email.to": {"en": "To", "zh": "收件人"},
    "email.subject": {"en": "Subject", "zh": "主题"},
    "email.body": {"en": "Message", "zh": "正文"},
    "email.template": {"en": "Template", "zh": "邮件模板"},
    "email.no_template": {"en": "(none)", "zh": "（不使用）"},
    "email.use_template": {"en": "Use template", "zh": "套用模板"},
    "email.send": {"en": "Send", "zh": "发送"},
    "email.hint": {
        "en": "Sent from the company's address; the e-mail and the replies show on this record's timeline.",
        "zh": "邮件以公司邮箱发出；该邮件及客户回复都会显示在本记录的时间线上。",
    },
    "email.not_sent": {"en": "The e-mail was not sent: see the fields below.", "zh": "邮件未发送：请检查下方各项。"},
    "email.sent": {"en": "E-mail to {to} queued for sending.", "zh": "发给 {to} 的邮件已排队发送。"},
    "merge.button": {"en": "Merge", "zh": "合并"},
    "merge.heading": {"en": "Merge into {object} {title}", "zh": "合并到{object}“{title}”"},
    "merge.pick": {"en": "Duplicate to merge into this record", "zh": "要合并到此记录的重复记录"},
    "merge.pick_hint": {
        "en": "Type part of its name and pick it from the list.",
        "zh": "输入名称的一部分，然后从列表中选择。",
    },
    "merge.compare": {"en": "Compare side by side", "zh": "并排比较"},
    "merge.intro": {
        "en": "Choose the value that survives for each field. The other record is archived and linked to this one; "
        "everything that pointed at it will point here. You can undo the merge for a while.",
        "zh": "请为每个字段选择保留的值。另一条记录将被归档并关联到此记录，指向它的所有内容都将改为指向此记录。合并后一段时间内可以撤销。",
    },
    "merge.field": {"en": "Field", "zh": "字段"},
    "merge.survivor": {"en": "kept", "zh": "保留"},
    "merge.summed": {"en": "(added up)", "zh": "（相加）"},
    "merge.submit": {"en": "Merge", "zh": "合并"},
    "merge.done": {
        "en": "Merged: {count} record(s) archived and linked to this one.",
        "zh": "已合并：{count} 条记录已归档并关联到此记录。",
    },
    "merge.conflict": {
        "en": "Not merged: one of the records changed meanwhile. Compare them again.",
        "zh": "未合并：其中一条记录已被修改，请重新比较。",
    },
    "merge.undo": {"en": "Undo merge", "zh": "撤销合并"},
    "merge.undo_until": {"en": "Possible until {until}", "zh": "可撤销至 {until}"},
    "merge.undo_confirm": {
        "en": "Undo the merge? The merged records come back and what was moved goes back to them.",
        "zh": "确定撤销合并吗？被合并的记录将恢复，移动过的内容将回到原记录。",
    },
    "merge.undone": {"en": "The merge is undone.", "zh": "已撤销合并。"},
    "merge.merged_into": {"en": "Merged into", "zh": "已合并到"},
    # --- conversions (webui.ui.conversion, S12) ---
    "convert.heading": {"en": "{conversion}: {title}", "zh": "{conversion}：{title}"},
    "convert.intro": {
        "en": "Check the values below: everything is created in one step, and if anything is wrong nothing is saved.",
        "zh": "请核对以下内容：所有记录一次性创建，任何一项有误都不会保存。",
    },
    "convert.include": {"en": "Create {target}", "zh": "创建{target}"},
    "convert.will_create": {"en": "A new {object} will be created.", "zh": "将新建{object}。"},
    "convert.will_link": {"en": "The existing {object} will be linked:", "zh": "将关联已有的{object}："},
    "convert.reference": {"en": "the {target} above", "zh": "上面的{target}"},
    "convert.created": {"en": "{target} {title} created", "zh": "已创建{target}“{title}”"},
    "convert.linked": {"en": "linked to {target} {title}", "zh": "已关联{target}“{title}”"},
    "convert.skipped": {"en": "no {target}", "zh": "未创建{target}"},
    "convert.done": {"en": "Converted: {details}.", "zh": "转化完成：{details}。"},
    "convert.separator": {"en": "; ", "zh": "；"},
    "convert.duplicates_heading": {
        "en": "This {object} may exist already",
        "zh": "该{object}可能已存在",
    },
    "convert.duplicates_warn": {
        "en": "Choose one: link to an existing {object}, or create a new one anyway.",
        "zh": "请选择：关联已有的{object}，或仍然新建。",
    },
    "convert.duplicates_block": {
        "en": "A matching {object} exists and another may not be created: link to it, or cancel.",
        "zh": "已存在匹配的{object}，不允许再新建：请关联该记录，或取消。",
    },
    "convert.duplicates_hidden_only": {
        "en": "A matching {object} exists that you cannot open, and another may not be created: "
        "ask its owner, or cancel.",
        "zh": "已存在您无权查看的匹配{object}，不允许再新建：请联系其负责人，或取消。",
    },
    "convert.link_to": {"en": "Link to {title}", "zh": "关联“{title}”"},
    "convert.open": {"en": "open", "zh": "打开"},
    "convert.candidate_details": {
        "en": "Owner: {owner} · matched on {matched} · similarity {score}",
        "zh": "负责人：{owner} · 匹配字段：{matched} · 相似度 {score}",
    },
    "convert.create_anyway": {"en": "Create a new {object} anyway", "zh": "仍然新建{object}"},
    "convert.new_values": {
        "en": "The values below are used only when a new {object} is created.",
        "zh": "以下内容仅在新建{object}时使用。",
    },
    "convert.conflict": {
        "en": "This record was changed meanwhile; check the values again.",
        "zh": "该记录已被他人修改，请重新核对。",
    },
    # --- pipelines: stage path, moves, stage history, board (webui.ui.pipeline, webui.ui.board) ---
    "stage.path": {"en": "Stages", "zh": "阶段"},
    "stage.current": {"en": "Current stage: {stage}", "zh": "当前阶段：{stage}"},
    "stage.probability": {"en": "{value}% probability", "zh": "赢率 {value}%"},
    "stage.days": {"en": "In this stage for {count} days", "zh": "已在此阶段 {count} 天"},
    "stage.days_one": {"en": "In this stage for {count} day", "zh": "已在此阶段 {count} 天"},
    "stage.today": {"en": "Entered this stage today", "zh": "今天进入此阶段"},
    "stage.won": {"en": "Won", "zh": "赢单"},
    "stage.lost": {"en": "Lost", "zh": "输单"},
    "stage.next_needs": {"en": "To move to {stage}, fill in: {fields}.", "zh": "进入“{stage}”前需填写：{fields}。"},
    "stage.next_ready": {"en": "Ready for {stage}.", "zh": "可以进入“{stage}”。"},
    "stage.move_to": {"en": "Move to {stage}", "zh": "移至“{stage}”"},
    "stage.is_current": {"en": "{stage} (current stage)", "zh": "{stage}（当前阶段）"},
    "stage.needs": {"en": "needs {fields}", "zh": "需填写{fields}"},
    "stage.hidden_needs": {"en": "fields you cannot see", "zh": "您无权查看的字段"},
    "stage.locked": {
        "en": "The stage cannot change while a request waits for approval.",
        "zh": "有申请正在等待审批，暂时不能变更阶段。",
    },
    "stage.reason": {"en": "Reason for the stage change", "zh": "阶段变更原因"},
    "stage.reason_help": {
        "en": "Needed when skipping stages or reopening a closed record; kept in the stage history.",
        "zh": "跳过阶段或重新打开已关闭的记录时填写，会记录在阶段历史中。",
    },
    "stage.history": {"en": "Stage history", "zh": "阶段历史"},
    "stage.history_empty": {"en": "No stage changes yet.", "zh": "还没有阶段变更。"},
    "stage.history_change": {"en": "Change", "zh": "变更"},
    "stage.history_who": {"en": "Who", "zh": "操作人"},
    "stage.history_when": {"en": "When", "zh": "时间"},
    "stage.history_reason": {"en": "Reason", "zh": "原因"},
    "stage.history_time": {"en": "Time in previous stage", "zh": "在上一阶段停留"},
    "stage.history_created": {"en": "created in {stage}", "zh": "创建于“{stage}”"},
    "stage.history_skipped": {"en": "skipped {count} stages", "zh": "跳过 {count} 个阶段"},
    "stage.history_skipped_one": {"en": "skipped {count} stage", "zh": "跳过 {count} 个阶段"},
    "move.title": {"en": "Move “{title}” to {stage}", "zh": "将“{title}”移至“{stage}”"},
    "move.dialog_title": {"en": "Move to {stage}", "zh": "移至“{stage}”"},
    "move.intro": {"en": "This move needs the fields below.", "zh": "此次移动需要填写以下字段。"},
    "move.confirm": {"en": "Move this record to {stage}?", "zh": "确定将此记录移至“{stage}”吗？"},
    "move.lost_title": {"en": "Close as {stage}?", "zh": "确定以“{stage}”关闭吗？"},
    "move.lost_confirm": {
        "en": "This closes the record as lost ({stage}). Give the reason and confirm.",
        "zh": "此操作将以输单（“{stage}”）关闭此记录。请填写原因并确认。",
    },
    "move.lost_button": {"en": "Close as {stage}", "zh": "以“{stage}”关闭"},
    "move.button": {"en": "Move", "zh": "移动"},
    "move.cancel": {"en": "Cancel", "zh": "取消"},
    "move.moved": {"en": "Moved to {stage}.", "zh": "已移至“{stage}”。"},
    "move.refused": {"en": "Not moved; see the fields marked below.", "zh": "未移动，请查看下方标出的字段。"},
    "move.denied": {
        "en": "Not moved: you may not make this move ({message}).",
        "zh": "未移动：您无权执行此移动（{message}）。",
    },
    "move.conflict": {
        "en": "Not moved: this record was changed meanwhile. Reload and try again.",
        "zh": "未移动：这条记录在此期间已被修改，请重新加载后再试。",
    },
    "move.unknown_stage": {"en": "There is no stage “{stage}”.", "zh": "没有“{stage}”这个阶段。"},
    "move.edit_hint": {
        "en": "Some problems are in fields this move does not ask for: open the edit form.",
        "zh": "部分问题出在此次移动未涉及的字段上，请打开编辑表单修改。",
    },
    "move.failed": {
        "en": "The move could not be sent; check the connection and try again.",
        "zh": "移动请求未能发送，请检查网络后重试。",
    },
    "board.link": {"en": "Board", "zh": "看板"},
    "board.title": {"en": "{objects}: board", "zh": "{objects}看板"},
    "board.pipelines": {"en": "Pipelines", "zh": "管道"},
    "board.unknown_pipeline": {
        "en": "There is no pipeline “{pipeline}” here; choose one of {known}.",
        "zh": "此处没有名为“{pipeline}”的管道，请从以下选择：{known}。",
    },
    "board.list": {"en": "List", "zh": "列表"},
    "board.intro": {
        "en": "Drag a card to another column, press ← or → on a selected card, or use Move to… on the card.",
        "zh": "将卡片拖到其他列，选中卡片后按 ← 或 →，或使用卡片上的“移至…”菜单。",
    },
    "board.count": {"en": "{count} records", "zh": "{count} 条记录"},
    "board.count_one": {"en": "{count} record", "zh": "{count} 条记录"},
    "board.sum": {"en": "Total {amount}", "zh": "合计 {amount}"},
    "board.more": {"en": "{count} more in the list", "zh": "列表中还有 {count} 条"},
    "board.empty": {"en": "No records", "zh": "暂无记录"},
    "board.move_to": {"en": "Move to…", "zh": "移至…"},
    "board.move_card": {"en": "Move {title} to…", "zh": "将“{title}”移至…"},
    "board.drag": {"en": "Drag {title}", "zh": "拖动“{title}”"},
    "board.other": {
        "en": "{count} records in no stage of this pipeline are not shown.",
        "en_one": "{count} record in no stage of this pipeline is not shown.",
        "zh": "有 {count} 条记录不在此流程的任何阶段，未显示。",
    },
    "board.other_one": {
        "en": "{count} record in no stage of this pipeline is not shown.",
        "zh": "有 {count} 条记录不在此流程的任何阶段，未显示。",
    },
    "board.moved": {"en": "“{title}” moved to {stage}.", "zh": "“{title}”已移至“{stage}”。"},
    # --- approvals (webui.ui.approvals) ---
    "approvals.nav": {"en": "Approvals", "zh": "审批"},
    # --- reports (webui.ui.reports) ---
    "dashboards.nav": {"en": "Dashboards", "zh": "仪表板"},
    "dashboards.title": {"en": "Dashboards", "zh": "仪表板"},
    "dashboards.none": {"en": "There are no dashboards you may open.", "zh": "没有您可以打开的仪表板。"},
    "dashboards.home": {"en": "Your home page", "zh": "您的首页"},
    "dashboards.empty": {"en": "Nothing on this dashboard that you may see.", "zh": "此仪表板上没有您可以查看的内容。"},
    "dashboards.filters": {"en": "Dashboard filters", "zh": "仪表板筛选"},
    "dashboards.period_reports": {"en": "As each report says", "zh": "按各报表设置"},
    "dashboards.team": {"en": "Team", "zh": "团队"},
    "dashboards.team_all": {"en": "Every team I may see", "zh": "我可查看的全部团队"},
    "dashboards.open_report": {"en": "Open the report", "zh": "打开报表"},
    "dashboards.open_list": {"en": "Show these records", "zh": "查看这些记录"},
    "dashboards.tasks.overdue": {"en": "{count} overdue", "zh": "{count} 项已逾期"},
    "dashboards.tasks.overdue_one": {"en": "{count} overdue", "zh": "{count} 项已逾期"},
    "dashboards.tasks.today": {"en": "{count} due today", "zh": "{count} 项今天到期"},
    "dashboards.tasks.today_one": {"en": "{count} due today", "zh": "{count} 项今天到期"},
    "dashboards.tasks.upcoming": {"en": "{count} upcoming", "zh": "{count} 项即将到期"},
    "dashboards.tasks.upcoming_one": {"en": "{count} upcoming", "zh": "{count} 项即将到期"},
    "dashboards.tasks.no_date": {"en": "{count} without a due date", "zh": "{count} 项无截止日期"},
    "dashboards.tasks.no_date_one": {"en": "{count} without a due date", "zh": "{count} 项无截止日期"},
    "dashboards.all_tasks": {"en": "All my tasks", "zh": "全部任务"},
    "dashboards.no_tasks": {"en": "No open tasks.", "zh": "没有待办任务。"},
    "dashboards.waiting": {"en": "{count} requests wait for you", "zh": "{count} 项申请等待您审批"},
    "dashboards.waiting_one": {"en": "{count} request waits for you", "zh": "{count} 项申请等待您审批"},
    "dashboards.all_approvals": {"en": "All approvals", "zh": "全部审批"},
    "dashboards.no_approvals": {"en": "Nothing waits for your approval.", "zh": "没有等待您审批的申请。"},
    "dashboards.no_records": {"en": "No records yet.", "zh": "暂无记录。"},
    "dashboards.unread": {"en": "Unread", "zh": "未读"},
    "dashboards.unread_count": {"en": "{count} unread", "zh": "{count} 条未读"},
    "dashboards.unread_count_one": {"en": "{count} unread", "zh": "{count} 条未读"},
    "dashboards.all_notifications": {"en": "All notifications", "zh": "全部通知"},
    "dashboards.no_notifications": {"en": "No notifications.", "zh": "没有通知。"},
    "reports.nav": {"en": "Reports", "zh": "报表"},
    "reports.title": {"en": "Reports", "zh": "报表"},
    "reports.none": {"en": "There are no reports you may open.", "zh": "没有您可以打开的报表。"},
    "reports.csv": {"en": "Download CSV", "zh": "下载 CSV"},
    "reports.xlsx": {"en": "Download Excel", "zh": "下载 Excel"},
    "reports.period": {"en": "Period", "zh": "期间"},
    "reports.period_report": {"en": "As the report says", "zh": "按报表设置"},
    "reports.owner": {"en": "Owner", "zh": "负责人"},
    "reports.owner_all": {"en": "Everyone I may see", "zh": "我可查看的全部"},
    "reports.owner_me": {"en": "Mine", "zh": "我的"},
    "reports.owner_team": {"en": "My team", "zh": "我的团队"},
    "reports.apply": {"en": "Show", "zh": "查看"},
    "reports.total": {"en": "Total", "zh": "合计"},
    "reports.no_records": {"en": "No records match this report.", "zh": "没有符合该报表的记录。"},
    "reports.more": {
        "en": "Only the first {count} groups are shown; the total counts every record.",
        "zh": "仅显示前 {count} 组；合计包含全部记录。",
    },
    "reports.chart_by": {"en": "{measure} by {level}", "zh": "按{level}统计的{measure}"},
    "reports.chart_by_two": {
        "en": "{measure} by {level} and {other}",
        "zh": "按{level}和{other}统计的{measure}",
    },
    "reports.kpi_previous.yesterday": {"en": "yesterday", "zh": "昨天"},
    "reports.kpi_previous.last_week": {"en": "last week", "zh": "上周"},
    "reports.kpi_previous.last_month": {"en": "last month", "zh": "上月"},
    "reports.kpi_previous.last_quarter": {"en": "last quarter", "zh": "上季度"},
    "reports.kpi_previous.last_year": {"en": "last year", "zh": "去年"},
    "subscriptions.title": {"en": "My subscriptions", "zh": "我的订阅"},
    "subscriptions.help": {
        "en": "Reports sent to you by e-mail, with the figures you may see. Times are in the company's time zone.",
        "zh": "按计划通过邮件发送给您的报表，内容为您有权查看的数据。时间为公司所在时区。",
    },
    "subscriptions.what": {"en": "Report", "zh": "报表"},
    "subscriptions.when": {"en": "When", "zh": "发送时间"},
    "subscriptions.next": {"en": "Next", "zh": "下次发送"},
    "subscriptions.last": {"en": "Last sent", "zh": "上次发送"},
    "subscriptions.by_role": {"en": "Sent to your role", "zh": "按您的角色发送"},
    "subscriptions.none": {
        "en": "You have no subscriptions. Open a report and choose Subscribe by e-mail.",
        "zh": "您还没有订阅。打开一份报表，选择“邮件订阅”即可。",
    },
    "subscriptions.unsubscribe": {"en": "Unsubscribe", "zh": "退订"},
    "subscriptions.unsubscribe_from": {"en": "Unsubscribe from {title}", "zh": "退订“{title}”"},
    "subscriptions.added": {
        "en": "Subscribed: you will get this report by e-mail, {schedule}.",
        "zh": "订阅成功：您将按“{schedule}”收到这份报表的邮件。",
    },
    "subscriptions.removed": {"en": "Unsubscribed.", "zh": "已退订。"},
    "subscriptions.subscribe": {"en": "Subscribe by e-mail", "zh": "邮件订阅"},
    "subscriptions.subscribe_help": {
        "en": "Get this report by e-mail, with the period and owner chosen above. Times are in the company's time zone.",
        "zh": "按上方选择的期间和负责人，通过邮件定期接收这份报表。时间为公司所在时区。",
    },
    "subscriptions.frequency": {"en": "How often", "zh": "频率"},
    "subscriptions.daily": {"en": "Every day", "zh": "每天"},
    "subscriptions.weekly": {"en": "Every week", "zh": "每周"},
    "subscriptions.monthly": {"en": "Every month", "zh": "每月"},
    "subscriptions.weekday": {"en": "Day of the week (weekly)", "zh": "星期几（每周）"},
    "subscriptions.day": {"en": "Day of the month (monthly)", "zh": "日期（每月）"},
    "subscriptions.time": {"en": "Time", "zh": "时间"},
    "subscriptions.button": {"en": "Subscribe", "zh": "订阅"},
    "subscriptions.mine_link": {"en": "My subscriptions", "zh": "我的订阅"},
    "campaigns.start": {"en": "Start campaign", "zh": "启动活动"},
    "campaigns.start_confirm": {
        "en": "Send this campaign to its segment now (or at its start time)?",
        "zh": "现在（或在开始时间）向目标人群发送此活动？",
    },
    "campaigns.started": {
        "en": "Campaign started: {count} e-mails queued, sent from {first} to {last}; {suppressed} addresses do not receive e-mail.",
        "en_one": "Campaign started: {count} e-mail queued, sent at {first}; {suppressed} addresses do not receive e-mail.",
        "zh": "活动已启动：{count} 封邮件已排队，发送时间 {first} 至 {last}；{suppressed} 个地址拒收邮件。",
    },
    "campaigns.results": {"en": "Results", "zh": "活动效果"},
    "campaigns.results_hint": {
        "en": "Opened and clicked count each person once. Leads and won deals count what you may see.",
        "zh": "打开和点击按人计数，每人一次。线索和赢单商机只计您有权查看的记录。",
    },
    "campaigns.figure.recipients": {"en": "Recipients", "zh": "收件人"},
    "campaigns.figure.queued": {"en": "Waiting to be sent", "zh": "待发送"},
    "campaigns.figure.suppressed": {"en": "Do not e-mail", "zh": "拒收邮件"},
    "campaigns.figure.failed": {"en": "Could not be written", "zh": "生成失败"},
    "campaigns.figure.sent": {"en": "Sent", "zh": "已发送"},
    "campaigns.figure.delivered": {"en": "Delivered", "zh": "已送达"},
    "campaigns.figure.bounced": {"en": "Bounced", "zh": "退信"},
    "campaigns.figure.opened": {"en": "Opened", "zh": "打开"},
    "campaigns.figure.clicked": {"en": "Clicked", "zh": "点击"},
    "campaigns.figure.unsubscribed": {"en": "Unsubscribed", "zh": "退订"},
    "campaigns.figure.leads": {"en": "Leads", "zh": "带来的线索"},
    "campaigns.figure.deals_won": {"en": "Deals won", "zh": "赢单商机"},
    "campaigns.figure.won_amount": {"en": "Won amount", "zh": "赢单金额"},
    "campaigns.engagement": {"en": "Engagement", "zh": "互动记录"},
    "campaigns.event.email_opened": {"en": "Opened an e-mail", "zh": "打开邮件"},
    "campaigns.event.email_clicked": {"en": "Clicked a link", "zh": "点击链接"},
    "campaigns.event.email_unsubscribed": {"en": "Unsubscribed", "zh": "退订"},
    "campaigns.event.email_bounced": {"en": "E-mail bounced", "zh": "邮件退信"},
    "campaigns.event.email_received": {"en": "E-mail received", "zh": "收到邮件"},
    "campaigns.event.form_submitted": {"en": "Form submitted", "zh": "提交表单"},
    "campaigns.event.page_visited": {"en": "Visited the website", "zh": "访问网站"},
    "campaigns.event.custom": {"en": "Event", "zh": "事件"},
    "campaigns.leave_title": {"en": "Unsubscribe", "zh": "退订"},
    "campaigns.leave_ask": {
        "en": "Stop receiving e-mails from {company}?",
        "zh": "不再接收来自{company}的邮件？",
    },
    "campaigns.left": {
        "en": "You are unsubscribed: {company} will send you no more e-mails.",
        "zh": "您已退订：{company}将不再向您发送邮件。",
    },
    "campaigns.unsubscribe": {"en": "Unsubscribe", "zh": "退订"},
    "subscriptions.leave_title": {"en": "Unsubscribe", "zh": "退订"},
    "subscriptions.leave_ask": {
        "en": "Stop receiving {title} by e-mail ({schedule})?",
        "zh": "不再通过邮件接收“{title}”（{schedule}）？",
    },
    "subscriptions.left": {
        "en": "You will no longer receive {title} by e-mail ({schedule}).",
        "zh": "您将不再通过邮件收到“{title}”（{schedule}）。",
    },
    "subscriptions.leave_unknown": {
        "en": "This unsubscribe link is not valid any more: the subscription has ended already.",
        "zh": "该退订链接已失效：订阅已经结束。",
    },
    # --- retention requests on the approvals page (webui.ui.retention_review) ---
    "retention_review.title": {"en": "Retention", "zh": "数据保留"},
    "retention_review.heading_purge": {
        "en": "Purge {count} {objects} past their retention",
        "zh": "彻底删除 {count} 条已超过保留期限的{objects}",
    },
    "retention_review.heading_archive": {
        "en": "Archive {count} {objects} past their retention",
        "zh": "归档 {count} 条已超过保留期限的{objects}",
    },
    "retention_review.policy": {
        "en": "Policy: kept {years} years after {moment}, so those before {before}.",
        "zh": "策略：自“{moment}”起保留 {years} 年，即早于 {before} 的记录。",
    },
    "retention_review.purge_note": {
        "en": "A purge cannot be undone: their timeline entries and files go too; each record leaves an audit entry.",
        "zh": "彻底删除无法撤销：其时间线记录和文件一并删除；每条记录都留有审计记录。",
    },
    "retention_review.requested": {
        "en": "Held by the retention run of {when}, for {approver}",
        "zh": "由 {when} 的保留策略运行提交，待 {approver} 审批",
    },
    "retention_review.examples": {"en": "Among them (those you may read):", "zh": "其中包括（您有权查看的）："},
    "retention_review.no_examples": {
        "en": "None of these records is one you may read.",
        "zh": "这些记录中没有您有权查看的。",
    },
    "retention_review.comment": {"en": "Reason (required to reject)", "zh": "理由（驳回时必填）"},
    "retention_review.status.pending": {"en": "Waiting for approval", "zh": "等待审批"},
    "retention_review.status.approved": {"en": "Approved", "zh": "已批准"},
    "retention_review.status.rejected": {"en": "Rejected", "zh": "已驳回"},
    "retention_review.status.done": {"en": "Carried out", "zh": "已执行"},
    "retention_review.status.withdrawn": {
        "en": "Withdrawn (the policy no longer needs approval)",
        "zh": "已撤销（该策略不再需要审批）",
    },
    "retention_review.outcome_approved": {
        "en": "Approved by {user}; the next retention run carries it out.",
        "zh": "{user} 已批准；下次保留策略运行时执行。",
    },
    "retention_review.outcome_rejected": {
        "en": "Rejected by {user}: {comment}. No new request until the records due change.",
        "zh": "{user} 已驳回：{comment}。到期记录变化前不会再次提交。",
    },
    "retention_review.outcome_done": {
        "en": "Approved by {user} and carried out: {done} done, {kept} kept (other records refer to them), "
        "{changed} left (changed since, or no longer due).",
        "zh": "{user} 已批准并执行：完成 {done} 条，{kept} 条因仍被引用而保留，{changed} 条未处理（此后已更改或不再到期）。",
    },
    "retention_review.approved_purge": {
        "en": "Approved: the next retention run purges those of the {count} records still due and unchanged.",
        "zh": "已批准：下次保留策略运行时将彻底删除这 {count} 条中仍到期且未更改的记录。",
    },
    "retention_review.approved_archive": {
        "en": "Approved: the next retention run archives those of the {count} records still due and unchanged.",
        "zh": "已批准：下次保留策略运行时将归档这 {count} 条中仍到期且未更改的记录。",
    },
    "retention_review.rejected_purge": {
        "en": "Rejected: nothing is purged, and no new request comes until the records due change.",
        "zh": "已驳回：不删除任何记录，到期记录变化前不会再次提交。",
    },
    "retention_review.rejected_archive": {
        "en": "Rejected: nothing is archived, and no new request comes until the records due change.",
        "zh": "已驳回：不归档任何记录，到期记录变化前不会再次提交。",
    },
    "approvals.badge": {"en": "{count} waiting for you", "zh": "{count} 条待您审批"},
    "approvals.title": {"en": "Approvals", "zh": "审批"},
    "approvals.waiting": {"en": "Waiting for you", "zh": "待我审批"},
    "approvals.waiting_none": {"en": "Nothing waits for your decision.", "zh": "没有待您审批的申请。"},
    "approvals.mine": {"en": "My requests", "zh": "我的申请"},
    "approvals.mine_none": {"en": "You have made no requests.", "zh": "您还没有提交过申请。"},
    "approvals.requested": {"en": "Requested by {user}, {when}", "zh": "{user} 于 {when} 提交"},
    "approvals.changes": {"en": "Changes", "zh": "变更"},
    "approvals.delete": {"en": "Delete this record", "zh": "删除此记录"},
    "approvals.create": {"en": "Create this record", "zh": "创建此记录"},
    "approvals.empty_value": {"en": "(empty)", "zh": "（空）"},
    "approvals.hidden_changes": {
        "en": "and values of {count} fields you cannot see",
        "en_one": "and the value of {count} field you cannot see",
        "zh": "以及 {count} 个您无权查看的字段的值",
    },
    "approvals.hidden_changes_one": {
        "en": "and the value of {count} field you cannot see",
        "zh": "以及 {count} 个您无权查看的字段的值",
    },
    "approvals.reason": {"en": "Reason", "zh": "原因"},
    "approvals.step": {
        "en": "Step {index} of {total}: {label} — {approver}",
        "zh": "第 {index}/{total} 步：{label} — {approver}",
    },
    "approvals.rule": {"en": "Rule", "zh": "审批规则"},
    "approvals.comment": {"en": "Comment (required to reject)", "zh": "审批意见（驳回时必填）"},
    "approvals.approve": {"en": "Approve", "zh": "批准"},
    "approvals.reject": {"en": "Reject", "zh": "驳回"},
    "approvals.withdraw": {"en": "Withdraw", "zh": "撤回"},
    "approvals.approved": {"en": "Approved; the change is applied.", "zh": "已批准，变更已生效。"},
    "approvals.next_step": {
        "en": "Approved; the request goes on to the next step.",
        "zh": "已批准，申请转至下一步审批。",
    },
    "approvals.rejected": {"en": "Rejected; the requester sees your comment.", "zh": "已驳回，申请人将看到您的意见。"},
    "approvals.withdrawn": {"en": "The request was withdrawn.", "zh": "申请已撤回。"},
    "approvals.failed": {
        "en": "Approved, but the change could not be applied: {result}",
        "zh": "已批准，但变更未能应用：{result}",
    },
    "approvals.sent": {
        "en": "Sent for approval to {approver}; nothing changed yet.",
        "zh": "已提交给{approver}审批，暂未做任何变更。",
    },
    "approvals.create_sent": {
        "en": "The new record awaits approval by {approver}; it is created once approved.",
        "zh": "新记录需经{approver}审批，批准后才会创建。",
    },
    "approvals.status": {"en": "Status", "zh": "状态"},
    "approvals.status.pending": {"en": "Waiting for approval", "zh": "待审批"},
    "approvals.status.approved": {"en": "Approved", "zh": "已批准"},
    "approvals.status.rejected": {"en": "Rejected", "zh": "已驳回"},
    "approvals.status.failed": {"en": "Approved, not applied", "zh": "已批准但未能应用"},
    "approvals.status.cancelled": {"en": "Withdrawn", "zh": "已撤回"},
    "approvals.decision.approved": {"en": "approved", "zh": "批准"},
    "approvals.decision.rejected": {"en": "rejected", "zh": "驳回"},
    "approvals.decided": {"en": "{step}: {decision} by {user}", "zh": "{step}：{user} {decision}"},
    "approvals.said": {"en": "Comment: {comment}", "zh": "意见：{comment}"},
    "approvals.result": {"en": "Not applied: {result}", "zh": "未能应用：{result}"},
    "approvals.banner": {"en": "Waiting for approval", "zh": "等待审批"},
    "approvals.open": {"en": "All approvals", "zh": "全部审批"},
    "approvals.denied": {"en": "You may not do this: {message}", "zh": "您无权执行此操作：{message}"},
    # --- notifications (webui.ui.notifications) ---
    "notifications.title": {"en": "Notifications", "zh": "通知"},
    "notifications.bell": {"en": "Notifications: {count} unread", "zh": "通知：{count} 条未读"},
    "notifications.bell_none": {"en": "Notifications: none unread", "zh": "通知：没有未读"},
    "notifications.which": {"en": "Which notifications", "zh": "显示哪些通知"},
    "notifications.all": {"en": "All", "zh": "全部"},
    "notifications.unread": {"en": "Unread", "zh": "未读"},
    "notifications.new": {"en": "New", "zh": "新"},
    "notifications.none": {"en": "You have no notifications.", "zh": "您还没有通知。"},
    "notifications.none_unread": {"en": "You have read every notification.", "zh": "所有通知均已读。"},
    "notifications.mark_read": {"en": "Mark as read", "zh": "标为已读"},
    "notifications.mark_all": {"en": "Mark all read", "zh": "全部标为已读"},
    "notifications.marked": {"en": "Marked as read.", "zh": "已标为已读。"},
    "notifications.marked_all": {"en": "{count} notifications marked as read.", "zh": "已将 {count} 条通知标为已读。"},
    "notifications.marked_all_one": {
        "en": "{count} notification marked as read.",
        "zh": "已将 {count} 条通知标为已读。",
    },
    "notifications.pages": {"en": "Pages of notifications", "zh": "通知分页"},
    "notifications.page": {"en": "Page {page}", "zh": "第 {page} 页"},
    "notifications.newer": {"en": "Newer", "zh": "较新"},
    "notifications.older": {"en": "Older", "zh": "较早"},
    # --- automation admin (webui.ui.automation_admin) ---
    "automation_admin.nav": {"en": "Automation", "zh": "自动化"},
    # --- "Why can … see this?" (webui.ui.explain_admin) ---
    "explain_admin.link": {"en": "Why can … see this? (who can, and why)", "zh": "谁能看到这条记录？为什么？"},
    "explain_admin.title": {"en": "Who can see {object} “{title}”, and why", "zh": "谁能看到{object}“{title}”，为什么"},
    "explain_admin.intro": {
        "en": "Computed from the same roles, scopes and field rules the lists, pages and writes use.",
        "zh": "依据列表、详情页和保存时所用的同一套角色、范围和字段规则计算。",
    },
    "explain_admin.for_user": {"en": "For one user", "zh": "针对某个用户"},
    "explain_admin.user": {"en": "User", "zh": "用户"},
    "explain_admin.choose": {"en": "Choose a user", "zh": "选择用户"},
    "explain_admin.explain": {"en": "Explain", "zh": "说明"},
    "explain_admin.no_such_user": {"en": "There is no active user {name}.", "zh": "没有名为 {name} 的有效用户。"},
    "explain_admin.can_read": {"en": "Read", "zh": "查看"},
    "explain_admin.can_edit": {"en": "Edit", "zh": "编辑"},
    "explain_admin.can_delete": {"en": "Delete", "zh": "删除"},
    "explain_admin.yes": {"en": "yes", "zh": "是"},
    "explain_admin.no": {"en": "no", "zh": "否"},
    "explain_admin.who": {"en": "Who can read it ({count})", "zh": "可以查看的用户（{count}）"},
    "explain_admin.why": {"en": "Why", "zh": "原因"},
    "explain_admin.inactive": {
        "en": "{count} disabled or expired accounts are left out.",
        "zh": "另有 {count} 个已停用或已过期的账号未列出。",
    },
    "explain_admin.stage": {"en": "What would moving it to a stage need?", "zh": "移动到某阶段需要什么？"},
    "explain_admin.stage_to": {"en": "Stage", "zh": "阶段"},
    "explain_admin.reason": {"en": "Reason (for a skip or a reopening)", "zh": "理由（跳阶段或重新打开时）"},
    "explain_admin.stage_as": {
        "en": "Moved as {user}, in a dry run of the real move: nothing is written.",
        "zh": "以 {user} 的身份试运行真实的移动：不会保存任何内容。",
    },
    "explain_admin.stage_unreadable": {
        "en": "{user} cannot read this record, so they cannot move it either.",
        "zh": "{user} 无法查看该记录，因此也不能移动它。",
    },
    "explain_admin.system": {"en": "the system", "zh": "系统"},
    "explain_admin.automation": {"en": "What automation would do", "zh": "自动化规则会做什么"},
    "explain_admin.automation_intro": {
        "en": "A dry run for this record just updated, as trellis automation simulate: nothing is written.",
        "zh": "假设该记录刚被更新时的试运行，与 trellis automation simulate 相同：不会保存任何内容。",
    },
    "explain_admin.fires_yes": {"en": "fires", "zh": "会触发"},
    "explain_admin.fires_no": {"en": "does not fire", "zh": "不会触发"},
    "explain_admin.fires_if": {"en": "fires only if the update makes that change", "zh": "仅当更新做出相应修改时触发"},
    "explain_admin.no_rules": {"en": "No automation rule is declared for this object.", "zh": "该对象没有自动化规则。"},
    "automation_admin.title": {"en": "Automation: runs and outbox", "zh": "自动化：运行记录与发件箱"},
    "automation_admin.intro": {
        "en": "What the rules did, and the e-mails and webhooks waiting to go out.",
        "zh": "自动化规则的运行情况，以及待发送的邮件和 Webhook。",
    },
    "automation_admin.runs": {"en": "Rule runs", "zh": "规则运行记录"},
    "automation_admin.runs_pages": {"en": "Pages of rule runs", "zh": "运行记录分页"},
    "automation_admin.outbox": {"en": "Outbox", "zh": "发件箱"},
    "automation_admin.outbox_pages": {"en": "Pages of the outbox", "zh": "发件箱分页"},
    "automation_admin.outbox_intro": {
        "en": "The worker (trellis worker) sends these; e-mails stay pending while no SMTP server is configured.",
        "zh": "由后台进程（trellis worker）发送；未配置 SMTP 服务器时，邮件保持待发送状态。",
    },
    "automation_admin.rule": {"en": "Rule", "zh": "规则"},
    "automation_admin.status": {"en": "Status", "zh": "状态"},
    "automation_admin.kind": {"en": "Kind", "zh": "类型"},
    "automation_admin.any_rule": {"en": "Any rule", "zh": "全部规则"},
    "automation_admin.any_status": {"en": "Any status", "zh": "全部状态"},
    "automation_admin.any_kind": {"en": "Any kind", "zh": "全部类型"},
    "automation_admin.at": {"en": "When", "zh": "时间"},
    "automation_admin.record": {"en": "Record", "zh": "记录"},
    "automation_admin.trigger": {"en": "Trigger", "zh": "触发"},
    "automation_admin.error": {"en": "Error", "zh": "错误"},
    "automation_admin.no_runs": {
        "en": "No rule has run (with these filters).",
        "zh": "没有（符合筛选条件的）运行记录。",
    },
    "automation_admin.run.running": {"en": "Running", "zh": "运行中"},
    "automation_admin.run.done": {"en": "Done", "zh": "完成"},
    "automation_admin.run.failed": {"en": "Failed", "zh": "失败"},
    "automation_admin.run.skipped": {"en": "Skipped", "zh": "已跳过"},
    "automation_admin.created": {"en": "Queued", "zh": "入队时间"},
    "automation_admin.target": {"en": "To", "zh": "发往"},
    "automation_admin.summary": {"en": "Subject / event", "zh": "主题 / 事件"},
    "automation_admin.attempts": {"en": "Attempts", "zh": "尝试次数"},
    "automation_admin.next_attempt": {"en": "Next attempt", "zh": "下次尝试"},
    "automation_admin.last_error": {"en": "Last error", "zh": "最近错误"},
    "automation_admin.actions": {"en": "Actions", "zh": "操作"},
    "automation_admin.no_messages": {"en": "No message (with these filters).", "zh": "没有（符合筛选条件的）消息。"},
    "automation_admin.status.pending": {"en": "Pending", "zh": "待发送"},
    "automation_admin.status.sending": {"en": "Sending", "zh": "发送中"},
    "automation_admin.status.retry": {"en": "Waiting to retry", "zh": "等待重试"},
    "automation_admin.status.dead": {"en": "Dead", "zh": "已放弃"},
    "automation_admin.status.sent": {"en": "Sent", "zh": "已发送"},
    "automation_admin.status.suppressed": {"en": "Suppressed (do not e-mail)", "zh": "已拦截（拒收邮件）"},
    "automation_admin.kind.email": {"en": "E-mail", "zh": "邮件"},
    "automation_admin.kind.webhook": {"en": "Webhook", "zh": "Webhook"},
    "automation_admin.retry": {"en": "Retry", "zh": "重试"},
    "automation_admin.message": {"en": "message {id}", "zh": "消息 {id}"},
    "automation_admin.retried": {
        "en": "Message {id} goes out again on the worker's next pass.",
        "zh": "消息 {id} 将在后台进程下一轮重新发送。",
    },
    "automation_admin.not_retryable": {
        "en": "Message {id} is sent or being sent; it cannot be retried.",
        "zh": "消息 {id} 已发送或正在发送，无法重试。",
    },
    # --- the REST API's bulk writes (webui.api.bulk) ---
    "api.bulk.unknown_key": {
        "en": 'Unknown key "{name}"; a bulk request takes records and atomic.',
        "zh": "未知的键“{name}”；批量请求只接受 records 和 atomic。",
    },
    # --- the HTTP layer's own refusals (webui/api: errors, auth, params, approvals, notifications…) ---
    "api.no_route": {
        "en": "There is no API route {path}; see GET /api/v1/openapi.json.",
        "zh": "没有 API 路径 {path}；请查看 GET /api/v1/openapi.json。",
    },
    "api.method": {
        "en": "{method} is not allowed on {path}; allowed: {allowed}.",
        "zh": "{path} 不接受 {method}；可用的方法：{allowed}。",
    },
    "api.rate_limited": {
        "en": "Too many requests (limit: {limit}); retry in {count} seconds.",
        "en_one": "Too many requests (limit: {limit}); retry in {count} second.",
        "zh": "请求过多（限制：{limit}）；请在 {count} 秒后重试。",
    },
    "api.internal": {
        "en": "An unexpected error occurred; it has been logged. "
        "Try again later, or tell your administrator the time it happened.",
        "zh": "发生了意外错误，已记录到日志。请稍后重试，或把发生的时间告诉管理员。",
    },
    "api.no_token": {
        "en": "This API needs a token: send the header "
        "`Authorization: Bearer <token>` (create a token with `trellis token create`).",
        "zh": "此 API 需要令牌：请发送请求头 `Authorization: Bearer <token>`（用 `trellis token create` 创建令牌）。",
    },
    "api.token_limited": {
        "en": "This token is limited to {scopes}: it may call only {calls}. Use a token without scopes for the rest of the API.",
        "zh": "此令牌仅限于 {scopes}：只能调用 {calls}。其余 API 请使用不限范围的令牌。",
    },
    "api.token_needs_scope": {
        "en": "This endpoint needs a token with the scope {scope}: "
        "create one with `trellis token create CONFIG USER --scope {scope}`.",
        "zh": "此接口需要带有范围 {scope} 的令牌：请用 `trellis token create CONFIG USER --scope {scope}` 创建。",
    },
    "api.not_json": {
        "en": "Send the body as JSON with the header Content-Type: application/json (got {given}).",
        "zh": "请以 JSON 发送请求体，并带上请求头 Content-Type: application/json（收到的是 {given}）。",
    },
    "api.body_too_large": {"en": "The body is larger than {size} KiB.", "zh": "请求体超过 {size} KiB。"},
    "api.malformed_json": {"en": "The body is not valid JSON: {problem}.", "zh": "请求体不是有效的 JSON：{problem}。"},
    "api.body_not_object": {
        "en": "The body must be a JSON object of field values, not a JSON {kind}.",
        "zh": "请求体必须是由字段值组成的 JSON 对象，而不是 JSON {kind}。",
    },
    "api.versions_differ": {
        "en": "The body says version {body} but If-Match says {header}; send one of them.",
        "zh": "请求体中的版本是 {body}，而 If-Match 是 {header}；请只发送其中一个。",
    },
    "api.version_required": {
        "en": 'Say which version of the record you are changing: put "version" (from your last GET) '
        'in the body or send If-Match: "<version>"; If-Match: * overwrites whatever is stored.',
        "zh": '请说明您修改的是记录的哪个版本：在请求体中放入 "version"（来自上次 GET），或发送 If-Match: "<version>"；'
        "If-Match: * 会覆盖已保存的内容。",
    },
    "api.version_required.field": {
        "en": "The record's current version is required.",
        "zh": "需要提供记录的当前版本。",
    },
    "api.bad_if_match": {
        "en": 'If-Match must be one version in quotes, e.g. If-Match: "3" (the ETag of your last GET), or *; got {got}.',
        "zh": 'If-Match 必须是一个带引号的版本号，例如 If-Match: "3"（上次 GET 的 ETag），或 *；收到的是 {got}。',
    },
    "api.approvals.box": {"en": "box must be one of {boxes}.", "zh": "box 只能是以下之一：{boxes}。"},
    "api.approvals.box.field": {"en": "one of {boxes}", "zh": "以下之一：{boxes}"},
    "api.approvals.comment": {"en": "comment must be text.", "zh": "comment 必须是文本。"},
    "api.approvals.comment.field": {"en": "text", "zh": "文本"},
    "api.notifications.unread": {"en": "unread must be 1 or 0.", "zh": "unread 只能是 1 或 0。"},
    "api.notifications.not_found": {
        "en": "notification {id} not found",
        "zh": "没有找到通知 {id}。",
    },
    "api.timeline.none": {
        "en": "{object} has no timeline (it needs `timeline: true`).",
        "zh": "{object}没有时间线（需要 `timeline: true`）。",
    },
    "api.emails.unknown_key": {
        "en": "Unknown key {key!r}; an e-mail takes {keys}.",
        "zh": "未知的键 {key!r}；邮件可用的键：{keys}。",
    },
    "api.emails.unknown_key.field": {"en": "Not a key of an e-mail.", "zh": "不是邮件的键。"},
    "api.emails.text": {"en": "{key} is text.", "zh": "{key} 必须是文本。"},
    "api.emails.text.field": {"en": "Expected text.", "zh": "应为文本。"},
    "api.bulk.atomic": {"en": "atomic is true or false.", "zh": "atomic 只能是 true 或 false。"},
    "api.bulk.records": {
        "en": "Send the records as a list of 1 to {max} JSON objects under records.",
        "zh": "请在 records 下以列表形式发送 1 到 {max} 个 JSON 对象。",
    },
    "api.bulk.too_many": {
        "en": "A bulk request takes at most {max} records, not {count}; send them in several requests.",
        "zh": "一次批量请求最多 {max} 条记录，而不是 {count} 条；请分多次发送。",
    },
    "api.bulk.not_an_object": {
        "en": "Each record is a JSON object of field values.",
        "zh": "每条记录必须是由字段值组成的 JSON 对象。",
    },
    "api.bulk.not_written": {
        "en": "Nothing was written: {count} of {total} records have problems.",
        "en_one": "Nothing was written: {count} of {total} records has problems.",
        "zh": "未写入任何记录：{total} 条中有 {count} 条存在问题。",
    },
    # --- the import wizard (webui.ui.imports) ---
    "imports.button": {"en": "Import", "zh": "导入"},
    "imports.title": {"en": "Import {object}", "zh": "导入{object}"},
    "imports.steps": {"en": "Steps of the import", "zh": "导入步骤"},
    "imports.step.upload": {"en": "Upload a file", "zh": "上传文件"},
    "imports.step.map": {"en": "Map columns", "zh": "匹配列"},
    "imports.step.check": {"en": "Check (dry run)", "zh": "试导入检查"},
    "imports.step.import": {"en": "Import", "zh": "导入"},
    "imports.file": {"en": "File", "zh": "文件"},
    "imports.file_help": {
        "en": "A CSV file (UTF-8, GBK…, any delimiter) or an Excel workbook (.xlsx), up to {limit} MB. "
        "The first row names the columns.",
        "zh": "CSV 文件（UTF-8、GBK 等编码，任意分隔符）或 Excel 工作簿（.xlsx），不超过 {limit} MB。第一行为列名。",
    },
    "imports.sheet": {"en": "Sheet", "zh": "工作表"},
    "imports.sheet_help": {
        "en": "For a workbook: the sheet to read (empty: the first).",
        "zh": "仅用于 Excel 工作簿：要读取的工作表（留空则读取第一个）。",
    },
    "imports.upload": {"en": "Upload and map columns", "zh": "上传并匹配列"},
    "imports.no_file": {"en": "Choose a file to import.", "zh": "请选择要导入的文件。"},
    "imports.bad_suffix": {
        "en": "Only CSV files (.csv, .txt, .tsv) and Excel workbooks (.xlsx) can be imported.",
        "zh": "只能导入 CSV 文件（.csv、.txt、.tsv）和 Excel 工作簿（.xlsx）。",
    },
    "imports.too_large": {
        "en": "The file is too large: an import takes files up to {limit} MB. Split it into several files.",
        "zh": "文件太大：导入的文件不能超过 {limit} MB，请拆分成多个文件。",
    },
    "imports.map_title": {"en": "Map the columns of {file}", "zh": "匹配 {file} 的列"},
    "imports.other_file": {"en": "Another file", "zh": "换一个文件"},
    "imports.read_csv": {"en": "Read as CSV, {encoding}", "zh": "按 CSV 读取，编码 {encoding}"},
    "imports.read_xlsx": {"en": "Read as Excel, sheet “{sheet}”", "zh": "按 Excel 读取，工作表“{sheet}”"},
    "imports.rows_read": {
        "en": "values from the first {count} rows",
        "en_one": "values from the first row",
        "zh": "示例取自前 {count} 行",
    },
    "imports.column": {"en": "Column in the file", "zh": "文件中的列"},
    "imports.samples": {"en": "Sample values", "zh": "示例值"},
    "imports.no_samples": {"en": "(empty)", "zh": "（空）"},
    "imports.field": {"en": "Goes into", "zh": "导入到字段"},
    "imports.choose": {"en": "Choose a field…", "zh": "请选择字段…"},
    "imports.skip": {"en": "Don't import", "zh": "不导入"},
    "imports.resembles": {
        "en": "No field has this name. Did you mean {field}?",
        "zh": "没有同名字段。是否指“{field}”？",
    },
    "imports.no_match": {
        "en": "No field has this name: choose one, or “Don't import”.",
        "zh": "没有同名字段：请选择一个字段，或选“不导入”。",
    },
    "imports.note.system": {"en": "Kept by Trellis itself: not imported.", "zh": "由 Trellis 自动维护：不导入。"},
    "imports.note.computed": {"en": "A computed field: not imported.", "zh": "由系统计算的字段：不导入。"},
    "imports.find_by": {"en": "Find the record by", "zh": "按此字段查找记录"},
    "imports.values_legend": {
        "en": "{count} values are not options of this field: choose one for each",
        "en_one": "{count} value is not an option of this field: choose one for it",
        "zh": "{count} 个值不是该字段的选项：请为每个值选择一个选项",
    },
    "imports.value": {
        "en": "“{value}” ({count} rows)",
        "en_one": "“{value}” ({count} row)",
        "zh": "“{value}”（{count} 行）",
    },
    "imports.value_fails": {"en": "Leave it: those rows fail", "zh": "不处理：这些行导入失败"},
    "imports.more_values": {
        "en": "…and {count} more values: the rows holding them fail unless you fix the file.",
        "zh": "……另有 {count} 个值：除非修改文件，含有这些值的行将导入失败。",
    },
    "imports.duplicates": {"en": "Records that exist already", "zh": "已存在的记录"},
    "imports.on_duplicate": {"en": "When a row matches a record", "zh": "当某行与已有记录匹配时"},
    "imports.on_duplicate.new": {"en": "Do not look: every row makes a new record", "zh": "不检查：每行都新建记录"},
    "imports.on_duplicate.skip": {"en": "Skip the row", "zh": "跳过该行"},
    "imports.on_duplicate.update": {
        "en": "Update the record (mapped columns only)",
        "zh": "更新该记录（仅已匹配的列）",
    },
    "imports.on_duplicate.error": {"en": "Report the row as failed", "zh": "将该行记为失败"},
    "imports.match": {"en": "Match records by", "zh": "按此字段匹配记录"},
    "imports.match_any": {"en": "The first unique field among the columns", "zh": "列中第一个唯一字段"},
    "imports.dry_run": {"en": "Check (dry run)", "zh": "试导入检查"},
    "imports.refresh": {"en": "Update the preview", "zh": "更新预览"},
    "imports.dry_run_help": {
        "en": "The dry run checks every row as the import would, then changes nothing. "
        "“Update the preview” lists the values of a field you changed.",
        "zh": "试导入会像正式导入一样检查每一行，但不做任何更改。更改字段后点“更新预览”可列出该字段的选项值。",
    },
    "imports.choose_field": {
        "en": "Choose a field (or “Don't import”) for these columns: {columns}.",
        "zh": "请为这些列选择字段（或“不导入”）：{columns}。",
    },
    "imports.two_columns": {
        "en": "Columns {first!r} and {second!r} both go into {field}: choose “Don't import” for one of them.",
        "zh": "列 {first!r} 和 {second!r} 都导入到“{field}”：请将其中一列设为“不导入”。",
    },
    "imports.match_needed": {
        "en": "To find the records that exist already, choose the field to match them by "
        "(no column goes into a unique field).",
        "zh": "要查找已存在的记录，请选择用于匹配的字段（没有列导入到唯一字段）。",
    },
    "imports.pending_hint": {
        "en": "It starts as soon as the server's worker (trellis worker) takes it up.",
        "zh": "服务器的后台任务进程（trellis worker）接手后即开始。",
    },
    "imports.file_removed": {
        "en": "This dry run's file was removed 30 days after it ended: upload the file again.",
        "zh": "该试导入的文件已在结束 30 天后删除，请重新上传文件。",
    },
    "imports.already_started": {
        "en": "This file's import has been started already: here it is.",
        "zh": "该文件的导入已经开始，请看这里。",
    },
    "imports.job_title": {"en": "{kind}: {file}", "zh": "{kind}：{file}"},
    "imports.kind": {"en": "Kind", "zh": "类型"},
    "imports.kind.dry_run": {"en": "Dry run", "zh": "试导入"},
    "imports.kind.import": {"en": "Import", "zh": "导入"},
    "imports.status": {"en": "Status", "zh": "状态"},
    "imports.status.pending": {"en": "Waiting to start", "zh": "等待开始"},
    "imports.status.running": {"en": "Running", "zh": "进行中"},
    "imports.status.done": {"en": "Done", "zh": "已完成"},
    "imports.status.failed": {"en": "Stopped on a problem", "zh": "因问题中止"},
    "imports.status.cancelled": {"en": "Cancelled", "zh": "已取消"},
    "imports.started": {"en": "started by {user} on {at}", "zh": "由 {user} 于 {at} 发起"},
    "imports.progress": {"en": "Progress", "zh": "进度"},
    "imports.progress_text": {
        "en": "{rows} rows read, {failed} failed so far",
        "zh": "已读取 {rows} 行，目前失败 {failed} 行",
    },
    "imports.leave_page": {
        "en": "The import runs on the server: you may leave this page and come back from the import history.",
        "zh": "导入在服务器上进行：您可以离开此页面，稍后从导入历史回来查看。",
    },
    "imports.cancel": {"en": "Cancel", "zh": "取消"},
    "imports.cancelled": {
        "en": "The job stops after the rows it is working on.",
        "zh": "任务将在处理完当前这批行后停止。",
    },
    "imports.cancelled_note": {
        "en": "Cancelled: the rows imported before it stopped stay imported.",
        "zh": "已取消：停止前已导入的行将保留。",
    },
    "imports.cancelled_dry_run": {"en": "Cancelled: nothing was changed.", "zh": "已取消：未做任何更改。"},
    "imports.nothing_passes": {
        "en": "No row would be imported: fix the rows in the error file and upload it.",
        "zh": "没有可导入的行：请在错误文件中修改这些行后上传该文件。",
    },
    "imports.summary": {
        "en": "{rows} rows read: {created} created, {updated} updated, {skipped} skipped, "
        "{held} waiting for approval, {failed} failed.",
        "zh": "共读取 {rows} 行：新建 {created}，更新 {updated}，跳过 {skipped}，待审批 {held}，失败 {failed}。",
    },
    "imports.dry_summary": {
        "en": "Dry run, nothing was changed: {rows} rows read; would create {created}, update {updated}, "
        "skip {skipped}, hold {held} for approval, fail {failed}.",
        "zh": "试导入，未做任何更改：共读取 {rows} 行；将新建 {created}，更新 {updated}，跳过 {skipped}，"
        "待审批 {held}，失败 {failed}。",
    },
    "imports.count.rows": {"en": "Rows read", "zh": "读取行数"},
    "imports.count.created": {"en": "Created", "zh": "新建"},
    "imports.count.updated": {"en": "Updated", "zh": "更新"},
    "imports.count.skipped": {"en": "Skipped", "zh": "跳过"},
    "imports.count.held": {"en": "Waiting for approval", "zh": "待审批"},
    "imports.count.failed": {"en": "Failed", "zh": "失败"},
    "imports.run": {
        "en": "Import the {count} rows that pass",
        "en_one": "Import the {count} row that passes",
        "zh": "导入通过检查的 {count} 行",
    },
    "imports.run_all": {"en": "Import", "zh": "开始导入"},
    "imports.run_help": {
        "en": "The failed rows are left out; fix them in the error file and import that file afterwards.",
        "zh": "失败的行不会导入；请在错误文件中修改后再导入该文件。",
    },
    "imports.remap": {"en": "Change the mapping", "zh": "修改列匹配"},
    "imports.error_file": {"en": "Download the failed rows (CSV)", "zh": "下载失败的行（CSV）"},
    "imports.records": {"en": "See the records created", "zh": "查看新建的记录"},
    "imports.failures": {"en": "Failed rows", "zh": "失败的行"},
    "imports.failure_pages": {"en": "Pages of failed rows", "zh": "失败行分页"},
    "imports.row": {"en": "Row", "zh": "行号"},
    "imports.reason": {"en": "Why", "zh": "原因"},
    "imports.cells": {"en": "Cells", "zh": "单元格"},
    "imports.history": {"en": "Import history", "zh": "导入历史"},
    "imports.history_title": {"en": "Import history: {object}", "zh": "导入历史：{object}"},
    "imports.when": {"en": "When", "zh": "时间"},
    "imports.who": {"en": "By", "zh": "操作人"},
    "imports.no_jobs": {"en": "No import yet.", "zh": "还没有导入记录。"},
    # --- the REST API's import jobs (webui.api.imports) ---
    "api.imports.multipart": {
        "en": "Send the file as multipart/form-data with the parts file and object (got {given}).",
        "zh": "请以 multipart/form-data 发送文件，包含 file 和 object 两部分（收到的是 {given}）。",
    },
    "api.imports.too_large": {
        "en": "The file is larger than the import limit of {limit} (TRELLIS_MAX_IMPORT_UPLOAD); split it, or ask "
        "your administrator to raise the limit.",
        "zh": "文件超过导入上限 {limit}（TRELLIS_MAX_IMPORT_UPLOAD）；请拆分文件，或请管理员提高上限。",
    },
    "api.imports.unknown_part": {
        "en": 'Unknown part "{name}"; an import takes file, object, map, on_duplicate, match, sheet, batch, '
        "dry_run and automation.",
        "zh": "未知的部分“{name}”；导入只接受 file、object、map、on_duplicate、match、sheet、batch、dry_run 和 automation。",
    },
    "api.imports.no_file": {
        "en": "Send the CSV or Excel file as the part file (with its file name).",
        "zh": "请以 file 部分发送 CSV 或 Excel 文件（带文件名）。",
    },
    "api.imports.no_object": {
        "en": "Name the object to import into as the part object (e.g. account).",
        "zh": "请在 object 部分写明要导入的对象（例如 account）。",
    },
    "api.imports.bad_map": {
        "en": "map is not valid JSON: {reason}.",
        "zh": "map 不是有效的 JSON：{reason}。",
    },
    "api.imports.bad_batch": {
        "en": "batch is a whole number of rows, not {value!r}.",
        "zh": "batch 必须是整数行数，而不是 {value!r}。",
    },
    "api.imports.bad_flag": {"en": "{name} is true or false.", "zh": "{name} 只能是 true 或 false。"},
    "api.imports.unknown_object": {
        "en": "There is no object {name!r} to list import jobs of.",
        "zh": "没有对象 {name!r}，无法列出其导入任务。",
    },
    "api.imports.bad_offset": {
        "en": "offset is a whole number from 0, not {value!r}.",
        "zh": "offset 必须是大于等于 0 的整数，而不是 {value!r}。",
    },
    # --- errors ---
    "error.title": {"en": "Error {status}", "zh": "错误 {status}"},
    "error.not_saved": {
        "en": "The {object} was not saved: {count} problems.",
        "en_one": "The {object} was not saved: {count} problem.",
        "zh": "{object} 未保存：{count} 个问题。",
    },
    "error.400": {
        "en": "The request could not be handled (for a form: reload the page and try again).",
        "zh": "无法处理该请求（如果是表单，请刷新页面后重试）。",
    },
    "error.403": {"en": "You may not do this.", "zh": "您没有执行此操作的权限。"},
    "error.404": {"en": "There is no such page, or you may not see it.", "zh": "页面不存在，或您无权查看。"},
    "error.405": {"en": "This page does not accept this kind of request.", "zh": "该页面不接受此类请求。"},
    "error.413": {"en": "The upload is too large.", "zh": "上传的文件太大。"},
    "error.429": {"en": "Too many requests: wait a little and try again.", "zh": "请求过多，请稍后再试。"},
    "error.500": {"en": "Something went wrong on our side; it has been logged.", "zh": "服务器出错，已记录。"},
    "error.back": {"en": "Back to the start page", "zh": "返回首页"},
    "error.request_id": {
        "en": "Request id (give it to your administrator): {id}",
        "zh": "请求编号（请提供给管理员）：{id}",
    },
    "error.no_objects": {
        "en": "Your roles give you access to no object; ask an administrator.",
        "zh": "您的角色无权访问任何对象，请联系管理员。",
    },
    "error.out_of_date.title": {"en": "Not available yet", "zh": "暂不可用"},
    "error.out_of_date.intro": {
        "en": "The database must be brought up to date before this site can be used. For the administrator:",
        "zh": "数据库需要先更新，本站才能使用。管理员请执行：",
    },
    "error.out_of_date.retry": {"en": "Try again in a few minutes.", "zh": "请几分钟后再试。"},
    # --- charts (webui/charts) ---
    "chart.no_data": {"en": "No data", "zh": "暂无数据"},
    "chart.show_data": {"en": "Show the figures as a table", "zh": "以表格查看数据"},
    "chart.category": {"en": "Category", "zh": "类别"},
    "chart.total": {"en": "Total", "zh": "合计"},
    "chart.other": {"en": "Other", "zh": "其他"},
    "chart.share": {"en": "Share", "zh": "占比"},
    "chart.list_separator": {"en": ", ", "zh": "、"},
    "chart.value_title": {"en": "{name}: {value}", "zh": "{name}：{value}"},
    "chart.slice_title": {"en": "{name}: {value} ({share})", "zh": "{name}：{value}（{share}）"},
    "chart.other_title": {
        "en": "{name} ({members}): {value} ({share})",
        "zh": "{name}（{members}）：{value}（{share}）",
    },
    "chart.kind.bar": {"en": "Bar chart", "zh": "条形图"},
    "chart.kind.stacked_bar": {"en": "Stacked bar chart", "zh": "堆叠条形图"},
    "chart.kind.line": {"en": "Line chart", "zh": "折线图"},
    "chart.kind.funnel": {"en": "Funnel", "zh": "漏斗图"},
    "chart.kind.donut": {"en": "Donut chart", "zh": "环形图"},
    "chart.kind.kpi": {"en": "Key figure", "zh": "关键指标"},
    "chart.kind.table": {"en": "Table", "zh": "表格"},
    "chart.summary": {
        "en": "{kind} of {count} categories. Highest: {high_label}, {high}. Lowest: {low_label}, {low}.",
        "en_one": "{kind} of {count} category: {high_label}, {high}.",
        "zh": "{kind}，共 {count} 个类别。最高：{high_label}，{high}；最低：{low_label}，{low}。",
    },
    "chart.summary_series": {
        "en": "{kind} of {series} over {count} categories.",
        "en_one": "{kind} of {series} over {count} category.",
        "zh": "{kind}：{series}，共 {count} 个类别。",
    },
    "chart.negative_not_drawn": {
        "en": "Negative values cannot be slices and are not drawn: {labels}.",
        "zh": "负值无法显示为扇区，未绘制：{labels}。",
    },
    "chart.funnel.step": {"en": "Conversion from the previous stage", "zh": "较上一阶段转化率"},
    "chart.funnel.overall": {"en": "Conversion from the first stage", "zh": "较第一阶段转化率"},
    "chart.funnel.rate": {"en": "{rate} of previous", "zh": "转化 {rate}"},
    "chart.funnel.rate_title": {
        "en": "{rate} of {previous} reached {stage}",
        "zh": "{previous}中有 {rate} 进入{stage}",
    },
    "chart.kpi.up": {"en": "Up", "zh": "上升"},
    "chart.kpi.down": {"en": "Down", "zh": "下降"},
    "chart.kpi.same": {"en": "No change", "zh": "持平"},
    "chart.kpi.previous_period": {"en": "previous period", "zh": "上期"},
    "chart.kpi.change": {
        "en": "{direction} {percent} ({change}) against {period}: {previous}",
        "zh": "{direction} {percent}（{change}），{period}：{previous}",
    },
    "chart.kpi.change_plain": {
        "en": "{direction} {change} against {period}: {previous}",
        "zh": "{direction} {change}，{period}：{previous}",
    },
}


def has_text(key: str) -> bool:
    """Whether ``key`` is a UI text."""
    return key in TEXTS


#: The parameters that count something: a text with a ``<lang>_one`` form uses it for 1.
COUNTS = ("count", "total")


def translate(key: str, lang: str, **values: object) -> str:
    """The UI text ``key`` in ``lang`` (English when missing), with ``{name}`` filled in; for a
    count of 1 (``count``/``total``) the singular ``<lang>_one`` form when the text has one."""
    texts = TEXTS.get(key)
    if texts is None:
        return key
    if not values:  # most of a page's texts: nothing to fill in, no count
        return texts.get(lang) or texts["en"]
    one = any(name in values and str(values[name]) == "1" for name in COUNTS)
    text = (texts.get(f"{lang}_one") if one else None) or texts.get(lang) or texts["en"]
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


#: A number with more digits than any group pattern spans, to learn a locale's format from.
_SAMPLE = Decimal("1234567.89")


@dataclass(frozen=True)
class _Shape:
    """How a locale writes a number, learnt from Babel's own text for ``_SAMPLE`` and its
    negative: the text around the digits, and the locale's group and decimal symbols."""

    positive: tuple[str, str]
    negative: tuple[str, str]
    symbols: dict[int, str]
    digits: int

    def text(self, value: int | Decimal) -> str:
        """``value`` (at most ``digits`` decimals, not zero) as Babel writes it."""
        before, after = self.positive if value > 0 else self.negative
        digits = f"{abs(value):,}" if isinstance(value, int) else f"{abs(value):,.{self.digits}f}"
        return before + digits.translate(self.symbols) + after


def _symbols(locale: Locale) -> dict[int, str]:
    """Python's ``,`` and ``.`` as ``locale`` writes them (for ``str.translate``)."""
    symbols = locale.number_symbols["latn"]
    return {ord(","): symbols["group"], ord("."): symbols["decimal"]}


def _around(babel_text: str, digits: str) -> tuple[str, str] | None:
    """The text before and after ``digits`` in ``babel_text``, or None when Babel wrote other
    digits (another grouping, such as India's ``12,34,567``)."""
    if babel_text.count(digits) != 1:
        return None
    before, _, after = babel_text.partition(digits)
    return None if any(c.isdigit() for c in before + after) else (before, after)


@functools.cache
def _money_shape(locale: str, currency: str) -> _Shape | None:
    """The shape of amounts in ``currency`` in ``locale`` (None: leave them to Babel)."""
    parsed = Locale.parse(locale)
    digits, symbols = get_currency_precision(currency), _symbols(parsed)
    core = f"{_SAMPLE:,.{digits}f}".translate(symbols)
    positive = _around(format_currency(_SAMPLE, currency, locale=parsed), core)
    negative = _around(format_currency(-_SAMPLE, currency, locale=parsed), core)
    return _Shape(positive, negative, symbols, digits) if positive and negative else None


@functools.cache
def _integer_shape(locale: str) -> _Shape | None:
    """The shape of whole numbers in ``locale`` (None: leave them to Babel)."""
    parsed = Locale.parse(locale)
    sample, symbols = int(_SAMPLE), _symbols(parsed)
    core = f"{sample:,}".translate(symbols)
    positive = _around(format_decimal(sample, locale=parsed), core)
    negative = _around(format_decimal(-sample, locale=parsed), core)
    return _Shape(positive, negative, symbols, 0) if positive and negative else None


@dataclass(frozen=True)
class Formatter:
    """Formats values for one language with Babel, in the company's currency and time zone."""

    lang: str
    locale: Locale
    currency: str
    zone: ZoneInfo
    settings: Settings = Settings()

    @classmethod
    def for_language(cls, lang: str, settings: Settings) -> Formatter:
        """The formatter of ``lang``: the company locale when it is of that language."""
        name = settings.locale if settings.locale.split("_")[0] == lang else DEFAULT_LOCALES.get(lang, "en_US")
        try:
            locale = Locale.parse(name)
        except (ValueError, UnknownLocaleError):
            locale = Locale.parse(DEFAULT_LOCALES.get(lang, "en_US"))
        return cls(lang, locale, settings.currency, ZoneInfo(settings.timezone), settings)

    @functools.cached_property
    def locale_name(self) -> str:
        """The locale's identifier (``zh_Hans_CN``): Babel builds it anew each time it is asked."""
        return str(self.locale)

    def t(self, key: str, **values: object) -> str:
        """UI text in this formatter's language."""
        return translate(key, self.lang, **values)

    def plural(self, key: str, count: int, **values: object) -> str:
        """UI text ``key`` for ``count`` things, in the plural form the language uses for
        that number (CLDR rules via Babel): ``key_one`` for English 1, else ``key``
        (Chinese has one form). ``{count}`` is the number in the locale's format."""
        form = self.locale.plural_form(abs(count))
        chosen = f"{key}_{form}" if form != "other" and f"{key}_{form}" in TEXTS else key
        return self.t(chosen, count=self.number(count), **values)

    def number(self, value: int | Decimal, scale: int | None = None) -> str:
        """A number with the locale's separators; ``scale`` fixes the digits after the point."""
        if scale is None and type(value) is int and value and -(10**18) < value < 10**18:
            # Babel's text, without Babel's per-call work: a list shows a page of these.
            shape = _integer_shape(self.locale_name)
            if shape is not None:
                return shape.text(value)
        pattern = None if scale is None else "#,##0" + ("." + "0" * scale if scale else "")
        return format_decimal(value, format=pattern, locale=self.locale, decimal_quantization=scale is not None)

    def money(self, value: Decimal) -> str:
        """An amount in the company currency."""
        shape = _money_shape(self.locale_name, self.currency)
        if shape is not None and isinstance(value, Decimal) and value.is_finite() and value:
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent >= -shape.digits:
                # No rounding to do: Babel's text, without Babel's per-call work (a list shows a page of these).
                return shape.text(value)
        return format_currency(value, self.currency, locale=self.locale)

    def date(self, value: dt.date) -> str:
        """A calendar date in ``settings.date_format`` (as in notifications and as typed)."""
        return date_text(value, self.settings)

    def moment(self, value: dt.datetime) -> str:
        """A moment in the company time zone: the date in ``settings.date_format`` and ``HH:MM``."""
        return moment_text(value, self.settings)

    def local_input(self, value: dt.datetime) -> str:
        """A moment as a ``datetime-local`` input value in the company time zone."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")
