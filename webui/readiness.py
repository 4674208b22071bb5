"""503 while the database is not at the config the app serves (``DatabaseOutOfDate``).

``create_app`` checks the database once, when the app is made, and logs the
sentence when it is stale or empty. Until a check passes, every request is
checked again (so that the app serves as soon as ``trellis apply`` ran, with no
restart) and answered with 503: the API's JSON error
(``{"error": {"code": "database_out_of_date", "message": …, "fields": {}}}``)
under ``/api/``, a plain page in both languages elsewhere. Once it passed,
requests cost a look at the latest applied config version every
``VERSION_RECHECK_SECONDS`` (one small query): when another process (a rolling
upgrade's ``trellis apply``) changed the schema, this process answers 503 too
instead of serving a schema that is gone. The page is rendered without the page
frame, which reads the logged-in user from the database.

Registered before every other piece, so that no hook reads the database first.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, current_app, request, session

from engine.runtime.migrate import DatabaseOutOfDate
from webui.api.errors import API_PREFIX, error_response
from webui.i18n import LANGUAGES, translate
from webui.monitoring import PATHS as MONITORING_PATHS
from webui.state import get_trellis

#: Seconds between looks at the latest applied config version once the database was current.
VERSION_RECHECK_SECONDS = 5.0


def init_app(app: Flask) -> None:
    """Check the database now (logging a stale one) and before requests until it passes."""
    app.extensions["trellis"].recheck_every(VERSION_RECHECK_SECONDS)
    try:
        app.extensions["trellis"].check_database()
    except DatabaseOutOfDate as stale:
        app.logger.warning("Answering 503 until the database is brought to the config: %s", stale)
    except Exception as away:  # noqa: BLE001 - the database is down: start anyway, /healthz answers, /readyz says why
        app.logger.warning("The database cannot be reached now (%s); checking it again on each request", away)
    app.before_request(_refuse_while_out_of_date)


def _refuse_while_out_of_date() -> Response | tuple[str, int] | None:
    crm = get_trellis()
    if request.path.startswith("/static/") or request.path in MONITORING_PATHS:
        return None
    try:
        crm.check_database()
    except DatabaseOutOfDate as stale:
        languages = _languages()
        if request.path.startswith(API_PREFIX):
            return error_response(503, stale.code, stale.text(languages[0]), headers={"Retry-After": "60"})
        return _page(stale, languages), 503, {"Retry-After": "60"}
    return None


@dataclass(frozen=True)
class _Text:
    """The page in one language."""

    html_lang: str
    title: str
    intro: str
    sentence: str
    retry: str


def _page(stale: DatabaseOutOfDate, languages: list[str]) -> str:
    pages = [
        _Text(
            "zh-CN" if lang == "zh" else lang,
            translate("error.out_of_date.title", lang),
            translate("error.out_of_date.intro", lang),
            stale.text(lang),
            translate("error.out_of_date.retry", lang),
        )
        for lang in languages
    ]
    template = current_app.jinja_env.get_template("database_out_of_date.html")
    return template.render(pages=pages, company=get_trellis().config.settings.company)


def _languages() -> list[str]:
    """Every UI language, the reader's first: the one chosen in this browser, else the best of
    ``Accept-Language`` (``zh-CN`` is ``zh``), else the company's."""
    first = session.get("lang")
    if first not in LANGUAGES:
        asked = (value.replace("-", "_").split("_")[0].lower() for value, _ in request.accept_languages)
        first = next((lang for lang in asked if lang in LANGUAGES), None)
    if first is None:
        company = get_trellis().config.settings.languages
        first = next((lang for lang in company if lang in LANGUAGES), "en")
    return [first, *(lang for lang in LANGUAGES if lang != first)]
