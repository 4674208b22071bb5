"""The runner's sentences in English and Chinese (``say``): what a step did, what was expected,
what happened instead. Values inside them are shown as people read them where the engine can."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "pass": {"en": "PASS", "zh": "通过"},
    "fail": {"en": "FAIL", "zh": "失败"},
    "summary": {
        "en": "{passed} passed, {failed} failed ({seconds:.1f} s)",
        "zh": "{passed} 个通过，{failed} 个失败（{seconds:.1f} 秒）",
    },
    "file_errors.one": {"en": "{count} error in the test files.", "zh": "测试文件中有 {count} 处错误。"},
    "file_errors.other": {"en": "{count} errors in the test files.", "zh": "测试文件中有 {count} 处错误。"},
    "none_selected": {"en": "No case matches -k {keyword!r}.", "zh": "没有用例匹配 -k {keyword!r}。"},
    "step": {"en": "step {number} ({text}) at {where}", "zh": "第 {number} 步（{text}），位于 {where}"},
    "given": {
        "en": "given (the records and users the case starts from) at {where}",
        "zh": "前提（用例开始时的用户和记录），位于 {where}",
    },
    "expected": {"en": "expected: {text}", "zh": "期望：{text}"},
    "actual": {"en": "got:      {text}", "zh": "实际：{text}"},
    "as_user": {"en": " as {user}", "zh": "（以 {user} 身份）"},
    # steps
    "step.create": {"en": "create {object}{alias}{by}", "zh": "新建{object}{alias}{by}"},
    "step.update": {"en": "update {record}{by}", "zh": "修改 {record}{by}"},
    "step.move": {"en": "move {record} to stage {stage}{by}", "zh": "将 {record} 推进到阶段 {stage}{by}"},
    "step.delete": {"en": "delete {record}{by}", "zh": "删除 {record}{by}"},
    "step.approve": {"en": "approve the request on {record}{by}", "zh": "批准 {record} 的审批申请{by}"},
    "step.reject": {"en": "reject the request on {record}{by}", "zh": "驳回 {record} 的审批申请{by}"},
    "step.convert": {"en": "convert {record}{by}", "zh": "转化 {record}{by}"},
    "step.worker": {"en": "run the worker at {at}", "zh": "在 {at} 运行后台任务"},
    "step.clock": {"en": "move the clock to {at}", "zh": "将时钟调到 {at}"},
    "step.import": {"en": "import {rows} row(s) of {object}{by}", "zh": "导入 {rows} 行{object}{by}"},
    # outcomes
    "success": {"en": "success", "zh": "成功"},
    "error": {"en": "error {code} on {field}: {message}", "zh": "字段 {field} 错误 {code}：{message}"},
    "error_record": {"en": "error {code}: {message}", "zh": "错误 {code}：{message}"},
    "no_pending": {"en": "no pending approval request on {record}", "zh": "{record} 没有待审批的申请"},
    "crashed": {"en": "the engine failed: {error}", "zh": "引擎出错：{error}"},
    "nothing": {"en": "nothing", "zh": "无"},
    "nobody": {"en": "nobody", "zh": "无人"},
    "deleted": {"en": "the record does not exist", "zh": "记录不存在"},
    "exists": {"en": "the record exists", "zh": "记录存在"},
    "unknown_user": {"en": "no user {user}", "zh": "没有用户 {user}"},
    # expectations
    "expect.error": {"en": "{errors}", "zh": "{errors}"},
    "expect.approval": {"en": "approval request {status}", "zh": "审批申请状态为 {status}"},
    "expect.values": {"en": "{field} = {value}", "zh": "{field} = {value}"},
    "expect.stage": {"en": "stage {stage}", "zh": "阶段为 {stage}"},
    "expect.owner": {"en": "owner {owner}", "zh": "负责人为 {owner}"},
    "expect.notified": {"en": "{channel} to {users}", "zh": "{channel}通知 {users}"},
    "expect.not_notified": {"en": "no notice to {user}", "zh": "不通知 {user}"},
    "expect.webhooks": {"en": "webhooks queued: {value}", "zh": "排队的 Webhook：{value}"},
    "expect.readable": {"en": "{user} can read it", "zh": "{user} 可以查看"},
    "expect.not_readable": {"en": "{user} cannot read it", "zh": "{user} 不能查看"},
    "expect.editable": {"en": "{user} can edit it", "zh": "{user} 可以编辑"},
    "expect.not_editable": {"en": "{user} cannot edit it", "zh": "{user} 不能编辑"},
    "expect.hidden": {"en": "{field} hidden from {user}", "zh": "{field} 对 {user} 隐藏"},
    "expect.visible": {"en": "{field} visible to {user}", "zh": "{field} 对 {user} 可见"},
    "expect.fired": {"en": "rule {rule} fired {count} time(s)", "zh": "规则 {rule} 触发 {count} 次"},
    "expect.records": {
        "en": "{count} {object} record(s) where {where}",
        "zh": "满足 {where} 的{object}记录 {count} 条",
    },
    "expect.imported": {"en": "{what}", "zh": "{what}"},
    "expect.report": {
        "en": "report {report} for {user}: {group} {measure} = {value}",
        "zh": "{user} 的报表 {report}：{group} {measure} = {value}",
    },
    "expect.no_group": {"en": "no group {group} (groups: {groups})", "zh": "没有分组 {group}（现有分组：{groups}）"},
    "channel.in_app": {"en": "in-app notice", "zh": "站内"},
    "channel.email": {"en": "e-mail", "zh": "邮件"},
    "total": {"en": "total", "zh": "合计"},
    "no_record": {"en": "the step made no record to check", "zh": "该步骤没有可检查的记录"},
}


def say(code: str, language: str, /, **params: object) -> str:
    """The sentence ``code`` in ``language`` (English when it is missing), ``params`` filled in."""
    texts = WORDS[code]
    return (texts.get(language) or texts["en"]).format(**params)
