"""Global search in the web UI: the top bar's box, its suggestions and the results page.

HTTP and view models only; what is found, in which records and fields, is
``engine.runtime.records.search`` (the one read path, as the logged-in user, in the login
check's read session: the read replica when ``TRELLIS_READ_DATABASE_URL`` is set, as a list's).

- ``results`` (``/search?q=&objects=``): the matches grouped by object, each group with its
  count and "Show all N in <object>" linking to the object's list searched for the same
  text (``/o/<object>?q=``: the same search, so the same N); past the search's cap
  (``SEARCH_CAP``) the count reads "1,000+" and the summary "More than …"; works without
  JavaScript;
- ``suggest`` (``/search/suggest?q=``): the same, fewer per object, as JSON for the top
  bar's dropdown (``static/search.js``); the texts come ready in the page's language;
- the box itself is ``_search_box.html`` in ``base.html`` (every page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, jsonify, request, url_for

from engine.runtime.records.search import BadSearch, ObjectHits, SearchResults, search_everything
from webui.ui.context import formatter, language, plural, reads_only, t, ui_session
from webui.ui.views import _require_login, render_page

#: Records per object on the results page and in the top bar's suggestions.
PAGE_PER_OBJECT = 10
SUGGEST_PER_OBJECT = 3


@dataclass(frozen=True)
class HitView:
    """One record found: its title, link and the other fields that matched ("Phone: …")."""

    title: str
    url: str
    matched: str


@dataclass(frozen=True)
class GroupView:
    """One object's matches: its label, how many match ("1,000+" when ``capped``), and the link
    to all of them in its list."""

    object: str
    label: str
    count: str
    total: int
    capped: bool
    hits: tuple[HitView, ...]
    list_url: str
    more: bool
    all_label: str


def _group_view(group: ObjectHits, text: str) -> GroupView:
    """``group`` for the page; its list link searches the object's list for ``text``."""
    lang = language()
    label = group.obj.plural_label.get(lang)
    hits = tuple(
        HitView(
            hit.title,
            url_for("records.show", object_name=group.obj.name, record_id=hit.id),
            "; ".join(f"{f.label.get(lang)}: {value}" for f, value in hit.matched),
        )
        for hit in group.hits
    )
    count = formatter().number(group.total)
    return GroupView(
        group.obj.name,
        label,
        t("search.count_more", count=count) if group.capped else count,
        group.total,
        group.capped,
        hits,
        url_for("records.list_records", object_name=group.obj.name) + "?" + urlencode({"q": text}),
        group.more,
        t("search.show_all_more", object=label)
        if group.capped
        else plural("search.show_all", group.total, object=label),
    )


def _summary(found: SearchResults, groups: int) -> str:
    """The sentence above the results: how many records match (a lower bound past the cap)."""
    if not groups:
        return t("search.none", text=found.text)
    if found.capped:
        return t("search.summary_more", count=formatter().number(found.total), text=found.text, objects=groups)
    return plural("search.summary", found.total, text=found.text, objects=groups)


def _objects() -> list[str]:
    """``objects=account,contact`` (or repeated) as a list of names."""
    return [name.strip() for raw in request.args.getlist("objects") for name in raw.split(",") if name.strip()]


def _search(per_object: int) -> SearchResults:
    """The search as the logged-in user, in a read session: the login check's read (the read
    replica when there is one), the views being ``reads_only``."""
    with ui_session(read=True) as session:
        return search_everything(session, request.args.get("q"), _objects(), per_object, language())


@reads_only
def results() -> tuple[str, int]:
    """The results page: every readable object's best matches, grouped, with counts (no ``q``: the form)."""
    text = (request.args.get("q") or "").strip()
    if not text:
        return render_page("search.html", None, q="", groups=(), error=None, summary=t("search.hint")), 200
    try:
        found = _search(PAGE_PER_OBJECT)
    except BadSearch as exc:
        error = "; ".join(e.message for problems in exc.errors.values() for e in problems)
        return render_page("search.html", None, q=text[:200], groups=(), error=error, summary=""), 422
    groups = tuple(_group_view(g, found.text) for g in found.groups)
    summary = _summary(found, len(groups))
    return render_page("search.html", None, q=found.text, groups=groups, error=None, summary=summary), 200


@reads_only
def suggest() -> Response | tuple[Response, int]:
    """The top bar's suggestions as JSON: ``{q, groups: [{object, label, count, count_capped, hits:
    [{title, url, matched}], list_url, more, all_label}], all_url, all_label, status, count_capped}``
    (``count`` is text, "1,000+" when ``count_capped``); a bad ``q`` is 422 with ``error``."""
    try:
        found = _search(SUGGEST_PER_OBJECT)
    except BadSearch as exc:
        error = "; ".join(e.message for problems in exc.errors.values() for e in problems)
        return jsonify({"error": error}), 422
    groups = [_group_view(g, found.text) for g in found.groups]
    body: dict[str, Any] = {
        "q": found.text,
        "groups": [
            {
                "object": g.object,
                "label": g.label,
                "count": g.count,
                "count_capped": g.capped,
                "hits": [h.__dict__ for h in g.hits],
                "list_url": g.list_url,
                "more": g.more,
                "all_label": g.all_label,
            }
            for g in groups
        ],
        "all_url": url_for("search.results", q=found.text),
        "all_label": t("search.all_results", text=found.text),
        "status": _summary(found, len(groups)),
        "count_capped": found.capped,
    }
    return jsonify(body)


ROUTES = (
    ("/search", results, ["GET"]),
    ("/search/suggest", suggest, ["GET"]),
)


def create_blueprint(app: Flask) -> Blueprint:
    """The search routes (login required)."""
    blueprint = Blueprint("search", __name__)
    blueprint.before_request(_require_login)
    for rule, view, methods in ROUTES:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)
    return blueprint
