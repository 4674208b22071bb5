"""Text on a drawing: how wide a label is, and cutting it to fit.

SVG text does not wrap or measure itself on the server, so widths are estimated from the
characters: a CJK (wide or full-width) character takes about one em, a Latin letter or digit
a little over half of one. Cut labels end in "…"; the full text stays in the mark's ``<title>``
and in the data table.
"""

from __future__ import annotations

import unicodedata

#: Width of a character in ems, by kind.
WIDE_EM = 1.0
NARROW_EM = 0.3
UPPER_EM = 0.72
DEFAULT_EM = 0.6
_NARROW = frozenset("ijlI.,:;'!|")
_SLIM = frozenset("frt ()[]-")
SLIM_EM = 0.4
ELLIPSIS = "…"


def char_em(char: str) -> float:
    """The estimated width of ``char`` in ems."""
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return WIDE_EM
    if char in _NARROW:
        return NARROW_EM
    if char in _SLIM:
        return SLIM_EM
    if char.isupper() or char in "mwMW%@":
        return UPPER_EM
    return DEFAULT_EM


def text_width(text: str, size: float) -> float:
    """The estimated width of ``text`` at font size ``size`` (in the drawing's units)."""
    return sum(char_em(c) for c in text) * size


def fit(text: str, width: float, size: float) -> str:
    """``text``, cut and ended with "…" when it is wider than ``width`` at ``size``."""
    if text_width(text, size) <= width:
        return text
    room = width - text_width(ELLIPSIS, size)
    used, kept = 0.0, []
    for char in text:
        used += char_em(char) * size
        if used > room:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS
