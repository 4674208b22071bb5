"""The engine's words for people, in every language Trellis speaks, keyed by a stable code.

``MESSAGES`` maps a code (the ``code`` of a ``FieldError``, or a text the engine writes
itself, such as ``value.yes``) to a text per language with ``{name}`` parameters.
``message(code, language, **params)`` fills one in.

The language of the person the engine is working for is ``current_language()``: the web
UI and the API set it for each request (``speaking``/``set_language``: the user's locale,
or the API's ``Accept-Language``); elsewhere (CLI, worker) it is English. A
``FieldError`` read in a request shows its text from here, in that language; configured
texts (a rule's ``message``) are picked in it. ``tests/runtime/test_messages.py`` walks
every code raised anywhere and fails on one without a text in every language.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

#: Languages the engine's messages are written in.
LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # --- values as people read them ---
    "value.yes": {"en": "Yes", "zh": "是"},
    "value.no": {"en": "No", "zh": "否"},
    # --- the system columns, as a list or an export heads them ---
    "column.id": {"en": "ID", "zh": "编号"},
    "column.created_at": {"en": "Created", "zh": "创建时间"},
    "column.updated_at": {"en": "Updated", "zh": "更新时间"},
    "column.created_by": {"en": "Created by", "zh": "创建人"},
    "column.owner_id": {"en": "Owner", "zh": "负责人"},
    "column.version": {"en": "Version", "zh": "版本"},
    "column.archived_at": {"en": "Archived", "zh": "归档时间"},
    "column.stage_entered_at": {"en": "In stage since", "zh": "进入阶段时间"},
    "column.last_activity_at": {"en": "Last activity", "zh": "最近跟进时间"},
    # --- the CLI's words around a config's errors (engine.cli.common) ---
    "cli.config_errors.one": {"en": "{count} error in the config.", "zh": "配置中有 {count} 处错误。"},
    "cli.config_errors.other": {"en": "{count} errors in the config.", "zh": "配置中有 {count} 处错误。"},
    "cli.config_warnings.one": {
        "en": "{count} warning (`trellis validate --strict` treats them as errors).",
        "zh": "{count} 条警告（`trellis validate --strict` 把警告视为错误）。",
    },
    "cli.config_warnings.other": {
        "en": "{count} warnings (`trellis validate --strict` treats them as errors).",
        "zh": "{count} 条警告（`trellis validate --strict` 把警告视为错误）。",
    },
    "cli.warning": {"en": "warning", "zh": "警告"},
    "cli.config_valid": {
        "en": "{config} is valid: {objects} objects, {fields} fields, {picklists} picklists.",
        "zh": "{config} 有效：{objects} 个对象，{fields} 个字段，{picklists} 个选项列表。",
    },
    # --- field errors (FieldError.code) ---
    "required": {"en": "This is required.", "zh": "此项为必填项。"},
    "invalid": {"en": "This value is not valid here.", "zh": "该值无效。"},
    "invalid_email": {"en": "Not a valid e-mail address.", "zh": "不是有效的电子邮件地址。"},
    "invalid_phone": {
        "en": "Not a valid phone number; check the digits and the area code.",
        "zh": "不是有效的电话号码，请检查号码和区号。",
    },
    "invalid_url": {"en": "Not a valid web address (http or https).", "zh": "不是有效的网址（http 或 https）。"},
    "invalid_json": {"en": "Not valid JSON.", "zh": "不是有效的 JSON。"},
    "too_small": {"en": "Must be at least {min}.", "zh": "不能小于 {min}。"},
    "too_large": {"en": "Must be at most {max}.", "zh": "不能大于 {max}。"},
    "too_long": {"en": "At most {max} characters.", "zh": "最多 {max} 个字符。"},
    # mail (engine.runtime.mail)
    "mail_not_configured": {
        "en": "This config has no `mail:` section: add one (see docs/config-reference.md#mail).",
        "zh": "此配置没有 `mail:` 部分，请先添加（见 docs/config-reference.md#mail）。",
    },
    "mail_unknown_mailbox": {
        "en": "No mailbox `{mailbox}` under `mail.mailboxes`; known: {known}.",
        "zh": "`mail.mailboxes` 中没有邮箱 `{mailbox}`；已有：{known}。",
    },
    "mail_not_allowed": {
        "en": "You may not write e-mails from this {object}.",
        "zh": "您无权从此{object}发送邮件。",
    },
    "unknown_template": {"en": "There is no template {name!r}.", "zh": "没有名为 {name} 的邮件模板。"},
    "template_failed": {"en": "The template could not be rendered.", "zh": "邮件模板无法生成。"},
    "address_suppressed": {
        "en": "{address} does not receive e-mail (unsubscribed, or marked do not e-mail).",
        "zh": "{address} 不接收邮件（已退订或标记为拒收邮件）。",
    },
    "pattern": {"en": "Does not have the required form.", "zh": "格式不符合要求。"},
    "unique": {"en": "Another record already has this value.", "zh": "已有其他记录使用该值。"},
    "not_found": {"en": "The record it points to does not exist.", "zh": "所引用的记录不存在。"},
    "not_in_picklist": {"en": "Not one of the allowed values.", "zh": "不是允许的选项之一。"},
    "inactive_value": {"en": "This value is no longer in use.", "zh": "该选项已停用。"},
    "not_allowed_for_parent": {"en": "Does not fit the value chosen above it.", "zh": "与上级选项不匹配。"},
    "parent_required": {"en": "Choose the value above it first.", "zh": "请先选择上级选项。"},
    "unknown_field": {"en": "There is no such field.", "zh": "没有这个字段。"},
    "computed": {"en": "This field is computed; it cannot be set.", "zh": "该字段由系统计算，不能填写。"},
    "read_only": {"en": "You may not change this field.", "zh": "您无权修改该字段。"},
    # --- merging duplicates (engine/runtime/records/merging) ---
    "finder.no_rules": {
        "en": "{object} declares no duplicate rules; add `duplicates:` to it in the config first.",
        "zh": "{object} 没有声明重复规则；请先在配置中为它添加 `duplicates:`。",
    },
    "finder.unknown_rule": {
        "en": "{object} has no duplicate rule {rule}; use one of: {rules}.",
        "zh": "{object} 没有名为 {rule} 的重复规则；可用的规则：{rules}。",
    },
    "finder.no_grant": {
        "en": "You may not look for duplicate {object} records; ask for the merge permission.",
        "zh": "您无权查找重复的{object}记录；请申请合并权限。",
    },
    "finder.failed": {
        "en": "The search stopped on an error; see the server log.",
        "zh": "查找因错误而中止；请查看服务器日志。",
    },
    "merge_nothing": {
        "en": "Choose at least one other record to merge into this one.",
        "zh": "请至少选择一条要合并到此记录的其他记录。",
    },
    "merge_too_many": {"en": "Merge at most {most} records at a time.", "zh": "一次最多合并 {most} 条记录。"},
    "merge_twice": {"en": "Record {id} is named twice.", "zh": "记录 {id} 被重复选择。"},
    "merge_archived": {"en": "Record {id} is archived; bring it back first.", "zh": "记录 {id} 已归档，请先恢复它。"},
    "merge_pending_approval": {
        "en": "Record {id} waits for an approval; decide or cancel the request before merging it.",
        "zh": "记录 {id} 正在等待审批，请先处理或撤回该申请再合并。",
    },
    "merge_not_in_group": {
        "en": "Choose the value of one of the records being merged ({ids}).",
        "zh": "请从正在合并的记录（{ids}）中选择一个值。",
    },
    "merge_stage_skip": {
        "en": "Taking the stage {stage} skips stages, and a skip needs a written reason, which a merge cannot "
        "give: keep this record's stage, merge, then move it to {stage} with the reason.",
        "zh": "采用阶段「{stage}」会跳过中间阶段，而跳过阶段需要填写理由，合并时无法填写：请保留此记录的阶段，"
        "合并后再将其推进到「{stage}」并填写理由。",
    },
    "merge_needs_approval": {
        "en": "The values chosen need an approval ({rules}); keep this record's values for them, or have them "
        "approved first.",
        "zh": "所选的值需要审批（{rules}）；请保留此记录的值，或先获得审批。",
    },
    "merge_record_gone": {
        "en": "This merge can no longer be undone: record {id} it merged was deleted since.",
        "zh": "此合并已无法撤销：被合并的记录 {id} 已被删除。",
    },
    "no_merge_to_undo": {"en": "This record has no merge to undo.", "zh": "此记录没有可撤销的合并。"},
    "merge_undo_expired": {
        "en": "This merge can no longer be undone: it was possible until {until}.",
        "zh": "此合并已无法撤销：撤销期限截至 {until}。",
    },
    "default_failed": {"en": "The default value could not be computed.", "zh": "无法计算默认值。"},
    "in_past": {"en": "This moment lies in the past.", "zh": "该时间已过去。"},
    "in_use": {
        "en": "Still referred to by {references}; change or delete those first.",
        "zh": "仍有记录引用此记录：{references}；请先修改或删除它们。",
    },
    "in_use.item": {"en": "{count} {field}", "zh": "{field}（{count} 条）"},
    "in_use.separator": {"en": ", ", "zh": "、"},
    "cycle": {"en": "This would make a circle.", "zh": "这会形成循环引用。"},
    "reassign_not_allowed": {"en": "You may not give this record to that user.", "zh": "您无权将此记录转给该用户。"},
    "unknown_user": {"en": "There is no such user.", "zh": "没有这个用户。"},
    "unknown_role": {"en": "There is no such role.", "zh": "没有这个角色。"},
    "control_character": {
        "en": "Control characters are not allowed here (in a single-line field: no tabs or line breaks).",
        "zh": "此处不允许使用控制字符（单行字段中也不能有制表符或换行）。",
    },
    "invalid_character": {
        "en": "The text holds an invalid character (a lone UTF-16 surrogate); paste it again as plain text.",
        "zh": "文本包含无效字符（孤立的 UTF-16 代理项），请以纯文本重新粘贴。",
    },
    "expression_limit": {
        "en": "This value could not be computed: a number or a text would be too large.",
        "zh": "无法计算此值：数字或文本过大。",
    },
    "invalid_file_name": {
        "en": "The file's name or type holds control characters; rename the file and upload it again.",
        "zh": "文件名或文件类型包含控制字符，请重命名文件后重新上传。",
    },
    "confirm_lost": {
        "en": "Closing the record as lost needs a confirmation and the reason.",
        "zh": "将记录关闭为输单需要确认并填写原因。",
    },
    "rule_withheld": {
        "en": "This change is not allowed by a company rule ({rule}).",
        "zh": "此更改不符合公司规则（{rule}），无法保存。",
    },
    # --- stages: gates and skips ---
    "required_for_stage": {"en": "Required to enter this stage.", "zh": "进入该阶段前必须填写。"},
    "transition_not_allowed": {
        "en": "The record cannot move to this stage from its current one.",
        "zh": "记录不能从当前阶段转到该阶段。",
    },
    "reason_required": {"en": "Give a reason for skipping stages.", "zh": "跳过阶段需要填写原因。"},
    "not_in_pipeline": {"en": "Not a stage of this pipeline.", "zh": "不是该流程的阶段。"},
    "stage_closed": {"en": "The record is closed; reopen it first.", "zh": "记录已关闭，请先重新打开。"},
    # --- approvals ---
    "approval_pending": {"en": "A change to this record waits for approval.", "zh": "该记录有变更正在等待审批。"},
    "approval_required": {"en": "This change needs an approval first.", "zh": "该变更需要先经过审批。"},
    "no_approver": {"en": "No one can approve this change.", "zh": "没有可以审批该变更的人。"},
    "already_decided": {"en": "This request was decided already.", "zh": "该申请已处理。"},
    "locked": {"en": "The record is locked while a change waits for approval.", "zh": "有变更等待审批，记录已锁定。"},
    # --- conversions ---
    "already_converted": {"en": "This record was converted already.", "zh": "该记录已转化，不能再次转化。"},
    "condition_not_met": {
        "en": "This record does not meet the condition for converting.",
        "zh": "该记录不满足转化条件。",
    },
    "not_optional": {"en": "This part is always created; it cannot be skipped.", "zh": "该部分必须创建，不能跳过。"},
    "unknown_target": {"en": "Not a part of this conversion.", "zh": "不是该转化的组成部分。"},
    "skipped_and_linked": {
        "en": "{target} cannot be both skipped and linked; choose one.",
        "zh": "「{target}」不能既跳过又关联已有记录，请选择其一。",
    },
    "linked_with_values": {
        "en": "{target} is linked to an existing record, so its values cannot be given too; "
        "change that record itself, or create a new one.",
        "zh": "「{target}」已关联已有记录，不能同时填写新记录的值；请直接修改该记录，或改为新建。",
    },
    "link_not_found": {
        "en": "There is no {object} with id {id} that you may read; nothing was linked.",
        "zh": "没有编号为 {id} 且您可查看的{object}；未关联任何记录。",
    },
    "link_archived": {
        "en": "{object} {id} is archived: restore it first, or choose another record.",
        "zh": "{object} {id} 已归档：请先恢复，或选择其他记录。",
    },
    "convert_duplicate": {
        "en": "{target} probably exists already ({count} likely duplicates): link to one of them, "
        "or create a new one anyway.",
        "zh": "「{target}」可能已存在（{count} 条疑似重复）：请关联其中一条，或仍然新建。",
    },
    # --- users and sign-in ---
    "weak_password": {"en": "The password is too weak.", "zh": "密码强度不够。"},
    "wrong_password": {"en": "The password is wrong.", "zh": "密码不正确。"},
    "login.ok": {"en": "Welcome.", "zh": "欢迎。"},
    "login.must_enroll": {"en": "Set up two-factor login to continue.", "zh": "请先设置两步验证再继续。"},
    "login.failed": {"en": "Wrong user name or password.", "zh": "用户名或密码错误。"},
    "login.wrong_code": {"en": "Wrong two-factor code.", "zh": "两步验证码错误。"},
    "login.locked": {
        "en": "Too many failed attempts: the account is locked for {minutes} more minutes.",
        "zh": "失败次数过多，账号已锁定，请 {minutes} 分钟后再试。",
    },
    "login.totp_required": {
        "en": "Enter the code from your authenticator app, or a recovery code.",
        "zh": "请输入身份验证器应用中的验证码，或一个恢复码。",
    },
    "login.disabled": {"en": "This account is disabled; ask an administrator.", "zh": "该账号已停用，请联系管理员。"},
    "login.expired": {
        "en": "This account expired on {day}; ask an administrator.",
        "zh": "该账号已于 {day} 过期，请联系管理员。",
    },
    "login.ip_denied": {
        "en": "Logging in from this network is not allowed for this account.",
        "zh": "该账号不允许从此网络登录。",
    },
    # --- the audit trail: sealing and verifying (trellis audit, the worker) ---
    "audit.sealed": {
        "en": "Audit rows sealed: {count} (sealed rows in the chain: {total}; head {hash}, row {row}).",
        "zh": "已封存审计记录：{count} 条（链中已封存记录共 {total} 条；链头 {hash}，第 {row} 行）。",
    },
    "audit.nothing_to_seal": {
        "en": "Nothing to seal (sealed rows in the chain: {total}; head {hash}).",
        "zh": "没有需要封存的记录（链中已封存记录共 {total} 条；链头 {hash}）。",
    },
    "audit.unsealed": {
        "en": "Rows not yet sealed: {count} (oldest at {oldest}, newest at {newest}). They are "
        "history, but not tamper-evident until sealed (by the worker, or `trellis audit seal`).",
        "zh": "尚未封存的记录：{count} 条（最早 {oldest}，最新 {newest}）。它们已是历史记录，但封存前"
        "无法发现篡改（由后台 worker 或 `trellis audit seal` 封存）。",
    },
    "audit.seal_failed": {
        "en": "Could not seal before verifying ({reason}); verifying the rows sealed so far.",
        "zh": "校验前无法封存（{reason}）；仅校验已封存的记录。",
    },
    "audit.head_missing": {
        "en": "sys_audit_head is gone, but {sealed} audit rows are sealed: sealing stopped, the "
        "chain cannot be continued without hiding that. Run `trellis audit verify` and "
        "restore the audit tables from a backup.",
        "zh": "sys_audit_head 已不存在，但已有 {sealed} 条审计记录被封存：封存已停止，否则会掩盖"
        "这一情况。请运行 `trellis audit verify`，并从备份恢复审计表。",
    },
    "audit.head_behind": {
        "en": "audit row seal {highest} exists, but sys_audit_head records seal {head} as the last "
        "one: rows were sealed outside Trellis (or the head was moved back). Sealing stopped; "
        "run `trellis audit verify` and restore the audit tables from a backup.",
        "zh": "存在封存序号为 {highest} 的审计记录，但 sys_audit_head 记录的最后序号是 {head}："
        "有记录在 Trellis 之外被封存（或链头被回退）。封存已停止；请运行 "
        "`trellis audit verify`，并从备份恢复审计表。",
    },
    # --- backup and restore (engine.runtime.backup, `trellis backup` / `trellis restore`) ---
    "backup.folder_not_empty": {
        "en": "{folder} exists and is not empty: give a new or empty folder to --to (a backup never overwrites one).",
        "zh": "{folder} 已存在且不为空：请为 --to 指定一个新的或空的文件夹（备份从不覆盖已有内容）。",
    },
    "backup.not_a_trellis_database": {
        "en": "this database has no Trellis tables: run `trellis apply CONFIG` first, or check --db.",
        "zh": "该数据库中没有 Trellis 的表：请先运行 `trellis apply CONFIG`，或检查 --db。",
    },
    "backup.sqlite_memory": {
        "en": "an in-memory SQLite database cannot be backed up or restored: use a file (sqlite:///path).",
        "zh": "内存中的 SQLite 数据库无法备份或恢复：请使用文件（sqlite:///路径）。",
    },
    "backup.no_tool": {
        "en": "{tool} was not found: install the PostgreSQL client programs (Debian: apt-get install "
        "postgresql-client) of the server's major version or newer, and put them on PATH.",
        "zh": "找不到 {tool}：请安装与服务器主版本相同或更新的 PostgreSQL 客户端程序"
        "（Debian：apt-get install postgresql-client），并加入 PATH。",
    },
    "backup.tool_failed": {
        "en": "{tool} failed: {detail}",
        "zh": "{tool} 运行失败：{detail}",
    },
    "backup.unsupported": {
        "en": "backups of {kind} databases are not supported (SQLite and PostgreSQL are).",
        "zh": "不支持备份 {kind} 数据库（支持 SQLite 和 PostgreSQL）。",
    },
    "backup.no_manifest": {
        "en": "{folder} holds no manifest.json: it is not a Trellis backup (or not all of one).",
        "zh": "{folder} 中没有 manifest.json：它不是 Trellis 备份（或备份不完整）。",
    },
    "backup.bad_manifest": {
        "en": "the manifest.json of {folder} cannot be read: the backup is damaged.",
        "zh": "无法读取 {folder} 中的 manifest.json：备份已损坏。",
    },
    "backup.bad_format": {
        "en": "{folder} is a backup of format {found}; this Trellis restores format {expected}.",
        "zh": "{folder} 是格式 {found} 的备份；当前 Trellis 只能恢复格式 {expected}。",
    },
    "backup.file_missing": {
        "en": "the backup is incomplete: {name} is listed in its manifest but missing. Nothing was restored.",
        "zh": "备份不完整：清单中列出的 {name} 不存在。未恢复任何内容。",
    },
    "backup.checksum": {
        "en": "the backup was changed or damaged: the checksum of {name} is not the one in its manifest. "
        "Nothing was restored; use another copy of the backup.",
        "zh": "备份已被修改或损坏：{name} 的校验和与清单不符。未恢复任何内容；请使用该备份的另一份副本。",
    },
    "backup.file_unknown": {
        "en": "the backup holds {name}, which its manifest does not list: it was added afterwards. Nothing was restored.",
        "zh": "备份中有清单未列出的文件 {name}：它是事后加入的。未恢复任何内容。",
    },
    "backup.wrong_kind": {
        "en": "this is a backup of a {made} database; it restores only into {made}, not into {target}.",
        "zh": "这是 {made} 数据库的备份，只能恢复到 {made}，不能恢复到 {target}。",
    },
    "backup.target_not_empty": {
        "en": "the target database is not empty ({count} tables, e.g. {example}): restore only into an "
        "empty database (a new file, database or schema); nothing was changed.",
        "zh": "目标数据库不为空（{count} 张表，例如 {example}）：只能恢复到空数据库"
        "（新的文件、数据库或 schema）；未做任何更改。",
    },
    "backup.file_differs": {
        "en": "{folder} already holds a different file {name}: restore the files into an empty folder (--files).",
        "zh": "{folder} 中已有不同的文件 {name}：请把文件恢复到空文件夹（--files）。",
    },
    "backup.table_missing": {
        "en": "check failed: table {table} of the backup is missing after the restore.",
        "zh": "校验失败：恢复后缺少备份中的表 {table}。",
    },
    "backup.rows_differ": {
        "en": "check failed: table {table} has {found} rows after the restore, the backup counted {expected}.",
        "zh": "校验失败：恢复后表 {table} 有 {found} 行，备份时为 {expected} 行。",
    },
    "backup.audit_broken": {
        "en": "check failed: the restored audit trail does not verify: {reason}",
        "zh": "校验失败：恢复后的审计链未通过验证：{reason}",
    },
    "backup.config_differs": {
        "en": "check failed: the restored database's config version is {found}, the backup's is {expected}.",
        "zh": "校验失败：恢复后数据库的配置版本为 {found}，备份中为 {expected}。",
    },
    "backup.done": {
        "en": "Backup written to {folder}: {kind} database, {tables} tables, {rows} rows, {files} stored "
        "files, audit head {head} ({sealed} sealed rows), config version {version}.",
        "zh": "备份已写入 {folder}：{kind} 数据库，{tables} 张表，{rows} 行，{files} 个存储文件，"
        "审计链头 {head}（已封存 {sealed} 条），配置版本 {version}。",
    },
    "backup.key_note": {
        "en": "Encrypted fields stay encrypted in it; the key (TRELLIS_SECRET_KEY) is not in the backup: "
        "keep it apart, e.g. in your secret store, or the backup's encrypted values cannot be read.",
        "zh": "其中加密字段仍是密文；密钥（TRELLIS_SECRET_KEY）不在备份中："
        "请另行保管（例如放在密钥管理系统中），否则无法读取备份中的加密值。",
    },
    "backup.files_missing": {
        "en": "{count} stored files named in sys_files were not in the upload folder {folder} and are not in the backup.",
        "zh": "sys_files 中记录的 {count} 个存储文件不在上传文件夹 {folder} 中，未包含在备份里。",
    },
    "backup.import_uploads": {
        "en": "{count} unfinished import jobs: their files are in it (imports/); a restore puts them back and the jobs resume.",
        "zh": "{count} 个未完成的导入任务：其文件已包含在备份中（imports/）；恢复后会放回原处，任务将继续执行。",
    },
    "backup.import_uploads_missing": {
        "en": "{count} unfinished import jobs had no file left to back up; they cannot resume after a restore.",
        "zh": "{count} 个未完成的导入任务已找不到文件，未能备份；恢复后这些任务无法继续。",
    },
    "restore.import_uploads": {
        "en": "{count} unfinished import jobs have their files back in {folder}; trellis worker carries them on.",
        "zh": "{count} 个未完成的导入任务的文件已放回 {folder}；trellis worker 会继续执行它们。",
    },
    "restore.done": {
        "en": "Restored from {folder} and verified: checksums, {tables} tables with {rows} rows as counted, "
        "{files} stored files into {files_to}, audit trail intact ({audit} rows), config version {version}.",
        "zh": "已从 {folder} 恢复并校验：校验和正确，{tables} 张表共 {rows} 行与备份一致，"
        "{files} 个存储文件已复制到 {files_to}，审计链完整（{audit} 条），配置版本 {version}。",
    },
    # --- retention (engine.runtime.retention, `trellis retention`) ---
    "retention.no_policy": {
        "en": "No retention is configured: set settings.retention_years or objects.<object>.retention.",
        "zh": "未配置保留期限：请设置 settings.retention_years 或 objects.<对象>.retention。",
    },
    "retention.would_archive": {
        "en": "{object}: {count} would be archived (kept {years} years after {field}: before {before}).",
        "zh": "{object}：将归档 {count} 条（自 {field} 起保留 {years} 年：早于 {before}）。",
    },
    "retention.would_purge": {
        "en": "{object}: {count} would be purged with their timeline entries and files "
        "(kept {years} years after {field}: before {before}).",
        "zh": "{object}：将彻底删除 {count} 条及其时间线记录和文件（自 {field} 起保留 {years} 年：早于 {before}）。",
    },
    "retention.dry_run": {
        "en": "Dry run: nothing was changed.",
        "zh": "试运行：未做任何更改。",
    },
    "retention.needs_yes": {
        "en": "Nothing was changed: check the report above, then run again with --yes to archive and purge "
        "(or --dry-run for the report only).",
        "zh": "未做任何更改：请核对上面的报告，然后加 --yes 再次运行以归档和删除（或用 --dry-run 仅查看报告）。",
    },
    "retention.nothing": {
        "en": "No record is past its retention.",
        "zh": "没有超过保留期限的记录。",
    },
    "retention.done_archive": {
        "en": "{object}: {count} archived.",
        "zh": "{object}：已归档 {count} 条。",
    },
    "retention.done_purge": {
        "en": "{object}: {count} purged, with {timeline} timeline entries; each left a `purge` audit entry.",
        "zh": "{object}：已彻底删除 {count} 条及 {timeline} 条时间线记录；每条都留有一条 `purge` 审计记录。",
    },
    "retention.kept": {
        "en": "{object}: {count} past retention kept, because other records still refer to them.",
        "zh": "{object}：{count} 条已超过保留期限但仍被其他记录引用，已保留。",
    },
    # --- retention requests (engine.runtime.retention_requests: approval before a run) ---
    "retention.notify_archive": {
        "en": "Retention: {count} {object} wait for your approval to be archived (request #{id})",
        "zh": "保留策略：{count} 条{object}等待您批准归档（申请 #{id}）",
    },
    "retention.notify_purge": {
        "en": "Retention: {count} {object} wait for your approval to be purged (request #{id})",
        "zh": "保留策略：{count} 条{object}等待您批准彻底删除（申请 #{id}）",
    },
    "retention.notify_body": {
        "en": "They are past their retention of {years} years. Open Approvals to see the report and approve or reject.",
        "zh": "它们已超过 {years} 年的保留期限。请打开“审批”查看报告并批准或拒绝。",
    },
    "retention.not_approver": {
        "en": "retention request {id} is for {approver} to decide",
        "zh": "保留策略申请 {id} 应由 {approver} 审批",
    },
    "retention.say_why": {
        "en": "Say why you reject the request.",
        "zh": "请说明拒绝的理由。",
    },
    "retention.needs_approval": {
        "en": "    (held for approval by {approver} before anything is done)",
        "zh": "    （须经 {approver} 批准后才会执行）",
    },
    "retention.requested": {
        "en": "{object}: {count} held for approval by {approver} (request #{id}); nothing was changed.",
        "zh": "{object}：{count} 条已提交 {approver} 审批（申请 #{id}）；未做任何更改。",
    },
    "retention.waiting": {
        "en": "{object}: waiting for approval by {approver} (request #{id}, {count} records); nothing was changed.",
        "zh": "{object}：等待 {approver} 审批（申请 #{id}，{count} 条）；未做任何更改。",
    },
    "retention.rejected": {
        "en": "{object}: request #{id} was rejected by {user} ({comment}); no new request until the records due "
        "change. Nothing was changed.",
        "zh": "{object}：申请 #{id} 已被 {user} 拒绝（{comment}）；到期记录变化前不会再次提交。未做任何更改。",
    },
    "retention.request_done": {
        "en": "{object}: request #{id} carried out: {done} {action}, {kept} kept (still referred to), "
        "{changed} left because they changed or are no longer due.",
        "zh": "{object}：申请 #{id} 已执行：{action} {done} 条，{kept} 条仍被引用而保留，"
        "{changed} 条因已更改或不再到期而未处理。",
    },
    "retention.requests": {
        "en": "Retention requests:",
        "zh": "保留策略申请：",
    },
    "retention.request_pending": {
        "en": "  #{id} {object}: {count} to {action}, waiting for approval by {approver} since {at}.",
        "zh": "  #{id} {object}：{count} 条待{action}，自 {at} 起等待 {approver} 审批。",
    },
    "retention.request_approved": {
        "en": "  #{id} {object}: {count} to {action}, approved by {user} on {at}; the next run carries it out "
        "({done} done so far).",
        "zh": "  #{id} {object}：{count} 条待{action}，{user} 已于 {at} 批准；下次运行时执行（已完成 {done} 条）。",
    },
    "retention.request_rejected": {
        "en": "  #{id} {object}: {count} to {action}, rejected by {user} on {at}: {comment} "
        "(no new request until the records due change).",
        "zh": "  #{id} {object}：{count} 条待{action}，{user} 已于 {at} 拒绝：{comment}（到期记录变化前不会再次提交）。",
    },
    "retention.request_finished": {
        "en": "  #{id} {object}: approved by {user}, carried out on {at}: {done} done, {kept} kept, {changed} left.",
        "zh": "  #{id} {object}：{user} 已批准，于 {at} 执行：完成 {done} 条，保留 {kept} 条，未处理 {changed} 条。",
    },
    "retention.request_withdrawn": {
        "en": "  #{id} {object}: {count} to {action}, withdrawn on {at}: the policy no longer needs approval.",
        "zh": "  #{id} {object}：{count} 条待{action}，已于 {at} 撤销：该策略不再需要审批。",
    },
    "retention.action.archive": {"en": "archive", "zh": "归档"},
    "retention.action.purge": {"en": "purge", "zh": "彻底删除"},
    "retention.action_done.archive": {"en": "archived", "zh": "已归档"},
    "retention.action_done.purge": {"en": "purged", "zh": "已彻底删除"},
    # --- list parameters (engine.runtime.records.listparams: the web list, board, API list, export) ---
    "nul_character": {
        "en": "Query parameters cannot contain the NUL character (%00).",
        "zh": "查询参数不能包含 NUL 字符（%00）。",
    },
    "repeated_parameter": {"en": "Give {parameter} only once.", "zh": "参数 {parameter} 只能给一次。"},
    "bad_page": {"en": "The page number is a whole number from 1.", "zh": "页码（page）必须是从 1 起的整数。"},
    "bad_per_page": {
        "en": "per_page is a whole number from 1 to {highest}.",
        "zh": "每页条数（per_page）必须是 1 到 {highest} 之间的整数。",
    },
    "bad_owner": {
        "en": "The owner filter is me, team or a user id.",
        "zh": "负责人筛选（owner）只能是 me、team 或用户编号。",
    },
    "owner_conflict": {
        "en": "Filter on the owner either with owner or with owner_id, not both.",
        "zh": "负责人请只用 owner 或 owner_id 其中之一筛选。",
    },
    "search_too_long": {"en": "The search text is at most {max} characters.", "zh": "搜索内容最多 {max} 个字符。"},
    "search_too_short": {
        "en": "Type at least {min} characters to search (one Chinese character is enough).",
        "zh": "请至少输入 {min} 个字符再搜索（一个汉字即可）。",
    },
    "search_unknown_object": {
        "en": "There is no object {name} to search; use one of {objects}.",
        "zh": "没有可搜索的对象 {name}，请使用以下之一：{objects}。",
    },
    "search_per_object": {
        "en": "per_object is a whole number from 1 to {max}.",
        "zh": "per_object 必须是 1 到 {max} 之间的整数。",
    },
    "bad_filter": {
        "en": "The filter {parameter} cannot be applied.",
        "zh": "筛选条件 {parameter} 无法使用：字段不存在或不可见、运算符未知，或值不合适。",
    },
    "bad_search": {"en": "The search cannot be applied.", "zh": "无法执行该搜索。"},
    "bad_sort": {
        "en": "The list cannot be sorted so.",
        "zh": "无法这样排序：字段不存在或不可见，或排序字段超过 10 个。",
    },
    # --- import (engine.runtime.imports, trellis import) ---
    "invalid_boolean": {
        "en": "Not yes or no (write 是/否 or yes/no).",
        "zh": "不是“是/否”（请填写 是/否 或 yes/no）。",
    },
    "invalid_date": {
        "en": "Not a date (write 2026-12-01 or 2026年12月1日).",
        "zh": "不是日期（请填写 2026-12-01 或 2026年12月1日）。",
    },
    "invalid_datetime": {
        "en": "Not a date and time (write 2026-12-01 14:30).",
        "zh": "不是日期时间（请填写 2026-12-01 14:30）。",
    },
    "no_such_user": {
        "en": "There is no such user (write the user name, e-mail or name).",
        "zh": "没有这个用户（请填写用户名、邮箱或姓名）。",
    },
    "ambiguous_user": {
        "en": "Several users are called so; write the user name.",
        "zh": "有多个同名用户，请填写用户名。",
    },
    "file_not_imported": {
        "en": "Files are not imported: upload them on the record, and leave this cell empty.",
        "zh": "文件不能导入：请在记录上上传文件，并让此单元格留空。",
    },
    "import.owner": {"en": "Owner", "zh": "负责人"},
    "import.error_column": {"en": "Import error", "zh": "导入错误"},
    "import.no_file": {"en": "There is no file {path}.", "zh": "文件 {path} 不存在。"},
    "import.old_excel": {
        "en": "{path} is an old Excel file (.xls): save it as .xlsx or CSV in Excel, then import that.",
        "zh": "{path} 是旧版 Excel 文件（.xls）：请在 Excel 中另存为 .xlsx 或 CSV 后再导入。",
    },
    "import.sheet_not_xlsx": {
        "en": "Only an .xlsx file has sheets; {path} is a CSV file (leave the sheet out).",
        "zh": "只有 .xlsx 文件才有工作表；{path} 是 CSV 文件（请不要指定工作表）。",
    },
    "import.unknown_encoding": {
        "en": "The file's encoding cannot be told: save it as CSV UTF-8 in Excel and import that.",
        "zh": "无法识别文件编码：请在 Excel 中另存为“CSV UTF-8”后再导入。",
    },
    "import.empty_file": {"en": "{path} is empty.", "zh": "{path} 是空文件。"},
    "import.no_header": {
        "en": "{path} has no header row: its first row must name the columns.",
        "zh": "{path} 没有表头：第一行必须是列名。",
    },
    "import.bad_bytes": {
        "en": "The file is not {encoding} throughout (detected from its beginning): save it as CSV UTF-8 and import "
        "that.",
        "zh": "文件并非全部为 {encoding} 编码（根据文件开头识别）：请另存为“CSV UTF-8”后再导入。",
    },
    "import.bad_csv": {"en": "The CSV file cannot be read: {reason}.", "zh": "无法读取该 CSV 文件：{reason}。"},
    "import.bad_xlsx": {
        "en": "{path} cannot be read as an Excel (.xlsx) file.",
        "zh": "无法将 {path} 作为 Excel（.xlsx）文件读取。",
    },
    "import.no_sheet": {
        "en": "The workbook has no sheet {sheet!r}; its sheets: {sheets}.",
        "zh": "工作簿中没有名为 {sheet!r} 的工作表；现有工作表：{sheets}。",
    },
    "import.map_unreadable": {
        "en": "The map {path} cannot be read: {reason}",
        "zh": "无法读取映射文件 {path}：{reason}",
    },
    "import.map_shape": {
        "en": "The map {path} holds `columns:` (column: field, skip or {{field: …, by: …, values: …}}) and "
        "`constants:` (field: value), nothing else.",
        "zh": "映射文件 {path} 只能包含 `columns:`（列: 字段、skip 或 {{field: …, by: …, values: …}}）和 "
        "`constants:`（字段: 值）。",
    },
    "import.map_no_column": {
        "en": "The map names column {column!r}, which the file does not have.",
        "zh": "映射文件中的列 {column!r} 在文件中不存在。",
    },
    "import.map_value": {
        "en": "The map's entry for {column!r} is not a field, skip or {{field: …, by: …, values: …}}.",
        "zh": "映射文件中 {column!r} 的值应为字段名、skip 或 {{field: …, by: …, values: …}}。",
    },
    "import.map_values_shape": {
        "en": "The map's `values` for {column!r} should pair each cell value with an option: {{软件: software}}.",
        "zh": "映射文件中 {column!r} 的 `values` 应把每个单元格值对应到一个选项，例如 {{软件: software}}。",
    },
    "import.values_not_picklist": {
        "en": "Column {column!r} has `values`, but its field has no options (only picklists take them).",
        "zh": "列 {column!r} 写了 `values`，但对应字段没有选项（只有下拉选项字段可用）。",
    },
    "import.value_not_option": {
        "en": "Column {column!r}: {value!r} is to become {option!r}, which is not an option of the field; "
        "its options: {options}.",
        "zh": "列 {column!r}：{value!r} 要对应的 {option!r} 不是该字段的选项；可用选项：{options}。",
    },
    "import.unmatched": {
        "en": "Column {column!r} matches no field: map it in --map MAP.yaml (or write `{column}: skip`).",
        "zh": "列 {column!r} 没有对应的字段：请在 --map MAP.yaml 中指定（或写 `{column}: skip` 跳过）。",
    },
    "import.unmatched_suggest": {
        "en": "Column {column!r} matches no field: did you mean {field} ({label})? Map it in --map MAP.yaml "
        "(or write `{column}: skip`).",
        "zh": "列 {column!r} 没有对应的字段：是否指 {field}（{label}）？请在 --map MAP.yaml 中指定"
        "（或写 `{column}: skip` 跳过）。",
    },
    "import.note_system": {
        "en": "Column {column!r} is kept by Trellis itself: left out.",
        "zh": "列 {column!r} 由 Trellis 自动维护：不导入。",
    },
    "import.note_computed": {
        "en": "Column {column!r} ({field}) is computed by Trellis: left out.",
        "zh": "列 {column!r}（{field}）由系统计算：不导入。",
    },
    "import.two_columns": {
        "en": "Columns {first!r} and {second!r} both go into {field}: skip one of them in --map.",
        "zh": "列 {first!r} 和 {second!r} 都对应字段 {field}：请在 --map 中跳过其中一列。",
    },
    "import.unknown_field": {"en": "{object} has no field {field!r}.", "zh": "{object} 没有字段 {field!r}。"},
    "import.constant_and_column": {
        "en": "{field} is given both as a constant and by column {column!r}.",
        "zh": "字段 {field} 既设为常量，又由列 {column!r} 提供。",
    },
    "import.constant_lookup": {
        "en": "The constant of {field} names a record: give its id (a number).",
        "zh": "{field} 的常量引用了记录：请填写记录编号（数字）。",
    },
    "import.nothing_mapped": {"en": "No column of the file goes into a field.", "zh": "文件中没有任何列对应到字段。"},
    "import.read_only": {
        "en": "Column {column!r}: you may not change {field}; leave the column out (`{column}: skip` in --map).",
        "zh": "列 {column!r}：您无权修改 {field}；请去掉该列（在 --map 中写 `{column}: skip`）。",
    },
    "import.by_not_lookup": {
        "en": "Column {column!r}: `by` is for lookup fields only.",
        "zh": "列 {column!r}：`by` 只适用于关联字段。",
    },
    "import.title_not_simple": {
        "en": "Column {column!r}: a {object}'s title is made of several fields; say which field finds it: "
        "`{column}: {{by: FIELD}}` in --map.",
        "zh": "列 {column!r}：{object} 的标题由多个字段组成；请在 --map 中写 `{column}: {{by: 字段}}` 指定查找字段。",
    },
    "import.bad_by": {
        "en": "Column {column!r}: {object} records cannot be found by {field!r} (no such field you may read, "
        "or it is encrypted).",
        "zh": "列 {column!r}：不能按 {field!r} 查找{object}（没有您可读的此字段，或该字段已加密）。",
    },
    "import.no_record": {"en": "no {object} {value!r} (by {field})", "zh": "找不到{object} {value!r}（按 {field}）"},
    "import.ambiguous_record": {
        "en": "{count} {object} records are {value!r} (by {field}); name it by a unique field with {{by: …}} in --map",
        "zh": "有 {count} 条{object}记录为 {value!r}（按 {field}）；请在 --map 中用 {{by: …}} 按唯一字段指定",
    },
    "import.unknown_object": {
        "en": "There is no object {object!r}; the objects: {known}.",
        "zh": "没有对象 {object!r}；现有对象：{known}。",
    },
    "import.denied": {
        "en": "You may not import {object}: your role lacks the `import` grant.",
        "zh": "您无权导入{object}：您的角色没有 `import` 权限。",
    },
    "import.no_create": {
        "en": "you may not create {object} records; this row matches no existing one",
        "zh": "您无权新建{object}记录，而该行没有匹配到现有记录",
    },
    "import.automation_admin_only": {
        "en": "Only an administrator (permission manage_config) may import with automation off.",
        "zh": "只有管理员（manage_config 权限）可以关闭自动化导入。",
    },
    "import.bad_on_duplicate": {
        "en": "--on-duplicate is skip, update or error, not {value!r}.",
        "zh": "--on-duplicate 只能是 skip、update 或 error，不能是 {value!r}。",
    },
    "import.bad_batch": {
        "en": "--batch is a whole number from 1 to {highest}.",
        "zh": "--batch 必须是 1 到 {highest} 之间的整数。",
    },
    "import.match_needed": {
        "en": "--on-duplicate needs --match FIELD: the object has no unique field among the columns.",
        "zh": "--on-duplicate 需要 --match 字段：文件的列中没有唯一字段。",
    },
    "import.match_not_mapped": {
        "en": "--match {field}: no column of the file goes into {field}.",
        "zh": "--match {field}：文件中没有列对应字段 {field}。",
    },
    "import.match_unusable": {
        "en": "--match {field}: records cannot be matched by this field (a list, lookup, file or encrypted field).",
        "zh": "--match {field}：不能按此字段匹配记录（列表、关联、文件或加密字段）。",
    },
    "import.duplicate": {
        "en": "{field}: a record with this value exists already (id {id}); use --on-duplicate skip or update",
        "zh": "{field}：已有该值的记录（编号 {id}）；可使用 --on-duplicate skip 或 update",
    },
    "import.duplicate.queued": {
        "en": "{field}: a record with this value exists already (id {id}); to skip or update such rows, choose so "
        "for rows that match a record (on_duplicate: skip or update)",
        "zh": "{field}：已有该值的记录（编号 {id}）；如需跳过或更新此类行，请在“当某行与已有记录匹配时”中选择（on_duplicate：skip 或 update）",
    },
    "import.possible_duplicate.queued": {
        "en": "probably a duplicate of {records}; to leave such rows out, choose to skip rows that match a record "
        "(on_duplicate: skip)",
        "zh": "可能与 {records} 重复；如需跳过此类行，请在“当某行与已有记录匹配时”中选择跳过（on_duplicate：skip）",
    },
    "import.possible_duplicate": {
        "en": "probably a duplicate of {records}; use --on-duplicate skip to skip such rows",
        "zh": "可能与 {records} 重复；可使用 --on-duplicate skip 跳过此类行",
    },
    "import.hidden_duplicate": {"en": "a record owned by {owner}", "zh": "{owner} 负责的一条记录"},
    "import.duplicate_row": {"en": "row {row} of this file ({title})", "zh": "本文件第 {row} 行（{title}）"},
    "import.same_as_row": {
        "en": "{field}: the same as row {row} of this file ({title})",
        "zh": "{field}：与本文件第 {row} 行（{title}）相同",
    },
    "import.same_as_record": {
        "en": "{field}: the same as {title} (id {id})",
        "zh": "{field}：与 {title}（编号 {id}）相同",
    },
    "import.ambiguous_match": {
        "en": "{field}: {count} existing records have this value; cannot tell which to use",
        "zh": "{field}：有 {count} 条现有记录为该值，无法确定使用哪一条",
    },
    "import.no_job": {"en": "There is no import job {job}.", "zh": "没有编号为 {job} 的导入任务。"},
    "import.job_done": {
        "en": "Import job {job} has finished already; there is nothing to resume.",
        "zh": "导入任务 {job} 已完成，无需继续。",
    },
    "import.file_removed": {
        "en": "The file of import job {job} was removed 30 days after the job ended; upload it again.",
        "zh": "导入任务 {job} 的文件已在任务结束 30 天后删除，请重新上传。",
    },
    "import.job_cancelled": {
        "en": "Import job {job} was cancelled; the batches committed before stay.",
        "zh": "导入任务 {job} 已取消；此前已提交的批次保留。",
    },
    "import.job_ended": {
        "en": "Import job {job} has ended already; there is nothing to cancel.",
        "zh": "导入任务 {job} 已结束，无法取消。",
    },
    "import.internal_error": {
        "en": "The import stopped on an unexpected error; the server log has the details.",
        "zh": "导入因意外错误而停止，详情见服务器日志。",
    },
    "import.job_moved": {
        "en": "Import job {job} was moved on by another run meanwhile; this batch was not written.",
        "zh": "导入任务 {job} 已被另一个进程推进，本批次未写入。",
    },
    "import.file_changed": {
        "en": "Import job {job} read another file than {path} (its size or content differs): resume it with "
        "the same file.",
        "zh": "导入任务 {job} 读取的文件与 {path} 不同（大小或内容不一致）：请使用同一个文件继续。",
    },
    "import.resume_other": {
        "en": "Import job {job} imports {object} from {file}, not this.",
        "zh": "导入任务 {job} 导入的是 {file} 中的{object}，与本次不符。",
    },
    "import.read_csv": {"en": "CSV, {encoding}, delimiter {delimiter}", "zh": "CSV，{encoding}，分隔符 {delimiter}"},
    "import.read_xlsx": {"en": "xlsx, sheet {sheet}", "zh": "xlsx，工作表 {sheet}"},
    "import.read_as": {"en": "Reading {file}: {how}.", "zh": "正在读取 {file}：{how}。"},
    "import.job": {
        "en": "Import job {job} (resume it with --resume {job} if it stops).",
        "zh": "导入任务 {job}（如中断，可用 --resume {job} 继续）。",
    },
    "import.summary": {
        "en": "Imported {object}: {rows} rows read, {created} created, {updated} updated, {skipped} skipped, "
        "{held} waiting for approval, {failed} failed.",
        "zh": "已导入{object}：读取 {rows} 行，新建 {created} 条，更新 {updated} 条，跳过 {skipped} 条，"
        "待审批 {held} 条，失败 {failed} 条。",
    },
    "import.dry_summary": {
        "en": "Dry run, nothing was changed: {rows} rows read; would create {created}, update {updated}, "
        "skip {skipped}, hold {held} for approval, fail {failed}.",
        "zh": "试运行，未做任何更改：读取 {rows} 行；将新建 {created} 条，更新 {updated} 条，跳过 {skipped} 条，"
        "待审批 {held} 条，失败 {failed} 条。",
    },
    "import.row_error": {"en": "row {row}: {error}", "zh": "第 {row} 行：{error}"},
    "import.more_errors": {
        "en": "… and {count} more failed rows (write them all with --errors OUT.csv).",
        "zh": "……另有 {count} 行失败（用 --errors OUT.csv 导出全部）。",
    },
    "import.errors_written": {
        "en": "Wrote the {count} failed rows to {path}: fix them there and import that file.",
        "zh": "已将 {count} 行失败记录写入 {path}：修改后可直接导入该文件。",
    },
    "import.interrupted": {
        "en": "Interrupted: the batches committed so far stay imported; continue with --resume {job}.",
        "zh": "已中断：已提交的批次保持导入状态；可用 --resume {job} 继续。",
    },
    # --- errors of a whole request (TrellisError.code) ---
    "database.empty": {
        "en": "This database has no Trellis tables yet: run `trellis apply {config}` to set it up.",
        "zh": "该数据库还没有 Trellis 数据表：请运行 `trellis apply {config}` 进行初始化。",
    },
    "database.config": {
        "en": "The database is at config version {version} from {day}; this config differs: "
        "run `trellis plan {config}` to see the changes, then `trellis apply {config}`.",
        "zh": "数据库处于 {day} 应用的配置版本 {version}，当前配置与之不同：请运行 "
        "`trellis plan {config}` 查看变更，然后运行 `trellis apply {config}`。",
    },
    "database.trellis": {
        "en": "The database is at config version {version} from {day}, set up by an earlier "
        "version of Trellis: run `trellis apply {config}` to bring it up to date.",
        "zh": "数据库处于 {day} 由较早版本的 Trellis 应用的配置版本 {version}：请运行 "
        "`trellis apply {config}` 将其更新。",
    },
    # search indexes built after an apply's commit (engine.runtime.migrate.concurrent)
    "search_index.building": {
        "en": "Building the search index of {object} concurrently…",
        "zh": "正在并发构建{object}的搜索索引……",
    },
    "search_index.failed": {
        "en": "The search index of {object} was not built ({reason}). The config is applied and "
        "search works, by reading the table (slower); run `trellis apply` again to build it.",
        "zh": "{object}的搜索索引未能构建（{reason}）。配置已应用，搜索仍可用（逐行读取表，较慢）；"
        "请再次运行 `trellis apply` 构建索引。",
    },
    "search_index.failed_kept": {
        "en": "The search index of {object} was not built ({reason}). The config is applied and "
        "search works with the index it had; run `trellis apply` again to build it.",
        "zh": "{object}的搜索索引未能构建（{reason}）。配置已应用，搜索仍使用原有索引；"
        "请再次运行 `trellis apply` 构建索引。",
    },
    # plain indexes of existing tables built after an apply's commit (engine.runtime.migrate.concurrent)
    "index.building": {
        "en": "Building the index {index} of {object} concurrently…",
        "zh": "正在并发构建{object}的索引 {index}……",
    },
    "index.failed": {
        "en": "The index {index} of {object} was not built ({reason}). The config is applied and "
        "works, more slowly where it would read this index; run `trellis apply` again to build it.",
        "zh": "{object}的索引 {index} 未能构建（{reason}）。配置已应用并可正常使用（需要该索引的查询较慢）；"
        "请再次运行 `trellis apply` 构建索引。",
    },
    "conflict": {
        "en": "The record was changed meanwhile; reload it and apply your change again.",
        "zh": "该记录已被他人修改，请刷新后重新操作。",
    },
    # --- duplicate rules (engine.runtime.records.duplicates) ---
    "possible_duplicate": {
        "en": "This record probably exists already ({count} likely duplicates); open one, or save anyway.",
        "zh": "该记录可能已存在（{count} 条疑似重复）；请打开已有记录，或仍然保存。",
    },
    "duplicate": {"en": "{title} already has this {label}.", "zh": "「{title}」已有相同的{label}。"},
    "conversion.possible_duplicate": {
        "en": "Part of this conversion probably exists already ({targets}): for each, link to an existing "
        "record or create a new one anyway.",
        "zh": "本次转化的部分记录可能已存在（{targets}）：请逐项选择关联已有记录，或仍然新建。",
    },
    "duplicate_hidden": {
        "en": "A matching record exists already, owned by {owner}.",
        "zh": "已存在匹配的记录，负责人为 {owner}。",
    },
    "duplicate_row": {
        "en": "Row {row} of this batch already has this {label}.",
        "zh": "本批第 {row} 行已有相同的{label}。",
    },
    # --- reports (engine.runtime.reports) ---
    "report.count": {"en": "Count", "zh": "数量"},
    "report.sum": {"en": "Sum of {field}", "zh": "{field}合计"},
    "report.avg": {"en": "Average {field}", "zh": "平均{field}"},
    "report.min": {"en": "Lowest {field}", "zh": "最低{field}"},
    "report.max": {"en": "Highest {field}", "zh": "最高{field}"},
    "report.rate": {"en": "{field} rate", "zh": "{field}比例"},
    "report.rate_where": {"en": "Share", "zh": "占比"},
    "report.weighted": {"en": "Weighted {field}", "zh": "加权{field}"},
    "report.empty": {"en": "(empty)", "zh": "（空）"},
    "report.funnel.entered": {"en": "Entered", "zh": "进入数"},
    "report.funnel.conversion": {"en": "Conversion from previous stage", "zh": "较上一阶段转化率"},
    "report.funnel.median_days": {"en": "Median days in stage", "zh": "阶段停留天数（中位数）"},
    "report.funnel.lost": {"en": "Lost from this stage", "zh": "在此阶段流失"},
    "report.funnel.lost_reasons": {"en": "Lost reasons", "zh": "流失原因"},
    "report.cycle.closed": {"en": "Closed", "zh": "已关闭"},
    "report.cycle.median_days": {"en": "Median days", "zh": "天数中位数"},
    "report.cycle.avg_days": {"en": "Average days", "zh": "平均天数"},
    "report.cycle.no_drill": {
        "en": "Counted from the first entry into a stage: no record list filters by that, so the figures are not links.",
        "zh": "从首次进入某阶段起计算；记录列表无法按此筛选，因此数字不可点击。",
    },
    "report.total": {"en": "Total", "zh": "合计"},
    "report.week": {"en": "Week of {date}", "zh": "{date} 当周"},
    "report.quarter": {"en": "Q{quarter} {year}", "zh": "{year}年第{quarter}季度"},
    "report.year": {"en": "{year}", "zh": "{year}年"},
    "report.left_out": {
        "en": "Left out because you may not see the fields they read: {measures}.",
        "zh": "以下指标读取了您无权查看的字段，已略去：{measures}。",
    },
    "report.team": {"en": "Team", "zh": "团队"},
    "report.no_team": {"en": "(no team)", "zh": "（无团队）"},
    "report.complete": {"en": "Complete", "zh": "完整率"},
    "report.filled": {"en": "{field} filled", "zh": "{field}填写率"},
    "report.records": {"en": "Records", "zh": "记录数"},
    "report.incomplete": {"en": "Incomplete", "zh": "不完整"},
    "report.target": {"en": "Target {target}", "zh": "目标 {target}"},
    "report.target_met": {"en": "Met", "zh": "已达成"},
    "report.target_missed": {"en": "Not met", "zh": "未达成"},
    "report.forecast.pipeline": {"en": "Pipeline", "zh": "管道金额"},
    "report.forecast.weighted": {"en": "Weighted pipeline", "zh": "加权管道金额"},
    "report.forecast.best_case": {"en": "Best case", "zh": "乐观预测"},
    "report.forecast.commit": {"en": "Commit", "zh": "承诺预测"},
    "report.forecast.won": {"en": "Won", "zh": "已赢单"},
    "report.forecast.quota": {"en": "Quota", "zh": "业绩指标"},
    "report.forecast.attainment": {"en": "Attainment", "zh": "指标达成率"},
    "report.forecast.open_count": {"en": "Open deals", "zh": "进行中商机数"},
    "report.forecast.subtotal": {"en": "{team} subtotal", "zh": "{team} 小计"},
    "report.forecast.no_quota_period": {
        "en": "Quotas are not shown: they are given per {per}, and the period is not a whole number of them.",
        "zh": "未显示业绩指标：指标按{per}设定，而所选期间不是整{per}。",
    },
    "report.forecast.no_period": {
        "en": "Quotas are not shown: choose a period (this month, this quarter…) to compare with.",
        "zh": "未显示业绩指标：请选择期间（本月、本季度等）以便对比。",
    },
    "report.forecast.per.month": {"en": "month", "zh": "月"},
    "report.forecast.per.quarter": {"en": "quarter", "zh": "季度"},
    "report.forecast.per.year": {"en": "year", "zh": "年"},
    "report.conversion.converted": {"en": "Converted", "zh": "已转化"},
    "report.conversion.rate": {"en": "Conversion rate", "zh": "转化率"},
    "report.conversion.amount": {"en": "{field} ({target})", "zh": "{target}{field}"},
    "report.conversion.won_amount": {"en": "Won {field}", "zh": "赢单{field}"},
    "report.conversion.left_out": {
        "en": "Left out because you may not read these records: {targets}.",
        "zh": "您无权查看以下记录，已略去：{targets}。",
    },
    "report.conversion.no_drill": {
        "en": "Amounts are those of the converted records you may read; they are not links.",
        "zh": "金额仅包含您有权查看的转化记录，不可点击。",
    },
    "report.fields_left_out": {
        "en": "Left out because you may not see them: {fields}.",
        "zh": "以下字段您无权查看，已略去：{fields}。",
    },
    "report_refused": {
        "en": "This report reads {fields}, which you may not see; ask an administrator for a report without it.",
        "zh": "该报表读取了您无权查看的字段（{fields}），请联系管理员提供不含该字段的报表。",
    },
    "report_not_found": {"en": "There is no report {name} that you may open.", "zh": "没有您可以打开的报表 {name}。"},
    "report_bad_period": {
        "en": "period is one of {periods}, not {value}.",
        "zh": "期间应为以下之一：{periods}，而不是 {value}。",
    },
    "report_bad_team": {"en": "team is a team id, not {value}.", "zh": "团队应为团队编号，而不是 {value}。"},
    "moved.no_pipeline": {
        "en": "{object} has no pipeline: moved_to, moved_from and moved_during do not apply.",
        "zh": "{object}没有销售管道，不能按阶段变动（moved_to、moved_from、moved_during）筛选。",
    },
    "moved.hidden": {
        "en": "You may not see the stage, so records cannot be listed by how they moved between stages.",
        "zh": "您无权查看阶段，因此不能按阶段变动筛选记录。",
    },
    "moved.bad_period": {
        "en": "moved_during is one of {periods}, not {value}.",
        "zh": "阶段变动期间（moved_during）应为以下之一：{periods}，而不是 {value}。",
    },
    "moved.bad_stage": {
        "en": "There is no stage {value}; the stages are {stages}.",
        "zh": "没有阶段 {value}；阶段有：{stages}。",
    },
    # --- relative periods (a report's period; the web UI's period choices) ---
    "period.today": {"en": "Today", "zh": "今天"},
    "period.yesterday": {"en": "Yesterday", "zh": "昨天"},
    "period.this_week": {"en": "This week", "zh": "本周"},
    "period.last_week": {"en": "Last week", "zh": "上周"},
    "period.this_month": {"en": "This month", "zh": "本月"},
    "period.last_month": {"en": "Last month", "zh": "上月"},
    "period.this_quarter": {"en": "This quarter", "zh": "本季度"},
    "period.last_quarter": {"en": "Last quarter", "zh": "上季度"},
    "period.this_year": {"en": "This year", "zh": "今年"},
    "period.last_year": {"en": "Last year", "zh": "去年"},
    "period.last_7_days": {"en": "Last 7 days", "zh": "最近 7 天"},
    "period.last_30_days": {"en": "Last 30 days", "zh": "最近 30 天"},
    "period.last_90_days": {"en": "Last 90 days", "zh": "最近 90 天"},
    # --- e-mail subscriptions (engine.runtime.subscriptions) ---
    "weekday.monday": {"en": "Monday", "zh": "周一"},
    "weekday.tuesday": {"en": "Tuesday", "zh": "周二"},
    "weekday.wednesday": {"en": "Wednesday", "zh": "周三"},
    "weekday.thursday": {"en": "Thursday", "zh": "周四"},
    "weekday.friday": {"en": "Friday", "zh": "周五"},
    "weekday.saturday": {"en": "Saturday", "zh": "周六"},
    "weekday.sunday": {"en": "Sunday", "zh": "周日"},
    "schedule.daily": {"en": "Every day at {time}", "zh": "每天 {time}"},
    "schedule.weekly": {"en": "Every {weekday} at {time}", "zh": "每{weekday} {time}"},
    "schedule.monthly": {"en": "On day {day} of every month at {time}", "zh": "每月 {day} 日 {time}"},
    "subscription.subject": {"en": "{title} · {schedule}", "zh": "{title} · {schedule}"},
    "subscription.period": {"en": "Period: {period}", "zh": "期间：{period}"},
    "subscription.total": {"en": "Total", "zh": "合计"},
    "subscription.dashboard.item": {"en": "Item", "zh": "事项"},
    "subscription.dashboard.detail": {"en": "Detail", "zh": "详情"},
    "subscription.dashboard.when": {"en": "When", "zh": "时间"},
    "subscription.dashboard.nothing": {"en": "Nothing here.", "zh": "暂无内容。"},
    "subscription.dashboard.figure": {"en": "Figure", "zh": "指标"},
    "subscription.dashboard.now": {"en": "This period", "zh": "本期"},
    "subscription.dashboard.before": {"en": "Previous period", "zh": "上期"},
    "subscription.open": {"en": "Open the report in Trellis", "zh": "在 Trellis 中打开报表"},
    "subscription.open_dashboard": {"en": "Open the dashboard in Trellis", "zh": "在 Trellis 中打开仪表板"},
    "subscription.why": {
        "en": "You receive this e-mail from {company} because you are subscribed to {title} ({schedule}).",
        "zh": "您收到这封来自 {company} 的邮件，是因为您订阅了“{title}”（{schedule}）。",
    },
    "subscription.unsubscribe": {"en": "Unsubscribe", "zh": "退订"},
    "subscription.unsubscribe_page": {
        "en": "To unsubscribe, open My subscriptions in Trellis.",
        "zh": "如需退订，请在 Trellis 中打开“我的订阅”。",
    },
    "subscription.owner_me": {"en": "My records", "zh": "我的记录"},
    "subscription.owner_team": {"en": "My team's records", "zh": "我团队的记录"},
    "subscription.team": {"en": "Team {team}", "zh": "团队 {team}"},
    "subscription.reason.not_allowed": {
        "en": "Not sent: you may no longer open it.",
        "zh": "未发送：您已无权打开该报表。",
    },
    "subscription.reason.refused": {
        "en": "Not sent: it reads a field you may not see.",
        "zh": "未发送：该报表读取了您无权查看的字段。",
    },
    "subscription.reason.no_email": {
        "en": "Not sent: your account has no e-mail address.",
        "zh": "未发送：您的账户没有电子邮件地址。",
    },
    "subscription.reason.inactive": {"en": "Not sent: the account is disabled.", "zh": "未发送：账户已停用。"},
    "subscription.reason.missed": {
        "en": "Not sent: the worker was not running at that time.",
        "zh": "未发送：当时后台任务没有运行。",
    },
    "subscription.reason.no_team": {"en": "Not sent: its team no longer exists.", "zh": "未发送：其团队已不存在。"},
    "subscription.reason.failed": {
        "en": "Not sent: it could not be prepared; an administrator can see why in the worker's log.",
        "zh": "未发送：无法生成，管理员可在后台任务日志中查看原因。",
    },
    "subscription_not_found": {
        "en": "There is no report of that name that you may open.",
        "zh": "没有您可以打开的同名报表。",
    },
    "subscription_bad_frequency": {
        "en": "Choose how often: every day, every week or every month.",
        "zh": "请选择频率：每天、每周或每月。",
    },
    "subscription_bad_weekday": {"en": "Choose a day of the week.", "zh": "请选择星期几。"},
    "subscription_bad_day": {
        "en": "The day of the month is a number from 1 to 31, not {value}.",
        "zh": "每月的日期应为 1 到 31 之间的数字，而不是 {value}。",
    },
    "subscription_bad_time": {
        "en": "The time is hours and minutes on a 24-hour clock (08:00), not {value}.",
        "zh": "时间应为 24 小时制的时和分（如 08:00），而不是 {value}。",
    },
    "subscription_exists": {
        "en": "You are already subscribed to this report on that schedule.",
        "zh": "您已按该时间订阅了这份报表。",
    },
    "subscription_too_many": {
        "en": "You have {most} subscriptions, the most one may keep; unsubscribe from one first.",
        "zh": "您已有 {most} 个订阅，已达上限，请先退订一个。",
    },
    # --- campaigns (engine.runtime.campaigns) ---
    "unknown_scope": {
        "en": "There is no scope {scope}; the scopes are: {known}.",
        "zh": "没有名为 {scope} 的权限范围；可选：{known}。",
    },
    "campaign.footer": {
        "en": "You receive this e-mail from {company}. To receive no more:",
        "zh": "您收到此邮件是因为您与{company}有联系。如不想再收到，请点击：",
    },
    "campaign_not_draft": {
        "en": "Only a draft campaign can be started; this one is {status}.",
        "zh": "只有草稿状态的营销活动可以启动，此活动当前为 {status}。",
    },
    "campaign_started_before": {
        "en": "This campaign was started before; each campaign is sent once. Create a new campaign to send again.",
        "zh": "此活动已启动过，每个活动只发送一次。如需再次发送，请新建活动。",
    },
    "campaign_unknown_segment": {
        "en": "There is no segment {name}; the config's segments are: {known}.",
        "zh": "没有名为 {name} 的目标人群；配置中的目标人群有：{known}。",
    },
    "campaign_unknown_template": {
        "en": "There is no template {name}; the config's templates are: {known}.",
        "zh": "没有名为 {name} 的邮件模板；配置中的模板有：{known}。",
    },
    "campaign_bad_rate": {
        "en": "Write the send rate as a number per second, minute, hour or day: 600/hour.",
        "zh": "发送速率请写成“数量/单位”（second、minute、hour 或 day），例如 600/hour。",
    },
    "campaign_no_base_url": {
        "en": "Campaign e-mails link back to Trellis: set TRELLIS_BASE_URL (https://crm.example.com) for the web server and the worker.",
        "zh": "营销邮件中的链接指向 Trellis：请为网页服务和 worker 设置 TRELLIS_BASE_URL（如 https://crm.example.com）。",
    },
    "replica_not_postgresql": {
        "en": "{variable} must name a PostgreSQL streaming replica of a PostgreSQL primary (TRELLIS_DATABASE_URL); it is {replica} and the primary is {primary}.",
        "zh": "{variable} 必须指向 PostgreSQL 主库（TRELLIS_DATABASE_URL）的 PostgreSQL 流复制只读副本；现在它是 {replica}，主库是 {primary}。",
    },
    "replica_bad_max_lag": {
        "en": "{variable} must be a number of seconds greater than 0, such as 5; it is {value}.",
        "zh": "{variable} 必须是大于 0 的秒数，例如 5；现在是 {value}。",
    },
    "read_only_write": {
        "en": "A read-only session tried to write; reads go to the replica there. Open Runtime.session for a unit of work that writes. ({detail})",
        "zh": "只读会话试图写入数据（只读会话可能读取只读副本）。需要写入时请使用 Runtime.session。（{detail}）",
    },
    "campaign_email_hidden": {
        "en": "The segment's e-mail field {field} is hidden from you.",
        "zh": "目标人群的邮箱字段 {field} 对您不可见。",
    },
    "campaign_empty_segment": {
        "en": "The segment has no record with an e-mail address that you may read.",
        "zh": "目标人群中没有您可查看且有邮箱地址的记录。",
    },
    "event_unknown_kind": {
        "en": "Unknown event {kind}; one of: {known}.",
        "zh": "未知的事件类型 {kind}；可选：{known}。",
    },
    "event_no_record": {
        "en": "Name the person by id or e-mail.",
        "zh": "请通过 id 或邮箱指明对应的人员。",
    },
    "event_record_not_found": {
        "en": "There is no {object} with this {key}.",
        "zh": "没有该 {key} 对应的{object}。",
    },
    "event_bad_object": {
        "en": "Events are recorded for: {known}.",
        "zh": "可记录事件的对象：{known}。",
    },
    "event_bad_data": {
        "en": "data is an object of at most 50 keys with short values.",
        "zh": "data 必须是最多 50 个键、值较短的对象。",
    },
    # --- dashboards (engine.runtime.dashboards) ---
    "dashboard_not_found": {
        "en": "There is no dashboard {name} that you may open.",
        "zh": "没有您可以打开的仪表板 {name}。",
    },
    "dashboard.widget.my_tasks": {"en": "My open tasks", "zh": "我的待办任务"},
    "dashboard.widget.approvals": {"en": "Approvals waiting for me", "zh": "待我审批"},
    "dashboard.widget.my_pipeline": {"en": "My pipeline by stage", "zh": "我的销售管道（按阶段）"},
    "dashboard.widget.recent_records": {"en": "Recently changed", "zh": "最近更新的记录"},
    "dashboard.widget.notifications": {"en": "Notifications", "zh": "通知"},
    # --- web forms (engine.runtime.webforms): why a submission was kept as spam ---
    "webform.reason.honeypot": {
        "en": "The hidden decoy input was filled in (a robot).",
        "zh": "隐藏的诱饵输入框被填写（机器人）。",
    },
    "webform.reason.too_fast": {
        "en": "Sent faster than a person fills in the form.",
        "zh": "提交速度快于正常填写速度。",
    },
    "webform.reason.bad_token": {
        "en": "The form's signed token was missing, forged or too old.",
        "zh": "表单签名令牌缺失、伪造或已过期。",
    },
    "webform.reason.challenge": {"en": "The check question was answered wrongly.", "zh": "验证问题回答错误。"},
    "webform.reason.rate_limited": {
        "en": "Too many submissions from this address or of this form.",
        "zh": "该地址或该表单的提交次数过多。",
    },
    "webform.reason.too_large": {"en": "The submission was too large.", "zh": "提交的内容过大。"},
    "webform.reason.origin": {
        "en": "Sent from a site the form may not be embedded in.",
        "zh": "来自不允许嵌入该表单的网站。",
    },
    "webform.already_accepted": {
        "en": "This submission was accepted already.",
        "zh": "该提交已被接受。",
    },
    "forbidden.manage_config": {
        "en": "This needs the manage_config permission.",
        "zh": "此操作需要 manage_config 权限。",
    },
    # --- explaining access and stage moves (engine.runtime.security.explain, workflow.explain_stage) ---
    "explain.verb.read": {"en": "read", "zh": "查看"},
    "explain.verb.edit": {"en": "edit", "zh": "编辑"},
    "explain.verb.delete": {"en": "delete", "zh": "删除"},
    "explain.level.none": {"en": "none", "zh": "无"},
    "explain.level.own": {"en": "own records", "zh": "本人记录"},
    "explain.level.team": {"en": "team", "zh": "本团队"},
    "explain.level.subtree": {"en": "own and reports' records", "zh": "本人及下属"},
    "explain.level.all": {"en": "all", "zh": "全部"},
    "explain.roles": {"en": "{user}'s roles: {roles}.", "zh": "{user} 的角色：{roles}。"},
    "explain.no_roles": {
        "en": "{user} holds no role of this config, so they may do nothing.",
        "zh": "{user} 没有本配置中的任何角色，因此无任何权限。",
    },
    "explain.none.no": {
        "en": "Cannot {verb}: no role of {user} lets them {verb} {object} records.",
        "zh": "不能{verb}：{user} 的角色都不允许{verb}{object}记录。",
    },
    "explain.all.yes": {
        "en": "Can {verb}: {roles} may {verb} every {object} record (scope: {level}).",
        "zh": "可以{verb}：{roles} 可{verb}所有{object}记录（范围：{level}）。",
    },
    "explain.no_owner.no": {
        "en": "Cannot {verb}: the record has no owner, and only the scope “all” covers such records; "
        "{roles} gives {user} “{level}”.",
        "zh": "不能{verb}：该记录没有负责人，只有“全部”范围能覆盖；{roles} 给 {user} 的范围是“{level}”。",
    },
    "explain.owner_self.yes": {
        "en": "Can {verb}: {user} owns it ({roles}, scope: {level}).",
        "zh": "可以{verb}：{user} 是负责人（{roles}，范围：{level}）。",
    },
    "explain.own_no.no": {
        "en": "Cannot {verb}: {owner} owns it, not {user}, and {roles} covers only their own records (scope: {level}).",
        "zh": "不能{verb}：负责人是 {owner} 而不是 {user}，{roles} 只覆盖本人的记录（范围：{level}）。",
    },
    "explain.team.yes": {
        "en": "Can {verb}: its owner {owner} is in {user}'s team {team} ({roles}, scope: {level}).",
        "zh": "可以{verb}：负责人 {owner} 与 {user} 同属团队 {team}（{roles}，范围：{level}）。",
    },
    "explain.team.no": {
        "en": "Cannot {verb}: its owner {owner} is in the team {owner_team}, {user} in {team} "
        "({roles}, scope: {level}).",
        "zh": "不能{verb}：负责人 {owner} 属于团队 {owner_team}，而 {user} 属于 {team}（{roles}，范围：{level}）。",
    },
    "explain.team_none.no": {
        "en": "Cannot {verb}: {user} is in no team, so the team scope covers only their own records; "
        "{owner} owns it ({roles}).",
        "zh": "不能{verb}：{user} 不属于任何团队，团队范围只覆盖本人的记录；负责人是 {owner}（{roles}）。",
    },
    "explain.team_owner_none.no": {
        "en": "Cannot {verb}: its owner {owner} is in no team, so not in {user}'s team {team} "
        "({roles}, scope: {level}).",
        "zh": "不能{verb}：负责人 {owner} 不属于任何团队，因此不在 {user} 的团队 {team} 中（{roles}，范围：{level}）。",
    },
    "explain.subtree.yes": {
        "en": "Can {verb}: its owner {owner} reports to {user}: {chain} ({roles}, scope: {level}).",
        "zh": "可以{verb}：负责人 {owner} 是 {user} 的下属：{chain}（{roles}，范围：{level}）。",
    },
    "explain.subtree.no": {
        "en": "Cannot {verb}: its owner {owner} is not below {user} in the manager hierarchy "
        "(from the top: {chain}) ({roles}, scope: {level}).",
        "zh": "不能{verb}：负责人 {owner} 不在 {user} 的下属之中（上级链：{chain}）（{roles}，范围：{level}）。",
    },
    "explain.inactive": {
        "en": "{user}'s account is disabled or expired: they cannot sign in, so they can do nothing now. "
        "Were it active:",
        "zh": "{user} 的账号已停用或已过期，无法登录，目前没有任何权限。若账号有效：",
    },
    "explain.hidden": {
        "en": "Hidden from {user} (never shown, never searched): {fields}.",
        "zh": "对 {user} 隐藏的字段（不显示、不可搜索）：{fields}。",
    },
    "explain.read_only": {"en": "Read-only for {user}: {fields}.", "zh": "{user} 只读的字段：{fields}。"},
    "explain.locked": {
        "en": "A pending approval locks {fields}: nobody can change them until it is decided.",
        "zh": "待审批的请求锁定了 {fields}：审批结束前任何人都不能修改。",
    },
    "explain.delete_locked": {
        "en": "Deleting it already waits for approval.",
        "zh": "删除该记录的请求已在等待审批。",
    },
    "explain.converted": {
        "en": "It was converted ({conversion}): people can no longer change it.",
        "zh": "该记录已转换（{conversion}），任何人都不能再修改。",
    },
    "explain.archived": {
        "en": "It is archived: lists hide it, its page still opens.",
        "zh": "该记录已归档：列表中不显示，但仍可打开详情页。",
    },
    # --- PermissionDenied of the write path and the pipeline (also in `trellis explain stage`) ---
    "pipeline.skip_denied": {
        "en": "moving from {source} to {target} skips {count} stage(s), which needs the {permission} permission",
        "zh": "从“{source}”移到“{target}”会跳过 {count} 个阶段，需要 {permission} 权限",
    },
    "pipeline.reopen_denied_won": {
        "en": "reopening a won {object} needs the reopen permission",
        "zh": "重新打开已赢单的{object}需要 reopen（重新打开）权限",
    },
    "pipeline.reopen_denied_lost": {
        "en": "reopening a lost {object} needs the reopen permission",
        "zh": "重新打开已输单的{object}需要 reopen（重新打开）权限",
    },
    "explain.denied": {
        "en": "explaining access needs the {permission} permission",
        "zh": "查看访问权限说明需要 {permission} 权限",
    },
    # --- an automation dry run's actions as people read them (engine.runtime.workflow.drywords) ---
    "dryrun.record": {"en": "{object} “{title}”", "zh": "{object}“{title}”"},
    "dryrun.set": {"en": "set {changes}", "zh": "设置 {changes}"},
    "dryrun.add_tags": {"en": "add tags {tags}: {change}", "zh": "添加标签 {tags}：{change}"},
    "dryrun.remove_tags": {"en": "remove tags {tags}: {change}", "zh": "移除标签 {tags}：{change}"},
    "dryrun.add": {"en": "add {amount} to {field}: {change}", "zh": "{field}增加 {amount}：{change}"},
    "dryrun.update_empty": {"en": "update nothing: {field} is empty", "zh": "不更新：{field}为空"},
    "dryrun.update_gone": {"en": "update nothing: {record} does not exist", "zh": "不更新：{record}不存在"},
    "dryrun.update": {"en": "update {record} ({field}): {changes}", "zh": "更新{record}（{field}）：{changes}"},
    "dryrun.create": {"en": "create {object}: {values}", "zh": "新建{object}：{values}"},
    "dryrun.nobody": {"en": "nobody", "zh": "无人"},
    "dryrun.in_app": {"en": "in-app: {people}", "zh": "站内通知：{people}"},
    "dryrun.email": {"en": "e-mail: {people}", "zh": "邮件：{people}"},
    "dryrun.notify": {
        "en": "notify “{subject}” ({template}) — {parts}",
        "zh": "发送通知“{subject}”（{template}）— {parts}",
    },
    "dryrun.webhook": {"en": "webhook POST {url}", "zh": "调用 Webhook：POST {url}"},
    "dryrun.webhook_signed": {
        "en": "webhook POST {url}, signed with ${secret}",
        "zh": "调用 Webhook：POST {url}，用 ${secret} 签名",
    },
    "dryrun.assign": {"en": "assign with the rule {rule}", "zh": "按分配规则“{rule}”分配"},
    "dryrun.assign_by": {
        "en": "assign with the rule {rule} ({strategy})",
        "zh": "按分配规则“{rule}”分配（{strategy}）",
    },
    "dryrun.strategy.round_robin": {"en": "round robin", "zh": "轮流分配"},
    "dryrun.strategy.least_loaded": {"en": "least loaded", "zh": "负载最少者优先"},
    "dryrun.convert": {"en": "convert with {conversion}", "zh": "按“{conversion}”转化"},
    "dryrun.archive": {"en": "archive the record", "zh": "归档该记录"},
    "dryrun.archive_again": {"en": "archive the record (archived already)", "zh": "归档该记录（已归档）"},
    "dryrun.webhook_purge": {
        "en": " (a purge: the record's system columns only, no title)",
        "zh": "（清除：只发送记录的系统字段，不含标题）",
    },
    # --- what triggers a rule, as the explain page words it (triggers.TriggerKind.describe) ---
    "trigger.on_create": {"en": "when a record is created", "zh": "记录创建时"},
    "trigger.on_update": {"en": "when a record is updated", "zh": "记录更新时"},
    "trigger.on_delete": {"en": "when a record is deleted", "zh": "记录删除时"},
    "trigger.changed": {"en": "when {fields} changes", "zh": "{fields}变更时"},
    "trigger.changed_to": {"en": "when {fields} changes to {to}", "zh": "{fields}变更为{to}时"},
    "trigger.enters": {"en": "when the record enters {stages}", "zh": "记录进入{stages}阶段时"},
    "trigger.leaves": {"en": "when the record leaves {stages}", "zh": "记录离开{stages}阶段时"},
    "trigger.any_stage": {"en": "any stage", "zh": "任一"},
    "trigger.approval": {"en": "on an approval decision ({decision})", "zh": "审批有决定时（{decision}）"},
    "trigger.decision.approved": {"en": "approved", "zh": "批准"},
    "trigger.decision.rejected": {"en": "rejected", "zh": "驳回"},
    "trigger.decision.decided": {"en": "approved or rejected", "zh": "批准或驳回"},
    "trigger.event": {"en": "on an engagement event: {event}", "zh": "发生互动事件时：{event}"},
    "trigger.engagement.email_opened": {"en": "opened an e-mail", "zh": "打开邮件"},
    "trigger.engagement.email_clicked": {"en": "clicked a link", "zh": "点击链接"},
    "trigger.engagement.email_unsubscribed": {"en": "unsubscribed", "zh": "退订"},
    "trigger.engagement.email_bounced": {"en": "e-mail bounced", "zh": "邮件退信"},
    "trigger.engagement.email_received": {"en": "e-mail received", "zh": "收到邮件"},
    "trigger.engagement.form_submitted": {"en": "form submitted", "zh": "提交表单"},
    "trigger.engagement.page_visited": {"en": "visited the website", "zh": "访问网站"},
    "trigger.engagement.custom": {"en": "a custom event", "zh": "自定义事件"},
    "trigger.schedule_after": {"en": "{duration} after {field}", "zh": "{field}之后{duration}"},
    "trigger.schedule_before": {"en": "{duration} before {field}", "zh": "{field}之前{duration}"},
    "trigger.schedule_at": {"en": "at {field}", "zh": "{field}到达时"},
    "trigger.yearly": {"en": ", every year", "zh": "，每年一次"},
    "trigger.window": {"en": " (only within {duration})", "zh": "（仅在{duration}内）"},
    "trigger.cron": {"en": "on the schedule “{cron}” (cron)", "zh": "按定时计划“{cron}”（cron）"},
    "duration.d.one": {"en": "{count} day", "zh": "{count}天"},
    "duration.d": {"en": "{count} days", "zh": "{count}天"},
    "duration.h.one": {"en": "{count} hour", "zh": "{count}小时"},
    "duration.h": {"en": "{count} hours", "zh": "{count}小时"},
    "duration.m.one": {"en": "{count} minute", "zh": "{count}分钟"},
    "duration.m": {"en": "{count} minutes", "zh": "{count}分钟"},
    "duration.s.one": {"en": "{count} second", "zh": "{count}秒"},
    "duration.s": {"en": "{count} seconds", "zh": "{count}秒"},
    "words.or": {"en": " or ", "zh": "或"},
    "simulate.purge_event": {
        "en": "a purge is a delete: simulate it as deleted, not {event}",
        "zh": "清除是一种删除：请按“deleted”模拟，而不是 {event}。",
    },
    "simulate.no_purge": {
        "en": "{object} has no retention policy that purges (retention: {{years: N, action: purge}}), "
        "so retention never purges its records",
        "zh": "{object}没有清除记录的保留策略（retention: {{years: N, action: purge}}），保留策略从不清除它的记录。",
    },
    "write.create_denied": {"en": "you may not create {objects} records", "zh": "您无权创建{objects}记录"},
    "write.edit_denied": {"en": "you may not change {object} {id}", "zh": "您无权修改{object} {id}"},
    "write.delete_denied": {"en": "you may not delete {object} {id}", "zh": "您无权删除{object} {id}"},
    "explain_stage.from_none": {
        "en": "The record is in no stage; it would enter {stage}.",
        "zh": "该记录不在任何阶段，将进入“{stage}”。",
    },
    "explain_stage.same": {"en": "The record is in {stage} already.", "zh": "该记录已处于“{stage}”阶段。"},
    "explain_stage.next": {
        "en": "From {current} to {stage}: the next stage.",
        "zh": "从“{current}”到“{stage}”：下一阶段。",
    },
    "explain_stage.back": {"en": "From {current} back to {stage}.", "zh": "从“{current}”退回到“{stage}”。"},
    "explain_stage.skip": {
        "en": "From {current} to {stage}: a skip past stages (the pipeline's skip rule applies: permission, reason, approval).",
        "zh": "从“{current}”到“{stage}”：跳过中间阶段（适用流程的跳阶段规则：权限、理由、审批）。",
    },
    "explain_stage.lost": {
        "en": "From {current} to the lost stage {stage}.",
        "zh": "从“{current}”进入输单阶段“{stage}”。",
    },
    "explain_stage.reopen": {
        "en": "From the closed stage {current} to {stage}: a reopening (the pipeline's reopen rule applies).",
        "zh": "从已关闭的“{current}”到“{stage}”：重新打开（适用流程的重开规则）。",
    },
    "explain_stage.other": {"en": "From {current} to {stage}.", "zh": "从“{current}”到“{stage}”。"},
    "explain_stage.gate": {"en": "{stage} needs: {fields}.", "zh": "“{stage}”需要：{fields}。"},
    "explain_stage.no_gate": {"en": "{stage} needs no field.", "zh": "“{stage}”不要求填写字段。"},
    "explain_stage.when": {"en": "because {condition}", "zh": "因为 {condition}"},
    "explain_stage.missing": {"en": "missing", "zh": "未填"},
    "explain_stage.filled": {"en": "filled", "zh": "已填"},
    "explain_stage.condition_off": {
        "en": "Not needed now (the condition does not hold): {condition}.",
        "zh": "当前不需要（条件不成立）：{condition}。",
    },
    "explain_stage.denied": {"en": "Refused: {reason}.", "zh": "被拒绝：{reason}。"},
    "explain_stage.problem": {"en": "{field}: {message}", "zh": "{field}：{message}"},
    "explain_stage.approval": {
        "en": "The move would wait for approval: {rules}.",
        "zh": "该移动需要审批：{rules}。",
    },
    "explain_stage.record": {"en": "The record", "zh": "记录"},
    "explain_stage.reason": {"en": "Reason", "zh": "理由"},
    "explain_stage.ok": {
        "en": "As {acting}, the move would go through now.",
        "zh": "以 {acting} 的身份，现在可以移动。",
    },
    "explain_stage.blocked": {
        "en": "As {acting}, the move would be refused now.",
        "zh": "以 {acting} 的身份，现在移动会被拒绝。",
    },
    "explain.who": {
        "en": "{count} active users may read {object} {id} “{title}”:",
        "zh": "共 {count} 位有效用户可以查看{object} {id}“{title}”：",
    },
    "explain.who_inactive": {
        "en": "{count} disabled or expired accounts are left out.",
        "zh": "另有 {count} 个已停用或已过期的账号未列出。",
    },
    "explain_stage.no_stage": {
        "en": "{object} has no stage {stage!r}; its stages: {known}.",
        "zh": "{object}没有阶段 {stage!r}；可用阶段：{known}。",
    },
    "explain_stage.system": {"en": "the system", "zh": "系统"},
    "explain_stage.no_pipeline": {"en": "{object} has no pipeline.", "zh": "{object}没有阶段流程。"},
    "explain.needs_read": {
        "en": "{user} cannot read it, so they can neither edit nor delete it, whatever those scopes say.",
        "zh": "{user} 无法查看该记录，因此也不能编辑或删除，无论相应范围如何。",
    },
    # --- the query builder's refusals (engine/runtime/records/query.py) ---
    "query.search_length": {
        "en": "the search text is at most {most} characters, not {given}",
        "zh": "搜索文本最多 {most} 个字符，现在是 {given} 个。",
    },
    "query.sort_keys": {
        "en": "sort by at most {most} fields, not {given}",
        "zh": "最多按 {most} 个字段排序，现在是 {given} 个。",
    },
    "query.group_keys": {
        "en": "group by at most {most} fields, not {given}",
        "zh": "最多按 {most} 个字段分组，现在是 {given} 个。",
    },
    "query.bucket_type": {
        "en": "{field} is a {type} field; only date and datetime fields group by {unit}",
        "zh": "「{field}」是 {type} 字段；只有日期和日期时间字段可以按 {unit} 分组。",
    },
    "query.bucket": {
        "en": "unknown date bucket {unit!r}; use day, week, month, quarter or year",
        "zh": "未知的日期分组 {unit}；请使用 day、week、month、quarter 或 year。",
    },
    "query.share_type": {
        "en": "a share counts a boolean field; {field} is a {type} field",
        "zh": "占比只能统计是/否字段；「{field}」是 {type} 字段。",
    },
    "query.no_pipeline": {
        "en": "{object} has no pipeline: no stage probability to weight {field} by",
        "zh": "{object}没有阶段流程：没有可用于加权「{field}」的阶段概率。",
    },
    "query.page": {"en": "page numbers start at 1", "zh": "页码从 1 开始。"},
    "query.per_page": {"en": "per_page must be between 1 and {most}", "zh": "per_page 必须在 1 到 {most} 之间。"},
    "query.encrypted": {
        "en": "{field} is stored encrypted; it cannot be filtered or sorted on",
        "zh": "「{field}」加密存储，不能用于筛选或排序。",
    },
    "query.no_field": {"en": "{object} has no field {name!r}", "zh": "{object}没有字段 {name}。"},
    "query.not_orderable": {
        "en": "{field} holds lists or documents; a query cannot group by it",
        "zh": "「{field}」存放的是列表或文档，不能用于分组。",
    },
    "query.aggregate": {
        "en": "{kind} applies to {types} fields; {field} is a {type} field",
        "zh": "{kind} 只适用于 {types} 字段；「{field}」是 {type} 字段。",
    },
    "query.operator": {
        "en": "unknown operator {op!r} in {key!r}; use one of {known}",
        "zh": "{key} 中的运算符 {op} 未知；请使用以下之一：{known}。",
    },
    "query.boolean_op": {
        "en": "{op} does not compare yes/no values; use eq or ne on {field}",
        "zh": "{op} 不能比较是/否值；请对「{field}」使用 eq 或 ne。",
    },
    "query.value": {"en": "filter on {field}: {problem}", "zh": "筛选「{field}」：{problem}"},
    "query.text_op": {
        "en": "{op} applies to text fields; {field} is a {type} field",
        "zh": "{op} 只适用于文本字段；「{field}」是 {type} 字段。",
    },
    # --- refusals: a thing not found, a user unknown, a permission missing (TrellisError.said) ---
    "record_not_found": {"en": "{thing} {id} not found", "zh": "没有找到{thing} {id}。"},
    "thing.approval": {"en": "approval", "zh": "审批申请"},
    "thing.user": {"en": "user", "zh": "用户"},
    "thing.token": {"en": "token", "zh": "API 令牌"},
    "thing.form": {"en": "form", "zh": "表单"},
    "thing.saved_view": {"en": "saved view", "zh": "已保存的视图"},
    "thing.outbox_message": {"en": "outbox message", "zh": "待发邮件"},
    "thing.sys_form_rejections": {"en": "form rejection", "zh": "表单拒收记录"},
    "object.unknown": {
        "en": "unknown object {name!r}; known objects: {known}",
        "zh": "没有对象 {name}；已有的对象：{known}。",
    },
    "user.no_such": {"en": "there is no user {user!r}", "zh": "没有用户 {user}。"},
    "user.no_such_create": {
        "en": "there is no user {user!r}; create it with `trellis user add`",
        "zh": "没有用户 {user}；请先用 `trellis user add` 创建。",
    },
    "users.needs_permission": {
        "en": "managing users needs the manage_users permission",
        "zh": "管理用户需要 manage_users 权限。",
    },
    "account.unavailable": {"en": "the account {user!r} is {state}", "zh": "账户 {user} {state}。"},
    "account.state.disabled": {"en": "disabled", "zh": "已停用"},
    "account.state.expired": {"en": "expired", "zh": "已过期"},
    "totp.already_on": {
        "en": "two-factor login is already on for {user!r}; turn it off before enrolling again",
        "zh": "{user} 已启用两步验证；请先关闭再重新登记。",
    },
    "totp.nothing_to_confirm": {
        "en": "{user!r} has no two-factor enrolment to confirm; start one first",
        "zh": "{user} 没有待确认的两步验证登记；请先开始登记。",
    },
    "token.not_a_token": {
        "en": "this is not a Trellis API token (they start with {prefix}); create one with `trellis token create`",
        "zh": "这不是 Trellis API 令牌（令牌以 {prefix} 开头）；请用 `trellis token create` 创建。",
    },
    "token.unknown": {
        "en": "unknown API token; check that it was copied whole, or create a new one",
        "zh": "未知的 API 令牌；请检查是否完整复制，或创建新令牌。",
    },
    "token.revoked": {"en": "this API token was revoked on {when} UTC", "zh": "此 API 令牌已于 {when}（UTC）撤销。"},
    "token.expired": {
        "en": "this API token expired on {when} UTC; create a new one",
        "zh": "此 API 令牌已于 {when}（UTC）过期；请创建新令牌。",
    },
    "token.account_locked": {
        "en": "the account {user!r} is locked until {until} UTC after failed logins; its API tokens work again then",
        "zh": "账户 {user} 因登录失败被锁定至 {until}（UTC）；届时其 API 令牌会恢复可用。",
    },
    "token.network": {
        "en": "API access from {ip} is not allowed for the account {user!r}",
        "zh": "账户 {user} 不允许从 {ip} 访问 API。",
    },
    "approval.needs_permission": {
        "en": "deciding approvals needs the approve permission",
        "zh": "审批需要 approve 权限。",
    },
    "approval.not_your_step": {
        "en": "step {step} of request {id} is for {approver}",
        "zh": "申请 {id} 的第 {step} 步应由 {approver} 审批。",
    },
    "approval.only_requester": {
        "en": "only the requester may withdraw a request",
        "zh": "只有申请人可以撤回申请。",
    },
    "merge.no_grant": {
        "en": "You may not merge {object} records; ask for the merge permission.",
        "zh": "您无权合并{object}记录；请申请合并权限。",
    },
    "export.denied": {"en": "you may not export {objects}", "zh": "您无权导出{objects}。"},
    "convert.denied": {
        "en": "you may not change {object} {id}, so you may not convert it",
        "zh": "您无权修改{object} {id}，因此不能转化它。",
    },
    "views.needs_user": {
        "en": "saved views belong to a user",
        "zh": "保存的视图属于某个用户；系统身份不能保存视图。",
    },
    "jobs.needs_permission": {"en": "this needs the {permission} permission", "zh": "此操作需要 {permission} 权限。"},
    "jobs.not_retryable": {
        "en": "outbox message {id} is {status}: only dead messages and those waiting for a retry can be sent again",
        "zh": "待发邮件 {id} 的状态为 {status}：只有发送失败或等待重试的邮件才能重新发送。",
    },
    "timeline.none": {"en": "{object} has no timeline", "zh": "{object}没有时间线。"},
    "timeline.paging": {
        "en": "page starts at 1 and per_page is between 1 and 100",
        "zh": "page 从 1 开始，per_page 在 1 到 100 之间。",
    },
    "timeline.types": {
        "en": "timeline entries are of the types {types}",
        "zh": "时间线条目的类型只能是：{types}。",
    },
    "timeline.not_task": {"en": "{object} is not a task object", "zh": "{object}不是任务对象。"},
    "assignment.no_rule": {"en": "there is no assignment rule {rule!r}", "zh": "没有分配规则 {rule}。"},
    "assignment.other_object": {
        "en": "the assignment rule {rule} assigns {assigns} records, not {object}",
        "zh": "分配规则 {rule} 分配的是{assigns}记录，不是{object}记录。",
    },
}

#: The language the engine speaks to the person it works for now (None: English).
_LANGUAGE: ContextVar[str | None] = ContextVar("trellis_language", default=None)


def current_language() -> str:
    """The language of the person the engine works for now (``en`` unless set)."""
    return _LANGUAGE.get() or "en"


def set_language(language: str | None) -> Token:
    """Speak ``language`` from now on in this context; returns the token to ``reset_language`` with."""
    return _LANGUAGE.set(language)


def reset_language(token: Token) -> None:
    """Speak again what was spoken before ``set_language``."""
    _LANGUAGE.reset(token)


@contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Speak ``language`` inside the block."""
    token = set_language(language)
    try:
        yield
    finally:
        reset_language(token)


def message(code: str, language: str, /, **params: object) -> str:
    """The text of ``code`` in ``language`` (English when that is missing), parameters filled in;
    the code itself when the catalogue has no such text."""
    texts = MESSAGES.get(code)
    if texts is None:
        return code
    text = texts.get(language.split("_")[0]) or texts["en"]
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def localized(code: str, english: str, params: Mapping[str, object] | None = None) -> str:
    """``english`` (the engine's own, specific text) in the current language: as it is for
    English, else the catalogue's text of ``code`` with ``params`` — when the catalogue has one
    and ``params`` fill it; otherwise ``english``."""
    language = current_language()
    texts = MESSAGES.get(code)
    if language == "en" or texts is None or language not in texts:
        return english
    try:
        return texts[language].format(**(params or {}))
    except (KeyError, IndexError, ValueError):
        return english
