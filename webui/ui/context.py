"""What every page needs: the acting user's engine session, the language, the
formatter, and the navigation built from the config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, request, session
from flask_login import current_user

from engine.runtime.messages import set_language
from engine.runtime.permissions import Principal
from engine.runtime.records import Session
from webui import get_trellis
from webui.api.meta import readable_objects
from webui.i18n import LANGUAGE_NAMES, LANGUAGES, Formatter, choose_language, translate


def language() -> str:
    """The language of this request (see ``webui.i18n.choose_language``)."""
    if "lang" not in g:
        locale = current_user.locale if current_user.is_authenticated else None
        g.lang = choose_language(locale, session.get("lang"), get_trellis().config.settings)
    return g.lang


def formatter() -> Formatter:
    """The formatter of this request's language."""
    if "formatter" not in g:
        g.formatter = Formatter.for_language(language(), get_trellis().config.settings)
    return g.formatter


def t(key: str, **values: object) -> str:
    """UI text in this request's language."""
    return translate(key, language(), **values)


@contextmanager
def ui_session() -> Iterator[Session]:
    """One engine session (one transaction) as the logged-in user, on the ``web`` channel."""
    with get_trellis().session(user=current_user.username, channel="web") as engine_session:
        g.principal = engine_session.principal
        yield engine_session


@dataclass(frozen=True)
class NavItem:
    """One object in the navigation."""

    name: str
    label: str
    url: str
    active: bool


def navigation(principal: Principal, lang: str, active: str | None) -> list[NavItem]:
    """The objects the user may read, labelled in ``lang``."""
    from flask import url_for

    return [NavItem(obj.name, obj.plural_label.get(lang), url_for("records.list_records", object_name=obj.name),
                    obj.name == active)
            for obj in readable_objects(get_trellis().config, principal)]


def _principal() -> Principal | None:
    if not current_user.is_authenticated:
        return None
    if "principal" not in g:
        g.principal = get_trellis().principal(current_user.username)
    return g.principal


def _page_context() -> dict[str, Any]:
    principal = _principal()
    active = (request.view_args or {}).get("object_name")
    settings = get_trellis().config.settings
    return {
        "t": t,
        "lang": language(),
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "company": settings.company,
        "nav": navigation(principal, language(), active) if principal else [],
        "user": current_user,
    }


def init_app(app: Flask) -> None:
    """Give every template ``t``, ``lang``, ``nav``, ``company`` and ``user``; the engine speaks
    the page's language to the user (its field errors, refusals), the API's its own."""
    app.context_processor(_page_context)
    app.before_request(_speak)
    app.teardown_request(_stop_speaking)


def _speak() -> None:
    if not request.path.startswith("/api/") and not request.path.startswith("/static/"):
        set_language(language())


def _stop_speaking(error: BaseException | None = None) -> None:
    set_language(None)


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site (a ``next`` to go back to), else None:
    never another site, a scheme-relative ``//host`` or a backslash path (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
