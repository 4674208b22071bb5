"""A list page's frame, drawn once and filled per request (issue 18 §6).

Most of a list page (``list.html`` in ``base.html``: the header, the navigation, the menus, the
filter form, the saved views, the column headers) is the same from one request to the next for
one user, language, object and set of list parameters. ``render_list`` draws that frame once with
``placeholder`` strings (random per process) where the parts that change on every request go —
the rows, the pager's texts and links, the CSRF token, the ``next`` path of the language switch —
and on later requests writes the page by joining the frame's text with those parts, escaped as the
template escapes them (``markupsafe.escape``, Jinja's autoescape). The page is byte for byte the
one the template renders.

A frame's key (``frame_key``) is what the frame shows that is not filled in: the script root, the
user (id and name), the combination of their roles, the language, the object, the list's
parameters without the page, the filter sentence and the owner filter's name (they hold records'
titles), the saved views, whether the pager has each link, and every value the app's context
processors give (the bell's count, the approvals badge, the navigation…), frozen; a value that
cannot be frozen draws the page without a frame. Frames are kept per app, ``MAX_FRAMES`` at most,
least recently used first out, and all forgotten when the app's config is not the one they were
drawn under.

Not framed (the template renders the whole page as before): a page with a flashed message waiting
(the template takes it out of the session), a refused filter, an empty page, a page with the save
view form's error, and an object whose list or base template a config overrides.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, current_app, g, request, session
from flask_wtf.csrf import generate_csrf
from jinja2 import Template
from markupsafe import Markup, escape

from engine.metadata.model import Config, ObjectDef
from webui.state import get_trellis
from webui.ui.context import next_path
from webui.ui.list_rows import Row
from webui.ui.listing import ListView

#: Most frames an app keeps (a frame is the page's text without its rows: about 20 KB).
MAX_FRAMES = 512
#: The templates a list page is drawn from; a config overriding one is never framed.
TEMPLATES = ("list.html", "base.html", "_filters.html", "_bell.html", "_search_box.html")

#: The slots a frame has, in the order ``placeholder`` numbers them.
SLOTS = ("row_a", "row_b", "csrf", "next_path", "count_text", "page_text", "previous_url", "next_url", "last_url")
_TOKEN = secrets.token_hex(16)
_SLOT = re.compile(f"tf{_TOKEN}s(\\d\\d)e")

#: Context values a frame never keys on: filled per request, or made from what the key holds.
_DERIVED = frozenset(
    {
        "view",  # its frame parts are in the key; the rest is filled
        "obj",
        "user",  # its name is in the key
        "current_user",
        "t",  # the language's
        "plural",
        "url_for",  # the script root's
        "csrf_token",  # filled
        "csrf_meta_tag",
        "next_path",  # filled
        "config",  # Flask's own: the app's config, the request, the session, g
        "request",
        "session",
        "g",
    }
)


def placeholder(slot: str) -> str:
    """The text standing for ``slot`` in a frame (letters and digits: no escaping changes it)."""
    return f"tf{_TOKEN}s{SLOTS.index(slot):02d}e"


class Uncacheable(Exception):
    """A context value a frame cannot key on: the page is drawn whole."""


@dataclass(frozen=True)
class Frame:
    """A drawn frame: its text split at the slots (``parts[0]``, slot, ``parts[2]``, slot, …) and the
    text between two rows (``row_join``)."""

    parts: tuple[str, ...]
    row_join: str
    #: Whether the frame holds the CSRF token (made, and kept in the session, only then).
    has_csrf: bool

    def fill(self, values: Mapping[str, str]) -> str:
        """The page: the frame's text with each slot's value (``rows``: the rows joined)."""
        out = list(self.parts)
        for i in range(1, len(out), 2):
            out[i] = values[out[i]]
        return "".join(out)


class Frames:
    """One app's frames, by key, least recently used first out; forgotten with their config."""

    def __init__(self, size: int = MAX_FRAMES) -> None:
        self.size = size
        self.config: Config | None = None
        self._frames: OrderedDict[Hashable, Frame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, config: Config, key: Hashable) -> Frame | None:
        """The frame of ``key`` drawn under ``config``, if kept."""
        with self._lock:
            if config is not self.config:
                self._frames.clear()
                self.config = config
                return None
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, config: Config, key: Hashable, frame: Frame) -> None:
        """Keep ``frame`` for ``key`` (the least recently used one goes past ``size``)."""
        with self._lock:
            if config is not self.config:
                self._frames.clear()
                self.config = config
            self._frames[key] = frame
            self._frames.move_to_end(key)
            while len(self._frames) > self.size:
                self._frames.popitem(last=False)

    def __len__(self) -> int:
        return len(self._frames)


def init_app(app: Flask) -> None:
    """Give the app its frames (``app.extensions["trellis_frames"]``)."""
    app.extensions["trellis_frames"] = Frames()


def frameable(view: ListView) -> bool:
    """Whether ``view``'s page may come from a frame (see the module: no flash waiting, a full page)."""
    return (
        view.error is None
        and bool(view.rows)
        and view.page is not None
        and view.save_form is not None
        and view.save_form.error is None
        and "_flashes" not in session
    )


def render_list(obj: ObjectDef, view: ListView, names: list[str]) -> str:
    """The list page of ``view`` as ``render_template(names, obj=obj, view=view)`` draws it: from
    its frame when one is kept, else drawn (and its frame kept when it may be)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.get_or_select_template(names)
    context: dict[str, Any] = {"obj": obj, "view": view}
    app.update_template_context(context)
    if not frameable(view) or not _builtin(app, template):  # the others: when a frame is drawn
        return template.render(context)
    try:
        key = frame_key(obj, view, context)
    except Uncacheable:
        return template.render(context)
    frames: Frames = app.extensions["trellis_frames"]
    config = get_trellis().config
    frame = frames.get(config, key)
    if frame is None:
        if not all(_builtin(app, app.jinja_env.get_template(name)) for name in TEMPLATES[1:]):
            return template.render(context)
        frame = draw(template, view, context)
        if frame is None:  # a slot the template did not write once: draw every time
            return template.render(context)
        frames.put(config, key, frame)
    return frame.fill(slot_values(view, frame))


def frame_key(obj: ObjectDef, view: ListView, context: Mapping[str, Any]) -> Hashable:
    """What ``view``'s frame shows that is not filled per request (raises ``Uncacheable``)."""
    principal = g.get("principal")
    if principal is None:
        raise Uncacheable("principal")
    shown = tuple((name, frozen(value)) for name, value in sorted(context.items()) if name not in _DERIVED)
    return (
        request.script_root,
        principal.user_id,
        context["user"].username,
        principal.roles,
        obj.name,
        tuple(sorted(view.params.args(page=None).items())),
        view.sentence,
        view.owner_name,
        tuple(view.saved_views),
        view.previous_url is not None,
        view.next_url is not None,
        view.last_url is not None,
        shown,
    )


def frozen(value: Any) -> Hashable:
    """``value`` as a key (lists and dicts as tuples); ``Uncacheable`` for what cannot be one."""
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    if callable(value):
        raise Uncacheable(repr(value))
    try:
        hash(value)
    except TypeError:
        raise Uncacheable(repr(value)) from None
    return value


def draw(template: Template, view: ListView, context: Mapping[str, Any]) -> Frame | None:
    """``view``'s frame: the template rendered with placeholders for the slots; None when a slot
    does not come out as expected (the rows twice, side by side)."""
    stand_in = replace(
        view,
        rows=[Row(0, "", Markup(placeholder("row_a"))), Row(0, "", Markup(placeholder("row_b")))],
        count_text=placeholder("count_text"),
        page_text=placeholder("page_text"),
        previous_url=placeholder("previous_url") if view.previous_url is not None else None,
        next_url=placeholder("next_url") if view.next_url is not None else None,
        last_url=placeholder("last_url") if view.last_url is not None else None,
    )
    csrf = placeholder("csrf")
    text = template.render(
        {**context, "view": stand_in, "csrf_token": lambda: csrf, "next_path": placeholder("next_path")}
    )
    split = _SLOT.split(text)
    parts: list[str] = [split[0]]
    for i in range(1, len(split), 2):
        parts += [SLOTS[int(split[i])], split[i + 1]]
    slots = parts[1::2]
    if slots.count("row_a") != 1 or slots.count("row_b") != 1:
        return None
    a = parts.index("row_a", 1)
    if parts[a + 2 : a + 3] != ["row_b"]:
        return None
    merged = (*parts[:a], "rows", *parts[a + 3 :])
    return Frame(merged, parts[a + 1], "csrf" in slots)


def slot_values(view: ListView, frame: Frame) -> dict[str, str]:
    """This request's value of each slot, as the template would have written it."""
    values = {
        "rows": frame.row_join.join(escape(row.html) for row in view.rows),
        "next_path": escape(next_path()),
        "count_text": escape(view.count_text),
        "page_text": escape(view.page_text),
        "previous_url": escape(view.previous_url or ""),
        "next_url": escape(view.next_url or ""),
        "last_url": escape(view.last_url or ""),
    }
    if frame.has_csrf:
        values["csrf"] = escape(generate_csrf())
    return values


def _builtin(app: Flask, template: Template) -> bool:
    """Whether ``template`` is one of the web UI's own (not a config's, not a blueprint's)."""
    folder = os.path.normpath(os.path.join(app.root_path, app.template_folder or "templates"))
    return template.filename is not None and os.path.dirname(template.filename) == folder
