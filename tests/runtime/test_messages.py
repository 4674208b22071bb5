"""Every built-in message users see exists in every language (issue 11, item 4).

The walk greps the engine and the web layer for every error code raised — ``FieldError``,
``FieldValueError``, ``Errors.add`` and the records' ``_error`` helper, and the ``code`` of
every ``TrellisError`` a user can meet — and fails on a code without a text in each of
``engine.runtime.messages.LANGUAGES``. It also checks the UI texts (``webui.i18n.TEXTS``,
singular forms included) and that a field error reads in the language the engine speaks.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.metadata.model import Settings
from engine.runtime.errors import Conflict, FieldError
from engine.runtime.messages import LANGUAGES, MESSAGES, message, speaking
from webui.i18n import LANGUAGES as UI_LANGUAGES
from webui.i18n import TEXTS, Formatter, translate

ROOT = Path(__file__).resolve().parents[2]
#: Where a code is raised: FieldError("code", …), FieldValueError("code", …), _error("code", …),
#: errors.add(field, "code", …) — the first string argument that is a code.
RAISED = (
    re.compile(r"\b(?:FieldError|FieldValueError|_error)\(\s*\"([a-z_]+)\""),
    re.compile(r"\.add\(\s*[^,()\n]+(?:\([^()\n]*\))?,\s*\"([a-z_]+)\""),
)
#: A login's outcome: self.result("locked", …) in engine/runtime/security/auth.py, said as ``login.<outcome>``.
LOGIN = re.compile(r"self\.result\(\s*\"([a-z_]+)\"")
#: Codes whose text the config writes (rules' and patterns' ``message``), not the engine.
CONFIGURED = {"rule"}


def raised_codes() -> dict[str, str]:
    """Code → the first file raising it, over engine/ and webui/."""
    found: dict[str, str] = {}
    for folder in ("engine", "webui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            for pattern in RAISED:
                for code in pattern.findall(source):
                    found.setdefault(code, str(path.relative_to(ROOT)))
            for outcome in LOGIN.findall(source):
                found.setdefault(f"login.{outcome}", str(path.relative_to(ROOT)))
    return found


def test_every_code_raised_anywhere_has_a_text_in_every_language():
    codes = raised_codes()
    assert {
        "required",
        "invalid_phone",
        "invalid_email",
        "too_small",
        "too_large",
        "pattern",
        "unique",
        "not_found",
        "required_for_stage",
        "reason_required",
        "approval_pending",
        "wrong_password",
        "login.failed",
        "login.locked",
        "login.expired",
    } <= set(codes)
    missing = {
        code: where
        for code, where in codes.items()
        if code not in CONFIGURED and not all(MESSAGES.get(code, {}).get(lang) for lang in LANGUAGES)
    }
    assert missing == {}, f"codes without a text in {LANGUAGES}: {missing}"
    incomplete = [code for code, texts in MESSAGES.items() if set(texts) != set(LANGUAGES)]
    assert incomplete == []


def test_every_ui_text_and_its_singular_form_has_every_language():
    assert set(UI_LANGUAGES) == set(LANGUAGES)
    for key, texts in TEXTS.items():
        assert set(LANGUAGES) <= set(texts), f"{key} lacks {set(LANGUAGES) - set(texts)}"
        assert set(texts) <= set(LANGUAGES) | {f"{lang}_one" for lang in LANGUAGES}, key
    assert translate("error.not_saved", "en", object="Lead", count="1") == "The Lead was not saved: 1 problem."
    assert translate("error.not_saved", "en", object="Lead", count="2") == "The Lead was not saved: 2 problems."
    english, chinese = (Formatter.for_language(lang, Settings()) for lang in ("en", "zh"))
    assert (english.plural("list.count", 1), english.plural("list.count", 2)) == ("1 record", "2 records")
    assert chinese.plural("list.count", 1) == "共 1 条记录"


def test_field_errors_and_conflicts_read_in_the_language_the_engine_speaks():
    error = FieldError("too_large", "Must be at most 1000.", {"max": "1000"})
    assert error.message == "Must be at most 1000."  # English: the engine's own, specific text
    with speaking("zh"):
        assert error.message == "不能大于 1000。"
        assert FieldError("invalid_phone", "'12345' is not valid").message == MESSAGES["invalid_phone"]["zh"]
        assert FieldError("rule:x", "请填写电话", translated=True).message == "请填写电话"
        assert "请刷新后重新操作" in str(Conflict("lead", 1, 1, 2))
    assert "reload it" in str(Conflict("lead", 1, 1, 2))
    assert message("no such code", "zh") == "no such code"
