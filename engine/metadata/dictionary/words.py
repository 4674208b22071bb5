"""The words of the data dictionary and of ``trellis diff``, in every language they are written in.

The metadata layer cannot read the runtime's catalogue (``engine/runtime/messages.py``), so the
hand-over documents keep their own: ``WORDS`` maps a key to a text per language with
``{name}`` parameters, and a ``Speaker`` says them in one language, with the config's own
labels (objects, fields, picklist values, stages, roles) picked in that language too.
``tests/test_handover_dictionary.py`` fails on a key without a text in each of ``LANGUAGES``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.metadata.model import Config, FieldDef, Label

#: Private-use characters around a piece of code inside a sentence (``Speaker.code``).
CODE_START, CODE_END = "\ue000", "\ue001"


def plain(text: str) -> str:
    """``text`` for a terminal: its marked code in backticks."""
    return text.replace(CODE_START, "`").replace(CODE_END, "`")


#: The languages the hand-over documents are written in.
LANGUAGES: tuple[str, ...] = ("en", "zh")

WORDS: dict[str, dict[str, str]] = {
    # --- the document ---
    "doc.title": {"en": "Data dictionary — {company}", "zh": "数据字典 — {company}"},
    "doc.intro": {
        "en": "The records, fields, stages, roles and rules of this CRM as configured in {source}.",
        "zh": "本 CRM 的记录、字段、阶段、角色与规则，依据配置文件 {source}。",
    },
    "doc.settings": {
        "en": "Languages: {languages}. Currency: {currency}. Time zone: {timezone}.",
        "zh": "语言：{languages}。币种：{currency}。时区：{timezone}。",
    },
    "doc.objects": {"en": "Objects", "zh": "对象"},
    "doc.picklists": {"en": "Picklists", "zh": "选项列表"},
    "doc.roles": {"en": "Roles and permissions", "zh": "角色与权限"},
    "doc.approvals": {"en": "Approvals", "zh": "审批"},
    "doc.assignment": {"en": "Assignment rules", "zh": "分配规则"},
    "doc.automations": {"en": "Automation rules", "zh": "自动化规则"},
    "doc.reports": {"en": "Reports", "zh": "报表"},
    "doc.fields": {"en": "Fields of {object}", "zh": "{object}的字段"},
    "doc.pipeline": {"en": "Stages of {object}", "zh": "{object}的阶段"},
    "doc.pipeline_variant": {
        "en": "Stages of {object}: {pipeline} (when {field} is {values})",
        "zh": "{object}的阶段：{pipeline}（当{field}为{values}时）",
    },
    "doc.rules": {"en": "Validation rules of {object}", "zh": "{object}的校验规则"},
    "doc.object_labels": {"en": "Name: {labels}; several: {plural}.", "zh": "名称：{labels}；复数：{plural}。"},
    "doc.none": {"en": "None.", "zh": "无。"},
    "doc.retention": {"en": "Retention: records are {policy}.", "zh": "保留期限：记录{policy}。"},
    "doc.gates_cumulative": {
        "en": "A record enters a stage only when the fields it requires, and those of the stages before it, are filled.",
        "zh": "只有填写了该阶段及之前各阶段要求的字段，记录才能进入该阶段。",
    },
    # --- table headings ---
    "col.field": {"en": "Field", "zh": "字段"},
    "col.key": {"en": "Key", "zh": "键"},
    "col.type": {"en": "Type", "zh": "类型"},
    "col.label_in": {"en": "Label ({language})", "zh": "名称（{language}）"},
    "col.required": {"en": "Required", "zh": "必填"},
    "col.unique": {"en": "Unique", "zh": "唯一"},
    "col.help": {"en": "Help", "zh": "说明"},
    "col.value": {"en": "Value", "zh": "选项"},
    "col.stage": {"en": "Stage", "zh": "阶段"},
    "col.probability": {"en": "Probability", "zh": "赢率"},
    "col.outcome": {"en": "Outcome", "zh": "结果"},
    "col.gate": {"en": "Required to enter", "zh": "进入时必填"},
    "col.conditional": {"en": "Also required when", "zh": "条件必填"},
    "col.object": {"en": "Object", "zh": "对象"},
    "col.read": {"en": "Read", "zh": "查看"},
    "col.edit": {"en": "Edit", "zh": "编辑"},
    "col.delete": {"en": "Delete", "zh": "删除"},
    "col.create": {"en": "Create", "zh": "新建"},
    "col.other": {"en": "Also", "zh": "其他"},
    "col.report": {"en": "Report", "zh": "报表"},
    "col.grouping": {"en": "Grouped by", "zh": "分组"},
    "col.measures": {"en": "Measures", "zh": "指标"},
    "col.status": {"en": "Status", "zh": "状态"},
    # --- values ---
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    "inactive": {"en": "no longer offered", "zh": "已停用"},
    "list.sep": {"en": ", ", "zh": "、"},
    "list.or": {"en": " or ", "zh": "或"},
    "sentence.end": {"en": ".", "zh": "。"},
    "clause.sep": {"en": "; ", "zh": "；"},
    "quoted": {"en": "“{text}”", "zh": "“{text}”"},
    "language.en": {"en": "English", "zh": "英文"},
    "language.zh": {"en": "Chinese", "zh": "中文"},
    "outcome.open": {"en": "open", "zh": "进行中"},
    "outcome.won": {"en": "won", "zh": "赢单"},
    "outcome.lost": {"en": "lost", "zh": "输单"},
    "percent": {"en": "{value} %", "zh": "{value}%"},
    # --- field types as people read them ---
    "type.text": {"en": "Text", "zh": "文本"},
    "type.text_max": {"en": "Text (up to {max} characters)", "zh": "文本（最多 {max} 个字符）"},
    "type.textarea": {"en": "Long text", "zh": "多行文本"},
    "type.integer": {"en": "Whole number", "zh": "整数"},
    "type.decimal": {"en": "Number", "zh": "小数"},
    "type.currency": {"en": "Amount ({currency})", "zh": "金额（{currency}）"},
    "type.percent": {"en": "Percentage", "zh": "百分比"},
    "type.boolean": {"en": "Yes / no", "zh": "是/否"},
    "type.date": {"en": "Date", "zh": "日期"},
    "type.datetime": {"en": "Date and time", "zh": "日期时间"},
    "type.email": {"en": "E-mail address", "zh": "电子邮件地址"},
    "type.phone": {"en": "Phone number", "zh": "电话号码"},
    "type.url": {"en": "Web address", "zh": "网址"},
    "type.picklist": {"en": "One of the list {picklist}", "zh": "单选：{picklist}"},
    "type.multipicklist": {"en": "Several of the list {picklist}", "zh": "多选：{picklist}"},
    "type.tags": {"en": "Tags", "zh": "标签"},
    "type.lookup": {"en": "Link to {object}", "zh": "关联{object}"},
    "type.stage": {"en": "Stage of the pipeline (below)", "zh": "管道阶段（见下文）"},
    "type.user": {"en": "A user", "zh": "用户"},
    "type.formula": {"en": "Computed ({result}): {expression}", "zh": "计算字段（{result}）：{expression}"},
    "type.autonumber": {"en": "Automatic number ({format})", "zh": "自动编号（{format}）"},
    "type.file": {"en": "File", "zh": "文件"},
    "type.json": {"en": "Structured data (JSON)", "zh": "结构化数据（JSON）"},
    "type.encrypted": {"en": "{type}, stored encrypted", "zh": "{type}，加密存储"},
    "type.depends_on": {"en": "{type}, narrowed by {parent}", "zh": "{type}，受{parent}限定"},
    # --- roles ---
    "access.none": {"en": "—", "zh": "—"},
    "access.own": {"en": "own", "zh": "本人的"},
    "access.team": {"en": "team's", "zh": "本团队的"},
    "access.subtree": {"en": "own and their reports'", "zh": "本人及下属的"},
    "access.all": {"en": "all", "zh": "全部"},
    "grant.create": {"en": "create records", "zh": "新建记录"},
    "grant.export": {"en": "export", "zh": "导出"},
    "grant.import": {"en": "import", "zh": "导入"},
    "grant.reassign": {"en": "reassign", "zh": "转交"},
    "grant.merge": {"en": "merge duplicates", "zh": "合并重复"},
    "permission.skip_stage": {"en": "skip pipeline stages", "zh": "跳过阶段"},
    "permission.approve": {"en": "decide approvals", "zh": "审批"},
    "permission.manage_users": {"en": "manage users", "zh": "管理用户"},
    "permission.view_audit": {"en": "read the audit trail", "zh": "查看审计日志"},
    "permission.manage_config": {"en": "manage the configuration", "zh": "管理配置"},
    "permission.assign": {"en": "assign records", "zh": "分配记录"},
    "permission.reopen": {"en": "reopen closed records", "zh": "重新打开已关闭的记录"},
    "role.permissions": {"en": "May also: {permissions}.", "zh": "另可：{permissions}。"},
    "role.hidden": {"en": "Never sees: {fields}.", "zh": "不可见字段：{fields}。"},
    "role.read_only": {"en": "Sees but may not change: {fields}.", "zh": "只读字段：{fields}。"},
    "role.totp": {"en": "Logs in with a second factor (TOTP).", "zh": "登录需二次验证（TOTP）。"},
    "role.no_access": {"en": "No access to any object.", "zh": "无任何对象的权限。"},
    # --- sentences: automation triggers ---
    "trigger.created": {"en": "When {a_object} is created", "zh": "新建{object}时"},
    "trigger.updated": {"en": "When {a_object} is changed", "zh": "{object}被修改时"},
    "trigger.deleted": {"en": "When {a_object} is deleted", "zh": "{object}被删除时"},
    "trigger.changed": {"en": "When the {fields} of {a_object} changes", "zh": "{object}的{fields}变化时"},
    "trigger.changed_to": {
        "en": "When the {fields} of {a_object} changes to {value}",
        "zh": "{object}的{fields}变为{value}时",
    },
    "trigger.stage_entered": {"en": "When {a_object} is moved to {stages}", "zh": "{object}进入{stages}阶段时"},
    "trigger.stage_entered_any": {"en": "When {a_object} is moved to another stage", "zh": "{object}进入任一阶段时"},
    "trigger.stage_left": {"en": "When {a_object} leaves {stages}", "zh": "{object}离开{stages}阶段时"},
    "trigger.stage_left_any": {"en": "When {a_object} leaves its stage", "zh": "{object}离开任一阶段时"},
    "trigger.approval": {"en": "When an approval of {a_object} is {decision}", "zh": "{object}的审批{decision}时"},
    "decision.approved": {"en": "approved", "zh": "通过"},
    "decision.rejected": {"en": "rejected", "zh": "被驳回"},
    "decision.decided": {"en": "decided", "zh": "有结果"},
    "trigger.schedule_after": {
        "en": "{duration} after the {field} of {a_object}",
        "zh": "{object}的{field}之后{duration}",
    },
    "trigger.schedule_before": {
        "en": "{duration} before the {field} of {a_object}",
        "zh": "{object}的{field}之前{duration}",
    },
    "trigger.schedule_at": {"en": "On the {field} of {a_object}", "zh": "{object}的{field}当天"},
    "trigger.yearly": {"en": "{when}, every year", "zh": "每年{when}"},
    "trigger.cron": {"en": "On the schedule {cron}", "zh": "按计划 {cron}"},
    "trigger.event": {
        "en": "When {a_object} has the engagement event {event}",
        "zh": "{object}发生互动事件 {event} 时",
    },
    "trigger.other": {"en": "When {kind} happens to {a_object}", "zh": "{object}发生 {kind} 时"},
    "duration.days": {"en": "{n} days", "zh": "{n}天"},
    "duration.day": {"en": "1 day", "zh": "1天"},
    "duration.hours": {"en": "{n} hours", "zh": "{n}小时"},
    "duration.hour": {"en": "1 hour", "zh": "1小时"},
    "duration.minutes": {"en": "{n} minutes", "zh": "{n}分钟"},
    "duration.minute": {"en": "1 minute", "zh": "1分钟"},
    "rule.sentence": {"en": "{trigger}{condition}, {actions}.", "zh": "{trigger}{condition}，{actions}。"},
    "rule.condition": {"en": ", if {expression}", "zh": "，若满足 {expression}"},
    "rule.blocking": {
        "en": "If it fails, the change that fired it is refused too.",
        "zh": "规则失败时，触发它的修改也会被拒绝。",
    },
    # --- sentences: automation actions ---
    "action.set": {"en": "set {assignments}", "zh": "设置{assignments}"},
    "action.assignment": {"en": "{field} to {value}", "zh": "{field}为{value}"},
    "action.add_tags": {"en": "add the tags {tags} to {field}", "zh": "在{field}中添加标签 {tags}"},
    "action.remove_tags": {"en": "remove the tags {tags} from {field}", "zh": "从{field}中移除标签 {tags}"},
    "action.add": {"en": "add {amount} to {field}", "zh": "{field}加 {amount}"},
    "action.update": {"en": "on its {field}, set {assignments}", "zh": "更新其{field}：{assignments}"},
    "action.create": {"en": "create {a_object}", "zh": "新建{object}"},
    "action.notify": {
        "en": "notify {recipients} with template {template} ({channels})",
        "zh": "用模板{template}通知{recipients}（{channels}）",
    },
    "action.webhook": {"en": "send the record to {target} (webhook)", "zh": "将记录发送至 {target}（Webhook）"},
    "action.assign": {"en": "assign it by the rule {rule}", "zh": "按分配规则{rule}分配"},
    "action.convert": {"en": "convert it by {rule}", "zh": "按{rule}转换"},
    "action.archive": {"en": "archive it", "zh": "将其归档"},
    "action.other": {"en": "run the action {kind}", "zh": "执行动作 {kind}"},
    "channel.in_app": {"en": "in the app", "zh": "站内"},
    "channel.email": {"en": "by e-mail", "zh": "邮件"},
    "recipient.owner": {"en": "its owner", "zh": "负责人"},
    "recipient.manager": {"en": "its owner's manager", "zh": "负责人的上级"},
    "recipient.role": {"en": "every {role}", "zh": "所有{role}"},
    "recipient.user": {"en": "the user {name}", "zh": "用户 {name}"},
    "recipient.field": {"en": "the address in {field}", "zh": "{field}中的地址"},
    "recipient.other": {"en": "{kind} {name}", "zh": "{kind} {name}"},
    # --- sentences: approvals ---
    "approval.stage_skip": {
        "en": "{label}: moving {a_object} past stages needs approval by {approvers}",
        "zh": "{label}：{object}跳过阶段需经{approvers}审批",
    },
    "approval.delete": {
        "en": "{label}: deleting {a_object} needs approval by {approvers}",
        "zh": "{label}：删除{object}需经{approvers}审批",
    },
    "approval.change": {
        "en": "{label}: changing the {fields} of {a_object} needs approval by {approvers}",
        "zh": "{label}：修改{object}的{fields}需经{approvers}审批",
    },
    "approval.when": {"en": ", when {expression}", "zh": "，条件：{expression}"},
    "approval.then": {"en": ", then ", "zh": "，再由"},
    "approver.manager": {"en": "the requester's manager", "zh": "申请人的上级"},
    "approver.manager_up": {"en": "the requester's manager {levels} levels up", "zh": "申请人的第 {levels} 级上级"},
    "approver.role": {"en": "{a_role}", "zh": "{role}"},
    "approver.user": {"en": "the user {name}", "zh": "用户 {name}"},
    # --- sentences: assignment ---
    "assignment.sentence": {
        "en": "{label}: {a_object}{when} goes to {pool} ({strategy}){cap}",
        "zh": "{label}：{object}{when}分配给{pool}（{strategy}）{cap}",
    },
    "assignment.when": {"en": " meeting {expression}", "zh": "（满足 {expression}）"},
    "assignment.territory": {"en": "; if {expression}: to {pool}", "zh": "；若 {expression}：分配给{pool}"},
    "assignment.cap": {"en": ", at most {n} open each", "zh": "，每人最多 {n} 条进行中"},
    "strategy.round_robin": {"en": "in turn", "zh": "轮流"},
    "strategy.least_loaded": {"en": "to whoever has least", "zh": "分给最空闲者"},
    "pool.role": {"en": "the {role}s", "zh": "{role}"},
    "pool.team": {"en": "team {team}", "zh": "{team}团队"},
    "pool.role_team": {"en": "the {role}s of team {team}", "zh": "{team}团队的{role}"},
    "pool.users": {"en": "{users}", "zh": "{users}"},
    "pool.team_from": {"en": "the team named in {path}", "zh": "{path}所指团队"},
    # --- reports ---
    "measure.count": {"en": "number of records", "zh": "记录数"},
    "measure.of": {"en": "{kind} of {field}", "zh": "{field}的{kind}"},
    "measure.sum": {"en": "sum", "zh": "合计"},
    "measure.avg": {"en": "average", "zh": "平均"},
    "measure.min": {"en": "smallest", "zh": "最小值"},
    "measure.max": {"en": "largest", "zh": "最大值"},
    "measure.rate": {"en": "share", "zh": "占比"},
    "measure.weighted": {"en": "weighted by probability", "zh": "按赢率加权"},
    "measure.key.entered": {"en": "records that entered", "zh": "进入数"},
    "measure.key.conversion": {"en": "conversion to the next stage", "zh": "转化率"},
    "measure.key.median_days": {"en": "median days", "zh": "天数中位数"},
    "measure.key.avg_days": {"en": "average days", "zh": "平均天数"},
    "measure.key.lost": {"en": "records lost", "zh": "输单数"},
    "measure.key.lost_reasons": {"en": "reasons for losing", "zh": "输单原因"},
    "measure.key.closed": {"en": "records closed", "zh": "关闭数"},
    "measure.key.pipeline": {"en": "pipeline", "zh": "管道金额"},
    "measure.key.weighted": {"en": "weighted pipeline", "zh": "加权金额"},
    "measure.key.best_case": {"en": "best case", "zh": "最佳情况"},
    "measure.key.commit": {"en": "commit", "zh": "承诺"},
    "measure.key.won": {"en": "won", "zh": "已赢单"},
    "measure.key.quota": {"en": "quota", "zh": "指标"},
    "measure.key.attainment": {"en": "attainment", "zh": "完成率"},
    "measure.key.open_count": {"en": "open records", "zh": "进行中记录数"},
    "report.by_bucket": {"en": "{field} by {bucket}", "zh": "{field}（按{bucket}）"},
    "bucket.day": {"en": "day", "zh": "日"},
    "bucket.week": {"en": "week", "zh": "周"},
    "bucket.month": {"en": "month", "zh": "月"},
    "bucket.quarter": {"en": "quarter", "zh": "季度"},
    "bucket.year": {"en": "year", "zh": "年"},
    # --- trellis diff (engine/metadata/configdiff.py) ---
    "diff.group.picklists": {"en": "Shared picklists", "zh": "共享选项列表"},
    "diff.group.roles": {"en": "Roles", "zh": "角色"},
    "diff.group.general": {"en": "Rules without an object", "zh": "不属于对象的规则"},
    "diff.none": {"en": "No changes.", "zh": "没有变化。"},
    "diff.summary": {
        "en": "{objects} objects, {fields} fields, {picklists} shared picklists, {roles} roles, "
        "{automations} automation rules, {reports} reports",
        "zh": "{objects} 个对象、{fields} 个字段、{picklists} 个共享选项列表、{roles} 个角色、"
        "{automations} 条自动化规则、{reports} 个报表",
    },
    "diff.object_added": {"en": "New object {object}", "zh": "新增对象{object}"},
    "diff.object_removed": {"en": "Object {object} removed", "zh": "删除对象{object}"},
    "diff.object_label": {"en": "Renamed from {before} to {after}", "zh": "名称由{before}改为{after}"},
    "diff.field_added": {"en": "Field {field} added ({type})", "zh": "新增字段{field}（{type}）"},
    "diff.field_removed": {"en": "Field {field} removed", "zh": "删除字段{field}"},
    "diff.field_type": {
        "en": "Field {field} changes type from {before} to {after}",
        "zh": "字段{field}的类型由{before}改为{after}",
    },
    "diff.field_label": {
        "en": "Field {field} renamed from {before} to {after}",
        "zh": "字段{field}的名称由{before}改为{after}",
    },
    "diff.field_required": {"en": "Field {field} is now required", "zh": "字段{field}改为必填"},
    "diff.field_optional": {"en": "Field {field} is no longer required", "zh": "字段{field}不再必填"},
    "diff.field_unique": {"en": "Field {field} must now be unique", "zh": "字段{field}改为唯一"},
    "diff.field_not_unique": {"en": "Field {field} need no longer be unique", "zh": "字段{field}不再要求唯一"},
    "diff.value_added": {"en": "Value {value} added to {field}", "zh": "{field}新增选项{value}"},
    "diff.value_removed": {"en": "Value {value} removed from {field}", "zh": "{field}删除选项{value}"},
    "diff.value_retired": {
        "en": "Value {value} of {field} is no longer offered",
        "zh": "{field}的选项{value}已停用",
    },
    "diff.value_label": {"en": "Value {value} of {field} renamed", "zh": "{field}的选项{value}改名"},
    "diff.picklist_added": {"en": "New picklist {picklist}", "zh": "新增选项列表{picklist}"},
    "diff.picklist_removed": {"en": "Picklist {picklist} removed", "zh": "删除选项列表{picklist}"},
    "diff.no_records": {"en": "none", "zh": "无"},
    "diff.in_language": {"en": "{language}: ", "zh": "{language}："},
    "diff.in_pipeline": {"en": "{stage} (pipeline {pipeline})", "zh": "{stage}（{pipeline}）"},
    "diff.stage_added": {"en": "Stage {stage} added", "zh": "新增阶段{stage}"},
    "diff.stage_removed": {"en": "Stage {stage} removed", "zh": "删除阶段{stage}"},
    "diff.stage_label": {
        "en": "Stage {stage} renamed from {before} to {after}",
        "zh": "阶段{stage}的名称由{before}改为{after}",
    },
    "diff.gate_tightened": {
        "en": "Gate of stage {stage} tightened: it now also requires {fields}",
        "zh": "阶段{stage}的门槛收紧：现在还要求填写{fields}",
    },
    "diff.gate_loosened": {
        "en": "Gate of stage {stage} loosened: it no longer requires {fields}",
        "zh": "阶段{stage}的门槛放宽：不再要求填写{fields}",
    },
    "diff.gate_conditions": {
        "en": "Conditional requirements of stage {stage} changed",
        "zh": "阶段{stage}的条件必填已修改",
    },
    "diff.probability": {
        "en": "Probability of stage {stage} changed from {before} to {after}",
        "zh": "阶段{stage}的赢率由{before}改为{after}",
    },
    "diff.retention": {
        "en": "Records of {object} are now {after} (before: {before})",
        "zh": "{object}的记录现在{after}（原为：{before}）",
    },
    "diff.retention_none": {"en": "kept for ever", "zh": "永久保留"},
    "diff.retention_approved": {"en": "{policy}, once {approver} approves", "zh": "{policy}（须经{approver}批准）"},
    "diff.retention_archive": {
        "en": "archived {years} years after {moment}",
        "zh": "在{moment}之后 {years} 年归档",
    },
    "diff.retention_purge": {
        "en": "purged {years} years after {moment}, with their timeline entries and files",
        "zh": "在{moment}之后 {years} 年连同时间线记录和文件彻底删除",
    },
    "diff.role_added": {"en": "New role {role}", "zh": "新增角色{role}"},
    "diff.role_removed": {"en": "Role {role} removed", "zh": "删除角色{role}"},
    "diff.role_widened": {
        "en": "Role {role} widened: {scope} {before} → {after}",
        "zh": "角色{role}权限扩大：{scope} {before} → {after}",
    },
    "diff.role_narrowed": {
        "en": "Role {role} narrowed: {scope} {before} → {after}",
        "zh": "角色{role}权限缩小：{scope} {before} → {after}",
    },
    "diff.role_may": {"en": "Role {role} may now {what}", "zh": "角色{role}现在可以{what}"},
    "diff.role_may_not": {"en": "Role {role} may no longer {what}", "zh": "角色{role}不再可以{what}"},
    "diff.role_hides": {"en": "Role {role} no longer sees {field}", "zh": "角色{role}不再能看到{field}"},
    "diff.role_shows": {"en": "Role {role} now sees {field}", "zh": "角色{role}现在能看到{field}"},
    "diff.role_read_only": {"en": "Role {role} may no longer change {field}", "zh": "角色{role}不再能修改{field}"},
    "diff.role_may_edit": {"en": "Role {role} may now change {field}", "zh": "角色{role}现在能修改{field}"},
    "diff.permission_given": {"en": "Role {role} may now {permission}", "zh": "角色{role}获得权限：{permission}"},
    "diff.permission_taken": {"en": "Role {role} may no longer {permission}", "zh": "角色{role}失去权限：{permission}"},
    "diff.approval_added": {"en": "New approval {rule}", "zh": "新增审批{rule}"},
    "diff.approval_changed": {"en": "Approval {rule} changed", "zh": "审批{rule}已修改"},
    "diff.approval_removed": {"en": "Approval {rule} removed", "zh": "删除审批{rule}"},
    "diff.automation_added": {"en": "New automation rule {rule}", "zh": "新增自动化规则{rule}"},
    "diff.automation_changed": {"en": "Automation rule {rule} changed", "zh": "自动化规则{rule}已修改"},
    "diff.automation_removed": {"en": "Automation rule {rule} removed", "zh": "删除自动化规则{rule}"},
    "diff.report_added": {"en": "New report {rule}", "zh": "新增报表{rule}"},
    "diff.report_changed": {"en": "Report {rule} changed", "zh": "报表{rule}已修改"},
    "diff.report_removed": {"en": "Report {rule} removed", "zh": "删除报表{rule}"},
    "diff.assignment_added": {"en": "New assignment rule {rule}", "zh": "新增分配规则{rule}"},
    "diff.assignment_changed": {"en": "Assignment rule {rule} changed", "zh": "分配规则{rule}已修改"},
    "diff.assignment_removed": {"en": "Assignment rule {rule} removed", "zh": "删除分配规则{rule}"},
}


@dataclass(frozen=True)
class Speaker:
    """Says the words of ``WORDS`` and the config's labels in ``language``."""

    config: Config
    language: str

    def __call__(self, key: str, /, **params: Any) -> str:
        """The text of ``key`` with ``params`` filled in (English when the language lacks it)."""
        texts = WORDS[key]
        return (texts.get(self.language) or texts["en"]).format(**params)

    def either(self, key: str, fallback: str, /, **params: Any) -> str:
        """The text of ``key`` when the catalogue has it (a registered kind), else ``fallback``."""
        return self(key, **params) if key in WORDS else fallback

    def label(self, label: Label | None, fallback: str = "") -> str:
        """A configured label in this language (else the first one written)."""
        return label.get(self.language) if label is not None else fallback

    def join(self, items: Iterable[str], last: str = "list.sep") -> str:
        """``items`` as a list in a sentence."""
        items = [i for i in items if i]
        if len(items) < 2:
            return "".join(items)
        return self("list.sep").join(items[:-1]) + self(last) + items[-1]

    def quoted(self, text: str) -> str:
        """``text`` in quotation marks."""
        return self("quoted", text=text)

    def a_object(self, name: str | None) -> str:
        """An object's name after an indefinite article in English (``a deal``, ``an account``);
        as ``object`` in languages without articles."""
        return self.article(self.object(name))

    def article(self, text: str) -> str:
        """``text`` as a common noun after ``a``/``an`` in English (as it is elsewhere)."""
        if self.language != "en" or not text:
            return text
        word = text[0].lower() + text[1:] if len(text) < 2 or not text[1].isupper() else text
        return ("an " if word[0] in "aeiou" else "a ") + word

    def code(self, text: object) -> str:
        """``text`` marked as code (a key, an expression) inside a sentence: the renderers show
        it as code and never read it as markup (``CODE_START``…``CODE_END``)."""
        return f"{CODE_START}{text}{CODE_END}"

    def names(self, name: str | None) -> dict[str, str]:
        """The parameters naming an object in a sentence: ``object`` and ``a_object``."""
        return {"object": self.object(name), "a_object": self.a_object(name)}

    def object(self, name: str | None) -> str:
        """An object's name as people read it."""
        obj = self.config.objects.get(name or "")
        return self.label(obj.label, name or "") if obj else (name or "")

    def field(self, object_name: str | None, name: str) -> str:
        """A field's name as people read it (system columns by their words in the catalogue)."""
        obj = self.config.objects.get(object_name or "")
        found = obj.fields.get(name) if obj else None
        return self.label(found.label, name) if found else SYSTEM_WORDS.get(name, {}).get(self.language, name)

    def fields(self, object_name: str | None, names: Iterable[str]) -> str:
        """Several fields' names, listed."""
        return self.join(self.field(object_name, n) for n in names)

    def role(self, name: str | None) -> str:
        """A role's name as people read it."""
        role = self.config.roles.get(name or "")
        return self.label(role.label, name or "") if role else (name or "")

    def stage(self, object_name: str | None, key: str) -> str:
        """A stage's name as people read it (any pipeline of the object)."""
        obj = self.config.objects.get(object_name or "")
        pipeline = obj.pipeline if obj is not None else None
        stage = next((s for s in pipeline.all_stages() if s.key == key), None) if pipeline is not None else None
        return self.label(stage.label, key) if stage else key

    def value(self, field: FieldDef | None, key: Any) -> str:
        """A stored value as people read it: a picklist value's label, yes/no, else as written."""
        if isinstance(key, bool):
            return self("yes" if key else "no")
        picklist = field.picklist if field is not None else None
        found = picklist.find(key) if picklist is not None and isinstance(key, str) else None
        return self.label(found.label, str(key)) if found else str(key)

    def duration(self, seconds: int) -> str:
        """A duration in whole days, hours or minutes."""
        seconds = abs(seconds)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0 or unit == "minute":
                n = seconds // size
                return self(f"duration.{unit}") if n == 1 else self(f"duration.{unit}s", n=n)
        raise AssertionError("unreachable")


#: The system columns' names, for sentences naming one (a schedule after ``created_at``).
SYSTEM_WORDS: dict[str, dict[str, str]] = {
    "id": {"en": "ID", "zh": "编号"},
    "created_at": {"en": "creation", "zh": "创建时间"},
    "updated_at": {"en": "last change", "zh": "更新时间"},
    "created_by": {"en": "creator", "zh": "创建人"},
    "owner_id": {"en": "owner", "zh": "负责人"},
    "owner": {"en": "owner", "zh": "负责人"},
    "team": {"en": "team", "zh": "团队"},
    "version": {"en": "version", "zh": "版本"},
    "archived_at": {"en": "archiving", "zh": "归档时间"},
    "stage_entered_at": {"en": "entry into its stage", "zh": "进入当前阶段时间"},
    "last_activity_at": {"en": "last activity", "zh": "最近跟进时间"},
}
