"""The language the API answers in: ``Accept-Language`` among the config's languages, else the
user's locale, else English (``webui.api.auth`` sets it for each request, an unmatched route too)."""

from __future__ import annotations

from flask import request

from engine.runtime.security.users import user_locale
from webui.i18n import LANGUAGES
from webui.state import get_trellis


def api_language(username: str) -> str:
    """The language of the API's messages: the best of ``Accept-Language`` among the config's
    languages, else the user's locale, else English."""
    asked = asked_language()
    if asked is not None:
        return asked
    languages = _languages()
    locale = user_locale(get_trellis(), username)
    base = (locale or "").replace("-", "_").split("_")[0].lower()
    return base if base in languages else "en"


def asked_language() -> str | None:
    """The best of ``Accept-Language`` among the config's languages (``zh-CN`` asks for ``zh``);
    None without the header, English when it names none of them. A refused token already speaks it."""
    if not request.accept_languages:
        return None
    languages = _languages()
    best = request.accept_languages.best_match(languages)
    if best is None:
        asked = (value.replace("-", "_").split("_")[0].lower() for value, _ in request.accept_languages)
        best = next((lang for lang in asked if lang in languages), None)
    return best or "en"


def _languages() -> list[str]:
    return [lang for lang in get_trellis().config.settings.languages if lang in LANGUAGES] or ["en"]
