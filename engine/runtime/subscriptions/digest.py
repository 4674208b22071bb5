"""The e-mail of one subscription for one reader: a subject, a plain-text part and an HTML part
holding the figures as tables (mail readers drop SVG; tables they all show), the period, a link
to the page and an unsubscribe link. Every text is escaped; nothing is fetched from outside.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass

from engine.runtime.messages import message
from engine.runtime.subscriptions.targets import Section, Table


@dataclass(frozen=True)
class Mail:
    """A rendered e-mail: what the outbox's payload holds."""

    subject: str
    text: str
    html: str


def compose(
    section: Section,
    schedule: str,
    company: str,
    language: str,
    link: str | None,
    unsubscribe: str | None,
    label: str | None = None,
) -> Mail:
    """The e-mail of ``section`` (``link``: the page's absolute URL; ``unsubscribe``: the
    unsubscribe page's, None without a base URL: the reader is pointed at their subscriptions;
    ``label``: the rule's, for the subject, else the section's title)."""
    subject = message("subscription.subject", language, title=label or section.title, schedule=schedule)
    footer = message("subscription.why", language, title=section.title, schedule=schedule, company=company)
    text = [section.title, ""]
    parts = [f'<h1 style="font-size:20px">{_e(section.title)}</h1>']
    if section.period:
        period = message("subscription.period", language, period=section.period)
        text += [period, ""]
        parts.append(f"<p>{_e(period)}</p>")
    for note in section.notes:
        text += [note, ""]
        parts.append(f"<p><em>{_e(note)}</em></p>")
    for table in section.tables:
        caption = [table.caption, ""] if table.caption and table.caption != section.title else []
        text += [*caption, *_text_table(table), ""]
        parts.append(_html_table(table))
    open_text = message(section.open_text, language)
    if link:
        text += [f"{open_text}: {link}", ""]
        parts.append(f'<p><a href="{_e(link)}">{_e(open_text)}</a></p>')
    leave = message("subscription.unsubscribe", language)
    text += ["--", footer]
    if unsubscribe:
        text.append(f"{leave}: {unsubscribe}")
        leave_html = f' <a href="{_e(unsubscribe)}">{_e(leave)}</a>'
    else:
        text.append(message("subscription.unsubscribe_page", language))
        leave_html = " " + _e(message("subscription.unsubscribe_page", language))
    parts.append(f'<p style="color:#555;font-size:12px">{_e(footer)}{leave_html}</p>')
    body = "".join(parts)
    page = (
        f'<!DOCTYPE html><html lang="{_e(language)}"><head><meta charset="utf-8">'
        f"<title>{_e(subject)}</title></head>"
        f'<body style="font-family:sans-serif;color:#222">{body}</body></html>'
    )
    return Mail(subject, "\n".join(text).strip() + "\n", page)


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _html_table(table: Table) -> str:
    cell = "padding:4px 8px;border-bottom:1px solid #ddd"

    def row(values: tuple[str, ...], tag: str = "td", bold: bool = False) -> str:
        out = []
        for index, value in enumerate(values):
            align = "left" if index < table.labels else "right"
            weight = ";font-weight:bold" if bold else ""
            scope = ' scope="row"' if tag == "th" and index < table.labels else ""
            name = "th" if index < table.labels else tag
            out.append(f'<{name}{scope} style="{cell};text-align:{align}{weight}">{_e(value)}</{name}>')
        return "<tr>" + "".join(out) + "</tr>"

    head = "".join(
        f'<th scope="col" style="{cell};text-align:{"left" if i < table.labels else "right"}">{_e(h)}</th>'
        for i, h in enumerate(table.headings)
    )
    body = "".join(row(r, "td") for r in table.rows)
    foot = f"<tfoot>{row(table.total, 'td', bold=True)}</tfoot>" if table.total else ""
    return (
        f'<table style="border-collapse:collapse;margin:8px 0">'
        f'<caption style="text-align:left;font-weight:bold">{_e(table.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>"
    )


def _text_table(table: Table) -> list[str]:
    """The table as aligned plain-text lines (columns padded by their widest value)."""
    lines = [table.headings, *table.rows, *([table.total] if table.total else [])]
    widths = [max(_width(line[i]) for line in lines if i < len(line)) for i in range(len(table.headings))]

    def pad(values: tuple[str, ...]) -> str:
        cells = []
        for i, value in enumerate(values):
            space = " " * (widths[i] - _width(value))
            cells.append(value + space if i < table.labels else space + value)
        return "  ".join(cells).rstrip()

    return [pad(line) for line in lines]


def _width(text: str) -> int:
    """Columns a text takes in a monospaced font (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
