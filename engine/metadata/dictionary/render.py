"""A ``Document`` written as Markdown or as a standalone HTML page, everything escaped.

``RENDERERS`` holds one function per format (``md``, ``html``); both walk the same structure,
so the two never say different things.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from engine.metadata.dictionary.document import Code, Document, Section, Table, Text
from engine.metadata.dictionary.words import CODE_END, CODE_START

#: Characters Markdown would read as markup (and ``|``, which ends a table cell).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _parts(text: Text) -> tuple[str, ...]:
    """The parts of ``text``, a sentence's marked code (``Speaker.code``) split out as ``Code``."""
    out: list[str] = []
    for part in (text,) if isinstance(text, str) else text:
        if isinstance(part, Code) or CODE_START not in part:
            out.append(part)
            continue
        for index, piece in enumerate(re.split(f"[{CODE_START}{CODE_END}]", part)):
            if piece:
                out.append(Code(piece) if index % 2 else piece)
    return tuple(out)


def md_inline(text: Text) -> str:
    """``text`` as Markdown: plain parts escaped, ``Code`` parts as code spans."""
    out = []
    for part in _parts(text):
        flat = re.sub(r"\s+", " ", str(part))
        if isinstance(part, Code):
            fence = "``" if "`" in flat else "`"
            out.append(f"{fence} {flat} {fence}" if fence == "``" else f"`{flat}`")
            if "|" in flat:  # a pipe inside a code span still ends a table cell
                out[-1] = out[-1].replace("|", "\\|")
        else:
            out.append(_MD_SPECIAL.sub(r"\\\1", flat))
    return "".join(out)


def _md_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(md_inline(h) for h in table.headers) + " |"]
    lines.append("|" + "---|" * len(table.headers))
    lines.extend("| " + " | ".join(md_inline(c) for c in row) + " |" for row in table.rows)
    return lines


def _md_section(section: Section) -> list[str]:
    lines = ["#" * section.level + " " + md_inline(section.title), ""]
    for paragraph in section.paragraphs:
        lines += [md_inline(paragraph), ""]
    if section.bullets:
        lines += [f"- {md_inline(b)}" for b in section.bullets] + [""]
    if section.table is not None:
        lines += [*_md_table(section.table), ""]
    return lines


def render_markdown(document: Document) -> str:
    """The document as Markdown."""
    lines = [f"# {md_inline(document.title)}", ""]
    for paragraph in document.intro:
        lines += [md_inline(paragraph), ""]
    for section in document.sections:
        lines += _md_section(section)
    return "\n".join(lines).rstrip("\n") + "\n"


def html_inline(text: Text) -> str:
    """``text`` as HTML: every part escaped, ``Code`` parts in ``<code>``."""
    return "".join(
        f"<code>{html.escape(part)}</code>" if isinstance(part, Code) else html.escape(part) for part in _parts(text)
    )


def _html_table(table: Table) -> list[str]:
    head = "".join(f"<th>{html_inline(h)}</th>" for h in table.headers)
    rows = ["<tr>" + "".join(f"<td>{html_inline(c)}</td>" for c in row) + "</tr>" for row in table.rows]
    return ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]


def _html_section(section: Section) -> list[str]:
    lines = [f"<h{section.level}>{html_inline(section.title)}</h{section.level}>"]
    lines += [f"<p>{html_inline(p)}</p>" for p in section.paragraphs]
    if section.bullets:
        lines += ["<ul>", *(f"<li>{html_inline(b)}</li>" for b in section.bullets), "</ul>"]
    if section.table is not None:
        lines += _html_table(section.table)
    return lines


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4}code{background:#f4f4f4;padding:0 .2rem}"
)


def render_html(document: Document) -> str:
    """The document as one standalone HTML page (its own small style sheet, no script)."""
    lines = [
        "<!doctype html>",
        f'<html lang="{html.escape(document.language)}">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(document.title)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{html.escape(document.title)}</h1>",
        *(f"<p>{html_inline(p)}</p>" for p in document.intro),
    ]
    for section in document.sections:
        lines += _html_section(section)
    lines += ["</body>", "</html>"]
    return "\n".join(lines) + "\n"


#: The formats ``trellis docs`` writes, by name.
RENDERERS: dict[str, Callable[[Document], str]] = {"md": render_markdown, "html": render_html}
