"""What every page needs: the acting user's engine session, the language, the
formatter, and the navigation built from the config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, g, has_request_context, request, session, url_for
from flask_login import current_user

from engine.runtime.context import SharedRead
from engine.runtime.jobs import inbox
from engine.runtime.messages import set_language
from engine.runtime.records.session import Session
from engine.runtime.security.permissions import Principal
from webui.api.meta import readable_objects
from webui.i18n import LANGUAGE_NAMES, LANGUAGES, Formatter, choose_language, translate
from webui.state import get_trellis


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


def plural(key: str, count: int, **values: object) -> str:
    """UI text for ``count`` things in this request's language (``Formatter.plural``)."""
    return formatter().plural(key, count, **values)


#: The attribute ``reads_only`` sets on a view function.
READS_ONLY = "trellis_reads_only"


def reads_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose engine work is one read session (``ui_session(read=True)``) that the
    login check's read may open: the request's reads are then one transaction (``request_read``)."""
    setattr(view, READS_ONLY, True)
    return view


def request_read() -> SharedRead | None:
    """The read the login check makes (``users.login_user``) when this request's view is marked
    ``reads_only``: left open for the view's read session to go on in and end
    (``Runtime.shared_read``; None for any other view, or where reads cannot be shared)."""
    if "shared_read" not in g:
        view = current_app.view_functions.get(request.endpoint or "")
        g.shared_read = get_trellis().shared_read() if getattr(view, READS_ONLY, False) else None
    return g.shared_read


def end_request_read() -> None:
    """End the request's shared read if no read session took it (a write session, a refused login,
    the request's end)."""
    shared = g.pop("shared_read", None)
    if shared is not None:
        shared.close()


@contextmanager
def ui_session(read: bool = False) -> Iterator[Session]:
    """One engine session (one transaction) as the logged-in user, on the ``web`` channel;
    ``read``: a page that only reads (a list, a report, a dashboard, an export, the duplicate
    finder), which the engine may serve from the read replica (``Runtime.read_session``) — as the
    principal the login check read (``g.principal``), in the login check's transaction when the
    view is ``reads_only``, and counting the bell's unread notifications in the same unit of
    work. A session that writes reads the user again, in its own transaction (the login check's
    read, if still open, ends first)."""
    crm = get_trellis()
    if not read:
        end_request_read()
        with crm.session(user=current_user.username, channel="web") as engine_session:
            g.principal = engine_session.principal
            yield engine_session
        return
    shared = g.pop("shared_read", None)  # the login check's read, when it is still open: go on in it
    with crm.read_session(
        user=current_user.username, channel="web", principal=g.get("principal"), shared=shared
    ) as engine_session:
        g.principal = engine_session.principal
        yield engine_session
        if "unread" not in g:  # the header's bell, in the same unit of work (webui.ui.notifications)
            g.unread = inbox.unread_count(engine_session)


@dataclass(frozen=True)
class NavItem:
    """One object in the navigation."""

    name: str
    label: str
    url: str
    active: bool


def navigation(principal: Principal, lang: str, active: str | None) -> list[NavItem]:
    """The objects the user may read, labelled in ``lang``."""
    return [
        NavItem(
            obj.name,
            obj.plural_label.get(lang),
            page_url("records.list_records", object_name=obj.name),
            obj.name == active,
        )
        for obj in readable_objects(get_trellis().config, principal)
    ]


def _principal() -> Principal | None:
    if not current_user.is_authenticated:
        return None
    if "principal" not in g:
        g.principal = get_trellis().principal(current_user.username)
    return g.principal


#: ``url_for``'s options: a URL built with one is not remembered (``_external`` depends on the host).
URL_OPTIONS = frozenset({"_anchor", "_method", "_scheme", "_external"})
#: Most URLs ``page_url`` keeps per app (the pages' fixed links: static files, navigation, actions,
#: a list's sort and export links); past it, it forgets them all and starts again.
URL_CACHE_SIZE = 4096


def page_url(endpoint: str, **values: Any) -> str:
    """``url_for`` as templates call it, remembered per app, endpoint, values and script root: a
    page builds the same few dozen links (style sheets, scripts, navigation, menus) on every
    request, each a walk of the URL map otherwise. Not remembered: blueprint-relative endpoints,
    ``URL_OPTIONS`` (``_external``…), values that cannot be a key, outside a request."""
    if not has_request_context():
        return url_for(endpoint, **values)
    return _remembered_url(request.script_root, current_app.extensions["trellis_urls"], endpoint, values)


def _remembered_url(script_root: str, cache: dict[Any, str], endpoint: str, values: dict[str, Any]) -> str:
    if endpoint.startswith(".") or URL_OPTIONS & values.keys():
        return url_for(endpoint, **values)
    key = (script_root, endpoint, tuple(sorted(values.items())) if len(values) > 1 else tuple(values.items()))
    try:
        found = cache.get(key)
    except TypeError:  # a value that cannot be hashed (a list)
        return url_for(endpoint, **values)
    if found is None:
        found = url_for(endpoint, **values)
        if len(cache) >= URL_CACHE_SIZE:  # many lists' filter links: start again
            cache.clear()
        cache[key] = found
    return found


def _request_url_for() -> Callable[..., str]:
    """``page_url`` for one page's template: the request's script root and the app's remembered
    URLs looked up once, not through Flask's proxies on each of the page's few dozen links."""
    script_root, cache = request.script_root, current_app.extensions["trellis_urls"]

    def url_for_page(endpoint: str, **values: Any) -> str:
        return _remembered_url(script_root, cache, endpoint, values)

    return url_for_page


def _page_context() -> dict[str, Any]:
    principal = _principal()
    active = (request.view_args or {}).get("object_name")
    settings = get_trellis().config.settings
    lang = language()

    def bound_t(key: str, **values: object) -> str:  # the language looked up once per page
        return translate(key, lang, **values)

    return {
        "t": bound_t,
        "plural": plural,
        "lang": lang,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "company": settings.company,
        "nav": navigation(principal, lang, active) if principal else [],
        "user": current_user._get_current_object(),  # the user, not the proxy each use resolves again
        "url_for": _request_url_for(),
        "next_path": next_path(),
    }


def next_path() -> str:
    """Where the language switch comes back to: this page with its query string (a GET), else its path."""
    return request.full_path.rstrip("?") if request.method == "GET" else request.path


def init_app(app: Flask) -> None:
    """Give every template ``t``, ``plural``, ``lang``, ``nav``, ``company``, ``user`` and ``next_path``, and
    ``url_for`` as ``page_url``; the engine speaks the page's language to the user (its field errors, refusals), the API's its own."""
    app.context_processor(_page_context)
    app.extensions["trellis_urls"] = {}
    app.jinja_env.globals["url_for"] = page_url
    app.before_request(_speak)
    app.teardown_request(_stop_speaking)


def _speak() -> None:
    if not request.path.startswith("/api/") and not request.path.startswith("/static/"):
        set_language(language())


def _stop_speaking(error: BaseException | None = None) -> None:
    set_language(None)
    end_request_read()


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site (a ``next`` to go back to), else None.

    Refused (no open redirects, no header injection): another site, a
    scheme-relative ``//host``, any backslash, any control character (a browser
    drops tab, CR and LF, so ``/\\r//evil`` would become ``///evil``) and the same
    tricks percent-encoded once or more (``/%2F%2Fevil``, ``/%5Cevil``, ``%0d``).
    """
    if not target or not isinstance(target, str) or len(target) > MAX_NEXT_LENGTH:
        return None
    decoded, previous = target, None
    for _ in range(4):  # every layer of percent-encoding a browser or proxy might undo
        if decoded == previous:
            break
        if not _looks_local(decoded):
            return None
        previous, decoded = decoded, unquote(decoded)
    return target if _looks_local(decoded) else None


#: Longest ``next`` accepted; a longer one is not a page of this site.
MAX_NEXT_LENGTH = 2000


def _looks_local(target: str) -> bool:
    """One layer of ``local_path``'s check, on text that may have been decoded."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in target) or "\\" in target:
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc)
