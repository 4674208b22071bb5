"""Markup built from parts, every text and attribute escaped: ``el("rect", {"x": 1.5}, el("title", {}, label))``.

Elements always get an end tag (``<rect …></rect>``), which HTML's inline SVG and an XML parser
read alike, so a chart is both a piece of an HTML page and well-formed XML. Numbers are written
with at most two digits after the point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from markupsafe import Markup, escape

#: An attribute's value: text, a number, or None to leave the attribute out.
AttrValue = str | int | float | None
#: A child: markup (kept), text (escaped), None (left out) or several of them.
Child = Markup | str | None | Iterable["Child"]


def num(value: float) -> str:
    """``value`` for an SVG attribute: at most two digits after the point, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attribute(name: str, value: AttrValue) -> str:
    text = num(value) if isinstance(value, float) else str(value)
    return f' {name}="{escape(text)}"'


def _children(children: Iterable[Child]) -> Iterable[Markup]:
    for child in children:
        if child is None:
            continue
        if isinstance(child, str):  # Markup is a str: escape keeps it as it is
            yield escape(child)
        else:
            yield from _children(child)


def el(tag: str, attributes: Mapping[str, AttrValue] | None = None, *children: Child) -> Markup:
    """The element ``tag`` with ``attributes`` (None values left out) and ``children``."""
    attrs = "".join(_attribute(k, v) for k, v in (attributes or {}).items() if v is not None)
    return Markup(f"<{tag}{attrs}>{Markup('').join(_children(children))}</{tag}>")


def join(parts: Iterable[Child]) -> Markup:
    """Several pieces of markup as one."""
    return Markup("").join(_children(parts))
