"""Colours, fills and markers that tell series apart without relying on colour.

The palette is Okabe–Ito's (safe for the common colour-vision deficiencies). On top of its
colour every series after the first gets a pattern (stripes, dots, hatching), and every line
its own marker shape and dash, so that a figure printed in grey or seen without colour still
tells series apart; the legend shows the same fill next to each name. Text and axes are drawn
in ``currentColor``: they follow the page's text colour, light or dark.
"""

from __future__ import annotations

from webui.charts.markup import AttrValue, Markup, el, join

#: Okabe–Ito colours, the darkest first (a single series is blue).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442")
#: The fill of the grouped "Other" slice.
OTHER_COLOUR = "#8C8C8C"
#: Strokes of each pattern on a 6×6 tile (the first series is plain).
PATTERNS = (
    "",
    "M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2",
    "M1.5,1.5 h0.01 M4.5,4.5 h0.01",
    "M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2",
    "M0,1.5 h6 M0,4.5 h6",
    "M0,0 l6,6 M6,0 l-6,6",
    "M1.5,0 v6 M4.5,0 v6",
)
#: The dash of each line (the first is solid).
DASHES = (None, "6 3", "2 3", "8 3 2 3", "4 4", "1 2", "10 4")
#: The marker of each line's points.
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "circle", "square")


def colour(index: int) -> str:
    """The colour of series (or slice) ``index``."""
    return PALETTE[index % len(PALETTE)]


def pattern(index: int) -> str:
    """The strokes of series ``index``'s pattern ("" for plain): beyond the palette, colour and
    pattern pair up anew, so that up to 49 series differ."""
    return PATTERNS[(index + index // len(PALETTE)) % len(PATTERNS)]


def fill(prefix: str, index: int) -> str:
    """The ``fill`` of series ``index``: its colour, or its pattern's url when it has one."""
    return colour(index) if not pattern(index) else f"url(#{prefix}-fill-{index})"


def fill_defs(prefix: str, count: int) -> Markup:
    """The ``<pattern>``s of the first ``count`` series (to go into ``<defs>``)."""
    patterns = []
    for index in range(count):
        strokes = pattern(index)
        if not strokes:
            continue
        patterns.append(
            el(
                "pattern",
                {"id": f"{prefix}-fill-{index}", "patternUnits": "userSpaceOnUse", "width": 6, "height": 6},
                el("rect", {"width": 6, "height": 6, "fill": colour(index)}),
                el(
                    "path",
                    {"d": strokes, "stroke": "#fff", "stroke-width": 1.6, "stroke-linecap": "round", "opacity": 0.75},
                ),
            )
        )
    return join(patterns)


def marker(index: int, x: float, y: float, size: float = 4.0) -> Markup:
    """The point marker of line ``index`` at ``(x, y)``, in the line's colour."""
    shape = MARKERS[index % len(MARKERS)]
    paint: dict[str, AttrValue] = {"fill": colour(index), "stroke": "#fff", "stroke-width": 1}
    if shape == "circle":
        return el("circle", {"cx": float(x), "cy": float(y), "r": size, **paint})
    if shape == "square":
        return el("rect", {"x": x - size, "y": y - size, "width": 2 * size, "height": 2 * size, **paint})
    points = {
        "triangle": [(0, -1.2), (1.1, 0.9), (-1.1, 0.9)],
        "diamond": [(0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)],
        "cross": [
            (-0.4, -1.2),
            (0.4, -1.2),
            (0.4, -0.4),
            (1.2, -0.4),
            (1.2, 0.4),
            (0.4, 0.4),
            (0.4, 1.2),
            (-0.4, 1.2),
            (-0.4, 0.4),
            (-1.2, 0.4),
            (-1.2, -0.4),
            (-0.4, -0.4),
        ],
    }[shape]
    path = " ".join(f"{x + dx * size:.2f},{y + dy * size:.2f}" for dx, dy in points)
    return el("polygon", {"points": path, **paint})
