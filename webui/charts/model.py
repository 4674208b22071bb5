"""What a chart shows: small frozen input types, independent of where the figures come from.

A ``Chart`` holds text already in the reader's language (titles, category labels, series
names) and raw numbers; the renderer formats the numbers for the reader's locale
(``webui.i18n.Formatter``) by the chart's ``ValueFormat``. Links are drill-down targets built
by the caller (``url_for``); only site paths and http(s) addresses are accepted, so a link
can never run script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

#: A figure: counts are ``int``, sums and averages ``Decimal``; ``None`` is "no value".
Number = Decimal | int

#: How values are written: plain numbers, money in a currency, or percent points.
Style = Literal["number", "money", "percent"]

_SAFE_LINK_STARTS = ("/", "?", "#", "http://", "https://")


def check_link(link: str | None) -> str | None:
    """``link`` when it is a site path, a query, a fragment or an http(s) address (else ValueError)."""
    if link is None:
        return None
    if not isinstance(link, str) or not link.strip().lower().startswith(_SAFE_LINK_STARTS) or link.startswith("//"):
        raise ValueError(f"a chart link must be a path on this site or an http(s) address, not {link!r}")
    return link


def as_number(value: object) -> Number | None:
    """``value`` as an ``int`` or ``Decimal`` (floats through their shortest text); None stays None."""
    number: Number | None = None
    if value is None:
        return None
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    if number is None or (isinstance(number, Decimal) and not number.is_finite()):
        raise ValueError(f"a chart value must be a finite number or None, not {value!r}")
    return number


@dataclass(frozen=True)
class Category:
    """One category of a chart (a bar, a slice, a month, a stage), with the list it drills into."""

    label: str
    link: str | None = None

    def __post_init__(self) -> None:
        check_link(self.link)


@dataclass(frozen=True)
class Series:
    """One measure over the chart's categories: ``values[i]`` belongs to ``categories[i]``;
    ``links[i]`` (optional) is the list of exactly the records counted in it."""

    name: str
    values: Sequence[Number | None]
    links: Sequence[str | None] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(as_number(v) for v in self.values))
        object.__setattr__(self, "links", tuple(check_link(link) for link in self.links))
        if self.links and len(self.links) != len(self.values):
            raise ValueError(
                f"series {self.name!r} has {len(self.values)} values but {len(self.links)} links: give one link "
                "per value (None where there is none) or no links"
            )

    def link(self, index: int) -> str | None:
        """The drill-down link of value ``index``, if any."""
        return self.links[index] if self.links else None


@dataclass(frozen=True)
class Kpi:
    """A key figure with the previous period's value: the change is ``value - previous``.
    ``higher_is_better`` says whether a rise is good news (sales) or bad (complaints)."""

    value: Number | None
    previous: Number | None = None
    link: str | None = None
    #: The previous period in words ("Q1 2026", "上月"); "previous period" when empty.
    previous_label: str = ""
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", as_number(self.value))
        object.__setattr__(self, "previous", as_number(self.previous))
        check_link(self.link)

    @property
    def change(self) -> Number | None:
        """The difference from the previous period (None when either value is missing)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_percent(self) -> Decimal | None:
        """The change in percent of the previous value (None when that is missing or zero)."""
        change = self.change
        if change is None or not self.previous:
            return None
        return Decimal(change) * 100 / abs(Decimal(self.previous))


@dataclass(frozen=True)
class ValueFormat:
    """How the chart's values read: ``number`` (``scale`` digits after the point, or as they
    come), ``money`` (in ``currency``, else the company's) or ``percent`` (values are percent
    points, as the ``percent`` field type stores them: 12.5 is 12.5 %)."""

    style: Style = "number"
    currency: str | None = None
    scale: int | None = None

    @classmethod
    def number(cls, scale: int | None = None) -> ValueFormat:
        """Plain numbers with the locale's grouping."""
        return cls("number", scale=scale)

    @classmethod
    def money(cls, currency: str | None = None) -> ValueFormat:
        """Amounts in ``currency`` (the company currency when None)."""
        return cls("money", currency=currency)

    @classmethod
    def percent(cls, scale: int = 1) -> ValueFormat:
        """Percent points with ``scale`` digits after the point."""
        return cls("percent", scale=scale)


@dataclass(frozen=True)
class Chart:
    """A chart to draw: its ``kind`` (a name in ``webui.charts.kinds.CHART_KINDS``), title,
    categories and series (or ``kpi`` for the kind ``kpi``).

    ``additive`` says whether values add up (counts, sums): only then are totals, stacks
    and shares shown — an average or a rate has no total. ``description`` is the caller's
    sentence about what was counted ("Created this quarter, owner is me"); it is read out
    with the summary. ``category_heading`` heads the category column of the data table.
    """

    kind: str
    title: str
    categories: Sequence[Category] = ()
    series: Sequence[Series] = ()
    value_format: ValueFormat = field(default_factory=ValueFormat)
    kpi: Kpi | None = None
    description: str = ""
    category_heading: str = ""
    additive: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "series", tuple(self.series))
        for series in self.series:
            if len(series.values) != len(self.categories):
                raise ValueError(
                    f"chart {self.title!r}: series {series.name!r} has {len(series.values)} values for "
                    f"{len(self.categories)} categories"
                )

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to draw: no category, or no value at all."""
        if self.kpi is not None:
            return self.kpi.value is None
        return not self.categories or all(v is None for s in self.series for v in s.values)

    def link(self, series_index: int, index: int) -> str | None:
        """Where the value ``index`` of series ``series_index`` drills down to: its own link, or
        the category's when the chart has one series (the category is the figure then)."""
        own = self.series[series_index].link(index)
        if own is None and len(self.series) == 1:
            return self.categories[index].link
        return own
